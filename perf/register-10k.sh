#!/usr/bin/env bash
# Registration through one agent (issue 19): 10,000 agent services, each with a TTL check,
# over 64 connections (`loadgen --mode register`), on a single durable server (`-server
# -bootstrap-expect=1`, data on disk, `-shards 1` on SERVER_CPU, loadgen on CLIENT_CPU). The
# figure is registrations per second until the catalog holds all of them (the HTTP answers
# come before anti-entropy has written them), beside the same server's durable KV write rate
# (`--mode kv-put`, 64 connections) measured in the same run. With BEFORE=path/to/tribune, the
# same for that binary, alternating, ROUNDS rounds.
#   perf/register-10k.sh            [ROUNDS=3 N=10000 BEFORE=/tmp/tribune-before]
source "$(dirname "$0")/common.sh"
build
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
machine
run_one() { # BIN LABEL
  local dir; dir=$(mktemp -d)
  taskset -c "$SERVER_CPU" "$1" agent -server $(solo) -shards 1 -node reg -bind 127.0.0.1 \
    -client 127.0.0.1 -http-port 18530 -dns-port -1 -data-dir "$dir" >"$dir/log" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  for _ in $(seq 100); do curl -sf 127.0.0.1:18530/v1/status/leader | grep -q : && break; sleep 0.1; done
  local kv
  kv=$(taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:18530 --mode kv-put \
    --connections 64 --seconds 3 --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))')
  local start; start=$(date +%s.%N)
  taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:18530 --mode register \
    --connections 64 --seconds 600 --requests "$N" --keys "$N" --json >/dev/null
  local http_done; http_done=$(date +%s.%N)
  while :; do
    local have
    have=$(curl -s 127.0.0.1:18530/v1/catalog/node-services/reg | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Services"]))')
    [ "$have" -gt "$N" ] && break   # N services plus `consul`
    sleep 0.05
  done
  local end; end=$(date +%s.%N)
  python3 - "$2" "$start" "$http_done" "$end" "$N" "$kv" <<'PY'
import sys
label, start, http_done, end, n, kv = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5]), float(sys.argv[6])
rate = n / (end - start)
print(f"{label:7} registrations/s until in the catalog {rate:8.0f}  (HTTP answered in {http_done - start:.2f} s, "
      f"catalog complete at {end - start:.2f} s); durable KV writes/s {kv:8.0f}; ratio {rate / kv:.2f}")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  run_one "$ROOT/target/release/tribune" after
  if [ -n "${BEFORE:-}" ]; then run_one "$BEFORE" before; fi
done
