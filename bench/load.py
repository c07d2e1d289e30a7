#!/usr/bin/env python3
"""Build one benchmark scenario in the current network namespace and hold it.

Run inside a private namespace (bench/run.sh does `ip netns exec`): LISTENERS TCP
listeners on 127.0.0.1 (or 0.0.0.0 with --wildcard; past what one process may hold,
the rest on 127.x.y.z held by holder processes), CONNECTIONS established loopback
connections spread over them (both ends held by worker processes that share the
listeners, as a pre-forked server's workers would; a process may hold only
RLIMIT_NOFILE fds, and without CAP_SYS_RESOURCE that is often 20,000), UDP unconnected
UDP sockets on 0.0.0.0 spread over UDP_PROCS processes, and IDLE_PROCS idle child
processes. Writes READY_FILE when everything is up, then waits for SIGTERM and ends its
children by pid.
"""

import argparse
import os
import resource
import signal
import socket
import sys

IP_BIND_ADDRESS_NO_PORT = 24  # <linux/in.h>: pick the source port at connect time


def connect(listeners, share):
    """Open the connections numbered `share`, keeping both ends open."""
    held = []
    # Several client source addresses, so 100k connections never run out of ports.
    sources = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(8)]
    for i in share:
        server = listeners[i % len(listeners)]
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        c.bind((sources[i % len(sources)], 0))
        c.connect(server.getsockname())
        conn, _ = server.accept()
        held.append(c)
        held.append(conn)
    return held


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listeners", type=int, default=20)
    p.add_argument("--connections", type=int, default=0)
    p.add_argument("--idle-procs", type=int, default=0)
    p.add_argument("--wildcard", action="store_true")
    p.add_argument("--udp", type=int, default=0)
    p.add_argument("--udp-procs", type=int, default=1)
    p.add_argument("--ready", required=True)
    a = p.parse_args()

    # Children first, before this process holds any sockets they would inherit.
    children = []
    for _ in range(a.idle_procs):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            while True:
                signal.pause()
        children.append(pid)

    def stop(*_):
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cap = hard - 256  # what one process may hold, with room to spare
    done_r, done_w = os.pipe()
    holders = 0

    def hold(make):
        """A child that opens its sockets with make(), says so, and waits."""
        nonlocal holders
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            held = make()  # noqa: F841 (kept open until killed)
            os.write(done_w, b".")
            while True:
                signal.pause()
        children.append(pid)
        holders += 1

    def tcp_listeners(count, first):
        held = []
        for i in range(first, first + count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # 60,000 ports per address: 127.0.0.1, then 127.0.1.1, 127.0.2.1, ...
            # (an explicit port: bind(port 0) searches the range, slower as it fills)
            host = "0.0.0.0" if a.wildcard else f"127.0.{i // 60000}.1"
            s.bind((host, 0 if a.wildcard else 1024 + i % 60000))
            s.listen(16 if count > 1000 else 4096)
            held.append(s)
        return held

    def udp_sockets(count):
        held = []
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", 0))
            held.append(s)
        return held

    # The listeners the connection workers share stay in this process; any beyond what
    # one process may hold go to holders.
    # (The holders are forked first: a child would inherit this process's own listeners
    # and have no room left for its cap.)
    own = min(a.listeners, cap)
    for first in range(own, a.listeners, cap):
        count = min(cap, a.listeners - first)
        hold(lambda first=first, count=count: tcp_listeners(count, first))
    listeners = tcp_listeners(own, 0)
    udp_procs = max(a.udp_procs, -(-a.udp // cap)) if a.udp else 0
    for p_ in range(udp_procs):
        count = a.udp // udp_procs + (1 if p_ < a.udp % udp_procs else 0)
        hold(lambda count=count: udp_sockets(count))
    per_worker = max(1, (hard - a.listeners - 256) // 2)
    workers = (a.connections + per_worker - 1) // per_worker
    for w in range(workers):
        share = range(w * per_worker, min(a.connections, (w + 1) * per_worker))
        hold(lambda share=share: connect(listeners, share))
    os.close(done_w)
    for _ in range(holders):
        if not os.read(done_r, 1):
            sys.exit("load.py: a worker died")

    with open(a.ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
