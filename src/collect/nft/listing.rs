//! What nft's JSON leaves out of iptables-nft rules, from its text listing (`nft -a list
//! ruleset`): JSON names an xt `DNAT` target without its address and an xt `conntrack`
//! match without its states, while the text shows them translated (`dnat to
//! 172.17.0.2:80`, `ct state related,established`). Only what can be matched up for
//! certain is filled in; the rest stays unknown.
//!
//! Until the native reader decodes iptables-nft's compat expressions itself.

use std::net::IpAddr;

use crate::ruleset::{
    CtKey, Field, Key, Load, Match, Nat, NatKind, Operand, OperandRange, Rule, Ruleset, Statement,
    Step, Test, Transform,
};

const STATE_MATCHES: [&str; 2] = ["xt match conntrack", "xt match state"];

/// An iptables-nft DNAT as nft's JSON gives it: a DNAT to somewhere not shown.
fn is_xt_dnat(step: &Step) -> bool {
    let Step::Statement(Statement::Nat(nat)) = step else {
        return false;
    };
    nat.kind == NatKind::Dnat
        && matches!(&nat.address, Some(OperandRange { min: Operand::Unknown(what), .. }) if what == super::XT_DNAT)
}

/// Whether the ruleset has iptables-nft expressions the text listing could fill in.
pub fn wanted(ruleset: &Ruleset) -> bool {
    ruleset
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.steps)
        .any(|s| match s {
            Step::Condition(what) => STATE_MATCHES.contains(&&**what),
            other => is_xt_dnat(other),
        })
}

/// Fill in, from `text` (`nft -a list ruleset`), the DNAT targets and conntrack matches
/// of the rules it shows with their handles.
pub fn read_xt(ruleset: &mut Ruleset, text: &str) {
    let mut table: Option<(String, String)> = None;
    let mut chain: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        // A block opens (`chain DOCKER { # handle 1`); rules never end that way.
        if line.ends_with('{') || line.contains("{ # handle") {
            match words.as_slice() {
                ["table", family, name, ..] => {
                    table = Some(((*family).into(), name.trim_matches('"').into()));
                    chain = None;
                }
                ["chain", name, ..] => chain = Some(name.trim_matches('"').into()),
                // A set, map, flowtable or stateful object: its lines are no rules.
                _ => chain = None,
            }
            continue;
        }
        let (Some((family, table_name)), Some(chain_name)) = (&table, &chain) else {
            continue;
        };
        let Some((body, handle)) = line.rsplit_once("# handle ") else {
            continue;
        };
        let Ok(handle) = handle.trim().parse::<u64>() else {
            continue;
        };
        let rule = ruleset
            .tables
            .iter_mut()
            .filter(|t| t.family.name() == family && t.name == *table_name)
            .flat_map(|t| t.chains.iter_mut())
            .filter(|c| c.name == *chain_name)
            .flat_map(|c| c.rules.iter_mut())
            .find(|r| r.handle == handle);
        let Some(rule) = rule else { continue };
        if let Some(nat) = text_dnat(body)
            && let Some(slot) = rule.steps.iter_mut().find(|s| is_xt_dnat(s))
        {
            *slot = Step::Statement(Statement::Nat(Box::new(nat)));
        }
        read_ct_state(rule, body);
    }
}

/// iptables' `-m conntrack --ctstate …` or `-m state --state …` as the `ct state` match
/// the listing translates it to — only when that is certain: one such match in the rule,
/// no `ct` match of nft's own, and nothing else about conntrack on the line (`--ctproto`,
/// `--ctorigdst`, … add `ct` words of their own), so the one `ct state LIST` phrase can
/// only be it.
fn read_ct_state(rule: &mut Rule, line: &str) {
    let is_state_match =
        |s: &Step| matches!(s, Step::Condition(w) if STATE_MATCHES.contains(&&**w));
    let natively_ct = |s: &Step| matches!(s, Step::Match(m) if m.key.parts.iter().any(|l| matches!(l.field, Field::Ct { .. })));
    if rule.steps.iter().filter(|s| is_state_match(s)).count() != 1
        || rule.steps.iter().any(natively_ct)
    {
        return;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.iter().filter(|w| **w == "ct").count() != 1 {
        return;
    }
    let Some(at) = words.iter().position(|w| *w == "ct") else {
        return;
    };
    let (none_of, list) = match &words[at + 1..] {
        ["state", "!" | "!=", list, ..] => (true, *list),
        ["state", list, ..] => (false, *list),
        _ => return,
    };
    const STATES: [(&str, u32); 5] = [
        ("invalid", 1),
        ("established", 2),
        ("related", 4),
        ("new", 8),
        ("untracked", 64),
    ];
    let mut mask = 0u32;
    for state in list.split(',') {
        match STATES.iter().find(|(n, _)| *n == state) {
            Some((_, bit)) => mask |= bit,
            None => return,
        }
    }
    let Some(slot) = rule.steps.iter_mut().find(|s| is_state_match(s)) else {
        return;
    };
    // The states masked: some of them (`!= 0`), or none of them (`== 0`).
    *slot = Step::Match(Match {
        key: Key {
            parts: vec![Load {
                field: Field::Ct {
                    key: CtKey::State,
                    direction: None,
                },
                len: 4,
                transforms: vec![Transform::Mask {
                    mask: mask.to_ne_bytes().into(),
                    xor: [0u8; 4].into(),
                }],
            }],
        },
        test: Test::Equal {
            negate: !none_of,
            value: [0u8; 4].into(),
        },
    });
}

/// `... dnat to 172.17.0.2:80 ...` (or `[fd00::5]:80`, or no port) as a NAT statement;
/// `None` unless it is one literal address and at most one literal port.
fn text_dnat(line: &str) -> Option<Nat> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "dnat")?;
    let target = match &words[at + 1..] {
        ["to", target, ..] => *target,
        [family, "to", target, ..] if *family == "ip" || *family == "ip6" => *target,
        _ => return None,
    };
    let (address, port) = if let Some(v6) = target.strip_prefix('[') {
        let (address, after) = v6.split_once(']')?;
        (address, after.strip_prefix(':'))
    } else if target.matches(':').count() == 1 {
        let (address, port) = target.split_once(':')?;
        (address, Some(port))
    } else {
        (target, None)
    };
    let address: IpAddr = address.parse().ok()?;
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let bytes: Box<[u8]> = match address {
        IpAddr::V4(a) => a.octets().into(),
        IpAddr::V6(a) => a.octets().into(),
    };
    Some(Nat {
        kind: NatKind::Dnat,
        family: None,
        address: Some(OperandRange {
            min: Operand::Const(bytes),
            max: None,
        }),
        port: port.map(|p| OperandRange {
            min: Operand::Const(p.to_be_bytes().into()),
            max: None,
        }),
        flags: if port.is_some() { 0x2 } else { 0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ct state match the rule holds: its mask and whether it asks for some of the
    /// states (`!= 0`); `None` when the xt match stayed.
    fn read(exprs: &[&str], line: &str) -> Option<(u32, bool)> {
        let json = format!(
            r#"{{"nftables": [
            {{"chain": {{"family": "ip", "table": "filter", "name": "INPUT", "handle": 1,
              "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}}},
            {{"rule": {{"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2,
              "expr": [{}, {{"accept": null}}]}}}}]}}"#,
            exprs.join(", ")
        );
        let mut ruleset = super::super::json::parse(&json, &|_| None).unwrap();
        let listing = format!(
            "table ip filter {{ # handle 1\n\tchain INPUT {{ # handle 1\n\t\t{line} \
             counter packets 0 bytes 0 accept # handle 2\n\t}}\n}}\n"
        );
        assert!(
            wanted(&ruleset)
                || !exprs
                    .iter()
                    .any(|e| e.contains("conntrack") || e.contains("DNAT"))
        );
        read_xt(&mut ruleset, &listing);
        let steps = &ruleset.tables[0].chains[0].rules[0].steps;
        if steps
            .iter()
            .any(|s| matches!(s, Step::Condition(w) if &**w == "xt match conntrack"))
        {
            return None;
        }
        steps.iter().find_map(|s| match s {
            Step::Match(Match {
                key,
                test: Test::Equal { negate, .. },
            }) => match key.parts[0].transforms.as_slice() {
                [Transform::Mask { mask, .. }] => {
                    Some((u32::from_ne_bytes((**mask).try_into().ok()?), *negate))
                }
                _ => None,
            },
            _ => None,
        })
    }

    const CONNTRACK: &str = r#"{"xt": {"type": "match", "name": "conntrack"}}"#;

    /// iptables' conntrack/state matches are read from nft's translation only when the
    /// line's one `ct` phrase can only be theirs.
    #[test]
    fn xt_ct_state_is_read_from_the_listing_only_when_certain() {
        assert_eq!(
            read(&[CONNTRACK], "ct state related,established"),
            Some((6, true))
        );
        assert_eq!(
            read(
                &[r#"{"xt": {"type": "match", "name": "state"}}"#],
                "ct state ! new"
            ),
            Some((8, false)),
            "none of them: masked, == 0"
        );
        let native_ct =
            r#"{"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}"#;
        // Another conntrack option, a state nft may add later, two matches, nft's own ct:
        // the xt match stays as it was, and the judge says "maybe".
        for (exprs, line) in [
            (vec![CONNTRACK], "ct original protocol 6 ct state new"),
            (vec![CONNTRACK], "ct state new,someday"),
            (
                vec![CONNTRACK, r#"{"xt": {"type": "match", "name": "state"}}"#],
                "ct state new",
            ),
            (vec![CONNTRACK, native_ct], "ct state new ct status dnat"),
        ] {
            assert_eq!(read(&exprs, line), None, "{line}");
        }
    }

    #[test]
    fn text_dnat_reads_literal_targets_only() {
        let dnat = |l| text_dnat(l).map(|n| (n.address, n.port));
        let c = |b: &[u8]| {
            Some(OperandRange {
                min: Operand::Const(b.into()),
                max: None,
            })
        };
        assert_eq!(
            dnat("tcp dport 8080 counter dnat to 172.17.0.2:80"),
            Some((c(&[172, 17, 0, 2]), c(&[0, 80])))
        );
        let v6: std::net::Ipv6Addr = "fd00::5".parse().unwrap();
        assert_eq!(
            dnat("dnat ip6 to [fd00::5]:53"),
            Some((c(&v6.octets()), c(&[0, 53])))
        );
        assert_eq!(dnat("dnat to fd00::5"), Some((c(&v6.octets()), None)));
        assert_eq!(dnat("dnat to 10.0.0.1-10.0.0.9"), None);
        assert_eq!(dnat("dnat to 10.0.0.1:80-90"), None);
        assert_eq!(dnat("masquerade"), None);
    }
}
