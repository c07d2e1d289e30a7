#!/usr/bin/env python3
"""A Kubernetes node's ruleset as kube-proxy's iptables mode writes it, for
`iptables-nft-restore`: SERVICES ClusterIP services (10.96.0.0/12), NODEPORTS of them
also NodePorts (30000-32767), pods in 10.244.0.0/16.

The shape follows kube-proxy's iptables proxier (1.28-era): in nat, PREROUTING and
OUTPUT jump to KUBE-SERVICES; each service port has a KUBE-SVC-<hash> chain (a
KUBE-MARK-MASQ rule for traffic from outside the pod network, then one jump per endpoint
through `-m statistic --mode random --probability 1/n` but the last) and a
KUBE-SEP-<hash> chain per endpoint (hairpin KUBE-MARK-MASQ, then `-j DNAT
--to-destination`); NodePorts go KUBE-SERVICES → (addrtype LOCAL) KUBE-NODEPORTS →
KUBE-EXT-<hash> → KUBE-SVC-<hash>; KUBE-POSTROUTING masquerades marked traffic. In filter,
INPUT, FORWARD and OUTPUT jump to KUBE-PROXY-FIREWALL, KUBE-NODEPORTS,
KUBE-EXTERNAL-SERVICES, KUBE-SERVICES, KUBE-FORWARD and KUBE-FIREWALL; a service without
endpoints is a REJECT in filter's KUBE-SERVICES (and KUBE-EXTERNAL-SERVICES for a
NodePort). Every rule carries kube-proxy's comments. Three in ten services have no
endpoint, most have one, a few two or three, so 5,000 services make about 20,000 rules.

usage: bench/kube.py [--services 5000] [--nodeports 500] [--seed 1] > rules
       ip netns exec NS iptables-nft-restore < rules
The rule count goes to stderr.
"""

import argparse
import base64
import hashlib
import random
import sys


def chain_hash(prefix, name):
    """kube-proxy's chain names: a prefix and 16 base32 characters of a SHA-256."""
    digest = hashlib.sha256(name.encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:16]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--nodeports", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    nat_chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    nat = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ]
    filter_chains = [
        "KUBE-FIREWALL", "KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES",
        "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL", "KUBE-PROXY-CANARY",
    ]
    filt = [
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
        'firewall" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
        'service portals" -j KUBE-EXTERNAL-SERVICES',
        "-A INPUT -j KUBE-FIREWALL",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
        'firewall" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
        'service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
        'firewall" -j KUBE-PROXY-FIREWALL',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        "-A OUTPUT -j KUBE-FIREWALL",
        '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming '
        'localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark '
        "0x4000/0x4000 -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack '
        "--ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    nodeport_of = set(rng.sample(range(args.services), args.nodeports))
    for i in range(args.services):
        namespace = f"ns{i % 50}"
        name = f"{namespace}/svc{i}:http"
        cluster_ip = f"10.{96 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
        port = rng.choice([80, 443, 8080, 9090, 5432, 6379, 53])
        proto = "udp" if port == 53 and rng.random() < 0.5 else "tcp"
        target = rng.choice([8080, 8443, 80, 3000, 5000])
        nodeport = 30000 + i % 2768 if i in nodeport_of else None
        draw = rng.random()
        endpoints = 0 if draw < 0.3 else 1 if draw < 0.95 else 2 if draw < 0.99 else 3
        if endpoints == 0:
            filt.append(
                f"-A KUBE-SERVICES -d {cluster_ip}/32 -p {proto} -m comment --comment "
                f'"{name} has no endpoints" -m {proto} --dport {port} -j REJECT '
                "--reject-with icmp-port-unreachable"
            )
            if nodeport:
                filt.append(
                    f'-A KUBE-EXTERNAL-SERVICES -p {proto} -m comment --comment "{name} has no '
                    f'endpoints" -m addrtype --dst-type LOCAL -m {proto} --dport {nodeport} '
                    "-j REJECT --reject-with icmp-port-unreachable"
                )
            continue
        svc = chain_hash("KUBE-SVC-", name + proto)
        nat_chains.append(svc)
        nat.append(
            f"-A KUBE-SERVICES -d {cluster_ip}/32 -p {proto} -m comment --comment "
            f'"{name} cluster IP" -m {proto} --dport {port} -j {svc}'
        )
        nat.append(
            f"-A {svc} ! -s 10.244.0.0/16 -d {cluster_ip}/32 -p {proto} -m comment --comment "
            f'"{name} cluster IP" -m {proto} --dport {port} -j KUBE-MARK-MASQ'
        )
        for e in range(endpoints):
            pod = f"10.244.{rng.randrange(256)}.{rng.randrange(2, 254)}"
            sep = chain_hash("KUBE-SEP-", f"{name}{proto}{pod}{e}")
            nat_chains.append(sep)
            left = endpoints - e
            statistic = (
                f"-m statistic --mode random --probability {1 / left:.11f} " if left > 1 else ""
            )
            nat.append(
                f'-A {svc} -m comment --comment "{name} -> {pod}:{target}" {statistic}-j {sep}'
            )
            nat.append(f'-A {sep} -s {pod}/32 -m comment --comment "{name}" -j KUBE-MARK-MASQ')
            nat.append(
                f'-A {sep} -p {proto} -m comment --comment "{name}" -m {proto} -j DNAT '
                f"--to-destination {pod}:{target}"
            )
        if nodeport:
            ext = chain_hash("KUBE-EXT-", name + proto)
            nat_chains.append(ext)
            nat.append(
                f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{name}" -m {proto} '
                f"--dport {nodeport} -j {ext}"
            )
            nat.append(
                f'-A {ext} -m comment --comment "masquerade traffic for {name} external '
                'destinations" -j KUBE-MARK-MASQ'
            )
            nat.append(f"-A {ext} -j {svc}")
    nat.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
        'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
    )
    out = sys.stdout
    out.write("*nat\n")
    for chain in ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]:
        out.write(f":{chain} ACCEPT [0:0]\n")
    for chain in nat_chains:
        out.write(f":{chain} - [0:0]\n")
    out.write("\n".join(nat) + "\nCOMMIT\n*filter\n")
    for chain in ["INPUT", "FORWARD", "OUTPUT"]:
        out.write(f":{chain} ACCEPT [0:0]\n")
    for chain in filter_chains:
        out.write(f":{chain} - [0:0]\n")
    out.write("\n".join(filt) + "\nCOMMIT\n")
    print(
        f"kube.py: {args.services} services ({args.nodeports} NodePorts): "
        f"{len(nat) + len(filt)} rules, {len(nat_chains) + len(filter_chains)} chains",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
