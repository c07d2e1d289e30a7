//! A packet class on its way, and the story it carries: where it entered, what it was
//! sent to, the mechanism that decides its way's name, and what the firewalls said.

use std::net::IpAddr;
use std::sync::Arc;

use crate::reach::firewall::PortSet;
use crate::reach::lookup::Dest;
use crate::socket::{Family, FirewallVerdict, Judgement, Protocol, Way};

/// What the firewalls on a path said.
#[derive(Debug, Clone, Default)]
pub(super) struct Answer {
    pub(super) dropped: Option<Arc<str>>,
    pub(super) unknown: Option<Arc<str>>,
    pub(super) accepted: Option<Arc<str>>,
    /// Legacy iptables tables on the path: an accept may not be.
    pub(super) legacy: Option<Arc<str>>,
}

impl Answer {
    pub(super) fn judgement(&self) -> Judgement {
        if let Some(why) = &self.dropped {
            return Judgement {
                verdict: FirewallVerdict::Dropped,
                why: Arc::clone(why),
            };
        }
        if let Some(why) = &self.unknown {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: Arc::clone(why),
            };
        }
        let why = self
            .accepted
            .clone()
            .unwrap_or_else(|| Arc::from("no chain on the way: nothing filters"));
        match &self.legacy {
            Some(legacy) => Judgement {
                verdict: FirewallVerdict::Unknown,
                why: format!("{why}; but {legacy}").into(),
            },
            None => Judgement {
                verdict: FirewallVerdict::Accepted,
                why,
            },
        }
    }

    pub(super) fn unsure(&mut self, why: &Arc<str>) {
        if self.unknown.is_none() {
            self.unknown = Some(Arc::clone(why));
        }
    }
}

/// How a way got where it is: the story the way in tells.
#[derive(Debug, Clone)]
pub(super) struct Trail {
    pub(super) entry: Option<Arc<str>>,
    /// The destination and ports as the client sent them.
    pub(super) arrived: Dest,
    pub(super) arrived_ports: PortSet,
    /// No rewrite changed the ports since: the ports now are the ports sent.
    pub(super) kept_ports: bool,
    pub(super) via: Way,
    pub(super) rule: Option<Arc<str>>,
    /// The first interface it was forwarded out of, or the bridge it crossed.
    pub(super) interface: Option<Arc<str>>,
    pub(super) answer: Answer,
    pub(super) hops: u8,
}

impl Trail {
    /// The mechanism decides the way's name: a later rewrite or steering over an earlier
    /// one, any of them over how it crossed namespaces.
    pub(super) fn by(&mut self, via: Way, rule: Option<Arc<str>>) {
        if rank(via) >= rank(self.via) {
            self.via = via;
            if rule.is_some() {
                self.rule = rule;
            }
        }
    }
}

pub(super) fn rank(via: Way) -> u8 {
    match via {
        Way::Direct => 0,
        Way::Routed => 1,
        Way::Bridged => 2,
        Way::Localnet => 3,
        Way::Dnat | Way::Redirect | Way::Proxy => 4,
        Way::Ipvs => 5,
        Way::Tproxy | Way::SkLookup => 6,
        Way::Unknown => 7,
    }
}

/// A tproxy assignment waiting for the socket lookup.
#[derive(Debug, Clone)]
pub(super) struct Tproxy {
    pub(super) address: Option<IpAddr>,
    pub(super) port: Option<u16>,
}

/// A class of packets somewhere on its way.
#[derive(Debug, Clone)]
pub(super) struct Packet {
    pub(super) ns: usize,
    pub(super) protocol: Protocol,
    pub(super) dest: Dest,
    pub(super) ports: PortSet,
    /// The interface it arrived on in this namespace; `None`: not known.
    pub(super) iif: Option<u32>,
    pub(super) mark: Option<u32>,
    /// ct status dnat, in this namespace.
    pub(super) dnat: bool,
    pub(super) tproxy: Option<Tproxy>,
    pub(super) trail: Trail,
}

impl Packet {
    pub(super) fn family(&self) -> Family {
        self.dest.family()
    }

    /// The same class on fewer ports: the ports sent shrink with them while no rewrite
    /// changed them.
    pub(super) fn narrowed(&self, ports: PortSet) -> Packet {
        let mut p = self.clone();
        if p.trail.kept_ports {
            p.trail.arrived_ports = p.trail.arrived_ports.intersect(&ports);
        }
        p.ports = ports;
        p
    }
}
