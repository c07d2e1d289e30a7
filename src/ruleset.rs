//! The nftables ruleset as the kernel executes it: tables, chains, and rules as the
//! matches and statements the kernel runs, in their order. Plain records: collect builds
//! them (from the kernel's netlink dumps, or from nft's JSON), reach evaluates them per
//! hook. Nothing here reads the system or judges a packet.
//!
//! A rule holds every match the kernel makes, including the ones nft's listing leaves
//! implied: `tcp dport 22` is `meta l4proto tcp` then the transport header's bytes 2–3,
//! `reject with tcp reset` carries `meta l4proto tcp`. Values are the bytes the kernel
//! compares (in the register's layout: network order for header fields, host order for
//! meta and ct keys), so a builder that gets a field's encoding right gets the kernel's
//! comparison exactly, interface-name wildcards, prefixes and intervals included.
//!
//! What a builder cannot decode stays in its rule as [`Step::Opaque`]: the evaluator knows
//! which rule of which chain it cannot tell, and the rest of the ruleset is still judged.
//!
//! Two builders make this model (from the kernel's netlink dumps, from nft's JSON) and
//! tests compare what they make, so each thing has one form:
//! - a set's or map's elements are sorted by key (a set has no order);
//! - a cmp (one value, `==` or `!=`) is [`Test::Equal`]; a lookup in an anonymous set
//!   (`tcp dport { 22, 80 }`, `__set0` in the kernel) is [`Test::Member`] with the
//!   elements written into the rule ([`Elements::Inline`]); only named sets are
//!   [`Elements::Set`];
//! - an element of an interval set spans the key's full length, `high` inclusive (the
//!   kernel's end element minus one): `10.0.0.0/8` is `10.0.0.0`–`10.255.255.255`,
//!   `iifname { "wg*" }` is `"wg\0…"`–`"wg\xff…"`; outside interval sets a value is its
//!   bytes as compared (`iifname "eth*"` is the three bytes `eth`);
//! - `==` with a range is two matches (`>=` then `<=`), as nft sends it; `!=` with a range
//!   is one [`Test::Member`] negated;
//! - [`Step::Condition`] and [`Statement::Effect`] name what they are as nft's JSON does
//!   (`limit`, `quota`, `ct count`, `counter`, `log`; `xt match NAME` for an
//!   iptables-nft match that is not decoded); [`Step::Opaque`] names what could not be
//!   read (`xt target NAME` for an undecoded iptables-nft target).

use std::net::IpAddr;

/// Every table of one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub tables: Vec<Table>,
}

impl Ruleset {
    /// How many rules its chains hold.
    pub fn rules(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum()
    }
}

/// What a table's chains see: the address family of its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableFamily {
    Ip,
    Ip6,
    Inet,
    Arp,
    Bridge,
    Netdev,
}

impl TableFamily {
    pub fn name(self) -> &'static str {
        match self {
            TableFamily::Ip => "ip",
            TableFamily::Ip6 => "ip6",
            TableFamily::Inet => "inet",
            TableFamily::Arp => "arp",
            TableFamily::Bridge => "bridge",
            TableFamily::Netdev => "netdev",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub family: TableFamily,
    pub name: String,
    pub dormant: Dormant,
    pub chains: Vec<Chain>,
    /// Named sets and maps, and the anonymous ones rules refer to (`__set0`, …).
    pub sets: Vec<Set>,
}

/// Whether a table's base chains are hooked (`flags dormant` unhooks them all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dormant {
    No,
    Yes,
    /// The flags could not be read exactly (nft 1.0.6 prints a dormant table's flags
    /// garbled): what was read, for the reason. A drop here may not happen.
    Unclear(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    /// `None`: a regular chain, entered only by jump or goto.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

/// A chain hooked into the packet path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    pub kind: ChainKind,
    pub hook: Hook,
    /// Lower runs first; chains of one priority run in the order they were added.
    pub priority: i32,
    pub policy: Policy,
    /// Ingress and egress chains (netdev, inet ingress): the devices they are bound to.
    pub devices: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainKind {
    Filter,
    Nat,
    Route,
}

/// Where in the packet path a base chain is hooked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    Ingress,
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Egress,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Egress => "egress",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub handle: u64,
    /// The kernel's expressions as matches and statements, in the order they run: a
    /// match that fails ends the rule; a statement acts, a verdict ends the chain.
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The rule goes on only if the packet matches.
    Match(Match),
    /// Whether the rule goes on depends on what portaudit cannot know of a packet
    /// (`limit rate`, `quota`, `ct count`, a dynamic set's contents): either way.
    Condition(String),
    Statement(Statement),
    /// An expression the builder could not decode: it may match or not, and may act in
    /// any way (a verdict, a rewrite). What it is, for the reason.
    Opaque(String),
}

/// The [`Step::Condition`] a builder from nft's JSON puts before a `reject with tcp reset`
/// in an inet, bridge or netdev table: nft's listing drops a family check there
/// (`meta nfproto ipv6 … reject with tcp reset` lists as `… reject with tcp reset`).
pub const HIDDEN_FAMILY_CHECK: &str = "a family check nft's JSON may hide";

/// `key` compared with `test`: the kernel's cmp, range and lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub key: Key,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// cmp eq (neq when `negate`): the key's bytes equal `value`. A value shorter than the
    /// key compares only that many bytes (`iifname "eth*"` compares the three bytes
    /// `eth`).
    Equal { negate: bool, value: Bytes },
    /// `==` (or `!=` when `negate`) one of the elements: a lookup, or a range (`range
    /// neq`). An element's bytes shorter than the key compare only that many.
    Member { negate: bool, elements: Elements },
    /// `<`, `<=`, `>`, `>=`: the kernel compares the bytes as memcmp does (which is why nft
    /// turns host-order fields to network order first, see [`Transform::ByteOrder`]).
    Compare { op: Order, value: Bytes },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Lt,
    Le,
    Gt,
    Ge,
}

/// The elements of a set test or of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elements {
    /// Written in the rule: a cmp's one value, a range, an anonymous set (sorted).
    Inline(Vec<Element>),
    /// A named set of the rule's table.
    Set(String),
}

impl Elements {
    /// The map with each inline element's data cut to `len` bytes from `offset`: the part
    /// a statement reads from a later register (a NAT's port after its address). A named
    /// map stays as it is.
    pub fn data_part(&self, offset: usize, len: usize) -> Elements {
        let Elements::Inline(elements) = self else {
            return self.clone();
        };
        let cut = |e: &Element| Element {
            key: e.key.clone(),
            data: match &e.data {
                Some(Data::Value(v)) => Some(Data::Value(
                    v.get(offset..(offset + len).min(v.len()))
                        .unwrap_or_default()
                        .into(),
                )),
                other => other.clone(),
            },
        };
        Elements::Inline(elements.iter().map(cut).collect())
    }
}

/// The bytes of one value, in register layout.
pub type Bytes = Box<[u8]>;

/// One element: a key (per component of a concatenation, an inclusive span: a single
/// value is `low == high`, a prefix or interval its bounds), and for a map its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub key: Vec<Span>,
    pub data: Option<Data>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub low: Bytes,
    pub high: Bytes,
}

/// What a map element maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Verdict(Verdict),
    Value(Bytes),
}

/// A named set (or map) of a table; its elements sorted by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    /// The type of each key component (for rendering elements; `ipv4_addr`,
    /// `inet_service`, `ifname`, …), as nft names them; empty when not known.
    pub key_types: Vec<String>,
    pub interval: bool,
    /// A map: its data type (`verdict`, `ipv4_addr`, …).
    pub data_type: Option<String>,
    pub elements: Vec<Element>,
    /// Its elements change from the packet path (a dynamic set, `add @s`, `update`) or
    /// could not all be read: a lookup in it is a [`Step::Condition`], never certain.
    pub incomplete: bool,
}

/// What a match or a map lookup reads from the packet: one load, or a concatenation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// One part, or several (`ip daddr . tcp dport`): each starts on a 4-byte boundary
    /// of the register, as the kernel lays concatenations out.
    pub parts: Vec<Load>,
}

/// One value loaded into a register, then transformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub field: Field,
    /// Bytes loaded (a payload's length; 4 for most meta and ct keys, 16 for a name).
    pub len: u8,
    pub transforms: Vec<Transform>,
}

/// A bitwise or byteorder expression applied to a loaded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// `(value & mask) ^ xor` (nft's `meta mark & 0xff`, `ct state established,related`
    /// is `ct state & (established|related) != 0`).
    Mask {
        mask: Bytes,
        xor: Bytes,
    },
    ShiftLeft(u32),
    ShiftRight(u32),
    /// byteorder: host to network order (or back) in units of `size` bytes.
    ByteOrder {
        to_network: bool,
        size: u8,
    },
}

/// A field of the packet, its metadata or its connection, as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Bytes of a header: `ip daddr` is network header offset 16, length 4; `th dport`
    /// transport header offset 2, length 2. `offset` in bytes.
    Payload {
        base: PayloadBase,
        offset: u32,
    },
    Meta(MetaKey),
    Ct {
        key: CtKey,
        /// `original`/`reply` for keys that differ by direction.
        direction: Option<CtDirection>,
    },
    /// `fib daddr type`, `fib daddr . iif oif`, …: `flags` are NFTA_FIB_F_* bits.
    Fib {
        flags: u32,
        result: FibResult,
    },
    /// `socket transparent`, `socket wildcard`, `socket mark`.
    Socket(SocketKey),
    /// Anything else (exthdr, rt, numgen, hash, osf, xfrm, tunnel): never known.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadBase {
    Link,
    Network,
    Transport,
    Inner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    Len,
    /// The ethertype (`meta protocol ip`).
    Protocol,
    /// `meta nfproto ipv4|ipv6` (inet tables).
    Nfproto,
    /// `meta l4proto tcp`.
    L4proto,
    Mark,
    Iif,
    Oif,
    Iifname,
    Oifname,
    Iiftype,
    Oiftype,
    Iifkind,
    Oifkind,
    Iifgroup,
    Oifgroup,
    Skuid,
    Skgid,
    Pkttype,
    Priority,
    Cgroup,
    Secmark,
    /// Any other NFT_META_* key, by number.
    Other(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtKey {
    State,
    Direction,
    Status,
    Mark,
    Expiration,
    Helper,
    L3protocol,
    Protocol,
    Saddr,
    Daddr,
    ProtoSrc,
    ProtoDst,
    Label,
    Zone,
    /// Any other NFT_CT_* key, by number.
    Other(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtDirection {
    Original,
    Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FibResult {
    Oif,
    Oifname,
    /// The address type (`local`, `unicast`, `broadcast`, …: RTN_*).
    Addrtype,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKey {
    Transparent,
    Mark,
    Wildcard,
    Cgroupv2,
}

/// What a rule does, beyond matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Verdict(Verdict),
    /// A verdict map: the verdict of the element the key falls in; none: the rule goes on.
    VerdictMap {
        key: Key,
        map: Elements,
    },
    /// Ends the packet like drop, answering with `kind`.
    Reject(Reject),
    // The larger statements are boxed: a rule is mostly matches, and a step is as big as
    // its largest kind (tens of thousands of rules on a Kubernetes node).
    Nat(Box<Nat>),
    Tproxy(Box<Tproxy>),
    /// `meta mark set …`, `ct mark set …`, `meta priority set …`: the field gets a value.
    Set {
        field: Field,
        value: Box<Operand>,
    },
    /// Does nothing to the packet's path: counter, log, notrack, quota without a limit,
    /// a dynamic set's `add`/`update`, … (what it is, for rendering).
    Effect(String),
}

/// `tproxy to ADDR:PORT`: hands the packet to a local transparent socket, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tproxy {
    /// `None` in an inet table without `ip`/`ip6`: both.
    pub family: Option<NatFamily>,
    pub address: Option<Operand>,
    pub port: Option<Operand>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(String),
    Goto(String),
    /// To userspace: a program decides (`bypass`: accepted when none listens).
    Queue {
        bypass: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// TCP reset: only for TCP (the rule carries the `meta l4proto tcp` match).
    TcpReset,
    /// ICMP (IPv4) unreachable with this code.
    Icmp(u8),
    /// ICMPv6 unreachable with this code.
    Icmpv6(u8),
    /// `icmpx`: the family's own unreachable, this abstract code.
    Icmpx(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nat {
    pub kind: NatKind,
    /// `dnat ip to …` in an inet table; `None` where the table's family says it.
    pub family: Option<NatFamily>,
    /// The new address (range: `to 10.0.0.1-10.0.0.9`); `None` keeps it (redirect,
    /// masquerade, a port-only dnat).
    pub address: Option<OperandRange>,
    /// The new port (range); `None` keeps it.
    pub port: Option<OperandRange>,
    /// NF_NAT_RANGE_* flags (persistent, random, …).
    pub flags: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatKind {
    Snat,
    Dnat,
    Masquerade,
    /// To the host itself: the incoming interface's primary address.
    Redirect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatFamily {
    Ipv4,
    Ipv6,
}

/// A statement's value: a constant, read from the packet, or looked up in a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Const(Bytes),
    Load(Key),
    /// `dnat to ip daddr map @targets`, `meta mark set tcp dport map { … }`.
    Map {
        key: Key,
        map: Elements,
    },
    /// numgen, hash, jhash, … : not known.
    Unknown(String),
}

/// An operand's minimum and maximum (`to 10.0.0.1-10.0.0.9`, `:8000-8999`); one value
/// when `max` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperandRange {
    pub min: Operand,
    pub max: Option<Operand>,
}

impl Span {
    /// One value: low and high the same.
    pub fn exact(bytes: &[u8]) -> Span {
        Span {
            low: bytes.into(),
            high: bytes.into(),
        }
    }
}

impl From<IpAddr> for Span {
    fn from(address: IpAddr) -> Span {
        match address {
            IpAddr::V4(a) => Span::exact(&a.octets()),
            IpAddr::V6(a) => Span::exact(&a.octets()),
        }
    }
}
