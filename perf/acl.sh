#!/usr/bin/env bash
# The cost of ACL enforcement, in the same run: one tribune binary, `-shards 1` on SERVER_CPU,
# started with ACLs off and then with ACLs on (`default_policy = "deny"`, requests carrying a
# token whose only rule is `key_prefix "loadgen/" { policy = "write" }`, so every request
# resolves the token from the per-shard cache and walks a real authorizer). Measures
# `GET /v1/kv/loadgen/<n>` (loadgen kv-get, 64 connections, on CLIENT_CPU) and DNS
# (dnsperf, `web.service.consul` A, the agent's `dns` token allowing `service_prefix ""` and
# `node_prefix ""` read). ROUNDS rounds alternating off/on; take the medians.
#   bash perf/acl.sh
source "$(dirname "$0")/common.sh"
ROUNDS=${ROUNDS:-3}; SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
need dnsperf dnsperf
build; machine
MGMT=5b0c1a53-9a8e-4c59-a1f4-4f6a3e0d2c11
HTTP=18512; DNS=18612
start() { # acl: on|off -> sets PID, DIR
  DIR=$(mktemp -d)
  local conf="$DIR/acl.json"
  if [ "$1" = on ]; then
    echo "{\"acl\": {\"enabled\": true, \"default_policy\": \"deny\", \"tokens\": {\"initial_management\": \"$MGMT\", \"agent\": \"$MGMT\"}}}" > "$conf"
  else
    echo '{}' > "$conf"
  fi
  taskset -c "$SERVER_CPU" "$ROOT/target/release/tribune" agent -server $(solo) -data-dir "$DIR" -shards 1 \
    -http-port $HTTP -dns-port $DNS -config-file "$conf" >"/tmp/acl-perf-$1.log" 2>&1 & PID=$!
  for _ in $(seq 200); do
    curl -sf -H "X-Consul-Token: $MGMT" -X PUT -d x localhost:$HTTP/v1/kv/ready 2>/dev/null | grep -q true && break
    sleep 0.1
  done
  curl -sf -H "X-Consul-Token: $MGMT" -X PUT -d '{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":80}}' \
    localhost:$HTTP/v1/catalog/register >/dev/null
}
token_for() { # RULES -> secret (with ACLs on)
  local name="p$RANDOM"
  curl -sf -H "X-Consul-Token: $MGMT" -X PUT -d "{\"Name\":\"$name\",\"Rules\":$(printf '%s' "$1" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" \
    localhost:$HTTP/v1/acl/policy >/dev/null
  curl -sf -H "X-Consul-Token: $MGMT" -X PUT -d "{\"Policies\":[{\"Name\":\"$name\"}]}" localhost:$HTTP/v1/acl/token |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["SecretID"])'
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"; }
echo "web.service.consul A" > /tmp/acl-perf-queries
for r in $(seq "$ROUNDS"); do
  for acl in off on; do
    start "$acl"
    token_args=()
    if [ "$acl" = on ]; then
      token_args=(--token "$(token_for 'key_prefix "loadgen/" { policy = "write" }')")
      dns_token=$(token_for 'service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }')
      curl -sf -H "X-Consul-Token: $MGMT" -X PUT -d "{\"Token\":\"$dns_token\"}" localhost:$HTTP/v1/agent/token/dns
    fi
    rate=$(taskset -c "$CLIENT_CPU" "$ROOT/target/release/loadgen" --target 127.0.0.1:$HTTP --mode kv-get \
      --connections 64 --seconds "$SECONDS_PER_RUN" "${token_args[@]}" --json | grep -o "\"rps\":[0-9.]*" | cut -d: -f2 | cut -d. -f1)
    qps=$(taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p $DNS -d /tmp/acl-perf-queries -c 1 -q 100 -l "$SECONDS_PER_RUN" 2>/dev/null |
      awk '/Queries per second/ {print int($4)}')
    answered=$(dig +short -p $DNS @127.0.0.1 web.service.consul | head -1)
    echo "round $r acl $acl: kv-get ${rate} req/s, dns ${qps} qps (web.service.consul -> ${answered:-nothing})"
    stop
  done
done
