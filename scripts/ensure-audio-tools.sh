#!/usr/bin/env bash
# Make sure the audio tools the in-band DTMF tests use as outside evidence are installed:
# sox (tone and noise generator), multimon-ng (an independent DTMF decoder) and espeak-ng
# (speech for the talk-off test). See tests/unit/test_inband_*.py.
# Order: use them if they are on PATH; else install the Debian packages with apt-get when
# root; else stop and say how to get them.
set -euo pipefail

tools=(sox multimon-ng espeak-ng)
missing=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done

if [ "${#missing[@]}" = 0 ]; then
  echo "audio tools: ${tools[*]} present"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat >&2 <<MSG
audio tools: missing ${missing[*]}. Install them as root with
  apt-get install -y --no-install-recommends ${missing[*]}
(Debian/Ubuntu; the package names are the command names).
MSG
  exit 1
fi

echo "audio tools: installing ${missing[*]} with apt-get"
DEBIAN_FRONTEND=noninteractive apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for tool in "${missing[@]}"; do
  command -v "$tool" >/dev/null || { echo "audio tools: $tool install failed" >&2; exit 1; }
done
echo "audio tools: ${tools[*]} present"
