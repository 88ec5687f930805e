#!/usr/bin/env bash
# The cost of metrics and of verbose logging, in the same run: KV GET (`loadgen --mode
# kv-get`, 64 connections on CLIENT_CPU) against `-shards 1` on SERVER_CPU, ROUNDS rounds of
#   before  OLD_BINARY (a build without metrics), log_level info
#   metrics NEW_BINARY (every request timed into `consul.api.http`), log_level info
#   trace   NEW_BINARY with -log-level=trace (every request also logged, to a file)
# Take the medians; the ratios metrics/before and trace/metrics are the figures.
#   bash perf/telemetry.sh OLD_BINARY NEW_BINARY
# (Old binary: `git worktree add /tmp/old <commit> && cd /tmp/old && CARGO_TARGET_DIR=$ROOT/target
# cargo build --release -p tribune && cp $ROOT/target/release/tribune /tmp/tribune-old`, then
# rebuild the new one.)
source "$(dirname "$0")/common.sh"
OLD=$1; NEW=$2; ROUNDS=${ROUNDS:-3}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
(cd "$ROOT" && cargo build --release -q -p loadgen)
machine
run() { # LABEL BINARY [FLAGS...]
  local label=$1 binary=$2; shift 2
  local dir; dir=$(mktemp -d)
  taskset -c "$SERVER_CPU" "$binary" agent -server $(solo) -data-dir "$dir" -shards 1 \
    -http-port 18503 "$@" >"$dir/agent.log" 2>&1 & local pid=$!
  for _ in $(seq 200); do
    curl -sf -X PUT -d x localhost:18503/v1/kv/ready 2>/dev/null | grep -q true && break
    sleep 0.1
  done
  local rate
  rate=$(taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:18503 \
    --mode kv-get --connections 64 --seconds "$SECONDS_PER_RUN" --json | grep -o "\"rps\":[0-9.]*" | cut -d: -f2 | cut -d. -f1)
  local logged; logged=$(wc -l < "$dir/agent.log")
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"
  echo "kv-get $label ${rate} req/s (${logged} log lines)"
}
for r in $(seq "$ROUNDS"); do
  run before "$OLD"
  run metrics "$NEW"
  run trace "$NEW" -log-level=trace
done
