#!/usr/bin/env bash
# Shared helpers for perf scripts: build, install peers, pin cores, clean up by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
build() { (cd "$ROOT" && cargo build --release -q -p tribune -p loadgen); }
machine() { echo "machine: $(nproc) cores, $(uname -r), commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%F)"; }
# CPU ticks (user, kernel) of a process and its descendants (NSD and nginx serve from a child).
cpu_ticks() { # PID
  local pids=($1) i=0
  while [ $i -lt ${#pids[@]} ]; do pids+=($(pgrep -P "${pids[$i]}" || true)); i=$((i + 1)); done
  # Fields 14 and 15 of /proc/<pid>/stat, counted after the name (NSD's have spaces in them).
  for p in "${pids[@]}"; do sed 's/.*) //' "/proc/$p/stat"; done | awk '{u += $12; s += $13} END {print u, s}'
}
# CPU per operation from `cpu_ticks` taken before and after COUNT operations, split so the
# kernel's share shows: "7.21 µs/request (user 1.62, kernel 5.59)".
cpu_per_op() { # count unit before-user before-kernel after-user after-kernel
  awk -v n="$1" -v unit="$2" -v u0="$3" -v s0="$4" -v u1="$5" -v s1="$6" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {u = (u1 - u0) / hz; s = (s1 - s0) / hz;
            printf "%6.2f µs/%s  (user %5.2f, kernel %5.2f)\n", 1e6 * (u + s) / n, unit, 1e6 * u / n, 1e6 * s / n}'
}
# One `wrk -t1 -c64 -d5s` run on CLIENT_CPU against a server process: req/s, and the server's
# CPU per request (`cpu_per_op`).
wrk_cpu_run() { # label url pid
  local before after out
  out=$(mktemp)
  before=$(cpu_ticks "$3")
  taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d5s "$2" > "$out"
  after=$(cpu_ticks "$3")
  printf '%-8s %10.0f req/s  ' "$1" "$(awk '/Requests\/sec/ {print $2}' "$out")"
  cpu_per_op "$(awk '/requests in/ {print $1}' "$out")" request $before $after
  rm -f "$out"
}
# nginx, one worker on SERVER_CPU, answering every request on 127.0.0.1:18080 with the same
# 86-byte JSON a tribune KV GET returns (the fixed-body peer of perf-targets.md).
start_nginx_fixed_body() { # DIR
  cat > "$1/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $1/nginx.pid; error_log $1/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:18080 reuseport;
  location / { default_type application/json; return 200 '[{"LockIndex":0,"Key":"k","Flags":0,"Value":"dmFsdWU=","CreateIndex":5,"ModifyIndex":5}]'; } } }
CONF
  taskset -c "$SERVER_CPU" nginx -c "$1/nginx.conf" & PIDS+=($!)
}
# nginx as above but serving the file FILE (a body captured from tribune) on 127.0.0.1:18081,
# as nginx is tuned for static files: its descriptor cached (no open/stat per request), sent
# with NGINX_SENDFILE (default off: faster here for a 9 KB body than on). (A body this size is
# too long for `return`.)
start_nginx_file_body() { # DIR FILE
  cat > "$1/nginx-file.conf" <<CONF
worker_processes 1; daemon off; pid $1/nginx-file.pid; error_log $1/error-file.log;
events { worker_connections 1024; }
http { access_log off; sendfile ${NGINX_SENDFILE:-off}; open_file_cache max=16 inactive=600s;
  server { listen 127.0.0.1:18081 reuseport;
  location / { default_type application/json; alias $2; } } }
CONF
  taskset -c "$SERVER_CPU" nginx -c "$1/nginx-file.conf" & PIDS+=($!)
}
# Flags for a single-server agent that bootstraps alone, with gossip and RPC ports of its own
# (scripts may run several side by side on 127.0.0.1).
# (Called through $(...), a subshell, so the ports are drawn at random rather than counted.)
# Drawn below the kernel's ephemeral range (32768-60999), where loadgen's own connections
# (and their TIME_WAIT) could hold the port: the agent then fails with "Address already in use".
solo() { local p=$((20000 + RANDOM % 4000 * 3)); echo "-bootstrap-expect=1 -serf-lan-port $p -server-port $((p + 1)) -serf-wan-port $((p + 2))"; }
# NSD, one server process on SERVER_CPU, rrl off, on 127.0.0.1:18653, serving a zone whose
# `web.service.consul` A and SRV answers match tribune's with 3 instances (the DNS peer of
# perf-targets.md). Its PID is the last of PIDS.
start_nsd_consul_zone() { # DIR
  {
    echo '$ORIGIN consul.'; echo '$TTL 0'
    echo '@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0'
    echo '@ IN NS ns.consul.'; echo 'ns IN A 127.0.0.1'
    for i in 1 2 3; do echo "web.service IN A 10.0.0.$i"; echo "web.service IN SRV 1 1 8080 node-$i.node.dc1.consul."; echo "node-$i.node.dc1 IN A 10.0.0.$i"; done
  } > "$1/consul.zone"
  cat > "$1/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@18653
  server-count: 1
  username: ""
  zonesdir: "$1"
  pidfile: "$1/nsd.pid"
  xfrdfile: "$1/xfrd.state"
  zonelistfile: "$1/zone.list"
  rrl-ratelimit: 0
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: consul
  zonefile: consul.zone
CONF
  taskset -c "$SERVER_CPU" nsd -d -c "$1/nsd.conf" & PIDS+=($!)
}
