//! The test harness itself: `patest!` names the test in its SKIPPED line, and under CI a
//! missing need fails the test instead. A real test is run as a child of this binary,
//! with a PATH where its one program cannot be found.

use std::process::Command;

use crate::util::{self, Run};

/// A cheap test that needs only `sleep` (names.rs).
const TARGET: &str = "an_executable_path_that_is_not_utf8_is_kept_as_bytes";

/// This test binary, running just `names::TARGET`, with an empty PATH and `ci` as CI.
fn run_target(ci: Option<&str>) -> Run {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", &format!("names::{TARGET}")])
        .env("PATH", "/nonexistent")
        .env_remove("CI");
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    util::run(&mut cmd)
}

#[test]
fn a_missing_need_skips_the_test_by_its_name() {
    let run = run_target(None);
    assert_eq!(run.code, 0, "{run:#?}");
    let want = format!("SKIPPED {TARGET}: no `sleep` program on PATH\n");
    assert!(run.stderr.contains(&want), "no {want:?} in {run:#?}");
    assert!(run.stdout.contains("1 passed"), "{run:#?}");

    // CI=false is not CI.
    let run = run_target(Some("false"));
    assert!(run.stderr.contains(&want), "no {want:?} in {run:#?}");
}

#[test]
fn under_ci_a_missing_need_fails_the_test() {
    let run = run_target(Some("true"));
    assert_eq!(run.code, 101, "{run:#?}");
    assert!(!run.stderr.contains("SKIPPED"), "{run:#?}");
    let want = format!("{TARGET}: no `sleep` program on PATH; CI must run this test");
    assert!(
        run.stdout.contains(&want) || run.stderr.contains(&want),
        "no {want:?} in {run:#?}"
    );
}
