//! The network around the sockets, one record per network namespace: its links and
//! addresses, the routes of every table and the rules that choose a table, the settings
//! that change a packet's path (forwarding, route_localnet, bridge netfilter), BPF
//! programs that steer packets, IPVS services, and the namespace's own nftables ruleset.
//! Plain records: collect reads them, reach walks the kernel's path through them.
//!
//! What could not be read is said ([`Reading::Unreadable`]), never left empty: an empty list
//! of routes and a list nobody could read lead to different answers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use crate::ruleset::Ruleset;
use crate::socket::{Family, HostAddress, Netns, Protocol};

/// Every namespace whose network was read (or tried), portaudit's own first.
///
/// With `--proc-root` there is one, the captured tree's (inode 0, `host`): only what
/// files can say (sysctls, IPVS, legacy iptables) is read; the rest is `NotAsked`.
#[derive(Debug, Clone, Default)]
pub struct Network {
    pub namespaces: Vec<NamespaceNet>,
}

/// What was read of one thing: the thing, not asked for, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Reading<T> {
    Done(T),
    /// Not asked for (`--no-firewall`, `--proc-root`, a namespace with no socket).
    #[default]
    NotAsked,
    /// Asked for and refused or failed: why, in one line.
    Unreadable(String),
}

impl<T> Reading<T> {
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Reading::Done(value) => Some(value),
            _ => None,
        }
    }
}

/// One network namespace's network.
#[derive(Debug, Clone)]
pub struct NamespaceNet {
    pub netns: Arc<Netns>,
    pub links: Reading<Vec<NetLink>>,
    /// Every address of every interface, loopback ones too.
    pub addresses: Reading<Vec<HostAddress>>,
    /// Every route of every table (main, local, default, and the others), every type.
    pub routes: Reading<Vec<Route>>,
    /// The routing policy rules (`ip rule`, `ip -6 rule`), both families.
    pub rules: Reading<Vec<RouteRule>>,
    pub sysctls: Sysctls,
    /// Its own nftables ruleset: its prerouting, input and forward hooks see what enters
    /// it, whatever the host's rules did. `NotAsked` for portaudit's own namespace (the
    /// firewall thread reads that one: `collect::Seen::ruleset`) and when the firewall is
    /// not read live (`--no-firewall`, `--ruleset FILE`, `--proc-root`).
    pub ruleset: Reading<Ruleset>,
    /// Legacy (x_tables) iptables tables loaded in it, by family: rules nft cannot show.
    pub legacy_iptables: Vec<String>,
    pub bpf: Reading<Bpf>,
    /// IPVS virtual services (`/proc/net/ip_vs`): they deliver to their real servers.
    pub ipvs: Reading<Vec<IpvsService>>,
}

/// One interface of a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetLink {
    pub ifindex: u32,
    pub name: String,
    /// IFLA_INFO_KIND (`veth`, `bridge`, `macvlan`, `ipvlan`, `vxlan`, `dummy`, …); `None`
    /// for a physical NIC and loopback.
    pub kind: Option<String>,
    /// IFF_LOOPBACK.
    pub loopback: bool,
    /// IFF_UP.
    pub up: bool,
    /// The device it is enslaved to (a bridge port's bridge, a bond, a VRF): ifindex.
    pub master: Option<u32>,
    /// Where its other end is: a veth's peer, a macvlan/ipvlan's lower device (which
    /// makes it a link of its own to that device's segment).
    pub peer: Option<Peer>,
    /// A bridge's own settings.
    pub bridge: Option<BridgeSettings>,
}

/// The other end of a link, as IFLA_LINK and IFLA_LINK_NETNSID give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub netns: PeerNetns,
    pub ifindex: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNetns {
    /// In the same namespace.
    Same,
    /// In the namespace with this inode.
    Inode(u64),
    /// In another namespace, which could not be identified.
    Unknown,
}

/// A bridge's netfilter settings (IFLA_BR_NF_CALL_IPTABLES, …): whether its bridged
/// frames go through the ip/ip6/inet hooks too (with br_netfilter loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BridgeSettings {
    pub nf_call_iptables: Option<bool>,
    pub nf_call_ip6tables: Option<bool>,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub family: Family,
    /// The routing table (254 main, 255 local, 253 default, or any other).
    pub table: u32,
    pub kind: RouteKind,
    /// The network; unspecified with `prefix_len` 0 for a default route.
    pub destination: IpAddr,
    pub prefix_len: u8,
    /// The interface it leaves by (ifindex); `None` for several next hops or none.
    pub oif: Option<u32>,
    /// Every next hop's interface, for a multipath route.
    pub nexthops: Vec<u32>,
    pub gateway: Option<IpAddr>,
    /// The route's metric (lower wins among equal prefixes).
    pub priority: u32,
    /// A source-specific route (`from PREFIX`, IPv6): it applies only to packets from
    /// there, and a packet from outside may come from anywhere.
    pub source: Option<(IpAddr, u8)>,
    /// An IPv4 route for one TOS value (`tos N`); 0 for any.
    pub tos: u8,
    /// The nexthop object the route uses (`nhid N`) when the kernel gives neither a
    /// device nor next hops for it (`nexthop_compat_mode` 0): where it leaves is not known.
    pub nexthop_id: Option<u32>,
}

/// RTN_* route types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    /// Delivered to this host (the `local` table, or an AnyIP `local` route).
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    /// Ends this table's lookup; the next rule is tried.
    Throw,
    Other(u8),
}

/// One routing policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub family: Family,
    pub priority: u32,
    /// `not`: the selectors are inverted.
    pub invert: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// `fwmark MARK/MASK`.
    pub fwmark: Option<(u32, u32)>,
    pub ip_proto: Option<u8>,
    pub dport: Option<RangeInclusive<u16>>,
    pub sport: Option<RangeInclusive<u16>>,
    /// `suppress_prefixlength N`: a looked-up route this short or shorter is ignored.
    pub suppress_prefixlen: Option<u32>,
    pub action: RuleAction,
    /// Selectors portaudit does not evaluate (tos, uidrange, l3mdev, tun_id, …): what
    /// they are; a rule with any is unknown for every packet.
    pub unknown: Vec<String>,
}

impl RouteRule {
    /// A rule without selectors: every packet of `family` takes `action`.
    pub fn any(family: Family, priority: u32, action: RuleAction) -> RouteRule {
        RouteRule {
            family,
            priority,
            invert: false,
            from: None,
            to: None,
            iif: None,
            oif: None,
            fwmark: None,
            ip_proto: None,
            dport: None,
            sport: None,
            suppress_prefixlen: None,
            action,
            unknown: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Look the route up in this table.
    Table(u32),
    /// Jump to the rule with this priority.
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
    Other(u8),
}

/// The settings that change a packet's path, as the namespace has them. A setting that
/// could not be read is `None`: the walk takes the way that reaches more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctls {
    /// net.ipv4.conf.{all,IF}.forwarding (ip_forward is `all`).
    pub ipv4_forwarding: PerInterface,
    /// net.ipv6.conf.{all,IF}.forwarding.
    pub ipv6_forwarding: PerInterface,
    /// net.ipv4.conf.{all,IF}.route_localnet: 127.0.0.0/8 is routable to this host
    /// when either is on for the interface a packet arrives on.
    pub route_localnet: PerInterface,
    /// net.bridge.bridge-nf-call-iptables; `Some(false)` when br_netfilter is not loaded.
    /// `None` also in a namespace without a bridge: it applies to nothing there, so it
    /// is not read.
    pub bridge_nf_call_iptables: Option<bool>,
    pub bridge_nf_call_ip6tables: Option<bool>,
}

/// A per-interface setting: `all` and each interface's own (`conf/IF/...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerInterface {
    pub all: Option<bool>,
    pub interfaces: BTreeMap<String, bool>,
}

/// BPF programs that can steer packets from outside to a socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bpf {
    /// sk_lookup programs attached to the namespace.
    pub sk_lookup: Vec<SkLookup>,
    /// Programs on a device's receive path (XDP, tc ingress): they may redirect.
    pub ingress: Vec<IngressProgram>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkLookup {
    pub program_id: u32,
    pub name: String,
    /// The socket cookies its SOCKMAP/SOCKHASH maps hold: the sockets it can assign;
    /// `None` when they could not be read (any socket of the namespace).
    pub cookies: Option<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressProgram {
    pub ifindex: u32,
    pub device: String,
    /// `xdp`, `tc ingress`.
    pub attach: String,
    pub program_id: u32,
    pub name: String,
}

/// One IPVS virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsService {
    pub protocol: Option<Protocol>,
    /// `None` for a firewall-mark service.
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
    pub fwmark: Option<u32>,
    pub destinations: Vec<(IpAddr, u16)>,
}
