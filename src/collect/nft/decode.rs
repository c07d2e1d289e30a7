//! nf_tables' netlink messages (tables, chains, sets and their elements, rules) as the
//! typed [`Ruleset`]. Pure: bytes in, model out; `native` reads the bytes from the
//! kernel, the tests from captured dumps.
//!
//! The messages come in the kernel's dump order (tables, chains, sets, each set's
//! elements, rules) and are fed one at a time, so a large ruleset is never held twice:
//! a rule's bytes are decoded into steps (`expr`, `xt`) as it arrives. A message that
//! cannot be placed (a chain of a table not seen, a table without a name) is an error
//! for the whole read; an expression that cannot be decoded only marks its own rule.

use std::collections::HashMap;

use super::expr::{self, Context, SetElements, SetView};
use super::value;
use crate::collect::nlmsg::{
    Attrs, NFPROTO_ARP, NFPROTO_BRIDGE, NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6, NFPROTO_NETDEV,
    attributes, messages,
};
use crate::ruleset::{
    BaseChain, Chain, ChainKind, Dormant, Element, Hook, Policy, Rule, Ruleset, Set, Table,
    TableFamily,
};

// Message types, NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEW* (<linux/netfilter/nf_tables.h>).
pub const NEWTABLE: u16 = 0x0a00;
pub const NEWCHAIN: u16 = 0x0a03;
pub const NEWRULE: u16 = 0x0a06;
pub const NEWSET: u16 = 0x0a09;
pub const NEWSETELEM: u16 = 0x0a0c;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFT_TABLE_F_DORMANT: u32 = 0x1;

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_HOOK_DEV: u16 = 3;
const NFTA_HOOK_DEVS: u16 = 4;

const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;

const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_OBJ_TYPE: u16 = 15;
const NFTA_SET_DESC_CONCAT: u16 = 2;
const NFTA_SET_FIELD_LEN: u16 = 1;
const NFT_SET_ANONYMOUS: u32 = 0x1;
const NFT_SET_INTERVAL: u32 = 0x4;
const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_EVAL: u32 = 0x20;
const NFT_SET_OBJECT: u32 = 0x40;
/// NFT_DATA_VALUE_MAXLEN: the longest key or data the kernel holds.
const MAX_VALUE: usize = 64;
/// A map's data type when its data are verdicts.
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;

/// How much of a ruleset was read natively: rules, and rules with a step the decoder
/// could not name (an opaque expression, or a test of something it does not know).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    pub rules: usize,
    pub undecoded: usize,
}

/// Builds the model from messages fed in the kernel's dump order.
#[derive(Default)]
pub struct Builder {
    tables: Vec<Table>,
    /// (family, name) → index in `tables`.
    table_index: HashMap<(u8, Box<[u8]>), usize>,
    table_family: Vec<u8>,
    /// Per table: chain name → index in its `chains`.
    chain_index: Vec<HashMap<Box<[u8]>, usize>>,
    /// Per table: its sets by name.
    sets: Vec<HashMap<Box<[u8]>, SetEntry>>,
    coverage: Coverage,
}

/// A set as the rules see it, while the ruleset is read.
struct SetEntry {
    name: String,
    flags: u32,
    key_len: usize,
    data_len: usize,
    fields: Vec<usize>,
    key_types: Vec<String>,
    data_type: Option<String>,
    object_type: Option<u32>,
    raw: Vec<value::Raw>,
    /// The elements as spans, once all are in; or why they could not be read.
    elements: Option<Result<Vec<Element>, String>>,
    dynamic: bool,
    /// Its ranges are an rbtree's, over the whole key: not to be split into parts
    /// (a pipapo's are per part).
    whole_ranges: bool,
}

impl SetEntry {
    fn anonymous(&self) -> bool {
        self.flags & NFT_SET_ANONYMOUS != 0
    }

    /// A set described as one key component, split into the components a lookup shows.
    fn split(&mut self, lens: &[usize]) {
        if self.fields.len() != 1 {
            return;
        }
        // A range over the whole key is no product of ranges of its parts.
        if let Some(Ok(elements)) = &self.elements
            && elements
                .iter()
                .any(|e| e.key.iter().any(|s| s.low != s.high))
        {
            return;
        }
        self.fields = lens.to_vec();
        if let Some(Ok(elements)) = &mut self.elements {
            for e in elements.iter_mut() {
                let [span] = e.key.as_slice() else { continue };
                match (
                    value::split(&span.low, lens),
                    value::split(&span.high, lens),
                ) {
                    (Ok(low), Ok(high)) => {
                        e.key = low
                            .into_iter()
                            .zip(high)
                            .map(|(l, h)| crate::ruleset::Span {
                                low: l.into(),
                                high: h.into(),
                            })
                            .collect();
                    }
                    _ => {
                        self.elements = Some(Err(format!(
                            "set {}: an element shorter than its key",
                            self.name
                        )));
                        return;
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        if self.elements.is_none() {
            let raw = std::mem::take(&mut self.raw);
            let interval = self.flags & NFT_SET_INTERVAL != 0;
            self.whole_ranges = interval
                && self.fields.len() == 1
                && raw.iter().all(|r| r.key_end.is_none())
                && raw.iter().any(|r| r.end);
            // The kernel's keys and data are at most NFT_DATA_VALUE_MAXLEN bytes.
            let padded: usize = self.fields.iter().map(|f| f.div_ceil(4) * 4).sum();
            self.elements = Some(if padded > MAX_VALUE || self.data_len > MAX_VALUE {
                Err(format!("set {} has keys of {padded} bytes", self.name))
            } else {
                value::elements(raw, &self.fields, interval)
            });
        }
    }
}

struct TableContext<'a> {
    family: u8,
    sets: &'a HashMap<Box<[u8]>, SetEntry>,
}

impl Context for TableContext<'_> {
    fn family(&self) -> u8 {
        self.family
    }

    fn set(&self, name: &[u8]) -> Option<SetView<'_>> {
        let s = self.sets.get(name)?;
        let elements = match (&s.elements, s.anonymous()) {
            (_, false) => SetElements::Named(&s.name),
            (Some(Ok(elements)), true) => SetElements::Inline(elements),
            (Some(Err(why)), true) => SetElements::Unreadable(why),
            (None, true) => SetElements::Unreadable("its elements were not read"),
        };
        Some(SetView {
            key_len: s.key_len,
            data_len: s.data_len,
            fields: &s.fields,
            map: s.flags & NFT_SET_MAP != 0,
            elements,
            object_type: s.object_type,
            exact: !s.whole_ranges
                || matches!(&s.elements, Some(Ok(e)) if e.iter().all(|e| e.key.iter().all(|s| s.low == s.high))),
        })
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn table_family(family: u8) -> Result<TableFamily, String> {
    Ok(match family {
        NFPROTO_INET => TableFamily::Inet,
        NFPROTO_IPV4 => TableFamily::Ip,
        NFPROTO_IPV6 => TableFamily::Ip6,
        NFPROTO_ARP => TableFamily::Arp,
        NFPROTO_BRIDGE => TableFamily::Bridge,
        NFPROTO_NETDEV => TableFamily::Netdev,
        other => return Err(format!("a table of family {other}")),
    })
}

/// A message's nfgenmsg family and attributes.
fn split(payload: &[u8]) -> Result<(u8, Attrs<'_>), String> {
    if payload.len() < 4 {
        return Err(format!("an nftables message of {} bytes", payload.len()));
    }
    Ok((payload[0], Attrs::parse(&payload[4..])))
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// One message of a dump, by its netlink type; other types are ignored.
    pub fn message(&mut self, kind: u16, payload: &[u8]) -> Result<(), String> {
        match kind {
            NEWTABLE => self.table(payload),
            NEWCHAIN => self.chain(payload),
            NEWSET => self.set(payload),
            NEWSETELEM => self.elements(payload),
            NEWRULE => self.rule(payload),
            _ => Ok(()),
        }
    }

    fn table_of(&self, family: u8, name: Option<&[u8]>, what: &str) -> Result<usize, String> {
        let name = name.ok_or_else(|| format!("{what} without a table"))?;
        self.table_index
            .get(&(family, name.into()))
            .copied()
            .ok_or_else(|| format!("{what} of table {}, which was not listed", text(name)))
    }

    pub fn table(&mut self, payload: &[u8]) -> Result<(), String> {
        let (family, a) = split(payload)?;
        let name = a.str(NFTA_TABLE_NAME).ok_or("a table without a name")?;
        let flags = a.be32(NFTA_TABLE_FLAGS).unwrap_or(0);
        let table = Table {
            family: table_family(family)?,
            name: text(name),
            dormant: if flags & NFT_TABLE_F_DORMANT != 0 {
                Dormant::Yes
            } else {
                Dormant::No
            },
            chains: Vec::new(),
            sets: Vec::new(),
        };
        let index = self.tables.len();
        if self
            .table_index
            .insert((family, name.into()), index)
            .is_some()
        {
            return Err(format!("table {} listed twice", table.name));
        }
        self.tables.push(table);
        self.table_family.push(family);
        self.chain_index.push(HashMap::new());
        self.sets.push(HashMap::new());
        Ok(())
    }

    pub fn chain(&mut self, payload: &[u8]) -> Result<(), String> {
        let (family, a) = split(payload)?;
        let t = self.table_of(family, a.str(NFTA_CHAIN_TABLE), "a chain")?;
        let name = a.str(NFTA_CHAIN_NAME).ok_or("a chain without a name")?;
        let base = match a.get(NFTA_CHAIN_HOOK) {
            Some(hook) => Some(base_chain(family, &a, hook, name)?),
            None => None,
        };
        let chains = &mut self.tables[t].chains;
        self.chain_index[t].insert(name.into(), chains.len());
        chains.push(Chain {
            name: text(name),
            base,
            rules: Vec::new(),
        });
        Ok(())
    }

    pub fn set(&mut self, payload: &[u8]) -> Result<(), String> {
        let (family, a) = split(payload)?;
        let t = self.table_of(family, a.str(NFTA_SET_TABLE), "a set")?;
        let name = a.str(NFTA_SET_NAME).ok_or("a set without a name")?;
        let flags = a.be32(NFTA_SET_FLAGS).unwrap_or(0);
        let key_len = a.be32(NFTA_SET_KEY_LEN).unwrap_or(0) as usize;
        let key_type = a.be32(NFTA_SET_KEY_TYPE).unwrap_or(0);
        let key_types = type_names(key_type);
        let fields = fields(&a, key_len, key_type);
        let data_type = a.be32(NFTA_SET_DATA_TYPE);
        let map = flags & NFT_SET_MAP != 0;
        let data_type = match (map, data_type) {
            (true, Some(NFT_DATA_VERDICT)) => Some("verdict".to_string()),
            (true, Some(t)) => Some(type_names(t).join(" . ")),
            _ if flags & NFT_SET_OBJECT != 0 => Some("object".to_string()),
            _ => None,
        };
        let entry = SetEntry {
            name: text(name),
            flags,
            key_len,
            data_len: a.be32(NFTA_SET_DATA_LEN).unwrap_or(0) as usize,
            fields,
            key_types,
            data_type,
            object_type: a.be32(NFTA_SET_OBJ_TYPE),
            raw: Vec::new(),
            elements: None,
            dynamic: flags & NFT_SET_EVAL != 0,
            whole_ranges: false,
        };
        self.sets[t].insert(name.into(), entry);
        Ok(())
    }

    pub fn elements(&mut self, payload: &[u8]) -> Result<(), String> {
        let (family, a) = split(payload)?;
        let t = self.table_of(family, a.str(NFTA_SET_ELEM_LIST_TABLE), "set elements")?;
        let name = a
            .str(NFTA_SET_ELEM_LIST_SET)
            .ok_or("set elements without a set")?;
        let set = self.sets[t]
            .get_mut(name)
            .ok_or_else(|| format!("elements of set {}, which was not listed", text(name)))?;
        let Some(list) = a.get(NFTA_SET_ELEM_LIST_ELEMENTS) else {
            return Ok(());
        };
        for (kind, elem) in attributes(list) {
            if kind != NFTA_LIST_ELEM {
                continue;
            }
            match value::raw(elem) {
                Ok(raw) => set.raw.push(raw),
                Err(why) => {
                    set.elements = Some(Err(format!("set {}: {why}", set.name)));
                }
            }
        }
        Ok(())
    }

    pub fn rule(&mut self, payload: &[u8]) -> Result<(), String> {
        let (family, a) = split(payload)?;
        let t = self.table_of(family, a.str(NFTA_RULE_TABLE), "a rule")?;
        let chain = a.str(NFTA_RULE_CHAIN).ok_or("a rule without a chain")?;
        let c = *self.chain_index[t].get(chain).ok_or_else(|| {
            format!(
                "a rule of chain {}, which was not listed",
                String::from_utf8_lossy(chain)
            )
        })?;
        for set in self.sets[t].values_mut() {
            set.finish();
        }
        let decoded = match a.get(NFTA_RULE_EXPRESSIONS) {
            Some(list) => expr::rule(
                list,
                &TableContext {
                    family: self.table_family[t],
                    sets: &self.sets[t],
                },
            ),
            None => expr::Decoded::default(),
        };
        for (name, lens) in &decoded.set_fields {
            if let Some(set) = self.sets[t].get_mut(name.as_bytes()) {
                set.split(lens);
            }
        }
        for name in &decoded.dynamic_sets {
            if let Some(set) = self.sets[t].get_mut(name.as_bytes()) {
                set.dynamic = true;
            }
        }
        self.coverage.rules += 1;
        if decoded.undecoded > 0 {
            self.coverage.undecoded += 1;
        }
        self.tables[t].chains[c].rules.push(Rule {
            handle: a.be64(NFTA_RULE_HANDLE).unwrap_or(0),
            steps: decoded.steps,
        });
        Ok(())
    }

    /// How many rules were read, and how many not fully decoded.
    pub fn coverage(&self) -> Coverage {
        self.coverage
    }

    /// The ruleset: every table with its chains, rules and named sets.
    pub fn finish(mut self) -> Ruleset {
        for (t, sets) in self.sets.iter_mut().enumerate() {
            let mut named: Vec<Set> = Vec::new();
            for set in sets.values_mut() {
                if set.anonymous() {
                    continue;
                }
                set.finish();
                let (elements, unreadable) = match set.elements.take() {
                    Some(Ok(elements)) => (elements, false),
                    _ => (Vec::new(), true),
                };
                named.push(Set {
                    name: std::mem::take(&mut set.name),
                    key_types: std::mem::take(&mut set.key_types),
                    interval: set.flags & NFT_SET_INTERVAL != 0,
                    data_type: set.data_type.take(),
                    elements,
                    incomplete: set.dynamic || unreadable,
                });
            }
            named.sort_by(|a, b| a.name.cmp(&b.name));
            self.tables[t].sets = named;
        }
        Ruleset {
            tables: self.tables,
        }
    }
}

/// A base chain's hook, priority, type, policy and devices.
fn base_chain(family: u8, a: &Attrs, hook: &[u8], name: &[u8]) -> Result<BaseChain, String> {
    let h = Attrs::parse(hook);
    let what = || format!("chain {}", text(name));
    let number = h
        .be32(NFTA_HOOK_HOOKNUM)
        .ok_or_else(|| format!("{} without a hook number", what()))?;
    let hook = match (family, number) {
        (NFPROTO_NETDEV, 0) => Hook::Ingress,
        (NFPROTO_NETDEV, 1) => Hook::Egress,
        (NFPROTO_ARP, 0) => Hook::Input,
        (NFPROTO_ARP, 1) => Hook::Output,
        (NFPROTO_ARP, 2) => Hook::Forward,
        (NFPROTO_NETDEV | NFPROTO_ARP, _) => {
            return Err(format!("{} on hook {number}", what()));
        }
        (_, 0) => Hook::Prerouting,
        (_, 1) => Hook::Input,
        (_, 2) => Hook::Forward,
        (_, 3) => Hook::Output,
        (_, 4) => Hook::Postrouting,
        (_, 5) => Hook::Ingress,
        (_, other) => return Err(format!("{} on hook {other}", what())),
    };
    let priority = h
        .be32(NFTA_HOOK_PRIORITY)
        .ok_or_else(|| format!("{} without a priority", what()))? as i32;
    let kind = match a.str(NFTA_CHAIN_TYPE) {
        Some(b"filter") | None => ChainKind::Filter,
        Some(b"nat") => ChainKind::Nat,
        Some(b"route") => ChainKind::Route,
        Some(other) => return Err(format!("{} of type {}", what(), text(other))),
    };
    let policy = match a.be32(NFTA_CHAIN_POLICY) {
        Some(0) => Policy::Drop,
        _ => Policy::Accept,
    };
    // The kernel lists a device in NFTA_HOOK_DEVS, and the first one in NFTA_HOOK_DEV too.
    let devices = match (h.get(NFTA_HOOK_DEVS), h.str(NFTA_HOOK_DEV)) {
        (Some(devs), _) => attributes(devs)
            .map(|(_, dev)| text(crate::collect::nlmsg::c_bytes(dev)))
            .collect(),
        (None, Some(dev)) => vec![text(dev)],
        (None, None) => Vec::new(),
    };
    Ok(BaseChain {
        kind,
        hook,
        priority,
        policy,
        devices,
    })
}

/// Each key component's length: from the set's description (NFTA_SET_DESC_CONCAT),
/// else from its concatenated type, else one component of the whole key.
fn fields(a: &Attrs, key_len: usize, key_type: u32) -> Vec<usize> {
    if let Some(desc) = a.get(NFTA_SET_DESC)
        && let Some(concat) = Attrs::parse(desc).get(NFTA_SET_DESC_CONCAT)
    {
        let lens: Vec<usize> = attributes(concat)
            .filter_map(|(_, field)| Attrs::parse(field).be32(NFTA_SET_FIELD_LEN))
            .map(|l| l as usize)
            .collect();
        if !lens.is_empty() {
            return lens;
        }
    }
    let types = type_ids(key_type);
    if types.len() > 1 {
        let lens: Option<Vec<usize>> = types.iter().map(|&t| type_size(t)).collect();
        if let Some(lens) = lens
            && lens.iter().map(|l| l.div_ceil(4) * 4).sum::<usize>() == key_len
        {
            return lens;
        }
    }
    vec![key_len]
}

/// nft's datatype ids of a (concatenated) key type: 6 bits each, first part highest.
fn type_ids(mut key_type: u32) -> Vec<u32> {
    if key_type < 64 {
        return vec![key_type];
    }
    let mut ids = Vec::new();
    while key_type > 0 {
        ids.push(key_type & 0x3f);
        key_type >>= 6;
    }
    ids.reverse();
    ids
}

/// nft's datatypes (src/datatype.h, `enum datatypes`), by id: name and size in bytes
/// (0: of no fixed size).
const TYPES: [(&str, usize); 47] = [
    ("invalid", 0),
    ("verdict", 4),
    ("nf_proto", 1),
    ("bitmask", 0),
    ("integer", 0),
    ("string", 0),
    ("ll_addr", 0),
    ("ipv4_addr", 4),
    ("ipv6_addr", 16),
    ("ether_addr", 6),
    ("ether_type", 2),
    ("arp_op", 2),
    ("inet_proto", 1),
    ("inet_service", 2),
    ("icmp_type", 1),
    ("tcp_flag", 1),
    ("dccp_pkttype", 1),
    ("mh_type", 1),
    ("time", 8),
    ("mark", 4),
    ("iface_index", 4),
    ("iface_type", 2),
    ("realm", 4),
    ("classid", 4),
    ("uid", 4),
    ("gid", 4),
    ("ct_state", 4),
    ("ct_dir", 1),
    ("ct_status", 4),
    ("icmpv6_type", 1),
    ("ct_label", 16),
    ("pkt_type", 1),
    ("icmp_code", 1),
    ("icmpv6_code", 1),
    ("icmpx_code", 1),
    ("devgroup", 4),
    ("dscp", 1),
    ("ecn", 1),
    ("fib_addrtype", 4),
    ("boolean", 1),
    ("ct_event", 4),
    ("ifname", 16),
    ("igmp_type", 1),
    ("time", 8),
    ("hour", 4),
    ("day", 1),
    ("cgroupsv2", 8),
];

fn type_size(id: u32) -> Option<usize> {
    TYPES
        .get(id as usize)
        .map(|&(_, size)| size)
        .filter(|&s| s > 0)
}

fn type_names(key_type: u32) -> Vec<String> {
    if key_type == 0 {
        return Vec::new();
    }
    type_ids(key_type)
        .into_iter()
        .map(|id| match TYPES.get(id as usize) {
            Some((name, _)) => name.to_string(),
            None => format!("type {id}"),
        })
        .collect()
}

/// A captured dump (concatenated netlink messages, as `tests/fixtures/nft/netlink/
/// dump.py` writes them) as the model, and how much of it was decoded.
pub fn from_messages(stream: &[u8]) -> Result<(Ruleset, Coverage), String> {
    let mut builder = Builder::new();
    for m in messages(stream).map_while(Result::ok) {
        builder.message(m.kind, m.payload)?;
    }
    let coverage = builder.coverage();
    Ok((builder.finish(), coverage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::{
        CtKey, Data, Elements, FibResult, Field, Key, Load, Match, MetaKey, Nat, NatKind, Operand,
        OperandRange, PayloadBase, Reject, Span, Statement, Step, Test, Transform, Verdict,
    };

    fn fixture(name: &str) -> (Ruleset, Coverage) {
        let path = format!(
            "{}/tests/fixtures/nft/netlink/{name}.nlmsg",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        from_messages(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn chain<'r>(ruleset: &'r Ruleset, family: TableFamily, table: &str, name: &str) -> &'r Chain {
        ruleset
            .tables
            .iter()
            .find(|t| t.family == family && t.name == table)
            .and_then(|t| t.chains.iter().find(|c| c.name == name))
            .unwrap_or_else(|| panic!("no chain {family:?} {table} {name}"))
    }

    fn load(field: Field, len: u8) -> Load {
        Load {
            field,
            len,
            transforms: Vec::new(),
        }
    }

    /// `field` (or with `negate` not) one of these values: one is an equality.
    fn test(load: Load, negate: bool, values: &[&[u8]]) -> Step {
        if let [value] = values {
            return Step::Match(Match {
                key: Key { parts: vec![load] },
                test: Test::Equal {
                    negate,
                    value: (*value).into(),
                },
            });
        }
        Step::Match(Match {
            key: Key { parts: vec![load] },
            test: Test::Member {
                negate,
                elements: Elements::Inline(
                    values
                        .iter()
                        .map(|v| crate::ruleset::Element {
                            key: vec![Span::exact(v)],
                            data: None,
                        })
                        .collect(),
                ),
            },
        })
    }

    fn l4proto(p: u8) -> Step {
        test(load(Field::Meta(MetaKey::L4proto), 1), false, &[&[p]])
    }

    fn dport(port: u16) -> Step {
        let th = Field::Payload {
            base: PayloadBase::Transport,
            offset: 2,
        };
        test(load(th, 2), false, &[&port.to_be_bytes()])
    }

    fn counter() -> Step {
        Step::Statement(Statement::Effect("counter".into()))
    }

    fn verdict(v: Verdict) -> Step {
        Step::Statement(Statement::Verdict(v))
    }

    /// The rulesets of the tools whose hosts portaudit must read: every rule decoded.
    #[test]
    fn docker_ufw_kube_proxy_and_firewalld_rulesets_decode_fully() {
        for (name, at_least) in [
            ("docker", 30),
            ("ufw", 150),
            ("kube-iptables", 50),
            ("kube-nft", 40),
            ("firewalld", 60),
            ("escapes", 7),
        ] {
            let (_, coverage) = fixture(name);
            assert!(coverage.rules >= at_least, "{name}: {coverage:?}");
            assert_eq!(coverage.undecoded, 0, "{name}");
        }
        // `fwd to "lo"` hands the packet to another device: opaque, and only that rule.
        let (ruleset, coverage) = fixture("statements");
        assert_eq!(coverage.undecoded, 1);
        let ingress = chain(&ruleset, TableFamily::Netdev, "edge", "ingress");
        assert!(matches!(ingress.rules[1].steps[..], [Step::Opaque(_)]));
        assert!(matches!(
            ingress.rules[0].steps.last(),
            Some(Step::Statement(_))
        ));
    }

    #[test]
    fn docker_s_dnat_target_is_a_nat_statement_after_its_protocol_and_port() {
        let (ruleset, _) = fixture("docker");
        let docker = chain(&ruleset, TableFamily::Ip, "nat", "DOCKER");
        let iifname = load(Field::Meta(MetaKey::Iifname), 16);
        assert_eq!(
            docker.rules[1].steps,
            vec![
                test(iifname, true, &[b"docker0\0"]),
                l4proto(6),
                dport(8080),
                counter(),
                Step::Statement(Statement::Nat(Box::new(Nat {
                    kind: NatKind::Dnat,
                    family: None,
                    address: Some(OperandRange {
                        min: Operand::Const([172, 17, 0, 2].into()),
                        max: None,
                    }),
                    port: Some(OperandRange {
                        min: Operand::Const([0, 80].into()),
                        max: None,
                    }),
                    flags: 0,
                }))),
            ]
        );
        let prerouting = chain(&ruleset, TableFamily::Ip, "nat", "PREROUTING");
        let fib = Field::Fib {
            flags: 2,
            result: FibResult::Addrtype,
        };
        assert_eq!(
            prerouting.rules[0].steps,
            vec![
                test(load(fib, 4), false, &[&2u32.to_ne_bytes()]),
                counter(),
                verdict(Verdict::Jump("DOCKER".into())),
            ]
        );
        let base = prerouting.base.as_ref().unwrap();
        assert_eq!((base.hook, base.priority), (Hook::Prerouting, -100));
        let forward = chain(&ruleset, TableFamily::Ip, "filter", "FORWARD");
        assert_eq!(forward.base.as_ref().unwrap().policy, Policy::Drop);
        // The IPv6 DNAT target reads its 16-byte address.
        let docker6 = chain(&ruleset, TableFamily::Ip6, "nat", "DOCKER");
        let Some(Step::Statement(Statement::Nat(nat))) = docker6.rules[1].steps.last() else {
            panic!("{:?}", docker6.rules[1]);
        };
        let mut fd00 = [0u8; 16];
        fd00[..6].copy_from_slice(&[0xfd, 0, 0xde, 0xad, 0xbe, 0xef]);
        fd00[15] = 2;
        assert_eq!(
            nat.address.as_ref().map(|a| a.min.clone()),
            Some(Operand::Const(fd00.into()))
        );
    }

    /// The cases issue 18 names: each as the kernel holds it.
    #[test]
    fn escapes_wildcards_ranges_and_hidden_dependencies_are_the_kernel_s() {
        let (ruleset, _) = fixture("escapes");
        let input = chain(&ruleset, TableFamily::Inet, "t", "input");
        let iifname = || load(Field::Meta(MetaKey::Iifname), 16);
        // `iifname "eth\*"`: the literal name, NUL-padded (an exact compare).
        let mut literal = [0u8; 16];
        literal[..4].copy_from_slice(b"eth*");
        assert_eq!(input.rules[0].steps[0], test(iifname(), false, &[&literal]));
        // `iifname "eth*"`: the three bytes of a prefix.
        assert_eq!(input.rules[1].steps[0], test(iifname(), false, &[b"eth"]));
        // `meta l4proto != 6-17`: a negated range.
        assert_eq!(
            input.rules[2].steps[0],
            Step::Match(Match {
                key: Key {
                    parts: vec![load(Field::Meta(MetaKey::L4proto), 1)]
                },
                test: Test::Member {
                    negate: true,
                    elements: Elements::Inline(vec![crate::ruleset::Element {
                        key: vec![Span {
                            low: [6].into(),
                            high: [17].into()
                        }],
                        data: None
                    }])
                }
            })
        );
        // `ip6 daddr ::10.0.0.1`: sixteen bytes, the last four the IPv4 address.
        let mut compat = [0u8; 16];
        compat[12..].copy_from_slice(&[10, 0, 0, 1]);
        let daddr = Field::Payload {
            base: PayloadBase::Network,
            offset: 24,
        };
        assert_eq!(
            input.rules[3].steps[1],
            test(load(daddr, 16), false, &[&compat])
        );
        // `reject with tcp reset` only after `meta l4proto tcp`.
        assert_eq!(
            input.rules[4].steps,
            vec![
                l4proto(6),
                dport(3306),
                Step::Statement(Statement::Reject(Reject::TcpReset))
            ]
        );
        // The protocol match nft adds in front of `tcp dport`, before the counter.
        assert_eq!(
            input.rules[6].steps,
            vec![l4proto(6), counter(), dport(26), verdict(Verdict::Accept)]
        );
        let asleep = ruleset.tables.iter().find(|t| t.name == "asleep").unwrap();
        assert_eq!(asleep.dormant, Dormant::Yes);
    }

    #[test]
    fn kube_proxy_s_iptables_rules_mark_masquerade_and_pick_endpoints() {
        let (ruleset, _) = fixture("kube-iptables");
        let mark = chain(&ruleset, TableFamily::Ip, "nat", "KUBE-MARK-MASQ");
        let keep = (!0x4000u32).to_ne_bytes();
        let or = 0x4000u32.to_ne_bytes();
        let mut marked = load(Field::Meta(MetaKey::Mark), 4);
        marked.transforms.push(Transform::Mask {
            mask: keep.into(),
            xor: or.into(),
        });
        assert_eq!(
            mark.rules[0].steps,
            vec![
                counter(),
                Step::Statement(Statement::Set {
                    field: Field::Meta(MetaKey::Mark),
                    value: Box::new(Operand::Load(Key {
                        parts: vec![marked]
                    })),
                }),
            ]
        );
        // A random endpoint: the statistic match is either way, the rest exact.
        let svc = chain(
            &ruleset,
            TableFamily::Ip,
            "nat",
            "KUBE-SVC-DNS0000000000000",
        );
        assert!(
            svc.rules[3]
                .steps
                .contains(&Step::Condition("-m statistic".into()))
        );
        // ! --ctstate RELATED,ESTABLISHED,DNAT: neither state, and not DNATed.
        let firewall = chain(&ruleset, TableFamily::Ip, "filter", "KUBE-FIREWALL");
        let ct = |key| Field::Ct {
            key,
            direction: None,
        };
        let mut state = load(ct(CtKey::State), 4);
        state.transforms.push(Transform::Mask {
            mask: 6u32.to_ne_bytes().into(),
            xor: [0; 4].into(),
        });
        let mut status = load(ct(CtKey::Status), 4);
        status.transforms.push(Transform::Mask {
            mask: 32u32.to_ne_bytes().into(),
            xor: [0; 4].into(),
        });
        let steps = &firewall.rules[0].steps;
        assert!(steps.contains(&test(state, false, &[&[0; 4]])), "{steps:?}");
        assert!(
            steps.contains(&test(status, false, &[&[0; 4]])),
            "{steps:?}"
        );
        assert_eq!(steps.last(), Some(&verdict(Verdict::Drop)));
    }

    #[test]
    fn ufw_s_multiport_limit_and_reset_rules() {
        let (ruleset, _) = fixture("ufw");
        let user = chain(&ruleset, TableFamily::Ip, "filter", "ufw-user-input");
        let th = Field::Payload {
            base: PayloadBase::Transport,
            offset: 2,
        };
        let web = test(
            load(th, 2),
            false,
            &[&80u16.to_be_bytes(), &443u16.to_be_bytes()],
        );
        assert!(
            user.rules.iter().any(|r| r.steps.contains(&web)),
            "{user:?}"
        );
        let reset = user
            .rules
            .iter()
            .find(|r| {
                r.steps
                    .contains(&Step::Statement(Statement::Reject(Reject::TcpReset)))
            })
            .expect("the reject rule");
        assert_eq!(reset.steps[..2], [l4proto(6), dport(23)]);
        let input = chain(&ruleset, TableFamily::Ip, "filter", "INPUT");
        assert_eq!(input.base.as_ref().unwrap().policy, Policy::Drop);
    }

    #[test]
    fn kube_proxy_s_nft_maps_are_concatenations_and_affinity_is_dynamic() {
        let (ruleset, _) = fixture("kube-nft");
        let table = &ruleset.tables[0];
        let services = table.sets.iter().find(|s| s.name == "service-ips").unwrap();
        assert_eq!(
            services.key_types,
            ["ipv4_addr", "inet_proto", "inet_service"]
        );
        let dns = services
            .elements
            .iter()
            .find(|e| e.key[0].low.as_ref() == [10, 96, 0, 10])
            .unwrap();
        assert_eq!(dns.key[1], Span::exact(&[6]));
        assert_eq!(dns.key[2], Span::exact(&53u16.to_be_bytes()));
        assert_eq!(
            dns.data,
            Some(Data::Verdict(Verdict::Goto("service-DNS".into())))
        );
        let affinity = table.sets.iter().find(|s| s.name == "affinity-A").unwrap();
        assert!(affinity.incomplete);
        assert!(!services.incomplete);
        let chain = chain(&ruleset, TableFamily::Ip, "kube-proxy", "services");
        let Some(Step::Statement(Statement::VerdictMap { key, map })) = chain.rules[0].steps.last()
        else {
            panic!("{:?}", chain.rules[0]);
        };
        assert_eq!(key.parts.len(), 3);
        assert_eq!(*map, Elements::Set("service-ips".into()));
    }

    #[test]
    fn interval_concatenations_catchall_elements_and_data_maps() {
        let (ruleset, _) = fixture("statements");
        let table = &ruleset.tables[0];
        let blocked = table.sets.iter().find(|s| s.name == "blocked").unwrap();
        assert_eq!(
            blocked.elements[0].key,
            vec![
                Span {
                    low: [10, 0, 0, 0].into(),
                    high: [10, 255, 255, 255].into()
                },
                Span {
                    low: [0, 1].into(),
                    high: [3, 255].into()
                },
            ]
        );
        let ports = table.sets.iter().find(|s| s.name == "ports").unwrap();
        assert_eq!(ports.elements.len(), 3);
        assert_eq!(
            ports.elements[0],
            crate::ruleset::Element {
                key: vec![Span {
                    low: [0, 0].into(),
                    high: [255, 255].into()
                }],
                data: Some(Data::Verdict(Verdict::Continue)),
            }
        );
        // `dnat ip to tcp dport map { 80 : 10.0.0.1, 443 : 10.0.0.2 }`
        let nat = chain(&ruleset, TableFamily::Inet, "s", "nat");
        let Some(Step::Statement(Statement::Nat(dnat))) = nat.rules[0].steps.last() else {
            panic!("{:?}", nat.rules[0]);
        };
        let Some(OperandRange {
            min:
                Operand::Map {
                    map: Elements::Inline(elements),
                    ..
                },
            max: None,
        }) = &dnat.address
        else {
            panic!("{dnat:?}");
        };
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[1].data, Some(Data::Value([10, 0, 0, 2].into())));
    }

    #[test]
    #[ignore = "prints a fixture's model for review: PORTAUDIT_FIXTURE=name"]
    fn show_a_fixture() {
        let name = std::env::var("PORTAUDIT_FIXTURE").unwrap_or("docker".into());
        let (ruleset, coverage) = fixture(&name);
        println!("{coverage:?}");
        for t in &ruleset.tables {
            println!("table {:?} {} {:?}", t.family, t.name, t.dormant);
            for s in &t.sets {
                println!("  set {s:?}");
            }
            for c in &t.chains {
                println!("  chain {} {:?}", c.name, c.base);
                for r in &c.rules {
                    println!("    rule {}", r.handle);
                    for s in &r.steps {
                        println!("      {s:?}");
                    }
                }
            }
        }
    }
}
