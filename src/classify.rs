//! Classify: what a bind address means — who could reach a socket bound to it.
//!
//! Pure functions over addresses. `scope` says what kind of bind it is; `exposure` says
//! how far it reaches. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are judged as the
//! IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// 127.0.0.0/8, ::1, ::ffff:127.x: this host only.
    Loopback,
    /// 0.0.0.0 or ::: every address of the host.
    Wildcard,
    /// One particular address.
    Specific,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// Only this host can reach it.
    None,
    /// Reachable from a private, shared, link-local or ULA network.
    Internal,
    /// Reachable from anywhere the host is reachable from.
    Public,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Loopback => "loopback",
            Scope::Wildcard => "wildcard",
            Scope::Specific => "specific",
        }
    }
}

pub fn classify(address: IpAddr) -> (Scope, Exposure) {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

/// Like [`classify`], for a socket that may be bound to a device (SO_BINDTODEVICE): bound
/// to the loopback device, it can only be reached from this host, whatever its address.
/// Bound to another device it is reachable only through that device, but as far as
/// its address reaches there: the report names the device.
pub fn classify_bound(address: IpAddr, loopback_device: bool) -> (Scope, Exposure) {
    let (scope, exposure) = classify(address);
    if loopback_device {
        (scope, Exposure::None)
    } else {
        (scope, exposure)
    }
}

/// Whether an IPv4 client can reach a socket bound to `address`: IPv4 binds and
/// IPv4-mapped ones yes, other IPv6 ones no, and a `::` bind unless it is IPV6_V6ONLY
/// (`None`: not known).
pub fn ipv4_reachable(address: IpAddr, v6only: Option<bool>) -> Option<bool> {
    match address {
        IpAddr::V4(_) => Some(true),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Some(true),
        IpAddr::V6(v6) if v6.is_unspecified() => v6only.map(|only| !only),
        IpAddr::V6(_) => Some(false),
    }
}

/// How far a bind reaches, in one word: `loopback`, `wildcard`, `internal`, `public`.
pub fn bind_class(scope: Scope, exposure: Exposure) -> &'static str {
    match (scope, exposure) {
        (Scope::Loopback, _) | (_, Exposure::None) => "loopback",
        (Scope::Wildcard, _) => "wildcard",
        (Scope::Specific, Exposure::Internal) => "internal",
        (Scope::Specific, Exposure::Public) => "public",
    }
}

fn classify_v4(ip: Ipv4Addr) -> (Scope, Exposure) {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() {
        (Scope::Wildcard, Exposure::Public)
    } else if ip.is_loopback() {
        (Scope::Loopback, Exposure::None)
    } else if ip.is_private()                       // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (b & 0xc0) == 64)           // 100.64/10, shared (carrier-grade NAT)
        || ip.is_link_local()                       // 169.254/16
        || ip.is_broadcast()
        || (a == 224 && b == 0 && c == 0)           // 224.0.0/24, link-local multicast
        || a == 239
    // 239/8, organisation-local multicast
    {
        (Scope::Specific, Exposure::Internal)
    } else {
        // Globally routable — and documentation ranges too: they are not private.
        (Scope::Specific, Exposure::Public)
    }
}

fn classify_v6(ip: Ipv6Addr) -> (Scope, Exposure) {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        (Scope::Wildcard, Exposure::Public)
    } else if ip.is_loopback() {
        (Scope::Loopback, Exposure::None)
    } else if (first & 0xfe00) == 0xfc00      // fc00::/7, unique local
        || (first & 0xffc0) == 0xfe80         // fe80::/10, link-local
        || (first & 0xffc0) == 0xfec0
    // fec0::/10, the deprecated site-local
    {
        (Scope::Specific, Exposure::Internal)
    } else if (first & 0xff00) == 0xff00 {
        match first & 0x000f {
            // interface-local multicast never leaves the host
            0x1 => (Scope::Specific, Exposure::None),
            0xe => (Scope::Specific, Exposure::Public),
            _ => (Scope::Specific, Exposure::Internal),
        }
    } else {
        (Scope::Specific, Exposure::Public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(address: &str) -> (Scope, Exposure) {
        classify(address.parse().unwrap())
    }

    #[test]
    fn loopback() {
        for a in [
            "127.0.0.1",
            "127.0.0.53",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:127.1.2.3",
        ] {
            assert_eq!(check(a), (Scope::Loopback, Exposure::None), "{a}");
        }
    }

    #[test]
    fn wildcard() {
        for a in ["0.0.0.0", "::", "::ffff:0.0.0.0"] {
            assert_eq!(check(a), (Scope::Wildcard, Exposure::Public), "{a}");
        }
    }

    #[test]
    fn internal_ranges() {
        for a in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.10",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.10.1",
            "255.255.255.255",
            "224.0.0.251",
            "239.255.255.250",
            "fd00::10",
            "fc00::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::fb",
            "ff05::2",
            "::ffff:10.1.2.3",
            "::ffff:192.168.0.1",
        ] {
            assert_eq!(check(a), (Scope::Specific, Exposure::Internal), "{a}");
        }
    }

    #[test]
    fn public_ranges() {
        for a in [
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.5",
            "192.169.0.1",
            "224.0.1.1",
            "2001:db8::10",
            "2a00:1450::1",
            "fbff::1",
            "ff0e::1",
            "::ffff:192.0.2.1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(check(a), (Scope::Specific, Exposure::Public), "{a}");
        }
    }

    #[test]
    fn bound_to_loopback_device_is_local_whatever_the_address() {
        for a in ["0.0.0.0", "::", "192.0.2.10", "10.0.0.1"] {
            let (scope, _) = check(a);
            let bound = classify_bound(a.parse().unwrap(), true);
            assert_eq!(bound, (scope, Exposure::None), "{a}");
            assert_eq!(classify_bound(a.parse().unwrap(), false), check(a), "{a}");
        }
    }

    #[test]
    fn ipv4_reaches_dual_stack_wildcards_only() {
        let v4 = |a: &str, v6only| ipv4_reachable(a.parse().unwrap(), v6only);
        assert_eq!(v4("0.0.0.0", None), Some(true));
        assert_eq!(v4("::", Some(false)), Some(true));
        assert_eq!(v4("::", Some(true)), Some(false));
        assert_eq!(v4("::", None), None);
        assert_eq!(v4("::1", None), Some(false));
        assert_eq!(v4("2001:db8::1", Some(false)), Some(false));
        assert_eq!(v4("::ffff:127.0.0.1", Some(false)), Some(true));
    }

    #[test]
    fn interface_local_multicast_stays_on_the_host() {
        assert_eq!(check("ff01::1"), (Scope::Specific, Exposure::None));
    }
}
