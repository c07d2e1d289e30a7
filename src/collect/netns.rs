//! Network namespaces: find them (/proc/*/ns/net, /run/netns), name them, and run code
//! inside one (setns on a thread of its own).
//!
//! A namespace is known by the inode of its nsfs file, as `lsns -t net` and
//! `readlink /proc/PID/ns/net` show it. Processes lead to most of them; `ip netns add`
//! bind-mounts one under /run/netns, which names it and keeps it alive with no process
//! in it. Entering one moves only the calling thread (setns), so [`within`] does it on a
//! thread of its own and the rest of portaudit never leaves its namespace.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, Mode, OFlags};

use super::Netns;
use crate::error::describe_io;

/// How many member pids a [`Namespace`] keeps: enough to read its /proc/PID/net and to
/// name a container, without a list as long as the host's processes.
const MAX_PIDS: usize = 8;

/// A namespace found on the host.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub netns: Netns,
    /// Some processes in it (for /proc/PID/net and their cgroups); may be empty for a
    /// namespace only held by a /run/netns mount.
    pub pids: Vec<i32>,
    /// A file that refers to it, to open for setns: /run/netns/NAME or /proc/PID/ns/net.
    pub path: PathBuf,
}

/// The inode of the network namespace portaudit runs in: the calling thread's, so that
/// inside [`within`] it is the namespace entered.
pub fn own(proc_root: &Path) -> io::Result<u64> {
    own_metadata(proc_root).map(|m| m.ino())
}

fn own_metadata(proc_root: &Path) -> io::Result<std::fs::Metadata> {
    // /proc/self is the thread group leader's: after setns on another thread it still
    // shows the old namespace. thread-self (Linux 3.17) is the caller's.
    match std::fs::metadata(proc_root.join("thread-self/ns/net")) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::metadata(proc_root.join("self/ns/net"))
        }
        result => result,
    }
}

/// What one pass over the processes and /run/netns found of a namespace.
#[derive(Debug, Default)]
struct Found {
    /// The lowest pids seen in it, at most [`MAX_PIDS`], unordered.
    pids: Vec<i32>,
    /// Its entry under /run/netns: the name and the file.
    named: Option<(String, PathBuf)>,
}

impl Found {
    fn add_pid(&mut self, pid: i32) {
        if self.pids.len() < MAX_PIDS {
            self.pids.push(pid);
        } else if let Some(highest) = self.pids.iter_mut().max()
            && pid < *highest
        {
            *highest = pid;
        }
    }
}

/// Every namespace: one per inode, the own one marked `host`; warnings for what could
/// not be seen.
pub fn list(proc_root: &Path, run_netns: &Path) -> (Vec<Namespace>, Vec<String>) {
    let mut warnings = Vec::new();
    let own = match own(proc_root) {
        Ok(inode) => Some(inode),
        Err(e) => {
            warnings.push(format!(
                "cannot read {}: {}: no namespace is marked as portaudit's own",
                proc_root.join("self/ns/net").display(),
                describe_io(&e)
            ));
            None
        }
    };
    let mut found: HashMap<u64, Found> = HashMap::new();
    match scan_processes(proc_root, &mut found) {
        Ok(0) => {}
        Ok(denied) => warnings.push(denied_warning(denied)),
        Err(e) => warnings.push(format!(
            "cannot list the processes in {}: {}: only the namespaces in {} are audited",
            proc_root.display(),
            describe_io(&e),
            run_netns.display()
        )),
    }
    if let Err(e) = scan_named(run_netns, &mut found) {
        warnings.push(format!(
            "cannot list {}: {}: namespaces that only a name holds are not audited",
            run_netns.display(),
            describe_io(&e)
        ));
    }
    if let Some(own) = own {
        found.entry(own).or_default();
    }

    let mut namespaces: Vec<Namespace> = found
        .into_iter()
        .filter_map(|(inode, found)| namespace(inode, found, own == Some(inode), proc_root))
        .collect();
    // The host first, then by inode: stable from run to run.
    namespaces.sort_by_key(|ns| (!ns.netns.host, ns.netns.inode));
    (namespaces, warnings)
}

/// The record for one namespace; `None` when nothing refers to it (only possible for
/// our own when /proc lists no process of ours).
fn namespace(inode: u64, found: Found, host: bool, proc_root: &Path) -> Option<Namespace> {
    let mut pids = found.pids;
    pids.sort_unstable();
    let (name, path) = match found.named {
        Some((name, path)) => (Some(name.into()), path),
        None if host => (None, own_path(proc_root)),
        None => (None, proc_root.join(format!("{}/ns/net", pids.first()?))),
    };
    Some(Namespace {
        netns: Netns { inode, name, host },
        pids,
        path,
    })
}

/// A path to our own namespace that stays right when opened from another thread.
pub fn own_path(proc_root: &Path) -> PathBuf {
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    proc_root.join(format!("{pid}/ns/net"))
}

fn denied_warning(denied: usize) -> String {
    format!(
        "could not see the network namespace of {denied} process{} (permission denied): \
         namespaces only they use are not audited",
        if denied == 1 { "" } else { "es" }
    )
}

/// Stat `<proc_root>/<PID>/ns/net` of every process; the number we were not allowed to
/// look at. Processes that exit meanwhile are skipped: their namespace, if no one else
/// is in it, went with them.
fn scan_processes(proc_root: &Path, found: &mut HashMap<u64, Found>) -> io::Result<usize> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(proc_root, flags, Mode::empty())?;
    let entries = Dir::read_from(&root)?;
    let mut denied = 0;
    // One buffer for every "<pid>/ns/net": thousands of processes, no allocation each.
    let mut relative = String::with_capacity(32);
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let Some(pid) = parse_pid(entry.file_name().to_bytes()) else {
            continue; // not a process: net, sys, self, ...
        };
        relative.clear();
        let _ = write!(relative, "{pid}/ns/net");
        match rustix::fs::statat(&root, relative.as_str(), AtFlags::empty()) {
            Ok(stat) => found.entry(stat.st_ino).or_default().add_pid(pid),
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => denied += 1,
            // ENOENT, ESRCH: it exited.
            Err(_) => {}
        }
    }
    Ok(denied)
}

/// A /proc entry's name as a pid: decimal digits only, no sign, no leading zero.
fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.first().is_none_or(|&b| b == b'0') || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// Name the namespaces mounted under `run_netns` (`ip netns add`). A missing directory
/// means no names; an entry that is not a mounted namespace (left behind by a failed
/// `ip netns add`) is not one.
fn scan_named(run_netns: &Path, found: &mut HashMap<u64, Found>) -> io::Result<()> {
    let entries = match std::fs::read_dir(run_netns) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut named: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            )
        })
        .collect();
    // Two names for one namespace: the first in order is the one we show.
    named.sort();
    for (name, path) in named {
        let Ok(true) = on_nsfs(&path) else { continue };
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        let slot = &mut found.entry(metadata.ino()).or_default().named;
        if slot.is_none() {
            *slot = Some((name, path));
        }
    }
    Ok(())
}

/// The name under `run_netns` of the namespace with this inode, if it has one.
pub fn name_of(inode: u64, run_netns: &Path) -> Option<String> {
    let mut found = HashMap::new();
    scan_named(run_netns, &mut found).ok()?;
    found.remove(&inode)?.named.map(|(name, _)| name)
}

/// Whether `path` (followed) is a namespace file.
fn on_nsfs(path: &Path) -> io::Result<bool> {
    Ok(is_nsfs(&rustix::fs::statfs(path)?))
}

#[allow(clippy::unnecessary_cast)] // f_type's type differs between architectures
fn is_nsfs(statfs: &rustix::fs::StatFs) -> bool {
    statfs.f_type as i64 == libc::NSFS_MAGIC as i64
}

/// Why a path given as a namespace is not one.
enum NotNetns {
    Missing,
    Not(String),
    Io(io::Error),
}

/// The inode of the network namespace file at `path`; refuses anything else.
fn netns_file(path: &Path) -> Result<u64, NotNetns> {
    let io = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => NotNetns::Missing,
        _ => NotNetns::Io(e),
    };
    let not = || NotNetns::Not("not a network namespace".to_string());
    // Check before opening: opening a FIFO or a device is not harmless.
    if !on_nsfs(path).map_err(io)? {
        return Err(not());
    }
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    if !is_nsfs(&rustix::fs::fstatfs(file.as_fd()).map_err(|e| io(e.into()))?) {
        return Err(not()); // replaced between the two looks
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd's namespace type.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), libc::NS_GET_NSTYPE) };
    // Before Linux 4.11 the ioctl does not exist: an nsfs file is then trusted.
    if kind >= 0 && kind != libc::CLONE_NEWNET {
        return Err(NotNetns::Not(format!(
            "not a network namespace (a {} namespace)",
            kind_name(kind)
        )));
    }
    Ok(file.metadata().map_err(io)?.ino())
}

fn kind_name(kind: libc::c_int) -> &'static str {
    match kind {
        libc::CLONE_NEWNS => "mount",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWTIME => "time",
        _ => "different",
    }
}

/// `--netns NAME|PATH|PID`; an error names the value.
///
/// All digits is a pid (its /proc/PID/ns/net), anything with a '/' a path to a
/// namespace file (a /run/netns entry, a /proc/PID/ns/net, a runtime's bind mount), and
/// the rest a name under `run_netns`.
pub fn find(spec: &str, proc_root: &Path, run_netns: &Path) -> Result<Namespace, String> {
    let fail = |why: &str| format!("--netns {spec}: {why}");
    let io_fail = |path: &Path, e: &io::Error| {
        fail(&format!(
            "cannot read {}: {}",
            path.display(),
            describe_io(e)
        ))
    };
    let (path, inode) = if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
        let pid = spec
            .parse::<i32>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| fail("no such process"))?;
        let path = proc_root.join(format!("{pid}/ns/net"));
        match std::fs::metadata(&path) {
            Ok(metadata) => (path, metadata.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(fail("no such process")),
            Err(e) => return Err(io_fail(&path, &e)),
        }
    } else if spec.contains('/') {
        let path = PathBuf::from(spec);
        match netns_file(&path) {
            Ok(inode) => (path, inode),
            Err(NotNetns::Missing) => return Err(fail("no such file")),
            Err(NotNetns::Not(why)) => return Err(fail(&why)),
            Err(NotNetns::Io(e)) => return Err(fail(&describe_io(&e))),
        }
    } else {
        let missing = || fail(&format!("no such namespace in {}", run_netns.display()));
        if spec.is_empty() || spec == "." || spec == ".." {
            return Err(missing());
        }
        let path = run_netns.join(spec);
        match netns_file(&path) {
            Ok(inode) => (path, inode),
            Err(NotNetns::Missing) => return Err(missing()),
            Err(NotNetns::Not(why)) => {
                return Err(fail(&format!("{} is {why}", path.display())));
            }
            Err(NotNetns::Io(e)) => return Err(io_fail(&path, &e)),
        }
    };

    // The same pass `list` makes gives the name and some processes.
    let (all, _) = list(proc_root, run_netns);
    let host = own(proc_root).is_ok_and(|own| own == inode);
    let (name, pids) = match all.into_iter().find(|ns| ns.netns.inode == inode) {
        Some(ns) => (ns.netns.name, ns.pids),
        None => (None, Vec::new()),
    };
    Ok(Namespace {
        netns: Netns { inode, name, host },
        pids,
        path,
    })
}

/// How an error names a namespace: `4026532xxx (ip netns web)`.
fn describe(target: &Namespace) -> String {
    let how = match (&target.netns.name, target.pids.first()) {
        (Some(name), _) => format!("ip netns {name}"),
        (None, Some(pid)) => format!("pid {pid}"),
        (None, None) => target.path.display().to_string(),
    };
    format!("network namespace {} ({how})", target.netns.inode)
}

/// Run `f` on a new thread that has joined `target`'s network namespace.
///
/// Only that thread moves: the caller's namespace never changes. A panic in `f` goes
/// on in the caller. (The audit itself enters namespaces through [`each`].)
#[cfg(test)]
pub fn within<T: Send>(target: &Namespace, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    let file = open(target)?;
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                enter(target, &file)?;
                drop(file);
                Ok(f())
            })
            .join()
    });
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Run `f` once for each target, on a thread that has joined its namespace: a few
/// worker threads (one per core, at most [`MAX_WORKERS`]) take the targets in turn and
/// enter one after another, instead of a thread started for each. The results are in
/// the order of `targets`; a panic in `f` goes on in the caller.
pub fn each<T: Send>(
    targets: &[&Namespace],
    f: impl Fn(&Namespace) -> T + Sync,
) -> Vec<io::Result<T>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_WORKERS)
        .min(targets.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<T>>>> =
        Mutex::new(targets.iter().map(|_| None).collect());
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(target) = targets.get(i) else { break };
            let result = open(target).and_then(|file| {
                enter(target, &file)?;
                Ok(f(target))
            });
            results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        for handle in handles {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every target is taken by a worker"))
        .collect()
}

/// Worker threads [`each`] starts at most: the reading is syscalls, mostly netlink
/// round trips, so a few threads keep the cores busy.
const MAX_WORKERS: usize = 4;

/// Open `target`'s namespace file, checking it is still the namespace we were told.
pub fn open(target: &Namespace) -> io::Result<File> {
    let file = File::open(&target.path).map_err(|e| {
        let what = format!("{}: {}", target.path.display(), describe_io(&e));
        cannot_enter(target, e, what)
    })?;
    // /proc/PID/ns/net names a process, not a namespace: the process may have exited and
    // its pid gone to another, in another namespace. Enter only the one we were told.
    let opened = file.metadata().map_err(|e| {
        let what = format!("{}: {}", target.path.display(), describe_io(&e));
        cannot_enter(target, e, what)
    })?;
    if opened.ino() != target.netns.inode {
        return Err(cannot_enter(
            target,
            io::ErrorKind::NotFound.into(),
            format!(
                "it is gone ({} now refers to {})",
                target.path.display(),
                opened.ino()
            ),
        ));
    }
    Ok(file)
}

/// Move the calling thread into the namespace of `file` (opened by [`open`]).
fn enter(target: &Namespace, file: &File) -> io::Result<()> {
    // SAFETY: setns on a namespace fd we hold open; it changes this thread only.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    let what = match e.raw_os_error() {
        Some(libc::EPERM) => "operation not permitted (needs CAP_SYS_ADMIN)".to_string(),
        Some(libc::EINVAL) => format!("{} is not a network namespace", target.path.display()),
        _ => describe_io(&e),
    };
    Err(cannot_enter(target, e, what))
}

fn cannot_enter(target: &Namespace, e: io::Error, what: String) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot enter {}: {what}", describe(target)),
    )
}

/// A warning when portaudit runs in another network namespace than pid 1 (a container):
/// the audit then describes that namespace, not the host. `None` when the same, or when
/// pid 1's namespace cannot be read.
pub fn inside_container(proc_root: &Path) -> Option<String> {
    let own = own(proc_root).ok()?;
    let init = std::fs::metadata(proc_root.join("1/ns/net")).ok()?.ino();
    (own != init).then(|| {
        format!(
            "portaudit runs in network namespace {own}, not pid 1's ({init}): a container's — \
             the audit describes that namespace, not the host"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdir::TempDir;
    use crate::collect::testns::{TestNs, require_root};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const RUN_NETNS: &str = "/run/netns";

    /// `sleep 60` inside a namespace; killed by its pid and reaped on drop.
    struct Sleeper(std::process::Child);

    impl Sleeper {
        fn start(ns: &TestNs) -> Sleeper {
            // Without -b, ip execs sleep in its own place: the child's pid is sleep's.
            let child = Command::new("ip")
                .args(["netns", "exec", &ns.0, "sleep", "60"])
                .stdin(Stdio::null())
                .spawn()
                .expect("cannot run ip netns exec");
            let sleeper = Sleeper(child);
            // Until ip has entered the namespace and exec'd, the pid is still in ours.
            let path = format!("/proc/{}/ns/net", sleeper.pid());
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::metadata(&path).map(|m| m.ino()).ok() != Some(ns.inode())
                || std::fs::read(format!("/proc/{}/comm", sleeper.pid()))
                    .ok()
                    .as_deref()
                    != Some(&b"sleep\n"[..])
            {
                assert!(Instant::now() < deadline, "sleep never started in {}", ns.0);
                std::thread::sleep(Duration::from_millis(20));
            }
            sleeper
        }

        fn pid(&self) -> i32 {
            self.0.id() as i32
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            // SAFETY: kill by the pid of our own unreaped child: it cannot be reused.
            unsafe { libc::kill(self.pid(), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }

    /// Whether a `/proc/.../net/tcp` table lists the socket with this inode. By inode,
    /// not port: another namespace may well have a listener on the same port.
    fn lists(table: &Path, inode: u64) -> bool {
        let text = std::fs::read_to_string(table).unwrap();
        text.lines()
            .skip(1)
            .any(|row| row.split_whitespace().nth(9) == Some(&inode.to_string()))
    }

    /// Drop CAP_SYS_ADMIN from this thread's effective set; threads it starts inherit
    /// that. Capabilities are per thread, so the other tests keep theirs.
    fn drop_sys_admin() {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        const CAP_SYS_ADMIN: u32 = 21;
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget/capset with a v3 header and the two data words v3 takes; pid 0
        // is the calling thread.
        unsafe {
            let rc = libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr());
            assert_eq!(rc, 0, "capget: {}", io::Error::last_os_error());
            data[0].effective &= !(1 << CAP_SYS_ADMIN);
            let rc = libc::syscall(libc::SYS_capset, &header, data.as_ptr());
            assert_eq!(rc, 0, "capset: {}", io::Error::last_os_error());
        }
    }

    #[test]
    fn own_namespace_is_listed_first() {
        let own = own(Path::new("/proc")).unwrap();
        assert_eq!(
            own,
            std::fs::metadata("/proc/self/ns/net").unwrap().ino(),
            "the main thread's namespace is the process's"
        );
        let (all, _warnings) = list(Path::new("/proc"), Path::new(RUN_NETNS));
        let first = &all[0];
        assert!(first.netns.host);
        assert_eq!(first.netns.inode, own);
        assert_eq!(all.iter().filter(|ns| ns.netns.host).count(), 1);
        let mut inodes: Vec<u64> = all.iter().map(|ns| ns.netns.inode).collect();
        let rest = inodes.split_off(1);
        assert!(rest.is_sorted(), "{rest:?}");
        assert!(!rest.contains(&own));
        for ns in &all {
            assert!(ns.pids.len() <= MAX_PIDS && ns.pids.is_sorted(), "{ns:?}");
        }
    }

    #[test]
    fn list_deduplicates_by_inode() {
        // A fake proc tree whose ns links lead to real files: two processes share one.
        let dir = TempDir::new("list");
        let proc = dir.0.join("proc");
        dir.link(
            "proc/thread-self/ns/net",
            Path::new("/proc/thread-self/ns/net"),
        );
        dir.link("proc/100/ns/net", Path::new("/proc/self/ns/net"));
        let shared = dir.file("shared");
        let other = dir.file("other");
        for pid in [230, 201, 209, 202, 203, 204, 205, 206, 207, 208] {
            dir.link(&format!("proc/{pid}/ns/net"), &shared);
        }
        dir.link("proc/300/ns/net", &other);
        // Exited meanwhile; not processes at all.
        dir.link("proc/400/ns/net", &dir.0.join("gone"));
        std::fs::create_dir_all(proc.join("401")).unwrap();
        dir.link("proc/net/ns/net", &other);
        dir.link("proc/0300/ns/net", &shared);

        let (all, warnings) = list(&proc, &dir.0.join("no-run-netns"));
        assert_eq!(warnings, Vec::<String>::new());
        let inode = |path: &Path| std::fs::metadata(path).unwrap().ino();
        let summary: Vec<(u64, bool, Vec<i32>, PathBuf)> = all
            .into_iter()
            .map(|ns| (ns.netns.inode, ns.netns.host, ns.pids, ns.path))
            .collect();
        let mut expected_rest = vec![
            (
                inode(&shared),
                false,
                vec![201, 202, 203, 204, 205, 206, 207, 208],
                proc.join("201/ns/net"),
            ),
            (inode(&other), false, vec![300], proc.join("300/ns/net")),
        ];
        expected_rest.sort();
        let mut expected = vec![(
            own(Path::new("/proc")).unwrap(),
            true,
            vec![100],
            proc.join(format!("{}/ns/net", std::process::id())),
        )];
        expected.extend(expected_rest);
        assert_eq!(summary, expected);
    }

    #[test]
    fn one_warning_counts_the_hidden() {
        assert_eq!(
            denied_warning(3),
            "could not see the network namespace of 3 processes (permission denied): \
             namespaces only they use are not audited"
        );
        assert!(denied_warning(1).contains("of 1 process (permission"));
    }

    #[test]
    fn unlistable_proc_is_a_warning() {
        let dir = TempDir::new("unlistable");
        let (all, warnings) = list(&dir.0.join("missing"), &dir.0.join("missing"));
        assert!(all.is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[1].starts_with("cannot list the processes in "),
            "{warnings:?}"
        );
    }

    #[test]
    fn pids_parse_strictly() {
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"4194304"), Some(4194304));
        for bad in [
            &b""[..],
            b"0",
            b"01",
            b"-1",
            b"+1",
            b"self",
            b"1a",
            b"99999999999",
        ] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn inside_container_compares_with_pid_1() {
        let dir = TempDir::new("container");
        let proc = dir.0.join("proc");
        dir.link(
            "proc/thread-self/ns/net",
            Path::new("/proc/thread-self/ns/net"),
        );
        // Pid 1 unreadable (as on hosts where even root may not read it): no warning.
        assert_eq!(inside_container(&proc), None);
        dir.link("proc/1/ns/net", Path::new("/proc/self/ns/net"));
        assert_eq!(inside_container(&proc), None);

        let dir = TempDir::new("container-other");
        let proc = dir.0.join("proc");
        dir.link(
            "proc/thread-self/ns/net",
            Path::new("/proc/thread-self/ns/net"),
        );
        let other = dir.file("other");
        dir.link("proc/1/ns/net", &other);
        let warning = inside_container(&proc).unwrap();
        let own = own(Path::new("/proc")).unwrap();
        let init = std::fs::metadata(&other).unwrap().ino();
        assert_eq!(
            warning,
            format!(
                "portaudit runs in network namespace {own}, not pid 1's ({init}): a \
                 container's — the audit describes that namespace, not the host"
            )
        );
    }

    #[test]
    fn inside_container_on_this_host() {
        // Whether or not /proc/1/ns/net is readable here, this must not fail; when it is
        // not (some VMs refuse even root), the answer is None.
        let result = inside_container(Path::new("/proc"));
        if std::fs::metadata("/proc/1/ns/net").is_err() {
            assert_eq!(result, None);
        }
    }

    #[test]
    fn find_errors_name_the_value() {
        let dir = TempDir::new("find");
        let proc = Path::new("/proc");
        let run = dir.0.join("netns");
        std::fs::create_dir_all(&run).unwrap();
        dir.file("netns/stale"); // what a failed `ip netns add` leaves
        let err = |spec: &str| find(spec, proc, &run).unwrap_err();
        assert_eq!(
            err("web"),
            format!("--netns web: no such namespace in {}", run.display())
        );
        assert_eq!(
            err(".."),
            format!("--netns ..: no such namespace in {}", run.display())
        );
        assert_eq!(
            err("stale"),
            format!(
                "--netns stale: {} is not a network namespace",
                run.join("stale").display()
            )
        );
        assert_eq!(err("999999999"), "--netns 999999999: no such process");
        assert_eq!(err("99999999999"), "--netns 99999999999: no such process");
        assert_eq!(err("0"), "--netns 0: no such process");
        assert_eq!(
            err("/etc/hostname"),
            "--netns /etc/hostname: not a network namespace"
        );
        assert_eq!(
            err("/proc/self"),
            "--netns /proc/self: not a network namespace"
        );
        assert_eq!(
            err("/nonexistent/x"),
            "--netns /nonexistent/x: no such file"
        );
    }

    #[test]
    fn find_own_process() {
        let pid = std::process::id().to_string();
        let ns = find(&pid, Path::new("/proc"), Path::new(RUN_NETNS)).unwrap();
        assert!(ns.netns.host);
        assert_eq!(ns.netns.inode, own(Path::new("/proc")).unwrap());
        assert_eq!(ns.path, Path::new("/proc").join(&pid).join("ns/net"));
        let by_path = find(
            "/proc/self/ns/net",
            Path::new("/proc"),
            Path::new(RUN_NETNS),
        );
        // Opening another process's ns file may be refused without root; ours is fine.
        assert_eq!(by_path.unwrap().netns.inode, ns.netns.inode);
    }

    #[test]
    fn find_refuses_other_namespace_kinds() {
        assert_eq!(
            find(
                "/proc/self/ns/uts",
                Path::new("/proc"),
                Path::new(RUN_NETNS)
            )
            .unwrap_err(),
            "--netns /proc/self/ns/uts: not a network namespace (a uts namespace)"
        );
    }

    #[test]
    fn within_a_missing_file_names_it() {
        let target = Namespace {
            netns: Netns {
                inode: 4026532999,
                name: Some("gone".into()),
                host: false,
            },
            pids: Vec::new(),
            path: PathBuf::from("/nonexistent/netns/gone"),
        };
        let e = within(&target, || ()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "cannot enter network namespace 4026532999 (ip netns gone): \
             /nonexistent/netns/gone: no such file or directory"
        );
    }

    #[test]
    fn list_finds_named_namespaces_and_their_processes() {
        if !require_root("list_finds_named_namespaces_and_their_processes") {
            return;
        }
        let (a, b) = (TestNs::new(), TestNs::new());
        let sleeper = Sleeper::start(&a);
        let (all, _warnings) = list(Path::new("/proc"), Path::new(RUN_NETNS));
        assert!(all[0].netns.host);
        assert_eq!(all[0].netns.inode, own(Path::new("/proc")).unwrap());
        let get = |ns: &TestNs| {
            let found: Vec<&Namespace> = all
                .iter()
                .filter(|n| n.netns.name.as_deref() == Some(&ns.0))
                .collect();
            assert_eq!(found.len(), 1, "{} in {all:?}", ns.0);
            found[0].clone()
        };
        let (in_a, in_b) = (get(&a), get(&b));
        assert_eq!(in_a.netns.inode, a.inode());
        assert_eq!(in_a.pids, vec![sleeper.pid()]);
        assert_eq!(in_a.path, a.path());
        assert!(!in_a.netns.host);
        assert_eq!(in_b.netns.inode, b.inode());
        assert!(in_b.pids.is_empty());
        assert_ne!(in_a.netns.inode, in_b.netns.inode);
        let mut inodes: Vec<u64> = all.iter().map(|n| n.netns.inode).collect();
        inodes.dedup();
        assert_eq!(inodes.len(), all.len(), "one entry per inode");
    }

    #[test]
    fn find_by_name_path_and_pid() {
        if !require_root("find_by_name_path_and_pid") {
            return;
        }
        let ns = TestNs::new();
        let sleeper = Sleeper::start(&ns);
        let (proc, run) = (Path::new("/proc"), Path::new(RUN_NETNS));

        let by_name = ns.find();
        assert_eq!(by_name.netns.inode, ns.inode());
        assert_eq!(by_name.netns.name.as_deref(), Some(ns.0.as_str()));
        assert!(!by_name.netns.host);
        assert_eq!(by_name.path, ns.path());
        assert_eq!(by_name.pids, vec![sleeper.pid()]);

        let path = ns.path().display().to_string();
        let by_path = find(&path, proc, run).unwrap();
        assert_eq!(by_path.netns, by_name.netns);
        assert_eq!(by_path.path, ns.path());

        let by_pid = find(&sleeper.pid().to_string(), proc, run).unwrap();
        assert_eq!(by_pid.netns, by_name.netns);
        assert_eq!(by_pid.path, proc.join(format!("{}/ns/net", sleeper.pid())));

        let missing = format!("{}-missing", ns.0);
        assert_eq!(
            find(&missing, proc, run).unwrap_err(),
            format!("--netns {missing}: no such namespace in /run/netns")
        );
    }

    #[test]
    fn each_runs_inside_every_target_in_order_and_says_which_failed() {
        if !require_root("each_runs_inside_every_target_in_order_and_says_which_failed") {
            return;
        }
        let namespaces: Vec<TestNs> = (0..5).map(|_| TestNs::new()).collect();
        let mut targets: Vec<Namespace> = namespaces.iter().map(TestNs::find).collect();
        // One that is gone: its slot says so, the others are still read.
        targets.insert(
            2,
            Namespace {
                netns: Netns {
                    inode: 4026532999,
                    name: Some("gone".into()),
                    host: false,
                },
                pids: Vec::new(),
                path: PathBuf::from("/nonexistent/netns/gone"),
            },
        );
        let refs: Vec<&Namespace> = targets.iter().collect();
        let proc = Path::new("/proc");
        let before = own(proc).unwrap();
        let inside = each(&refs, |target| (target.netns.inode, own(proc).unwrap()));
        assert_eq!(inside.len(), targets.len());
        for (target, result) in targets.iter().zip(&inside) {
            match result {
                Ok((asked, entered)) => {
                    assert_eq!((*asked, *entered), (target.netns.inode, target.netns.inode));
                }
                Err(e) => {
                    assert_eq!(target.netns.inode, 4026532999);
                    assert!(e.to_string().contains("cannot enter"), "{e}");
                }
            }
        }
        assert_eq!(inside.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(own(proc).unwrap(), before, "the caller's namespace changed");
        assert!(each(&[], |_: &Namespace| ()).is_empty());
    }

    #[test]
    fn within_runs_inside_and_leaves_the_caller_alone() {
        if !require_root("within_runs_inside_and_leaves_the_caller_alone") {
            return;
        }
        let ns = TestNs::new();
        let sleeper = Sleeper::start(&ns);
        let target = ns.find();
        let proc = Path::new("/proc");
        let before = own(proc).unwrap();

        let inside = within(&target, || own(proc).unwrap()).unwrap();
        assert_eq!(inside, ns.inode());
        assert_ne!(inside, before);
        assert_eq!(own(proc).unwrap(), before, "the caller's namespace changed");

        // A socket made in there lives in there.
        let listener = within(&target, || {
            std::net::TcpListener::bind("0.0.0.0:0").unwrap()
        })
        .unwrap();
        let socket = rustix::fs::fstat(&listener).unwrap().st_ino;
        assert!(!lists(Path::new("/proc/net/tcp"), socket));
        let theirs = PathBuf::from(format!("/proc/{}/net/tcp", sleeper.pid()));
        assert!(
            lists(&theirs, socket),
            "socket {socket} not in {}",
            theirs.display()
        );

        // A panic inside is the caller's.
        let panicked = std::panic::catch_unwind(|| {
            within(&target, || panic!("inside the namespace")).unwrap();
        });
        assert!(panicked.is_err());
        assert_eq!(own(proc).unwrap(), before);
    }

    #[test]
    fn within_without_the_capability_says_what_is_missing() {
        if !require_root("within_without_the_capability_says_what_is_missing") {
            return;
        }
        let ns = TestNs::new();
        let target = ns.find();
        let e = std::thread::spawn(move || {
            drop_sys_admin();
            within(&target, || ()).unwrap_err()
        })
        .join()
        .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            format!(
                "cannot enter network namespace {} (ip netns {}): operation not permitted \
                 (needs CAP_SYS_ADMIN)",
                ns.inode(),
                ns.0
            )
        );
    }

    #[test]
    fn within_refuses_a_path_that_now_names_another_namespace() {
        let target = Namespace {
            netns: Netns {
                inode: 1,
                name: None,
                host: false,
            },
            pids: vec![4242],
            path: PathBuf::from("/proc/self/ns/net"),
        };
        let e = within(&target, || ()).unwrap_err();
        let own = own(Path::new("/proc")).unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot enter network namespace 1 (pid 4242): it is gone \
                 (/proc/self/ns/net now refers to {own})"
            )
        );
    }

    #[test]
    fn run_netns_names_namespaces_and_skips_stale_entries() {
        let dir = TempDir::new("named");
        let proc = dir.0.join("proc");
        let run = dir.0.join("netns");
        dir.link(
            "proc/thread-self/ns/net",
            Path::new("/proc/thread-self/ns/net"),
        );
        // A name for our own namespace (ip netns bind-mounts; a link stats the same),
        // a second name for it, and what a failed `ip netns add` leaves.
        dir.link("netns/zz-host", Path::new("/proc/self/ns/net"));
        dir.link("netns/zz-host-2", Path::new("/proc/self/ns/net"));
        dir.file("netns/aa-stale");
        let (all, warnings) = list(&proc, &run);
        assert_eq!(warnings, Vec::<String>::new());
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0].netns.host);
        assert_eq!(all[0].netns.name.as_deref(), Some("zz-host"));
        assert_eq!(all[0].path, run.join("zz-host"));
        assert!(all[0].pids.is_empty());
    }
}
