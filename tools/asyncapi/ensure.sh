#!/usr/bin/env bash
# Make sure the AsyncAPI tools are installed: tests/unit/test_asyncapi.py validates
# contracts/asyncapi.json with tools/asyncapi/validate.mjs (@asyncapi/parser), and `make docs`
# renders it with tools/asyncapi/render.mjs (@asyncapi/react-component).
# Order: Node.js >= 18 and npm on PATH, else Debian's nodejs and npm packages with apt-get when
# root, else stop and say how to get them; then `npm ci` of the exact versions locked in
# tools/asyncapi/package-lock.json, once: again only when the lock file changes.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}

if ! node_ok; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    cat >&2 <<'MSG'
asyncapi tools: Node.js >= 18 with npm is needed. Install it as root with
  apt-get install -y --no-install-recommends nodejs npm
(Debian/Ubuntu), or from https://nodejs.org/.
MSG
    exit 1
  fi
  echo "asyncapi tools: installing Debian's nodejs and npm packages with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  node_ok || { echo "asyncapi tools: Node.js >= 18 with npm still missing" >&2; exit 1; }
fi

lock_sum="$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
stamp="$dir/node_modules/.installed-$lock_sum"
if [ ! -f "$stamp" ]; then
  echo "asyncapi tools: npm ci in $dir (node $(node --version))"
  # --ignore-scripts: none of these packages needs an install script (one would only send
  # usage analytics).
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
echo "asyncapi tools: @asyncapi/parser $(node -p "require('$dir/node_modules/@asyncapi/parser/package.json').version"), @asyncapi/react-component $(node -p "require('$dir/node_modules/@asyncapi/react-component/package.json').version")"
