#!/usr/bin/env bash
# Set the queue expiry operator policy on the local broker's vhost (that of AMQP_URL, default
# "/"), so a stopped interactive service's keys fall back to the menu; see queue_expiry_policy
# in contracts/topology.py, which holds its name, pattern and default expiry.
#   DTMF_QUEUE_EXPIRES_MS=120000   another expiry (milliseconds)
#   DTMF_QUEUE_EXPIRES_MS=0        no expiry: clear the policy
# Uses rabbitmqctl, so only for a broker on this machine; for another one it says what to run
# there. It never fails the caller (make demo): the policy is a safety net, not a dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

url="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
url="${url%%,*}"  # several nodes: the policy is the cluster's, set once
rest="${url#*://}"; rest="${rest#*@}"; host="${rest%%/*}"; host="${host%%:*}"
vhost="/"
[[ "$rest" == */* ]] && [ -n "${rest#*/}" ] && vhost="${rest#*/}"
vhost="${vhost%%\?*}"

python="${VENV:-.venv}/bin/python"
[ -x "$python" ] || python="${PYTHON:-python3}"
# Name, pattern and definition from contracts/topology.py (it imports nothing outside the
# standard library, so any python3 reads it): one line each.
mapfile -t policy < <("$python" - "$vhost" "${DTMF_QUEUE_EXPIRES_MS:-}" <<'PY'
import json, runpy, sys
from urllib.parse import unquote
topology = runpy.run_path("contracts/topology.py")
vhost, raw = sys.argv[1:]
try:
    expires = int(raw) if raw.strip() else topology["DEFAULT_QUEUE_EXPIRES_MS"]
except ValueError:
    expires = -1
if expires < 0:
    sys.exit(f"queue expiry: DTMF_QUEUE_EXPIRES_MS={raw!r}: milliseconds, or 0 for no expiry")
policy = topology["queue_expiry_policy"](expires_ms=expires or 1)  # 0: only its name is used
print(policy.name, policy.pattern, json.dumps(policy.definition), policy.apply_to, sep="\n")
print(policy.priority, unquote(vhost), expires, sep="\n")
PY
)
[ "${#policy[@]}" -eq 7 ] || exit 2
name="${policy[0]}" pattern="${policy[1]}" definition="${policy[2]}" apply_to="${policy[3]}"
priority="${policy[4]}" vhost="${policy[5]}" expires="${policy[6]}"

case "$host" in
  127.*|localhost|::1) ;;
  *) echo "queue expiry: broker $host is not on this machine; on it, run:" >&2
     echo "  rabbitmqctl set_operator_policy -p '$vhost' --apply-to $apply_to --priority $priority $name '$pattern' '$definition'" >&2
     exit 0 ;;
esac

PATH="$PATH:/usr/sbin:/sbin"
if [ "$expires" = 0 ]; then
  rabbitmqctl --quiet clear_operator_policy -p "$vhost" "$name" >/dev/null 2>&1 || true
  echo "queue expiry: off (no operator policy $name on vhost $vhost)"
elif error=$(rabbitmqctl --quiet set_operator_policy -p "$vhost" --apply-to "$apply_to" \
    --priority "$priority" "$name" "$pattern" "$definition" 2>&1 >/dev/null); then
  echo "queue expiry: interactive service queues on vhost $vhost go after ${expires} ms unused"
else
  echo "queue expiry: rabbitmqctl could not set operator policy $name, so a stopped service's" \
       "keys stay silent until it is retired: ${error##*$'\n'}" >&2
fi
