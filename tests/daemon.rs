//! A real daemon: Debian's memcached, each run in a network namespace of its own (root).
//!
//! memcached before 1.5.6 listened on UDP 11211 on every interface by default, which
//! made it a DDoS amplifier; this is the finding portaudit exists to catch. A private
//! namespace gives us fixed addresses and ports without touching the host's network:
//! memcached and portaudit both run inside it, and nothing talks to anything outside.

use std::process::Stdio;
use std::time::Duration;

use crate::netns::{self, Child, NetNs};
use crate::util::{self, Process, Report, Run};

const PORT: u16 = 11211;
const STARTUP: Duration = Duration::from_secs(10);

/// `memcached -l ADDRESS -U 11211 -p 11211 -u nobody` inside `ns`, once it listens.
fn start_memcached(ns: &NetNs, address: &str) -> Child {
    let port = PORT.to_string();
    let mut cmd = ns.exec(
        "memcached",
        ["-l", address, "-U", &port, "-p", &port, "-u", "nobody"],
    );
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut memcached = Child::spawn(&mut cmd);
    // The pid we hold (and will kill) must be memcached's own: `ip netns exec` execs.
    memcached.wait_for_comm("memcached", STARTUP);
    let what = format!(
        "memcached to listen on {address}:{PORT} tcp and udp in netns {}",
        ns.name()
    );
    netns::wait_until(&what, STARTUP, || {
        memcached.assert_running();
        let report = audit(ns, &["--json"]).report();
        let up = !report.find("tcp", address, PORT).is_empty()
            && !report.find("udp", address, PORT).is_empty();
        up.then_some(())
    });
    memcached
}

/// `portaudit ARGS…` inside the namespace.
fn audit(ns: &NetNs, args: &[&str]) -> Run {
    util::run(&mut ns.exec(util::bin(), args))
}

/// The checks both sockets of one memcached share.
fn assert_memcached_sockets(report: &Report, address: &str, memcached: &Process, verdict: &str) {
    assert_eq!(
        report.sockets.len(),
        2,
        "a fresh namespace holds only memcached's two sockets:\n{report:#?}"
    );
    for protocol in ["tcp", "udp"] {
        let s = report.one(protocol, address, PORT);
        assert_eq!(s.family, "ipv4", "{s:#?}");
        assert_eq!(s.verdict, verdict, "{s:#?}");
        assert_eq!(s.user.as_deref(), Some("nobody"), "{s:#?}");
        assert!(
            s.processes.contains(memcached),
            "{memcached:?} missing from the owners of {s:#?}"
        );
    }
    // As root every socket has an owner: nothing to warn about.
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
}

/// How portaudit should name the memcached we started.
fn owner_of(memcached: &Child) -> Process {
    Process {
        pid: memcached.pid(),
        name: "memcached".into(),
        name_bytes: None,
        exe: Some(util::program_path("memcached")),
        exe_bytes: None,
        // Started as root with `-u nobody`: it runs as nobody.
        uid: Some(65534),
        user: util::user_name(65534),
        user_bytes: None,
    }
}

patest!(
    memcached_on_every_interface_is_exposed_over_tcp_and_udp,
    [Root, Program("ip"), Program("memcached")],
    |_| {
        // Locals drop in reverse order: memcached is killed before its namespace is deleted.
        let ns = NetNs::new();
        let memcached = start_memcached(&ns, "0.0.0.0");
        let owner = owner_of(&memcached);

        let run = audit(&ns, &["--json"]);
        assert_eq!(
            run.code, 1,
            "exposed memcached must fail the audit:\n{run:#?}"
        );
        assert!(run.stderr.is_empty(), "{run:#?}");
        let report = run.report();
        assert_eq!(report.summary.exit_code, 1);
        assert_eq!(report.summary.exposed, 2);
        assert_memcached_sockets(&report, "0.0.0.0", &owner, "exposed");
        for protocol in ["tcp", "udp"] {
            let s = report.one(protocol, "0.0.0.0", PORT);
            assert_eq!(s.scope, "wildcard");
            assert_eq!(s.exposure, "public");
        }
        // Started by hand with -l 0.0.0.0: the advice names that flag, not a file that
        // does not set it.
        let advice = report
            .one("tcp", "0.0.0.0", PORT)
            .advice
            .clone()
            .expect("memcached advice");
        assert!(
            advice
                .fix
                .starts_with("memcached was started with -l 0.0.0.0 on its command line, "),
            "{advice:?}"
        );
        assert!(
            advice
                .fix
                .contains("start it with -l 127.0.0.1 (or a private address) instead"),
            "{advice:?}"
        );
        assert!(!advice.fix.contains("/etc/memcached.conf"), "{advice:?}");
        assert_eq!((advice.file, advice.command), (None, None));

        // The table a person reads ends with a summary naming the amplifier.
        let run = audit(&ns, &[]);
        assert_eq!(run.code, 1, "{run:#?}");
        // Its User column says whom memcached runs as; it became nobody before it bound.
        let row = run.stdout.lines().find(|l| l.starts_with("udp ")).unwrap();
        assert!(
            row.contains(" nobody ") && !row.contains("socket:"),
            "{row}"
        );
        let summary = run.stdout.lines().last().unwrap_or_default();
        assert!(
            summary.starts_with("2 listening, 2 exposed"),
            "summary line: {summary:?}\n{}",
            run.stdout
        );
        assert!(summary.contains("11211/udp memcached"), "{summary:?}");
        assert!(summary.contains("11211/tcp memcached"), "{summary:?}");
    }
);

patest!(
    memcached_on_loopback_is_local,
    [Root, Program("ip"), Program("memcached")],
    |_| {
        let ns = NetNs::new();
        let memcached = start_memcached(&ns, "127.0.0.1");
        let owner = owner_of(&memcached);

        let run = audit(&ns, &["--json"]);
        assert_eq!(run.code, 0, "loopback-only memcached is clean:\n{run:#?}");
        let report = run.report();
        assert_eq!(report.summary.exit_code, 0);
        assert_eq!(report.summary.local, 2);
        assert_memcached_sockets(&report, "127.0.0.1", &owner, "local");
        for protocol in ["tcp", "udp"] {
            let s = report.one(protocol, "127.0.0.1", PORT);
            assert_eq!(s.scope, "loopback");
            assert_eq!(s.exposure, "none");
        }
    }
);
