#!/usr/bin/env bash
# Durable KV PUT on a 3-server cluster vs etcd 3.4 (Debian etcd-server, 3 members), same
# machine, same load generator, same concurrency (64 connections to the leader), same value
# size. Every member of both clusters fsyncs; both run on SERVER_CPUS, loadgen on CLIENT_CPU.
# Target (perf-targets.md): >= 5x etcd. FOLLOWER=1 sends tribune's writes to a follower (forwarded
# to the leader over RPC); TRIBUNE=<binary> runs another build.
source "$(dirname "$0")/common.sh"
SERVER_CPUS=${SERVER_CPUS:-1}
CONNS=${CONNS:-64}
SECS=${SECS:-10}
need etcd etcd-server
build; machine
T=${TRIBUNE:-"$ROOT/target/release/tribune"}
DIR=$(mktemp -d)
leader_of() { curl -s -m 1 "http://127.0.0.$1:8500/v1/status/leader" | tr -d '"'; }
for n in 41 42 43; do
  mkdir -p "$DIR/t$n"
  taskset -c "$SERVER_CPUS" "$T" agent -server -bootstrap-expect=3 -data-dir="$DIR/t$n" -node=t$n \
    -bind=127.0.0.$n -client=127.0.0.$n -retry-join=127.0.0.41 -retry-interval=1s -shards=1 \
    >"$DIR/t$n.log" 2>&1 & PIDS+=($!)
done
until [ -n "$(leader_of 41)" ]; do sleep 0.2; done
sleep 2
leader=$(leader_of 41); lip=${leader%%:*}
if [ -n "${FOLLOWER:-}" ]; then # load a follower instead: every write is forwarded to the leader over RPC
  for n in 41 42 43; do [ "127.0.0.$n" != "$lip" ] && lip=127.0.0.$n && break; done
  echo "== tribune, 3 servers, writes to follower $lip (leader ${leader%%:*})"
else
echo "== tribune, 3 servers, leader $lip"
fi
taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target "$lip:8500" --mode kv-put \
  --connections "$CONNS" --seconds "$SECS" | tee "$DIR/tribune.txt"

CLUSTER="e1=http://127.0.0.51:2380,e2=http://127.0.0.52:2380,e3=http://127.0.0.53:2380"
for i in 1 2 3; do
  ip=127.0.0.5$i
  taskset -c "$SERVER_CPUS" etcd --name e$i --data-dir "$DIR/e$i" \
    --listen-client-urls http://$ip:2379 --advertise-client-urls http://$ip:2379 \
    --listen-peer-urls http://$ip:2380 --initial-advertise-peer-urls http://$ip:2380 \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --log-level error \
    >"$DIR/e$i.log" 2>&1 & PIDS+=($!)
done
until curl -sf -m 1 -X POST -d '{}' http://127.0.0.51:2379/v3/maintenance/status >/dev/null; do sleep 0.2; done
sleep 2
eleader=$(for i in 1 2 3; do curl -s -X POST -d '{}' http://127.0.0.5$i:2379/v3/maintenance/status; echo; done \
  | python3 -c 'import sys,json
for i,l in enumerate(sys.stdin):
    d=json.loads(l)
    if d["leader"]==d["header"]["member_id"]: print("127.0.0.5%d" % (i+1))')
echo "== etcd 3.4, 3 members, leader $eleader"
taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target "$eleader:2379" --mode etcd-put \
  --connections "$CONNS" --seconds "$SECS" | tee "$DIR/etcd.txt"
rate() { awk '/^throughput/ {print $2}' "$1"; }
echo "tribune/etcd write ratio: $(python3 -c "print(round($(rate "$DIR/tribune.txt")/$(rate "$DIR/etcd.txt"),2))")"
rm -rf "$DIR"
