// Validate an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser):
// the JSON Schema of the specification, its $refs (relative files resolved from the
// document's directory), the payload schemas and examples, and its Spectral ruleset.
//
//   node tools/asyncapi/validate.mjs contracts/asyncapi.json [--strict]
//
// Prints one line per diagnostic (error, warning, info, hint) and exits 1 when the parser
// reports an error (with --strict: also a warning), 2 on a usage or read error, else 0.
import path from 'node:path';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const args = process.argv.slice(2);
const strict = args.includes('--strict');
const files = args.filter((a) => !a.startsWith('--'));
if (files.length !== 1) {
  console.error('usage: node validate.mjs <asyncapi document> [--strict]');
  process.exit(2);
}
const file = path.resolve(files[0]);
const names = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

let result;
try {
  result = await fromFile(new Parser(), file).parse();
} catch (error) {
  console.error(`${file}: cannot parse: ${error.message}`);
  process.exit(2);
}
const { document, diagnostics } = result;
let failing = 0;
for (const d of diagnostics) {
  const severity = names[d.severity] ?? String(d.severity);
  const where = (d.path ?? []).join('/') || '(document)';
  console.log(`${severity}: ${d.code}: ${where}: ${d.message}`);
  if (d.severity === DiagnosticSeverity.Error || (strict && d.severity === DiagnosticSeverity.Warning)) {
    failing += 1;
  }
}
if (document === undefined || failing > 0) {
  console.log(`${file}: INVALID (${failing} failing diagnostic(s) of ${diagnostics.length})`);
  process.exit(1);
}
const counts = `${document.channels().length} channels, ${document.operations().length} operations, ${document.allMessages().length} messages`;
console.log(`${file}: valid AsyncAPI ${document.version()} (${counts}; ${diagnostics.length} diagnostic(s))`);
