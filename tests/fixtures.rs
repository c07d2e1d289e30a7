//! Captured proc trees (tests/fixtures, made by capture.sh from a live kernel) audited
//! through `--proc-root`: what a user sees in the table, the JSON and the exit code.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, Report, TempDir, binds, fixture, run_args};

fn proc_root(scenario: &str) -> String {
    fixture(scenario).join("proc").display().to_string()
}

fn audit_json(scenario: &str, extra: &[&str]) -> (Report, i32) {
    let root = proc_root(scenario);
    let mut args = vec!["--json", "--proc-root", &root];
    args.extend_from_slice(extra);
    let out = run_args(&args);
    let report = out.report();
    assert_eq!(out.code, i32::from(report.summary.exit_code), "{out:#?}");
    (report, out.code)
}

fn audit_table(scenario: &str, extra: &[&str]) -> util::Run {
    let root = proc_root(scenario);
    let mut args = vec!["--color", "never", "--proc-root", &root];
    args.extend_from_slice(extra);
    run_args(&args)
}

/// The listeners portaudit reports must be exactly those the capture script bound.
fn assert_same_listeners(scenario: &str) {
    let (report, _) = audit_json(scenario, &[]);
    let reported: BTreeSet<(String, String, u16)> = report
        .sockets
        .iter()
        .map(|s| (s.protocol.clone(), s.address.clone(), s.port))
        .collect();
    let bound: BTreeSet<(String, String, u16)> = binds(scenario)
        .into_iter()
        .filter(|b| b.listens)
        .map(|b| (b.protocol, b.address, b.port))
        .collect();
    assert_eq!(
        reported, bound,
        "{scenario}: reported listeners differ from binds.txt"
    );
    assert_eq!(report.sockets.len(), report.summary.listening);

    for bind in binds(scenario).iter().filter(|b| b.listens) {
        for socket in report.find(&bind.protocol, &bind.address, bind.port) {
            assert!(
                socket.processes.iter().any(|p| p.name == bind.comm),
                "{scenario}: {}:{} should be owned by {}: {socket:?}",
                bind.address,
                bind.port,
                bind.comm
            );
        }
    }
}

#[test]
fn listeners_match_what_was_bound() {
    for scenario in ["mixed", "clean", "memcached", "no-ipv6", "busy", "userns"] {
        assert_same_listeners(scenario);
    }
}

#[test]
fn busy_tables_past_9999_rows_with_time_wait_and_reuseport_groups() {
    let tcp = std::fs::read_to_string(fixture("busy").join("proc/net/tcp")).unwrap();
    // The shapes this scenario exists for, as the kernel printed them.
    assert!(
        tcp.lines().any(|l| l.starts_with("10000: ")),
        "`sl` past 9999 has no leading space"
    );
    let time_wait = tcp
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some("06"))
        .inspect(|l| {
            assert_eq!(
                l.split_whitespace().nth(9),
                Some("0"),
                "TIME_WAIT has inode 0: {l}"
            )
        })
        .count();
    assert!(time_wait >= 10_000, "{time_wait} TIME_WAIT rows");
    let udp6 = std::fs::read_to_string(fixture("busy").join("proc/net/udp6")).unwrap();
    let buckets: Vec<&str> = udp6
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        buckets.len() >= 3 && buckets.iter().all(|b| *b == buckets[0]),
        "one bucket: {buckets:?}"
    );

    let (report, code) = audit_json("busy", &[]);
    assert_eq!(code, 1);
    assert!(
        report.summary.complete && report.warnings.is_empty(),
        "{:#?}",
        report.warnings
    );
    let listening = binds("busy").iter().filter(|b| b.listens).count();
    assert_eq!(report.sockets.len(), listening);
    let nginx = report.find("tcp", "0.0.0.0", 8080);
    let inodes: BTreeSet<u64> = nginx.iter().map(|s| s.inode()).collect();
    assert_eq!(
        (nginx.len(), inodes.len()),
        (4, 4),
        "every socket of the group, once"
    );

    let out = audit_table("busy", &[]);
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(" 8080 "))
        .collect();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert!(rows[0].contains("/nginx (4 sockets)"), "{}", rows[0]);
}

#[test]
fn tables_read_in_a_user_namespace_show_the_overflow_uid() {
    let (report, code) = audit_json("userns", &[]);
    assert_eq!(
        code, 1,
        "node on 0.0.0.0:3000 is exposed whatever its uid says"
    );
    for s in &report.sockets {
        assert_eq!(s.uid(), 65534, "{s:?}");
    }
    assert_eq!(report.one("tcp", "0.0.0.0", 22).verdict, "allowed");
    assert_eq!(report.one("tcp", "0.0.0.0", 3000).verdict, "exposed");
    assert_eq!(report.one("udp", "127.0.0.1", 323).verdict, "local");
}

#[test]
fn established_and_connected_sockets_are_not_listeners() {
    let (report, _) = audit_json("mixed", &[]);
    let nonlisteners: Vec<_> = binds("mixed").into_iter().filter(|b| !b.listens).collect();
    assert!(
        nonlisteners.len() >= 3,
        "the fixture should have an established pair and a connected UDP socket"
    );
    for b in nonlisteners {
        let still_listening = binds("mixed").iter().any(|l| {
            l.listens && l.protocol == b.protocol && l.address == b.address && l.port == b.port
        });
        let found = report.find(&b.protocol, &b.address, b.port);
        // An accepted connection shares its listener's port: only the listener may show.
        let expected = usize::from(still_listening);
        assert_eq!(
            found.len(),
            expected,
            "{b:?} must not be reported as a listener: {found:?}"
        );
    }
}

#[test]
fn every_address_class_is_classified_and_judged() {
    let (report, code) = audit_json("mixed", &[]);
    let expect = |proto: &str, addr: &str, port: u16, family, scope, exposure, verdict| {
        let s = report.one(proto, addr, port);
        assert_eq!(
            (
                s.family.as_str(),
                s.scope.as_str(),
                s.exposure.as_str(),
                s.verdict.as_str()
            ),
            (family, scope, exposure, verdict),
            "{proto} {addr}:{port}"
        );
    };
    expect(
        "tcp", "0.0.0.0", 22, "ipv4", "wildcard", "public", "allowed",
    );
    expect("tcp", "::", 22, "ipv6", "wildcard", "public", "allowed");
    expect("tcp", "::", 80, "ipv6", "wildcard", "public", "allowed");
    expect(
        "tcp", "0.0.0.0", 3000, "ipv4", "wildcard", "public", "exposed",
    );
    expect(
        "tcp",
        "127.0.0.1",
        5432,
        "ipv4",
        "loopback",
        "none",
        "local",
    );
    expect("tcp", "::1", 6379, "ipv6", "loopback", "none", "local");
    expect(
        "tcp", "10.1.2.3", 8080, "ipv4", "specific", "internal", "internal",
    );
    expect(
        "tcp",
        "100.64.0.7",
        8081,
        "ipv4",
        "specific",
        "internal",
        "internal",
    );
    expect(
        "tcp",
        "169.254.10.1",
        8082,
        "ipv4",
        "specific",
        "internal",
        "internal",
    );
    expect(
        "tcp",
        "192.0.2.10",
        9000,
        "ipv4",
        "specific",
        "public",
        "exposed",
    );
    expect(
        "tcp", "fd00::10", 9100, "ipv6", "specific", "internal", "internal",
    );
    expect(
        "tcp",
        "2001:db8::10",
        9200,
        "ipv6",
        "specific",
        "public",
        "exposed",
    );
    expect(
        "tcp",
        "::ffff:127.0.0.1",
        7000,
        "ipv6",
        "loopback",
        "none",
        "local",
    );
    expect(
        "tcp",
        "::ffff:10.1.2.3",
        7001,
        "ipv6",
        "specific",
        "internal",
        "internal",
    );
    expect(
        "udp", "0.0.0.0", 11211, "ipv4", "wildcard", "public", "exposed",
    );
    expect("udp", "::", 5353, "ipv6", "wildcard", "public", "exposed");
    expect("udp", "127.0.0.53", 53, "ipv4", "loopback", "none", "local");
    expect("udp", "::1", 123, "ipv6", "loopback", "none", "local");
    assert_eq!(code, 1);
    let s = &report.summary;
    assert_eq!((s.exposed, s.internal, s.allowed, s.local), (5, 5, 3, 7));
    assert!(!s.strict);
}

#[test]
fn owners_users_and_shared_sockets() {
    let (report, _) = audit_json("mixed", &[]);
    let node = report.one("tcp", "0.0.0.0", 3000);
    assert_eq!((node.uid(), node.user.as_deref()), (65534, Some("nobody")));
    let sshd = report.one("tcp", "0.0.0.0", 22);
    assert_eq!((sshd.uid(), sshd.user.as_deref()), (0, Some("root")));
    assert_ne!(sshd.inode(), 0);

    let nginx = report.one("tcp", "::", 80);
    assert_eq!(
        nginx.processes.len(),
        2,
        "master and worker share the socket: {nginx:?}"
    );
    assert!(nginx.processes.iter().all(|p| p.name == "nginx"));
    assert_ne!(nginx.processes[0].pid, nginx.processes[1].pid);

    // The pids and inode are the fixture's own: read them back from its fd links.
    let fd_dirs: Vec<PathBuf> = nginx
        .processes
        .iter()
        .map(|p| {
            fixture("mixed")
                .join("proc")
                .join(p.pid.to_string())
                .join("fd")
        })
        .collect();
    for dir in fd_dirs {
        let links: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                std::fs::read_link(e.unwrap().path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert!(
            links.contains(&format!("socket:[{}]", nginx.inode())),
            "{}: {links:?}",
            dir.display()
        );
    }
}

#[test]
fn sorted_by_severity_then_port() {
    let (report, _) = audit_json("mixed", &[]);
    let rank = |v: &str| {
        ["exposed", "internal", "allowed", "local"]
            .iter()
            .position(|x| *x == v)
            .unwrap()
    };
    let keys: Vec<(usize, u16)> = report
        .sockets
        .iter()
        .map(|s| (rank(&s.verdict), s.port))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn allow_flags_change_verdicts_and_exit_code() {
    // Allow everything exposed in `mixed`: internal findings remain, which only --strict fails.
    let exposed = "3000/tcp,5353/udp,9000/tcp,9200";
    let (report, code) = audit_json("mixed", &["--allow", exposed, "--allow", "11211/udp"]);
    assert_eq!(
        (code, report.summary.exposed, report.summary.internal),
        (0, 0, 5)
    );
    assert_eq!(report.one("tcp", "192.0.2.10", 9000).verdict, "allowed");

    let (_, code) = audit_json(
        "mixed",
        &["--allow", exposed, "--allow", "11211/udp", "--strict"],
    );
    assert_eq!(code, 1, "--strict fails on internal findings");

    let (report, code) = audit_json(
        "mixed",
        &[
            "--strict",
            "--allow",
            exposed,
            "--allow",
            "11211/udp,7001,8080-8082/tcp,9100/tcp",
        ],
    );
    assert_eq!((code, report.summary.internal), (0, 0));
    assert!(report.summary.strict);

    // A protocol that does not match leaves the socket exposed.
    let (report, _) = audit_json("memcached", &["--allow", "11211/tcp"]);
    assert_eq!(report.one("tcp", "0.0.0.0", 11211).verdict, "allowed");
    assert_eq!(report.one("udp", "0.0.0.0", 11211).verdict, "exposed");
}

#[test]
fn default_allowlist_and_service_names() {
    let (report, code) = audit_json("clean", &[]);
    assert_eq!((code, report.summary.exposed), (0, 0));

    let (report, code) = audit_json("clean", &["--no-default-allow"]);
    assert_eq!(code, 1);
    assert_eq!(report.one("tcp", "0.0.0.0", 22).verdict, "exposed");
    assert_eq!(report.one("tcp", "::", 443).verdict, "exposed");

    let (_, code) = audit_json("clean", &["--no-default-allow", "--allow", "ssh,https"]);
    assert_eq!(code, 0);
}

#[test]
fn memcached_as_shipped_before_1_5_6_is_exposed() {
    let (report, code) = audit_json("memcached", &[]);
    assert_eq!(code, 1);
    for proto in ["tcp", "udp"] {
        let s = report.one(proto, "0.0.0.0", 11211);
        assert_eq!(s.verdict, "exposed");
        assert_eq!(s.user.as_deref(), Some("nobody"));
        assert_eq!(s.processes.len(), 1, "{s:?}");
        assert_eq!(s.processes[0].name, "memcached");
    }
    let out = audit_table("memcached", &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("2 listening, 2 exposed: 11211/tcp memcached, 11211/udp memcached"),
        "{}",
        out.stdout
    );
}

#[test]
fn table_shows_every_column_and_marks_exposed_rows() {
    let out = audit_table("mixed", &[]);
    assert_eq!(out.code, 1);
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "Proto",
            "Local Address",
            "Port",
            "Scope",
            "Process",
            "User",
            "Verdict"
        ]
    );
    let memcached = out.stdout.lines().find(|l| l.contains("11211")).unwrap();
    let cells: Vec<&str> = memcached.split_whitespace().collect();
    assert_eq!(cells[0], "udp");
    assert_eq!(cells[1], "0.0.0.0");
    assert_eq!(cells[3], "wildcard");
    assert!(cells[4].ends_with("/memcached"), "{memcached}");
    assert_eq!(cells[6], "EXPOSED");
    let shared = out.stdout.lines().find(|l| l.contains(" 80 ")).unwrap();
    assert_eq!(shared.matches("/nginx").count(), 2, "{shared}");
    let loopback = out.stdout.lines().find(|l| l.contains("5432")).unwrap();
    assert!(loopback.trim_end().ends_with("local"), "{loopback}");
    let summary = out.stdout.lines().last().unwrap();
    assert!(
        summary.starts_with("20 listening, 5 exposed: "),
        "{summary}"
    );
    assert!(
        summary.contains("11211/udp memcached") && summary.contains("5 internal"),
        "{summary}"
    );
    assert!(
        !out.stdout.contains('\x1b'),
        "no colour unless asked: {:?}",
        out.stdout
    );
    assert!(
        out.stdout.lines().all(|l| l == l.trim_end()),
        "no trailing blanks"
    );
}

#[test]
fn clean_host_exits_zero_with_a_summary() {
    let out = audit_table("clean", &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout.lines().last(), Some("4 listening, 0 exposed"));
    assert_eq!(out.stderr, "");
}

#[test]
fn missing_ipv6_tables_are_normal() {
    assert!(!fixture("no-ipv6").join("proc/net/tcp6").exists());
    let out = audit_table("no-ipv6", &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stderr, "");
}

/// The line `malformed/README` says was corrupted.
fn malformed_line() -> usize {
    let note = std::fs::read_to_string(fixture("malformed").join("README")).unwrap();
    note.split("line ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn malformed_row_is_a_warning_naming_file_and_line_and_the_rest_is_judged() {
    let line = malformed_line();
    let expected = format!("malformed/proc/net/tcp:{line}: bad local address \"ZZZZZZZZ:0016\"");
    // `mixed` exposes sockets: the lost row cannot make that any better, so exit 1.
    let (report, code) = audit_json("malformed", &[]);
    assert_eq!(code, 1);
    assert!(!report.summary.complete);
    assert_eq!(report.summary.exit_code, 1);
    assert_eq!(report.warnings.len(), 1, "{:#?}", report.warnings);
    assert!(
        report.warnings[0].contains(&expected),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings[0].contains("incomplete"),
        "{:?}",
        report.warnings
    );
    // Every other socket of `mixed` is still there: one bad row costs only that row.
    let (whole, _) = audit_json("mixed", &[]);
    assert_eq!(report.sockets.len(), whole.sockets.len() - 1);

    let out = audit_table("malformed", &[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(out.stderr.lines().count(), 1, "one warning: {}", out.stderr);
    assert!(
        out.stderr.starts_with("portaudit: warning: ") && out.stderr.contains(&expected),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.lines().last().unwrap().contains("INCOMPLETE"),
        "{}",
        out.stdout
    );
}

#[test]
fn malformed_row_on_an_otherwise_clean_host_exits_2() {
    // `clean` with one row spoiled the way `malformed` spoils `mixed`.
    let dir = TempDir::new("clean-malformed");
    util::copy_tree(&fixture("clean").join("proc"), dir.path());
    let tcp = dir.path().join("net/tcp");
    let text = std::fs::read_to_string(&tcp).unwrap();
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    let colon = lines[1].find(':').unwrap();
    lines[1].replace_range(colon + 2..colon + 10, "ZZZZZZZZ");
    std::fs::write(&tcp, lines.join("\n")).unwrap();
    let root = dir.path().display().to_string();

    let out = run_args(&["--json", "--proc-root", &root]);
    assert_eq!(
        out.code, 2,
        "a row we could not read might have been a listener: {out:#?}"
    );
    let report = out.report();
    assert_eq!(
        (report.summary.exit_code, report.summary.complete),
        (2, false)
    );
    assert_eq!(report.summary.exposed, 0);
    assert_eq!(
        report.sockets.len(),
        3,
        "the other sockets are still reported"
    );
    assert!(
        report.warnings[0].contains("net/tcp:2: bad local address"),
        "{:?}",
        report.warnings
    );

    let out = run_args(&["--color", "never", "--proc-root", &root]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stdout.contains("INCOMPLETE"), "{}", out.stdout);
}

#[test]
fn unreadable_or_missing_tables_are_errors_and_empty_ones_incomplete() {
    let dir = TempDir::new("missing-tcp");
    util::copy_tree(&fixture("clean").join("proc"), dir.path());
    std::fs::remove_file(dir.path().join("net/tcp")).unwrap();
    let out = run_args(&["--proc-root", &dir.path().display().to_string()]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        format!(
            "portaudit: cannot read {}/net/tcp: no such file or directory\n",
            dir.path().display()
        )
    );

    // An empty table is not one without sockets: the audit is incomplete (exit 2).
    std::fs::write(dir.path().join("net/tcp"), "").unwrap();
    let out = run_args(&["--proc-root", &dir.path().display().to_string()]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.contains("INCOMPLETE"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("net/tcp:1: expected the table's header line"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for (args, says) in [
        (
            &["--allow", "70000"][..],
            "invalid --allow value \"70000\": port 70000 is out of range (1-65535)",
        ),
        (
            &["--allow", "80/sctp"][..],
            "invalid --allow value \"80/sctp\": unknown protocol \"sctp\"",
        ),
        (
            &["--allow", "no-such-service"][..],
            "invalid --allow value \"no-such-service\": unknown service \"no-such-service\"",
        ),
        (
            &["--allow", "9-1"][..],
            "range start 9 is greater than its end 1",
        ),
        (
            &["--proc-root", "/nonexistent/proc"][..],
            "--proc-root /nonexistent/proc: not a directory",
        ),
    ] {
        let out = run_args(args);
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
        assert!(
            out.stderr.starts_with("portaudit: ") && out.stderr.contains(says),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert_eq!(out.stdout, "");
    }
    let out = run_args(&["--no-such-flag"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let out = audit_table("memcached", &["--color", "always"]);
    assert!(
        out.stdout.contains("\x1b["),
        "--color always colours: {:?}",
        out.stdout
    );

    // On a real terminal (util-linux `script` gives the program a pty): colour by default,
    // none with NO_COLOR.
    let on_tty = |no_color: bool| {
        let command = format!(
            "{} --no-config --proc-root {}",
            util::bin(),
            proc_root("memcached")
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().expect("script(1) from util-linux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(
        coloured.contains("EXPOSED") && coloured.contains("\x1b["),
        "{coloured:?}"
    );
    let plain = on_tty(true);
    assert!(
        plain.contains("EXPOSED") && !plain.contains("\x1b["),
        "{plain:?}"
    );
}

#[test]
fn hostile_process_names_cannot_reach_the_terminal() {
    let dir = TempDir::new("hostile");
    util::copy_tree(&fixture("memcached").join("proc"), dir.path());
    let pid = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.parse::<u32>().is_ok())
        .unwrap();
    // ESC to clear the screen, a bidi override, a bell, and a byte that is not UTF-8.
    std::fs::write(
        dir.path().join(&pid).join("comm"),
        b"ev\x1b[2Jil\xe2\x80\xaex\x07\xff\n",
    )
    .unwrap();
    let root = dir.path().display().to_string();

    let out = run_args(&["--color", "never", "--proc-root", &root]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("ev\\x1b[2Jil\\u{202e}x\\x07\\xff"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains('\x1b')
            && !out.stdout.contains('\u{202e}')
            && !out.stdout.contains('\x07')
    );

    let out = run_args(&["--json", "--proc-root", &root]);
    let report = out.report();
    let process = &report.one("tcp", "0.0.0.0", 11211).processes[0];
    assert_eq!(process.name, "ev\x1b[2Jil\u{202e}x\x07\u{fffd}");
    assert_eq!(
        process.name_bytes.as_deref(),
        Some(&b"ev\x1b[2Jil\xe2\x80\xaex\x07\xff"[..]),
        "the original bytes are kept"
    );
    let (untouched, _) = audit_json("memcached", &[]);
    let process = &untouched.one("tcp", "0.0.0.0", 11211).processes[0];
    assert_eq!(
        process.name_bytes, None,
        "name_bytes only when comm is not UTF-8"
    );
    assert_eq!(process.exe, None, "a captured tree has no exe links");
}

#[test]
fn closed_stdout_ends_quietly_with_the_verdicts_code() {
    for reader in ["head -1", "head -c1", "true"] {
        for format in ["", "--json"] {
            let args = format!("{format} --proc-root '{}'", proc_root("memcached"));
            let (code, stderr) = util::behind_a_pipe(&args, reader);
            assert_eq!(code, "1", "`portaudit {format} | {reader}` must exit 1");
            assert_eq!(stderr, "", "no panic or error on a closed pipe");
        }
    }
}
