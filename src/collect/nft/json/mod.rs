//! The ruleset from nft's JSON (`nft -j list ruleset`, or a saved one for `--ruleset`),
//! through typed serde structures, into the model the kernel runs (`crate::ruleset`).
//!
//! nft's listing leaves out what the kernel runs implicitly: `tcp dport 22` is printed
//! without the `meta l4proto tcp` before it, `reject with tcp reset` without its own,
//! `ip daddr 10.0.0.0/8` without saying that the kernel loads one byte. Each rule is
//! rebuilt the way nft would send it (see `rule`), so the model is the kernel's.
//!
//! Only a document that is not a ruleset at all is an error; an item, statement or value
//! this reader does not know stays in its rule as an opaque step or a condition.

mod expr;
mod rule;
#[cfg(test)]
mod tests;
mod types;

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ruleset::{
    BaseChain, Chain, ChainKind, Dormant, Element, Hook, Policy, Rule, Ruleset, Set, Table,
    TableFamily,
};
use expr::{Expr, single};
use rule::{SetInfo, Value};
use types::Type;

const EXPECTED: &str =
    "expected a JSON object with an \"nftables\" array (the output of nft -j list ruleset)";

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow)]
    nftables: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct JTable<'a> {
    #[serde(borrow)]
    family: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    flags: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct JChain<'a> {
    #[serde(borrow)]
    family: Cow<'a, str>,
    #[serde(borrow)]
    table: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hook: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    prio: Option<&'a RawValue>,
    #[serde(borrow, default)]
    policy: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dev: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct JRule<'a> {
    #[serde(borrow)]
    family: Cow<'a, str>,
    #[serde(borrow)]
    table: Cow<'a, str>,
    #[serde(borrow)]
    chain: Cow<'a, str>,
    #[serde(borrow, default)]
    handle: Option<&'a RawValue>,
    #[serde(borrow, default)]
    expr: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct JSet<'a> {
    #[serde(borrow)]
    family: Cow<'a, str>,
    #[serde(borrow)]
    table: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, rename = "type", default)]
    key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    map: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    flags: Option<&'a RawValue>,
    #[serde(borrow, default)]
    elem: Option<Vec<&'a RawValue>>,
}

/// A string or a list of them, as nft prints flags and devices.
#[derive(Deserialize)]
#[serde(untagged)]
enum Words<'a> {
    #[serde(borrow)]
    One(Cow<'a, str>),
    #[serde(borrow)]
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Words<'a> {
    fn read(raw: &'a RawValue) -> Option<Vec<Cow<'a, str>>> {
        match serde_json::from_str::<Words>(raw.get()).ok()? {
            Words::One(word) => Some(vec![word]),
            Words::Many(words) => Some(words),
        }
    }
}

/// The ruleset in `json`; an error (one line, saying what was expected) when it is not a
/// ruleset at all. `interfaces` gives an interface's index by name (`iif "eth0"`), in the
/// namespace the ruleset is from, where known.
pub fn parse(json: &str, interfaces: &dyn Fn(&str) -> Option<u32>) -> Result<Ruleset, String> {
    let document: Document = serde_json::from_str(json).map_err(|e| {
        if e.is_data() {
            format!("nft ruleset has the wrong shape: {EXPECTED}")
        } else {
            format!("nft ruleset is not JSON ({e}); {EXPECTED}")
        }
    })?;
    let mut builder = Builder {
        ruleset: Ruleset::default(),
        tables: HashMap::new(),
        chains: HashMap::new(),
        sets: Vec::new(),
        interfaces,
    };
    let items: Vec<(Cow<str>, &RawValue)> = document
        .nftables
        .iter()
        .filter_map(|raw| single(raw))
        .collect();
    // Tables, chains and sets first: nft lists them before the rules that use them, but
    // nothing forces a file to.
    for (kind, body) in &items {
        match &**kind {
            "table" => builder.table(body),
            "chain" => builder.chain(body),
            "set" | "map" => builder.set(body),
            _ => {}
        }
    }
    let mut updated: Vec<(usize, String)> = Vec::new();
    for (kind, body) in &items {
        if kind == "rule" {
            updated.extend(builder.rule(body));
        }
    }
    // A set the packet path adds to is never all there.
    for (table, name) in updated {
        if let Some(set) = builder.ruleset.tables[table]
            .sets
            .iter_mut()
            .find(|s| s.name == name)
        {
            set.incomplete = true;
        }
    }
    Ok(builder.ruleset)
}

struct Builder<'i> {
    ruleset: Ruleset,
    /// (family, name) → table index.
    tables: HashMap<(TableFamily, String), usize>,
    /// (table index, chain name) → chain index.
    chains: HashMap<(usize, String), usize>,
    /// Per table: what rules need to know of its sets.
    sets: Vec<HashMap<String, SetInfo>>,
    interfaces: &'i dyn Fn(&str) -> Option<u32>,
}

fn family(name: &str) -> Option<TableFamily> {
    Some(match name {
        "ip" => TableFamily::Ip,
        "ip6" => TableFamily::Ip6,
        "inet" => TableFamily::Inet,
        "arp" => TableFamily::Arp,
        "bridge" => TableFamily::Bridge,
        "netdev" => TableFamily::Netdev,
        _ => return None,
    })
}

impl Builder<'_> {
    /// The table, made when a chain or set names one not listed.
    fn table_index(&mut self, family: TableFamily, name: &str) -> usize {
        if let Some(&index) = self.tables.get(&(family, name.to_owned())) {
            return index;
        }
        let index = self.ruleset.tables.len();
        self.ruleset.tables.push(Table {
            family,
            name: name.to_owned(),
            dormant: Dormant::No,
            chains: Vec::new(),
            sets: Vec::new(),
        });
        self.tables.insert((family, name.to_owned()), index);
        self.sets.push(HashMap::new());
        index
    }

    fn table(&mut self, body: &RawValue) {
        let Ok(table) = serde_json::from_str::<JTable>(body.get()) else {
            return;
        };
        let Some(family) = family(&table.family) else {
            return;
        };
        let index = self.table_index(family, &table.name);
        self.ruleset.tables[index].dormant = match table.flags {
            None => Dormant::No,
            Some(raw) => match Words::read(raw) {
                Some(flags) if flags.iter().any(|f| f == "dormant") => Dormant::Yes,
                Some(flags) if flags.iter().all(|f| f == "owner" || f == "persist") => Dormant::No,
                Some(flags) => Dormant::Unclear(flags.join(", ")),
                None => Dormant::Unclear(
                    raw.get()
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(80)
                        .collect(),
                ),
            },
        };
    }

    fn chain(&mut self, body: &RawValue) {
        let Ok(chain) = serde_json::from_str::<JChain>(body.get()) else {
            return;
        };
        let Some(family) = family(&chain.family) else {
            return;
        };
        let table = self.table_index(family, &chain.table);
        let key = (table, chain.name.to_string());
        if self.chains.contains_key(&key) {
            return;
        }
        let hook = chain.hook.as_deref().and_then(|h| {
            Some(match h {
                "ingress" => Hook::Ingress,
                "prerouting" => Hook::Prerouting,
                "input" => Hook::Input,
                "forward" => Hook::Forward,
                "output" => Hook::Output,
                "postrouting" => Hook::Postrouting,
                "egress" => Hook::Egress,
                _ => return None,
            })
        });
        let base = match (chain.kind.as_deref(), hook) {
            (Some(kind), Some(hook)) => Some(BaseChain {
                kind: match kind {
                    "nat" => ChainKind::Nat,
                    "route" => ChainKind::Route,
                    _ => ChainKind::Filter,
                },
                hook,
                priority: chain.prio.map_or(0, |raw| priority(raw, &chain.family)),
                policy: match chain.policy.as_deref() {
                    Some("drop") => Policy::Drop,
                    _ => Policy::Accept,
                },
                devices: chain
                    .dev
                    .and_then(Words::read)
                    .map(|d| d.into_iter().map(Cow::into_owned).collect())
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        let chains = &mut self.ruleset.tables[table].chains;
        self.chains.insert(key, chains.len());
        chains.push(Chain {
            name: chain.name.into_owned(),
            base,
            rules: Vec::new(),
        });
    }

    fn set(&mut self, body: &RawValue) {
        let Ok(set) = serde_json::from_str::<JSet>(body.get()) else {
            return;
        };
        let Some(family) = family(&set.family) else {
            return;
        };
        let table = self.table_index(family, &set.table);
        let type_names: Vec<String> = set
            .key
            .and_then(Words::read)
            .map(|w| w.into_iter().map(Cow::into_owned).collect())
            .unwrap_or_default();
        let types: Option<Vec<Type>> = type_names.iter().map(|t| Type::named(t)).collect();
        let flags: Vec<String> = set
            .flags
            .and_then(Words::read)
            .map(|w| w.into_iter().map(Cow::into_owned).collect())
            .unwrap_or_default();
        let interval = flags.iter().any(|f| f == "interval");
        // A map's data: `verdict`, a type, or a concatenation (`ipv4_addr . inet_service`).
        let data_types: Option<Vec<Type>> = set
            .map
            .as_deref()
            .filter(|m| *m != "verdict")
            .and_then(|m| m.split(" . ").map(|t| Type::named(t.trim())).collect());
        let value = match set.map.as_deref() {
            None => None,
            Some("verdict") => Some(Some(Value::Verdict)),
            Some(_) => Some(data_types.as_deref().map(Value::Bytes)),
        };
        let data_parts = match set.map.as_deref() {
            Some("verdict") | None => Some(1),
            Some(_) => data_types.as_ref().map(Vec::len),
        };
        let mut data_interval = false;
        let mut incomplete = flags.iter().any(|f| f == "timeout");
        let mut elements: Vec<Element> = Vec::new();
        match (&types, value) {
            (Some(types), None | Some(Some(_))) if !types.is_empty() => {
                for raw in set.elem.iter().flatten() {
                    let parsed = serde_json::from_str::<Expr>(raw.get())
                        .map_err(|e| e.to_string())
                        .and_then(|e| {
                            data_interval |= rule::data_is_range(&e);
                            rule::element(&e, types, interval, value.flatten(), self.interfaces)
                        });
                    match parsed {
                        Ok(element) => elements.push(element),
                        // One element not read: a lookup can no longer say "not in it".
                        Err(_) => incomplete = true,
                    }
                }
                rule::sort(&mut elements);
            }
            _ => incomplete = true,
        }
        self.sets[table].insert(
            set.name.to_string(),
            SetInfo {
                interval,
                data_parts,
                data_interval,
            },
        );
        self.ruleset.tables[table].sets.push(Set {
            name: set.name.into_owned(),
            key_types: type_names,
            interval,
            data_type: set.map.map(Cow::into_owned),
            elements,
            incomplete,
        });
    }

    /// Add a rule to its chain; the sets it updates, by table.
    fn rule(&mut self, body: &RawValue) -> Vec<(usize, String)> {
        let Ok(rule) = serde_json::from_str::<JRule>(body.get()) else {
            return Vec::new();
        };
        let Some(family) = family(&rule.family) else {
            return Vec::new();
        };
        let Some(&table) = self.tables.get(&(family, rule.table.to_string())) else {
            return Vec::new();
        };
        let Some(&chain) = self.chains.get(&(table, rule.chain.to_string())) else {
            return Vec::new();
        };
        let handle = rule
            .handle
            .and_then(|raw| serde_json::from_str::<u64>(raw.get()).ok())
            .unwrap_or(0);
        let exprs = rule.expr.unwrap_or_default();
        let (steps, updates) = rule::build(family, &exprs, &self.sets[table], self.interfaces);
        self.ruleset.tables[table].chains[chain]
            .rules
            .push(Rule { handle, steps });
        updates.into_iter().map(|name| (table, name)).collect()
    }
}

/// A chain's priority: a number, or a name nft knows (`filter`, `dstnat + 10`).
fn priority(raw: &RawValue, family: &str) -> i32 {
    if let Ok(n) = serde_json::from_str::<i64>(raw.get()) {
        return n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    }
    serde_json::from_str::<Cow<str>>(raw.get())
        .ok()
        .and_then(|name| types::priority(&name, family))
        .unwrap_or(0)
}
