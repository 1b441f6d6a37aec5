#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers at AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/).
# Order: use it if it answers; else start the local rabbitmq-server; else install it with
# apt-get when root; else stop and say how to get one.
set -euo pipefail

url="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port=5672
[[ "$hostport" == *:* ]] && port="${hostport##*:}"

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

wait_for_broker() {
  for _ in $(seq 1 120); do
    answers && return 0
    sleep 0.5
  done
  return 1
}

if answers; then
  echo "broker: reachable at $host:$port"
  exit 0
fi

case "$host" in
  127.*|localhost|::1) ;;
  *) echo "broker: nothing answers at $host:$port (AMQP_URL). Start that broker, or unset AMQP_URL to use a local one." >&2
     exit 1 ;;
esac

PATH="$PATH:/usr/sbin:/sbin"
if ! command -v rabbitmq-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "broker: installing rabbitmq-server with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  else
    cat >&2 <<'MSG'
broker: no RabbitMQ answers at 127.0.0.1:5672 and rabbitmq-server is not installed.
  Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server), or run one in a container
  (docker run -d -p 5672:5672 rabbitmq:3-management), or point AMQP_URL at a broker you have.
MSG
    exit 1
  fi
fi

echo "broker: starting rabbitmq-server"
rabbitmq-server -detached >/dev/null 2>&1 || true
if wait_for_broker; then
  echo "broker: up at $host:$port"
else
  echo "broker: rabbitmq-server did not open $host:$port within 60s; see /var/log/rabbitmq/" >&2
  exit 1
fi
