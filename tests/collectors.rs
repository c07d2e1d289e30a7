//! The two collectors, on real sockets in private network namespaces (root): netlink and
//! /proc/net must agree on the listeners; only netlink tells dual-stack `::` binds from
//! IPv6-only ones and sees bound devices. And a sandbox that refuses netlink: `auto`
//! falls back to /proc/net, `--collector netlink` fails with exit 2.
//!
//! The sockets are made by this test process: a thread enters the namespace (setns
//! moves only the calling thread), creates them and hands them back; they stay in the
//! namespace they were made in. Every address used lives inside the namespace.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::netns::{self, NetNs};
use crate::util::{self, Report, Run};

/// 192.0.2.1/24 and 2001:db8::1/64 on a veth `v0` (its peer `v1` up beside it).
const V4: &str = "192.0.2.1";
const V6: &str = "2001:db8::1";

/// A namespace with `lo` and a veth pair up, and documentation addresses on `v0`.
fn namespace() -> NetNs {
    let ns = NetNs::new();
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["addr", "add", &format!("{V4}/24"), "dev", "v0"]);
    ns.ip(&["addr", "add", &format!("{V6}/64"), "dev", "v0", "nodad"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    ns
}

/// Run `make` on a thread inside `ns`.
fn in_netns<T: Send>(ns: &NetNs, make: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", ns.name());
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: setns on a valid namespace fd; it affects only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                make()
            })
            .join()
            .expect("the thread in the namespace panicked")
    })
}

/// `portaudit --json --collector COLLECTOR ARGS…` inside `ns`.
fn audit(ns: &NetNs, collector: &str, args: &[&str]) -> (Run, Report) {
    let mut all = vec!["--json", "--collector", collector];
    all.extend_from_slice(args);
    let run = util::run(&mut ns.exec(util::bin(), &all));
    assert!(run.code == 0 || run.code == 1, "{all:?}:\n{run:#?}");
    let report = run.report();
    assert_eq!(report.collector, collector, "{run:#?}");
    (run, report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// TCP in LISTEN, or UDP bound and unconnected: a listener.
    Listen,
    /// TCP bound but never listening: not a listener.
    BoundOnly,
    /// UDP connected to a peer: not a listener.
    Connected,
}

#[derive(Debug, Clone)]
struct Spec {
    tcp: bool,
    address: IpAddr,
    v6only: Option<bool>,
    device: Option<&'static str>,
    kind: Kind,
}

/// Make one socket as `spec` says, on a port the kernel picks.
fn open(spec: &Spec) -> Socket {
    let domain = if spec.address.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let (ty, proto) = if spec.tcp {
        (Type::STREAM, Protocol::TCP)
    } else {
        (Type::DGRAM, Protocol::UDP)
    };
    let socket = Socket::new(domain, ty, Some(proto)).unwrap();
    if let Some(only) = spec.v6only {
        socket.set_only_v6(only).unwrap();
    }
    if let Some(device) = spec.device {
        socket.bind_device(Some(device.as_bytes())).unwrap();
    }
    let bind = SocketAddr::new(spec.address, 0);
    socket
        .bind(&bind.into())
        .unwrap_or_else(|e| panic!("bind {spec:?}: {e}"));
    match spec.kind {
        Kind::Listen if spec.tcp => socket.listen(16).unwrap(),
        Kind::Listen | Kind::BoundOnly => {}
        Kind::Connected => {
            // A v4-mapped bind talks IPv4 (mapped), a plain IPv6 one IPv6.
            let peer: IpAddr = match spec.address {
                IpAddr::V4(_) => "127.0.0.1".parse().unwrap(),
                IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
                    "::ffff:127.0.0.1".parse().unwrap()
                }
                IpAddr::V6(_) => "::1".parse().unwrap(),
            };
            socket.connect(&SocketAddr::new(peer, 9).into()).unwrap();
        }
    }
    socket
}

fn port(socket: &Socket) -> u16 {
    socket
        .local_addr()
        .unwrap()
        .as_socket()
        .expect("an inet socket")
        .port()
}

fn inode(socket: &Socket) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).unwrap();
    let text = link.to_string_lossy();
    text.strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("fd link {text:?} is not socket:[N]"))
}

/// A small reproducible generator: xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// Identity of a listener as both collectors must report it.
type Key = (String, String, String, u16, u32, u64);

fn keys(report: &Report) -> BTreeSet<Key> {
    report
        .sockets
        .iter()
        .map(|s| {
            (
                s.protocol.clone(),
                s.family.clone(),
                s.address.clone(),
                s.port,
                s.uid(),
                s.inode(),
            )
        })
        .collect()
}

patest!(
    netlink_and_proc_report_the_same_listeners_on_a_random_mix,
    [Root, Program("ip")],
    |_| {
        let seed = std::env::var("PORTAUDIT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("random socket mix: seed {seed} (PORTAUDIT_TEST_SEED={seed} repeats it)");
        let mut rng = Rng(seed);
        let addresses = [
            "0.0.0.0",
            "127.0.0.1",
            "127.3.4.5",
            V4,
            "::",
            "::1",
            V6,
            "::ffff:127.0.0.1",
        ];
        let specs: Vec<Spec> = (0..60)
            .map(|_| {
                let address: IpAddr = rng.pick(&addresses).parse().unwrap();
                let v6only = match address {
                    IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => Some(false),
                    IpAddr::V6(_) => rng.pick(&[None, Some(true), Some(false)]),
                    IpAddr::V4(_) => None,
                };
                let tcp = rng.below(2) == 0;
                let kind = match rng.below(6) {
                    0 if tcp => Kind::BoundOnly,
                    0 => Kind::Connected,
                    _ => Kind::Listen,
                };
                // A connected socket's peer is on loopback: keep it off other devices.
                let device = if address.is_unspecified() && kind != Kind::Connected {
                    rng.pick(&[None, None, Some("lo"), Some("v0")])
                } else {
                    None
                };
                Spec {
                    tcp,
                    address,
                    v6only,
                    device,
                    kind,
                }
            })
            .collect();

        let ns = namespace();
        let (sockets, established) = in_netns(&ns, || {
            let sockets: Vec<Socket> = specs.iter().map(open).collect();
            // An established TCP pair: neither end is a listener.
            let server = open(&Spec {
                tcp: true,
                address: "127.0.0.1".parse().unwrap(),
                v6only: None,
                device: None,
                kind: Kind::Listen,
            });
            let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            client.connect(&server.local_addr().unwrap()).unwrap();
            let (accepted, _) = server.accept().unwrap();
            (sockets, [server, client, accepted])
        });
        let uid = unsafe { libc::geteuid() };
        let mut expected: BTreeSet<Key> = specs
            .iter()
            .zip(&sockets)
            .filter(|(spec, _)| spec.kind == Kind::Listen)
            .map(|(spec, socket)| {
                let family = if spec.address.is_ipv4() {
                    "ipv4"
                } else {
                    "ipv6"
                };
                let protocol = if spec.tcp { "tcp" } else { "udp" };
                let key: Key = (
                    protocol.into(),
                    family.into(),
                    spec.address.to_string(),
                    port(socket),
                    uid,
                    inode(socket),
                );
                key
            })
            .collect();
        let server = &established[0];
        expected.insert((
            "tcp".into(),
            "ipv4".into(),
            "127.0.0.1".into(),
            port(server),
            uid,
            inode(server),
        ));

        let (_, netlink) = audit(&ns, "netlink", &[]);
        let (_, proc) = audit(&ns, "proc", &[]);
        assert_eq!(keys(&netlink), expected, "netlink, seed {seed}");
        assert_eq!(keys(&proc), expected, "proc, seed {seed}");

        // What only netlink knows, and both collectors' owners.
        let me = std::process::id() as i32;
        for (spec, socket) in specs.iter().zip(&sockets) {
            if spec.kind != Kind::Listen {
                continue;
            }
            let protocol = if spec.tcp { "tcp" } else { "udp" };
            let address = spec.address.to_string();
            let ours = |report: &Report| {
                report
                    .sockets
                    .iter()
                    .find(|s| s.inode() == inode(socket))
                    .unwrap_or_else(|| panic!("{spec:?} missing, seed {seed}:\n{report:#?}"))
                    .clone()
            };
            let n = ours(&netlink);
            assert_eq!(
                (n.protocol.as_str(), n.address.as_str()),
                (protocol, address.as_str())
            );
            assert_eq!(n.device.as_deref(), spec.device, "{spec:?}, seed {seed}");
            if spec.address.is_unspecified() && spec.address.is_ipv6() {
                // A socket left alone takes the namespace's default: dual-stack.
                let dual = !spec.v6only.unwrap_or(false);
                assert_eq!(n.ipv4_reachable, Some(dual), "{spec:?}, seed {seed}");
            }
            let local = spec.address.is_loopback()
                || address.starts_with("127.")
                || address == "::ffff:127.0.0.1"
                || spec.device == Some("lo");
            assert_eq!(n.verdict == "local", local, "{n:?}, seed {seed}");
            let p = ours(&proc);
            assert_eq!(p.device, None, "/proc/net shows no device");
            for s in [&n, &p] {
                assert!(
                    s.processes.iter().any(|p| p.pid == me),
                    "{s:?} should be owned by the test process, seed {seed}"
                );
            }
        }
        drop((sockets, established));
    }
);

patest!(
    dual_stack_and_ipv6_only_wildcards_are_told_apart,
    [Root, Program("ip")],
    |_| {
        let ns = namespace();
        let any6: IpAddr = "::".parse().unwrap();
        let spec = |tcp, v6only| Spec {
            tcp,
            address: any6,
            v6only: Some(v6only),
            device: None,
            kind: Kind::Listen,
        };
        let (sockets, reached) = in_netns(&ns, || {
            let sockets = [
                open(&spec(true, true)),
                open(&spec(true, false)),
                open(&spec(false, true)),
                open(&spec(false, false)),
            ];
            // What an IPv4 client really gets: the dual-stack socket answers, the other not.
            let reached: Vec<bool> = sockets[..2]
                .iter()
                .map(|s| {
                    let to = SocketAddr::new("127.0.0.1".parse().unwrap(), port(s));
                    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                    client.connect(&SockAddr::from(to)).is_ok()
                })
                .collect();
            (sockets, reached)
        });
        assert_eq!(reached, [false, true], "the kernel's own answer");

        // Port-0 UDP binds land in the ephemeral range: judge them like any socket here.
        let dir = util::TempDir::new("dual-stack");
        let config = dir.path().join("judge.toml").display().to_string();
        std::fs::write(&config, "ephemeral_udp = \"judge\"\n").unwrap();
        let (_, report) = audit(&ns, "netlink", &["--config", &config]);
        let find = |r: &Report, i: usize| {
            let protocol = if i < 2 { "tcp" } else { "udp" };
            r.one(protocol, "::", port(&sockets[i])).clone()
        };
        for (i, dual) in [(0, false), (1, true), (2, false), (3, true)] {
            let s = find(&report, i);
            assert_eq!(s.ipv4_reachable, Some(dual), "{s:?}");
            assert_eq!(
                s.ipv4_reachable_guess, None,
                "no guessing under netlink: {s:?}"
            );
            assert_eq!(s.verdict, "exposed");
            let reach: Vec<&str> = s
                .reachable_on
                .as_ref()
                .expect("a wildcard lists where it is reachable")
                .iter()
                .map(|h| h.address.as_str())
                .collect();
            assert!(reach.contains(&V6), "{s:?}");
            assert_eq!(reach.contains(&V4), dual, "{s:?}");
            assert!(
                !reach.contains(&"127.0.0.1") && !reach.contains(&"::1"),
                "{s:?}"
            );
            let v6 = s.reachable_on.iter().flatten().find(|h| h.address == V6);
            assert_eq!(v6.map(|h| h.device.as_str()), Some("v0"), "{s:?}");
        }
        // The table says it the BSD way: tcp6 for IPv6 only, tcp46 for both.
        let table = util::run(&mut ns.exec(util::bin(), ["--color", "never"]));
        for (i, proto) in [(0, "tcp6"), (1, "tcp46"), (2, "udp6"), (3, "udp46")] {
            let row = table
                .stdout
                .lines()
                .find(|l| l.split_whitespace().nth(2) == Some(&port(&sockets[i]).to_string()))
                .unwrap_or_else(|| panic!("no row for socket {i}:\n{}", table.stdout));
            assert_eq!(row.split_whitespace().next(), Some(proto), "{row}");
        }
        assert!(
            table.stdout.contains(&format!("{V4} (v0)")),
            "{}",
            table.stdout
        );

        // /proc/net cannot tell: unknown, with the namespace's default as the labelled guess.
        let (_, proc) = audit(&ns, "proc", &[]);
        for i in 0..4 {
            let s = find(&proc, i);
            assert_eq!(s.ipv4_reachable, None, "{s:?}");
            assert_eq!(s.ipv4_reachable_guess, Some(true), "bindv6only is 0: {s:?}");
            assert_eq!(s.reachable_on, None, "{s:?}");
        }
        let set = util::run(&mut ns.exec("sh", ["-c", "echo 1 > /proc/sys/net/ipv6/bindv6only"]));
        assert_eq!(set.code, 0, "{set:#?}");
        let (_, proc) = audit(&ns, "proc", &[]);
        assert_eq!(find(&proc, 1).ipv4_reachable_guess, Some(false));
        drop(sockets);
    }
);

patest!(
    wildcard_bound_to_lo_is_local_and_to_another_device_is_named,
    [Root, Program("ip")],
    |_| {
        let ns = namespace();
        let bound = |device| Spec {
            tcp: true,
            address: "0.0.0.0".parse().unwrap(),
            v6only: None,
            device: Some(device),
            kind: Kind::Listen,
        };
        let on_lo = in_netns(&ns, || open(&bound("lo")));
        let lo_port = port(&on_lo);

        let (run, report) = audit(&ns, "netlink", &["--no-default-allow"]);
        let s = report.one("tcp", "0.0.0.0", lo_port);
        assert_eq!(s.device.as_deref(), Some("lo"));
        assert_eq!(
            (s.scope.as_str(), s.exposure.as_str()),
            ("wildcard", "none")
        );
        assert_eq!(s.verdict, "local");
        assert_eq!(
            s.reachable_on.as_deref(),
            Some(&[][..]),
            "lo has only loopback addresses"
        );
        assert_eq!(run.code, 0, "nothing reachable from outside: {run:#?}");
        let table = util::run(&mut ns.exec(util::bin(), ["--color", "never"]));
        let row: Vec<&str> = table
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(&lo_port.to_string()))
            .unwrap_or_else(|| panic!("no row for {lo_port}:\n{}", table.stdout))
            .split_whitespace()
            .collect();
        // The owner cell may hold several words (`1425/name +?`): find the verdict by value.
        assert_eq!(row[1], "0.0.0.0%lo", "{row:?}");
        assert!(row.contains(&"local"), "{row:?}");

        // /proc/net sees only a wildcard: it cannot know better.
        let (_, proc) = audit(&ns, "proc", &["--no-default-allow"]);
        let p = proc.one("tcp", "0.0.0.0", lo_port);
        assert_eq!((p.device.as_deref(), p.verdict.as_str()), (None, "exposed"));

        let on_v0 = in_netns(&ns, || open(&bound("v0")));
        let (run, report) = audit(&ns, "netlink", &["--no-default-allow"]);
        let s = report.one("tcp", "0.0.0.0", port(&on_v0));
        assert_eq!(s.device.as_deref(), Some("v0"));
        assert_eq!(s.verdict, "exposed");
        let reach: Vec<(&str, &str)> = s
            .reachable_on
            .iter()
            .flatten()
            .map(|h| (h.address.as_str(), h.device.as_str()))
            .collect();
        assert_eq!(reach, [(V4, "v0")]);
        assert_eq!(run.code, 1);
        drop((on_lo, on_v0));
    }
);

/// A seccomp filter that makes socket(AF_NETLINK, …) fail with EAFNOSUPPORT, as in a
/// sandbox without netlink; everything else is allowed.
fn refuse_netlink(cmd: &mut std::process::Command) {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        op(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        op(JEQ_K, 0, 4, ARCH),
        op(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        op(JEQ_K, 0, 2, libc::SYS_socket as u32),
        op(LD_W_ABS, 0, 0, 16), // seccomp_data.args[0], low half
        op(JEQ_K, 1, 0, libc::AF_NETLINK as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        op(
            RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32,
        ),
    ];
    // SAFETY: between fork and exec we only make two prctl calls on data we own.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &raw const prog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn refused_netlink_falls_back_to_proc_or_fails_when_asked_for() {
    let mut cmd = util::portaudit();
    cmd.args(["--json", "--collector", "netlink"]);
    refuse_netlink(&mut cmd);
    let run = util::run(&mut cmd);
    assert_eq!(run.code, 2, "{run:#?}");
    assert_eq!(run.stdout, "", "no report when we could not look");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("portaudit: --collector netlink: cannot open a netlink"),
        "{}",
        run.stderr
    );

    let mut cmd = util::portaudit();
    cmd.args(["--json"]);
    refuse_netlink(&mut cmd);
    let run = util::run(&mut cmd);
    assert!(run.code == 0 || run.code == 1, "{run:#?}");
    let report = run.report();
    assert_eq!(report.collector, "proc");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("read /proc/net instead")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn proc_collector_reads_captured_trees_and_leaves_the_unknown_null() {
    let root = util::fixture("mixed").join("proc").display().to_string();
    for args in [
        vec!["--json", "--proc-root", &root],
        vec!["--json", "--proc-root", &root, "--collector", "proc"],
    ] {
        let run = util::run_args(&args);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = run.report();
        assert_eq!(report.collector, "proc");
        assert_eq!(report.summary.listening, 20);
        for s in &report.sockets {
            let want = match (s.family.as_str(), s.address.as_str()) {
                ("ipv4", _) => Some(true),
                (_, "::") => None,
                (_, a) if a.starts_with("::ffff:") => Some(true),
                _ => Some(false),
            };
            assert_eq!(s.ipv4_reachable, want, "{s:?}");
            // The capture has no sys/net/ipv6/bindv6only: no guess either.
            assert_eq!(s.ipv4_reachable_guess, None, "{s:?}");
            assert_eq!((&s.device, &s.reachable_on), (&None, &None), "{s:?}");
        }
    }
}

#[test]
fn netlink_cannot_read_another_proc_root() {
    let root = util::fixture("mixed").join("proc").display().to_string();
    let run = util::run_args(&["--collector", "netlink", "--proc-root", &root]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("portaudit: --collector netlink cannot read --proc-root"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_processes_skips_owners_without_warning() {
    let root = util::fixture("mixed").join("proc").display().to_string();
    let run = util::run_args(&["--json", "--no-processes", "--proc-root", &root]);
    assert_eq!(run.code, 1, "{run:#?}");
    let report = run.report();
    assert_eq!(report.summary.listening, 20);
    assert!(report.sockets.iter().all(|s| s.processes.is_empty()));
    assert!(
        report.sockets.iter().all(|s| s.user.is_some()),
        "users are still named"
    );
    assert_eq!(report.warnings, Vec::<String>::new());
    assert_eq!(run.stderr, "");
}
