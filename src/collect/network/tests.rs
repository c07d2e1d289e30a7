//! Each record read from a namespace built for real (root): links of every kind the walk
//! tells apart, routes of several tables and types, policy rules with their selectors,
//! per-interface settings, BPF programs on a device and on the namespace, tc filters and
//! a legacy iptables table; the records must say exactly what was built.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use super::testbpf;
use super::*;
use crate::collect::netlink;
use crate::collect::netns;
use crate::collect::testns::{TestNs, require_root};
use crate::network::{BridgeSettings, Route, RouteKind, RouteRule, RuleAction};
use crate::socket::{Family, Protocol};

/// The ifindex of `device` in namespace `ns`, as `ip -j` says.
fn ifindex(ns: &TestNs, device: &str) -> u32 {
    let out = std::process::Command::new("ip")
        .args(["-n", &ns.0, "-j", "link", "show", "dev", device])
        .output()
        .unwrap();
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    links[0]["ifindex"].as_u64().unwrap() as u32
}

fn route(family: Family, table: u32, kind: RouteKind, destination: &str, len: u8) -> Route {
    Route {
        family,
        table,
        kind,
        destination: destination.parse().unwrap(),
        prefix_len: len,
        oif: None,
        nexthops: Vec::new(),
        gateway: None,
        priority: 0,
        source: None,
        tos: 0,
        nexthop_id: None,
    }
}

fn rule(priority: u32, action: RuleAction) -> RouteRule {
    RouteRule::any(Family::Ipv4, priority, action)
}

fn net(address: &str, len: u8) -> Option<(IpAddr, u8)> {
    Some((address.parse().unwrap(), len))
}

/// Builds the lab: `lab` is read, `other` holds the far ends of its veths.
fn build(lab: &TestNs, other: &TestNs) {
    for command in [
        "link set lo up".to_string(),
        format!("link add v0 type veth peer name v1 netns {}", other.0),
        "link set v0 up".into(),
        "addr add 10.3.0.1/24 dev v0".into(),
        // veth pairs inside the namespace: no dummy devices on every kernel.
        "link add d1 type veth peer name d1p".into(),
        "link set d1 up".into(),
        "link set d1p up".into(),
        "link add br0 type bridge nf_call_iptables 1 nf_call_ip6tables 0".into(),
        "link set d1 master br0".into(),
        format!("link add p0 type veth peer name p1 netns {}", other.0),
        "link set p0 master br0".into(),
        "link add d2 type veth peer name d2p".into(),
        "link set d2 up".into(),
        "link set d2p up".into(),
        "addr add 10.20.0.1/24 dev d2".into(),
        "link add mv0 link d2 type macvlan mode bridge".into(),
        // Rules with every selector the walk evaluates, and some it does not.
        "rule add priority 100 fwmark 0x1/0xff lookup 100".into(),
        "rule add priority 110 iif v0 to 10.9.0.0/16 ipproto tcp dport 80-90 lookup 101".into(),
        "rule add priority 120 not from 10.1.0.0/16 oif v0 sport 1000 lookup 100".into(),
        "rule add priority 130 tos 0x10 lookup 102".into(),
        "rule add priority 140 uidrange 1000-2000 prohibit".into(),
        "rule add priority 150 goto 32766".into(),
        "rule add priority 170 blackhole".into(),
        "-6 rule add priority 160 lookup main suppress_prefixlength 0".into(),
        // Routes of several tables and types.
        "route add 10.9.0.0/16 dev v0 table 100".into(),
        "route add throw 10.5.0.0/16 table 100".into(),
        "route add blackhole 10.8.0.0/16 table 101".into(),
        "route add local 10.77.0.0/16 dev lo table local".into(),
        "route add unreachable 10.6.0.0/16".into(),
        "route add 10.2.0.0/16 via 10.20.0.2 dev d2 metric 50".into(),
        "route add 10.4.0.0/16 nexthop via 10.20.0.2 dev d2 nexthop via 10.20.0.3 dev d2 onlink"
            .into(),
        "-6 route add prohibit 2001:db8:6::/48".into(),
        "-6 route add 2001:db8:5::/48 from 2001:db8:9::/48 dev d2".into(),
    ] {
        lab.ip(&command);
    }
    other.ip("link set v1 up");
    lab.run(&[
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv4/conf/v0/route_localnet && \
         echo 1 > /proc/sys/net/ipv4/conf/v0/forwarding && \
         echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
    ]);
    lab.run(&["tc", "qdisc", "add", "dev", "d1", "clsact"]);
    lab.run(&[
        "tc", "filter", "add", "dev", "d1", "ingress", "u32", "match", "u32", "0", "0",
    ]);
}

#[test]
fn a_built_namespace_reads_as_built() {
    if !require_root("a_built_namespace_reads_as_built") {
        return;
    }
    let (lab, other) = (TestNs::new(), TestNs::new());
    build(&lab, &other);
    let legacy = crate::collect::testns::has_program("iptables-legacy");
    if legacy {
        lab.run(&["iptables-legacy", "-t", "nat", "-L"]);
    }
    let target = lab.find();
    let d2 = ifindex(&lab, "d2");

    // BPF: an XDP and a tcx program on d2, an sk_lookup program on the namespace that
    // picks a listener of its own.
    let lab_file = std::fs::File::open(lab.path()).unwrap();
    let (listener, cookie, _held) = netns::within(&target, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let xdp = testbpf::xdp_pass("pa_xdp").expect("load an XDP program");
        let xdp_link = testbpf::link(&xdp, d2, testbpf::BPF_XDP).expect("attach XDP");
        let tc = testbpf::tc_next("pa_tcx").expect("load a tc program");
        let tc_link = testbpf::link(&tc, d2, testbpf::BPF_TCX_INGRESS).expect("attach tcx");
        let map = testbpf::sockmap(2).expect("create a SOCKMAP");
        testbpf::sockmap_put(&map, 0, &listener).expect("put the listener in the SOCKMAP");
        let lookup = testbpf::sk_lookup_slot0("pa_sk_lookup", &map).expect("load sk_lookup");
        let lookup_link =
            testbpf::link(&lookup, lab_file.as_raw_fd() as u32, testbpf::BPF_SK_LOOKUP)
                .expect("attach sk_lookup");
        let port = listener.local_addr().unwrap().port();
        let cookie = netlink::read_listeners()
            .unwrap()
            .into_iter()
            .find(|d| d.listener.port == port)
            .and_then(|d| d.cookie)
            .expect("the listener's cookie");
        let held: Vec<OwnedFd> = vec![xdp, xdp_link, tc, tc_link, map, lookup, lookup_link];
        (listener, cookie, held)
    })
    .unwrap();

    let sk_lookup = sk_lookup_links();
    let other_file = OwnedFd::from(std::fs::File::open(other.path()).unwrap());
    let known = [(other.inode(), other_file)];
    let shared = Shared {
        known: &known,
        sk_lookup: &sk_lookup,
        modules: Modules::any(),
        ruleset: true,
    };
    let netns = Arc::new(target.netns.clone());
    let (record, files) = netns::within(&target, || {
        let record = read_live(
            netns,
            Path::new("/proc"),
            Path::new("/proc/thread-self/net"),
            &shared,
        );
        let files = (
            sysctl::per_interface(Path::new("/proc"), "ipv4", "route_localnet"),
            sysctl::per_interface(Path::new("/proc"), "ipv4", "forwarding"),
            sysctl::per_interface(Path::new("/proc"), "ipv6", "forwarding"),
            (
                sysctl::bridge_switch(Path::new("/proc"), "bridge-nf-call-iptables"),
                sysctl::bridge_switch(Path::new("/proc"), "bridge-nf-call-ip6tables"),
            ),
        );
        (record, files)
    })
    .unwrap();
    drop(listener);

    // Links.
    let links = record.links.as_ref().expect("links read");
    let link = |name: &str| {
        links
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no {name} in {links:?}"))
    };
    let lo = link("lo");
    assert!(lo.loopback && lo.up && lo.kind.is_none() && lo.peer.is_none());
    let v0 = link("v0");
    assert_eq!(v0.kind.as_deref(), Some("veth"));
    assert!(v0.up);
    assert_eq!(
        v0.peer,
        Some(Peer {
            netns: PeerNetns::Inode(other.inode()),
            ifindex: ifindex(&other, "v1"),
        })
    );
    let br0 = link("br0");
    assert_eq!(br0.kind.as_deref(), Some("bridge"));
    assert_eq!(
        br0.bridge,
        Some(BridgeSettings {
            nf_call_iptables: Some(true),
            nf_call_ip6tables: Some(false),
        })
    );
    assert_eq!(link("d1").master, Some(br0.ifindex));
    let p0 = link("p0");
    assert_eq!(p0.master, Some(br0.ifindex));
    assert_eq!(
        p0.peer.as_ref().map(|p| p.netns),
        Some(PeerNetns::Inode(other.inode()))
    );
    let mv0 = link("mv0");
    assert_eq!(mv0.kind.as_deref(), Some("macvlan"));
    assert!(!mv0.up);
    assert_eq!(
        mv0.peer,
        Some(Peer {
            netns: PeerNetns::Same,
            ifindex: d2,
        })
    );
    assert_eq!(
        link("d2").peer,
        Some(Peer {
            netns: PeerNetns::Same,
            ifindex: ifindex(&lab, "d2p"),
        })
    );

    // Addresses, loopback ones too.
    let addresses = record.addresses.as_ref().expect("addresses read");
    for (address, device) in [("10.3.0.1", "v0"), ("127.0.0.1", "lo"), ("::1", "lo")] {
        assert!(
            addresses
                .iter()
                .any(|h| h.address == address.parse::<IpAddr>().unwrap() && h.device == device),
            "{address} on {device} in {addresses:?}"
        );
    }

    // Routes of every table, every type.
    let routes = record.routes.as_ref().expect("routes read");
    let v0i = v0.ifindex;
    let lo_i = lo.ifindex;
    let expected = [
        Route {
            oif: Some(v0i),
            ..route(Family::Ipv4, 100, RouteKind::Unicast, "10.9.0.0", 16)
        },
        route(Family::Ipv4, 100, RouteKind::Throw, "10.5.0.0", 16),
        route(Family::Ipv4, 101, RouteKind::Blackhole, "10.8.0.0", 16),
        Route {
            oif: Some(lo_i),
            ..route(Family::Ipv4, 255, RouteKind::Local, "10.77.0.0", 16)
        },
        route(Family::Ipv4, 254, RouteKind::Unreachable, "10.6.0.0", 16),
        Route {
            oif: Some(d2),
            gateway: Some("10.20.0.2".parse().unwrap()),
            priority: 50,
            ..route(Family::Ipv4, 254, RouteKind::Unicast, "10.2.0.0", 16)
        },
        Route {
            nexthops: vec![d2, d2],
            ..route(Family::Ipv4, 254, RouteKind::Unicast, "10.4.0.0", 16)
        },
        Route {
            source: net("2001:db8:9::", 48),
            oif: Some(d2),
            priority: 1024,
            ..route(Family::Ipv6, 254, RouteKind::Unicast, "2001:db8:5::", 48)
        },
    ];
    for want in &expected {
        assert!(routes.contains(want), "{want:?} not in {routes:#?}");
    }
    // An IPv6 prohibit route leaves by lo, as the kernel keeps it.
    assert!(
        routes.iter().any(|r| r.kind == RouteKind::Prohibit
            && r.destination == "2001:db8:6::".parse::<IpAddr>().unwrap()
            && r.prefix_len == 48),
        "{routes:#?}"
    );
    // The kernel's own local routes: the namespace's addresses.
    assert!(routes.contains(&Route {
        oif: Some(v0i),
        ..route(Family::Ipv4, 255, RouteKind::Local, "10.3.0.1", 32)
    }));

    // Rules, with their selectors; the ones not evaluated say which.
    let rules = record.rules.as_ref().expect("rules read");
    let expected = [
        RouteRule {
            fwmark: Some((1, 0xff)),
            ..rule(100, RuleAction::Table(100))
        },
        RouteRule {
            iif: Some("v0".into()),
            to: net("10.9.0.0", 16),
            ip_proto: Some(6),
            dport: Some(80..=90),
            ..rule(110, RuleAction::Table(101))
        },
        RouteRule {
            invert: true,
            from: net("10.1.0.0", 16),
            oif: Some("v0".into()),
            sport: Some(1000..=1000),
            ..rule(120, RuleAction::Table(100))
        },
        RouteRule {
            unknown: vec!["tos 0x10".into()],
            ..rule(130, RuleAction::Table(102))
        },
        RouteRule {
            unknown: vec!["uidrange".into()],
            ..rule(140, RuleAction::Prohibit)
        },
        rule(150, RuleAction::Goto(32766)),
        rule(170, RuleAction::Blackhole),
        RouteRule {
            family: Family::Ipv6,
            suppress_prefixlen: Some(0),
            ..rule(160, RuleAction::Table(254))
        },
        rule(0, RuleAction::Table(255)),
        rule(32766, RuleAction::Table(254)),
        rule(32767, RuleAction::Table(253)),
    ];
    for want in &expected {
        assert!(rules.contains(want), "{want:?} not in {rules:#?}");
    }
    assert_eq!(rules.len(), expected.len() + 2, "{rules:#?}"); // + IPv6's local and main

    // Settings: all from the files, each interface's own from the interface dump, the
    // same values as the files.
    let s = &record.sysctls;
    assert_eq!(s.route_localnet.all, Some(false));
    assert_eq!(s.route_localnet.interfaces.get("v0"), Some(&true));
    assert_eq!(s.route_localnet.interfaces.get("d2"), Some(&false));
    assert_eq!(s.ipv4_forwarding.all, Some(false));
    assert_eq!(s.ipv4_forwarding.interfaces.get("v0"), Some(&true));
    assert_eq!(s.ipv6_forwarding.all, Some(true));
    // The namespace has a bridge: br_netfilter's switches are read, as the files say.
    assert_eq!(
        (s.bridge_nf_call_iptables, s.bridge_nf_call_ip6tables),
        files.3
    );
    assert!(s.bridge_nf_call_iptables.is_some());
    assert_eq!(
        (
            &s.route_localnet.interfaces,
            &s.ipv4_forwarding.interfaces,
            &s.ipv6_forwarding.interfaces
        ),
        (&files.0, &files.1, &files.2)
    );
    // No nftables table in the lab (its legacy iptables table is x_tables'): an empty
    // ruleset, read.
    assert_eq!(
        record.ruleset,
        Reading::Done(crate::ruleset::Ruleset::default())
    );

    // `other` has no bridge: the switches apply to nothing there and are not read. It has
    // an nftables table, which is not read here yet: unreadable, never "no rules".
    let nft = crate::collect::testns::has_program("nft");
    if nft {
        other.run(&["nft", "add", "table", "inet", "t"]);
    }
    let other_target = other.find();
    let bare = netns::within(&other_target, || {
        read_live(
            Arc::new(other_target.netns.clone()),
            Path::new("/proc"),
            Path::new("/proc/thread-self/net"),
            &shared,
        )
    })
    .unwrap();
    assert_eq!(
        (
            bare.sysctls.bridge_nf_call_iptables,
            bare.sysctls.bridge_nf_call_ip6tables
        ),
        (None, None)
    );
    assert_eq!(bare.sysctls.route_localnet.all, Some(false));
    if nft {
        match &bare.ruleset {
            Reading::Unreadable(why) => assert!(why.contains("(1 table)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    // BPF and tc.
    let bpf = record.bpf.as_ref().expect("BPF read");
    let on = |attach: &str, device: &str| {
        bpf.ingress
            .iter()
            .filter(|p| p.attach == attach && p.device == device)
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(on("xdp", "d2"), ["pa_xdp"], "{bpf:#?}");
    assert_eq!(on("tcx ingress", "d2"), ["pa_tcx"], "{bpf:#?}");
    assert_eq!(on("tc ingress", "d1"), ["u32 filter"], "{bpf:#?}");
    assert_eq!(bpf.ingress.len(), 3, "{bpf:#?}");
    assert_eq!(bpf.sk_lookup.len(), 1, "{bpf:#?}");
    assert_eq!(bpf.sk_lookup[0].name, "pa_sk_lookup");
    assert_eq!(bpf.sk_lookup[0].cookies, Some(vec![cookie]));

    assert_eq!(record.ipvs, Reading::Done(Vec::new()));
    if legacy {
        assert_eq!(record.legacy_iptables, ["ip nat"]);
    }
}

/// The messages of a captured dump (tests/fixtures/netlink/, see capture.sh there):
/// (type, payload) of each, in order.
fn messages(mut bytes: &[u8]) -> Vec<(u16, &[u8])> {
    let mut all = Vec::new();
    while bytes.len() >= 16 {
        let len = u32_at(bytes, 0) as usize;
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        all.push((kind, &bytes[16..len]));
        bytes = &bytes[netlink::align4(len).min(bytes.len())..];
    }
    all
}

fn captured_links() -> Vec<link::LinkDump> {
    messages(include_bytes!("../../../tests/fixtures/netlink/link.bin"))
        .into_iter()
        .filter(|(kind, _)| *kind == RTM_NEWLINK)
        .filter_map(|(_, payload)| link::parse(payload).unwrap())
        .collect()
}

fn captured_index(links: &[link::LinkDump], name: &str) -> u32 {
    links
        .iter()
        .find(|l| l.link.name == name)
        .unwrap_or_else(|| panic!("no {name} in the capture"))
        .link
        .ifindex
}

#[test]
fn captured_links_say_kind_peer_bridge_and_settings() {
    let links = captured_links();
    let names: Vec<&str> = links.iter().map(|l| l.link.name.as_str()).collect();
    assert_eq!(
        names,
        ["lo", "v0", "d1p", "d1", "br0", "d2p", "d2", "mv0"],
        "the capture holds what capture.sh built"
    );
    let get = |name: &str| links.iter().find(|l| l.link.name == name).unwrap();
    let (lo, v0, br0, d1, d2, mv0) = (
        get("lo"),
        get("v0"),
        get("br0"),
        get("d1"),
        get("d2"),
        get("mv0"),
    );
    assert!(lo.link.loopback && lo.link.up && lo.link.kind.is_none());
    assert_eq!(lo.peer_ifindex, None);
    // v0's peer is in another namespace: an nsid, and an index there.
    assert_eq!(v0.link.kind.as_deref(), Some("veth"));
    assert!(v0.peer_nsid.is_some() && v0.peer_ifindex.is_some());
    assert_eq!(
        (v0.route_localnet, v0.ipv4_forwarding),
        (Some(true), Some(true))
    );
    assert_eq!(d2.route_localnet, Some(false));
    // Writing net.ipv6.conf.all.forwarding sets every interface's too.
    assert_eq!(v0.ipv6_forwarding, Some(true));
    // d1's peer is here.
    assert_eq!(
        (d1.peer_nsid, d1.peer_ifindex),
        (None, Some(captured_index(&links, "d1p")))
    );
    assert_eq!(d1.link.master, Some(br0.link.ifindex));
    assert_eq!(
        br0.link.bridge,
        Some(BridgeSettings {
            nf_call_iptables: Some(true),
            nf_call_ip6tables: Some(false),
        })
    );
    assert_eq!(d1.link.bridge, None);
    assert_eq!(mv0.link.kind.as_deref(), Some("macvlan"));
    assert_eq!(
        (mv0.peer_nsid, mv0.peer_ifindex, mv0.link.up),
        (None, Some(d2.link.ifindex), false)
    );
    assert!(links.iter().all(|l| l.xdp.is_empty()));
}

#[test]
fn captured_routes_of_every_table_and_type() {
    let links = captured_links();
    let (v0, d2, lo) = (
        captured_index(&links, "v0"),
        captured_index(&links, "d2"),
        captured_index(&links, "lo"),
    );
    let routes: Vec<Route> = messages(include_bytes!("../../../tests/fixtures/netlink/route.bin"))
        .into_iter()
        .filter(|(kind, _)| *kind == RTM_NEWROUTE)
        .filter_map(|(_, payload)| route::parse_route(payload).unwrap())
        .collect();
    for want in [
        Route {
            oif: Some(v0),
            ..route(Family::Ipv4, 100, RouteKind::Unicast, "10.9.0.0", 16)
        },
        route(Family::Ipv4, 100, RouteKind::Throw, "10.5.0.0", 16),
        route(Family::Ipv4, 101, RouteKind::Blackhole, "10.8.0.0", 16),
        Route {
            oif: Some(lo),
            ..route(Family::Ipv4, 255, RouteKind::Local, "10.77.0.0", 16)
        },
        route(Family::Ipv4, 254, RouteKind::Unreachable, "10.6.0.0", 16),
        Route {
            oif: Some(d2),
            gateway: Some("10.20.0.2".parse().unwrap()),
            priority: 50,
            ..route(Family::Ipv4, 254, RouteKind::Unicast, "10.2.0.0", 16)
        },
        Route {
            nexthops: vec![d2, d2],
            ..route(Family::Ipv4, 254, RouteKind::Unicast, "10.4.0.0", 16)
        },
        Route {
            source: net("2001:db8:9::", 48),
            oif: Some(d2),
            priority: 1024,
            ..route(Family::Ipv6, 254, RouteKind::Unicast, "2001:db8:5::", 48)
        },
        Route {
            oif: Some(v0),
            ..route(Family::Ipv4, 255, RouteKind::Local, "10.3.0.1", 32)
        },
        Route {
            oif: Some(v0),
            ..route(Family::Ipv4, 255, RouteKind::Broadcast, "10.3.0.255", 32)
        },
        Route {
            oif: Some(lo),
            ..route(Family::Ipv6, 255, RouteKind::Local, "::1", 128)
        },
    ] {
        assert!(routes.contains(&want), "{want:?} not in {routes:#?}");
    }
    // Every table there is: main, local, 100 and 101.
    let mut tables: Vec<u32> = routes.iter().map(|r| r.table).collect();
    tables.sort_unstable();
    tables.dedup();
    assert_eq!(tables, [100, 101, 254, 255]);
}

#[test]
fn captured_rules_with_their_selectors() {
    let rules: Vec<RouteRule> =
        messages(include_bytes!("../../../tests/fixtures/netlink/rule.bin"))
            .into_iter()
            .filter(|(kind, _)| *kind == RTM_NEWRULE)
            .filter_map(|(_, payload)| route::parse_rule(payload).unwrap())
            .collect();
    assert_eq!(
        rules,
        [
            rule(0, RuleAction::Table(255)),
            RouteRule {
                fwmark: Some((1, 0xff)),
                ..rule(100, RuleAction::Table(100))
            },
            RouteRule {
                iif: Some("v0".into()),
                to: net("10.9.0.0", 16),
                ip_proto: Some(6),
                dport: Some(80..=90),
                ..rule(110, RuleAction::Table(101))
            },
            RouteRule {
                unknown: vec!["tos 0x10".into()],
                ..rule(130, RuleAction::Table(102))
            },
            rule(170, RuleAction::Blackhole),
            rule(32766, RuleAction::Table(254)),
            rule(32767, RuleAction::Table(253)),
            RouteRule {
                family: Family::Ipv6,
                ..rule(0, RuleAction::Table(255))
            },
            RouteRule {
                family: Family::Ipv6,
                suppress_prefixlen: Some(0),
                ..rule(160, RuleAction::Table(254))
            },
            RouteRule {
                family: Family::Ipv6,
                ..rule(32766, RuleAction::Table(254))
            },
        ]
    );
}

#[test]
fn captured_netconf_gives_all_forwarding_per_family() {
    let all: Vec<(u8, bool)> = messages(include_bytes!(
        "../../../tests/fixtures/netlink/netconf.bin"
    ))
    .into_iter()
    .filter(|(kind, _)| *kind == RTM_NEWNETCONF)
    .filter_map(|(_, payload)| parse_netconf(payload).unwrap())
    .collect();
    // net.ipv4.conf.all.forwarding 0, net.ipv6.conf.all.forwarding 1 (capture.sh); the
    // per-interface and `default` entries are not `all`.
    assert_eq!(all, [(AF_INET, false), (AF_INET6, true)]);
}

#[test]
fn truncated_records_are_errors_not_panics() {
    for bytes in [&[][..], &[2, 0, 0][..]] {
        assert!(link::parse(bytes).is_err());
        assert!(route::parse_route(bytes).is_err());
        assert!(route::parse_rule(bytes).is_err());
        assert!(tc::parse_filter(bytes).is_err());
        assert!(tc::parse_qdisc(bytes).is_err());
        assert!(parse_netconf(bytes).is_err());
    }
    // Every prefix of every captured message: an error or a record, never a panic.
    for (kind, payload) in messages(include_bytes!("../../../tests/fixtures/netlink/route.bin"))
        .into_iter()
        .chain(messages(include_bytes!(
            "../../../tests/fixtures/netlink/rule.bin"
        )))
        .chain(messages(include_bytes!(
            "../../../tests/fixtures/netlink/link.bin"
        )))
    {
        for end in 0..payload.len() {
            let cut = &payload[..end];
            match kind {
                RTM_NEWLINK => drop(link::parse(cut)),
                RTM_NEWROUTE => drop(route::parse_route(cut)),
                RTM_NEWRULE => drop(route::parse_rule(cut)),
                _ => {}
            }
        }
    }
}

/// An IPVS service in short: protocol, address, port, mark, destinations.
type Service = (
    Option<Protocol>,
    Option<IpAddr>,
    Option<u16>,
    Option<u32>,
    usize,
);

#[test]
fn a_captured_tree_gives_its_settings_ipvs_and_legacy_tables() {
    // tests/fixtures/network: clean's sockets, the path settings of a capture namespace
    // whose eth0 has route_localnet and forwarding on, and IPVS services (README there).
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/network/proc"
    ));
    let netns = Arc::new(crate::socket::Netns {
        inode: 0,
        name: None,
        host: true,
    });
    let record = read_files(netns, root);
    let s = &record.sysctls;
    let interfaces = |pairs: &[(&str, bool)]| {
        pairs
            .iter()
            .map(|(name, on)| (name.to_string(), *on))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(s.route_localnet.all, Some(false));
    assert_eq!(
        s.route_localnet.interfaces,
        interfaces(&[("eth0", true), ("lo", false)])
    );
    assert_eq!(s.ipv4_forwarding.all, Some(false));
    assert_eq!(
        s.ipv4_forwarding.interfaces,
        interfaces(&[("eth0", true), ("lo", false)])
    );
    assert_eq!(s.ipv6_forwarding.all, Some(true));
    assert_eq!(s.bridge_nf_call_iptables, Some(true));
    assert_eq!(s.bridge_nf_call_ip6tables, Some(true));
    let services = record.ipvs.as_ref().expect("IPVS read");
    let summary: Vec<Service> = services
        .iter()
        .map(|s| {
            (
                s.protocol,
                s.address,
                s.port,
                s.fwmark,
                s.destinations.len(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                Some(Protocol::Tcp),
                Some("10.0.0.1".parse().unwrap()),
                Some(80),
                None,
                2
            ),
            (
                Some(Protocol::Udp),
                Some("2001:db8::1".parse().unwrap()),
                Some(53),
                None,
                1
            ),
            (None, None, None, Some(10), 0),
        ]
    );
    assert!(
        services[0]
            .destinations
            .contains(&("127.0.0.1".parse().unwrap(), 8080))
    );
    assert!(record.legacy_iptables.is_empty());
    // What only netlink can say is not asked of a tree.
    assert_eq!(record.links, Reading::NotAsked);
    assert_eq!(record.routes, Reading::NotAsked);
    assert_eq!(record.bpf, Reading::NotAsked);

    // A tree without any of it: nothing is said to be off that could not be read.
    let bare = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/clean/proc"
    ));
    let record = read_files(
        Arc::new(crate::socket::Netns {
            inode: 0,
            name: None,
            host: true,
        }),
        bare,
    );
    assert_eq!(record.sysctls, Sysctls::default());
    assert_eq!(record.ipvs, Reading::Done(Vec::new()));
}

#[test]
fn an_unparsable_ipvs_file_is_unreadable_naming_it() {
    let dir = crate::collect::testdir::TempDir::new("ipvs");
    dir.write("net/ip_vs", b"TCP  nonsense rr\n");
    match read_ipvs(&dir.0.join("net")) {
        Reading::Unreadable(why) => {
            assert!(why.contains("net/ip_vs: line 1:"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    dir.write("net/ip_tables_names", b"nat\nfilter\n");
    dir.write("net/ip6_tables_names", b"filter\n");
    assert_eq!(
        legacy_iptables(&dir.0.join("net"), Modules::any()),
        ["ip nat", "ip filter", "ip6 filter"]
    );
}
