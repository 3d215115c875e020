#!/usr/bin/env bash
# Installs redis-server from the Debian packages (only if missing), starts a dedicated instance bound to 127.0.0.1
# on a fixed port (no persistence), and exports ASYNCPATTERNS_REDIS (a StackExchange.Redis configuration string).
# Idempotent: safe to run (or source) again; an instance already answering on the port is reused.
# Usage: source .ci/redis.sh   (or run it: the connection string is printed and written to artifacts/redis.env)
set -euo pipefail

redis_port="${ASYNCPATTERNS_REDIS_PORT:-63799}"
redis_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
redis_dir="$redis_root/artifacts/redis"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
  mkdir -p "$redis_dir"
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$redis_dir" --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
  for _ in $(seq 1 50); do
    if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null
fi

ASYNCPATTERNS_REDIS="127.0.0.1:$redis_port"
export ASYNCPATTERNS_REDIS
mkdir -p "$redis_root/artifacts"
printf 'ASYNCPATTERNS_REDIS=%s\n' "$ASYNCPATTERNS_REDIS" > "$redis_root/artifacts/redis.env"
echo "redis: $ASYNCPATTERNS_REDIS"
