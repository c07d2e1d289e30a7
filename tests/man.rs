//! The man pages and completions through the binary: `--generate man DIR` writes
//! portaudit(1) and portaudit.toml(5) into a man tree, the same pages `--generate man` and
//! `--generate man-toml` print, man(1) renders them without a warning, portaudit(1)
//! writes each flag as `--help` does, and bash completes what a flag takes.

use std::process::Command;

use crate::netns;
use crate::util::{TempDir, run_args};

#[test]
fn generate_man_dir_writes_both_pages() {
    let dir = TempDir::new("man");
    let root = dir.path().join("share/man");
    let run = run_args(&["--generate", "man", root.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "", "pages go to files, not stdout");
    let command = std::fs::read_to_string(root.join("man1/portaudit.1")).unwrap();
    let policy = std::fs::read_to_string(root.join("man5/portaudit.toml.5")).unwrap();
    assert!(run.stderr.contains("man1/portaudit.1"), "{run:#?}");
    assert!(run.stderr.contains("man5/portaudit.toml.5"), "{run:#?}");

    // The same pages as on stdout; `--generate man` alone still prints portaudit(1).
    assert_eq!(run_args(&["--generate", "man"]).stdout, command);
    assert_eq!(run_args(&["--generate", "man-toml"]).stdout, policy);
    assert!(command.contains(".TH portaudit 1"), "{command}");
    assert!(command.contains(".SH \"EXIT STATUS\""), "{command}");
    assert!(policy.contains(".TH PORTAUDIT.TOML 5"), "{policy}");
    assert!(policy.contains(".SH RULES"), "{policy}");
}

patest!(
    man_renders_both_pages_without_warnings,
    [Program("man")],
    |_| {
        let dir = TempDir::new("man-render");
        let run = run_args(&["--generate", "man", dir.path().to_str().unwrap()]);
        assert_eq!(run.code, 0, "{run:#?}");
        for (page, says) in [
            (
                "man1/portaudit.1",
                ["SYNOPSIS", "EXIT STATUS", "ENVIRONMENT"],
            ),
            (
                "man5/portaudit.toml.5",
                ["SETTINGS", "RULES", "trust_firewall"],
            ),
        ] {
            let out = Command::new("man")
                .args(["--warnings", "-l"])
                .arg(dir.path().join(page))
                .env("MANWIDTH", "80")
                .env_remove("MAN_KEEP_FORMATTING")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "man -l {page}: {warnings}");
            assert_eq!(warnings, "", "man -l {page} warns");
            for word in says {
                assert!(text.contains(word), "{page} has no {word}:\n{text}");
            }
        }
    }
);

#[test]
fn generate_mistakes_are_one_line_and_exit_2() {
    let dir = TempDir::new("man-bad");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for (args, says) in [
        (
            vec!["--generate", "man", file.to_str().unwrap()],
            format!("portaudit: cannot write {}", file.display()),
        ),
        (
            vec!["--generate", "bash", dir.path().to_str().unwrap()],
            "portaudit: --generate bash".to_string(),
        ),
        (
            vec!["--generate", "tcsh"],
            "portaudit: --generate tcsh: expected man, man-toml, bash, zsh or fish".to_string(),
        ),
    ] {
        let run = run_args(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stderr.starts_with(&says), "{args:?}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:#?}");
    }
}

/// `--flag <VALUE> [MORE]` as `--help` writes each flag's header line.
fn help_headers() -> Vec<String> {
    let help = run_args(&["--help"]);
    assert_eq!(help.code, 0, "{help:#?}");
    help.stdout
        .lines()
        .filter(|l| l.starts_with("      --") || (l.starts_with("  -") && l.contains(", --")))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The header of each option in portaudit(1)'s OPTIONS (the line after `.TP`), as text,
/// without the `[default: …]` that --help puts elsewhere.
fn man_headers() -> Vec<String> {
    let page = run_args(&["--generate", "man"]).stdout;
    let options = page
        .split(".SH OPTIONS\n")
        .nth(1)
        .and_then(|rest| rest.split("\n.SH ").next())
        .expect("an OPTIONS section");
    let lines: Vec<&str> = options.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[0] == ".TP")
        .map(|pair| {
            let text = pair[1]
                .replace("\\fB", "")
                .replace("\\fI", "")
                .replace("\\fR", "")
                .replace("\\-", "-");
            match text.find(" [default: ") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        })
        .collect()
}

#[test]
fn man_and_help_write_each_flag_the_same() {
    let help = help_headers();
    let man = man_headers();
    assert!(
        help.iter().any(|h| h == "--generate <WHAT> [DIR]"),
        "{help:#?}"
    );
    assert!(help.len() > 20, "{help:#?}");
    assert_eq!(man, help, "portaudit(1)'s OPTIONS and --help differ");
}

/// What bash's completion of portaudit offers for the last of `words` (the words after
/// `portaudit`), run in `dir`, where a file lies that file-name completion would offer.
fn bash_offers(script: &std::path::Path, dir: &std::path::Path, words: &[&str]) -> Vec<String> {
    let cur = words.last().copied().unwrap_or("");
    let prev = if words.len() >= 2 {
        words[words.len() - 2]
    } else {
        "portaudit"
    };
    let mut all = vec!["portaudit"];
    all.extend_from_slice(words);
    let quoted: Vec<String> = all.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_portaudit portaudit '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        all.len() - 1
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .current_dir(dir)
        .output()
        .expect("cannot run bash");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

patest!(
    bash_completes_what_a_flag_takes_not_file_names,
    [Program("bash")],
    |_| {
        let dir = TempDir::new("completion");
        let script = dir.path().join("portaudit.bash");
        let run = run_args(&["--generate", "bash"]);
        assert_eq!(run.code, 0, "{run:#?}");
        std::fs::write(&script, &run.stdout).unwrap();
        std::fs::write(dir.path().join("a-file"), "").unwrap();
        let offers = |words: &[&str]| bash_offers(&script, dir.path(), words);

        assert_eq!(
            offers(&["--generate", ""]),
            ["man", "man-toml", "bash", "zsh", "fish"]
        );
        assert_eq!(offers(&["--generate", "man-"]), ["man-toml"]);
        for flag in [
            "--allow",
            "--width",
            "--watch",
            "--port",
            "--process",
            "--pid",
        ] {
            let offered = offers(&[flag, ""]);
            assert!(
                !offered.iter().any(|o| o == "a-file"),
                "{flag}: {offered:?}"
            );
        }
        assert_eq!(offers(&["--color", ""]), ["auto", "always", "never"]);
        assert_eq!(offers(&["--protocol", ""]), ["tcp", "udp"]);
        // A flag that takes a file still offers file names: the check above can fail.
        assert_eq!(offers(&["--config", "a-"]), ["a-file"]);
    }
);
