//! Live sockets: the test process binds real sockets on ephemeral ports and checks what
//! `portaudit --json` says about them.
//!
//! Only port 0 (the kernel picks), only 127.0.0.1, ::1, 0.0.0.0 and ::, and traffic only
//! on loopback. Tests run in parallel in this one process and the host has its own
//! sockets, so every check looks up the exact ports a test bound, never the whole report.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use crate::netns::{self, Child, Test};
use crate::util::{self, Process, Report, Run, Socket};

/// `portaudit --json ARGS…` from this process; any exit but "could not audit".
fn audit(args: &[&str]) -> (Run, Report) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = util::run_args(&all);
    assert!(
        run.code == 0 || run.code == 1,
        "portaudit {all:?} exited {}:\n{run:#?}",
        run.code
    );
    let report = run.report();
    assert_eq!(report.summary.exit_code as i32, run.code, "{run:#?}");
    (run, report)
}

/// This test process, as portaudit should name it.
fn me() -> Process {
    let comm = std::fs::read_to_string("/proc/self/comm").expect("read /proc/self/comm");
    let exe = std::env::current_exe().expect("our own executable");
    Process {
        pid: std::process::id() as i32,
        name: comm.trim().to_string(),
        name_bytes: None,
        exe: Some(exe.display().to_string()),
        exe_bytes: None,
        uid: Some(euid()),
        user: util::user_name(euid()),
        user_bytes: None,
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The socket inode behind one of our fds: /proc/self/fd/N links to `socket:[INODE]`.
fn inode(fd: &impl AsRawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .expect("readlink /proc/self/fd");
    let text = link.to_string_lossy();
    text.strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("fd link {text:?} is not socket:[N]"))
}

/// How portaudit classified and judged a socket.
fn assert_judged(s: &Socket, family: &str, scope: &str, exposure: &str, verdict: &str) {
    assert_eq!(
        (
            s.family.as_str(),
            s.scope.as_str(),
            s.exposure.as_str(),
            s.verdict.as_str()
        ),
        (family, scope, exposure, verdict),
        "{s:#?}"
    );
}

/// A TCP listener on `address` port 0, or None (and a SKIPPED line) on a host without IPv6.
fn bind_v6_or_skip(address: Ipv6Addr, test: &Test) -> Option<TcpListener> {
    match TcpListener::bind((address, 0)) {
        Ok(listener) => Some(listener),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::AddrNotAvailable | ErrorKind::Unsupported
            ) =>
        {
            test.skip(&format!("no IPv6 on this host ({e})"));
            None
        }
        Err(e) => panic!("bind [{address}]:0: {e}"),
    }
}

fn assert_owned_by(socket: &Socket, process: &Process) {
    assert!(
        socket.processes.contains(process),
        "{process:?} missing from the owners of {socket:#?}"
    );
}

/// Every socket the report has on `protocol` port `port`, whatever the address.
fn on_port<'a>(report: &'a Report, protocol: &str, port: u16) -> Vec<&'a Socket> {
    report
        .sockets
        .iter()
        .filter(|s| s.protocol == protocol && s.port == port)
        .collect()
}

#[test]
fn tcp_on_ipv4_loopback_is_local_and_ours() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_, report) = audit(&[]);
    let s = report.one("tcp", "127.0.0.1", port);
    assert_judged(s, "ipv4", "loopback", "none", "local");
    assert_eq!(s.uid(), euid());
    assert_eq!(s.inode(), inode(&listener));
    assert_owned_by(s, &me());
}

patest!(tcp_on_ipv6_loopback_is_local, [], |t| {
    let Some(listener) = bind_v6_or_skip(Ipv6Addr::LOCALHOST, t) else {
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let (_, report) = audit(&[]);
    let s = report.one("tcp", "::1", port);
    assert_judged(s, "ipv6", "loopback", "none", "local");
    assert_eq!(s.inode(), inode(&listener));
    assert_owned_by(s, &me());
});

#[test]
fn tcp_on_ipv4_wildcard_is_exposed_unless_allowed() {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();

    let (run, report) = audit(&[]);
    let s = report.one("tcp", "0.0.0.0", port);
    assert_judged(s, "ipv4", "wildcard", "public", "exposed");
    assert_eq!(s.inode(), inode(&listener));
    assert_owned_by(s, &me());
    assert_eq!(run.code, 1, "an exposed socket must fail the audit");

    let allow = format!("{port}/tcp");
    let (_, report) = audit(&["--allow", &allow]);
    let s = report.one("tcp", "0.0.0.0", port);
    assert_eq!(s.exposure, "public");
    assert_eq!(s.verdict, "allowed");
}

patest!(tcp_on_ipv6_wildcard_is_exposed, [], |t| {
    // std binds :: with IPV6_V6ONLY as net.ipv6.bindv6only says: usually dual-stack.
    let Some(listener) = bind_v6_or_skip(Ipv6Addr::UNSPECIFIED, t) else {
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let (run, report) = audit(&[]);
    let s = report.one("tcp", "::", port);
    assert_judged(s, "ipv6", "wildcard", "public", "exposed");
    assert_eq!(s.inode(), inode(&listener));
    assert_owned_by(s, &me());
    assert_eq!(run.code, 1);
});

#[test]
fn udp_on_ipv4_wildcard_is_exposed_unless_allowed_for_udp() {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    // Port 0 on a wildcard is a port from ip_local_port_range: by default the policy
    // takes such a socket for a client's. Judge it like any socket here.
    let dir = util::TempDir::new("udp-judge");
    let config = dir.path().join("policy.toml");
    std::fs::write(&config, "ephemeral_udp = \"judge\"\n").unwrap();
    let config = config.display().to_string();

    let (run, report) = audit(&["--config", &config]);
    let s = report.one("udp", "0.0.0.0", port);
    assert_judged(s, "ipv4", "wildcard", "public", "exposed");
    assert!(s.ephemeral, "{s:?}");
    assert_eq!(s.rule, None);
    assert_eq!(s.inode(), inode(&socket));
    assert_owned_by(s, &me());
    assert_eq!(run.code, 1);

    let allow_udp = format!("{port}/udp");
    let (_, report) = audit(&["--config", &config, "--allow", &allow_udp]);
    assert_eq!(report.one("udp", "0.0.0.0", port).verdict, "allowed");

    // Allowing the port over TCP says nothing about UDP.
    let allow_tcp = format!("{port}/tcp");
    let (run, report) = audit(&["--config", &config, "--allow", &allow_tcp]);
    assert_eq!(report.one("udp", "0.0.0.0", port).verdict, "exposed");
    assert_eq!(run.code, 1);
}

#[test]
fn udp_on_a_wildcard_ephemeral_port_is_a_client_by_default() {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let (_, report) = audit(&["--no-config"]);
    assert_eq!(
        report.ephemeral_ports.source.as_deref(),
        Some("/proc/sys/net/ipv4/ip_local_port_range")
    );
    let low_high: Vec<u16> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        [report.ephemeral_ports.low, report.ephemeral_ports.high],
        [low_high[0], low_high[1]]
    );
    let s = report.one("udp", "0.0.0.0", port);
    assert!(s.ephemeral, "{s:?}");
    assert_eq!(s.verdict, "allowed");
    assert_eq!(s.rule.as_deref(), Some("default ephemeral-udp"));
    assert!(!s.fails);
}

#[test]
fn connected_udp_socket_is_not_listed() {
    let peer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let connected = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    connected.connect(peer.local_addr().unwrap()).unwrap();
    let peer_port = peer.local_addr().unwrap().port();
    let connected_port = connected.local_addr().unwrap().port();

    let (_, report) = audit(&[]);
    let s = report.one("udp", "127.0.0.1", peer_port);
    assert_eq!(s.verdict, "local");
    assert_eq!(s.inode(), inode(&peer));
    assert_owned_by(s, &me());

    let connected_inode = inode(&connected);
    let listed: Vec<_> = report
        .sockets
        .iter()
        .filter(|s| s.inode() == connected_inode)
        .collect();
    assert!(
        listed.is_empty(),
        "connected udp socket listed: {listed:#?}"
    );
    assert!(
        report.find("udp", "127.0.0.1", connected_port).is_empty(),
        "connected udp port {connected_port} listed:\n{report:#?}"
    );
}

#[test]
fn established_tcp_connection_is_not_a_listener() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();
    assert_eq!(accepted.local_addr().unwrap().port(), port);

    let (_, report) = audit(&[]);
    // The accepted socket shares the listener's port but is no second entry.
    let entries = on_port(&report, "tcp", port);
    assert_eq!(
        entries.len(),
        1,
        "expected only the listener on tcp port {port}: {entries:#?}"
    );
    assert_eq!(entries[0].address, "127.0.0.1");
    assert_eq!(entries[0].inode(), inode(&listener));
    assert_owned_by(entries[0], &me());

    let client_entries = on_port(&report, "tcp", client_port);
    assert!(
        client_entries.is_empty(),
        "client port {client_port} listed: {client_entries:#?}"
    );
    for stream in [&client, &accepted] {
        let stream_inode = inode(stream);
        assert!(
            report.sockets.iter().all(|s| s.inode() != stream_inode),
            "established socket (inode {stream_inode}) listed:\n{report:#?}"
        );
    }
}

#[test]
fn socket_shared_with_a_child_lists_both_processes() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let fd = listener.as_raw_fd();

    // `sleep` inherits the listener as its fd 3, as a forked server worker would.
    let mut cmd = Command::new("sleep");
    cmd.arg("30").stdin(Stdio::null()).stdout(Stdio::null());
    util::inherit_as_fd3(&mut cmd, fd);
    // std's spawn returns after the exec succeeded: the pid is already `sleep`'s.
    let child = Child::spawn(&mut cmd);
    assert_eq!(child.comm().as_deref(), Some("sleep"));

    let (_, report) = audit(&[]);
    let s = report.one("tcp", "127.0.0.1", port);
    assert_eq!(s.inode(), inode(&listener));
    assert_owned_by(s, &me());
    assert_owned_by(
        s,
        &Process {
            pid: child.pid(),
            name: "sleep".into(),
            name_bytes: None,
            exe: Some(util::program_path("sleep")),
            exe_bytes: None,
            uid: Some(euid()),
            user: util::user_name(euid()),
            user_bytes: None,
        },
    );
    let mut pids: Vec<i32> = s.processes.iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(
        pids.len(),
        s.processes.len(),
        "a process is listed twice: {s:#?}"
    );
}

// `--strict` needs a listener on a private (internal) address, which we may not bind
// on an arbitrary host; the fixtures cover it.

patest!(
    unprivileged_run_lists_sockets_without_owners_and_warns_once,
    [Root, Program("setpriv")],
    |_| {
        let (_dir, bin) = util::binary_for_nobody();
        // Held by us, root: nobody may not read our fds, so no owner can be shown.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();

        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .arg("--json")
            .env_remove("NO_COLOR");
        let run = util::run_when_not_busy(&mut cmd);
        assert!(
            run.code == 0 || run.code == 1,
            "an unprivileged audit must still finish (exit 0 or 1):\n{run:#?}"
        );
        let report = run.report();
        let s = report.one("tcp", "127.0.0.1", port);
        assert_eq!(s.uid(), 0);
        assert_eq!(s.user.as_deref(), Some("root"));
        assert_eq!(s.inode(), inode(&listener));
        assert!(
            s.processes.is_empty(),
            "nobody cannot see root's fds, yet: {s:#?}"
        );

        // One warning for the owners it could not see, one for the firewall it could not read.
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "expected two warning lines:\n{}",
            run.stderr
        );
        let line = lines[0];
        assert!(line.contains("permission denied"), "{line}");
        assert!(line.contains("root"), "{line}");
        assert!(
            lines[1].contains("nft") && lines[1].contains("root"),
            "{}",
            lines[1]
        );
        assert_eq!(report.warnings.len(), 2, "{:#?}", report.warnings);
        for (line, warning) in lines.iter().zip(&report.warnings) {
            assert!(line.contains(warning), "{line} vs {warning:?}");
        }
    }
);
