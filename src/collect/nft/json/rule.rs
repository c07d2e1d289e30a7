//! One rule of nft's JSON as the steps the kernel runs, the way nft itself would send them:
//! the implied protocol checks first (`meta nfproto`, `meta l4proto`), a prefix on a byte
//! boundary as a shorter load, a range as two compares, flags as a mask and a compare, a
//! host-order field through byteorder before an ordering, a one-element set as a compare.
//! A statement it cannot encode exactly becomes a condition (a match: either way) or an
//! opaque step (anything else), never an error.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::expr::{Expr, JVerdict, NatBody, Payload, Stmt, TproxyBody, statement};
use super::types::{
    IfnamePattern, Need, Type, ct_key, ifname_pattern, meta_key, payload_field, text,
};
use crate::ruleset::{
    CtDirection, Data, Element, Elements, FibResult, Field, Key, Load, Match, MetaKey, Nat,
    NatFamily, NatKind, Operand, OperandRange, Order, PayloadBase, Reject, SocketKey, Span,
    Statement, Step, TableFamily, Test, Tproxy, Transform, Verdict,
};
use crate::socket::Family;

/// What a rule needs to know of its table's sets: whether they hold intervals, and for a
/// map what its data holds.
#[derive(Debug, Clone)]
pub struct SetInfo {
    pub interval: bool,
    /// A map's data components (`ipv4_addr . inet_service` is 2); `None` where the data
    /// type could not be read (it may hold anything).
    pub data_parts: Option<usize>,
    /// A map's data are ranges (`: interval ipv4_addr`), as its elements show.
    pub data_interval: bool,
}

/// The steps of one rule, and the sets it updates from the packet path.
pub fn build(
    family: TableFamily,
    exprs: &[&RawValue],
    sets: &HashMap<String, SetInfo>,
    interfaces: &dyn Fn(&str) -> Option<u32>,
) -> (Vec<Step>, Vec<String>) {
    let mut builder = Builder {
        family,
        ip: match family {
            TableFamily::Ip => Some(Family::Ipv4),
            TableFamily::Ip6 => Some(Family::Ipv6),
            _ => None,
        },
        l4: None,
        // A bridge's packets have an ethernet header; elsewhere a rule establishes it.
        ether: family == TableFamily::Bridge,
        steps: Vec::with_capacity(exprs.len() + 2),
        sets,
        interfaces,
        updates: Vec::new(),
    };
    for raw in exprs {
        builder.statement(statement(raw));
    }
    (builder.steps, builder.updates)
}

/// A key's parts: what each loads and its type.
type Parts = Vec<(Load, Type)>;

struct Builder<'s> {
    family: TableFamily,
    /// The network protocol the rule has established so far.
    ip: Option<Family>,
    /// The transport protocol the rule has established so far.
    l4: Option<u8>,
    /// Whether the rule has established an ethernet link header (`meta iiftype ether`,
    /// or a bridge): nft adds no `meta iiftype ether` before a link header field then.
    ether: bool,
    steps: Vec<Step>,
    sets: &'s HashMap<String, SetInfo>,
    interfaces: &'s dyn Fn(&str) -> Option<u32>,
    updates: Vec<String>,
}

impl Builder<'_> {
    fn statement(&mut self, statement: Stmt) {
        match statement {
            Stmt::Match { op, left, right } => {
                let mark = self.steps.len();
                let context = (self.ip, self.l4);
                if let Err(what) = self.matched(&op, &left, &right) {
                    // Whatever it was, it only matches or not: either way.
                    self.steps.truncate(mark);
                    (self.ip, self.l4) = context;
                    self.condition(&format!("a match on {what}"));
                }
            }
            Stmt::Verdict(v) => self.push(Statement::Verdict(verdict(v))),
            Stmt::Queue { bypass } => self.push(Statement::Verdict(Verdict::Queue { bypass })),
            Stmt::Reject { kind, code } => {
                if let Err(what) = self.reject(kind.as_deref(), code.as_ref()) {
                    self.opaque(&what);
                }
            }
            Stmt::Nat { kind, body } => {
                let mark = self.steps.len();
                if let Err(what) = self.nat(kind, &body) {
                    self.steps.truncate(mark);
                    self.opaque(&format!("{kind} ({what})"));
                }
            }
            Stmt::Tproxy(body) => {
                if let Err(what) = self.tproxy(&body) {
                    self.opaque(&format!("tproxy ({what})"));
                }
            }
            Stmt::Vmap { key, data } => {
                let mark = self.steps.len();
                if let Err(what) = self.vmap(&key, &data) {
                    self.steps.truncate(mark);
                    self.opaque(&format!("a verdict map ({what})"));
                }
            }
            Stmt::Mangle { key, value } => {
                let mark = self.steps.len();
                if let Err(what) = self.mangle(&key, &value) {
                    self.steps.truncate(mark);
                    self.opaque(&format!("a set statement ({what})"));
                }
            }
            Stmt::Condition(what) => self.condition(&what),
            Stmt::Effect(what) => self.effect(&what),
            Stmt::Update(set, elem, statements) => {
                // What it adds is read from the packet: nft checks the protocols first.
                if let Some(Ok((_, needs))) = elem.as_ref().map(|e| self.key(unwrap_elem(e))) {
                    for need in needs {
                        self.ensure(need);
                    }
                }
                // With per-element statements (a limit, a quota) whether the rule goes on
                // depends on the element's state: either way.
                if statements {
                    self.condition(&format!("update @{set} with statements"));
                } else {
                    self.effect(&format!("update @{set}"));
                }
                self.updates.push(set);
            }
            Stmt::UpdateText(set, text) => {
                // Only the text is known (nft 1.0.6 has no JSON for a map statement): what
                // it adds, and whether per-element statements stop the rule, are not.
                self.condition(&text);
                self.updates.push(set);
            }
            Stmt::ObjectMap(kind, key) => match self.key(&key) {
                Ok((_, needs)) => {
                    for need in needs {
                        self.ensure(need);
                    }
                    // A key not in the map ends the rule.
                    self.condition(&format!("{kind} map"));
                }
                Err(what) => self.condition(&format!("{kind} map on {what}")),
            },
            Stmt::Xt { kind, name } => self.xt(&kind, &name),
            Stmt::Unknown(what) => self.opaque(&what),
        }
    }

    /// An iptables-nft compat match or target, of which nft's JSON gives the name only.
    /// A match only matches or not (either way); a target is known by what it can do:
    /// NAT (to somewhere not shown), a mark set (to a value not shown), a reject, or
    /// nothing to the packet's path. Others are opaque.
    fn xt(&mut self, kind: &str, name: &str) {
        let unknown = |what: &str| OperandRange {
            min: Operand::Unknown(what.into()),
            max: None,
        };
        let nat = |kind, address, port| {
            Statement::Nat(Box::new(Nat {
                kind,
                family: None,
                address,
                port,
                flags: 0,
            }))
        };
        match (kind, name) {
            // `-m comment` matches every packet: it only carries text.
            ("match", "comment") => self.effect("comment"),
            ("match", _) => self.condition(&format!("xt match {name}")),
            ("watcher", _) => self.effect(&format!("xt watcher {name}")),
            ("target", "DNAT") => self.push(nat(
                NatKind::Dnat,
                Some(unknown(super::super::XT_DNAT)),
                Some(unknown(super::super::XT_DNAT)),
            )),
            ("target", "SNAT") => self.push(nat(
                NatKind::Snat,
                Some(unknown("an iptables-nft SNAT target's")),
                None,
            )),
            ("target", "MASQUERADE") => self.push(nat(NatKind::Masquerade, None, None)),
            ("target", "REDIRECT") => self.push(nat(
                NatKind::Redirect,
                None,
                Some(unknown("an iptables-nft REDIRECT target's")),
            )),
            ("target", "MARK" | "CONNMARK") => {
                let value = Box::new(Operand::Unknown(format!("xt target {name}")));
                self.push(Statement::Set {
                    field: Field::Meta(MetaKey::Mark),
                    value: value.clone(),
                });
                if name == "CONNMARK" {
                    self.push(Statement::Set {
                        field: Field::Ct {
                            key: crate::ruleset::CtKey::Mark,
                            direction: None,
                        },
                        value,
                    });
                }
            }
            // The reject type is not shown; any of them ends the packet.
            ("target", "REJECT") => {
                self.effect(super::super::XT_REJECT);
                let _ = self.reject(None, None);
            }
            (
                "target",
                "LOG" | "NFLOG" | "TRACE" | "CT" | "NOTRACK" | "AUDIT" | "CHECKSUM" | "TCPMSS"
                | "TOS" | "DSCP" | "CLASSIFY" | "SECMARK" | "CONNSECMARK" | "IDLETIMER" | "LED"
                | "TEE" | "TCPOPTSTRIP" | "ECN" | "TTL" | "HL",
            ) => self.effect(&format!("xt target {name}")),
            _ => self.opaque(&format!("xt target {name}")),
        }
    }

    fn condition(&mut self, what: &str) {
        self.steps.push(Step::Condition(what.into()));
    }

    fn effect(&mut self, what: &str) {
        self.push(Statement::Effect(what.into()));
    }

    fn opaque(&mut self, what: &str) {
        self.steps.push(Step::Opaque(what.into()));
    }

    fn push(&mut self, statement: Statement) {
        self.steps.push(Step::Statement(statement));
    }

    fn push_match(&mut self, parts: &Parts, test: Test) {
        self.steps.push(Step::Match(Match {
            key: Key {
                parts: parts.iter().map(|(l, _)| l.clone()).collect(),
            },
            test,
        }));
    }

    /// The implied check a field needs, unless the rule has made it already.
    fn ensure(&mut self, need: Need) {
        match need {
            Need::Nothing => {}
            Need::Ip(family) => self.network(family, false),
            Need::L4(protocol, family) => {
                // nft looks for ICMP's network protocol only where the rule has not
                // established one: after `meta nfproto ipv4`, `icmpv6 type` gets its
                // `meta l4proto` and no IPv6 check.
                if let Some(family) = family
                    && self.ip.is_none()
                {
                    self.network(family, true);
                }
                if self.l4 != Some(protocol) {
                    self.dependency(MetaKey::L4proto, &[protocol]);
                    self.l4 = Some(protocol);
                }
            }
            Need::Ether => {
                if !self.ether {
                    // ARPHRD_ETHER, host order.
                    self.dependency(MetaKey::Iiftype, &1u16.to_ne_bytes());
                    self.ether = true;
                }
            }
        }
    }

    /// The network protocol check nft puts before a network header field, unless the
    /// rule has made it. In a bridge nft checks `meta protocol` before an IP header
    /// field (it matches VLAN-offloaded packets too) but `ether type` (link header bytes
    /// 12–13) before ICMP's (`for_icmp`), as it finds the ICMP dependency on the
    /// family's link header. (After `meta iiftype ether` in other families nft's choice
    /// depends on the order it evaluated the rule in, which its listing does not keep.)
    fn network(&mut self, family: Family, for_icmp: bool) {
        if self.ip == Some(family) {
            return;
        }
        let ethertype: [u8; 2] = if family == Family::Ipv4 {
            [0x08, 0x00]
        } else {
            [0x86, 0xdd]
        };
        let ether_type = self.family == TableFamily::Bridge && for_icmp;
        match self.family {
            _ if ether_type => self.steps.push(Step::Match(Match {
                key: Key {
                    parts: vec![Load {
                        field: Field::Payload {
                            base: PayloadBase::Link,
                            offset: 12,
                        },
                        len: 2,
                        transforms: Vec::new(),
                    }],
                },
                test: Test::Equal {
                    negate: false,
                    value: ethertype.into(),
                },
            })),
            TableFamily::Inet => {
                let nfproto = if family == Family::Ipv4 { 2 } else { 10 };
                self.dependency(MetaKey::Nfproto, &[nfproto]);
            }
            TableFamily::Bridge | TableFamily::Netdev => {
                self.dependency(MetaKey::Protocol, &ethertype);
            }
            _ => {}
        }
        self.ip = Some(family);
    }

    fn dependency(&mut self, key: MetaKey, value: &[u8]) {
        self.steps.push(Step::Match(Match {
            key: Key {
                parts: vec![Load {
                    field: Field::Meta(key),
                    len: value.len() as u8,
                    transforms: Vec::new(),
                }],
            },
            test: Test::Equal {
                negate: false,
                value: value.into(),
            },
        }));
    }

    /// What an expression loads: its parts with their types, the checks they need made
    /// first (in order).
    fn key(&self, expr: &Expr) -> Result<(Parts, Vec<Need>), String> {
        let mut parts = Vec::new();
        let mut needs = Vec::new();
        let items: &[Expr] = match expr {
            Expr::Concat(items) => items,
            one => std::slice::from_ref(one),
        };
        for item in items {
            // What jhash hashes is loaded first, its protocols checked.
            if let Expr::Hash(_, Some(hashed)) = item
                && let Ok((_, hashed_needs)) = self.key(hashed)
            {
                needs.extend(hashed_needs);
            }
            let (load, ty, need) = self.load(item)?;
            parts.push((load, ty));
            needs.push(need);
        }
        if parts.is_empty() {
            return Err("an empty concatenation".into());
        }
        Ok((parts, needs))
    }

    fn load(&self, expr: &Expr) -> Result<(Load, Type, Need), String> {
        let plain = |field: Field, ty: Type, need: Need| {
            Ok((
                Load {
                    field,
                    len: ty.len() as u8,
                    transforms: Vec::new(),
                },
                ty,
                need,
            ))
        };
        match expr {
            Expr::Payload(Payload::Named { protocol, field }) => {
                let f =
                    payload_field(protocol, field).ok_or_else(|| format!("{protocol} {field}"))?;
                plain(
                    Field::Payload {
                        base: f.base,
                        offset: f.offset,
                    },
                    f.ty,
                    f.need,
                )
            }
            Expr::Payload(Payload::Raw { base, offset, len }) => {
                let base = match &**base {
                    "ll" => PayloadBase::Link,
                    "nh" => PayloadBase::Network,
                    "th" => PayloadBase::Transport,
                    "ih" => PayloadBase::Inner,
                    other => return Err(format!("a payload of base {other}")),
                };
                if !offset.is_multiple_of(8) || !len.is_multiple_of(8) || *len == 0 || *len > 128 {
                    return Err(format!("a payload of {len} bits at bit {offset}"));
                }
                let ty = Type::Int {
                    len: (len / 8) as u8,
                    host: false,
                };
                plain(
                    Field::Payload {
                        base,
                        offset: offset / 8,
                    },
                    ty,
                    Need::Nothing,
                )
            }
            Expr::Meta(key) => {
                let (key, ty) = meta_key(key).ok_or_else(|| format!("meta {key}"))?;
                plain(Field::Meta(key), ty, Need::Nothing)
            }
            Expr::Ct { key, family, dir } => {
                let (ct, ty) = ct_key(key, family.as_deref()).ok_or_else(|| format!("ct {key}"))?;
                let direction = match dir.as_deref() {
                    Some("original") => Some(CtDirection::Original),
                    Some("reply") => Some(CtDirection::Reply),
                    None => None,
                    Some(other) => return Err(format!("ct {other} {key}")),
                };
                plain(Field::Ct { key: ct, direction }, ty, Need::Nothing)
            }
            Expr::Fib { result, flags } => {
                let mut bits = 0;
                for flag in flags {
                    bits |= match &**flag {
                        "saddr" => 1,
                        "daddr" => 2,
                        "mark" => 4,
                        "iif" => 8,
                        "oif" => 16,
                        other => return Err(format!("fib {other}")),
                    };
                }
                let (result, ty) = match &**result {
                    "type" => (FibResult::Addrtype, Type::Fibtype),
                    "oif" => (FibResult::Oif, Type::Ifindex),
                    "oifname" => (FibResult::Oifname, Type::Ifname),
                    other => return Err(format!("fib {other}")),
                };
                plain(
                    Field::Fib {
                        flags: bits,
                        result,
                    },
                    ty,
                    Need::Nothing,
                )
            }
            Expr::Socket(key) => {
                let (key, ty) = match &**key {
                    "transparent" => (SocketKey::Transparent, Type::Bool),
                    "wildcard" => (SocketKey::Wildcard, Type::Bool),
                    "mark" => (SocketKey::Mark, Type::Int { len: 4, host: true }),
                    "cgroupv2" => (SocketKey::Cgroupv2, Type::Int { len: 8, host: true }),
                    other => return Err(format!("socket {other}")),
                };
                plain(Field::Socket(key), ty, Need::Nothing)
            }
            Expr::Hash(name, _) => plain(
                Field::Other((*name).into()),
                Type::Int { len: 4, host: true },
                Need::Nothing,
            ),
            Expr::Binop(op, inner, operand) => {
                let (mut load, ty, need) = self.load(inner)?;
                let len = usize::from(load.len);
                let transform = match *op {
                    "<<" | ">>" => {
                        let Expr::Num(n) = **operand else {
                            return Err("a shift by a non-number".into());
                        };
                        let n = u32::try_from(n).map_err(|_| "a shift too far")?;
                        if *op == "<<" {
                            Transform::ShiftLeft(n)
                        } else {
                            Transform::ShiftRight(n)
                        }
                    }
                    _ => {
                        let value = ty.encode(operand, self.interfaces)?;
                        if value.len() != len {
                            return Err("a mask of another width".into());
                        }
                        let (mask, xor): (Vec<u8>, Vec<u8>) = match *op {
                            "&" => (value, vec![0; len]),
                            "|" => (value.iter().map(|b| !b).collect(), value),
                            _ => (vec![0xff; len], value),
                        };
                        Transform::Mask {
                            mask: mask.into(),
                            xor: xor.into(),
                        }
                    }
                };
                push_transform(&mut load.transforms, transform);
                Ok((load, ty, need))
            }
            other => Err(describe(other)),
        }
    }

    /// A match: `left op right`.
    fn matched(&mut self, op: &str, left: &Expr, right: &Expr) -> Result<(), String> {
        let (mut parts, needs) = self.key(left)?;
        for need in needs {
            self.ensure(need);
        }
        let negate = match op {
            "==" | "in" => false,
            "!=" => true,
            "<" | ">" | "<=" | ">=" | "!" => false,
            other => return Err(format!("the operator {other}")),
        };
        let masked = matches!(left, Expr::Binop(..));
        let single = parts.len() == 1;
        let ty = parts[0].1;
        let right = match right {
            // A set of one: nft compares the one value.
            Expr::Set(items) if items.len() == 1 => unwrap_elem(&items[0]),
            other => other,
        };
        match right {
            Expr::Str(name) if name.starts_with('@') => {
                let name = &name[1..];
                if matches!(op, "<" | ">" | "<=" | ">=" | "!") {
                    return Err(format!("{op} on a set"));
                }
                let interval = self.sets.get(name).is_some_and(|s| s.interval);
                if interval && single && ty.host() {
                    byteorder(&mut parts);
                }
                self.push_match(
                    &parts,
                    Test::Member {
                        negate,
                        elements: Elements::Set(name.to_owned()),
                    },
                );
            }
            Expr::Set(items) => {
                if matches!(op, "<" | ">" | "<=" | ">=" | "!") {
                    return Err(format!("{op} on a set"));
                }
                let types: Vec<Type> = parts.iter().map(|(_, t)| *t).collect();
                let interval = items.iter().any(needs_interval);
                if interval && parts.iter().any(|(_, t)| t.host()) {
                    if !single {
                        return Err("a host-order concatenation of intervals".into());
                    }
                    byteorder(&mut parts);
                }
                let mut elements = Vec::with_capacity(items.len());
                for item in items {
                    elements.push(element(item, &types, interval, None, self.interfaces)?);
                }
                sort(&mut elements);
                self.push_match(
                    &parts,
                    Test::Member {
                        negate,
                        elements: Elements::Inline(elements),
                    },
                );
            }
            Expr::Range(low, high) => {
                if !single {
                    return Err("a range of a concatenation".into());
                }
                let swap = ty.host();
                if swap {
                    byteorder(&mut parts);
                }
                let low = encode_order(ty, low, swap, self.interfaces)?;
                let high = encode_order(ty, high, swap, self.interfaces)?;
                match op {
                    "==" | "in" => {
                        self.push_match(
                            &parts,
                            Test::Compare {
                                op: Order::Ge,
                                value: low.into(),
                            },
                        );
                        self.push_match(
                            &parts,
                            Test::Compare {
                                op: Order::Le,
                                value: high.into(),
                            },
                        );
                    }
                    "!=" => self.push_match(
                        &parts,
                        Test::Member {
                            negate: true,
                            elements: Elements::Inline(vec![Element {
                                key: vec![Span {
                                    low: low.into(),
                                    high: high.into(),
                                }],
                                data: None,
                            }]),
                        },
                    ),
                    other => return Err(format!("{other} with a range")),
                }
            }
            Expr::Prefix(address, bits) => {
                if !single || !ty.is_address() || matches!(op, "<" | ">" | "<=" | ">=" | "!") {
                    return Err("a prefix of this key".into());
                }
                let full = ty.len();
                let bits = *bits as usize;
                let address = ty.encode(address, self.interfaces)?;
                if bits > full * 8 {
                    return Err(format!("a /{bits} prefix"));
                }
                let value: Vec<u8> = if bits.is_multiple_of(8) && bits > 0 {
                    // On a byte boundary nft loads only the prefix.
                    parts[0].0.len = (bits / 8) as u8;
                    address[..bits / 8].to_vec()
                } else {
                    let mask = prefix_mask(full, bits);
                    push_transform(
                        &mut parts[0].0.transforms,
                        Transform::Mask {
                            mask: mask.clone().into(),
                            xor: vec![0; full].into(),
                        },
                    );
                    address.iter().zip(&mask).map(|(a, m)| a & m).collect()
                };
                self.push_match(&parts, member(negate, value));
            }
            Expr::List(_) if single && ty.bitmask() => {
                let value = ty.encode(right, self.interfaces)?;
                self.flags(&mut parts, op, value, masked)?;
            }
            _ if single && ty.bitmask() && matches!(op, "in" | "!") && !masked => {
                let value = ty.encode(right, self.interfaces)?;
                self.flags(&mut parts, op, value, masked)?;
            }
            _ => {
                let value: Vec<Vec<u8>> = match (right, single) {
                    (Expr::Concat(values), false) if values.len() == parts.len() => parts
                        .iter()
                        .zip(values)
                        .map(|((_, t), v)| scalar(*t, v, self.interfaces))
                        .collect::<Result<_, _>>()?,
                    (_, true) => vec![scalar(ty, right, self.interfaces)?],
                    _ => return Err(describe(right)),
                };
                match op {
                    "==" | "in" | "!=" if single => {
                        let value = value.into_iter().next().unwrap_or_default();
                        self.push_match(&parts, member(negate, value))
                    }
                    "==" | "in" | "!=" => self.push_match(
                        &parts,
                        Test::Member {
                            negate,
                            elements: Elements::Inline(vec![Element {
                                key: value.iter().map(|v| Span::exact(v)).collect(),
                                data: None,
                            }]),
                        },
                    ),
                    "<" | ">" | "<=" | ">=" if single => {
                        let swap = ty.host();
                        if swap {
                            byteorder(&mut parts);
                        }
                        let value = encode_order(ty, right, swap, self.interfaces)?;
                        let op = match op {
                            "<" => Order::Lt,
                            ">" => Order::Gt,
                            "<=" => Order::Le,
                            _ => Order::Ge,
                        };
                        self.push_match(
                            &parts,
                            Test::Compare {
                                op,
                                value: value.into(),
                            },
                        );
                    }
                    other => return Err(format!("{other} here")),
                }
            }
        }
        self.learn(left, op, right);
        Ok(())
    }

    /// A flag test: `ct state established,related` is the flags masked, then `!= 0`
    /// (`!` for none of them: `== 0`; `==`/`!=` compare the whole value).
    fn flags(
        &mut self,
        parts: &mut Parts,
        op: &str,
        value: Vec<u8>,
        masked: bool,
    ) -> Result<(), String> {
        let zero = vec![0u8; value.len()];
        match op {
            "in" | "!" if !masked => {
                push_transform(
                    &mut parts[0].0.transforms,
                    Transform::Mask {
                        mask: value.into(),
                        xor: zero.clone().into(),
                    },
                );
                self.push_match(parts, member(op == "in", zero));
            }
            "==" | "!=" | "in" => self.push_match(parts, member(op == "!=", value)),
            other => return Err(format!("{other} on flags")),
        }
        Ok(())
    }

    /// What an equality teaches the rest of the rule (`meta l4proto tcp`: a TCP header).
    fn learn(&mut self, left: &Expr, op: &str, right: &Expr) {
        if !matches!(op, "==" | "in") {
            return;
        }
        let number = |ty: Type| {
            ty.encode(right, self.interfaces)
                .ok()
                .filter(|v| v.len() == ty.len())
        };
        match left {
            Expr::Meta(key) if key == "l4proto" => {
                if let Some(v) = number(Type::Proto) {
                    self.l4 = Some(v[0]);
                }
            }
            Expr::Payload(Payload::Named { protocol, field })
                if (protocol == "ip" && field == "protocol")
                    || (protocol == "ip6" && field == "nexthdr") =>
            {
                if let Some(v) = number(Type::Proto) {
                    self.l4 = Some(v[0]);
                }
            }
            Expr::Meta(key)
                if key == "iiftype"
                    && number(Type::ArpHrd).as_deref() == Some(&1u16.to_ne_bytes()[..]) =>
            {
                self.ether = true;
            }
            Expr::Meta(key) if key == "nfproto" => match number(Type::Nfproto).as_deref() {
                Some([2]) => self.ip = Some(Family::Ipv4),
                Some([10]) => self.ip = Some(Family::Ipv6),
                _ => {}
            },
            Expr::Meta(key) if key == "protocol" => match number(Type::Ethertype).as_deref() {
                Some([0x08, 0x00]) => self.ip = Some(Family::Ipv4),
                Some([0x86, 0xdd]) => self.ip = Some(Family::Ipv6),
                _ => {}
            },
            _ => {}
        }
    }

    fn reject(&mut self, kind: Option<&str>, code: Option<&Expr>) -> Result<(), String> {
        let code_of = |names: &[(&str, u8)], default: u8| -> Result<u8, String> {
            match code {
                None | Some(Expr::Null) => Ok(default),
                Some(Expr::Num(n)) => u8::try_from(*n).map_err(|_| format!("reject code {n}")),
                Some(Expr::Str(s)) => names
                    .iter()
                    .find(|(n, _)| n == s)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| format!("reject with {s}")),
                Some(other) => Err(format!("reject with {}", describe(other))),
            }
        };
        const ICMP: &[(&str, u8)] = &[
            ("net-unreachable", 0),
            ("host-unreachable", 1),
            ("prot-unreachable", 2),
            ("port-unreachable", 3),
            ("frag-needed", 4),
            ("net-prohibited", 9),
            ("host-prohibited", 10),
            ("admin-prohibited", 13),
        ];
        const ICMPV6: &[(&str, u8)] = &[
            ("no-route", 0),
            ("admin-prohibited", 1),
            ("addr-unreachable", 3),
            ("port-unreachable", 4),
            ("policy-fail", 5),
            ("reject-route", 6),
        ];
        const ICMPX: &[(&str, u8)] = &[
            ("no-route", 0),
            ("port-unreachable", 1),
            ("host-unreachable", 2),
            ("admin-prohibited", 3),
        ];
        let reject = match kind {
            None => match self.family {
                TableFamily::Ip => Reject::Icmp(3),
                TableFamily::Ip6 => Reject::Icmpv6(4),
                _ => Reject::Icmpx(1),
            },
            Some("tcp reset") => {
                self.ensure(Need::L4(6, None));
                // In an inet, bridge or netdev table nft's listing drops a family check
                // (`meta nfproto ipv6`) before a tcp reset and says nothing of it: the
                // reject may be for one family only.
                if matches!(
                    self.family,
                    TableFamily::Inet | TableFamily::Bridge | TableFamily::Netdev
                ) && self.ip.is_none()
                {
                    self.condition(crate::ruleset::HIDDEN_FAMILY_CHECK);
                }
                Reject::TcpReset
            }
            Some("icmpx") => Reject::Icmpx(code_of(ICMPX, 1)?),
            Some("icmp") => {
                self.ensure(Need::Ip(Family::Ipv4));
                Reject::Icmp(code_of(ICMP, 3)?)
            }
            Some("icmpv6") => {
                self.ensure(Need::Ip(Family::Ipv6));
                Reject::Icmpv6(code_of(ICMPV6, 4)?)
            }
            Some(other) => return Err(format!("reject with {other}")),
        };
        self.push(Statement::Reject(reject));
        Ok(())
    }

    fn nat(&mut self, kind: &str, body: &NatBody) -> Result<(), String> {
        let kind = match kind {
            "dnat" => NatKind::Dnat,
            "snat" => NatKind::Snat,
            "masquerade" => NatKind::Masquerade,
            _ => NatKind::Redirect,
        };
        let family = match body.family.as_deref() {
            Some("ip") => Some(NatFamily::Ipv4),
            Some("ip6") => Some(NatFamily::Ipv6),
            None => None,
            Some(other) => return Err(format!("family {other}")),
        };
        let address_type = match (family, self.family) {
            (Some(NatFamily::Ipv6), _) | (None, TableFamily::Ip6) => Type::Ipv6,
            _ => Type::Ipv4,
        };
        let (address, mapped_port) = match &body.addr {
            None => (None, None),
            Some(Expr::Map(key, data)) => {
                let (address, port) = self.nat_map(key, data, address_type)?;
                (Some(address), port)
            }
            Some(expr) => (Some(self.operand_range(expr, address_type)?), None),
        };
        let port = match (&body.port, mapped_port) {
            (None, mapped) => mapped,
            (Some(_), Some(_)) => return Err("a port given twice".into()),
            (Some(expr), None) => Some(self.operand_range(expr, Type::Port)?),
        };
        let mut flags = if port.is_some() { 0x2 } else { 0 };
        if let Some(names) = &body.flags {
            for (name, bit) in [
                ("random", 0x4),
                ("persistent", 0x8),
                ("fully-random", 0x10),
                ("netmap", 0x40),
            ] {
                if names.contains(name) {
                    flags |= bit;
                }
            }
        }
        self.push(Statement::Nat(Box::new(Nat {
            kind,
            // The table's family says it, except in inet.
            family: if self.family == TableFamily::Inet {
                family
            } else {
                None
            },
            address,
            port,
            flags,
        })));
        Ok(())
    }

    /// A NAT's address or port: one value, a range, a map, or a value from the packet.
    fn operand_range(&mut self, expr: &Expr, ty: Type) -> Result<OperandRange, String> {
        Ok(match expr {
            Expr::Range(low, high) => OperandRange {
                min: Operand::Const(ty.encode(low, self.interfaces)?.into()),
                max: Some(Operand::Const(ty.encode(high, self.interfaces)?.into())),
            },
            other => OperandRange {
                min: self.operand(other, ty)?,
                max: None,
            },
        })
    }

    fn operand(&mut self, expr: &Expr, ty: Type) -> Result<Operand, String> {
        Ok(match expr {
            Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) => {
                Operand::Const(ty.encode(expr, self.interfaces)?.into())
            }
            Expr::Map(key, data) => {
                let (key, types) = self.map_key(key, data)?;
                let map = self.mapping(data, &types, Some(Value::Bytes(&[ty])))?;
                Operand::Map { key, map }
            }
            Expr::Hash(name, hashed) => {
                // What jhash hashes is read from the packet: nft checks the protocols.
                if let Some(Ok((_, needs))) = hashed.as_deref().map(|h| self.key(h)) {
                    for need in needs {
                        self.ensure(need);
                    }
                }
                Operand::Unknown((*name).into())
            }
            other => {
                let (parts, needs) = self.key(other)?;
                for need in needs {
                    self.ensure(need);
                }
                Operand::Load(Key {
                    parts: parts.into_iter().map(|(l, _)| l).collect(),
                })
            }
        })
    }

    /// A map lookup's key, its implied checks made, through byteorder where an interval
    /// map holds a host-order key (`numgen inc mod 10 map { 0-5 : … }`); and its types.
    fn map_key(&mut self, key: &Expr, data: &Expr) -> Result<(Key, Vec<Type>), String> {
        let (mut parts, needs) = self.key(key)?;
        for need in needs {
            self.ensure(need);
        }
        let types: Vec<Type> = parts.iter().map(|(_, t)| *t).collect();
        let interval = match data {
            Expr::Str(name) if name.starts_with('@') => {
                self.sets.get(&name[1..]).is_some_and(|s| s.interval)
            }
            Expr::Set(items) => items.iter().any(|i| match unwrap_elem(i) {
                Expr::List(pair) => pair.first().is_some_and(needs_interval),
                _ => false,
            }),
            _ => false,
        };
        if interval && parts.iter().any(|(_, t)| t.host()) {
            if parts.len() != 1 {
                return Err("a host-order concatenation of intervals".into());
            }
            byteorder(&mut parts);
        }
        Ok((
            Key {
                parts: parts.into_iter().map(|(l, _)| l).collect(),
            },
            types,
        ))
    }

    /// A NAT's address from a map: its data may also hold the port (`ipv4_addr .
    /// inet_service`) and may be ranges, which the NAT reads from the registers after
    /// the address. (address, port), each a range of operands.
    fn nat_map(
        &mut self,
        key: &Expr,
        data: &Expr,
        address: Type,
    ) -> Result<(OperandRange, Option<OperandRange>), String> {
        let (key, types) = self.map_key(key, data)?;
        match data {
            Expr::Str(name) if name.starts_with('@') => {
                let name = &name[1..];
                let info = self.sets.get(name);
                // A data type not read may hold a port too: say it is not known.
                let port = info.and_then(|i| i.data_parts).is_none_or(|n| n > 1);
                let interval = info.is_none_or(|i| i.data_interval);
                let part = || Operand::Unknown(format!("part of the data of map {name}"));
                Ok((
                    OperandRange {
                        min: Operand::Map {
                            key,
                            map: Elements::Set(name.to_owned()),
                        },
                        max: interval.then(part),
                    },
                    port.then(|| OperandRange {
                        min: part(),
                        max: interval.then(part),
                    }),
                ))
            }
            Expr::Set(items) => {
                let port = items.iter().any(|i| match unwrap_elem(i) {
                    Expr::List(pair) => matches!(pair.get(1), Some(Expr::Concat(_))),
                    _ => false,
                });
                let interval = items.iter().any(data_is_range);
                let data_types: &[Type] = if port {
                    &[address, Type::Port]
                } else {
                    std::slice::from_ref(&address)
                };
                let map = self.mapping(data, &types, Some(Value::Bytes(data_types)))?;
                let width = address.len();
                let slice = |offset, len| Operand::Map {
                    key: key.clone(),
                    map: map.data_part(offset, len),
                };
                match (port, interval) {
                    (false, false) => Ok((
                        OperandRange {
                            min: Operand::Map {
                                key: key.clone(),
                                map: map.clone(),
                            },
                            max: None,
                        },
                        None,
                    )),
                    (false, true) => Ok((
                        OperandRange {
                            min: slice(0, width),
                            max: Some(slice(width, width)),
                        },
                        None,
                    )),
                    (true, false) => Ok((
                        OperandRange {
                            min: slice(0, width),
                            max: None,
                        },
                        Some(OperandRange {
                            min: slice(width, 2),
                            max: None,
                        }),
                    )),
                    (true, true) => Err("a map to ranges of addresses and ports".into()),
                }
            }
            other => Err(describe(other)),
        }
    }

    /// The elements of a map in a rule (`{ 80 : accept }`), or a named one.
    fn mapping(
        &self,
        data: &Expr,
        types: &[Type],
        value: Option<Value<'_>>,
    ) -> Result<Elements, String> {
        match data {
            Expr::Str(name) if name.starts_with('@') => Ok(Elements::Set(name[1..].to_owned())),
            Expr::Set(items) => {
                let interval = items.iter().any(|i| match unwrap_elem(i) {
                    Expr::List(pair) => pair.first().is_some_and(needs_interval),
                    _ => false,
                });
                let mut elements = Vec::with_capacity(items.len());
                for item in items {
                    elements.push(element(item, types, interval, value, self.interfaces)?);
                }
                sort(&mut elements);
                Ok(elements_inline(elements))
            }
            other => Err(describe(other)),
        }
    }

    fn vmap(&mut self, key: &Expr, data: &Expr) -> Result<(), String> {
        let (key, types) = self.map_key(key, data)?;
        let map = self.mapping(data, &types, Some(Value::Verdict))?;
        self.push(Statement::VerdictMap { key, map });
        Ok(())
    }

    fn tproxy(&mut self, body: &TproxyBody) -> Result<(), String> {
        let family = match body.family.as_deref() {
            Some("ip") => Some(NatFamily::Ipv4),
            Some("ip6") => Some(NatFamily::Ipv6),
            None => None,
            Some(other) => return Err(format!("family {other}")),
        };
        let address_type = match (family, self.family) {
            (Some(NatFamily::Ipv6), _) | (None, TableFamily::Ip6) => Type::Ipv6,
            _ => Type::Ipv4,
        };
        let address = match &body.addr {
            Some(a) => Some(Operand::Const(
                address_type.encode(a, self.interfaces)?.into(),
            )),
            None => None,
        };
        let port = match &body.port {
            Some(p) => Some(Operand::Const(
                Type::Port.encode(p, self.interfaces)?.into(),
            )),
            None => None,
        };
        self.push(Statement::Tproxy(Box::new(Tproxy {
            family: if self.family == TableFamily::Inet {
                family
            } else {
                None
            },
            address,
            port,
        })));
        Ok(())
    }

    /// `meta mark set …`, `ct mark set …`, a header field set.
    fn mangle(&mut self, key: &Expr, value: &Expr) -> Result<(), String> {
        let (load, ty, need) = self.load(key)?;
        if !load.transforms.is_empty() {
            return Err("a set of a computed key".into());
        }
        self.ensure(need);
        let value = match value {
            Expr::Num(_) | Expr::Str(_) | Expr::Bool(_) => {
                Operand::Const(ty.encode(value, self.interfaces)?.into())
            }
            other => self.operand(other, ty)?,
        };
        self.push(Statement::Set {
            field: load.field,
            value: Box::new(value),
        });
        Ok(())
    }
}

/// What a map element's data is: a verdict, or values of these types (several: a
/// concatenation, each part from a 4-byte boundary, as the kernel's registers hold it).
#[derive(Debug, Clone, Copy)]
pub enum Value<'t> {
    Verdict,
    Bytes(&'t [Type]),
}

/// A map element's data as the kernel stores it: one value (a range: its low and high,
/// each from a 4-byte boundary), or a concatenation of values, each from a 4-byte
/// boundary. A concatenation of ranges is not read.
fn data_bytes(
    types: &[Type],
    data: &Expr,
    interfaces: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u8>, String> {
    let padded = |mut bytes: Vec<u8>| {
        bytes.resize(bytes.len().div_ceil(4) * 4, 0);
        bytes
    };
    match (types, data) {
        ([ty], Expr::Range(low, high)) => {
            let mut bytes = padded(ty.encode(low, interfaces)?);
            bytes.extend(padded(ty.encode(high, interfaces)?));
            Ok(bytes)
        }
        ([ty], one) => ty.encode(one, interfaces),
        (types, Expr::Concat(items)) if items.len() == types.len() => {
            let mut bytes = Vec::new();
            for (ty, item) in types.iter().zip(items) {
                if matches!(item, Expr::Range(..)) {
                    return Err("a concatenation of ranges as a map's data".into());
                }
                bytes.extend(padded(ty.encode(item, interfaces)?));
            }
            Ok(bytes)
        }
        _ => Err(format!("a map's data {}", describe(data))),
    }
}

/// Whether a map element's data is a range (`: 10.0.0.1-10.0.0.9`, or a part of it).
pub fn data_is_range(item: &Expr) -> bool {
    match unwrap_elem(item) {
        Expr::List(pair) if pair.len() == 2 => match &pair[1] {
            Expr::Range(..) => true,
            Expr::Concat(items) => items.iter().any(|i| matches!(i, Expr::Range(..))),
            _ => false,
        },
        _ => false,
    }
}

fn elements_inline(elements: Vec<Element>) -> Elements {
    Elements::Inline(elements)
}

/// Elements in key order: a set has no order, and both readers sort them alike.
pub fn sort(elements: &mut [Element]) {
    elements.sort_by(|a, b| {
        a.key
            .iter()
            .map(|s| &s.low)
            .cmp(b.key.iter().map(|s| &s.low))
    });
}

/// One element of a set or map: its key (a span per part) and data.
pub fn element(
    item: &Expr,
    types: &[Type],
    interval: bool,
    value: Option<Value<'_>>,
    interfaces: &dyn Fn(&str) -> Option<u32>,
) -> Result<Element, String> {
    let item = unwrap_elem(item);
    let (key, data) = match (item, value) {
        (Expr::List(pair), Some(value)) if pair.len() == 2 => {
            let data = match (value, &pair[1]) {
                (Value::Verdict, Expr::Verdict(v)) => Data::Verdict(verdict(v.clone())),
                (Value::Bytes(types), d) => Data::Value(data_bytes(types, d, interfaces)?.into()),
                (_, other) => return Err(describe(other)),
            };
            (unwrap_elem(&pair[0]), Some(data))
        }
        (_, Some(_)) => return Err("a map element without data".into()),
        (key, None) => (key, None),
    };
    // The catch-all element (`* : drop`): every key, whatever its parts.
    if matches!(key, Expr::Str(s) if s == "*") {
        let key = types
            .iter()
            .map(|ty| Span {
                low: vec![0; ty.len()].into(),
                high: vec![0xff; ty.len()].into(),
            })
            .collect();
        return Ok(Element { key, data });
    }
    let values: &[Expr] = match key {
        Expr::Concat(items) => items,
        one => std::slice::from_ref(one),
    };
    if values.len() != types.len() {
        return Err("an element of another width".into());
    }
    let key = types
        .iter()
        .zip(values)
        .map(|(ty, v)| span(*ty, v, interval, interfaces))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Element { key, data })
}

/// One part of an element: a value, a range, a prefix, a wildcard name.
fn span(
    ty: Type,
    value: &Expr,
    interval: bool,
    interfaces: &dyn Fn(&str) -> Option<u32>,
) -> Result<Span, String> {
    // Interval sets hold host-order values in network order, as lookups convert them.
    let swap = interval && ty.host();
    match value {
        Expr::Range(low, high) => Ok(Span {
            low: encode_order(ty, low, swap, interfaces)?.into(),
            high: encode_order(ty, high, swap, interfaces)?.into(),
        }),
        Expr::Prefix(address, bits) if ty.is_address() => {
            let address = ty.encode(address, interfaces)?;
            let bits = *bits as usize;
            if bits > address.len() * 8 {
                return Err(format!("a /{bits} prefix"));
            }
            let mask = prefix_mask(address.len(), bits);
            let low: Vec<u8> = address.iter().zip(&mask).map(|(a, m)| a & m).collect();
            let high: Vec<u8> = address.iter().zip(&mask).map(|(a, m)| a | !m).collect();
            Ok(Span {
                low: low.into(),
                high: high.into(),
            })
        }
        Expr::Str(name) if ty == Type::Ifname => match ifname_pattern(name) {
            IfnamePattern::Exact(name) => Ok(Span::exact(&text(&name, 16))),
            IfnamePattern::Prefix(stem) if interval => {
                let low = text(&stem, 16);
                let mut high = vec![0xff; 16];
                high[..stem.len().min(16)].copy_from_slice(&stem.as_bytes()[..stem.len().min(16)]);
                Ok(Span {
                    low: low.into(),
                    high: high.into(),
                })
            }
            IfnamePattern::Prefix(stem) => Ok(Span::exact(stem.as_bytes())),
        },
        other => Ok(Span::exact(&encode_order(ty, other, swap, interfaces)?)),
    }
}

/// A scalar compared by a match: interface names keep their wildcard (a shorter compare).
fn scalar(
    ty: Type,
    value: &Expr,
    interfaces: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u8>, String> {
    match (ty, value) {
        (Type::Ifname, Expr::Str(name)) => Ok(match ifname_pattern(name) {
            IfnamePattern::Exact(name) => text(&name, 16),
            IfnamePattern::Prefix(stem) => stem.into_bytes(),
        }),
        _ => ty.encode(value, interfaces),
    }
}

/// A value in network order when its key went through byteorder.
fn encode_order(
    ty: Type,
    value: &Expr,
    swap: bool,
    interfaces: &dyn Fn(&str) -> Option<u32>,
) -> Result<Vec<u8>, String> {
    let mut bytes = ty.encode(value, interfaces)?;
    if swap && cfg!(target_endian = "little") {
        bytes.reverse();
    }
    Ok(bytes)
}

fn byteorder(parts: &mut Parts) {
    for (load, ty) in parts.iter_mut() {
        if ty.host() {
            let size = load.len.min(8);
            load.transforms.push(Transform::ByteOrder {
                to_network: true,
                size,
            });
        }
    }
}

/// Two bitwise steps in a row are one in the kernel: nft combines them.
fn push_transform(transforms: &mut Vec<Transform>, transform: Transform) {
    if let (Some(Transform::Mask { mask: m1, xor: x1 }), Transform::Mask { mask: m2, xor: x2 }) =
        (transforms.last_mut(), &transform)
        && m1.len() == m2.len()
    {
        // ((v & m1) ^ x1) & m2 ^ x2 = v & (m1 & m2) ^ ((x1 & m2) ^ x2)
        let mask: Vec<u8> = m1.iter().zip(m2.iter()).map(|(a, b)| a & b).collect();
        let xor: Vec<u8> = x1
            .iter()
            .zip(m2.iter())
            .zip(x2.iter())
            .map(|((x, m), y)| (x & m) ^ y)
            .collect();
        *m1 = mask.into();
        *x1 = xor.into();
        return;
    }
    transforms.push(transform);
}

/// A cmp of one value.
fn member(negate: bool, value: Vec<u8>) -> Test {
    Test::Equal {
        negate,
        value: value.into(),
    }
}

/// `len` bytes of `bits` leading ones.
fn prefix_mask(len: usize, bits: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let ones = bits.saturating_sub(i * 8).min(8);
            if ones == 0 { 0 } else { 0xffu8 << (8 - ones) }
        })
        .collect()
}

/// Whether an element needs an interval set: a range, a prefix, a wildcard name.
fn needs_interval(item: &Expr) -> bool {
    match unwrap_elem(item) {
        Expr::Range(..) | Expr::Prefix(..) => true,
        // A bare `*` is a map's catch-all element, not a name pattern.
        Expr::Str(s) if s == "*" => false,
        Expr::Str(s) => matches!(ifname_pattern(s), IfnamePattern::Prefix(_)) && s.ends_with('*'),
        Expr::Concat(items) => items.iter().any(needs_interval),
        _ => false,
    }
}

fn unwrap_elem<'e, 'a>(item: &'e Expr<'a>) -> &'e Expr<'a> {
    match item {
        Expr::Elem(inner) => inner,
        other => other,
    }
}

fn verdict(v: JVerdict) -> Verdict {
    match v {
        JVerdict::Accept => Verdict::Accept,
        JVerdict::Drop => Verdict::Drop,
        JVerdict::Continue => Verdict::Continue,
        JVerdict::Return => Verdict::Return,
        JVerdict::Jump(c) => Verdict::Jump(c.into_owned()),
        JVerdict::Goto(c) => Verdict::Goto(c.into_owned()),
        JVerdict::Queue => Verdict::Queue { bypass: false },
    }
}

/// A short description of an expression this reader cannot use, for the reason.
pub fn describe(expr: &Expr) -> String {
    match expr {
        Expr::Unknown(what) => what.clone(),
        Expr::Payload(Payload::Named { protocol, field }) => format!("{protocol} {field}"),
        Expr::Meta(key) => format!("meta {key}"),
        Expr::Ct { key, .. } => format!("ct {key}"),
        Expr::Hash(name, _) => (*name).into(),
        Expr::Str(s) => format!("{s:?}"),
        Expr::Num(n) => n.to_string(),
        other => format!("{:?}", std::mem::discriminant(other))
            .chars()
            .take(40)
            .collect(),
    }
}
