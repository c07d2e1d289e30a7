//! The walk: packet classes from every place outside traffic enters, through the
//! kernel's stages in order, in every namespace they reach, to the sockets that get
//! them.
//!
//! Per namespace: the ingress hook (and XDP/tc programs on the interface), prerouting
//! (raw, mangle: `tproxy`, `meta mark set`; nat: dnat, redirect), the martian checks
//! (127.0.0.0/8 only where route_localnet lets it in), the routing decision (rules,
//! tables, marks), then input and the socket lookup (tproxy's assignment, sk_lookup
//! programs, IPVS services) or forward and postrouting, out of an interface into the
//! next namespace (its own stages again) or across a bridge (the bridge family's chains,
//! and the ip/inet ones where br_netfilter says so).
//!
//! A class is a family, protocol, destination (an address, a local prefix, or any), a
//! set of ports, the interface it came in on, and its mark; the firewall is asked per
//! hook ([`Hooks`]), and its fates split the ports. Uncertainty is directional: a drop
//! counts only when certain; whatever may deliver (a rewrite, a program, a service) is
//! followed, its answer unknown.

use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::bpf;
use super::firewall::{Class, DoubtKind, End, Fate, Iface, Mark, NatAddress, PortSet, Rewrite};
use super::lookup::{Dest, Sockets, Steer};
use super::routing::{self, Outcome, Query};
use super::topology::{Entry, Node, Topology};
use crate::network::{NamespaceNet, PerInterface, Reading, RouteKind};
use crate::ruleset::Hook;
use crate::socket::{Family, Judgement, Protocol, Way, WayIn};

/// What a namespace's firewall does at one hook.
pub enum Answered {
    Fates(Vec<Fate>),
    /// Its ruleset was not to be read.
    NotRead,
    /// It could not be read: why.
    Unreadable(Arc<str>),
}

/// The firewall of each namespace, asked per hook.
pub trait Hooks {
    fn at(&self, ns: usize, hook: Hook, class: &Class) -> Answered;
}

/// One socket reached one way.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Its index in the listeners walked.
    pub socket: usize,
    pub way: WayIn,
    /// `None` when no ruleset was to be read.
    pub judgement: Option<Judgement>,
}

/// A rewrite whose target no socket the walk knows answers (nothing listens there, or
/// it is beyond the namespaces read): a published port's stand-in gets these ways.
#[derive(Debug, Clone)]
pub struct Unanswered {
    pub protocol: Protocol,
    pub target: IpAddr,
    pub ports: PortSet,
    pub way: WayIn,
    pub judgement: Option<Judgement>,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Found {
    pub arrivals: Vec<Arrival>,
    pub unanswered: Vec<Unanswered>,
    /// One each: a program, service or table that may deliver what portaudit cannot
    /// follow.
    pub warnings: Vec<String>,
}

/// Walk every entry point for each of `protocols`; `firewall`: rulesets were to be read
/// (each way gets an answer).
pub fn walk(
    topology: &Topology,
    hooks: &dyn Hooks,
    sockets: &Sockets,
    protocols: &[Protocol],
    firewall: bool,
) -> Found {
    let mut walker = Walker {
        top: topology,
        hooks,
        sockets,
        firewall,
        locals: (0..topology.namespaces())
            .map(|ns| locals(topology.namespace(ns)))
            .collect(),
        texts: HashSet::new(),
        steps: 0,
        cut_short: false,
        spawned: HashSet::new(),
        warned: BTreeSet::new(),
        found: Found::default(),
    };
    for entry in topology.entries() {
        for &protocol in protocols {
            for dest in walker.dests_for(&entry) {
                walker.enter(&entry, protocol, dest);
            }
        }
    }
    if walker.cut_short {
        walker.everything_unknown(protocols);
    }
    let mut found = walker.found;
    found.warnings = walker.warned.into_iter().collect();
    found
}

/// Hooks asked at most before the walk stops and calls every socket reachable.
const BUDGET: usize = 400_000;
/// Namespaces a packet crosses at most (against routing loops).
const MAX_HOPS: u8 = 8;

/// A destination a namespace delivers locally.
#[derive(Debug, Clone, Copy)]
struct Local {
    dest: Dest,
    /// An IPv6 link-local address: only its own interface reaches it.
    link_local_on: Option<u32>,
}

/// Every destination the namespace accepts: its addresses and its `local` routes' prefixes
/// (127.0.0.0/8, AnyIP); any address when they could not be read.
fn locals(namespace: &NamespaceNet) -> Vec<Local> {
    let mut out: Vec<Local> = Vec::new();
    let mut push = |dest: Dest, link_local_on: Option<u32>| {
        if !out.iter().any(|l| l.dest == dest) {
            out.push(Local {
                dest,
                link_local_on,
            });
        }
    };
    let mut read = false;
    if let Reading::Done(addresses) = &namespace.addresses {
        read = true;
        for a in addresses {
            if is_v6_loopback(a.address) || a.address.is_unspecified() {
                continue;
            }
            push(
                Dest::Exact(a.address),
                is_v6_link_local(a.address).then_some(a.ifindex),
            );
        }
    }
    if let Reading::Done(routes) = &namespace.routes {
        read = true;
        for r in routes.iter().filter(|r| r.kind == RouteKind::Local) {
            let full = match r.family {
                Family::Ipv4 => 32,
                Family::Ipv6 => 128,
            };
            if is_v6_loopback(r.destination) {
                continue;
            }
            let dest = if r.prefix_len == full {
                Dest::Exact(r.destination)
            } else {
                Dest::Prefix(r.destination, r.prefix_len)
            };
            push(
                dest,
                is_v6_link_local(r.destination).then_some(r.oif.unwrap_or(0)),
            );
        }
    }
    if !read {
        push(Dest::Any(Family::Ipv4), None);
        push(Dest::Any(Family::Ipv6), None);
        // Every namespace has it: what route_localnet may let in.
        push(
            Dest::Prefix(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
            None,
        );
    }
    out
}

fn is_v6_loopback(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(a) if a.is_loopback())
}

fn is_v6_link_local(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
}

struct Walker<'a> {
    top: &'a Topology<'a>,
    hooks: &'a dyn Hooks,
    sockets: &'a Sockets<'a>,
    firewall: bool,
    locals: Vec<Vec<Local>>,
    texts: HashSet<Arc<str>>,
    steps: usize,
    cut_short: bool,
    /// What was already spread to every destination or socket: (namespace, protocol,
    /// family, why).
    spawned: HashSet<(usize, Protocol, Family, Arc<str>)>,
    warned: BTreeSet<String>,
    found: Found,
}

impl<'a> Walker<'a> {
    fn text(&mut self, text: &str) -> Arc<str> {
        match self.texts.get(text) {
            Some(t) => Arc::clone(t),
            None => {
                let t: Arc<str> = Arc::from(text);
                self.texts.insert(Arc::clone(&t));
                t
            }
        }
    }

    fn warn(&mut self, text: String) {
        self.warned.insert(text);
    }

    fn namespace(&self, ns: usize) -> &'a NamespaceNet {
        self.top.namespace(ns)
    }

    fn describe_ns(&self, ns: usize) -> String {
        crate::collect::describe_netns(&self.namespace(ns).netns)
    }

    fn link_name(&self, ns: usize, ifindex: Option<u32>) -> Option<&'a str> {
        let link = self.top.link(Node {
            ns,
            ifindex: ifindex?,
        })?;
        Some(link.name.as_str())
    }

    fn iface(&self, ns: usize, ifindex: Option<u32>) -> Option<Iface<'a>> {
        let link = self.top.link(Node {
            ns,
            ifindex: ifindex?,
        })?;
        Some(Iface {
            name: &link.name,
            ifindex: link.ifindex,
            kind: link.kind.as_deref(),
        })
    }

    /// The host namespace's own links are all ways in (the outside may be anywhere behind
    /// them) but for a bridge with no port to the outside; other namespaces' only where
    /// they share the outside's segment. Destinations: every address of every namespace
    /// (a neighbour may route any of them here), but a namespace's loopback and
    /// link-local ones only from its own interfaces, and never the ones of the namespace
    /// at the other end of the entry (it does not send itself its own packets).
    fn dests_for(&self, entry: &Entry) -> Vec<Dest> {
        let far = entry.ifindex.and_then(|i| {
            self.top
                .peer(Node {
                    ns: entry.ns,
                    ifindex: i,
                })
                .map(|n| n.ns)
        });
        let mut out: Vec<Dest> = Vec::new();
        for (ns, locals) in self.locals.iter().enumerate() {
            for local in locals {
                let own = ns == entry.ns;
                if local.dest.is_loopback_v4() && !own {
                    continue;
                }
                if let Some(on) = local.link_local_on
                    && !(own && entry.ifindex.is_none_or(|i| i == on))
                {
                    continue;
                }
                if far.is_some_and(|f| f != entry.ns && self.is_local(f, local.dest)) {
                    continue;
                }
                if !out.contains(&local.dest) {
                    out.push(local.dest);
                }
            }
        }
        // Any other address: only what a rewrite sends somewhere is followed from it.
        for family in [Family::Ipv4, Family::Ipv6] {
            if !out.contains(&Dest::Any(family)) {
                out.push(Dest::Any(family));
            }
        }
        out
    }

    /// Whether a namespace delivers `dest` locally; `None`: not known.
    fn local_to(&self, ns: usize, dest: Dest) -> Option<bool> {
        let locals = &self.locals[ns];
        match dest {
            Dest::Any(_) => None,
            Dest::Exact(a) => Some(locals.iter().any(|l| match l.dest {
                Dest::Exact(b) => a == b,
                Dest::Prefix(n, len) => routing::contains(n, len, a),
                Dest::Any(f) => f == dest.family(),
            })),
            Dest::Prefix(..) => Some(locals.iter().any(|l| l.dest == dest)),
        }
    }

    fn is_local(&self, ns: usize, dest: Dest) -> bool {
        self.local_to(ns, dest) == Some(true)
    }

    fn blind(&self, ns: usize) -> bool {
        self.namespace(ns).links.as_ref().is_none()
    }

    /// Start one class at an entry point.
    fn enter(&mut self, entry: &Entry, protocol: Protocol, dest: Dest) {
        let name = self
            .link_name(entry.ns, entry.ifindex)
            .map(str::to_owned)
            .map(|n| self.text(&n));
        let p = Packet {
            ns: entry.ns,
            protocol,
            dest,
            ports: PortSet::all(),
            iif: entry.ifindex,
            mark: Some(0),
            dnat: false,
            tproxy: None,
            trail: Trail {
                entry: name,
                arrived: dest,
                arrived_ports: PortSet::all(),
                kept_ports: true,
                via: Way::Direct,
                rule: None,
                interface: None,
                answer: Answer::default(),
                hops: 0,
            },
        };
        match entry.bridge {
            Some(bridge) if Some(bridge.ifindex) == entry.ifindex && bridge.ns == entry.ns => {
                for q in self.bridge_local(p, bridge, None) {
                    self.arrive(q);
                }
            }
            Some(bridge) => {
                let out_port = entry.ifindex.and_then(|i| {
                    self.top.peer(Node {
                        ns: entry.ns,
                        ifindex: i,
                    })
                });
                let mut p = p;
                let bridge_name = self
                    .link_name(bridge.ns, Some(bridge.ifindex))
                    .map(str::to_owned);
                p.trail.interface = bridge_name.map(|n| self.text(&n));
                p.trail.by(Way::Bridged, None);
                for q in self.bridge_forward(p, bridge, None, out_port.map(|n| n.ifindex)) {
                    self.arrive(q);
                }
            }
            None => self.arrive(p),
        }
    }

    /// Ask the firewall of the packet's namespace at `hook`; the packets that go on,
    /// each with what the chains did to it. After a certain drop the walk goes on to
    /// see where the packet was headed, but no chain acts on it any more.
    fn hook(
        &mut self,
        p: &Packet,
        hook: Hook,
        oif: Option<u32>,
        bridged: bool,
        unsure: bool,
    ) -> Vec<(Packet, Rewrite, Arc<str>)> {
        let unchanged = |p: &Packet| vec![(p.clone(), Rewrite::default(), Arc::from(""))];
        if p.trail.answer.dropped.is_some() || self.cut_short {
            return unchanged(p);
        }
        self.steps += 1;
        if self.steps > BUDGET {
            self.cut_short = true;
            return unchanged(p);
        }
        let class = Class {
            family: p.family(),
            protocol: p.protocol,
            daddr: p.dest.exact(),
            dnet: p.dest.prefix(),
            ports: p.ports.clone(),
            iif: self.iface(p.ns, p.iif),
            oif: self.iface(p.ns, oif),
            mark: p.mark,
            local: self.local_to(p.ns, p.dest),
            dnat: p.dnat,
            bridged,
        };
        let fates = match self.hooks.at(p.ns, hook, &class) {
            Answered::Fates(fates) => fates,
            Answered::NotRead => {
                let mut q = p.clone();
                if self.firewall {
                    let why = format!("{}: its ruleset was not read", self.describe_ns(p.ns));
                    q.trail.answer.unsure(&self.text(&why));
                }
                return unchanged(&q);
            }
            Answered::Unreadable(why) => {
                let mut q = p.clone();
                q.trail.answer.unsure(&why);
                if hook == Hook::Prerouting && !bridged {
                    // Rules no one could read may rewrite it anywhere (the host's reader
                    // has said so already).
                    let what = format!("{}: {why}", self.describe_ns(p.ns));
                    let what = self.text(&what);
                    // Said already: by the host's reader, or by the warning that a
                    // namespace could not be read at all.
                    if self.namespace(p.ns).netns.host || self.blind(p.ns) {
                        self.spread(&q, what);
                    } else {
                        self.cannot_follow(&q, what);
                    }
                }
                return unchanged(&q);
            }
        };
        let fates = settle(fates, &p.ports);
        let mut out = Vec::with_capacity(fates.len());
        // Unioned once at the end: one at a time, thousands of fates' ports (a Kubernetes
        // node's services) were a quadratic copy.
        let mut covered: Vec<(u16, u16)> = Vec::new();
        for fate in fates {
            let ports = fate.ports.intersect(&p.ports);
            if ports.is_empty() {
                continue;
            }
            covered.extend_from_slice(ports.ranges());
            let mut q = p.narrowed(ports);
            // The chains matched an address the class did not know and rewrote what goes
            // there: these packets go on with that address (the rest of "any address" is
            // covered by the classes of each address).
            let rewrites = fate.rewrite.nat.is_some() || fate.rewrite.tproxy.is_some();
            if let (Dest::Any(_), Some(daddr)) = (q.dest, fate.daddr)
                && family_of(daddr) == q.family()
                && rewrites
            {
                q.dest = Dest::Exact(daddr);
                if q.trail.arrived == p.dest {
                    q.trail.arrived = q.dest;
                }
            }
            let answer = &mut q.trail.answer;
            let doubt = fate.doubt.clone().unwrap_or_else(|| Arc::clone(&fate.why));
            // The model doubts a tproxy branch only for whether a transparent socket takes
            // it: the socket lookup at the end of this walk decides that.
            let certain = fate.certain
                || (fate.rewrite.tproxy.is_some() && fate.doubt_kind == Some(DoubtKind::Tproxy));
            // A hook that may not see the class (`unsure`) cannot drop it for certain.
            match (fate.end, certain) {
                (End::Drop, true) if !unsure => answer.dropped = Some(Arc::clone(&fate.why)),
                (End::Drop, _) | (End::Pass, false) => answer.unsure(&doubt),
                (End::Pass, true) => answer.accepted = Some(Arc::clone(&fate.why)),
            }
            out.push((q, fate.rewrite, fate.why));
        }
        let rest = p.ports.subtract(&PortSet::from_ranges(covered));
        if !rest.is_empty() {
            let mut q = p.narrowed(rest);
            let why = format!(
                "{} {}: no answer for these ports",
                self.describe_ns(p.ns),
                hook.name()
            );
            q.trail.answer.unsure(&self.text(&why));
            out.push((q, Rewrite::default(), Arc::from("")));
        }
        out
    }

    /// A packet arrives in a namespace on `p.iif`: programs on the interface, then the
    /// ingress hook, then prerouting.
    fn arrive(&mut self, mut p: Packet) {
        let namespace = self.namespace(p.ns);
        if !namespace.legacy_iptables.is_empty() {
            let tables = namespace.legacy_iptables.join(", ");
            let why = format!(
                "legacy iptables tables are loaded in {} ({tables}), which nft cannot show",
                self.describe_ns(p.ns)
            );
            p.trail.answer.legacy = Some(self.text(&why));
            if namespace
                .legacy_iptables
                .iter()
                .any(|t| t.contains("nat") || t.contains("mangle"))
            {
                let why = format!(
                    "legacy iptables tables in {} ({tables}) may rewrite connections \
                     portaudit cannot follow: the sockets they may reach have an unknown \
                     firewall answer",
                    self.describe_ns(p.ns)
                );
                let why = self.text(&why);
                self.warn(why.to_string());
                self.spread(&p, why);
            }
        }
        for program in bpf::ingress(namespace, p.iif) {
            let name = self.text(&bpf::describe_ingress(program));
            if !self
                .spawned
                .insert((p.ns, p.protocol, p.family(), Arc::clone(&name)))
            {
                continue;
            }
            self.warn(format!(
                "{name} in {} may redirect packets or assign them to any socket, which \
                 portaudit cannot follow: every socket there is reachable that way, firewall \
                 unknown",
                self.describe_ns(p.ns)
            ));
            // Whatever the address and port: once per program.
            let any = Dest::Any(p.family());
            let mut q = p.clone();
            q.dest = any;
            q.ports = PortSet::all();
            q.trail.arrived = any;
            q.trail.arrived_ports = PortSet::all();
            q.trail.by(Way::Unknown, Some(Arc::clone(&name)));
            q.trail.answer.unsure(&name);
            self.deliver_with(&q, Steer::Anywhere);
        }
        for (q, _, _) in self.hook(&p, Hook::Ingress, None, false, false) {
            self.prerouting(q);
        }
    }

    fn prerouting(&mut self, p: Packet) {
        for (q, rewrite, why) in self.hook(&p, Hook::Prerouting, None, false, false) {
            for r in self.rewrite(q, rewrite, why) {
                self.route(r);
            }
        }
    }

    /// Apply what a chain did (`why`: the fate's reason): a new mark, a dnat or redirect,
    /// a tproxy assignment; a rewrite the model cannot tell spreads the class to every
    /// destination.
    fn rewrite(&mut self, mut p: Packet, rewrite: Rewrite, why: Arc<str>) -> Vec<Packet> {
        match rewrite.mark {
            Some(Mark::Set(mark)) => p.mark = Some(mark),
            Some(Mark::Unknown) => p.mark = None,
            None => {}
        }
        if let Some(what) = rewrite.unknown {
            self.cannot_follow(&p, what);
        }
        if let Some(tproxy) = rewrite.tproxy {
            p.tproxy = Some(Tproxy {
                address: tproxy.address,
                port: tproxy.port,
            });
            p.trail.by(Way::Tproxy, Some(why));
        }
        let Some(nat) = rewrite.nat else {
            return vec![p];
        };
        let family = p.family();
        let (targets, via) = match nat.address {
            NatAddress::Interface => (vec![self.primary(p.ns, p.iif, family)], Way::Redirect),
            NatAddress::Same => (vec![p.dest], Way::Dnat),
            NatAddress::To(first, last) if family_of(first) == family => {
                match addresses_between(first, last) {
                    Some(all) => (all.into_iter().map(Dest::Exact).collect(), Way::Dnat),
                    None => {
                        let what = format!("{}: dnat to a range of addresses", nat.rule);
                        let what = self.text(&what);
                        self.cannot_follow(&p, what);
                        return Vec::new();
                    }
                }
            }
            // To the other family: nothing nft can do to a packet in flight.
            NatAddress::To(..) => return vec![p],
            NatAddress::Unknown(what) => {
                let what = format!("{}: {what}", nat.rule);
                let what = self.text(&what);
                self.cannot_follow(&p, what);
                return Vec::new();
            }
        };
        if let Some((low, high)) = nat.ports {
            p.ports = PortSet::range(low, high);
            p.trail.kept_ports = false;
        }
        p.dnat = true;
        p.trail.by(via, Some(nat.rule));
        targets
            .into_iter()
            .map(|dest| {
                let mut q = p.clone();
                q.dest = dest;
                q
            })
            .collect()
    }

    /// A rewrite portaudit cannot follow: warned about once, and the class spread.
    fn cannot_follow(&mut self, p: &Packet, what: Arc<str>) {
        self.warn(format!(
            "{what}: it may send connections to any socket of {} or beyond, which \
             portaudit cannot follow: those ways have an unknown firewall answer",
            self.describe_ns(p.ns)
        ));
        self.spread(p, what);
    }

    /// The address a redirect sends to: the arrival interface's first address of the
    /// family; any of the namespace's when it is not known.
    fn primary(&self, ns: usize, iif: Option<u32>, family: Family) -> Dest {
        let Reading::Done(addresses) = &self.namespace(ns).addresses else {
            return Dest::Any(family);
        };
        iif.and_then(|i| {
            let mine = || {
                addresses
                    .iter()
                    .filter(move |a| a.ifindex == i && family_of(a.address) == family)
            };
            mine()
                .find(|a| !is_v6_link_local(a.address))
                .or_else(|| mine().next())
        })
        .map_or(Dest::Any(family), |a| Dest::Exact(a.address))
    }

    /// A rewrite portaudit cannot follow: the class may go to any destination of any
    /// namespace (the routing decision still applies), once per namespace and reason.
    fn spread(&mut self, p: &Packet, why: Arc<str>) {
        if !self
            .spawned
            .insert((p.ns, p.protocol, p.family(), Arc::clone(&why)))
        {
            return;
        }
        let dests: Vec<Dest> = self
            .locals
            .iter()
            .enumerate()
            .flat_map(|(ns, locals)| {
                locals
                    .iter()
                    .filter(move |l| ns == p.ns || !l.dest.is_loopback_v4())
                    .filter(|l| l.link_local_on.is_none())
                    .map(|l| l.dest)
            })
            .filter(|d| d.family() == p.family())
            .collect();
        for dest in dests {
            let mut q = p.clone();
            q.dest = dest;
            q.ports = PortSet::all();
            q.dnat = true;
            q.trail.kept_ports = false;
            q.trail.by(Way::Unknown, Some(Arc::clone(&why)));
            q.trail.answer.unsure(&why);
            self.route(q);
        }
    }

    /// The martian checks and the routing decision.
    fn route(&mut self, mut p: Packet) {
        let namespace = self.namespace(p.ns);
        let iif_name = self.link_name(p.ns, p.iif);
        if let Dest::Any(_) = p.dest
            && !p.dnat
        {
            // Through a way in portaudit does not see (the namespace's interfaces not
            // read, or none of them on the outside): any address of it, as far as anyone
            // can tell. Otherwise addresses of no namespace, unchanged: nothing answers.
            if p.iif.is_none() && p.trail.hops == 0 {
                self.input(p);
            }
            return;
        }
        if p.dest.is_loopback_v4() {
            match route_localnet(
                &namespace.sysctls.route_localnet,
                iif_name,
                self.blind(p.ns),
            ) {
                false => return,
                true => p.trail.by(Way::Localnet, None),
            }
        }
        if let Dest::Exact(address) = p.dest
            && is_v6_link_local(address)
        {
            // Link-local: delivered only on its own interface, never forwarded.
            let on_iif = match &namespace.addresses {
                Reading::Done(all) => all
                    .iter()
                    .any(|a| a.address == address && p.iif.is_none_or(|i| a.ifindex == i)),
                _ => true,
            };
            if on_iif {
                self.input(p);
            }
            return;
        }
        let query = Query {
            family: p.family(),
            daddr: p.dest.route_address(),
            protocol: p.protocol,
            ports: p.ports.clone(),
            iif: iif_name,
            mark: p.mark,
        };
        let decisions = if self.blind(p.ns) && namespace.routes.as_ref().is_none() {
            // Nothing of its network was read: 127.0.0.0/8 is its own; another address a
            // rewrite sent it to is taken to be elsewhere, as nothing shows it is here.
            if !p.dest.is_loopback_v4() {
                self.unanswered(&p);
                return;
            }
            vec![routing::Decision {
                ports: p.ports.clone(),
                outcome: Outcome::Local,
                certain: true,
                why: String::new(),
            }]
        } else {
            routing::decide(&namespace.rules, &namespace.routes, &query)
        };
        for decision in decisions {
            let mut q = p.narrowed(decision.ports.intersect(&p.ports));
            if q.ports.is_empty() {
                continue;
            }
            if !decision.certain {
                let why = format!("{}: {}", self.describe_ns(p.ns), decision.why);
                q.trail.answer.unsure(&self.text(&why));
            }
            match decision.outcome {
                Outcome::Local => self.input(q),
                Outcome::Forward(oifs) => {
                    for oif in oifs {
                        self.forward(q.clone(), oif);
                    }
                }
                Outcome::Unroutable => self.unanswered(&q),
                Outcome::Unknown => {
                    self.input(q.clone());
                    let oifs: Vec<u32> = self.top.links(q.ns).map(|l| l.ifindex).collect();
                    for oif in oifs {
                        self.forward(q.clone(), oif);
                    }
                }
            }
        }
    }

    /// Forwarding: the namespace must forward the family on the interface it came in
    /// on; the forward hook, then postrouting, out of `oif`.
    fn forward(&mut self, p: Packet, oif: u32) {
        if p.tproxy.is_some() {
            // The kernel drops a forwarded packet that already has a socket.
            return;
        }
        let sysctls = &self.namespace(p.ns).sysctls;
        let on = match p.family() {
            Family::Ipv4 => per_interface(&sysctls.ipv4_forwarding, self.link_name(p.ns, p.iif)),
            Family::Ipv6 => sysctls.ipv6_forwarding.all,
        };
        if on == Some(false) {
            self.unanswered(&p);
            return;
        }
        for (q, _, _) in self.hook(&p, Hook::Forward, Some(oif), false, false) {
            for (r, _, _) in self.hook(&q, Hook::Postrouting, Some(oif), false, false) {
                self.leave(r, oif);
            }
        }
    }

    /// Out of `oif`: into the namespace at its other end, across a bridge if need be.
    fn leave(&mut self, mut p: Packet, oif: u32) {
        if p.trail.interface.is_none()
            && let Some(name) = self.link_name(p.ns, Some(oif)).map(str::to_owned)
        {
            p.trail.interface = Some(self.text(&name));
        }
        let from = Node {
            ns: p.ns,
            ifindex: oif,
        };
        let mut hops = self.top.next_hops(from);
        if hops.len() > 1 {
            // On a shared segment only the one with the address (or a router) takes it.
            let takers: Vec<(Node, Option<Node>)> = hops
                .iter()
                .copied()
                .filter(|(far, _)| {
                    self.local_to(far.ns, p.dest) != Some(false)
                        || self.forwards(far.ns, p.family())
                })
                .collect();
            if !takers.is_empty() {
                hops = takers;
            }
        }
        if hops.is_empty() || p.trail.hops >= MAX_HOPS {
            self.unanswered(&p);
            return;
        }
        for (far, bridge) in hops {
            let mut q = p.clone();
            q.trail.hops += 1;
            q.trail.by(Way::Routed, None);
            let arrived = match bridge {
                None => vec![q],
                Some(b) if b == far => {
                    let in_port = self.top.peer(from).map(|n| n.ifindex);
                    self.bridge_local(q, b, in_port)
                }
                Some(b) if b == from => self.bridge_out(q, far),
                Some(b) => {
                    let in_port = self.top.peer(from).map(|n| n.ifindex);
                    let out_port = self.top.peer(far).map(|n| n.ifindex);
                    self.bridge_forward(q, b, in_port, out_port)
                }
            };
            for mut r in arrived {
                r.ns = far.ns;
                r.iif = Some(far.ifindex);
                r.mark = Some(0);
                r.dnat = false;
                r.tproxy = None;
                self.arrive(r);
            }
        }
    }

    fn forwards(&self, ns: usize, family: Family) -> bool {
        let sysctls = &self.namespace(ns).sysctls;
        match family {
            Family::Ipv4 => sysctls.ipv4_forwarding.all != Some(false),
            Family::Ipv6 => sysctls.ipv6_forwarding.all != Some(false),
        }
    }

    /// The walk stopped early: every socket is reachable some way portaudit did not
    /// finish following.
    fn everything_unknown(&mut self, protocols: &[Protocol]) {
        let why = self.text("the path walk was cut short (too many packet classes): reachable as far as portaudit can tell");
        self.warn(why.to_string());
        for ns in 0..self.top.namespaces() {
            for &protocol in protocols {
                for family in [Family::Ipv4, Family::Ipv6] {
                    let p = Packet {
                        ns,
                        protocol,
                        dest: Dest::Any(family),
                        ports: PortSet::all(),
                        iif: None,
                        mark: None,
                        dnat: false,
                        tproxy: None,
                        trail: Trail {
                            entry: None,
                            arrived: Dest::Any(family),
                            arrived_ports: PortSet::all(),
                            kept_ports: true,
                            via: Way::Unknown,
                            rule: Some(Arc::clone(&why)),
                            interface: None,
                            answer: Answer {
                                unknown: Some(Arc::clone(&why)),
                                ..Answer::default()
                            },
                            hops: 0,
                        },
                    };
                    self.deliver_with(&p, Steer::Anywhere);
                }
            }
        }
    }
}

fn family_of(address: IpAddr) -> Family {
    match address {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// Every address from `first` to `last`, when they are few (a DNAT range).
fn addresses_between(first: IpAddr, last: IpAddr) -> Option<Vec<IpAddr>> {
    const MOST: u128 = 64;
    let (low, high) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b))),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
        _ => return None,
    };
    if high < low || high - low >= MOST {
        return None;
    }
    Some(
        (low..=high)
            .map(|n| match first {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
            })
            .collect(),
    )
}

/// `10.0.0.1:80`, `[fd00::1]:80`.
fn endpoint(address: IpAddr, port: u16) -> String {
    match address {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    }
}

/// A per-interface setting for `iif`: its own when read, else `all`.
fn per_interface(setting: &PerInterface, iif: Option<&str>) -> Option<bool> {
    iif.and_then(|name| setting.interfaces.get(name).copied())
        .or(setting.all)
}

/// Whether 127.0.0.0/8 is let in on `iif` (`None`: some interface): route_localnet on
/// for `all` or the interface. Not known counts as on (the way that reaches more), except
/// where nothing of the namespace's network was read (a captured tree without its
/// settings): there, as the kernel's default.
fn route_localnet(setting: &PerInterface, iif: Option<&str>, blind: bool) -> bool {
    if setting.all == Some(true) {
        return true;
    }
    let own = match iif {
        Some(name) => setting.interfaces.get(name).copied(),
        None if setting.interfaces.values().any(|&on| on) => Some(true),
        None if setting.interfaces.is_empty() => None,
        None => Some(false),
    };
    match (setting.all, own) {
        (_, Some(true)) => true,
        (Some(false), Some(false)) => false,
        _ => !blind,
    }
}

mod bridged;
mod deliver;
mod packet;
mod settle;
#[cfg(test)]
mod tests;

use packet::{Answer, Packet, Tproxy, Trail, rank};
use settle::settle;
