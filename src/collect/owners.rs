//! Find the processes that hold each listening socket open.
//!
//! A socket's owners are the processes with an fd linking to `socket:[INODE]`. We walk
//! /proc/<pid>/fd with the procfs crate, keeping only the inodes that are listening.
//! Processes can vanish mid-scan (not an error) and other users' fds cannot be read
//! without root (counted, and said once in a warning).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use procfs::ProcError;
use procfs::process::{FDTarget, all_processes_with_root};

use super::Process;
use crate::error::describe_io;

#[derive(Debug, Default)]
pub struct OwnerScan {
    /// inode → the processes holding it, in pid order.
    pub owners: HashMap<u64, Vec<Process>>,
    /// Processes whose fds we were not allowed to read.
    pub denied: usize,
    /// Set when the process list itself could not be read.
    pub unlisted: Option<String>,
}

impl OwnerScan {
    /// The one warning to print when some listener is left without an owner, if any.
    pub fn warning(&self, unowned: usize) -> Option<String> {
        if let Some(why) = &self.unlisted {
            return Some(format!(
                "could not list processes ({why}): no socket shows its owner"
            ));
        }
        if unowned > 0 && self.denied > 0 {
            return Some(format!(
                "could not read the open files of {} (permission denied): {} no process; \
                 run as root for full attribution",
                plural(self.denied, "process", "processes"),
                plural(unowned, "listening socket shows", "listening sockets show"),
            ));
        }
        if unowned > 0 {
            return Some(format!(
                "{} no owning process in /proc: held by the kernel or by a process in another \
                 PID namespace",
                plural(unowned, "listening socket has", "listening sockets have"),
            ));
        }
        None
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn scan(proc_root: &Path, wanted: HashSet<u64>) -> OwnerScan {
    let mut scan = OwnerScan::default();
    if wanted.is_empty() {
        return scan;
    }
    let processes = match all_processes_with_root(proc_root) {
        Ok(processes) => processes,
        Err(e) => {
            scan.unlisted = Some(describe_proc_error(proc_root, e));
            return scan;
        }
    };
    for process in processes.flatten() {
        let fds = match process.fd() {
            Ok(fds) => fds,
            Err(ProcError::PermissionDenied(_)) => {
                scan.denied += 1;
                continue;
            }
            // Exited since we listed it, or a kernel thread: nothing to attribute.
            Err(_) => continue,
        };
        let mut held: Vec<u64> = fds
            .flatten()
            .filter_map(|fd| match fd.target {
                FDTarget::Socket(inode) if wanted.contains(&inode) => Some(inode),
                _ => None,
            })
            .collect();
        if held.is_empty() {
            continue;
        }
        let Some(comm) = comm(proc_root, process.pid) else {
            continue; // exited between reading its fds and its name
        };
        let exe = process.exe().ok();
        held.sort_unstable();
        held.dedup(); // a process may hold one socket under several fds
        for inode in held {
            scan.owners.entry(inode).or_default().push(Process {
                pid: process.pid,
                comm: comm.clone(),
                exe: exe.clone(),
            });
        }
    }
    for owners in scan.owners.values_mut() {
        owners.sort_by_key(|p| p.pid);
    }
    scan
}

/// The process name from `comm`, as bytes: it is not guaranteed to be UTF-8.
fn comm(proc_root: &Path, pid: i32) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(proc_root.join(pid.to_string()).join("comm")).ok()?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    Some(bytes)
}

fn describe_proc_error(root: &Path, e: ProcError) -> String {
    match e {
        ProcError::PermissionDenied(_) => format!("{}: permission denied", root.display()),
        ProcError::NotFound(_) => format!("{}: no such file or directory", root.display()),
        ProcError::Io(io, _) => format!("{}: {}", root.display(), describe_io(&io)),
        other => format!("{}: {other}", root.display()),
    }
}
