//! A rule's register code (payload/meta/ct loads, cmp, bitwise, lookup, immediate, nat,
//! ...) back into the statements nft prints: `{"match": {"op": "==", "left": {"payload":
//! {"protocol": "tcp", "field": "dport"}}, "right": 22}}`.
//!
//! As nft does, the protocol matches it adds in front of a header field (`meta nfproto
//! ipv4` before `ip saddr`, `meta l4proto tcp` before `tcp dport`) are not printed: they
//! tell which header the load reads. Any other shape is an `Err`.

use std::collections::HashMap;

use super::decode::{NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6, Names, Set, be32, be64, c_string};
use super::value::{
    Json, Kind, ct_bits, data_value, data_verdict, elements, object, prefix, value,
};
use crate::collect::netlink::attributes;

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;

/// What a register holds.
#[derive(Clone)]
enum Reg {
    Load(Left),
    Masked(Left, Vec<u8>),
    Data(Vec<u8>),
}

/// A loaded expression: its JSON, its kind, the bytes loaded and the field's full size
/// (fewer: an address prefix), and which protocol context a `==` on it gives.
#[derive(Clone)]
struct Left {
    json: Json,
    kind: Kind,
    len: usize,
    field_len: usize,
    gives: Option<Layer>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Network,
    Transport,
}

/// A statement so far: a match stays in parts, for nft's folding of `>=` and `<=`.
enum Stmt {
    Match {
        op: &'static str,
        left: Json,
        right: Json,
    },
    Other(Json),
}

impl Stmt {
    fn into_json(self) -> Json {
        match self {
            Stmt::Match { op, left, right } => object([(
                "match",
                object([("op", Json::string(op)), ("left", left), ("right", right)]),
            )]),
            Stmt::Other(json) => json,
        }
    }
}

struct Decoder<'a> {
    family: u8,
    sets: &'a HashMap<&'a str, &'a Set>,
    names: &'a Names,
    regs: HashMap<u32, Reg>,
    stmts: Vec<Option<Stmt>>,
    /// The network protocol (NFPROTO_*) and transport protocol (IPPROTO_*) known so far.
    l3: Option<u8>,
    l4: Option<u8>,
    /// The statements that gave them, not printed once a header load relies on them.
    l3_dep: Option<usize>,
    l4_dep: Option<usize>,
}

/// The statements of one rule (NFTA_RULE_EXPRESSIONS).
pub(super) fn rule(
    family: u8,
    list: &[u8],
    sets: &HashMap<&str, &Set>,
    names: &Names,
) -> Result<Vec<Json>, String> {
    let mut d = Decoder {
        family,
        sets,
        names,
        regs: HashMap::new(),
        stmts: Vec::new(),
        l3: match family {
            NFPROTO_IPV4 | NFPROTO_IPV6 => Some(family),
            _ => None,
        },
        l4: None,
        l3_dep: None,
        l4_dep: None,
    };
    for (kind, elem) in attributes(list) {
        if kind != NFTA_LIST_ELEM {
            return Err(format!("expression list attribute {kind}"));
        }
        let mut name = None;
        let mut data: &[u8] = &[];
        for (k, v) in attributes(elem) {
            match k {
                NFTA_EXPR_NAME => name = Some(c_string(v)),
                NFTA_EXPR_DATA => data = v,
                _ => {}
            }
        }
        let name = name.ok_or("an expression without a name")?;
        let attrs: Vec<(u16, &[u8])> = attributes(data).collect();
        d.expression(&name, &Attrs(attrs))?;
    }
    Ok(d.stmts.into_iter().flatten().map(Stmt::into_json).collect())
}

struct Attrs<'a>(Vec<(u16, &'a [u8])>);

impl<'a> Attrs<'a> {
    fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.0.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d)
    }
    fn u32(&self, kind: u16) -> Option<u32> {
        self.get(kind).and_then(be32)
    }
    fn need(&self, kind: u16, what: &str) -> Result<u32, String> {
        self.u32(kind)
            .ok_or_else(|| format!("{what} without attribute {kind}"))
    }
    /// Only these attribute types are present: anything else is an option we do not print.
    fn only(&self, allowed: &[u16], what: &str) -> Result<(), String> {
        match self.0.iter().find(|(k, _)| !allowed.contains(k)) {
            Some((k, _)) => Err(format!("{what} with attribute {k}")),
            None => Ok(()),
        }
    }
}

fn op_name(op: u32) -> Result<&'static str, String> {
    Ok(match op {
        0 => "==",
        1 => "!=",
        2 => "<",
        3 => "<=",
        4 => ">",
        5 => ">=",
        other => return Err(format!("cmp op {other}")),
    })
}

impl Decoder<'_> {
    fn push(&mut self, stmt: Stmt) -> usize {
        // A statement other than a match (a counter, a log) between a protocol match and
        // the header load keeps nft from dropping the protocol match.
        if matches!(stmt, Stmt::Other(_)) {
            self.l3_dep = None;
            self.l4_dep = None;
        }
        self.stmts.push(Some(stmt));
        self.stmts.len() - 1
    }

    fn load(&self, reg: u32, what: &str) -> Result<Left, String> {
        match self.regs.get(&reg) {
            Some(Reg::Load(left)) if left.len == left.field_len => Ok(left.clone()),
            _ => Err(format!("{what} of register {reg} we cannot name")),
        }
    }

    fn data(&self, reg: Option<u32>) -> Result<Option<Vec<u8>>, String> {
        match reg {
            None => Ok(None),
            Some(r) => match self.regs.get(&r) {
                Some(Reg::Data(d)) => Ok(Some(d.clone())),
                _ => Err(format!(
                    "a statement reading register {r} that holds no value"
                )),
            },
        }
    }

    fn matched(&mut self, op: &'static str, left: Json, right: Json) -> usize {
        // nft writes `dport 1000-2000` as `>= 1000` then `<= 2000`, and prints the pair
        // back as the range.
        if op == "<="
            && let Some(Some(Stmt::Match {
                op: previous_op,
                left: previous_left,
                right: low,
            })) = self.stmts.last_mut()
            && *previous_op == ">="
            && *previous_left == left
        {
            let from = std::mem::replace(low, Json::raw("null"));
            *low = object([("range", Json::array(vec![from, right]))]);
            *previous_op = "==";
            return self.stmts.len() - 1;
        }
        self.push(Stmt::Match { op, left, right })
    }

    fn expression(&mut self, name: &str, a: &Attrs) -> Result<(), String> {
        match name {
            "payload" => {
                a.only(&[1, 2, 3, 4], "payload")?;
                let dreg = a.need(1, "payload")?;
                let left = self.payload(
                    a.need(2, "payload")?,
                    a.need(3, "payload")?,
                    a.need(4, "payload")?,
                )?;
                self.regs.insert(dreg, Reg::Load(left));
            }
            "meta" => {
                a.only(&[1, 2], "meta (set)")?;
                let (key, kind, gives) = match a.need(2, "meta")? {
                    3 => ("mark", Kind::Mark, None),
                    4 => ("iif", Kind::IfIndex, None),
                    5 => ("oif", Kind::IfIndex, None),
                    6 => ("iifname", Kind::IfName, None),
                    7 => ("oifname", Kind::IfName, None),
                    15 => ("nfproto", Kind::NfProto, Some(Layer::Network)),
                    16 => ("l4proto", Kind::InetProto, Some(Layer::Transport)),
                    other => return Err(format!("meta key {other}")),
                };
                let len = match kind {
                    Kind::IfName => 16,
                    Kind::NfProto | Kind::InetProto => 1,
                    _ => 4,
                };
                let left = Left {
                    json: object([("meta", object([("key", Json::string(key))]))]),
                    kind,
                    len,
                    field_len: len,
                    gives,
                };
                self.regs.insert(a.need(1, "meta")?, Reg::Load(left));
            }
            "ct" => {
                a.only(&[1, 2], "ct (direction or set)")?;
                let (key, kind) = match a.need(2, "ct")? {
                    0 => ("state", Kind::CtState),
                    2 => ("status", Kind::CtStatus),
                    other => return Err(format!("ct key {other}")),
                };
                let left = Left {
                    json: object([("ct", object([("key", Json::string(key))]))]),
                    kind,
                    len: 4,
                    field_len: 4,
                    gives: None,
                };
                self.regs.insert(a.need(1, "ct")?, Reg::Load(left));
            }
            "fib" => {
                a.only(&[1, 2, 3], "fib")?;
                if a.need(2, "fib")? != 3 {
                    return Err("fib result other than type".into());
                }
                let flags = a.need(3, "fib")?;
                let all = [
                    (1, "saddr"),
                    (2, "daddr"),
                    (4, "mark"),
                    (8, "iif"),
                    (16, "oif"),
                ];
                if flags & !31 != 0 {
                    return Err(format!("fib flags {flags:#x}"));
                }
                let names: Vec<Json> = all
                    .iter()
                    .filter(|(bit, _)| flags & bit != 0)
                    .map(|(_, n)| Json::string(n))
                    .collect();
                let fib = object([
                    ("result", Json::string("type")),
                    ("flags", Json::array(names)),
                ]);
                let left = Left {
                    json: object([("fib", fib)]),
                    kind: Kind::FibType,
                    len: 4,
                    field_len: 4,
                    gives: None,
                };
                self.regs.insert(a.need(1, "fib")?, Reg::Load(left));
            }
            "bitwise" => {
                a.only(&[1, 2, 3, 4, 5, 6], "bitwise")?;
                if a.u32(6).unwrap_or(0) != 0 {
                    return Err("a bitwise shift".into());
                }
                let (sreg, dreg) = (a.need(1, "bitwise")?, a.need(2, "bitwise")?);
                let mask = data_value(a.get(4).ok_or("bitwise without a mask")?)?;
                let xor = data_value(a.get(5).ok_or("bitwise without xor")?)?;
                if xor.iter().any(|&b| b != 0) {
                    return Err("a bitwise xor".into());
                }
                let left = self.load(sreg, "bitwise")?;
                self.regs.insert(dreg, Reg::Masked(left, mask));
            }
            "cmp" => {
                a.only(&[1, 2, 3], "cmp")?;
                let sreg = a.need(1, "cmp")?;
                let op = op_name(a.need(2, "cmp")?)?;
                let data = data_value(a.get(3).ok_or("cmp without data")?)?;
                self.cmp(sreg, op, &data)?;
            }
            "range" => {
                a.only(&[1, 2, 3, 4], "range")?;
                let left = self.load(a.need(1, "range")?, "range")?;
                let op = op_name(a.need(2, "range")?)?;
                if op != "==" && op != "!=" {
                    return Err(format!("range op {op}"));
                }
                let from = data_value(a.get(3).ok_or("range without start")?)?;
                let to = data_value(a.get(4).ok_or("range without end")?)?;
                let (from, to) = (
                    value(left.kind, &from, self.names)?,
                    value(left.kind, &to, self.names)?,
                );
                let range = object([("range", Json::array(vec![from, to]))]);
                self.matched(op, left.json, range);
            }
            "lookup" => self.lookup(a)?,
            "immediate" => {
                a.only(&[1, 2], "immediate")?;
                let dreg = a.need(1, "immediate")?;
                let data = a.get(2).ok_or("immediate without data")?;
                if dreg == 0 {
                    let verdict = data_verdict(data)?;
                    self.push(Stmt::Other(verdict));
                } else {
                    self.regs.insert(dreg, Reg::Data(data_value(data)?));
                }
            }
            "counter" => {
                a.only(&[1, 2, 3], "counter")?;
                let bytes = a.get(1).and_then(be64).unwrap_or(0);
                let packets = a.get(2).and_then(be64).unwrap_or(0);
                let counter = object([
                    ("packets", Json::number(packets)),
                    ("bytes", Json::number(bytes)),
                ]);
                self.push(Stmt::Other(object([("counter", counter)])));
            }
            "nat" => self.nat(a)?,
            "masq" => {
                a.only(&[], "masquerade")?;
                self.push(Stmt::Other(Json::raw(r#"{"masquerade":null}"#)));
            }
            "redir" => {
                a.only(&[], "redirect")?;
                self.push(Stmt::Other(Json::raw(r#"{"redirect":null}"#)));
            }
            "notrack" => {
                a.only(&[], "notrack")?;
                self.push(Stmt::Other(Json::raw(r#"{"notrack":null}"#)));
            }
            "limit" => {
                a.only(&[1, 2, 3, 4, 5, 6], "limit")?;
                if a.u32(4).unwrap_or(0) != 0 || a.u32(5).unwrap_or(0) != 0 {
                    return Err("a byte or inverted limit".into());
                }
                let rate = a.get(1).and_then(be64).ok_or("limit without rate")?;
                let unit = match a.get(2).and_then(be64) {
                    Some(1) => "second",
                    Some(60) => "minute",
                    Some(3600) => "hour",
                    Some(86400) => "day",
                    Some(604800) => "week",
                    other => return Err(format!("limit unit {other:?}")),
                };
                let burst = a.u32(3).unwrap_or(0);
                let limit = object([
                    ("rate", Json::number(rate)),
                    ("burst", Json::number(burst)),
                    ("per", Json::string(unit)),
                ]);
                self.push(Stmt::Other(object([("limit", limit)])));
            }
            "reject" => {
                a.only(&[1, 2], "reject")?;
                let code = a.get(2).and_then(|c| c.first().copied());
                let stmt = match (a.need(1, "reject")?, code) {
                    (1, _) => Json::raw(r#"{"type":"tcp reset"}"#),
                    (2, Some(code)) => {
                        let name = match code {
                            0 => "no-route",
                            1 => "port-unreachable",
                            2 => "host-unreachable",
                            3 => "admin-prohibited",
                            other => return Err(format!("icmpx code {other}")),
                        };
                        object([
                            ("type", Json::string("icmpx")),
                            ("expr", Json::string(name)),
                        ])
                    }
                    (0, Some(code)) => {
                        let (kind, names): (&str, &[(u8, &str)]) = match self.family {
                            NFPROTO_IPV4 => ("icmp", &ICMP_CODES),
                            NFPROTO_IPV6 => ("icmpv6", &ICMPV6_CODES),
                            _ => return Err("reject with an icmp type in an inet table".into()),
                        };
                        let name = names
                            .iter()
                            .find(|(c, _)| *c == code)
                            .ok_or_else(|| format!("{kind} code {code}"))?
                            .1;
                        object([("type", Json::string(kind)), ("expr", Json::string(name))])
                    }
                    (kind, code) => return Err(format!("reject type {kind} code {code:?}")),
                };
                self.push(Stmt::Other(object([("reject", stmt)])));
            }
            "log" => {
                // Level 4 (warn) is nft's default, which it does not print.
                a.only(&[2, 5], "log (group, flags)")?;
                if a.u32(5).is_some_and(|level| level != 4) {
                    return Err("log with a level".into());
                }
                let stmt = match a.get(2) {
                    Some(prefix) => {
                        object([("log", object([("prefix", Json::string(&c_string(prefix)))]))])
                    }
                    None => Json::raw(r#"{"log":null}"#),
                };
                self.push(Stmt::Other(stmt));
            }
            other => return Err(format!("expression {other}")),
        }
        Ok(())
    }

    /// A header field: which protocol's, from the table's family and the protocol
    /// matches before it (which then are not printed).
    fn payload(&mut self, base: u32, offset: u32, len: u32) -> Result<Left, String> {
        let (offset, len) = (offset as usize, len as usize);
        let (protocol, field, kind, field_len, gives) = match base {
            1 => {
                let l3 = self.l3.ok_or("a network header field without nfproto")?;
                if self.family == NFPROTO_INET
                    && let Some(dep) = self.l3_dep.take()
                {
                    self.stmts[dep] = None;
                }
                match (l3, offset) {
                    (NFPROTO_IPV4, 9) => {
                        ("ip", "protocol", Kind::InetProto, 1, Some(Layer::Transport))
                    }
                    (NFPROTO_IPV4, 12) => ("ip", "saddr", Kind::Ipv4, 4, None),
                    (NFPROTO_IPV4, 16) => ("ip", "daddr", Kind::Ipv4, 4, None),
                    (NFPROTO_IPV6, 6) => {
                        ("ip6", "nexthdr", Kind::InetProto, 1, Some(Layer::Transport))
                    }
                    (NFPROTO_IPV6, 8) => ("ip6", "saddr", Kind::Ipv6, 16, None),
                    (NFPROTO_IPV6, 24) => ("ip6", "daddr", Kind::Ipv6, 16, None),
                    _ => return Err(format!("network header field at {offset}")),
                }
            }
            2 => {
                let protocol = match self.l4 {
                    Some(6) => "tcp",
                    Some(17) => "udp",
                    Some(1) => "icmp",
                    Some(58) => "icmpv6",
                    // No protocol match before it: `th dport`, any transport header.
                    None => "th",
                    other => return Err(format!("a transport header field of protocol {other:?}")),
                };
                if let Some(dep) = self.l4_dep.take() {
                    self.stmts[dep] = None;
                }
                // icmp implies IPv4 and icmpv6 IPv6: nft adds `meta nfproto` before them
                // in an inet table, and does not print it either.
                let family = match protocol {
                    "icmp" => Some(NFPROTO_IPV4),
                    "icmpv6" => Some(NFPROTO_IPV6),
                    _ => None,
                };
                if family.is_some()
                    && family == self.l3
                    && let Some(dep) = self.l3_dep.take()
                {
                    self.stmts[dep] = None;
                }
                match (protocol, offset) {
                    ("tcp" | "udp" | "th", 0) => (protocol, "sport", Kind::Port, 2, None),
                    ("tcp" | "udp" | "th", 2) => (protocol, "dport", Kind::Port, 2, None),
                    ("icmp", 0) => (protocol, "type", Kind::IcmpType, 1, None),
                    ("icmpv6", 0) => (protocol, "type", Kind::Icmpv6Type, 1, None),
                    _ => return Err(format!("{protocol} header field at {offset}")),
                }
            }
            other => return Err(format!("payload base {other}")),
        };
        let prefix_ok = kind.address() && len > 0 && len < field_len;
        if len != field_len && !prefix_ok {
            return Err(format!("{protocol} {field} loaded as {len} bytes"));
        }
        Ok(Left {
            json: object([(
                "payload",
                object([
                    ("protocol", Json::string(protocol)),
                    ("field", Json::string(field)),
                ]),
            )]),
            kind,
            len,
            field_len,
            gives,
        })
    }

    fn cmp(&mut self, sreg: u32, op: &'static str, data: &[u8]) -> Result<(), String> {
        match self.regs.get(&sreg).cloned() {
            Some(Reg::Load(left)) if left.len < left.field_len => {
                // A byte-aligned prefix: nft loads only its bytes.
                if op != "==" && op != "!=" || data.len() != left.len {
                    return Err(format!("a prefix compared with {op}"));
                }
                let mut addr = data.to_vec();
                addr.resize(left.field_len, 0);
                let right = prefix(left.kind, &addr, left.len * 8, self.names)?;
                self.matched(op, left.json, right);
            }
            Some(Reg::Load(left)) => {
                if !matches!(op, "==" | "!=") && !matches!(left.kind, Kind::Port | Kind::Mark) {
                    return Err(format!("{:?} compared with {op}", left.kind));
                }
                let right = value(left.kind, data, self.names)?;
                let header = left.json.as_str().starts_with(r#"{"payload""#);
                let at = self.matched(op, left.json, right);
                if op == "==" {
                    match (left.gives, data) {
                        (Some(Layer::Network), [p]) => {
                            self.l3 = Some(*p);
                            self.l3_dep = Some(at);
                        }
                        (Some(Layer::Transport), [p]) => {
                            self.l4 = Some(*p);
                            // In an inet table `ip protocol tcp` also says IPv4: nft
                            // prints it even before `tcp dport`.
                            self.l4_dep = if header && self.family == NFPROTO_INET {
                                None
                            } else {
                                Some(at)
                            };
                        }
                        _ => {}
                    }
                }
            }
            Some(Reg::Masked(left, mask)) => {
                if matches!(left.kind, Kind::CtState | Kind::CtStatus) {
                    let mask: [u8; 4] = mask.as_slice().try_into().map_err(|_| "ct mask size")?;
                    if op != "!=" || data.iter().any(|&b| b != 0) {
                        return Err("a ct state test other than `in`".into());
                    }
                    let states = ct_bits(left.kind, u32::from_ne_bytes(mask))?;
                    let right = match states.as_slice() {
                        [one] => Json::string(one),
                        many => Json::array(many.iter().map(|s| Json::string(s)).collect()),
                    };
                    self.matched("in", left.json, right);
                } else if left.kind.address() && matches!(op, "==" | "!=") {
                    let len = prefix_len(&mask).ok_or("a mask that is no prefix")?;
                    if data.len() != mask.len() {
                        return Err("a masked value of another size".into());
                    }
                    let right = prefix(left.kind, data, len, self.names)?;
                    self.matched(op, left.json, right);
                } else {
                    return Err(format!("a masked {:?}", left.kind));
                }
            }
            _ => return Err(format!("cmp of register {sreg} we cannot name")),
        }
        Ok(())
    }

    fn lookup(&mut self, a: &Attrs) -> Result<(), String> {
        a.only(&[1, 2, 3, 4, 5], "lookup")?;
        let name = c_string(a.get(1).ok_or("lookup without a set")?);
        let left = self.load(a.need(2, "lookup")?, "lookup")?;
        let inverted = a.u32(5).unwrap_or(0) & 1 != 0;
        let set = *self
            .sets
            .get(name.as_str())
            .ok_or_else(|| format!("lookup in unknown set {name}"))?;
        if set.info.key_len != left.len {
            return Err(format!("a lookup of {} bytes in {name}", left.len));
        }
        let right = if set.anonymous {
            let elements = elements(left.kind, &set.info.raw, set.info.interval, self.names)?;
            object([("set", Json::array(elements))])
        } else {
            Json::string(&format!("@{name}"))
        };
        match a.u32(3) {
            None if !set.verdicts => {
                self.matched(if inverted { "!=" } else { "==" }, left.json, right);
            }
            Some(0) if set.verdicts && !inverted => {
                let body = object([("key", left.json), ("data", right)]);
                self.push(Stmt::Other(object([("vmap", body)])));
            }
            _ => return Err(format!("a map lookup in {name}")),
        }
        Ok(())
    }

    fn nat(&mut self, a: &Attrs) -> Result<(), String> {
        a.only(&[1, 2, 3, 4, 5, 6, 7], "nat")?;
        let kind = match a.need(1, "nat")? {
            0 => "snat",
            1 => "dnat",
            other => return Err(format!("nat type {other}")),
        };
        let flags = a.u32(7).unwrap_or(0);
        if flags & !0x3 != 0 {
            return Err(format!("nat flags {flags:#x}"));
        }
        let same = |min: u16, max: u16| match (a.u32(min), a.u32(max)) {
            (min, None) => Ok(min),
            (Some(min), Some(max)) if min == max => Ok(Some(min)),
            _ => Err(format!("{kind} to a range")),
        };
        let addr = self
            .data(same(3, 4)?)?
            .ok_or_else(|| format!("{kind} without an address"))?;
        let port = self.data(same(5, 6)?)?;
        let (family, address) = match (a.need(2, "nat")? as u8, addr.len()) {
            (NFPROTO_IPV4, 4) => ("ip", value(Kind::Ipv4, &addr, self.names)?),
            (NFPROTO_IPV6, 16) => ("ip6", value(Kind::Ipv6, &addr, self.names)?),
            (f, n) => return Err(format!("{kind} family {f} address of {n} bytes")),
        };
        let family = (self.family == NFPROTO_INET).then(|| ("family", Json::string(family)));
        let port = match port {
            Some(port) => Some(("port", value(Kind::Port, &port, self.names)?)),
            None => None,
        };
        let body = object(family.into_iter().chain([("addr", address)]).chain(port));
        self.push(Stmt::Other(object([(kind, body)])));
        Ok(())
    }
}

/// `reject with icmp type NAME` in ip tables, by code.
const ICMP_CODES: [(u8, &str); 7] = [
    (0, "net-unreachable"),
    (1, "host-unreachable"),
    (2, "prot-unreachable"),
    (3, "port-unreachable"),
    (9, "net-prohibited"),
    (10, "host-prohibited"),
    (13, "admin-prohibited"),
];

/// `reject with icmpv6 type NAME` in ip6 tables, by code.
const ICMPV6_CODES: [(u8, &str); 6] = [
    (0, "no-route"),
    (1, "admin-prohibited"),
    (3, "addr-unreachable"),
    (4, "port-unreachable"),
    (5, "policy-fail"),
    (6, "reject-route"),
];

/// The length of a contiguous prefix mask (`ff ff f0 00` → 20); None for other masks.
fn prefix_len(mask: &[u8]) -> Option<usize> {
    let mut len = 0;
    for (i, byte) in mask.iter().enumerate() {
        let n = byte.leading_ones() as usize;
        len += n;
        if n < 8 {
            let rest_zero = byte.checked_shl(n as u32).unwrap_or(0) == 0
                && mask[i + 1..].iter().all(|&b| b == 0);
            return rest_zero.then_some(len);
        }
    }
    Some(len)
}
