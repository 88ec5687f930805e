#!/usr/bin/env bash
# Start-up: time from exec of `tribune agent -dev` to its first HTTP answer (target <= 100 ms),
# ten runs. Prints each and the median.
source "$(dirname "$0")/common.sh"
build; machine
times=()
for i in $(seq 1 10); do
  port=$((18900 + i))
  t0=$(date +%s%N)
  "$ROOT/target/release/tribune" agent -dev $(solo | sed 's/-bootstrap-expect=1 //') -http-port $port -dns-port -1 -shards 1 >/dev/null 2>&1 & pid=$!
  until curl -s -o /dev/null "http://127.0.0.1:$port/v1/status/leader"; do sleep 0.002; done
  ms=$(( ($(date +%s%N) - t0) / 1000000 )); times+=("$ms"); echo "run $i: $ms ms"
  kill $pid; wait $pid 2>/dev/null || true
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n)); echo "median ${sorted[5]} ms (min ${sorted[0]}, max ${sorted[9]})"
