//! Table shapes that must never read as "no sockets", and rows that must never merge:
//! `shared-inode`, `cr-only` and `bad-header` are `clean` with one table changed (each
//! fixture's README says how), audited through `--proc-root`.

use std::collections::BTreeSet;

use crate::util::{Report, binds, fixture, run_args};

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
