#!/usr/bin/env bash
# `loadgen --nodes 5000` against a 3-server cluster on 127.0.0.71-73: simulated members join
# over real UDP/TCP, then DNS, HTTP and watcher phases. Servers share SERVER_CPUS; loadgen (its
# members thread and its load thread) runs on CLIENT_CPU. NODES and SECS override; extra
# arguments go to loadgen (e.g. `--flap 50` flips 50 instances' health during the phases).
source "$(dirname "$0")/common.sh"
NODES=${NODES:-5000}; SECS=${SECS:-5}; SERVER_CPUS=${SERVER_CPUS:-1}
build; machine
T="$ROOT/target/release/tribune"
DIR=$(mktemp -d)
for n in 71 72 73; do
  mkdir -p "$DIR/d$n"
  taskset -c "$SERVER_CPUS" "$T" agent -server -bootstrap-expect=3 -data-dir="$DIR/d$n" -node=s$n \
    -bind=127.0.0.$n -client=127.0.0.$n -retry-join=127.0.0.71 -retry-interval=1s -shards=1 \
    >"$DIR/s$n.log" 2>&1 & PIDS+=($!)
done
until l=$(curl -s -m 1 http://127.0.0.71:8500/v1/status/leader | tr -d '"'); [ -n "$l" ]; do sleep 0.2; done
sleep 2
lip=${l%%:*}
taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --nodes "$NODES" --attach "$lip:8500" \
  --join 127.0.0.71:8301 --join 127.0.0.72:8301 --join 127.0.0.73:8301 --dns "$lip:8600" \
  --sim-ip 127.0.0.100 --seconds "$SECS" --watchers 1000 "$@"
for n in 71 72 73; do echo "server 127.0.0.$n RSS $(awk '/VmRSS/ {print $2}' /proc/${PIDS[$((n-71))]}/status) KiB"; done
rm -rf "$DIR"
