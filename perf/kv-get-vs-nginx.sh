#!/usr/bin/env bash
# KV GET on one pinned core vs nginx (1 worker) returning the same 86-byte JSON, same client
# (wrk -t1 -c64 pinned to another core), A/B alternating, $ROUNDS rounds. Besides req/s, each
# run prints the server's CPU per request split into user and kernel time (/proc/<pid>/stat
# of the server and its children over the run), which shows what is left when both servers
# saturate their core. With BEFORE_BIN=<an older tribune binary>, that one runs in the rotation
# too (same pinning, its own port). Target: tribune >= 1.5x nginx.
source "$(dirname "$0")/common.sh"
need nginx nginx-light; need wrk wrk; build; machine
ROUNDS=${ROUNDS:-3}
DIR=$(mktemp -d)
start_nginx_fixed_body "$DIR"; NGINX_PID=$!
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data" -shards 1 -http-port 18501 >/dev/null & PIDS+=($!)
TRIBUNE_PID=$!
sleep 1
curl -sf -X PUT -d value http://127.0.0.1:18501/v1/kv/k >/dev/null
if [ -n "${BEFORE_BIN:-}" ]; then
  taskset -c "$SERVER_CPU" "$BEFORE_BIN" agent -server $(solo) -data-dir "$DIR/data-before" -shards 1 -http-port 18503 >/dev/null & PIDS+=($!)
  BEFORE_PID=$!
  sleep 1
  curl -sf -X PUT -d value http://127.0.0.1:18503/v1/kv/k >/dev/null
fi
for round in $(seq "$ROUNDS"); do
  wrk_cpu_run nginx http://127.0.0.1:18080/ "$NGINX_PID"
  wrk_cpu_run tribune http://127.0.0.1:18501/v1/kv/k "$TRIBUNE_PID"
  [ -z "${BEFORE_BIN:-}" ] || wrk_cpu_run before http://127.0.0.1:18503/v1/kv/k "$BEFORE_PID"
done
