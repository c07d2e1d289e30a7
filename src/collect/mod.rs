//! Collect: read the kernel's socket tables and find who owns each listener.
//!
//! This is the only stage that touches the system. It returns plain [`Listener`]
//! records plus the warnings for what it could not see; it judges nothing.

#[cfg(target_os = "linux")]
mod owners;
pub mod procnet;
pub mod sysctl;
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
    /// `None` when the uid has no name in the user database.
    pub user: Option<String>,
    /// Empty when no owner was found (or we were not allowed to look).
    pub processes: Vec<Process>,
}

/// Everything the collect stage saw.
#[derive(Debug, Default)]
pub struct Collection {
    pub listeners: Vec<Listener>,
    /// Non-fatal trouble, said once each: what we could not see.
    pub warnings: Vec<String>,
}

/// Read the socket tables under `proc_root` (normally `/proc`) and attribute owners.
#[cfg(target_os = "linux")]
pub fn collect(proc_root: &Path) -> Result<Collection, Error> {
    let mut listeners = procnet::read_listeners(proc_root)?;
    let mut warnings = Vec::new();

    let scan = owners::scan(proc_root, listeners.iter().map(|l| l.inode).collect());
    let mut users = users::UserNames::default();
    for listener in &mut listeners {
        listener.processes = scan
            .owners
            .get(&listener.inode)
            .cloned()
            .unwrap_or_default();
        listener.user = users.name(listener.uid);
    }
    let unowned = listeners.iter().filter(|l| l.processes.is_empty()).count();
    if let Some(warning) = scan.warning(unowned) {
        warnings.push(warning);
    }
    Ok(Collection {
        listeners,
        warnings,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn collect(_proc_root: &Path) -> Result<Collection, Error> {
    Err(Error::new(
        "this system is not Linux: portaudit reads Linux's /proc socket tables",
    ))
}
