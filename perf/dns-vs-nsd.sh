#!/usr/bin/env bash
# Service A and SRV lookups per second on one pinned core: tribune (-shards 1) with 10 and with
# 5,000 instances of `web`, beside NSD (1 process, rrl off) serving a zone with the same answer
# size (3 A records: what both return to a non-EDNS UDP query). dnsperf on the other core.
source "$(dirname "$0")/common.sh"
need nsd nsd; need dnsperf dnsperf; build; machine
DIR=$(mktemp -d)
start_nsd_consul_zone "$DIR"
printf 'web.service.consul A\n' > "$DIR/a.txt"
printf 'web.service.consul SRV\n' > "$DIR/srv.txt"
run() { # name port file
  taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" -d "$3" -c 1 -q 100 -l 5 2>/dev/null |
    awk -v n="$1" '/Queries per second/ {q=$4} /Average Latency/ {l=$4} END {printf "%-28s %10.0f qps  avg %.3f ms\n", n, q, l*1000}'
}
for n in 10 5000; do
  PORT=$((18654 + n % 7))
  taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data-$n" -shards 1 -http-port $((18540 + n % 7)) -dns-port $PORT >/dev/null & PIDS+=($!)
  sleep 1
  python3 "$ROOT/perf/register.py" $((18540 + n % 7)) catalog $n
  for round in 1 2; do
    run "nsd A" 18653 "$DIR/a.txt"
    run "tribune A ($n instances)" $PORT "$DIR/a.txt"
    run "nsd SRV" 18653 "$DIR/srv.txt"
    run "tribune SRV ($n instances)" $PORT "$DIR/srv.txt"
  done
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
done
