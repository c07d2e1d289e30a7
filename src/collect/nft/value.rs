//! Values as nft prints them (addresses, ports, protocol and interface names, ct
//! states, icmp types), and set elements: sorted, intervals merged back into the
//! prefixes and ranges nft shows.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::decode::{Element, NFPROTO_IPV4, NFPROTO_IPV6, Names, be32, c_string};
use crate::collect::netlink::attributes;

const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

/// A piece of JSON text, as nft's JSON prints it. The document is written as text
/// rather than built as serde_json Values: a Value tree for a small server's ruleset
/// cost a millisecond to build and print, most of reading it over netlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Json(String);

impl Json {
    /// A JSON string, escaped.
    pub fn string(s: &str) -> Json {
        Json(serde_json::Value::from(s).to_string())
    }

    pub fn number(n: impl std::fmt::Display) -> Json {
        Json(n.to_string())
    }

    /// Text the caller knows to be JSON (a literal).
    pub fn raw(text: &str) -> Json {
        Json(text.to_string())
    }

    pub fn array(items: Vec<Json>) -> Json {
        let mut out = String::from("[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&item.0);
        }
        out.push(']');
        Json(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `{"key": value, ...}`; the keys are our own literals, which need no escaping.
pub(super) fn object<'k>(pairs: impl IntoIterator<Item = (&'k str, Json)>) -> Json {
    let mut out = String::from("{");
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        out.push_str(&value.0);
    }
    out.push('}');
    Json(out)
}

/// How a value of some expression is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ipv4,
    Ipv6,
    /// A big-endian number (ports).
    Port,
    /// A host-order 32-bit number (`meta mark`).
    Mark,
    InetProto,
    NfProto,
    IfIndex,
    IfName,
    CtState,
    CtStatus,
    FibType,
    IcmpType,
    Icmpv6Type,
}

impl Kind {
    /// nft's datatype numbers (NFTA_SET_KEY_TYPE) for the kinds we print.
    pub fn of_set_type(key_type: u32) -> Option<Kind> {
        Some(match key_type {
            7 => Kind::Ipv4,
            8 => Kind::Ipv6,
            12 => Kind::InetProto,
            13 => Kind::Port,
            14 => Kind::IcmpType,
            29 => Kind::Icmpv6Type,
            19 => Kind::Mark,
            20 => Kind::IfIndex,
            26 => Kind::CtState,
            41 => Kind::IfName,
            _ => return None,
        })
    }

    /// The datatype's name as nft prints a set's `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4_addr",
            Kind::Ipv6 => "ipv6_addr",
            Kind::Port => "inet_service",
            Kind::Mark => "mark",
            Kind::InetProto => "inet_proto",
            Kind::NfProto => "nf_proto",
            Kind::IfIndex => "iface_index",
            Kind::IfName => "ifname",
            Kind::CtState => "ct_state",
            Kind::CtStatus => "ct_status",
            Kind::FibType => "fib_addrtype",
            Kind::IcmpType => "icmp_type",
            Kind::Icmpv6Type => "icmpv6_type",
        }
    }

    fn host_order(self) -> bool {
        matches!(
            self,
            Kind::Mark
                | Kind::IfIndex
                | Kind::CtState
                | Kind::CtStatus
                | Kind::FibType
                | Kind::IfName
        )
    }

    pub(super) fn address(self) -> bool {
        matches!(self, Kind::Ipv4 | Kind::Ipv6)
    }
}

/// A set's elements: raw for anonymous sets (printed in the rule, by the looked-up
/// expression's kind), printed for named ones.
#[derive(Debug, Clone)]
pub(super) struct SetInfo {
    /// NFTA_SET_KEY_LEN: a lookup must load exactly this many bytes.
    pub key_len: usize,
    pub raw: Vec<Element>,
    pub interval: bool,
    pub elements: Option<Vec<Json>>,
}

/// NFTA_DATA_VALUE inside a nested data attribute.
pub(super) fn data_value(nested: &[u8]) -> Result<Vec<u8>, String> {
    attributes(nested)
        .find(|(k, _)| *k == NFTA_DATA_VALUE)
        .map(|(_, d)| d.to_vec())
        .ok_or_else(|| "a data attribute without a value".to_string())
}

/// NFTA_DATA_VERDICT inside a nested data attribute, as nft's JSON statement.
pub(super) fn data_verdict(nested: &[u8]) -> Result<Json, String> {
    let verdict = attributes(nested)
        .find(|(k, _)| *k == NFTA_DATA_VERDICT)
        .map(|(_, d)| d)
        .ok_or_else(|| "map data that is not a verdict".to_string())?;
    let mut code = None;
    let mut chain = None;
    for (kind, data) in attributes(verdict) {
        match kind {
            NFTA_VERDICT_CODE => code = be32(data).map(|c| c as i32),
            NFTA_VERDICT_CHAIN => chain = Some(c_string(data)),
            _ => return Err("a verdict with a chain id".into()),
        }
    }
    Ok(match (code, chain) {
        (Some(0), None) => Json::raw(r#"{"drop":null}"#),
        (Some(1), None) => Json::raw(r#"{"accept":null}"#),
        (Some(-1), None) => Json::raw(r#"{"continue":null}"#),
        (Some(-5), None) => Json::raw(r#"{"return":null}"#),
        (Some(-3), Some(target)) => object([("jump", object([("target", Json::string(&target))]))]),
        (Some(-4), Some(target)) => object([("goto", object([("target", Json::string(&target))]))]),
        (code, _) => return Err(format!("verdict {code:?}")),
    })
}

/// A value as nft prints it.
pub(super) fn value(kind: Kind, data: &[u8], names: &Names) -> Result<Json, String> {
    let host32 = || {
        data.try_into()
            .map(u32::from_ne_bytes)
            .map_err(|_| format!("a {kind:?} value of {} bytes", data.len()))
    };
    Ok(match kind {
        Kind::Ipv4 => {
            let b: [u8; 4] = data.try_into().map_err(|_| "an IPv4 value of odd size")?;
            Json::string(&Ipv4Addr::from(b).to_string())
        }
        Kind::Ipv6 => {
            let b: [u8; 16] = data.try_into().map_err(|_| "an IPv6 value of odd size")?;
            Json::string(&Ipv6Addr::from(b).to_string())
        }
        Kind::Port => {
            // Exactly two bytes: a concatenation's keys are longer.
            if data.len() != 2 {
                return Err(format!("a port of {} bytes", data.len()));
            }
            Json::number(data.iter().fold(0u64, |n, &b| n << 8 | u64::from(b)))
        }
        Kind::Mark => Json::number(host32()?),
        Kind::InetProto => {
            let [p] = data else {
                return Err("a protocol of odd size".into());
            };
            match names.protocols.get(p) {
                Some(name) => Json::string(name),
                None => Json::number(*p),
            }
        }
        Kind::IcmpType | Kind::Icmpv6Type => {
            let [t] = data else {
                return Err("an icmp type of odd size".into());
            };
            let names: &[(u8, &str)] = if kind == Kind::IcmpType {
                &ICMP_TYPES
            } else {
                &ICMPV6_TYPES
            };
            let name = names.iter().find(|(n, _)| n == t);
            Json::string(name.ok_or_else(|| format!("{kind:?} {t}"))?.1)
        }
        Kind::NfProto => match data {
            [NFPROTO_IPV4] => Json::string("ipv4"),
            [NFPROTO_IPV6] => Json::string("ipv6"),
            other => return Err(format!("nfproto {other:?}")),
        },
        Kind::IfIndex => {
            let index = host32()?;
            match (names.interface)(index) {
                Some(name) => Json::string(&name),
                None => Json::number(index),
            }
        }
        Kind::IfName => {
            let name = c_string(data);
            if data.contains(&0) {
                Json::string(&name)
            } else {
                Json::string(&format!("{name}*"))
            }
        }
        Kind::CtState | Kind::CtStatus => {
            let bits = ct_bits(kind, host32()?)?;
            match bits.as_slice() {
                [one] => Json::string(one),
                _ => return Err(format!("a {kind:?} value of several bits")),
            }
        }
        Kind::FibType => {
            const TYPES: [&str; 10] = [
                "unspec",
                "unicast",
                "local",
                "broadcast",
                "anycast",
                "multicast",
                "blackhole",
                "unreachable",
                "prohibit",
                "throw",
            ];
            let t = host32()? as usize;
            Json::string(TYPES.get(t).ok_or_else(|| format!("fib type {t}"))?)
        }
    })
}

/// The names of the ct state or ct status bits in `mask`, lowest bit first; unknown
/// bits are an Err.
pub(super) fn ct_bits(kind: Kind, mask: u32) -> Result<Vec<&'static str>, String> {
    const STATES: [(u32, &str); 5] = [
        (1, "invalid"),
        (2, "established"),
        (4, "related"),
        (8, "new"),
        (64, "untracked"),
    ];
    const STATUS: [(u32, &str); 7] = [
        (1, "expected"),
        (2, "seen-reply"),
        (4, "assured"),
        (8, "confirmed"),
        (16, "snat"),
        (32, "dnat"),
        (512, "dying"),
    ];
    let names: &[(u32, &str)] = if kind == Kind::CtState {
        &STATES
    } else {
        &STATUS
    };
    let known: u32 = names.iter().map(|(bit, _)| bit).sum();
    if mask == 0 || mask & !known != 0 {
        return Err(format!("{kind:?} mask {mask:#x}"));
    }
    Ok(names
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| *name)
        .collect())
}

/// The key as a big-endian number, for ordering as nft does (by value; nft keeps
/// interface names in host order, so on little-endian hosts "wg0" sorts before "eth0").
fn sort_key(kind: Kind, key: &[u8]) -> Vec<u8> {
    let mut key = key.to_vec();
    if kind.host_order() && cfg!(target_endian = "little") {
        key.reverse();
    }
    key
}

/// A set's elements as nft lists them: sorted by value, intervals as single values,
/// prefixes (addresses) or ranges; a map's as `[key, verdict]`.
pub(super) fn elements(
    kind: Kind,
    raw: &[Element],
    interval: bool,
    names: &Names,
) -> Result<Vec<Json>, String> {
    let mut sorted: Vec<&Element> = raw.iter().collect();
    // At one value an interval's end comes before the next interval's start.
    sorted.sort_by(|a, b| {
        sort_key(kind, &a.key)
            .cmp(&sort_key(kind, &b.key))
            .then(b.end.cmp(&a.end))
    });
    let with_data = |e: &Element, key: Json| match &e.verdict {
        Some(v) => Json::array(vec![key, v.clone()]),
        None => key,
    };
    if !interval {
        return sorted
            .iter()
            .map(|e| Ok(with_data(e, value(kind, &e.key, names)?)))
            .collect();
    }
    if kind.host_order() || !matches!(kind, Kind::Ipv4 | Kind::Ipv6 | Kind::Port) {
        return Err(format!("an interval set of {kind:?}"));
    }
    let mut out = Vec::new();
    let mut low: Option<&Element> = None;
    for e in sorted {
        match (low, e.end) {
            // The end nft adds below the first interval, or a stray one.
            (None, true) => {}
            (None, false) => low = Some(e),
            (Some(start), true) => {
                let high = decrement(&e.key).ok_or("an interval ending at zero")?;
                out.push(with_data(
                    start,
                    interval_value(kind, &start.key, &high, names)?,
                ));
                low = None;
            }
            (Some(_), false) => return Err("two interval starts in a row".into()),
        }
    }
    if let Some(start) = low {
        let high = vec![0xff; start.key.len()];
        out.push(with_data(
            start,
            interval_value(kind, &start.key, &high, names)?,
        ));
    }
    Ok(out)
}

fn decrement(key: &[u8]) -> Option<Vec<u8>> {
    let mut key = key.to_vec();
    for byte in key.iter_mut().rev() {
        if *byte > 0 {
            *byte -= 1;
            return Some(key);
        }
        *byte = 0xff;
    }
    None
}

/// [low, high] as one value, a prefix (addresses only) or a range.
fn interval_value(kind: Kind, low: &[u8], high: &[u8], names: &Names) -> Result<Json, String> {
    if low.len() != high.len() {
        return Err("an interval with ends of two sizes".into());
    }
    if low == high {
        return value(kind, low, names);
    }
    if kind.address() {
        // A prefix: low's host bits all 0, high's all 1, and they share the rest.
        let bits = low.len() * 8;
        let host = (0..bits).take_while(|&i| {
            let (byte, bit) = (low.len() - 1 - i / 8, i % 8);
            low[byte] >> bit & 1 == 0 && high[byte] >> bit & 1 == 1
        });
        let host = host.count();
        let same = (host..bits).all(|i| {
            let (byte, bit) = (low.len() - 1 - i / 8, i % 8);
            low[byte] >> bit & 1 == high[byte] >> bit & 1
        });
        if same {
            return prefix(kind, low, bits - host, names);
        }
    }
    let range = vec![value(kind, low, names)?, value(kind, high, names)?];
    Ok(object([("range", Json::array(range))]))
}

pub(super) fn prefix(kind: Kind, addr: &[u8], len: usize, names: &Names) -> Result<Json, String> {
    let addr = value(kind, addr, names)?;
    Ok(object([(
        "prefix",
        object([("addr", addr), ("len", Json::number(len))]),
    )]))
}

/// `icmp type NAME`, as nft names them.
const ICMP_TYPES: [(u8, &str); 15] = [
    (0, "echo-reply"),
    (3, "destination-unreachable"),
    (4, "source-quench"),
    (5, "redirect"),
    (8, "echo-request"),
    (9, "router-advertisement"),
    (10, "router-solicitation"),
    (11, "time-exceeded"),
    (12, "parameter-problem"),
    (13, "timestamp-request"),
    (14, "timestamp-reply"),
    (15, "info-request"),
    (16, "info-reply"),
    (17, "address-mask-request"),
    (18, "address-mask-reply"),
];

/// `icmpv6 type NAME`, as nft names them.
const ICMPV6_TYPES: [(u8, &str); 17] = [
    (1, "destination-unreachable"),
    (2, "packet-too-big"),
    (3, "time-exceeded"),
    (4, "parameter-problem"),
    (128, "echo-request"),
    (129, "echo-reply"),
    (130, "mld-listener-query"),
    (131, "mld-listener-report"),
    (132, "mld-listener-done"),
    (133, "nd-router-solicit"),
    (134, "nd-router-advert"),
    (135, "nd-neighbor-solicit"),
    (136, "nd-neighbor-advert"),
    (137, "nd-redirect"),
    (138, "router-renumbering"),
    (141, "ind-neighbor-solicit"),
    (142, "ind-neighbor-advert"),
];
