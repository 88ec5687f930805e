#!/usr/bin/env bash
# Sessions and locks on 3 servers (127.0.0.141-143, data dirs on disk, one shard each) and two
# client agents (.144 holds, .145 waits): the acquire+release rate through the leader and
# through a client, then the time from a holder's SIGKILL to the next holder's acquire.
#   bash perf/locks.sh
source "$(dirname "$0")/common.sh"
build; machine
DIR=$(mktemp -d)
BIN="$ROOT/target/release/tribune"
start() { # N NODE ARGS...
  local n=$1 node=$2; shift 2
  "$BIN" agent -node="$node" -bind=127.0.0.$n -client=127.0.0.$n -data-dir="$DIR/$node" \
    -shards=1 "$@" >"$DIR/$node.log" 2>&1 & PIDS+=($!)
}
for n in 141 142 143; do
  start $n s$n -server -bootstrap-expect=3 -retry-join=127.0.0.141 -retry-join=127.0.0.142
done
start 144 holder -retry-join=127.0.0.141; HOLDER_PID=$!
start 145 standby -retry-join=127.0.0.141
for _ in $(seq 150); do
  [ "$(curl -s 127.0.0.145:8500/v1/session/create -X PUT -d '{"NodeChecks":[]}' -o /dev/null -w '%{http_code}')" = 200 ] \
    && [ "$(curl -s 127.0.0.144:8500/v1/session/create -X PUT -o /dev/null -w '%{http_code}')" = 200 ] && break
  sleep 0.2
done
LEADER=$(curl -s 127.0.0.141:8500/v1/status/leader | tr -d '"' | cut -d: -f1)
echo "leader $LEADER"
python3 "$ROOT/perf/locks.py" rate "$LEADER:8500" 16 10
python3 "$ROOT/perf/locks.py" rate 127.0.0.145:8500 16 10
python3 "$ROOT/perf/locks.py" failover 127.0.0.144:8500 "$HOLDER_PID" 127.0.0.145:8500 15s
