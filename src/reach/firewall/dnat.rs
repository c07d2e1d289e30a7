//! DNAT extraction: the ports the nat prerouting hook rewrites to another address.
//! Conditions accumulate along jumps (kube-proxy's `tcp dport 30080 jump KUBE-EXT-…`,
//! Docker's `fib daddr type local jump DOCKER`); only protocol, destination port,
//! destination address and family are read from them. The rest (input interface,
//! source address, xt matches) only narrows who may use a mapping, so it is ignored.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;

use super::{Chain, Dnat, Rule, Ruleset, kind, unwrap_elem};
use crate::socket::Protocol;

/// The kernel refuses deeper jumps; a visited list also stops loops in hand-fed input.
const MAX_DEPTH: usize = 16;

/// One `left op right` condition on the way to a statement.
#[derive(Debug, Clone)]
struct Condition {
    left: Value,
    op: String,
    right: Value,
}

#[derive(Default)]
struct Found {
    dnats: Vec<Dnat>,
    unread: Vec<String>,
}

impl Ruleset {
    /// Every DNAT in the nat prerouting hook (following jumps), host side to target.
    pub fn dnats(&self) -> Vec<Dnat> {
        self.walk_nat().dnats
    }

    /// One line per DNAT statement whose mapping could not be read (an address from a
    /// map, an iptables-nft target nft's JSON does not show), so the caller can warn.
    pub fn unread_dnats(&self) -> Vec<String> {
        self.walk_nat().unread
    }

    fn walk_nat(&self) -> Found {
        let mut found = Found::default();
        for (index, chain) in self.chains.iter().enumerate() {
            let Some(base) = &chain.base else { continue };
            if base.kind == "nat"
                && base.hook == "prerouting"
                && matches!(chain.family.as_str(), "ip" | "ip6" | "inet")
            {
                self.walk(index, &[], &mut vec![index], &mut found);
            }
        }
        found
    }

    fn walk(
        &self,
        index: usize,
        inherited: &[Condition],
        path: &mut Vec<usize>,
        found: &mut Found,
    ) {
        let chain = &self.chains[index];
        for rule in &chain.rules {
            let mut conditions = inherited.to_vec();
            for expr in &rule.exprs {
                let Some((key, body)) = kind(expr) else {
                    continue;
                };
                match key {
                    "match" => conditions.push(Condition {
                        left: body.get("left").cloned().unwrap_or(Value::Null),
                        op: body
                            .get("op")
                            .and_then(Value::as_str)
                            .unwrap_or("==")
                            .into(),
                        right: body.get("right").cloned().unwrap_or(Value::Null),
                    }),
                    "dnat" => self.extract(chain, rule, &conditions, body, found),
                    "xt" if super::is_xt_target(expr, "DNAT") => found.unread.push(format!(
                        "{}: an iptables-nft DNAT target, whose address nft's JSON does not show",
                        chain.rule_label(rule)
                    )),
                    "jump" | "goto" => {
                        if let Some(target) = body.get("target").and_then(Value::as_str) {
                            self.follow(chain, target, &conditions, path, found);
                        }
                    }
                    "vmap" => self.follow_vmap(chain, body, &conditions, path, found),
                    _ => {}
                }
            }
        }
    }

    fn follow(
        &self,
        chain: &Chain,
        target: &str,
        conditions: &[Condition],
        path: &mut Vec<usize>,
        found: &mut Found,
    ) {
        let Some(next) = self.find_chain(chain, target) else {
            return;
        };
        if path.contains(&next) || path.len() >= MAX_DEPTH {
            return;
        }
        path.push(next);
        self.walk(next, conditions, path, found);
        path.pop();
    }

    /// A verdict map jumps with the element as the condition: kube-proxy's nft mode maps
    /// `ip daddr . meta l4proto . th dport` to a service chain.
    fn follow_vmap(
        &self,
        chain: &Chain,
        body: &Value,
        conditions: &[Condition],
        path: &mut Vec<usize>,
        found: &mut Found,
    ) {
        let key = body.get("key").cloned().unwrap_or(Value::Null);
        let elements: Vec<Value> = match body.get("data") {
            Some(Value::String(name)) => self
                .named_set(chain, name)
                .map(<[Value]>::to_vec)
                .unwrap_or_default(),
            Some(data) => data
                .get("set")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            None => Vec::new(),
        };
        for element in elements {
            let Some([element_key, verdict]) = element.as_array().map(Vec::as_slice) else {
                continue;
            };
            let Some(target) = ["jump", "goto"]
                .iter()
                .find_map(|k| verdict.get(k)?.get("target")?.as_str())
            else {
                continue;
            };
            let mut conditions = conditions.to_vec();
            let keys = key.get("concat").and_then(Value::as_array);
            let values = unwrap_elem(element_key)
                .get("concat")
                .and_then(Value::as_array);
            match (keys, values) {
                (Some(keys), Some(values)) if keys.len() == values.len() => {
                    for (left, right) in keys.iter().zip(values) {
                        conditions.push(Condition {
                            left: left.clone(),
                            op: "==".into(),
                            right: right.clone(),
                        });
                    }
                }
                (None, None) => conditions.push(Condition {
                    left: key.clone(),
                    op: "==".into(),
                    right: unwrap_elem(element_key).clone(),
                }),
                // A shape we do not know: follow without the element's conditions, which
                // can only widen the ports we report.
                _ => {}
            }
            self.follow(chain, target, &conditions, path, found);
        }
    }

    fn extract(
        &self,
        chain: &Chain,
        rule: &Rule,
        conditions: &[Condition],
        stmt: &Value,
        found: &mut Found,
    ) {
        let label = chain.rule_label(rule);
        let target = match stmt.get("addr") {
            Some(Value::String(text)) => text.parse::<IpAddr>().ok(),
            _ => None,
        };
        let Some(target) = target else {
            let what = match stmt.get("addr") {
                Some(Value::Object(o)) if o.contains_key("map") => "comes from a map".to_string(),
                Some(addr) => format!("is not one address ({})", super::render(addr)),
                None => "is missing".to_string(),
            };
            found
                .unread
                .push(format!("{label}: the dnat address {what}"));
            return;
        };
        let target_port = match stmt.get("port") {
            None => None,
            Some(port) => match port.as_u64().and_then(|p| u16::try_from(p).ok()) {
                Some(port) => Some(port),
                None => {
                    found.unread.push(format!(
                        "{label}: the dnat port is not one port ({})",
                        super::render(port)
                    ));
                    return;
                }
            },
        };
        let mut protocols: BTreeSet<Protocol> = [Protocol::Tcp, Protocol::Udp].into();
        let mut ports: Option<Vec<(u16, u16)>> = None;
        let mut host_address = None;
        let (mut ipv4, mut ipv6) = match chain.family.as_str() {
            "ip" => (true, false),
            "ip6" => (false, true),
            _ => (true, true),
        };
        ipv4 &= target.is_ipv4();
        ipv6 &= target.is_ipv6();
        for condition in conditions {
            let Some((key, body)) = kind(&condition.left) else {
                continue;
            };
            let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("");
            let equal = matches!(condition.op.as_str(), "==" | "in");
            let protocol_key = match key {
                "meta" => field("key") == "l4proto",
                "payload" => matches!(
                    (field("protocol"), field("field")),
                    ("ip", "protocol") | ("ip6", "nexthdr")
                ),
                _ => false,
            };
            if protocol_key {
                if let Some(named) = self
                    .literals(chain, &condition.right)
                    .and_then(|v| protocols_of(&v))
                {
                    if equal {
                        protocols.retain(|p| named.contains(p));
                    } else if condition.op == "!=" {
                        protocols.retain(|p| !named.contains(p));
                    }
                }
                continue;
            }
            match key {
                "meta" if field("key") == "nfproto" && equal => match condition.right.as_str() {
                    Some("ipv4") => ipv6 = false,
                    Some("ipv6") => ipv4 = false,
                    _ => {}
                },
                "payload" => {
                    let protocol = field("protocol");
                    match protocol {
                        "tcp" => protocols.retain(|p| *p == Protocol::Tcp),
                        "udp" => protocols.retain(|p| *p == Protocol::Udp),
                        "ip" => ipv6 = false,
                        "ip6" => ipv4 = false,
                        _ => {}
                    }
                    if field("field") == "dport"
                        && equal
                        && matches!(protocol, "tcp" | "udp" | "th")
                        && let Some(ranges) = self
                            .literals(chain, &condition.right)
                            .and_then(|v| port_ranges(&v))
                    {
                        ports = Some(match ports {
                            None => ranges,
                            Some(known) => intersect(&known, &ranges),
                        });
                    }
                    if field("field") == "daddr" && condition.op == "==" && host_address.is_none() {
                        host_address = condition.right.as_str().and_then(|a| a.parse().ok());
                    }
                }
                _ => {}
            }
        }
        if !ipv4 && !ipv6 {
            return;
        }
        for protocol in protocols {
            for &(low, high) in ports.as_deref().unwrap_or(&[(1, 65535)]) {
                let dnat = Dnat {
                    protocol,
                    host_address,
                    ipv4,
                    ipv6,
                    host_ports: low..=high,
                    target,
                    target_port,
                    rule: label.clone(),
                };
                if !found.dnats.contains(&dnat) {
                    found.dnats.push(dnat);
                }
            }
        }
    }

    /// The literal values of a match's right side (one value, a range, an anonymous or
    /// named set); `None` when it is something else.
    fn literals(&self, chain: &Chain, right: &Value) -> Option<Vec<Value>> {
        match right {
            Value::String(name) if name.starts_with('@') => {
                self.named_set(chain, name).map(<[Value]>::to_vec)
            }
            Value::Array(items) => Some(items.clone()),
            _ => match right.get("set").and_then(Value::as_array) {
                Some(items) => Some(items.iter().map(unwrap_elem).cloned().collect()),
                None => Some(vec![right.clone()]),
            },
        }
    }
}

fn protocols_of(values: &[Value]) -> Option<BTreeSet<Protocol>> {
    let mut protocols = BTreeSet::new();
    for value in values {
        match value {
            Value::String(s) if s == "tcp" => protocols.insert(Protocol::Tcp),
            Value::String(s) if s == "udp" => protocols.insert(Protocol::Udp),
            Value::Number(n) if n.as_u64() == Some(6) => protocols.insert(Protocol::Tcp),
            Value::Number(n) if n.as_u64() == Some(17) => protocols.insert(Protocol::Udp),
            Value::String(_) | Value::Number(_) => false,
            _ => return None,
        };
    }
    Some(protocols)
}

fn port_ranges(values: &[Value]) -> Option<Vec<(u16, u16)>> {
    let port = |v: &Value| v.as_u64().and_then(|p| u16::try_from(p).ok());
    values
        .iter()
        .map(|value| {
            match value
                .get("range")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                Some([low, high]) => Some((port(low)?, port(high)?)),
                Some(_) => None,
                None => port(value).map(|p| (p, p)),
            }
        })
        .collect()
}

fn intersect(a: &[(u16, u16)], b: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    for &(a_low, a_high) in a {
        for &(b_low, b_high) in b {
            let (low, high) = (a_low.max(b_low), a_high.min(b_high));
            if low <= high {
                out.push((low, high));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    fn dnat(
        protocol: Protocol,
        host_address: Option<&str>,
        (ipv4, ipv6): (bool, bool),
        host_ports: std::ops::RangeInclusive<u16>,
        target: &str,
        target_port: Option<u16>,
        rule: &str,
    ) -> Dnat {
        Dnat {
            protocol,
            host_address: host_address.map(|a| a.parse().unwrap()),
            ipv4,
            ipv6,
            host_ports,
            target: target.parse().unwrap(),
            target_port,
            rule: rule.into(),
        }
    }

    #[test]
    fn docker_iptables_nft_dnats_need_the_text_listing() {
        let mut ruleset = fixture("docker");
        assert_eq!(ruleset.dnats(), vec![]);
        let unread = ruleset.unread_dnats();
        assert_eq!(unread.len(), 3);
        assert_eq!(
            unread[0],
            "ip nat DOCKER handle 4: an iptables-nft DNAT target, whose address nft's JSON does not show"
        );
        ruleset.read_xt_from_text(include_str!("../../../tests/fixtures/nft/docker.txt"));
        let v4 = (true, false);
        assert_eq!(
            ruleset.dnats(),
            vec![
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    8080..=8080,
                    "172.17.0.2",
                    Some(80),
                    "ip nat DOCKER handle 4"
                ),
                dnat(
                    Protocol::Udp,
                    None,
                    v4,
                    5353..=5353,
                    "172.17.0.3",
                    Some(53),
                    "ip nat DOCKER handle 5"
                ),
                dnat(
                    Protocol::Tcp,
                    Some("127.0.0.1"),
                    v4,
                    9090..=9090,
                    "172.17.0.4",
                    Some(9090),
                    "ip nat DOCKER handle 6"
                ),
            ]
        );
        assert_eq!(ruleset.unread_dnats(), Vec::<String>::new());
    }

    #[test]
    fn native_nft_sets_jumps_and_maps() {
        let ruleset = fixture("nft-dnat");
        let v4 = (true, false);
        assert_eq!(
            ruleset.dnats(),
            vec![
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    8080..=8080,
                    "10.88.0.2",
                    Some(80),
                    "inet nat prerouting handle 5"
                ),
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    8443..=8443,
                    "10.88.0.2",
                    Some(80),
                    "inet nat prerouting handle 5"
                ),
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    30080..=30080,
                    "10.244.0.5",
                    Some(8080),
                    "inet nat kube-sep-web handle 10"
                ),
                dnat(
                    Protocol::Udp,
                    None,
                    (false, true),
                    5000..=5010,
                    "fd00::5",
                    None,
                    "ip6 nat6 prerouting handle 2"
                ),
            ]
        );
        assert_eq!(
            ruleset.unread_dnats(),
            vec!["inet nat prerouting handle 8: the dnat address comes from a map".to_string()]
        );
    }

    #[test]
    fn kube_proxy_nft_mode_verdict_maps() {
        let v4 = (true, false);
        assert_eq!(
            fixture("kube-nft").dnats(),
            vec![
                dnat(
                    Protocol::Tcp,
                    Some("10.96.0.10"),
                    v4,
                    53..=53,
                    "10.244.0.3",
                    Some(53),
                    "ip kube-proxy endpoint-dns handle 14"
                ),
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    30080..=30080,
                    "10.244.0.5",
                    Some(8080),
                    "ip kube-proxy endpoint-web handle 16"
                ),
            ]
        );
    }

    #[test]
    fn filter_rules_give_no_dnats() {
        for name in ["inet-basic", "multi", "empty"] {
            assert_eq!(fixture(name).dnats(), vec![], "{name}");
        }
    }

    /// The kernel refuses loops, so this one is made by editing a captured ruleset.
    #[test]
    fn jump_loop_terminates() {
        let looped = include_str!("../../../tests/fixtures/nft/nft-dnat.json").replace(
            r#"{"jump": {"target": "kube-sep-web"}}"#,
            r#"{"jump": {"target": "kube-sep-web"}}, {"jump": {"target": "prerouting"}}, {"goto": {"target": "kube-ext-web"}}"#,
        );
        let ruleset = super::super::parse(&looped).unwrap();
        assert_eq!(ruleset.dnats().len(), 4);
    }

    #[test]
    fn port_helpers() {
        assert_eq!(
            intersect(&[(1, 100)], &[(50, 60), (90, 200)]),
            vec![(50, 60), (90, 100)]
        );
        let values: Vec<Value> = serde_json::from_str(r#"[22, {"range": [8000, 8080]}]"#).unwrap();
        assert_eq!(port_ranges(&values), Some(vec![(22, 22), (8000, 8080)]));
        assert_eq!(port_ranges(&[Value::from("ssh")]), None);
    }
}
