//! The records every stage shares: a listening socket and who holds it, the network
//! namespaces and containers around it, and what the host publishes. Plain data; the
//! stages fill them in (collect), pair them (reach), judge them (policy) and print them
//! (report).

use std::borrow::Cow;
use std::net::IpAddr;
use std::ops::{Deref, RangeInclusive};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    /// The kernel's `comm`, as raw bytes: chosen by whoever started the process, so
    /// neither trusted nor assumed to be UTF-8.
    pub comm: Vec<u8>,
    /// The executable (`/proc/<pid>/exe`), when we may read it.
    pub exe: Option<PathBuf>,
    /// The effective uid it runs as (`/proc/<pid>/status`), when it could be read: a
    /// server that drops privileges runs as another user than the one whose uid its
    /// socket keeps (nginx's workers, dnsmasq, unbound).
    pub uid: Option<u32>,
    /// That uid's name as the user database has it (bytes: not assumed to be UTF-8).
    pub user: Option<Arc<[u8]>>,
    /// Its command line (`/proc/<pid>/cmdline`), each argument as text (bytes that are
    /// not UTF-8 become U+FFFD): advice reads the listen address a program was started
    /// with. Never printed whole: a command line may hold a password.
    pub args: Option<Arc<[String]>>,
}

impl Process {
    /// The name as text; bytes that are not UTF-8 become U+FFFD.
    pub fn name(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.comm)
    }

    /// The user name as text; bytes that are not UTF-8 become U+FFFD.
    pub fn user_name(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(String::from_utf8_lossy)
    }
}

/// The processes holding a socket open, in pid order. Shared, not copied: one process
/// often holds thousands of sockets (a resolver's, a proxy's), and every one of them
/// names the same few processes. Empty costs no allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners(Option<Arc<[Process]>>);

impl Deref for Owners {
    type Target = [Process];

    fn deref(&self) -> &[Process] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl FromIterator<Process> for Owners {
    fn from_iter<I: IntoIterator<Item = Process>>(processes: I) -> Owners {
        Owners::from(processes.into_iter().collect::<Vec<_>>())
    }
}

impl From<Vec<Process>> for Owners {
    fn from(processes: Vec<Process>) -> Owners {
        Owners((!processes.is_empty()).then(|| processes.into()))
    }
}

/// One listening socket: a TCP socket in LISTEN, or a bound, unconnected UDP socket.
///
/// A host may have hundreds of thousands, and every stage holds them all at once: what
/// many sockets share (the user name, the owners, the namespace, the container, the
/// unit, the host addresses) is shared behind an `Arc`, not copied into each record.
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
    pub user: Option<Arc<[u8]>>,
    /// Empty when no owner was found (or we were not allowed to look).
    pub processes: Owners,
    /// What only the netlink collector can tell.
    pub detail: Detail,
    /// Every process could be inspected, so `processes` is the whole list. False when
    /// some were out of reach (no root, hidepid): the owners we did not see are unknown.
    pub processes_complete: bool,
    /// The network namespace it lives in; `None` when not known (`--proc-root`).
    pub netns: Option<Arc<Netns>>,
    /// The container its processes (or its namespace's) run in, if any.
    pub container: Option<Arc<Container>>,
    /// The systemd unit whose cgroup created the socket (`memcached.service`,
    /// `ssh.socket`), else its owners' unit; `None` when none is known, or in a container.
    pub unit: Option<Arc<str>>,
    /// For a `.socket` unit: the service it activates, as its unit file says.
    pub unit_service: Option<Arc<str>>,
    /// For a `.service` unit: the command it starts, as its unit files say.
    pub unit_exec: Option<Arc<ExecStart>>,
    /// The kernel facility holding a socket no process holds: `vxlan vx0`, `nfsd`.
    pub kernel: Option<Arc<str>>,
}

/// The command a service unit starts: its last `ExecStart=`, drop-ins included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecStart {
    /// The command line as written (`/usr/bin/memcached -l 0.0.0.0`, `$OPTIONS` and all).
    pub command: String,
    /// The unit file or drop-in that set it.
    pub file: PathBuf,
}

/// A network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// Its inode number, as `lsns -t net` and `readlink /proc/PID/ns/net` show it.
    pub inode: u64,
    /// Its name under /run/netns (`ip netns add NAME`), if any.
    pub name: Option<Arc<str>>,
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
            processes: Owners::default(),
            processes_complete: false,
            detail: Detail::default(),
            netns: None,
            container: None,
            unit: None,
            unit_service: None,
            unit_exec: None,
            kernel: None,
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
    /// Boxed: few sockets have one.
    pub device: Option<Box<Device>>,
    /// For a wildcard bind, the host's addresses it is reachable on (loopback left out):
    /// the same list for every wildcard bind of a family, so shared.
    pub reachable_on: Option<Arc<[HostAddress]>>,
    /// The cgroup v2 id of the cgroup that created the socket (kernel 5.8 and later).
    pub cgroup_id: Option<u64>,
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

/// A network namespace the audit considered.
#[derive(Debug, Clone)]
pub struct NamespaceSeen {
    pub netns: Netns,
    /// Its sockets were read.
    pub audited: bool,
    /// Its interfaces' addresses (loopback ones too); `None` when they could not be
    /// read. A published port's target is looked for in the namespace that has it.
    pub addresses: Option<Vec<IpAddr>>,
    /// The container its processes run in, if any.
    pub container: Option<Arc<Container>>,
}

/// A port the host publishes to another address: a DNAT rule, or a docker-proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub protocol: Protocol,
    /// The host address it is reachable on: unspecified when any.
    pub host_address: IpAddr,
    pub host_ports: RangeInclusive<u16>,
    pub target: IpAddr,
    /// `None`: the port is not changed.
    pub target_port: Option<u16>,
    pub via: Via,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A DNAT rule in the nat prerouting hook: `ip nat DOCKER handle 12`.
    Dnat { rule: String },
    /// A docker-proxy process, listening on the host side itself.
    Proxy { pid: i32, inode: u64 },
}

/// Whether a socket answers behind a way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    /// A socket listens: the record is a real socket.
    Yes,
    /// Published, but the target's namespace was audited and nothing listens there.
    No,
    /// Published to an address in no audited namespace: nobody can say.
    Unknown,
}

/// The host side of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub protocol: Protocol,
    /// Unspecified when any of the host's addresses.
    pub address: IpAddr,
    pub ports: RangeInclusive<u16>,
    /// Where it sends the connection (the DNAT's address, the proxy's container-ip).
    pub target: IpAddr,
    pub via: Via,
}

/// What the hook does with a new connection from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallVerdict {
    /// Accepted on at least one way in.
    Accepted,
    /// Dropped (or rejected) on every way in.
    Dropped,
    /// A rule on the way could not be evaluated.
    Unknown,
}

impl FirewallVerdict {
    pub fn name(self) -> &'static str {
        match self {
            FirewallVerdict::Accepted => "accepted",
            FirewallVerdict::Dropped => "dropped",
            FirewallVerdict::Unknown => "unknown",
        }
    }
}

/// The answer, with one line saying why (the deciding rule, or what stopped evaluation):
/// the same few lines for every socket, so shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: FirewallVerdict,
    pub why: Arc<str>,
}

/// How a connection from outside gets to a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Way {
    /// To one of the host's own addresses, in the host's namespace.
    Direct,
    /// Forwarded by the host into another namespace, unchanged (no NAT).
    Routed,
    /// A published port: the nat prerouting hook rewrites the destination.
    Dnat,
    /// A userland proxy (docker-proxy) on the host relays it.
    Proxy,
}

impl Way {
    pub fn name(self) -> &'static str {
        match self {
            Way::Direct => "direct",
            Way::Routed => "routed",
            Way::Dnat => "dnat",
            Way::Proxy => "proxy",
        }
    }
}

/// One way in from outside: where a client sends the packet, on which interface it
/// arrives, and what the host firewall does with it on that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WayIn {
    pub via: Way,
    /// The destination a client uses; unspecified when any of the host's addresses.
    pub address: IpAddr,
    pub port: u16,
    /// The interface the packet arrives on (direct) or is forwarded out of (routed);
    /// `None` when any.
    pub interface: Option<Arc<str>>,
    /// `None` when the ruleset was not to be read.
    pub firewall: Option<FirewallVerdict>,
}

/// What the policy judges: a socket, or the target of a publish nobody answers, with
/// every way in from outside. The reach stage makes it.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The socket that answers; for a publish nobody answers, a stand-in at its target
    /// (inode 0, no processes).
    pub listener: Listener,
    /// The host side, when the host publishes it.
    pub published: Option<Box<Published>>,
    pub listening: Listening,
    /// Every way in from outside; empty when none.
    pub ways_in: Vec<WayIn>,
    /// In another namespace than the host's, with no way in: not reachable from outside.
    pub contained: bool,
    /// What the host firewall does with a new connection on the ways in, all together;
    /// `None` when there is no way in or the ruleset was not to be read.
    pub firewall: Option<Judgement>,
}

/// One network interface of a namespace, with its kind (`veth`, `macvlan`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// IFLA_INFO_KIND; `None` for a physical NIC (and loopback).
    pub kind: Option<String>,
    /// IFF_LOOPBACK.
    pub loopback: bool,
}

/// A namespace's interfaces and their addresses (loopback ones too), as rtnetlink gave
/// them inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interfaces {
    pub links: Vec<Link>,
    pub addresses: Vec<HostAddress>,
}

/// One unicast route of the host's main routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The network; unspecified with `prefix_len` 0 for a default route.
    pub destination: IpAddr,
    pub prefix_len: u8,
    /// The interface it leaves by; `None` when not one (several next hops).
    pub device: Option<String>,
}

/// Whether the host forwards each family (net.ipv4.ip_forward,
/// net.ipv6.conf.all.forwarding): a setting that could not be read counts as on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarding {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Default for Forwarding {
    /// Not read: on, so that nothing is called contained on a guess.
    fn default() -> Self {
        Forwarding {
            ipv4: true,
            ipv6: true,
        }
    }
}

/// Non-fatal trouble: what the audit could not see or apply, said once, on stderr and
/// in the JSON `warnings`. A warning that counts (`3 listening sockets show no
/// process`) names its cause apart from its text, so that `--watch`, which audits again
/// and again, says it once and again only when the cause changes, not each time a
/// count does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What the trouble is, without what varies from one audit to the next.
    pub cause: Cow<'static, str>,
    /// The sentence a person reads.
    pub text: String,
}

impl Warning {
    /// A warning whose text counts or lists what changes while `cause` stays.
    pub fn counted(cause: &'static str, text: String) -> Warning {
        Warning {
            cause: Cow::Borrowed(cause),
            text,
        }
    }
}

/// A warning whose text is its cause: it names nothing that changes between audits.
impl From<String> for Warning {
    fn from(text: String) -> Warning {
        Warning {
            cause: Cow::Owned(text.clone()),
            text,
        }
    }
}

/// Its text is this sentence.
impl PartialEq<&str> for Warning {
    fn eq(&self, text: &&str) -> bool {
        self.text == *text
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The kernel's default `ip_local_port_range` (Linux 4.x onwards).
pub const DEFAULT_LOCAL_PORTS: RangeInclusive<u16> = 32768..=60999;

/// The ephemeral port range, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralPorts {
    pub range: RangeInclusive<u16>,
    /// The file it was read from; `None` when the tree has no such file (a captured tree
    /// without `sys/`) and the kernel's default is assumed.
    pub source: Option<PathBuf>,
}

impl Default for EphemeralPorts {
    fn default() -> Self {
        EphemeralPorts {
            range: DEFAULT_LOCAL_PORTS,
            source: None,
        }
    }
}

#[cfg(test)]
impl Subject {
    /// A socket of the host's own, not published, no firewall read.
    pub fn alone(listener: Listener) -> Subject {
        Subject {
            listener,
            published: None,
            listening: Listening::Yes,
            ways_in: Vec::new(),
            contained: false,
            firewall: None,
        }
    }
}
