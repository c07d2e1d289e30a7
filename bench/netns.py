#!/usr/bin/env python3
"""Hold LISTENERS TCP listeners on 127.0.0.1 in each of the named network namespaces
(/run/netns/NAME, made by bench/run.sh), from this one process: it enters each with
setns(2), opens the sockets there (a socket stays in the namespace it was made in) and
comes back. Writes READY_FILE when everything is up, then waits for SIGTERM.

With --in-flight, no process holds the listeners: each one's only reference is a file
descriptor in flight (SCM_RIGHTS queued on a unix socketpair this process keeps), as for
sockets whose owners an audit cannot see; their namespaces' devices are then read too.

usage: netns.py [--in-flight] LISTENERS READY_FILE NAME...
"""

import array
import ctypes
import os
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        sys.exit(f"netns.py: setns: {os.strerror(err)}")


def main():
    args = sys.argv[1:]
    in_flight = args[:1] == ["--in-flight"]
    if in_flight:
        args = args[1:]
    listeners, ready, names = int(args[0]), args[1], args[2:]
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    held = []
    for name in names:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        setns(fd)
        os.close(fd)
        for _ in range(listeners):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            if in_flight:
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
                fds = array.array("i", [s.fileno()])
                a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                s.close()
                a.close()
                s = b
            held.append(s)
    setns(home)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
