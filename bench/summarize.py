#!/usr/bin/env python3
"""Turn bench/results/<scenario>.json into the markdown tables of BENCHMARKS.md."""

import json
import statistics
import sys

TITLES = {
    "smallserver": "Small server: 20 TCP + 5 UDP listeners on 0.0.0.0, a 60-rule nftables ruleset",
    "conn0": "20 listeners, no connections",
    "conn10k": "20 listeners, 10,000 established loopback connections (20k sockets)",
    "conn100k": "20 listeners, 100,000 established loopback connections (200k sockets)",
    "listen1000": "1,000 listeners",
    "procs100": "20 listeners, 100 idle processes",
    "procs1000": "20 listeners, 1,000 idle processes",
    "udp12k": "12,000 unconnected UDP sockets on 0.0.0.0 over 3 processes",
    "udp48k": "48,000 unconnected UDP sockets on 0.0.0.0 over 3 processes",
    "listen100k": "100,000 TCP listeners",
    "listen500k": "500,000 TCP listeners",
    "netns10": "10 network namespaces with 2 listeners each (`--all-netns`)",
    "netns100": "100 network namespaces with 2 listeners each (`--all-netns`)",
    "netns100u": "100 network namespaces with 2 listeners each that no process holds "
    "(`--all-netns`)",
    "kube5000": "A Kubernetes node: 5,000 services through iptables-nft (~21k rules, 500 "
    "NodePorts), 20 TCP + 5 UDP listeners",
}
TCP = {
    "portaudit": ("ss -ltnup", None),
    "portaudit --no-processes": ("ss -ltn", None),
    "portaudit --collector proc": ("ss -ltnup", None),
    "portaudit --collector proc --no-processes": ("cat /proc/net/{tcp,tcp6,udp,udp6}", None),
}
UDP = {
    "portaudit": ("ss -lnup", 1.0),
    "portaudit --json": ("ss -lnup", 1.0),
    "portaudit --no-processes": ("ss -lnu", None),
    "portaudit --json --no-processes": ("ss -lnu", None),
}
LISTEN = {
    "portaudit": ("ss -ltnp", None),
    "portaudit --json": ("ss -ltnp", None),
    "portaudit --no-processes": ("ss -ltn", None),
}
NETNS = {
    "portaudit --all-netns": ("ss -ltnup", None),
    "portaudit --all-netns --no-processes": ("ss -ltn", None),
    "portaudit": ("ss -ltnup", None),
    "portaudit --no-processes": ("ss -ltn", None),
}
# mode -> (the command it is compared with, the target ratio or None)
RATIOS = {
    "smallserver": {
        "portaudit": ("ss -ltnup", 1.0),
        "portaudit --no-firewall": ("ss -ltnup", None),
        "portaudit --no-processes": ("ss -ltn", None),
    },
    "conn100k": {
        **TCP,
        "portaudit": ("ss -ltnup", 0.30),
        "portaudit --no-processes": ("ss -ltn", 0.10),
        "portaudit (1 core)": ("ss -ltnup (1 core)", None),
    },
    "udp12k": UDP,
    "udp48k": UDP,
    "listen100k": LISTEN,
    "listen500k": LISTEN,
    "netns10": NETNS,
    "netns100": NETNS,
    "netns100u": NETNS,
    "kube5000": {"portaudit": ("nft -j list ruleset", 0.30)},
}
# mode -> peak RSS target (MiB)
RSS = {
    "conn100k": {"portaudit --collector proc --no-processes": 16},
    "udp48k": {"portaudit": 64},
    "kube5000": {"portaudit": 64},
}


def main():
    for scenario in sys.argv[1:] or TITLES:
        try:
            with open(f"bench/results/{scenario}.json") as f:
                results = json.load(f)
        except FileNotFoundError:
            continue
        namespaces = results.pop("_namespaces", None)
        median = {label: statistics.median(r["ms"]) for label, r in results.items()}
        rounds = len(next(iter(results.values()))["ms"])
        print(f"### {TITLES.get(scenario, scenario)}\n")
        print(f"Medians of {rounds} alternating rounds.\n")
        print("| command | median ms | vs | ratio | target | peak RSS MiB |")
        print("|---|---:|---|---:|---:|---:|")
        ratios = RATIOS.get(scenario, TCP)
        for label, r in results.items():
            vs, ratio, target = "", "", ""
            if label in ratios and ratios[label][0] in median:
                ref, goal = ratios[label]
                vs = f"`{ref}`"
                ratio = f"{median[label] / median[ref]:.2f}×"
                if goal is not None:
                    met = "met" if median[label] / median[ref] <= goal else "**missed**"
                    target = f"≤ {goal}× {met}"
            rss = ""
            if "rss_kib" in r:
                mib = r["rss_kib"] / 1024
                rss = f"{mib:.1f}"
                goal = RSS.get(scenario, {}).get(label)
                if goal is not None:
                    rss += f" (≤ {goal}: {'met' if mib <= goal else '**missed**'})"
            print(
                f"| `{label}` | {median[label]:.2f} | {vs} | {ratio} | {target} | {rss} |"
            )
        if namespaces:
            for mode, own in [
                ("portaudit --all-netns --no-processes", "portaudit --no-processes"),
                ("portaudit --all-netns", "portaudit"),
            ]:
                per = (median[mode] - median[own]) / max(1, namespaces - 1)
                print(
                    f"\n`{mode}` saw {namespaces} namespaces: "
                    f"({median[mode]:.2f} − {median[own]:.2f} ms) / {namespaces - 1} = "
                    f"**{per:.3f} ms per namespace** (target ≤ 0.5 ms)"
                )
        print()


if __name__ == "__main__":
    main()
