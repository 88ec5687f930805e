#!/usr/bin/env bash
# Scale: 10,000 nodes and 170,000 service instances (17 per node) registered through the
# catalog API into one server; prints registration rate and the server's RSS.
# Target: <= 1 GiB RSS.
source "$(dirname "$0")/common.sh"
NODES=${NODES:-10000}; PER=${PER:-17}
build; machine
DIR=$(mktemp -d)
taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR" -shards 1 -http-port 18960 >/dev/null & PIDS+=($!)
until curl -s -o /dev/null http://127.0.0.1:18960/v1/status/leader; do sleep 0.1; done
t0=$(date +%s)
taskset -c "$CLIENT_CPU" python3 - "$NODES" "$PER" <<'PY'
import http.client, json, sys, threading
nodes, per = int(sys.argv[1]), int(sys.argv[2])
def work(lo, hi):
    c = http.client.HTTPConnection("127.0.0.1", 18960)
    for i in range(lo, hi):
        for s in range(per):
            body = {"Node": f"node-{i}", "Address": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                    "Service": {"Service": f"svc-{s}", "ID": f"svc-{s}-{i}", "Port": 8000 + s, "Tags": ["v1"]}}
            c.request("PUT", "/v1/catalog/register", json.dumps(body)); r = c.getresponse(); r.read()
            assert r.status == 200
ts = [threading.Thread(target=work, args=(k * nodes // 8, (k + 1) * nodes // 8)) for k in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
secs=$(( $(date +%s) - t0 ))
count=$(curl -s http://127.0.0.1:18960/v1/catalog/nodes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo "registered $((NODES * PER)) instances on $count nodes in ${secs}s ($(( NODES * PER / (secs > 0 ? secs : 1) ))/s)"
echo "server RSS $(awk '/VmRSS/ {print $2}' /proc/${PIDS[0]}/status) KiB"
