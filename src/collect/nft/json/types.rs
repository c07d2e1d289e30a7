//! nft's datatypes as the kernel stores them: how wide, which byte order, and how a value
//! nft prints (a number, a name, a flag list, an address) turns into the bytes the kernel
//! compares. Also the tables of header fields, meta and ct keys nft names.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::expr::Expr;
use crate::ruleset::{CtKey, MetaKey, PayloadBase};
use crate::socket::Family;

/// The type of a key's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// An integer of this many bytes; `host`: in host byte order (meta and ct keys),
    /// else network order (header fields).
    Int {
        len: u8,
        host: bool,
    },
    Port,
    Ipv4,
    Ipv6,
    EtherAddr,
    Proto,
    Nfproto,
    Ethertype,
    CtState,
    CtStatus,
    CtDirection,
    /// An interface index; names are resolved in the namespace read.
    Ifindex,
    /// An interface name (16 bytes, NUL-padded, `*` a wildcard).
    Ifname,
    /// A NUL-padded string of this many bytes (ct helper, iifkind).
    Text(u8),
    Pkttype,
    Fibtype,
    Icmp,
    Icmpv6,
    IcmpCode,
    TcpFlags,
    ArpHrd,
    Bool,
    /// A time nft prints in seconds (`ct expiration 30`) that the kernel holds in
    /// milliseconds, host order, 4 bytes.
    Millis,
    /// Connection labels: 128 bits, a label is a bit number (`ct label 127` is bit 7 of
    /// byte 15).
    Labels,
}

impl Type {
    pub fn len(self) -> usize {
        match self {
            Type::Int { len, .. } | Type::Text(len) => usize::from(len),
            Type::Port | Type::Ethertype | Type::ArpHrd => 2,
            Type::Ipv4 | Type::CtState | Type::CtStatus | Type::Ifindex | Type::Fibtype => 4,
            Type::Ipv6 | Type::Ifname | Type::Labels => 16,
            Type::Millis => 4,
            Type::EtherAddr => 6,
            Type::Proto
            | Type::Nfproto
            | Type::CtDirection
            | Type::Pkttype
            | Type::Icmp
            | Type::Icmpv6
            | Type::IcmpCode
            | Type::TcpFlags
            | Type::Bool => 1,
        }
    }

    /// Stored in host byte order: ranges, orderings and interval sets go through a
    /// byteorder conversion first.
    pub fn host(self) -> bool {
        match self {
            Type::Int { host, .. } => host,
            Type::Millis => true,
            Type::CtState | Type::CtStatus | Type::Ifindex | Type::Fibtype | Type::ArpHrd => true,
            _ => false,
        }
    }

    /// Flags: a bare value (`ct state new`) tests the bit, not equality.
    pub fn bitmask(self) -> bool {
        matches!(
            self,
            Type::CtState | Type::CtStatus | Type::TcpFlags | Type::Labels
        )
    }

    pub fn is_address(self) -> bool {
        matches!(self, Type::Ipv4 | Type::Ipv6)
    }

    /// The type a set declaration names (`ipv4_addr`, `inet_service`, …).
    pub fn named(name: &str) -> Option<Type> {
        Some(match name {
            "ipv4_addr" => Type::Ipv4,
            "ipv6_addr" => Type::Ipv6,
            "inet_service" => Type::Port,
            "inet_proto" => Type::Proto,
            "nf_proto" => Type::Nfproto,
            "ether_addr" => Type::EtherAddr,
            "ether_type" => Type::Ethertype,
            "ifname" => Type::Ifname,
            "iface_index" => Type::Ifindex,
            "mark" => Type::Int { len: 4, host: true },
            "ct_state" => Type::CtState,
            "ct_status" => Type::CtStatus,
            "ct_dir" => Type::CtDirection,
            "pkt_type" => Type::Pkttype,
            "fib_addrtype" => Type::Fibtype,
            "icmp_type" => Type::Icmp,
            "icmpv6_type" => Type::Icmpv6,
            "tcp_flag" => Type::TcpFlags,
            "iface_type" => Type::ArpHrd,
            "boolean" => Type::Bool,
            "uid" | "gid" | "realm" | "devgroup" | "classid" | "cgroupsv2" => {
                Type::Int { len: 4, host: true }
            }
            _ => return None,
        })
    }

    /// The bytes of `value` in register layout. Names and flags are nft's.
    pub fn encode(
        self,
        value: &Expr,
        interfaces: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<Vec<u8>, String> {
        let len = self.len();
        let number = |n: u64| -> Result<Vec<u8>, String> {
            if len < 8 && n >> (len * 8) != 0 {
                return Err(format!("{n} does not fit in {len} bytes"));
            }
            let be = n.to_be_bytes();
            let mut bytes = be[8 - len.min(8)..].to_vec();
            if self.host() {
                bytes.reverse();
                if cfg!(target_endian = "big") {
                    bytes.reverse();
                }
            }
            Ok(bytes)
        };
        let symbol = |s: &str| -> Result<Vec<u8>, String> {
            match self.symbol(s) {
                Some(n) => number(n),
                None => Err(format!("{s:?} is not a {self:?} value")),
            }
        };
        match (self, value) {
            (Type::Ipv4, Expr::Str(s)) => s
                .parse::<Ipv4Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| format!("{s:?} is not an IPv4 address")),
            (Type::Ipv6, Expr::Str(s)) => s
                .parse::<Ipv6Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| format!("{s:?} is not an IPv6 address")),
            (Type::EtherAddr, Expr::Str(s)) => {
                let bytes: Result<Vec<u8>, _> =
                    s.split(':').map(|b| u8::from_str_radix(b, 16)).collect();
                match bytes {
                    Ok(b) if b.len() == 6 => Ok(b),
                    _ => Err(format!("{s:?} is not an ethernet address")),
                }
            }
            (Type::Ifname | Type::Text(_), Expr::Str(s)) => Ok(text(s, len)),
            (Type::Millis, Expr::Num(n)) => number(n.saturating_mul(1000)),
            (Type::Millis, Expr::Str(s)) => match seconds(s) {
                Some(ms) => number(ms),
                None => Err(format!("{s:?} is not a time")),
            },
            (Type::Labels, Expr::Num(n)) if *n < 128 => {
                let mut bits = vec![0u8; 16];
                bits[(*n / 8) as usize] |= 1 << (n % 8);
                Ok(bits)
            }
            (Type::Labels, Expr::List(items)) => {
                let mut bits = vec![0u8; 16];
                for item in items {
                    let one = self.encode(item, interfaces)?;
                    bits.iter_mut().zip(one).for_each(|(b, o)| *b |= o);
                }
                Ok(bits)
            }
            (Type::Labels, Expr::Str(s)) => match s.parse::<u64>() {
                Ok(n) => self.encode(&Expr::Num(n), interfaces),
                // A name from connlabel.conf: which bit is not known here.
                Err(_) => Err(format!("the label {s:?}")),
            },
            (Type::Ifindex, Expr::Str(s)) => match interfaces(s) {
                Some(index) => number(u64::from(index)),
                None => Err(format!("the index of interface {s:?} is not known")),
            },
            (_, Expr::Num(n)) => number(*n),
            (Type::Bool, Expr::Bool(b)) => number(u64::from(*b)),
            (_, Expr::Str(s)) => match s.parse::<u64>() {
                Ok(n) if !matches!(self, Type::Ipv4 | Type::Ipv6) => number(n),
                _ => symbol(s),
            },
            // `ct state != established,related`: nft prints the flags or'ed.
            (_, Expr::Binop("|", a, b)) => {
                let (a, b) = (self.encode(a, interfaces)?, self.encode(b, interfaces)?);
                Ok(a.iter().zip(&b).map(|(x, y)| x | y).collect())
            }
            (t, Expr::List(items)) if t.bitmask() => {
                let mut all = 0u64;
                for item in items {
                    all |= match item {
                        Expr::Str(s) => self
                            .symbol(s)
                            .ok_or_else(|| format!("{s:?} is not a flag"))?,
                        Expr::Num(n) => *n,
                        _ => return Err("a flag list holds names".into()),
                    };
                }
                number(all)
            }
            _ => Err(format!("a {self:?} value cannot be {value:?}")),
        }
    }

    /// A name nft prints for a value of this type.
    fn symbol(self, name: &str) -> Option<u64> {
        let table: &[(&str, u64)] = match self {
            Type::Proto => &[
                ("icmp", 1),
                ("igmp", 2),
                ("tcp", 6),
                ("udp", 17),
                ("dccp", 33),
                ("ipv6", 41),
                ("gre", 47),
                ("esp", 50),
                ("ah", 51),
                ("ipv6-icmp", 58),
                ("icmpv6", 58),
                ("comp", 108),
                ("sctp", 132),
                ("udplite", 136),
            ],
            Type::Nfproto => &[("ipv4", 2), ("ipv6", 10)],
            Type::Ethertype => &[
                ("ip", 0x0800),
                ("arp", 0x0806),
                ("ip6", 0x86dd),
                ("vlan", 0x8100),
                ("8021ad", 0x88a8),
            ],
            Type::CtState => &[
                ("invalid", 1),
                ("established", 2),
                ("related", 4),
                ("new", 8),
                ("untracked", 64),
            ],
            Type::CtStatus => &[
                ("expected", 1),
                ("seen-reply", 2),
                ("assured", 4),
                ("confirmed", 8),
                ("snat", 16),
                ("dnat", 32),
                ("dying", 512),
            ],
            Type::CtDirection => &[("original", 0), ("reply", 1)],
            Type::Pkttype => &[
                ("host", 0),
                ("unicast", 0),
                ("broadcast", 1),
                ("multicast", 2),
                ("other", 3),
            ],
            Type::Fibtype => &[
                ("unspec", 0),
                ("unicast", 1),
                ("local", 2),
                ("broadcast", 3),
                ("anycast", 4),
                ("multicast", 5),
                ("blackhole", 6),
                ("unreachable", 7),
                ("prohibit", 8),
            ],
            Type::Icmp => &[
                ("echo-reply", 0),
                ("destination-unreachable", 3),
                ("source-quench", 4),
                ("redirect", 5),
                ("echo-request", 8),
                ("router-advertisement", 9),
                ("router-solicitation", 10),
                ("time-exceeded", 11),
                ("parameter-problem", 12),
                ("timestamp-request", 13),
                ("timestamp-reply", 14),
                ("info-request", 15),
                ("info-reply", 16),
                ("address-mask-request", 17),
                ("address-mask-reply", 18),
            ],
            Type::Icmpv6 => &[
                ("destination-unreachable", 1),
                ("packet-too-big", 2),
                ("time-exceeded", 3),
                ("parameter-problem", 4),
                ("echo-request", 128),
                ("echo-reply", 129),
                ("mld-listener-query", 130),
                ("mld-listener-report", 131),
                ("mld-listener-done", 132),
                ("mld-listener-reduction", 132),
                ("nd-router-solicit", 133),
                ("nd-router-advert", 134),
                ("nd-neighbor-solicit", 135),
                ("nd-neighbor-advert", 136),
                ("nd-redirect", 137),
                ("router-renumbering", 138),
                ("ind-neighbor-solicit", 141),
                ("ind-neighbor-advert", 142),
                ("mld2-listener-report", 143),
            ],
            Type::TcpFlags => &[
                ("fin", 0x01),
                ("syn", 0x02),
                ("rst", 0x04),
                ("psh", 0x08),
                ("ack", 0x10),
                ("urg", 0x20),
                ("ecn", 0x40),
                ("cwr", 0x80),
            ],
            Type::ArpHrd => &[
                ("ether", 1),
                ("ppp", 512),
                ("ipip", 768),
                ("ipip6", 769),
                ("loopback", 772),
                ("sit", 776),
                ("ipgre", 778),
            ],
            Type::Bool => &[("exists", 1), ("missing", 0), ("true", 1), ("false", 0)],
            _ => &[],
        };
        table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// A time as nft writes it (`90`, `1m30s`, `2h`, `500ms`), in milliseconds.
fn seconds(s: &str) -> Option<u64> {
    if let Ok(n) = s.parse::<u64>() {
        return n.checked_mul(1000);
    }
    let mut total = 0u64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(scale)?)?;
        rest = &rest[unit..];
    }
    Some(total)
}

/// A name as the kernel compares it: `len` bytes, NUL-padded.
pub fn text(s: &str, len: usize) -> Vec<u8> {
    let mut bytes = s.as_bytes().to_vec();
    bytes.truncate(len);
    bytes.resize(len, 0);
    bytes
}

/// An interface name nft prints: `eth0` (exact), `eth*` (a prefix: the kernel compares
/// the stem alone), `eth\*` (a literal star).
pub enum IfnamePattern {
    Exact(String),
    Prefix(String),
}

pub fn ifname_pattern(s: &str) -> IfnamePattern {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '*' if chars.peek().is_none() => return IfnamePattern::Prefix(out),
            c => out.push(c),
        }
    }
    IfnamePattern::Exact(out)
}

/// What a header field needs checked first, as nft's implied dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    /// The network protocol.
    Ip(Family),
    /// The transport protocol (and for ICMP, the network one first).
    L4(u8, Option<Family>),
    /// An ethernet header: `meta iiftype ether` where the family does not say.
    Ether,
}

/// A header field nft names: where it is, its type, what it needs checked.
pub struct PayloadField {
    pub base: PayloadBase,
    pub offset: u32,
    pub ty: Type,
    pub need: Need,
}

pub fn payload_field(protocol: &str, field: &str) -> Option<PayloadField> {
    let int = |len| Type::Int { len, host: false };
    let v4 = Need::Ip(Family::Ipv4);
    let v6 = Need::Ip(Family::Ipv6);
    let transport = |proto: u8| Need::L4(proto, None);
    let (base, offset, ty, need) = match (protocol, field) {
        ("ip", "protocol") => (PayloadBase::Network, 9, Type::Proto, v4),
        ("ip", "saddr") => (PayloadBase::Network, 12, Type::Ipv4, v4),
        ("ip", "daddr") => (PayloadBase::Network, 16, Type::Ipv4, v4),
        ("ip", "ttl") => (PayloadBase::Network, 8, int(1), v4),
        ("ip", "length") => (PayloadBase::Network, 2, int(2), v4),
        ("ip", "id") => (PayloadBase::Network, 4, int(2), v4),
        ("ip", "checksum") => (PayloadBase::Network, 10, int(2), v4),
        ("ip6", "nexthdr") => (PayloadBase::Network, 6, Type::Proto, v6),
        ("ip6", "hoplimit") => (PayloadBase::Network, 7, int(1), v6),
        ("ip6", "length") => (PayloadBase::Network, 4, int(2), v6),
        ("ip6", "saddr") => (PayloadBase::Network, 8, Type::Ipv6, v6),
        ("ip6", "daddr") => (PayloadBase::Network, 24, Type::Ipv6, v6),
        ("tcp" | "udp" | "udplite" | "sctp" | "dccp" | "th", "sport" | "dport") => {
            let offset = if field == "sport" { 0 } else { 2 };
            let need = match protocol {
                "tcp" => transport(6),
                "udp" => transport(17),
                "udplite" => transport(136),
                "sctp" => transport(132),
                "dccp" => transport(33),
                _ => Need::Nothing,
            };
            (PayloadBase::Transport, offset, Type::Port, need)
        }
        ("tcp", "sequence") => (PayloadBase::Transport, 4, int(4), transport(6)),
        ("tcp", "ackseq") => (PayloadBase::Transport, 8, int(4), transport(6)),
        ("tcp", "flags") => (PayloadBase::Transport, 13, Type::TcpFlags, transport(6)),
        ("tcp", "window") => (PayloadBase::Transport, 14, int(2), transport(6)),
        ("tcp", "checksum") => (PayloadBase::Transport, 16, int(2), transport(6)),
        ("tcp", "urgptr") => (PayloadBase::Transport, 18, int(2), transport(6)),
        ("udp", "length") => (PayloadBase::Transport, 4, int(2), transport(17)),
        ("udp", "checksum") => (PayloadBase::Transport, 6, int(2), transport(17)),
        ("sctp", "vtag") => (PayloadBase::Transport, 4, int(4), transport(132)),
        ("sctp", "checksum") => (PayloadBase::Transport, 8, int(4), transport(132)),
        ("icmp", "type") => (
            PayloadBase::Transport,
            0,
            Type::Icmp,
            Need::L4(1, Some(Family::Ipv4)),
        ),
        ("icmp", "code") => (
            PayloadBase::Transport,
            1,
            Type::IcmpCode,
            Need::L4(1, Some(Family::Ipv4)),
        ),
        ("icmp", "checksum") => (
            PayloadBase::Transport,
            2,
            int(2),
            Need::L4(1, Some(Family::Ipv4)),
        ),
        ("icmp", "id") => (
            PayloadBase::Transport,
            4,
            int(2),
            Need::L4(1, Some(Family::Ipv4)),
        ),
        ("icmp", "sequence") => (
            PayloadBase::Transport,
            6,
            int(2),
            Need::L4(1, Some(Family::Ipv4)),
        ),
        ("icmpv6", "type") => (
            PayloadBase::Transport,
            0,
            Type::Icmpv6,
            Need::L4(58, Some(Family::Ipv6)),
        ),
        ("icmpv6", "code") => (
            PayloadBase::Transport,
            1,
            Type::IcmpCode,
            Need::L4(58, Some(Family::Ipv6)),
        ),
        ("icmpv6", "checksum") => (
            PayloadBase::Transport,
            2,
            int(2),
            Need::L4(58, Some(Family::Ipv6)),
        ),
        ("icmpv6", "id") => (
            PayloadBase::Transport,
            4,
            int(2),
            Need::L4(58, Some(Family::Ipv6)),
        ),
        ("icmpv6", "sequence") => (
            PayloadBase::Transport,
            6,
            int(2),
            Need::L4(58, Some(Family::Ipv6)),
        ),
        ("ether", "daddr") => (PayloadBase::Link, 0, Type::EtherAddr, Need::Ether),
        ("ether", "saddr") => (PayloadBase::Link, 6, Type::EtherAddr, Need::Ether),
        ("ether", "type") => (PayloadBase::Link, 12, Type::Ethertype, Need::Ether),
        _ => return None,
    };
    Some(PayloadField {
        base,
        offset,
        ty,
        need,
    })
}

/// A meta key nft names: its number's key, bytes loaded, and type.
pub fn meta_key(name: &str) -> Option<(MetaKey, Type)> {
    let host = |len| Type::Int { len, host: true };
    Some(match name {
        "length" => (MetaKey::Len, host(4)),
        "protocol" => (MetaKey::Protocol, Type::Ethertype),
        "priority" => (MetaKey::Priority, host(4)),
        "mark" => (MetaKey::Mark, host(4)),
        "iif" => (MetaKey::Iif, Type::Ifindex),
        "oif" => (MetaKey::Oif, Type::Ifindex),
        "iifname" => (MetaKey::Iifname, Type::Ifname),
        "oifname" => (MetaKey::Oifname, Type::Ifname),
        "iiftype" => (MetaKey::Iiftype, Type::ArpHrd),
        "oiftype" => (MetaKey::Oiftype, Type::ArpHrd),
        "skuid" => (MetaKey::Skuid, host(4)),
        "skgid" => (MetaKey::Skgid, host(4)),
        "nftrace" => (MetaKey::Other(12), host(1)),
        "rtclassid" => (MetaKey::Other(13), host(4)),
        "secmark" => (MetaKey::Secmark, host(4)),
        "nfproto" => (MetaKey::Nfproto, Type::Nfproto),
        "l4proto" => (MetaKey::L4proto, Type::Proto),
        "ibrname" | "ibriport" => (MetaKey::Other(17), Type::Ifname),
        "obrname" | "obriport" => (MetaKey::Other(18), Type::Ifname),
        "pkttype" => (MetaKey::Pkttype, Type::Pkttype),
        "cpu" => (MetaKey::Other(20), host(4)),
        "iifgroup" => (MetaKey::Iifgroup, host(4)),
        "oifgroup" => (MetaKey::Oifgroup, host(4)),
        "cgroup" => (MetaKey::Cgroup, host(4)),
        // prandom_u32() stored as it comes: nft treats it as a big-endian number.
        "random" => (
            MetaKey::Other(24),
            Type::Int {
                len: 4,
                host: false,
            },
        ),
        "ipsec" | "secpath" => (MetaKey::Other(25), Type::Bool),
        "iifkind" => (MetaKey::Iifkind, Type::Text(16)),
        "oifkind" => (MetaKey::Oifkind, Type::Text(16)),
        "sdif" => (MetaKey::Other(33), host(4)),
        "sdifname" => (MetaKey::Other(34), Type::Ifname),
        _ => return None,
    })
}

/// A ct key nft names (with the family for addresses): key and type.
pub fn ct_key(name: &str, family: Option<&str>) -> Option<(CtKey, Type)> {
    let host = |len| Type::Int { len, host: true };
    let address = || match family {
        Some("ip") => Some(Type::Ipv4),
        Some("ip6") => Some(Type::Ipv6),
        _ => None,
    };
    Some(match name {
        "state" => (CtKey::State, Type::CtState),
        "direction" => (CtKey::Direction, Type::CtDirection),
        "status" => (CtKey::Status, Type::CtStatus),
        "mark" => (CtKey::Mark, host(4)),
        "expiration" => (CtKey::Expiration, Type::Millis),
        "helper" => (CtKey::Helper, Type::Text(16)),
        "l3proto" => (CtKey::L3protocol, Type::Nfproto),
        "protocol" => (CtKey::Protocol, Type::Proto),
        "saddr" => (CtKey::Saddr, address()?),
        "daddr" => (CtKey::Daddr, address()?),
        "proto-src" => (CtKey::ProtoSrc, Type::Port),
        "proto-dst" => (CtKey::ProtoDst, Type::Port),
        "zone" => (CtKey::Zone, host(2)),
        "label" => (CtKey::Label, Type::Labels),
        // The conntrack id, big-endian as the kernel stores it.
        "id" => (
            CtKey::Other(23),
            Type::Int {
                len: 4,
                host: false,
            },
        ),
        _ => return None,
    })
}

/// `raw`, `mangle`, `filter`, …: the priority a name stands for, in `family`.
pub fn priority(name: &str, family: &str) -> Option<i32> {
    let (name, offset) = match name.split_once(['+', '-']) {
        Some((base, n)) => {
            let n: i32 = n.trim().parse().ok()?;
            let sign = if name.contains('-') { -1 } else { 1 };
            (base.trim(), sign * n)
        }
        None => (name.trim(), 0),
    };
    let base = match (family, name) {
        ("bridge", "dstnat") => -300,
        ("bridge", "filter") => -200,
        ("bridge", "out") => 100,
        ("bridge", "srcnat") => 300,
        (_, "raw") => -300,
        (_, "mangle") => -150,
        (_, "dstnat") => -100,
        (_, "filter") => 0,
        (_, "security") => 50,
        (_, "srcnat") => 100,
        _ => return None,
    };
    Some(base + offset)
}
