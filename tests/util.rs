//! Shared helpers: run the binary, read its JSON into typed structs, read fixtures.
//!
//! The JSON types here are written from docs/json.md's schema, not shared with the
//! program, so a change in the output shows up as a failing test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub collector: String,
    pub sockets: Vec<Socket>,
    pub summary: Summary,
    pub warnings: Vec<String>,
    pub policy_file: Option<String>,
    pub ephemeral_ports: EphemeralPorts,
    pub baseline: Option<Baseline>,
    pub namespaces: Vec<Namespace>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EphemeralPorts {
    pub low: u16,
    pub high: u16,
    pub source: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Baseline {
    pub file: String,
    pub new: usize,
    pub removed: Vec<BaselineKey>,
}

/// A `--save-baseline` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFile {
    pub portaudit_baseline: u32,
    pub listeners: Vec<BaselineKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BaselineKey {
    pub protocol: String,
    pub class: String,
    pub port: u16,
    pub executable: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Advice {
    pub service: String,
    pub severity: String,
    pub why: String,
    pub fix: String,
    #[serde(deserialize_with = "required")]
    pub file: Option<String>,
    #[serde(deserialize_with = "required")]
    pub command: Option<String>,
    pub identified_by: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Socket {
    pub protocol: String,
    pub family: String,
    pub address: String,
    pub port: u16,
    pub scope: String,
    pub exposure: String,
    pub verdict: String,
    /// Null only on a record for a published port nobody listens behind (see `uid()`).
    #[serde(deserialize_with = "required")]
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// Present only when the user name is not UTF-8.
    #[serde(default)]
    pub user_bytes: Option<Vec<u8>>,
    #[serde(deserialize_with = "required")]
    pub inode: Option<u64>,
    pub processes: Vec<Process>,
    pub rule: Option<String>,
    pub ephemeral: bool,
    pub fails: bool,
    pub advice: Option<Advice>,
    pub drift: Option<String>,
    /// null only when the collector cannot tell (a `::` bind under /proc).
    #[serde(deserialize_with = "required")]
    pub ipv4_reachable: Option<bool>,
    #[serde(deserialize_with = "required")]
    pub ipv4_reachable_guess: Option<bool>,
    #[serde(deserialize_with = "required")]
    pub device: Option<String>,
    #[serde(deserialize_with = "required")]
    pub reachable_on: Option<Vec<HostAddress>>,
    pub processes_complete: bool,
    #[serde(deserialize_with = "required")]
    pub netns: Option<NetnsRef>,
    #[serde(deserialize_with = "required")]
    pub container: Option<Container>,
    #[serde(deserialize_with = "required")]
    pub published: Option<Published>,
    #[serde(deserialize_with = "required")]
    pub listening: Option<bool>,
    #[serde(deserialize_with = "required")]
    pub firewall: Option<String>,
    #[serde(deserialize_with = "required")]
    pub firewall_why: Option<String>,
    /// The systemd unit whose cgroup created the socket, else its owners'.
    #[serde(deserialize_with = "required")]
    pub unit: Option<String>,
    /// For a `.socket` unit: the service it activates.
    #[serde(deserialize_with = "required")]
    pub unit_service: Option<String>,
    /// The kernel facility holding a socket no process holds.
    #[serde(deserialize_with = "required")]
    pub kernel: Option<String>,
    pub ways_in: Vec<WayIn>,
}

/// One way in from outside (`via`: direct, routed, bridged, localnet, dnat, redirect,
/// tproxy, sk_lookup, ipvs, proxy, unknown).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WayIn {
    pub via: String,
    pub address: String,
    pub port: u16,
    #[serde(deserialize_with = "required")]
    pub port_last: Option<u16>,
    #[serde(deserialize_with = "required")]
    pub interface: Option<String>,
    #[serde(deserialize_with = "required")]
    pub entry: Option<String>,
    pub delivered_address: String,
    pub delivered_port: u16,
    #[serde(deserialize_with = "required")]
    pub rule: Option<String>,
    #[serde(deserialize_with = "required")]
    pub firewall: Option<String>,
}

impl Socket {
    /// The uid of a socket that listens (every record but a publish nobody answers).
    pub fn uid(&self) -> u32 {
        self.uid.unwrap_or_else(|| panic!("no uid: {self:#?}"))
    }

    /// The inode of a socket that listens.
    pub fn inode(&self) -> u64 {
        self.inode.unwrap_or_else(|| panic!("no inode: {self:#?}"))
    }

    pub fn netns_name(&self) -> Option<&str> {
        self.netns.as_ref().and_then(|n| n.name.as_deref())
    }

    pub fn owned_by(&self, pid: i32) -> bool {
        self.processes.iter().any(|p| p.pid == pid)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct NetnsRef {
    pub inode: u64,
    #[serde(deserialize_with = "required")]
    pub name: Option<String>,
    pub host: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    pub runtime: String,
    pub id: String,
    #[serde(deserialize_with = "required")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Published {
    pub protocol: String,
    pub address: String,
    pub port: u16,
    #[serde(default)]
    pub port_last: Option<u16>,
    pub via: String,
    #[serde(deserialize_with = "required")]
    pub rule: Option<String>,
    #[serde(deserialize_with = "required")]
    pub pid: Option<i32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Namespace {
    pub inode: u64,
    #[serde(deserialize_with = "required")]
    pub name: Option<String>,
    pub host: bool,
    pub audited: bool,
    pub listening: usize,
    #[serde(deserialize_with = "required")]
    pub container: Option<Container>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HostAddress {
    pub address: String,
    pub device: String,
}

/// A nullable field that must be present: serde lets a plain `Option` field be missing.
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Process {
    pub pid: i32,
    pub name: String,
    /// Present only when `comm` is not UTF-8.
    #[serde(default)]
    pub name_bytes: Option<Vec<u8>>,
    pub exe: Option<String>,
    /// Present only when the executable's path is not UTF-8.
    #[serde(default)]
    pub exe_bytes: Option<Vec<u8>>,
    /// The effective uid the process runs as (null when its status could not be read).
    #[serde(deserialize_with = "required")]
    pub uid: Option<u32>,
    /// That uid's name.
    #[serde(deserialize_with = "required")]
    pub user: Option<String>,
    /// Present only when the user name is not UTF-8.
    #[serde(default)]
    pub user_bytes: Option<Vec<u8>>,
}

#[derive(Debug, Deserialize)]
pub struct Summary {
    pub listening: usize,
    pub exposed: usize,
    pub internal: usize,
    pub allowed: usize,
    pub local: usize,
    pub strict: bool,
    pub complete: bool,
    pub exit_code: u8,
    pub denied: usize,
    pub advisory: bool,
    pub filtered: usize,
    pub contained: usize,
    pub failing: usize,
    pub drift: usize,
    /// With --port, --process, --pid or --protocol: what was selected; null without.
    #[serde(deserialize_with = "required")]
    pub selection: Option<Selection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Selection {
    pub selected: usize,
    pub of: usize,
    pub unsure: usize,
    pub filters: Vec<String>,
}

impl Report {
    /// The sockets on this (protocol, address, port); several when SO_REUSEPORT or tcp+tcp6.
    pub fn find(&self, protocol: &str, address: &str, port: u16) -> Vec<&Socket> {
        self.sockets
            .iter()
            .filter(|s| s.protocol == protocol && s.address == address && s.port == port)
            .collect()
    }

    /// Exactly one socket on (protocol, address, port), or a panic that shows the report.
    pub fn one(&self, protocol: &str, address: &str, port: u16) -> &Socket {
        match self.find(protocol, address, port).as_slice() {
            [one] => one,
            other => panic!(
                "expected one {protocol} {address}:{port} socket, found {}:\n{self:#?}",
                other.len()
            ),
        }
    }

    /// The records whose answering socket is in the namespace called `name`.
    pub fn in_netns(&self, name: &str) -> Vec<&Socket> {
        self.sockets
            .iter()
            .filter(|s| s.netns_name() == Some(name))
            .collect()
    }

    /// Exactly one record published on host port `port` (tcp), or a panic showing all.
    pub fn published(&self, port: u16) -> &Socket {
        let found: Vec<&Socket> = self
            .sockets
            .iter()
            .filter(|s| {
                s.published
                    .as_ref()
                    .is_some_and(|p| p.port == port && p.protocol == "tcp")
            })
            .collect();
        match found.as_slice() {
            [one] => one,
            other => panic!(
                "expected one record published on tcp port {port}, found {}:\n{self:#?}",
                other.len()
            ),
        }
    }

    /// Exactly one listener of namespace `netns` on tcp ADDRESS:PORT.
    pub fn one_in(&self, netns: &str, address: &str, port: u16) -> &Socket {
        let found: Vec<&Socket> = self
            .in_netns(netns)
            .into_iter()
            .filter(|s| s.protocol == "tcp" && s.address == address && s.port == port)
            .collect();
        match found.as_slice() {
            [one] => one,
            other => panic!(
                "expected one tcp {address}:{port} record in netns {netns}, found {}:\n{self:#?}",
                other.len()
            ),
        }
    }

    pub fn namespace(&self, name: &str) -> &Namespace {
        self.namespaces
            .iter()
            .find(|n| n.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("namespace {name} missing:\n{:#?}", self.namespaces))
    }
}

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parse stdout as the JSON report, with the whole run in the panic message if it is not.
    pub fn report(&self) -> Report {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not a JSON report ({e}):\n{self:#?}"))
    }
}

/// The name the user database gives `uid` (`getent passwd`), if any.
pub fn user_name(uid: u32) -> Option<String> {
    let out = Command::new("getent")
        .args(["passwd", &uid.to_string()])
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    line.split(':')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_portaudit")
}

pub fn portaudit() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("NO_COLOR");
    cmd
}

/// No test reads this machine's policy (/etc/portaudit/portaudit.toml, which may hold
/// anything): a command that runs portaudit — as the program, or through a wrapper such
/// as `ip netns exec`, `setpriv` or `unshare` that ends with its arguments — gets
/// `--no-config` unless it says `--config` or `--no-config` itself. `run` and the other
/// helpers that start portaudit call it; a command line written into a shell script must
/// say `--no-config` itself. CI runs the tests with an unusable policy there (.ci/run).
pub fn hermetic(cmd: &mut Command) -> &mut Command {
    use std::ffi::OsStr;
    let is_portaudit = |a: &OsStr| Path::new(a).file_name() == Some(OsStr::new("portaudit"));
    let runs_portaudit = is_portaudit(cmd.get_program()) || cmd.get_args().any(is_portaudit);
    let chooses = cmd.get_args().any(|a| {
        let a = a.to_string_lossy();
        a == "--config" || a == "--no-config" || a.starts_with("--config=")
    });
    if runs_portaudit && !chooses {
        cmd.arg("--no-config");
    }
    cmd
}

pub fn run(cmd: &mut Command) -> Run {
    let out = hermetic(cmd).output().expect("cannot start portaudit");
    Run {
        code: out.status.code().expect("portaudit was killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is not UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is not UTF-8"),
    }
}

/// `portaudit ARGS`.
pub fn run_args(args: &[&str]) -> Run {
    run(portaudit().args(args))
}

pub fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(scenario)
}

/// One line of a fixture's binds.txt: what the capture script bound.
#[derive(Debug, Clone)]
pub struct Bind {
    pub protocol: String,
    pub address: String,
    pub port: u16,
    pub listens: bool,
    pub comm: String,
}

pub fn binds(scenario: &str) -> Vec<Bind> {
    let path = fixture(scenario).join("binds.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 5, "{}: bad line {line:?}", path.display());
            Bind {
                protocol: f[0].to_string(),
                address: f[1].to_string(),
                port: f[2].parse().unwrap(),
                listens: match f[3] {
                    "listen" => true,
                    "nonlistener" => false,
                    other => panic!("{}: bad kind {other:?}", path.display()),
                },
                comm: f[4].to_string(),
            }
        })
        .collect()
}

/// A directory under the system temp dir, removed on drop (even when the test fails).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("portaudit-test-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copy a fixture's proc tree into `dest`, keeping the fd symlinks as symlinks.
pub fn copy_tree(from: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = dest.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Where `program` really is, as /proc/<pid>/exe would name it: found on PATH, links resolved.
pub fn program_path(program: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .and_then(|found| std::fs::canonicalize(found).ok())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
        .display()
        .to_string()
}

/// The binary where any user can run it: the build tree may sit where nobody cannot
/// reach (/root/...), and then a copy is made, which lives as long as the directory.
pub fn binary_for_nobody() -> (TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    // The file and every directory above it need the "other" execute bit.
    let reachable = |path: &Path| {
        path.ancestors()
            .all(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
    };
    let dir = TempDir::new("for-nobody");
    let original = std::fs::canonicalize(bin()).unwrap();
    if reachable(&original) {
        return (dir, original);
    }
    let copy = dir.path().join("portaudit");
    std::fs::copy(bin(), &copy).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        reachable(&copy),
        "{} should be executable by nobody",
        copy.display()
    );
    (dir, copy)
}

/// Run `cmd`, again if the binary it starts was "text file busy": a child that another
/// test forked while a copy of the binary was being written holds it open for writing
/// until that child execs.
pub fn run_when_not_busy(cmd: &mut Command) -> Run {
    let start = std::time::Instant::now();
    loop {
        let out = run(cmd);
        if out.code != 126
            || !out.stderr.contains("Text file busy")
            || start.elapsed().as_secs() > 10
        {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Have the program `cmd` starts inherit `fd` as its fd 3, as a forked server worker
/// inherits its listener.
pub fn inherit_as_fd3(cmd: &mut Command, fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls the
    // async-signal-safe dup2 and fcntl.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 clears FD_CLOEXEC on the copy; if fd already is 3, clear it ourselves.
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `portaudit ARGS | READER` in bash: portaudit's own exit status and stderr.
pub fn behind_a_pipe(args: &str, reader: &str) -> (String, String) {
    let script =
        format!("\"$0\" --no-config {args} | {reader} >/dev/null; echo \"${{PIPESTATUS[0]}}\"");
    let out = Command::new("bash")
        .args(["-c", &script, bin()])
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One line of `--watch --json`: a socket that appeared, went away or changed.
#[derive(Debug, Clone, Deserialize)]
pub struct WatchEvent {
    /// `new`, `gone` or `changed`.
    pub event: String,
    /// RFC 3339, UTC, to the second.
    pub time: String,
    /// A socket as `sockets[]` of the JSON report has it.
    pub socket: Socket,
    /// Only on `changed`: how the socket stood before.
    #[serde(default)]
    pub before: Option<Standing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Standing {
    pub verdict: String,
    pub firewall: Option<String>,
    pub fails: bool,
}
