//! Find the processes that hold each listening socket open.
//!
//! A socket's owners are the processes with an fd linking to `socket:[INODE]`. The host
//! moves under us while we look: processes exit (their files vanish: ENOENT, ESRCH), fds
//! close, and a pid can be handed to a new process between two reads. So each process
//! is read through a handle on its own /proc/<pid> directory, which stays bound to that
//! process (a new process with the same pid is another directory), and its start time in
//! `stat` is compared before and after: a process that changed or went away mid-read is
//! dropped, never attributed. Other users' fds cannot be read without root (counted, and
//! said once in a warning).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{Dir, Mode, OFlags};

use super::users::UserNames;
use crate::error::describe_io;
use crate::socket::{Owners, Process, Warning};

/// The owners step: each listener's processes, looking up only the sockets `known` does
/// not hold (`known` then holds exactly the sockets read now, unless it forgets), then
/// the kernel facility of the sockets no process holds.
pub fn attribute(
    proc_root: &Path,
    live: bool,
    scope: &super::namespaces::Scope,
    known: &mut super::KnownOwners,
    listeners: &mut [crate::socket::Listener],
    warnings: &mut Vec<Warning>,
) {
    let is_known =
        |l: &crate::socket::Listener| l.inode != 0 && known.by_inode.contains_key(&l.inode);
    let wanted = listeners
        .iter()
        .map(|l| l.inode)
        .filter(|&i| i != 0 && !known.by_inode.contains_key(&i))
        .collect();
    let scan = scan(proc_root, &wanted);
    let fresh = listeners.iter().any(|l| !is_known(l));
    let hidepid = if fresh {
        super::host::hidepid(proc_root)
    } else {
        None
    };
    let complete = scan.complete(hidepid.as_deref());
    for listener in listeners.iter_mut() {
        match known
            .by_inode
            .get(&listener.inode)
            .filter(|_| listener.inode != 0)
        {
            Some((processes, whole)) => {
                listener.processes = processes.clone();
                listener.processes_complete = *whole;
            }
            None => {
                listener.processes = scan
                    .owners
                    .get(&listener.inode)
                    .cloned()
                    .unwrap_or_default();
                listener.processes_complete = complete;
            }
        }
    }
    let mut said = Vec::new();
    super::kernel::attribute(
        proc_root,
        live,
        scope.own,
        &scope.targets,
        listeners,
        &mut said,
    );
    warnings.extend(said.into_iter().map(Warning::from));
    if let Some(blind) = scan.blind(hidepid.as_deref(), proc_root) {
        known.blind = Some(blind);
    }
    let unowned = |complete: bool| {
        listeners
            .iter()
            .filter(|l| l.processes.is_empty() && l.kernel.is_none())
            .filter(|l| l.processes_complete == complete)
            .count()
    };
    warnings.extend(self::warnings(
        unowned(false),
        unowned(true),
        known.blind.as_ref(),
    ));
    known.by_inode = listeners
        .iter()
        .filter(|l| l.inode != 0 && !known.forget)
        .map(|l| (l.inode, (l.processes.clone(), l.processes_complete)))
        .collect();
}

#[derive(Debug, Default)]
pub struct OwnerScan {
    /// inode → the processes holding it, in pid order; the sockets of the same processes
    /// share one list.
    pub owners: HashMap<u64, Owners>,
    /// Processes whose fds we were not allowed to read.
    pub denied: usize,
    /// Processes that exited, or were replaced under their pid, while we read them.
    pub vanished: usize,
    /// Set when the process list itself could not be read.
    pub unlisted: Option<String>,
}

impl OwnerScan {
    /// Whether every process was inspected, so that a socket's owner list is whole.
    pub fn complete(&self, hidepid: Option<&str>) -> bool {
        self.denied == 0 && self.unlisted.is_none() && hidepid.is_none()
    }

    /// What kept this scan from seeing every process, if anything did. `hidepid` is the
    /// proc mount's option when it hides processes from us.
    pub fn blind(&self, hidepid: Option<&str>, proc_root: &Path) -> Option<Blind> {
        if let Some(why) = &self.unlisted {
            return Some(Blind::Unlisted(why.clone()));
        }
        if let Some(option) = hidepid {
            return Some(Blind::Hidepid {
                mount: proc_root.display().to_string(),
                option: option.to_string(),
                denied: self.denied,
            });
        }
        // Root can be refused too: a process of a parent user namespace, or an LSM.
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        (self.denied > 0).then_some(Blind::Denied {
            processes: self.denied,
            root,
        })
    }
}

/// Why the owners of some sockets could not be seen. `--watch` looks up only the
/// sockets that are new, so the reason a socket's owners are unknown is the one given
/// by the scan that looked it up, remembered with it: a later scan that saw everything
/// it looked at does not explain the older sockets away (as held by the kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blind {
    /// The process list itself could not be read.
    Unlisted(String),
    /// The proc mount hides other users' processes.
    Hidepid {
        mount: String,
        option: String,
        denied: usize,
    },
    /// Some processes' open files could not be read.
    Denied { processes: usize, root: bool },
}

/// The warnings for the listening sockets with no owner (and no kernel facility) found:
/// `unseen` of them had owners we could not see (their scan was `blind`), `unclaimed`
/// were looked up by a scan that saw every process, so no process holds them. One
/// explanation per socket, never two for the same one.
pub fn warnings(unseen: usize, unclaimed: usize, blind: Option<&Blind>) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(Blind::Unlisted(why)) = blind {
        out.push(Warning::counted(
            "owners: the process list could not be read",
            format!("could not list processes ({why}): no socket shows its owner"),
        ));
        return out;
    }
    if unseen > 0 {
        let sockets = plural(unseen, "listening socket shows", "listening sockets show");
        let warning = match blind {
            Some(Blind::Hidepid {
                mount,
                option,
                denied,
            }) => {
                let denied = match denied {
                    0 => String::new(),
                    n => format!(" ({n} could not be read)"),
                };
                Warning::counted(
                    "owners: hidden by hidepid",
                    format!(
                        "{mount} is mounted with {option}, which keeps other users' processes \
                         from us{denied}; a hidden process looks exactly like one that has \
                         exited; {sockets} no process; run as root for full attribution"
                    ),
                )
            }
            Some(Blind::Denied {
                processes,
                root: true,
            }) => Warning::counted(
                "owners: denied even to root",
                format!(
                    "could not read the open files of {} (permission denied): {sockets} no \
                     process; denied even to root (a process outside our user namespace, or \
                     an LSM policy)",
                    plural(*processes, "process", "processes"),
                ),
            ),
            Some(Blind::Denied {
                processes,
                root: false,
            }) => Warning::counted(
                "owners: denied without root",
                format!(
                    "could not read the open files of {} (permission denied): {sockets} no \
                     process; run as root for full attribution",
                    plural(*processes, "process", "processes"),
                ),
            ),
            _ => Warning::counted(
                "owners: not all seen",
                format!("not every process could be read: {sockets} no process"),
            ),
        };
        out.push(warning);
    }
    if unclaimed > 0 {
        out.push(Warning::counted(
            "owners: none in /proc",
            format!(
                "{} no owning process in /proc: held by the kernel, by a process in another \
                 PID namespace, or by one that exited during the audit",
                plural(unclaimed, "listening socket has", "listening sockets have"),
            ),
        ));
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Walk every process under `proc_root` and note which of the `wanted` inodes it holds.
///
/// The walk is kernel-bound (a readlink per fd, a few µs each), so the processes are
/// shared out among one thread per core: each takes the next unread pid until none is
/// left, so that a few processes with tens of thousands of fds do not leave a core idle.
/// Every process is still read, once; the result does not depend on who read what.
pub fn scan(proc_root: &Path, wanted: &HashSet<u64>) -> OwnerScan {
    let mut scan = OwnerScan::default();
    if wanted.is_empty() {
        return scan;
    }
    let listing = open_dir(None, proc_root).and_then(|root| {
        let pids = Dir::read_from(&root)?;
        Ok((root, pids))
    });
    let (root, entries) = match listing {
        Ok(listing) => listing,
        Err(e) => {
            scan.unlisted = Some(format!("{}: {}", proc_root.display(), describe_io(&e)));
            return scan;
        }
    };
    let pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().ok()?.parse::<i32>().ok())
        .collect(); // names that are not numbers are not processes: net, sys, self, ...
    let next = AtomicUsize::new(0);
    let work = || {
        let mut part = Part::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&pid) = pids.get(i) else {
                return part;
            };
            let inspected = match open_dir(Some(&root), Path::new(&pid.to_string())) {
                Ok(dir) => inspect(&ProcDir(dir), pid, wanted),
                Err(e) => Inspected::failed(&e),
            };
            match inspected {
                Inspected::Holds(process, mut inodes) => {
                    // Kept until every process is read: without the room for all its
                    // fds (a worker holding 100,000 connections) it was read with.
                    inodes.shrink_to_fit();
                    part.holders.push((process, inodes));
                }
                Inspected::Nothing => {}
                Inspected::Denied => part.denied += 1,
                Inspected::Gone => part.vanished += 1,
            }
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(pids.len() / 16 + 1);
    let parts: Vec<Part> = if threads > 1 {
        std::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
            let mut parts = vec![work()];
            // A helper that panicked is a bug; its processes would be missing, so the
            // panic goes on rather than leaving an owner list short.
            parts.extend(helpers.into_iter().map(|h| h.join().unwrap()));
            parts
        })
    } else {
        vec![work()]
    };
    let mut holders = Vec::new();
    for part in parts {
        scan.denied += part.denied;
        scan.vanished += part.vanished;
        holders.extend(part.holders);
    }
    // One lookup per user, not per process: a server's workers share one.
    let mut users = UserNames::default();
    for (process, _) in &mut holders {
        process.user = process.uid.and_then(|uid| users.name(uid));
    }
    scan.owners = share(holders);
    scan
}

/// One thread's share of the walk.
#[derive(Debug, Default)]
struct Part {
    /// The processes holding wanted sockets, each with the inodes it holds.
    holders: Vec<(Process, Vec<u64>)>,
    denied: usize,
    vanished: usize,
}

/// inode → its holders, in pid order. Sockets held by the same processes get the same
/// shared list: 48,000 sockets of 3 processes are 3 lists, not 48,000 copies of names.
fn share(mut holders: Vec<(Process, Vec<u64>)>) -> HashMap<u64, Owners> {
    holders.sort_unstable_by_key(|(process, _)| process.pid); // each pid is read once
    // (inode, index of its holder): sorted, each inode's holders are a run, in pid order.
    let mut held: Vec<(u64, usize)> = holders
        .iter_mut()
        .enumerate()
        .flat_map(|(i, (_, inodes))| std::mem::take(inodes).into_iter().map(move |n| (n, i)))
        .collect();
    held.sort_unstable();
    let mut owners = HashMap::with_capacity(held.chunk_by(|a, b| a.0 == b.0).count());
    let mut lists: HashMap<Vec<usize>, Owners> = HashMap::new();
    let mut members = Vec::new();
    for run in held.chunk_by(|a, b| a.0 == b.0) {
        members.clear();
        members.extend(run.iter().map(|&(_, i)| i));
        let list = match lists.get(members.as_slice()) {
            Some(list) => list.clone(),
            None => {
                let list = Owners::from(
                    members
                        .iter()
                        .map(|&i| holders[i].0.clone())
                        .collect::<Vec<_>>(),
                );
                lists.insert(members.clone(), list.clone());
                list
            }
        };
        owners.insert(run[0].0, list);
    }
    owners
}

/// What reading one process told us.
#[derive(Debug, PartialEq, Eq)]
enum Inspected {
    /// It holds these wanted inodes (sorted, each once).
    Holds(Process, Vec<u64>),
    /// It holds none of them.
    Nothing,
    /// We may not read its fds.
    Denied,
    /// It exited, or its pid now names another process.
    Gone,
}

impl Inspected {
    fn failed(e: &io::Error) -> Inspected {
        match e.kind() {
            io::ErrorKind::PermissionDenied => Inspected::Denied,
            // ENOENT, ESRCH and the rest: whatever it was, it is no longer there to read.
            _ => Inspected::Gone,
        }
    }
}

/// The reads one process takes. A trait so that the tests can stage a process that
/// exits or is replaced at each step.
trait PidDir {
    /// `stat`'s starttime: with the pid, what tells this process from a later one.
    fn start_time(&self) -> io::Result<u64>;
    /// Push the inode of every `socket:[N]` fd. A link that is gone (the fd was closed
    /// meanwhile) is skipped; one we may not read makes the whole process unreadable:
    /// inside a user namespace the fd directory lists, but its links do not resolve.
    fn socket_inodes(&self, found: &mut Vec<u64>) -> io::Result<()>;
    fn comm(&self) -> io::Result<Vec<u8>>;
    fn exe(&self) -> Option<PathBuf>;
    /// `status`: the file whose `Uid:` line says whom it runs as.
    fn status(&self) -> Option<Vec<u8>>;
    /// `cmdline`: its arguments, each ended by a NUL.
    fn cmdline(&self) -> Option<Vec<u8>>;
}

fn inspect(dir: &impl PidDir, pid: i32, wanted: &HashSet<u64>) -> Inspected {
    let mut held = Vec::new();
    if let Err(e) = dir.socket_inodes(&mut held) {
        return Inspected::failed(&e);
    }
    held.retain(|inode| wanted.contains(inode));
    if held.is_empty() {
        // Most processes: their fds are all we read (the handle is bound to this
        // process, so what we read was its own).
        return Inspected::Nothing;
    }
    // From here to the last read, what we learn must be one process's: its start time
    // brackets the name, and the fds are read again after it.
    let before = match dir.start_time() {
        Ok(time) => time,
        Err(e) => return Inspected::failed(&e),
    };
    held.sort_unstable();
    held.dedup(); // a process may hold one socket under several fds
    let exe = dir.exe();
    let uid = dir.status().as_deref().and_then(effective_uid);
    let args = dir.cmdline().map(|bytes| arguments(&bytes));
    let comm = match dir.comm() {
        Ok(comm) => comm,
        Err(e) => return Inspected::failed(&e),
    };
    // Still holding them once named: a process that exec'd meanwhile has a new name and
    // has closed its close-on-exec fds, and must not lend the new name to the socket.
    let mut still = Vec::with_capacity(held.len());
    if let Err(e) = dir.socket_inodes(&mut still) {
        return Inspected::failed(&e);
    }
    // Sorted and searched: a process may hold tens of thousands of sockets.
    still.sort_unstable();
    held.retain(|inode| still.binary_search(inode).is_ok());
    if held.is_empty() {
        return Inspected::Gone;
    }
    // The same process from the first read to the last, or nothing at all.
    match dir.start_time() {
        Ok(after) if after == before => {
            let process = Process {
                pid,
                comm,
                exe,
                uid,
                user: None,
                args,
            };
            Inspected::Holds(process, held)
        }
        _ => Inspected::Gone,
    }
}

/// A handle on one /proc/<pid> directory.
struct ProcDir(OwnedFd);

impl PidDir for ProcDir {
    fn start_time(&self) -> io::Result<u64> {
        let stat = read_at(&self.0, "stat")?;
        parse_start_time(&stat).ok_or_else(|| io::Error::other("unexpected stat format"))
    }

    fn socket_inodes(&self, found: &mut Vec<u64>) -> io::Result<()> {
        let fds = open_dir(Some(&self.0), Path::new("fd"))?;
        let mut link = Vec::with_capacity(32);
        for entry in Dir::read_from(&fds)? {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if denied(e) => return Err(e.into()),
                Err(_) => continue,
            };
            let name = entry.file_name();
            if name.to_bytes().starts_with(b".") {
                continue;
            }
            // Each buffer is reused: no allocation per fd.
            link = match rustix::fs::readlinkat(&fds, name, std::mem::take(&mut link)) {
                Ok(target) => {
                    if let Some(inode) = socket_inode(target.as_bytes()) {
                        found.push(inode);
                    }
                    target.into_bytes()
                }
                Err(e) if denied(e) => return Err(e.into()),
                Err(_) => Vec::with_capacity(32),
            };
        }
        Ok(())
    }

    fn comm(&self) -> io::Result<Vec<u8>> {
        let mut comm = read_at(&self.0, "comm")?;
        if comm.last() == Some(&b'\n') {
            comm.pop();
        }
        Ok(comm)
    }

    fn exe(&self) -> Option<PathBuf> {
        rustix::fs::readlinkat(&self.0, "exe", Vec::new())
            .ok()
            .map(|target| PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    fn status(&self) -> Option<Vec<u8>> {
        read_at(&self.0, "status").ok()
    }

    fn cmdline(&self) -> Option<Vec<u8>> {
        read_at(&self.0, "cmdline").ok()
    }
}

/// The effective uid: the second field of `status`'s `Uid:` line (real, effective,
/// saved, filesystem).
fn effective_uid(status: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(status).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// `cmdline`'s NUL-ended arguments as text. A kernel thread's is empty: `None`-like, an
/// empty list.
fn arguments(cmdline: &[u8]) -> Arc<[String]> {
    let cmdline = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
    if cmdline.is_empty() {
        return Arc::from([]);
    }
    cmdline
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

fn denied(e: rustix::io::Errno) -> bool {
    e == rustix::io::Errno::ACCESS || e == rustix::io::Errno::PERM
}

fn open_dir(parent: Option<&OwnedFd>, path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match parent {
        Some(parent) => rustix::fs::openat(parent, path, flags, Mode::empty()),
        None => rustix::fs::open(path, flags, Mode::empty()),
    };
    fd.map_err(io::Error::from)
}

fn read_at(dir: &OwnedFd, name: &str) -> io::Result<Vec<u8>> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut bytes = Vec::with_capacity(512);
    std::fs::File::from(fd).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Field 22 of `stat`. The name in field 2 is chosen by the process and may hold spaces
/// and parentheses, so the fields are counted from the last `)`.
fn parse_start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After the name: field 3 (state) onwards, so starttime is the 20th.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn start_time_survives_a_hostile_name() {
        let stat = b"4242 (a) b) (c 0 0) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time(b"4242 (x) S 1"), None);
        assert_eq!(parse_start_time(b"no parenthesis"), None);
    }

    #[test]
    fn the_effective_uid_and_the_arguments() {
        let status = b"Name:\tdnsmasq\nUmask:\t0022\nUid:\t0\t108\t108\t108\n";
        assert_eq!(effective_uid(status), Some(108));
        assert_eq!(effective_uid(b"Name:\tx\n"), None);
        assert_eq!(effective_uid(b"Uid:\t0\n"), None);
        let args = arguments(b"/usr/bin/memcached\0-l\x000.0.0.0\0--\xff\0");
        assert_eq!(
            &*args,
            ["/usr/bin/memcached", "-l", "0.0.0.0", "--\u{fffd}"]
        );
        assert!(arguments(b"").is_empty());
    }

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        for other in [
            &b"pipe:[12345]"[..],
            b"/dev/null",
            b"socket:[]",
            b"socket:[1x]",
            b"anon_inode:[eventfd]",
        ] {
            assert_eq!(socket_inode(other), None);
        }
    }

    /// A process whose reads fail, or whose start time changes, at a chosen step.
    struct Staged {
        start_times: [io::Result<u64>; 2],
        calls: Cell<usize>,
        fds: io::Result<Vec<u64>>,
        /// What the fds are when read again, after the name; `None`: unchanged.
        fds_after: Option<Vec<u64>>,
        fd_reads: Cell<usize>,
        comm: io::Result<Vec<u8>>,
    }

    fn err(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    fn staged() -> Staged {
        Staged {
            start_times: [Ok(100), Ok(100)],
            calls: Cell::new(0),
            fds: Ok(vec![7, 9, 7]),
            fds_after: None,
            fd_reads: Cell::new(0),
            comm: Ok(b"nginx".to_vec()),
        }
    }

    impl PidDir for Staged {
        fn start_time(&self) -> io::Result<u64> {
            let call = self.calls.replace(self.calls.get() + 1);
            match &self.start_times[call.min(1)] {
                Ok(t) => Ok(*t),
                Err(e) => Err(err(e.kind())),
            }
        }
        fn socket_inodes(&self, found: &mut Vec<u64>) -> io::Result<()> {
            let read = self.fd_reads.replace(self.fd_reads.get() + 1);
            if let (1, Some(after)) = (read, &self.fds_after) {
                found.extend(after);
                return Ok(());
            }
            match &self.fds {
                Ok(inodes) => {
                    found.extend(inodes);
                    Ok(())
                }
                Err(e) => Err(err(e.kind())),
            }
        }
        fn comm(&self) -> io::Result<Vec<u8>> {
            match &self.comm {
                Ok(c) => Ok(c.clone()),
                Err(e) => Err(err(e.kind())),
            }
        }
        fn exe(&self) -> Option<PathBuf> {
            None
        }
        fn status(&self) -> Option<Vec<u8>> {
            Some(b"Name:\tnginx\nUid:\t0\t33\t33\t33\nGid:\t0\t33\t33\t33\n".to_vec())
        }
        fn cmdline(&self) -> Option<Vec<u8>> {
            Some(b"nginx: worker process\0".to_vec())
        }
    }

    fn wanted() -> HashSet<u64> {
        HashSet::from([7])
    }

    #[test]
    fn a_steady_process_is_an_owner_once_per_socket() {
        let got = inspect(&staged(), 42, &wanted());
        let process = Process {
            pid: 42,
            comm: b"nginx".to_vec(),
            uid: Some(33),
            args: Some(Arc::from(["nginx: worker process".to_string()])),
            ..Process::default()
        };
        assert_eq!(got, Inspected::Holds(process, vec![7]));
    }

    #[test]
    fn pid_reused_between_fds_and_name_is_no_owner() {
        let mut dir = staged();
        dir.start_times = [Ok(100), Ok(250)];
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
    }

    #[test]
    fn a_process_that_execd_and_closed_the_socket_is_no_owner() {
        let mut dir = staged();
        dir.fds_after = Some(vec![9]);
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
    }

    #[test]
    fn exits_at_any_step_are_not_errors() {
        use io::ErrorKind::NotFound;
        let mut dir = staged();
        dir.start_times = [Err(err(NotFound)), Ok(100)];
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
        let mut dir = staged();
        dir.fds = Err(err(NotFound));
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
        let mut dir = staged();
        // ESRCH: the task is gone though its directory handle is still open.
        dir.comm = Err(io::Error::from_raw_os_error(libc::ESRCH));
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
        let mut dir = staged();
        dir.start_times = [Ok(100), Err(err(NotFound))];
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
    }

    fn process(pid: i32, comm: &[u8]) -> Process {
        Process {
            pid,
            comm: comm.to_vec(),
            exe: Some(PathBuf::from("/usr/sbin/named")),
            ..Process::default()
        }
    }

    #[test]
    fn owner_lists_are_in_pid_order_and_shared_by_the_same_holders() {
        // Found in any order (threads share the walk); 7 and 8 are held by both.
        let owners = share(vec![
            (process(30, b"worker"), vec![7, 8, 9]),
            (process(10, b"master"), vec![1, 2, 7, 8]),
        ]);
        let pids = |inode| owners[&inode].iter().map(|p| p.pid).collect::<Vec<_>>();
        assert_eq!(pids(1), [10]);
        assert_eq!(pids(2), [10]);
        assert_eq!(pids(7), [10, 30]);
        assert_eq!(pids(8), [10, 30]);
        assert_eq!(pids(9), [30]);
        assert_eq!(owners.len(), 5);
        assert_eq!(owners[&7][1], process(30, b"worker"));
        // One list per set of holders, not one copy per socket.
        let list = |inode| owners[&inode].as_ptr();
        assert_eq!(list(1), list(2));
        assert_eq!(list(7), list(8));
        assert_ne!(list(1), list(7));
    }

    #[test]
    fn unreadable_fds_are_denied_and_unrelated_processes_are_nothing() {
        let mut dir = staged();
        dir.fds = Err(err(io::ErrorKind::PermissionDenied));
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Denied);
        let mut dir = staged();
        dir.fds = Ok(vec![1, 2]);
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Nothing);
        // Nothing more is read of a process that holds none of them: one pass over
        // every process's fds is the scan's cost, so each read it saves counts.
        assert_eq!((dir.fd_reads.get(), dir.calls.get()), (1, 0));
    }

    #[test]
    fn a_holder_is_read_whole_between_two_start_times() {
        let dir = staged();
        assert!(matches!(inspect(&dir, 42, &wanted()), Inspected::Holds(..)));
        assert_eq!((dir.fd_reads.get(), dir.calls.get()), (2, 2));
        // Replaced after its fds were first read: the start time read next is the new
        // process's, the last one too, and yet the name read between them is not lent
        // to the socket unless the fds still hold it.
        let mut dir = staged();
        dir.start_times = [Ok(100), Ok(100)];
        dir.fds_after = Some(vec![]);
        assert_eq!(inspect(&dir, 42, &wanted()), Inspected::Gone);
    }
}
