//! Firewall: what the nftables ruleset (the typed model of `crate::ruleset`) does with a
//! class of packets at one hook. Pure: a `Ruleset` and a [`Class`] in, [`Fate`]s out.
//!
//! A class is everything the reach walk knows about some packets of a new connection from
//! outside: their family, protocol, destination ports, address, interfaces, mark. What it
//! does not know (source address and port, TTL, options, …) is "either way". Every base
//! chain of the hook that sees the class runs, in priority order, with the kernel's
//! semantics (jumps, gotos, returns, verdict maps, sets with intervals and concatenations
//! compared byte for byte, masks and byte order, NAT, tproxy, marks). A match that depends
//! on what the class does not know splits it: both ways are followed.
//!
//! Uncertainty is directional. A drop counts only where it is certain; anything that could
//! deliver (a rewrite, a redirect, tproxy, an accept after a rule that may or may not
//! match) is followed as a possibility, never dropped. The answer is a list of fates, each
//! for some of the class's ports: fates that overlap are possibilities, and a socket is
//! dropped only when every fate that reaches it drops.

mod eval;
mod hash;
mod judge;
mod packet;
mod ports;
mod render;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

pub use eval::Index;
pub use judge::Dnat;
pub use judge::dnats;
pub use ports::PortSet;

use crate::ruleset::{Hook, Ruleset};
use crate::socket::{Family, Protocol};

/// A class of packets at one hook: everything the walk knows about them. Source address
/// and source port are always "anything"; so is whatever else is not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class<'a> {
    pub family: Family,
    pub protocol: Protocol,
    /// `None`: not known (a wildcard bind, an address the walk cannot tell).
    pub daddr: Option<IpAddr>,
    /// When `daddr` is not known: the prefix it lies in, if the class has one (any
    /// address of 127.0.0.0/8, of an AnyIP route), as network and length.
    pub dnet: Option<(IpAddr, u8)>,
    /// The destination ports this class covers.
    pub ports: PortSet,
    /// The interface it arrived on; `None`: not known (never loopback: nothing from
    /// outside arrives there).
    pub iif: Option<Iface<'a>>,
    /// Forward and postrouting: the interface it leaves by; `None`: not known (never
    /// loopback). Prerouting and input have none: `oif` is 0 and `oifname` empty there.
    pub oif: Option<Iface<'a>>,
    /// The packet mark; `None`: not known. `Some(0)` as it comes off the wire.
    pub mark: Option<u32>,
    /// Whether `daddr` is local to this namespace (`fib daddr type local`); `None`: not
    /// known.
    pub local: Option<bool>,
    /// `ct status dnat`: a DNAT happened earlier on the path.
    pub dnat: bool,
    /// A bridged frame: the bridge family's hooks see it (the walk asks for the ip and
    /// inet hooks again when br_netfilter passes it there).
    pub bridged: bool,
}

/// An interface as rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iface<'a> {
    pub name: &'a str,
    /// 0: not known (loopback is 1 in every namespace).
    pub ifindex: u32,
    /// IFLA_INFO_KIND (`veth`, `bridge`, …); `Some("")`: it has none (a physical NIC:
    /// `iifkind` matches nothing); `None`: not known.
    pub kind: Option<&'a str>,
}

impl<'a> Class<'a> {
    /// A new connection from outside to `ports` of `protocol` in `family`, about which
    /// nothing else is known: no address, interfaces unknown, mark 0.
    pub fn new(family: Family, protocol: Protocol, ports: PortSet) -> Class<'a> {
        Class {
            family,
            protocol,
            daddr: None,
            dnet: None,
            ports,
            iif: None,
            oif: None,
            mark: Some(0),
            local: None,
            dnat: false,
            bridged: false,
        }
    }
}

/// What the base chains of one hook do with some of a class's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    pub ports: PortSet,
    pub end: End,
    /// What the chains did to it on the way.
    pub rewrite: Rewrite,
    /// `false`: one possibility of several for these ports (see `doubt`).
    pub certain: bool,
    /// The rule or policy that decided: `inet filter input handle 4: tcp dport 22
    /// accept`, `inet filter input: policy drop`, `no input chain: nothing filters`.
    pub why: Arc<str>,
    /// Why it is only a possibility: the first thing on its way that could not be told
    /// (`inet filter input handle 2: ip saddr cannot be evaluated`). `None` when certain.
    pub doubt: Option<Arc<str>>,
    /// What `doubt` is about, as data; `None` when certain.
    pub doubt_kind: Option<DoubtKind>,
    /// The destination address the chains matched on the way when the class did not say
    /// (`ip daddr 10.96.0.10 … jump`): this fate is for packets to that address only.
    pub daddr: Option<IpAddr>,
}

/// What a fate's doubt is about, where a later stage decides by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoubtKind {
    /// Only whether a transparent socket takes the packet (`tproxy`, which goes on only
    /// where one does): the socket lookup at the end of the walk decides that.
    Tproxy,
    /// Anything else the model could not tell.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// Every chain of the hook let it on (accepted, or nothing decided).
    Pass,
    /// Dropped or rejected.
    Drop,
}

/// What the chains did to a packet that goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Rewrite {
    /// `dnat` or `redirect`.
    pub nat: Option<NatTo>,
    /// `tproxy`: handed to a local transparent socket, the packet unchanged.
    pub tproxy: Option<TproxyTo>,
    /// `meta mark set`: a later hook and the routing rules see it.
    pub mark: Option<Mark>,
    /// It may have been changed in a way the model cannot tell (something in a NAT chain
    /// it cannot read, a header rewritten): it may go to any local socket. What, for the
    /// reason.
    pub unknown: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatTo {
    pub address: NatAddress,
    /// `None`: the port is not changed; a range when the rule gives one.
    pub ports: Option<(u16, u16)>,
    /// The rule that did it: `ip nat DOCKER handle 4`.
    pub rule: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NatAddress {
    /// `redirect`: the arrival interface's primary address (the walk resolves it).
    Interface,
    /// Unchanged (`dnat to :8080`).
    Same,
    /// One address, or the first and last of a range.
    To(IpAddr, IpAddr),
    /// Not known (taken from the packet, a map the model cannot read, hashing): what.
    Unknown(Arc<str>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TproxyTo {
    /// `None`: the arrival interface's address.
    pub address: Option<IpAddr>,
    /// `None`: unchanged.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    Set(u32),
    Unknown,
}

/// What every base chain of `hook` that sees the class does with it, in priority order:
/// fates that cover `class.ports`. Fates that overlap are possibilities.
///
/// Builds an index of the ruleset's chains and sets first: a caller that evaluates many
/// classes builds an [`Index`] once and calls [`Index::evaluate`].
pub fn evaluate(ruleset: &Ruleset, hook: Hook, class: &Class) -> Vec<Fate> {
    Index::new(ruleset).evaluate(hook, class)
}
