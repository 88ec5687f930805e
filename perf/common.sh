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
