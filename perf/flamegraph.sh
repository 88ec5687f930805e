#!/usr/bin/env bash
# Records `perf` of a tribune agent under one scenario and renders a flame graph (SVG).
# Usage: perf/flamegraph.sh [kv-get|kv-put|dns] [out.svg]. Installs linux-perf and inferno.
source "$(dirname "$0")/common.sh"
SCENARIO=${1:-kv-get}; OUT=${2:-flamegraph-$SCENARIO.svg}
need perf linux-perf
command -v inferno-flamegraph >/dev/null || cargo install -q inferno
build; machine
DIR=$(mktemp -d)
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR" -shards 1 -http-port 18970 -dns-port 18971 >/dev/null & PIDS+=($!)
agent=${PIDS[0]}
until curl -s -o /dev/null http://127.0.0.1:18970/v1/status/leader; do sleep 0.1; done
perf record -F 999 -g -p "$agent" -o "$DIR/perf.data" -- sleep 12 >/dev/null 2>&1 & rec=$!
case "$SCENARIO" in
  kv-get|kv-put) taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:18970 --mode "$SCENARIO" --seconds 10 ;;
  dns) need dnsperf dnsperf; echo "consul.service.consul A" > "$DIR/q"; taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p 18971 -d "$DIR/q" -c 1 -q 100 -l 10 ;;
  *) echo "unknown scenario $SCENARIO"; exit 2 ;;
esac
wait $rec || true
perf script -i "$DIR/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph > "$OUT"
echo "flame graph: $OUT"
