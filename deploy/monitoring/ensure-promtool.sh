#!/usr/bin/env bash
# Make sure promtool (and the prometheus binary) are installed: tests/unit/test_monitoring.py
# runs `promtool check rules|config` and `promtool test rules` on deploy/monitoring/.
# Order: use it if it is on PATH; else install Debian's `prometheus` package with apt-get when
# root, without letting the package start its daemon; else stop and say how to get it.
set -euo pipefail

if command -v promtool >/dev/null; then
  echo "promtool: $(command -v promtool)"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<'MSG'
promtool: not found. Install it as root with
  apt-get install -y --no-install-recommends prometheus
(Debian/Ubuntu), or put a promtool from a Prometheus release on PATH.
MSG
  exit 1
fi

echo "promtool: installing Debian's prometheus package with apt-get"
# The package would start a prometheus daemon on :9090 where an init system runs; tests run
# their own Prometheus when they need one. Forbid service starts during the install with a
# temporary policy-rc.d (only if the machine has none), and stop the service if it started.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null

if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
elif command -v service >/dev/null; then
  service prometheus stop >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null || { echo "promtool: install failed" >&2; exit 1; }
echo "promtool: $(promtool --version 2>&1 | head -n 1)"
