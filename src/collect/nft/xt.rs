//! iptables-nft's compat expressions: an x_tables match (`match`) or target (`target`)
//! with its name, revision and the binary struct the kernel module reads, as the
//! model's steps with the module's semantics.
//!
//! The structs are stable ABI (include/uapi/linux/netfilter/xt_*.h, ipt_*, ip6t_*),
//! native-endian except where marked big-endian. Each decoder below follows the
//! kernel's match function, test for test: `-m conntrack ! --ctstate …` is the kernel's
//! inverted state test, not an approximation. A match whose answer depends on what
//! portaudit cannot know (a rate, a random draw, a source MAC address) is a
//! [`Step::Condition`]; a match or target it does not know is a [`Step::Opaque`].

use crate::collect::nlmsg::{NFPROTO_IPV4, NFPROTO_IPV6, c_bytes};
use crate::ruleset::{
    CtDirection, CtKey, Element, Elements, FibResult, Field, Key, Load, Match, MetaKey, Nat,
    NatKind, Operand, OperandRange, PayloadBase, Reject, Span, Statement, Step, Test, Transform,
    Verdict,
};

/// NFTA_FIB_F_* for addrtype's lookups.
const FIB_SADDR: u32 = 1 << 0;
const FIB_DADDR: u32 = 1 << 1;
const FIB_IIF: u32 = 1 << 3;
const FIB_OIF: u32 = 1 << 4;

/// nf_tables' ct state bits (the register value of `ct state`).
const CT_STATE_INVALID: u32 = 1;
const CT_STATE_ESTABLISHED: u32 = 2;
const CT_STATE_RELATED: u32 = 4;
const CT_STATE_NEW: u32 = 8;
const CT_STATE_UNTRACKED: u32 = 64;
/// ct status bits: IPS_SRC_NAT, IPS_DST_NAT.
const IPS_SRC_NAT: u32 = 1 << 4;
const IPS_DST_NAT: u32 = 1 << 5;

/// The steps of an xt match in a table of `family`.
pub(super) fn matched(family: u8, name: &[u8], revision: u32, info: &[u8]) -> Vec<Step> {
    if family != NFPROTO_IPV4 && family != NFPROTO_IPV6 {
        // ebtables' and arptables' extensions have structs of their own.
        return vec![opaque("match", name, revision)];
    }
    let info = Info(info);
    let decoded = match (name, revision) {
        (b"tcp", 0) => tcp(&info),
        (b"udp", 0) => udp(&info),
        (b"multiport", 0 | 1) => multiport(&info, revision),
        (b"conntrack", 1..=3) => conntrack(&info, revision, family),
        (b"state", 0) => info.u32(0).map(|mask| vec![ct_state_test(mask, false)]),
        (b"comment", 0) => Some(vec![Step::Statement(Statement::Effect(format!(
            "comment \"{}\"",
            String::from_utf8_lossy(c_bytes(info.0))
        )))]),
        (b"addrtype", 0 | 1) => addrtype(&info, revision),
        (b"mark", 1) => mark_test(&info, Field::Meta(MetaKey::Mark)),
        (b"connmark", 1) => mark_test(
            &info,
            Field::Ct {
                key: CtKey::Mark,
                direction: None,
            },
        ),
        (b"iprange", 1) => iprange(&info, family),
        // Pure tests of what portaudit cannot know of a packet or its history.
        (known, _) if CONDITIONS.contains(&known) => Some(vec![Step::Condition(format!(
            "-m {}",
            String::from_utf8_lossy(known)
        ))]),
        _ => None,
    };
    decoded.unwrap_or_else(|| vec![opaque("match", name, revision)])
}

/// The steps of an xt target in a table of `family`.
pub(super) fn target(family: u8, name: &[u8], revision: u32, info: &[u8]) -> Vec<Step> {
    if family != NFPROTO_IPV4 && family != NFPROTO_IPV6 {
        return vec![opaque("target", name, revision)];
    }
    let info = Info(info);
    let ipv4 = family == NFPROTO_IPV4;
    let statement = match (name, revision) {
        (b"DNAT", _) => nat(&info, revision, family, NatKind::Dnat),
        (b"SNAT", _) => nat(&info, revision, family, NatKind::Snat),
        (b"MASQUERADE", 0) => nat(&info, u32::from(!ipv4), family, NatKind::Masquerade),
        (b"REDIRECT", 0) => nat(&info, u32::from(!ipv4), family, NatKind::Redirect),
        (b"REJECT", 0) => reject(&info, ipv4).map(Statement::Reject),
        (b"MARK", 2) => mark_set(&info),
        (b"CONNMARK", 1 | 2) => connmark(&info, revision),
        (b"NFQUEUE", 0..=3) => Some(Statement::Verdict(Verdict::Queue {
            bypass: match revision {
                2 | 3 => info.u16(4).is_some_and(|b| b & 1 != 0),
                _ => false,
            },
        })),
        (b"CT", 0..=2) => Some(Statement::Effect(
            if info.u16(0).is_some_and(|flags| flags & 1 != 0) {
                "notrack".into()
            } else {
                "ct".into()
            },
        )),
        (b"NOTRACK", _) => Some(Statement::Effect("notrack".into())),
        (b"LOG", 0) => Some(Statement::Effect(match info.0.get(2..32) {
            Some(prefix) if !c_bytes(prefix).is_empty() => format!(
                "log prefix \"{}\"",
                String::from_utf8_lossy(c_bytes(prefix))
            ),
            _ => "log".into(),
        })),
        (known, _) if EFFECTS.contains(&known) => Some(Statement::Effect(format!(
            "-j {}",
            String::from_utf8_lossy(known)
        ))),
        _ => None,
    };
    match statement {
        Some(s) => vec![Step::Statement(s)],
        None => vec![opaque("target", name, revision)],
    }
}

/// Matches whose answer depends on what portaudit cannot know: a rate, a count, a random
/// draw, a source's MAC address or history, the local socket, the packet's length.
const CONDITIONS: &[&[u8]] = &[
    b"ah",
    b"bpf",
    b"cgroup",
    b"cluster",
    b"connbytes",
    b"connlabel",
    b"connlimit",
    b"cpu",
    b"dccp",
    b"devgroup",
    b"dscp",
    b"dst",
    b"ecn",
    b"esp",
    b"frag",
    b"hashlimit",
    b"hbh",
    b"helper",
    b"hl",
    b"icmp",
    b"icmp6",
    b"ipcomp",
    b"ipv6header",
    b"ipvs",
    b"l2tp",
    b"length",
    b"limit",
    b"mac",
    b"mh",
    b"nfacct",
    b"osf",
    b"owner",
    b"physdev",
    b"pkttype",
    b"policy",
    b"quota",
    b"rateest",
    b"realm",
    b"recent",
    b"rpfilter",
    b"rt",
    b"sctp",
    b"set",
    b"socket",
    b"srh",
    b"statistic",
    b"string",
    b"tcpmss",
    b"time",
    b"tos",
    b"ttl",
    b"u32",
];

/// Targets that act on the packet or the host without deciding where it goes: they
/// return XT_CONTINUE and the rule's next expression runs.
const EFFECTS: &[&[u8]] = &[
    b"AUDIT",
    b"CHECKSUM",
    b"CLASSIFY",
    b"CONNSECMARK",
    b"DSCP",
    b"ECN",
    b"HL",
    b"HMARK",
    b"IDLETIMER",
    b"LED",
    b"NFLOG",
    b"RATEEST",
    b"SECMARK",
    b"SET",
    b"SYNPROXY_NOT",
    b"TCPMSS",
    b"TCPOPTSTRIP",
    b"TEE",
    b"TOS",
    b"TRACE",
    b"TTL",
];

fn opaque(kind: &str, name: &[u8], revision: u32) -> Step {
    Step::Opaque(format!(
        "iptables {kind} {} (revision {revision})",
        String::from_utf8_lossy(name)
    ))
}

/// An xt struct: native-endian fields at byte offsets.
struct Info<'a>(&'a [u8]);

impl Info<'_> {
    fn bytes(&self, at: usize, len: usize) -> Option<&[u8]> {
        self.0.get(at..at + len)
    }
    fn u8(&self, at: usize) -> Option<u8> {
        self.0.get(at).copied()
    }
    fn u16(&self, at: usize) -> Option<u16> {
        Some(u16::from_ne_bytes(self.bytes(at, 2)?.try_into().ok()?))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(self.bytes(at, 4)?.try_into().ok()?))
    }
}

fn load(field: Field, len: u8) -> Load {
    Load {
        field,
        len,
        transforms: Vec::new(),
    }
}

fn masked(field: Field, len: u8, mask: &[u8]) -> Load {
    let mut l = load(field, len);
    if mask.iter().any(|&b| b != 0xff) {
        l.transforms.push(Transform::Mask {
            mask: mask.into(),
            xor: vec![0; mask.len()].into(),
        });
    }
    l
}

/// `load` is (or with `negate` is not) one of `spans`: one value is an equality.
fn member(load: Load, negate: bool, spans: Vec<Span>) -> Step {
    if let [span] = spans.as_slice()
        && span.low == span.high
    {
        return Step::Match(Match {
            key: Key { parts: vec![load] },
            test: Test::Equal {
                negate,
                value: span.low.clone(),
            },
        });
    }
    Step::Match(Match {
        key: Key { parts: vec![load] },
        test: Test::Member {
            negate,
            elements: Elements::Inline(
                spans
                    .into_iter()
                    .map(|s| Element {
                        key: vec![s],
                        data: None,
                    })
                    .collect(),
            ),
        },
    })
}

fn transport(offset: u32) -> Field {
    Field::Payload {
        base: PayloadBase::Transport,
        offset,
    }
}

/// A port range test as tcp_mt and udp_mt make it: `min <= port <= max`, inverted when
/// asked; the full range uninverted tests nothing.
fn port_range(steps: &mut Vec<Step>, offset: u32, min: u16, max: u16, invert: bool) {
    if min == 0 && max == u16::MAX && !invert {
        return;
    }
    let spans = if min <= max {
        vec![Span {
            low: min.to_be_bytes().into(),
            high: max.to_be_bytes().into(),
        }]
    } else {
        // An empty range: matches nothing (inverted: everything).
        Vec::new()
    };
    steps.push(member(load(transport(offset), 2), invert, spans));
}

/// xt_tcp: source and destination port ranges, flags, an option.
fn tcp(info: &Info) -> Option<Vec<Step>> {
    let inv = info.u8(11)?;
    let mut steps = Vec::new();
    port_range(&mut steps, 0, info.u16(0)?, info.u16(2)?, inv & 0x01 != 0);
    port_range(&mut steps, 2, info.u16(4)?, info.u16(6)?, inv & 0x02 != 0);
    let (option, mask, cmp) = (info.u8(8)?, info.u8(9)?, info.u8(10)?);
    if mask != 0 || cmp != 0 || inv & 0x04 != 0 {
        let mut flags = load(transport(13), 1);
        flags.transforms.push(Transform::Mask {
            mask: [mask].into(),
            xor: [0].into(),
        });
        steps.push(member(flags, inv & 0x04 != 0, vec![Span::exact(&[cmp])]));
    }
    if option != 0 {
        steps.push(Step::Condition(format!("tcp option {option}")));
    }
    Some(steps)
}

/// xt_udp: source and destination port ranges.
fn udp(info: &Info) -> Option<Vec<Step>> {
    let inv = info.u8(8)?;
    let mut steps = Vec::new();
    port_range(&mut steps, 0, info.u16(0)?, info.u16(2)?, inv & 0x01 != 0);
    port_range(&mut steps, 2, info.u16(4)?, info.u16(6)?, inv & 0x02 != 0);
    Some(steps)
}

/// xt_multiport (v0: single ports; v1: ranges and invert): the source or destination
/// port in the list. "Either port" depends on the source port, which is anything.
fn multiport(info: &Info, revision: u32) -> Option<Vec<Step>> {
    let flags = info.u8(0)?;
    let count = usize::from(info.u8(1)?).min(15);
    let (invert, ranged) = if revision == 1 {
        (info.u8(47)? != 0, true)
    } else {
        (false, false)
    };
    let mut spans = Vec::new();
    let mut i = 0;
    while i < count {
        let low = info.u16(2 + 2 * i)?;
        let high = if ranged && info.u8(32 + i)? != 0 && i + 1 < count {
            i += 1;
            info.u16(2 + 2 * i)?
        } else {
            low
        };
        if low <= high {
            spans.push(Span {
                low: low.to_be_bytes().into(),
                high: high.to_be_bytes().into(),
            });
        }
        i += 1;
    }
    let offset = match flags {
        0 => 0,
        1 => 2,
        _ => return Some(vec![Step::Condition("-m multiport --ports".into())]),
    };
    Some(vec![member(load(transport(offset), 2), invert, spans)])
}

/// `ct state & mask != 0` (`== 0` when inverted): nf_tables' form of a state list.
fn ct_state_test(mask: u32, invert: bool) -> Step {
    let state = masked(
        Field::Ct {
            key: CtKey::State,
            direction: None,
        },
        4,
        &mask.to_ne_bytes(),
    );
    // masked() leaves out an all-ones mask, which the register's few bits make exact.
    member(state, !invert, vec![Span::exact(&[0; 4])])
}

/// xt_conntrack_mtinfo1/2/3, as conntrack_mt tests them, in its order.
fn conntrack(info: &Info, revision: u32, family: u8) -> Option<Vec<Step>> {
    let match_flags = info.u16(146)?;
    let invert_flags = info.u16(148)?;
    let (state_mask, status_mask) = if revision == 1 {
        (u32::from(info.u8(150)?), u32::from(info.u8(151)?))
    } else {
        (u32::from(info.u16(150)?), u32::from(info.u16(152)?))
    };
    let on = |flag: u16| match_flags & flag != 0;
    let inverted = |flag: u16| invert_flags & flag != 0;
    let mut steps = Vec::new();
    if on(0x01) {
        steps.extend(conntrack_state(state_mask, inverted(0x01)));
    }
    if on(0x1000) {
        // Passes when (direction == ORIGINAL) equals the invert flag.
        let direction = if inverted(0x1000) { 0u8 } else { 1u8 };
        steps.push(member(
            load(
                Field::Ct {
                    key: CtKey::Direction,
                    direction: None,
                },
                1,
            ),
            false,
            vec![Span::exact(&[direction])],
        ));
    }
    let address_len = if family == NFPROTO_IPV6 { 16 } else { 4 };
    let addresses = [
        (0x04, 0, CtKey::Saddr, CtDirection::Original),
        (0x08, 32, CtKey::Daddr, CtDirection::Original),
        (0x10, 64, CtKey::Saddr, CtDirection::Reply),
        (0x20, 96, CtKey::Daddr, CtDirection::Reply),
    ];
    for (flag, at, key, direction) in addresses {
        if !on(flag) {
            continue;
        }
        let address = info.bytes(at, address_len)?;
        let mask = info.bytes(at + 16, address_len)?;
        let field = Field::Ct {
            key,
            direction: Some(direction),
        };
        let value: Vec<u8> = address.iter().zip(mask).map(|(a, m)| a & m).collect();
        steps.push(member(
            masked(field, address_len as u8, mask),
            inverted(flag),
            vec![Span::exact(&value)],
        ));
    }
    if on(0x02) {
        let protocol = info.u16(136)?.min(255) as u8;
        steps.push(member(
            load(
                Field::Ct {
                    key: CtKey::Protocol,
                    direction: None,
                },
                1,
            ),
            inverted(0x02),
            vec![Span::exact(&[protocol])],
        ));
    }
    let ports = [
        (0x100, 138, 154, CtKey::ProtoSrc, CtDirection::Original),
        (0x200, 140, 156, CtKey::ProtoDst, CtDirection::Original),
        (0x400, 142, 158, CtKey::ProtoSrc, CtDirection::Reply),
        (0x800, 144, 160, CtKey::ProtoDst, CtDirection::Reply),
    ];
    for (flag, at, high_at, key, direction) in ports {
        if !on(flag) {
            continue;
        }
        let field = Field::Ct {
            key,
            direction: Some(direction),
        };
        // v1/v2: one port in network order; v3: a range in host order.
        let span = if revision == 3 {
            let (low, high) = (info.u16(at)?, info.u16(high_at)?);
            if low > high {
                steps.push(member(load(field, 2), inverted(flag), Vec::new()));
                continue;
            }
            Span {
                low: low.to_be_bytes().into(),
                high: high.to_be_bytes().into(),
            }
        } else {
            Span::exact(info.bytes(at, 2)?)
        };
        steps.push(member(load(field, 2), inverted(flag), vec![span]));
    }
    if on(0x40) {
        let status = masked(
            Field::Ct {
                key: CtKey::Status,
                direction: None,
            },
            4,
            &status_mask.to_ne_bytes(),
        );
        steps.push(member(status, !inverted(0x40), vec![Span::exact(&[0; 4])]));
    }
    if on(0x80) {
        steps.push(Step::Condition("-m conntrack --ctexpire".into()));
    }
    Some(steps)
}

/// `--ctstate`: the state bit (invalid, established, related, new, untracked) or one of
/// the "virtual" states SNAT and DNAT (ct status bits) in the mask.
///
/// Without a conntrack entry the kernel's status test fails where xt_conntrack's state
/// test passes: an inverted mask of virtual states is then exact for tracked packets,
/// which are the ones an audit asks about.
fn conntrack_state(mask: u32, invert: bool) -> Vec<Step> {
    let mut state = mask & (CT_STATE_INVALID | CT_STATE_ESTABLISHED | CT_STATE_RELATED);
    state |= mask & CT_STATE_NEW;
    if mask & (1 << 8) != 0 {
        state |= CT_STATE_UNTRACKED;
    }
    let mut status = 0;
    if mask & (1 << 6) != 0 {
        status |= IPS_SRC_NAT;
    }
    if mask & (1 << 7) != 0 {
        status |= IPS_DST_NAT;
    }
    let status_test = |negate| {
        member(
            masked(
                Field::Ct {
                    key: CtKey::Status,
                    direction: None,
                },
                4,
                &status.to_ne_bytes(),
            ),
            negate,
            vec![Span::exact(&[0; 4])],
        )
    };
    match (state != 0, status != 0, invert) {
        (_, false, _) => vec![ct_state_test(state, invert)],
        (false, true, _) => vec![status_test(!invert)],
        // Neither a state nor a virtual state: both tests must fail.
        (true, true, true) => vec![ct_state_test(state, true), status_test(false)],
        (true, true, false) => vec![Step::Condition(
            "-m conntrack --ctstate with SNAT or DNAT".into(),
        )],
    }
}

/// xt_addrtype_info (v0) and _v1: the routing type of the source and destination
/// address, which nf_tables asks with `fib … type`.
fn addrtype(info: &Info, revision: u32) -> Option<Vec<Step>> {
    let (source, dest) = (info.u16(0)?, info.u16(2)?);
    let (invert_source, invert_dest, device) = if revision == 0 {
        (info.u32(4)? != 0, info.u32(8)? != 0, 0)
    } else {
        let flags = info.u32(4)?;
        let device = if flags & 0x4 != 0 {
            FIB_IIF
        } else if flags & 0x8 != 0 {
            FIB_OIF
        } else {
            0
        };
        (flags & 0x1 != 0, flags & 0x2 != 0, device)
    };
    let test = |mask: u16, address: u32, invert: bool| {
        let types = (0..12u32)
            .filter(|t| mask & (1 << t) != 0)
            .map(|t| Span::exact(&t.to_ne_bytes()))
            .collect();
        let fib = Field::Fib {
            flags: address | device,
            result: FibResult::Addrtype,
        };
        member(load(fib, 4), invert, types)
    };
    let mut steps = Vec::new();
    if source != 0 {
        steps.push(test(source, FIB_SADDR, invert_source));
    }
    if dest != 0 {
        steps.push(test(dest, FIB_DADDR, invert_dest));
    }
    Some(steps)
}

/// xt_mark_mtinfo1 / xt_connmark_mtinfo1: `(mark & mask) == value`, inverted if asked.
fn mark_test(info: &Info, field: Field) -> Option<Vec<Step>> {
    let (mark, mask, invert) = (info.u32(0)?, info.u32(4)?, info.u8(8)? != 0);
    Some(vec![member(
        masked(field, 4, &mask.to_ne_bytes()),
        invert,
        vec![Span::exact(&mark.to_ne_bytes())],
    )])
}

/// xt_iprange_mtinfo: the source and destination address in an inclusive range.
fn iprange(info: &Info, family: u8) -> Option<Vec<Step>> {
    let flags = info.u8(64)?;
    let (len, saddr, daddr) = if family == NFPROTO_IPV6 {
        (16, 8, 24)
    } else {
        (4, 12, 16)
    };
    let mut steps = Vec::new();
    for (on, inv, at, offset) in [(0x01, 0x10, 0, saddr), (0x02, 0x20, 32, daddr)] {
        if flags & on == 0 {
            continue;
        }
        let (low, high) = (info.bytes(at, len)?, info.bytes(at + 16, len)?);
        let field = Field::Payload {
            base: PayloadBase::Network,
            offset,
        };
        let spans = if low <= high {
            vec![Span {
                low: low.into(),
                high: high.into(),
            }]
        } else {
            Vec::new()
        };
        steps.push(member(load(field, len as u8), flags & inv != 0, spans));
    }
    Some(steps)
}

/// DNAT/SNAT (v0: nf_nat_ipv4_multi_range_compat; v1: nf_nat_range; v2:
/// nf_nat_range2), MASQUERADE and REDIRECT (IPv4: the compat struct, IPv6:
/// nf_nat_range).
fn nat(info: &Info, layout: u32, family: u8, kind: NatKind) -> Option<Statement> {
    let address_len = if family == NFPROTO_IPV6 { 16 } else { 4 };
    // (flags, min address, max address, min port, max port) offsets.
    let (flags, min_addr, max_addr, min_port, max_port) = match layout {
        0 if family == NFPROTO_IPV4 => {
            if info.u32(0)? != 1 {
                return None;
            }
            (4, 8, 12, 16, 18)
        }
        0 => return None,
        _ => (0, 4, 20, 36, 38),
    };
    let flags = info.u32(flags)?;
    let constant = |at: usize, len: usize| info.bytes(at, len).map(|b| Operand::Const(b.into()));
    let range = |min: usize, max: usize, len: usize| -> Option<OperandRange> {
        let (low, high) = (info.bytes(min, len)?, info.bytes(max, len)?);
        Some(OperandRange {
            min: constant(min, len)?,
            max: (low != high).then(|| constant(max, len)).flatten(),
        })
    };
    let address = if flags & 0x1 != 0 && matches!(kind, NatKind::Dnat | NatKind::Snat) {
        Some(range(min_addr, max_addr, address_len)?)
    } else {
        None
    };
    let port = if flags & 0x2 != 0 {
        Some(range(min_port, max_port, 2)?)
    } else {
        None
    };
    Some(Statement::Nat(Box::new(Nat {
        kind,
        family: None,
        address,
        port,
        flags: flags & !0x3,
    })))
}

/// ipt_reject_info / ip6t_reject_info: what the kernel answers with; it drops either way.
fn reject(info: &Info, ipv4: bool) -> Option<Reject> {
    let with = info.u32(0)?;
    Some(if ipv4 {
        match with {
            0 => Reject::Icmp(0),
            1 => Reject::Icmp(1),
            2 => Reject::Icmp(2),
            3 => Reject::Icmp(3),
            5 => Reject::Icmp(9),
            6 => Reject::Icmp(10),
            7 => Reject::TcpReset,
            8 => Reject::Icmp(13),
            _ => return None,
        }
    } else {
        match with {
            0 => Reject::Icmpv6(0),
            1 => Reject::Icmpv6(1),
            2 => Reject::Icmpv6(2),
            3 => Reject::Icmpv6(3),
            4 => Reject::Icmpv6(4),
            6 => Reject::TcpReset,
            7 => Reject::Icmpv6(5),
            8 => Reject::Icmpv6(6),
            _ => return None,
        }
    })
}

/// xt_mark_tginfo2: `mark = (mark & ~mask) ^ value`.
fn mark_set(info: &Info) -> Option<Statement> {
    let (mark, mask) = (info.u32(0)?, info.u32(4)?);
    Some(Statement::Set {
        field: Field::Meta(MetaKey::Mark),
        value: Box::new(masked_value(Field::Meta(MetaKey::Mark), !mask, mark)),
    })
}

/// `(field & keep) ^ xor`: a constant when nothing of the field is kept.
fn masked_value(field: Field, keep: u32, xor: u32) -> Operand {
    if keep == 0 {
        return Operand::Const(xor.to_ne_bytes().into());
    }
    let mut l = load(field, 4);
    l.transforms.push(Transform::Mask {
        mask: keep.to_ne_bytes().into(),
        xor: xor.to_ne_bytes().into(),
    });
    Operand::Load(Key { parts: vec![l] })
}

/// xt_connmark_tginfo1/2: set, save (packet mark to connection) or restore (back).
fn connmark(info: &Info, revision: u32) -> Option<Statement> {
    let (ctmark, ctmask, nfmask) = (info.u32(0)?, info.u32(4)?, info.u32(8)?);
    let (shift, mode) = if revision == 2 {
        (info.u8(13)?, info.u8(14)?)
    } else {
        (0, info.u8(12)?)
    };
    let ct_mark = Field::Ct {
        key: CtKey::Mark,
        direction: None,
    };
    let meta_mark = Field::Meta(MetaKey::Mark);
    let unknown = |what: &str| Operand::Unknown(format!("CONNMARK {what} with masks or shifts"));
    let (field, value) = match mode {
        0 if shift == 0 => (ct_mark.clone(), masked_value(ct_mark, !ctmask, ctmark)),
        0 => (ct_mark, unknown("--set-mark")),
        // Save: ct mark = (ct mark & ~ctmask) ^ (mark & nfmask).
        1 if shift == 0 && ctmask == u32::MAX => {
            let value = Operand::Load(Key {
                parts: vec![masked(meta_mark, 4, &nfmask.to_ne_bytes())],
            });
            (ct_mark, value)
        }
        1 => (ct_mark, unknown("--save-mark")),
        // Restore: mark = (mark & ~nfmask) ^ (ct mark & ctmask).
        2 if shift == 0 && nfmask == u32::MAX => {
            let value = Operand::Load(Key {
                parts: vec![masked(ct_mark, 4, &ctmask.to_ne_bytes())],
            });
            (meta_mark, value)
        }
        2 => (meta_mark, unknown("--restore-mark")),
        _ => return None,
    };
    Some(Statement::Set {
        field,
        value: Box::new(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(steps: Vec<Step>) -> Step {
        assert_eq!(steps.len(), 1, "{steps:?}");
        steps.into_iter().next().unwrap()
    }

    fn state_load(mask: u32) -> Load {
        masked(
            Field::Ct {
                key: CtKey::State,
                direction: None,
            },
            4,
            &mask.to_ne_bytes(),
        )
    }

    /// xt_conntrack_mtinfo3 with the state test only.
    fn ctstate(mask: u16, invert: bool) -> Vec<u8> {
        let mut b = vec![0u8; 168];
        b[146..148].copy_from_slice(&1u16.to_ne_bytes());
        b[148..150].copy_from_slice(&u16::from(invert).to_ne_bytes());
        b[150..152].copy_from_slice(&mask.to_ne_bytes());
        b
    }

    #[test]
    fn ctstate_is_the_state_bit_test_nft_makes() {
        // --ctstate RELATED,ESTABLISHED: ct state & (established|related) != 0.
        let step = only(matched(2, b"conntrack", 3, &ctstate(0b110, false)));
        assert_eq!(
            step,
            member(state_load(6), true, vec![Span::exact(&[0; 4])])
        );
        // ! --ctstate NEW: ct state & new == 0.
        let step = only(matched(2, b"conntrack", 3, &ctstate(0b1000, true)));
        assert_eq!(
            step,
            member(state_load(8), false, vec![Span::exact(&[0; 4])])
        );
        // UNTRACKED is nf_tables' bit 6.
        let step = only(matched(2, b"conntrack", 3, &ctstate(1 << 8, false)));
        assert_eq!(
            step,
            member(state_load(64), true, vec![Span::exact(&[0; 4])])
        );
    }

    #[test]
    fn ctstate_with_dnat_is_exact_inverted_and_a_condition_otherwise() {
        // kube-proxy: ! --ctstate RELATED,ESTABLISHED,DNAT → neither a related or
        // established packet nor a DNATed connection.
        let steps = matched(2, b"conntrack", 3, &ctstate(0b110 | 1 << 7, true));
        let status = masked(
            Field::Ct {
                key: CtKey::Status,
                direction: None,
            },
            4,
            &IPS_DST_NAT.to_ne_bytes(),
        );
        assert_eq!(
            steps,
            vec![
                member(state_load(6), false, vec![Span::exact(&[0; 4])]),
                member(status.clone(), false, vec![Span::exact(&[0; 4])]),
            ]
        );
        assert_eq!(
            only(matched(2, b"conntrack", 3, &ctstate(1 << 7, false))),
            member(status, true, vec![Span::exact(&[0; 4])])
        );
        assert!(matches!(
            only(matched(
                2,
                b"conntrack",
                3,
                &ctstate(0b1000 | 1 << 7, false)
            )),
            Step::Condition(_)
        ));
    }

    #[test]
    fn the_state_match_is_a_mask_test() {
        let step = only(matched(2, b"state", 0, &8u32.to_ne_bytes()));
        assert_eq!(
            step,
            member(state_load(8), true, vec![Span::exact(&[0; 4])])
        );
    }

    #[test]
    fn conntrack_v1_addresses_ports_and_status() {
        let mut b = vec![0u8; 152];
        // --ctorigdst 10.0.0.0/8 --ctorigdstport 80 ! --ctstatus DNAT
        b[32..36].copy_from_slice(&[10, 0, 0, 0]);
        b[48..52].copy_from_slice(&[255, 0, 0, 0]);
        b[140..142].copy_from_slice(&80u16.to_be_bytes());
        b[146..148].copy_from_slice(&(0x08u16 | 0x200 | 0x40).to_ne_bytes());
        b[148..150].copy_from_slice(&0x40u16.to_ne_bytes());
        b[151] = IPS_DST_NAT as u8;
        let steps = matched(2, b"conntrack", 1, &b);
        assert_eq!(steps.len(), 3, "{steps:?}");
        let daddr = Field::Ct {
            key: CtKey::Daddr,
            direction: Some(CtDirection::Original),
        };
        assert_eq!(
            steps[0],
            member(
                masked(daddr, 4, &[255, 0, 0, 0]),
                false,
                vec![Span::exact(&[10, 0, 0, 0])]
            )
        );
        let dport = Field::Ct {
            key: CtKey::ProtoDst,
            direction: Some(CtDirection::Original),
        };
        assert_eq!(
            steps[1],
            member(load(dport, 2), false, vec![Span::exact(&[0, 80])])
        );
        // Inverted status: status & dnat == 0.
        let Step::Match(Match {
            test: Test::Equal { negate, .. },
            ..
        }) = &steps[2]
        else {
            panic!("{:?}", steps[2]);
        };
        assert!(!negate);
    }

    #[test]
    fn tcp_and_udp_port_ranges_with_invert_flags() {
        // -p tcp ! --sport 1024:65535 --dport 22 --syn
        let mut b = vec![0u8; 16];
        b[0..2].copy_from_slice(&1024u16.to_ne_bytes());
        b[2..4].copy_from_slice(&65535u16.to_ne_bytes());
        b[4..6].copy_from_slice(&22u16.to_ne_bytes());
        b[6..8].copy_from_slice(&22u16.to_ne_bytes());
        b[9] = 0x17;
        b[10] = 0x02;
        b[11] = 0x01;
        let steps = matched(2, b"tcp", 0, &b);
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(
            steps[0],
            member(
                load(transport(0), 2),
                true,
                vec![Span {
                    low: [4, 0].into(),
                    high: [255, 255].into()
                }]
            )
        );
        assert_eq!(
            steps[1],
            member(load(transport(2), 2), false, vec![Span::exact(&[0, 22])])
        );
        // The full source range, uninverted, tests nothing.
        let mut b = vec![0u8; 12];
        b[2..4].copy_from_slice(&65535u16.to_ne_bytes());
        b[4..6].copy_from_slice(&53u16.to_ne_bytes());
        b[6..8].copy_from_slice(&53u16.to_ne_bytes());
        let steps = matched(10, b"udp", 0, &b);
        assert_eq!(
            steps,
            vec![member(
                load(transport(2), 2),
                false,
                vec![Span::exact(&[0, 53])]
            )]
        );
    }

    #[test]
    fn multiport_lists_ranges_and_either_is_a_condition() {
        // --dports 22,80,1000:2000 (v1)
        let mut b = vec![0u8; 48];
        b[0] = 1;
        b[1] = 4;
        for (i, p) in [22u16, 80, 1000, 2000].iter().enumerate() {
            b[2 + 2 * i..4 + 2 * i].copy_from_slice(&p.to_ne_bytes());
        }
        b[32 + 2] = 1;
        let step = only(matched(2, b"multiport", 1, &b));
        let Step::Match(Match {
            test: Test::Member { negate, elements },
            ..
        }) = step
        else {
            panic!()
        };
        assert!(!negate);
        let Elements::Inline(elements) = elements else {
            panic!()
        };
        let spans: Vec<_> = elements.iter().map(|e| e.key[0].clone()).collect();
        assert_eq!(
            spans,
            vec![
                Span::exact(&[0, 22]),
                Span::exact(&[0, 80]),
                Span {
                    low: 1000u16.to_be_bytes().into(),
                    high: 2000u16.to_be_bytes().into()
                }
            ]
        );
        b[0] = 2;
        assert!(matches!(
            only(matched(2, b"multiport", 1, &b)),
            Step::Condition(_)
        ));
        // Truncated: the struct is not what the revision says, so not decoded.
        assert!(matches!(
            only(matched(2, b"multiport", 1, &b[..20])),
            Step::Opaque(_)
        ));
    }

    #[test]
    fn addrtype_is_a_fib_type_test() {
        // v1 --dst-type LOCAL
        let mut b = vec![0u8; 8];
        b[2..4].copy_from_slice(&(1u16 << 2).to_ne_bytes());
        let step = only(matched(2, b"addrtype", 1, &b));
        let fib = Field::Fib {
            flags: FIB_DADDR,
            result: FibResult::Addrtype,
        };
        assert_eq!(
            step,
            member(load(fib, 4), false, vec![Span::exact(&2u32.to_ne_bytes())])
        );
        // v1 ! --src-type LOCAL,BROADCAST --limit-iface-in
        let mut b = vec![0u8; 8];
        b[0..2].copy_from_slice(&(1u16 << 2 | 1 << 3).to_ne_bytes());
        b[4..8].copy_from_slice(&(0x1u32 | 0x4).to_ne_bytes());
        let step = only(matched(2, b"addrtype", 1, &b));
        let fib = Field::Fib {
            flags: FIB_SADDR | FIB_IIF,
            result: FibResult::Addrtype,
        };
        assert_eq!(
            step,
            member(
                load(fib, 4),
                true,
                vec![
                    Span::exact(&2u32.to_ne_bytes()),
                    Span::exact(&3u32.to_ne_bytes())
                ]
            )
        );
    }

    #[test]
    fn marks_are_masked_tests_and_sets() {
        let mut b = vec![0u8; 16];
        b[0..4].copy_from_slice(&0x4000u32.to_ne_bytes());
        b[4..8].copy_from_slice(&0x4000u32.to_ne_bytes());
        let step = only(matched(2, b"mark", 1, &b));
        assert_eq!(
            step,
            member(
                masked(Field::Meta(MetaKey::Mark), 4, &0x4000u32.to_ne_bytes()),
                false,
                vec![Span::exact(&0x4000u32.to_ne_bytes())]
            )
        );
        // KUBE-MARK-MASQ: -j MARK --or-mark 0x4000 = mark & ~0x4000 ^ 0x4000.
        let step = only(target(2, b"MARK", 2, &b[..8]));
        let Step::Statement(Statement::Set { field, value }) = step else {
            panic!()
        };
        assert_eq!(field, Field::Meta(MetaKey::Mark));
        let Operand::Load(key) = *value else { panic!() };
        assert_eq!(
            key.parts[0].transforms,
            vec![Transform::Mask {
                mask: (!0x4000u32).to_ne_bytes().into(),
                xor: 0x4000u32.to_ne_bytes().into()
            }]
        );
        // --set-mark 7 (mask all ones): a constant.
        let mut b = vec![0u8; 8];
        b[0..4].copy_from_slice(&7u32.to_ne_bytes());
        b[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        let Step::Statement(Statement::Set { value, .. }) = only(target(2, b"MARK", 2, &b)) else {
            panic!()
        };
        assert_eq!(*value, Operand::Const(7u32.to_ne_bytes().into()));
    }

    #[test]
    fn dnat_v2_and_the_ipv4_compat_layout() {
        // --to-destination 172.17.0.2:80 (nf_nat_range2)
        let mut b = vec![0u8; 48];
        b[0..4].copy_from_slice(&3u32.to_ne_bytes());
        b[4..8].copy_from_slice(&[172, 17, 0, 2]);
        b[20..24].copy_from_slice(&[172, 17, 0, 2]);
        b[36..38].copy_from_slice(&80u16.to_be_bytes());
        b[38..40].copy_from_slice(&80u16.to_be_bytes());
        let want = Step::Statement(Statement::Nat(Box::new(Nat {
            kind: NatKind::Dnat,
            family: None,
            address: Some(OperandRange {
                min: Operand::Const([172, 17, 0, 2].into()),
                max: None,
            }),
            port: Some(OperandRange {
                min: Operand::Const([0, 80].into()),
                max: None,
            }),
            flags: 0,
        })));
        assert_eq!(only(target(2, b"DNAT", 2, &b)), want);
        // REDIRECT --to-ports 8080-8090 in IPv4's compat struct.
        let mut b = vec![0u8; 24];
        b[0..4].copy_from_slice(&1u32.to_ne_bytes());
        b[4..8].copy_from_slice(&2u32.to_ne_bytes());
        b[16..18].copy_from_slice(&8080u16.to_be_bytes());
        b[18..20].copy_from_slice(&8090u16.to_be_bytes());
        let Step::Statement(Statement::Nat(nat)) = only(target(2, b"REDIRECT", 0, &b)) else {
            panic!()
        };
        assert_eq!(nat.kind, NatKind::Redirect);
        assert_eq!(nat.address, None);
        assert_eq!(
            nat.port,
            Some(OperandRange {
                min: Operand::Const([0x1f, 0x90].into()),
                max: Some(Operand::Const([0x1f, 0x9a].into())),
            })
        );
    }

    #[test]
    fn reject_types_by_family() {
        let with = |w: u32| w.to_ne_bytes().to_vec();
        let reject = |family, w| only(target(family, b"REJECT", 0, &with(w)));
        assert_eq!(
            reject(2, 7),
            Step::Statement(Statement::Reject(Reject::TcpReset))
        );
        assert_eq!(
            reject(2, 3),
            Step::Statement(Statement::Reject(Reject::Icmp(3)))
        );
        assert_eq!(
            reject(2, 6),
            Step::Statement(Statement::Reject(Reject::Icmp(10)))
        );
        assert_eq!(
            reject(10, 6),
            Step::Statement(Statement::Reject(Reject::TcpReset))
        );
        assert_eq!(
            reject(10, 1),
            Step::Statement(Statement::Reject(Reject::Icmpv6(1)))
        );
        assert!(matches!(reject(2, 4), Step::Opaque(_)));
    }

    #[test]
    fn unknown_and_foreign_extensions_are_opaque_and_pure_tests_conditions() {
        assert!(matches!(
            only(matched(2, b"frobnicate", 0, &[])),
            Step::Opaque(_)
        ));
        assert!(matches!(
            only(target(2, b"FROBNICATE", 0, &[])),
            Step::Opaque(_)
        ));
        // ebtables' `mark` has another struct.
        assert!(matches!(
            only(matched(7, b"mark", 1, &[0; 16])),
            Step::Opaque(_)
        ));
        assert!(matches!(
            only(matched(2, b"statistic", 0, &[0; 24])),
            Step::Condition(_)
        ));
        assert!(matches!(
            only(target(2, b"TCPMSS", 0, &[0; 8])),
            Step::Statement(Statement::Effect(_))
        ));
        assert_eq!(
            only(matched(2, b"comment", 0, b"default/web:http\0\0\0")),
            Step::Statement(Statement::Effect("comment \"default/web:http\"".into()))
        );
    }
}
