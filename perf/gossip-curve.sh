#!/usr/bin/env bash
# Gossip convergence and failure detection against member count: `perf/gossip-5000.sh --json`
# at each size in SIZES (one fresh 3-server cluster per size), one JSON line per run appended
# to docs/data/gossip-curve.jsonl, then the graph docs/img/gossip-curve.png (perf/plot.py).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-"250 500 1000 2000 5000"}
OUT="$ROOT/docs/data/gossip-curve.jsonl"
mkdir -p "$ROOT/docs/data" "$ROOT/docs/img"
commit=$(git -C "$ROOT" rev-parse --short HEAD)
for n in $SIZES; do
  line=$(NODES=$n SECS=1 bash "$ROOT/perf/gossip-5000.sh" --json --watchers 100 | grep '^{')
  echo "{\"commit\": \"$commit\", \"date\": \"$(date -u +%F)\", \"run\": $line}" >> "$OUT"
  echo "$n members: $(echo "$line" | python3 -c 'import json,sys; g=json.load(sys.stdin)["gossip"]; print(g)')"
done
python3 "$ROOT/perf/plot.py" gossip "$OUT" "$ROOT/docs/img/gossip-curve.png"
