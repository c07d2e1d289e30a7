//! The table as a person sees it: it fits the terminal (TIOCGWINSZ, `COLUMNS`,
//! `--width`), piped output keeps one whole line per row, and owners we could only
//! partly see are marked `+?`. Snapshots of the `mixed` fixture at 80, 120 and 200
//! columns; src/report/tests.rs has those of long IPv6 addresses and hostile names.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::netns;
use crate::util::{self, Run, TempDir, fixture};

fn mixed() -> String {
    fixture("mixed").join("proc").display().to_string()
}

/// The `mixed` fixture's table, piped, with these flags.
fn table(extra: &[&str]) -> Run {
    let root = mixed();
    let mut args = vec!["--color", "never", "--proc-root", &root];
    args.extend_from_slice(extra);
    util::run_args(&args)
}

/// Display columns, counting each character as one: the fixture's text is ASCII but
/// for `→` and `…`.
fn columns(line: &str) -> usize {
    line.chars().count()
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            columns(line) <= width,
            "wider than {width}: {line:?}\n{text}"
        );
    }
}

#[test]
fn the_mixed_fixture_at_80_120_and_200_columns() {
    for width in [80, 120, 200] {
        let run = table(&["--width", &width.to_string()]);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_fits(&run.stdout, width);
        // Addresses and names stay whole: each is a cell of its own row.
        for token in [
            " ::ffff:127.0.0.1 ",
            " 2001:db8::10 ",
            " 6454/elasticsearch ",
        ] {
            assert!(
                run.stdout.contains(token),
                "{token} at {width}:\n{}",
                run.stdout
            );
        }
        // The rows and what was left out; the prose under them (advice, summary) is
        // other modules' wording, and src/report/tests.rs snapshots its wrapping.
        let rows: Vec<&str> = run
            .stdout
            .lines()
            .take_while(|l| l.starts_with(['t', 'u', 'P', 'N']))
            .collect();
        assert!(rows.len() > 20, "{}", run.stdout);
        insta::assert_snapshot!(format!("mixed_{width}"), rows.join("\n"));
    }
}

#[test]
fn piped_output_keeps_one_whole_line_per_row() {
    let piped = table(&[]);
    // Nothing asks for a width: COLUMNS is for terminals, and `--width 0` means none.
    let with_columns = util::run(
        util::portaudit()
            .args(["--color", "never", "--proc-root", &mixed()])
            .env("COLUMNS", "40"),
    );
    assert_eq!(with_columns.stdout, piped.stdout);
    assert_eq!(table(&["--width", "0"]).stdout, piped.stdout);
    // A header, then one line per socket: 20 of them.
    let rows: Vec<&str> = piped.stdout.lines().take(21).collect();
    assert!(
        rows[0].starts_with("Proto  Local Address"),
        "{}",
        piped.stdout
    );
    for row in &rows[1..] {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert!(cells.len() >= 7, "{row}");
    }
    assert!(
        piped
            .stdout
            .lines()
            .nth(21)
            .unwrap()
            .starts_with("9200/tcp elasticsearch"),
        "{}",
        piped.stdout
    );
    // The summary is one line, however long.
    let last = piped.stdout.lines().last().unwrap();
    assert!(last.starts_with("20 listening, 5 exposed:") && last.ends_with("--strict)"));
}

#[test]
fn a_narrow_width_drops_columns_in_order_and_says_so() {
    let run = table(&["--width", "60"]);
    assert_fits(&run.stdout, 60);
    let header = run.stdout.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["Proto", "Local", "Address", "Port", "Process", "Verdict"]
    );
    assert!(
        run.stdout.contains("Not shown at 60 columns: Scope, User"),
        "{}",
        run.stdout
    );
    // A later owner gives way before the first one is cut.
    assert!(run.stdout.contains(" 6438/nginx… "), "{}", run.stdout);
    // The JSON keeps everything whatever the width.
    let root = mixed();
    let json = util::run_args(&["--json", "--width", "60", "--proc-root", &root]).report();
    assert_eq!(json.sockets.len(), 20);
}

/// The table as `script` shows it on a pty: `setup` runs in the shell first (`stty cols
/// N` sets the pty's width), `env` goes to portaudit.
fn on_a_terminal(setup: &str, env: &[(&str, &str)]) -> String {
    let command = format!(
        "{setup}; {} --no-config --color never --proc-root {}",
        util::bin(),
        mixed()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .env_remove("COLUMNS");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("script(1) from util-linux");
    String::from_utf8(out.stdout).unwrap().replace('\r', "")
}

patest!(
    on_a_terminal_the_table_fits_its_width_or_columns,
    [Program("script")],
    |_| {
        // The terminal's own width (TIOCGWINSZ).
        let narrow = on_a_terminal("stty cols 72", &[]);
        assert!(narrow.contains("EXPOSED"), "{narrow}");
        assert_fits(&narrow, 72);
        assert!(
            narrow.contains("Not shown at 72 columns: Scope"),
            "{narrow}"
        );
        // The prose wraps at a space, continuation lines indented.
        assert!(
            narrow.contains("\n  ") && narrow.lines().any(|l| columns(l) > 60),
            "{narrow}"
        );

        // COLUMNS, when set, wins over the terminal's width.
        let wide = on_a_terminal("stty cols 72", &[("COLUMNS", "100")]);
        assert_fits(&wide, 100);
        assert!(wide.lines().any(|l| columns(l) > 72), "{wide}");

        // `--width` wins over both.
        let command = format!(
            "stty cols 72; {} --no-config --color never --width 0 --proc-root {}",
            util::bin(),
            mixed()
        );
        let out = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("COLUMNS", "50")
            .output()
            .unwrap();
        let whole = String::from_utf8(out.stdout).unwrap().replace('\r', "");
        assert_eq!(whole, table(&[]).stdout);
    }
);

patest!(
    owners_that_may_be_partial_say_so,
    [Root, Program("setpriv")],
    |_| {
        // A copy of the fixture where one process (api-server, 6474) keeps its fds from
        // anyone but root, as any other user's processes do from a user who is not root.
        let dir = TempDir::new("partial");
        util::copy_tree(&fixture("mixed").join("proc"), dir.path());
        let locked = dir.path().join("6474/fd");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        let (_bin_dir, bin) = util::binary_for_nobody();
        let root = dir.path().display().to_string();
        let run = util::run_when_not_busy(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&bin)
                .args(["--color", "never", "--proc-root", &root]),
        );
        let row = |port: &str| {
            run.stdout
                .lines()
                .find(|l| l.split_whitespace().nth(2) == Some(port))
                .unwrap_or_else(|| panic!("no row for {port}:\n{run:#?}"))
                .to_string()
        };
        // Owners seen, and maybe more we could not see.
        assert!(row("22").contains(" 6436/sshd +? "), "{run:#?}");
        assert!(
            row("80").contains(" 6438/nginx, 6462/nginx +? "),
            "{run:#?}"
        );
        // None seen: unknown.
        assert_eq!(row("4000").split_whitespace().nth(4), Some("?"), "{run:#?}");
        // The marks are explained under the table, on a terminal too.
        let legend = "?: no owner could be seen; +?: there may be owners besides those shown \
                      (not every process's open files could be read)";
        assert!(run.stdout.contains(legend), "{run:#?}");
        if netns::has_program("script") {
            let command = format!(
                "stty cols 80; setpriv --reuid=65534 --regid=65534 --clear-groups {} --color \
                 never --no-config --proc-root {root}",
                bin.display()
            );
            let out = Command::new("script")
                .args(["-qec", &command, "/dev/null"])
                .env_remove("COLUMNS")
                .output()
                .unwrap();
            let screen = String::from_utf8(out.stdout).unwrap().replace('\r', "");
            // The table and its prose fit (the warnings, on stderr, are the terminal's to
            // wrap).
            let table: Vec<&str> = screen
                .lines()
                .filter(|l| !l.starts_with("portaudit: warning: "))
                .collect();
            assert_fits(&table.join("\n"), 80);
            assert!(
                table.join("\n").replace("\n  ", " ").contains(legend),
                "{screen}"
            );
        }

        // As root every owner is seen: no mark.
        let all = table(&[]);
        assert!(!all.stdout.contains("+?"), "{}", all.stdout);
    }
);

patest!(
    on_a_terminal_the_prose_under_300_new_listeners_is_a_screenful,
    [Root, Program("ip"), Program("ss"), Program("script")],
    |_| {
        crate::hostile::in_namespace(|_| {
            // A baseline of an empty namespace, then 308 listeners that are all new.
            let dir = TempDir::new("crowded");
            let baseline = dir.path().join("baseline.json");
            let saved = util::run_args(&[
                "--no-config",
                "--no-firewall",
                "--save-baseline",
                &baseline.display().to_string(),
            ]);
            assert_eq!(saved.code, 0, "{saved:#?}");
            let held: Vec<std::net::TcpListener> = (0..308)
                .map(|_| std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap())
                .collect();
            let command = format!(
                "stty cols 80 rows 24; {} --color never --no-config --no-firewall --baseline {}",
                util::bin(),
                baseline.display()
            );
            let out = Command::new("script")
                .args(["-qec", &command, "/dev/null"])
                .env_remove("COLUMNS")
                .output()
                .unwrap();
            let screen = String::from_utf8(out.stdout).unwrap().replace('\r', "");
            assert_fits(&screen, 80);
            let rows = screen
                .lines()
                .take_while(|l| l.starts_with("tcp") || l.starts_with("Proto"))
                .count();
            assert_eq!(rows, 1 + 308, "{screen}");
            let prose: Vec<&str> = screen.lines().skip(rows).collect();
            assert!(
                prose.len() <= 24,
                "{} lines:\n{}",
                prose.len(),
                prose.join("\n")
            );
            let prose = prose.join("\n").replace("\n  ", " ");
            assert!(prose.contains("308 new since "), "{prose}");
            assert!(
                prose.contains(" more; 308 new since the baseline"),
                "{prose}"
            );
            // Each listener named once at most under the table.
            for listener in &held {
                let port = listener.local_addr().unwrap().port();
                let named = prose.matches(&format!("{port}/tcp")).count();
                assert!(named <= 1, "{port} named {named} times:\n{prose}");
            }
        });
    }
);

/// The `mixed` fixture judged by the example policy (so the table has a Rule column), on
/// a pty whose `COLUMNS` is `columns`: the screen without the warnings (stderr, on the same
/// pty), and the JSON of the same audit.
fn with_rules_on_a_terminal(columns: &str) -> (String, util::Report) {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/portaudit.toml");
    let args = ["--config", policy, "--color", "never", "--proc-root"];
    let command = format!(
        "stty cols 200; {} {} {}",
        util::bin(),
        args.join(" "),
        mixed()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("COLUMNS", columns)
        .output()
        .expect("script(1) from util-linux");
    let screen = String::from_utf8(out.stdout).unwrap().replace('\r', "");
    let screen: Vec<&str> = screen
        .lines()
        .filter(|l| !l.starts_with("portaudit: warning: "))
        .collect();
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let root = mixed();
    json_args.push(&root);
    (screen.join("\n"), util::run_args(&json_args).report())
}

/// Each table row's port and its last cells (from the verdict on), and the labels the
/// JSON gives the sockets on that port.
fn rows_and_rules<'a>(
    screen: &'a str,
    json: &'a util::Report,
) -> Vec<(&'a str, Vec<Option<&'a str>>)> {
    screen
        .lines()
        .filter(|l| l.starts_with("tcp") || l.starts_with("udp"))
        .map(|row| {
            let port: u16 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
            let rules = json
                .sockets
                .iter()
                .filter(|s| s.port == port)
                .map(|s| s.rule.as_deref())
                .collect();
            (row, rules)
        })
        .collect()
}

patest!(
    the_rule_column_keeps_every_reason_readable_at_80_columns,
    [Program("script")],
    |_| {
        let (screen, json) = with_rules_on_a_terminal("80");
        assert_fits(&screen, 80);
        assert!(
            !screen.chars().any(|c| c.is_control() && c != '\n'),
            "{screen:?}"
        );
        let rows = rows_and_rules(&screen, &json);
        assert_eq!(rows.len(), 20, "one line per row:\n{screen}");
        // Each label is under the table whole, once, behind its key.
        let keys: Vec<(&str, &str)> = screen
            .lines()
            .filter_map(|l| l.strip_prefix("Rule ")?.split_once(": "))
            .collect();
        let mut labels: Vec<&str> = json
            .sockets
            .iter()
            .filter_map(|s| s.rule.as_deref())
            .collect();
        labels.sort_unstable();
        labels.dedup();
        assert!(
            labels.len() > 3 && labels.contains(&"loopback is fine"),
            "{labels:?}"
        );
        let mut listed: Vec<&str> = keys.iter().map(|(_, label)| *label).collect();
        listed.sort_unstable();
        assert_eq!(listed, labels, "{screen}");
        // Each row's key leads to the label that decided its sockets.
        for (row, rules) in rows {
            let key = row.split_whitespace().find(|cell| cell.starts_with('['));
            match key {
                None => {
                    assert!(row.ends_with(" -"), "{row}");
                    assert!(rules.iter().all(Option::is_none), "{row}: {rules:?}");
                }
                Some(cell) => {
                    let key = &cell[..=cell.find(']').unwrap()];
                    let label = keys.iter().find(|(k, _)| *k == key).map(|(_, l)| *l);
                    assert!(label.is_some(), "{key} not explained:\n{screen}");
                    assert!(rules.iter().all(|r| *r == label), "{row}: {rules:?}");
                }
            }
        }

        // Wide enough: every label in its row, whole, and nothing under the table.
        let (wide, json) = with_rules_on_a_terminal("200");
        assert_fits(&wide, 200);
        assert!(!wide.lines().any(|l| l.starts_with("Rule ")), "{wide}");
        for (row, rules) in rows_and_rules(&wide, &json) {
            match rules[0] {
                Some(label) => assert!(row.contains(&format!("  {label}")), "{row}"),
                None => assert!(row.ends_with(" -"), "{row}"),
            }
        }
    }
);

#[test]
fn a_rule_column_left_out_lists_each_reason_with_its_ports() {
    let root = mixed();
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/portaudit.toml");
    let args = ["--config", policy, "--proc-root", &root];
    let run = util::run_args(&[&["--color", "never", "--width", "60"], &args[..]].concat());
    assert_fits(&run.stdout, 60);
    let prose = run.stdout.replace("\n  ", " ");
    assert!(
        prose.contains("Not shown at 60 columns: Scope, User, Rule"),
        "{prose}"
    );
    let json = util::run_args(&[&["--json"], &args[..]].concat()).report();
    let mut checked = 0;
    for socket in &json.sockets {
        let Some(label) = socket.rule.as_deref() else {
            continue;
        };
        let port = format!("{}/{}", socket.port, socket.protocol);
        let line = prose
            .lines()
            .find(|l| l.starts_with("Rule for ") && l.ends_with(&format!(": {label}")))
            .unwrap_or_else(|| panic!("{label} not listed:\n{prose}"));
        let ports = line["Rule for ".len()..line.len() - label.len() - 2].split(", ");
        assert!(ports.clone().any(|p| p == port), "{port} not in {line}");
        checked += 1;
    }
    assert!(checked > 5, "{prose}");
}
