//! Judge a new connection from outside against the filter chains of one hook, with
//! three-valued matching: a condition portaudit cannot know (source address, marks, xt
//! matches, limits) is "maybe", and both ways on from such a rule are followed. The
//! answer is `dropped` only when every way ends in a drop.

use std::net::IpAddr;

use serde_json::Value;

use super::{Chain, Destination, Hook, Rule, Ruleset, kind, render, render_rule};
use crate::socket::{FirewallVerdict, Judgement, Protocol};

/// Jumps nest at most 16 deep in the kernel; deeper means a loop in hand-fed input.
const MAX_DEPTH: usize = 16;
/// Rules evaluated per destination and chain, over every way followed.
const BUDGET: u32 = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        }
    }

    /// Any of: yes if one is, no if all are not.
    fn any(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut result = Tri::No;
        for item in items {
            match item {
                Tri::Yes => return Tri::Yes,
                Tri::Maybe => result = Tri::Maybe,
                Tri::No => {}
            }
        }
        result
    }
}

/// The packet: a new connection from outside to one destination.
struct Packet<'a> {
    hook: Hook,
    v6: bool,
    protocol: Protocol,
    port: u16,
    /// `None`: the destination is "any host address".
    daddr: Option<IpAddr>,
    device: Option<&'a str>,
    out_device: Option<&'a str>,
}

/// What a match's left side is for this packet.
enum Left<'a> {
    /// The packet has no such header (`tcp dport` on UDP): the match fails, whatever the
    /// operator, as nft's implicit protocol dependency does.
    Absent,
    Number(u64),
    Address(IpAddr),
    /// A symbol and the number nft may print instead (`tcp` / 6).
    Symbol(&'static str, Option<u64>),
    Device(Option<&'a str>),
    /// Cannot be evaluated: what it is, for the `why` line.
    Unknown(String),
}

/// How one chain (with what it jumps to) ends for the packet.
#[derive(Debug, Clone)]
enum Outcome {
    Accept(String),
    Drop(String),
    Unknown(String),
}

enum Verdict {
    Accept,
    Drop,
    Return,
    Continue,
    Jump(String),
    Goto(String),
    /// Ends evaluation somehow portaudit cannot tell (queue, an xt target, a vmap it
    /// cannot evaluate): what it is.
    Opaque(String),
}

struct Frame {
    chain: usize,
    next: usize,
}

impl Ruleset {
    /// What `hook` does with a new connection from outside to `port` at each of
    /// `destinations`: accepted when any is accepted, dropped when all are dropped.
    pub fn judge(
        &self,
        hook: Hook,
        protocol: Protocol,
        port: u16,
        destinations: &[Destination],
    ) -> Judgement {
        let outcomes: Vec<Outcome> = destinations
            .iter()
            .map(|d| self.judge_one(hook, protocol, port, d))
            .collect();
        let pick = |want: fn(&Outcome) -> Option<&String>| outcomes.iter().find_map(want);
        if let Some(why) = pick(|o| match o {
            Outcome::Accept(why) => Some(why),
            _ => None,
        }) {
            return judgement(FirewallVerdict::Accepted, why);
        }
        if let Some(why) = pick(|o| match o {
            Outcome::Unknown(why) => Some(why),
            _ => None,
        }) {
            return judgement(FirewallVerdict::Unknown, why);
        }
        match pick(|o| match o {
            Outcome::Drop(why) => Some(why),
            _ => None,
        }) {
            Some(why) => judgement(FirewallVerdict::Dropped, why),
            None => judgement(FirewallVerdict::Unknown, "no destination to judge"),
        }
    }

    fn judge_one(
        &self,
        hook: Hook,
        protocol: Protocol,
        port: u16,
        destination: &Destination,
    ) -> Outcome {
        let address = destination.address.to_canonical();
        let packet = Packet {
            hook,
            v6: address.is_ipv6(),
            protocol,
            port,
            daddr: (!address.is_unspecified()).then_some(address),
            device: destination.device.as_deref(),
            out_device: destination.out_device.as_deref(),
        };
        let mut bases: Vec<(i64, usize)> = self
            .chains
            .iter()
            .enumerate()
            .filter_map(|(index, chain)| {
                let base = chain.base.as_ref()?;
                let family_sees = match chain.family.as_str() {
                    "ip" => !packet.v6,
                    "ip6" => packet.v6,
                    "inet" => true,
                    _ => false,
                };
                (family_sees && base.kind == "filter" && base.hook == hook.name())
                    .then_some((base.prio, index))
            })
            .collect();
        if bases.is_empty() {
            return Outcome::Accept(format!("no {} chain: nothing filters", hook.name()));
        }
        // Stable: chains of equal priority keep the order nft listed them in.
        bases.sort_by_key(|&(prio, _)| prio);
        let outcomes: Vec<Outcome> = bases
            .iter()
            .map(|&(_, index)| {
                let mut budget = BUDGET;
                let outcome = self.run(
                    &packet,
                    vec![Frame {
                        chain: index,
                        next: 0,
                    }],
                    &mut budget,
                );
                // A table that may be dormant may drop nothing at all.
                match (outcome, &self.chains[index].base) {
                    (Outcome::Drop(why), Some(base)) if base.unclear.is_some() => {
                        let unclear = base.unclear.as_deref().unwrap_or_default();
                        Outcome::Unknown(format!("{why}; but {unclear}"))
                    }
                    (outcome, _) => outcome,
                }
            })
            .collect();
        // A drop in any base chain drops, whatever the others do.
        if let Some(drop) = outcomes.iter().find(|o| matches!(o, Outcome::Drop(_))) {
            return drop.clone();
        }
        if let Some(unknown) = outcomes.iter().find(|o| matches!(o, Outcome::Unknown(_))) {
            return unknown.clone();
        }
        // All accept: the reason worth reading is a rule, not a policy.
        let policy = |o: &&Outcome| matches!(o, Outcome::Accept(why) if why.contains(": policy "));
        outcomes
            .iter()
            .find(|o| !policy(o))
            .unwrap_or(&outcomes[0])
            .clone()
    }

    /// Follow the rules from the top frame to the end of the base chain.
    fn run(&self, packet: &Packet, mut stack: Vec<Frame>, budget: &mut u32) -> Outcome {
        loop {
            let Some(frame) = stack.last_mut() else {
                return Outcome::Unknown("empty chain stack".into());
            };
            let chain = &self.chains[frame.chain];
            let Some(rule) = chain.rules.get(frame.next) else {
                if stack.len() > 1 {
                    stack.pop();
                    continue;
                }
                let policy = chain.base.as_ref().map_or("accept", |b| b.policy.as_str());
                let why = format!("{}: policy {policy}", chain.label());
                return match policy {
                    "accept" => Outcome::Accept(why),
                    "drop" => Outcome::Drop(why),
                    _ => Outcome::Unknown(why),
                };
            };
            frame.next += 1;
            if *budget == 0 {
                return Outcome::Unknown(format!(
                    "{}: too many ways through the rules to evaluate",
                    chain.rule_label(rule)
                ));
            }
            *budget -= 1;
            let (matched, reasons, verdict) = self.eval_rule(packet, chain, rule);
            let Some(verdict) = verdict else { continue };
            // Labelled only when it matches: most rules do not, and formatting is dearer
            // than judging them.
            let label = || chain.rule_label(rule);
            match matched {
                Tri::No => continue,
                Tri::Yes => {
                    let why = format!("{}: {}", label(), render_rule(rule));
                    if let Some(end) = self.apply(verdict, why, chain, &mut stack) {
                        return end;
                    }
                }
                Tri::Maybe => {
                    let label = label();
                    let unknown = format!("{label}: {} cannot be evaluated", reasons.join(", "));
                    let taken = {
                        let mut forked: Vec<Frame> = stack
                            .iter()
                            .map(|f| Frame {
                                chain: f.chain,
                                next: f.next,
                            })
                            .collect();
                        let why = format!("{label}: {}", render_rule(rule));
                        match self.apply(verdict, why, chain, &mut forked) {
                            Some(end) => end,
                            None => self.run(packet, forked, budget),
                        }
                    };
                    let skipped = self.run(packet, stack, budget);
                    return match (taken, skipped) {
                        (accept @ Outcome::Accept(_), Outcome::Accept(_)) => accept,
                        (Outcome::Drop(_), drop @ Outcome::Drop(_)) => drop,
                        _ => Outcome::Unknown(unknown),
                    };
                }
            }
        }
    }

    /// Apply a verdict: the end of evaluation, or the stack changed to go on.
    fn apply(
        &self,
        verdict: Verdict,
        why: String,
        chain: &Chain,
        stack: &mut Vec<Frame>,
    ) -> Option<Outcome> {
        match verdict {
            Verdict::Accept => Some(Outcome::Accept(why)),
            Verdict::Drop => Some(Outcome::Drop(why)),
            Verdict::Continue => None,
            Verdict::Return => {
                if stack.len() > 1 {
                    stack.pop();
                } else if let Some(frame) = stack.last_mut() {
                    // `return` in a base chain: its policy, as at its end.
                    frame.next = usize::MAX;
                }
                None
            }
            Verdict::Jump(target) | Verdict::Goto(target) if stack.len() >= MAX_DEPTH => {
                Some(Outcome::Unknown(format!(
                    "{why}: jumps nest deeper than {MAX_DEPTH} ({target})"
                )))
            }
            Verdict::Jump(target) => match self.find_chain(chain, &target) {
                Some(index) => {
                    stack.push(Frame {
                        chain: index,
                        next: 0,
                    });
                    None
                }
                None => Some(Outcome::Unknown(format!("{why}: no chain {target}"))),
            },
            Verdict::Goto(target) => match self.find_chain(chain, &target) {
                Some(index) => {
                    let base = stack.len() == 1;
                    if base {
                        // goto from a base chain: its policy still applies after.
                        stack.push(Frame {
                            chain: index,
                            next: 0,
                        });
                        if let Some(frame) = stack.first_mut() {
                            frame.next = usize::MAX;
                        }
                    } else if let Some(frame) = stack.last_mut() {
                        *frame = Frame {
                            chain: index,
                            next: 0,
                        };
                    }
                    None
                }
                None => Some(Outcome::Unknown(format!("{why}: no chain {target}"))),
            },
            Verdict::Opaque(what) => Some(Outcome::Unknown(format!(
                "{}: {what} cannot be evaluated",
                why.split(": ").next().unwrap_or(&why)
            ))),
        }
    }

    /// Whether the rule matches, what could not be evaluated, and its verdict (`None`:
    /// the rule only counts or logs).
    fn eval_rule(
        &self,
        packet: &Packet,
        chain: &Chain,
        rule: &Rule,
    ) -> (Tri, Vec<String>, Option<Verdict>) {
        let mut matched = Tri::Yes;
        let mut reasons: Vec<String> = Vec::new();
        let maybe = |reason: String, matched: &mut Tri, reasons: &mut Vec<String>| {
            *matched = Tri::Maybe;
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        };
        for expr in &rule.exprs {
            let Some((key, body)) = kind(expr) else {
                maybe(
                    "an unreadable expression".into(),
                    &mut matched,
                    &mut reasons,
                );
                continue;
            };
            let verdict = match key {
                "match" => {
                    match self.eval_match(packet, chain, body) {
                        (Tri::No, _) => return (Tri::No, reasons, None),
                        (Tri::Maybe, reason) => maybe(reason, &mut matched, &mut reasons),
                        (Tri::Yes, _) => {}
                    }
                    continue;
                }
                "counter" | "log" | "mangle" | "notrack" | "set" => continue,
                "accept" => Verdict::Accept,
                "drop" | "reject" => Verdict::Drop,
                "return" => Verdict::Return,
                "continue" => Verdict::Continue,
                "jump" | "goto" => {
                    let target = body.get("target").and_then(Value::as_str).unwrap_or("");
                    if key == "jump" {
                        Verdict::Jump(target.into())
                    } else {
                        Verdict::Goto(target.into())
                    }
                }
                "queue" => Verdict::Opaque("queue (a program decides)".into()),
                "vmap" => match self.eval_vmap(packet, chain, body) {
                    Ok(Some(verdict)) => verdict,
                    Ok(None) => return (Tri::No, reasons, None),
                    Err(reason) => Verdict::Opaque(reason),
                },
                "xt" => {
                    let name = body.get("name").and_then(Value::as_str).unwrap_or("?");
                    match body.get("type").and_then(Value::as_str) {
                        Some("target") => match name {
                            "LOG" | "NFLOG" | "MARK" | "CONNMARK" | "TRACE" | "CT" => continue,
                            "REJECT" => Verdict::Drop,
                            _ => Verdict::Opaque(format!("xt target {name}")),
                        },
                        // `-m comment` matches every packet: it only carries text.
                        _ if name == "comment" => continue,
                        _ => {
                            maybe(format!("xt match {name}"), &mut matched, &mut reasons);
                            continue;
                        }
                    }
                }
                other => {
                    // limit, quota, synproxy, nat in a filter chain, ...: a condition or
                    // an action we do not model.
                    maybe(other.into(), &mut matched, &mut reasons);
                    continue;
                }
            };
            return (matched, reasons, Some(verdict));
        }
        (matched, reasons, None)
    }

    /// A verdict map: the verdict of the element the key matches; an error when the key
    /// cannot be evaluated against every element.
    fn eval_vmap(
        &self,
        packet: &Packet,
        chain: &Chain,
        body: &Value,
    ) -> Result<Option<Verdict>, String> {
        let key = body.get("key").unwrap_or(&Value::Null);
        let left = match left_value(packet, key) {
            Left::Absent => return Ok(None),
            Left::Unknown(what) => return Err(format!("{what} vmap")),
            left => left,
        };
        let elements: Vec<&Value> = match body.get("data") {
            Some(Value::String(name)) => self
                .named_set(chain, name)
                .map(|s| s.iter().collect())
                .ok_or_else(|| format!("vmap {name}"))?,
            Some(data) => data
                .get("set")
                .and_then(Value::as_array)
                .map(|s| s.iter().collect())
                .ok_or_else(|| "vmap".to_string())?,
            None => return Err("vmap".into()),
        };
        let mut found = None;
        for element in elements {
            let Some([element_key, verdict]) = element.as_array().map(Vec::as_slice) else {
                return Err("vmap".into());
            };
            match self.member(&left, element_key, chain) {
                Tri::No => {}
                Tri::Maybe => return Err(format!("{} vmap", render(key))),
                Tri::Yes => found = Some(verdict),
            }
        }
        let Some(verdict) = found else {
            return Ok(None);
        };
        let (name, target) = kind(verdict).ok_or_else(|| "vmap".to_string())?;
        let target = target.get("target").and_then(Value::as_str).unwrap_or("");
        Ok(Some(match name {
            "accept" => Verdict::Accept,
            "drop" | "reject" => Verdict::Drop,
            "return" => Verdict::Return,
            "continue" => Verdict::Continue,
            "jump" => Verdict::Jump(target.into()),
            "goto" => Verdict::Goto(target.into()),
            other => Verdict::Opaque(format!("vmap {other}")),
        }))
    }

    /// A `match` expression: the answer, and what could not be evaluated if maybe.
    fn eval_match(&self, packet: &Packet, chain: &Chain, body: &Value) -> (Tri, String) {
        let left_json = body.get("left").unwrap_or(&Value::Null);
        let right = body.get("right").unwrap_or(&Value::Null);
        let left = left_value(packet, left_json);
        let op = body.get("op").and_then(Value::as_str).unwrap_or("==");
        let answer = match (&left, op) {
            (Left::Absent, _) => Tri::No,
            (Left::Unknown(what), _) => return (Tri::Maybe, what.clone()),
            (_, "==" | "in") => self.member(&left, right, chain),
            (_, "!=") => self.member(&left, right, chain).not(),
            (Left::Number(n), op) => match (right.as_u64(), op) {
                (Some(r), "<") => tri(*n < r),
                (Some(r), ">") => tri(*n > r),
                (Some(r), "<=") => tri(*n <= r),
                (Some(r), ">=") => tri(*n >= r),
                _ => Tri::Maybe,
            },
            _ => Tri::Maybe,
        };
        // Only a "maybe" is explained: rendering every match would cost more than
        // judging it.
        let reason = match (answer, op) {
            (Tri::Yes | Tri::No, _) => String::new(),
            (Tri::Maybe, "==" | "in") => format!("{} {}", render(left_json), render(right)),
            (Tri::Maybe, _) => format!("{} {op} {}", render(left_json), render(right)),
        };
        (answer, reason)
    }

    /// Whether the packet's value is in `right`: one value, a range, a prefix, an
    /// anonymous set, a flag list or a named set.
    fn member(&self, left: &Left, right: &Value, chain: &Chain) -> Tri {
        match right {
            Value::String(name) if name.starts_with('@') => match self.named_set(chain, name) {
                Some(elements) => Tri::any(elements.iter().map(|e| element(left, e))),
                None => Tri::Maybe,
            },
            Value::Array(items) => Tri::any(items.iter().map(|e| element(left, e))),
            _ => match right.get("set").and_then(Value::as_array) {
                Some(items) => Tri::any(items.iter().map(|e| element(left, super::unwrap_elem(e)))),
                None => element(left, right),
            },
        }
    }
}

fn tri(b: bool) -> Tri {
    if b { Tri::Yes } else { Tri::No }
}

fn judgement(verdict: FirewallVerdict, why: &str) -> Judgement {
    Judgement {
        verdict,
        why: why.into(),
    }
}

fn protocol_symbol(protocol: Protocol) -> Left<'static> {
    match protocol {
        Protocol::Tcp => Left::Symbol("tcp", Some(6)),
        Protocol::Udp => Left::Symbol("udp", Some(17)),
    }
}

/// The packet's value for a match's left side.
fn left_value<'a>(packet: &Packet<'a>, left: &Value) -> Left<'a> {
    let unknown = || Left::Unknown(render(left));
    let Some((key, body)) = kind(left) else {
        return unknown();
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("");
    match key {
        "payload" => {
            let v4 = !packet.v6;
            match (field("protocol"), field("field")) {
                ("tcp" | "udp", _) if field("protocol") != packet.protocol.name() => Left::Absent,
                // Other transport headers: a TCP or UDP packet has none of them.
                (
                    "icmp" | "icmpv6" | "sctp" | "dccp" | "udplite" | "esp" | "ah" | "comp"
                    | "igmp" | "gre",
                    _,
                ) => Left::Absent,
                ("tcp" | "udp" | "th", "dport") => Left::Number(packet.port.into()),
                ("ip", "daddr") | ("ip6", "daddr") if (field("protocol") == "ip") != v4 => {
                    Left::Absent
                }
                ("ip", "daddr") | ("ip6", "daddr") => match packet.daddr {
                    Some(address) => Left::Address(address),
                    None => Left::Unknown(format!("{} (any host address)", render(left))),
                },
                ("ip", "protocol") if v4 => protocol_symbol(packet.protocol),
                ("ip6", "nexthdr") if !v4 => protocol_symbol(packet.protocol),
                ("ip", _) if !v4 => Left::Absent,
                ("ip6", _) if v4 => Left::Absent,
                _ => unknown(),
            }
        }
        "meta" => match field("key") {
            "l4proto" => protocol_symbol(packet.protocol),
            "nfproto" if packet.v6 => Left::Symbol("ipv6", Some(10)),
            "nfproto" => Left::Symbol("ipv4", Some(2)),
            "protocol" if packet.v6 => Left::Symbol("ip6", Some(0x86dd)),
            "protocol" => Left::Symbol("ip", Some(0x0800)),
            "iifname" | "iif" => Left::Device(packet.device),
            // Only a forwarded packet has an output interface before routing is done.
            "oifname" | "oif" if packet.hook == Hook::Forward => Left::Device(packet.out_device),
            "oifname" | "oif" => Left::Absent,
            _ => unknown(),
        },
        "ct" if field("key") == "state" => Left::Symbol("new", Some(8)),
        "fib"
            if packet.hook == Hook::Input
                && field("result") == "type"
                && body.get("flags") == Some(&Value::from(vec!["daddr"])) =>
        {
            // A packet to one of the host's own sockets is addressed to a local address.
            Left::Symbol("local", Some(2))
        }
        _ => unknown(),
    }
}

/// Whether the packet's value is one element (a value, range or prefix).
fn element(left: &Left, element: &Value) -> Tri {
    if let Some(range) = element.get("range").and_then(Value::as_array) {
        let [low, high] = range.as_slice() else {
            return Tri::Maybe;
        };
        return match left {
            Left::Number(n) => match (low.as_u64(), high.as_u64()) {
                (Some(low), Some(high)) => tri(low <= *n && *n <= high),
                _ => Tri::Maybe,
            },
            Left::Address(address) => match (address_of(low), address_of(high)) {
                (Some(low), Some(high)) if low.is_ipv4() == address.is_ipv4() => {
                    tri(low <= *address && *address <= high)
                }
                (Some(_), Some(_)) => Tri::No,
                _ => Tri::Maybe,
            },
            _ => Tri::Maybe,
        };
    }
    if let Some(prefix) = element.get("prefix") {
        let (Left::Address(address), Some(network), Some(len)) = (
            left,
            prefix.get("addr").and_then(address_of),
            prefix.get("len").and_then(Value::as_u64),
        ) else {
            return Tri::Maybe;
        };
        return in_prefix(*address, network, len);
    }
    match (left, element) {
        (Left::Number(n), Value::Number(e)) => tri(e.as_u64() == Some(*n)),
        (Left::Address(address), Value::String(_)) => match address_of(element) {
            Some(e) => tri(e == *address),
            None => Tri::Maybe,
        },
        (Left::Symbol(name, _), Value::String(e)) => tri(e == name),
        (Left::Symbol(_, number), Value::Number(e)) => tri(e.as_u64() == *number),
        (Left::Device(device), Value::String(pattern)) => device_matches(*device, pattern),
        // ifindex 1 is loopback in every network namespace.
        (Left::Device(None), Value::Number(e)) if e.as_u64() == Some(1) => Tri::No,
        _ => Tri::Maybe,
    }
}

fn address_of(value: &Value) -> Option<IpAddr> {
    value.as_str()?.parse().ok()
}

fn in_prefix(address: IpAddr, network: IpAddr, len: u64) -> Tri {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
            tri(u32::from(a) & mask == u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len as u32).unwrap_or(0);
            tri(u128::from(a) & mask == u128::from(n) & mask)
        }
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => Tri::No,
        _ => Tri::Maybe,
    }
}

/// An interface name against nft's pattern (`eth0`, or `eth*`). Without a device the
/// packet arrives on some interface that is not loopback.
fn device_matches(device: Option<&str>, pattern: &str) -> Tri {
    let matches = |name: &str| match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    };
    match device {
        Some(name) => tri(matches(name)),
        None if pattern == "lo" => Tri::No,
        None => Tri::Maybe,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    fn to(address: &str, device: Option<&str>) -> Destination {
        Destination {
            address: address.parse().unwrap(),
            device: device.map(str::to_owned),
            out_device: None,
        }
    }

    fn any4() -> Vec<Destination> {
        vec![to("0.0.0.0", None)]
    }

    fn judge(name: &str, protocol: Protocol, port: u16, at: &[Destination]) -> Judgement {
        fixture(name).judge(Hook::Input, protocol, port, at)
    }

    fn verdict(name: &str, protocol: Protocol, port: u16, at: &[Destination]) -> FirewallVerdict {
        judge(name, protocol, port, at).verdict
    }

    #[test]
    fn inet_policy_drop_with_ssh_open() {
        for at in [
            any4(),
            vec![to("::", None)],
            vec![to("192.0.2.10", Some("eth0"))],
        ] {
            let ssh = judge("inet-basic", Protocol::Tcp, 22, &at);
            assert_eq!(ssh.verdict, FirewallVerdict::Accepted);
            assert_eq!(&*ssh.why, "inet filter input handle 4: tcp dport 22 accept");
            let redis = judge("inet-basic", Protocol::Tcp, 6379, &at);
            assert_eq!(redis.verdict, FirewallVerdict::Dropped);
            assert_eq!(&*redis.why, "inet filter input: policy drop");
            assert_eq!(
                verdict("inet-basic", Protocol::Udp, 53, &at),
                FirewallVerdict::Dropped
            );
        }
        // On loopback the `iif lo accept` rule lets everything in.
        let lo = judge(
            "inet-basic",
            Protocol::Tcp,
            6379,
            &[to("127.0.0.1", Some("lo"))],
        );
        assert_eq!(lo.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*lo.why, "inet filter input handle 3: iif lo accept");
    }

    #[test]
    fn iptables_nft_gives_the_same_answers() {
        let ssh = judge("iptables-basic", Protocol::Tcp, 22, &any4());
        assert_eq!(ssh.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*ssh.why, "ip filter INPUT handle 3: tcp dport 22 accept");
        let redis = judge("iptables-basic", Protocol::Tcp, 6379, &any4());
        assert_eq!(redis.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*redis.why, "ip filter INPUT: policy drop");
        assert_eq!(
            verdict("iptables-basic", Protocol::Udp, 53, &any4()),
            FirewallVerdict::Dropped
        );
        // An ip table does not see IPv6: nothing filters it.
        let v6 = judge("iptables-basic", Protocol::Tcp, 6379, &[to("::", None)]);
        assert_eq!(v6.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*v6.why, "no input chain: nothing filters");
    }

    #[test]
    fn source_address_rule_is_unknown_never_dropped() {
        let redis = judge("saddr", Protocol::Tcp, 6379, &any4());
        assert_eq!(redis.verdict, FirewallVerdict::Unknown);
        assert_eq!(
            &*redis.why,
            "inet filter input handle 2: ip saddr cannot be evaluated"
        );
        // IPv6 packets cannot match `ip saddr`: surely dropped.
        assert_eq!(
            verdict("saddr", Protocol::Tcp, 6379, &[to("::", None)]),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("saddr", Protocol::Tcp, 22, &any4()),
            FirewallVerdict::Accepted
        );
        assert_eq!(
            verdict("saddr", Protocol::Tcp, 5432, &any4()),
            FirewallVerdict::Dropped
        );
    }

    #[test]
    fn interface_rule_depends_on_the_device() {
        let on = |device| verdict("iifname", Protocol::Tcp, 80, &[to("192.0.2.10", device)]);
        assert_eq!(on(Some("eth0")), FirewallVerdict::Accepted);
        assert_eq!(on(Some("eth1")), FirewallVerdict::Dropped);
        assert_eq!(on(None), FirewallVerdict::Unknown);
        let why = judge("iifname", Protocol::Tcp, 80, &any4()).why;
        assert_eq!(
            &*why,
            "inet filter input handle 2: iifname eth0 cannot be evaluated"
        );
    }

    #[test]
    fn destination_address_rule_with_two_destinations() {
        let open = to("192.0.2.10", None);
        let closed = to("192.0.2.20", None);
        let both = [closed.clone(), open.clone()];
        let judgement = judge("daddr", Protocol::Tcp, 8080, &both);
        assert_eq!(judgement.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*judgement.why,
            "inet filter input handle 2: ip daddr 192.0.2.10 tcp dport 8080 accept"
        );
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 8080, std::slice::from_ref(&closed)),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict(
                "daddr",
                Protocol::Tcp,
                8080,
                &[closed, to("2001:db8::10", None)]
            ),
            FirewallVerdict::Accepted
        );
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 8080, &[to("2001:db8::11", None)]),
            FirewallVerdict::Dropped
        );
        // A wildcard bind: the address is not known, so the answer is not either.
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 8080, &any4()),
            FirewallVerdict::Unknown
        );
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 9000, &both),
            FirewallVerdict::Dropped
        );
    }

    #[test]
    fn no_ruleset_accepts() {
        for ruleset in [fixture("empty"), Ruleset::default()] {
            let judgement = ruleset.judge(Hook::Input, Protocol::Tcp, 6379, &any4());
            assert_eq!(judgement.verdict, FirewallVerdict::Accepted);
            assert_eq!(&*judgement.why, "no input chain: nothing filters");
        }
        let forward = fixture("inet-basic").judge(Hook::Forward, Protocol::Tcp, 1, &any4());
        assert_eq!(&*forward.why, "no forward chain: nothing filters");
        let none = fixture("inet-basic").judge(Hook::Input, Protocol::Tcp, 1, &[]);
        assert_eq!(none.verdict, FirewallVerdict::Unknown);
    }

    #[test]
    fn sets_ranges_reject_jumps_and_several_base_chains() {
        let v4 = [to("192.0.2.10", None)];
        let v6 = [to("2001:db8::10", None)];
        let http = judge("multi", Protocol::Tcp, 443, &v4);
        assert_eq!(http.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*http.why,
            "inet fw input handle 6: tcp dport @allowed_tcp accept"
        );
        let mysql = judge("multi", Protocol::Tcp, 3306, &v4);
        assert_eq!(mysql.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*mysql.why, "inet fw input handle 7: tcp dport 3306 reject");
        assert_eq!(
            verdict("multi", Protocol::Udp, 1500, &v4),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Udp, 2001, &v4),
            FirewallVerdict::Accepted
        );
        // Jumped-to chain: nfproto ipv6 only.
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &v6),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &v4),
            FirewallVerdict::Accepted
        );
        // Named interval set of addresses.
        let blocked = [to("198.51.100.7", None)];
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &blocked),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &any4()),
            FirewallVerdict::Unknown
        );
        // A rate-limited accept before policy accept: accepted either way.
        let limited = judge("multi", Protocol::Tcp, 9100, &v4);
        assert_eq!(limited.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*limited.why,
            "inet fw checks handle 13: tcp dport 9100 limit accept"
        );
        // After `return`, the rest of the calling chain applies; 7001 is never reached.
        assert_eq!(
            verdict("multi", Protocol::Tcp, 7000, &v4),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 7001, &v4),
            FirewallVerdict::Accepted
        );
        // Other base chains: a drop in any of them drops, for the families they see.
        let extra = judge("multi", Protocol::Tcp, 9999, &v4);
        assert_eq!(extra.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*extra.why, "ip extra input handle 2: tcp dport 9999 drop");
        assert_eq!(
            verdict("multi", Protocol::Tcp, 9999, &v6),
            FirewallVerdict::Accepted
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 9998, &v6),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 9998, &v4),
            FirewallVerdict::Accepted
        );
    }

    #[test]
    fn verdict_maps_conntrack_and_paths_that_all_drop() {
        let v4 = [to("192.0.2.10", None)];
        // Every way on from the saddr and mark rules drops: surely dropped.
        let smtp = judge("vmaps", Protocol::Tcp, 25, &v4);
        assert_eq!(smtp.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*smtp.why, "inet filter input: policy drop");
        let https = judge("vmaps", Protocol::Tcp, 443, &v4);
        assert_eq!(https.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*https.why,
            "inet filter input handle 6: ct state new tcp dport 443 accept"
        );
        let mapped = judge("vmaps", Protocol::Tcp, 8000, &v4);
        assert_eq!(mapped.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*mapped.why,
            "inet filter input handle 8: tcp dport vmap { 8000 : accept, 8001 : drop }"
        );
        assert_eq!(
            verdict("vmaps", Protocol::Tcp, 8001, &v4),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("vmaps", Protocol::Udp, 8000, &v4),
            FirewallVerdict::Dropped
        );
    }

    #[test]
    fn forward_hook_for_dnat_targets() {
        let docker = fixture("docker");
        let web = docker.judge(Hook::Forward, Protocol::Tcp, 80, &[to("172.17.0.2", None)]);
        assert_eq!(web.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*web.why,
            "ip filter FORWARD handle 2: ip daddr 172.17.0.2 tcp dport 80 accept"
        );
        // `-i docker0 -j ACCEPT`: from outside that depends on the interface.
        let dns = [to("172.17.0.3", None)];
        assert_eq!(
            docker.judge(Hook::Forward, Protocol::Udp, 53, &dns).verdict,
            FirewallVerdict::Unknown
        );
        let dns = [to("172.17.0.3", Some("eth0"))];
        let judgement = docker.judge(Hook::Forward, Protocol::Udp, 53, &dns);
        assert_eq!(judgement.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*judgement.why, "ip filter FORWARD: policy drop");
        // The input hook has no chain in this ruleset.
        assert_eq!(
            docker.judge(Hook::Input, Protocol::Udp, 53, &dns).verdict,
            FirewallVerdict::Accepted
        );
    }

    /// The kernel refuses loops, so this one is made by editing a captured ruleset.
    #[test]
    fn jump_loop_terminates() {
        let looped = include_str!("../../../tests/fixtures/nft/multi.json")
            .replace(r#"{"return": null}"#, r#"{"jump": {"target": "checks"}}"#);
        let ruleset = super::super::parse(&looped).unwrap();
        let judgement = ruleset.judge(Hook::Input, Protocol::Tcp, 8443, &[to("192.0.2.10", None)]);
        assert_eq!(judgement.verdict, FirewallVerdict::Unknown);
        assert!(
            judgement.why.contains("deeper than 16"),
            "{}",
            judgement.why
        );
        let gotos = include_str!("../../../tests/fixtures/nft/multi.json")
            .replace(r#"{"return": null}"#, r#"{"goto": {"target": "checks"}}"#);
        let ruleset = super::super::parse(&gotos).unwrap();
        let judgement = ruleset.judge(Hook::Input, Protocol::Tcp, 8443, &[to("192.0.2.10", None)]);
        assert_eq!(judgement.verdict, FirewallVerdict::Unknown);
    }

    #[test]
    fn matching_pieces() {
        assert_eq!(device_matches(None, "lo"), Tri::No);
        assert_eq!(device_matches(None, "eth*"), Tri::Maybe);
        assert_eq!(device_matches(Some("eth3"), "eth*"), Tri::Yes);
        assert_eq!(device_matches(Some("lo"), "eth*"), Tri::No);
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(in_prefix(a("10.1.2.3"), a("10.0.0.0"), 8), Tri::Yes);
        assert_eq!(in_prefix(a("11.1.2.3"), a("10.0.0.0"), 8), Tri::No);
        assert_eq!(in_prefix(a("11.1.2.3"), a("0.0.0.0"), 0), Tri::Yes);
        assert_eq!(in_prefix(a("fd00::1"), a("fd00::"), 8), Tri::Yes);
        assert_eq!(in_prefix(a("fd00::1"), a("10.0.0.0"), 8), Tri::No);
    }

    /// A table's flags decide whether its chains filter anything: a dormant table's
    /// policy drop drops nothing, and flags portaudit cannot read never give "dropped".
    #[test]
    fn table_flags_decide_whether_its_chains_filter() {
        let ruleset = |flags: &str| {
            let json = format!(
                r#"{{"nftables": [
                {{"table": {{"family": "inet", "name": "t", "handle": 1{flags}}}}},
                {{"chain": {{"family": "inet", "table": "t", "name": "input", "handle": 1,
                  "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}}}]}}"#
            );
            crate::reach::parse_nft_json(&json).unwrap()
        };
        let judge = |flags: &str| ruleset(flags).judge(Hook::Input, Protocol::Tcp, 5000, &any4());
        assert_eq!(judge("").verdict, FirewallVerdict::Dropped);
        assert_eq!(
            judge(r#", "flags": "owner""#).verdict,
            FirewallVerdict::Dropped
        );
        assert_eq!(
            judge(r#", "flags": ["owner", "persist"]"#).verdict,
            FirewallVerdict::Dropped
        );
        for dormant in [
            r#", "flags": "dormant""#,
            r#", "flags": ["dormant", "owner"]"#,
        ] {
            let accepted = judge(dormant);
            assert_eq!(accepted.verdict, FirewallVerdict::Accepted, "{dormant}");
            assert_eq!(&*accepted.why, "no input chain: nothing filters");
        }
        // nft 1.0.6 prints a dormant table's flags as the table's name.
        for unclear in [r#", "flags": "t""#, r#", "flags": 1"#] {
            let unknown = judge(unclear);
            assert_eq!(unknown.verdict, FirewallVerdict::Unknown, "{unclear}");
            assert!(unknown.why.contains("it may be dormant"), "{}", unknown.why);
        }
    }
}
