#!/usr/bin/env python3
"""Build one benchmark scenario in the current network namespace and hold it.

Run inside a private namespace (bench/run.sh does `ip netns exec`): LISTENERS TCP
listeners on 127.0.0.1, CONNECTIONS established loopback connections spread over them
(both ends held by worker processes that share the listeners, as a pre-forked
server's workers would; a process may hold only RLIMIT_NOFILE fds, and without
CAP_SYS_RESOURCE that is often 20,000), and IDLE_PROCS idle child processes. Writes READY_FILE when everything is up, then waits
for SIGTERM and ends its children by pid.
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

    listeners = []
    for _ in range(a.listeners):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        listeners.append(s)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    per_worker = max(1, (hard - a.listeners - 256) // 2)
    workers = (a.connections + per_worker - 1) // per_worker
    done_r, done_w = os.pipe()
    for w in range(workers):
        share = range(w * per_worker, min(a.connections, (w + 1) * per_worker))
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            held = connect(listeners, share)  # noqa: F841 (kept open until killed)
            os.write(done_w, b".")
            while True:
                signal.pause()
        children.append(pid)
    os.close(done_w)
    for _ in range(workers):
        if not os.read(done_r, 1):
            sys.exit("load.py: a worker died")

    with open(a.ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
