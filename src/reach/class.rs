//! The evaluator's words, as agreed with the ruleset model (issue 18): a class of packets
//! at one hook, the port sets it covers, and the fates the chains give it. The walk
//! builds classes and reads fates; `firewall::evaluate` answers.
//!
//! Provisional: until the model's evaluator lands (src/reach/firewall/), its agreed
//! shape lives here so that the walk and its tests can be written against it.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::socket::{Family, Protocol};

/// Sorted, disjoint, inclusive port ranges (the model's own, mirrored: same names).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    pub fn all() -> PortSet {
        PortSet::range(0, u16::MAX)
    }

    pub fn single(port: u16) -> PortSet {
        PortSet::range(port, port)
    }

    /// `low` to `high` inclusive; empty when `low > high`.
    pub fn range(low: u16, high: u16) -> PortSet {
        if low > high {
            return PortSet::empty();
        }
        PortSet {
            ranges: vec![(low, high)],
        }
    }

    pub fn from_ranges(ranges: impl IntoIterator<Item = (u16, u16)>) -> PortSet {
        let mut all: Vec<(u16, u16)> = ranges.into_iter().filter(|(l, h)| l <= h).collect();
        all.sort_unstable();
        let mut ranges: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (low, high) in all {
            match ranges.last_mut() {
                Some(last) if u32::from(low) <= u32::from(last.1) + 1 => last.1 = last.1.max(high),
                _ => ranges.push((low, high)),
            }
        }
        PortSet { ranges }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.ranges == [(0, u16::MAX)]
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(low, high)| low <= port && port <= high)
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut ranges = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            let low = a.0.max(b.0);
            let high = a.1.min(b.1);
            if low <= high {
                ranges.push((low, high));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet { ranges }
    }

    pub fn subtract(&self, other: &PortSet) -> PortSet {
        let mut ranges = Vec::new();
        for &(mut low, high) in &self.ranges {
            let mut done = false;
            for &(cut_low, cut_high) in &other.ranges {
                if cut_high < low || cut_low > high {
                    continue;
                }
                if cut_low > low {
                    ranges.push((low, cut_low - 1));
                }
                if cut_high >= high {
                    done = true;
                    break;
                }
                low = cut_high + 1;
            }
            if !done {
                ranges.push((low, high));
            }
        }
        PortSet { ranges }
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        PortSet::from_ranges(self.ranges.iter().chain(&other.ranges).copied())
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// `22,80,8000-8999`; `none` when empty.
impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("none");
        }
        for (i, &(low, high)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

/// A class of packets at one hook: everything the walk knows about them. Source address
/// and source port are always "anything".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class<'a> {
    pub family: Family,
    pub protocol: Protocol,
    /// `None`: not known.
    pub daddr: Option<IpAddr>,
    /// The destination ports this class covers.
    pub ports: PortSet,
    /// The interface it arrived on; `None`: not known (never lo).
    pub iif: Option<Iface<'a>>,
    /// Forward and postrouting: the interface it leaves by.
    pub oif: Option<Iface<'a>>,
    /// `None`: not known; `Some(0)` as it comes off the wire.
    pub mark: Option<u32>,
    /// Whether daddr is local to this namespace (fib daddr type).
    pub local: Option<bool>,
    /// ct status dnat: a DNAT happened earlier on the path.
    pub dnat: bool,
    /// A bridged frame (the bridge family's hooks).
    pub bridged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iface<'a> {
    pub name: &'a str,
    pub ifindex: u32,
    /// IFLA_INFO_KIND; `Some("")` for none (a NIC); `None`: not known.
    pub kind: Option<&'a str>,
}

/// What the chains of a hook do with part of a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    pub ports: PortSet,
    pub end: End,
    pub rewrite: Rewrite,
    /// False: one possibility of several for these ports.
    pub certain: bool,
    pub why: Arc<str>,
    /// Why it is only a possibility; `None` when certain.
    pub doubt: Option<Arc<str>>,
    /// The destination address the chains matched when the class did not say.
    pub daddr: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// Every chain let it on.
    Pass,
    /// Dropped or rejected.
    Drop,
}

/// What the chains did to the packet on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Rewrite {
    pub nat: Option<NatTo>,
    pub tproxy: Option<TproxyTo>,
    pub mark: Option<Mark>,
    /// May have rewritten in a way the model cannot tell: may go to any local socket.
    pub unknown: Option<Arc<str>>,
}

/// dnat or redirect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatTo {
    pub address: NatAddress,
    /// `None`: the port is not changed; a range when the rule gives one.
    pub ports: Option<(u16, u16)>,
    /// The rule that rewrote it: `ip nat DOCKER handle 12`.
    pub rule: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NatAddress {
    /// `redirect`: the arrival interface's primary address.
    Interface,
    /// Unchanged (`dnat to :8080`).
    Same,
    /// One address, or the first and last of a range.
    To(IpAddr, IpAddr),
    /// Not known: what.
    Unknown(Arc<str>),
}

/// tproxy: hands the packet to a transparent socket on `address` (`None`: the arrival
/// interface's primary address) and `port` (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TproxyTo {
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    Set(u32),
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_sets_split_and_join_exactly() {
        let all = PortSet::all();
        let ssh = PortSet::single(22);
        let rest = all.subtract(&ssh);
        assert_eq!(rest.ranges(), [(0, 21), (23, u16::MAX)]);
        assert!(!rest.contains(22) && rest.contains(21) && rest.contains(u16::MAX));
        assert_eq!(rest.union(&ssh), all);
        assert!(rest.intersect(&ssh).is_empty());
        let web = PortSet::from_ranges([(80, 80), (443, 443), (8000, 8999)]);
        assert_eq!(
            web.intersect(&PortSet::range(400, 8500)).ranges(),
            [(443, 443), (8000, 8500)]
        );
        assert_eq!(web.to_string(), "80,443,8000-8999");
        assert_eq!(web.subtract(&all), PortSet::empty());
        assert_eq!(PortSet::range(5, 4), PortSet::empty());
        assert_eq!(PortSet::from_ranges([(1, 5), (6, 9)]), PortSet::range(1, 9));
    }
}
