#!/usr/bin/env python3
"""Draw BENCHMARKS.md's plots from bench/results/*.json: how each command's median
grows with connections, listeners and UDP sockets (log-log), portaudit's modes beside
ss, netstat and lsof.

matplotlib comes from PyPI into a venv under target/ (never the system's pip):
    python3 -m venv target/bench-venv && target/bench-venv/bin/pip install matplotlib
    target/bench-venv/bin/python bench/plot.py
Writes bench/growth.png.
"""

import json
import os
import statistics
import sys

# bench/timeit.py would shadow the standard library's timeit, which matplotlib imports.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (title, x label, [(scenario, x)], commands)
PANELS = [
    (
        "20 listeners + established connections",
        "established connections",
        [("conn0", 1), ("conn10k", 10_000), ("conn100k", 100_000)],
        [
            "portaudit",
            "portaudit --no-processes",
            "portaudit --collector proc --no-processes",
            "ss -ltn",
            "ss -ltnup",
            "netstat -ltnup",
            "lsof -nP -iTCP -sTCP:LISTEN",
        ],
    ),
    (
        "TCP listeners",
        "listeners",
        [("conn0", 20), ("listen1000", 1000), ("listen100k", 100_000), ("listen500k", 500_000)],
        ["portaudit", "portaudit --no-processes", "ss -ltn", "ss -ltnup", "ss -ltnp"],
    ),
    (
        "unconnected UDP sockets over 3 processes",
        "UDP sockets",
        [("udp12k", 12_000), ("udp48k", 48_000)],
        [
            "portaudit",
            "portaudit --json",
            "portaudit --json --no-processes",
            "ss -lnu",
            "ss -lnup",
            "netstat -lnup",
        ],
    ),
]


def load(scenario):
    path = f"bench/results/{scenario}.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        results = json.load(f)
    results.pop("_namespaces", None)
    return {label: statistics.median(r["ms"]) for label, r in results.items()}


def main():
    fig, axes = plt.subplots(1, len(PANELS), figsize=(6 * len(PANELS), 5))
    for ax, (title, xlabel, points, commands) in zip(axes, PANELS):
        data = [(x, load(s)) for s, x in points]
        data = [(x, m) for x, m in data if m]
        for command in commands:
            xy = [(x, m[command]) for x, m in data if command in m]
            if len(xy) < 2:
                continue
            style = "-o" if command.startswith("portaudit") else "--s"
            ax.plot([x for x, _ in xy], [y for _, y in xy], style, label=command)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median wall time, ms (log)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        "portaudit against ss, netstat and lsof (shared 2-core VM: compare within a scenario)"
    )
    fig.tight_layout()
    fig.savefig("bench/growth.png", dpi=90)
    print("wrote bench/growth.png")


if __name__ == "__main__":
    main()
