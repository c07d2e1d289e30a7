//! Collect: read the kernel's socket tables and find who owns each listener.
//!
//! This is the only stage that touches the system. It returns plain [`Listener`]
//! records plus the warnings for what it could not see; it judges nothing.

#[cfg(target_os = "linux")]
mod host;
#[cfg(target_os = "linux")]
mod owners;
pub mod procnet;
#[cfg(target_os = "linux")]
mod users;

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// A process holding a listening socket open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    /// The kernel's `comm`, as raw bytes: chosen by whoever started the process, so
    /// neither trusted nor assumed to be UTF-8.
    pub comm: Vec<u8>,
    /// The executable (`/proc/<pid>/exe`), when we may read it.
    pub exe: Option<PathBuf>,
}

impl Process {
    /// The name as text; bytes that are not UTF-8 become U+FFFD.
    pub fn name(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.comm)
    }
}

/// One listening socket: a TCP socket in LISTEN, or a bound, unconnected UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub protocol: Protocol,
    pub family: Family,
    pub address: IpAddr,
    pub port: u16,
    pub uid: u32,
    pub inode: u64,
    /// The uid's name as the user database has it (bytes: not assumed to be UTF-8);
    /// `None` when it has none.
    pub user: Option<Vec<u8>>,
    /// Empty when no owner was found (or we were not allowed to look).
    pub processes: Vec<Process>,
    /// Every process could be inspected, so `processes` is the whole list. False when
    /// some were out of reach (no root, hidepid): the owners we did not see are unknown.
    pub processes_complete: bool,
}

impl Listener {
    /// The user name as text; bytes that are not UTF-8 become U+FFFD.
    pub fn user_name(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(String::from_utf8_lossy)
    }
}

/// Everything the collect stage saw.
#[derive(Debug, Default)]
pub struct Collection {
    pub listeners: Vec<Listener>,
    /// Non-fatal trouble, said once each: what we could not see.
    pub warnings: Vec<String>,
    /// Part of a socket table could not be read: a listener may be missing, so the audit
    /// cannot pass (exit 2), though it can still fail (exit 1).
    pub incomplete: bool,
}

/// Read the socket tables under `proc_root` (normally `/proc`) and attribute owners.
#[cfg(target_os = "linux")]
pub fn collect(proc_root: &Path) -> Result<Collection, Error> {
    let tables = procnet::read_listeners(proc_root)?;
    let mut listeners = tables.listeners;
    let incomplete = !tables.bad_rows.is_empty();
    let mut warnings: Vec<String> = tables
        .bad_rows
        .into_iter()
        .map(|row| format!("{row}; row skipped, so the audit is incomplete"))
        .collect();

    let wanted = listeners
        .iter()
        .map(|l| l.inode)
        .filter(|&i| i != 0)
        .collect();
    let scan = owners::scan(proc_root, &wanted);
    let hidepid = host::hidepid(proc_root);
    let complete = scan.complete(hidepid.as_deref());
    let mut users = users::UserNames::default();
    for listener in &mut listeners {
        listener.processes = scan
            .owners
            .get(&listener.inode)
            .cloned()
            .unwrap_or_default();
        listener.processes_complete = complete;
        listener.user = users.name(listener.uid);
    }
    let unowned = listeners.iter().filter(|l| l.processes.is_empty()).count();
    warnings.extend(scan.warning(unowned, hidepid.as_deref(), proc_root));
    if let Some(overflow) = host::unmapped_uid() {
        let shown = listeners.iter().filter(|l| l.uid == overflow).count();
        if shown > 0 {
            warnings.push(format!(
                "portaudit runs in a user namespace: {shown} listening socket{} uid {overflow}, \
                 the kernel's stand-in for an owner who has no uid in this namespace",
                if shown == 1 { " shows" } else { "s show" },
            ));
        }
    }
    Ok(Collection {
        listeners,
        warnings,
        incomplete,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn collect(_proc_root: &Path) -> Result<Collection, Error> {
    Err(Error::new(
        "this system is not Linux: portaudit reads Linux's /proc socket tables",
    ))
}
