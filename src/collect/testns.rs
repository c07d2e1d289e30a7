//! For unit tests that build things for real (root): a private network namespace
//! deleted on drop, and the rule for tests that need root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::netns::{Namespace, find};

const RUN_NETNS: &str = "/run/netns";

/// True when root; otherwise a SKIPPED line, or in CI (`CI` set) a failure: there
/// every test must run.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{test}: needs root; CI must run this test, so it fails instead of skipping");
    }
    eprintln!("SKIPPED {test}: needs root");
    false
}

/// Whether `name` is an executable on PATH, or in /usr/sbin or /sbin.
pub fn has_program(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(name).is_file())
}

pub fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {}: {e}", args.join(" ")))
}

/// `ip netns add pa-nstest-<pid>-<n>`, deleted on drop (a failed test too).
pub struct TestNs(pub String);

impl TestNs {
    pub fn new() -> TestNs {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("pa-nstest-{}-{n}", std::process::id());
        let out = ip(&["netns", "add", &name]);
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        TestNs(name)
    }

    pub fn path(&self) -> PathBuf {
        Path::new(RUN_NETNS).join(&self.0)
    }

    pub fn inode(&self) -> u64 {
        std::fs::metadata(self.path()).unwrap().ino()
    }

    pub fn find(&self) -> Namespace {
        find(&self.0, Path::new("/proc"), Path::new(RUN_NETNS)).unwrap()
    }

    /// Run a command in the namespace (`ip netns exec NAME …`), failing the test if it
    /// fails.
    pub fn run(&self, command: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(command)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", command.join(" ")));
        assert!(
            out.status.success(),
            "in {}: {}: {}",
            self.0,
            command.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    /// `ip -n NAME ARGS…`, failing the test if it fails.
    pub fn ip(&self, args: &str) {
        let mut all = vec!["-n", &self.0];
        all.extend(args.split_whitespace());
        let out = ip(&all);
        assert!(
            out.status.success(),
            "ip {}: {}",
            all.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        // Never panic here: we may be unwinding from a failed assertion.
        let out = ip(&["netns", "del", &self.0]);
        if !out.status.success() {
            eprintln!(
                "warning: ip netns del {}: {}",
                self.0,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}
