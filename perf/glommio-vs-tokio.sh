#!/usr/bin/env bash
# The runtime choice, kept measured: the same KV GET handler (tribune's KvPartition + Consul
# JSON, one httparse keep-alive loop) on glommio and on tokio current-thread, beside the full
# tribune agent (hyper) and nginx, all on one pinned core, same wrk client, A/B rounds.
source "$(dirname "$0")/common.sh"
need nginx nginx-light; need wrk wrk; build; machine
(cd "$ROOT/perf/runtime-shootout" && cargo build --release -q)
SHOOT="$ROOT/perf/runtime-shootout/target/release/runtime-shootout"
ulimit -l unlimited 2>/dev/null || ulimit -l 1024 || true   # glommio needs >= 512 KiB locked
DIR=$(mktemp -d)
start_nginx_fixed_body "$DIR"
taskset -c "$SERVER_CPU" "$SHOOT" glommio 18601 & PIDS+=($!)
taskset -c "$SERVER_CPU" "$SHOOT" tokio 18602 & PIDS+=($!)
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data" -shards 1 -http-port 18501 >/dev/null & PIDS+=($!)
sleep 1
curl -sf -X PUT -d value http://127.0.0.1:18501/v1/kv/k >/dev/null
for round in 1 2; do
  for target in nginx:18080/ glommio:18601/v1/kv/k tokio:18602/v1/kv/k tribune-hyper:18501/v1/kv/k; do
    printf '%-14s ' "${target%%:*}"
    taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d5s "http://127.0.0.1:${target#*:}" | awk '/Requests\/sec/ {printf "%s req/s  ", $2} /Latency/ {printf "avg %s ", $2} END {print ""}'
  done
done
