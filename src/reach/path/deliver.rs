//! Local delivery: the input hook, IPVS services, then the socket lookup (a tproxy
//! assignment, the sockets by address and port, sk_lookup programs' sockets); each
//! socket found is an arrival, with the way in its trail tells.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::{Packet, Trail, Walker, endpoint, family_of, rank};
use crate::network::Reading;
use crate::reach::bpf;
use crate::reach::firewall::PortSet;
use crate::reach::lookup::{Dest, Steer};
use crate::reach::routing::{self, Outcome, Query};
use crate::ruleset::Hook;
use crate::socket::{Family, Way, WayIn};

use super::{Arrival, Unanswered};

impl Walker<'_> {
    /// Local delivery: the input hook, IPVS, then the socket lookup.
    pub(super) fn input(&mut self, p: Packet) {
        for (q, _, _) in self.hook(&p, Hook::Input, None, false, false) {
            let q = self.ipvs(q);
            if let Some(q) = q {
                self.deliver(q);
            }
        }
    }

    /// IPVS virtual services take what matches them to their real servers; the rest
    /// goes on to the socket lookup.
    pub(super) fn ipvs(&mut self, p: Packet) -> Option<Packet> {
        let Reading::Done(services) = &self.namespace(p.ns).ipvs else {
            return Some(p);
        };
        let mut rest = p.ports.clone();
        for service in services {
            if service.protocol.is_some_and(|proto| proto != p.protocol) {
                continue;
            }
            let by_mark = service.fwmark.is_some();
            let matches_address = match (service.address, p.dest) {
                (Some(a), Dest::Exact(d)) => a == d,
                (Some(a), Dest::Prefix(n, len)) => routing::contains(n, len, a),
                (Some(a), Dest::Any(f)) => family_of(a) == f,
                (None, _) => {
                    by_mark
                        && service
                            .fwmark
                            .is_none_or(|m| p.mark.is_none_or(|pm| pm == m))
                }
            };
            if !matches_address {
                continue;
            }
            let taken = match service.port {
                Some(port) if !by_mark => rest.intersect(&PortSet::single(port)),
                _ => rest.clone(),
            };
            if taken.is_empty() {
                continue;
            }
            rest = rest.subtract(&taken);
            let label = match (service.address, service.port, service.fwmark) {
                (_, _, Some(mark)) => format!("IPVS service fwmark {mark:#x}"),
                (Some(a), Some(port), None) => {
                    format!("IPVS service {} {}", p.protocol.name(), endpoint(a, port))
                }
                _ => "IPVS service".to_string(),
            };
            let label = format!("{label} in {}", self.describe_ns(p.ns));
            let why = self.text(&label);
            self.warn(format!(
                "{why} sends connections to its real servers: they are reachable that way, \
                 with an unknown firewall answer"
            ));
            for &(address, port) in &service.destinations {
                if family_of(address) != p.family() {
                    continue;
                }
                let mut q = p.narrowed(taken.clone());
                q.dest = Dest::Exact(address);
                q.ports = PortSet::single(port);
                q.trail.kept_ports = false;
                q.dnat = true;
                q.trail.by(Way::Ipvs, Some(Arc::clone(&why)));
                q.trail.answer.unsure(&why);
                self.sent_locally(q);
            }
        }
        (!rest.is_empty()).then(|| p.narrowed(rest))
    }

    /// What the namespace itself sends on (IPVS to a real server): its own routing, then
    /// postrouting out of the interface.
    pub(super) fn sent_locally(&mut self, p: Packet) {
        let namespace = self.namespace(p.ns);
        let query = Query {
            family: p.family(),
            daddr: p.dest.route_address(),
            protocol: p.protocol,
            ports: p.ports.clone(),
            iif: Some("lo"),
            mark: p.mark,
        };
        for decision in routing::decide(&namespace.rules, &namespace.routes, &query) {
            let q = p.narrowed(decision.ports.intersect(&p.ports));
            match decision.outcome {
                Outcome::Local | Outcome::Unknown => self.deliver(q),
                Outcome::Forward(oifs) => {
                    for oif in oifs {
                        for (r, _, _) in self.hook(&q, Hook::Postrouting, Some(oif), false, false) {
                            self.leave(r, oif);
                        }
                    }
                }
                Outcome::Unroutable => self.unanswered(&q),
            }
        }
    }

    /// The socket lookup: a tproxy assignment, else the sockets by address and port and
    /// the namespace's sk_lookup programs' sockets.
    pub(super) fn deliver(&mut self, p: Packet) {
        if let Some(tproxy) = &p.tproxy {
            let address = match tproxy.address {
                Some(a) => Some(a),
                None => match self.primary(p.ns, p.iif, p.family()) {
                    Dest::Exact(a) => Some(a),
                    _ => p.dest.exact(),
                },
            };
            let steer = match address {
                Some(address) => Steer::Tproxy {
                    address,
                    port: tproxy.port,
                },
                None => Steer::Anywhere,
            };
            self.deliver_with(&p, steer);
            return;
        }
        let reached = self.deliver_with(&p, Steer::Lookup);
        for program in bpf::sk_lookups(self.namespace(p.ns)) {
            let name = self.text(&bpf::describe_sk_lookup(program));
            let mut q = p.clone();
            q.trail.by(Way::SkLookup, Some(Arc::clone(&name)));
            if program.cookies.is_none() {
                self.warn(format!(
                    "{name} in {}: its socket maps could not be read, so any socket there \
                     may be chosen for any connection delivered there (firewall unknown)",
                    self.describe_ns(p.ns)
                ));
                q.trail.answer.unsure(&name);
            }
            let cookies = program.cookies.as_deref();
            self.deliver_with(&q, Steer::Assign { cookies });
        }
        if !reached {
            self.unanswered(&p);
        }
    }

    /// The sockets the lookup finds, each an arrival; whether there were any.
    pub(super) fn deliver_with(&mut self, p: &Packet, steer: Steer) -> bool {
        let iif = self.link_name(p.ns, p.iif);
        let found = self
            .sockets
            .find(p.ns, p.protocol, p.dest, &p.ports, iif, steer);
        let any = !found.is_empty();
        for f in found {
            let listener = self.sockets.listener(f.index);
            let mut trail = p.trail.clone();
            if !f.certain {
                let why = match steer {
                    Steer::Tproxy { .. } => "whether the socket has IP_TRANSPARENT is not known",
                    Steer::Lookup => "the interface it arrives on is not known",
                    _ => "",
                };
                if !why.is_empty() {
                    let why = self.text(why);
                    trail.answer.unsure(&why);
                }
            }
            let by_address = matches!(steer, Steer::Lookup);
            let way = self.way(&trail, p, listener.address, listener.port, by_address);
            let judgement = self.firewall.then(|| trail.answer.judgement());
            self.found.arrivals.push(Arrival {
                socket: f.index,
                way,
                judgement,
            });
        }
        any
    }

    /// The way in a trail tells, to a socket bound to `bound:port`.
    pub(super) fn way(
        &self,
        trail: &Trail,
        p: &Packet,
        bound: IpAddr,
        port: u16,
        by_address: bool,
    ) -> WayIn {
        let rewritten = rank(trail.via) >= rank(Way::Dnat);
        let address = if rewritten {
            match trail.arrived {
                Dest::Exact(a) => a,
                Dest::Prefix(..) => trail.arrived.shown_for(bound),
                Dest::Any(Family::Ipv4) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Dest::Any(Family::Ipv6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }
        } else {
            trail.arrived.shown_for(bound)
        };
        let (first, last) = if by_address && trail.kept_ports && !rewritten {
            (port, None)
        } else {
            let ranges = trail.arrived_ports.ranges();
            let first = ranges.first().map_or(port, |r| r.0);
            let last = ranges.last().map(|r| r.1).filter(|&l| l != first);
            (first, last)
        };
        let delivered = if by_address {
            p.dest.shown_for(bound)
        } else {
            bound
        };
        WayIn {
            via: trail.via,
            address,
            port: first,
            port_last: last,
            interface: trail.interface.clone().or_else(|| trail.entry.clone()),
            entry: trail.entry.clone(),
            delivered: (delivered, port),
            rule: trail.rule.clone(),
            firewall: self.firewall.then(|| trail.answer.judgement().verdict),
        }
    }

    /// A rewritten class nothing here answers: kept for a publish's stand-in.
    pub(super) fn unanswered(&mut self, p: &Packet) {
        if !p.dnat {
            return;
        }
        let Dest::Exact(target) = p.dest else {
            return;
        };
        let port = p.ports.ranges().first().map_or(0, |r| r.0);
        let way = self.way(&p.trail, p, target, port, true);
        let judgement = self.firewall.then(|| p.trail.answer.judgement());
        self.found.unanswered.push(Unanswered {
            protocol: p.protocol,
            target,
            ports: p.ports.clone(),
            way,
            judgement,
        });
    }
}
