#!/usr/bin/env bash
# Durable single-server KV PUT (every ack after fdatasync): 64 connections vs 1 connection,
# server on one core, loadgen on another. Target: >= 20k writes/s at 64 connections.
source "$(dirname "$0")/common.sh"
build; machine
DIR=$(mktemp -d)
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR" -shards 1 -http-port 18502 >/dev/null & PIDS+=($!)
sleep 1
for c in 64 1; do
  taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:18502 --mode kv-put --connections "$c" --seconds 5
done
