//! The walk's arrivals made into subjects: ways that read the same merge, a socket's
//! answer is today's (accepted when any way is), a publish keeps a way, a socket of
//! another namespace with none is contained.

use std::net::IpAddr;
use std::sync::Arc;

use super::path::{Arrival, Found, Unanswered};
use super::publish::Paired;
use super::*;
use crate::socket::{Listening, Netns};

fn way(via: Way, address: &str, port: u16, entry: &str) -> WayIn {
    let address: IpAddr = address.parse().unwrap();
    WayIn {
        via,
        address,
        port,
        port_last: None,
        interface: Some(entry.into()),
        entry: Some(entry.into()),
        delivered: (address, port),
        rule: None,
        firewall: Some(FirewallVerdict::Accepted),
    }
}

fn judged(verdict: FirewallVerdict, why: &str) -> Option<Judgement> {
    Some(Judgement {
        verdict,
        why: why.into(),
    })
}

fn arrival(socket: usize, mut way: WayIn, verdict: FirewallVerdict, why: &str) -> Arrival {
    way.firewall = Some(verdict);
    Arrival {
        socket,
        way,
        judgement: judged(verdict, why),
    }
}

fn paired(listener: Listener, index: Option<usize>, elsewhere: bool) -> Paired {
    Paired {
        listener,
        published: None,
        listening: Listening::Yes,
        elsewhere,
        index,
    }
}

fn listener(address: &str, port: u16, host: bool) -> Listener {
    let mut l = Listener::new(Protocol::Tcp, address.parse().unwrap(), port, 0, 7);
    l.netns = Some(Arc::new(Netns {
        inode: if host { 1 } else { 2 },
        name: None,
        host,
    }));
    l
}

#[test]
fn possibilities_of_one_way_merge_and_the_socket_takes_the_widest_answer() {
    let direct = way(Way::Direct, "10.0.0.5", 22, "eth0");
    let other = way(Way::Direct, "10.0.0.6", 22, "eth0");
    let found = Found {
        arrivals: vec![
            // One way, two possibilities: dropped on one path, accepted on another.
            arrival(0, direct.clone(), FirewallVerdict::Dropped, "policy drop"),
            arrival(
                0,
                direct.clone(),
                FirewallVerdict::Accepted,
                "handle 4: accept",
            ),
            arrival(0, other.clone(), FirewallVerdict::Dropped, "policy drop"),
        ],
        ..Found::default()
    };
    let ways = Ways::new(&found, true);
    let subject = ways.subject(
        paired(listener("0.0.0.0", 22, true), Some(0), false),
        &HashMap::new(),
    );
    let answers: Vec<(IpAddr, Option<FirewallVerdict>)> = subject
        .ways_in
        .iter()
        .map(|w| (w.address, w.firewall))
        .collect();
    assert_eq!(
        answers,
        [
            (direct.address, Some(FirewallVerdict::Unknown)),
            (other.address, Some(FirewallVerdict::Dropped)),
        ]
    );
    // Unknown on one way, dropped on the other: unknown, never dropped.
    assert_eq!(subject.firewall.unwrap().verdict, FirewallVerdict::Unknown);
    // Every possibility of every way drops: dropped.
    let found = Found {
        arrivals: vec![
            arrival(0, direct.clone(), FirewallVerdict::Dropped, "policy drop"),
            arrival(0, other, FirewallVerdict::Dropped, "policy drop"),
        ],
        ..Found::default()
    };
    let subject = Ways::new(&found, true).subject(
        paired(listener("0.0.0.0", 22, true), Some(0), false),
        &HashMap::new(),
    );
    let judgement = subject.firewall.unwrap();
    assert_eq!(judgement.verdict, FirewallVerdict::Dropped);
    assert_eq!(&*judgement.why, "policy drop");
}

#[test]
fn another_namespace_s_socket_with_no_way_is_contained_and_the_host_s_is_not() {
    let found = Found::default();
    let ways = Ways::new(&found, true);
    let app = ways.subject(
        paired(listener("0.0.0.0", 80, false), Some(0), true),
        &HashMap::new(),
    );
    assert!(app.contained && app.ways_in.is_empty() && app.firewall.is_none());
    let host = ways.subject(
        paired(listener("0.0.0.0", 80, true), Some(0), false),
        &HashMap::new(),
    );
    assert!(
        !host.contained,
        "the host's own: judged by its bind address"
    );
}

#[test]
fn a_publish_keeps_a_way_through_its_proxy_its_target_or_at_worst_unknown() {
    let target: IpAddr = "172.17.0.2".parse().unwrap();
    let published = |via| {
        Some(Box::new(Published {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            ports: 8080..=8080,
            target,
            via,
        }))
    };
    // The docker-proxy's own socket (index 1, inode 42) is reached directly.
    let found = Found {
        arrivals: vec![arrival(
            1,
            way(Way::Direct, "10.0.0.5", 8080, "eth0"),
            FirewallVerdict::Accepted,
            "accept",
        )],
        unanswered: vec![Unanswered {
            protocol: Protocol::Tcp,
            target,
            ports: firewall::PortSet::single(81),
            way: way(Way::Dnat, "10.0.0.5", 8081, "eth0"),
            judgement: judged(FirewallVerdict::Accepted, "accept"),
        }],
        ..Found::default()
    };
    let ways = Ways::new(&found, true);
    let proxies: HashMap<u64, usize> = [(42, 1)].into();
    let mut by_proxy = paired(listener("0.0.0.0", 80, false), Some(0), false);
    by_proxy.published = published(Via::Proxy { pid: 9, inode: 42 });
    let s = ways.subject(by_proxy, &proxies);
    assert_eq!(s.ways_in.len(), 1, "{s:#?}");
    assert_eq!(s.ways_in[0].via, Way::Proxy);
    assert_eq!(s.ways_in[0].delivered, (target, 80));
    // A publish nobody answers: the ways that reached its target.
    let mut stand_in = paired(Listener::new(Protocol::Tcp, target, 81, 0, 0), None, false);
    stand_in.listening = Listening::No;
    stand_in.published = published(Via::Dnat {
        rule: "ip nat DOCKER handle 3".into(),
    });
    let s = ways.subject(stand_in.clone(), &proxies);
    assert_eq!(s.ways_in.len(), 1);
    assert_eq!((s.ways_in[0].via, s.ways_in[0].port), (Way::Dnat, 8081));
    // None found: the publish's own way, unknown.
    let nothing = Found::default();
    let s = Ways::new(&nothing, true).subject(stand_in, &proxies);
    assert_eq!(s.ways_in.len(), 1);
    assert_eq!(s.ways_in[0].firewall, Some(FirewallVerdict::Unknown));
    assert_eq!(s.ways_in[0].rule.as_deref(), Some("ip nat DOCKER handle 3"));
    assert_eq!(s.firewall.unwrap().verdict, FirewallVerdict::Unknown);
}
