//! The evaluator on hand-built rulesets, one behaviour per test. The rules are written as
//! the kernel holds them (what `nft --debug=netlink add rule …` shows), so each test says
//! what the kernel does with the packets, not what nft prints.

use std::net::IpAddr;

use super::*;
use crate::ruleset::{
    BaseChain, Chain, ChainKind, CtKey, Dormant, Element, Elements, Field, Hook, Key, Load, Match,
    MetaKey, Nat, NatKind, Operand, OperandRange, Order, PayloadBase, Policy, Reject, Rule,
    Ruleset, Set, Span, Statement, Step, Table, TableFamily, Test, Transform, Verdict,
};
use crate::socket::{Family, Protocol};

// ---- building rulesets as the kernel holds them ----

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

fn dport_load() -> Load {
    payload(PayloadBase::Transport, 2, 2)
}

fn is(load: Load, bytes: &[u8]) -> Step {
    Step::Match(Match {
        key: Key { parts: vec![load] },
        test: Test::Equal {
            negate: false,
            value: bytes.into(),
        },
    })
}

fn is_not(load: Load, bytes: &[u8]) -> Step {
    Step::Match(Match {
        key: Key { parts: vec![load] },
        test: Test::Equal {
            negate: true,
            value: bytes.into(),
        },
    })
}

fn compare(load: Load, op: Order, bytes: &[u8]) -> Step {
    Step::Match(Match {
        key: Key { parts: vec![load] },
        test: Test::Compare {
            op,
            value: bytes.into(),
        },
    })
}

/// `meta l4proto P`, nft's implied check before a transport header.
fn l4(protocol: u8) -> Step {
    is(meta(MetaKey::L4proto, 1), &[protocol])
}

/// `meta nfproto ipv4|ipv6`.
fn nfproto(v: u8) -> Step {
    is(meta(MetaKey::Nfproto, 1), &[v])
}

fn dport(port: u16) -> Step {
    is(dport_load(), &port.to_be_bytes())
}

fn name16(name: &str) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

fn verdict(v: Verdict) -> Step {
    Step::Statement(Statement::Verdict(v))
}

fn accept() -> Step {
    verdict(Verdict::Accept)
}

fn drop_() -> Step {
    verdict(Verdict::Drop)
}

fn rule(handle: u64, steps: Vec<Step>) -> Rule {
    Rule { handle, steps }
}

fn base(name: &str, hook: Hook, priority: i32, policy: Policy, rules: Vec<Rule>) -> Chain {
    base_kind(name, ChainKind::Filter, hook, priority, policy, rules)
}

fn base_kind(
    name: &str,
    kind: ChainKind,
    hook: Hook,
    priority: i32,
    policy: Policy,
    rules: Vec<Rule>,
) -> Chain {
    Chain {
        name: name.into(),
        base: Some(BaseChain {
            kind,
            hook,
            priority,
            policy,
            devices: Vec::new(),
        }),
        rules,
    }
}

fn regular(name: &str, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        base: None,
        rules,
    }
}

fn table(family: TableFamily, chains: Vec<Chain>) -> Table {
    Table {
        family,
        name: "t".into(),
        dormant: Dormant::No,
        chains,
        sets: Vec::new(),
    }
}

fn ruleset(tables: Vec<Table>) -> Ruleset {
    Ruleset { tables }
}

/// An inet table with one input chain of these rules.
fn input(policy: Policy, rules: Vec<Rule>) -> Ruleset {
    ruleset(vec![table(
        TableFamily::Inet,
        vec![base("input", Hook::Input, 0, policy, rules)],
    )])
}

fn tcp4() -> Class<'static> {
    let mut class = Class::new(Family::Ipv4, Protocol::Tcp, PortSet::range(1, 65535));
    class.daddr = Some("192.0.2.10".parse().unwrap());
    class.local = Some(true);
    class
}

fn udp4() -> Class<'static> {
    Class {
        protocol: Protocol::Udp,
        ..tcp4()
    }
}

// ---- reading the fates as the walk does ----

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Accepted,
    Dropped,
    Unknown,
}

/// The walk's three-valued answer for one port: dropped iff every fate drops.
fn answer(fates: &[Fate], port: u16) -> Answer {
    let here: Vec<&Fate> = fates.iter().filter(|f| f.ports.contains(port)).collect();
    assert!(!here.is_empty(), "no fate for port {port}: {fates:#?}");
    if here.iter().all(|f| f.end == End::Drop) {
        Answer::Dropped
    } else if here.iter().all(|f| f.end == End::Pass) {
        Answer::Accepted
    } else {
        Answer::Unknown
    }
}

fn at(ruleset: &Ruleset, hook: Hook, class: &Class, port: u16) -> Answer {
    answer(&evaluate(ruleset, hook, class), port)
}

/// Every port of the class has a fate.
fn covers(fates: &[Fate], class: &Class) {
    let all = fates
        .iter()
        .fold(PortSet::empty(), |all, f| all.union(&f.ports));
    assert_eq!(all, class.ports, "{fates:#?}");
}

// ---- the tests ----

#[test]
fn a_port_range_splits_the_class_exactly() {
    // `tcp dport 5000-5999 drop`: two compares, as nft sends a range.
    let rules = input(
        Policy::Accept,
        vec![rule(
            4,
            vec![
                l4(6),
                compare(dport_load(), Order::Ge, &5000u16.to_be_bytes()),
                compare(dport_load(), Order::Le, &5999u16.to_be_bytes()),
                drop_(),
            ],
        )],
    );
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    covers(&fates, &tcp4());
    let dropped: Vec<&Fate> = fates.iter().filter(|f| f.end == End::Drop).collect();
    assert_eq!(dropped.len(), 1, "{fates:#?}");
    assert_eq!(dropped[0].ports, PortSet::range(5000, 5999));
    assert!(dropped[0].certain);
    assert_eq!(
        &*dropped[0].why,
        "inet t input handle 4: tcp dport 5000-5999 drop"
    );
    assert_eq!(answer(&fates, 4999), Answer::Accepted);
    assert_eq!(answer(&fates, 6000), Answer::Accepted);
}

#[test]
fn a_negated_range_drops_the_ports_outside_it() {
    // `udp dport != 1000-2000 drop`: range neq.
    let rules = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![
                l4(17),
                Step::Match(Match {
                    key: Key {
                        parts: vec![dport_load()],
                    },
                    test: Test::Member {
                        negate: true,
                        elements: Elements::Inline(vec![Element {
                            key: vec![Span {
                                low: 1000u16.to_be_bytes().into(),
                                high: 2000u16.to_be_bytes().into(),
                            }],
                            data: None,
                        }]),
                    },
                }),
                drop_(),
            ],
        )],
    );
    assert_eq!(at(&rules, Hook::Input, &udp4(), 999), Answer::Dropped);
    assert_eq!(at(&rules, Hook::Input, &udp4(), 1000), Answer::Accepted);
    assert_eq!(at(&rules, Hook::Input, &udp4(), 2000), Answer::Accepted);
    assert_eq!(at(&rules, Hook::Input, &udp4(), 2001), Answer::Dropped);
    // The implied `meta l4proto udp` keeps TCP out of it.
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 999), Answer::Accepted);
}

#[test]
fn an_escaped_star_is_a_literal_name_and_a_trailing_star_a_prefix() {
    // `iifname "eth\*" drop`: the 16 bytes "eth*\0…"; `iifname "eth*" drop`: "eth".
    let literal = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![is(meta(MetaKey::Iifname, 16), &name16("eth*")), drop_()],
        )],
    );
    let wildcard = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![is(meta(MetaKey::Iifname, 16), b"eth"), drop_()],
        )],
    );
    let eth0 = Class {
        iif: Some(Iface {
            name: "eth0",
            ifindex: 2,
            kind: None,
        }),
        ..tcp4()
    };
    assert_eq!(at(&literal, Hook::Input, &eth0, 80), Answer::Accepted);
    assert_eq!(at(&wildcard, Hook::Input, &eth0, 80), Answer::Dropped);
    // An interface not known: the literal name may be it, never "dropped" for sure.
    assert_eq!(at(&literal, Hook::Input, &tcp4(), 80), Answer::Unknown);
    let fates = evaluate(&literal, Hook::Input, &tcp4());
    let doubt = fates.iter().find_map(|f| f.doubt.as_deref()).unwrap();
    assert_eq!(
        doubt,
        "inet t input handle 2: iifname eth\\* cannot be evaluated"
    );
}

#[test]
fn reject_with_tcp_reset_applies_to_tcp_only() {
    // `reject with tcp reset` is `meta l4proto tcp` then the reject.
    let rules = input(
        Policy::Accept,
        vec![rule(
            3,
            vec![l4(6), Step::Statement(Statement::Reject(Reject::TcpReset))],
        )],
    );
    let tcp = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&tcp, 53), Answer::Dropped);
    assert_eq!(&*tcp[0].why, "inet t input handle 3: reject with tcp reset");
    assert_eq!(at(&rules, Hook::Input, &udp4(), 53), Answer::Accepted);
}

#[test]
fn a_protocol_check_nft_does_not_print_still_decides() {
    // Kernel: `meta l4proto tcp` + `th dport 53` (nft lists `tcp dport 53`); a UDP
    // datagram to 53 is not matched.
    let rules = input(
        Policy::Accept,
        vec![rule(5, vec![l4(6), dport(53), drop_()])],
    );
    assert_eq!(at(&rules, Hook::Input, &udp4(), 53), Answer::Accepted);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 53), Answer::Dropped);
    // Without the check, `th dport 53` matches either.
    let bare = input(Policy::Accept, vec![rule(5, vec![dport(53), drop_()])]);
    assert_eq!(at(&bare, Hook::Input, &udp4(), 53), Answer::Dropped);
}

#[test]
fn an_ipv4_compatible_ipv6_address_is_its_sixteen_bytes() {
    // `ip6 daddr ::1.2.3.4 drop`, an IPv4-compatible (not mapped) address.
    let address: std::net::Ipv6Addr = "::1.2.3.4".parse().unwrap();
    let rules = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![
                nfproto(10),
                is(payload(PayloadBase::Network, 24, 16), &address.octets()),
                drop_(),
            ],
        )],
    );
    let mut class = Class::new(Family::Ipv6, Protocol::Tcp, PortSet::all());
    class.daddr = Some(IpAddr::V6(address));
    assert_eq!(at(&rules, Hook::Input, &class, 22), Answer::Dropped);
    class.daddr = Some("::ffff:1.2.3.4".parse().unwrap());
    assert_eq!(at(&rules, Hook::Input, &class, 22), Answer::Accepted);
    // Nor does an IPv4 packet to 1.2.3.4 match it.
    let mut v4 = tcp4();
    v4.daddr = Some("1.2.3.4".parse().unwrap());
    assert_eq!(at(&rules, Hook::Input, &v4, 22), Answer::Accepted);
}

#[test]
fn a_dormant_table_filters_nothing_and_unclear_flags_never_drop_for_sure() {
    let mut rules = input(Policy::Drop, vec![]);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 22), Answer::Dropped);
    rules.tables[0].dormant = Dormant::Yes;
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Accepted);
    assert_eq!(&*fates[0].why, "no input chain: nothing filters");
    rules.tables[0].dormant = Dormant::Unclear("t".into());
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Unknown);
    assert!(fates.iter().all(|f| !f.certain), "{fates:#?}");
    assert!(
        fates[0]
            .doubt
            .as_deref()
            .unwrap()
            .contains("may be dormant"),
        "{fates:#?}"
    );
}

#[test]
fn a_drop_on_what_the_class_does_not_know_is_only_a_possibility() {
    // `ip saddr 10.0.0.0/8 drop` (a one-byte load), policy accept.
    let rules = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![
                nfproto(2),
                is(payload(PayloadBase::Network, 12, 1), &[10]),
                drop_(),
            ],
        )],
    );
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Unknown);
    assert!(fates.iter().all(|f| !f.certain));
    assert_eq!(
        fates[0].doubt.as_deref(),
        Some("inet t input handle 2: ip saddr cannot be evaluated")
    );
    // Where every way drops anyway, it is dropped.
    let mut closed = rules.clone();
    closed.tables[0].chains[0].base.as_mut().unwrap().policy = Policy::Drop;
    assert_eq!(at(&closed, Hook::Input, &tcp4(), 22), Answer::Dropped);
}

#[test]
fn conditions_go_both_ways() {
    // `tcp dport 22 limit rate 10/second drop`, policy accept: not dropped for sure.
    let rules = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![l4(6), dport(22), Step::Condition("limit".into()), drop_()],
        )],
    );
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 22), Answer::Unknown);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 23), Answer::Accepted);
}

#[test]
fn ct_state_of_a_new_connection() {
    // `ct state established,related accept` (mask, != 0), then `ct state new drop`.
    let state = || {
        load(
            Field::Ct {
                key: CtKey::State,
                direction: None,
            },
            4,
        )
    };
    let mut established_related = state();
    established_related.transforms.push(Transform::Mask {
        mask: 6u32.to_ne_bytes().into(),
        xor: [0; 4].into(),
    });
    let mut new = state();
    new.transforms.push(Transform::Mask {
        mask: 8u32.to_ne_bytes().into(),
        xor: [0; 4].into(),
    });
    let rules = input(
        Policy::Accept,
        vec![
            rule(2, vec![is_not(established_related, &[0; 4]), accept()]),
            rule(3, vec![is_not(new, &[0; 4]), drop_()]),
        ],
    );
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Dropped);
    assert_eq!(&*fates[0].why, "inet t input handle 3: ct state new drop");
}

#[test]
fn ct_status_dnat_is_what_the_path_did() {
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
    // `ct status dnat accept`, policy drop (Docker's forward chain).
    let rules = ruleset(vec![table(
        TableFamily::Ip,
        vec![base(
            "forward",
            Hook::Forward,
            0,
            Policy::Drop,
            vec![rule(2, vec![is_not(status, &[0; 4]), accept()])],
        )],
    )]);
    let mut class = tcp4();
    class.local = Some(false);
    assert_eq!(at(&rules, Hook::Forward, &class, 80), Answer::Dropped);
    class.dnat = true;
    assert_eq!(at(&rules, Hook::Forward, &class, 80), Answer::Accepted);
}

#[test]
fn fib_daddr_type_local_is_whether_the_address_is_local() {
    let fib = load(
        Field::Fib {
            flags: 2,
            result: crate::ruleset::FibResult::Addrtype,
        },
        4,
    );
    let rules = ruleset(vec![table(
        TableFamily::Inet,
        vec![base(
            "pre",
            Hook::Prerouting,
            0,
            Policy::Accept,
            vec![rule(2, vec![is(fib, &2u32.to_ne_bytes()), drop_()])],
        )],
    )]);
    let mut class = tcp4();
    assert_eq!(at(&rules, Hook::Prerouting, &class, 80), Answer::Dropped);
    class.local = Some(false);
    assert_eq!(at(&rules, Hook::Prerouting, &class, 80), Answer::Accepted);
    class.local = None;
    assert_eq!(at(&rules, Hook::Prerouting, &class, 80), Answer::Unknown);
}

#[test]
fn an_output_interface_in_the_input_hook_is_none() {
    // In input there is no output interface: `oifname != "eth0"` matches (the kernel
    // loads an empty name), `oiftype ether` does not (the kernel cannot load it).
    let rules = input(
        Policy::Drop,
        vec![rule(
            2,
            vec![
                is_not(meta(MetaKey::Oifname, 16), &name16("eth0")),
                accept(),
            ],
        )],
    );
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 22), Answer::Accepted);
    let typed = input(
        Policy::Drop,
        vec![rule(
            2,
            vec![
                is_not(meta(MetaKey::Oiftype, 2), &1u16.to_ne_bytes()),
                accept(),
            ],
        )],
    );
    assert_eq!(at(&typed, Hook::Input, &tcp4(), 22), Answer::Dropped);
}

#[test]
fn loopback_is_never_the_way_in_from_outside() {
    // `iif lo accept`, policy drop: the interface is not known, but it is not lo.
    let rules = input(
        Policy::Drop,
        vec![rule(
            3,
            vec![is(meta(MetaKey::Iif, 4), &1u32.to_ne_bytes()), accept()],
        )],
    );
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 22), Answer::Dropped);
}

#[test]
fn jumps_return_and_a_goto_from_a_base_chain_ends_in_its_policy() {
    // input: jump checks; tcp dport 7000 drop.  checks: tcp dport 22 accept; return;
    // tcp dport 7001 drop.  Policy drop.
    let rules = ruleset(vec![table(
        TableFamily::Inet,
        vec![
            base(
                "input",
                Hook::Input,
                0,
                Policy::Drop,
                vec![
                    rule(2, vec![verdict(Verdict::Jump("checks".into()))]),
                    rule(3, vec![l4(6), dport(7000), accept()]),
                ],
            ),
            regular(
                "checks",
                vec![
                    rule(4, vec![l4(6), dport(22), accept()]),
                    rule(5, vec![verdict(Verdict::Return)]),
                    rule(6, vec![l4(6), dport(7001), accept()]),
                ],
            ),
        ],
    )]);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 22), Answer::Accepted);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 7000), Answer::Accepted);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 7001), Answer::Dropped);
    // A goto does not come back: the base chain's policy follows the goto'd chain.
    let mut gone = rules.clone();
    gone.tables[0].chains[0].rules[0].steps = vec![verdict(Verdict::Goto("checks".into()))];
    assert_eq!(at(&gone, Hook::Input, &tcp4(), 7000), Answer::Dropped);
    assert_eq!(at(&gone, Hook::Input, &tcp4(), 22), Answer::Accepted);
}

#[test]
fn a_jump_loop_ends_in_doubt_not_a_hang() {
    let rules = ruleset(vec![table(
        TableFamily::Inet,
        vec![
            base(
                "input",
                Hook::Input,
                0,
                Policy::Drop,
                vec![rule(2, vec![verdict(Verdict::Jump("a".into()))])],
            ),
            regular("a", vec![rule(3, vec![verdict(Verdict::Jump("a".into()))])]),
        ],
    )]);
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Unknown);
    assert!(
        fates.iter().any(|f| f.why.contains("deeper than 16")),
        "{fates:#?}"
    );
}

#[test]
fn a_verdict_map_with_an_address_not_known_pins_it_per_element() {
    // kube-proxy's `ip daddr . meta l4proto . th dport vmap { 10.96.0.10 . tcp . 53 :
    // jump svc }`, the class's address not known.
    let key = Key {
        parts: vec![
            payload(PayloadBase::Network, 16, 4),
            meta(MetaKey::L4proto, 1),
            dport_load(),
        ],
    };
    let element = Element {
        key: vec![
            Span::exact(&[10, 96, 0, 10]),
            Span::exact(&[6]),
            Span::exact(&53u16.to_be_bytes()),
        ],
        data: Some(crate::ruleset::Data::Verdict(Verdict::Drop)),
    };
    let rules = ruleset(vec![table(
        TableFamily::Ip,
        vec![base(
            "pre",
            Hook::Prerouting,
            0,
            Policy::Accept,
            vec![rule(
                2,
                vec![Step::Statement(Statement::VerdictMap {
                    key,
                    map: Elements::Inline(vec![element]),
                })],
            )],
        )],
    )]);
    let mut class = tcp4();
    class.daddr = None;
    let fates = evaluate(&rules, Hook::Prerouting, &class);
    let dropped: Vec<&Fate> = fates.iter().filter(|f| f.end == End::Drop).collect();
    assert_eq!(dropped.len(), 1, "{fates:#?}");
    assert_eq!(dropped[0].ports, PortSet::single(53));
    assert_eq!(dropped[0].daddr, Some("10.96.0.10".parse().unwrap()));
    assert!(!dropped[0].certain);
    assert_eq!(answer(&fates, 53), Answer::Unknown);
    assert_eq!(answer(&fates, 54), Answer::Accepted);
    // Known, it is exact.
    class.daddr = Some("10.96.0.10".parse().unwrap());
    assert_eq!(at(&rules, Hook::Prerouting, &class, 53), Answer::Dropped);
    class.daddr = Some("10.96.0.11".parse().unwrap());
    assert_eq!(at(&rules, Hook::Prerouting, &class, 53), Answer::Accepted);
}

#[test]
fn a_concatenated_set_with_ports_splits_by_element() {
    // `ip daddr . tcp dport { 192.0.2.10 . 22, 192.0.2.10 . 80-89 } accept`, policy drop.
    let element = |low: u16, high: u16| Element {
        key: vec![
            Span::exact(&[192, 0, 2, 10]),
            Span {
                low: low.to_be_bytes().into(),
                high: high.to_be_bytes().into(),
            },
        ],
        data: None,
    };
    let rules = input(
        Policy::Drop,
        vec![rule(
            2,
            vec![
                nfproto(2),
                l4(6),
                Step::Match(Match {
                    key: Key {
                        parts: vec![payload(PayloadBase::Network, 16, 4), dport_load()],
                    },
                    test: Test::Member {
                        negate: false,
                        elements: Elements::Inline(vec![element(22, 22), element(80, 89)]),
                    },
                }),
                accept(),
            ],
        )],
    );
    for (port, want) in [
        (22, Answer::Accepted),
        (23, Answer::Dropped),
        (80, Answer::Accepted),
        (89, Answer::Accepted),
        (90, Answer::Dropped),
    ] {
        assert_eq!(at(&rules, Hook::Input, &tcp4(), port), want, "{port}");
    }
}

#[test]
fn a_set_the_packet_path_fills_is_never_certain() {
    let mut rules = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![
                l4(6),
                Step::Match(Match {
                    key: Key {
                        parts: vec![dport_load()],
                    },
                    test: Test::Member {
                        negate: false,
                        elements: Elements::Set("blocked".into()),
                    },
                }),
                drop_(),
            ],
        )],
    );
    rules.tables[0].sets.push(Set {
        name: "blocked".into(),
        key_types: vec!["inet_service".into()],
        interval: false,
        data_type: None,
        elements: vec![Element {
            key: vec![Span::exact(&22u16.to_be_bytes())],
            data: None,
        }],
        incomplete: false,
    });
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 22), Answer::Dropped);
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 23), Answer::Accepted);
    rules.tables[0].sets[0].incomplete = true;
    assert_eq!(at(&rules, Hook::Input, &tcp4(), 23), Answer::Unknown);
}

#[test]
fn a_dnat_rewrites_what_later_chains_of_the_hook_see() {
    // nat prerouting (-100): tcp dport 8080 dnat to 10.0.0.2:80; filter prerouting (0):
    // ip daddr 10.0.0.2 tcp dport 80 drop.
    let nat = Nat {
        kind: NatKind::Dnat,
        family: None,
        address: Some(OperandRange {
            min: Operand::Const([10, 0, 0, 2].into()),
            max: None,
        }),
        port: Some(OperandRange {
            min: Operand::Const(80u16.to_be_bytes().into()),
            max: None,
        }),
        flags: 2,
    };
    let rules = ruleset(vec![table(
        TableFamily::Ip,
        vec![
            base_kind(
                "nat",
                ChainKind::Nat,
                Hook::Prerouting,
                -100,
                Policy::Accept,
                vec![rule(
                    2,
                    vec![
                        l4(6),
                        dport(8080),
                        Step::Statement(Statement::Nat(Box::new(nat))),
                    ],
                )],
            ),
            base(
                "filter",
                Hook::Prerouting,
                0,
                Policy::Accept,
                vec![rule(
                    3,
                    vec![
                        is(payload(PayloadBase::Network, 16, 4), &[10, 0, 0, 2]),
                        l4(6),
                        dport(80),
                        drop_(),
                    ],
                )],
            ),
        ],
    )]);
    let fates = evaluate(&rules, Hook::Prerouting, &tcp4());
    assert_eq!(answer(&fates, 8080), Answer::Dropped);
    assert_eq!(answer(&fates, 80), Answer::Accepted, "not rewritten");
    let passed = fates
        .iter()
        .find(|f| f.end == End::Pass && f.ports.contains(8081))
        .unwrap();
    assert_eq!(passed.rewrite, Rewrite::default());
    // Without the filter chain, the DNAT is the fate's rewrite.
    let mut only_nat = rules.clone();
    only_nat.tables[0].chains.pop();
    let fates = evaluate(&only_nat, Hook::Prerouting, &tcp4());
    let mapped = fates.iter().find(|f| f.ports.contains(8080)).unwrap();
    assert_eq!(
        mapped.rewrite.nat,
        Some(NatTo {
            address: NatAddress::To("10.0.0.2".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            ports: Some((80, 80)),
            rule: "ip t nat handle 2".into(),
        })
    );
    assert!(mapped.certain);
}

#[test]
fn the_first_nat_chain_that_maps_wins() {
    let dnat_to = |last: u8| {
        Step::Statement(Statement::Nat(Box::new(Nat {
            kind: NatKind::Dnat,
            family: None,
            address: Some(OperandRange {
                min: Operand::Const([10, 0, 0, last].into()),
                max: None,
            }),
            port: None,
            flags: 0,
        })))
    };
    let rules = ruleset(vec![table(
        TableFamily::Ip,
        vec![
            base_kind(
                "late",
                ChainKind::Nat,
                Hook::Prerouting,
                10,
                Policy::Accept,
                vec![rule(3, vec![dnat_to(9)])],
            ),
            base_kind(
                "early",
                ChainKind::Nat,
                Hook::Prerouting,
                -100,
                Policy::Accept,
                vec![rule(2, vec![dnat_to(2)])],
            ),
        ],
    )]);
    let fates = evaluate(&rules, Hook::Prerouting, &tcp4());
    assert_eq!(fates.len(), 1, "{fates:#?}");
    assert_eq!(
        fates[0].rewrite.nat.as_ref().unwrap().address,
        NatAddress::To("10.0.0.2".parse().unwrap(), "10.0.0.2".parse().unwrap())
    );
}

#[test]
fn something_unread_in_a_nat_chain_may_rewrite_anything() {
    let rules = ruleset(vec![table(
        TableFamily::Ip,
        vec![base_kind(
            "DOCKER",
            ChainKind::Nat,
            Hook::Prerouting,
            -100,
            Policy::Accept,
            vec![rule(
                4,
                vec![l4(6), dport(8080), Step::Opaque("xt target DNAT".into())],
            )],
        )],
    )]);
    let fates = evaluate(&rules, Hook::Prerouting, &tcp4());
    let rewritten = fates
        .iter()
        .find(|f| f.end == End::Pass && f.rewrite.unknown.is_some())
        .unwrap();
    assert_eq!(rewritten.ports, PortSet::single(8080));
    assert!(!rewritten.certain);
    assert_eq!(
        rewritten.rewrite.unknown.as_deref(),
        Some("ip t DOCKER handle 4: xt target DNAT")
    );
    // It may also have dropped: never certain either way.
    assert_eq!(answer(&fates, 8080), Answer::Unknown);
    assert_eq!(answer(&fates, 8081), Answer::Accepted);
}

#[test]
fn a_mark_set_is_seen_by_later_rules_and_reported() {
    let rules = ruleset(vec![table(
        TableFamily::Inet,
        vec![base(
            "pre",
            Hook::Prerouting,
            -150,
            Policy::Accept,
            vec![
                rule(
                    2,
                    vec![
                        l4(6),
                        dport(22),
                        Step::Statement(Statement::Set {
                            field: Field::Meta(MetaKey::Mark),
                            value: Box::new(Operand::Const(5u32.to_ne_bytes().into())),
                        }),
                    ],
                ),
                rule(
                    3,
                    vec![is(meta(MetaKey::Mark, 4), &5u32.to_ne_bytes()), drop_()],
                ),
            ],
        )],
    )]);
    let fates = evaluate(&rules, Hook::Prerouting, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Dropped);
    assert_eq!(answer(&fates, 23), Answer::Accepted);
    // Off the wire the mark is 0; not known, a mark match is either way.
    let mut unknown = tcp4();
    unknown.mark = None;
    assert_eq!(at(&rules, Hook::Prerouting, &unknown, 23), Answer::Unknown);
    // The mark set goes on to the next hooks.
    let mut passes = rules.clone();
    passes.tables[0].chains[0].rules.pop();
    let fates = evaluate(&passes, Hook::Prerouting, &tcp4());
    let marked = fates.iter().find(|f| f.ports.contains(22)).unwrap();
    assert_eq!(marked.rewrite.mark, Some(Mark::Set(5)));
}

#[test]
fn a_host_order_field_ordered_through_byteorder() {
    // `meta mark < 10 drop`: byteorder hton, then cmp lt 0x0000000a.
    let mut mark = meta(MetaKey::Mark, 4);
    mark.transforms.push(Transform::ByteOrder {
        to_network: true,
        size: 4,
    });
    let rules = input(
        Policy::Accept,
        vec![rule(
            2,
            vec![compare(mark, Order::Lt, &[0, 0, 0, 10]), drop_()],
        )],
    );
    let mut class = tcp4();
    assert_eq!(
        at(&rules, Hook::Input, &class, 22),
        Answer::Dropped,
        "mark 0"
    );
    class.mark = Some(10);
    assert_eq!(at(&rules, Hook::Input, &class, 22), Answer::Accepted);
    class.mark = Some(256);
    assert_eq!(at(&rules, Hook::Input, &class, 22), Answer::Accepted);
}

#[test]
fn queue_and_tproxy_are_possibilities() {
    let queue = input(
        Policy::Accept,
        vec![rule(2, vec![verdict(Verdict::Queue { bypass: false })])],
    );
    assert_eq!(at(&queue, Hook::Input, &tcp4(), 22), Answer::Unknown);
    let tproxy = ruleset(vec![table(
        TableFamily::Ip,
        vec![base(
            "pre",
            Hook::Prerouting,
            -150,
            Policy::Accept,
            vec![rule(
                2,
                vec![
                    l4(6),
                    Step::Statement(Statement::Tproxy(Box::new(crate::ruleset::Tproxy {
                        family: None,
                        address: None,
                        port: Some(Operand::Const(8080u16.to_be_bytes().into())),
                    }))),
                    accept(),
                ],
            )],
        )],
    )]);
    let fates = evaluate(&tproxy, Hook::Prerouting, &tcp4());
    let proxied = fates.iter().find(|f| f.rewrite.tproxy.is_some()).unwrap();
    assert_eq!(
        proxied.rewrite.tproxy,
        Some(TproxyTo {
            address: None,
            port: Some(8080)
        })
    );
    assert!(!proxied.certain);
    // The doubt is tproxy's own, as data: the walk's socket lookup settles it.
    assert_eq!(proxied.doubt_kind, Some(DoubtKind::Tproxy));
    // The rule's other way (no transparent socket: on to the next rule) doubts the same.
    assert!(
        fates
            .iter()
            .filter(|f| f.rewrite.tproxy.is_none() && f.ports.contains(22))
            .all(|f| f.doubt_kind == Some(DoubtKind::Tproxy))
    );
    assert_eq!(answer(&fates, 22), Answer::Accepted);
    // Anything else in doubt is not tproxy's.
    let queued = evaluate(&queue, Hook::Input, &tcp4());
    assert!(
        queued
            .iter()
            .any(|f| f.doubt_kind == Some(DoubtKind::Other))
    );
    assert!(
        queued
            .iter()
            .all(|f| f.doubt_kind != Some(DoubtKind::Tproxy))
    );
    assert!(
        queued
            .iter()
            .all(|f| f.doubt.is_some() == f.doubt_kind.is_some())
    );
}

#[test]
fn chains_see_the_class_by_family_bridging_and_device() {
    let drop_all = |family| {
        table(
            family,
            vec![base("c", Hook::Input, 0, Policy::Drop, vec![])],
        )
    };
    let ip = ruleset(vec![drop_all(TableFamily::Ip)]);
    let mut v6 = tcp4();
    v6.family = Family::Ipv6;
    v6.daddr = None;
    assert_eq!(at(&ip, Hook::Input, &tcp4(), 22), Answer::Dropped);
    assert_eq!(at(&ip, Hook::Input, &v6, 22), Answer::Accepted);
    let bridge = ruleset(vec![drop_all(TableFamily::Bridge)]);
    let mut bridged = tcp4();
    assert_eq!(at(&bridge, Hook::Input, &bridged, 22), Answer::Accepted);
    bridged.bridged = true;
    assert_eq!(at(&bridge, Hook::Input, &bridged, 22), Answer::Dropped);
    assert_eq!(at(&ip, Hook::Input, &bridged, 22), Answer::Accepted);
    // netdev ingress, bound to eth0.
    let mut ingress = table(
        TableFamily::Netdev,
        vec![base("in", Hook::Ingress, 0, Policy::Drop, vec![])],
    );
    ingress.chains[0].base.as_mut().unwrap().devices = vec!["eth0".into()];
    let ingress = ruleset(vec![ingress]);
    let on = |name: &'static str| Class {
        iif: Some(Iface {
            name,
            ifindex: 0,
            kind: None,
        }),
        ..tcp4()
    };
    assert_eq!(
        at(&ingress, Hook::Ingress, &on("eth0"), 22),
        Answer::Dropped
    );
    assert_eq!(
        at(&ingress, Hook::Ingress, &on("eth1"), 22),
        Answer::Accepted
    );
    assert_eq!(at(&ingress, Hook::Ingress, &tcp4(), 22), Answer::Unknown);
}

#[test]
fn base_chains_run_in_priority_order_and_any_drop_drops() {
    // An accept in one base chain does not stop the next from dropping.
    let rules = ruleset(vec![
        table(
            TableFamily::Inet,
            vec![base(
                "a",
                Hook::Input,
                10,
                Policy::Accept,
                vec![rule(2, vec![l4(6), dport(22), drop_()])],
            )],
        ),
        table(
            TableFamily::Ip,
            vec![base(
                "b",
                Hook::Input,
                -10,
                Policy::Accept,
                vec![rule(3, vec![accept()])],
            )],
        ),
    ]);
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Dropped);
    assert_eq!(answer(&fates, 23), Answer::Accepted);
    // The reason for a pass is the rule that accepted it, not a policy.
    let passed = fates.iter().find(|f| f.ports.contains(23)).unwrap();
    assert_eq!(&*passed.why, "ip t b handle 3: accept");
}

#[test]
fn too_many_ways_is_doubt_not_a_guess() {
    // 600 rules on what the class does not know, each jumping to a chain of 600 more that
    // drop on it: more ways than the budget. Where it stops, the answer is unknown.
    let on_saddr = |handle, last: u8, then: Step| {
        rule(
            handle,
            vec![
                nfproto(2),
                is(payload(PayloadBase::Network, 12, 4), &[10, 0, 0, last]),
                then,
            ],
        )
    };
    let rules = ruleset(vec![table(
        TableFamily::Inet,
        vec![
            base(
                "input",
                Hook::Input,
                0,
                Policy::Drop,
                (0..600)
                    .map(|h| on_saddr(h, 1, verdict(Verdict::Jump("deep".into()))))
                    .collect(),
            ),
            regular(
                "deep",
                (0..600).map(|h| on_saddr(1000 + h, 2, drop_())).collect(),
            ),
        ],
    )]);
    let fates = evaluate(&rules, Hook::Input, &tcp4());
    covers(&fates, &tcp4());
    assert_eq!(answer(&fates, 22), Answer::Unknown);
    assert!(
        fates.iter().any(|f| f.why.contains("too many ways")),
        "{fates:#?}"
    );
}

#[test]
fn a_chain_before_conntrack_sees_no_connection() {
    // Priority -300 (raw) in prerouting runs before conntrack (-200): `ct state invalid
    // accept` accepts a new connection there, and `ct mark` cannot be loaded.
    let state = load(
        Field::Ct {
            key: CtKey::State,
            direction: None,
        },
        4,
    );
    let mut invalid = state.clone();
    invalid.transforms.push(Transform::Mask {
        mask: 1u32.to_ne_bytes().into(),
        xor: [0; 4].into(),
    });
    let raw = |priority| {
        ruleset(vec![table(
            TableFamily::Inet,
            vec![base(
                "raw",
                Hook::Prerouting,
                priority,
                Policy::Drop,
                vec![rule(2, vec![is_not(invalid.clone(), &[0; 4]), accept()])],
            )],
        )])
    };
    assert_eq!(
        at(&raw(-300), Hook::Prerouting, &tcp4(), 22),
        Answer::Accepted
    );
    // At conntrack's own priority the chain runs before or after it, as the two were
    // registered: either, so neither answer is certain.
    assert_eq!(
        at(&raw(-200), Hook::Prerouting, &tcp4(), 22),
        Answer::Unknown
    );
    assert_eq!(
        at(&raw(-199), Hook::Prerouting, &tcp4(), 22),
        Answer::Dropped
    );
    // In input conntrack has run, whatever the priority.
    let mut input_raw = raw(-300);
    input_raw.tables[0].chains[0].base.as_mut().unwrap().hook = Hook::Input;
    assert_eq!(at(&input_raw, Hook::Input, &tcp4(), 22), Answer::Dropped);
    // `ct mark 0 drop` before conntrack: no mark to load, the rule stops.
    let mark = ruleset(vec![table(
        TableFamily::Inet,
        vec![base(
            "raw",
            Hook::Prerouting,
            -300,
            Policy::Accept,
            vec![rule(
                2,
                vec![
                    is(
                        load(
                            Field::Ct {
                                key: CtKey::Mark,
                                direction: None,
                            },
                            4,
                        ),
                        &[0; 4],
                    ),
                    drop_(),
                ],
            )],
        )],
    )]);
    assert_eq!(at(&mark, Hook::Prerouting, &tcp4(), 22), Answer::Accepted);
}

#[test]
fn a_class_of_a_prefix_passes_rules_for_addresses_outside_it_until_a_rewrite() {
    // nat prerouting (-100): tcp dport 8080 redirect; filter prerouting (0): ip daddr
    // 10.96.0.10 tcp dport { 53, 8080 } drop. The class: any address of 127.0.0.0/8.
    let redirect = Nat {
        kind: NatKind::Redirect,
        family: None,
        address: None,
        port: None,
        flags: 0,
    };
    let to_service = |handle, port| {
        rule(
            handle,
            vec![
                is(payload(PayloadBase::Network, 16, 4), &[10, 96, 0, 10]),
                l4(6),
                dport(port),
                drop_(),
            ],
        )
    };
    let rules = ruleset(vec![table(
        TableFamily::Ip,
        vec![
            base_kind(
                "nat",
                ChainKind::Nat,
                Hook::Prerouting,
                -100,
                Policy::Accept,
                vec![rule(
                    2,
                    vec![
                        l4(6),
                        dport(8080),
                        Step::Statement(Statement::Nat(Box::new(redirect))),
                    ],
                )],
            ),
            base(
                "filter",
                Hook::Prerouting,
                0,
                Policy::Accept,
                vec![to_service(3, 53), to_service(4, 8080)],
            ),
        ],
    )]);
    let mut class = tcp4();
    class.daddr = None;
    class.local = None;
    // Not knowing the address, the service's port may be dropped.
    assert_eq!(at(&rules, Hook::Prerouting, &class, 53), Answer::Unknown);
    class.dnet = Some(("127.0.0.0".parse().unwrap(), 8));
    let fates = evaluate(&rules, Hook::Prerouting, &class);
    covers(&fates, &class);
    assert_eq!(answer(&fates, 53), Answer::Accepted, "{fates:#?}");
    assert!(
        fates
            .iter()
            .filter(|f| f.ports.contains(53))
            .all(|f| f.daddr.is_none() && f.certain),
        "nothing pinned, nothing doubted: {fates:#?}"
    );
    // Redirected, the address is the interface's: the prefix no longer tells.
    assert_eq!(answer(&fates, 8080), Answer::Unknown, "{fates:#?}");
    // A prefix that holds the service's address tells nothing either.
    class.dnet = Some(("10.96.0.0".parse().unwrap(), 12));
    assert_eq!(at(&rules, Hook::Prerouting, &class, 53), Answer::Unknown);
}
