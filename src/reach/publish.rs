//! Publishes: pair each port the host publishes (a DNAT rule, a docker-proxy) with the
//! sockets it reaches in whichever namespace has the target address. A publish whose
//! target nobody listens on is reachable all the same (the port answers, or hangs), so
//! it is a record of its own.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use crate::socket::{Listener, Listening, NamespaceSeen, Publish, Published, Via};

/// A socket, or the target of a publish, with the publish that reaches it.
#[derive(Debug, Clone)]
pub struct Paired {
    /// The socket that answers; for a publish nobody answers, a stand-in at its target
    /// (inode 0, no processes).
    pub listener: Listener,
    /// The host side, when the host publishes it.
    pub published: Option<Box<Published>>,
    pub listening: Listening,
    /// In another namespace than the host's, and not published.
    pub elsewhere: bool,
    /// Its index among the listeners paired; `None` for a stand-in.
    pub index: Option<usize>,
}

/// Pair every publish with the sockets it reaches; the rest are the host's own or
/// contained. A docker-proxy's own socket is folded into its publish.
pub fn pair(
    listeners: Vec<Listener>,
    publishes: &[Publish],
    namespaces: &[NamespaceSeen],
) -> Vec<Paired> {
    let mut subjects = Vec::new();
    let mut published = vec![false; listeners.len()];
    let proxies: BTreeSet<u64> = publishes
        .iter()
        .filter_map(|p| match p.via {
            Via::Proxy { inode, .. } => Some(inode),
            Via::Dnat { .. } => None,
        })
        .collect();
    let mut seen: Vec<&Publish> = Vec::new();
    for publish in publishes {
        // The same mapping twice (an `ip` and an `inet` table, say) is one publish.
        if seen.iter().any(|s| same_mapping(s, publish)) {
            continue;
        }
        seen.push(publish);
        let owners: Vec<&NamespaceSeen> = namespaces
            .iter()
            .filter(|n| {
                n.addresses
                    .as_ref()
                    .is_some_and(|all| all.contains(&publish.target))
            })
            .collect();
        let mut answered = false;
        for (i, listener) in listeners.iter().enumerate() {
            let in_owner = owners.iter().any(|n| {
                n.audited
                    && listener
                        .netns
                        .as_ref()
                        .is_some_and(|l| l.inode == n.netns.inode)
            });
            if !in_owner || proxies.contains(&listener.inode) || !reaches(publish, listener) {
                continue;
            }
            answered = true;
            published[i] = true;
            let ports = match publish.target_port {
                Some(_) => publish.host_ports.clone(),
                None => listener.port..=listener.port,
            };
            subjects.push(Paired {
                listener: listener.clone(),
                published: Some(Box::new(host_side(publish, ports))),
                listening: Listening::Yes,
                elsewhere: false,
                index: Some(i),
            });
        }
        if !answered {
            let port = publish.target_port.unwrap_or(*publish.host_ports.start());
            let mut stand_in = Listener::new(publish.protocol, publish.target, port, 0, 0);
            stand_in.netns = owners.first().map(|n| Arc::new(n.netns.clone()));
            stand_in.container = owners.first().and_then(|n| n.container.clone());
            stand_in.processes_complete = true;
            let listening = if owners.iter().any(|n| n.audited) {
                Listening::No
            } else {
                Listening::Unknown
            };
            subjects.push(Paired {
                listener: stand_in,
                published: Some(Box::new(host_side(publish, publish.host_ports.clone()))),
                listening,
                elsewhere: false,
                index: None,
            });
        }
    }
    for (index, (listener, published)) in listeners.into_iter().zip(published).enumerate() {
        let host = listener.netns.as_ref().is_none_or(|n| n.host);
        if proxies.contains(&listener.inode) && host {
            continue;
        }
        if published && !host {
            continue;
        }
        subjects.push(Paired {
            elsewhere: !host,
            listener,
            published: None,
            listening: Listening::Yes,
            index: Some(index),
        });
    }
    subjects
}

fn same_mapping(a: &Publish, b: &Publish) -> bool {
    (
        a.protocol,
        a.host_address,
        &a.host_ports,
        a.target,
        a.target_port,
    ) == (
        b.protocol,
        b.host_address,
        &b.host_ports,
        b.target,
        b.target_port,
    )
}

fn host_side(publish: &Publish, ports: RangeInclusive<u16>) -> Published {
    Published {
        protocol: publish.protocol,
        address: publish.host_address,
        ports,
        target: publish.target,
        via: publish.via.clone(),
    }
}

/// Whether a connection sent to the publish's target reaches this socket: the same
/// protocol and port, and a bind on the target address or a wildcard of its family (a
/// `::` bind takes IPv4 unless it is IPv6-only).
fn reaches(publish: &Publish, listener: &Listener) -> bool {
    if listener.protocol != publish.protocol {
        return false;
    }
    let port_matches = match publish.target_port {
        Some(port) => listener.port == port,
        None => publish.host_ports.contains(&listener.port),
    };
    if !port_matches {
        return false;
    }
    let bound = listener.address;
    let mapped = |a: IpAddr| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    };
    if mapped(bound) == mapped(publish.target) {
        return true;
    }
    match (bound, publish.target) {
        (IpAddr::V4(b), IpAddr::V4(_)) => b.is_unspecified(),
        (IpAddr::V6(b), IpAddr::V6(_)) => b.is_unspecified(),
        (IpAddr::V6(b), IpAddr::V4(_)) => {
            b.is_unspecified() && listener.detail.v6only != Some(true)
                || b.to_ipv4_mapped().is_some_and(|m| m.is_unspecified())
        }
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Netns, Protocol};

    fn ns(inode: u64, host: bool, addresses: &[&str]) -> NamespaceSeen {
        NamespaceSeen {
            netns: Netns {
                inode,
                name: None,
                host,
            },
            audited: true,
            addresses: Some(addresses.iter().map(|a| a.parse().unwrap()).collect()),
            container: None,
        }
    }

    fn listener(inode: u64, netns: u64, address: &str, port: u16) -> Listener {
        let mut l = Listener::new(Protocol::Tcp, address.parse().unwrap(), port, 0, inode);
        l.netns = Some(Arc::new(Netns {
            inode: netns,
            name: None,
            host: netns == 1,
        }));
        l
    }

    fn dnat(host_port: u16, target: &str, target_port: Option<u16>) -> Publish {
        Publish {
            protocol: Protocol::Tcp,
            host_address: "0.0.0.0".parse().unwrap(),
            host_ports: host_port..=host_port,
            target: target.parse().unwrap(),
            target_port,
            via: Via::Dnat {
                rule: "ip nat prerouting handle 2".into(),
            },
        }
    }

    fn namespaces() -> Vec<NamespaceSeen> {
        vec![
            ns(1, true, &["127.0.0.1", "10.9.0.1"]),
            ns(2, false, &["127.0.0.1", "10.9.0.2"]),
        ]
    }

    #[test]
    fn another_namespace_is_contained_unless_published() {
        let listeners = vec![
            listener(10, 2, "0.0.0.0", 80),
            listener(11, 1, "0.0.0.0", 22),
        ];
        let subjects = pair(listeners.clone(), &[], &namespaces());
        assert_eq!(subjects.len(), 2);
        assert!(
            subjects
                .iter()
                .any(|s| s.listener.inode == 10 && s.elsewhere)
        );
        assert!(
            subjects
                .iter()
                .any(|s| s.listener.inode == 11 && !s.elsewhere)
        );

        let subjects = pair(
            listeners,
            &[dnat(8080, "10.9.0.2", Some(80))],
            &namespaces(),
        );
        assert_eq!(subjects.len(), 2, "{subjects:#?}");
        let published = subjects.iter().find(|s| s.listener.inode == 10).unwrap();
        assert!(!published.elsewhere);
        assert_eq!(published.listening, Listening::Yes);
        let host = published.published.as_ref().unwrap();
        assert_eq!(host.ports, 8080..=8080);
    }

    #[test]
    fn a_publish_to_nothing_is_a_subject_of_its_own() {
        let listeners = vec![listener(10, 2, "0.0.0.0", 80)];
        let publishes = [
            dnat(8081, "10.9.0.2", Some(81)),
            dnat(8082, "10.9.0.77", None),
        ];
        let subjects = pair(listeners, &publishes, &namespaces());
        let nobody = subjects.iter().find(|s| s.listener.port == 81).unwrap();
        assert_eq!(nobody.listening, Listening::No);
        assert_eq!(nobody.listener.netns.as_ref().unwrap().inode, 2);
        let unknown = subjects.iter().find(|s| s.listener.port == 8082).unwrap();
        assert_eq!(unknown.listening, Listening::Unknown);
        assert!(unknown.listener.netns.is_none());
        assert!(
            subjects
                .iter()
                .any(|s| s.listener.inode == 10 && s.elsewhere)
        );
    }

    #[test]
    fn a_specific_bind_elsewhere_or_another_port_is_not_reached() {
        let listeners = vec![
            listener(10, 2, "127.0.0.1", 80),
            listener(12, 2, "0.0.0.0", 81),
        ];
        let subjects = pair(
            listeners,
            &[dnat(8080, "10.9.0.2", Some(80))],
            &namespaces(),
        );
        assert!(
            subjects
                .iter()
                .all(|s| s.listener.inode == 0 || s.elsewhere)
        );
    }

    #[test]
    fn a_docker_proxy_socket_is_folded_into_its_publish() {
        let proxy = listener(20, 1, "0.0.0.0", 9000);
        let listeners = vec![listener(10, 2, "0.0.0.0", 80), proxy];
        let publish = Publish {
            via: Via::Proxy { pid: 42, inode: 20 },
            ..dnat(9000, "10.9.0.2", Some(80))
        };
        let subjects = pair(
            listeners.clone(),
            std::slice::from_ref(&publish),
            &namespaces(),
        );
        assert_eq!(subjects.len(), 1, "{subjects:#?}");
        assert_eq!(subjects[0].listener.inode, 10);

        // Without the container's namespace: the target is not known to answer.
        let subjects = pair(listeners, &[publish], &namespaces()[..1]);
        assert_eq!(subjects.len(), 2, "{subjects:#?}");
        assert!(
            subjects
                .iter()
                .any(|s| s.listening == Listening::Unknown && s.listener.port == 80)
        );
    }

    #[test]
    fn duplicate_rules_are_one_publish() {
        let listeners = vec![listener(10, 2, "::", 80)];
        let p = dnat(8080, "10.9.0.2", Some(80));
        let subjects = pair(listeners, &[p.clone(), p], &namespaces());
        assert_eq!(subjects.len(), 1, "{subjects:#?}");
    }
}
