//! Collect: read the kernel's socket tables and find who owns each listener, and read
//! the network around them (each namespace's links, routes, rules, settings, BPF
//! programs, IPVS) that the path walk follows.
//!
//! This is the only stage that touches the system. It returns plain [`Listener`] and
//! [`Network`] records plus the warnings for what it could not see; it judges nothing.
//!
//! Two collectors read the sockets: `netlink` (sock_diag, the default on a live host:
//! fast, and it tells dual-stack and bound devices) and `proc` (the /proc/net tables: a
//! captured tree, a container's proc, or a sandbox that refuses netlink).

#[cfg(target_os = "linux")]
pub(crate) mod cgroup;
#[cfg(target_os = "linux")]
pub(crate) mod container;
#[cfg(target_os = "linux")]
mod firewall;
pub(crate) mod host;
#[cfg(target_os = "linux")]
pub(crate) mod kernel;
#[cfg(target_os = "linux")]
mod namespaces;
#[cfg(target_os = "linux")]
pub(crate) mod netlink;
#[cfg(target_os = "linux")]
pub mod netns;
#[cfg(target_os = "linux")]
pub(crate) mod network;
#[cfg(target_os = "linux")]
pub(crate) mod nft;
#[cfg(target_os = "linux")]
pub use nft::decode_dump;
#[cfg(target_os = "linux")]
mod nlmsg;
#[cfg(target_os = "linux")]
mod owners;
pub mod procnet;
pub mod proxy;
#[cfg(target_os = "linux")]
mod sockets;
pub mod sysctl;
#[cfg(test)]
mod testdir;
#[cfg(all(test, target_os = "linux"))]
mod testns;
#[cfg(target_os = "linux")]
pub mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::network::Network;
use crate::ruleset::Ruleset;
use crate::socket::{
    Collector, Container, Listener, NamespaceSeen, Netns, Owners, Protocol, Publish, Warning,
};

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
    /// Which network namespaces to audit.
    pub namespaces: Namespaces,
    /// Where the host's nftables ruleset comes from.
    pub firewall: FirewallSource,
}

/// `--all-netns`, `--netns`: which network namespaces to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// The one portaudit runs in.
    Own,
    /// Every one on the host.
    All,
    /// `--netns NAME|PATH|PID`.
    One(String),
}

/// Where the ruleset comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallSource {
    /// `--no-firewall`, or a captured `--proc-root` without `--ruleset`.
    Off,
    /// `nft -j list ruleset`, in portaudit's own namespace.
    Nft,
    /// `--ruleset FILE`: a saved `nft -j list ruleset`.
    File(PathBuf),
}

impl Options {
    /// Whether we read this host's own /proc (the only one netlink can answer for).
    pub fn live(&self) -> bool {
        self.proc_root == Path::new("/proc")
    }
}

/// Everything the collect stage saw: the sockets, and what is around them.
#[derive(Debug, Default)]
pub struct Collection {
    pub listeners: Vec<Listener>,
    pub seen: Seen,
}

/// What the collect stage saw besides the sockets.
#[derive(Debug, Default)]
pub struct Seen {
    /// Non-fatal trouble, said once each: what we could not see.
    pub warnings: Vec<Warning>,
    pub collector: Collector,
    /// Part of a socket table could not be read: a listener may be missing, so the audit
    /// cannot pass (exit 2), though it can still fail (exit 1).
    pub incomplete: bool,
    /// The namespaces considered, portaudit's own first; empty with `--proc-root`.
    pub namespaces: Vec<NamespaceSeen>,
    /// The docker-proxy processes' publishes (DNAT rules are the reach stage's to read
    /// from the ruleset).
    pub proxies: Vec<Publish>,
    /// Each namespace's network, portaudit's own first: what the path walk follows.
    pub network: Network,
    /// The host's nftables ruleset, as the kernel runs it: the reach stage evaluates it.
    pub ruleset: RulesetRead,
}

/// The host's ruleset, or why there is none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum RulesetRead {
    /// Not asked for (`--no-firewall`, or `--proc-root` without `--ruleset`).
    #[default]
    NotRead,
    /// Asked for, but it could not be read (a warning says why): every answer is unknown.
    Unreadable,
    /// Read: from the kernel, nft, or a saved `nft -j list ruleset`.
    Read(Box<Ruleset>),
}

/// The owners an earlier collection found (`--watch`): inode → the processes holding it,
/// and whether that list was whole. A socket still open keeps its owners, so only the
/// sockets that are new send us through every process's fds.
#[derive(Debug, Default)]
pub struct KnownOwners {
    by_inode: HashMap<u64, (Owners, bool)>,
    /// Why the last scan that could not see every process could not: the reason the
    /// owners of the sockets it looked up are unknown, still theirs at later polls.
    blind: Option<owners::Blind>,
    /// A single audit: there is no next poll to remember them for.
    forget: bool,
}

impl KnownOwners {
    /// For a single audit: none known, and none remembered (an index of every socket,
    /// megabytes on a busy host, that nobody would read).
    pub fn once() -> KnownOwners {
        KnownOwners {
            by_inode: HashMap::new(),
            blind: None,
            forget: true,
        }
    }
}

/// Collect, one step after another, each returning what it read: the namespaces in the
/// audit; each one's network and sockets; the users and owners of the sockets, their
/// units and containers; the host's ruleset (read meanwhile on a thread of its own); the
/// ports docker-proxy publishes.
///
/// Owners are looked up only for the sockets `known` does not hold; `known` then holds
/// the owners of exactly the sockets read now (it never grows beyond them). A single
/// audit passes [`KnownOwners::once`], which stays empty.
#[cfg(target_os = "linux")]
pub fn collect(options: &Options, known: &mut KnownOwners) -> Result<Collection, Error> {
    let proc_root = options.proc_root.as_path();
    let live = options.live();
    let firewall = firewall::start(options);
    let mut warnings: Vec<Warning> = Vec::new();
    let mut said = Vec::new();
    let mut incomplete = false;
    let scope = namespaces::scope(options, &mut said)?;
    let read = namespaces::read(options, &scope, &mut said, &mut incomplete);
    warnings.extend(said.drain(..).map(Warning::from));
    let namespaces::Read {
        mut listeners,
        collector,
        mut namespaces,
        network,
    } = read?;
    users::name(&mut listeners);
    if options.processes {
        owners::attribute(
            proc_root,
            live,
            &scope,
            known,
            &mut listeners,
            &mut warnings,
        );
    }
    warnings.extend(host::unmapped_warning(&listeners));
    cgroup::attribute(proc_root, live, &mut listeners);
    if live {
        container::attribute(proc_root, &mut listeners, &mut namespaces, &scope.targets);
        warnings.extend(netns::inside_container(proc_root).map(Warning::from));
    }
    let firewall = firewall::finish(firewall, &mut said);
    warnings.extend(said.drain(..).map(Warning::from));
    // Legacy tables are each namespace's to say (`network`): the host's loaded ones are
    // a warning here.
    let (ruleset, _legacy) = firewall?;
    let proxies = if live {
        proxy::published(proc_root, &listeners)
    } else {
        Vec::new()
    };
    Ok(Collection {
        listeners,
        seen: Seen {
            warnings,
            collector,
            incomplete,
            namespaces,
            proxies,
            ruleset,
            network,
        },
    })
}

/// `network namespace 4026532301 (web)`, as warnings name one.
pub fn describe_netns(netns: &Netns) -> String {
    match &netns.name {
        Some(name) => format!("network namespace {} ({name})", netns.inode),
        None => format!("network namespace {}", netns.inode),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn collect(_options: &Options, _known: &mut KnownOwners) -> Result<Collection, Error> {
    Err(Error::new(
        "this system is not Linux: portaudit reads Linux's /proc socket tables",
    ))
}
