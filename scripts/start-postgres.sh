#!/usr/bin/env bash
# Start a throwaway PostgreSQL on loopback for the PostgreSQL tests, and print the URL to
# export as PERF_TEST_POSTGRES_URL. Installs Debian's server first if it is missing.
# Usage: eval "$(scripts/start-postgres.sh DIR)"; stop with: pg_ctl -D DIR/data stop
set -euo pipefail
dir=${1:?usage: start-postgres.sh DIR}
port=${PERF_TEST_POSTGRES_PORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ]; then
  echo "installing Debian's postgresql" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
mkdir -p "$dir"
run=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
  chown -R postgres "$dir"
  run=(runuser -u postgres --)
fi
"${run[@]}" "$bin/initdb" -D "$dir/data" -U perf --auth=trust >/dev/null
"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-k $dir -p $port -c listen_addresses=127.0.0.1" start >/dev/null
"${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U perf perf_test
echo "export PERF_TEST_POSTGRES_URL=postgresql+asyncpg://perf@127.0.0.1:$port/perf_test"
echo "export PERF_TEST_POSTGRES_STOP='${run[*]} $bin/pg_ctl -D $dir/data stop -m fast'"
