//! Policy for real servers, end to end through the binary: the policy file and its
//! rules, advisory mode, service advice, ephemeral UDP, drift baselines, Prometheus
//! output, and the generated man page and completions.

use std::path::{Path, PathBuf};

use crate::util::{Report, Run, TempDir, copy_tree, fixture, run_args};

fn proc_root(scenario: &str) -> String {
    fixture(scenario).join("proc").display().to_string()
}

fn example_policy() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/portaudit.toml")
        .display()
        .to_string()
}

/// `portaudit --json --proc-root TREE ARGS…`, checked to be a report whose exit_code is
/// the process's.
fn audit_json(root: &str, extra: &[&str]) -> (Report, Run) {
    let mut args = vec!["--json", "--proc-root", root];
    args.extend_from_slice(extra);
    let run = run_args(&args);
    let report = run.report();
    assert_eq!(run.code, i32::from(report.summary.exit_code), "{run:#?}");
    (report, run)
}

/// A copy of a fixture's proc tree that a test may change.
fn tree_copy(scenario: &str, label: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(label);
    let root = dir.path().join("proc");
    copy_tree(&fixture(scenario).join("proc"), &root);
    (dir, root)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The `mixed` fixture with its node_exporter's executable where Debian's package puts
/// it (the capture keeps no `exe` links).
fn mixed_with_node_exporter_exe() -> (TempDir, String) {
    let (report, _) = audit_json(&proc_root("mixed"), &[]);
    let pid = report.one("tcp", "fd00::10", 9100).processes[0].pid;
    let (dir, root) = tree_copy("mixed", "node-exporter-exe");
    std::os::unix::fs::symlink(
        "/usr/bin/prometheus-node-exporter",
        root.join(pid.to_string()).join("exe"),
    )
    .unwrap();
    (dir, root.display().to_string())
}

#[test]
fn example_policy_decides_each_socket_and_names_the_rule() {
    let config = example_policy();
    let (_dir, root) = mixed_with_node_exporter_exe();
    let (report, run) = audit_json(&root, &["--config", &config]);
    assert_eq!(run.code, 1);
    assert_eq!(report.policy_file.as_deref(), Some(config.as_str()));
    let rule = |proto, addr, port| {
        let s = report.one(proto, addr, port);
        (s.verdict.as_str(), s.rule.as_deref(), s.fails)
    };
    // memcached is never reachable, on any port
    assert_eq!(
        rule("udp", "0.0.0.0", 11211),
        ("denied", Some("no reachable redis or memcached"), true)
    );
    // nothing may listen on UDP publicly
    assert_eq!(
        rule("udp", "::", 5353),
        ("denied", Some("no public UDP"), true)
    );
    // the node exporter may expose 9100/tcp, known by its executable
    assert_eq!(
        rule("tcp", "fd00::10", 9100),
        ("allowed", Some("node exporter"), false)
    );
    // anything on loopback is fine
    assert_eq!(
        rule("tcp", "127.0.0.1", 5432),
        ("local", Some("loopback is fine"), false)
    );
    // the default allowlist still applies after the file's rules
    assert_eq!(
        rule("tcp", "0.0.0.0", 22),
        ("allowed", Some("default 22/tcp"), false)
    );
    // no rule matched: judged by its exposure
    assert_eq!(rule("tcp", "0.0.0.0", 3000), ("exposed", None, true));
    assert_eq!(rule("tcp", "10.1.2.3", 8080), ("internal", None, false));
    assert_eq!(report.summary.denied, 2);
    assert_eq!(report.summary.exposed, 3);

    // The table names the rule in a column of its own.
    let table = run_args(&[
        "--color",
        "never",
        "--proc-root",
        &root,
        "--config",
        &config,
    ]);
    let header = table.stdout.lines().next().unwrap();
    assert!(header.trim_end().ends_with("Verdict   Rule"), "{header}");
    let memcached = table.stdout.lines().find(|l| l.contains("11211")).unwrap();
    assert!(
        memcached.contains("DENIED") && memcached.ends_with("no reachable redis or memcached"),
        "{memcached}"
    );
    assert!(
        table
            .stdout
            .lines()
            .last()
            .unwrap()
            .contains("2 denied: 5353/udp avahi-daemon, 11211/udp memcached"),
        "{}",
        table.stdout
    );
}

#[test]
fn a_socket_with_no_known_owner_is_never_allowed_by_a_process_rule() {
    // node_exporter's process is gone from the tree: its socket has no known owner.
    let (report, _) = audit_json(&proc_root("mixed"), &[]);
    let pid = report.one("tcp", "fd00::10", 9100).processes[0].pid;
    let (_dir, root) = tree_copy("mixed", "unowned");
    std::fs::remove_dir_all(root.join(pid.to_string())).unwrap();
    let root = root.display().to_string();
    let (report, run) = audit_json(&root, &["--config", &example_policy()]);
    let s = report.one("tcp", "fd00::10", 9100);
    assert!(s.processes.is_empty());
    assert_eq!(s.verdict, "denied", "{s:?}");
    assert_eq!(s.rule.as_deref(), Some("9100 is the node exporter's"));
    // One warning names the rule that could not be applied and the socket.
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("judged without knowing its owners"))
        .unwrap_or_else(|| panic!("{:?}", report.warnings));
    assert!(
        warning.contains("(\"node exporter\") was skipped for [fd00::10]:9100/tcp"),
        "{warning}"
    );
    assert!(run.stderr.contains(warning.as_str()), "{run:#?}");
}

#[test]
fn rules_match_address_user_and_port_ranges() {
    let dir = TempDir::new("rules");
    let config = dir.path().join("p.toml");
    write(
        &config,
        r#"
[[rule]]
name = "private java"
address = ["10.0.0.0/8", "100.64.0.0/10"]
port = "8080-8081/tcp"
action = "allow"

[[rule]]
name = "nobody's"
user = "nobody"
action = "deny"

[[rule]]
name = "by uid"
user = 0
port = 9000
action = "allow"
"#,
    );
    let config = config.display().to_string();
    let (report, _) = audit_json(&proc_root("mixed"), &["--config", &config]);
    let s = |proto, addr, port| {
        let s = report.one(proto, addr, port);
        (s.verdict.clone(), s.rule.clone())
    };
    let named = |v: &str, r: &str| (v.to_string(), Some(r.to_string()));
    assert_eq!(s("tcp", "10.1.2.3", 8080), named("allowed", "private java"));
    assert_eq!(
        s("tcp", "100.64.0.7", 8081),
        named("allowed", "private java")
    );
    assert_eq!(s("tcp", "169.254.10.1", 8082), ("internal".into(), None));
    assert_eq!(s("tcp", "0.0.0.0", 3000), named("denied", "nobody's"));
    assert_eq!(s("tcp", "192.0.2.10", 9000), named("allowed", "by uid"));
}

#[test]
fn advisory_mode_reports_everything_and_exits_zero() {
    let (report, run) = audit_json(&proc_root("mixed"), &["--advisory"]);
    assert_eq!(run.code, 0);
    assert!(report.summary.advisory);
    assert_eq!(report.summary.exposed, 5);
    assert!(report.one("udp", "0.0.0.0", 11211).fails);

    let dir = TempDir::new("advisory");
    let config = dir.path().join("p.toml");
    write(&config, "mode = \"advisory\"\n");
    let config = config.display().to_string();
    let table = run_args(&[
        "--color",
        "never",
        "--proc-root",
        &proc_root("mixed"),
        "--config",
        &config,
    ]);
    assert_eq!(table.code, 0, "{table:#?}");
    let summary = table.stdout.lines().last().unwrap();
    assert!(summary.ends_with("[advisory: exit 0]"), "{summary}");
    assert!(
        table.stdout.contains("EXPOSED"),
        "what would fail still shows"
    );

    // Advisory is about findings: an audit that could not be done is still exit 2.
    let broken = run_args(&["--advisory", "--proc-root", &proc_root("malformed")]);
    assert_eq!(broken.code, 2, "{broken:#?}");
}

#[test]
fn bad_policy_files_exit_2_naming_file_and_line() {
    let dir = TempDir::new("bad-policy");
    let config = dir.path().join("p.toml");
    let name = config.display().to_string();
    for (text, says) in [
        (
            "[[rule]]\naction = \"allow\"\naddress = \"10.0.0.0/40\"\n",
            format!("portaudit: {name}:3: [[rule]] 1: address \"10.0.0.0/40\": prefix length"),
        ),
        (
            "strict = true\n[[rule]]\nport = 22\n",
            format!("portaudit: {name}:2: missing field `action`"),
        ),
        (
            "\n\nmode = \"loud\"\n",
            format!("portaudit: {name}:3: unknown variant `loud`"),
        ),
    ] {
        write(&config, text);
        let run = run_args(&["--config", &name, "--proc-root", &proc_root("clean")]);
        assert_eq!(run.code, 2, "{text:?}: {run:#?}");
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
        assert!(run.stderr.starts_with(&says), "{text:?}: {:?}", run.stderr);
    }
    let missing = dir.path().join("nonesuch.toml").display().to_string();
    let run = run_args(&["--config", &missing, "--proc-root", &proc_root("clean")]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!("portaudit: cannot read {missing}: no such file or directory\n")
    );
    let both = run_args(&["--config", &missing, "--no-config"]);
    assert_eq!(both.code, 2, "{both:#?}");
    assert!(both.stderr.contains("--no-config"), "{both:#?}");
}

#[test]
fn exposed_findings_carry_advice() {
    let (report, _) = audit_json(&proc_root("mixed"), &[]);
    let memcached = report.one("udp", "0.0.0.0", 11211);
    let advice = memcached.advice.as_ref().expect("memcached advice");
    assert_eq!(advice.service, "memcached");
    assert_eq!(advice.severity, "critical");
    assert!(advice.why.contains("amplifier"), "{advice:?}");
    assert!(advice.fix.contains("-U 0") && advice.fix.contains("-l 127.0.0.1"));
    assert_eq!(
        report
            .one("tcp", "2001:db8::10", 9200)
            .advice
            .as_ref()
            .unwrap()
            .service,
        "elasticsearch"
    );
    // Not exposed: no advice, even for a dangerous port.
    assert_eq!(report.one("tcp", "127.0.0.1", 5432).advice, None);
    assert_eq!(report.one("tcp", "0.0.0.0", 22).advice, None);

    let table = run_args(&["--color", "never", "--proc-root", &proc_root("mixed")]);
    let lines: Vec<&str> = table.stdout.lines().collect();
    let advice_line = lines
        .iter()
        .position(|l| l.starts_with("11211/udp memcached (critical): "))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(lines[advice_line].contains("Fix: disable UDP"));
    assert!(
        advice_line < lines.len() - 1,
        "the summary stays the last line"
    );
}

#[test]
fn ephemeral_udp_follows_the_trees_port_range() {
    // Without the sysctl in the tree, the kernel's default range is assumed and said.
    let (report, _) = audit_json(&proc_root("mixed"), &[]);
    assert_eq!(
        (
            report.ephemeral_ports.low,
            report.ephemeral_ports.high,
            report.ephemeral_ports.source.clone()
        ),
        (32768, 60999, None)
    );
    assert!(!report.one("udp", "0.0.0.0", 11211).ephemeral);

    // A tree whose range covers 11211: memcached's wildcard UDP socket looks like a client's.
    let (_dir, root) = tree_copy("mixed", "ephemeral");
    let sysctl = root.join("sys/net/ipv4/ip_local_port_range");
    write(&sysctl, "10000\t12000\n");
    let root = root.display().to_string();
    let (report, _) = audit_json(&root, &[]);
    assert_eq!(
        report.ephemeral_ports.source.as_deref(),
        Some(sysctl.display().to_string().as_str())
    );
    let s = report.one("udp", "0.0.0.0", 11211);
    assert!(s.ephemeral);
    assert_eq!(
        (s.verdict.as_str(), s.rule.as_deref()),
        ("allowed", Some("default ephemeral-udp"))
    );
    // TCP on the same port, and UDP on a specific address, are never ephemeral.
    assert!(!report.one("udp", "127.0.0.53", 53).ephemeral);
    let table = run_args(&["--color", "never", "--proc-root", &root]);
    let row = table.stdout.lines().find(|l| l.contains("11211")).unwrap();
    assert!(row.ends_with("allowed (ephemeral)"), "{row}");

    // The policy decides: judge them like any other socket.
    let dir = TempDir::new("judge");
    let config = dir.path().join("p.toml");
    write(&config, "ephemeral_udp = \"judge\"\n");
    let config = config.display().to_string();
    let (report, _) = audit_json(&root, &["--config", &config]);
    let s = report.one("udp", "0.0.0.0", 11211);
    assert!(s.ephemeral);
    assert_eq!((s.verdict.as_str(), s.rule.as_deref()), ("exposed", None));

    // A range file that is not a range stops the audit.
    write(&sysctl, "garbage\n");
    let run = run_args(&["--proc-root", &root]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with(&format!("portaudit: {}: ", sysctl.display())),
        "{run:#?}"
    );
}

#[test]
fn baseline_fails_on_new_listeners_and_reports_removed_ones() {
    let dir = TempDir::new("baseline");
    let file = dir.path().join("baseline.json");
    let name = file.display().to_string();

    // A clean host saves its baseline; the audit itself runs as usual.
    let saved = run_args(&["--proc-root", &proc_root("clean"), "--save-baseline", &name]);
    assert_eq!(saved.code, 0, "{saved:#?}");
    assert!(file.is_file());

    // Same listeners, new pids (a restart): no drift.
    let (report, _) = audit_json(&proc_root("clean"), &[]);
    let (_tree, restarted) = tree_copy("clean", "restarted");
    for pid in report
        .sockets
        .iter()
        .flat_map(|s| s.processes.iter().map(|p| p.pid))
    {
        let (old, new) = (
            restarted.join(pid.to_string()),
            restarted.join((pid + 50000).to_string()),
        );
        if old.exists() {
            std::fs::rename(old, new).unwrap();
        }
    }
    let restarted = restarted.display().to_string();
    let (report, run) = audit_json(&restarted, &["--baseline", &name]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        report
            .sockets
            .iter()
            .all(|s| s.drift.as_deref() == Some("known"))
    );
    let baseline = report.baseline.as_ref().unwrap();
    assert_eq!((baseline.new, baseline.removed.len()), (0, 0));
    assert_eq!(baseline.file, name);

    // Everything allowed, so only drift can fail: new listeners fail, removed ones do not.
    let all = "1-65535";
    let (report, run) = audit_json(&proc_root("mixed"), &["--allow", all, "--baseline", &name]);
    assert_eq!(report.summary.exposed, 0);
    assert_eq!(run.code, 1, "new listeners are drift: {run:#?}");
    let memcached = report.one("udp", "0.0.0.0", 11211);
    assert_eq!(memcached.drift.as_deref(), Some("new"));
    assert!(memcached.fails, "one decision: what fails the gate says so");
    assert_eq!(report.summary.drift, baseline_new(&report));
    assert_eq!(
        report.summary.failing,
        report.sockets.iter().filter(|s| s.fails).count()
    );
    assert!(report.summary.failing > 0);
    let sshd = report.one("tcp", "0.0.0.0", 22);
    assert_eq!(sshd.drift.as_deref(), Some("known"), "{sshd:?}");
    let baseline = report.baseline.as_ref().unwrap();
    assert!(baseline.new > 0);
    assert!(
        baseline
            .removed
            .iter()
            .any(|k| k.protocol == "udp" && k.port == 323 && k.class == "loopback"),
        "chronyd is gone: {baseline:?}"
    );
    let table = run_args(&[
        "--color",
        "never",
        "--proc-root",
        &proc_root("mixed"),
        "--allow",
        all,
        "--baseline",
        &name,
    ]);
    assert_eq!(table.code, 1);
    assert!(table.stdout.contains("ALLOWED (new)"), "{}", table.stdout);
    let last = table
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" listening, "))
        .unwrap();
    assert!(last.contains(" new since the baseline: "), "{last}");
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.contains(" gone since ") && l.contains("323/udp loopback chronyd")),
        "{}",
        table.stdout
    );
    // Advisory: drift is reported, exit 0.
    let (_, run) = audit_json(
        &proc_root("mixed"),
        &["--allow", all, "--baseline", &name, "--advisory"],
    );
    assert_eq!(run.code, 0);

    // A file that is not a baseline: exit 2, naming it.
    write(&file, "{\"listeners\": 3}\n");
    let run = run_args(&["--proc-root", &proc_root("clean"), "--baseline", &name]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with(&format!("portaudit: {name}:1: not a portaudit baseline")),
        "{run:#?}"
    );
}

#[test]
fn prometheus_textfile_output() {
    let run = run_args(&["--format", "prometheus", "--proc-root", &proc_root("mixed")]);
    assert_eq!(run.code, 1, "the exit code is still the verdict's");
    let mut samples = std::collections::BTreeMap::new();
    for line in run.stdout.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line:?}"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "duplicate series {series}"
        );
    }
    assert_eq!(samples["portaudit_listening_sockets"], 20.0);
    assert_eq!(samples["portaudit_exposed_sockets"], 5.0);
    assert_eq!(samples["portaudit_sockets{verdict=\"internal\"}"], 5.0);
    assert_eq!(samples["portaudit_audit_success"], 1.0);
    assert_eq!(samples["portaudit_exit_code"], 1.0);
    assert!(samples["portaudit_audit_timestamp_seconds"] > 1.6e9);
    let memcached = "portaudit_exposed_socket{protocol=\"udp\",port=\"11211\",address=\"0.0.0.0\",\
                     address_class=\"wildcard\",process=\"memcached\",verdict=\"exposed\"}";
    assert_eq!(samples.get(memcached), Some(&1.0), "{}", run.stdout);
    let exposed = samples
        .keys()
        .filter(|k| k.starts_with("portaudit_exposed_socket{"))
        .count();
    assert_eq!(exposed, 5);
    for name in samples.keys() {
        let metric = name.split('{').next().unwrap();
        assert!(
            run.stdout.contains(&format!("# TYPE {metric} gauge\n")),
            "{metric} has a TYPE line"
        );
    }
}

#[test]
fn json_is_short_for_format_json_and_no_other_format() {
    let root = proc_root("clean");
    let long = run_args(&["--format", "json", "--proc-root", &root]);
    let short = run_args(&["--json", "--proc-root", &root]);
    assert_eq!(long.report().sockets.len(), short.report().sockets.len());
    run_args(&["--json", "--format", "json", "--proc-root", &root]).report();
    for args in [
        &["--json", "--format", "table"][..],
        &["--format", "table", "--json"][..],
    ] {
        let run = run_args(&[args, &["--proc-root", &root][..]].concat());
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            run.stderr,
            "portaudit: --json and --format table cannot be used together: --json is --format \
             json\n"
        );
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn man_page_completions_help_and_version() {
    for (what, says) in [
        ("man", ".TH portaudit"),
        ("bash", "_portaudit()"),
        ("zsh", "#compdef portaudit"),
        ("fish", "complete -c portaudit"),
    ] {
        let run = run_args(&["--generate", what]);
        assert_eq!(run.code, 0, "{run:#?}");
        assert!(
            run.stdout.contains(says),
            "--generate {what}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("baseline"),
            "--generate {what} knows the flags"
        );
    }
    let help = run_args(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("Examples:\n  portaudit "),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("portaudit --config policy.toml"));
    let version = run_args(&["--version"]);
    assert_eq!(
        version.stdout,
        format!("portaudit {}\n", env!("CARGO_PKG_VERSION"))
    );
    let bad = run_args(&["--generate", "tcsh"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn prometheus_output_writes_the_textfile_whole_and_says_when_the_audit_failed() {
    let dir = TempDir::new("textfile");
    let file = dir.path().join("portaudit.prom");
    let output = file.to_str().unwrap();
    let write = |args: &[&str]| {
        run_args(
            &[
                &["--format", "prometheus", "--output", output, "--no-config"],
                args,
            ]
            .concat(),
        )
    };
    let names = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let ok = write(&["--proc-root", &proc_root("mixed")]);
    assert_eq!(ok.code, 1, "something is exposed: {ok:#?}");
    assert_eq!(ok.stdout, "", "the metrics go to the file: {ok:#?}");
    assert_eq!(
        names(),
        ["portaudit.prom"],
        "no temporary file is left behind"
    );
    let metrics = std::fs::read_to_string(&file).unwrap();
    assert!(
        metrics.contains("\nportaudit_audit_success 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nportaudit_exposed_sockets 5\n"),
        "{metrics}"
    );
    // node_exporter runs as another user: readable by all, whatever the umask.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644);

    // A corrupted row: the rest is still reported, marked incomplete.
    let partial = write(&["--proc-root", &proc_root("malformed")]);
    assert_eq!(partial.code, 1, "{partial:#?}");
    let metrics = std::fs::read_to_string(&file).unwrap();
    assert!(
        metrics.contains("\nportaudit_audit_complete 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nportaudit_audit_success 1\n"),
        "{metrics}"
    );

    // No audit at all (a policy that does not parse): success 0, exit code 2, the time,
    // and nothing of the audit before.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[rule]\n").unwrap();
    let failed = run_args(&[
        "--format",
        "prometheus",
        "--output",
        output,
        "--config",
        bad.to_str().unwrap(),
        "--proc-root",
        &proc_root("clean"),
    ]);
    assert_eq!(failed.code, 2, "{failed:#?}");
    assert!(
        failed.stderr.contains(&bad.display().to_string()),
        "{failed:#?}"
    );
    let metrics = std::fs::read_to_string(&file).unwrap();
    assert!(
        metrics.contains("\nportaudit_audit_success 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nportaudit_exit_code 2\n"), "{metrics}");
    assert!(
        metrics.contains("\nportaudit_audit_timestamp_seconds "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("portaudit_listening_sockets"),
        "{metrics}"
    );

    // Other formats: the report goes to the file; a failed audit leaves it as it was.
    let json = dir.path().join("audit.json");
    let run = run_args(&[
        "--json",
        "--output",
        json.to_str().unwrap(),
        "--no-config",
        "--proc-root",
        &proc_root("clean"),
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let text = std::fs::read_to_string(&json).unwrap();
    let report: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(report.summary.exit_code, 0);
    let failed = run_args(&[
        "--json",
        "--output",
        json.to_str().unwrap(),
        "--config",
        bad.to_str().unwrap(),
        "--proc-root",
        &proc_root("clean"),
    ]);
    assert_eq!(failed.code, 2, "{failed:#?}");
    assert_eq!(std::fs::read_to_string(&json).unwrap(), text);
}

/// docs/fleet.md's cron line is the package's command, with the package's binary: a
/// recipe that drifts from what is installed fails silently on the first day.
#[test]
fn the_cron_recipe_runs_the_packaged_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fleet = std::fs::read_to_string(root.join("docs/fleet.md")).unwrap();
    let cron = fleet
        .split("```crontab\n")
        .nth(1)
        .and_then(|block| block.lines().next())
        .expect("docs/fleet.md has a crontab block");
    let command = cron
        .strip_prefix("*/5 * * * * root ")
        .expect("every 5 minutes, as root");
    let unit =
        std::fs::read_to_string(root.join("packaging/systemd/portaudit-textfile.service")).unwrap();
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    assert_eq!(command, exec_start);
    assert!(command.starts_with("/usr/bin/portaudit "), "{command}");
    // No example unit may shadow the package's hardened ones.
    for example in std::fs::read_dir(root.join("examples/prometheus")).unwrap() {
        let name = example.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".service") && !name.ends_with(".timer"),
            "examples/prometheus/{name}"
        );
    }
}

fn baseline_new(report: &Report) -> usize {
    report.baseline.as_ref().map_or(0, |b| b.new)
}

#[test]
fn saving_a_baseline_says_so_and_keeps_the_audits_exit_code() {
    let dir = TempDir::new("baseline-note");
    let file = dir.path().join("baseline.json");
    let name = file.display().to_string();
    let root = proc_root("mixed");

    // The mixed host exposes ports: the audit's verdict (1) and its table are unchanged
    // by saving, and one line under them says the file was written, and with what.
    let plain = run_args(&["--proc-root", &root]);
    assert_eq!(plain.code, 1, "{plain:#?}");
    let saved = run_args(&["--proc-root", &root, "--save-baseline", &name]);
    assert_eq!(saved.code, 1, "{saved:#?}");
    assert_eq!(saved.stdout, plain.stdout);
    let text = std::fs::read_to_string(&file).unwrap();
    let written: crate::util::BaselineFile = serde_json::from_str(&text).unwrap();
    assert_eq!(written.portaudit_baseline, 1);
    assert!(written.listeners.len() > 1, "{written:#?}");
    let line = format!(
        "portaudit: baseline saved to {name} ({} listeners)\n",
        written.listeners.len()
    );
    assert_eq!(
        saved.stderr,
        format!("{}{line}", plain.stderr),
        "{saved:#?}"
    );

    // With --json too: stdout stays one JSON document, the line goes to stderr.
    let (report, run) = audit_json(&root, &["--save-baseline", &name]);
    assert_eq!(run.code, 1);
    assert!(!report.sockets.is_empty());
    assert!(run.stderr.ends_with(&line), "{run:#?}");

    // A save that fails is the run's error: exit 2, one line naming the file, no report
    // and no claim that it was saved.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(
        blocked.join("inside"),
        "keeps the directory from being replaced",
    )
    .unwrap();
    let blocked = blocked.display().to_string();
    let failed = run_args(&["--proc-root", &root, "--save-baseline", &blocked]);
    assert_eq!(failed.code, 2, "{failed:#?}");
    assert_eq!(failed.stderr.lines().count(), 1, "{failed:#?}");
    assert!(
        failed.stderr.starts_with("portaudit: ") && failed.stderr.contains(&blocked),
        "{failed:#?}"
    );
    assert!(!failed.stderr.contains("baseline saved"), "{failed:#?}");
    assert!(failed.stdout.is_empty(), "{failed:#?}");
}

#[test]
fn a_missing_baseline_or_its_directory_says_how_to_make_it() {
    let dir = TempDir::new("no-baseline-dir");
    let root = proc_root("mixed");
    let missing_dir = dir.path().join("portaudit");
    let file = missing_dir.join("baseline.json").display().to_string();
    let shown = missing_dir.display().to_string();
    for flag in ["--save-baseline", "--baseline"] {
        let run = run_args(&["--no-config", "--proc-root", &root, flag, &file]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            run.stderr,
            format!(
                "portaudit: {flag} {file}: the directory {shown} does not exist: create it with \
                 install -d -m 0700 {shown} (the Debian package creates /var/lib/portaudit)\n"
            )
        );
        assert!(run.stdout.is_empty(), "decided before the audit: {run:#?}");
    }
    // The directory is there, the baseline is not yet: save one first.
    std::fs::create_dir(&missing_dir).unwrap();
    let run = run_args(&["--no-config", "--proc-root", &root, "--baseline", &file]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert_eq!(
        run.stderr,
        format!(
            "portaudit: --baseline {file}: no such file: save one first with portaudit \
             --save-baseline {file}\n"
        )
    );
    let run = run_args(&[
        "--no-config",
        "--proc-root",
        &root,
        "--save-baseline",
        &file,
    ]);
    assert_ne!(run.code, 2, "{run:#?}");
    assert!(Path::new(&file).is_file());
}
