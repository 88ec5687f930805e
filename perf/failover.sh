#!/usr/bin/env bash
# Failover time over N leader kills (default 20): three servers on 127.0.0.31-33 (default
# ports, raft_multiplier 1 timings), SIGKILL the leader, time until a surviving server names a
# new leader AND a write through it succeeds; restart the killed server on its data dir and
# wait until it has caught up before the next kill. Prints every time, then min/p50/p90/max.
source "$(dirname "$0")/common.sh"
KILLS=${KILLS:-20}
build
machine
T="$ROOT/target/release/tribune"
DIR=$(mktemp -d)
declare -A PID
start() { # n
  local ip=127.0.0.$1
  mkdir -p "$DIR/d$1"
  "$T" agent -server -bootstrap-expect=3 -data-dir="$DIR/d$1" -node=s$1 -bind=$ip -client=$ip \
    -retry-join=127.0.0.31 -retry-join=127.0.0.32 -retry-interval=1s -shards=1 >>"$DIR/log$1" 2>&1 &
  PID[$1]=$!; PIDS+=($!)
}
leader_of() { curl -s -m 1 "http://127.0.0.$1:8500/v1/status/leader" | tr -d '"'; }
for n in 31 32 33; do start $n; done
until [ -n "$(leader_of 31)" ] && [ "$(leader_of 31)" = "$(leader_of 32)" ]; do sleep 0.1; done
times=()
for k in $(seq 1 "$KILLS"); do
  leader=$(leader_of 31); [ -z "$leader" ] && leader=$(leader_of 32)
  n=${leader%%:*}; n=${n##*.}
  survivor=31; [ "$n" = 31 ] && survivor=32
  t0=$(date +%s%N)
  kill -9 "${PID[$n]}"
  until l=$(leader_of $survivor); [ -n "$l" ] && [ "$l" != "$leader" ] \
        && curl -sf -m 1 -X PUT -d "$k" "http://127.0.0.$survivor:8500/v1/kv/failover" >/dev/null; do
    sleep 0.02
  done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  times+=("$ms"); echo "kill $k: leader $leader -> $(leader_of $survivor) in $ms ms"
  start "$n"
  until [ "$(curl -s -m 1 "http://127.0.0.$n:8500/v1/kv/failover?stale&raw")" = "$k" ]; do sleep 0.1; done
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
c=${#sorted[@]}
echo "failover over $c kills: min ${sorted[0]} ms, p50 ${sorted[$((c/2))]} ms, p90 ${sorted[$((c*9/10))]} ms, max ${sorted[$((c-1))]} ms"
rm -rf "$DIR"
