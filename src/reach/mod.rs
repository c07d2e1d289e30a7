//! Reach: the ways in from outside to every socket (between collect and policy; pure).
//!
//! A connection from outside arrives in the host's network namespace. It reaches a
//! socket there `direct`ly, on the host's addresses; a socket in another namespace only
//! when the host passes it on: a DNAT rule (`dnat`), a userland proxy (`proxy`), or
//! plain forwarding (`routed`). Each way in gets the host firewall's answer for that
//! way. A socket in another namespace with no way in is `contained`; where the model
//! cannot tell, it gives a way in, never "contained".

mod firewall;
mod publish;

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::classify::{self, Exposure};
use crate::collect::{RulesetRead, Seen};
use crate::error::Error;
use crate::ruleset::Hook;
use crate::socket::{
    FirewallVerdict, Forwarding, HostAddress, Interfaces, Judgement, Link, Listener, Listening,
    NamespaceSeen, Netns, Publish, Published, Route, Subject, Via, Way, WayIn,
};
use firewall::{Destination, Judge};
use publish::Paired;

/// What the reach stage found: every subject with its ways in, and what it could not
/// evaluate.
#[derive(Debug)]
pub struct Reach {
    pub subjects: Vec<Subject>,
    pub warnings: Vec<String>,
    /// The host's ruleset was to be read: each way in has a firewall answer.
    pub firewall_read: bool,
}

/// Pair publishes with sockets, then give every subject its ways in and the firewall's
/// answer on each.
pub fn resolve(listeners: Vec<Listener>, seen: &Seen) -> Result<Reach, Error> {
    let mut warnings = Vec::new();
    let (ruleset, firewall_read) = match &seen.ruleset {
        RulesetRead::NotRead => (None, false),
        RulesetRead::Unreadable => (None, true),
        RulesetRead::Read(ruleset) => (Some(&**ruleset), true),
    };
    let judge = ruleset.map(Judge::new);
    let mut publishes: Vec<Publish> = Vec::new();
    if let Some(judge) = &judge {
        let (dnats, unread) = judge.dnats();
        publishes.extend(dnats.into_iter().map(publish_of_dnat));
        for unread in unread {
            warnings.push(format!(
                "{unread}: its target is not known, so what it publishes is not reported"
            ));
        }
    }
    publishes.extend(seen.proxies.iter().cloned());
    let firewall = firewall_read.then_some(Firewall {
        judge: judge.as_ref(),
        legacy: seen.legacy_firewall,
    });
    let network = Network {
        forwarding: seen.forwarding,
        routes: seen.host_routes.as_deref(),
        interfaces: &seen.interfaces,
        namespaces: &seen.namespaces,
    };
    let mut texts = HashSet::new();
    let subjects = publish::pair(listeners, &publishes, &seen.namespaces)
        .into_iter()
        .map(|paired| subject(paired, firewall, network, &mut texts))
        .collect();
    Ok(Reach {
        subjects,
        warnings,
        firewall_read,
    })
}

/// What reach needs to know about the host's network: whether it forwards, its routes,
/// and each namespace's interfaces.
#[derive(Clone, Copy)]
struct Network<'a> {
    forwarding: Forwarding,
    routes: Option<&'a [Route]>,
    interfaces: &'a BTreeMap<u64, Interfaces>,
    namespaces: &'a [NamespaceSeen],
}

/// One subject: its ways in, the firewall's answer on each and on all together.
/// `texts` holds one copy of each interface name and firewall reason, which the
/// subjects share (tens of thousands of sockets name the same few).
fn subject(
    paired: Paired,
    firewall: Option<Firewall>,
    network: Network,
    texts: &mut HashSet<Arc<str>>,
) -> Subject {
    let Paired {
        listener,
        published,
        listening,
        elsewhere,
    } = paired;
    let mut candidates = if elsewhere {
        elsewhere_ways(&listener, network)
    } else {
        host_ways(&listener, published.as_deref(), texts)
    };
    // A published socket in another namespace is still an address the host may forward
    // to (`-p 127.0.0.1:8080:80` with forwarding on): its own ways in count as well.
    let other_namespace = listener.netns.as_ref().is_some_and(|n| !n.host);
    if published.is_some() && other_namespace && listening == Listening::Yes {
        candidates.extend(elsewhere_ways(&listener, network));
    }
    let mut ways_in = Vec::with_capacity(candidates.len());
    let mut judgements = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let mut way = candidate.way;
        if let Some(firewall) = firewall {
            let mut judged =
                firewall.judge(&listener, published.as_deref(), &way, &candidate.check);
            judged.why = shared(texts, &judged.why);
            way.firewall = Some(judged.verdict);
            judgements.push(judged);
        }
        ways_in.push(way);
    }
    let judgement = firewall
        .filter(|_| !ways_in.is_empty())
        .map(|_| combine(judgements));
    Subject {
        contained: elsewhere && ways_in.is_empty(),
        listener,
        published,
        listening,
        ways_in,
        firewall: judgement,
    }
}

/// The copy of `text` in `texts`, made when it is the first.
fn shared(texts: &mut HashSet<Arc<str>>, text: &str) -> Arc<str> {
    match texts.get(text) {
        Some(first) => Arc::clone(first),
        None => {
            let first: Arc<str> = Arc::from(text);
            texts.insert(Arc::clone(&first));
            first
        }
    }
}

/// A way in, and how its firewall answer is found.
#[derive(Debug)]
struct Candidate {
    way: WayIn,
    check: Check,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// The host's hooks: input for its own sockets and proxies, forward for DNAT and
    /// routed ways.
    Host,
    /// Not the host's firewall, or not known which: unknown, and why.
    Unknown(String),
}

/// The ways in to a socket of the host's own, or to a published one: the publish, or the
/// host addresses it answers on (none for loopback).
fn host_ways(
    listener: &Listener,
    published: Option<&Published>,
    texts: &mut HashSet<Arc<str>>,
) -> Vec<Candidate> {
    let mut ways = Vec::new();
    if let Some(host) =
        published.filter(|host| !classify::classify(host.address).1.eq(&Exposure::None))
    {
        let via = match host.via {
            Via::Dnat { .. } => Way::Dnat,
            Via::Proxy { .. } => Way::Proxy,
        };
        ways.push(WayIn {
            via,
            address: host.address,
            port: *host.ports.start(),
            interface: None,
            firewall: None,
        });
    } else if published.is_none() {
        let loopback_device = listener.detail.device.as_ref().is_some_and(|d| d.loopback);
        let (_, exposure) = classify::classify_bound(listener.address, loopback_device);
        if exposure != Exposure::None {
            let device = listener
                .detail
                .device
                .as_ref()
                .map(|d| shared(texts, &d.name));
            match &listener.detail.reachable_on {
                Some(all) if !all.is_empty() => ways.extend(all.iter().map(|h| WayIn {
                    via: Way::Direct,
                    address: h.address,
                    port: listener.port,
                    // A packet from outside never arrives on loopback, whatever address
                    // it carries (a VIP on `lo`): it comes in on some other interface.
                    interface: (!on_loopback(h)).then(|| shared(texts, &h.device)),
                    firewall: None,
                })),
                _ => ways.push(WayIn {
                    via: Way::Direct,
                    address: listener.address,
                    port: listener.port,
                    interface: device,
                    firewall: None,
                }),
            }
        }
    }
    ways.into_iter()
        .map(|way| Candidate {
            way,
            check: Check::Host,
        })
        .collect()
}

/// The loopback interface: index 1 in every network namespace.
fn on_loopback(address: &HostAddress) -> bool {
    address.ifindex == 1 || address.device == "lo"
}

/// How an address of another namespace is reached from outside.
enum Reached {
    /// Through the host, which forwards to it (a veth, or an address behind one).
    Routed,
    /// On a link of the namespace's own (macvlan, ipvlan, a NIC moved in): named.
    OwnLink(String),
    /// The namespace's interfaces were not read: either.
    NotKnown,
}

/// The ways in to a socket in another namespace that nothing publishes: routed through
/// the host when it forwards the family, direct on a link of the namespace's own. Where
/// that cannot be told, a way in with an unknown answer, never none.
fn elsewhere_ways(listener: &Listener, network: Network) -> Vec<Candidate> {
    let loopback_device = listener.detail.device.as_ref().is_some_and(|d| d.loopback);
    let (_, exposure) = classify::classify_bound(listener.address, loopback_device);
    if exposure == Exposure::None {
        return Vec::new();
    }
    let inode = listener.netns.as_ref().map(|n| n.inode);
    let name = match listener.netns.as_deref() {
        Some(Netns {
            inode,
            name: Some(name),
            ..
        }) => format!("network namespace {inode} ({name})"),
        Some(netns) => format!("network namespace {}", netns.inode),
        None => "its network namespace".into(),
    };
    let interfaces = inode.and_then(|i| network.interfaces.get(&i));
    // Its addresses a connection can be sent to, each with the interface it is on.
    let addresses: Vec<(IpAddr, Option<&str>)> = match interfaces {
        Some(seen) => seen
            .addresses
            .iter()
            .filter(|h| answers_on(listener, h.address))
            .filter(|h| {
                listener
                    .detail
                    .device
                    .as_ref()
                    .is_none_or(|d| d.name == h.device)
            })
            .map(|h| (h.address, Some(h.device.as_str())))
            .collect(),
        None => {
            let known = inode.and_then(|i| {
                network
                    .namespaces
                    .iter()
                    .find(|n| n.netns.inode == i)?
                    .addresses
                    .as_ref()
            });
            match known {
                Some(all) => all
                    .iter()
                    .filter(|a| answers_on(listener, **a))
                    .map(|a| (*a, None))
                    .collect(),
                // Not even its addresses: the bind address itself, whatever it means.
                None => vec![(listener.address, None)],
            }
        }
    };
    let mut ways = Vec::new();
    for (address, device) in addresses {
        let reached = match (interfaces, device) {
            (Some(seen), Some(device)) => match seen.links.iter().find(|l| l.name == device) {
                Some(link) if outside_link(link) => Reached::OwnLink(link.name.clone()),
                Some(_) => Reached::Routed,
                None => Reached::NotKnown,
            },
            _ => Reached::NotKnown,
        };
        let forwarded = match address.to_canonical() {
            IpAddr::V4(_) => network.forwarding.ipv4,
            IpAddr::V6(_) => network.forwarding.ipv6,
        };
        let way = |via, interface| WayIn {
            via,
            address,
            port: listener.port,
            interface,
            firewall: None,
        };
        match reached {
            // Nobody routes to a link-local address: only the host's side of the veth
            // reaches it.
            Reached::Routed if !forwarded || link_local(address) => {}
            Reached::Routed => ways.push(Candidate {
                way: way(
                    Way::Routed,
                    route_device(network.routes, address).map(Arc::from),
                ),
                check: Check::Host,
            }),
            Reached::OwnLink(link) => ways.push(Candidate {
                check: Check::Unknown(format!(
                    "{name} has a link of its own to the outside ({link}): its own \
                     firewall decides, which portaudit does not read"
                )),
                way: way(Way::Direct, Some(Arc::from(link))),
            }),
            Reached::NotKnown => ways.push(Candidate {
                check: Check::Unknown(format!(
                    "the interfaces of {name} could not be read: it may have a link of its \
                     own to the outside"
                )),
                way: way(if forwarded { Way::Routed } else { Way::Direct }, None),
            }),
        }
    }
    ways
}

/// Whether a socket bound to its address answers a connection to `address` of its
/// namespace: the same address, or a wildcard of its family (a `::` bind takes IPv4
/// unless IPv6-only); never on a loopback address.
fn answers_on(listener: &Listener, address: IpAddr) -> bool {
    let address = address.to_canonical();
    if address.is_loopback() {
        return false;
    }
    let bound = listener.address.to_canonical();
    if bound == address {
        return true;
    }
    match (bound, address) {
        (IpAddr::V4(b), IpAddr::V4(_)) => b.is_unspecified(),
        (IpAddr::V6(b), IpAddr::V6(_)) => b.is_unspecified(),
        (IpAddr::V6(b), IpAddr::V4(_)) => {
            b.is_unspecified() && listener.detail.v6only != Some(true)
        }
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// A link to the outside: anything but loopback, a veth (to the host or another
/// namespace) and a dummy (reached through the others).
fn outside_link(link: &Link) -> bool {
    !link.loopback && !matches!(link.kind.as_deref(), Some("veth" | "dummy"))
}

fn link_local(address: IpAddr) -> bool {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The host interface a connection to `address` is forwarded out of: the longest match
/// in the host's main routing table, when it is not the default route.
fn route_device(routes: Option<&[Route]>, address: IpAddr) -> Option<String> {
    let address = address.to_canonical();
    routes?
        .iter()
        .filter(|r| r.prefix_len > 0 && in_network(address, r.destination, r.prefix_len))
        .max_by_key(|r| r.prefix_len)
        .and_then(|r| r.device.clone())
}

fn in_network(address: IpAddr, network: IpAddr, len: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
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

/// The host's firewall as the reach stage sees it.
#[derive(Clone, Copy)]
struct Firewall<'a> {
    /// `None`: it was to be read, but could not be.
    judge: Option<&'a Judge<'a>>,
    /// Legacy iptables tables are loaded, which nft cannot show.
    legacy: bool,
}

impl Firewall<'_> {
    /// What the firewall does with a new connection on one way in. Accepted by the rules
    /// nft shows is only "unknown" when legacy tables could still drop it; dropped is
    /// dropped either way.
    fn judge(
        self,
        listener: &Listener,
        published: Option<&Published>,
        way: &WayIn,
        check: &Check,
    ) -> Judgement {
        if let Check::Unknown(why) = check {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: why.as_str().into(),
            };
        }
        let Some(judge) = self.judge else {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: "the ruleset could not be read (see warnings)".into(),
            };
        };
        let protocol = listener.protocol;
        let judgement = match way.via {
            // DNAT-ed traffic passes the forward hook, to the target.
            Way::Dnat => {
                let target = published.map_or(way.address, |p| p.target);
                let destination = Destination {
                    address: target,
                    device: None,
                    out_device: None,
                };
                judge.judge(Hook::Forward, protocol, listener.port, &[destination], true)
            }
            // Routed: prerouting's filter chains, then forward, out of the interface
            // facing the namespace; it arrives on any interface but loopback.
            Way::Routed => {
                let at = [Destination {
                    address: way.address,
                    device: None,
                    out_device: way.interface.as_deref().map(String::from),
                }];
                let before = judge.judge(Hook::Prerouting, protocol, way.port, &at, false);
                let forward = judge.judge(Hook::Forward, protocol, way.port, &at, false);
                match (before.verdict, forward.verdict) {
                    (FirewallVerdict::Dropped, _) => before,
                    (_, FirewallVerdict::Dropped) => forward,
                    (FirewallVerdict::Unknown, _) => before,
                    _ => forward,
                }
            }
            Way::Direct | Way::Proxy => {
                let at = [Destination {
                    address: way.address,
                    device: way.interface.as_deref().map(String::from),
                    out_device: None,
                }];
                judge.judge(Hook::Input, protocol, way.port, &at, false)
            }
        };
        if self.legacy && judgement.verdict == FirewallVerdict::Accepted {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: format!(
                    "{}; but legacy iptables tables are loaded, which nft cannot show",
                    judgement.why
                )
                .into(),
            };
        }
        judgement
    }
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
mod tests {
    use super::*;
    use crate::socket::{Detail, Device, Protocol};

    const HOST: u64 = 1;
    const APP: u64 = 2;

    fn netns(inode: u64) -> Netns {
        Netns {
            inode,
            name: (inode == APP).then(|| "app".into()),
            host: inode == HOST,
        }
    }

    fn listener(inode: u64, address: &str, port: u16) -> Listener {
        let mut l = Listener::new(Protocol::Tcp, address.parse().unwrap(), port, 0, 100);
        l.netns = Some(netns(inode).into());
        l
    }

    fn link(ifindex: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            ifindex,
            name: name.into(),
            kind: kind.map(str::to_owned),
            loopback: name == "lo",
        }
    }

    fn at(address: &str, device: &str, ifindex: u32) -> HostAddress {
        HostAddress {
            address: address.parse().unwrap(),
            device: device.into(),
            ifindex,
        }
    }

    /// An app namespace behind a veth (10.250.1.2, fd00:1::2), the host routing to it
    /// through vh0; the app namespace's own link too when `own_link`.
    fn seen(ruleset: Option<&str>, forwarding: Forwarding, own_link: bool) -> Seen {
        let mut links = vec![link(1, "lo", None), link(2, "eth0", Some("veth"))];
        let mut addresses = vec![
            at("127.0.0.1", "lo", 1),
            at("::1", "lo", 1),
            at("10.250.1.2", "eth0", 2),
            at("fd00:1::2", "eth0", 2),
            at("fe80::2", "eth0", 2),
        ];
        if own_link {
            links.push(link(3, "mv0", Some("macvlan")));
            addresses.push(at("10.250.9.2", "mv0", 3));
        }
        let mut interfaces = BTreeMap::new();
        interfaces.insert(APP, Interfaces { links, addresses });
        let route = |destination: &str, prefix_len, device: &str| Route {
            destination: destination.parse().unwrap(),
            prefix_len,
            device: Some(device.into()),
        };
        Seen {
            namespaces: [HOST, APP]
                .into_iter()
                .map(|inode| NamespaceSeen {
                    netns: netns(inode),
                    audited: true,
                    addresses: None,
                    container: None,
                })
                .collect(),
            ruleset: match ruleset {
                Some(json) => RulesetRead::Read(Box::new(
                    crate::collect::nft::parse_saved(json).expect("a ruleset"),
                )),
                None => RulesetRead::NotRead,
            },
            forwarding,
            host_routes: Some(vec![
                route("0.0.0.0", 0, "eth0"),
                route("10.250.1.0", 24, "vh0"),
                route("fd00:1::", 64, "vh0"),
            ]),
            interfaces,
            ..Seen::default()
        }
    }

    fn one(listener: Listener, seen: &Seen) -> Subject {
        let mut reach = resolve(vec![listener], seen).unwrap();
        assert_eq!(reach.subjects.len(), 1, "{:#?}", reach.subjects);
        reach.subjects.remove(0)
    }

    fn vias(subject: &Subject) -> Vec<(Way, String, Option<&str>)> {
        subject
            .ways_in
            .iter()
            .map(|w| (w.via, w.address.to_string(), w.interface.as_deref()))
            .collect()
    }

    const ON: Forwarding = Forwarding {
        ipv4: true,
        ipv6: true,
    };
    const EMPTY: &str = r#"{"nftables": []}"#;

    #[test]
    fn a_routed_namespace_is_reached_through_the_host_when_it_forwards() {
        let seen = seen(Some(EMPTY), ON, false);
        let subject = one(listener(APP, "0.0.0.0", 8080), &seen);
        assert!(!subject.contained, "{subject:#?}");
        assert_eq!(
            vias(&subject),
            [(Way::Routed, "10.250.1.2".into(), Some("vh0"))]
        );
        assert_eq!(subject.ways_in[0].firewall, Some(FirewallVerdict::Accepted));
        assert_eq!(subject.ways_in[0].port, 8080);
        let judgement = subject.firewall.unwrap();
        assert_eq!(judgement.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*judgement.why, "no forward chain: nothing filters");

        // A dual-stack `::` bind: both families, never the link-local or loopback ones.
        let mut dual = listener(APP, "::", 8080);
        dual.detail.v6only = Some(false);
        assert_eq!(
            vias(&one(dual, &seen)),
            [
                (Way::Routed, "10.250.1.2".into(), Some("vh0")),
                (Way::Routed, "fd00:1::2".into(), Some("vh0")),
            ]
        );
        // A loopback bind has no way in: contained.
        let local = one(listener(APP, "127.0.0.1", 8080), &seen);
        assert!(local.contained && local.ways_in.is_empty(), "{local:#?}");
    }

    #[test]
    fn a_published_socket_is_still_routed_to_when_the_host_forwards() {
        let seen = seen(Some(EMPTY), ON, false);
        let mut paired = listener(APP, "0.0.0.0", 80);
        paired.inode = 7;
        let publish = Publish {
            protocol: Protocol::Tcp,
            host_address: "127.0.0.1".parse().unwrap(),
            host_ports: 8080..=8080,
            target: "10.250.1.2".parse().unwrap(),
            target_port: Some(80),
            via: Via::Dnat {
                rule: "ip nat DOCKER handle 3".into(),
            },
        };
        let seen = Seen {
            proxies: vec![publish],
            namespaces: seen
                .namespaces
                .iter()
                .cloned()
                .map(|mut n| {
                    n.addresses =
                        (n.netns.inode == APP).then(|| vec!["10.250.1.2".parse().unwrap()]);
                    n
                })
                .collect(),
            ..seen
        };
        let subject = one(paired.clone(), &seen);
        assert!(subject.published.is_some(), "{subject:#?}");
        assert_eq!(
            vias(&subject),
            [(Way::Routed, "10.250.1.2".into(), Some("vh0"))],
            "a loopback publish has no way in of its own; the forwarding does"
        );
        assert!(!subject.contained);
        // Forwarding off: only the (loopback) publish, so no way in at all.
        let off = Seen {
            forwarding: Forwarding {
                ipv4: false,
                ipv6: false,
            },
            ..seen
        };
        assert!(one(paired, &off).ways_in.is_empty());
    }

    #[test]
    fn forwarding_off_per_family_means_no_routed_way() {
        let v4_off = Forwarding {
            ipv4: false,
            ipv6: true,
        };
        let seen = seen(None, v4_off, false);
        let subject = one(listener(APP, "0.0.0.0", 8080), &seen);
        assert!(subject.contained, "{subject:#?}");
        assert!(subject.ways_in.is_empty());
        assert_eq!(subject.firewall, None);
        let mut dual = listener(APP, "::", 8080);
        dual.detail.v6only = Some(false);
        let subject = one(dual, &seen);
        assert!(!subject.contained);
        assert_eq!(
            vias(&subject),
            [(Way::Routed, "fd00:1::2".into(), Some("vh0"))]
        );
        // Not read: no firewall answer on the way.
        assert_eq!(subject.ways_in[0].firewall, None);

        let v6_off = Forwarding {
            ipv4: true,
            ipv6: false,
        };
        let seen = super::tests::seen(None, v6_off, false);
        assert!(one(listener(APP, "fd00:1::2", 53), &seen).contained);
        assert!(!one(listener(APP, "10.250.1.2", 53), &seen).contained);
    }

    #[test]
    fn masquerade_does_not_stop_inbound_routing() {
        let masquerade = r#"{"nftables": [
            {"chain": {"family": "ip", "table": "nat", "name": "post", "type": "nat",
                       "hook": "postrouting", "prio": 100, "policy": "accept"}},
            {"rule": {"family": "ip", "table": "nat", "chain": "post", "handle": 2,
                      "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip",
                      "field": "saddr"}}, "right": {"prefix": {"addr": "10.250.1.0",
                      "len": 24}}}}, {"masquerade": null}]}}]}"#;
        let subject = one(
            listener(APP, "0.0.0.0", 8080),
            &seen(Some(masquerade), ON, false),
        );
        assert!(!subject.contained);
        assert_eq!(subject.ways_in[0].via, Way::Routed);
        assert_eq!(subject.firewall.unwrap().verdict, FirewallVerdict::Accepted);
    }

    const FORWARD_DROP_VH0: &str = r#"{"nftables": [
        {"chain": {"family": "inet", "table": "f", "name": "forward", "type": "filter",
                   "hook": "forward", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "f", "chain": "forward", "handle": 3,
                  "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}},
                  "right": "vh0"}}, {"drop": null}]}}]}"#;

    #[test]
    fn a_forward_drop_on_the_way_is_dropped() {
        let subject = one(
            listener(APP, "0.0.0.0", 8080),
            &seen(Some(FORWARD_DROP_VH0), ON, false),
        );
        assert!(!subject.contained);
        assert_eq!(subject.ways_in[0].firewall, Some(FirewallVerdict::Dropped));
        let judgement = subject.firewall.unwrap();
        assert_eq!(judgement.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*judgement.why, "inet f forward handle 3: oifname vh0 drop");

        // Not knowing the interface facing it, the oifname rule cannot be evaluated.
        let mut unrouted = seen(Some(FORWARD_DROP_VH0), ON, false);
        unrouted.host_routes = None;
        let subject = one(listener(APP, "0.0.0.0", 8080), &unrouted);
        assert_eq!(subject.ways_in[0].interface, None);
        assert_eq!(subject.firewall.unwrap().verdict, FirewallVerdict::Unknown);

        // A filter chain in prerouting drops before forward is reached.
        let prerouting = r#"{"nftables": [
            {"chain": {"family": "inet", "table": "f", "name": "pre", "type": "filter",
                       "hook": "prerouting", "prio": -150, "policy": "drop"}}]}"#;
        let subject = one(
            listener(APP, "0.0.0.0", 8080),
            &seen(Some(prerouting), ON, false),
        );
        assert_eq!(&*subject.firewall.unwrap().why, "inet f pre: policy drop");
    }

    #[test]
    fn a_namespace_with_a_link_of_its_own_is_judged_by_its_own_addresses() {
        // Forwarding off: the veth leads nowhere, the macvlan straight out.
        let off = Forwarding {
            ipv4: false,
            ipv6: false,
        };
        let subject = one(
            listener(APP, "0.0.0.0", 8080),
            &seen(Some(FORWARD_DROP_VH0), off, true),
        );
        assert!(!subject.contained);
        assert_eq!(
            vias(&subject),
            [(Way::Direct, "10.250.9.2".into(), Some("mv0"))]
        );
        assert_eq!(subject.ways_in[0].firewall, Some(FirewallVerdict::Unknown));
        let judgement = subject.firewall.unwrap();
        assert_eq!(judgement.verdict, FirewallVerdict::Unknown);
        assert!(judgement.why.contains("(app)"), "{}", judgement.why);
        assert!(judgement.why.contains("mv0"), "{}", judgement.why);
        // Bound to its own address there: only that way.
        let subject = one(listener(APP, "10.250.9.2", 80), &seen(None, ON, true));
        assert_eq!(
            vias(&subject),
            [(Way::Direct, "10.250.9.2".into(), Some("mv0"))]
        );
        assert_eq!(subject.ways_in[0].firewall, None);
    }

    #[test]
    fn what_cannot_be_told_is_a_way_in_never_contained() {
        // The namespace's interfaces and addresses were not read.
        let mut blind = seen(Some(EMPTY), ON, false);
        blind.interfaces.clear();
        let subject = one(listener(APP, "0.0.0.0", 8080), &blind);
        assert!(!subject.contained, "{subject:#?}");
        assert_eq!(vias(&subject), [(Way::Routed, "0.0.0.0".into(), None)]);
        assert_eq!(subject.firewall.unwrap().verdict, FirewallVerdict::Unknown);
        // With forwarding off all the same: it may have a link of its own.
        let mut blind = seen(None, Forwarding::default(), false);
        blind.forwarding.ipv4 = false;
        blind.interfaces.clear();
        blind.namespaces[1].addresses = Some(vec!["10.250.1.2".parse().unwrap()]);
        let subject = one(listener(APP, "0.0.0.0", 8080), &blind);
        assert!(!subject.contained, "{subject:#?}");
        assert_eq!(vias(&subject), [(Way::Direct, "10.250.1.2".into(), None)]);
        // Unknown forwarding counts as on.
        assert!(Forwarding::default().ipv4 && Forwarding::default().ipv6);
    }

    #[test]
    fn a_vip_on_lo_is_reached_on_another_interface_so_iif_lo_accept_does_not_count() {
        let basic = include_str!("../../tests/fixtures/nft/inet-basic.json");
        let mut redis = listener(HOST, "0.0.0.0", 6379);
        redis.detail = Detail {
            reachable_on: Some([at("192.0.2.10", "lo", 1), at("10.0.0.5", "eth0", 2)].into()),
            ..Detail::default()
        };
        let subject = one(redis, &seen(Some(basic), ON, false));
        assert_eq!(
            vias(&subject),
            [
                (Way::Direct, "192.0.2.10".into(), None),
                (Way::Direct, "10.0.0.5".into(), Some("eth0")),
            ]
        );
        assert!(
            subject
                .ways_in
                .iter()
                .all(|w| w.firewall == Some(FirewallVerdict::Dropped)),
            "{subject:#?}"
        );
        let judgement = subject.firewall.unwrap();
        assert_eq!(judgement.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*judgement.why, "inet filter input: policy drop");

        // A socket bound to the loopback device is reached by nothing from outside.
        let mut bound = listener(HOST, "192.0.2.10", 6379);
        bound.detail.device = Some(Box::new(Device {
            name: "lo".into(),
            loopback: true,
        }));
        assert!(one(bound, &seen(Some(basic), ON, false)).ways_in.is_empty());
    }

    #[test]
    fn output_interface_matches_are_judged_on_the_routed_way_only() {
        let only_to = |device: &str| {
            format!(
                r#"{{"nftables": [
                {{"chain": {{"family": "inet", "table": "f", "name": "forward", "type": "filter",
                           "hook": "forward", "prio": 0, "policy": "drop"}}}},
                {{"chain": {{"family": "inet", "table": "f", "name": "input", "type": "filter",
                           "hook": "input", "prio": 0, "policy": "drop"}}}},
                {{"rule": {{"family": "inet", "table": "f", "chain": "forward", "handle": 4,
                          "expr": [{{"match": {{"op": "==", "left": {{"meta": {{"key": "oifname"}}}},
                          "right": "{device}"}}}}, {{"accept": null}}]}}}},
                {{"rule": {{"family": "inet", "table": "f", "chain": "input", "handle": 5,
                          "expr": [{{"match": {{"op": "==", "left": {{"meta": {{"key": "oifname"}}}},
                          "right": "{device}"}}}}, {{"accept": null}}]}}}}]}}"#
            )
        };
        let verdict = |json: &str, listener: Listener| {
            one(listener, &seen(Some(json), ON, false))
                .firewall
                .unwrap()
                .verdict
        };
        let app = || listener(APP, "0.0.0.0", 8080);
        assert_eq!(verdict(&only_to("vh0"), app()), FirewallVerdict::Accepted);
        assert_eq!(verdict(&only_to("eth9"), app()), FirewallVerdict::Dropped);
        // Forwarded out of some interface, never loopback.
        assert_eq!(verdict(&only_to("lo"), app()), FirewallVerdict::Dropped);
        // The input hook has no output interface: the rule never matches there.
        let mut host = listener(HOST, "0.0.0.0", 8080);
        host.detail.reachable_on = Some([at("10.0.0.5", "eth0", 2)].into());
        assert_eq!(verdict(&only_to("vh0"), host), FirewallVerdict::Dropped);
    }
}
