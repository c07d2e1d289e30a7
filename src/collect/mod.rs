//! Collect: read the kernel's socket tables and find who owns each listener.
//!
//! This is the only stage that touches the system. It returns plain [`Listener`]
//! records plus the warnings for what it could not see; it judges nothing.
//!
//! Two collectors read the sockets: `netlink` (sock_diag, the default on a live host:
//! fast, and it tells dual-stack and bound devices) and `proc` (the /proc/net tables: a
//! captured tree, a container's proc, or a sandbox that refuses netlink).

#[cfg(target_os = "linux")]
#[allow(dead_code)] // until the collect stage uses it (issue 6)
mod container;
mod host;
#[cfg(target_os = "linux")]
mod netlink;
#[cfg(target_os = "linux")]
pub mod netns;
#[cfg(target_os = "linux")]
#[allow(dead_code)] // until the collect stage uses it (issue 6)
mod nft;
#[cfg(target_os = "linux")]
mod owners;
pub mod procnet;
pub mod proxy;
pub mod sysctl;
#[cfg(target_os = "linux")]
mod users;

use std::borrow::Cow;
use std::collections::BTreeMap;
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
    /// What only the netlink collector can tell.
    pub detail: Detail,
    /// Every process could be inspected, so `processes` is the whole list. False when
    /// some were out of reach (no root, hidepid): the owners we did not see are unknown.
    pub processes_complete: bool,
    /// The network namespace it lives in; `None` when not known (`--proc-root`).
    pub netns: Option<Netns>,
    /// The container its processes (or its namespace's) run in, if any.
    pub container: Option<Container>,
}

/// A network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// Its inode number, as `lsns -t net` and `readlink /proc/PID/ns/net` show it.
    pub inode: u64,
    /// Its name under /run/netns (`ip netns add NAME`), if any.
    pub name: Option<String>,
    /// The namespace portaudit runs in: the host this audit describes.
    pub host: bool,
}

/// A container, as its runtime's cgroup names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `docker`, `containerd`, `podman`, `kubepods`, …
    pub runtime: String,
    /// The full id (64 hex digits for most runtimes).
    pub id: String,
    /// The name, where the runtime's state on disk gives it.
    pub name: Option<String>,
}

impl Listener {
    /// A socket as a collector reads it, before users and owners are looked up. The
    /// family is the address's: a `::ffff:a.b.c.d` bind is an IPv6 socket.
    pub fn new(protocol: Protocol, address: IpAddr, port: u16, uid: u32, inode: u64) -> Listener {
        Listener {
            protocol,
            family: match address {
                IpAddr::V4(_) => Family::Ipv4,
                IpAddr::V6(_) => Family::Ipv6,
            },
            address,
            port,
            uid,
            inode,
            user: None,
            processes: Vec::new(),
            processes_complete: false,
            detail: Detail::default(),
            netns: None,
            container: None,
        }
    }

    /// The user name as text; bytes that are not UTF-8 become U+FFFD.
    pub fn user_name(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(String::from_utf8_lossy)
    }
}

/// What a socket's bind means beyond address and port; `None` where the collector that
/// ran cannot tell (/proc/net shows none of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// IPV6_V6ONLY of an IPv6 socket: `Some(false)` on `::` means IPv4 reaches it too.
    pub v6only: Option<bool>,
    /// When `v6only` is unknown: the default net.ipv6.bindv6only gives new sockets. A
    /// guess, since a program can set IPV6_V6ONLY either way.
    pub v6only_default: Option<bool>,
    /// The device the socket is bound to (SO_BINDTODEVICE): it is reachable only there.
    pub device: Option<Device>,
    /// For a wildcard bind, the host's addresses it is reachable on (loopback left out).
    pub reachable_on: Option<Vec<HostAddress>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    /// IFF_LOOPBACK: traffic on it never leaves the host.
    pub loopback: bool,
}

/// One address of one of the host's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddress {
    pub address: IpAddr,
    pub device: String,
    pub ifindex: u32,
}

/// The collector that read the sockets; the report says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Collector {
    Netlink,
    #[default]
    Proc,
}

impl Collector {
    pub fn name(self) -> &'static str {
        match self {
            Collector::Netlink => "netlink",
            Collector::Proc => "proc",
        }
    }
}

/// `--collector`: which collector to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// netlink on a live host; /proc/net with `--proc-root` or when netlink is refused.
    Auto,
    Netlink,
    Proc,
}

/// How to collect: checked by the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub proc_root: PathBuf,
    pub collector: Choice,
    /// Look for the processes owning each socket (`--no-processes` skips it).
    pub processes: bool,
}

impl Options {
    /// Whether we read this host's own /proc (the only one netlink can answer for).
    pub fn live(&self) -> bool {
        self.proc_root == Path::new("/proc")
    }
}

/// Everything the collect stage saw.
#[derive(Debug, Default)]
pub struct Collection {
    pub listeners: Vec<Listener>,
    /// Non-fatal trouble, said once each: what we could not see.
    pub warnings: Vec<String>,
    pub collector: Collector,
    /// Part of a socket table could not be read: a listener may be missing, so the audit
    /// cannot pass (exit 2), though it can still fail (exit 1).
    pub incomplete: bool,
}

/// Read the sockets with the chosen collector and, unless told not to, attribute owners.
#[cfg(target_os = "linux")]
pub fn collect(options: &Options) -> Result<Collection, Error> {
    let proc_root = options.proc_root.as_path();
    let mut warnings = Vec::new();
    let mut incomplete = false;
    let (mut listeners, collector) = match options.collector {
        Choice::Netlink if !options.live() => {
            return Err(Error::new(format!(
                "--collector netlink cannot read --proc-root {}: netlink sees only the network \
                 namespace portaudit runs in (use --collector proc or auto)",
                proc_root.display()
            )));
        }
        Choice::Netlink => match from_netlink(&mut warnings) {
            Ok(listeners) => (listeners, Collector::Netlink),
            Err(e) => return Err(Error::new(format!("--collector netlink: {}", e.message()))),
        },
        Choice::Auto if options.live() => match from_netlink(&mut warnings) {
            Ok(listeners) => (listeners, Collector::Netlink),
            Err(netlink::NetlinkError::Refused(why)) => {
                warnings.push(format!(
                    "{why}; read /proc/net instead, which cannot tell dual-stack from \
                     IPv6-only sockets nor show bound devices"
                ));
                let listeners = from_proc(proc_root, &mut warnings, &mut incomplete)?;
                (listeners, Collector::Proc)
            }
            Err(netlink::NetlinkError::Failed(why)) => return Err(Error::new(why)),
        },
        Choice::Auto | Choice::Proc => {
            let listeners = from_proc(proc_root, &mut warnings, &mut incomplete)?;
            (listeners, Collector::Proc)
        }
    };

    let mut users = users::UserNames::default();
    for listener in &mut listeners {
        listener.user = users.name(listener.uid);
    }
    if options.processes {
        let wanted = listeners
            .iter()
            .map(|l| l.inode)
            .filter(|&i| i != 0)
            .collect();
        let scan = owners::scan(proc_root, &wanted);
        let hidepid = host::hidepid(proc_root);
        let complete = scan.complete(hidepid.as_deref());
        for listener in &mut listeners {
            listener.processes = scan
                .owners
                .get(&listener.inode)
                .cloned()
                .unwrap_or_default();
            listener.processes_complete = complete;
        }
        let unowned = listeners.iter().filter(|l| l.processes.is_empty()).count();
        warnings.extend(scan.warning(unowned, hidepid.as_deref(), proc_root));
    }
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
        collector,
        incomplete,
    })
}

/// /proc/net: the sockets, with IPV6_V6ONLY's default (net.ipv6.bindv6only) as the only
/// hint about dual-stack.
#[cfg(target_os = "linux")]
/// /proc/net; a row that cannot be parsed is a warning and makes the audit incomplete.
fn from_proc(
    proc_root: &Path,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Result<Vec<Listener>, Error> {
    let tables = procnet::read_listeners(proc_root)?;
    *incomplete |= !tables.bad_rows.is_empty();
    warnings.extend(
        tables
            .bad_rows
            .into_iter()
            .map(|row| format!("{row}; row skipped, so the audit is incomplete")),
    );
    let mut listeners = tables.listeners;
    let bindv6only = std::fs::read_to_string(proc_root.join("sys/net/ipv6/bindv6only"))
        .ok()
        .and_then(|text| match text.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        });
    for listener in listeners.iter_mut().filter(|l| l.family == Family::Ipv6) {
        listener.detail.v6only_default = bindv6only;
    }
    Ok(listeners)
}

/// sock_diag: the sockets with their IPV6_V6ONLY and bound device; rtnetlink: the host
/// addresses wildcard binds reach. Without rtnetlink the sockets are still right, so
/// that is only a warning.
#[cfg(target_os = "linux")]
fn from_netlink(warnings: &mut Vec<String>) -> Result<Vec<Listener>, netlink::NetlinkError> {
    let diags = netlink::read_listeners()?;
    let needs_interfaces = diags
        .iter()
        .any(|d| d.ifindex != 0 || d.listener.address.is_unspecified());
    let (devices, addresses) = if needs_interfaces {
        match netlink::read_interfaces() {
            Ok((devices, addresses)) => (devices, Some(addresses)),
            Err(e) => {
                warnings.push(format!(
                    "{}: bound devices are shown by number and wildcard binds without the \
                     host's addresses",
                    e.message()
                ));
                (BTreeMap::new(), None)
            }
        }
    } else {
        (BTreeMap::new(), None)
    };
    Ok(diags
        .into_iter()
        .map(|diag| {
            let mut listener = diag.listener;
            let device = (diag.ifindex != 0).then(|| {
                devices.get(&diag.ifindex).cloned().unwrap_or(Device {
                    name: format!("if{}", diag.ifindex),
                    loopback: false,
                })
            });
            let reachable_on = addresses
                .as_ref()
                .and_then(|all| reachable_on(&listener, diag.v6only, diag.ifindex, all));
            listener.detail = Detail {
                v6only: diag.v6only,
                v6only_default: None,
                device,
                reachable_on,
            };
            listener
        })
        .collect())
}

#[cfg(target_os = "linux")]
/// The host addresses a wildcard bind answers on: its family's (both, for a dual-stack
/// `::`), only the bound device's when it has one, loopback addresses left out.
fn reachable_on(
    listener: &Listener,
    v6only: Option<bool>,
    ifindex: u32,
    all: &[HostAddress],
) -> Option<Vec<HostAddress>> {
    let (v4, v6) = match listener.address {
        IpAddr::V4(a) if a.is_unspecified() => (true, false),
        IpAddr::V6(a) if a.is_unspecified() => (v6only == Some(false), true),
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|m| m.is_unspecified()) => (true, false),
        _ => return None,
    };
    Some(
        all.iter()
            .filter(|h| !h.address.is_loopback())
            .filter(|h| ifindex == 0 || h.ifindex == ifindex)
            .filter(|h| if h.address.is_ipv4() { v4 } else { v6 })
            .cloned()
            .collect(),
    )
}

#[cfg(not(target_os = "linux"))]
pub fn collect(_options: &Options) -> Result<Collection, Error> {
    Err(Error::new(
        "this system is not Linux: portaudit reads Linux's /proc socket tables",
    ))
}
