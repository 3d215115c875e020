#!/usr/bin/env bash
# The fetcher's cost per request, measured in the client process, against nginx in another process on 127.0.0.1.
#
# Usage: tests/AsyncPatterns.Benchmarks/fetch-cost.sh [processes per variant (3)] [concurrency levels ("16 32")]
#   Environment: VARIANTS (default "parallel fetch-all fetch-stream"), REQUESTS (2000), WARMUP (3), ROUNDS (10),
#                PORT (18089).
#
# Installs nginx from the Debian packages when missing, serves 100 static JSON items from one worker process, then
# runs every variant in its own process, alternated (variant order rotates each pass), several processes each, and
# prints the medians and the ratios to the Parallel.ForEachAsync + GetFromJsonAsync baseline at equal concurrency,
# for the warm rounds and the first (JIT-cold) round. Raw lines go to artifacts/fetch-cost/samples.tsv.
# Not part of .ci/run: run it on a quiet machine (nothing else building).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
processes="${1:-3}"
levels="${2:-16 32}"
variants=(${VARIANTS:-parallel fetch-all fetch-stream})
requests="${REQUESTS:-2000}"
warmup="${WARMUP:-3}"
rounds="${ROUNDS:-10}"
port="${PORT:-18089}"
out="$root/artifacts/fetch-cost"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nginx-light >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

rm -rf "$out"
mkdir -p "$out/www/items" "$out/logs"
for i in $(seq 1 100); do
  printf '{"id":%d,"name":"item-%d","price":%d.5}' "$i" "$i" "$i" > "$out/www/items/$i"
done
cat > "$out/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $out/logs/error.log warn;
pid $out/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    root $out/www;
    location /items/ { default_type application/json; }
  }
}
CONF
"$nginx_bin" -p "$out" -c "$out/nginx.conf" &
nginx_pid=$!
trap 'kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/items/1" >/dev/null 2>&1 && break
  sleep 0.1
done

dotnet build tests/AsyncPatterns.Benchmarks -c Release -v quiet -nologo >/dev/null
dll="$root/artifacts/bin/AsyncPatterns.Benchmarks/release/AsyncPatterns.Benchmarks.dll"

samples="$out/samples.tsv"
echo "# kind variant concurrency user_us sys_us bytes work_items requests_per_s" > "$samples"
n=${#variants[@]}
for pass in $(seq 1 "$processes"); do
  for level in $levels; do
    for k in $(seq 0 $((n - 1))); do
      variant=${variants[$(((k + pass - 1) % n))]}
      echo "pass $pass/$processes: $variant at $level" >&2
      dotnet "$dll" fetch-cost run --variant "$variant" --concurrency "$level" --base "http://127.0.0.1:$port/" \
        --requests "$requests" --warmup "$warmup" --rounds "$rounds" >> "$samples"
    done
  done
done

dotnet "$dll" fetch-cost report "$samples"
