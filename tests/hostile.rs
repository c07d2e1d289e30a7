//! A host that fights back: sockets and processes that come and go while we read, and
//! an independent reader to hold the answer against. `ss` reads the same kernel through
//! netlink sock_diag, not /proc/net, so it shares none of our parsing.
//!
//! Everything here runs in private network namespaces (root): the test moves one thread
//! of its own into the namespace, and the sockets that thread opens and the programs it
//! starts live there.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::netns::{self, Need, NetNs};
use crate::util::{self, Report};

/// (protocol, address, port): what both readers must agree on.
type Endpoint = (&'static str, IpAddr, u16);

fn proto(name: &str) -> &'static str {
    match name {
        "tcp" => "tcp",
        "udp" => "udp",
        other => panic!("unexpected protocol {other:?}"),
    }
}

fn reported(report: &Report) -> BTreeSet<Endpoint> {
    report
        .sockets
        .iter()
        .map(|s| {
            let address = s.address.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
            (proto(&s.protocol), address, s.port)
        })
        .collect()
}

/// `ss -ltnuH` in the calling thread's namespace: TCP in LISTEN, UDP unconnected.
fn ss_listeners() -> BTreeSet<Endpoint> {
    let out = Command::new("ss")
        .arg("-ltnuH")
        .stdin(Stdio::null())
        .output()
        .expect("run ss");
    assert!(
        out.status.success(),
        "ss: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            // `tcp LISTEN 0 4096 [::ffff:127.0.0.1]:7000 *:*`
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (host, port) = fields[4]
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("ss line {line:?}"));
            let host = host.split('%').next().unwrap(); // `0.0.0.0%lo`: a bound device
            let host = host.trim_start_matches('[').trim_end_matches(']');
            // ss writes a dual-stack IPv6 wildcard as `*`.
            let address = if host == "*" {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                host.parse()
                    .unwrap_or_else(|e| panic!("ss address {host:?}: {e}"))
            };
            (proto(fields[0]), address, port.parse().unwrap())
        })
        .collect()
}

/// portaudit in the calling thread's namespace; it must finish (exit 0 or 1).
pub fn audit() -> (util::Run, Report) {
    let run = util::run_args(&["--json"]);
    assert!(
        run.code == 0 || run.code == 1,
        "portaudit must not fail here (exit {}):\n{run:#?}",
        run.code
    );
    let report = run.report();
    (run, report)
}

/// xorshift64*: small, and the same sequence for the same seed on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    match std::env::var("PORTAUDIT_SEED") {
        Ok(text) => text.parse().expect("PORTAUDIT_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
    }
}

const ADDRESSES: [&str; 4] = [
    "10.7.0.1/24",
    "192.0.2.1/24",
    "fd00:7::1/64",
    "2001:db8:7::1/64",
];

/// Where the random sockets may bind: wildcards, loopback, specific and v4-mapped.
fn bind_addresses() -> Vec<IpAddr> {
    [
        "0.0.0.0",
        "127.0.0.1",
        "127.0.0.53",
        "10.7.0.1",
        "192.0.2.1",
        "::",
        "::1",
        "fd00:7::1",
        "2001:db8:7::1",
        "::ffff:127.0.0.1",
        "::ffff:10.7.0.1",
        "::ffff:0.0.0.0",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect()
}

/// A socket of either family, with IPV6_V6ONLY and SO_REUSEPORT as asked.
fn socket(tcp: bool, address: IpAddr, v6only: bool, reuseport: bool) -> std::io::Result<Socket> {
    let domain = if address.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let ty = if tcp { Type::STREAM } else { Type::DGRAM };
    let socket = Socket::new(domain, ty, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(v6only)?;
    }
    socket.set_reuse_port(reuseport)?;
    Ok(socket)
}

fn local(socket: &Socket) -> SocketAddr {
    socket.local_addr().unwrap().as_socket().unwrap()
}

/// One random set of sockets: what must be listed, and what must not.
#[derive(Default)]
struct Round {
    keep: Vec<Socket>,
    listeners: BTreeSet<Endpoint>,
    not_listeners: Vec<Endpoint>,
    described: Vec<String>,
}

impl Round {
    fn build(rng: &mut Rng) -> Round {
        let mut round = Round::default();
        let addresses = bind_addresses();
        for _ in 0..4 + rng.below(36) {
            let tcp = rng.chance(50);
            let address = *rng.pick(&addresses);
            // A v4-mapped address only binds on a dual-stack socket.
            let mapped = matches!(address, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
            let v6only = !mapped && rng.chance(50);
            let reuseport = rng.chance(25);
            // Fixed ports collide on purpose: the kernel decides which binds stand.
            let port = if rng.chance(60) {
                20000 + rng.below(8) as u16
            } else {
                0
            };
            let what = format!(
                "{} {address} port {port}{}{}",
                if tcp { "tcp" } else { "udp" },
                if v6only { " v6only" } else { "" },
                if reuseport { " reuseport" } else { "" }
            );
            let Ok(socket) = socket(tcp, address, v6only, reuseport) else {
                continue;
            };
            if socket.bind(&SocketAddr::new(address, port).into()).is_err() {
                round.described.push(format!("{what}: bind refused"));
                continue;
            }
            if tcp && socket.listen(16).is_err() {
                round.described.push(format!("{what}: listen refused"));
                continue;
            }
            let at = local(&socket);
            round.described.push(format!("{what}: listening on {at}"));
            round
                .listeners
                .insert((if tcp { "tcp" } else { "udp" }, at.ip(), at.port()));
            round.keep.push(socket);
        }
        for _ in 0..rng.below(4) {
            round.add_established_pair(rng);
        }
        for _ in 0..rng.below(4) {
            round.add_connected_udp(rng);
        }
        for _ in 0..rng.below(3) {
            // Bound but never listening: TCP state CLOSE, which no reader lists.
            let address = *rng.pick(&["127.0.0.1".parse().unwrap(), "::".parse().unwrap()]);
            let socket = socket(true, address, false, false).unwrap();
            socket.bind(&SocketAddr::new(address, 0).into()).unwrap();
            round
                .not_listeners
                .push(("tcp", address, local(&socket).port()));
            round
                .described
                .push(format!("tcp bound, not listening, at {}", local(&socket)));
            round.keep.push(socket);
        }
        round
    }

    fn add_established_pair(&mut self, rng: &mut Rng) {
        let loopback: IpAddr = if rng.chance(50) {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        };
        let listener = socket(true, loopback, true, false).unwrap();
        listener.bind(&SocketAddr::new(loopback, 0).into()).unwrap();
        listener.listen(4).unwrap();
        let server = local(&listener);
        let client = socket(true, loopback, true, false).unwrap();
        client.connect(&server.into()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        self.listeners.insert(("tcp", server.ip(), server.port()));
        self.not_listeners
            .push(("tcp", loopback, local(&client).port()));
        self.described
            .push(format!("tcp pair {} -> {server}", local(&client)));
        self.keep.extend([listener, client, accepted]);
    }

    fn add_connected_udp(&mut self, rng: &mut Rng) {
        let (address, peer): (IpAddr, SocketAddr) = if rng.chance(50) {
            (Ipv4Addr::LOCALHOST.into(), "127.0.0.1:9".parse().unwrap())
        } else {
            ("::".parse().unwrap(), "[::1]:9".parse().unwrap())
        };
        let socket = socket(false, address, false, false).unwrap();
        socket.bind(&SocketAddr::new(address, 0).into()).unwrap();
        socket.connect(&peer.into()).unwrap();
        self.not_listeners
            .push(("udp", address, local(&socket).port()));
        self.described
            .push(format!("udp {} connected to {peer}", local(&socket)));
        self.keep.push(socket);
    }
}

/// What `in_namespace` needs: root, ip (the namespace) and ss (the oracle).
pub const NAMESPACE: [Need; 3] = [Need::Root, Need::Program("ip"), Need::Program("ss")];

/// Run `body` in a thread of its own inside a fresh namespace with test addresses. The
/// test declares `NAMESPACE` (and what else it needs).
pub fn in_namespace(body: impl FnOnce(&NetNs) + Send) {
    let ns = NetNs::new();
    ns.add_addresses(&ADDRESSES);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                ns.enter();
                body(&ns);
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}

patest!(
    listeners_equal_what_ss_reports_over_random_rounds,
    NAMESPACE,
    |t| {
        let seed = seed();
        let rounds: usize = std::env::var("PORTAUDIT_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(40);
        // Printed up front so that a failing CI log says how to replay the run.
        eprintln!("{}: PORTAUDIT_SEED={seed}", t.name());
        in_namespace(|_| {
            let mut rng = Rng(seed);
            let mut total = 0;
            for n in 0..rounds {
                // The last round's sockets are closed, but a child that another test forks
                // (from this process, so holding all our fds until it execs) can keep one
                // alive for a moment: start from an empty namespace.
                netns::wait_until(
                    "the last round's sockets to close",
                    Duration::from_secs(10),
                    || ss_listeners().is_empty().then_some(()),
                );
                let round = Round::build(&mut rng);
                let (_, report) = audit();
                let ours = reported(&report);
                let theirs = ss_listeners();
                let replay = format!(
                    "round {n} of PORTAUDIT_SEED={seed}; sockets:\n  {}",
                    round.described.join("\n  ")
                );
                assert_eq!(
                    ours, theirs,
                    "portaudit (left) and ss (right) disagree in {replay}"
                );
                assert_eq!(
                    ours, round.listeners,
                    "portaudit (left) and the binds (right) disagree in {replay}"
                );
                for absent in &round.not_listeners {
                    assert!(
                        !ours.contains(absent),
                        "{absent:?} is no listener, yet listed in {replay}"
                    );
                }
                total += ours.len();
            }
            eprintln!("{rounds} rounds, {total} listeners, all as ss saw them");
        });
    }
);

// Stable listeners must be listed in every audit while, around them, connections,
// short-lived listeners, UDP client sockets and processes come and go by thousands.
patest!(
    churn_never_hides_a_stable_listener_nor_fails_the_audit,
    NAMESPACE,
    |_| {
        in_namespace(|ns| {
            let tcp: Vec<TcpListener> = (0..10)
                .map(|i| {
                    let address: IpAddr = if i % 2 == 0 {
                        Ipv4Addr::LOCALHOST.into()
                    } else {
                        Ipv4Addr::UNSPECIFIED.into()
                    };
                    TcpListener::bind((address, 0)).unwrap()
                })
                .collect();
            let udp: Vec<UdpSocket> = (0..30)
                .map(|i| {
                    let address: IpAddr = if i % 3 == 0 {
                        Ipv6Addr::LOCALHOST.into()
                    } else {
                        Ipv4Addr::LOCALHOST.into()
                    };
                    UdpSocket::bind((address, 0)).unwrap()
                })
                .collect();
            let mut stable: BTreeSet<Endpoint> = BTreeSet::new();
            for l in &tcp {
                let at = l.local_addr().unwrap();
                stable.insert(("tcp", at.ip(), at.port()));
            }
            for u in &udp {
                let at = u.local_addr().unwrap();
                stable.insert(("udp", at.ip(), at.port()));
            }
            let shared = tcp[0].local_addr().unwrap();
            let shared_fd = tcp[0].as_raw_fd();

            let stop = AtomicBool::new(false);
            let connections = AtomicUsize::new(0);
            let short_listeners = AtomicUsize::new(0);
            let udp_sockets = AtomicUsize::new(0);
            let children = AtomicUsize::new(0);
            let deadline = Instant::now() + Duration::from_secs(120);
            let running = || !stop.load(Ordering::Relaxed) && Instant::now() < deadline;

            std::thread::scope(|scope| {
                // Connections to a listener of their own: each leaves a TIME_WAIT row behind.
                scope.spawn(|| {
                    ns.enter();
                    let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                    let at = server.local_addr().unwrap();
                    while running() {
                        match TcpStream::connect(at) {
                            Ok(client) => {
                                let accepted = server.accept();
                                drop(client);
                                drop(accepted);
                                connections.fetch_add(1, Ordering::Relaxed);
                            }
                            // Out of ephemeral ports for a moment: TIME_WAIT holds them.
                            Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            Err(e) => panic!("connect {at}: {e}"),
                        }
                    }
                });
                // Short-lived listeners.
                scope.spawn(|| {
                    ns.enter();
                    while running() {
                        let batch: Vec<_> = (0..10)
                            .filter_map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok())
                            .collect();
                        short_listeners.fetch_add(batch.len(), Ordering::Relaxed);
                    }
                });
                // UDP client sockets, as a DNS resolver opens one per query: each is an
                // unconnected bound socket for a moment, and each shifts /proc/net/udp.
                scope.spawn(|| {
                    ns.enter();
                    while running() {
                        let batch: Vec<_> = (0..20)
                            .filter_map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok())
                            .collect();
                        udp_sockets.fetch_add(batch.len(), Ordering::Relaxed);
                    }
                });
                // Processes that inherit a stable listener and exit at once: owners that
                // vanish mid-scan, and pids handed out again and again.
                scope.spawn(|| {
                    ns.enter();
                    while running() {
                        let mut cmd = Command::new("true");
                        cmd.stdin(Stdio::null());
                        util::inherit_as_fd3(&mut cmd, shared_fd);
                        if let Ok(mut child) = cmd.spawn() {
                            let _ = child.wait();
                            children.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });

                /// Stops the churn however the audits end, a failed assertion included.
                struct Stop<'a>(&'a AtomicBool);
                impl Drop for Stop<'_> {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::Relaxed);
                    }
                }
                let _stop = Stop(&stop);
                let me = std::fs::read_to_string("/proc/self/comm")
                    .unwrap()
                    .trim()
                    .to_string();
                let exe = std::env::current_exe().unwrap().display().to_string();
                let started = Instant::now();
                let audits = 30;
                for n in 0..audits {
                    let (run, report) = audit();
                    let listed = reported(&report);
                    let missing: Vec<_> = stable.difference(&listed).collect();
                    assert!(
                        missing.is_empty(),
                        "audit {n} missed stable listeners {missing:?}:\n{}",
                        run.stdout
                    );
                    // The socket our children inherit: every owner listed held it. That is us,
                    // a `true` that inherited it, or a child of ours between fork and exec (it
                    // holds every fd we have, under our executable).
                    for s in report
                        .sockets
                        .iter()
                        .filter(|s| s.protocol == "tcp" && s.port == shared.port())
                    {
                        for p in &s.processes {
                            assert!(
                                p.name == "true" || p.exe.as_deref() == Some(exe.as_str()),
                                "audit {n}: {p:?} never held {shared}"
                            );
                        }
                        assert!(s.processes.iter().any(|p| p.name == me), "audit {n}: {s:?}");
                    }
                    for line in run.stderr.lines() {
                        assert!(
                            line.starts_with("portaudit: warning: "),
                            "audit {n}: {line}"
                        );
                    }
                }
                eprintln!("{audits} audits under churn in {:?}", started.elapsed());
            });
            let counts = (
                connections.load(Ordering::Relaxed),
                short_listeners.load(Ordering::Relaxed),
                udp_sockets.load(Ordering::Relaxed),
                children.load(Ordering::Relaxed),
            );
            eprintln!(
                "churn during the audits: {} connections, {} short-lived listeners, {} UDP sockets, {} processes",
                counts.0, counts.1, counts.2, counts.3
            );
            assert!(
                counts.0 >= 1000,
                "the churn should be thousands of connections: {counts:?}"
            );
        });
    }
);

// nginx workers with `reuseport`, a DNS server's threads: several sockets on one port.
// A person sees one service (one row that counts them); JSON keeps every socket.
patest!(
    reuseport_groups_are_one_row_and_every_socket_in_json,
    NAMESPACE,
    |_| {
        in_namespace(|_| {
            // A fixed UDP port (this namespace is ours): a wildcard UDP socket on an
            // ephemeral port would count as a client, not a service.
            let group = |tcp: bool, address: IpAddr, n: usize| -> (Vec<Socket>, u16) {
                let first = socket(tcp, address, true, true).unwrap();
                let port = if tcp { 0 } else { 5300 };
                first.bind(&SocketAddr::new(address, port).into()).unwrap();
                let port = local(&first).port();
                let mut all = vec![first];
                for _ in 1..n {
                    let s = socket(tcp, address, true, true).unwrap();
                    s.bind(&SocketAddr::new(address, port).into()).unwrap();
                    all.push(s);
                }
                for s in all.iter().filter(|_| tcp) {
                    s.listen(16).unwrap();
                }
                (all, port)
            };
            let (_workers, tcp_port) = group(true, Ipv4Addr::UNSPECIFIED.into(), 4);
            let (_threads, udp_port) = group(false, Ipv6Addr::UNSPECIFIED.into(), 3);

            let (_, report) = audit();
            let tcp = report.find("tcp", "0.0.0.0", tcp_port);
            let udp = report.find("udp", "::", udp_port);
            assert_eq!((tcp.len(), udp.len()), (4, 3), "{report:#?}");
            let inodes: BTreeSet<u64> = tcp.iter().chain(&udp).map(|s| s.inode()).collect();
            assert_eq!(inodes.len(), 7, "each socket once, with its own inode");

            let table = util::run_args(&["--color", "never"]);
            let rows = |port: u16| -> Vec<String> {
                table
                    .stdout
                    .lines()
                    .filter(|l| l.split_whitespace().nth(2) == Some(&port.to_string()))
                    .map(String::from)
                    .collect()
            };
            let tcp_rows = rows(tcp_port);
            assert_eq!(tcp_rows.len(), 1, "{}", table.stdout);
            assert!(tcp_rows[0].contains("(4 sockets)"), "{}", tcp_rows[0]);
            let udp_rows = rows(udp_port);
            assert_eq!(udp_rows.len(), 1, "{}", table.stdout);
            assert!(
                udp_rows[0].starts_with("udp6") && udp_rows[0].contains("(3 sockets)"),
                "{}",
                udp_rows[0]
            );
            // The summary counts sockets, and names the service once.
            let summary = table.stdout.lines().last().unwrap();
            assert!(summary.starts_with("7 listening, 7 exposed"), "{summary}");
            assert_eq!(
                summary.matches(&format!("{tcp_port}/tcp")).count(),
                1,
                "{summary}"
            );
        });
    }
);

// `portaudit | head -1` and `portaudit --json | head -c1` on a report far bigger than a
// pipe holds, so that the writes really meet a closed pipe: quiet, and exit 1.
patest!(
    closed_stdout_on_a_big_report_ends_quietly_with_the_verdicts_code,
    NAMESPACE,
    |_| {
        in_namespace(|_| {
            raise_fd_limit(4096);
            // TCP: wildcard UDP on an ephemeral port counts as a client, not a service.
            let held: Vec<TcpListener> = (0..1500)
                .map(|_| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap())
                .collect();
            let full = util::run_args(&["--json"]);
            assert!(
                full.stdout.len() > 256 * 1024,
                "{} bytes",
                full.stdout.len()
            );
            for (args, reader) in [
                ("", "head -1"),
                ("--json", "head -c1"),
                ("", "head -c1"),
                ("--json", "head -1"),
            ] {
                let (code, stderr) = util::behind_a_pipe(args, reader);
                assert_eq!(code, "1", "`portaudit {args} | {reader}` must exit 1");
                assert_eq!(stderr, "", "no panic or error on a closed pipe");
            }
            drop(held);
        });
    }
);

/// Let this process hold `n` fds, as far as the hard limit allows.
fn raise_fd_limit(n: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < n {
            limit.rlim_cur = n.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}
