//! The builder against the kernel: each JSON below is what nft 1.0.6 lists for a rule
//! (`nft -j list chain …` after `nft add rule …` in a scratch namespace), and each
//! expected model is what `nft --debug=netlink add rule …` shows the kernel receives.

use super::*;
use crate::ruleset::{
    Data, Elements, FibResult, Field, Key, Load, Match, MetaKey, NatFamily, NatKind, Operand,
    Order, PayloadBase, Reject, Span, Statement, Step, Test, Transform, Verdict,
};

/// The steps of the one rule of `exprs` (nft's JSON), in a chain of a `family` table.
fn steps(family: &str, exprs: &str) -> Vec<Step> {
    let json = format!(
        r#"{{"nftables": [
        {{"table": {{"family": "{family}", "name": "t", "handle": 1}}}},
        {{"chain": {{"family": "{family}", "table": "t", "name": "c", "handle": 1,
          "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}},
        {{"rule": {{"family": "{family}", "table": "t", "chain": "c", "handle": 2,
          "expr": {exprs}}}}}]}}"#
    );
    let mut ruleset = parse(&json, &|name| (name == "lo").then_some(1)).unwrap();
    ruleset
        .tables
        .remove(0)
        .chains
        .remove(0)
        .rules
        .remove(0)
        .steps
}

fn load(field: Field, len: u8) -> Load {
    Load {
        field,
        len,
        transforms: Vec::new(),
    }
}

fn meta(key: MetaKey, len: u8) -> Load {
    load(Field::Meta(key), len)
}

fn payload(base: PayloadBase, offset: u32, len: u8) -> Load {
    load(Field::Payload { base, offset }, len)
}

fn test(load: Load, test: Test) -> Step {
    Step::Match(Match {
        key: Key { parts: vec![load] },
        test,
    })
}

fn equal(load: Load, bytes: &[u8]) -> Step {
    test(
        load,
        Test::Equal {
            negate: false,
            value: bytes.into(),
        },
    )
}

fn not_equal(load: Load, bytes: &[u8]) -> Step {
    test(
        load,
        Test::Equal {
            negate: true,
            value: bytes.into(),
        },
    )
}

fn masked(mut load: Load, mask: &[u8]) -> Load {
    load.transforms.push(Transform::Mask {
        mask: mask.into(),
        xor: vec![0; mask.len()].into(),
    });
    load
}

fn l4(protocol: u8) -> Step {
    equal(meta(MetaKey::L4proto, 1), &[protocol])
}

fn nfproto(value: u8) -> Step {
    equal(meta(MetaKey::Nfproto, 1), &[value])
}

fn dport() -> Load {
    payload(PayloadBase::Transport, 2, 2)
}

fn verdict(v: Verdict) -> Step {
    Step::Statement(Statement::Verdict(v))
}

fn ct_state() -> Load {
    load(
        Field::Ct {
            key: crate::ruleset::CtKey::State,
            direction: None,
        },
        4,
    )
}

const ACCEPT: &str = r#"{"accept": null}"#;

fn rule(m: &str) -> String {
    format!("[{m}, {ACCEPT}]")
}

#[test]
fn a_port_match_gets_its_implied_protocol_check() {
    // [ meta load l4proto ] [ cmp eq 6 ] [ payload load 2b @ transport + 2 ] [ cmp eq 22 ]
    let tcp = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}"#;
    assert_eq!(
        steps("inet", &rule(tcp)),
        [l4(6), equal(dport(), &[0, 22]), verdict(Verdict::Accept)]
    );
    // `th dport`: none.
    let th = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": 22}}"#;
    assert_eq!(
        steps("inet", &rule(th)),
        [equal(dport(), &[0, 22]), verdict(Verdict::Accept)]
    );
    // The same in an ip table (nft checks meta l4proto there too).
    assert_eq!(
        steps("ip", &rule(tcp)),
        [l4(6), equal(dport(), &[0, 22]), verdict(Verdict::Accept)]
    );
}

#[test]
fn interface_names_keep_their_wildcard_and_their_escape() {
    let name = |right: &str| {
        format!(
            r#"{{"match": {{"op": "==", "left": {{"meta": {{"key": "iifname"}}}}, "right": "{right}"}}}}"#
        )
    };
    let mut eth_star = [0u8; 16];
    eth_star[..4].copy_from_slice(b"eth*");
    // `iifname "eth*"`: cmp of the three bytes "eth".
    assert_eq!(
        steps("inet", &rule(&name("eth*")))[0],
        equal(meta(MetaKey::Iifname, 16), b"eth")
    );
    // `iifname "eth\*"` (JSON "eth\\*"): the 16 bytes "eth*\0…".
    assert_eq!(
        steps("inet", &rule(&name("eth\\\\*")))[0],
        equal(meta(MetaKey::Iifname, 16), &eth_star)
    );
    // In a set, a wildcard is an interval over the whole name.
    let set = r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["eth0", "wg*"]}}}"#;
    let Step::Match(Match {
        test:
            Test::Member {
                elements: Elements::Inline(elements),
                ..
            },
        ..
    }) = &steps("inet", &rule(set))[0]
    else {
        panic!("a lookup");
    };
    let mut eth0 = [0u8; 16];
    eth0[..4].copy_from_slice(b"eth0");
    let mut wg_low = [0u8; 16];
    wg_low[..2].copy_from_slice(b"wg");
    let mut wg_high = [0xffu8; 16];
    wg_high[..2].copy_from_slice(b"wg");
    assert_eq!(elements[0].key, [Span::exact(&eth0)]);
    assert_eq!(
        elements[1].key,
        [Span {
            low: wg_low.into(),
            high: wg_high.into()
        }]
    );
}

#[test]
fn flags_are_masked_where_nft_masks_them() {
    let ct = |op: &str, right: &str| {
        steps(
            "inet",
            &rule(&format!(
                r#"{{"match": {{"op": "{op}", "left": {{"ct": {{"key": "state"}}}}, "right": {right}}}}}"#
            )),
        )
        .remove(0)
    };
    let word = |v: u32| v.to_ne_bytes();
    // `ct state established,related`: bitwise & 6, cmp neq 0.
    assert_eq!(
        ct("in", r#"["established", "related"]"#),
        not_equal(masked(ct_state(), &word(6)), &[0; 4])
    );
    // `ct state new`: bitwise & 8, cmp neq 0; `== new`: cmp eq 8; `!= new`: cmp neq 8.
    assert_eq!(
        ct("in", r#""new""#),
        not_equal(masked(ct_state(), &word(8)), &[0; 4])
    );
    assert_eq!(ct("==", r#""new""#), equal(ct_state(), &word(8)));
    assert_eq!(ct("!=", r#""new""#), not_equal(ct_state(), &word(8)));
    // `ct state != established,related`: cmp neq 6.
    assert_eq!(
        ct("!=", r#"{"|": ["established", "related"]}"#),
        not_equal(ct_state(), &word(6))
    );
    // `ct state ! new`: bitwise & 8, cmp eq 0.
    assert_eq!(
        ct("!", r#""new""#),
        equal(masked(ct_state(), &word(8)), &[0; 4])
    );
    // `tcp flags & (syn|ack) == syn`.
    let flags = r#"{"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "ack"]]}, "right": "syn"}}"#;
    assert_eq!(
        steps("inet", &rule(flags))[1],
        equal(
            masked(payload(PayloadBase::Transport, 13, 1), &[0x12]),
            &[0x02]
        )
    );
}

#[test]
fn a_byte_aligned_prefix_is_a_shorter_load() {
    let prefix = |len: u8| {
        format!(
            r#"{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "ip", "field": "daddr"}}}}, "right": {{"prefix": {{"addr": "10.16.0.0", "len": {len}}}}}}}}}"#
        )
    };
    // /8: load 1b @ network + 16, cmp eq 0x0a (after meta nfproto ipv4 in inet).
    assert_eq!(
        steps("inet", &rule(&prefix(8)))[..2],
        [
            nfproto(2),
            equal(payload(PayloadBase::Network, 16, 1), &[10])
        ]
    );
    // /12: load 4b, bitwise & ff f0 00 00, cmp eq 0a 10 00 00.
    assert_eq!(
        steps("inet", &rule(&prefix(12)))[1],
        equal(
            masked(payload(PayloadBase::Network, 16, 4), &[0xff, 0xf0, 0, 0]),
            &[10, 16, 0, 0]
        )
    );
    // An ip table needs no nfproto.
    assert_eq!(
        steps("ip", &rule(&prefix(16)))[0],
        equal(payload(PayloadBase::Network, 16, 2), &[10, 16])
    );
}

#[test]
fn ranges_orderings_and_byteorder() {
    let range = |op: &str| {
        format!(
            r#"{{"match": {{"op": "{op}", "left": {{"payload": {{"protocol": "udp", "field": "dport"}}}}, "right": {{"range": [1000, 2000]}}}}}}"#
        )
    };
    let (low, high): ([u8; 2], [u8; 2]) = (1000u16.to_be_bytes(), 2000u16.to_be_bytes());
    // `udp dport 1000-2000`: cmp gte, cmp lte.
    assert_eq!(
        steps("inet", &rule(&range("=="))),
        [
            l4(17),
            test(
                dport(),
                Test::Compare {
                    op: Order::Ge,
                    value: low.into()
                }
            ),
            test(
                dport(),
                Test::Compare {
                    op: Order::Le,
                    value: high.into()
                }
            ),
            verdict(Verdict::Accept),
        ]
    );
    // `!=`: range neq.
    assert_eq!(
        steps("inet", &rule(&range("!=")))[1],
        test(
            dport(),
            Test::Member {
                negate: true,
                elements: Elements::Inline(vec![crate::ruleset::Element {
                    key: vec![Span {
                        low: low.into(),
                        high: high.into()
                    }],
                    data: None
                }])
            }
        )
    );
    // `meta mark < 10`: byteorder hton, cmp lt 0x0000000a big-endian.
    let mark = r#"{"match": {"op": "<", "left": {"meta": {"key": "mark"}}, "right": 10}}"#;
    let mut swapped = meta(MetaKey::Mark, 4);
    swapped.transforms.push(Transform::ByteOrder {
        to_network: true,
        size: 4,
    });
    assert_eq!(
        steps("inet", &rule(mark))[0],
        test(
            swapped,
            Test::Compare {
                op: Order::Lt,
                value: [0, 0, 0, 10].into()
            }
        )
    );
}

#[test]
fn rejects_carry_the_checks_their_type_implies() {
    let reject = |body: &str| format!(r#"[{{"reject": {body}}}]"#);
    // `reject with tcp reset`: nft lists its l4proto check; the builder adds none twice.
    let listed = r#"[{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"reject": {"type": "tcp reset"}}]"#;
    let reset = Step::Statement(Statement::Reject(Reject::TcpReset));
    assert_eq!(steps("ip", listed), [l4(6), reset.clone()]);
    // Without it (hand-written), it is restored.
    assert_eq!(
        steps("ip", &reject(r#"{"type": "tcp reset"}"#)),
        [l4(6), reset.clone()]
    );
    // In inet, nft's listing drops a family check before it (`meta nfproto ipv6 th dport
    // 1002 reject with tcp reset` lists as `tcp dport 1002 reject with tcp reset`; the
    // kernel-truth differential found it): not known, either way.
    let hidden = Step::Condition(crate::ruleset::HIDDEN_FAMILY_CHECK.into());
    assert_eq!(
        steps("inet", listed),
        [l4(6), hidden.clone(), reset.clone()]
    );
    // Not where the rule says its family.
    let v4 = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "1.2.3.4"}}, {"reject": {"type": "tcp reset"}}]"#;
    assert!(!steps("inet", v4).contains(&hidden));
    // `reject with icmp type host-prohibited` in inet: meta nfproto ipv4, reject 0/10.
    assert_eq!(
        steps(
            "inet",
            &reject(r#"{"type": "icmp", "expr": "host-prohibited"}"#)
        ),
        [
            nfproto(2),
            Step::Statement(Statement::Reject(Reject::Icmp(10)))
        ]
    );
    // A plain reject: icmpx port-unreachable in inet, icmp port-unreachable in ip.
    assert_eq!(
        steps(
            "inet",
            &reject(r#"{"type": "icmpx", "expr": "port-unreachable"}"#)
        ),
        [Step::Statement(Statement::Reject(Reject::Icmpx(1)))]
    );
    assert_eq!(
        steps("ip", &reject("null")),
        [Step::Statement(Statement::Reject(Reject::Icmp(3)))]
    );
}

#[test]
fn sets_of_one_are_a_compare_and_concatenations_a_lookup() {
    let one = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22]}}}"#;
    assert_eq!(steps("inet", &rule(one))[1], equal(dport(), &[0, 22]));
    // `ip daddr . tcp dport { 1.2.3.4 . 80 }`: nfproto, l4proto, then the lookup.
    let concat = r#"{"match": {"op": "==", "left": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "tcp", "field": "dport"}}]}, "right": {"set": [{"concat": ["1.2.3.4", 80]}]}}}"#;
    let built = steps("inet", &rule(concat));
    assert_eq!(built[..2], [nfproto(2), l4(6)]);
    assert_eq!(
        built[2],
        Step::Match(Match {
            key: Key {
                parts: vec![payload(PayloadBase::Network, 16, 4), dport()]
            },
            test: Test::Member {
                negate: false,
                elements: Elements::Inline(vec![crate::ruleset::Element {
                    key: vec![Span::exact(&[1, 2, 3, 4]), Span::exact(&[0, 80])],
                    data: None
                }])
            }
        })
    );
}

#[test]
fn fib_icmp_ether_and_the_families_they_imply() {
    let fib = r#"{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}"#;
    assert_eq!(
        steps("inet", &rule(fib))[0],
        equal(
            load(
                Field::Fib {
                    flags: 2,
                    result: FibResult::Addrtype
                },
                4
            ),
            &2u32.to_ne_bytes()
        )
    );
    // `icmp type echo-request` in inet: nfproto ipv4, l4proto icmp, then the byte.
    let icmp = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-request"}}"#;
    assert_eq!(
        steps("inet", &rule(icmp))[..3],
        [
            nfproto(2),
            l4(1),
            equal(payload(PayloadBase::Transport, 0, 1), &[8])
        ]
    );
    // `ether saddr` in inet: meta iiftype ether first.
    let ether = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "saddr"}}, "right": "00:11:22:33:44:55"}}"#;
    assert_eq!(
        steps("inet", &rule(ether))[..2],
        [
            equal(meta(MetaKey::Iiftype, 2), &1u16.to_ne_bytes()),
            equal(
                payload(PayloadBase::Link, 6, 6),
                &[0, 0x11, 0x22, 0x33, 0x44, 0x55]
            )
        ]
    );
    // In a bridge table, `ip daddr` is checked by the ethertype.
    let daddr = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "1.2.3.4"}}"#;
    assert_eq!(
        steps("bridge", &rule(daddr))[0],
        equal(meta(MetaKey::Protocol, 2), &[0x08, 0x00])
    );
    // A check the rule made itself is not made twice: `ip protocol tcp tcp dport 22`.
    let made = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": "tcp"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]"#;
    assert_eq!(
        steps("inet", made),
        [
            nfproto(2),
            equal(payload(PayloadBase::Network, 9, 1), &[6]),
            equal(dport(), &[0, 22]),
            verdict(Verdict::Accept)
        ]
    );
}

#[test]
fn a_dnat_keeps_its_family_operands_and_flags() {
    let json = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [8080, 8443]}}}, {"dnat": {"family": "ip", "addr": "10.88.0.2", "port": 80}}]"#;
    let built = steps("inet", json);
    let Step::Statement(Statement::Nat(nat)) = &built[2] else {
        panic!("{built:#?}");
    };
    assert_eq!(nat.kind, NatKind::Dnat);
    assert_eq!(nat.family, Some(NatFamily::Ipv4));
    assert_eq!(
        nat.address.as_ref().map(|a| &a.min),
        Some(&Operand::Const([10, 88, 0, 2].into()))
    );
    assert_eq!(
        nat.port.as_ref().map(|p| &p.min),
        Some(&Operand::Const([0, 80].into()))
    );
    // `flags 0x2`: the port given (NF_NAT_RANGE_PROTO_SPECIFIED).
    assert_eq!(nat.flags, 2);
    // A verdict map's elements are sorted, with their verdicts.
    let vmap = r#"[{"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": {"set": [[8001, {"drop": null}], [8000, {"accept": null}]]}}}]"#;
    let Step::Statement(Statement::VerdictMap {
        map: Elements::Inline(elements),
        ..
    }) = &steps("inet", vmap)[1]
    else {
        panic!("a verdict map");
    };
    assert_eq!(elements[0].data, Some(Data::Verdict(Verdict::Accept)));
    assert_eq!(elements[1].key, [Span::exact(&8001u16.to_be_bytes())]);
}

#[test]
fn what_the_builder_cannot_encode_stays_in_its_rule() {
    // An unknown statement: opaque; a match on an unknown field: a condition; the rest of
    // the rule and of the ruleset is read.
    let json = r#"[{"frobnicate": {"x": 1}}, {"match": {"op": "==", "left": {"osf": {"key": "name"}}, "right": "Linux"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"drop": null}]"#;
    let built = steps("inet", json);
    assert!(
        matches!(&built[0], Step::Opaque(what) if what == "frobnicate"),
        "{built:#?}"
    );
    assert!(matches!(&built[1], Step::Condition(_)), "{built:#?}");
    assert_eq!(
        built[2..],
        [l4(6), equal(dport(), &[0, 22]), verdict(Verdict::Drop)]
    );
    // iptables-nft: a match is either way, a comment nothing, a DNAT a NAT not shown.
    let xt = r#"[{"xt": {"type": "match", "name": "conntrack"}}, {"xt": {"type": "match", "name": "comment"}}, {"xt": {"type": "target", "name": "DNAT"}}]"#;
    let built = steps("ip", xt);
    assert_eq!(built[0], Step::Condition("xt match conntrack".into()));
    assert_eq!(
        built[1],
        Step::Statement(Statement::Effect("comment".into()))
    );
    assert!(matches!(&built[2], Step::Statement(Statement::Nat(n)) if n.kind == NatKind::Dnat));
}

#[test]
fn a_file_that_is_not_a_ruleset_says_what_was_expected() {
    let err = parse("Error: syntax error", &|_| None).unwrap_err();
    assert!(err.starts_with("nft ruleset is not JSON"), "{err}");
    assert!(err.contains("\"nftables\" array"), "{err}");
    for shape in [r#"{"tables": []}"#, "[1, 2]", r#"{"nftables": 7}"#] {
        let err = parse(shape, &|_| None).unwrap_err();
        assert!(err.contains("wrong shape") && !err.contains('\n'), "{err}");
    }
    // Items it does not know, or malformed ones, are skipped.
    let odd = r#"{"nftables": [{"flowtable": {"name": "f"}}, 42, [], {"rule": {"family": "inet"}},
        {"chain": {"family": "inet", "table": "t", "name": "c"}}]}"#;
    let ruleset = parse(odd, &|_| None).unwrap();
    assert_eq!(ruleset.tables.len(), 1);
    assert_eq!(ruleset.tables[0].chains[0].name, "c");
}

#[test]
fn a_header_read_inside_a_statement_gets_its_family_check_too() {
    // `meta mark set ip saddr map { 10.0.0.1 : 0x1 } drop` in inet: meta nfproto ipv4,
    // then the lookup, the mark set, the drop. An IPv6 packet never reaches the drop.
    let json = r#"[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"map": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "data": {"set": [["10.0.0.1", 1]]}}}}}, {"drop": null}]"#;
    let built = steps("inet", json);
    assert_eq!(built[0], nfproto(2), "{built:#?}");
    let Step::Statement(Statement::Set { field, value }) = &built[1] else {
        panic!("{built:#?}");
    };
    assert_eq!(*field, Field::Meta(MetaKey::Mark));
    let Operand::Map {
        key,
        map: Elements::Inline(elements),
    } = &**value
    else {
        panic!("{value:?}");
    };
    assert_eq!(key.parts, [payload(PayloadBase::Network, 12, 4)]);
    assert_eq!(
        elements[0].data,
        Some(Data::Value(1u32.to_ne_bytes().into()))
    );
    assert_eq!(built[2], verdict(Verdict::Drop));
}

/// The ruleset of nft's JSON `items` (the objects of its `nftables` array).
fn ruleset(items: &[&str]) -> crate::ruleset::Ruleset {
    parse(
        &format!(r#"{{"nftables": [{}]}}"#, items.join(",")),
        &|name| (name == "lo").then_some(1),
    )
    .unwrap()
}

fn nat_of(ruleset: &crate::ruleset::Ruleset, handle: u64) -> crate::ruleset::Nat {
    let rule = ruleset.tables[0]
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .find(|r| r.handle == handle)
        .unwrap();
    rule.steps
        .iter()
        .find_map(|s| match s {
            Step::Statement(Statement::Nat(nat)) => Some((**nat).clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no NAT in {:?}", rule.steps))
}

const NAT_TABLE: &str = r#"{"table": {"family": "ip", "name": "nat", "handle": 1}}"#;
const NAT_CHAIN: &str = r#"{"chain": {"family": "ip", "table": "nat", "name": "pre", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}"#;

#[test]
fn a_dnat_through_a_map_of_addresses_and_ports_never_loses_the_port() {
    // map z { type ipv4_addr : ipv4_addr . inet_service; elements = { 1.2.3.4 : 10.0.0.1 . 8080 } }
    // meta l4proto tcp dnat ip to ip daddr map @z
    // meta l4proto tcp dnat to ip saddr map { 1.1.1.1 : 2.2.2.2 . 80 }
    // (kernel: lookup into reg 1, nat dnat ip addr_min reg 1 proto_min reg 9)
    let r = ruleset(&[
        NAT_TABLE,
        r#"{"map": {"family": "ip", "name": "z", "table": "nat", "type": "ipv4_addr", "handle": 2, "map": "ipv4_addr . inet_service", "elem": [["1.2.3.4", {"concat": ["10.0.0.1", 8080]}]]}}"#,
        NAT_CHAIN,
        r#"{"rule": {"family": "ip", "table": "nat", "chain": "pre", "handle": 7, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"dnat": {"family": "ip", "addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "daddr"}}, "data": "@z"}}}}]}}"#,
        r#"{"rule": {"family": "ip", "table": "nat", "chain": "pre", "handle": 9, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"dnat": {"family": "ip", "addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "data": {"set": [["1.1.1.1", {"concat": ["2.2.2.2", 80]}]]}}}}}]}}"#,
    ]);
    // The named map: its elements read (address, then the port from the next word).
    let z = &r.tables[0].sets[0];
    assert!(!z.incomplete, "{z:?}");
    assert_eq!(
        z.elements[0].data,
        Some(Data::Value([10, 0, 0, 1, 0x1f, 0x90, 0, 0].into()))
    );
    let named = nat_of(&r, 7);
    let daddr = Key {
        parts: vec![payload(PayloadBase::Network, 16, 4)],
    };
    assert_eq!(
        named.address.unwrap().min,
        Operand::Map {
            key: daddr,
            map: Elements::Set("z".into())
        }
    );
    // The port comes from the map too: never "unchanged".
    assert_eq!(
        named.port.expect("the port of the map's data").min,
        Operand::Unknown("part of the data of map z".into())
    );
    // The anonymous map: address and port, each its part of the data.
    let inline = nat_of(&r, 9);
    let saddr = Key {
        parts: vec![payload(PayloadBase::Network, 12, 4)],
    };
    let part = |bytes: &[u8]| Operand::Map {
        key: saddr.clone(),
        map: Elements::Inline(vec![crate::ruleset::Element {
            key: vec![Span::exact(&[1, 1, 1, 1])],
            data: Some(Data::Value(bytes.into())),
        }]),
    };
    assert_eq!(inline.address.unwrap().min, part(&[2, 2, 2, 2]));
    assert_eq!(inline.port.unwrap().min, part(&[0, 80]));
}

#[test]
fn a_nat_map_to_address_ranges_has_an_upper_bound() {
    // map y { type ipv4_addr : interval ipv4_addr; flags interval;
    //         elements = { 10.141.10.0/24 : 192.168.2.2-192.168.2.4 } }
    // snat ip to ip saddr map @y
    // snat to ip saddr map { 10.141.11.4 : 192.168.2.2-192.168.2.4 }
    let r = ruleset(&[
        NAT_TABLE,
        r#"{"map": {"family": "ip", "name": "y", "table": "nat", "type": "ipv4_addr", "handle": 7, "map": "ipv4_addr", "flags": ["interval"], "elem": [[{"prefix": {"addr": "10.141.10.0", "len": 24}}, {"range": ["192.168.2.2", "192.168.2.4"]}]]}}"#,
        r#"{"chain": {"family": "ip", "table": "nat", "name": "n", "handle": 2, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}"#,
        r#"{"rule": {"family": "ip", "table": "nat", "chain": "n", "handle": 21, "expr": [{"snat": {"family": "ip", "addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "data": "@y"}}}}]}}"#,
        r#"{"rule": {"family": "ip", "table": "nat", "chain": "n", "handle": 23, "expr": [{"snat": {"family": "ip", "addr": {"map": {"key": {"payload": {"protocol": "ip", "field": "saddr"}}, "data": {"set": [["10.141.11.4", {"range": ["192.168.2.2", "192.168.2.4"]}]]}}}}}]}}"#,
    ]);
    let named = nat_of(&r, 21).address.unwrap();
    assert_eq!(
        named.max,
        Some(Operand::Unknown("part of the data of map y".into()))
    );
    let inline = nat_of(&r, 23).address.unwrap();
    let bound = |bytes: &[u8]| Operand::Map {
        key: Key {
            parts: vec![payload(PayloadBase::Network, 12, 4)],
        },
        map: Elements::Inline(vec![crate::ruleset::Element {
            key: vec![Span::exact(&[10, 141, 11, 4])],
            data: Some(Data::Value(bytes.into())),
        }]),
    };
    assert_eq!(inline.min, bound(&[192, 168, 2, 2]));
    assert_eq!(inline.max, Some(bound(&[192, 168, 2, 4])));
}

#[test]
fn a_catch_all_element_covers_every_key() {
    // map cm { type inet_service : verdict; elements = { 22 : accept, * : drop } }
    let r = ruleset(&[
        NAT_TABLE,
        r#"{"map": {"family": "ip", "name": "cm", "table": "nat", "type": "inet_service", "handle": 3, "map": "verdict", "elem": [[22, {"accept": null}], ["*", {"drop": null}]]}}"#,
    ]);
    let cm = &r.tables[0].sets[0];
    assert!(!cm.incomplete, "{cm:?}");
    assert_eq!(cm.elements.len(), 2);
    assert!(cm.elements.iter().any(|e| e.key
        == [Span {
            low: [0, 0].into(),
            high: [0xff, 0xff].into()
        }]
        && e.data == Some(Data::Verdict(Verdict::Drop))));
    assert!(cm.elements.iter().any(
        |e| e.key == [Span::exact(&[0, 22])] && e.data == Some(Data::Verdict(Verdict::Accept))
    ));
}

#[test]
fn a_map_the_packet_path_updates_is_never_a_fixed_list() {
    // map ms { type ipv4_addr : mark; flags dynamic; }
    // update @ms { ip daddr : 0x1 }   (nft 1.0.6 has no JSON for it: it prints text)
    // add @ms { ip saddr limit rate 1/second : 0x2 }
    let r = ruleset(&[
        r#"{"table": {"family": "ip", "name": "x", "handle": 1}}"#,
        r#"{"map": {"family": "ip", "name": "ms", "table": "x", "type": "ipv4_addr", "handle": 6, "map": "mark", "size": 65535}}"#,
        r#"{"chain": {"family": "ip", "table": "x", "name": "z", "handle": 1, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}}"#,
        r#"{"rule": {"family": "ip", "table": "x", "chain": "z", "handle": 9, "expr": ["update @ms { ip daddr : 0x00000001 }"]}}"#,
        r#"{"rule": {"family": "ip", "table": "x", "chain": "z", "handle": 10, "expr": ["add @ms { ip saddr limit rate 1/second : 0x00000002 }"]}}"#,
    ]);
    let table = &r.tables[0];
    assert!(table.sets[0].incomplete, "{:?}", table.sets[0]);
    // Only the text is known: whether the rule goes on is not.
    for rule in &table.chains[0].rules {
        assert!(
            matches!(rule.steps.as_slice(), [Step::Condition(_)]),
            "{rule:?}"
        );
    }
}

#[test]
fn a_set_update_with_a_limit_is_a_condition_and_checks_its_family() {
    // inet: set s { type ipv4_addr; flags dynamic,timeout; timeout 1h; }
    // update @s { ip saddr timeout 10s }
    let timeout = r#"[{"set": {"op": "update", "elem": {"elem": {"val": {"payload": {"protocol": "ip", "field": "saddr"}}, "timeout": 10}}, "set": "@s"}}]"#;
    let update = steps("inet", timeout);
    assert_eq!(update[0], nfproto(2));
    assert!(matches!(update[1], Step::Statement(Statement::Effect(_))));
    // update @s { ip saddr limit rate 1/second }: the rule goes on within the limit.
    let limited = r#"[{"set": {"op": "update", "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": "@s", "stmt": [{"limit": {"rate": 1, "burst": 5, "per": "second"}}]}}]"#;
    let update = steps("inet", limited);
    assert_eq!(update[0], nfproto(2));
    assert!(matches!(update[1], Step::Condition(_)), "{update:?}");
    // meta mark set jhash ip saddr mod 2: the hash reads the IPv4 header.
    let jhash = r#"[{"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"jhash": {"mod": 2, "expr": {"payload": {"protocol": "ip", "field": "saddr"}}}}}}]"#;
    assert_eq!(steps("inet", jhash)[0], nfproto(2));
}

#[test]
fn an_object_map_checks_its_key_s_protocol_and_may_end_the_rule() {
    // counter name tcp dport map { 443 : "cnt1", 80 : "cnt2" }
    let objects = r#"[{"counter": {"map": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": {"set": [[80, "cnt2"], [443, "cnt1"]]}}}}]"#;
    let s = steps("ip", objects);
    assert_eq!(s[0], l4(6));
    assert!(matches!(s[1], Step::Condition(_)), "{s:?}");
}

#[test]
fn conntrack_times_labels_ids_and_meta_random_are_encoded_as_the_kernel_holds_them() {
    let ct = |key: &str| {
        load(
            Field::Ct {
                key: match key {
                    "expiration" => crate::ruleset::CtKey::Expiration,
                    "label" => crate::ruleset::CtKey::Label,
                    _ => crate::ruleset::CtKey::Other(23),
                },
                direction: None,
            },
            if key == "label" { 16 } else { 4 },
        )
    };
    let one = |json: &str| steps("ip", &format!("[{json}]"));
    // ct expiration 30s: milliseconds, host order ([ cmp eq reg 1 0x00007530 ]).
    assert_eq!(
        one(r#"{"match": {"op": "==", "left": {"ct": {"key": "expiration"}}, "right": 30}}"#),
        [equal(ct("expiration"), &30_000u32.to_ne_bytes())]
    );
    // ct expiration 1m-1h: through byteorder, in milliseconds.
    let mut swapped = ct("expiration");
    swapped.transforms.push(Transform::ByteOrder {
        to_network: true,
        size: 4,
    });
    assert_eq!(
        one(
            r#"{"match": {"op": "==", "left": {"ct": {"key": "expiration"}}, "right": {"range": [60, 3600]}}}"#
        ),
        [
            test(
                swapped.clone(),
                Test::Compare {
                    op: Order::Ge,
                    value: 60_000u32.to_be_bytes().into()
                }
            ),
            test(
                swapped,
                Test::Compare {
                    op: Order::Le,
                    value: 3_600_000u32.to_be_bytes().into()
                }
            )
        ]
    );
    // ct label 127: bit 127 of the 128 (byte 15, bit 7), masked, != 0.
    let mut bit = [0u8; 16];
    bit[15] = 0x80;
    assert_eq!(
        one(r#"{"match": {"op": "in", "left": {"ct": {"key": "label"}}, "right": 127}}"#),
        [not_equal(masked(ct("label"), &bit), &[0; 16])]
    );
    // ct label set 127
    assert_eq!(
        one(r#"{"mangle": {"key": {"ct": {"key": "label"}}, "value": 127}}"#),
        [Step::Statement(Statement::Set {
            field: ct("label").field,
            value: Box::new(Operand::Const(bit.into()))
        })]
    );
    // ct id 12345: big-endian ([ cmp eq reg 1 0x39300000 ]).
    assert_eq!(
        one(r#"{"match": {"op": "==", "left": {"ct": {"key": "id"}}, "right": 12345}}"#),
        [equal(ct("id"), &12345u32.to_be_bytes())]
    );
    // meta random 1, meta random > 1000000: big-endian, compared without byteorder.
    let random = meta(MetaKey::Other(24), 4);
    assert_eq!(
        one(r#"{"match": {"op": "==", "left": {"meta": {"key": "random"}}, "right": 1}}"#),
        [equal(random.clone(), &[0, 0, 0, 1])]
    );
    assert_eq!(
        one(r#"{"match": {"op": ">", "left": {"meta": {"key": "random"}}, "right": 1000000}}"#),
        [test(
            random,
            Test::Compare {
                op: Order::Gt,
                value: 1_000_000u32.to_be_bytes().into()
            }
        )]
    );
}

#[test]
fn a_number_generator_looked_up_in_intervals_goes_through_byteorder() {
    // ip daddr set numgen inc mod 16 map { 0-7 : 10.0.1.1, 8-15 : 10.0.1.2 }
    let s = steps(
        "ip",
        r#"[{"mangle": {"key": {"payload": {"protocol": "ip", "field": "daddr"}}, "value": {"map": {"key": {"numgen": {"mode": "inc", "mod": 16, "offset": 0}}, "data": {"set": [[{"range": [0, 7]}, "10.0.1.1"], [{"range": [8, 15]}, "10.0.1.2"]]}}}}}]"#,
    );
    let Step::Statement(Statement::Set { value, .. }) = &s[0] else {
        panic!("{s:?}");
    };
    let Operand::Map { key, map } = &**value else {
        panic!("{value:?}");
    };
    assert_eq!(
        key.parts[0].transforms,
        [Transform::ByteOrder {
            to_network: true,
            size: 4
        }]
    );
    let Elements::Inline(elements) = map else {
        panic!("{map:?}");
    };
    assert_eq!(
        elements[1].key,
        [Span {
            low: [0, 0, 0, 8].into(),
            high: [0, 0, 0, 15].into()
        }]
    );
}

#[test]
fn link_layer_fields_check_the_device_type_and_a_bridge_s_icmp_the_ether_type() {
    let ether = equal(meta(MetaKey::Iiftype, 2), &1u16.to_ne_bytes());
    // netdev: tcp dport 22 ether saddr 00:0f:54:0c:11:04 ip daddr 1.2.3.4 drop
    // [ meta load iiftype ] [ cmp eq 1 ] [ meta load l4proto ] [ cmp eq 6 ] …
    let netdev = steps(
        "netdev",
        r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "saddr"}}, "right": "00:0f:54:0c:11:04"}}, {"drop": null}]"#,
    );
    assert_eq!(netdev[0], l4(6));
    assert!(netdev.contains(&ether), "{netdev:?}");
    // bridge: icmp type echo-request drop
    // [ payload load 2b @ link header + 12 ] [ cmp eq 0x0008 ] [ meta load l4proto ] …
    let bridge = steps(
        "bridge",
        r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "icmp", "field": "type"}}, "right": "echo-request"}}, {"drop": null}]"#,
    );
    assert_eq!(
        bridge[0],
        equal(payload(PayloadBase::Link, 12, 2), &[0x08, 0x00])
    );
    assert_eq!(bridge[1], l4(1));
}
