//! Table shapes that must never read as "no sockets", and rows that must never merge:
//! `shared-inode`, `cr-only` and `bad-header` are `clean` with one table changed (each
//! fixture's README says how), audited through `--proc-root`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::netns::{self, Child, NetNs};
use crate::util::{Report, TempDir, binds, fixture, run_args};

fn audit(scenario: &str, extra: &[&str]) -> (Report, i32, String) {
    let root = fixture(scenario).join("proc").display().to_string();
    let mut args = vec!["--json", "--no-config", "--proc-root", &root];
    args.extend_from_slice(extra);
    let out = run_args(&args);
    let report = out.report();
    assert_eq!(out.code, i32::from(report.summary.exit_code), "{out:#?}");
    (report, out.code, out.stderr)
}

#[test]
fn two_binds_sharing_an_inode_are_two_listeners_and_the_wildcard_is_exposed() {
    // The loopback row comes first: merged on the inode alone, it hid the wildcard row
    // and the audit said "0 exposed", exit 0.
    let (report, code, _) = audit("shared-inode", &[]);
    assert_eq!(code, 1, "{report:#?}");
    let wildcard = report.one("tcp", "0.0.0.0", 5432);
    assert_eq!(
        (wildcard.verdict.as_str(), wildcard.fails),
        ("exposed", true)
    );
    let loopback = report.one("tcp", "127.0.0.1", 5432);
    assert_eq!(loopback.inode, wildcard.inode);
    for socket in [wildcard, loopback] {
        let names: Vec<&str> = socket.processes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["postgres"], "{socket:#?}");
    }
    let reported: BTreeSet<(String, String, u16)> = report
        .sockets
        .iter()
        .map(|s| (s.protocol.clone(), s.address.clone(), s.port))
        .collect();
    let bound: BTreeSet<(String, String, u16)> = binds("shared-inode")
        .into_iter()
        .map(|b| (b.protocol, b.address, b.port))
        .collect();
    assert_eq!(reported, bound);
    assert!(
        report.summary.complete && report.warnings.is_empty(),
        "{report:#?}"
    );
}

#[test]
fn cr_only_line_endings_are_incomplete_never_empty() {
    let (report, code, stderr) = audit("cr-only", &[]);
    assert_eq!(
        code, 2,
        "a table we cannot read is not a table without sockets"
    );
    assert!(!report.summary.complete);
    let path = fixture("cr-only").join("proc/net/tcp");
    let warning = format!("{}:1: line endings are not LF", path.display());
    assert!(
        report.warnings.iter().any(|w| w.starts_with(&warning)),
        "{:?}",
        report.warnings
    );
    assert!(stderr.contains(&warning), "{stderr}");
    // The tables that could be read are still judged.
    report.one("udp", "127.0.0.1", 323);
    report.one("tcp", "::", 443);

    // The table says so too, and the warning names the file on stderr.
    let root = fixture("cr-only").join("proc").display().to_string();
    let out = run_args(&["--color", "never", "--no-config", "--proc-root", &root]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stdout.contains("INCOMPLETE"), "{}", out.stdout);
    assert!(out.stderr.contains(&warning), "{}", out.stderr);
}

#[test]
fn a_header_that_is_not_the_kernels_is_incomplete() {
    let (report, code, _) = audit("bad-header", &[]);
    assert_eq!(code, 2, "{report:#?}");
    assert!(!report.summary.complete);
    let path = fixture("bad-header").join("proc/net/udp");
    assert!(
        report.warnings.iter().any(|w| w.starts_with(&format!(
            "{}:1: expected the table's header line",
            path.display()
        ))),
        "{:?}",
        report.warnings
    );
    assert!(report.find("udp", "127.0.0.1", 323).is_empty());
    report.one("tcp", "127.0.0.1", 5432);
}

#[test]
fn incomplete_still_fails_on_what_it_could_read() {
    // Without the default allowlist sshd and nginx are exposed: exit 1 beats exit 2.
    let (report, code, _) = audit("bad-header", &["--no-default-allow"]);
    assert_eq!(code, 1);
    assert!(!report.summary.complete);
    assert_eq!(report.summary.exposed, 2, "{report:#?}");
}

/// `portaudit --json ARGS` inside `ns`.
fn audit_in(ns: &NetNs, args: &[&str]) -> Value {
    let mut all = vec!["--json", "--no-config"];
    all.extend_from_slice(args);
    let out = crate::util::run(&mut ns.exec(crate::util::bin(), all));
    assert!(matches!(out.code, 0 | 1), "{out:#?}");
    serde_json::from_str(&out.stdout).unwrap()
}

fn socket_on(report: &Value, protocol: &str, port: u16) -> Value {
    report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["protocol"] == protocol && s["port"] == port)
        .unwrap_or_else(|| panic!("no {protocol} socket on {port}: {report:#}"))
        .clone()
}

patest!(
    every_process_sharing_a_socket_is_an_owner,
    [Root, Program("python3")],
    |_| {
        // The owner scan shares the processes out among threads: forty processes holding
        // one socket must all be found, whichever thread read them.
        let ns = NetNs::new();
        let dir = TempDir::new("shared-owners");
        let info = dir.path().join("info");
        let script = r#"
import ctypes, os, signal, socket, sys
libc = ctypes.CDLL(None)
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
pids = [os.getpid()]
for _ in range(40):
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with the parent
        if os.getppid() != pids[0]:
            os._exit(0)
        while True:
            signal.pause()
    pids.append(pid)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(" ".join(map(str, [s.getsockname()[1], *pids])))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    signal.pause()
"#;
        let _holder =
            Child::spawn(&mut ns.exec("python3", ["-c", script, &info.display().to_string()]));
        let numbers: Vec<i64> = netns::wait_until("the holder", Duration::from_secs(20), || {
            std::fs::read_to_string(&info).ok()
        })
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
        let (port, pids) = (u16::try_from(numbers[0]).unwrap(), &numbers[1..]);
        let report = audit_in(&ns, &["--no-firewall"]);
        let socket = socket_on(&report, "tcp", port);
        let mut owners: Vec<i64> = socket["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_i64().unwrap())
            .collect();
        assert!(owners.is_sorted(), "owners in pid order: {owners:?}");
        owners.sort_unstable();
        let mut want = pids.to_vec();
        want.sort_unstable();
        // (`processes_complete` is not asserted: another user's process on a shared test
        // host may be out of reach even to root.)
        assert_eq!(owners, want);
    }
);

patest!(
    with_no_nftables_table_the_firewall_is_judged_as_nft_would,
    [Root, Program("python3"), Program("nft")],
    |_| {
        // Without a table portaudit does not start nft (the kernel says there is none); the
        // answer must be the one nft's own listing gives, and a table must still be seen.
        let ns = NetNs::new();
        let dir = TempDir::new("no-tables");
        let info = dir.path().join("port");
        let script = r#"
import os, signal, socket, sys
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    signal.pause()
"#;
        let _holder =
            Child::spawn(&mut ns.exec("python3", ["-c", script, &info.display().to_string()]));
        let port: u16 = netns::wait_until("the holder", Duration::from_secs(20), || {
            std::fs::read_to_string(&info).ok()
        })
        .parse()
        .unwrap();
        let nft = |args: &[&str]| {
            let out = ns.exec("nft", args).output().unwrap();
            assert!(out.status.success(), "nft {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let judged = |args: &[&str]| {
            let report = audit_in(&ns, args);
            let socket = socket_on(&report, "tcp", port);
            (socket["firewall"].clone(), socket["firewall_why"].clone())
        };
        let saved = dir.path().join("ruleset.json");
        std::fs::write(&saved, nft(&["-j", "list", "ruleset"])).unwrap();
        let saved = saved.display().to_string();
        let without_tables = judged(&["--no-processes"]);
        assert_eq!(
            without_tables,
            judged(&["--no-processes", "--ruleset", &saved])
        );

        // A table with an input hook that drops: nft runs and its answer is read.
        nft(&[
            "add table inet pa; add chain inet pa input { type filter hook input priority 0; policy drop; }",
        ]);
        assert_eq!(judged(&["--no-processes"]).0, "dropped");
        nft(&["delete table inet pa"]);
        assert_eq!(judged(&["--no-processes"]), without_tables);
    }
);
