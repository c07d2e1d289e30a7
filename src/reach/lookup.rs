//! The socket lookup at the end of the path: which listening sockets of a namespace a
//! delivered packet class reaches, as the kernel's lookup picks them: protocol, port,
//! bind address (or a wildcard of a family that takes it: a dual-stack `::` takes IPv4
//! unless IPV6_V6ONLY), the bound device (SO_BINDTODEVICE), and the steering that
//! skips the address match: a tproxy assignment (transparent sockets only), an sk_lookup
//! program's socket map, a program that may assign any socket.
//!
//! Sockets are indexed once per namespace and protocol, by bind address and port, so a
//! class costs what it matches, not what the namespace holds.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::firewall::PortSet;
use super::routing::contains;
use crate::socket::{Family, Listener, Protocol};

/// A destination address class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    /// One address.
    Exact(IpAddr),
    /// Any address of a prefix a `local` route delivers (127.0.0.0/8, an AnyIP route).
    Prefix(IpAddr, u8),
    /// Any address of the family but loopback ones (the namespace's addresses were not
    /// read).
    Any(Family),
}

impl Dest {
    pub fn family(self) -> Family {
        match self {
            Dest::Exact(a) | Dest::Prefix(a, _) => family_of(a),
            Dest::Any(family) => family,
        }
    }

    /// The address the routing decision and a firewall rule see: the exact one; `None`
    /// for a class of several.
    pub fn exact(self) -> Option<IpAddr> {
        match self {
            Dest::Exact(a) => Some(a),
            Dest::Prefix(..) | Dest::Any(_) => None,
        }
    }

    /// The prefix of a class of several addresses that lie in one.
    pub fn prefix(self) -> Option<(IpAddr, u8)> {
        match self {
            Dest::Prefix(network, len) => Some((network, len)),
            Dest::Exact(_) | Dest::Any(_) => None,
        }
    }

    /// An address of the class for the routing decision (a prefix's network).
    pub fn route_address(self) -> Option<IpAddr> {
        match self {
            Dest::Exact(a) | Dest::Prefix(a, _) => Some(a),
            Dest::Any(_) => None,
        }
    }

    /// Whether it lies in 127.0.0.0/8 (IPv4 loopback).
    pub fn is_loopback_v4(self) -> bool {
        match self {
            Dest::Exact(IpAddr::V4(a)) | Dest::Prefix(IpAddr::V4(a), _) => a.is_loopback(),
            _ => false,
        }
    }

    /// The address a client uses to reach `bound` through this class: the exact one, or
    /// the bind address itself where it lies in the class, else an address of it.
    pub fn shown_for(self, bound: IpAddr) -> IpAddr {
        match self {
            Dest::Exact(a) => a,
            // A local default route (tproxy's table): any address.
            Dest::Prefix(network, 0) => unspecified_of(network),
            Dest::Prefix(network, len) if contains(network, len, bound) && !unspecified(bound) => {
                bound.to_canonical()
            }
            Dest::Prefix(network, len) => first_host(network, len),
            Dest::Any(_) => bound,
        }
    }
}

fn family_of(address: IpAddr) -> Family {
    match address {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

fn unspecified_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn unspecified(address: IpAddr) -> bool {
    address.to_canonical().is_unspecified()
}

/// The first usable address of a prefix (`127.0.0.0/8` → 127.0.0.1).
fn first_host(network: IpAddr, len: u8) -> IpAddr {
    match network {
        IpAddr::V4(n) if len < 31 => IpAddr::V4(Ipv4Addr::from(u32::from(n).wrapping_add(1))),
        IpAddr::V6(n) if len < 127 => IpAddr::V6(Ipv6Addr::from(u128::from(n).wrapping_add(1))),
        other => other,
    }
}

/// How the socket is chosen.
#[derive(Debug, Clone, Copy)]
pub enum Steer<'a> {
    /// By address, port and device.
    Lookup,
    /// nftables tproxy: a transparent socket at this address (a wildcard bind too) and
    /// port (`None`: the packet's).
    Tproxy { address: IpAddr, port: Option<u16> },
    /// An sk_lookup program: the sockets of its maps, by cookie (`None`: not read, any),
    /// whatever their address and port.
    Assign { cookies: Option<&'a [u64]> },
    /// Something that may hand the packet to any socket of the namespace.
    Anywhere,
}

/// A socket a class reaches, and whether it certainly does (`false`: a setting it
/// depends on is not known, such as IP_TRANSPARENT on an old kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub index: usize,
    pub certain: bool,
}

/// The listening sockets, indexed per namespace and protocol.
pub struct Sockets<'l> {
    listeners: &'l [Listener],
    by_ns: HashMap<(usize, Protocol), Index>,
}

#[derive(Default)]
struct Index {
    /// Specific binds by (address, port); an IPv4-mapped bind under its IPv4 address.
    specific: BTreeMap<(IpAddr, u16), Vec<usize>>,
    /// Binds that take any IPv4 address (`0.0.0.0`, `::ffff:0.0.0.0`, a dual-stack `::`),
    /// by port.
    any_v4: BTreeMap<u16, Vec<usize>>,
    /// `::` binds, by port.
    any_v6: BTreeMap<u16, Vec<usize>>,
    all: Vec<usize>,
}

impl<'l> Sockets<'l> {
    /// Index `listeners`, each in the namespace `ns_of` gives (`None`: left out).
    pub fn new(
        listeners: &'l [Listener],
        ns_of: impl Fn(&Listener) -> Option<usize>,
    ) -> Sockets<'l> {
        let mut by_ns: HashMap<(usize, Protocol), Index> = HashMap::new();
        for (i, listener) in listeners.iter().enumerate() {
            let Some(ns) = ns_of(listener) else { continue };
            let index = by_ns.entry((ns, listener.protocol)).or_default();
            index.all.push(i);
            let bound = listener.address;
            match bound {
                IpAddr::V4(a) if a.is_unspecified() => {
                    index.any_v4.entry(listener.port).or_default().push(i)
                }
                IpAddr::V6(a) if a.is_unspecified() => {
                    index.any_v6.entry(listener.port).or_default().push(i);
                    if listener.detail.v6only != Some(true) {
                        index.any_v4.entry(listener.port).or_default().push(i);
                    }
                }
                IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|m| m.is_unspecified()) => {
                    index.any_v4.entry(listener.port).or_default().push(i)
                }
                _ => index
                    .specific
                    .entry((bound.to_canonical(), listener.port))
                    .or_default()
                    .push(i),
            }
        }
        Sockets { listeners, by_ns }
    }

    pub fn listener(&self, index: usize) -> &'l Listener {
        &self.listeners[index]
    }

    /// The sockets of namespace `ns` a class delivered there reaches.
    pub fn find(
        &self,
        ns: usize,
        protocol: Protocol,
        dest: Dest,
        ports: &PortSet,
        iif: Option<&str>,
        steer: Steer,
    ) -> Vec<Found> {
        let Some(index) = self.by_ns.get(&(ns, protocol)) else {
            return Vec::new();
        };
        let family = dest.family();
        let mut found = Vec::new();
        match steer {
            Steer::Lookup => {
                self.by_address(index, dest, ports, &mut |i| {
                    if let Some(certain) = self.device_matches(i, iif) {
                        found.push(Found { index: i, certain });
                    }
                });
            }
            Steer::Tproxy { address, port } => {
                let ports = match port {
                    Some(p) => PortSet::single(p),
                    None => ports.clone(),
                };
                let at = if family_of(address) == family {
                    Dest::Exact(address)
                } else {
                    return found;
                };
                self.by_address(index, at, &ports, &mut |i| {
                    let Some(device) = self.device_matches(i, iif) else {
                        return;
                    };
                    match self.listeners[i].detail.transparent {
                        Some(false) => {}
                        Some(true) => found.push(Found {
                            index: i,
                            certain: device,
                        }),
                        None => found.push(Found {
                            index: i,
                            certain: false,
                        }),
                    }
                });
            }
            Steer::Assign { cookies } => {
                for &i in &index.all {
                    let listener = &self.listeners[i];
                    if !takes_family(listener, family) {
                        continue;
                    }
                    match (cookies, listener.detail.cookie) {
                        (None, _) => found.push(Found {
                            index: i,
                            certain: false,
                        }),
                        (Some(all), Some(cookie)) if all.contains(&cookie) => found.push(Found {
                            index: i,
                            certain: true,
                        }),
                        (Some(_), Some(_)) => {}
                        (Some(_), None) => found.push(Found {
                            index: i,
                            certain: false,
                        }),
                    }
                }
            }
            Steer::Anywhere => {
                for &i in &index.all {
                    if takes_family(&self.listeners[i], family) {
                        found.push(Found {
                            index: i,
                            certain: false,
                        });
                    }
                }
            }
        }
        found
    }

    /// Every socket bound to an address of `dest`, or to a wildcard taking it, on one of
    /// `ports`.
    fn by_address(&self, index: &Index, dest: Dest, ports: &PortSet, each: &mut dyn FnMut(usize)) {
        let family = dest.family();
        let wildcards = match family {
            Family::Ipv4 => &index.any_v4,
            Family::Ipv6 => &index.any_v6,
        };
        for &(low, high) in ports.ranges() {
            for list in wildcards.range(low..=high).map(|(_, l)| l) {
                list.iter().for_each(|&i| each(i));
            }
        }
        let (first, last) = match dest {
            Dest::Exact(a) => (a.to_canonical(), a.to_canonical()),
            Dest::Prefix(network, len) => bounds(network.to_canonical(), len),
            Dest::Any(Family::Ipv4) => (
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::BROADCAST),
            ),
            Dest::Any(Family::Ipv6) => (
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::from(u128::MAX)),
            ),
        };
        // Loopback binds only for a class of loopback addresses (route_localnet's): any
        // other class, even a prefix that spans 127.0.0.0/8, never carries them.
        let loopback = dest.is_loopback_v4();
        for (&(address, port), list) in index.specific.range((first, 0)..=(last, u16::MAX)) {
            if !ports.contains(port) || family_of(address) != family {
                continue;
            }
            if address.is_loopback() && !loopback {
                continue;
            }
            list.iter().for_each(|&i| each(i));
        }
    }

    /// Whether a socket's bound device lets a packet from `iif` in: `Some(true)` yes,
    /// `Some(false)` perhaps (the interface is not known), `None` no.
    fn device_matches(&self, index: usize, iif: Option<&str>) -> Option<bool> {
        let Some(device) = &self.listeners[index].detail.device else {
            return Some(true);
        };
        if device.loopback {
            return None;
        }
        match iif {
            Some(name) if name == device.name => Some(true),
            Some(_) => None,
            None => Some(false),
        }
    }
}

/// Whether a socket takes packets of `family`: its own, and IPv4 for a dual-stack or
/// IPv4-mapped IPv6 bind.
fn takes_family(listener: &Listener, family: Family) -> bool {
    match (listener.address, family) {
        (IpAddr::V4(_), Family::Ipv4) => true,
        (IpAddr::V4(_), Family::Ipv6) => false,
        (IpAddr::V6(a), Family::Ipv4) => {
            a.to_ipv4_mapped().is_some()
                || (a.is_unspecified() && listener.detail.v6only != Some(true))
        }
        (IpAddr::V6(a), Family::Ipv6) => a.to_ipv4_mapped().is_none(),
    }
}

/// The first and last address of a prefix.
fn bounds(network: IpAddr, len: u8) -> (IpAddr, IpAddr) {
    match network {
        IpAddr::V4(n) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            let first = u32::from(n) & mask;
            (IpAddr::V4(first.into()), IpAddr::V4((first | !mask).into()))
        }
        IpAddr::V6(n) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            let first = u128::from(n) & mask;
            (IpAddr::V6(first.into()), IpAddr::V6((first | !mask).into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Device;

    fn listener(address: &str, port: u16) -> Listener {
        Listener::new(Protocol::Tcp, address.parse().unwrap(), port, 0, 0)
    }

    /// Which of `listeners` (by bind and port) a class reaches.
    fn reached(
        listeners: &[Listener],
        dest: Dest,
        ports: PortSet,
        iif: Option<&str>,
        steer: Steer,
    ) -> Vec<String> {
        let sockets = Sockets::new(listeners, |_| Some(0));
        let mut found: Vec<String> = sockets
            .find(0, Protocol::Tcp, dest, &ports, iif, steer)
            .into_iter()
            .map(|f| {
                let l = sockets.listener(f.index);
                let sure = if f.certain { "" } else { "?" };
                format!("{}:{}{sure}", l.address, l.port)
            })
            .collect();
        found.sort();
        found
    }

    fn exact(a: &str) -> Dest {
        Dest::Exact(a.parse().unwrap())
    }

    #[test]
    fn the_address_and_port_decide_and_wildcards_take_their_family() {
        let mut dual = listener("::", 443);
        dual.detail.v6only = Some(false);
        let mut v6only = listener("::", 444);
        v6only.detail.v6only = Some(true);
        let all = [
            listener("0.0.0.0", 22),
            listener("10.0.0.5", 80),
            listener("10.0.0.6", 80),
            listener("127.0.0.1", 8080),
            listener("::ffff:10.0.0.5", 81),
            dual,
            v6only,
            listener("fd00::5", 80),
        ];
        let lookup = |dest, ports| reached(&all, dest, ports, Some("eth0"), Steer::Lookup);
        assert_eq!(
            lookup(exact("10.0.0.5"), PortSet::all()),
            ["0.0.0.0:22", "10.0.0.5:80", ":::443", "::ffff:10.0.0.5:81"]
        );
        assert_eq!(
            lookup(exact("10.0.0.5"), PortSet::single(80)),
            ["10.0.0.5:80"]
        );
        assert_eq!(
            lookup(exact("fd00::5"), PortSet::all()),
            [":::443", ":::444", "fd00::5:80"]
        );
        // 127.0.0.0/8 as route_localnet lets it in: loopback binds and IPv4 wildcards.
        assert_eq!(
            lookup(
                Dest::Prefix("127.0.0.0".parse().unwrap(), 8),
                PortSet::all()
            ),
            ["0.0.0.0:22", "127.0.0.1:8080", ":::443"]
        );
        // Any address but loopback (the namespace's addresses not read).
        assert_eq!(
            lookup(Dest::Any(Family::Ipv4), PortSet::all()),
            [
                "0.0.0.0:22",
                "10.0.0.5:80",
                "10.0.0.6:80",
                ":::443",
                "::ffff:10.0.0.5:81"
            ]
        );
    }

    #[test]
    fn a_bound_device_takes_only_its_own_interface() {
        let mut on_eth1 = listener("0.0.0.0", 53);
        on_eth1.detail.device = Some(Box::new(Device {
            name: "eth1".into(),
            loopback: false,
        }));
        let mut on_lo = listener("0.0.0.0", 54);
        on_lo.detail.device = Some(Box::new(Device {
            name: "lo".into(),
            loopback: true,
        }));
        let all = [on_eth1, on_lo];
        let at = |iif| reached(&all, exact("10.0.0.5"), PortSet::all(), iif, Steer::Lookup);
        assert_eq!(at(Some("eth1")), ["0.0.0.0:53"]);
        assert!(at(Some("eth0")).is_empty());
        assert_eq!(at(None), ["0.0.0.0:53?"]);
    }

    #[test]
    fn tproxy_takes_transparent_sockets_at_its_address_and_port() {
        let mut transparent = listener("127.0.0.1", 5000);
        transparent.detail.transparent = Some(true);
        let mut plain = listener("127.0.0.1", 5001);
        plain.detail.transparent = Some(false);
        let mut unknown = listener("0.0.0.0", 5002);
        unknown.detail.transparent = None;
        let all = [transparent, plain, unknown];
        let tproxy = |port| Steer::Tproxy {
            address: "127.0.0.1".parse().unwrap(),
            port,
        };
        let class = || (exact("203.0.113.9"), PortSet::range(5000, 5999));
        let (dest, ports) = class();
        assert_eq!(
            reached(&all, dest, ports, Some("eth0"), tproxy(Some(5000))),
            ["127.0.0.1:5000"]
        );
        let (dest, ports) = class();
        assert!(reached(&all, dest, ports, Some("eth0"), tproxy(Some(5001))).is_empty());
        // Port unchanged: every transparent socket on the class's ports; not knowing
        // IP_TRANSPARENT is a perhaps.
        let (dest, ports) = class();
        assert_eq!(
            reached(&all, dest, ports, Some("eth0"), tproxy(None)),
            ["0.0.0.0:5002?", "127.0.0.1:5000"]
        );
    }

    #[test]
    fn an_sk_lookup_map_assigns_by_cookie_whatever_the_address() {
        let mut a = listener("127.0.0.1", 7000);
        a.detail.cookie = Some(11);
        let mut b = listener("127.0.0.1", 7001);
        b.detail.cookie = Some(12);
        let mut v6 = listener("::1", 7002);
        v6.detail.cookie = Some(11);
        let all = [a, b, v6];
        let assign = |cookies| Steer::Assign { cookies };
        let got = reached(
            &all,
            exact("10.0.0.5"),
            PortSet::single(80),
            Some("eth0"),
            assign(Some(&[11])),
        );
        assert_eq!(got, ["127.0.0.1:7000"]);
        let got = reached(
            &all,
            exact("10.0.0.5"),
            PortSet::single(80),
            Some("eth0"),
            assign(None),
        );
        assert_eq!(got, ["127.0.0.1:7000?", "127.0.0.1:7001?"]);
        let got = reached(
            &all,
            exact("fd00::5"),
            PortSet::single(80),
            Some("eth0"),
            Steer::Anywhere,
        );
        assert_eq!(got, ["::1:7002?"]);
    }

    #[test]
    fn a_class_shows_the_address_a_client_uses() {
        let localnet = Dest::Prefix("127.0.0.0".parse().unwrap(), 8);
        assert_eq!(
            localnet
                .shown_for("127.0.0.53".parse().unwrap())
                .to_string(),
            "127.0.0.53"
        );
        assert_eq!(
            localnet.shown_for("0.0.0.0".parse().unwrap()).to_string(),
            "127.0.0.1"
        );
        assert_eq!(
            localnet
                .shown_for("::ffff:127.0.0.1".parse().unwrap())
                .to_string(),
            "127.0.0.1"
        );
        assert_eq!(
            exact("10.0.0.5")
                .shown_for("0.0.0.0".parse().unwrap())
                .to_string(),
            "10.0.0.5"
        );
        assert_eq!(
            Dest::Any(Family::Ipv4)
                .shown_for("0.0.0.0".parse().unwrap())
                .to_string(),
            "0.0.0.0"
        );
    }
}
