#!/usr/bin/env bash
# Agent CPU and memory with 10,000 TTL checks and 1,000 HTTP checks (10 s interval against a
# local nginx), measured over 30 s after registration settles. One pinned core.
source "$(dirname "$0")/common.sh"
need nginx nginx-light; build; machine
DIR=$(mktemp -d)
cat > "$DIR/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $DIR/nginx.pid; error_log $DIR/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:18081; location / { return 200 'ok'; } } }
CONF
taskset -c "$CLIENT_CPU" nginx -c "$DIR/nginx.conf" & PIDS+=($!)
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR/data" -shards 1 -http-port 18520 >/dev/null & PIDS+=($!)
AGENT=${PIDS[-1]}
sleep 1
start=$(date +%s.%N)
python3 "$ROOT/perf/register.py" 18520 agent-ttl 10000
python3 "$ROOT/perf/register.py" 18520 agent-http 1000 http://127.0.0.1:18081/health
echo "registration of 11,000 checks: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
sleep 15   # first HTTP runs are spread over one interval; let anti-entropy settle
ticks() { awk '{print $14 + $15}' /proc/$AGENT/stat; }
t0=$(ticks); sleep 30; t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "agent CPU over 30 s: $(python3 -c "print(round(($t1 - $t0) / $hz / 30 * 100, 2))") % of one core"
echo "agent RSS: $(awk '/VmRSS/ {print $2}' /proc/$AGENT/status) KiB"
passing=$(curl -s http://127.0.0.1:18520/v1/health/state/passing | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
echo "passing checks in the catalog: $passing (expect 11,001 incl. serfHealth)"
