#!/usr/bin/env python3
"""Draw BENCHMARKS.md's plots from bench/results/*.json: how each command's median
and portaudit's peak RSS grow with connections, listeners, UDP sockets, processes and
namespaces (log-log), portaudit's modes beside ss, netstat and lsof. Every point should
come from one bench/run.sh invocation (one commit, one machine state).

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

# (title, x label, [(scenario, x)], commands). x None: the namespace count the scenario
# recorded (--all-netns sees every namespace on the host, ours and any other).
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
    (
        "20 listeners + idle processes",
        "idle processes",
        [("procs100", 100), ("procs1000", 1000)],
        ["portaudit", "portaudit --no-processes", "ss -ltn", "ss -ltnup", "netstat -ltnup"],
    ),
    (
        "namespaces with 2 listeners each",
        "network namespaces on the host",
        [("netns10", None), ("netns100", None)],
        ["portaudit --all-netns", "portaudit --all-netns --no-processes", "ss -ltnup"],
    ),
]


def load(scenario):
    """(medians ms, peak RSS MiB, namespaces) of each command in one scenario's results."""
    path = f"bench/results/{scenario}.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        results = json.load(f)
    namespaces = results.pop("_namespaces", None)
    ms = {label: statistics.median(r["ms"]) for label, r in results.items()}
    rss = {label: r["rss_kib"] / 1024 for label, r in results.items() if "rss_kib" in r}
    return ms, rss, namespaces


def draw(ax, data, commands, pick):
    for command in commands:
        xy = [(x, pick(m)[command]) for x, m in data if command in pick(m)]
        if len(xy) < 2:
            continue
        style = "-o" if command.startswith("portaudit") else "--s"
        ax.plot([x for x, _ in xy], [y for _, y in xy], style, label=command)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)


def main():
    fig, axes = plt.subplots(2, len(PANELS), figsize=(5.5 * len(PANELS), 9))
    for column, (title, xlabel, points, commands) in enumerate(PANELS):
        data = []
        for scenario, x in points:
            loaded = load(scenario)
            if loaded:
                data.append((x if x is not None else loaded[2], loaded))
        time, memory = axes[0][column], axes[1][column]
        draw(time, data, commands, lambda m: m[0])
        time.set_title(title)
        time.set_ylabel("median wall time, ms (log)")
        draw(memory, data, [c for c in commands if c.startswith("portaudit")], lambda m: m[1])
        # From 1 MiB: a flat line of a few MiB should look flat, not like noise.
        top = max((max(m[1].values(), default=1) for _, m in data), default=1)
        memory.set_ylim(1, top * 2)
        memory.set_xlabel(xlabel)
        memory.set_ylabel("portaudit peak RSS, MiB (log)")
    fig.suptitle(
        "portaudit against ss, netstat and lsof: how time and memory grow "
        "(shared 2-core VM: compare within a panel)"
    )
    fig.tight_layout()
    fig.savefig("bench/growth.png", dpi=80)
    print("wrote bench/growth.png")


if __name__ == "__main__":
    main()
