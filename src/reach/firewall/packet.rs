//! What a class knows of the bytes a rule loads into a register, and how the kernel's
//! comparisons come out on them: yes, no, or maybe, per destination port.
//!
//! A loaded value is bytes with a mask of the bits known (`ct state` of a new connection
//! is all known; `ct status` only some bits; `ip saddr` none), the class's destination
//! port (the one thing a class ranges over), or absent (the kernel cannot load it for this
//! packet, and the rule stops: `oiftype` where there is no output interface). Comparisons
//! are the kernel's: memcmp over the compared length, so a value shorter than the key
//! compares a prefix (`iifname "eth*"` is the three bytes `eth`).

use std::net::IpAddr;

use super::Iface;
use super::ports::PortSet;
use crate::ruleset::{
    CtKey, FibResult, Field, Hook, Load, MetaKey, PayloadBase, Span, TableFamily, Transform,
};
use crate::socket::{Family, Protocol};

/// Three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    pub fn of(b: bool) -> Tri {
        if b { Tri::Yes } else { Tri::No }
    }

    pub fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Maybe,
        }
    }

    pub fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        }
    }
}

/// The widest single load portaudit evaluates (an IPv6 address, an interface name).
const WIDTH: usize = 16;

/// Bytes of a register, with the bits known. Past `len`, up to the next 4-byte boundary,
/// the kernel zeroes the register (known zeros); past that nothing is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bits {
    len: u8,
    bytes: [u8; WIDTH],
    known: [u8; WIDTH],
}

impl Bits {
    /// Every bit known. `None` when wider than portaudit evaluates.
    pub fn exact(bytes: &[u8]) -> Option<Bits> {
        let mut bits = Bits::unknown(bytes.len())?;
        bits.bytes[..bytes.len()].copy_from_slice(bytes);
        bits.known[..bytes.len()].fill(0xff);
        Some(bits)
    }

    /// No bit known.
    pub fn unknown(len: usize) -> Option<Bits> {
        (len <= WIDTH).then_some(Bits {
            len: len as u8,
            bytes: [0; WIDTH],
            known: [0; WIDTH],
        })
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Byte `i` of the register and its known bits.
    fn byte(&self, i: usize) -> (u8, u8) {
        if i < self.len() {
            (self.bytes[i], self.known[i])
        } else if i < self.len().div_ceil(4) * 4 {
            (0, 0xff)
        } else {
            (0, 0)
        }
    }

    fn set(&mut self, i: usize, value: u8, known: u8) {
        self.bytes[i] = value & known;
        self.known[i] = known;
    }

    /// The loaded bytes, when every bit is known.
    pub fn value(&self) -> Option<&[u8]> {
        self.known[..self.len()]
            .iter()
            .all(|k| *k == 0xff)
            .then(|| &self.bytes[..self.len()])
    }

    fn nothing_known(&self) -> bool {
        self.known[..self.len()].iter().all(|k| *k == 0)
    }

    /// memcmp(register, bound, bound.len()) compared with 0: `>=` (`ge`) or `<=`.
    fn compare(&self, bound: &[u8], ge: bool) -> Tri {
        for (i, &x) in bound.iter().enumerate() {
            let (b, k) = self.byte(i);
            let (low, high) = (b & k, b | !k);
            if k == 0xff {
                if b != x {
                    return Tri::of((b > x) == ge);
                }
                continue;
            }
            if low > x {
                return Tri::of(ge);
            }
            if high < x {
                return Tri::of(!ge);
            }
            return Tri::Maybe;
        }
        Tri::Yes
    }

    /// memcmp(register, value, value.len()) == 0.
    fn equals(&self, value: &[u8]) -> Tri {
        let mut all_known = true;
        for (i, &x) in value.iter().enumerate() {
            let (b, k) = self.byte(i);
            if (b ^ x) & k != 0 {
                return Tri::No;
            }
            all_known &= k == 0xff;
        }
        if all_known { Tri::Yes } else { Tri::Maybe }
    }

    fn span(&self, span: &Span) -> Tri {
        if span.low == span.high {
            return self.equals(&span.low);
        }
        self.compare(&span.low, true)
            .and(self.compare(&span.high, false))
    }
}

/// A value known not to be something: an interface that is not loopback, an address that
/// is not local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Except {
    pub bits: Bits,
    /// An interface name: NUL-terminated, so a prefix that holds the NUL pins the name.
    pub name: bool,
}

/// What one load puts in its register, for this class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value {
    Bits(Bits),
    /// The destination port as the class has it (network order, 2 bytes): what the class
    /// ranges over.
    Port,
    /// Not known. `daddr`: it is exactly the destination address, so a rule that matches
    /// one address tells it; `within`: the bits known of it all the same (the prefix of
    /// a class of addresses).
    Unknown {
        except: Option<Except>,
        daddr: bool,
        within: Option<Bits>,
    },
    /// The kernel cannot load it for this packet: the rule ends there, whatever follows.
    Absent,
}

impl Value {
    const UNKNOWN: Value = Value::Unknown {
        except: None,
        daddr: false,
        within: None,
    };

    /// Nothing at all known of it (the reason names only the key, not the value).
    pub fn opaque(&self) -> bool {
        matches!(self, Value::Unknown { except: None, .. })
    }
}

/// Where the destination port stands on this branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum PortNow {
    /// As the class has it.
    Class,
    /// Rewritten to one port (a DNAT earlier in the hook).
    To(u16),
    /// Rewritten to something not known.
    Unknown,
}

/// What the packet is, as far as rules can see: the class, plus what earlier rules on this
/// branch did to it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Packet<'a> {
    pub hook: Hook,
    pub family: Family,
    pub protocol: Protocol,
    pub iif: Option<Iface<'a>>,
    pub oif: Option<Iface<'a>>,
    pub daddr: Option<IpAddr>,
    /// When `daddr` is not known and nothing rewrote it: the prefix it lies in.
    pub dnet: Option<(IpAddr, u8)>,
    pub port: PortNow,
    pub mark: Option<u32>,
    pub ct_mark: Option<u32>,
    pub local: Option<bool>,
    pub dnat: bool,
    /// Whether conntrack has seen the packet when the chain runs.
    pub tracked: Tracked,
}

/// Whether conntrack has seen a packet when a chain runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    Yes,
    /// Before conntrack: the packet has no connection (`ct state` is invalid, the other
    /// ct keys cannot be loaded).
    No,
    /// A chain at conntrack's own priority runs before or after it, as they were
    /// registered: either.
    Either,
}

// NF_CT_STATE_BIT(IP_CT_NEW), NF_CT_STATE_INVALID_BIT; IPS_* status bits.
const CT_STATE_NEW: u32 = 1 << 3;
const CT_STATE_INVALID: u32 = 1;
const IPS_EXPECTED: u32 = 1 << 0;
const IPS_SEEN_REPLY: u32 = 1 << 1;
const IPS_ASSURED: u32 = 1 << 2;
const IPS_CONFIRMED: u32 = 1 << 3;
const IPS_DST_NAT: u32 = 1 << 5;
// NFTA_FIB_F_DADDR; RTN_LOCAL.
const FIB_DADDR: u32 = 1 << 1;
const RTN_LOCAL: u32 = 2;
// TCP flags: FIN, SYN, RST, ACK.
const TCP_KNOWN_FLAGS: u8 = 0x01 | 0x02 | 0x04 | 0x10;
const TCP_SYN: u8 = 0x02;

impl Packet<'_> {
    fn protocol_number(&self) -> u8 {
        match self.protocol {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    /// `meta nfproto` as a chain of `table` sees it: the hook's family (inet chains see
    /// the packet's own).
    fn nfproto(&self, table: TableFamily) -> u8 {
        match table {
            TableFamily::Ip | TableFamily::Ip6 | TableFamily::Inet => match self.family {
                Family::Ipv4 => 2,
                Family::Ipv6 => 10,
            },
            TableFamily::Arp => 3,
            TableFamily::Netdev => 5,
            TableFamily::Bridge => 7,
        }
    }

    /// What `load` puts in its register, transforms applied.
    pub fn load(&self, table: TableFamily, load: &Load) -> Value {
        let len = usize::from(load.len);
        let mut value = match &load.field {
            Field::Payload { base, offset } => self.payload(*base, *offset as usize, len),
            Field::Meta(key) => self.meta(table, *key, len),
            Field::Ct { key, .. } => self.ct(*key, len),
            Field::Fib { flags, result } => match (flags, result) {
                (&FIB_DADDR, FibResult::Addrtype) => match self.local {
                    Some(true) => host_u32(RTN_LOCAL, len),
                    Some(false) => except(host_u32(RTN_LOCAL, len), false),
                    None => Value::UNKNOWN,
                },
                _ => Value::UNKNOWN,
            },
            Field::Socket(_) | Field::Other(_) => Value::UNKNOWN,
        };
        for transform in &load.transforms {
            value = apply(value, transform);
        }
        value
    }

    /// The destination address's bits the class's prefix tells (none past its length);
    /// `None` without a prefix of this family, or one that tells nothing (/0).
    fn prefix_bits(&self) -> Option<Bits> {
        let (network, len) = self.dnet.filter(|&(_, len)| len > 0)?;
        let octets = match (network, self.family) {
            (IpAddr::V4(a), Family::Ipv4) => a.octets().to_vec(),
            (IpAddr::V6(a), Family::Ipv6) => a.octets().to_vec(),
            _ => return None,
        };
        let mut bits = Bits::unknown(octets.len())?;
        let mut left = usize::from(len).min(octets.len() * 8);
        for (i, octet) in octets.into_iter().enumerate() {
            let known = match left {
                0 => 0,
                1..=7 => 0xffu8 << (8 - left),
                _ => 0xff,
            };
            bits.set(i, octet, known);
            left = left.saturating_sub(8);
        }
        Some(bits)
    }

    fn payload(&self, base: PayloadBase, offset: usize, len: usize) -> Value {
        let Some(mut bits) = Bits::unknown(len) else {
            return Value::UNKNOWN;
        };
        match base {
            PayloadBase::Network => {
                let (address_at, protocol_at) = match self.family {
                    Family::Ipv4 => (16, Some(9)),
                    // The first next header may be an extension header: not known.
                    Family::Ipv6 => (24, None),
                };
                let address: Option<Vec<u8>> = self.daddr.map(|a| match a {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                });
                let address_len = match self.family {
                    Family::Ipv4 => 4,
                    Family::Ipv6 => 16,
                };
                let prefix = match self.daddr {
                    None => self.prefix_bits(),
                    Some(_) => None,
                };
                if self.daddr.is_none() && offset == address_at && len == address_len {
                    return Value::Unknown {
                        except: None,
                        daddr: true,
                        within: prefix,
                    };
                }
                for i in 0..len {
                    let at = offset + i;
                    if protocol_at == Some(at) {
                        bits.set(i, self.protocol_number(), 0xff);
                    } else if let Some(address) = &address
                        && (address_at..address_at + address.len()).contains(&at)
                    {
                        bits.set(i, address[at - address_at], 0xff);
                    } else if let Some(prefix) = &prefix
                        && (address_at..address_at + address_len).contains(&at)
                    {
                        let (value, known) = prefix.byte(at - address_at);
                        bits.set(i, value, known);
                    } else if at == 0 {
                        // The version nibble.
                        let version = match self.family {
                            Family::Ipv4 => 4,
                            Family::Ipv6 => 6,
                        };
                        bits.set(i, version << 4, 0xf0);
                    }
                }
            }
            PayloadBase::Transport => {
                if offset == 2 && len == 2 {
                    return match self.port {
                        PortNow::Class => Value::Port,
                        PortNow::To(port) => {
                            Bits::exact(&port.to_be_bytes()).map_or(Value::UNKNOWN, Value::Bits)
                        }
                        PortNow::Unknown => Value::UNKNOWN,
                    };
                }
                for i in 0..len {
                    let at = offset + i;
                    match (at, self.port) {
                        (2 | 3, PortNow::To(port)) => bits.set(i, port.to_be_bytes()[at - 2], 0xff),
                        (13, _) if self.protocol == Protocol::Tcp => {
                            bits.set(i, TCP_SYN, TCP_KNOWN_FLAGS)
                        }
                        _ => {}
                    }
                }
            }
            PayloadBase::Link | PayloadBase::Inner => {}
        }
        if bits.nothing_known() {
            Value::UNKNOWN
        } else {
            Value::Bits(bits)
        }
    }

    fn meta(&self, table: TableFamily, key: MetaKey, len: usize) -> Value {
        // Which device an input-side or output-side key reads, and whether there is one
        // at this hook at all.
        let input = !matches!(self.hook, Hook::Output);
        let output = matches!(
            self.hook,
            Hook::Forward | Hook::Postrouting | Hook::Output | Hook::Egress
        );
        let (device, present) = match key {
            MetaKey::Iif
            | MetaKey::Iifname
            | MetaKey::Iiftype
            | MetaKey::Iifkind
            | MetaKey::Iifgroup => (self.iif, input),
            MetaKey::Oif
            | MetaKey::Oifname
            | MetaKey::Oiftype
            | MetaKey::Oifkind
            | MetaKey::Oifgroup => (self.oif, output),
            _ => (None, true),
        };
        // Locally generated packets may leave by loopback; nothing else here comes from or
        // goes to it.
        let never_lo = !matches!(self.hook, Hook::Output | Hook::Postrouting);
        match key {
            MetaKey::L4proto => exact(&[self.protocol_number()], len),
            MetaKey::Nfproto => exact(&[self.nfproto(table)], len),
            MetaKey::Protocol => match self.family {
                Family::Ipv4 => exact(&[0x08, 0x00], len),
                Family::Ipv6 => exact(&[0x86, 0xdd], len),
            },
            MetaKey::Mark => self.mark.map_or(Value::UNKNOWN, |m| host_u32(m, len)),
            // PACKET_HOST: a unicast packet to this host's (or a forwarded) address.
            MetaKey::Pkttype if !matches!(self.hook, Hook::Output | Hook::Postrouting) => {
                exact(&[0], len)
            }
            MetaKey::Iif | MetaKey::Oif => match (present, device) {
                // No device: the kernel stores 0.
                (false, _) => host_u32(0, len),
                (true, Some(d)) if d.ifindex != 0 => host_u32(d.ifindex, len),
                (true, Some(d)) if d.name == "lo" => host_u32(1, len),
                (true, _) if never_lo => except(host_u32(1, len), false),
                (true, _) => Value::UNKNOWN,
            },
            MetaKey::Iifname | MetaKey::Oifname => match (present, device) {
                (false, _) => name(""),
                (true, Some(d)) => name(d.name),
                (true, None) if never_lo => except(name("lo"), true),
                (true, None) => Value::UNKNOWN,
            },
            MetaKey::Iifkind | MetaKey::Oifkind => match (present, device) {
                (false, _) => Value::Absent,
                (true, Some(Iface { kind: Some(""), .. })) => Value::Absent,
                (
                    true,
                    Some(Iface {
                        kind: Some(kind), ..
                    }),
                ) => name(kind),
                (true, _) => Value::UNKNOWN,
            },
            MetaKey::Iiftype | MetaKey::Oiftype | MetaKey::Iifgroup | MetaKey::Oifgroup => {
                if present {
                    Value::UNKNOWN
                } else {
                    Value::Absent
                }
            }
            _ => Value::UNKNOWN,
        }
    }

    fn ct(&self, key: CtKey, len: usize) -> Value {
        match self.tracked {
            Tracked::Yes => {}
            Tracked::No => {
                return match key {
                    CtKey::State => host_u32(CT_STATE_INVALID, len),
                    _ => Value::Absent,
                };
            }
            Tracked::Either => return Value::UNKNOWN,
        }
        match key {
            CtKey::State => host_u32(CT_STATE_NEW, len),
            CtKey::Status => {
                let known =
                    IPS_EXPECTED | IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_DST_NAT;
                let value = if self.dnat { IPS_DST_NAT } else { 0 };
                let (Some(mut bits), v, k) =
                    (Bits::unknown(len), value.to_ne_bytes(), known.to_ne_bytes())
                else {
                    return Value::UNKNOWN;
                };
                for i in 0..len.min(4) {
                    bits.set(i, v[i], k[i]);
                }
                Value::Bits(bits)
            }
            CtKey::Mark => self.ct_mark.map_or(Value::UNKNOWN, |m| host_u32(m, len)),
            // IP_CT_DIR_ORIGINAL.
            CtKey::Direction => exact(&[0], len),
            CtKey::L3protocol => exact(&[self.nfproto(TableFamily::Inet)], len),
            CtKey::Protocol => exact(&[self.protocol_number()], len),
            _ => Value::UNKNOWN,
        }
    }
}

/// `bytes` loaded as `len` bytes: a shorter load takes their start, a longer one is padded
/// with unknown bytes (a rule never loads past what the key has, but the model may say so).
fn exact(bytes: &[u8], len: usize) -> Value {
    let Some(mut bits) = Bits::unknown(len) else {
        return Value::UNKNOWN;
    };
    for (i, b) in bytes.iter().take(len).enumerate() {
        bits.set(i, *b, 0xff);
    }
    if len > bytes.len() {
        // A 1-byte key loaded into more: the kernel stores it zero-padded.
        for i in bytes.len()..len {
            bits.set(i, 0, 0xff);
        }
    }
    Value::Bits(bits)
}

/// A 32-bit value in host order (meta and ct keys).
fn host_u32(value: u32, len: usize) -> Value {
    exact(&value.to_ne_bytes(), len)
}

/// An interface name as the kernel loads it: 16 bytes, NUL-padded.
fn name(text: &str) -> Value {
    let mut bytes = [0u8; WIDTH];
    for (slot, b) in bytes.iter_mut().zip(text.bytes().take(WIDTH - 1)) {
        *slot = b;
    }
    exact(&bytes, WIDTH)
}

fn except(value: Value, is_name: bool) -> Value {
    match value {
        Value::Bits(bits) => Value::Unknown {
            except: Some(Except {
                bits,
                name: is_name,
            }),
            daddr: false,
            within: None,
        },
        other => other,
    }
}

/// A bitwise, shift or byteorder expression applied to a loaded value.
fn apply(value: Value, transform: &Transform) -> Value {
    let bits = match value {
        // What is known of an address goes through the transform as any known bits do.
        Value::Bits(bits)
        | Value::Unknown {
            within: Some(bits), ..
        } => bits,
        Value::Absent => return Value::Absent,
        Value::Port | Value::Unknown { .. } => return Value::UNKNOWN,
    };
    let out = match transform {
        Transform::Mask { mask, xor } => {
            let Some(mut out) = Bits::unknown(mask.len()) else {
                return Value::UNKNOWN;
            };
            for i in 0..mask.len() {
                let (b, k) = bits.byte(i);
                let m = mask[i];
                let x = xor.get(i).copied().unwrap_or(0);
                // A bit masked off is a known zero, then xor flips it knowingly.
                out.set(i, (b & m) ^ x, k | !m);
            }
            out
        }
        Transform::ShiftLeft(n) | Transform::ShiftRight(n) => {
            let left = matches!(transform, Transform::ShiftLeft(_));
            shift(&bits, *n, left)
        }
        Transform::ByteOrder { size, .. } => {
            let size = usize::from(*size);
            if cfg!(target_endian = "big") || size <= 1 {
                bits
            } else {
                let mut out = bits;
                if size > 8 || bits.len() % size != 0 {
                    return Value::UNKNOWN;
                }
                for chunk in 0..bits.len() / size {
                    for i in 0..size {
                        let (b, k) = bits.byte(chunk * size + i);
                        out.set(chunk * size + size - 1 - i, b, k);
                    }
                }
                out
            }
        }
    };
    if out.nothing_known() {
        Value::UNKNOWN
    } else {
        Value::Bits(out)
    }
}

/// The kernel's shift: over the register's 32-bit words in host order, carrying bits from
/// one word to the next (the lower-addressed word gets the carry of the higher on a left
/// shift).
fn shift(bits: &Bits, n: u32, left: bool) -> Bits {
    let words = bits.len().div_ceil(4);
    let mut out = *bits;
    if n >= 32 {
        return Bits::unknown(bits.len()).unwrap_or(*bits);
    }
    let word = |i: usize| -> (u32, u32) {
        let mut v = [0u8; 4];
        let mut k = [0u8; 4];
        for j in 0..4 {
            (v[j], k[j]) = bits.byte(i * 4 + j);
        }
        (u32::from_ne_bytes(v), u32::from_ne_bytes(k))
    };
    let mut carry = (0u32, u32::MAX);
    let order: Vec<usize> = if left {
        (0..words).rev().collect()
    } else {
        (0..words).collect()
    };
    for i in order {
        let (v, k) = word(i);
        let (nv, nk, cv, ck) = if left {
            let fill = if n == 0 { 0 } else { u32::MAX >> (32 - n) };
            (
                (v << n) | carry.0,
                (k << n) | (carry.1 & fill),
                if n == 0 { 0 } else { v >> (32 - n) },
                if n == 0 { u32::MAX } else { k >> (32 - n) },
            )
        } else {
            let fill = if n == 0 { 0 } else { u32::MAX << (32 - n) };
            (
                (v >> n) | carry.0,
                (k >> n) | (carry.1 & fill),
                if n == 0 { 0 } else { v << (32 - n) },
                if n == 0 { u32::MAX } else { k << (32 - n) },
            )
        };
        carry = (cv, ck);
        let (vb, kb) = (nv.to_ne_bytes(), nk.to_ne_bytes());
        for j in 0..4 {
            if i * 4 + j < bits.len() {
                out.set(i * 4 + j, vb[j], kb[j]);
            }
        }
    }
    out
}

/// How one element (or a compared value) comes out for a key: for all ports alike, or
/// only within a range of ports (the port part of the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hit {
    pub tri: Tri,
    /// `Some`: `tri` holds for these ports only (inclusive); elsewhere no.
    pub ports: Option<(u16, u16)>,
    /// The destination address this element pins, when the class did not know it.
    pub daddr: Option<IpAddr>,
}

impl Hit {
    const NO: Hit = Hit {
        tri: Tri::No,
        ports: None,
        daddr: None,
    };

    fn all(tri: Tri) -> Hit {
        Hit {
            tri,
            ports: None,
            daddr: None,
        }
    }

    fn and(self, other: Hit) -> Hit {
        let ports = match (self.ports, other.ports) {
            (Some(a), Some(b)) => Some((a.0.max(b.0), a.1.min(b.1))),
            (a, b) => a.or(b),
        };
        let tri = match ports {
            Some((low, high)) if low > high => Tri::No,
            _ => self.tri.and(other.tri),
        };
        Hit {
            tri,
            ports,
            daddr: self.daddr.or(other.daddr),
        }
    }

    /// The ports (of `universe`) where it is yes, and where maybe.
    pub fn split(&self, universe: &PortSet) -> (PortSet, PortSet) {
        let within = match self.ports {
            Some((low, high)) => universe.intersect(&PortSet::range(low, high)),
            None => universe.clone(),
        };
        match self.tri {
            Tri::Yes => (within, PortSet::empty()),
            Tri::Maybe => (PortSet::empty(), within),
            Tri::No => (PortSet::empty(), PortSet::empty()),
        }
    }
}

/// The ports whose register lies in `[low, high]`, each bound compared over its own
/// length (the port's two bytes, then the register's zero padding); `None` when a bound is
/// longer than the register part a port fills.
fn port_span(low: &[u8], high: &[u8]) -> Option<(i64, i64)> {
    Some((port_bound(low, true)?, port_bound(high, false)?))
}

/// The lowest port whose register is `>= bound` (`lower`; 65536 when none), or the
/// highest whose register is `<= bound`.
fn port_bound(bound: &[u8], lower: bool) -> Option<i64> {
    let at = |i: usize| i64::from(bound[i]);
    match bound.len() {
        0 => Some(if lower { 0 } else { 65535 }),
        1 => Some(if lower {
            at(0) << 8
        } else {
            (at(0) << 8) | 0xff
        }),
        2..=4 => {
            let port = (at(0) << 8) | at(1);
            let rest_zero = bound[2..].iter().all(|b| *b == 0);
            Some(if lower {
                port + i64::from(!rest_zero)
            } else {
                port
            })
        }
        _ => None,
    }
}

impl Value {
    /// cmp eq: the first `value.len()` bytes of the register equal `value`.
    pub fn equal(&self, value: &[u8]) -> Hit {
        match self {
            Value::Bits(bits) => Hit::all(bits.equals(value)),
            Value::Port => match port_span(value, value) {
                Some((low, high)) if low > high => Hit::NO,
                Some((low, high)) => Hit {
                    tri: Tri::Yes,
                    ports: Some((low as u16, high as u16)),
                    daddr: None,
                },
                None => Hit::all(Tri::Maybe),
            },
            Value::Unknown {
                except,
                daddr,
                within,
            } => {
                if let Some(except) = except
                    && pins(except, value)
                {
                    return Hit::NO;
                }
                if within.is_some_and(|w| w.equals(value) == Tri::No) {
                    return Hit::NO;
                }
                Hit {
                    tri: Tri::Maybe,
                    ports: None,
                    daddr: if *daddr { address(value) } else { None },
                }
            }
            Value::Absent => Hit::NO,
        }
    }

    /// One element span (or a compared value as `low == high`) against this value.
    pub fn span(&self, span: &Span) -> Hit {
        if span.low == span.high {
            return self.equal(&span.low);
        }
        match self {
            Value::Bits(bits) => Hit::all(bits.span(span)),
            Value::Port => match port_span(&span.low, &span.high) {
                Some((low, high)) if low > high => Hit::NO,
                Some((low, high)) => Hit {
                    tri: Tri::Yes,
                    ports: Some((low as u16, high as u16)),
                    daddr: None,
                },
                None => Hit::all(Tri::Maybe),
            },
            Value::Unknown {
                except,
                daddr,
                within,
            } => {
                if let Some(except) = except
                    && span.low == span.high
                    && pins(except, &span.low)
                {
                    return Hit::NO;
                }
                if within.is_some_and(|w| w.span(span) == Tri::No) {
                    return Hit::NO;
                }
                let pinned = (*daddr && span.low == span.high)
                    .then(|| address(&span.low))
                    .flatten();
                Hit {
                    tri: Tri::Maybe,
                    ports: None,
                    daddr: pinned,
                }
            }
            Value::Absent => Hit::NO,
        }
    }

    /// `<`, `<=`, `>`, `>=` against `bound`.
    pub fn order(&self, op: crate::ruleset::Order, bound: &[u8]) -> Hit {
        use crate::ruleset::Order;
        match self {
            Value::Bits(bits) => Hit::all(match op {
                Order::Ge => bits.compare(bound, true),
                Order::Le => bits.compare(bound, false),
                Order::Lt => bits.compare(bound, true).not(),
                Order::Gt => bits.compare(bound, false).not(),
            }),
            Value::Port => {
                let Some(first) = port_bound(bound, true) else {
                    return Hit::all(Tri::Maybe);
                };
                let Some(last) = port_bound(bound, false) else {
                    return Hit::all(Tri::Maybe);
                };
                let (low, high) = match op {
                    Order::Ge => (first, 65535),
                    Order::Gt => (last + 1, 65535),
                    Order::Le => (0, last),
                    Order::Lt => (0, first - 1),
                };
                if low > high || low > 65535 || high < 0 {
                    return Hit::NO;
                }
                Hit {
                    tri: Tri::Yes,
                    ports: Some((low as u16, high as u16)),
                    daddr: None,
                }
            }
            Value::Unknown { .. } => Hit::all(Tri::Maybe),
            Value::Absent => Hit::NO,
        }
    }
}

/// Whether the values that start with `prefix` are only `except`.
fn pins(except: &Except, prefix: &[u8]) -> bool {
    if except.bits.equals(prefix) != Tri::Yes {
        return false;
    }
    prefix.len() >= except.bits.len().div_ceil(4) * 4 || (except.name && prefix.contains(&0))
}

fn address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// One element (a span per part of the key) against the key's values: yes only where
/// every part is.
pub(super) fn element(values: &[Value], spans: &[Span]) -> Hit {
    if values.len() != spans.len() {
        return if values.contains(&Value::Absent) {
            Hit::NO
        } else {
            Hit::all(Tri::Maybe)
        };
    }
    let mut hit = Hit::all(Tri::Yes);
    for (value, span) in values.iter().zip(spans) {
        hit = hit.and(value.span(span));
        if hit.tri == Tri::No {
            return Hit::NO;
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::Order;

    fn span(low: &[u8], high: &[u8]) -> Span {
        Span {
            low: low.into(),
            high: high.into(),
        }
    }

    fn packet(hook: Hook) -> Packet<'static> {
        Packet {
            hook,
            family: Family::Ipv4,
            protocol: Protocol::Tcp,
            iif: None,
            oif: None,
            daddr: Some("192.0.2.10".parse().unwrap()),
            dnet: None,
            port: PortNow::Class,
            mark: Some(0),
            ct_mark: None,
            local: Some(true),
            dnat: false,
            tracked: Tracked::Yes,
        }
    }

    /// `ip daddr` as a rule loads it: 4 bytes, or fewer for a prefix nft shortens.
    fn daddr_of(p: &Packet, len: u8) -> Value {
        let field = Field::Payload {
            base: PayloadBase::Network,
            offset: 16,
        };
        p.load(TableFamily::Ip, &load(field, len))
    }

    #[test]
    fn a_class_of_a_prefix_knows_its_addresses_leading_bits() {
        // Any address of 127.0.0.0/8: never a service address, maybe one of its own.
        let p = Packet {
            daddr: None,
            dnet: Some(("127.0.0.0".parse().unwrap(), 8)),
            ..packet(Hook::Prerouting)
        };
        let daddr = daddr_of(&p, 4);
        assert_eq!(daddr.equal(&[10, 96, 0, 10]), Hit::NO);
        let own = daddr.equal(&[127, 0, 0, 53]);
        assert_eq!(
            (own.tri, own.daddr),
            (Tri::Maybe, Some("127.0.0.53".parse().unwrap()))
        );
        assert_eq!(
            daddr.span(&span(&[10, 0, 0, 0], &[10, 255, 255, 255])),
            Hit::NO
        );
        assert_eq!(
            daddr.span(&span(&[127, 0, 0, 0], &[127, 0, 0, 9])).tri,
            Tri::Maybe
        );
        // `ip daddr 127.0.0.0/8` loads one byte: every address of the class matches.
        assert_eq!(daddr_of(&p, 1).equal(&[127]).tri, Tri::Yes);
        assert_eq!(daddr_of(&p, 1).equal(&[10]).tri, Tri::No);
        // `ip daddr 96.0.0.0/3` masks the address: 127 = 0b011_11111 is in it.
        let mut masked = load(
            Field::Payload {
                base: PayloadBase::Network,
                offset: 16,
            },
            4,
        );
        masked.transforms.push(Transform::Mask {
            mask: [0xe0, 0, 0, 0].into(),
            xor: [0; 4].into(),
        });
        let masked = p.load(TableFamily::Ip, &masked);
        assert_eq!(masked.equal(&[96, 0, 0, 0]).tri, Tri::Yes);
        assert_eq!(masked.equal(&[128, 0, 0, 0]).tri, Tri::No);

        // A prefix not on a byte boundary: 10.96.0.0/12 holds 10.96-10.111.
        let p12 = Packet {
            daddr: None,
            dnet: Some(("10.96.0.0".parse().unwrap(), 12)),
            ..packet(Hook::Prerouting)
        };
        let daddr = daddr_of(&p12, 4);
        assert_eq!(daddr.equal(&[10, 111, 3, 4]).tri, Tri::Maybe);
        assert_eq!(daddr.equal(&[10, 112, 0, 1]), Hit::NO);
        // A /0 prefix and one of the other family tell nothing.
        for dnet in [("0.0.0.0", 0), ("::", 8)] {
            let p = Packet {
                daddr: None,
                dnet: Some((dnet.0.parse().unwrap(), dnet.1)),
                ..packet(Hook::Prerouting)
            };
            assert_eq!(daddr_of(&p, 4).equal(&[10, 96, 0, 10]).tri, Tri::Maybe);
        }
    }

    fn load(field: Field, len: u8) -> Load {
        Load {
            field,
            len,
            transforms: Vec::new(),
        }
    }

    #[test]
    fn a_shorter_value_compares_a_prefix_and_an_escaped_star_is_a_literal() {
        let eth0 = name("eth0");
        // `iifname "eth*"`: the three bytes "eth".
        assert_eq!(eth0.span(&Span::exact(b"eth")).tri, Tri::Yes);
        // `iifname "eth\*"`: the five bytes "eth*\0" (nft sends 16), which eth0 is not.
        let mut literal = [0u8; 16];
        literal[..4].copy_from_slice(b"eth*");
        assert_eq!(eth0.span(&Span::exact(&literal)).tri, Tri::No);
        assert_eq!(name("eth*").span(&Span::exact(&literal)).tri, Tri::Yes);
        // Not known, but never loopback.
        let outside = except(name("lo"), true);
        let mut lo = [0u8; 16];
        lo[..2].copy_from_slice(b"lo");
        assert_eq!(outside.span(&Span::exact(&lo)).tri, Tri::No);
        assert_eq!(outside.span(&Span::exact(b"lo\0")).tri, Tri::No);
        assert_eq!(
            outside.span(&Span::exact(b"lo")).tri,
            Tri::Maybe,
            "lo* is lo2 too"
        );
        assert_eq!(outside.span(&Span::exact(b"eth")).tri, Tri::Maybe);
    }

    #[test]
    fn a_port_span_splits_the_ports_exactly() {
        let port = Value::Port;
        assert_eq!(
            port.span(&span(&[0x13, 0x88], &[0x17, 0x6f])).ports,
            Some((5000, 5999))
        );
        // A one-byte prefix of the port: 0x16xx.
        assert_eq!(
            port.span(&Span::exact(&[0x16])).ports,
            Some((0x1600, 0x16ff))
        );
        // The register's zero padding compared too (a 4-byte element).
        assert_eq!(
            port.span(&Span::exact(&[0, 22, 0, 0])).ports,
            Some((22, 22))
        );
        assert_eq!(port.span(&Span::exact(&[0, 22, 0, 1])).tri, Tri::No);
        assert_eq!(port.order(Order::Lt, &[0x04, 0x00]).ports, Some((0, 1023)));
        assert_eq!(port.order(Order::Gt, &[0xff, 0xff]).tri, Tri::No);
        assert_eq!(port.order(Order::Ge, &[0, 0]).ports, Some((0, 65535)));
    }

    #[test]
    fn ct_state_and_status_of_a_new_connection() {
        let p = packet(Hook::Input);
        let state = load(
            Field::Ct {
                key: CtKey::State,
                direction: None,
            },
            4,
        );
        let mut established_related = state.clone();
        established_related.transforms.push(Transform::Mask {
            mask: 6u32.to_ne_bytes().into(),
            xor: [0; 4].into(),
        });
        let masked = p.load(TableFamily::Inet, &established_related);
        assert_eq!(
            masked.span(&Span::exact(&[0; 4])).tri,
            Tri::Yes,
            "est|rel is 0"
        );
        let new = p.load(TableFamily::Inet, &state);
        assert_eq!(new.span(&Span::exact(&8u32.to_ne_bytes())).tri, Tri::Yes);
        let mut status = load(
            Field::Ct {
                key: CtKey::Status,
                direction: None,
            },
            4,
        );
        status.transforms.push(Transform::Mask {
            mask: 0x20u32.to_ne_bytes().into(),
            xor: [0; 4].into(),
        });
        let zero = Span::exact(&[0; 4]);
        assert_eq!(p.load(TableFamily::Inet, &status).span(&zero).tri, Tri::Yes);
        let dnat = Packet { dnat: true, ..p };
        assert_eq!(
            dnat.load(TableFamily::Inet, &status).span(&zero).tri,
            Tri::No
        );
        // Bits nobody knows stay unknown.
        let mut other = status.clone();
        other.transforms[0] = Transform::Mask {
            mask: 0x10u32.to_ne_bytes().into(),
            xor: [0; 4].into(),
        };
        assert_eq!(
            p.load(TableFamily::Inet, &other).span(&zero).tri,
            Tri::Maybe
        );
    }

    #[test]
    fn an_output_interface_in_the_input_hook_is_zero_but_its_type_is_absent() {
        let p = packet(Hook::Input);
        let oifname = p.load(TableFamily::Inet, &load(Field::Meta(MetaKey::Oifname), 16));
        assert_eq!(oifname.span(&Span::exact(b"eth0\0")).tri, Tri::No);
        assert_eq!(oifname.span(&Span::exact(&[0; 16])).tri, Tri::Yes);
        let oiftype = p.load(TableFamily::Inet, &load(Field::Meta(MetaKey::Oiftype), 2));
        assert_eq!(oiftype, Value::Absent);
        let forward = packet(Hook::Forward);
        let oif = forward.load(TableFamily::Inet, &load(Field::Meta(MetaKey::Oif), 4));
        assert_eq!(oif.span(&Span::exact(&1u32.to_ne_bytes())).tri, Tri::No);
        assert_eq!(oif.span(&Span::exact(&7u32.to_ne_bytes())).tri, Tri::Maybe);
    }

    #[test]
    fn header_bytes_known_and_unknown() {
        let p = packet(Hook::Input);
        let network = |offset, len| {
            p.load(
                TableFamily::Ip,
                &load(
                    Field::Payload {
                        base: PayloadBase::Network,
                        offset,
                    },
                    len,
                ),
            )
        };
        assert_eq!(
            network(16, 4).span(&Span::exact(&[192, 0, 2, 10])).tri,
            Tri::Yes
        );
        // `ip daddr 192.0.0.0/8` loads one byte.
        assert_eq!(network(16, 1).span(&Span::exact(&[192])).tri, Tri::Yes);
        assert!(network(12, 4).opaque(), "saddr");
        assert_eq!(network(9, 1).span(&Span::exact(&[6])).tri, Tri::Yes);
        // saddr and daddr at once: partly known.
        assert_eq!(
            network(12, 8)
                .span(&Span::exact(&[10, 0, 0, 1, 192, 0, 2, 11]))
                .tri,
            Tri::No
        );
        let unknown = Packet { daddr: None, ..p };
        let daddr = unknown.load(
            TableFamily::Ip,
            &load(
                Field::Payload {
                    base: PayloadBase::Network,
                    offset: 16,
                },
                4,
            ),
        );
        let hit = daddr.span(&Span::exact(&[10, 96, 0, 10]));
        assert_eq!(
            (hit.tri, hit.daddr),
            (Tri::Maybe, Some("10.96.0.10".parse().unwrap()))
        );
        // TCP flags of a SYN.
        let flags = p.load(
            TableFamily::Ip,
            &load(
                Field::Payload {
                    base: PayloadBase::Transport,
                    offset: 13,
                },
                1,
            ),
        );
        let mut syn_only = load(
            Field::Payload {
                base: PayloadBase::Transport,
                offset: 13,
            },
            1,
        );
        syn_only.transforms.push(Transform::Mask {
            mask: [0x17].into(),
            xor: [0].into(),
        });
        assert_eq!(
            flags.span(&Span::exact(&[0x02])).tri,
            Tri::Maybe,
            "PSH, URG, ECE, CWR"
        );
        assert_eq!(
            p.load(TableFamily::Ip, &syn_only)
                .span(&Span::exact(&[0x02]))
                .tri,
            Tri::Yes
        );
    }

    #[test]
    fn byteorder_and_shifts_keep_what_is_known() {
        let p = packet(Hook::Input);
        let mut mark = load(Field::Meta(MetaKey::Mark), 4);
        let marked = Packet {
            mark: Some(10),
            ..p
        };
        mark.transforms.push(Transform::ByteOrder {
            to_network: true,
            size: 4,
        });
        // `meta mark < 10`: hton, then cmp lt 0x0000000a big-endian.
        let value = marked.load(TableFamily::Inet, &mark);
        assert_eq!(value.order(Order::Lt, &[0, 0, 0, 10]).tri, Tri::No);
        assert_eq!(value.order(Order::Le, &[0, 0, 0, 10]).tri, Tri::Yes);
        let mut shifted = load(Field::Meta(MetaKey::Mark), 4);
        shifted.transforms.push(Transform::ShiftRight(4));
        let value = marked.load(TableFamily::Inet, &shifted);
        assert_eq!(value.span(&Span::exact(&0u32.to_ne_bytes())).tri, Tri::Yes);
        let value = Packet {
            mark: Some(0x100),
            ..p
        }
        .load(TableFamily::Inet, &shifted);
        assert_eq!(
            value.span(&Span::exact(&0x10u32.to_ne_bytes())).tri,
            Tri::Yes
        );
    }
}
