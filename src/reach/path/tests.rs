//! The walk over hand-built networks, with a firewall made of closures: each test one
//! mechanism, its way in and its negative.
//!
//! The network: a host (inode 1) with `eth0` to the outside (10.0.0.5/24, fd00::5/64)
//! and `vha` (10.250.1.1/24) to an app namespace (inode 2, `eth0` 10.250.1.2/24),
//! routing between them; both have their `local` routes as the kernel adds them.

use std::net::IpAddr;

use super::*;
use crate::network::{
    Bpf, IngressProgram, IpvsService, Network, Route, RouteRule, RuleAction, SkLookup,
};
use crate::reach::firewall::{NatAddress, NatTo, TproxyTo};
use crate::reach::topology::tests::{link, namespace, veth};
use crate::socket::{HostAddress, Listener};

const HOST: usize = 0;
const APP: usize = 1;

fn at(address: &str, device: &str, ifindex: u32) -> HostAddress {
    HostAddress {
        address: address.parse().unwrap(),
        device: device.into(),
        ifindex,
    }
}

fn route(table: u32, kind: RouteKind, network: &str, oif: u32) -> Route {
    let (destination, len) = network.split_once('/').unwrap();
    let destination: IpAddr = destination.parse().unwrap();
    Route {
        family: family_of(destination),
        table,
        kind,
        destination,
        prefix_len: len.parse().unwrap(),
        oif: Some(oif),
        nexthops: Vec::new(),
        gateway: None,
        priority: 0,
        source: None,
        tos: 0,
        nexthop_id: None,
    }
}

fn rule(family: Family, priority: u32, table: u32) -> RouteRule {
    RouteRule::any(family, priority, RuleAction::Table(table))
}

fn default_rules() -> Vec<RouteRule> {
    [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .flat_map(|f| [rule(f, 0, 255), rule(f, 32766, 254), rule(f, 32767, 253)])
        .collect()
}

/// The host and the app namespace, routed; the host forwards.
fn network() -> Network {
    let mut host = namespace(
        1,
        vec![
            link(1, "lo", None),
            link(2, "eth0", None),
            veth(3, "vha", Some(2), 2),
        ],
    );
    host.addresses = Reading::Done(vec![
        at("127.0.0.1", "lo", 1),
        at("10.0.0.5", "eth0", 2),
        at("fd00::5", "eth0", 2),
        at("10.250.1.1", "vha", 3),
    ]);
    host.routes = Reading::Done(vec![
        route(255, RouteKind::Local, "127.0.0.0/8", 1),
        route(255, RouteKind::Local, "127.0.0.1/32", 1),
        route(255, RouteKind::Local, "10.0.0.5/32", 2),
        route(255, RouteKind::Local, "fd00::5/128", 2),
        route(255, RouteKind::Local, "10.250.1.1/32", 3),
        route(254, RouteKind::Unicast, "0.0.0.0/0", 2),
        route(254, RouteKind::Unicast, "10.0.0.0/24", 2),
        route(254, RouteKind::Unicast, "fd00::/64", 2),
        route(254, RouteKind::Unicast, "10.250.1.0/24", 3),
    ]);
    host.rules = Reading::Done(default_rules());
    host.sysctls.ipv4_forwarding.all = Some(true);
    host.sysctls.ipv6_forwarding.all = Some(true);
    host.sysctls.route_localnet.all = Some(false);
    let mut app = namespace(2, vec![link(1, "lo", None), veth(2, "eth0", Some(1), 3)]);
    app.addresses = Reading::Done(vec![at("127.0.0.1", "lo", 1), at("10.250.1.2", "eth0", 2)]);
    app.routes = Reading::Done(vec![
        route(255, RouteKind::Local, "127.0.0.0/8", 1),
        route(255, RouteKind::Local, "10.250.1.2/32", 2),
        route(254, RouteKind::Unicast, "0.0.0.0/0", 2),
        route(254, RouteKind::Unicast, "10.250.1.0/24", 2),
    ]);
    app.rules = Reading::Done(default_rules());
    app.sysctls.ipv4_forwarding.all = Some(false);
    let mut net = Network {
        namespaces: vec![host, app],
    };
    for ns in &mut net.namespaces {
        localnet_off(ns);
    }
    net
}

/// route_localnet off for `all` and every interface, as a kernel reads by default.
fn localnet_off(ns: &mut NamespaceNet) {
    ns.sysctls.route_localnet.all = Some(false);
    for link in ns.links.as_ref().unwrap() {
        ns.sysctls
            .route_localnet
            .interfaces
            .insert(link.name.clone(), false);
    }
}

fn listener(ns: usize, address: &str, port: u16) -> (usize, Listener) {
    (
        ns,
        Listener::new(Protocol::Tcp, address.parse().unwrap(), port, 0, 0),
    )
}

type Rule = Box<dyn Fn(&Class) -> Option<Vec<Fate>>>;

/// A firewall of closures: the first that answers for (namespace, hook) decides; none:
/// every chain lets it on.
#[derive(Default)]
struct Firewall {
    rules: Vec<(usize, Hook, Rule)>,
}

impl Firewall {
    fn on(
        mut self,
        ns: usize,
        hook: Hook,
        rule: impl Fn(&Class) -> Option<Vec<Fate>> + 'static,
    ) -> Firewall {
        self.rules.push((ns, hook, Box::new(rule)));
        self
    }
}

impl Hooks for Firewall {
    fn at(&self, ns: usize, hook: Hook, class: &Class) -> Answered {
        for (n, h, rule) in &self.rules {
            if *n == ns
                && *h == hook
                && let Some(fates) = rule(class)
            {
                return Answered::Fates(fates);
            }
        }
        Answered::Fates(vec![fate(
            class.ports.clone(),
            End::Pass,
            "nothing filters",
        )])
    }
}

fn fate(ports: PortSet, end: End, why: &str) -> Fate {
    Fate {
        ports,
        end,
        rewrite: Rewrite::default(),
        certain: true,
        why: why.into(),
        doubt: None,
        doubt_kind: None,
        daddr: None,
    }
}

/// `ports` get `end`, the rest of the class passes.
fn split(class: &Class, ports: PortSet, end: End, why: &str) -> Vec<Fate> {
    let mine = class.ports.intersect(&ports);
    vec![
        fate(mine, end, why),
        fate(class.ports.subtract(&ports), End::Pass, "policy accept"),
    ]
}

/// `(via, address, port, port_last, interface, entry, firewall)` of every way to each
/// socket, deduplicated, in order.
type Seen = Vec<(usize, String)>;

fn ways(network: &Network, firewall: &Firewall, sockets: &[(usize, Listener)]) -> Seen {
    let listeners: Vec<Listener> = sockets.iter().map(|(_, l)| l.clone()).collect();
    let index = Sockets::new(&listeners, |l| {
        let i = listeners.iter().position(|x| std::ptr::eq(x, l)).unwrap();
        Some(sockets[i].0)
    });
    let topology = Topology::new(network);
    let found = walk(&topology, firewall, &index, &[Protocol::Tcp], true);
    let mut seen: Seen = found
        .arrivals
        .iter()
        .map(|a| {
            let w = &a.way;
            let ports = match w.port_last {
                Some(last) => format!("{}-{last}", w.port),
                None => w.port.to_string(),
            };
            (
                a.socket,
                format!(
                    "{} {}:{ports} if={} entry={} to={}:{} rule={} {}",
                    w.via.name(),
                    w.address,
                    w.interface.as_deref().unwrap_or("-"),
                    w.entry.as_deref().unwrap_or("-"),
                    w.delivered.0,
                    w.delivered.1,
                    w.rule.as_deref().unwrap_or("-"),
                    w.firewall.map_or("-", |f| f.name()),
                ),
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

fn of(seen: &Seen, socket: usize) -> Vec<&str> {
    seen.iter()
        .filter(|(s, _)| *s == socket)
        .map(|(_, w)| w.as_str())
        .collect()
}

#[test]
fn a_routed_namespace_is_reached_through_the_host_when_it_forwards() {
    let net = network();
    let sockets = [
        listener(APP, "0.0.0.0", 8080),
        listener(APP, "127.0.0.1", 8081),
    ];
    let seen = ways(&net, &Firewall::default(), &sockets);
    assert_eq!(
        of(&seen, 0),
        ["routed 10.250.1.2:8080 if=vha entry=eth0 to=10.250.1.2:8080 rule=- accepted"]
    );
    assert!(of(&seen, 1).is_empty(), "{seen:#?}");
    // The host does not forward: nothing gets there.
    let mut off = network();
    off.namespaces[HOST].sysctls.ipv4_forwarding.all = Some(false);
    assert!(ways(&off, &Firewall::default(), &sockets).is_empty());
    // Off for all, on for the interface it comes in on: IPv4 forwards per interface.
    off.namespaces[HOST]
        .sysctls
        .ipv4_forwarding
        .interfaces
        .insert("eth0".into(), true);
    assert_eq!(of(&ways(&off, &Firewall::default(), &sockets), 0).len(), 1);
}

#[test]
fn the_host_socket_is_reached_on_each_address_from_each_way_in() {
    let net = network();
    let mut dual = listener(HOST, "::", 22);
    dual.1.detail.v6only = Some(false);
    let sockets = [dual, listener(HOST, "10.0.0.5", 80)];
    let seen = ways(&net, &Firewall::default(), &sockets);
    assert_eq!(
        of(&seen, 0),
        [
            "direct 10.0.0.5:22 if=eth0 entry=eth0 to=10.0.0.5:22 rule=- accepted",
            "direct 10.250.1.1:22 if=eth0 entry=eth0 to=10.250.1.1:22 rule=- accepted",
            "direct fd00::5:22 if=eth0 entry=eth0 to=fd00::5:22 rule=- accepted",
        ]
    );
    assert_eq!(
        of(&seen, 1),
        ["direct 10.0.0.5:80 if=eth0 entry=eth0 to=10.0.0.5:80 rule=- accepted"]
    );
}

#[test]
fn route_localnet_lets_127_in_on_its_interface_and_v4_mapped_sockets_with_it() {
    let mut dual = listener(HOST, "::", 6380);
    dual.1.detail.v6only = Some(false);
    let sockets = [
        listener(HOST, "127.0.0.1", 6379),
        dual,
        listener(HOST, "127.0.0.53", 53),
    ];
    assert!(
        ways(&network(), &Firewall::default(), &sockets)
            .iter()
            .all(|(_, w)| !w.starts_with("localnet")),
        "off: 127/8 is martian from outside"
    );
    let mut on = network();
    on.namespaces[HOST]
        .sysctls
        .route_localnet
        .interfaces
        .insert("eth0".into(), true);
    let seen = ways(&on, &Firewall::default(), &sockets);
    assert_eq!(
        of(&seen, 0),
        ["localnet 127.0.0.1:6379 if=eth0 entry=eth0 to=127.0.0.1:6379 rule=- accepted"]
    );
    assert!(
        of(&seen, 1).contains(
            &"localnet 127.0.0.1:6380 if=eth0 entry=eth0 to=127.0.0.1:6380 rule=- accepted"
        ),
        "{seen:#?}"
    );
    assert_eq!(
        of(&seen, 2),
        ["localnet 127.0.0.53:53 if=eth0 entry=eth0 to=127.0.0.53:53 rule=- accepted"]
    );
    // Not readable: counted as on.
    let mut unknown = network();
    unknown.namespaces[HOST]
        .sysctls
        .route_localnet
        .interfaces
        .clear();
    assert_eq!(
        of(&ways(&unknown, &Firewall::default(), &sockets), 0).len(),
        1
    );
}

/// `tcp dport 5000-5999 tproxy to 127.0.0.1:7000 meta mark set 1`, and what makes it
/// work: `ip rule fwmark 1 lookup 100` with `local 0.0.0.0/0 dev lo` in table 100.
fn tproxy_network() -> (Network, Firewall) {
    let mut net = network();
    let host = &mut net.namespaces[HOST];
    let Reading::Done(rules) = &mut host.rules else {
        unreachable!()
    };
    let mut marked = rule(Family::Ipv4, 100, 100);
    marked.fwmark = Some((1, 1));
    rules.push(marked);
    let Reading::Done(routes) = &mut host.routes else {
        unreachable!()
    };
    routes.push(route(100, RouteKind::Local, "0.0.0.0/0", 1));
    let firewall = Firewall::default().on(HOST, Hook::Prerouting, |class| {
        let range = PortSet::range(5000, 5999);
        let mine = class.ports.intersect(&range);
        let mut proxied = fate(mine, End::Pass, "ip mangle pre handle 3");
        proxied.rewrite = Rewrite {
            tproxy: Some(TproxyTo {
                address: Some("127.0.0.1".parse().unwrap()),
                port: Some(7000),
            }),
            mark: Some(Mark::Set(1)),
            ..Rewrite::default()
        };
        Some(vec![
            proxied,
            fate(class.ports.subtract(&range), End::Pass, "policy accept"),
        ])
    });
    (net, firewall)
}

#[test]
fn tproxy_hands_a_port_range_to_a_transparent_socket_bound_to_loopback() {
    let (net, firewall) = tproxy_network();
    let mut transparent = listener(HOST, "127.0.0.1", 7000);
    transparent.1.detail.transparent = Some(true);
    let seen = ways(&net, &firewall, &[transparent]);
    assert_eq!(
        of(&seen, 0),
        [
            "tproxy 0.0.0.0:5000-5999 if=eth0 entry=eth0 to=127.0.0.1:7000 rule=ip mangle pre handle 3 accepted",
            "tproxy 10.0.0.5:5000-5999 if=eth0 entry=eth0 to=127.0.0.1:7000 rule=ip mangle pre handle 3 accepted",
            "tproxy 10.250.1.1:5000-5999 if=eth0 entry=eth0 to=127.0.0.1:7000 rule=ip mangle pre handle 3 accepted",
            "tproxy 10.250.1.2:5000-5999 if=eth0 entry=eth0 to=127.0.0.1:7000 rule=ip mangle pre handle 3 accepted",
        ]
    );
    // Not transparent: the kernel does not assign it, no way in.
    let mut plain = listener(HOST, "127.0.0.1", 7000);
    plain.1.detail.transparent = Some(false);
    assert!(ways(&net, &firewall, &[plain]).is_empty());
    // Without the policy route the marked packet is forwarded, and the kernel drops a
    // forwarded packet that has a socket.
    let mut transparent = listener(HOST, "127.0.0.1", 7000);
    transparent.1.detail.transparent = Some(true);
    let Reading::Done(routes) = &mut network().namespaces[HOST].routes.clone() else {
        unreachable!()
    };
    let mut unrouted = net.clone();
    unrouted.namespaces[HOST].routes = Reading::Done(routes.clone());
    let seen = ways(&unrouted, &firewall, &[transparent]);
    assert_eq!(
        of(&seen, 0).len(),
        2,
        "only the host's own addresses: {seen:#?}"
    );
}

#[test]
fn the_input_hook_sees_the_original_port_of_a_tproxy_class() {
    let (net, firewall) = tproxy_network();
    // Input accepts 5000-5099 only; the socket listens on 7000, which input drops.
    let firewall = firewall.on(HOST, Hook::Input, |class| {
        Some(split(
            class,
            PortSet::range(5100, u16::MAX).union(&PortSet::range(0, 4999)),
            End::Drop,
            "inet f input: policy drop",
        ))
    });
    let mut transparent = listener(HOST, "127.0.0.1", 7000);
    transparent.1.detail.transparent = Some(true);
    let seen = ways(&net, &firewall, &[transparent]);
    let accepted: Vec<&str> = of(&seen, 0)
        .into_iter()
        .filter(|w| w.ends_with("accepted"))
        .collect();
    assert!(
        accepted.iter().all(|w| w.contains(":5000-5099 ")),
        "{seen:#?}"
    );
    assert!(!accepted.is_empty(), "{seen:#?}");
}

#[test]
fn dnat_and_redirect_to_a_local_address_are_judged_by_input_not_forward() {
    let firewall = Firewall::default()
        .on(HOST, Hook::Prerouting, |class| {
            let mut dnat = fate(
                class.ports.intersect(&PortSet::single(8080)),
                End::Pass,
                "ip nat pre handle 5",
            );
            dnat.rewrite.nat = Some(NatTo {
                address: NatAddress::To("10.0.0.5".parse().unwrap(), "10.0.0.5".parse().unwrap()),
                ports: Some((80, 80)),
                rule: "ip nat pre handle 5".into(),
            });
            let mut redirect = fate(
                class.ports.intersect(&PortSet::single(8443)),
                End::Pass,
                "ip nat pre handle 6",
            );
            redirect.rewrite.nat = Some(NatTo {
                address: NatAddress::Interface,
                ports: Some((443, 443)),
                rule: "ip nat pre handle 6".into(),
            });
            let rest = class
                .ports
                .subtract(&PortSet::from_ranges([(8080, 8080), (8443, 8443)]));
            Some(vec![dnat, redirect, fate(rest, End::Pass, "policy accept")])
        })
        // Forward drops everything: it must not decide.
        .on(HOST, Hook::Forward, |class| {
            Some(vec![fate(
                class.ports.clone(),
                End::Drop,
                "inet f forward: policy drop",
            )])
        })
        .on(HOST, Hook::Input, |class| {
            Some(split(
                class,
                PortSet::single(80),
                End::Drop,
                "inet f input handle 9: tcp dport 80 drop",
            ))
        });
    let sockets = [
        listener(HOST, "127.0.0.1", 80),
        listener(HOST, "0.0.0.0", 80),
        listener(HOST, "0.0.0.0", 443),
    ];
    let seen = ways(&network(), &firewall, &sockets);
    assert!(
        of(&seen, 0).is_empty(),
        "127.0.0.1 is not 10.0.0.5: {seen:#?}"
    );
    assert!(
        of(&seen, 1).contains(
            &"dnat 10.0.0.5:8080 if=eth0 entry=eth0 to=10.0.0.5:80 rule=ip nat pre handle 5 dropped"
        ),
        "{seen:#?}"
    );
    assert!(
        of(&seen, 2).contains(&"redirect 10.0.0.5:8443 if=eth0 entry=eth0 to=10.0.0.5:443 rule=ip nat pre handle 6 accepted"),
        "{seen:#?}"
    );
}

#[test]
fn policy_routing_decides_the_interface_and_its_forward_drop() {
    // Table 200 (for what comes in on eth0) sends the app's network out of a second
    // veth, vhb, whose forward path drops; main would use vha, which accepts.
    let mut net = network();
    {
        let host = &mut net.namespaces[HOST];
        let Reading::Done(links) = &mut host.links else {
            unreachable!()
        };
        links.push(veth(4, "vhb", Some(2), 3));
        let Reading::Done(rules) = &mut host.rules else {
            unreachable!()
        };
        let mut by_iif = rule(Family::Ipv4, 100, 200);
        by_iif.iif = Some("eth0".into());
        rules.push(by_iif);
        let Reading::Done(routes) = &mut host.routes else {
            unreachable!()
        };
        routes.push(route(200, RouteKind::Unicast, "10.250.1.0/24", 4));
        let app = &mut net.namespaces[APP];
        let Reading::Done(links) = &mut app.links else {
            unreachable!()
        };
        links.push(veth(3, "eth1", Some(1), 4));
    }
    let firewall = Firewall::default().on(HOST, Hook::Forward, |class| {
        let to_vhb = class.oif.is_some_and(|o| o.name == "vhb");
        Some(vec![fate(
            class.ports.clone(),
            if to_vhb { End::Drop } else { End::Pass },
            if to_vhb {
                "inet f forward handle 4: oifname vhb drop"
            } else {
                "policy accept"
            },
        )])
    });
    let seen = ways(&net, &firewall, &[listener(APP, "0.0.0.0", 8080)]);
    assert_eq!(
        of(&seen, 0),
        ["routed 10.250.1.2:8080 if=vhb entry=eth0 to=10.250.1.2:8080 rule=- dropped"]
    );
}

#[test]
fn a_namespace_s_own_dnat_to_loopback_with_its_own_route_localnet_is_reachable() {
    let mut net = network();
    net.namespaces[APP]
        .sysctls
        .route_localnet
        .interfaces
        .insert("eth0".into(), true);
    let firewall = Firewall::default().on(APP, Hook::Prerouting, |class| {
        let mut dnat = fate(
            class.ports.intersect(&PortSet::single(80)),
            End::Pass,
            "ip nat pre handle 2",
        );
        dnat.rewrite.nat = Some(NatTo {
            address: NatAddress::To("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()),
            ports: Some((9000, 9000)),
            rule: "ip nat pre handle 2".into(),
        });
        Some(vec![
            dnat,
            fate(
                class.ports.subtract(&PortSet::single(80)),
                End::Pass,
                "policy accept",
            ),
        ])
    });
    let seen = ways(&net, &firewall, &[listener(APP, "127.0.0.1", 9000)]);
    assert_eq!(
        of(&seen, 0),
        [
            "dnat 10.250.1.2:80 if=vha entry=eth0 to=127.0.0.1:9000 rule=ip nat pre handle 2 accepted"
        ]
    );
    // Without its route_localnet the rewritten packet is martian there.
    let firewall2 = Firewall::default().on(APP, Hook::Prerouting, |class| {
        let mut dnat = fate(class.ports.clone(), End::Pass, "ip nat pre handle 2");
        dnat.rewrite.nat = Some(NatTo {
            address: NatAddress::To("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()),
            ports: Some((9000, 9000)),
            rule: "ip nat pre handle 2".into(),
        });
        Some(vec![dnat])
    });
    assert!(ways(&network(), &firewall2, &[listener(APP, "127.0.0.1", 9000)]).is_empty());
}

/// A host bridge br0 with a NIC port (eth1) and the web namespace's veth; the host
/// forwards nothing.
fn bridged_network(outside_port: bool) -> Network {
    let mut net = network();
    net.namespaces[HOST].sysctls.ipv4_forwarding.all = Some(false);
    {
        let Reading::Done(links) = &mut net.namespaces[HOST].links else {
            unreachable!()
        };
        links.push(link(5, "br0", Some("bridge")));
        let mut port = veth(6, "vethweb", Some(3), 2);
        port.master = Some(5);
        links.push(port);
        if outside_port {
            let mut eth1 = link(7, "eth1", None);
            eth1.master = Some(5);
            links.push(eth1);
        }
    }
    let mut web = namespace(3, vec![link(1, "lo", None), veth(2, "eth0", Some(1), 6)]);
    web.addresses = Reading::Done(vec![at("192.168.7.2", "eth0", 2)]);
    web.routes = Reading::Done(vec![
        route(255, RouteKind::Local, "192.168.7.2/32", 2),
        route(254, RouteKind::Unicast, "192.168.7.0/24", 2),
    ]);
    web.rules = Reading::Done(default_rules());
    localnet_off(&mut web);
    localnet_off(&mut net.namespaces[HOST]);
    net.namespaces.push(web);
    net
}

#[test]
fn a_bridge_with_a_port_to_the_outside_puts_its_namespaces_on_the_outside() {
    const WEB: usize = 2;
    let sockets = [listener(WEB, "0.0.0.0", 80)];
    let seen = ways(&bridged_network(true), &Firewall::default(), &sockets);
    assert_eq!(
        of(&seen, 0),
        ["bridged 192.168.7.2:80 if=br0 entry=eth0 to=192.168.7.2:80 rule=- accepted"]
    );
    // Only namespace ports: nothing from outside is on that segment.
    assert!(ways(&bridged_network(false), &Firewall::default(), &sockets).is_empty());
    // br_netfilter on: the host's inet forward hook sees bridged frames, and drops them.
    let mut net = bridged_network(true);
    net.namespaces[HOST].sysctls.bridge_nf_call_iptables = Some(true);
    let firewall = Firewall::default().on(HOST, Hook::Forward, |class| {
        (!class.bridged).then(|| {
            vec![fate(
                class.ports.clone(),
                End::Drop,
                "inet f forward: policy drop",
            )]
        })
    });
    let seen = ways(&net, &firewall, &sockets);
    assert_eq!(
        of(&seen, 0),
        ["bridged 192.168.7.2:80 if=br0 entry=eth0 to=192.168.7.2:80 rule=- dropped"]
    );
    // br_netfilter off: the inet forward hook does not see them.
    net.namespaces[HOST].sysctls.bridge_nf_call_iptables = Some(false);
    assert!(of(&ways(&net, &firewall, &sockets), 0)[0].ends_with("accepted"));
    // The bridge family's own forward chain sees them either way.
    let bridge_drop = Firewall::default().on(HOST, Hook::Forward, |class| {
        class.bridged.then(|| {
            vec![fate(
                class.ports.clone(),
                End::Drop,
                "bridge f forward: policy drop",
            )]
        })
    });
    assert!(of(&ways(&net, &bridge_drop, &sockets), 0)[0].ends_with("dropped"));
}

#[test]
fn an_sk_lookup_program_steers_any_port_to_the_sockets_of_its_map() {
    let mut net = network();
    net.namespaces[HOST].bpf = Reading::Done(Bpf {
        sk_lookup: vec![SkLookup {
            program_id: 42,
            name: "steer".into(),
            cookies: Some(vec![11]),
        }],
        ingress: Vec::new(),
    });
    let mut chosen = listener(HOST, "127.0.0.1", 7000);
    chosen.1.detail.cookie = Some(11);
    let mut other = listener(HOST, "127.0.0.1", 7001);
    other.1.detail.cookie = Some(12);
    let seen = ways(&net, &Firewall::default(), &[chosen, other]);
    assert!(
        of(&seen, 0).contains(&"sk_lookup 10.0.0.5:0-65535 if=eth0 entry=eth0 to=127.0.0.1:7000 rule=sk_lookup program 42 (steer) accepted"),
        "{seen:#?}"
    );
    assert!(of(&seen, 1).is_empty(), "{seen:#?}");
    // Its maps not read: any socket, unknown, and a warning.
    net.namespaces[HOST].bpf = Reading::Done(Bpf {
        sk_lookup: vec![SkLookup {
            program_id: 42,
            name: "steer".into(),
            cookies: None,
        }],
        ingress: Vec::new(),
    });
    let mut other = listener(HOST, "127.0.0.1", 7001);
    other.1.detail.cookie = Some(12);
    let seen = ways(&net, &Firewall::default(), &[other]);
    assert!(
        !of(&seen, 0).is_empty() && of(&seen, 0).iter().all(|w| w.ends_with("unknown")),
        "{seen:#?}"
    );
}

#[test]
fn an_ipvs_service_delivers_to_its_real_servers() {
    let mut net = network();
    net.namespaces[HOST].ipvs = Reading::Done(vec![IpvsService {
        protocol: Some(Protocol::Tcp),
        address: Some("10.0.0.5".parse().unwrap()),
        port: Some(80),
        fwmark: None,
        destinations: vec![("10.250.1.2".parse().unwrap(), 8080)],
    }]);
    let seen = ways(
        &net,
        &Firewall::default(),
        &[
            listener(APP, "10.250.1.2", 8080),
            listener(HOST, "0.0.0.0", 80),
        ],
    );
    assert_eq!(
        of(&seen, 0),
        [
            "ipvs 10.0.0.5:80 if=vha entry=eth0 to=10.250.1.2:8080 rule=IPVS service tcp 10.0.0.5:80 in network namespace 1 unknown",
            "routed 10.250.1.2:8080 if=vha entry=eth0 to=10.250.1.2:8080 rule=- accepted",
        ]
    );
    // The service takes port 80 of 10.0.0.5 from the host's own socket.
    assert!(
        !of(&seen, 1).iter().any(|w| w.contains("10.0.0.5:80 ")),
        "{seen:#?}"
    );
}

#[test]
fn what_portaudit_cannot_follow_may_deliver_anywhere_never_nowhere() {
    // A rewrite the model cannot evaluate in prerouting.
    let firewall = Firewall::default().on(HOST, Hook::Prerouting, |class| {
        let mut opaque = fate(class.ports.clone(), End::Pass, "ip nat pre handle 7");
        opaque.certain = false;
        opaque.rewrite.unknown =
            Some("ip nat pre handle 7: dnat to a map portaudit cannot read".into());
        Some(vec![opaque])
    });
    let sockets = [
        listener(HOST, "10.0.0.5", 9),
        listener(APP, "10.250.1.2", 10),
        listener(HOST, "127.0.0.1", 11),
    ];
    let seen = ways(&network(), &firewall, &sockets);
    assert!(
        of(&seen, 0)
            .iter()
            .any(|w| w.starts_with("unknown") && w.ends_with("unknown")),
        "{seen:#?}"
    );
    assert!(
        of(&seen, 1).iter().any(|w| w.starts_with("unknown")),
        "{seen:#?}"
    );
    // Loopback still needs route_localnet, whatever the rewrite.
    assert!(of(&seen, 2).is_empty(), "{seen:#?}");
    // XDP on eth0: any socket of the namespace, loopback ones too.
    let mut net = network();
    net.namespaces[HOST].bpf = Reading::Done(Bpf {
        sk_lookup: Vec::new(),
        ingress: vec![IngressProgram {
            ifindex: 2,
            device: "eth0".into(),
            attach: "xdp".into(),
            program_id: 7,
            name: "lb".into(),
        }],
    });
    let seen = ways(&net, &Firewall::default(), &sockets);
    assert!(
        of(&seen, 2).contains(&"unknown 0.0.0.0:0-65535 if=eth0 entry=eth0 to=127.0.0.1:11 rule=xdp program 7 (lb) on eth0 unknown"),
        "{seen:#?}"
    );
}

#[test]
fn docker_28_raw_prerouting_drop_is_decided_for_what_comes_from_outside() {
    // docker0 (3 → renamed) with the app's veth as its only port, 172.17.0.2 in app.
    let mut net = network();
    {
        let Reading::Done(links) = &mut net.namespaces[HOST].links else {
            unreachable!()
        };
        links.retain(|l| l.name != "vha");
        links.push(link(3, "docker0", Some("bridge")));
        let mut port = veth(8, "veth0abc", Some(2), 2);
        port.master = Some(3);
        links.push(port);
        let Reading::Done(routes) = &mut net.namespaces[HOST].routes else {
            unreachable!()
        };
        routes.retain(|r| !r.destination.to_string().starts_with("10.250"));
        routes.push(route(254, RouteKind::Unicast, "172.17.0.0/16", 3));
        let Reading::Done(addresses) = &mut net.namespaces[HOST].addresses else {
            unreachable!()
        };
        addresses.retain(|a| a.device != "vha");
        addresses.push(at("172.17.0.1", "docker0", 3));
        let app = &mut net.namespaces[APP];
        let Reading::Done(links) = &mut app.links else {
            unreachable!()
        };
        links[1] = veth(2, "eth0", Some(1), 8);
        app.addresses = Reading::Done(vec![at("127.0.0.1", "lo", 1), at("172.17.0.2", "eth0", 2)]);
        app.routes = Reading::Done(vec![
            route(255, RouteKind::Local, "172.17.0.2/32", 2),
            route(254, RouteKind::Unicast, "0.0.0.0/0", 2),
        ]);
    }
    let firewall = Firewall::default().on(HOST, Hook::Prerouting, |class| {
        let to_app = class.daddr == Some("172.17.0.2".parse().unwrap());
        let not_docker0 = match class.iif {
            Some(iif) => iif.name != "docker0",
            None => {
                return Some(vec![Fate {
                    certain: false,
                    ..fate(
                        class.ports.clone(),
                        End::Drop,
                        "raw: iifname cannot be evaluated",
                    )
                }]);
            }
        };
        Some(vec![if to_app && not_docker0 {
            fate(
                class.ports.clone(),
                End::Drop,
                "ip raw PREROUTING handle 4: ip daddr 172.17.0.2 iifname != docker0 drop",
            )
        } else {
            fate(class.ports.clone(), End::Pass, "policy accept")
        }])
    });
    let seen = ways(&net, &firewall, &[listener(APP, "0.0.0.0", 80)]);
    assert_eq!(
        of(&seen, 0),
        ["routed 172.17.0.2:80 if=docker0 entry=eth0 to=172.17.0.2:80 rule=- dropped"]
    );
}

#[test]
fn a_namespace_whose_interfaces_were_not_read_is_reached_some_way() {
    let mut net = network();
    net.namespaces[APP].links = Reading::Unreadable("refused".into());
    let seen = ways(
        &net,
        &Firewall::default(),
        &[listener(APP, "0.0.0.0", 8080)],
    );
    assert!(!of(&seen, 0).is_empty(), "{seen:#?}");
}

#[test]
fn a_captured_tree_without_its_network_is_judged_by_the_bind_address() {
    let mut blind = namespace(0, Vec::new());
    blind.links = Reading::NotAsked;
    blind.addresses = Reading::NotAsked;
    blind.routes = Reading::NotAsked;
    blind.rules = Reading::NotAsked;
    let net = Network {
        namespaces: vec![blind],
    };
    let sockets = [
        listener(0, "0.0.0.0", 22),
        listener(0, "127.0.0.1", 631),
        listener(0, "192.0.2.10", 9000),
    ];
    let seen = ways(&net, &Firewall::default(), &sockets);
    assert_eq!(
        of(&seen, 0),
        ["direct 0.0.0.0:22 if=- entry=- to=0.0.0.0:22 rule=- accepted"]
    );
    assert!(of(&seen, 1).is_empty(), "{seen:#?}");
    assert_eq!(
        of(&seen, 2),
        ["direct 192.0.2.10:9000 if=- entry=- to=192.0.2.10:9000 rule=- accepted"]
    );
}

#[test]
fn fates_that_agree_are_certain_and_ones_that_differ_stay_possibilities() {
    let doubt = |ports: PortSet, end: End, why: &str| Fate {
        certain: false,
        doubt: Some("inet f input handle 2: ip saddr cannot be evaluated".into()),
        doubt_kind: Some(crate::reach::firewall::DoubtKind::Other),
        ..fate(ports, end, why)
    };
    // `ip saddr 10.0.0.0/8 accept` then `tcp dport 22 accept`, policy drop: port 22 is
    // accepted either way; the others accepted or dropped.
    let fates = vec![
        doubt(PortSet::all(), End::Pass, "handle 2"),
        doubt(PortSet::single(22), End::Pass, "handle 3"),
        doubt(
            PortSet::all().subtract(&PortSet::single(22)),
            End::Drop,
            "policy drop",
        ),
    ];
    let settled = settle(fates, &PortSet::all());
    let certain: Vec<String> = settled
        .iter()
        .filter(|f| f.certain)
        .map(|f| format!("{} {:?}", f.ports, f.end))
        .collect();
    assert_eq!(certain, ["22 Pass"]);
    let unsure: Vec<String> = settled
        .iter()
        .filter(|f| !f.certain)
        .map(|f| format!("{} {:?}", f.ports, f.end))
        .collect();
    assert_eq!(unsure, ["0-21,23-65535 Pass", "0-21,23-65535 Drop"]);
    // A drop alone in doubt stays in doubt (it may not happen); a pass alone is the only
    // way those ports go; certain ones are as they were.
    let alone = |end| settle(vec![doubt(PortSet::single(80), end, "x")], &PortSet::all());
    assert!(!alone(End::Drop)[0].certain);
    assert!(alone(End::Pass)[0].certain);
    let sure = settle(
        vec![fate(PortSet::all(), End::Drop, "policy")],
        &PortSet::single(9),
    );
    assert_eq!(
        (sure[0].ports.clone(), sure[0].certain),
        (PortSet::single(9), true)
    );
}

/// A namespace's real ruleset, through the model's evaluator.
struct Model(crate::reach::firewall::Index<'static>);

impl Hooks for Model {
    fn at(&self, ns: usize, hook: Hook, class: &Class) -> Answered {
        if ns == HOST {
            Answered::Fates(self.0.evaluate(hook, class))
        } else {
            Answered::Fates(vec![fate(
                class.ports.clone(),
                End::Pass,
                "nothing filters",
            )])
        }
    }
}

#[test]
fn an_inet_dnat_of_the_other_family_lets_the_next_rule_rewrite() {
    // `dnat ip to` does nothing to IPv6 (and sets no verdict): `dnat ip6 to` below it
    // applies, and the app's IPv6 socket is reached (the verdicts differential's case).
    let json = include_str!("../../../tests/fixtures/nft/inet-nat-families.json");
    let ruleset: &'static crate::ruleset::Ruleset =
        Box::leak(Box::new(crate::collect::nft::parse_saved(json).unwrap()));
    let model = Model(crate::reach::firewall::Index::new(ruleset));
    let mut net = network();
    let app = &mut net.namespaces[APP];
    let Reading::Done(addresses) = &mut app.addresses else {
        unreachable!()
    };
    addresses.push(at("fd62::2", "eth0", 2));
    let Reading::Done(routes) = &mut app.routes else {
        unreachable!()
    };
    routes.push(route(255, RouteKind::Local, "fd62::2/128", 2));
    let Reading::Done(routes) = &mut net.namespaces[HOST].routes else {
        unreachable!()
    };
    routes.push(route(254, RouteKind::Unicast, "fd62::/64", 3));
    let mut v6 = listener(APP, "::", 2003);
    v6.1.detail.v6only = Some(true);
    let listeners = [v6.1.clone()];
    let sockets = Sockets::new(&listeners, |_| Some(APP));
    let topology = Topology::new(&net);
    let found = walk(&topology, &model, &sockets, &[Protocol::Tcp], true);
    let dnat: Vec<String> = found
        .arrivals
        .iter()
        .filter(|a| a.way.via == Way::Dnat)
        .map(|a| {
            format!(
                "{}:{} → {}:{}",
                a.way.address, a.way.port, a.way.delivered.0, a.way.delivered.1
            )
        })
        .collect();
    assert!(
        dnat.contains(&"fd00::5:3003 → fd62::2:2003".to_string()),
        "{dnat:?}"
    );
}
