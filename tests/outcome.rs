//! One decision: the exit code, each socket's `fails`, the summary, the table's last line
//! and the Prometheus series all say the same thing, over every captured fixture and
//! the flags that change the outcome. And the flags that cannot take effect together.

use std::path::{Path, PathBuf};

use crate::util::{self, Report, Run, TempDir, run_args};

/// Every captured tree under tests/fixtures (a directory with a `proc` inside).
fn scenarios() -> Vec<(String, PathBuf)> {
    let mut all: Vec<(String, PathBuf)> = std::fs::read_dir(util::fixture(""))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("proc"))
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into();
            (name, p)
        })
        .collect();
    all.sort();
    assert!(all.len() >= 5, "fixtures missing: {all:?}");
    all
}

fn run_with(proc_root: &Path, format: &[&str], flags: &[String]) -> Run {
    let mut args: Vec<String> = vec!["--proc-root".into(), proc_root.display().to_string()];
    args.extend(format.iter().map(|f| f.to_string()));
    args.extend(flags.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_args(&args)
}

/// The value of an unlabelled gauge in the Prometheus text.
fn gauge(text: &str, name: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
}

#[test]
fn every_output_reads_the_same_outcome() {
    let dir = TempDir::new("outcome");
    // A baseline of one fixture, compared against all the others: drift fails too.
    let baseline = dir.path().join("clean.json");
    let clean = util::fixture("clean").join("proc");
    let saved = run_with(
        &clean,
        &["--json"],
        &["--save-baseline".into(), baseline.display().to_string()],
    );
    assert!(saved.code == 0 || saved.code == 1, "{saved:#?}");
    let flag_sets: Vec<Vec<String>> = [
        &[][..],
        &["--strict"],
        &["--advisory"],
        &["--no-default-allow"],
        &["--allow", "1-65535"],
        &["--strict", "--no-default-allow"],
        &["--allow", "1-65535", "--baseline", "BASELINE"],
        &["--baseline", "BASELINE"],
        &["--baseline", "BASELINE", "--advisory"],
    ]
    .iter()
    .map(|set| {
        set.iter()
            .map(|f| f.replace("BASELINE", &baseline.display().to_string()))
            .collect()
    })
    .collect();
    let mut checked = 0;
    for (name, proc_root) in scenarios() {
        for flags in &flag_sets {
            let what = format!("{name} {flags:?}");
            let json = run_with(&proc_root, &["--json"], flags);
            let report: Report = json.report();
            let failing = report.sockets.iter().filter(|s| s.fails).count();
            let advisory = flags.iter().any(|f| f == "--advisory");
            let expected = if failing > 0 && !advisory {
                1
            } else if !report.summary.complete {
                2
            } else {
                0
            };
            assert_eq!(json.code, expected, "{what}: exit code vs fails\n{json:#?}");
            assert_eq!(report.summary.exit_code as i32, json.code, "{what}");
            assert_eq!(report.summary.failing, failing, "{what}");
            let drifted = report
                .sockets
                .iter()
                .filter(|s| s.fails && s.drift.as_deref() == Some("new"))
                .count();
            assert_eq!(report.summary.drift, drifted, "{what}");
            // Every socket that is new since the baseline fails; none that is known does
            // unless its verdict fails.
            for s in &report.sockets {
                if s.drift.as_deref() == Some("new") {
                    assert!(s.fails, "{what}: new but not failing: {s:#?}");
                }
                if s.ephemeral {
                    assert_eq!(
                        s.drift, None,
                        "{what}: ephemeral UDP is never drift: {s:#?}"
                    );
                }
            }

            let table = run_with(&proc_root, &["--color", "never"], flags);
            assert_eq!(table.code, json.code, "{what}: table vs JSON");
            let last = table
                .stdout
                .lines()
                .rev()
                .find(|l| l.contains(" listening, "))
                .unwrap_or_else(|| panic!("{what}: no summary line:\n{}", table.stdout));
            assert!(
                last.contains(&format!(" {} exposed", report.summary.exposed)),
                "{what}: {last}"
            );
            if report.summary.drift > 0 {
                assert!(
                    last.contains(&format!("{} new since the baseline", report.summary.drift)),
                    "{what}: {last}"
                );
            }

            let prom = run_with(&proc_root, &["--format", "prometheus"], flags);
            assert_eq!(prom.code, json.code, "{what}: prometheus vs JSON");
            assert_eq!(
                gauge(&prom.stdout, "portaudit_exit_code"),
                json.code as usize
            );
            assert_eq!(
                gauge(&prom.stdout, "portaudit_exposed_sockets"),
                failing,
                "{what}"
            );
            let series: usize = prom
                .stdout
                .lines()
                .filter_map(|l| l.strip_prefix("portaudit_exposed_socket{"))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
                .sum();
            assert_eq!(
                series, failing,
                "{what}: one series per failing socket group"
            );
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked} combinations");
}

#[test]
fn a_restarted_udp_client_is_not_drift() {
    // A client socket on 0.0.0.0 in the ephemeral range gets a new port on every start:
    // the baseline must not fail on it.
    let dir = TempDir::new("ephemeral-drift");
    let before = dir.path().join("before");
    util::copy_tree(&util::fixture("clean").join("proc"), &before);
    let ephemeral_row = |port: u16, inode: u32| {
        format!(
            "  900: 00000000:{port:04X} 00000000:0000 07 00000000:00000000 00:00000000 00000000   \
             101        0 {inode} 2 0000000000000000 0\n"
        )
    };
    let udp = before.join("net/udp");
    let mut text = std::fs::read_to_string(&udp).unwrap();
    text.push_str(&ephemeral_row(40001, 990001));
    std::fs::write(&udp, &text).unwrap();
    let baseline = dir.path().join("baseline.json");
    let saved = run_args(&[
        "--proc-root",
        &before.display().to_string(),
        "--save-baseline",
        &baseline.display().to_string(),
        "--json",
    ]);
    let report = saved.report();
    assert!(
        report.one("udp", "0.0.0.0", 40001).ephemeral,
        "the fixture's client socket is ephemeral: {report:#?}"
    );
    let saved_text = std::fs::read_to_string(&baseline).unwrap();
    assert!(!saved_text.contains("40001"), "{saved_text}");

    // The restart: same client, another port.
    let text = text.replace(&ephemeral_row(40001, 990001), &ephemeral_row(51234, 990002));
    std::fs::write(&udp, text).unwrap();
    let run = run_args(&[
        "--proc-root",
        &before.display().to_string(),
        "--baseline",
        &baseline.display().to_string(),
        "--json",
    ]);
    let report = run.report();
    let client = report.one("udp", "0.0.0.0", 51234);
    assert!(client.ephemeral);
    assert_eq!(client.drift, None);
    assert!(!client.fails);
    assert_eq!(report.baseline.as_ref().unwrap().new, 0, "{report:#?}");
    assert_eq!(run.code, saved.code, "{run:#?}");
}

#[test]
fn flags_that_cannot_take_effect_together_are_usage_errors() {
    let proc_root = util::fixture("clean").join("proc").display().to_string();
    let ruleset = util::fixture("nft")
        .join("inet-basic.json")
        .display()
        .to_string();
    let cases: [(&[&str], &[&str]); 2] = [
        (
            &["--trust-firewall", "--no-firewall"],
            &["--trust-firewall", "--no-firewall"],
        ),
        (
            &["--trust-firewall", "--proc-root", &proc_root],
            &["--trust-firewall", "--proc-root", "--ruleset"],
        ),
    ];
    for (args, named) in cases {
        let run = run_args(args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert_eq!(run.stdout, "", "{args:?}");
        let line = run.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{args:?}: one line: {line}");
        for flag in named {
            assert!(line.contains(flag), "{args:?}: {line} should name {flag}");
        }
    }
    // With the ruleset that --proc-root's host has, it takes effect.
    let run = run_args(&[
        "--trust-firewall",
        "--proc-root",
        &proc_root,
        "--ruleset",
        &ruleset,
        "--json",
    ]);
    assert_ne!(run.code, 2, "{run:#?}");
}
