//! Collect: read the kernel's socket tables and find who owns each listener.
//!
//! This is the only stage that touches the system. It returns plain [`Listener`]
//! records plus the warnings for what it could not see; it judges nothing.
//!
//! Two collectors read the sockets: `netlink` (sock_diag, the default on a live host:
//! fast, and it tells dual-stack and bound devices) and `proc` (the /proc/net tables: a
//! captured tree, a container's proc, or a sandbox that refuses netlink).

#[cfg(target_os = "linux")]
pub(crate) mod cgroup;
#[cfg(target_os = "linux")]
pub(crate) mod container;
pub(crate) mod host;
#[cfg(target_os = "linux")]
pub(crate) mod kernel;
#[cfg(target_os = "linux")]
pub(crate) mod netlink;
#[cfg(target_os = "linux")]
pub mod netns;
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
pub mod sysctl;
#[cfg(test)]
mod testdir;
#[cfg(target_os = "linux")]
pub mod users;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::ruleset::Ruleset;
use crate::socket::{
    Collector, Container, Detail, Device, Family, Forwarding, HostAddress, Interfaces, Listener,
    NamespaceSeen, Netns, Owners, Protocol, Publish, Route, Via, Warning,
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
    /// The host's nftables ruleset, as the kernel runs it: the reach stage evaluates it.
    pub ruleset: RulesetRead,
    /// Legacy iptables tables are loaded: rules nft cannot show may drop what it accepts.
    pub legacy_firewall: bool,
    /// Whether the host (portaudit's own namespace) forwards each family.
    pub forwarding: Forwarding,
    /// The host's main routing table; `None` when not read (no other namespace audited,
    /// or rtnetlink refused).
    pub host_routes: Option<Vec<Route>>,
    /// The interfaces of each namespace (by inode) whose interfaces were read: the host's
    /// and those of other namespaces with a listener.
    pub interfaces: BTreeMap<u64, Interfaces>,
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

/// Read the sockets with the chosen collector and, unless told not to, attribute owners,
/// looking up only the sockets `known` does not hold; `known` then holds the owners of
/// exactly the sockets read now (it never grows beyond them). A single audit passes
/// [`KnownOwners::once`], which stays empty.
#[cfg(target_os = "linux")]
pub fn collect(options: &Options, known: &mut KnownOwners) -> Result<Collection, Error> {
    let proc_root = options.proc_root.as_path();
    // The ruleset is read beside the sockets and owners: it needs nothing from them, and
    // on a small server it is a good part of the audit. Started first, the reader is in
    // portaudit's own namespace, whichever namespace the sockets are read in later.
    let firewall = {
        let (source, proc_root) = (options.firewall.clone(), options.proc_root.clone());
        std::thread::spawn(move || {
            let mut warnings = Vec::new();
            let read = read_firewall(&source, &proc_root, &mut warnings);
            (read, warnings)
        })
    };
    let mut warnings = Vec::new();
    let mut incomplete = false;
    let run_netns = Path::new(RUN_NETNS);

    // Which namespaces: portaudit's own unless asked for more (only on a live host).
    let own = if options.live() {
        netns::own(proc_root).ok()
    } else {
        None
    };
    let targets: Vec<netns::Namespace> = match &options.namespaces {
        Namespaces::Own => Vec::new(),
        _ if !options.live() => {
            return Err(Error::new(format!(
                "--all-netns and --netns read live namespaces, not --proc-root {}",
                proc_root.display()
            )));
        }
        Namespaces::All => {
            let (all, trouble) = netns::list(proc_root, run_netns);
            warnings.extend(trouble.into_iter().map(Warning::from));
            all
        }
        Namespaces::One(spec) => vec![netns::find(spec, proc_root, run_netns).map_err(Error::new)?],
    };
    let audit_own = match &options.namespaces {
        Namespaces::Own => true,
        _ => targets.iter().any(|n| n.netns.host),
    };
    let own_netns = own.map(|inode| Netns {
        inode,
        name: match targets.iter().find(|n| n.netns.inode == inode) {
            Some(n) => n.netns.name.clone(),
            None => netns::name_of(inode, run_netns).map(Arc::from),
        },
        host: true,
    });

    let mut listeners = Vec::new();
    let mut namespaces = Vec::new();
    let mut collector = Collector::Proc;
    if audit_own {
        let mut said = Vec::new();
        let own = own_sockets(options, &mut said, &mut incomplete);
        warnings.extend(said.into_iter().map(Warning::from));
        let (mine, used, addresses) = own?;
        collector = used;
        // Taken as they are, not copied: the first namespace's sockets are most often all.
        listeners = mine;
        let shared = own_netns.clone().map(Arc::new);
        for listener in &mut listeners {
            listener.netns = shared.clone();
        }
        if let Some(netns) = &own_netns {
            namespaces.push(NamespaceSeen {
                netns: netns.clone(),
                audited: true,
                addresses,
                container: None,
            });
        }
    }
    for target in targets.iter().filter(|n| !n.netns.host) {
        let mut said = Vec::new();
        let theirs = other_sockets(target, options, &mut said, &mut incomplete);
        warnings.extend(said.into_iter().map(Warning::from));
        match theirs {
            Some((theirs, addresses)) => {
                let shared = Arc::new(target.netns.clone());
                listeners.extend(theirs.into_iter().map(|mut l| {
                    l.netns = Some(Arc::clone(&shared));
                    l
                }));
                if !audit_own && collector == Collector::Proc {
                    collector = Collector::Netlink;
                }
                namespaces.push(NamespaceSeen {
                    netns: target.netns.clone(),
                    audited: true,
                    addresses,
                    container: None,
                });
            }
            None => namespaces.push(NamespaceSeen {
                netns: target.netns.clone(),
                audited: false,
                addresses: None,
                container: None,
            }),
        }
    }
    if !targets.is_empty() && !audit_own {
        // Only another namespace's sockets are shown, but the host still publishes them.
        if let Some(netns) = &own_netns {
            namespaces.insert(
                0,
                NamespaceSeen {
                    netns: netns.clone(),
                    audited: false,
                    addresses: own_addresses(),
                    container: None,
                },
            );
        }
    }

    let mut users = users::UserNames::default();
    for listener in &mut listeners {
        listener.user = users.name(listener.uid);
    }
    if options.processes {
        let is_known = |l: &Listener| l.inode != 0 && known.by_inode.contains_key(&l.inode);
        let wanted = listeners
            .iter()
            .map(|l| l.inode)
            .filter(|&i| i != 0 && !known.by_inode.contains_key(&i))
            .collect();
        let scan = owners::scan(proc_root, &wanted);
        let fresh = listeners.iter().any(|l| !is_known(l));
        let hidepid = if fresh {
            host::hidepid(proc_root)
        } else {
            None
        };
        let complete = scan.complete(hidepid.as_deref());
        for listener in &mut listeners {
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
        let live = options.live();
        let mut said = Vec::new();
        kernel::attribute(proc_root, live, own, &targets, &mut listeners, &mut said);
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
        warnings.extend(owners::warnings(
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
    if let Some(overflow) = host::unmapped_uid() {
        let shown = listeners.iter().filter(|l| l.uid == overflow).count();
        if shown > 0 {
            warnings.push(Warning::counted(
                "a user namespace's overflow uid",
                format!(
                    "portaudit runs in a user namespace: {shown} listening socket{} uid \
                     {overflow}, the kernel's stand-in for an owner who has no uid in this \
                     namespace",
                    if shown == 1 { " shows" } else { "s show" },
                ),
            ));
        }
    }
    cgroup::attribute(proc_root, options.live(), &mut listeners);
    if options.live() {
        attribute_containers(proc_root, &mut listeners, &mut namespaces, &targets);
        warnings.extend(
            netns::inside_container(proc_root)
                .into_iter()
                .map(Warning::from),
        );
    }

    // A reader that panicked is a bug: its answer would be missing, so the panic goes on.
    let (read, firewall_warnings) = firewall.join().unwrap();
    warnings.extend(firewall_warnings.into_iter().map(Warning::from));
    let (ruleset, legacy_firewall) = read?;
    let proxies = if options.live() {
        docker_proxies(proc_root, &listeners)
    } else {
        Vec::new()
    };
    let (interfaces, host_routes) = network(own, &targets, &listeners);
    Ok(Collection {
        listeners,
        seen: Seen {
            warnings,
            collector,
            incomplete,
            namespaces,
            proxies,
            ruleset,
            legacy_firewall,
            forwarding: sysctl::forwarding(proc_root),
            host_routes,
            interfaces,
        },
    })
}

/// What the reach stage needs to judge sockets in other namespaces: the interfaces (and
/// their kinds) of the host and of each other namespace with a listener, and the host's
/// routes. Read only when another namespace is audited; what cannot be read is left
/// out (the reach stage then cannot tell, and says so as a way in).
#[cfg(target_os = "linux")]
fn network(
    own: Option<u64>,
    targets: &[netns::Namespace],
    listeners: &[Listener],
) -> (BTreeMap<u64, Interfaces>, Option<Vec<Route>>) {
    let mut interfaces = BTreeMap::new();
    let others: Vec<&netns::Namespace> = targets
        .iter()
        .filter(|t| !t.netns.host)
        .filter(|t| {
            listeners
                .iter()
                .any(|l| l.netns.as_ref().is_some_and(|n| n.inode == t.netns.inode))
        })
        .collect();
    if others.is_empty() {
        return (interfaces, None);
    }
    let read = || -> Option<Interfaces> {
        let links = netlink::read_links().ok()?;
        let (_, addresses) = netlink::read_interfaces().ok()?;
        Some(Interfaces { links, addresses })
    };
    let host = read();
    let routes = host
        .as_ref()
        .and_then(|host| netlink::read_routes(&host.links).ok());
    if let (Some(inode), Some(host)) = (own, host) {
        interfaces.insert(inode, host);
    }
    for target in others {
        if let Ok(Some(theirs)) = netns::within(target, read) {
            interfaces.insert(target.netns.inode, theirs);
        }
    }
    (interfaces, routes)
}

/// `ip netns add` names namespaces by files here.
const RUN_NETNS: &str = "/run/netns";

/// One namespace's sockets, the collector that read them, and its addresses (when read).
type Sockets = (Vec<Listener>, Collector, Option<Vec<IpAddr>>);

/// The sockets of portaudit's own namespace, with the chosen collector, and its addresses.
#[cfg(target_os = "linux")]
fn own_sockets(
    options: &Options,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Result<Sockets, Error> {
    let proc_root = options.proc_root.as_path();
    let want_addresses = options.firewall != FirewallSource::Off;
    Ok(match options.collector {
        Choice::Netlink if !options.live() => {
            return Err(Error::new(format!(
                "--collector netlink cannot read --proc-root {}: netlink sees only the network \
                 namespace portaudit runs in (use --collector proc or auto)",
                proc_root.display()
            )));
        }
        Choice::Netlink => match from_netlink(warnings, want_addresses) {
            Ok((listeners, addresses)) => (listeners, Collector::Netlink, addresses),
            Err(e) => return Err(Error::new(format!("--collector netlink: {}", e.message()))),
        },
        Choice::Auto if options.live() => match from_netlink(warnings, want_addresses) {
            Ok((listeners, addresses)) => (listeners, Collector::Netlink, addresses),
            Err(netlink::NetlinkError::Refused(why)) => {
                warnings.push(format!(
                    "{why}; read /proc/net instead, which cannot tell dual-stack from \
                     IPv6-only sockets nor show bound devices"
                ));
                let listeners = from_proc(proc_root, warnings, incomplete)?;
                (listeners, Collector::Proc, None)
            }
            Err(netlink::NetlinkError::Failed(why)) => return Err(Error::new(why)),
        },
        Choice::Auto | Choice::Proc => {
            let listeners = from_proc(proc_root, warnings, incomplete)?;
            (listeners, Collector::Proc, None)
        }
    })
}

/// The addresses of portaudit's own namespace, when rtnetlink answers.
#[cfg(target_os = "linux")]
fn own_addresses() -> Option<Vec<IpAddr>> {
    netlink::read_interfaces()
        .ok()
        .map(|(_, all)| all.into_iter().map(|h| h.address).collect())
}

/// Another namespace's sockets: netlink from a thread inside it, or (without the
/// privilege to enter it, or with `--collector proc`) the /proc/PID/net of a process in
/// it. `None`, with a warning, when neither works.
#[cfg(target_os = "linux")]
fn other_sockets(
    target: &netns::Namespace,
    options: &Options,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Option<(Vec<Listener>, Option<Vec<IpAddr>>)> {
    let name = describe_netns(&target.netns);
    let mut why = None;
    if options.collector != Choice::Proc {
        let mut inside = Vec::new();
        match netns::within(target, || from_netlink(&mut inside, true)) {
            Ok(Ok((listeners, addresses))) => {
                warnings.extend(inside.into_iter().map(|w| format!("{name}: {w}")));
                return Some((listeners, addresses));
            }
            Ok(Err(e)) => why = Some(e.message().to_string()),
            Err(e) => why = Some(e.to_string()),
        }
    }
    for pid in &target.pids {
        let root = options.proc_root.join(pid.to_string());
        let mut trouble = Vec::new();
        if let Ok(listeners) = from_proc(&root, &mut trouble, incomplete) {
            warnings.extend(trouble.into_iter().map(|w| format!("{name}: {w}")));
            return Some((listeners, None));
        }
    }
    warnings.push(format!(
        "{name} not audited: {}",
        why.unwrap_or_else(|| "no process in it whose /proc/PID/net we may read".into())
    ));
    None
}

/// `network namespace 4026532301 (web)`, as warnings name one.
pub fn describe_netns(netns: &Netns) -> String {
    match &netns.name {
        Some(name) => format!("network namespace {} ({name})", netns.inode),
        None => format!("network namespace {}", netns.inode),
    }
}

/// The container of each socket: its owners' cgroup, else its namespace's processes'.
#[cfg(target_os = "linux")]
fn attribute_containers(
    proc_root: &Path,
    listeners: &mut [Listener],
    namespaces: &mut [NamespaceSeen],
    targets: &[netns::Namespace],
) {
    // One record per container, shared by its sockets.
    let mut cache: BTreeMap<i32, Option<Arc<Container>>> = BTreeMap::new();
    let mut of = |pid: i32| {
        cache
            .entry(pid)
            .or_insert_with(|| container::of_pid(proc_root, pid).map(Arc::new))
            .clone()
    };
    for seen in namespaces.iter_mut().filter(|n| !n.netns.host) {
        let pids = targets
            .iter()
            .find(|t| t.netns.inode == seen.netns.inode)
            .map(|t| t.pids.as_slice())
            .unwrap_or_default();
        seen.container = pids.iter().find_map(|&pid| of(pid));
    }
    for listener in listeners.iter_mut() {
        listener.container = listener
            .processes
            .iter()
            .find_map(|p| of(p.pid))
            .or_else(|| {
                let inode = listener.netns.as_ref()?.inode;
                namespaces
                    .iter()
                    .find(|n| n.netns.inode == inode)?
                    .container
                    .clone()
            });
    }
}

/// The ruleset, from the kernel (or nft) or a file, and whether legacy iptables tables are
/// loaded. A `--ruleset FILE` that cannot be read or is not a ruleset is an error naming
/// it; a live ruleset that cannot be read is a warning.
#[cfg(target_os = "linux")]
fn read_firewall(
    source: &FirewallSource,
    proc_root: &Path,
    warnings: &mut Vec<String>,
) -> Result<(RulesetRead, bool), Error> {
    match source {
        FirewallSource::Off => Ok((RulesetRead::NotRead, false)),
        FirewallSource::File(path) => {
            // With --trust-firewall this file alone can pass a socket: trusted like the
            // policy (see `fsafe`).
            let named = |why: String| Error::new(format!("--ruleset {}: {why}", path.display()));
            let bytes = crate::fsafe::read::trusted(path)
                .map_err(|e| e.into_error(path, |e| named(crate::error::describe_io(e))))?;
            let json = String::from_utf8(bytes).map_err(|_| named("not UTF-8 text".into()))?;
            let ruleset = nft::parse_saved(&json).map_err(named)?;
            Ok((RulesetRead::Read(Box::new(ruleset)), false))
        }
        FirewallSource::Nft => {
            let legacy = nft::legacy_tables(proc_root);
            let legacy_loaded = legacy.iter().any(|w| w.starts_with("legacy"));
            warnings.extend(legacy);
            match nft::read_ruleset(warnings) {
                Ok(ruleset) => Ok((RulesetRead::Read(Box::new(ruleset)), legacy_loaded)),
                Err(why) => {
                    warnings.push(format!(
                        "{why}; the firewall column says unknown and ports published by DNAT \
                         rules are not seen"
                    ));
                    Ok((RulesetRead::Unreadable, legacy_loaded))
                }
            }
        }
    }
}

/// docker-proxy processes owning a socket of the host: their command line says where
/// they forward.
#[cfg(target_os = "linux")]
fn docker_proxies(proc_root: &Path, listeners: &[Listener]) -> Vec<Publish> {
    let mut publishes = Vec::new();
    for listener in listeners
        .iter()
        .filter(|l| l.netns.as_ref().is_none_or(|n| n.host))
    {
        // Only a process that calls itself docker-proxy has its command line read.
        for process in listener
            .processes
            .iter()
            .filter(|p| p.comm == b"docker-proxy")
        {
            let Ok(cmdline) =
                std::fs::read(proc_root.join(process.pid.to_string()).join("cmdline"))
            else {
                continue;
            };
            let Some(forward) = proxy::parse(&cmdline) else {
                continue;
            };
            if forward.protocol != listener.protocol || forward.host_port != listener.port {
                continue;
            }
            publishes.push(Publish {
                protocol: forward.protocol,
                host_address: listener.address,
                host_ports: listener.port..=listener.port,
                target: forward.target,
                target_port: Some(forward.target_port),
                via: Via::Proxy {
                    pid: process.pid,
                    inode: listener.inode,
                },
            });
        }
    }
    publishes
}

/// /proc/net: the sockets, with IPV6_V6ONLY's default (net.ipv6.bindv6only) as the only
/// hint about dual-stack. A row that cannot be parsed is a warning and makes the audit
/// incomplete.
#[cfg(target_os = "linux")]
fn from_proc(
    proc_root: &Path,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Result<Vec<Listener>, Error> {
    let tables = procnet::read_listeners(proc_root)?;
    *incomplete |= !tables.bad_rows.is_empty() || !tables.unrecognised.is_empty();
    warnings.extend(tables.unrecognised);
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
/// With `want_addresses`, also every address of the namespace (to find a published
/// port's target).
fn from_netlink(
    warnings: &mut Vec<String>,
    want_addresses: bool,
) -> Result<(Vec<Listener>, Option<Vec<IpAddr>>), netlink::NetlinkError> {
    let diags = netlink::read_listeners()?;
    let needs_interfaces = want_addresses
        || diags
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
    let all = addresses
        .as_ref()
        .filter(|_| want_addresses)
        .map(|all| all.iter().map(|h| h.address).collect());
    // Every wildcard bind of a family on the same device reaches the same addresses: one
    // list each, shared.
    let mut shared: HashMap<(bool, bool, u32), Arc<[HostAddress]>> = HashMap::new();
    let listeners = diags
        .into_iter()
        .map(|diag| {
            let mut listener = diag.listener;
            let device = (diag.ifindex != 0).then(|| {
                Box::new(devices.get(&diag.ifindex).cloned().unwrap_or(Device {
                    name: format!("if{}", diag.ifindex),
                    loopback: false,
                }))
            });
            let reachable_on = addresses.as_ref().and_then(|all| {
                let (v4, v6) = wildcard_families(&listener, diag.v6only)?;
                let list = shared
                    .entry((v4, v6, diag.ifindex))
                    .or_insert_with(|| reachable_on(v4, v6, diag.ifindex, all));
                Some(Arc::clone(list))
            });
            listener.detail = Detail {
                v6only: diag.v6only,
                v6only_default: None,
                device,
                reachable_on,
                cgroup_id: diag.cgroup_id,
            };
            listener
        })
        .collect();
    Ok((listeners, all))
}

/// The families a wildcard bind answers (both, for a dual-stack `::`): (IPv4, IPv6);
/// `None` for a bind to one address.
#[cfg(target_os = "linux")]
fn wildcard_families(listener: &Listener, v6only: Option<bool>) -> Option<(bool, bool)> {
    match listener.address {
        IpAddr::V4(a) if a.is_unspecified() => Some((true, false)),
        IpAddr::V6(a) if a.is_unspecified() => Some((v6only == Some(false), true)),
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|m| m.is_unspecified()) => {
            Some((true, false))
        }
        _ => None,
    }
}

/// The host addresses a wildcard bind of these families answers on: only the bound
/// device's when it has one, loopback addresses left out.
#[cfg(target_os = "linux")]
fn reachable_on(v4: bool, v6: bool, ifindex: u32, all: &[HostAddress]) -> Arc<[HostAddress]> {
    all.iter()
        .filter(|h| !h.address.is_loopback())
        .filter(|h| ifindex == 0 || h.ifindex == ifindex)
        .filter(|h| if h.address.is_ipv4() { v4 } else { v6 })
        .cloned()
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn collect(_options: &Options, _known: &mut KnownOwners) -> Result<Collection, Error> {
    Err(Error::new(
        "this system is not Linux: portaudit reads Linux's /proc socket tables",
    ))
}
