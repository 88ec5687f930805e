#!/usr/bin/env bash
# GET /v1/health/service/web with $INSTANCES instances (10 by default: a 9.4 KB body) on one
# pinned core (-shards 1), against nginx (1 worker) serving that same body captured from
# tribune as a file; wrk -t1 -c64 on another core, A/B alternating, $ROUNDS rounds, with each
# server's CPU per request split into user and kernel time. With BEFORE_BIN=<an older tribune
# binary>, that one runs in the rotation too. Target: tribune >= 1.0x nginx.
source "$(dirname "$0")/common.sh"
need nginx nginx-light; need wrk wrk; build; machine
ROUNDS=${ROUNDS:-3}; INSTANCES=${INSTANCES:-10}
DIR=$(mktemp -d)
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data" -shards 1 -http-port 18502 >/dev/null & PIDS+=($!)
TRIBUNE_PID=$!
until [ -n "$(curl -s http://127.0.0.1:18502/v1/status/leader | tr -d '"')" ]; do sleep 0.1; done
python3 "$ROOT/perf/register.py" 18502 catalog "$INSTANCES"
curl -sf http://127.0.0.1:18502/v1/health/service/web > "$DIR/body.json"
echo "body: $(wc -c < "$DIR/body.json") bytes, $INSTANCES instances"
if [ -n "${BEFORE_BIN:-}" ]; then
  taskset -c "$SERVER_CPU" "$BEFORE_BIN" agent -server $(solo) -data-dir "$DIR/data-before" -shards 1 -http-port 18504 >/dev/null & PIDS+=($!)
  BEFORE_PID=$!
  until [ -n "$(curl -s http://127.0.0.1:18504/v1/status/leader | tr -d '"')" ]; do sleep 0.1; done
  python3 "$ROOT/perf/register.py" 18504 catalog "$INSTANCES"
fi
start_nginx_file_body "$DIR" "$DIR/body.json"; NGINX_PID=$!
sleep 1
for round in $(seq "$ROUNDS"); do
  wrk_cpu_run nginx http://127.0.0.1:18081/ "$NGINX_PID"
  wrk_cpu_run tribune http://127.0.0.1:18502/v1/health/service/web "$TRIBUNE_PID"
  [ -z "${BEFORE_BIN:-}" ] || wrk_cpu_run before http://127.0.0.1:18504/v1/health/service/web "$BEFORE_PID"
done
