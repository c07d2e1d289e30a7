//! `--port`, `--process`, `--pid`, `--protocol`: what users opened ss and lsof for ("what
//! is on port 80", "what does pid 123 listen on"). The audit, its exit code and its
//! summary cover the selected sockets, and say so; bad values exit 2 with one line.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::netns;
use crate::util::{self, Report, Run, TempDir, fixture, run_args};

fn mixed() -> String {
    fixture("mixed").join("proc").display().to_string()
}

fn json(extra: &[&str]) -> (Report, Run) {
    let root = mixed();
    let run = run_args(&[&["--json", "--no-config", "--proc-root", &root][..], extra].concat());
    let report = run.report();
    assert_eq!(run.code, i32::from(report.summary.exit_code), "{run:#?}");
    (report, run)
}

fn table(extra: &[&str]) -> Run {
    let root = mixed();
    run_args(
        &[
            &["--color", "never", "--no-config", "--proc-root", &root][..],
            extra,
        ]
        .concat(),
    )
}

/// (protocol, address, port) of every socket in the report.
fn places(report: &Report) -> Vec<(String, String, u16)> {
    let mut places: Vec<_> = report
        .sockets
        .iter()
        .map(|s| (s.protocol.clone(), s.address.clone(), s.port))
        .collect();
    places.sort();
    places
}

#[test]
fn a_port_selects_its_sockets_and_the_exit_code_is_theirs() {
    let (all, run) = json(&[]);
    assert_eq!(run.code, 1, "something in the fixture is exposed");
    assert_eq!(all.summary.selection, None);
    let total = all.sockets.len();

    // Port 80 is nginx's, allowed by default: clean, whatever else is exposed.
    let (report, run) = json(&["--port", "80"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(places(&report), [("tcp".into(), "::".into(), 80)]);
    let selection = report.summary.selection.as_ref().unwrap();
    assert_eq!(
        (selection.selected, selection.of, selection.unsure),
        (1, total, 0)
    );
    assert_eq!(selection.filters, ["--port 80"]);
    assert_eq!(report.summary.listening, 1);

    // memcached's port fails, and the summary line says what was selected.
    let run = table(&["--port", "11211"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let summary = run.stdout.lines().last().unwrap();
    assert!(
        summary.starts_with(&format!(
            "1 of {total} sockets selected (--port 11211), 1 exposed: 11211/udp memcached"
        )),
        "{summary}"
    );
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .take_while(|l| !l.starts_with("11211/"))
        .collect();
    assert_eq!(rows.len(), 2, "the header and memcached's row: {run:#?}");

    // Lists and ranges, as --allow takes them, and a service name.
    let (report, _) = json(&["--port", "22,8080-8082/tcp"]);
    let mut ports: Vec<u16> = places(&report).iter().map(|p| p.2).collect();
    ports.sort_unstable();
    assert_eq!(ports, [22, 22, 8080, 8081, 8082]);
    let (by_name, _) = json(&["--port", "ssh"]);
    assert_eq!(by_name.sockets.len(), 2);

    // Prometheus: the selected count, and how many there were.
    let run = table(&["--format", "prometheus", "--port", "80"]);
    assert!(
        run.stdout.contains("\nportaudit_listening_sockets 1\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("\nportaudit_audited_sockets {total}\n")),
        "{}",
        run.stdout
    );
}

#[test]
fn a_process_a_pid_and_a_protocol_select_too() {
    let (all, _) = json(&[]);
    let nginx = all.one("tcp", "::", 80);
    let pid = nginx.processes[0].pid;

    let (report, _) = json(&["--process", "nginx"]);
    assert_eq!(places(&report), [("tcp".into(), "::".into(), 80)]);
    let (report, _) = json(&["--pid", &pid.to_string()]);
    assert_eq!(places(&report), [("tcp".into(), "::".into(), 80)]);
    assert_eq!(
        report.summary.selection.unwrap().filters,
        [format!("--pid {pid}")]
    );

    // Kinds are ANDed, values of one kind ORed.
    let (report, run) = json(&["--protocol", "udp", "--process", "memcached,avahi-daemon"]);
    assert_eq!(
        places(&report),
        [
            ("udp".into(), "0.0.0.0".into(), 11211),
            ("udp".into(), "::".into(), 5353)
        ]
    );
    assert_eq!(run.code, 1);
    let (report, _) = json(&["--protocol", "tcp", "--process", "memcached"]);
    assert!(report.sockets.is_empty());
    assert_eq!(report.summary.exit_code, 0);
    // Nothing selected is clean, and a warning says the selection was empty.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("--process memcached --protocol tcp selected none of the")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn bad_selections_exit_2_with_one_line() {
    for (args, says) in [
        (
            &["--port", "0"][..],
            "invalid --port value \"0\": port 0 is out of range",
        ),
        (
            &["--port", "nonesuch"],
            "invalid --port value \"nonesuch\": unknown service",
        ),
        (
            &["--port", "80/sctp"],
            "invalid --port value \"80/sctp\": unknown protocol",
        ),
        (
            &["--pid", "abc"],
            "invalid --pid value \"abc\": expected a process id",
        ),
        (
            &["--pid", "-3"],
            "invalid --pid value \"-3\": expected a process id",
        ),
        (
            &["--protocol", "sctp"],
            "invalid --protocol value \"sctp\": unknown protocol",
        ),
        (&["--process", ""], "invalid --process value \"\""),
        (
            &["--process", "nginx", "--no-processes"],
            "--process and --pid cannot go with --no-processes",
        ),
        (
            &["--port", "80", "--save-baseline", "/nonexistent/b.json"],
            "--save-baseline cannot go with --port 80",
        ),
    ] {
        let run = table(args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(
            run.stderr.starts_with(&format!("portaudit: {says}")),
            "{args:?}: {run:#?}"
        );
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
}

patest!(
    a_socket_with_no_owner_seen_is_selected_and_counted,
    [Root, Program("setpriv")],
    |_| {
        // api-server (6474) keeps its fds from anyone but root, as other users' processes
        // do from a user who is not root: as nobody, its socket's owner is unknown.
        let dir = TempDir::new("select-unseen");
        util::copy_tree(&fixture("mixed").join("proc"), dir.path());
        let locked = dir.path().join("6474/fd");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        let (_bin_dir, bin) = util::binary_for_nobody();
        let root = dir.path().display().to_string();
        let run = util::run_when_not_busy(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&bin)
                .args([
                    "--json",
                    "--no-config",
                    "--proc-root",
                    &root,
                    "--process",
                    "nginx",
                ]),
        );
        let report = run.report();
        // nginx's own socket, and the one whose owner could not be seen (it may be nginx);
        // not the sockets of other processes that were seen.
        assert_eq!(
            places(&report),
            [
                ("tcp".into(), "127.0.0.1".into(), 4000),
                ("tcp".into(), "::".into(), 80)
            ]
        );
        let selection = report.summary.selection.as_ref().unwrap();
        assert_eq!(
            (selection.selected, selection.unsure),
            (2, 1),
            "{selection:?}"
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("selected because") && w.contains("run as root")),
            "{:?}",
            report.warnings
        );
    }
);
