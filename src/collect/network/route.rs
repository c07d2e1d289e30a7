//! RTM_GETROUTE and RTM_GETRULE: every route of every table, of every type, and the
//! routing policy rules that choose the table, both families, as [`Route`] and
//! [`RouteRule`] records.
//!
//! One dump of each with AF_UNSPEC answers for IPv4 and IPv6 at once (and for the
//! multicast routing families, which are left out). Nothing is filtered by table or
//! type: `local` routes (AnyIP too), `blackhole`, `throw` and the rest all decide where a
//! packet goes.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::collect::netlink::{AF_INET, AF_INET6, attributes, ipv4, ipv6, u16_at, u32_at};
use crate::network::{Route, RouteKind, RouteRule, RuleAction};
use crate::socket::Family;

// <linux/rtnetlink.h>
const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTA_NH_ID: u16 = 30;
const RTM_F_CLONED: u32 = 0x200;
const RTNH_LEN: usize = 8;
// <linux/fib_rules.h>
const FIB_RULE_HDR_LEN: usize = 12;
const FIB_RULE_INVERT: u32 = 0x2;
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_FLOW: u16 = 11;
const FRA_TUN_ID: u16 = 12;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PAD: u16 = 18;
const FRA_L3MDEV: u16 = 19;
const FRA_UID_RANGE: u16 = 20;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;
const FRA_SPORT_MASK: u16 = 28;
const FRA_DPORT_MASK: u16 = 29;
const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_GOTO: u8 = 2;
const FR_ACT_NOP: u8 = 3;
const FR_ACT_BLACKHOLE: u8 = 6;
const FR_ACT_UNREACHABLE: u8 = 7;
const FR_ACT_PROHIBIT: u8 = 8;

fn family(af: u8) -> Option<Family> {
    match af {
        AF_INET => Some(Family::Ipv4),
        AF_INET6 => Some(Family::Ipv6),
        _ => None,
    }
}

/// An address of `family` from an attribute's bytes.
fn address(family: Family, data: &[u8]) -> Option<IpAddr> {
    match (family, data.len()) {
        (Family::Ipv4, 4) => Some(IpAddr::V4(ipv4(data))),
        (Family::Ipv6, 16) => Some(IpAddr::V6(ipv6(data))),
        _ => None,
    }
}

/// A prefix length no longer than the family's addresses: anything else is no record the
/// kernel sends.
fn check_prefix(family: Family, len: u8) -> Result<(), String> {
    let max = match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    };
    if len > max {
        return Err(format!("prefix length {len} of an {family:?} record"));
    }
    Ok(())
}

fn unspecified(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// One RTM_NEWROUTE payload; `None` for another family's (multicast routing) or a
/// cached clone.
pub fn parse_route(payload: &[u8]) -> Result<Option<Route>, String> {
    if payload.len() < RTMSG_LEN {
        return Err(format!("route record of {} bytes", payload.len()));
    }
    let Some(family) = family(payload[0]) else {
        return Ok(None);
    };
    let (prefix_len, source_len, tos) = (payload[1], payload[2], payload[3]);
    check_prefix(family, prefix_len)?;
    check_prefix(family, source_len)?;
    let flags = u32_at(payload, 8);
    if flags & RTM_F_CLONED != 0 {
        return Ok(None);
    }
    let mut route = Route {
        family,
        table: u32::from(payload[4]),
        kind: route_kind(payload[7]),
        destination: unspecified(family),
        prefix_len,
        oif: None,
        nexthops: Vec::new(),
        gateway: None,
        priority: 0,
        source: None,
        tos,
        nexthop_id: None,
    };
    for (attribute, data) in attributes(&payload[RTMSG_LEN..]) {
        match attribute {
            RTA_DST => {
                route.destination = address(family, data)
                    .ok_or_else(|| format!("route destination of {} bytes", data.len()))?;
            }
            RTA_SRC => route.source = address(family, data).map(|a| (a, source_len)),
            RTA_OIF if data.len() == 4 => route.oif = Some(u32_at(data, 0)),
            RTA_GATEWAY => route.gateway = address(family, data),
            RTA_VIA => route.gateway = via(data),
            RTA_PRIORITY if data.len() == 4 => route.priority = u32_at(data, 0),
            RTA_TABLE if data.len() == 4 => route.table = u32_at(data, 0),
            RTA_NH_ID if data.len() == 4 => route.nexthop_id = Some(u32_at(data, 0)),
            RTA_MULTIPATH => route.nexthops = multipath(data)?,
            _ => {}
        }
    }
    // Told by object only when the kernel does not also give the device (compat mode).
    if route.oif.is_some() || !route.nexthops.is_empty() {
        route.nexthop_id = None;
    }
    Ok(Some(route))
}

/// RTA_VIA (an IPv4 route through an IPv6 next hop): struct rtvia, family then address.
fn via(data: &[u8]) -> Option<IpAddr> {
    if data.len() < 2 {
        return None;
    }
    let af = u8::try_from(u16_at(data, 0)).ok()?;
    address(family(af)?, &data[2..])
}

/// RTA_MULTIPATH: struct rtnexthop after rtnexthop, each with its attributes.
fn multipath(mut data: &[u8]) -> Result<Vec<u32>, String> {
    let mut interfaces = Vec::new();
    while data.len() >= RTNH_LEN {
        let len = usize::from(u16_at(data, 0));
        if len < RTNH_LEN || len > data.len() {
            return Err(format!("next hop of {len} bytes"));
        }
        interfaces.push(u32_at(data, 4));
        data = &data[crate::collect::netlink::align4(len).min(data.len())..];
    }
    Ok(interfaces)
}

fn route_kind(kind: u8) -> RouteKind {
    match kind {
        1 => RouteKind::Unicast,
        2 => RouteKind::Local,
        3 => RouteKind::Broadcast,
        4 => RouteKind::Anycast,
        5 => RouteKind::Multicast,
        6 => RouteKind::Blackhole,
        7 => RouteKind::Unreachable,
        8 => RouteKind::Prohibit,
        9 => RouteKind::Throw,
        other => RouteKind::Other(other),
    }
}

/// One RTM_NEWRULE payload; `None` for another family's (multicast routing).
pub fn parse_rule(payload: &[u8]) -> Result<Option<RouteRule>, String> {
    if payload.len() < FIB_RULE_HDR_LEN {
        return Err(format!("rule record of {} bytes", payload.len()));
    }
    let Some(family) = family(payload[0]) else {
        return Ok(None);
    };
    let (dst_len, src_len, tos, table, action) =
        (payload[1], payload[2], payload[3], payload[4], payload[7]);
    check_prefix(family, dst_len)?;
    check_prefix(family, src_len)?;
    let flags = u32_at(payload, 8);
    let mut rule = RouteRule {
        invert: flags & FIB_RULE_INVERT != 0,
        ..RouteRule::any(family, 0, RuleAction::Other(action))
    };
    if tos != 0 {
        rule.unknown.push(format!("tos {tos:#x}"));
    }
    let mut table = u32::from(table);
    let mut goto = None;
    let (mut mark, mut mask) = (None, None);
    // Port masks (Linux 6.16): a single port comes with mask 0xffff, an exact match.
    let (mut sport_mask, mut dport_mask) = (u16::MAX, u16::MAX);
    for (attribute, data) in attributes(&payload[FIB_RULE_HDR_LEN..]) {
        let word = (data.len() == 4).then(|| u32_at(data, 0));
        match (attribute, word) {
            (FRA_DST, _) => rule.to = address(family, data).map(|a| (a, dst_len)),
            (FRA_SRC, _) => rule.from = address(family, data).map(|a| (a, src_len)),
            (FRA_IIFNAME, _) => rule.iif = Some(name(data)),
            (FRA_OIFNAME, _) => rule.oif = Some(name(data)),
            (FRA_PRIORITY, Some(priority)) => rule.priority = priority,
            (FRA_TABLE, Some(t)) => table = t,
            (FRA_GOTO, Some(target)) => goto = Some(target),
            (FRA_FWMARK, Some(m)) => mark = Some(m),
            (FRA_FWMASK, Some(m)) => mask = Some(m),
            (FRA_SUPPRESS_PREFIXLEN, Some(len)) => {
                // -1 (not set) is not sent, but a kernel that did would mean "none".
                rule.suppress_prefixlen = (len != u32::MAX).then_some(len);
            }
            (FRA_IP_PROTO, _) if !data.is_empty() => rule.ip_proto = Some(data[0]),
            (FRA_SPORT_RANGE, _) => match port_range(data) {
                Some(range) => rule.sport = Some(range),
                None => rule.unknown.push("sport".into()),
            },
            (FRA_DPORT_RANGE, _) => match port_range(data) {
                Some(range) => rule.dport = Some(range),
                None => rule.unknown.push("dport".into()),
            },
            (FRA_SPORT_MASK, _) if data.len() >= 2 => sport_mask = u16_at(data, 0),
            (FRA_DPORT_MASK, _) if data.len() >= 2 => dport_mask = u16_at(data, 0),
            // Who added it, and alignment: no selector.
            (FRA_PROTOCOL | FRA_PAD, _) => {}
            (FRA_SUPPRESS_IFGROUP, Some(group)) if group == u32::MAX => {}
            (other, _) => rule.unknown.push(selector_name(other)),
        }
    }
    // Any other mask matches ports by bits, not as a range.
    if sport_mask != u16::MAX {
        rule.sport = None;
        rule.unknown.push(format!("sport {sport_mask:#x} mask"));
    }
    if dport_mask != u16::MAX {
        rule.dport = None;
        rule.unknown.push(format!("dport {dport_mask:#x} mask"));
    }
    if mark.is_some() || mask.is_some() {
        // A mark without a mask compares every bit.
        rule.fwmark = Some((mark.unwrap_or(0), mask.unwrap_or(u32::MAX)));
    }
    rule.action = match action {
        FR_ACT_TO_TBL => RuleAction::Table(table),
        FR_ACT_GOTO => RuleAction::Goto(goto.unwrap_or(0)),
        FR_ACT_NOP => RuleAction::Nop,
        FR_ACT_BLACKHOLE => RuleAction::Blackhole,
        FR_ACT_UNREACHABLE => RuleAction::Unreachable,
        FR_ACT_PROHIBIT => RuleAction::Prohibit,
        other => RuleAction::Other(other),
    };
    Ok(Some(rule))
}

fn name(data: &[u8]) -> String {
    let name = data.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

/// struct fib_rule_port_range: start, end (host order); `None` for one the kernel would
/// not hold (too short, or backwards).
fn port_range(data: &[u8]) -> Option<RangeInclusive<u16>> {
    (data.len() >= 4)
        .then(|| u16_at(data, 0)..=u16_at(data, 2))
        .filter(|range| range.start() <= range.end())
}

/// A selector portaudit does not evaluate, as `ip rule` names it.
fn selector_name(attribute: u16) -> String {
    match attribute {
        FRA_FLOW => "realms".into(),
        FRA_TUN_ID => "tun_id".into(),
        FRA_SUPPRESS_IFGROUP => "suppress_ifgroup".into(),
        FRA_L3MDEV => "l3mdev".into(),
        FRA_UID_RANGE => "uidrange".into(),
        25 => "dscp".into(),
        26 | 27 => "flowlabel".into(),
        30 => "dscp mask".into(),
        other => format!("attribute {other}"),
    }
}
