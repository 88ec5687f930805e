#!/usr/bin/env python3
"""Graphs for docs/perf.md from the JSON the perf scripts record (pip install matplotlib).

    plot.py gossip docs/data/gossip-curve.jsonl docs/img/gossip-curve.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def gossip(src, dst):
    runs = [json.loads(line) for line in open(src) if line.strip()]
    # The newest run per member count.
    by_n = {}
    for r in runs:
        by_n[r["run"]["nodes"]] = r
    ns = sorted(by_n)
    conv = [by_n[n]["run"]["gossip"]["convergence_ms"] for n in ns]
    detect = [by_n[n]["run"]["gossip"]["failure_detect_ms"] for n in ns]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(ns, [c / 1000 if c else None for c in conv], "o-", label="join convergence (agent lists all alive)")
    ax.plot(ns, [d / 1000 if d else None for d in detect], "s-", label="5 stopped members listed failed")
    ax.set_xscale("log")
    ax.set_xlabel("simulated gossip members (real UDP, 3 servers, 2-core VM)")
    ax.set_ylabel("seconds")
    commits = sorted({by_n[n]["commit"] for n in ns})
    ax.set_title("loadgen --nodes N: gossip convergence and failure detection (" + ", ".join(commits) + ")")
    ax.title.set_fontsize(9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(dst, dpi=100)
    print("wrote", dst)


if __name__ == "__main__":
    {"gossip": gossip}[sys.argv[1]](*sys.argv[2:])
