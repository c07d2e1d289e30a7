#!/usr/bin/env python3
"""Turn bench/results/<scenario>.json into the markdown tables of BENCHMARKS.md."""

import json
import statistics
import sys

SCENARIOS = {
    "conn0": "20 listeners, no connections",
    "conn10k": "20 listeners, 10,000 established loopback connections (20k sockets)",
    "conn100k": "20 listeners, 100,000 established loopback connections (200k sockets)",
    "listen1000": "1,000 listeners",
    "procs1000": "20 listeners, 1,000 idle processes",
}
# portaudit mode -> the command it is compared with, and the target ratio
RATIOS = {
    "portaudit": ("ss -ltnup", 0.4),
    "portaudit --no-processes": ("ss -ltn", 0.15),
    "portaudit --collector proc": ("ss -ltnup", None),
    "portaudit --collector proc --no-processes": ("cat /proc/net/{tcp,tcp6,udp,udp6}", 1.2),
}
# The targets hold at 200k sockets; at 20 listeners and no connections, only
# "portaudit with owners is no slower than ss -ltnup".
TARGETS = {"conn100k": None, "conn0": {"portaudit": 1.0}}


def main():
    for scenario in sys.argv[1:] or SCENARIOS:
        with open(f"bench/results/{scenario}.json") as f:
            results = json.load(f)
        median = {label: statistics.median(r["ms"]) for label, r in results.items()}
        rounds = len(next(iter(results.values()))["ms"])
        print(f"### {SCENARIOS.get(scenario, scenario)}\n")
        print(f"Medians of {rounds} alternating rounds.\n")
        print("| command | median ms | vs | ratio | target | peak RSS MiB |")
        print("|---|---:|---|---:|---:|---:|")
        for label, r in results.items():
            vs, ratio, target = "", "", ""
            if label in RATIOS:
                ref, goal = RATIOS[label]
                if scenario in TARGETS and TARGETS[scenario] is not None:
                    goal = TARGETS[scenario].get(label)
                elif scenario not in TARGETS:
                    goal = None
                vs = f"`{ref}`"
                ratio = f"{median[label] / median[ref]:.2f}×"
                if goal is not None:
                    met = "met" if median[label] / median[ref] <= goal else "**missed**"
                    target = f"≤ {goal}× {met}"
            rss = ""
            if "rss_kib" in r:
                mib = r["rss_kib"] / 1024
                rss = f"{mib:.1f}" + ("" if mib <= 16 else " **> 16**")
            print(
                f"| `{label}` | {median[label]:.2f} | {vs} | {ratio} | {target} | {rss} |"
            )
        print()


if __name__ == "__main__":
    main()
