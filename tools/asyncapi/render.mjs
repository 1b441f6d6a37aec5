// Render an AsyncAPI document to a browsable HTML page with the AsyncAPI project's React
// component (@asyncapi/react-component), the way @asyncapi/html-template does it: the page is
// rendered here (readable without JavaScript) and hydrated in the browser by the component's
// standalone bundle, copied next to it, so the page works offline and from file://.
//
//   node tools/asyncapi/render.mjs contracts/asyncapi.json var/docs/asyncapi
//
// The document is parsed (and its $refs to contracts/schemas/ resolved) by @asyncapi/parser
// first; a document with errors is not rendered (exit 1).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { Parser, fromFile, stringify, DiagnosticSeverity } = require('@asyncapi/parser');
const React = require('react');
const { renderToString } = require('react-dom/server');
const AsyncApi = require('@asyncapi/react-component/lib/cjs/without-parser.js').default;

const [source, outDir] = process.argv.slice(2);
if (!source || !outDir) {
  console.error('usage: node render.mjs <asyncapi document> <output directory>');
  process.exit(2);
}

const { document, diagnostics } = await fromFile(new Parser(), path.resolve(source)).parse();
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
if (document === undefined || errors.length > 0) {
  for (const d of errors) console.error(`error: ${d.code}: ${(d.path ?? []).join('/')}: ${d.message}`);
  console.error(`${source}: not rendered, the parser reports errors`);
  process.exit(1);
}

const config = {
  show: { sidebar: true, errors: true },
  sidebar: { showOperations: 'byDefault' },
};
const body = renderToString(React.createElement(AsyncApi, { schema: document, config }));
// Inside a <script> element: keep "</script>" and friends from closing it early.
const stringified = JSON.stringify(stringify(document)).replace(/</g, '\\u003c');
const title = `${document.info().title()} ${document.info().version()} - AsyncAPI`;
const escape = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const componentDir = path.dirname(require.resolve('@asyncapi/react-component/package.json'));
mkdirSync(outDir, { recursive: true });
copyFileSync(path.join(componentDir, 'styles/default.min.css'), path.join(outDir, 'asyncapi.css'));
copyFileSync(
  path.join(componentDir, 'browser/standalone/without-parser.js'),
  path.join(outDir, 'asyncapi-standalone.js'),
);
const html = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escape(title)}</title>
  <link rel="stylesheet" href="asyncapi.css">
</head>
<body>
  <div id="root">${body}</div>
  <script src="asyncapi-standalone.js"></script>
  <script>
    AsyncApiStandalone.hydrate(
      { schema: ${stringified}, config: ${JSON.stringify(config)} },
      document.getElementById('root'),
    );
  </script>
</body>
</html>
`;
const page = path.join(outDir, 'index.html');
writeFileSync(page, html);
console.log(`wrote ${page}`);
