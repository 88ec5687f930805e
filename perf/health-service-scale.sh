#!/usr/bin/env bash
# GET /v1/health/service/web with 10, 1,000 and 5,000 instances, agent on one pinned core
# (-shards 1), wrk -t1 -c64 on another. Prints req/s, instances/s and response size.
source "$(dirname "$0")/common.sh"
need wrk wrk; build; machine
for n in 10 1000 5000; do
  DIR=$(mktemp -d); PORT=$((18700 + n % 97))
  taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR" -shards 1 -http-port $PORT >/dev/null & PIDS+=($!)
  sleep 1
  python3 "$ROOT/perf/register.py" $PORT catalog $n
  bytes=$(curl -s "http://127.0.0.1:$PORT/v1/health/service/web" | wc -c)
  rps=$(taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d5s "http://127.0.0.1:$PORT/v1/health/service/web" | awk '/Requests\/sec/ {print $2}')
  echo "instances=$n  req/s=$rps  instances/s=$(python3 -c "print(int($rps*$n))")  response_bytes=$bytes  rss_kib=$(awk '/VmRSS/ {print $2}' /proc/${PIDS[-1]}/status)"
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
done
