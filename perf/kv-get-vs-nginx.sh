#!/usr/bin/env bash
# KV GET on one pinned core vs nginx (1 worker) returning the same 86-byte JSON, same client
# (wrk -t1 -c64 pinned to another core), A/B/A/B. Target: tribune >= 1.5x nginx.
source "$(dirname "$0")/common.sh"
need nginx nginx-light; need wrk wrk; build; machine
DIR=$(mktemp -d)
start_nginx_fixed_body "$DIR"
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data" -shards 1 -http-port 18501 >/dev/null & PIDS+=($!)
sleep 1
curl -sf -X PUT -d value http://127.0.0.1:18501/v1/kv/k >/dev/null
for round in 1 2; do
  for target in nginx:http://127.0.0.1:18080/ tribune:http://127.0.0.1:18501/v1/kv/k; do
    printf '%-8s ' "${target%%:*}"
    taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d5s "${target#*:}" | awk '/Requests\/sec/ {printf "%s req/s  ", $2} /Latency/ {printf "avg %s ", $2} END {print ""}'
  done
done
