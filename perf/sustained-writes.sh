#!/usr/bin/env bash
# Sustained new-key writes on 3 servers vs etcd 3.4, same machine, same client (issue 19, item
# 5): 64 connections to the leader, every request a key never written before with a 256-byte
# value, for $SECS seconds (60: well over 500k keys at tribune's rate), rate and p99 reported per
# 10-s window so a compaction stall or a decay shows. Then memory per key: each leader's RSS
# over the keys it holds, live and after all servers restart. Both clusters on SERVER_CPUS,
# loadgen on CLIENT_CPU, one after the other. Usage: bash perf/sustained-writes.sh
source "$(dirname "$0")/common.sh"
SERVER_CPUS=${SERVER_CPUS:-1}
CONNS=${CONNS:-64}
SECS=${SECS:-60}
T=${TRIBUNE:-"$ROOT/target/release/tribune"}
need etcd etcd-server
build; machine
DIR=$(mktemp -d)
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
per_key() { python3 -c "print(f'{$1 * 1048576 / max($2, 1):.0f}')"; } # MB keys -> bytes per key
load() { # label target mode
  taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target "$2" --mode "$3" --new-keys \
    --value-bytes 256 --connections "$CONNS" --seconds "$SECS" --window 10 | tee "$DIR/$1.txt"
}
written() { awk '/^requests/ {print $2}' "$DIR/$1.txt"; }

# ---- tribune: 3 servers on 127.0.0.41-43
leader_of() { curl -s -m 1 "http://127.0.0.$1:8500/v1/status/leader" | tr -d '"'; }
declare -A TPID
start_tribune() {
  for n in 41 42 43; do
    mkdir -p "$DIR/t$n"
    taskset -c "$SERVER_CPUS" "$T" agent -server -bootstrap-expect=3 -data-dir="$DIR/t$n" -node=t$n \
      -bind=127.0.0.$n -client=127.0.0.$n -retry-join=127.0.0.41 -retry-interval=1s -shards=1 \
      >>"$DIR/t$n.log" 2>&1 & PIDS+=($!); TPID[$n]=$!
  done
  until [ -n "$(leader_of 41)" ] && curl -sf -m 2 -X PUT -d x "http://127.0.0.41:8500/v1/kv/ready" >/dev/null; do sleep 0.2; done
}
start_tribune
sleep 2
leader=$(leader_of 41); lip=${leader%%:*}; lnode=${lip##*.}
echo "== tribune, 3 servers, leader $lip"
load tribune "$lip:8500" kv-put
echo "tribune leader RSS live: $(rss_mb "${TPID[$lnode]}") MB, $(per_key "$(rss_mb "${TPID[$lnode]}")" "$(written tribune)") B/key"
grep -h "snapshot at index" "$DIR"/t4?.log | tail -3 || true
for n in 41 42 43; do kill "${TPID[$n]}"; wait "${TPID[$n]}" 2>/dev/null || true; done
start_tribune
sleep 3
leader=$(leader_of 41); lip=${leader%%:*}; lnode=${lip##*.}
echo "tribune leader RSS after restart: $(rss_mb "${TPID[$lnode]}") MB, $(per_key "$(rss_mb "${TPID[$lnode]}")" "$(written tribune)") B/key"
for n in 41 42 43; do kill "${TPID[$n]}"; wait "${TPID[$n]}" 2>/dev/null || true; done

# ---- etcd 3.4: 3 members on 127.0.0.51-53
CLUSTER="e1=http://127.0.0.51:2380,e2=http://127.0.0.52:2380,e3=http://127.0.0.53:2380"
declare -A EPID
start_etcd() { # state
  for i in 1 2 3; do
    ip=127.0.0.5$i
    taskset -c "$SERVER_CPUS" etcd --name e$i --data-dir "$DIR/e$i" \
      --listen-client-urls http://$ip:2379 --advertise-client-urls http://$ip:2379 \
      --listen-peer-urls http://$ip:2380 --initial-advertise-peer-urls http://$ip:2380 \
      --initial-cluster "$CLUSTER" --initial-cluster-state "$1" --log-level error \
      >>"$DIR/e$i.log" 2>&1 & PIDS+=($!); EPID[$i]=$!
  done
  until curl -sf -m 1 -X POST -d '{}' http://127.0.0.51:2379/v3/maintenance/status >/dev/null; do sleep 0.2; done
  sleep 2
}
etcd_leader() {
  for i in 1 2 3; do curl -s -X POST -d '{}' http://127.0.0.5$i:2379/v3/maintenance/status; echo; done |
    python3 -c 'import sys,json
for i,l in enumerate(sys.stdin):
    d=json.loads(l)
    if d["leader"]==d["header"]["member_id"]: print(i+1)'
}
start_etcd new
e=$(etcd_leader)
echo "== etcd 3.4, 3 members, leader 127.0.0.5$e"
load etcd "127.0.0.5$e:2379" etcd-put
echo "etcd leader RSS live: $(rss_mb "${EPID[$e]}") MB, $(per_key "$(rss_mb "${EPID[$e]}")" "$(written etcd)") B/key"
for i in 1 2 3; do kill "${EPID[$i]}"; wait "${EPID[$i]}" 2>/dev/null || true; done
start_etcd existing
e=$(etcd_leader)
echo "etcd leader RSS after restart: $(rss_mb "${EPID[$e]}") MB, $(per_key "$(rss_mb "${EPID[$e]}")" "$(written etcd)") B/key"

rate() { awk '/^throughput/ {print $2}' "$DIR/$1.txt"; }
echo "tribune/etcd write ratio: $(python3 -c "print(round($(rate tribune)/$(rate etcd),2))")"
python3 - "$DIR/tribune.txt" "$DIR/etcd.txt" <<'PY'
import re, sys
def windows(path):
    return [(float(m[1]), float(m[2])) for m in re.finditer(r"^window\s+\S+\s+s\s+(\S+) req/s\s+p50 \S+\s+p99 (\S+)", open(path).read(), re.M)]
t, e = windows(sys.argv[1]), windows(sys.argv[2])
print("window  tribune req/s  p99 ms | etcd req/s  p99 ms | ratio  p99 <= etcd's")
for i, ((tr, tp), (er, ep)) in enumerate(zip(t, e)):
    print(f"{i*10:>3}-{i*10+10:<3} {tr:>12.0f} {tp:>7.1f} | {er:>10.0f} {ep:>7.1f} | {tr/er:5.2f}  {'yes' if tp <= ep else 'NO'}")
if t:
    print(f"tribune last window / first: {t[-1][0] / t[0][0]:.2f}")
PY
