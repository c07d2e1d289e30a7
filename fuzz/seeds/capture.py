#!/usr/bin/env python3
"""Make the fuzz targets' seeds: fuzz/seeds/<target>/.

Run as root from the repository root, after `cargo build` (it runs target/debug/portaudit
for the baselines):

    python3 fuzz/seeds/capture.py

Netlink seeds are datagrams the live kernel sent, captured in a network namespace of the
script's own (deleted at the end) holding what portaudit must read: listeners (TCP and
UDP, IPv4, IPv6 dual-stack and v6only), a veth pair, a bridge, a VXLAN device (when the
vxlan module is loaded: the script loads no module), addresses and routes. Each file is
one datagram, as portaudit receives it. Text seeds come from the test fixtures (proc
tables, the example policy, baselines saved from the fixtures), and for the files no
fixture holds, from their documented shapes (mountinfo, uid_map, cgroup paths of systemd
units and containers, Docker's and podman's state, command lines), as the unit tests of
each parser spell them. Nothing of the capturing machine's own /proc is kept.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")

NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
NETLINK_ROUTE, NETLINK_SOCK_DIAG, NETLINK_GENERIC = 0, 4, 16
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 18, 22, 26
SOCK_DIAG_BY_FAMILY = 20
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
TCP_LISTEN, TCP_CLOSE = 10, 7


def save(target, name, data):
    directory = os.path.join(SEEDS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def dump(protocol, kind, body):
    """The datagrams of one netlink dump, as the kernel sent them."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
    s.bind((0, 0))
    header = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    s.send(header + body)
    datagrams = []
    while True:
        data = s.recv(1 << 16)
        datagrams.append(data)
        at, done = 0, False
        while at + 16 <= len(data):
            length, msg_type = struct.unpack_from("=IH", data, at)
            if msg_type in (NLMSG_DONE, NLMSG_ERROR):
                done = True
            at += (length + 3) & ~3
        if done:
            s.close()
            return datagrams


def save_dump(target, name, protocol, kind, body):
    for i, datagram in enumerate(dump(protocol, kind, body)):
        save(target, "%s-%d.bin" % (name, i), datagram)


def inside():
    """In the namespace: bind the listeners, then capture every dump portaudit asks for."""
    held = []

    def bind(family, kind, address, v6only=None):
        s = socket.socket(family, kind)
        if v6only is not None:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        s.bind((address, 0))
        if kind == socket.SOCK_STREAM:
            s.listen()
        held.append(s)

    bind(socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0")
    bind(socket.AF_INET, socket.SOCK_STREAM, "10.9.0.1")
    bind(socket.AF_INET6, socket.SOCK_STREAM, "::", v6only=False)
    bind(socket.AF_INET6, socket.SOCK_STREAM, "::1", v6only=True)
    bind(socket.AF_INET6, socket.SOCK_STREAM, "fd00:9::1", v6only=True)
    bind(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1")
    bind(socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0")
    bind(socket.AF_INET6, socket.SOCK_DGRAM, "::", v6only=False)

    for name, proto, state in (("tcp", socket.IPPROTO_TCP, TCP_LISTEN),
                               ("udp", socket.IPPROTO_UDP, TCP_CLOSE)):
        for fam_name, family in (("ipv4", socket.AF_INET), ("ipv6", socket.AF_INET6)):
            # inet_diag_req_v2, as portaudit's sock_diag_request builds it.
            body = struct.pack("=BBBBI", family, proto, 0, 0, 1 << state) + bytes(48)
            save_dump("inet_diag", "%s-%s" % (name, fam_name), NETLINK_SOCK_DIAG,
                      SOCK_DIAG_BY_FAMILY, body)
    save_dump("link", "links", NETLINK_ROUTE, RTM_GETLINK, bytes(16))
    save_dump("address", "addresses", NETLINK_ROUTE, RTM_GETADDR, bytes(8))
    save_dump("route", "routes", NETLINK_ROUTE, RTM_GETROUTE, bytes(12))
    save_dump("genl", "families", NETLINK_GENERIC, GENL_ID_CTRL,
              bytes([CTRL_CMD_GETFAMILY, 1, 0, 0]))
    for s in held:
        s.close()


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True)


def capture_netlink():
    ns = "pa-seeds-%d" % os.getpid()
    ip("netns", "add", ns)
    try:
        for args in (
            ["link", "set", "lo", "up"],
            ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
            ["addr", "add", "10.9.0.1/24", "dev", "v0"],
            ["addr", "add", "fd00:9::1/64", "dev", "v0", "nodad"],
            ["link", "set", "v0", "up"],
            ["link", "set", "v1", "up"],
            ["link", "add", "br0", "type", "bridge"],
            ["link", "set", "br0", "up"],
            ["route", "add", "198.51.100.0/24", "via", "10.9.0.2"],
            ["-6", "route", "add", "2001:db8:9::/48", "via", "fd00:9::2"],
        ):
            ip("-n", ns, *args)
        if os.path.isdir("/sys/module/vxlan"):
            ip("-n", ns, "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789",
               "dev", "v0")
            ip("-n", ns, "link", "set", "vx0", "up")
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inside"],
                       check=True)
    finally:
        subprocess.run(["ip", "netns", "delete", ns])


def copy(target, name, path):
    with open(path, "rb") as f:
        save(target, name, f.read())


def capture_text():
    fixtures = os.path.join(ROOT, "tests", "fixtures")
    # /proc/net tables: the small scenarios (busy is 10,000 rows: too big to mutate).
    for scenario in ("mixed", "malformed", "cr-only", "bad-header", "userns", "services"):
        for table in ("tcp", "tcp6", "udp", "udp6"):
            path = os.path.join(fixtures, scenario, "proc", "net", table)
            if os.path.exists(path):
                copy("row", "%s-%s" % (scenario, table), path)

    # --allow specs as README shows them.
    save("allow", "ports", b"5432/tcp")
    save("allow", "range-and-name", b"8000-8100,domain")
    save("allow", "protocols", b"53/udp, 9100-9200/tcp ,ssh")

    copy("policy", "example.toml", os.path.join(ROOT, "examples", "portaudit.toml"))
    save("policy", "settings.toml", b'advisory = false\nstrict = true\n'
         b'ephemeral_udp = "judge"\ntrust_firewall = false\n')
    save("policy", "rules.toml", b'[[rule]]\nname = "postgres inside"\naction = "allow"\n'
         b'port = "5432/tcp"\naddress = "10.0.0.0/8"\n\n[[rule]]\naction = "deny"\n'
         b'protocol = "udp"\nexposure = "public"\n')
    save("policy", "map-not-array.toml", b'[rule]\naction = "allow"\n')

    portaudit = os.path.join(ROOT, "target", "debug", "portaudit")
    for scenario in ("mixed", "clean", "services"):
        out = os.path.join(SEEDS, "baseline", scenario + ".json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([portaudit, "--no-config", "--save-baseline", out, "--proc-root",
                        os.path.join(fixtures, scenario, "proc")],
                       stdout=subprocess.DEVNULL, check=False)

    # The shape of a Debian 12 host's /proc/self/mountinfo and a hybrid one's.
    save("mountinfo", "debian", b"22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - "
         b"sysfs sysfs rw\n23 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc "
         b"proc rw\n28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
         b"26 22 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 "
         b"cgroup2 rw,nsdelegate,memory_recursiveprot\n40 28 0:30 / /run/netns rw shared:20 - "
         b"tmpfs tmpfs rw,size=1630060k,mode=755\n45 28 0:33 / /mnt/a\\040b rw - tmpfs tmpfs rw\n")
    save("mountinfo", "hybrid", b"30 24 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs "
         b"ro,mode=755\n31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 "
         b"cgroup2 rw,nsdelegate\n22 26 0:21 / /proc rw,nosuid - proc proc rw,hidepid=invisible\n")
    save("mountinfo", "uid_map-all", b"         0          0 4294967295\n")
    save("mountinfo", "uid_map-rootless", b"         0       1000          1\n         1     100000"
         b"      65536\n")

    # /proc/PID/cgroup as systemd hosts write it (the shapes of cgroup.rs's tests).
    save("cgroup", "service-v2", b"0::/system.slice/memcached.service\n")
    save("cgroup", "service-v1", b"12:pids:/system.slice/ssh.service\n"
         b"1:name=systemd:/system.slice/ssh.service\n")
    save("cgroup", "user-session", b"0::/user.slice/user-1000.slice/session-3.scope\n")
    save("cgroup", "root", b"0::/\n")
    save("cgroup", "socket-unit", b"[Unit]\nDescription=x\n\n[Socket]\nListenStream=22\n"
         b"Accept=yes\nService=sshd.service\n")

    save("proxy", "sshd", b"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups\0")
    save("proxy", "memcached", b"/usr/bin/memcached\0-m\x0064\0-p\x0011211\0-u\0memcache\0"
         b"-l\x00127.0.0.1\0")
    save("proxy", "docker-proxy", b"/usr/bin/docker-proxy\0-proto\0tcp\0-host-ip\x000.0.0.0\0"
         b"-host-port\x008080\0-container-ip\x00172.17.0.2\0-container-port\x0080\0"
         b"-use-listen-fd\0")
    save("proxy", "docker-proxy-equals", b"docker-proxy\0--proto=udp\0--host-port=53\0"
         b"--container-ip=172.17.0.3\0--container-port=53\0")

    container_id = b"3b2e9a51c0d84f7e96a1b5c27d3e8f40a6c91d7e25b84f03c6d19e7a82f5b40c"
    save("container", "docker-cgroup", b"0::/system.slice/docker-" + container_id + b".scope\n")
    save("container", "docker-v1", b"12:pids:/docker/" + container_id + b"\n")
    save("container", "podman-cgroup", b"0::/machine.slice/libpod-" + container_id + b".scope\n")
    save("container", "kubepods", b"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-"
         b"besteffort-pod0c3b.slice/cri-containerd-" + container_id + b".scope\n")
    save("container", "lxc", b"0::/lxc.payload.web/init.scope\n")
    save("container", "docker-config.v2.json", b'{"ID":"' + container_id +
         b'","Name":"/web","State":{"Running":true}}')
    save("container", "podman-containers.json", b'[{"id":"' + container_id +
         b'","names":["web"],"image":"x"}]')


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        inside()
        return
    if os.geteuid() != 0:
        sys.exit("capture.py: run as root (it makes a network namespace)")
    for target in ("inet_diag", "link", "address", "route", "genl", "row", "allow", "policy",
                   "baseline", "cgroup", "mountinfo", "proxy", "container"):
        shutil.rmtree(os.path.join(SEEDS, target), ignore_errors=True)
    capture_netlink()
    capture_text()


if __name__ == "__main__":
    main()
