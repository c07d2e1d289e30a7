#!/usr/bin/env python3
"""Hold LISTENERS TCP listeners on 127.0.0.1 in each of the named network namespaces
(/run/netns/NAME, made by bench/run.sh), from this one process: it enters each with
setns(2), opens the sockets there (a socket stays in the namespace it was made in) and
comes back. Writes READY_FILE when everything is up, then waits for SIGTERM.

usage: netns.py LISTENERS READY_FILE NAME...
"""

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
    listeners, ready, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
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
            held.append(s)
    setns(home)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
