//! A rule of the model back in nft's syntax, for why-lines: `tcp dport 22 accept`. The
//! dependencies the model holds explicitly (`meta l4proto tcp` before `th dport`, `meta
//! nfproto ipv4` before `ip daddr`, the prefix a shorter load stands for) fold back the way
//! nft prints them. Counters say nothing to a reader and are left out.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ruleset::{
    CtDirection, CtKey, Data, Element, Elements, FibResult, Field, HIDDEN_FAMILY_CHECK, Key, Load,
    Match, MetaKey, Nat, NatFamily, NatKind, Operand, OperandRange, Order, PayloadBase, Reject,
    Rule, Ruleset, SocketKey, Span, Statement, Step, Table, TableFamily, Test, Tproxy, Transform,
    Verdict,
};

/// A why-line is one line: a longer rule is cut here.
const WIDTH: usize = 100;

/// `inet filter input`, or with a rule, `inet filter input handle 4`.
pub fn label(ruleset: &Ruleset, table: usize, chain: usize, rule: Option<usize>) -> String {
    let t = &ruleset.tables[table];
    let c = &t.chains[chain];
    let mut text = format!(
        "{} {} {}",
        t.family.name(),
        printable(&t.name),
        printable(&c.name)
    );
    if let Some(r) = rule.and_then(|r| c.rules.get(r)) {
        let _ = write!(text, " handle {}", r.handle);
    }
    text
}

/// A rule as nft writes it, cut to one line.
pub fn rule(table: &Table, rule: &Rule) -> String {
    let view = View::new(table, rule);
    let line = view
        .texts
        .iter()
        .filter_map(|t| t.as_deref())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    cut(line)
}

/// One step of a rule, as it reads within it; `key_only`: just what it loads (`ip saddr`),
/// for a value nothing is known of.
pub fn step(table: &Table, rule: &Rule, index: usize, key_only: bool) -> String {
    let view = View::new(table, rule);
    if key_only && let Some(Step::Match(m)) = rule.steps.get(index) {
        return cut(view.key_text(index, &m.key));
    }
    // A folded step (the second half of a range, a hidden dependency) reads as the step
    // it folded into, or as itself.
    let text = view
        .texts
        .get(index)
        .and_then(|t| t.clone())
        .filter(|t| !t.is_empty())
        .or_else(|| view.owner(index))
        .unwrap_or_else(|| view.plain(index));
    cut(text)
}

fn cut(line: String) -> String {
    if line.chars().count() > WIDTH {
        line.chars().take(WIDTH - 3).collect::<String>() + "..."
    } else {
        line
    }
}

/// What a rule's steps know of the packet as they go: the network and transport protocol.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    /// 4 or 6.
    ip: Option<u8>,
    l4: Option<u8>,
}

/// A rule's steps rendered, with the context each was read in. `None`: folded into a
/// neighbour (hidden dependency, second half of a range).
struct View<'a> {
    table: &'a Table,
    rule: &'a Rule,
    contexts: Vec<Context>,
    texts: Vec<Option<String>>,
    /// For a folded step: the step whose text holds it.
    owners: Vec<Option<usize>>,
}

impl<'a> View<'a> {
    fn new(table: &'a Table, rule: &'a Rule) -> View<'a> {
        let mut context = Context {
            ip: match table.family {
                TableFamily::Ip => Some(4),
                TableFamily::Ip6 => Some(6),
                _ => None,
            },
            l4: None,
        };
        let steps = &rule.steps;
        let mut contexts = Vec::with_capacity(steps.len());
        for step in steps {
            contexts.push(context);
            if let Step::Match(m) = step
                && let Some((field, value)) = dependency(m)
            {
                match field {
                    Dep::Nfproto if value == 2 => context.ip = Some(4),
                    Dep::Nfproto if value == 10 => context.ip = Some(6),
                    Dep::Ethertype if value == 0x0800 => context.ip = Some(4),
                    Dep::Ethertype if value == 0x86dd => context.ip = Some(6),
                    Dep::L4proto => context.l4 = u8::try_from(value).ok(),
                    _ => {}
                }
            }
        }
        let mut view = View {
            table,
            rule,
            contexts,
            texts: vec![None; steps.len()],
            owners: vec![None; steps.len()],
        };
        let mut i = 0;
        while i < steps.len() {
            if view.hidden(i) {
                view.texts[i] = None;
                view.owners[i] = (i + 1..steps.len()).find(|j| !view.hidden(*j));
                i += 1;
                continue;
            }
            // A range as nft writes it: two compares of one key, `>=` then `<=`.
            if let (Some(Step::Match(a)), Some(Step::Match(b))) = (steps.get(i), steps.get(i + 1))
                && a.key == b.key
                && let (
                    Test::Compare {
                        op: Order::Ge,
                        value: low,
                    },
                    Test::Compare {
                        op: Order::Le,
                        value: high,
                    },
                ) = (&a.test, &b.test)
            {
                let (name, kind) = view.key(i, &a.key);
                let text = format!(
                    "{name} {}-{}",
                    kind.value(low, view.byteorder(&a.key)),
                    kind.value(high, view.byteorder(&a.key))
                );
                view.texts[i] = Some(text);
                view.owners[i + 1] = Some(i);
                i += 2;
                continue;
            }
            // Said only where it is the reason (see `HIDDEN_FAMILY_CHECK`).
            view.texts[i] = Some(match &steps[i] {
                Step::Condition(what) if what == HIDDEN_FAMILY_CHECK => String::new(),
                _ => view.plain(i),
            });
            i += 1;
        }
        view
    }

    fn owner(&self, index: usize) -> Option<String> {
        let owner = self.owners.get(index).copied().flatten()?;
        self.texts.get(owner).cloned().flatten()
    }

    /// A dependency nft leaves implied: the next step reads what it checked.
    fn hidden(&self, i: usize) -> bool {
        let steps = &self.rule.steps;
        let Some(Step::Match(m)) = steps.get(i) else {
            return false;
        };
        let Some((dep, value)) = dependency(m) else {
            return false;
        };
        let next = steps.get(i + 1);
        let next_load = match next {
            Some(Step::Match(n)) => n.key.parts.first(),
            Some(Step::Statement(Statement::VerdictMap { key, .. })) => key.parts.first(),
            _ => None,
        };
        let base = |load: Option<&Load>| match load.map(|l| &l.field) {
            Some(Field::Payload { base, .. }) => Some(*base),
            _ => None,
        };
        match dep {
            Dep::L4proto => {
                matches!(value, 1 | 6 | 17 | 33 | 58 | 132 | 136)
                    && base(next_load) == Some(PayloadBase::Transport)
                    || value == 6
                        && matches!(
                            next,
                            Some(Step::Statement(Statement::Reject(Reject::TcpReset)))
                        )
            }
            Dep::Nfproto | Dep::Ethertype => {
                base(next_load) == Some(PayloadBase::Network)
                    || matches!(
                        next,
                        Some(Step::Statement(Statement::Reject(
                            Reject::Icmp(_) | Reject::Icmpv6(_)
                        )))
                    )
                    || match next {
                        // `icmp type`: nfproto, then l4proto icmp, then the header.
                        Some(Step::Match(n)) => {
                            matches!(dependency(n), Some((Dep::L4proto, 1 | 58)))
                                && self.hidden(i + 1)
                        }
                        _ => false,
                    }
            }
        }
    }

    /// Step `i` on its own.
    fn plain(&self, i: usize) -> String {
        match &self.rule.steps[i] {
            Step::Match(m) => self.matched(i, m),
            Step::Condition(what) | Step::Opaque(what) => printable(what),
            Step::Statement(s) => self.statement(i, s),
        }
    }

    fn byteorder(&self, key: &Key) -> bool {
        key.parts.iter().any(|l| {
            l.transforms
                .iter()
                .any(|t| matches!(t, Transform::ByteOrder { .. }))
        })
    }

    fn key_text(&self, i: usize, key: &Key) -> String {
        self.key(i, key).0
    }

    /// How a key reads, and how its values read.
    fn key(&self, i: usize, key: &Key) -> (String, Kind) {
        let context = self.contexts.get(i).copied().unwrap_or_default();
        let mut names = Vec::new();
        let mut kinds = Vec::new();
        for load in &key.parts {
            let (name, kind) = load_name(context, load);
            let mut name = name;
            for transform in &load.transforms {
                match transform {
                    Transform::Mask { mask, xor } => {
                        if !prefix_mask(mask).is_some_and(|_| kind.is_address())
                            || xor.iter().any(|b| *b != 0)
                        {
                            let _ = write!(name, " & {}", hex(mask));
                            if xor.iter().any(|b| *b != 0) {
                                let _ = write!(name, " ^ {}", hex(xor));
                            }
                        }
                    }
                    Transform::ShiftLeft(n) => {
                        let _ = write!(name, " << {n}");
                    }
                    Transform::ShiftRight(n) => {
                        let _ = write!(name, " >> {n}");
                    }
                    Transform::ByteOrder { .. } => {}
                }
            }
            names.push(name);
            kinds.push(kind);
        }
        let kind = if kinds.len() == 1 {
            kinds.pop().unwrap_or(Kind::Bytes)
        } else {
            Kind::Concat(kinds)
        };
        (names.join(" . "), kind)
    }

    fn matched(&self, i: usize, m: &Match) -> String {
        let (name, kind) = self.key(i, &m.key);
        let swapped = self.byteorder(&m.key);
        // A flag test: `ct state established,related` is `ct state & (est|rel) != 0`.
        if let [load] = m.key.parts.as_slice()
            && kind.is_flags()
            && let [Transform::Mask { mask, xor }] = load.transforms.as_slice()
            && xor.iter().all(|b| *b == 0)
            && let Test::Equal { negate, value } = &m.test
            && value.iter().all(|b| *b == 0)
        {
            let base = load_name(self.contexts.get(i).copied().unwrap_or_default(), load).0;
            let flags = kind.value(mask, false);
            return if *negate {
                format!("{base} {flags}")
            } else {
                format!("{base} ! {flags}")
            };
        }
        // An address prefix: a shorter load, or a mask.
        let prefix_bits = m.key.parts.first().and_then(|load| {
            if m.key.parts.len() != 1 || !kind.is_address() {
                return None;
            }
            let full = kind.address_len()?;
            match load.transforms.as_slice() {
                [] if usize::from(load.len) < full => Some(usize::from(load.len) * 8),
                [Transform::Mask { mask, .. }] => prefix_mask(mask),
                _ => None,
            }
        });
        let value = |e: &Element| -> String {
            match (prefix_bits, e.key.as_slice()) {
                (Some(bits), [span]) if span.low == span.high => {
                    format!(
                        "{}/{bits}",
                        kind.value(&pad(&span.low, kind.address_len().unwrap_or(0)), false)
                    )
                }
                _ => kind.element(e, swapped),
            }
        };
        match &m.test {
            Test::Equal { negate, value: v } => {
                let op = if *negate { " !=" } else { "" };
                let text = match prefix_bits {
                    Some(bits) => format!(
                        "{}/{bits}",
                        kind.value(&pad(v, kind.address_len().unwrap_or(0)), false)
                    ),
                    None => kind.value(v, swapped),
                };
                format!("{name}{op} {text}")
            }
            Test::Member { negate, elements } => {
                let op = if *negate { " !=" } else { "" };
                match elements {
                    Elements::Set(set) => format!("{name}{op} @{}", printable(set)),
                    Elements::Inline(items) => match items.as_slice() {
                        [one] => format!("{name}{op} {}", value(one)),
                        many => format!(
                            "{name}{op} {{ {} }}",
                            many.iter().map(value).collect::<Vec<_>>().join(", ")
                        ),
                    },
                }
            }
            Test::Compare { op, value } => {
                let op = match op {
                    Order::Lt => "<",
                    Order::Le => "<=",
                    Order::Gt => ">",
                    Order::Ge => ">=",
                };
                format!("{name} {op} {}", kind.value(value, swapped))
            }
        }
    }

    fn statement(&self, i: usize, statement: &Statement) -> String {
        match statement {
            Statement::Verdict(v) => verdict(v),
            Statement::VerdictMap { key, map } => {
                let (name, kind) = self.key(i, key);
                format!("{name} vmap {}", self.map(&kind, map))
            }
            Statement::Reject(reject) => self.reject(*reject),
            Statement::Nat(nat) => self.nat(i, nat),
            Statement::Tproxy(tproxy) => {
                let Tproxy {
                    family,
                    address,
                    port,
                } = &**tproxy;
                let family = match family {
                    Some(NatFamily::Ipv4) if self.table.family == TableFamily::Inet => " ip",
                    Some(NatFamily::Ipv6) if self.table.family == TableFamily::Inet => " ip6",
                    _ => "",
                };
                let address = address.as_ref().map(|a| self.operand(i, a, &Kind::Ip));
                let port = port.as_ref().map(|p| self.operand(i, p, &Kind::Port));
                format!("tproxy{family} to {}", target(address, port))
            }
            Statement::Set { field, value } => {
                let load = Load {
                    field: field.clone(),
                    len: 4,
                    transforms: Vec::new(),
                };
                let context = self.contexts.get(i).copied().unwrap_or_default();
                let (name, kind) = load_name(context, &load);
                format!("{name} set {}", self.operand(i, value, &kind))
            }
            Statement::Effect(what) if &**what == "counter" => String::new(),
            Statement::Effect(what) => printable(what),
        }
    }

    fn map(&self, kind: &Kind, map: &Elements) -> String {
        match map {
            Elements::Set(name) => format!("@{}", printable(name)),
            Elements::Inline(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|e| {
                        let data = match &e.data {
                            Some(Data::Verdict(v)) => verdict(v),
                            Some(Data::Value(bytes)) => hex(bytes),
                            None => String::new(),
                        };
                        format!("{} : {data}", kind.element(e, false))
                    })
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
        }
    }

    fn operand(&self, i: usize, operand: &Operand, kind: &Kind) -> String {
        match operand {
            Operand::Const(bytes) => kind.value(bytes, false),
            Operand::Load(key) => self.key_text(i, key),
            Operand::Map { key, map } => {
                let (name, key_kind) = self.key(i, key);
                format!("{name} map {}", self.map(&key_kind, map))
            }
            Operand::Unknown(what) => printable(what),
        }
    }

    fn reject(&self, reject: Reject) -> String {
        let plain = match (self.table.family, reject) {
            (TableFamily::Ip, Reject::Icmp(3)) | (TableFamily::Ip6, Reject::Icmpv6(4)) => true,
            (TableFamily::Ip | TableFamily::Ip6, _) => false,
            (_, Reject::Icmpx(1)) => true,
            _ => false,
        };
        if plain {
            return "reject".into();
        }
        match reject {
            Reject::TcpReset => "reject with tcp reset".into(),
            Reject::Icmp(code) => format!("reject with icmp type {}", icmp_code(code)),
            Reject::Icmpv6(code) => format!("reject with icmpv6 type {}", icmpv6_code(code)),
            Reject::Icmpx(code) => format!("reject with icmpx type {}", icmpx_code(code)),
        }
    }

    fn nat(&self, i: usize, nat: &Nat) -> String {
        let word = match nat.kind {
            NatKind::Snat => "snat",
            NatKind::Dnat => "dnat",
            NatKind::Masquerade => "masquerade",
            NatKind::Redirect => "redirect",
        };
        let family = match nat.family {
            Some(NatFamily::Ipv4) if self.table.family == TableFamily::Inet => " ip",
            Some(NatFamily::Ipv6) if self.table.family == TableFamily::Inet => " ip6",
            _ => "",
        };
        let range = |range: &OperandRange, kind: &Kind| {
            let min = self.operand(i, &range.min, kind);
            match &range.max {
                Some(max) => format!("{min}-{}", self.operand(i, max, kind)),
                None => min,
            }
        };
        let address = nat.address.as_ref().map(|a| range(a, &Kind::Ip));
        let port = nat.port.as_ref().map(|p| range(p, &Kind::Port));
        if address.is_none() && port.is_none() {
            return format!("{word}{family}");
        }
        format!("{word}{family} to {}", target(address, port))
    }
}

/// `10.0.0.1:80`, `[fd00::5]:53`, `:8080`, `10.0.0.1`.
fn target(address: Option<String>, port: Option<String>) -> String {
    match (address, port) {
        (Some(a), Some(p)) if a.contains(':') && !a.contains(' ') => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (Some(a), None) => a,
        (None, Some(p)) => format!(":{p}"),
        (None, None) => String::new(),
    }
}

fn verdict(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Continue => "continue".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(chain) => format!("jump {}", printable(chain)),
        Verdict::Goto(chain) => format!("goto {}", printable(chain)),
        Verdict::Queue { bypass: true } => "queue bypass".into(),
        Verdict::Queue { bypass: false } => "queue".into(),
    }
}

/// The protocol checks nft adds on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dep {
    L4proto,
    Nfproto,
    Ethertype,
}

/// `meta l4proto X`, `meta nfproto X`, `meta protocol X`: an equality with one value.
fn dependency(m: &Match) -> Option<(Dep, u32)> {
    let [load] = m.key.parts.as_slice() else {
        return None;
    };
    if !load.transforms.is_empty() {
        return None;
    }
    let dep = match load.field {
        Field::Meta(MetaKey::L4proto) => Dep::L4proto,
        Field::Meta(MetaKey::Nfproto) => Dep::Nfproto,
        Field::Meta(MetaKey::Protocol) => Dep::Ethertype,
        _ => return None,
    };
    let Test::Equal {
        negate: false,
        value,
    } = &m.test
    else {
        return None;
    };
    let value = match (dep, &**value) {
        (Dep::Ethertype, [a, b]) => u32::from(u16::from_be_bytes([*a, *b])),
        (_, [a, ..]) => u32::from(*a),
        _ => return None,
    };
    Some((dep, value))
}

/// How values of a key read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Port,
    Ipv4,
    Ipv6,
    /// An address of a family the context does not say (a NAT target).
    Ip,
    Ifname,
    Ifindex,
    Proto,
    Nfproto,
    Ethertype,
    CtState,
    CtStatus,
    Hex32,
    FibType,
    Pkttype,
    TcpFlags,
    IcmpType,
    Icmpv6Type,
    Decimal,
    Bytes,
    Concat(Vec<Kind>),
}

impl Kind {
    fn is_address(&self) -> bool {
        matches!(self, Kind::Ipv4 | Kind::Ipv6)
    }

    fn address_len(&self) -> Option<usize> {
        match self {
            Kind::Ipv4 => Some(4),
            Kind::Ipv6 => Some(16),
            _ => None,
        }
    }

    fn is_flags(&self) -> bool {
        matches!(self, Kind::CtState | Kind::CtStatus | Kind::TcpFlags)
    }

    fn element(&self, e: &Element, swapped: bool) -> String {
        match self {
            Kind::Concat(kinds) if kinds.len() == e.key.len() => kinds
                .iter()
                .zip(&e.key)
                .map(|(k, s)| k.span(s, swapped))
                .collect::<Vec<_>>()
                .join(" . "),
            _ => e
                .key
                .iter()
                .map(|s| self.span(s, swapped))
                .collect::<Vec<_>>()
                .join(" . "),
        }
    }

    fn span(&self, span: &Span, swapped: bool) -> String {
        if span.low == span.high {
            return self.value(&span.low, swapped);
        }
        if self.is_address()
            && let Some(bits) = span_prefix(&span.low, &span.high)
        {
            return format!("{}/{bits}", self.value(&span.low, swapped));
        }
        if *self == Kind::Ifname
            && let Some(stem) = wildcard(&span.low, &span.high)
        {
            return stem;
        }
        format!(
            "{}-{}",
            self.value(&span.low, swapped),
            self.value(&span.high, swapped)
        )
    }

    /// A value in register layout; `swapped`: the key went through byteorder (a host-order
    /// field compared as network order).
    fn value(&self, bytes: &[u8], swapped: bool) -> String {
        let host32 = || -> Option<u32> {
            let mut word = [0u8; 4];
            let n = bytes.len().min(4);
            word[..n].copy_from_slice(&bytes[..n]);
            Some(if swapped {
                u32::from_be_bytes(word)
            } else {
                u32::from_ne_bytes(word)
            })
        };
        match self {
            Kind::Port if bytes.len() >= 2 => u16::from_be_bytes([bytes[0], bytes[1]]).to_string(),
            Kind::Ipv4 if bytes.len() == 4 => {
                Ipv4Addr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default()).to_string()
            }
            Kind::Ipv6 if bytes.len() == 16 => {
                Ipv6Addr::from(<[u8; 16]>::try_from(bytes).unwrap_or_default()).to_string()
            }
            Kind::Ip if bytes.len() == 4 => Kind::Ipv4.value(bytes, swapped),
            Kind::Ip if bytes.len() == 16 => Kind::Ipv6.value(bytes, swapped),
            Kind::Ifname => ifname(bytes),
            Kind::Ifindex => match host32() {
                Some(1) => "lo".into(),
                Some(n) => n.to_string(),
                None => hex(bytes),
            },
            Kind::Proto if bytes.len() == 1 => proto(bytes[0]),
            Kind::Nfproto if bytes.len() == 1 => match bytes[0] {
                2 => "ipv4".into(),
                10 => "ipv6".into(),
                n => n.to_string(),
            },
            Kind::Ethertype if bytes.len() == 2 => match u16::from_be_bytes([bytes[0], bytes[1]]) {
                0x0800 => "ip".into(),
                0x86dd => "ip6".into(),
                0x0806 => "arp".into(),
                0x8100 => "vlan".into(),
                n => format!("{n:#06x}"),
            },
            Kind::CtState => flags(
                host32().unwrap_or(0),
                &[
                    (1, "invalid"),
                    (2, "established"),
                    (4, "related"),
                    (8, "new"),
                    (64, "untracked"),
                ],
            ),
            Kind::CtStatus => flags(
                host32().unwrap_or(0),
                &[
                    (1, "expected"),
                    (2, "seen-reply"),
                    (4, "assured"),
                    (8, "confirmed"),
                    (16, "snat"),
                    (32, "dnat"),
                    (512, "dying"),
                ],
            ),
            Kind::TcpFlags if bytes.len() == 1 => flags(
                u32::from(bytes[0]),
                &[
                    (0x01, "fin"),
                    (0x02, "syn"),
                    (0x04, "rst"),
                    (0x08, "psh"),
                    (0x10, "ack"),
                    (0x20, "urg"),
                    (0x40, "ecn"),
                    (0x80, "cwr"),
                ],
            ),
            Kind::Hex32 if bytes.len() == 4 => format!("{:#010x}", host32().unwrap_or(0)),
            Kind::FibType if bytes.len() == 4 => {
                const TYPES: [&str; 9] = [
                    "unspec",
                    "unicast",
                    "local",
                    "broadcast",
                    "anycast",
                    "multicast",
                    "blackhole",
                    "unreachable",
                    "prohibit",
                ];
                let n = host32().unwrap_or(0);
                TYPES
                    .get(n as usize)
                    .map_or_else(|| n.to_string(), |s| (*s).into())
            }
            Kind::Pkttype if bytes.len() == 1 => match bytes[0] {
                0 => "host".into(),
                1 => "broadcast".into(),
                2 => "multicast".into(),
                3 => "other".into(),
                n => n.to_string(),
            },
            Kind::IcmpType if bytes.len() == 1 => match bytes[0] {
                0 => "echo-reply".into(),
                3 => "destination-unreachable".into(),
                5 => "redirect".into(),
                8 => "echo-request".into(),
                11 => "time-exceeded".into(),
                n => n.to_string(),
            },
            Kind::Icmpv6Type if bytes.len() == 1 => match bytes[0] {
                1 => "destination-unreachable".into(),
                2 => "packet-too-big".into(),
                3 => "time-exceeded".into(),
                128 => "echo-request".into(),
                129 => "echo-reply".into(),
                133 => "nd-router-solicit".into(),
                134 => "nd-router-advert".into(),
                135 => "nd-neighbor-solicit".into(),
                136 => "nd-neighbor-advert".into(),
                n => n.to_string(),
            },
            Kind::Decimal if bytes.len() <= 4 && !bytes.is_empty() => {
                if bytes.len() == 4 {
                    host32().unwrap_or(0).to_string()
                } else {
                    bytes
                        .iter()
                        .fold(0u32, |n, b| n << 8 | u32::from(*b))
                        .to_string()
                }
            }
            _ => hex(bytes),
        }
    }
}

/// `ip daddr`, `tcp dport`, `iifname`, `ct state`, …: a load as nft names it.
fn load_name(context: Context, load: &Load) -> (String, Kind) {
    let len = usize::from(load.len);
    match &load.field {
        Field::Payload { base, offset } => payload_name(context, *base, *offset as usize, len),
        Field::Meta(key) => {
            let (name, kind) = match key {
                MetaKey::L4proto => ("meta l4proto", Kind::Proto),
                MetaKey::Nfproto => ("meta nfproto", Kind::Nfproto),
                MetaKey::Protocol => ("meta protocol", Kind::Ethertype),
                MetaKey::Mark => ("meta mark", Kind::Hex32),
                MetaKey::Iif => ("iif", Kind::Ifindex),
                MetaKey::Oif => ("oif", Kind::Ifindex),
                MetaKey::Iifname => ("iifname", Kind::Ifname),
                MetaKey::Oifname => ("oifname", Kind::Ifname),
                MetaKey::Iiftype => ("iiftype", Kind::Decimal),
                MetaKey::Oiftype => ("oiftype", Kind::Decimal),
                MetaKey::Iifkind => ("iifkind", Kind::Ifname),
                MetaKey::Oifkind => ("oifkind", Kind::Ifname),
                MetaKey::Iifgroup => ("iifgroup", Kind::Decimal),
                MetaKey::Oifgroup => ("oifgroup", Kind::Decimal),
                MetaKey::Skuid => ("meta skuid", Kind::Decimal),
                MetaKey::Skgid => ("meta skgid", Kind::Decimal),
                MetaKey::Pkttype => ("meta pkttype", Kind::Pkttype),
                MetaKey::Priority => ("meta priority", Kind::Hex32),
                MetaKey::Cgroup => ("meta cgroup", Kind::Decimal),
                MetaKey::Secmark => ("meta secmark", Kind::Decimal),
                MetaKey::Len => ("meta length", Kind::Decimal),
                MetaKey::Other(n) => return (format!("meta key {n}"), Kind::Bytes),
            };
            (name.into(), kind)
        }
        Field::Ct { key, direction } => {
            let dir = match direction {
                Some(CtDirection::Original) => "original ",
                Some(CtDirection::Reply) => "reply ",
                None => "",
            };
            let (name, kind) = match key {
                CtKey::State => ("state", Kind::CtState),
                CtKey::Status => ("status", Kind::CtStatus),
                CtKey::Mark => ("mark", Kind::Hex32),
                CtKey::Direction => ("direction", Kind::Decimal),
                CtKey::Expiration => ("expiration", Kind::Decimal),
                CtKey::Helper => ("helper", Kind::Ifname),
                CtKey::L3protocol => ("l3proto", Kind::Nfproto),
                CtKey::Protocol => ("protocol", Kind::Proto),
                CtKey::Saddr => ("saddr", if len == 16 { Kind::Ipv6 } else { Kind::Ipv4 }),
                CtKey::Daddr => ("daddr", if len == 16 { Kind::Ipv6 } else { Kind::Ipv4 }),
                CtKey::ProtoSrc => ("proto-src", Kind::Port),
                CtKey::ProtoDst => ("proto-dst", Kind::Port),
                CtKey::Label => ("label", Kind::Bytes),
                CtKey::Zone => ("zone", Kind::Decimal),
                CtKey::Other(n) => return (format!("ct {dir}key {n}"), Kind::Bytes),
            };
            (format!("ct {dir}{name}"), kind)
        }
        Field::Fib { flags, result } => {
            let names: Vec<&str> = [
                (1, "saddr"),
                (2, "daddr"),
                (4, "mark"),
                (8, "iif"),
                (16, "oif"),
            ]
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, n)| *n)
            .collect();
            let (result, kind) = match result {
                FibResult::Oif => ("oif", Kind::Ifindex),
                FibResult::Oifname => ("oifname", Kind::Ifname),
                FibResult::Addrtype => ("type", Kind::FibType),
            };
            (format!("fib {} {result}", names.join(" . ")), kind)
        }
        Field::Socket(key) => {
            let (name, kind) = match key {
                SocketKey::Transparent => ("transparent", Kind::Decimal),
                SocketKey::Mark => ("mark", Kind::Hex32),
                SocketKey::Wildcard => ("wildcard", Kind::Decimal),
                SocketKey::Cgroupv2 => ("cgroupv2", Kind::Decimal),
            };
            (format!("socket {name}"), kind)
        }
        Field::Other(what) => (printable(what), Kind::Bytes),
    }
}

fn payload_name(context: Context, base: PayloadBase, offset: usize, len: usize) -> (String, Kind) {
    let raw = |prefix: &str| (format!("@{prefix},{},{}", offset * 8, len * 8), Kind::Bytes);
    match base {
        PayloadBase::Network => {
            // The family: what the rule checked, else what the offset can only be.
            let ip = context.ip.or(match (offset, len) {
                (8 | 24, 16) => Some(6),
                (12 | 16, 1..=4) | (9, 1) => Some(4),
                _ => None,
            });
            match (ip, offset, len) {
                (Some(4), 9, 1) => ("ip protocol".into(), Kind::Proto),
                (Some(4), 12, 1..=4) => ("ip saddr".into(), Kind::Ipv4),
                (Some(4), 16, 1..=4) => ("ip daddr".into(), Kind::Ipv4),
                (Some(4), 8, 1) => ("ip ttl".into(), Kind::Decimal),
                (Some(6), 6, 1) => ("ip6 nexthdr".into(), Kind::Proto),
                (Some(6), 7, 1) => ("ip6 hoplimit".into(), Kind::Decimal),
                (Some(6), 8, 1..=16) => ("ip6 saddr".into(), Kind::Ipv6),
                (Some(6), 24, 1..=16) => ("ip6 daddr".into(), Kind::Ipv6),
                _ => raw("nh"),
            }
        }
        PayloadBase::Transport => {
            let protocol = match context.l4 {
                Some(6) => "tcp",
                Some(17) => "udp",
                Some(132) => "sctp",
                Some(33) => "dccp",
                Some(136) => "udplite",
                Some(1) => "icmp",
                Some(58) => "icmpv6",
                _ => "th",
            };
            match (protocol, offset, len) {
                ("icmp", 0, 1) => ("icmp type".into(), Kind::IcmpType),
                ("icmpv6", 0, 1) => ("icmpv6 type".into(), Kind::Icmpv6Type),
                ("icmp" | "icmpv6", 1, 1) => (format!("{protocol} code"), Kind::Decimal),
                ("icmp" | "icmpv6", ..) => raw("th"),
                (_, 2, 2) => (format!("{protocol} dport"), Kind::Port),
                (_, 0, 2) => (format!("{protocol} sport"), Kind::Port),
                ("tcp", 13, 1) => ("tcp flags".into(), Kind::TcpFlags),
                _ => raw("th"),
            }
        }
        PayloadBase::Link => raw("ll"),
        PayloadBase::Inner => raw("ih"),
    }
}

/// The prefix length of a mask of leading ones (`ff ff f0 00` is 20), if it is one.
fn prefix_mask(mask: &[u8]) -> Option<usize> {
    let mut bits = 0;
    let mut ended = false;
    for &byte in mask {
        if ended {
            if byte != 0 {
                return None;
            }
            continue;
        }
        let lead = byte.leading_ones();
        bits += lead as usize;
        if lead < 8 {
            if byte << lead != 0 {
                return None;
            }
            ended = true;
        }
    }
    Some(bits)
}

/// The prefix length when `[low, high]` is exactly one prefix (`10.0.0.0-10.255.255.255`).
fn span_prefix(low: &[u8], high: &[u8]) -> Option<usize> {
    if low.len() != high.len() {
        return None;
    }
    let mask: Vec<u8> = low.iter().zip(high).map(|(l, h)| !(l ^ h)).collect();
    let bits = prefix_mask(&mask)?;
    let host_ok = low
        .iter()
        .zip(high)
        .zip(&mask)
        .all(|((l, h), m)| l & !m == 0 && h & !m == !m);
    host_ok.then_some(bits)
}

/// `wg*`: an interval from a name stem with NULs to the stem with 0xff bytes.
fn wildcard(low: &[u8], high: &[u8]) -> Option<String> {
    let stem = low.iter().position(|b| *b == 0)?;
    let (l, h) = (&low[stem..], &high[stem..]);
    (low[..stem] == high[..stem] && l.iter().all(|b| *b == 0) && h.iter().all(|b| *b == 0xff))
        .then(|| format!("{}*", escape_name(&low[..stem])))
}

/// An interface name from its bytes: NUL-terminated (`eth0`), or a prefix the kernel
/// compares alone (`eth*`); a literal `*` is escaped (`eth\*`), as nft writes it.
fn ifname(bytes: &[u8]) -> String {
    match bytes.iter().position(|b| *b == 0) {
        Some(end) => escape_name(&bytes[..end]),
        None => format!("{}*", escape_name(bytes)),
    }
}

fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'*' => out.push_str("\\*"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// Text from the ruleset (names, what a step is) without control characters.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(len.max(bytes.len()), 0);
    v
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::from("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn flags(value: u32, names: &[(u32, &str)]) -> String {
    let mut parts: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    let known: u32 = names.iter().map(|(b, _)| b).sum();
    let rest = value & !known;
    let rest_text = format!("{rest:#x}");
    if rest != 0 {
        parts.push(&rest_text);
    }
    if parts.is_empty() {
        return "0x0".into();
    }
    parts.join(",")
}

fn proto(n: u8) -> String {
    match n {
        1 => "icmp".into(),
        2 => "igmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        33 => "dccp".into(),
        41 => "ipv6".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        51 => "ah".into(),
        58 => "ipv6-icmp".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        n => n.to_string(),
    }
}

fn icmp_code(code: u8) -> String {
    match code {
        0 => "net-unreachable".into(),
        1 => "host-unreachable".into(),
        2 => "prot-unreachable".into(),
        3 => "port-unreachable".into(),
        9 => "net-prohibited".into(),
        10 => "host-prohibited".into(),
        13 => "admin-prohibited".into(),
        n => n.to_string(),
    }
}

fn icmpv6_code(code: u8) -> String {
    match code {
        0 => "no-route".into(),
        1 => "admin-prohibited".into(),
        3 => "addr-unreachable".into(),
        4 => "port-unreachable".into(),
        5 => "policy-fail".into(),
        6 => "reject-route".into(),
        n => n.to_string(),
    }
}

fn icmpx_code(code: u8) -> String {
    match code {
        0 => "no-route".into(),
        1 => "port-unreachable".into(),
        2 => "host-unreachable".into(),
        3 => "admin-prohibited".into(),
        n => n.to_string(),
    }
}
