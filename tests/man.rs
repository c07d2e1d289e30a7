//! The man pages through the binary: `--generate man DIR` writes portaudit(1) and
//! portaudit.toml(5) into a man tree, the same pages `--generate man` and
//! `--generate man-toml` print, and man(1) renders them without a warning.

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
