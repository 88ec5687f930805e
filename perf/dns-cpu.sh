#!/usr/bin/env bash
# DNS cost per query, tribune beside NSD in the same run (issue 20's method): both servers on
# CPU 1 (tribune `-shards 1`, NSD one process, rrl off), dnsperf on CPU 0, `web.service.consul`
# A and SRV 50/50 over UDP without EDNS (3 answers, the same size from both).
#  1. CPU per answered query at a fixed offered rate (`dnsperf -Q $RATE`): user and system
#     time of every thread of the server process over the run (/proc/<pid>/stat), split so the
#     kernel's share shows;
#  2. saturated queries per second (`dnsperf -c 1 -q 100`).
# A/B alternating, $ROUNDS rounds, for 3 and for 5,000 instances ($SIZES). Usage: bash perf/dns-cpu.sh
source "$(dirname "$0")/common.sh"
need nsd nsd; need dnsperf dnsperf; build; machine
ROUNDS=${ROUNDS:-3}; RATE=${RATE:-60000}; SECS=${SECS:-10}
DIR=$(mktemp -d)
printf 'web.service.consul A\nweb.service.consul SRV\n' > "$DIR/queries.txt"
start_nsd_consul_zone "$DIR"
NSD_PID=${PIDS[-1]}
cpu_run() { # label port pid
  local before after answered
  before=$(cpu_ticks "$3")
  answered=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" -d "$DIR/queries.txt" -c 1 -Q "$RATE" -l "$SECS" 2>/dev/null |
    awk '/Queries completed/ {print $3}')
  after=$(cpu_ticks "$3")
  printf '%-30s %9d answered  ' "$1" "$answered"
  cpu_per_op "$answered" query $before $after
}
qps_run() { # label port
  taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" -d "$DIR/queries.txt" -c 1 -q 100 -l 5 2>/dev/null |
    awk -v n="$1" '/Queries per second/ {q=$4} /Average Latency/ {l=$4} END {printf "%-30s %10.0f qps  avg %.3f ms\n", n, q, l*1000}'
}
for n in ${SIZES:-3 5000}; do
  PORT=$((18654 + n % 7)); HTTP=$((18540 + n % 7))
  taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data-$n" -shards 1 -http-port $HTTP -dns-port $PORT >/dev/null & PIDS+=($!)
  TRIBUNE_PID=$!
  sleep 1
  python3 "$ROOT/perf/register.py" $HTTP catalog $n
  echo "== $n instances: CPU per query at $RATE queries/s offered, ${SECS} s"
  for round in $(seq "$ROUNDS"); do
    cpu_run "nsd" 18653 "$NSD_PID"
    cpu_run "tribune ($n instances)" $PORT "$TRIBUNE_PID"
  done
  echo "== $n instances: saturated"
  for round in $(seq "$ROUNDS"); do
    qps_run "nsd" 18653
    qps_run "tribune ($n instances)" $PORT
  done
  kill "$TRIBUNE_PID"; wait "$TRIBUNE_PID" 2>/dev/null || true
done
