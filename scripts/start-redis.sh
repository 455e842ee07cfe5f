#!/usr/bin/env bash
# Start a throwaway Redis (or Valkey) server on a free loopback port for the Redis tests, and
# print what to export: PERF_TEST_REDIS_URL, and PERF_TEST_REDIS_STOP to stop it.
# Installs Debian's redis-server first if neither server is there (quietly; needs root).
# No persistence, its files in DIR; a memory limit with LRU eviction, as a cache server runs.
# Usage: eval "$(scripts/start-redis.sh DIR)"; ...; eval "$PERF_TEST_REDIS_STOP"
set -euo pipefail
dir=${1:?usage: start-redis.sh DIR}
server=$(command -v valkey-server || command -v redis-server || true)
if [ -z "$server" ]; then
  echo "installing Debian's redis-server" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  server=$(command -v redis-server)
fi
mkdir -p "$dir"
port=${PERF_TEST_REDIS_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
"$server" --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
  --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
  --maxmemory 256mb --maxmemory-policy allkeys-lru
answered=no
for _ in $(seq 100); do  # up to 5 s for it to answer
  if python3 - "$port" <<'EOF' 2>/dev/null; then answered=yes; break; fi
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
EOF
  sleep 0.05
done
if [ "$answered" != yes ]; then
  echo "the Redis server did not answer on port $port; see $dir/redis.log" >&2
  exit 1
fi
pid=$(cat "$dir/redis.pid")
echo "export PERF_TEST_REDIS_URL=redis://127.0.0.1:$port/0"
echo "export PERF_TEST_REDIS_STOP='kill $pid; rm -rf $dir'"
