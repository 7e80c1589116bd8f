#!/usr/bin/env bash
# Measures the no-op baseline and hogpipe with wrk (a C load generator that
# leaves more CPU to the server than the Go one in `hogpipe bench`), in one
# run, on loopback. Usage: bench/wrk.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk not installed: apt-get install wrk" >&2; exit 1; }
go build -o bin/hogpipe ./cmd/hogpipe
go build -o bin/noop ./bench/noop
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

bin/noop 127.0.0.1:3901 & sleep 0.5
echo "== no-op net/http handler"
wrk -t2 -c"$conns" -d"${secs}s" -s bench/webhook.lua http://127.0.0.1:3901/ | grep -E 'Requests/sec|non-2xx'
kill %1; wait %1 2>/dev/null || true

(cd "$tmp" && exec "$OLDPWD/bin/hogpipe" serve --addr 127.0.0.1:3902 >/dev/null 2>"$tmp/log") & sleep 1
echo "== hogpipe POST /api/webhooks/generation-failed (durable)"
wrk -t2 -c"$conns" -d"${secs}s" -s bench/webhook.lua http://127.0.0.1:3902/api/webhooks/generation-failed | grep -E 'Requests/sec|non-2xx'
