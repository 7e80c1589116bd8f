#!/usr/bin/env bash
# Durable ingest on PostgreSQL with one and with two replicas, next to
# SQLite, measured with wrk in one run (each replica gets its own wrk with
# half the connections). Needs a PostgreSQL URL:
#   DATABASE_URL=postgres://… bench/replicas.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database the benchmark may fill}"
command -v wrk >/dev/null || { echo "wrk not installed: apt-get install wrk" >&2; exit 1; }
go build -o bin/hogpipe ./cmd/hogpipe
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
run_wrk() { wrk -t1 -c"$2" -d"${secs}s" -s bench/webhook.lua "http://127.0.0.1:$1/api/webhooks/generation-failed" | grep -E 'Requests/sec|non-2xx'; }
bin=$PWD/bin/hogpipe
pids=()
start() { # port, database URL or ""
  local port=$1 db=$2
  (cd "$tmp" && DATABASE_URL="$db" exec "$bin" serve --addr "127.0.0.1:$port" --data-dir "$tmp/d$port" --log-level warn >/dev/null 2>&1) &
  pids+=($!)
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
}
stop_all() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; pids=(); }

echo "== SQLite, one process, $conns connections"
start 3911 ""; run_wrk 3911 "$conns"; stop_all

echo "== PostgreSQL, one replica, $conns connections"
start 3912 "$DATABASE_URL"; run_wrk 3912 "$conns"; stop_all

echo "== PostgreSQL, two replicas, $((conns/2)) connections each (add the two rates)"
start 3913 "$DATABASE_URL"; start 3914 "$DATABASE_URL"
run_wrk 3913 $((conns/2)) > "$tmp/a" & w=$!
run_wrk 3914 $((conns/2)) > "$tmp/b"; wait $w
cat "$tmp/a" "$tmp/b"
stop_all
