//! Firewall: the host's nftables ruleset (`nft -j list ruleset`), as far as portaudit
//! needs it: which ports the nat prerouting hook publishes to other addresses (DNAT),
//! and whether the input (or forward) hook would accept or drop a new connection from
//! outside. Pure: JSON text in, answers out; `collect::nft` runs `nft`.
//!
//! Anything it cannot evaluate makes the answer `unknown`, never a guess.
//!
//! Expressions stay as nft's JSON values: only the few kinds portaudit evaluates are
//! interpreted (in `judge` and `dnat`); the rest are kept and answer "cannot evaluate",
//! so a newer nft with new expressions degrades to `unknown` instead of failing.

mod dnat;
mod judge;

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde_json::Value;

use crate::socket::Protocol;

/// Which hook a new connection from outside passes: input for the host's own sockets,
/// forward for DNAT-ed and routed traffic to another namespace (after prerouting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
        }
    }
}

/// One way in: a destination address, the interface the packet arrives on (`None`: any
/// interface but loopback), and in the forward hook the one it leaves by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The packet's destination address; unspecified (`0.0.0.0`/`::`) when any host
    /// address (a rule on the address cannot be evaluated then).
    pub address: IpAddr,
    pub device: Option<String>,
    /// Forward hook: the interface it is forwarded out of (`None`: some interface, never
    /// loopback). The input and prerouting hooks have none: `oif` matches nothing there.
    pub out_device: Option<String>,
}

/// A port the nat prerouting hook rewrites to another address (a "published" port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnat {
    pub protocol: Protocol,
    /// The destination address the rule matches; `None` when any.
    pub host_address: Option<IpAddr>,
    /// Which families it applies to (an `ip` table: IPv4 only; `inet`: both).
    pub ipv4: bool,
    pub ipv6: bool,
    pub host_ports: RangeInclusive<u16>,
    pub target: IpAddr,
    /// `None`: the port is not changed.
    pub target_port: Option<u16>,
    /// The rule, as a person finds it: `ip nat DOCKER handle 12`.
    pub rule: String,
}

/// A parsed ruleset.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    chains: Vec<Chain>,
    /// (family, table, chain name) → index in `chains`.
    chain_index: HashMap<(String, String, String), usize>,
    /// Named sets and maps: (family, table, name) → elements (a map's are `[key, data]`).
    sets: HashMap<(String, String, String), Vec<Value>>,
    /// Top-level objects portaudit does not read (flowtables, ct helpers, rules of
    /// chains that were not listed, ...): they cannot change a chain's answer.
    skipped: usize,
}

#[derive(Debug, Clone)]
struct Chain {
    family: String,
    table: String,
    name: String,
    base: Option<BaseChain>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct BaseChain {
    kind: String,
    hook: String,
    prio: i64,
    /// `accept` unless the chain says otherwise (nft's default).
    policy: String,
    /// Its table has flags portaudit cannot read (nft 1.0.6 prints a dormant table's
    /// flags garbled): the table may be dormant, so a drop here may not happen.
    unclear: Option<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    handle: u64,
    exprs: Vec<Value>,
}

impl Chain {
    fn label(&self) -> String {
        format!("{} {} {}", self.family, self.table, self.name)
    }

    fn rule_label(&self, rule: &Rule) -> String {
        format!("{} handle {}", self.label(), rule.handle)
    }
}

/// Parse the output of `nft -j list ruleset`; an error names what was wrong.
pub fn parse(json: &str) -> Result<Ruleset, String> {
    const EXPECTED: &str =
        "expected a JSON object with an \"nftables\" array (the output of nft -j list ruleset)";
    let mut value: Value = serde_json::from_str(json)
        .map_err(|e| format!("nft ruleset is not JSON ({e}); {EXPECTED}"))?;
    let items = value
        .get_mut("nftables")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| format!("nft ruleset has the wrong shape: {EXPECTED}"))?;
    let mut ruleset = Ruleset::default();
    let tables: HashMap<(String, String), Activity> = items
        .iter()
        .filter_map(|item| item.get("table"))
        .filter_map(|table| {
            let key = (text(table, "family")?, text(table, "name")?);
            Some((key, activity(table.get("flags"))))
        })
        .collect();
    // Chains first: nft lists them before their rules, but nothing forces a file to.
    for item in items.iter() {
        if let Some(chain) = item.get("chain") {
            ruleset.add_chain(chain, &tables);
        }
    }
    for item in items.iter_mut() {
        let Some((kind, body)) = item.as_object_mut().and_then(|o| o.iter_mut().next()) else {
            ruleset.skipped += 1;
            continue;
        };
        match kind.as_str() {
            "chain" | "metainfo" | "table" => {}
            "rule" => ruleset.add_rule(body),
            "set" | "map" => ruleset.add_set(body),
            _ => ruleset.skipped += 1,
        }
    }
    Ok(ruleset)
}

/// Whether a table's chains see packets, from its `flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Activity {
    Active,
    /// `flags dormant`: its base chains are not hooked; they filter nothing.
    Dormant,
    /// Flags portaudit does not know: what they were, for the reason.
    Unclear(String),
}

fn activity(flags: Option<&Value>) -> Activity {
    let names: Vec<&str> = match flags {
        None => return Activity::Active,
        Some(Value::String(flag)) => vec![flag.as_str()],
        Some(Value::Array(flags)) if flags.iter().all(Value::is_string) => {
            flags.iter().filter_map(Value::as_str).collect()
        }
        Some(other) => return Activity::Unclear(other.to_string()),
    };
    if names.contains(&"dormant") {
        Activity::Dormant
    } else if names
        .iter()
        .all(|flag| matches!(*flag, "owner" | "persist"))
    {
        Activity::Active
    } else {
        Activity::Unclear(names.join(", "))
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// nft prints priorities as numbers; older versions and hand-fed input may use names.
fn priority(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => match s.as_str() {
            "raw" => -300,
            "mangle" => -150,
            "dstnat" => -100,
            "security" => 50,
            "srcnat" => 100,
            _ => 0,
        },
        _ => 0,
    }
}

impl Ruleset {
    fn add_chain(&mut self, body: &Value, tables: &HashMap<(String, String), Activity>) {
        let (Some(family), Some(table), Some(name)) = (
            text(body, "family"),
            text(body, "table"),
            text(body, "name"),
        ) else {
            self.skipped += 1;
            return;
        };
        let activity = tables
            .get(&(family.clone(), table.clone()))
            .unwrap_or(&Activity::Active);
        let base = match (text(body, "type"), text(body, "hook")) {
            // A dormant table's base chains are not hooked: nothing reaches them, so
            // they are read as the regular chains they are, never entered.
            _ if *activity == Activity::Dormant => None,
            (Some(kind), Some(hook)) => Some(BaseChain {
                kind,
                hook,
                prio: priority(body.get("prio")),
                policy: text(body, "policy").unwrap_or_else(|| "accept".into()),
                unclear: match activity {
                    Activity::Unclear(flags) => Some(format!(
                        "table {family} {table} has flags portaudit cannot read ({flags}): \
                         it may be dormant"
                    )),
                    _ => None,
                },
            }),
            _ => None,
        };
        let key = (family.clone(), table.clone(), name.clone());
        if self.chain_index.contains_key(&key) {
            return;
        }
        self.chain_index.insert(key, self.chains.len());
        self.chains.push(Chain {
            family,
            table,
            name,
            base,
            rules: Vec::new(),
        });
    }

    /// Takes the rule's expressions out of `body` rather than copying them.
    fn add_rule(&mut self, body: &mut Value) {
        let key = (
            text(body, "family"),
            text(body, "table"),
            text(body, "chain"),
        );
        let (Some(family), Some(table), Some(chain)) = key else {
            self.skipped += 1;
            return;
        };
        let Some(&index) = self.chain_index.get(&(family, table, chain)) else {
            self.skipped += 1;
            return;
        };
        let exprs = match body.get_mut("expr").map(Value::take) {
            Some(Value::Array(exprs)) => exprs,
            _ => Vec::new(),
        };
        let handle = body.get("handle").and_then(Value::as_u64).unwrap_or(0);
        self.chains[index].rules.push(Rule { handle, exprs });
    }

    fn add_set(&mut self, body: &Value) {
        let (Some(family), Some(table), Some(name)) = (
            text(body, "family"),
            text(body, "table"),
            text(body, "name"),
        ) else {
            self.skipped += 1;
            return;
        };
        let elements = body
            .get("elem")
            .and_then(Value::as_array)
            .map(|elems| elems.iter().map(unwrap_elem).cloned().collect())
            .unwrap_or_default();
        self.sets.insert((family, table, name), elements);
    }

    /// The chain `name` in the same table as `from`.
    fn find_chain(&self, from: &Chain, name: &str) -> Option<usize> {
        self.chain_index
            .get(&(from.family.clone(), from.table.clone(), name.to_owned()))
            .copied()
    }

    /// The elements of the named set `@name` in `chain`'s table.
    fn named_set(&self, chain: &Chain, reference: &str) -> Option<&[Value]> {
        let name = reference.strip_prefix('@')?;
        self.sets
            .get(&(chain.family.clone(), chain.table.clone(), name.to_owned()))
            .map(Vec::as_slice)
    }

    /// Fill in what nft's JSON leaves out of iptables-nft rules: it names an xt `DNAT`
    /// target without its address, while `nft -a list ruleset` shows it translated
    /// (`dnat to 172.17.0.2:80 # handle 4`). Rules it cannot match up stay unread.
    pub fn read_xt_from_text(&mut self, text: &str) {
        let mut table: Option<(String, String)> = None;
        let mut chain: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            // A block opens (`chain DOCKER { # handle 1`); rules never end that way.
            if line.ends_with('{') || line.contains("{ # handle") {
                match words.as_slice() {
                    ["table", family, name, ..] => {
                        table = Some(((*family).into(), name.trim_matches('"').into()));
                        chain = None;
                    }
                    ["chain", name, ..] => chain = Some(name.trim_matches('"').into()),
                    // A set, map, flowtable or stateful object: its lines are no rules.
                    _ => chain = None,
                }
                continue;
            }
            let (Some((family, table_name)), Some(chain_name)) = (&table, &chain) else {
                continue;
            };
            let Some((body, handle)) = line.rsplit_once("# handle ") else {
                continue;
            };
            let Ok(handle) = handle.trim().parse::<u64>() else {
                continue;
            };
            let key = (family.clone(), table_name.clone(), chain_name.clone());
            let Some(&index) = self.chain_index.get(&key) else {
                continue;
            };
            let Some(rule) = self.chains[index]
                .rules
                .iter_mut()
                .find(|r| r.handle == handle)
            else {
                continue;
            };
            if let Some(slot) = rule.exprs.iter_mut().find(|e| is_xt_target(e, "DNAT"))
                && let Some(dnat) = text_dnat(body)
            {
                *slot = dnat;
            }
            read_xt_ct_state(rule, body);
        }
    }
}

/// iptables' `-m conntrack --ctstate …` or `-m state --state …`, which nft's JSON shows
/// as an opaque xt match, as the `ct state` match the text listing translates it to —
/// only when that is certain: one such match in the rule, no `ct` expression of nft's
/// own, and nothing else about conntrack on the line (`--ctproto`, `--ctorigdst`, … add
/// `ct` words of their own), so the one `ct state LIST` phrase can only be it.
fn read_xt_ct_state(rule: &mut Rule, line: &str) {
    let is_state_match = |e: &Value| {
        e.get("xt").is_some_and(|xt| {
            xt.get("type").and_then(Value::as_str) == Some("match")
                && matches!(
                    xt.get("name").and_then(Value::as_str),
                    Some("conntrack" | "state")
                )
        })
    };
    let natively_ct = |e: &Value| {
        kind(e).is_some_and(|(key, body)| {
            key == "match" && body.get("left").is_some_and(|l| l.get("ct").is_some())
        })
    };
    if rule.exprs.iter().filter(|e| is_state_match(e)).count() != 1
        || rule.exprs.iter().any(natively_ct)
    {
        return;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.iter().filter(|w| **w == "ct").count() != 1 {
        return;
    }
    let Some(at) = words.iter().position(|w| *w == "ct") else {
        return;
    };
    let (op, list) = match &words[at + 1..] {
        ["state", "!" | "!=", list, ..] => ("!=", *list),
        ["state", list, ..] => ("in", *list),
        _ => return,
    };
    let states: Vec<&str> = list.split(',').collect();
    const STATES: [&str; 5] = ["invalid", "established", "related", "new", "untracked"];
    if !states.iter().all(|s| STATES.contains(s)) {
        return;
    }
    let Some(slot) = rule.exprs.iter_mut().find(|e| is_state_match(e)) else {
        return;
    };
    *slot = serde_json::json!({"match": {
        "op": op,
        "left": {"ct": {"key": "state"}},
        "right": states,
    }});
}

#[cfg(test)]
impl Ruleset {
    /// Everything parse() kept, in an order that does not depend on hashing, with each
    /// rule as a user reads it in a reason: two rulesets with one fingerprint get the same
    /// answers from every hook.
    pub(crate) fn fingerprint(&self) -> String {
        let mut sets: Vec<_> = self.sets.iter().collect();
        sets.sort_by(|a, b| a.0.cmp(b.0));
        let rendered: Vec<String> = self
            .chains
            .iter()
            .flat_map(|c| {
                c.rules
                    .iter()
                    .map(move |r| c.rule_label(r) + ": " + &render_rule(r))
            })
            .collect();
        format!(
            "chains: {:#?}\nsets: {sets:#?}\nskipped: {}\nrules:\n{}",
            self.chains,
            self.skipped,
            rendered.join("\n")
        )
    }
}

fn is_xt_target(expr: &Value, name: &str) -> bool {
    expr.get("xt").is_some_and(|xt| {
        xt.get("type").and_then(Value::as_str) == Some("target")
            && xt.get("name").and_then(Value::as_str) == Some(name)
    })
}

/// `... dnat to 172.17.0.2:80 ...` (or `[fd00::5]:80`, or no port) as nft's JSON
/// statement; `None` unless it is one literal address and at most one literal port.
fn text_dnat(line: &str) -> Option<Value> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "dnat")?;
    let rest = &words[at + 1..];
    let target = match rest {
        ["to", target, ..] => *target,
        [family, "to", target, ..] if *family == "ip" || *family == "ip6" => *target,
        _ => return None,
    };
    let (address, port) = if let Some(v6) = target.strip_prefix('[') {
        let (address, after) = v6.split_once(']')?;
        (address, after.strip_prefix(':'))
    } else if target.matches(':').count() == 1 {
        let (address, port) = target.split_once(':')?;
        (address, Some(port))
    } else {
        (target, None)
    };
    let address: IpAddr = address.parse().ok()?;
    let mut dnat = serde_json::Map::new();
    dnat.insert("addr".into(), Value::String(address.to_string()));
    if let Some(port) = port {
        dnat.insert("port".into(), Value::from(port.parse::<u16>().ok()?));
    }
    let mut wrapper = serde_json::Map::new();
    wrapper.insert("dnat".into(), Value::Object(dnat));
    Some(Value::Object(wrapper))
}

/// A set element may carry a timeout, comment or counter: `{"elem": {"val": 80, ...}}`.
fn unwrap_elem(value: &Value) -> &Value {
    value
        .get("elem")
        .and_then(|e| e.get("val"))
        .unwrap_or(value)
}

/// The only key of a one-key object (`{"accept": null}` → `accept`).
fn kind(expr: &Value) -> Option<(&str, &Value)> {
    let object = expr.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// An expression as nft writes it, for `why` lines: `tcp dport 22`, `ip saddr 10.0.0.0/8`.
fn render(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(render).collect::<Vec<_>>().join(","),
        Value::Object(_) => {
            let Some((key, body)) = kind(value) else {
                return "?".into();
            };
            match key {
                "payload" => match (body.get("protocol"), body.get("field")) {
                    (Some(p), Some(f)) => format!("{} {}", render(p), render(f)),
                    _ => "payload".into(),
                },
                "meta" => match body.get("key").and_then(Value::as_str) {
                    Some(k @ ("iifname" | "oifname" | "iif" | "oif")) => k.into(),
                    Some(k) => format!("meta {k}"),
                    None => "meta".into(),
                },
                "ct" => format!("ct {}", body.get("key").map(render).unwrap_or_default()),
                "fib" => format!(
                    "fib {} {}",
                    body.get("flags").map(render).unwrap_or_default(),
                    body.get("result").map(render).unwrap_or_default()
                ),
                "set" => {
                    let item = |item: &Value| match item.as_array().map(Vec::as_slice) {
                        Some([key, data]) => format!("{} : {}", render(key), render(data)),
                        _ => render(item),
                    };
                    let items = body.as_array().map_or(Vec::new(), |items| {
                        items.iter().map(item).collect::<Vec<_>>()
                    });
                    format!("{{ {} }}", items.join(", "))
                }
                "range" => match body.as_array().map(Vec::as_slice) {
                    Some([low, high]) => format!("{}-{}", render(low), render(high)),
                    _ => "range".into(),
                },
                "prefix" => format!(
                    "{}/{}",
                    body.get("addr").map(render).unwrap_or_default(),
                    body.get("len").map(render).unwrap_or_default()
                ),
                "concat" => body.as_array().map_or(String::new(), |items| {
                    items.iter().map(render).collect::<Vec<_>>().join(" . ")
                }),
                "elem" => body.get("val").map(render).unwrap_or_default(),
                other => other.into(),
            }
        }
    }
}

/// A statement as nft writes it; `None` for ones that say nothing to a reader (counter).
fn render_statement(expr: &Value) -> Option<String> {
    let (key, body) = kind(expr)?;
    Some(match key {
        "match" => {
            let left = body.get("left").map(render).unwrap_or_default();
            let right = body.get("right").map(render).unwrap_or_default();
            match body.get("op").and_then(Value::as_str) {
                Some("==") | Some("in") | None => format!("{left} {right}"),
                Some(op) => format!("{left} {op} {right}"),
            }
        }
        "counter" => return None,
        "jump" | "goto" => format!(
            "{key} {}",
            body.get("target").map(render).unwrap_or_default()
        ),
        "xt" => format!(
            "xt {} {}",
            body.get("type").map(render).unwrap_or_default(),
            body.get("name").map(render).unwrap_or_default()
        ),
        "vmap" => format!(
            "{} vmap {}",
            body.get("key").map(render).unwrap_or_default(),
            body.get("data").map(render).unwrap_or_default()
        ),
        other => other.into(),
    })
}

/// A rule as nft writes it, shortened for a one-line `why`.
fn render_rule(rule: &Rule) -> String {
    let mut line = rule
        .exprs
        .iter()
        .filter_map(render_statement)
        .collect::<Vec<_>>()
        .join(" ");
    if line.chars().count() > 100 {
        line = line.chars().take(97).collect::<String>() + "...";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::FirewallVerdict;

    pub(crate) fn fixture(name: &str) -> Ruleset {
        let text = match name {
            "empty" => include_str!("../../../tests/fixtures/nft/empty.json"),
            "inet-basic" => include_str!("../../../tests/fixtures/nft/inet-basic.json"),
            "iptables-basic" => include_str!("../../../tests/fixtures/nft/iptables-basic.json"),
            "saddr" => include_str!("../../../tests/fixtures/nft/saddr.json"),
            "iifname" => include_str!("../../../tests/fixtures/nft/iifname.json"),
            "daddr" => include_str!("../../../tests/fixtures/nft/daddr.json"),
            "multi" => include_str!("../../../tests/fixtures/nft/multi.json"),
            "kube-nft" => include_str!("../../../tests/fixtures/nft/kube-nft.json"),
            "vmaps" => include_str!("../../../tests/fixtures/nft/vmaps.json"),
            "docker" => include_str!("../../../tests/fixtures/nft/docker.json"),
            "nft-dnat" => include_str!("../../../tests/fixtures/nft/nft-dnat.json"),
            _ => panic!("no fixture {name}"),
        };
        parse(text).expect("captured fixture parses")
    }

    #[test]
    fn parses_chains_rules_and_sets() {
        let ruleset = fixture("multi");
        let input =
            &ruleset.chains[ruleset.chain_index[&("inet".into(), "fw".into(), "input".into())]];
        let base = input.base.as_ref().expect("input is a base chain");
        assert_eq!(
            (base.kind.as_str(), base.hook.as_str(), base.prio),
            ("filter", "input", 0)
        );
        assert_eq!(base.policy, "accept");
        assert_eq!(input.rules.len(), 6);
        assert_eq!(input.rules[1].handle, 6);
        let allowed = &ruleset.sets[&("inet".into(), "fw".into(), "allowed_tcp".into())];
        assert_eq!(allowed, &vec![Value::from(80), Value::from(443)]);
        assert_eq!(render_rule(&input.rules[3]), "udp dport 1000-2000 drop");
    }

    #[test]
    fn empty_ruleset_is_empty() {
        assert!(fixture("empty").chains.is_empty());
        assert!(!fixture("inet-basic").chains.is_empty());
    }

    #[test]
    fn garbage_is_an_error_that_says_what_was_expected() {
        let err = parse("Error: syntax error").unwrap_err();
        assert!(err.starts_with("nft ruleset is not JSON"), "{err}");
        assert!(err.contains("\"nftables\" array"), "{err}");
        let err = parse(r#"{"tables": []}"#).unwrap_err();
        assert!(
            err.contains("wrong shape") && err.contains("\"nftables\" array"),
            "{err}"
        );
        let err = parse("[1, 2]").unwrap_err();
        assert!(err.contains("wrong shape"), "{err}");
    }

    #[test]
    fn unknown_objects_and_expressions_are_kept_not_errors() {
        let json = r#"{"nftables": [{"flowtable": {"name": "f"}}, 42,
            {"chain": {"family": "inet", "table": "t", "name": "c", "type": "filter",
                       "hook": "input", "prio": "filter", "policy": "drop"}},
            {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 3,
                      "expr": [{"frobnicate": {"x": 1}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "gone", "expr": []}}]}"#;
        let ruleset = parse(json).expect("unknown kinds are not errors");
        assert_eq!(ruleset.skipped, 3);
        assert_eq!(ruleset.chains[0].rules[0].exprs.len(), 2);
    }

    /// Odd shapes from a newer (or broken) nft: answers, never a panic, never dropped
    /// on a guess.
    #[test]
    fn hostile_shapes_do_not_panic() {
        let json = r#"{"nftables": [
            {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter",
                       "hook": "input", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip", "table": "t", "name": "pre", "type": "nat",
                       "hook": "prerouting", "prio": -100}},
            {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 1, "expr": [
                7, [], {"match": {}}, {"match": {"left": {"payload": {}}, "right": null}},
                {"match": {"op": "<", "left": {"payload": {"protocol": "th", "field": "dport"}},
                           "right": {"prefix": {"addr": "10.0.0.0", "len": 999}}}},
                {"vmap": {"key": {"meta": {"key": "l4proto"}}, "data": [1, 2]}},
                {"jump": {}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": "x", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                           "right": {"set": [{"prefix": {"addr": "10.0.0.0", "len": 999}},
                                             {"range": ["x"]}, {"range": [5, "y"]}]}}},
                {"goto": {"target": "nowhere"}}]}},
            {"rule": {"family": "ip", "table": "t", "chain": "pre", "expr": [
                {"dnat": {"addr": "10.0.0.1", "port": -1}}, {"dnat": {"addr": 5}},
                {"dnat": {}}, {"jump": {"target": "pre"}},
                {"vmap": {"key": {"concat": [1]}, "data": {"set": [[{"concat": [1, 2]}, {"goto": {"target": "pre"}}], 3]}}}]}}
        ]}"#;
        let ruleset = parse(json).unwrap();
        let at = [Destination {
            address: "10.1.1.1".parse().unwrap(),
            device: None,
            out_device: None,
        }];
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let judgement = ruleset.judge(Hook::Input, protocol, 1, &at);
            assert_ne!(judgement.verdict, FirewallVerdict::Dropped, "{judgement:?}");
        }
        assert_eq!(ruleset.dnats(), vec![]);
        assert_eq!(ruleset.unread_dnats().len(), 3);
    }

    /// iptables' conntrack/state matches are read from nft's translation only when the
    /// line's one `ct` phrase can only be theirs.
    #[test]
    fn xt_ct_state_is_read_from_the_listing_only_when_certain() {
        let xt = |name: &str| format!(r#"{{"xt": {{"type": "match", "name": "{name}"}}}}"#);
        let native_ct =
            r#"{"match": {"op": "==", "left": {"ct": {"key": "status"}}, "right": "dnat"}}"#;
        let read = |exprs: &[String], line: &str| {
            let json = format!(
                r#"{{"nftables": [
                {{"chain": {{"family": "ip", "table": "filter", "name": "INPUT", "handle": 1,
                  "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}}},
                {{"rule": {{"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2,
                  "expr": [{}, {{"accept": null}}]}}}}]}}"#,
                exprs.join(", ")
            );
            let mut ruleset = parse(&json).unwrap();
            let listing = format!(
                "table ip filter {{ # handle 1\n\tchain INPUT {{ # handle 1\n\t\t{line} \
                 counter packets 0 bytes 0 accept # handle 2\n\t}}\n}}\n"
            );
            ruleset.read_xt_from_text(&listing);
            render_rule(&ruleset.chains[0].rules[0])
        };
        let conntrack = xt("conntrack");
        assert_eq!(
            read(
                std::slice::from_ref(&conntrack),
                "ct state related,established"
            ),
            "ct state related,established accept"
        );
        assert_eq!(
            read(&[xt("state")], "ct state ! new"),
            "ct state != new accept"
        );
        // Another conntrack option, a state nft may add later, two matches, nft's own ct:
        // the xt match stays as it was, and the judge says "maybe".
        for (exprs, line) in [
            (
                vec![conntrack.clone()],
                "ct original protocol 6 ct state new",
            ),
            (vec![conntrack.clone()], "ct state new,someday"),
            (vec![conntrack.clone(), xt("state")], "ct state new"),
            (
                vec![conntrack.clone(), native_ct.to_string()],
                "ct state new ct status dnat",
            ),
        ] {
            assert!(read(&exprs, line).contains("xt match conntrack"), "{line}");
        }
    }

    #[test]
    fn text_dnat_reads_literal_targets_only() {
        let dnat = |l| text_dnat(l).map(|v| v.to_string());
        assert_eq!(
            dnat("tcp dport 8080 counter dnat to 172.17.0.2:80").as_deref(),
            Some(r#"{"dnat":{"addr":"172.17.0.2","port":80}}"#)
        );
        assert_eq!(
            dnat("dnat ip6 to [fd00::5]:53").as_deref(),
            Some(r#"{"dnat":{"addr":"fd00::5","port":53}}"#)
        );
        assert_eq!(
            dnat("dnat to fd00::5").as_deref(),
            Some(r#"{"dnat":{"addr":"fd00::5"}}"#)
        );
        assert_eq!(dnat("dnat to 10.0.0.1-10.0.0.9"), None);
        assert_eq!(dnat("dnat to 10.0.0.1:80-90"), None);
        assert_eq!(dnat("masquerade"), None);
    }
}
