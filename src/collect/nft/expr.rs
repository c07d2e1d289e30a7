//! A rule's expressions (the kernel's register code) as the model's steps.
//!
//! The kernel runs a rule as a little program: loads (payload, meta, ct, fib, socket, …)
//! write registers, bitwise and byteorder transform them, cmp/range/lookup end the rule
//! when they do not match, and statements act. This decoder replays the program on a
//! register file that holds *what* each register contains (a field, a constant, a map's
//! result), and writes a [`Step`] for each test and statement, in order. Nothing is
//! guessed: the protocol matches nft adds in front of a header field are kernel
//! expressions like any other, and become steps like any other.
//!
//! What it cannot decode stays in the rule: a test it cannot name is a
//! [`Step::Condition`] (a test only matches or not), anything else a [`Step::Opaque`].

use super::value;
use super::xt;
use crate::collect::nlmsg::{Attrs, NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6, attributes};
use crate::ruleset::{
    Bytes, CtDirection, CtKey, Element, Elements, FibResult, Field, Key, Load, Match, MetaKey, Nat,
    NatFamily, NatKind, Operand, OperandRange, Order, PayloadBase, Reject, SocketKey, Span,
    Statement, Step, Test, Tproxy, Transform, Verdict,
};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;

/// Registers in 32-bit words: the verdict register is words 0–3, NFT_REG_1..4 (16
/// bytes each) and NFT_REG32_00..15 share words 4–19.
const WORDS: usize = 20;

/// A set or map of the rule's table, as a lookup needs it.
pub(super) struct SetView<'a> {
    pub key_len: usize,
    pub data_len: usize,
    /// Each key component's length.
    pub fields: &'a [usize],
    /// A map (data or verdicts).
    pub map: bool,
    /// Its name, or its elements when it is anonymous (inlined where it is used); an
    /// anonymous set whose elements could not be read says why.
    pub elements: SetElements<'a>,
    /// NFTA_SET_OBJ_TYPE: an object map's objects.
    pub object_type: Option<u32>,
    /// Every element is single values (no ranges): its keys can be split into parts.
    pub exact: bool,
}

pub(super) enum SetElements<'a> {
    Named(&'a str),
    Inline(&'a [Element]),
    Unreadable(&'a str),
}

/// What a rule needs of its table.
pub(super) trait Context {
    /// The table's family (NFPROTO_*).
    fn family(&self) -> u8;
    fn set(&self, name: &[u8]) -> Option<SetView<'_>>;
}

/// One rule's steps, and the sets its dynset statements change from the packet path.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub steps: Vec<Step>,
    pub dynamic_sets: Vec<String>,
    /// Steps that say the decoder could not name an expression (opaque ones, and tests
    /// of something it does not know).
    pub undecoded: usize,
    /// Named sets described as one key component whose lookups show the concatenation:
    /// each component's length.
    pub set_fields: Vec<(String, Vec<usize>)>,
}

/// The steps of one rule (NFTA_RULE_EXPRESSIONS). Never fails: an expression it
/// cannot decode is a step saying so.
pub(super) fn rule(list: &[u8], cx: &dyn Context) -> Decoded {
    let mut d = Decoder {
        cx,
        regs: Registers::new(),
        out: Decoded::default(),
    };
    for (kind, elem) in attributes(list) {
        if kind != NFTA_LIST_ELEM {
            d.out
                .steps
                .push(Step::Opaque(format!("expression list attribute {kind}")));
            continue;
        }
        let a = Attrs::parse(elem);
        let name = a.str(NFTA_EXPR_NAME).unwrap_or_default();
        let data = Attrs::parse(a.get(NFTA_EXPR_DATA).unwrap_or_default());
        if let Err(failure) = d.expression(name, &data) {
            let name = String::from_utf8_lossy(name);
            if matches!(failure, Failure::Test(_)) {
                d.out.undecoded += 1;
            }
            match failure {
                Failure::Test(why) => d.out.steps.push(Step::Condition(format!("{name}: {why}"))),
                Failure::Any(why) => d.out.steps.push(Step::Opaque(format!("{name}: {why}"))),
            }
        }
    }
    d.out.undecoded += d
        .out
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Opaque(_)))
        .count();
    // Tens of thousands of rules stay in memory for the audit: no spare room in each.
    d.out.steps.shrink_to_fit();
    d.out
}

/// Why an expression was not decoded, and what it may do: a test only matches or not;
/// anything else may act in any way.
enum Failure {
    Test(String),
    Any(String),
}

type Result<T> = std::result::Result<T, Failure>;

fn any<T>(why: impl Into<String>) -> Result<T> {
    Err(Failure::Any(why.into()))
}

fn test<T>(why: impl Into<String>) -> Result<T> {
    Err(Failure::Test(why.into()))
}

/// What a register holds, from its first word.
#[derive(Debug, Clone)]
enum Value {
    Load(Load),
    Const(Bytes),
    /// A map lookup's result: the data of the element the key falls in.
    Map {
        key: Key,
        map: Elements,
    },
    Unknown(String),
}

#[derive(Debug, Clone)]
enum Word {
    Empty,
    /// The first word of a value of this many bytes.
    Start(Value, usize),
    /// A later word of the value that starts at this word index.
    Within(usize),
}

struct Registers {
    words: Vec<Word>,
}

/// A register number as the kernel dumps it, as a word index.
fn word(reg: u32) -> Option<usize> {
    match reg {
        0 => Some(0),
        1..=4 => Some(reg as usize * 4),
        8..=23 => Some(reg as usize - 8 + 4),
        _ => None,
    }
}

impl Registers {
    fn new() -> Registers {
        Registers {
            words: vec![Word::Empty; WORDS],
        }
    }

    fn write(&mut self, at: usize, value: Value, len: usize) -> Result<()> {
        let n = len.div_ceil(4).max(1);
        if at < 4 || at + n > WORDS {
            return any(format!("a value of {len} bytes in register word {at}"));
        }
        // A value partly overwritten is no longer what it was.
        for w in at..at + n {
            let start = match self.words[w] {
                Word::Within(s) => Some(s),
                Word::Start(..) if w > at => Some(w),
                _ => None,
            };
            if let Some(s) = start.filter(|&s| s < at || s >= at + n) {
                self.invalidate(s);
            }
        }
        let end = at + n;
        let mut w = end;
        while w < WORDS && matches!(self.words[w], Word::Within(s) if s >= at && s < end) {
            self.words[w] = Word::Empty;
            w += 1;
        }
        self.words[at] = Word::Start(value, len);
        for w in at + 1..end {
            self.words[w] = Word::Within(at);
        }
        Ok(())
    }

    fn invalidate(&mut self, start: usize) {
        if let Word::Start(v, len) = &mut self.words[start] {
            *v = Value::Unknown("a register partly overwritten".into());
            let _ = len;
        }
    }

    /// The value that starts at `reg`.
    fn at(&self, reg: u32) -> Result<(&Value, usize)> {
        let w = word(reg).ok_or_else(|| Failure::Any(format!("register {reg}")))?;
        match &self.words[w] {
            Word::Start(v, len) => Ok((v, *len)),
            Word::Within(_) => any(format!("register {reg} holds part of a value")),
            Word::Empty => any(format!("register {reg} holds nothing")),
        }
    }

    /// The loads in `len` bytes from `reg` on (a concatenation: one per 4-byte aligned
    /// part), and how many bytes of the last one are compared.
    fn key(&self, reg: u32, len: usize) -> std::result::Result<(Key, usize), String> {
        let mut w = word(reg).ok_or_else(|| format!("register {reg}"))?;
        let mut parts = Vec::new();
        let mut left = len;
        loop {
            let (load, load_len) = match self.words.get(w) {
                Some(Word::Start(Value::Load(l), n)) => (l, *n),
                Some(Word::Start(Value::Unknown(why), _)) => return Err(why.clone()),
                Some(Word::Start(Value::Const(_), _)) => {
                    return Err("a test of a constant".into());
                }
                Some(Word::Start(Value::Map { .. }, _)) => {
                    return Err("a test of a map's result".into());
                }
                _ => return Err(format!("reads register word {w}, which holds nothing")),
            };
            parts.push(load.clone());
            let padded = load_len.div_ceil(4) * 4;
            if left <= padded {
                let compared = left.min(load_len);
                return Ok((Key { parts }, compared));
            }
            left -= padded;
            w += padded / 4;
        }
    }

    /// A statement's operand of `len` bytes from `reg`.
    fn operand(&self, reg: u32, len: usize) -> Operand {
        let Some(w) = word(reg).filter(|&w| (4..WORDS).contains(&w)) else {
            return Operand::Unknown(format!("register {reg}"));
        };
        match &self.words[w] {
            Word::Empty => Operand::Unknown(format!("register {reg} holds nothing")),
            Word::Start(value, n) => match value {
                Value::Const(bytes) => Operand::Const(bytes[..len.min(*n)].into()),
                Value::Load(load) if matches!(load.field, Field::Other(_)) => {
                    Operand::Unknown(field_name(&load.field))
                }
                Value::Load(load) => Operand::Load(Key {
                    parts: vec![load.clone()],
                }),
                Value::Map { key, map } => Operand::Map {
                    key: key.clone(),
                    map: map.data_part(0, len),
                },
                Value::Unknown(why) => Operand::Unknown(why.clone()),
            },
            // A later part of a constant or of a map's data (`dnat to ip saddr map {
            // … : 10.0.0.1 . 8080 }` reads the port from the word after the address).
            Word::Within(start) => {
                let offset = (w - start) * 4;
                match &self.words[*start] {
                    Word::Start(Value::Const(bytes), n) if offset < *n => {
                        Operand::Const(bytes[offset..(offset + len).min(*n)].into())
                    }
                    Word::Start(Value::Map { key, map }, _) => match map {
                        Elements::Inline(_) => Operand::Map {
                            key: key.clone(),
                            map: map.data_part(offset, len),
                        },
                        Elements::Set(name) => {
                            Operand::Unknown(format!("part of the data of map {name}"))
                        }
                    },
                    _ => Operand::Unknown(format!("register {reg} holds part of a value")),
                }
            }
        }
    }
}

fn field_name(field: &Field) -> String {
    match field {
        Field::Other(name) => name.clone(),
        other => format!("{other:?}"),
    }
}

struct Decoder<'a> {
    cx: &'a dyn Context,
    regs: Registers,
    out: Decoded,
}

fn need(a: &Attrs, kind: u16, what: &str) -> Result<u32> {
    a.be32(kind)
        .ok_or_else(|| Failure::Any(format!("{what} without attribute {kind}")))
}

fn data_value<'b>(a: &Attrs<'b>, kind: u16, what: &str) -> Result<&'b [u8]> {
    let nested = a
        .get(kind)
        .ok_or_else(|| Failure::Any(format!("{what} without attribute {kind}")))?;
    value::value(nested).map_err(Failure::Any)
}

/// A load: its field and length.
fn load(field: Field, len: usize) -> Value {
    Value::Load(Load {
        field,
        len: len.min(usize::from(u8::MAX)) as u8,
        transforms: Vec::new(),
    })
}

impl Decoder<'_> {
    fn step(&mut self, step: Step) {
        self.out.steps.push(step);
    }

    fn statement(&mut self, statement: Statement) {
        self.out.steps.push(Step::Statement(statement));
    }

    fn load_into(&mut self, a: &Attrs, dreg: u16, value: Value, len: usize) -> Result<()> {
        let reg = need(a, dreg, "a load")?;
        let at = word(reg).ok_or_else(|| Failure::Any(format!("register {reg}")))?;
        self.regs.write(at, value, len)
    }

    fn expression(&mut self, name: &[u8], a: &Attrs) -> Result<()> {
        match name {
            b"immediate" => self.immediate(a),
            b"payload" => self.payload(a),
            b"meta" => self.meta(a),
            b"ct" => self.ct(a),
            b"cmp" => self.cmp(a),
            b"range" => self.range(a),
            b"lookup" => self.lookup(a),
            b"bitwise" => self.bitwise(a),
            b"byteorder" => self.byteorder(a),
            b"fib" => self.fib(a),
            b"socket" => self.socket(a),
            b"nat" => self.nat(a),
            b"masq" => self.masq_or_redir(a, NatKind::Masquerade),
            b"redir" => self.masq_or_redir(a, NatKind::Redirect),
            b"tproxy" => self.tproxy(a),
            b"reject" => self.reject(a),
            b"queue" => {
                // NFTA_QUEUE_FLAGS: NFT_QUEUE_FLAG_BYPASS.
                let bypass = a.be32(3).unwrap_or(0) & 1 != 0;
                self.statement(Statement::Verdict(Verdict::Queue { bypass }));
                Ok(())
            }
            b"counter" => self.effect("counter"),
            b"last" => self.effect("last used"),
            b"notrack" => self.effect("notrack"),
            b"dup" => self.effect("dup"),
            b"flow_offload" => self.effect("flow add"),
            b"log" => {
                // NFTA_LOG_PREFIX
                match a.str(2) {
                    Some(prefix) => self.effect(&format!(
                        "log prefix \"{}\"",
                        String::from_utf8_lossy(prefix)
                    )),
                    None => self.effect("log"),
                }
            }
            b"limit" => self.limit(a),
            b"quota" => {
                // NFTA_QUOTA_BYTES, NFTA_QUOTA_FLAGS (NFT_QUOTA_F_INV: over).
                let bytes = a.be64(1).unwrap_or(0);
                let over = if a.be32(2).unwrap_or(0) & 1 != 0 {
                    "over "
                } else {
                    ""
                };
                self.step(Step::Condition(format!("quota {over}{bytes} bytes")));
                Ok(())
            }
            b"connlimit" => {
                // NFTA_CONNLIMIT_COUNT, NFTA_CONNLIMIT_FLAGS (NFT_CONNLIMIT_F_INV: over).
                let count = a.be32(1).unwrap_or(0);
                let over = if a.be32(2).unwrap_or(0) & 1 != 0 {
                    "over "
                } else {
                    ""
                };
                self.step(Step::Condition(format!("ct count {over}{count}")));
                Ok(())
            }
            b"dynset" => self.dynset(a),
            b"objref" => self.objref(a),
            b"numgen" => {
                // NFTA_NG_DREG
                self.load_into(a, 1, load(Field::Other("numgen".into()), 4), 4)
            }
            b"hash" => {
                // NFTA_HASH_DREG, NFTA_HASH_TYPE (jenkins, symmetric)
                let name = if a.be32(7) == Some(1) {
                    "symhash"
                } else {
                    "jhash"
                };
                self.load_into(a, 2, load(Field::Other(name.into()), 4), 4)
            }
            b"exthdr" => self.exthdr(a),
            b"rt" => {
                // NFTA_RT_DREG, NFTA_RT_KEY: classid, nexthop4, nexthop6, tcpmss, xfrm.
                let key = need(a, 2, "rt")?;
                let len = match key {
                    0 | 1 => 4,
                    2 => 16,
                    3 => 2,
                    _ => 1,
                };
                self.load_into(a, 1, load(Field::Other(format!("rt key {key}")), len), len)
            }
            b"osf" => self.load_into(a, 1, load(Field::Other("osf".into()), 16), 16),
            b"xfrm" => {
                // NFTA_XFRM_DREG, NFTA_XFRM_KEY: the address keys of IPv6 are 16 bytes.
                let key = need(a, 2, "xfrm")?;
                let len = if matches!(key, 2 | 4) { 16 } else { 4 };
                self.load_into(
                    a,
                    1,
                    load(Field::Other(format!("ipsec key {key}")), len),
                    len,
                )
            }
            b"tunnel" => self.load_into(a, 2, load(Field::Other("tunnel".into()), 4), 4),
            b"match" => {
                let steps = xt::matched(
                    self.cx.family(),
                    a.str(1).unwrap_or_default(),
                    a.be32(2).unwrap_or(0),
                    a.get(3).unwrap_or_default(),
                );
                self.out.steps.extend(steps);
                Ok(())
            }
            b"target" => {
                let steps = xt::target(
                    self.cx.family(),
                    a.str(1).unwrap_or_default(),
                    a.be32(2).unwrap_or(0),
                    a.get(3).unwrap_or_default(),
                );
                self.out.steps.extend(steps);
                Ok(())
            }
            _ => any("an expression portaudit does not know"),
        }
    }

    fn effect(&mut self, what: &str) -> Result<()> {
        self.statement(Statement::Effect(what.to_string()));
        Ok(())
    }

    fn immediate(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA
        let reg = need(a, 1, "immediate")?;
        let nested = a
            .get(2)
            .ok_or_else(|| Failure::Any("immediate without data".into()))?;
        if reg == 0 {
            let verdict = value::verdict(nested).map_err(Failure::Any)?;
            self.statement(Statement::Verdict(verdict));
            return Ok(());
        }
        let bytes = value::value(nested).map_err(Failure::Any)?;
        let at = word(reg).ok_or_else(|| Failure::Any(format!("register {reg}")))?;
        self.regs.write(at, Value::Const(bytes.into()), bytes.len())
    }

    fn payload(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_PAYLOAD_DREG, BASE, OFFSET, LEN, SREG
        let base = match need(a, 2, "payload")? {
            0 => Some(PayloadBase::Link),
            1 => Some(PayloadBase::Network),
            2 => Some(PayloadBase::Transport),
            3 => Some(PayloadBase::Inner),
            _ => None,
        };
        let offset = need(a, 3, "payload")?;
        let len = need(a, 4, "payload")? as usize;
        let field = match base {
            Some(base) => Field::Payload { base, offset },
            None => Field::Other(format!("payload base {}", a.be32(2).unwrap_or(0))),
        };
        self.read_or_write(a, a.be32(5), field, len)
    }

    fn meta(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_META_DREG, KEY, SREG
        let (key, len) = meta_key(need(a, 2, "meta")?);
        self.read_or_write(a, a.be32(3), Field::Meta(key), len)
    }

    fn ct(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_CT_DREG, KEY, DIRECTION (u8), SREG
        let number = need(a, 2, "ct")?;
        let direction = match a.get(3).and_then(|d| d.first()) {
            None => None,
            Some(0) => Some(CtDirection::Original),
            Some(1) => Some(CtDirection::Reply),
            Some(other) => return any(format!("ct direction {other}")),
        };
        let (key, len) = ct_key(number, self.cx.family());
        self.read_or_write(a, a.be32(4), Field::Ct { key, direction }, len)
    }

    /// A field loaded into the register of attribute 1 (DREG), or, with `sreg`, set from
    /// that register: `meta mark set …`, `ct mark set …`, a header field written.
    fn read_or_write(
        &mut self,
        a: &Attrs,
        sreg: Option<u32>,
        field: Field,
        len: usize,
    ) -> Result<()> {
        if let Some(sreg) = sreg {
            let value = self.regs.operand(sreg, len);
            self.statement(Statement::Set {
                field,
                value: Box::new(value),
            });
            return Ok(());
        }
        self.load_into(a, 1, load(field, len), len)
    }

    fn fib(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_FIB_DREG, RESULT, FLAGS
        let flags = need(a, 3, "fib")?;
        let (result, len) = match need(a, 2, "fib")? {
            1 => (FibResult::Oif, 4),
            2 => (FibResult::Oifname, 16),
            3 => (FibResult::Addrtype, 4),
            other => {
                return self.load_into(
                    a,
                    1,
                    load(Field::Other(format!("fib result {other}")), 4),
                    4,
                );
            }
        };
        self.load_into(a, 1, load(Field::Fib { flags, result }, len), len)
    }

    fn socket(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_SOCKET_KEY, DREG
        let (field, len) = match need(a, 1, "socket")? {
            0 => (Field::Socket(SocketKey::Transparent), 1),
            1 => (Field::Socket(SocketKey::Mark), 4),
            2 => (Field::Socket(SocketKey::Wildcard), 1),
            3 => (Field::Socket(SocketKey::Cgroupv2), 8),
            other => (Field::Other(format!("socket key {other}")), 4),
        };
        self.load_into(a, 2, load(field, len), len)
    }

    fn exthdr(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_EXTHDR_DREG, TYPE (u8), OFFSET, LEN, FLAGS, OP, SREG
        let kind = a.get(2).and_then(|t| t.first()).copied().unwrap_or(0);
        let op = a.be32(6).unwrap_or(0);
        let what = match op {
            0 => "ipv6 extension header",
            1 => "tcp option",
            2 => "ip option",
            3 => "sctp chunk",
            4 => "dccp option",
            _ => "extension header",
        };
        // A write (SREG), or neither a load nor a write: `reset tcp option …`.
        if a.has(7) || !a.has(1) {
            // The kernel writes or strips a TCP option only in a TCP packet: any other
            // ends the rule there (NFT_BREAK), as a test of the protocol would.
            if op == 1 && !self.tests_tcp() {
                self.step(Step::Match(Match {
                    key: Key {
                        parts: vec![Load {
                            field: Field::Meta(MetaKey::L4proto),
                            len: 1,
                            transforms: Vec::new(),
                        }],
                    },
                    test: Test::Equal {
                        negate: false,
                        value: [6].into(),
                    },
                }));
            }
            return self.effect(&format!("{what} {kind} set"));
        }
        // NFT_EXTHDR_F_PRESENT loads a boolean.
        let len = if a.be32(5).unwrap_or(0) & 1 != 0 {
            1
        } else {
            need(a, 4, "exthdr")? as usize
        };
        let offset = a.be32(3).unwrap_or(0);
        self.load_into(
            a,
            1,
            load(Field::Other(format!("{what} {kind} offset {offset}")), len),
            len,
        )
    }

    fn bitwise(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_BITWISE_SREG, DREG, LEN, MASK, XOR, OP, DATA
        let sreg = need(a, 1, "bitwise")?;
        let dreg = need(a, 2, "bitwise")?;
        let len = need(a, 3, "bitwise")? as usize;
        let transform = match a.be32(6).unwrap_or(0) {
            0 => Some(Transform::Mask {
                mask: data_value(a, 4, "bitwise")?.into(),
                xor: data_value(a, 5, "bitwise")?.into(),
            }),
            op @ (1 | 2) => {
                // The shift is a host-order u32.
                let shift: [u8; 4] = data_value(a, 7, "bitwise")?
                    .try_into()
                    .map_err(|_| Failure::Any("a shift of odd size".into()))?;
                let shift = u32::from_ne_bytes(shift);
                Some(if op == 1 {
                    Transform::ShiftLeft(shift)
                } else {
                    Transform::ShiftRight(shift)
                })
            }
            // Newer kernels combine two registers (and, or, xor).
            _ => None,
        };
        self.transform(sreg, dreg, len, transform)
    }

    fn byteorder(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_BYTEORDER_SREG, DREG, OP, LEN, SIZE
        let sreg = need(a, 1, "byteorder")?;
        let dreg = need(a, 2, "byteorder")?;
        let op = need(a, 3, "byteorder")?;
        let len = need(a, 4, "byteorder")? as usize;
        let size = need(a, 5, "byteorder")?;
        let transform = Some(Transform::ByteOrder {
            to_network: op == 1,
            size: size.min(u32::from(u8::MAX)) as u8,
        });
        self.transform(sreg, dreg, len, transform)
    }

    /// `dreg = transform(sreg)`: the load in sreg, transformed.
    fn transform(&mut self, sreg: u32, dreg: u32, len: usize, t: Option<Transform>) -> Result<()> {
        let value = match (self.regs.at(sreg), t) {
            (Ok((Value::Load(l), n)), Some(t)) if len <= n.div_ceil(4) * 4 => {
                let mut l = l.clone();
                l.transforms.push(t);
                Value::Load(l)
            }
            (Ok((Value::Unknown(why), _)), _) => Value::Unknown(why.clone()),
            (Ok(_), None) => Value::Unknown("a bitwise operation of a newer kernel".into()),
            (Ok(_), Some(_)) => {
                Value::Unknown("a transform of several values or a constant".into())
            }
            (Err(Failure::Any(why) | Failure::Test(why)), _) => Value::Unknown(why),
        };
        let len = match &value {
            Value::Load(l) => usize::from(l.len),
            _ => len,
        };
        let at = word(dreg).ok_or_else(|| Failure::Any(format!("register {dreg}")))?;
        self.regs.write(at, value, len)
    }

    /// A test of `len` bytes from `sreg`: its key, the bytes compared of the last part.
    fn key(&self, sreg: u32, len: usize) -> Result<(Key, usize)> {
        self.regs.key(sreg, len).map_err(Failure::Test)
    }

    fn cmp(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_CMP_SREG, OP, DATA
        let sreg = need(a, 1, "cmp").map_err(into_test)?;
        let op = need(a, 2, "cmp").map_err(into_test)?;
        let data = data_value(a, 3, "cmp").map_err(into_test)?;
        let (key, last) = self.key(sreg, data.len())?;
        let test = match op {
            // One value of one field: an equality, as the evaluator dispatches on it.
            0 | 1 if key.parts.len() == 1 => {
                let mut spans = spans(&key, last, data, data)?;
                Test::Equal {
                    negate: op == 1,
                    value: spans.remove(0).low,
                }
            }
            0 | 1 => Test::Member {
                negate: op == 1,
                elements: Elements::Inline(vec![Element {
                    key: spans(&key, last, data, data)?,
                    data: None,
                }]),
            },
            2..=5 => {
                if key.parts.len() != 1 {
                    return test("an order over a concatenation");
                }
                let op = match op {
                    2 => Order::Lt,
                    3 => Order::Le,
                    4 => Order::Gt,
                    _ => Order::Ge,
                };
                Test::Compare {
                    op,
                    value: data[..last.min(data.len())].into(),
                }
            }
            other => return test(format!("cmp op {other}")),
        };
        self.step(Step::Match(Match { key, test }));
        Ok(())
    }

    fn range(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_RANGE_SREG, OP, FROM_DATA, TO_DATA
        let sreg = need(a, 1, "range").map_err(into_test)?;
        let op = need(a, 2, "range").map_err(into_test)?;
        let from = data_value(a, 3, "range").map_err(into_test)?;
        let to = data_value(a, 4, "range").map_err(into_test)?;
        if from.len() != to.len() || op > 1 {
            return test("a range of two sizes or an unknown op");
        }
        let (key, last) = self.key(sreg, from.len())?;
        let span = spans(&key, last, from, to)?;
        self.step(Step::Match(Match {
            key,
            test: Test::Member {
                negate: op == 1,
                elements: Elements::Inline(vec![Element {
                    key: span,
                    data: None,
                }]),
            },
        }));
        Ok(())
    }

    fn lookup(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_LOOKUP_SET, SREG, DREG, SET_ID, FLAGS (NFT_LOOKUP_F_INV)
        let name = a
            .str(1)
            .ok_or_else(|| Failure::Any("lookup without a set".into()))?;
        let sreg = need(a, 2, "lookup")?;
        let dreg = a.be32(3);
        let negate = a.be32(5).unwrap_or(0) & 1 != 0;
        let on_failure = |why: String| match dreg {
            None => Failure::Test(why),
            Some(_) => Failure::Any(why),
        };
        let set = self.cx.set(name).ok_or_else(|| {
            on_failure(format!(
                "lookup in set {}, which is not there",
                String::from_utf8_lossy(name)
            ))
        })?;
        let (key, last) = self.regs.key(sreg, set.key_len).map_err(on_failure)?;
        if last < usize::from(key.parts.last().map_or(0, |l| l.len)) {
            return Err(on_failure(format!(
                "a key of {} bytes in a longer register",
                set.key_len
            )));
        }
        let mut fields = set.fields.to_vec();
        let mut elements = match set.elements {
            SetElements::Named(name) => Elements::Set(name.to_string()),
            SetElements::Inline(elements) => Elements::Inline(elements.to_vec()),
            SetElements::Unreadable(why) => return Err(on_failure(why.to_string())),
        };
        // An anonymous set without a description of its parts (`ip saddr . @ih,32,32 {
        // … }`): the rule's key says where they are.
        let padded: usize = key
            .parts
            .iter()
            .map(|p| usize::from(p.len).div_ceil(4) * 4)
            .sum();
        if let (Elements::Inline(inline), [whole]) = (&mut elements, fields.as_slice())
            && set.exact
            && key.parts.len() > 1
            && padded == *whole
        {
            let lens: Vec<usize> = key.parts.iter().map(|p| usize::from(p.len)).collect();
            for e in inline.iter_mut() {
                if let [span] = e.key.as_slice() {
                    let (Ok(low), Ok(high)) = (
                        value::split(&span.low, &lens),
                        value::split(&span.high, &lens),
                    ) else {
                        return Err(on_failure("an element shorter than its key".into()));
                    };
                    e.key = low
                        .into_iter()
                        .zip(high)
                        .map(|(l, h)| Span {
                            low: l.into(),
                            high: h.into(),
                        })
                        .collect();
                }
            }
            fields = lens;
        }
        if key.parts.len() != fields.len()
            || key
                .parts
                .iter()
                .zip(&fields)
                .any(|(p, &f)| usize::from(p.len) != f)
        {
            return Err(on_failure(format!(
                "a key of {} parts for a set of fields {:?}",
                key.parts.len(),
                fields
            )));
        }
        match dreg {
            None => {
                self.step(Step::Match(Match {
                    key,
                    test: Test::Member { negate, elements },
                }));
                Ok(())
            }
            Some(_) if negate || !set.map => any("a map lookup that is inverted or in a set"),
            Some(0) => {
                self.statement(Statement::VerdictMap { key, map: elements });
                Ok(())
            }
            Some(reg) => {
                let at = word(reg).ok_or_else(|| Failure::Any(format!("register {reg}")))?;
                let len = set.data_len;
                self.regs.write(at, Value::Map { key, map: elements }, len)
            }
        }
    }

    fn nat(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_NAT_TYPE, FAMILY, REG_ADDR_MIN, REG_ADDR_MAX, REG_PROTO_MIN,
        // REG_PROTO_MAX, FLAGS
        let kind = match need(a, 1, "nat")? {
            0 => NatKind::Snat,
            1 => NatKind::Dnat,
            other => return any(format!("nat type {other}")),
        };
        let nat_family = a.be32(2).unwrap_or(0) as u8;
        let address_len = match nat_family {
            NFPROTO_IPV6 => 16,
            NFPROTO_IPV4 => 4,
            // A port-only nat in an inet table names no address family.
            _ if a.has(3) => return any(format!("nat family {nat_family} with an address")),
            _ => 4,
        };
        let address = self.range_operand(a.be32(3), a.be32(4), address_len);
        let port = self.range_operand(a.be32(5), a.be32(6), 2);
        self.statement(Statement::Nat(Box::new(Nat {
            kind,
            family: self.nat_family(nat_family),
            address,
            port,
            flags: nat_flags(a.be32(7)),
        })));
        Ok(())
    }

    fn masq_or_redir(&mut self, a: &Attrs, kind: NatKind) -> Result<()> {
        // masq: FLAGS, REG_PROTO_MIN, REG_PROTO_MAX; redir: REG_PROTO_MIN, MAX, FLAGS.
        let (flags, min, max) = match kind {
            NatKind::Masquerade => (1, 2, 3),
            _ => (3, 1, 2),
        };
        let port = self.range_operand(a.be32(min), a.be32(max), 2);
        self.statement(Statement::Nat(Box::new(Nat {
            kind,
            family: None,
            address: None,
            port,
            flags: nat_flags(a.be32(flags)),
        })));
        Ok(())
    }

    fn tproxy(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_TPROXY_FAMILY, REG_ADDR, REG_PORT
        let family = need(a, 1, "tproxy")? as u8;
        let address_len = if family == NFPROTO_IPV6 { 16 } else { 4 };
        let address = a.be32(2).map(|r| self.regs.operand(r, address_len));
        let port = a.be32(3).map(|r| self.regs.operand(r, 2));
        let family = match family {
            NFPROTO_IPV4 | NFPROTO_IPV6 => self.nat_family(family),
            _ => None,
        };
        self.statement(Statement::Tproxy(Box::new(Tproxy {
            family,
            address,
            port,
        })));
        Ok(())
    }

    /// A nat or tproxy family, said only where the table's does not say it (inet).
    fn nat_family(&self, family: u8) -> Option<NatFamily> {
        if self.cx.family() != NFPROTO_INET {
            return None;
        }
        match family {
            NFPROTO_IPV4 => Some(NatFamily::Ipv4),
            NFPROTO_IPV6 => Some(NatFamily::Ipv6),
            _ => None,
        }
    }

    fn range_operand(
        &self,
        min: Option<u32>,
        max: Option<u32>,
        len: usize,
    ) -> Option<OperandRange> {
        let min_reg = min?;
        Some(OperandRange {
            min: self.regs.operand(min_reg, len),
            max: max
                .filter(|&m| m != min_reg)
                .map(|m| self.regs.operand(m, len)),
        })
    }

    fn reject(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_REJECT_TYPE, ICMP_CODE (u8)
        let code = a.get(2).and_then(|c| c.first()).copied().unwrap_or(0);
        let reject = match need(a, 1, "reject")? {
            0 => match self.l3() {
                Some(NFPROTO_IPV6) => Reject::Icmpv6(code),
                _ => Reject::Icmp(code),
            },
            1 => Reject::TcpReset,
            2 => Reject::Icmpx(code),
            other => return any(format!("reject type {other}")),
        };
        self.statement(Statement::Reject(reject));
        Ok(())
    }

    /// The network protocol of the packets that reach this point: the table's, or the
    /// one a `meta nfproto` (bridge: `meta protocol`) match before it required.
    fn l3(&self) -> Option<u8> {
        if let f @ (NFPROTO_IPV4 | NFPROTO_IPV6) = self.cx.family() {
            return Some(f);
        }
        self.out.steps.iter().rev().find_map(|step| {
            let Step::Match(Match {
                key,
                test:
                    Test::Equal {
                        negate: false,
                        value,
                    },
            }) = step
            else {
                return None;
            };
            let [load] = key.parts.as_slice() else {
                return None;
            };
            match (&load.field, value.as_ref()) {
                (Field::Meta(MetaKey::Nfproto), [p]) => Some(*p),
                (Field::Meta(MetaKey::Protocol), [0x08, 0x00]) => Some(NFPROTO_IPV4),
                (Field::Meta(MetaKey::Protocol), [0x86, 0xdd]) => Some(NFPROTO_IPV6),
                _ => None,
            }
        })
    }

    /// Whether the rule so far tests that the packet is TCP (`meta l4proto tcp`).
    fn tests_tcp(&self) -> bool {
        self.out.steps.iter().any(|step| {
            matches!(step, Step::Match(Match {
                key,
                test: Test::Equal { negate: false, value },
            }) if value.as_ref() == [6]
                && matches!(key.parts.as_slice(), [l] if l.field == Field::Meta(MetaKey::L4proto)))
        })
    }

    fn limit(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_LIMIT_RATE, UNIT, BURST, TYPE (NFT_LIMIT_PKT_BYTES), FLAGS (INV: over)
        let rate = a.be64(1).unwrap_or(0);
        let per = match a.be64(2).unwrap_or(0) {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            86400 => "day",
            604800 => "week",
            _ => "period",
        };
        let over = if a.be32(5).unwrap_or(0) & 1 != 0 {
            "over "
        } else {
            ""
        };
        let bytes = if a.be32(4).unwrap_or(0) == 1 {
            " bytes"
        } else {
            ""
        };
        self.step(Step::Condition(format!(
            "limit rate {over}{rate}{bytes}/{per}"
        )));
        Ok(())
    }

    fn dynset(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_DYNSET_SET_NAME, SET_ID, OP, SREG_KEY, SREG_DATA, TIMEOUT, EXPR, PAD,
        // FLAGS, EXPRESSIONS
        let name = String::from_utf8_lossy(a.str(1).unwrap_or_default()).into_owned();
        let op = match a.be32(3).unwrap_or(0) {
            0 => "add",
            1 => "update",
            _ => "delete",
        };
        let what = format!("{op} @{name}");
        self.out.dynamic_sets.push(name);
        // With per-element expressions (`update @s { ip saddr limit rate 10/second }`)
        // or an inverted result, whether the rule goes on depends on the set's state.
        if a.has(7) || a.has(10) || a.be32(9).unwrap_or(0) & 1 != 0 {
            self.step(Step::Condition(what));
        } else {
            self.statement(Statement::Effect(what));
        }
        Ok(())
    }

    fn objref(&mut self, a: &Attrs) -> Result<()> {
        // NFTA_OBJREF_IMM_TYPE, IMM_NAME, SET_SREG, SET_NAME, SET_ID
        let (kind, what) = match (a.be32(1), a.str(2), a.str(4)) {
            (Some(kind), Some(name), _) => (kind, String::from_utf8_lossy(name).into_owned()),
            (None, _, Some(set)) => {
                // An object map: a key not in it ends the rule.
                let kind = self.cx.set(set).and_then(|s| s.object_type).unwrap_or(0);
                let set = String::from_utf8_lossy(set);
                let what = format!("{} map @{set}", object_name(kind));
                self.step(Step::Condition(what));
                return Ok(());
            }
            _ => return any("an object reference without an object"),
        };
        let what = format!("{} name \"{what}\"", object_name(kind));
        match kind {
            // counter, ct helper, ct timeout, secmark, ct expectation
            1 | 3 | 7 | 8 | 9 => self.statement(Statement::Effect(what)),
            // quota, limit, connlimit
            2 | 4 | 5 => self.step(Step::Condition(what)),
            _ => self.step(Step::Opaque(what)),
        }
        Ok(())
    }
}

fn into_test(f: Failure) -> Failure {
    match f {
        Failure::Any(why) | Failure::Test(why) => Failure::Test(why),
    }
}

/// The object types (NFT_OBJECT_*) as nft names them.
fn object_name(kind: u32) -> &'static str {
    match kind {
        1 => "counter",
        2 => "quota",
        3 => "ct helper",
        4 => "limit",
        5 => "ct count",
        6 => "tunnel",
        7 => "ct timeout",
        8 => "meta secmark",
        9 => "ct expectation",
        10 => "synproxy",
        _ => "object",
    }
}

/// NF_NAT_RANGE_* flags a user asked for: MAP_IPS and PROTO_SPECIFIED only say that
/// an address or port is given, which the operands say.
fn nat_flags(flags: Option<u32>) -> u32 {
    flags.unwrap_or(0) & !0x3
}

/// The compared bytes per key part: `low`..=`high` split where the concatenation's
/// parts start; the last part compares `last` bytes (fewer: a prefix).
fn spans(key: &Key, last: usize, low: &[u8], high: &[u8]) -> Result<Vec<Span>> {
    let mut spans = Vec::with_capacity(key.parts.len());
    let mut at = 0;
    let n = key.parts.len();
    for (i, part) in key.parts.iter().enumerate() {
        let len = if i + 1 == n {
            last
        } else {
            usize::from(part.len)
        };
        let (Some(l), Some(h)) = (low.get(at..at + len), high.get(at..at + len)) else {
            return test("a value shorter than its key");
        };
        // The padding after a part is zero in a register.
        let end = (at + usize::from(part.len).div_ceil(4) * 4).min(low.len());
        if i + 1 < n
            && (low[at + len..end].iter().any(|&b| b != 0)
                || high[at + len..end].iter().any(|&b| b != 0))
        {
            return test("a value with bytes in a register's padding");
        }
        spans.push(Span {
            low: l.into(),
            high: h.into(),
        });
        at = end;
    }
    if low[at.min(low.len())..].iter().any(|&b| b != 0) {
        return test("a value with bytes in a register's padding");
    }
    Ok(spans)
}

/// NFT_META_* as the model's key, and the bytes the kernel loads for it.
fn meta_key(number: u32) -> (MetaKey, usize) {
    match number {
        0 => (MetaKey::Len, 4),
        1 => (MetaKey::Protocol, 2),
        2 => (MetaKey::Priority, 4),
        3 => (MetaKey::Mark, 4),
        4 => (MetaKey::Iif, 4),
        5 => (MetaKey::Oif, 4),
        6 => (MetaKey::Iifname, 16),
        7 => (MetaKey::Oifname, 16),
        8 => (MetaKey::Iiftype, 2),
        9 => (MetaKey::Oiftype, 2),
        10 => (MetaKey::Skuid, 4),
        11 => (MetaKey::Skgid, 4),
        14 => (MetaKey::Secmark, 4),
        15 => (MetaKey::Nfproto, 1),
        16 => (MetaKey::L4proto, 1),
        19 => (MetaKey::Pkttype, 1),
        21 => (MetaKey::Iifgroup, 4),
        22 => (MetaKey::Oifgroup, 4),
        23 => (MetaKey::Cgroup, 4),
        26 => (MetaKey::Iifkind, 16),
        27 => (MetaKey::Oifkind, 16),
        // nftrace, secpath, time day, broute: one byte; bridge names, sdifname: 16;
        // bridge pvid and vlan protocol: 2; time in ns: 8; the rest: 4.
        12 | 25 | 31 | 35 => (MetaKey::Other(number), 1),
        17 | 18 | 34 => (MetaKey::Other(number), 16),
        28 | 29 => (MetaKey::Other(number), 2),
        30 => (MetaKey::Other(number), 8),
        other => (MetaKey::Other(other), 4),
    }
}

/// NFT_CT_* as the model's key, and the bytes the kernel loads for it in a table of
/// `family`.
fn ct_key(number: u32, family: u8) -> (CtKey, usize) {
    match number {
        0 => (CtKey::State, 4),
        1 => (CtKey::Direction, 1),
        2 => (CtKey::Status, 4),
        3 => (CtKey::Mark, 4),
        5 => (CtKey::Expiration, 4),
        6 => (CtKey::Helper, 16),
        7 => (CtKey::L3protocol, 1),
        // NFT_CT_SRC/DST: the table's address size (inet and others: IPv6's).
        8 | 9 => {
            let len = if family == NFPROTO_IPV4 { 4 } else { 16 };
            let key = if number == 8 {
                CtKey::Saddr
            } else {
                CtKey::Daddr
            };
            (key, len)
        }
        10 => (CtKey::Protocol, 1),
        11 => (CtKey::ProtoSrc, 2),
        12 => (CtKey::ProtoDst, 2),
        13 => (CtKey::Label, 16),
        17 => (CtKey::Zone, 2),
        19 => (CtKey::Saddr, 4),
        20 => (CtKey::Daddr, 4),
        21 => (CtKey::Saddr, 16),
        22 => (CtKey::Daddr, 16),
        // packets, bytes, average packet size: 8; the rest 4.
        14..=16 => (CtKey::Other(number), 8),
        other => (CtKey::Other(other), 4),
    }
}
