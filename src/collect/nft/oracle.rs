//! The native reader against nft itself (root): each ruleset is loaded into a private
//! network namespace, listed there by `nft -j list ruleset` and read there by
//! `native::read`, and both must parse to the same `Ruleset` with the same rule texts.
//! The rulesets we leave to nft on purpose must be left to nft.

#[allow(dead_code)]
#[path = "../../../tests/netns.rs"]
mod netns;
#[macro_use]
#[path = "../../../tests/macros.rs"]
mod macros;

use netns::NetNs;

/// What the reader must do with a ruleset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Native,
    /// Left to nft (iptables-nft rules, maps to data, concatenations, ...).
    Nft,
}

/// The model both readers' JSON builds: two rulesets that are equal get the same answers
/// from every hook.
fn fingerprint(json: &str) -> crate::ruleset::Ruleset {
    super::parse_saved(json).unwrap_or_else(|e| panic!("{e}\n{json}"))
}

/// `json` (an `nft -j list ruleset` capture) with its items in an order `nft -j -f`
/// can load: a listing puts maps before the chains their `goto`s name, and nft then
/// refuses the map ("No such file or directory").
fn in_load_order(json: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(json).expect("a fixture is JSON");
    let items = doc["nftables"]
        .as_array_mut()
        .expect("a fixture has an nftables array");
    let rank = |item: &serde_json::Value| match item.as_object().and_then(|o| o.keys().next()) {
        Some(kind) if kind == "metainfo" => 0,
        Some(kind) if kind == "table" => 1,
        Some(kind) if kind == "chain" => 2,
        Some(kind) if kind == "set" || kind == "map" => 3,
        Some(kind) if kind == "rule" => 5,
        _ => 4,
    };
    // Stable: the rules keep their order within each chain.
    items.sort_by_key(rank);
    doc.to_string()
}

/// Load `rules` (`nft -f`, or `nft -j -f` for JSON) into a fresh namespace, and compare.
/// A ruleset nft cannot load fails the test: a skipped ruleset proves nothing.
fn check(name: &str, rules: &str, json: bool, expect: Expect) {
    let ns = NetNs::new();
    let loaded = if json {
        ns.run_nft(&["-j", "-f", "-"], &in_load_order(rules))
    } else {
        ns.run_nft(&["-f", "-"], rules)
    };
    if let Err(why) = loaded {
        panic!("ruleset {name}: nft cannot load it: {why}");
    }
    let _ = compare(name, &ns, expect);
}

/// `nft -j list ruleset` in `ns` against the native reader there; why the reader left
/// the ruleset to nft, when it did.
fn compare(name: &str, ns: &NetNs, expect: Expect) -> Option<String> {
    let listed = ns
        .run_nft(&["-j", "list", "ruleset"], "")
        .expect("nft lists the ruleset");
    let native = std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            super::native::read()
        })
        .join()
        .unwrap()
    });
    match (expect, native) {
        (Expect::Native, Ok(native)) => {
            let (want, got) = (fingerprint(&listed), fingerprint(&native));
            assert!(
                want == got,
                "ruleset {name}: the native reader differs from nft\n--- nft:\n{want:#?}\n--- native:\n{got:#?}\n--- nft json:\n{listed}\n--- native json:\n{native}"
            );
        }
        (Expect::Native, Err(why)) => {
            panic!("ruleset {name}: the native reader left it to nft: {why}\n{listed}")
        }
        (Expect::Nft, Ok(native)) => {
            panic!("ruleset {name}: expected to be left to nft, read natively:\n{native}")
        }
        (Expect::Nft, Err(why)) => return Some(why),
    }
    None
}

patest!(
    the_captured_fixtures_read_as_nft_lists_them,
    [Root, Nft],
    |_| {
        let fixtures = [
            (
                "empty",
                include_str!("../../../tests/fixtures/nft/empty.json"),
                Expect::Native,
            ),
            (
                "inet-basic",
                include_str!("../../../tests/fixtures/nft/inet-basic.json"),
                Expect::Native,
            ),
            (
                "iptables-basic",
                include_str!("../../../tests/fixtures/nft/iptables-basic.json"),
                Expect::Native,
            ),
            (
                "saddr",
                include_str!("../../../tests/fixtures/nft/saddr.json"),
                Expect::Native,
            ),
            (
                "iifname",
                include_str!("../../../tests/fixtures/nft/iifname.json"),
                Expect::Native,
            ),
            (
                "daddr",
                include_str!("../../../tests/fixtures/nft/daddr.json"),
                Expect::Native,
            ),
            (
                "multi",
                include_str!("../../../tests/fixtures/nft/multi.json"),
                Expect::Native,
            ),
            (
                "kube-nft",
                include_str!("../../../tests/fixtures/nft/kube-nft.json"),
                Expect::Nft,
            ),
            (
                "vmaps",
                include_str!("../../../tests/fixtures/nft/vmaps.json"),
                Expect::Native,
            ),
            // docker.json: nft -j -f cannot load xt expressions; tested live by an_iptables_nft_ruleset_is_left_to_nft.
            (
                "nft-dnat",
                include_str!("../../../tests/fixtures/nft/nft-dnat.json"),
                Expect::Nft,
            ),
        ];
        for (name, json, expect) in fixtures {
            check(name, json, true, expect);
        }
    }
);

patest!(
    the_small_server_ruleset_is_read_natively,
    [Root, Nft],
    |_| {
        let rules = include_str!("../../../bench/smallserver.nft");
        check("bench/smallserver.nft", rules, false, Expect::Native);
    }
);

/// One construct (or a few) per ruleset, so a difference names what differs.
const HANDWRITTEN: &[(&str, &str, Expect)] = &[
    (
        "ip family: addresses, prefixes, negations, protocol",
        "table ip t { chain c { type filter hook input priority 0; policy drop;
            ip saddr 192.0.2.1 accept
            ip saddr != 10.0.0.0/8 ip daddr 10.1.2.3 drop
            ip saddr 10.20.0.0/14 accept
            ip daddr 0.0.0.0/0 drop
            ip protocol udp accept
            ip protocol != tcp drop
            tcp sport 1024-65535 tcp dport 22 accept
            ip protocol tcp tcp dport 23 accept
            ip protocol tcp counter tcp dport 24 accept
            meta l4proto tcp counter ip saddr 10.0.0.1 tcp dport 25 accept
            udp dport != 53 counter drop
            tcp dport < 1024 accept
            tcp dport >= 8000 drop
            meta l4proto tcp accept
        }\n}",
        Expect::Native,
    ),
    (
        "ip6 family",
        "table ip6 t { chain c { type filter hook input priority -5; policy accept;
            ip6 saddr 2001:db8::1 accept
            ip6 saddr fe80::/10 tcp dport 22 accept
            ip6 daddr != 2001:db8:1::/48 drop
            ip6 saddr 2001:db8::/61 drop
            ip6 nexthdr udp udp dport 546 accept
            ip6 nexthdr tcp tcp dport 547 accept
            ip6 daddr ::ffff:192.0.2.1 drop
        }\n}",
        Expect::Native,
    ),
    (
        "inet: both families, meta keys, interfaces",
        "table inet t {
          chain c { type filter hook input priority 10; policy drop;
            meta nfproto ipv4 accept
            meta nfproto ipv6 tcp dport 80 accept
            iif lo accept
            iif != lo drop
            iifname \"eth*\" tcp dport 443 accept
            iifname { \"eth0\", \"wg0\" } accept
            oifname \"br-1\" drop
            meta mark 0x2a accept
            meta l4proto { tcp, udp } accept
            meta l4proto != udp drop
            ip protocol tcp tcp dport 22 accept
            ip6 nexthdr tcp tcp dport 23 accept
            meta l4proto tcp ip saddr 192.0.2.9 tcp dport 24 accept
            meta nfproto ipv4 meta l4proto udp udp sport 67 accept
            meta nfproto ipv4 counter ip saddr 10.0.0.1 accept
            meta l4proto tcp ip saddr 10.0.0.2 counter tcp dport 26 accept
            ip daddr 198.51.100.0/24 drop
            ip6 daddr 2001:db8::/32 drop
          }
          chain f { type filter hook forward priority 0; policy accept;
            oif lo drop
            ct state new,untracked drop
          }
        }",
        Expect::Native,
    ),
    (
        "ct state and verdicts",
        "table inet t {
          chain c { type filter hook input priority 0; policy accept;
            ct state established,related accept
            ct state invalid drop
            ct state new tcp dport 22 jump ssh
            ct state established,related,new continue
            ct state != established drop
            ct state == new accept
            ct status dnat accept
            ct status dnat,snat accept
            ct status != dnat drop
            meta l4proto { tcp, udp } th dport 53 accept
            th dport 54 accept
            meta l4proto udp th sport 55 accept
            tcp dport 25 goto mail
            tcp dport 26 return
          }
          chain ssh { ip saddr 10.0.0.0/8 accept; drop; }
          chain mail { reject with tcp reset; }
        }",
        Expect::Native,
    ),
    (
        "named and anonymous sets, intervals",
        "table inet t {
          set ports { type inet_service; elements = { 9100, 22, 8080, 443, 80, 3000, 5432 }\n}
          set nets { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.0.2.1, 198.51.100.10-198.51.100.20, 203.0.113.128/25, 240.0.0.0-255.255.255.255 }\n}
          set nets6 { type ipv6_addr; flags interval; elements = { 2001:db8::/32, fe80::/10, ::1 }\n}
          set hosts { type ipv4_addr; elements = { 10.9.9.9, 10.0.0.1, 192.0.2.200, 172.16.0.1 }\n}
          set ranges { type inet_service; flags interval; elements = { 1000-2000, 3000, 4000-4001, 60000-65535 }\n}
          set empty { type ipv4_addr; }
          set protos { type inet_proto; elements = { tcp, udp, icmp }\n}
          set marks { type mark; elements = { 1, 256, 2 }\n}
          set names { type ifname; elements = { \"lo\", \"eth0\" }\n}
          chain c { type filter hook input priority 0; policy drop;
            tcp dport @ports accept
            ip saddr @nets accept
            ip saddr != @hosts drop
            ip6 saddr @nets6 accept
            udp dport @ranges accept
            ip daddr @empty drop
            meta l4proto @protos accept
            meta mark @marks accept
            iifname @names accept
            tcp dport { 1-1023, 8000-8100, 9000 } drop
            ip saddr { 10.0.0.0/16, 10.2.0.0/16, 192.168.1.1 } accept
            ip daddr != { 127.0.0.1, 10.0.0.1 } drop
            tcp dport != { 22, 80 } drop
          }
        }",
        Expect::Native,
    ),
    (
        "verdict maps",
        "table inet t {
          map ports { type inet_service : verdict; elements = { 22 : accept, 23 : drop, 80 : jump web }\n}
          chain web { accept; }
          chain c { type filter hook input priority 0; policy drop;
            ct state vmap { established : accept, related : accept, invalid : drop, new : continue }
            tcp dport vmap @ports
            udp dport vmap { 53 : accept, 1000-2000 : drop }
            ip saddr vmap { 10.0.0.0/8 : accept, 192.0.2.0/24 : goto web }
          }
        }",
        Expect::Native,
    ),
    (
        "nat: dnat, snat, masquerade, redirect, fib",
        "table ip nat {
          chain pre { type nat hook prerouting priority dstnat; policy accept;
            fib daddr type local jump DOCKER
            tcp dport 8080 dnat to 172.17.0.2:80
            udp dport 5353 dnat to 172.17.0.3
            iifname != \"docker0\" meta l4proto tcp tcp dport 15432 counter dnat to 172.17.0.3:5432
            tcp dport 9090 redirect
          }
          chain DOCKER { iifname \"docker0\" return; }
          chain post { type nat hook postrouting priority srcnat; policy accept;
            ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade
            ip saddr 10.8.0.0/24 snat to 192.0.2.1
          }
        }
        table inet nat6 {
          chain pre { type nat hook prerouting priority -100; policy accept;
            tcp dport 8443 dnat ip to 10.88.0.2:443
            udp dport 5000 dnat ip6 to [fd00::5]:53
            ip6 daddr fd00::1 tcp dport 80 dnat ip6 to fd00::6
          }
        }",
        Expect::Native,
    ),
    (
        "statements: log, limit, reject, notrack, comments",
        "table inet t {
          chain raw { type filter hook prerouting priority raw; policy accept;
            udp dport 53 notrack
          }
          chain c { type filter hook input priority 0; policy accept;
            tcp dport 22 log prefix \"ssh: \" accept
            tcp dport 23 log drop
            tcp dport 24 limit rate 5/minute accept
            tcp dport 25 limit rate 100/second burst 10 packets accept
            tcp dport 26 reject
            tcp dport 27 reject with icmpx type admin-prohibited
            tcp dport 28 accept comment \"a comment\"
            counter
          }
        }
        table ip t4 {
          chain c { type filter hook input priority 0; policy accept;
            tcp dport 26 reject
            tcp dport 27 reject with icmp type host-unreachable
            tcp dport 28 log prefix \"t4 \" level warn
          }
        }
        table ip6 t6 {
          chain c { type filter hook input priority 0; policy accept;
            tcp dport 26 reject
            tcp dport 27 reject with icmpv6 type admin-prohibited
          }
        }",
        Expect::Native,
    ),
    (
        "icmp and icmpv6 types",
        "table inet t {
          set pings { type icmp_type; elements = { echo-request, echo-reply } }
          set nd { type icmpv6_type; elements = { nd-neighbor-solicit, nd-router-advert, echo-request } }
          chain c { type filter hook input priority 0; policy drop;
            icmp type echo-request accept
            icmp type != echo-reply drop
            icmp type { destination-unreachable, time-exceeded, parameter-problem, router-advertisement, router-solicitation, source-quench, redirect, timestamp-request, timestamp-reply, info-request, info-reply, address-mask-request, address-mask-reply } accept
            icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-reply, mld-listener-query, mld-listener-report, mld-listener-done, nd-router-solicit, nd-neighbor-advert, nd-redirect, router-renumbering, ind-neighbor-solicit, ind-neighbor-advert } accept
            icmp type @pings accept
            icmpv6 type @nd accept
            meta l4proto ipv6-icmp icmpv6 type echo-request accept
          }
        }
        table ip t4 { chain c { type filter hook input priority 0; icmp type echo-request accept; }\n}
        table ip6 t6 { chain c { type filter hook input priority 0; icmpv6 type echo-request accept; }\n}",
        Expect::Native,
    ),
    // Left to nft: what the reader does not print itself.
    (
        "an icmp code",
        "table inet t { chain c { type filter hook input priority 0; icmp code 3 accept; }\n}",
        Expect::Nft,
    ),
    (
        "a data map",
        "table ip t { chain c { type nat hook prerouting priority -100; dnat to tcp dport map { 80 : 10.0.0.1 }; }\n}",
        Expect::Nft,
    ),
    (
        "a concatenation",
        "table inet t { set s { type ipv4_addr . inet_service; elements = { 10.0.0.1 . 22 }\n}
          chain c { type filter hook input priority 0; ip saddr . tcp dport @s accept; }\n}",
        Expect::Nft,
    ),
    (
        "a netdev family table",
        "table netdev t { chain c { type filter hook ingress device lo priority 0; }\n}",
        Expect::Nft,
    ),
    (
        "a named counter",
        "table inet t { counter c1 { }\n chain c { type filter hook input priority 0; }\n}",
        Expect::Nft,
    ),
    (
        "a log with flags",
        "table inet t { chain c { type filter hook input priority 0; log flags all; }\n}",
        Expect::Nft,
    ),
    (
        "a redirect to a port",
        "table ip t { chain c { type nat hook prerouting priority -100; tcp dport 80 redirect to :8080; }\n}",
        Expect::Nft,
    ),
    (
        "a ct mark",
        "table inet t { chain c { type filter hook input priority 0; ct mark 1 accept; }\n}",
        Expect::Nft,
    ),
];

patest!(
    handwritten_rulesets_read_as_nft_lists_them,
    [Root, Nft],
    |_| {
        for (name, rules, expect) in HANDWRITTEN {
            check(name, rules, false, *expect);
        }
    }
);

// Docker's ruleset as iptables-nft writes it (docker.json's shape, which `nft -j -f`
// cannot load): its xt expressions are left to nft. tests/iptables.rs runs the binary
// on the same ruleset.
patest!(
    an_iptables_nft_ruleset_is_left_to_nft,
    [Root, Nft, IptablesNft],
    |_| {
        let ns = NetNs::new();
        for args in netns::DOCKER_IPTABLES {
            ns.iptables_nft(args);
        }
        let listed = ns
            .run_nft(&["-j", "list", "ruleset"], "")
            .expect("nft lists the ruleset");
        let doc: serde_json::Value = serde_json::from_str(&listed).unwrap();
        let mut xt: Vec<(String, String)> = doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|item| item["rule"]["expr"].as_array())
            .flatten()
            .filter_map(|expr| {
                let xt = expr.get("xt")?;
                Some((xt["type"].as_str()?.into(), xt["name"].as_str()?.into()))
            })
            .collect();
        xt.sort();
        let want = [
            ("match", "addrtype"),
            ("match", "conntrack"),
            ("target", "DNAT"),
        ];
        assert_eq!(
            xt,
            want.map(|(t, n)| (t.to_string(), n.to_string())),
            "{listed}"
        );
        // For the xt expressions (netlink's `match` and `target`), not a failure to read.
        let why = compare("iptables-nft (Docker's shape)", &ns, Expect::Nft).unwrap();
        assert!(
            why.ends_with("expression match") || why.ends_with("expression target"),
            "{why}"
        );
    }
);
