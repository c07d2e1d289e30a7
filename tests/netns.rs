//! Helpers for tests that start things: private network namespaces, child processes,
//! and what a test needs of the machine (`Need`, checked by `patest!`, macros.rs).
//!
//! Every namespace and child is held by a guard whose `Drop` removes it, so a failing
//! assertion (a panic) still cleans up. Tests run in parallel inside one process, so
//! namespace names carry our pid and a counter.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// CI sets `CI=true`: there a test must run, never skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// What a test needs from the machine, declared in its `patest!` line and checked, in
/// order, before its body runs.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// Effective uid 0.
    Root,
    /// An executable of this name on PATH (where `Command::new(name)` looks).
    Program(&'static str),
    /// nft (Debian's nftables), on PATH or in /usr/sbin or /sbin: `nft()`.
    Nft,
    /// iptables-nft (Debian's iptables), on PATH or in /usr/sbin or /sbin: `iptables_nft()`.
    IptablesNft,
    /// A mounted cgroup2 hierarchy: `cgroup2_mount()`.
    Cgroup2,
}

impl Need {
    /// Why the machine lacks this, or `None` when it has it.
    fn missing(self) -> Option<String> {
        let why = match self {
            Need::Root if is_root() => return None,
            Need::Root => "needs root".to_string(),
            Need::Program(name) if has_program(name) => return None,
            Need::Program(name) => format!("no `{name}` program on PATH"),
            Need::Nft if nft().is_some() => return None,
            Need::Nft => "no `nft` program (Debian's nftables) on PATH or in /usr/sbin".into(),
            Need::IptablesNft if iptables_nft().is_some() => return None,
            Need::IptablesNft => {
                "no `iptables-nft` program (Debian's iptables) on PATH or in /usr/sbin".into()
            }
            Need::Cgroup2 if cgroup2_mount().is_some() => return None,
            Need::Cgroup2 => "no cgroup2 hierarchy is mounted".into(),
        };
        Some(why)
    }
}

/// The running test, as `patest!` hands it to the body: its name, written once.
#[derive(Debug)]
pub struct Test {
    name: &'static str,
}

impl Test {
    pub fn new(name: &'static str) -> Test {
        Test { name }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// True when the machine has every one of `needs`; otherwise a SKIPPED line naming
    /// the first it lacks (in CI, a panic) and false.
    pub fn requires(&self, needs: &[Need]) -> bool {
        match needs.iter().find_map(|need| need.missing()) {
            None => true,
            Some(why) => {
                self.skip(&why);
                false
            }
        }
    }

    /// Say why this test cannot run here (the body then returns); in CI, fail instead.
    ///
    /// The line goes straight to the terminal: libtest captures `eprintln!` of a passing
    /// test and would hide it, so a skipped test would look like a passed one.
    pub fn skip(&self, why: &str) {
        use std::io::Write;
        let test = self.name;
        if in_ci() {
            panic!("{test}: {why}; CI must run this test, so it fails instead of skipping");
        }
        let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `name` is an executable file on PATH, where `Command::new(name)` looks.
pub fn has_program(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Where the cgroup2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a
/// hybrid host), from our own mountinfo.
pub fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        if fs.split(' ').next()? != "cgroup2" {
            return None;
        }
        mount.split(' ').nth(4).map(std::path::PathBuf::from)
    })
}

/// `name` on PATH, or in the sbin directories a non-login root shell may leave off it.
fn sbin_program(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// nft: on PATH, or in /usr/sbin or /sbin.
pub fn nft() -> Option<std::path::PathBuf> {
    sbin_program("nft")
}

/// iptables-nft (Debian's iptables): on PATH, or in /usr/sbin or /sbin.
pub fn iptables_nft() -> Option<std::path::PathBuf> {
    sbin_program("iptables-nft")
}

/// Docker's shape of ruleset, as iptables-nft writes it: addrtype, conntrack and DNAT
/// are xt (compat) expressions, which nft lists in JSON without their arguments.
pub const DOCKER_IPTABLES: &[&[&str]] = &[
    &["-t", "nat", "-N", "DOCKER"],
    &[
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-m",
        "addrtype",
        "--dst-type",
        "LOCAL",
        "-j",
        "DOCKER",
    ],
    &[
        "-t",
        "nat",
        "-A",
        "DOCKER",
        "!",
        "-i",
        "docker0",
        "-p",
        "tcp",
        "--dport",
        "8080",
        "-j",
        "DNAT",
        "--to-destination",
        "172.17.0.2:80",
    ],
    &[
        "-A",
        "INPUT",
        "-m",
        "conntrack",
        "--ctstate",
        "ESTABLISHED,RELATED",
        "-j",
        "ACCEPT",
    ],
    &["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
    &["-P", "INPUT", "DROP"],
];

/// Where portaudit looks for nft (src/collect/nft/mod.rs): never on PATH.
pub const NFT_PLACES: [&str; 4] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"];

/// `program ARGS` where portaudit finds no nft: in a mount namespace of its own
/// (`unshare --mount`), /dev/null is bound over every nft of [`NFT_PLACES`]. The host's
/// mounts are not touched. Needs root and unshare (util-linux).
pub fn without_nft<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!(
            "for f in {}; do if [ -f \"$f\" ]; then mount --bind /dev/null \"$f\" || exit 125; fi; done; exec \"$@\"",
            NFT_PLACES.join(" ")
        ))
        .arg("sh")
        .arg(program)
        .args(args);
    cmd
}

/// Our PATH with nft's directory added, for the tests' own nft commands.
pub fn path_with_nft() -> std::ffi::OsString {
    let nft = nft().expect("the test requires Need::Nft");
    let dir = nft.parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    if !dirs.contains(&dir) {
        dirs.push(dir);
    }
    std::env::join_paths(dirs).unwrap()
}

/// Call `check` until it gives a value, at most for `timeout`; then fail naming `what`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A network namespace of our own (`ip netns add`), with `lo` up; deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Create `pa-test-<pid>-<n>`. Needs root.
    pub fn new() -> NetNs {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        NetNs::named(format!("pa-test-{}-{n}", std::process::id()))
    }

    /// Create a namespace called `name`, which the caller makes unique (our pid and a
    /// counter). Needs root.
    pub fn named(name: String) -> NetNs {
        ip(&["netns", "add", &name]);
        // From here on the guard exists, so a failure below still deletes the namespace.
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS…`, failing the test if it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Move the calling thread into this namespace: the sockets it creates from then on
    /// live there, and so do the processes it starts. Only this thread moves, so a test
    /// does it in a thread of its own.
    pub fn enter(&self) {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(Path::new("/run/netns").join(&self.name))
            .unwrap_or_else(|e| panic!("open /run/netns/{}: {e}", self.name));
        // SAFETY: setns on a namespace fd we hold open; it changes only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns {}: {}",
            self.name,
            std::io::Error::last_os_error()
        );
    }

    /// Put these addresses (`10.7.0.1/24`, `fd00:7::1/64`) on a dummy interface `d0`, so
    /// that sockets can bind them. Nothing outside the namespace can reach them.
    pub fn add_addresses(&self, addresses: &[&str]) {
        let dummy = Command::new("ip")
            .args(["-n", &self.name, "link", "add", "d0", "type", "dummy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !dummy {
            // Kernels without CONFIG_DUMMY: a bridge with no ports is as isolated.
            ip(&["-n", &self.name, "link", "add", "d0", "type", "bridge"]);
        }
        ip(&["-n", &self.name, "link", "set", "d0", "up"]);
        for address in addresses {
            if address.contains(':') {
                ip(&[
                    "-n", &self.name, "-6", "addr", "add", address, "dev", "d0", "nodad",
                ]);
            } else {
                ip(&["-n", &self.name, "addr", "add", address, "dev", "d0"]);
            }
        }
    }

    /// `ip netns exec NAME program args…`. Without `-b`, `ip` execs the program in place
    /// of itself, so the child's pid is the program's.
    pub fn exec<I, S>(&self, program: impl AsRef<OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .arg(program)
            .args(args)
            .env_remove("NO_COLOR");
        cmd
    }

    /// Load `rules` into this namespace's nftables (`nft -f -`), or fail the test showing
    /// nft's complaint and the rules.
    pub fn load_nft(&self, rules: &str) {
        if let Err(complaint) = self.run_nft(&["-f", "-"], rules) {
            panic!("nft -f - in {}: {complaint}\n{rules}", self.name);
        }
    }

    /// `nft ARGS` in this namespace with `input` on stdin: what it printed, or its
    /// complaint (stderr) when it failed.
    pub fn run_nft(&self, args: &[&str], input: &str) -> Result<String, String> {
        use std::io::Write;
        let nft = nft().expect("the test requires Need::Nft");
        let mut child = self
            .exec(nft, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run nft");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// `iptables-nft ARGS` in this namespace, or fail the test showing its complaint.
    pub fn iptables_nft(&self, args: &[&str]) {
        let program = iptables_nft().expect("the test requires Need::IptablesNft");
        let out = self
            .exec(program, args)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run iptables-nft");
        assert!(
            out.status.success(),
            "iptables-nft {} in {}: {}",
            args.join(" "),
            self.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Never panic here: we may already be unwinding from a failed assertion.
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "warning: ip netns del {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("warning: cannot run ip netns del {}: {e}", self.name),
        }
    }
}

/// Run `ip ARGS`, failing the test with ip's stderr if it does not succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A child process that is killed (by its pid) and reaped on drop.
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    what: String,
}

impl Child {
    /// Start `cmd`; its stderr is kept to explain an early exit.
    pub fn spawn(cmd: &mut Command) -> Child {
        let what = format!("{cmd:?}");
        let child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Child { child, what }
    }

    /// Start `cmd` with its stderr appended to the file `log`: a server that talks for
    /// as long as it runs would fill a pipe that no one reads, and stop.
    pub fn spawn_logging(cmd: &mut Command, log: &Path) -> Child {
        let what = format!("{cmd:?} (its stderr: {})", log.display());
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let child = cmd
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Child { child, what }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits in i32")
    }

    /// The kernel's name for the process, `/proc/<pid>/comm`.
    pub fn comm(&self) -> Option<String> {
        let path = Path::new("/proc").join(self.pid().to_string()).join("comm");
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string())
    }

    /// Fail the test, with the child's stderr, if it has exited.
    pub fn assert_running(&mut self) {
        let Ok(Some(status)) = self.child.try_wait() else {
            return;
        };
        let mut stderr = String::new();
        if let Some(pipe) = self.child.stderr.as_mut() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        panic!(
            "{} exited early ({status}); its stderr:\n{stderr}",
            self.what
        );
    }

    /// Wait until the process prints the line `expected` on its stdout (which must be
    /// piped): a server says it listens. Lines before it are skipped.
    pub fn wait_for_line(&mut self, expected: &str, timeout: Duration) {
        use std::io::BufRead;
        use std::sync::mpsc::RecvTimeoutError;
        let stdout = self
            .child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("{}: stdout is not piped, or already read", self.what));
        // A thread reads, so that a child that never prints cannot block the test past
        // its timeout; it ends at EOF, when the child is killed.
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + timeout;
        loop {
            match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line == expected => return,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.assert_running();
                    panic!(
                        "timed out after {timeout:?} waiting for {expected:?} from {}",
                        self.what
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Stdout closed: the child is exiting; show its stderr once it has.
                    let _ = wait_until("the child to exit", Duration::from_secs(5), || {
                        self.child.try_wait().ok().flatten()
                    });
                    self.assert_running();
                    panic!(
                        "{} closed its stdout before printing {expected:?}",
                        self.what
                    );
                }
            }
        }
    }

    /// Wait until the process is `name`: the pid we hold must be the program itself, not
    /// a wrapper that forked it (`ip netns exec` must exec, not fork).
    pub fn wait_for_comm(&mut self, name: &str, timeout: Duration) {
        let what = format!("pid {} to be {name:?}", self.pid());
        wait_until(&what, timeout, || {
            self.assert_running();
            (self.comm().as_deref() == Some(name)).then_some(())
        });
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SIGKILL by pid, then reap it so no zombie outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
