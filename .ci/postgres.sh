#!/usr/bin/env bash
# Installs PostgreSQL from the Debian packages (only if missing), starts a dedicated cluster bound to 127.0.0.1,
# creates the test role and database, and exports ASYNCPATTERNS_POSTGRES (an Npgsql connection string).
# Idempotent: safe to run (or source) again; an already running cluster is reused.
# Usage: source .ci/postgres.sh   (or run it: the connection string is printed and written to artifacts/postgres.env)
set -euo pipefail

pg_port="${ASYNCPATTERNS_POSTGRES_PORT:-54329}"
pg_cluster=asyncpatterns
pg_user=asyncpatterns
pg_password=asyncpatterns
pg_db=asyncpatterns

if ! command -v pg_createcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

pg_version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)

if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -x "$pg_version $pg_cluster" >/dev/null; then
  pg_createcluster "$pg_version" "$pg_cluster" -p "$pg_port" \
    -- --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi
mkdir -p "/etc/postgresql/$pg_version/$pg_cluster/conf.d"
printf "listen_addresses = '127.0.0.1'\n" > "/etc/postgresql/$pg_version/$pg_cluster/conf.d/asyncpatterns.conf"

if ! pg_lsclusters -h | awk -v v="$pg_version" -v c="$pg_cluster" '$1==v && $2==c {print $4}' | grep -x online >/dev/null; then
  pg_ctlcluster "$pg_version" "$pg_cluster" start
fi

pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" -v c="$pg_cluster" '$1==v && $2==c {print $3}')

psql_admin() { su postgres -c "psql -X -q -v ON_ERROR_STOP=1 -p $pg_port -d postgres $*"; }

for _ in $(seq 1 50); do
  if su postgres -c "pg_isready -q -h 127.0.0.1 -p $pg_port"; then break; fi
  sleep 0.2
done

if [ "$(psql_admin "-tAc \"SELECT 1 FROM pg_roles WHERE rolname = '$pg_user'\"")" != "1" ]; then
  psql_admin "-c \"CREATE ROLE $pg_user LOGIN PASSWORD '$pg_password'\""
fi
if [ "$(psql_admin "-tAc \"SELECT 1 FROM pg_database WHERE datname = '$pg_db'\"")" != "1" ]; then
  psql_admin "-c \"CREATE DATABASE $pg_db OWNER $pg_user\""
fi

ASYNCPATTERNS_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=$pg_user;Password=$pg_password;Database=$pg_db;Pooling=false"
export ASYNCPATTERNS_POSTGRES
env_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/artifacts"
mkdir -p "$env_dir"
printf 'ASYNCPATTERNS_POSTGRES=%s\n' "$ASYNCPATTERNS_POSTGRES" > "$env_dir/postgres.env"
echo "postgres: $ASYNCPATTERNS_POSTGRES"
