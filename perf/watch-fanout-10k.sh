#!/usr/bin/env bash
# 10,000 blocking-query watchers on one key of a single server (or, with SERVICE=name, on
# /v1/health/service/name), a writer changing it every 100 ms; each wake-up is timed from the
# write. Target: one change reaches all, p99 <= 50 ms.
source "$(dirname "$0")/common.sh"
WATCHERS=${WATCHERS:-10000}; SECS=${SECS:-10}
build; machine
DIR=$(mktemp -d)
ulimit -n "$(ulimit -Hn)"
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR" -shards 1 -http-port 18950 >/dev/null & PIDS+=($!)
until curl -s -o /dev/null http://127.0.0.1:18950/v1/status/leader; do sleep 0.1; done
sleep 1
taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" watch --target 127.0.0.1:18950 --watchers "$WATCHERS" --seconds "$SECS" ${SERVICE:+--service "$SERVICE"}
