#!/usr/bin/env bash
# A/B of two tribune binaries in the same run: KV GET (`loadgen --mode kv-get`, 64
# connections) and durable KV PUT (`--mode kv-put`, 64 connections), each server `-shards 1`
# on SERVER_CPU with its data dir on disk, loadgen on CLIENT_CPU, ROUNDS rounds alternating
# A and B. Prints one line per run; take the medians.
#   bash perf/ab-kv.sh OLD_BINARY NEW_BINARY
# (Build the old one from a worktree of the old commit with the same target dir so only the
# crate itself recompiles: `git worktree add /tmp/old <commit>; cd /tmp/old;
# CARGO_TARGET_DIR=$ROOT/target-old cargo build --release -p tribune`.)
source "$(dirname "$0")/common.sh"
A=$1; B=$2; ROUNDS=${ROUNDS:-3}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
(cd "$ROOT" && cargo build --release -q -p loadgen)
machine
run() { # LABEL BINARY MODE
  local dir; dir=$(mktemp -d)
  taskset -c "$SERVER_CPU" "$2" agent -server $(solo) -data-dir "$dir" -shards 1 \
    -http-port 18502 >"/tmp/ab-server-$1.log" 2>&1 & local pid=$!
  # Ready once it has a leader and takes a write (the previous server's port may linger).
  for _ in $(seq 200); do
    curl -sf -X PUT -d x localhost:18502/v1/kv/ab-ready 2>/dev/null | grep -q true && break
    sleep 0.1
  done
  local rate
  rate=$(taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:18502 \
    --mode "$3" --connections 64 --seconds "$SECONDS_PER_RUN" --json | grep -o "\"rps\":[0-9.]*" | cut -d: -f2 | cut -d. -f1)
  kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"
  echo "$3 $1 ${rate} req/s"
}
for r in $(seq "$ROUNDS"); do
  for mode in kv-get kv-put; do
    run A "$A" "$mode"; run B "$B" "$mode"
  done
done
