//! Reach: the ways in from outside to every socket (between collect and policy; pure).
//!
//! The path engine: packet classes walked from every place traffic from outside enters,
//! through the kernel's stages in every namespace they reach (`path`: ingress,
//! prerouting, the routing decision, input or forward, the next namespace or a bridge),
//! asking the firewall model per hook (`firewall`), to the socket lookup (`lookup`). Each
//! socket gets the ways it is reached by, with the firewall's answer on each; a socket of
//! another namespace that nothing reaches is `contained`. Where the walk cannot tell, it
//! gives a way in with an unknown answer, never none. Publishes (DNAT rules, docker-proxy)
//! are paired with the sockets they reach (`publish`). ARCHITECTURE.md draws the path.

mod bpf;
mod bridge;
pub(crate) mod firewall;
mod lookup;
mod path;
mod publish;
mod routing;
mod topology;

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::collect::{RulesetRead, Seen};
use crate::error::Error;
use crate::network::{NamespaceNet, Network, Reading};
use crate::ruleset::Hook;
use crate::ruleset::Ruleset;
use crate::socket::{
    FirewallVerdict, Judgement, Listener, Netns, Protocol, Publish, Published, Subject, Via, Way,
    WayIn,
};
use firewall::{Class, Index};
use lookup::Sockets;
use path::{Answered, Arrival, Found, Hooks, Unanswered};
use publish::Paired;
use topology::Topology;

/// What the reach stage found: every subject with its ways in, and what it could not
/// evaluate.
#[derive(Debug)]
pub struct Reach {
    pub subjects: Vec<Subject>,
    pub warnings: Vec<String>,
    /// The host's ruleset was to be read: each way in has a firewall answer.
    pub firewall_read: bool,
}

/// Walk the path from every entry point to the sockets, pair publishes with the sockets
/// they reach, and give every subject its ways in and the firewall's answer on each. A
/// `--ruleset FILE` that is not a ruleset is an error.
pub fn resolve(listeners: Vec<Listener>, seen: &Seen) -> Result<Reach, Error> {
    let mut warnings = Vec::new();
    let (ruleset, firewall_read) = match &seen.ruleset {
        RulesetRead::NotRead => (None, false),
        RulesetRead::Unreadable => (None, true),
        RulesetRead::Read(ruleset) => (Some(&**ruleset), true),
    };
    let network = network_of(seen);
    let topology = Topology::new(&network);
    let host = (0..topology.namespaces())
        .find(|&i| topology.namespace(i).netns.host)
        .unwrap_or(0);
    let hooks = Firewalls::new(&network, host, firewall_read, ruleset);

    let sockets = Sockets::new(&listeners, |l| match &l.netns {
        Some(netns) => topology.index_of(netns.inode),
        None => Some(host),
    });
    let protocols_of = |publishes: &[Publish]| {
        let mut protocols: Vec<Protocol> = listeners
            .iter()
            .map(|l| l.protocol)
            .chain(publishes.iter().map(|p| p.protocol))
            .collect();
        protocols.sort();
        protocols.dedup();
        protocols
    };
    // The host's DNAT rules; in a big ruleset with more than one core, on a thread of
    // their own and an index of their own while the walk goes on with the protocols
    // known without them (on a Kubernetes node each is a good part of the audit), walked
    // again in the rare case they add one.
    let mut publishes = seen.proxies.clone();
    let listed = protocols_of(&publishes);
    let (dnats, walked) = match (ruleset, &hooks.rules[host]) {
        (Some(ruleset), Rules::Read(_)) if side_by_side(ruleset) => std::thread::scope(|scope| {
            let dnats = scope.spawn(move || firewall::dnats(&Index::new(ruleset)));
            let found = path::walk(&topology, &hooks, &sockets, &listed, firewall_read);
            // A thread that panicked is a bug: its answer would be missing, so the panic
            // goes on.
            (Some(dnats.join().unwrap()), Some(found))
        }),
        (Some(_), Rules::Read(index)) => (Some(firewall::dnats(index)), None),
        _ => (None, None),
    };
    if let Some((dnats, unread)) = dnats {
        publishes.splice(0..0, dnats.into_iter().map(publish_of_dnat));
        for unread in unread {
            warnings.push(format!(
                "{unread}: its target is not known, so what it publishes is not reported"
            ));
        }
    }
    let protocols = protocols_of(&publishes);
    let found = match walked {
        Some(found) if protocols == listed => found,
        _ => path::walk(&topology, &hooks, &sockets, &protocols, firewall_read),
    };
    warnings.extend(found.warnings.iter().cloned());

    let proxies: HashMap<u64, usize> = listeners
        .iter()
        .enumerate()
        .filter(|(_, l)| l.inode != 0)
        .map(|(i, l)| (l.inode, i))
        .collect();
    let ways = Ways::new(&found, firewall_read);
    let subjects = publish::pair(listeners, &publishes, &seen.namespaces)
        .into_iter()
        .map(|paired| ways.subject(paired, &proxies))
        .collect();
    Ok(Reach {
        subjects,
        warnings,
        firewall_read,
    })
}

/// From this many rules on, the DNAT listing runs beside the walk: below, a thread and a
/// second index cost more than the listing.
const SIDE_BY_SIDE_RULES: usize = 1_000;

/// Whether to list `ruleset`'s DNAT rules beside the walk: big, and more than one core.
fn side_by_side(ruleset: &Ruleset) -> bool {
    ruleset.rules() >= SIDE_BY_SIDE_RULES
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// Each namespace's network as collect read it; a captured tree (or a collector that read
/// none) has its namespaces with nothing of their network read: the walk then judges by
/// the bind addresses.
fn network_of(seen: &Seen) -> Cow<'_, Network> {
    if !seen.network.namespaces.is_empty() {
        return Cow::Borrowed(&seen.network);
    }
    let mut namespaces: Vec<Arc<Netns>> = seen
        .namespaces
        .iter()
        .map(|n| Arc::new(n.netns.clone()))
        .collect();
    if !namespaces.iter().any(|n| n.host) {
        namespaces.insert(
            0,
            Arc::new(Netns {
                inode: 0,
                name: None,
                host: true,
            }),
        );
    }
    Cow::Owned(Network {
        namespaces: namespaces.into_iter().map(blind).collect(),
    })
}

/// A namespace of which nothing was read.
fn blind(netns: Arc<Netns>) -> NamespaceNet {
    NamespaceNet {
        netns,
        links: Reading::NotAsked,
        addresses: Reading::NotAsked,
        routes: Reading::NotAsked,
        rules: Reading::NotAsked,
        sysctls: Default::default(),
        ruleset: Reading::NotAsked,
        legacy_iptables: Vec::new(),
        bpf: Reading::NotAsked,
        ipvs: Reading::NotAsked,
    }
}

/// Each namespace's firewall, indexed once, asked per hook: the host's from what collect
/// read for it (the kernel, nft, `--ruleset FILE`), the others' from their own network.
struct Firewalls<'r> {
    rules: Vec<Rules<'r>>,
}

enum Rules<'r> {
    Read(Box<Index<'r>>),
    NotRead,
    Unreadable(Arc<str>),
}

impl<'r> Firewalls<'r> {
    fn new(
        network: &'r Network,
        host: usize,
        firewall_read: bool,
        host_ruleset: Option<&'r Ruleset>,
    ) -> Firewalls<'r> {
        let rules = network
            .namespaces
            .iter()
            .enumerate()
            .map(|(i, namespace)| {
                if !firewall_read {
                    return Rules::NotRead;
                }
                if i == host {
                    return match host_ruleset {
                        Some(ruleset) => Rules::Read(Box::new(Index::new(ruleset))),
                        None => {
                            Rules::Unreadable("the ruleset could not be read (see warnings)".into())
                        }
                    };
                }
                match &namespace.ruleset {
                    Reading::Done(ruleset) => Rules::Read(Box::new(Index::new(ruleset))),
                    Reading::Unreadable(why) => Rules::Unreadable(why.as_str().into()),
                    Reading::NotAsked => Rules::NotRead,
                }
            })
            .collect();
        Firewalls { rules }
    }
}

impl Hooks for Firewalls<'_> {
    fn at(&self, ns: usize, hook: Hook, class: &Class) -> Answered {
        match &self.rules[ns] {
            Rules::Read(index) => Answered::Fates(index.evaluate(hook, class)),
            Rules::NotRead => Answered::NotRead,
            Rules::Unreadable(why) => Answered::Unreadable(Arc::clone(why)),
        }
    }
}

/// The walk's arrivals, by socket, made into each subject's ways in.
struct Ways<'f> {
    by_socket: HashMap<usize, Vec<&'f Arrival>>,
    /// The rewrites no socket answers, by protocol and target (thousands of publishes
    /// look theirs up on a Kubernetes node).
    unanswered: HashMap<(Protocol, IpAddr), Vec<&'f Unanswered>>,
    firewall_read: bool,
}

impl<'f> Ways<'f> {
    fn new(found: &'f Found, firewall_read: bool) -> Ways<'f> {
        let mut by_socket: HashMap<usize, Vec<&Arrival>> = HashMap::new();
        for arrival in &found.arrivals {
            by_socket.entry(arrival.socket).or_default().push(arrival);
        }
        let mut unanswered: HashMap<(Protocol, IpAddr), Vec<&Unanswered>> = HashMap::new();
        for u in &found.unanswered {
            unanswered
                .entry((u.protocol, u.target))
                .or_default()
                .push(u);
        }
        Ways {
            by_socket,
            unanswered,
            firewall_read,
        }
    }

    /// One subject: the ways the walk found to its socket; a docker-proxy's publish is
    /// reached the ways the proxy's own socket is; a publish nobody answers, the ways
    /// that reached its target. A publish the walk found no way to keeps one all the
    /// same (the rule says it is there), its answer unknown.
    fn subject(&self, paired: Paired, proxies: &HashMap<u64, usize>) -> Subject {
        let Paired {
            listener,
            published,
            listening,
            elsewhere,
            index,
        } = paired;
        let mut found: Vec<(WayIn, Option<Judgement>)> = Vec::new();
        if let Some(i) = index {
            found.extend(
                self.arrivals(i)
                    .map(|a| (a.way.clone(), a.judgement.clone())),
            );
        }
        if let Some(host) = published.as_deref() {
            match &host.via {
                Via::Proxy { inode, .. } => {
                    let proxy = proxies.get(inode).copied();
                    found.extend(proxy.into_iter().flat_map(|i| self.arrivals(i)).map(|a| {
                        let mut way = a.way.clone();
                        way.via = Way::Proxy;
                        way.delivered = (host.target, listener.port);
                        (way, a.judgement.clone())
                    }));
                }
                Via::Dnat { .. } if index.is_none() => {
                    found.extend(
                        self.unanswered
                            .get(&(host.protocol, host.target))
                            .into_iter()
                            .flatten()
                            .filter(|u| u.ports.contains(listener.port))
                            .map(|u| (u.way.clone(), u.judgement.clone())),
                    );
                }
                Via::Dnat { .. } => {}
            }
            let kind = match host.via {
                Via::Dnat { .. } => Way::Dnat,
                Via::Proxy { .. } => Way::Proxy,
            };
            if !found.iter().any(|(w, _)| w.via == kind) {
                found.push(self.unwalked(host, &listener, kind));
            }
        }
        let (ways_in, judgements) = merge(found);
        let firewall = (!ways_in.is_empty() && self.firewall_read)
            .then(|| combine(judgements.into_iter().flatten().collect()));
        Subject {
            contained: elsewhere && ways_in.is_empty(),
            listener,
            published,
            listening,
            ways_in,
            firewall,
        }
    }

    fn arrivals(&self, socket: usize) -> impl Iterator<Item = &'f Arrival> + '_ {
        self.by_socket.get(&socket).into_iter().flatten().copied()
    }

    /// A publish's way the walk did not find (its host side is no address of the host's,
    /// or the rule matches what the model leaves unknown): there all the same.
    fn unwalked(
        &self,
        host: &Published,
        listener: &Listener,
        via: Way,
    ) -> (WayIn, Option<Judgement>) {
        let way = WayIn {
            via,
            address: host.address,
            port: *host.ports.start(),
            port_last: (host.ports.start() != host.ports.end()).then_some(*host.ports.end()),
            interface: None,
            entry: None,
            delivered: (host.target, listener.port),
            rule: match &host.via {
                Via::Dnat { rule } => Some(rule.as_str().into()),
                Via::Proxy { .. } => None,
            },
            firewall: self.firewall_read.then_some(FirewallVerdict::Unknown),
        };
        let judgement = self.firewall_read.then(|| Judgement {
            verdict: FirewallVerdict::Unknown,
            why: "no way to this publish was found on the path: its firewall answer is not known"
                .into(),
        });
        (way, judgement)
    }
}

/// Ways that read the same are one: dropped when every possibility of it drops, accepted
/// when every one accepts, else unknown.
fn merge(found: Vec<(WayIn, Option<Judgement>)>) -> (Vec<WayIn>, Vec<Option<Judgement>>) {
    let mut ways: Vec<WayIn> = Vec::with_capacity(found.len());
    let mut judgements: Vec<Option<Judgement>> = Vec::with_capacity(found.len());
    let mut at: HashMap<WayKey, usize> = HashMap::new();
    for (way, judgement) in found {
        let key = WayKey::of(&way);
        match at.get(&key) {
            Some(&i) => {
                if let (Some(old), Some(new)) = (&judgements[i], &judgement)
                    && old.verdict != new.verdict
                {
                    let unknown = [old, new]
                        .into_iter()
                        .find(|j| j.verdict == FirewallVerdict::Unknown)
                        .map_or_else(
                            || Arc::from("dropped on some of the possible paths, not on all"),
                            |j| Arc::clone(&j.why),
                        );
                    judgements[i] = Some(Judgement {
                        verdict: FirewallVerdict::Unknown,
                        why: unknown,
                    });
                    ways[i].firewall = Some(FirewallVerdict::Unknown);
                }
            }
            None => {
                at.insert(key, ways.len());
                ways.push(way);
                judgements.push(judgement);
            }
        }
    }
    (ways, judgements)
}

/// What makes two ways in the same way.
#[derive(PartialEq, Eq, Hash)]
struct WayKey {
    via: Way,
    address: IpAddr,
    port: u16,
    port_last: Option<u16>,
    interface: Option<Arc<str>>,
    entry: Option<Arc<str>>,
    delivered: (IpAddr, u16),
    rule: Option<Arc<str>>,
}

impl WayKey {
    fn of(way: &WayIn) -> WayKey {
        WayKey {
            via: way.via,
            address: way.address,
            port: way.port,
            port_last: way.port_last,
            interface: way.interface.clone(),
            entry: way.entry.clone(),
            delivered: way.delivered,
            rule: way.rule.clone(),
        }
    }
}

/// The answer on all ways together: accepted when any is, unknown when any is, dropped
/// when all are.
fn combine(judgements: Vec<Judgement>) -> Judgement {
    for verdict in [FirewallVerdict::Accepted, FirewallVerdict::Unknown] {
        if let Some(found) = judgements.iter().find(|j| j.verdict == verdict) {
            return found.clone();
        }
    }
    judgements.into_iter().next().unwrap_or(Judgement {
        verdict: FirewallVerdict::Unknown,
        why: "no way in to judge".into(),
    })
}

/// A DNAT as a publish; the host side is unspecified (any address) when the rule
/// matches none, in the target's family.
fn publish_of_dnat(dnat: firewall::Dnat) -> Publish {
    let host_address = dnat.host_address.unwrap_or(match dnat.target {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    Publish {
        protocol: dnat.protocol,
        host_address,
        host_ports: dnat.host_ports,
        target: dnat.target,
        target_port: dnat.target_port,
        via: Via::Dnat { rule: dnat.rule },
    }
}

#[cfg(test)]
mod tests;
