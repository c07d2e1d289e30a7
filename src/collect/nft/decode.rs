//! The nftables ruleset's netlink messages → the JSON document `nft -j list ruleset`
//! prints, for the rulesets whose every part we can print exactly as nft does.
//!
//! Pure: bytes in, JSON out; `native` reads the bytes from the kernel. The rule
//! expressions (register code) are turned back into nft's statements in `expr`, and
//! values and set elements printed in `value`.
//!
//! Anything not decoded exactly (a family, a flag, an expression, a register pattern we
//! do not know) is an `Err` naming it, and the caller asks `nft` instead: the firewall
//! stage must see what nft would show it, or nothing of ours.

use std::collections::HashMap;

use super::expr;
use super::value::{self, Json, Kind, SetInfo, object};
use crate::collect::netlink::attributes;

// <linux/netfilter/nf_tables.h>
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_TABLE_HANDLE: u16 = 4;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_HANDLE: u16 = 2;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_CHAIN_FLAGS: u16 = 10;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_HOOK_DEV: u16 = 3;
const NFTA_HOOK_DEVS: u16 = 4;
const NFT_CHAIN_BINDING: u32 = 4;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_COMPAT: u16 = 5;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_HANDLE: u16 = 16;
const NFTA_SET_OBJ_TYPE: u16 = 15;
const NFT_SET_ANONYMOUS: u32 = 0x1;
const NFT_SET_INTERVAL: u32 = 0x4;
const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_OBJECT: u32 = 0x40;
const NFT_SET_CONCAT: u32 = 0x80;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_OBJREF: u16 = 9;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
/// A map's data type when its data are verdicts (NFT_DATA_VERDICT).
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

// Address families (NFPROTO_*), as in nfgenmsg.
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

/// The raw replies of one consistent read of the ruleset, each from its nfgenmsg on.
#[derive(Debug, Default, Clone)]
pub struct Dump {
    pub tables: Vec<Vec<u8>>,
    pub chains: Vec<Vec<u8>>,
    pub sets: Vec<Vec<u8>>,
    /// The NEWSETELEM replies of `sets[i]`, at index i.
    pub elements: Vec<Vec<Vec<u8>>>,
    pub rules: Vec<Vec<u8>>,
    /// Stateful objects and flowtables: nft lists them, and we print none.
    pub others: usize,
}

/// What the messages give only as numbers and nft prints as names from the host.
pub struct Names {
    /// /etc/protocols: number → first name (what getprotobynumber gives nft).
    pub protocols: HashMap<u8, String>,
    /// An interface index's name in the namespace read (if_indextoname).
    pub interface: Box<dyn Fn(u32) -> Option<String>>,
}

#[cfg(test)]
impl Names {
    /// tcp, udp and icmp by name; interface 1 is `lo`.
    pub fn for_tests() -> Names {
        Names {
            protocols: [(1, "icmp"), (6, "tcp"), (17, "udp")]
                .into_iter()
                .map(|(n, s)| (n, s.to_string()))
                .collect(),
            interface: Box::new(|i| (i == 1).then(|| "lo".to_string())),
        }
    }
}

/// A table, set, chain or rule message, split into its family and attributes.
pub(super) struct Message<'a> {
    pub family: u8,
    pub attrs: Vec<(u16, &'a [u8])>,
}

impl<'a> Message<'a> {
    pub fn new(payload: &'a [u8]) -> Result<Message<'a>, String> {
        if payload.len() < 4 {
            return Err(format!("nftables message of {} bytes", payload.len()));
        }
        Ok(Message {
            family: payload[0],
            attrs: attributes(&payload[4..]).collect(),
        })
    }

    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.attrs.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d)
    }

    pub fn text(&self, kind: u16, what: &str) -> Result<String, String> {
        self.get(kind)
            .map(c_string)
            .ok_or_else(|| format!("{what} without a name"))
    }

    pub fn u32(&self, kind: u16) -> Option<u32> {
        self.get(kind).and_then(be32)
    }

    pub fn u64(&self, kind: u16) -> Option<u64> {
        self.get(kind).and_then(be64)
    }
}

/// A NUL-terminated attribute as text.
pub(super) fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

pub(super) fn be32(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

pub(super) fn be64(data: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(..8)?.try_into().ok()?))
}

pub(super) fn family_name(family: u8) -> Result<&'static str, String> {
    match family {
        NFPROTO_INET => Ok("inet"),
        NFPROTO_IPV4 => Ok("ip"),
        NFPROTO_IPV6 => Ok("ip6"),
        other => Err(format!("a table of family {other} (arp, bridge or netdev)")),
    }
}

/// The whole document, or why nft must be asked instead.
pub fn ruleset(dump: &Dump, names: &Names) -> Result<String, String> {
    if dump.others > 0 {
        return Err(format!("{} stateful objects or flowtables", dump.others));
    }
    let mut out = vec![Json::raw(r#"{"metainfo":{"json_schema_version":1}}"#)];
    let tables = dump
        .tables
        .iter()
        .map(|t| table(t))
        .collect::<Result<Vec<_>, _>>()?;
    let chains = dump
        .chains
        .iter()
        .map(|c| chain(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sets = Vec::new();
    for (i, payload) in dump.sets.iter().enumerate() {
        let replies = dump.elements.get(i).map_or(&[][..], Vec::as_slice);
        sets.push(set(payload, replies, names)?);
    }
    let mut rules = Vec::new();
    for payload in &dump.rules {
        rules.push(rule(payload, &sets, names)?);
    }
    // nft's order: per table, the table, its named sets and maps, its chains, its rules.
    for (family, name, body) in tables {
        out.push(object([("table", body)]));
        let mine = |f: &str, t: &str| f == family && t == name;
        for s in sets
            .iter()
            .filter(|s| mine(&s.family, &s.table) && !s.anonymous)
        {
            out.push(s.json());
        }
        for (f, t, body) in &chains {
            if mine(f, t) {
                out.push(object([("chain", body.clone())]));
            }
        }
        for (f, t, body) in &rules {
            if mine(f, t) {
                out.push(object([("rule", body.clone())]));
            }
        }
    }
    Ok(object([("nftables", Json::array(out))]).into_string())
}

fn table(payload: &[u8]) -> Result<(String, String, Json), String> {
    let m = Message::new(payload)?;
    let family = family_name(m.family)?;
    let name = m.text(NFTA_TABLE_NAME, "a table")?;
    let handle = m.u64(NFTA_TABLE_HANDLE).unwrap_or(0);
    let mut body = vec![
        ("family", Json::string(family)),
        ("name", Json::string(&name)),
        ("handle", Json::number(handle)),
    ];
    // Named exactly (nft 1.0.6 prints a dormant table's flags garbled): a dormant
    // table's chains filter nothing, and the firewall stage must know it.
    let flags = m.u32(NFTA_TABLE_FLAGS).unwrap_or(0);
    if flags != 0 {
        let known = [(1, "dormant"), (2, "owner"), (4, "persist")];
        if flags & !known.iter().fold(0, |all, (bit, _)| all | bit) != 0 {
            return Err(format!("table {name} has flags {flags:#x}"));
        }
        let names = known
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, name)| Json::string(name))
            .collect();
        body.push(("flags", Json::array(names)));
    }
    Ok((family.to_string(), name, object(body)))
}

fn chain(payload: &[u8]) -> Result<(String, String, Json), String> {
    let m = Message::new(payload)?;
    let family = family_name(m.family)?;
    let table = m.text(NFTA_CHAIN_TABLE, "a chain's table")?;
    let name = m.text(NFTA_CHAIN_NAME, "a chain")?;
    if m.u32(NFTA_CHAIN_FLAGS).unwrap_or(0) & NFT_CHAIN_BINDING != 0 {
        return Err(format!("chain {name} is an anonymous (bound) chain"));
    }
    let mut body = vec![
        ("family", Json::string(family)),
        ("table", Json::string(&table)),
        ("name", Json::string(&name)),
        (
            "handle",
            Json::number(m.u64(NFTA_CHAIN_HANDLE).unwrap_or(0)),
        ),
    ];
    if let Some(hook) = m.get(NFTA_CHAIN_HOOK) {
        let hook: Vec<(u16, &[u8])> = attributes(hook).collect();
        let get = |k| hook.iter().find(|(kind, _)| *kind == k).map(|(_, d)| *d);
        if get(NFTA_HOOK_DEV).is_some() || get(NFTA_HOOK_DEVS).is_some() {
            return Err(format!("chain {name} hooks a device"));
        }
        let number = get(NFTA_HOOK_HOOKNUM)
            .and_then(be32)
            .ok_or_else(|| format!("chain {name} without a hook number"))?;
        let hook_name = match number {
            0 => "prerouting",
            1 => "input",
            2 => "forward",
            3 => "output",
            4 => "postrouting",
            other => return Err(format!("chain {name} on hook {other}")),
        };
        let prio = get(NFTA_HOOK_PRIORITY)
            .and_then(be32)
            .ok_or_else(|| format!("chain {name} without a priority"))? as i32;
        let kind = m.text(NFTA_CHAIN_TYPE, "a base chain's type")?;
        let policy = match m.u32(NFTA_CHAIN_POLICY) {
            Some(0) => "drop",
            Some(1) => "accept",
            other => return Err(format!("chain {name} with policy {other:?}")),
        };
        body.extend([
            ("type", Json::string(&kind)),
            ("hook", Json::string(hook_name)),
            ("prio", Json::number(prio)),
            ("policy", Json::string(policy)),
        ]);
    }
    Ok((family.to_string(), table, object(body)))
}

/// One set or map with its elements, decoded.
pub(super) struct Set {
    pub family: String,
    pub table: String,
    pub name: String,
    pub handle: u64,
    pub anonymous: bool,
    /// A verdict map (`vmap`): elements are `[key, verdict]`.
    pub verdicts: bool,
    /// The declared key type, when one the reader prints.
    pub kind: Option<value::Kind>,
    pub info: SetInfo,
}

impl Set {
    fn json(&self) -> Json {
        let mut body = vec![
            ("family", Json::string(&self.family)),
            ("name", Json::string(&self.name)),
            ("table", Json::string(&self.table)),
            ("handle", Json::number(self.handle)),
        ];
        // What the typed builder needs to encode the elements, as nft prints it.
        if let Some(kind) = self.kind {
            body.push(("type", Json::string(kind.type_name())));
        }
        if self.verdicts {
            body.push(("map", Json::string("verdict")));
        }
        if self.info.interval {
            body.push(("flags", Json::array(vec![Json::string("interval")])));
        }
        if let Some(elements) = &self.info.elements
            && !elements.is_empty()
        {
            body.push(("elem", Json::array(elements.clone())));
        }
        let key = if self.verdicts { "map" } else { "set" };
        object([(key, object(body))])
    }
}

fn set(payload: &[u8], replies: &[Vec<u8>], names: &Names) -> Result<Set, String> {
    let m = Message::new(payload)?;
    let family = family_name(m.family)?;
    let table = m.text(NFTA_SET_TABLE, "a set's table")?;
    let name = m.text(NFTA_SET_NAME, "a set")?;
    let flags = m.u32(NFTA_SET_FLAGS).unwrap_or(0);
    if flags & (NFT_SET_OBJECT | NFT_SET_CONCAT) != 0 || m.get(NFTA_SET_OBJ_TYPE).is_some() {
        return Err(format!("set {name} holds objects or concatenations"));
    }
    let verdicts = flags & NFT_SET_MAP != 0;
    if verdicts && m.u32(NFTA_SET_DATA_TYPE) != Some(NFT_DATA_VERDICT) {
        return Err(format!("map {name} maps to data, not verdicts"));
    }
    let key_type = m.u32(NFTA_SET_KEY_TYPE).unwrap_or(0);
    let key_len = m.u32(NFTA_SET_KEY_LEN).unwrap_or(0) as usize;
    let kind = Kind::of_set_type(key_type);
    let interval = flags & NFT_SET_INTERVAL != 0;
    let mut raw = Vec::new();
    for reply in replies {
        let r = Message::new(reply)?;
        if r.get(NFTA_SET_ELEM_LIST_SET).map(c_string).as_deref() != Some(name.as_str()) {
            continue;
        }
        let Some(list) = r.get(NFTA_SET_ELEM_LIST_ELEMENTS) else {
            continue;
        };
        for (kind, elem) in attributes(list) {
            if kind == NFTA_LIST_ELEM {
                raw.push(element(elem, &name)?);
            }
        }
    }
    // Anonymous sets are printed inside their rule, where the key's kind is known from
    // the expression looked up; a named set's comes from its declared type.
    let elements = match kind {
        Some(kind) => Some(value::elements(kind, &raw, interval, names)?),
        None if flags & NFT_SET_ANONYMOUS != 0 => None,
        None => return Err(format!("set {name} of key type {key_type}")),
    };
    Ok(Set {
        family: family.to_string(),
        table,
        name,
        handle: m.u64(NFTA_SET_HANDLE).unwrap_or(0),
        anonymous: flags & NFT_SET_ANONYMOUS != 0,
        verdicts,
        kind,
        info: SetInfo {
            key_len,
            raw,
            interval,
            elements,
        },
    })
}

/// One element: key bytes, interval-end flag, and for a verdict map its verdict.
#[derive(Debug, Clone)]
pub(super) struct Element {
    pub key: Vec<u8>,
    pub end: bool,
    pub verdict: Option<Json>,
}

fn element(elem: &[u8], set: &str) -> Result<Element, String> {
    let mut key = None;
    let mut end = false;
    let mut verdict = None;
    for (kind, data) in attributes(elem) {
        match kind {
            NFTA_SET_ELEM_KEY => key = Some(value::data_value(data)?),
            NFTA_SET_ELEM_FLAGS => {
                let flags = be32(data).unwrap_or(0);
                if flags & !NFT_SET_ELEM_INTERVAL_END != 0 {
                    return Err(format!("set {set} has a catch-all element"));
                }
                end = flags & NFT_SET_ELEM_INTERVAL_END != 0;
            }
            NFTA_SET_ELEM_DATA => verdict = Some(value::data_verdict(data)?),
            NFTA_SET_ELEM_KEY_END | NFTA_SET_ELEM_OBJREF => {
                return Err(format!("set {set} has range or object elements"));
            }
            // Timeouts, expirations, comments, counters: nft prints them beside the
            // value, which is all the firewall stage reads.
            _ => {}
        }
    }
    Ok(Element {
        key: key.unwrap_or_default(),
        end,
        verdict,
    })
}

fn rule(payload: &[u8], sets: &[Set], names: &Names) -> Result<(String, String, Json), String> {
    let m = Message::new(payload)?;
    let family = family_name(m.family)?;
    let table = m.text(NFTA_RULE_TABLE, "a rule's table")?;
    let chain = m.text(NFTA_RULE_CHAIN, "a rule's chain")?;
    let handle = m.u64(NFTA_RULE_HANDLE).unwrap_or(0);
    if m.get(NFTA_RULE_COMPAT).is_some() {
        return Err(format!("rule {handle} in {chain} is an iptables-nft rule"));
    }
    let table_sets: HashMap<&str, &Set> = sets
        .iter()
        .filter(|s| s.family == family && s.table == table)
        .map(|s| (s.name.as_str(), s))
        .collect();
    let exprs = match m.get(NFTA_RULE_EXPRESSIONS) {
        Some(list) => expr::rule(m.family, list, &table_sets, names)
            .map_err(|why| format!("rule {handle} in {family} {table} {chain}: {why}"))?,
        None => Vec::new(),
    };
    let body = object([
        ("family", Json::string(family)),
        ("table", Json::string(&table)),
        ("chain", Json::string(&chain)),
        ("handle", Json::number(handle)),
        ("expr", Json::array(exprs)),
    ]);
    Ok((family.to_string(), table, body))
}
