//! How the namespaces' interfaces connect: veth pairs between namespaces, bridges and
//! their ports, and which of them are on a segment the outside shares. From that: the
//! entry points of the walk (where traffic from outside arrives) and where a packet
//! forwarded out of an interface arrives next.
//!
//! The outside is what portaudit did not read: a NIC, a macvlan or ipvlan (a link of
//! its own to its parent's segment), a tunnel, a tap, or a veth whose other end is in a
//! namespace that was not read. A veth between two namespaces that were read, a dummy
//! and a bridge are links within the machine: traffic from them comes from a namespace
//! the walk starts from on its own.

use std::collections::HashMap;

use crate::network::{NamespaceNet, NetLink, Network, PeerNetns};

/// One interface: a namespace (index in [`Network::namespaces`]) and its ifindex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub ns: usize,
    pub ifindex: u32,
}

/// Where traffic from outside enters the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub ns: usize,
    /// The interface; `None` when the namespace's interfaces could not be read (any).
    pub ifindex: Option<u32>,
    /// The bridge whose hooks see the frames first: the entry itself when it is a bridge
    /// (input), or the bridge whose port is the other end of the entry's veth (forward).
    pub bridge: Option<Node>,
}

/// Kinds of link that never carry traffic in from outside by themselves.
const INTERNAL: &[&str] = &["veth", "netkit", "dummy", "bridge", "ifb", "nlmon", "vrf"];
/// Kinds whose other end is an interface of a namespace.
const PAIRED: &[&str] = &["veth", "netkit"];
/// Masters whose ports do no IP of their own: frames go up through the master.
const L2_MASTERS: &[&str] = &["bridge", "bond", "team"];

/// The namespaces' links, indexed, with their segments.
pub struct Topology<'n> {
    network: &'n Network,
    by_inode: HashMap<u64, usize>,
    links: Vec<HashMap<u32, &'n NetLink>>,
    /// Union-find over interfaces linked at layer 2 (a veth and its peer, a port and its
    /// bridge).
    parent: HashMap<Node, Node>,
    /// The roots of segments with a way to the outside.
    outside: std::collections::HashSet<Node>,
}

impl<'n> Topology<'n> {
    pub fn new(network: &'n Network) -> Topology<'n> {
        let by_inode = network
            .namespaces
            .iter()
            .enumerate()
            .map(|(i, n)| (n.netns.inode, i))
            .collect();
        let links = network
            .namespaces
            .iter()
            .map(|n| {
                n.links
                    .as_ref()
                    .map(|all| all.iter().map(|l| (l.ifindex, l)).collect())
                    .unwrap_or_default()
            })
            .collect();
        let mut topology = Topology {
            network,
            by_inode,
            links,
            parent: HashMap::new(),
            outside: std::collections::HashSet::new(),
        };
        topology.join_segments();
        topology
    }

    pub fn namespace(&self, ns: usize) -> &'n NamespaceNet {
        &self.network.namespaces[ns]
    }

    pub fn namespaces(&self) -> usize {
        self.network.namespaces.len()
    }

    pub fn index_of(&self, inode: u64) -> Option<usize> {
        self.by_inode.get(&inode).copied()
    }

    pub fn link(&self, node: Node) -> Option<&'n NetLink> {
        self.links.get(node.ns)?.get(&node.ifindex).copied()
    }

    /// The namespace's links, when read.
    pub fn links(&self, ns: usize) -> impl Iterator<Item = &'n NetLink> + '_ {
        self.links[ns].values().copied()
    }

    /// The other end of a veth, when its namespace was read.
    pub fn peer(&self, node: Node) -> Option<Node> {
        let link = self.link(node)?;
        if !link.kind.as_deref().is_some_and(|k| PAIRED.contains(&k)) {
            return None;
        }
        let peer = link.peer.as_ref()?;
        let ns = match peer.netns {
            PeerNetns::Same => node.ns,
            PeerNetns::Inode(inode) => self.index_of(inode)?,
            PeerNetns::Unknown => return None,
        };
        let other = Node {
            ns,
            ifindex: peer.ifindex,
        };
        self.link(other).map(|_| other)
    }

    /// The bridge a link is a port of.
    pub fn bridge_of(&self, node: Node) -> Option<Node> {
        let master = Node {
            ns: node.ns,
            ifindex: self.link(node)?.master?,
        };
        is_kind(self.link(master)?, "bridge").then_some(master)
    }

    /// A bridge's ports.
    pub fn ports(&self, bridge: Node) -> Vec<Node> {
        let mut ports: Vec<Node> = self.links[bridge.ns]
            .values()
            .filter(|l| l.master == Some(bridge.ifindex))
            .map(|l| Node {
                ns: bridge.ns,
                ifindex: l.ifindex,
            })
            .collect();
        ports.sort();
        ports
    }

    /// Whether the link does IP itself (not a bridge or bond port, not loopback).
    pub fn is_l3(&self, node: Node) -> bool {
        let Some(link) = self.link(node) else {
            return false;
        };
        if link.loopback {
            return false;
        }
        match link.master.and_then(|m| {
            self.link(Node {
                ns: node.ns,
                ifindex: m,
            })
        }) {
            Some(master) => !master
                .kind
                .as_deref()
                .is_some_and(|k| L2_MASTERS.contains(&k)),
            None => true,
        }
    }

    /// Whether a link may carry traffic from outside by itself.
    fn leads_outside(&self, node: Node) -> bool {
        let Some(link) = self.link(node) else {
            return false;
        };
        if link.loopback {
            return false;
        }
        match link.kind.as_deref() {
            Some(kind) if PAIRED.contains(&kind) => self.peer(node).is_none(),
            Some(kind) => !INTERNAL.contains(&kind),
            None => true,
        }
    }

    fn join_segments(&mut self) {
        let nodes: Vec<Node> = (0..self.links.len())
            .flat_map(|ns| {
                self.links[ns]
                    .keys()
                    .map(move |&ifindex| Node { ns, ifindex })
            })
            .collect();
        for &node in &nodes {
            if let Some(peer) = self.peer(node) {
                self.union(node, peer);
            }
            let Some(master) = self.link(node).and_then(|l| l.master) else {
                continue;
            };
            let master = Node {
                ns: node.ns,
                ifindex: master,
            };
            if self
                .link(master)
                .is_some_and(|m| m.kind.as_deref().is_some_and(|k| L2_MASTERS.contains(&k)))
            {
                self.union(node, master);
            }
        }
        for &node in &nodes {
            if self.leads_outside(node) {
                let root = self.find(node);
                self.outside.insert(root);
            }
        }
    }

    fn find(&self, node: Node) -> Node {
        let mut at = node;
        while let Some(&up) = self.parent.get(&at) {
            if up == at {
                break;
            }
            at = up;
        }
        at
    }

    fn union(&mut self, a: Node, b: Node) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra.max(rb), ra.min(rb));
        }
    }

    /// Whether the interface is on a segment the outside shares.
    pub fn on_outside_segment(&self, node: Node) -> bool {
        self.outside.contains(&self.find(node))
    }

    /// Where traffic from outside arrives: every interface doing IP on an outside segment,
    /// in every namespace. For a namespace whose interfaces could not be read, and for a
    /// host namespace that shows none (a sandbox, a test's namespace: what reaches it
    /// may be beyond what portaudit sees), an entry on an interface not known.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries = Vec::new();
        for (ns, namespace) in self.network.namespaces.iter().enumerate() {
            if namespace.links.as_ref().is_none() {
                entries.push(Entry {
                    ns,
                    ifindex: None,
                    bridge: None,
                });
                continue;
            }
            let mut mine: Vec<u32> = self.links[ns].keys().copied().collect();
            mine.sort_unstable();
            let before = entries.len();
            for ifindex in mine {
                let node = Node { ns, ifindex };
                let Some(link) = self.link(node) else {
                    continue;
                };
                if !self.is_l3(node) || !self.on_outside_segment(node) || is_kind(link, "dummy") {
                    continue;
                }
                // Frames to a bridge's own address cross its hooks too (input, not forward).
                let bridge = match self.link(node) {
                    Some(l) if is_kind(l, "bridge") => Some(node),
                    _ => self.peer(node).and_then(|p| self.bridge_of(p)),
                };
                entries.push(Entry {
                    ns,
                    ifindex: Some(ifindex),
                    bridge,
                });
            }
            if namespace.netns.host && entries.len() == before {
                entries.push(Entry {
                    ns,
                    ifindex: None,
                    bridge: None,
                });
            }
        }
        entries
    }

    /// Where a packet sent out of `oif` arrives: the interfaces doing IP that share its
    /// link (a veth's other end; behind a bridge, the bridge itself and the other ends of
    /// its ports), each with the bridge it crosses. Empty when it leaves the machine or
    /// for a namespace that was not read.
    pub fn next_hops(&self, oif: Node) -> Vec<(Node, Option<Node>)> {
        let Some(link) = self.link(oif) else {
            return Vec::new();
        };
        if is_kind(link, "bridge") {
            // Sent by the namespace itself out of its bridge: to the bridge's ports.
            return self
                .ports(oif)
                .into_iter()
                .filter_map(|port| self.peer(port))
                .filter(|&far| self.is_l3(far))
                .map(|far| (far, Some(oif)))
                .collect();
        }
        let Some(peer) = self.peer(oif) else {
            return Vec::new();
        };
        if self.is_l3(peer) {
            return vec![(peer, None)];
        }
        let Some(bridge) = self.bridge_of(peer) else {
            return Vec::new();
        };
        let mut hops = vec![(bridge, Some(bridge))];
        hops.extend(
            self.ports(bridge)
                .into_iter()
                .filter(|&port| port != peer)
                .filter_map(|port| self.peer(port))
                .filter(|&far| self.is_l3(far))
                .map(|far| (far, Some(bridge))),
        );
        hops
    }
}

fn is_kind(link: &NetLink, kind: &str) -> bool {
    link.kind.as_deref() == Some(kind)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::network::{Peer, Reading, Sysctls};
    use crate::socket::Netns;
    use std::sync::Arc;

    pub fn link(ifindex: u32, name: &str, kind: Option<&str>) -> NetLink {
        NetLink {
            ifindex,
            name: name.into(),
            kind: kind.map(str::to_owned),
            loopback: name == "lo",
            up: true,
            master: None,
            peer: None,
            bridge: None,
        }
    }

    pub fn veth(ifindex: u32, name: &str, peer_inode: Option<u64>, peer_ifindex: u32) -> NetLink {
        NetLink {
            peer: Some(Peer {
                netns: peer_inode.map_or(PeerNetns::Unknown, PeerNetns::Inode),
                ifindex: peer_ifindex,
            }),
            ..link(ifindex, name, Some("veth"))
        }
    }

    pub fn namespace(inode: u64, links: Vec<NetLink>) -> NamespaceNet {
        NamespaceNet {
            netns: Arc::new(Netns {
                inode,
                name: None,
                host: inode == 1,
            }),
            links: Reading::Done(links),
            addresses: Reading::Done(Vec::new()),
            routes: Reading::Done(Vec::new()),
            rules: Reading::Done(Vec::new()),
            sysctls: Sysctls::default(),
            ruleset: Reading::NotAsked,
            legacy_iptables: Vec::new(),
            bpf: Reading::NotAsked,
            ipvs: Reading::NotAsked,
        }
    }

    fn names(topology: &Topology, entries: &[Entry]) -> Vec<(u64, String, Option<String>)> {
        entries
            .iter()
            .map(|e| {
                let name = |node: Node| topology.link(node).unwrap().name.clone();
                (
                    topology.namespace(e.ns).netns.inode,
                    e.ifindex.map_or("?".into(), |i| {
                        name(Node {
                            ns: e.ns,
                            ifindex: i,
                        })
                    }),
                    e.bridge.map(name),
                )
            })
            .collect()
    }

    #[test]
    fn veths_between_read_namespaces_are_no_way_in_and_to_others_are() {
        // Host (1): eth0, vha to app (2), vhc to a client namespace that was not read.
        let host = namespace(
            1,
            vec![
                link(1, "lo", None),
                link(2, "eth0", None),
                veth(3, "vha", Some(2), 2),
                veth(4, "vhc", Some(99), 2),
                link(5, "d0", Some("dummy")),
            ],
        );
        let app = namespace(2, vec![link(1, "lo", None), veth(2, "eth0", Some(1), 3)]);
        let network = Network {
            namespaces: vec![host, app],
        };
        let topology = Topology::new(&network);
        let entries = topology.entries();
        assert_eq!(
            names(&topology, &entries),
            [(1, "eth0".into(), None), (1, "vhc".into(), None)]
        );
        // Out of vha: into the app namespace's eth0.
        assert_eq!(
            topology.next_hops(Node { ns: 0, ifindex: 3 }),
            [(Node { ns: 1, ifindex: 2 }, None)]
        );
        assert!(topology.next_hops(Node { ns: 0, ifindex: 4 }).is_empty());
    }

    #[test]
    fn a_bridge_is_outside_only_with_a_port_to_the_outside() {
        // docker0 (3) with the app's veth (4) as its only port: no way in; br1 (5) with
        // eth1 (6) and the web namespace's veth (7): the bridge and web are on the
        // outside's segment.
        let mut port_app = veth(4, "vethapp", Some(2), 2);
        port_app.master = Some(3);
        let mut eth1 = link(6, "eth1", None);
        eth1.master = Some(5);
        let mut port_web = veth(7, "vethweb", Some(3), 2);
        port_web.master = Some(5);
        let host = namespace(
            1,
            vec![
                link(1, "lo", None),
                link(3, "docker0", Some("bridge")),
                port_app,
                link(5, "br1", Some("bridge")),
                eth1,
                port_web,
            ],
        );
        let app = namespace(2, vec![link(1, "lo", None), veth(2, "eth0", Some(1), 4)]);
        let web = namespace(3, vec![link(1, "lo", None), veth(2, "eth0", Some(1), 7)]);
        let network = Network {
            namespaces: vec![host, app, web],
        };
        let topology = Topology::new(&network);
        assert_eq!(
            names(&topology, &topology.entries()),
            [
                (1, "br1".into(), Some("br1".into())),
                (3, "eth0".into(), Some("br1".into())),
            ]
        );
        // The host routing out of docker0 reaches the app namespace through the bridge.
        assert_eq!(
            topology.next_hops(Node { ns: 0, ifindex: 3 }),
            [(Node { ns: 1, ifindex: 2 }, Some(Node { ns: 0, ifindex: 3 }))]
        );
        // The web namespace sending out of its eth0 reaches br1 and nothing else read.
        assert_eq!(
            topology.next_hops(Node { ns: 2, ifindex: 2 }),
            [(Node { ns: 0, ifindex: 5 }, Some(Node { ns: 0, ifindex: 5 }))]
        );
    }

    #[test]
    fn own_links_are_ways_in_and_unread_interfaces_an_unknown_one() {
        let mut app = namespace(
            2,
            vec![
                link(1, "lo", None),
                veth(2, "eth0", Some(1), 3),
                link(3, "mv0", Some("macvlan")),
                link(4, "wg0", Some("wireguard")),
            ],
        );
        app.links = Reading::Done(app.links.as_ref().unwrap().clone());
        let host = namespace(1, vec![link(1, "lo", None), veth(3, "vha", Some(2), 2)]);
        let mut blind = namespace(3, Vec::new());
        blind.links = Reading::Unreadable("refused".into());
        let network = Network {
            namespaces: vec![host, app, blind],
        };
        let topology = Topology::new(&network);
        let entries = topology.entries();
        assert_eq!(
            names(&topology, &entries),
            [
                // The host shows no way in of its own: one it cannot see.
                (1, "?".into(), None),
                (2, "mv0".into(), None),
                (2, "wg0".into(), None),
                (3, "?".into(), None)
            ]
        );
    }
}
