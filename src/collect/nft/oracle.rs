//! The netlink decoder against nft (root): each ruleset is loaded into a private network
//! namespace, read there by `native::read` and by `nft -j list ruleset` through the
//! typed JSON builder, and the two models must be equal, rule by rule, except where nft's
//! JSON says less than the kernel holds ([`elided`]).
//!
//! The namespace is the test thread's own (`unshare(CLONE_NEWNET)`): the nft processes
//! it starts inherit it, and it goes away with the thread, whatever the test's outcome.

use super::{json, native};
use crate::ruleset::{Chain, Elements, Rule, Ruleset, Statement, Step, Table};

/// CI sets `CI=true`: there these tests must run, never skip.
fn can_run(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let nft = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && nft {
        return true;
    }
    let why = if root { "no nft" } else { "needs root" };
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{test}: {why}; CI must run this test");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
    false
}

/// Runs `f` on a thread in a network namespace of its own.
fn in_private_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare only changes this thread's namespaces.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("the namespace thread")
    })
}

/// Runs a command with `input` on its stdin; its stdout, or its stderr as the error.
fn run(program: &str, args: &[&str], input: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How a ruleset is loaded.
#[derive(Clone, Copy)]
enum Loader {
    Nft,
    IptablesRestore,
    Ip6tablesRestore,
}

/// Both readings of the namespace's ruleset, after loading each source in turn.
struct Reading {
    native: Ruleset,
    undecoded: usize,
    nft: Ruleset,
}

fn read_both(sources: &[(Loader, &str)]) -> Result<Reading, String> {
    in_private_netns(|| {
        for (loader, text) in sources {
            let (program, args): (&str, &[&str]) = match loader {
                Loader::Nft => ("nft", &["-f", "-"]),
                Loader::IptablesRestore => ("iptables-nft-restore", &[]),
                Loader::Ip6tablesRestore => ("ip6tables-nft-restore", &[]),
            };
            run(program, args, text).map_err(|e| format!("cannot load: {e}"))?;
        }
        let (native, coverage) = native::read().map_err(|e| e.message().to_string())?;
        let listed = run("nft", &["-j", "list", "ruleset"], "")?;
        let nft = json::parse(&listed, &|name| (name == "lo").then_some(1))?;
        Ok(Reading {
            native,
            undecoded: coverage.undecoded,
            nft,
        })
    })
}

/// Where nft's JSON says less than the kernel holds, and the builder can only say
/// "unknown": such a rule is not compared. Each is documented in docs (the firewall
/// page): iptables-nft's compat expressions, which nft 1.0.6's JSON names without
/// their arguments (`{"xt": {"type": "match", "name": "conntrack"}}`).
fn elided(nft_rule: &Rule) -> Option<&'static str> {
    nft_rule.steps.iter().find_map(|s| match s {
        Step::Opaque(what) | Step::Condition(what) if what.starts_with("xt ") => {
            Some("an iptables-nft expression nft's JSON names without its arguments")
        }
        _ => None,
    })
}

/// The model in one form where two forms mean the same to the kernel:
/// - a set's or map's elements in one order (by key): a lookup does not depend on it;
/// - the tests between two statements in one order: they all must match, and none acts
///   (nft's listing moves a protocol match next to the header field that needs it);
/// - an interface name compared with its NUL and no padding after it: iptables-nft
///   compares `docker0\0`, nft `docker0` padded to 16 bytes, and both match that name only;
/// - a header's bytes compared to one value as one load or several (iptables-nft loads
///   `udp sport 67 dport 68` as four bytes, nft's listing shows two fields): byte by byte;
/// - a NAT's flags without MAP_IPS and PROTO_SPECIFIED, which its operands say;
/// - the text of a condition, an effect or an opaque step, for rendering only;
/// - a mask that keeps every bit and flips none (iptables-nft's `--tcp-flags ALL ALL`);
/// - a header byte written as nft writes it, a read-modify-write of the 16-bit word that
///   holds it (for the checksum): as the bytes it changes;
/// - in an ip table, the IPv4 header's protocol byte (`ip protocol tcp`) as `meta
///   l4proto`: for IPv4 the kernel sets l4proto from that byte (nft_set_pktinfo_ipv4),
///   and nft's listing shows a user's `ip protocol tcp` before `tcp dport` as nothing,
///   which the JSON builder restores as `meta l4proto tcp`;
/// - a header load masked to its leading bytes and compared whole (`ip saddr &
///   0xffff0000 == 0xffff0000`) as the load of those bytes (`ip saddr 255.255.0.0/16`,
///   as nft lists it and the builder loads it): the masked-out bytes compare zero with
///   zero either way.
fn canonical(mut ruleset: Ruleset) -> Ruleset {
    let sort = |elements: &mut Elements| {
        if let Elements::Inline(e) = elements {
            e.sort_by(|a, b| {
                a.key
                    .iter()
                    .map(|s| &s.low)
                    .cmp(b.key.iter().map(|s| &s.low))
            });
        }
    };
    for table in &mut ruleset.tables {
        for set in &mut table.sets {
            set.elements.sort_by(|a, b| {
                a.key
                    .iter()
                    .map(|s| &s.low)
                    .cmp(b.key.iter().map(|s| &s.low))
            });
        }
        table.sets.sort_by(|a, b| a.name.cmp(&b.name));
        for chain in &mut table.chains {
            for rule in &mut chain.rules {
                rule.steps = std::mem::take(&mut rule.steps)
                    .into_iter()
                    .map(leading_bytes)
                    .flat_map(bytewise)
                    .map(written)
                    .collect();
                for step in &mut rule.steps {
                    if let Step::Match(m) = step {
                        for part in &mut m.key.parts {
                            part.transforms.retain(|t| !identity(t));
                        }
                        if table.family == crate::ruleset::TableFamily::Ip {
                            ip_protocol_as_l4proto(&mut m.key);
                        }
                    }
                }
                for run in rule.steps.split_mut(|s| !matches!(s, Step::Match(_))) {
                    run.sort_by_key(|s| format!("{s:?}"));
                }
                for step in &mut rule.steps {
                    match step {
                        Step::Match(m) => match &mut m.test {
                            crate::ruleset::Test::Member { elements, .. } => {
                                if is_name(&m.key) {
                                    names(elements);
                                }
                                sort(elements);
                            }
                            crate::ruleset::Test::Equal { value, .. } if is_name(&m.key) => {
                                cut_name(value)
                            }
                            _ => {}
                        },
                        Step::Statement(Statement::VerdictMap { map, .. }) => sort(map),
                        // A masquerade's port selection flags (iptables-nft's
                        // `--random-fully`, which nft's JSON of the target leaves out)
                        // do not change where a packet goes.
                        Step::Statement(Statement::Nat(nat))
                            if nat.kind == crate::ruleset::NatKind::Masquerade =>
                        {
                            nat.flags = 0
                        }
                        Step::Statement(Statement::Nat(nat)) => nat.flags &= !0x3,
                        // (but the mark of a reject whose type nft's JSON does not show)
                        Step::Statement(Statement::Effect(what)) if what == super::XT_REJECT => {}
                        Step::Condition(what)
                        | Step::Opaque(what)
                        | Step::Statement(Statement::Effect(what)) => what.clear(),
                        _ => {}
                    }
                }
            }
        }
    }
    ruleset
}

/// A header load masked to whole leading bytes (0xff… then 0x00…) and compared equal to a
/// value that is zero past them: the load of those bytes alone.
fn leading_bytes(step: Step) -> Step {
    use crate::ruleset::{Field, Match, Test, Transform};
    let Step::Match(Match { key, test }) = &step else {
        return step;
    };
    let ([load], Test::Equal { negate, value }) = (key.parts.as_slice(), test) else {
        return step;
    };
    let (Field::Payload { .. }, [Transform::Mask { mask, xor }]) =
        (&load.field, load.transforms.as_slice())
    else {
        return step;
    };
    let kept = mask.iter().take_while(|&&m| m == 0xff).count();
    if kept == 0
        || mask[kept..].iter().any(|&m| m != 0)
        || xor.iter().any(|&x| x != 0)
        || value.len() != mask.len()
        || value[kept..].iter().any(|&v| v != 0)
    {
        return step;
    }
    let mut load = load.clone();
    load.len = kept as u8;
    load.transforms.clear();
    Step::Match(Match {
        key: crate::ruleset::Key { parts: vec![load] },
        test: Test::Equal {
            negate: *negate,
            value: value[..kept].into(),
        },
    })
}

/// `ip protocol` (network header byte 9, loaded alone) as `meta l4proto`.
fn ip_protocol_as_l4proto(key: &mut crate::ruleset::Key) {
    use crate::ruleset::{Field, MetaKey, PayloadBase};
    if let [load] = key.parts.as_mut_slice()
        && load.len == 1
        && load.transforms.is_empty()
        && load.field
            == (Field::Payload {
                base: PayloadBase::Network,
                offset: 9,
            })
    {
        load.field = Field::Meta(MetaKey::L4proto);
    }
}

fn identity(t: &crate::ruleset::Transform) -> bool {
    matches!(t, crate::ruleset::Transform::Mask { mask, xor }
        if mask.iter().all(|&b| b == 0xff) && xor.iter().all(|&b| b == 0))
}

/// `payload set` of a word that keeps some whole bytes: the bytes it writes.
fn written(step: Step) -> Step {
    use crate::ruleset::{Field, Operand, Transform};
    let Step::Statement(Statement::Set {
        field: Field::Payload { base, offset },
        value,
    }) = &step
    else {
        return step;
    };
    let Operand::Load(key) = value.as_ref() else {
        return step;
    };
    let [load] = key.parts.as_slice() else {
        return step;
    };
    let (Field::Payload { base: b, offset: o }, [Transform::Mask { mask, xor }]) =
        (&load.field, load.transforms.as_slice())
    else {
        return step;
    };
    if b != base || o != offset || mask.iter().any(|&m| m != 0 && m != 0xff) {
        return step;
    }
    let Some(first) = mask.iter().position(|&m| m == 0) else {
        return step;
    };
    let last = mask.iter().rposition(|&m| m == 0).unwrap_or(first);
    Step::Statement(Statement::Set {
        field: Field::Payload {
            base: *base,
            offset: offset + first as u32,
        },
        value: Box::new(Operand::Const(xor[first..=last].into())),
    })
}

/// An exact test of one untransformed header load, as one test per byte.
fn bytewise(step: Step) -> Vec<Step> {
    use crate::ruleset::{Field, Key, Load, Match, Test};
    let Step::Match(Match { key, test }) = &step else {
        return vec![step];
    };
    let (
        [load],
        Test::Equal {
            negate: false,
            value,
        },
    ) = (key.parts.as_slice(), test)
    else {
        return vec![step];
    };
    let Field::Payload { base, offset } = &load.field else {
        return vec![step];
    };
    if !load.transforms.is_empty() || value.len() < 2 {
        return vec![step];
    }
    value
        .iter()
        .enumerate()
        .map(|(i, byte)| {
            Step::Match(Match {
                key: Key {
                    parts: vec![Load {
                        field: Field::Payload {
                            base: *base,
                            offset: offset + i as u32,
                        },
                        len: 1,
                        transforms: Vec::new(),
                    }],
                },
                test: Test::Equal {
                    negate: false,
                    value: vec![*byte].into(),
                },
            })
        })
        .collect()
}

fn is_name(key: &crate::ruleset::Key) -> bool {
    use crate::ruleset::{Field, MetaKey};
    matches!(
        key.parts.as_slice(),
        [l] if matches!(
            l.field,
            Field::Meta(MetaKey::Iifname | MetaKey::Oifname | MetaKey::Iifkind | MetaKey::Oifkind)
        ) && l.transforms.is_empty()
    )
}

/// An exact name up to its NUL.
fn cut_name(b: &mut crate::ruleset::Bytes) {
    if let Some(nul) = b.iter().position(|&x| x == 0)
        && b[nul..].iter().all(|&x| x == 0)
    {
        *b = b[..=nul].into();
    }
}

/// Each exact name up to its NUL.
fn names(elements: &mut Elements) {
    if let Elements::Inline(elements) = elements {
        for span in elements.iter_mut().flat_map(|e| e.key.iter_mut()) {
            cut_name(&mut span.low);
            cut_name(&mut span.high);
        }
    }
}

/// The differences between the two models, one line each; rules nft's JSON elides are
/// counted apart.
#[derive(Debug, Default)]
struct Comparison {
    rules: usize,
    elided: usize,
    /// Rules the JSON builder leaves (in part) unknown where the native model decodes
    /// them: nothing to compare with, and a note for the builder.
    unknown_to_json: Vec<String>,
    differences: Vec<String>,
    /// Base chains whose devices nft's JSON leaves out (nft 1.0.6 lists a netdev or
    /// ingress chain without its devices): the JSON builder's chain has none, which
    /// the evaluator reads as "any device, maybe".
    devices_not_listed: usize,
    /// (table, handle) of the rules nft's JSON elides.
    elided_handles: Vec<(String, u64)>,
}

/// Whether the JSON builder could not say what a step of this rule does.
fn unknown(rule: &Rule) -> bool {
    use crate::ruleset::{Operand, OperandRange};
    let unknown = |o: &Option<OperandRange>| {
        matches!(
            o,
            Some(OperandRange {
                min: Operand::Unknown(_),
                ..
            })
        )
    };
    rule.steps.iter().any(|s| match s {
        Step::Opaque(_) | Step::Condition(_) => true,
        Step::Statement(Statement::Effect(what)) => what == super::XT_REJECT,
        Step::Statement(Statement::Set { value, .. }) => matches!(**value, Operand::Unknown(_)),
        // An iptables-nft target nft's JSON names without its arguments.
        Step::Statement(Statement::Nat(nat)) => unknown(&nat.address) || unknown(&nat.port),
        _ => false,
    })
}

fn compare(native: Ruleset, nft: Ruleset) -> Comparison {
    let elided_handles: Vec<(String, u64)> = nft
        .tables
        .iter()
        .flat_map(|t| t.chains.iter().map(move |c| (t, c)))
        .flat_map(|(t, c)| c.rules.iter().map(move |r| (t, r)))
        .filter(|(_, r)| elided(r).is_some())
        .map(|(t, r)| (format!("{} {}", t.family.name(), t.name), r.handle))
        .collect();
    let (native, nft) = (canonical(native), canonical(nft));
    let mut c = Comparison {
        elided_handles,
        ..Comparison::default()
    };
    let key = |t: &Table| (t.family, t.name.clone());
    for t in &nft.tables {
        let Some(n) = native.tables.iter().find(|n| key(n) == key(t)) else {
            c.differences.push(format!(
                "table {} {}: not read natively",
                t.family.name(),
                t.name
            ));
            continue;
        };
        let at = format!("{} {}", t.family.name(), t.name);
        // nft 1.0.6 prints a dormant table's flags garbled: the builder says Unclear.
        let garbled = matches!(t.dormant, crate::ruleset::Dormant::Unclear(_));
        if n.dormant != t.dormant && !garbled {
            c.differences.push(format!(
                "{at}: dormant {:?} natively, {:?} by nft",
                n.dormant, t.dormant
            ));
        }
        for set in &t.sets {
            match n.sets.iter().find(|s| s.name == set.name) {
                None => c
                    .differences
                    .push(format!("{at}: set {} not read natively", set.name)),
                Some(same) if same == set => {}
                Some(native) if set.incomplete && !native.incomplete => c
                    .unknown_to_json
                    .push(format!("{at}: set {}: {:?}", set.name, set.elements)),
                Some(native) => c.differences.push(format!(
                    "{at}: set {}\n  native: {native:?}\n  nft:    {set:?}",
                    set.name
                )),
            }
        }
        if n.sets.len() != t.sets.len() {
            c.differences.push(format!(
                "{at}: {} sets natively, {} by nft",
                n.sets.len(),
                t.sets.len()
            ));
        }
        for chain in &t.chains {
            let Some(nc) = n.chains.iter().find(|nc| nc.name == chain.name) else {
                c.differences
                    .push(format!("{at} {}: chain not read natively", chain.name));
                continue;
            };
            compare_chain(&mut c, &at, nc, chain);
        }
        if n.chains.len() != t.chains.len() {
            c.differences.push(format!(
                "{at}: {} chains natively, {} by nft",
                n.chains.len(),
                t.chains.len()
            ));
        }
    }
    if native.tables.len() != nft.tables.len() {
        c.differences.push(format!(
            "{} tables natively, {} by nft",
            native.tables.len(),
            nft.tables.len()
        ));
    }
    c
}

fn compare_chain(c: &mut Comparison, at: &str, native: &Chain, nft: &Chain) {
    let at = format!("{at} {}", nft.name);
    let unlisted = match (&native.base, &nft.base) {
        (Some(n), Some(j)) if j.devices.is_empty() && !n.devices.is_empty() => {
            let mut listed = j.clone();
            listed.devices = n.devices.clone();
            &listed == n
        }
        _ => false,
    };
    if unlisted {
        c.devices_not_listed += 1;
    } else if native.base != nft.base {
        c.differences.push(format!(
            "{at}: hook {:?} natively, {:?} by nft",
            native.base, nft.base
        ));
    }
    if native.rules.len() != nft.rules.len() {
        c.differences.push(format!(
            "{at}: {} rules natively, {} by nft",
            native.rules.len(),
            nft.rules.len()
        ));
        return;
    }
    for (n, r) in native.rules.iter().zip(&nft.rules) {
        c.rules += 1;
        let table = at.rsplit_once(' ').map_or(at.as_str(), |(t, _)| t);
        if c.elided_handles
            .iter()
            .any(|(t, h)| t == table && *h == r.handle)
        {
            c.elided += 1;
            continue;
        }
        if n != r && unknown(r) && !unknown(n) {
            c.unknown_to_json
                .push(format!("{at} handle {}: {:?}", r.handle, r.steps));
            continue;
        }
        if n != r {
            c.differences.push(format!(
                "{at} handle {}:\n  native: {:?}\n  nft:    {:?}",
                r.handle, n.steps, r.steps
            ));
        }
    }
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/nft/netlink/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Loads `sources`, reads both ways, and fails on any difference.
fn check(name: &str, sources: &[(Loader, &str)]) -> Comparison {
    let reading = read_both(sources).unwrap_or_else(|e| panic!("{name}: {e}"));
    let c = compare(reading.native, reading.nft);
    assert!(
        c.differences.is_empty(),
        "{name}: the native model differs from nft's JSON:\n{}",
        c.differences.join("\n")
    );
    assert_eq!(reading.undecoded, 0, "{name}: rules not decoded natively");
    c
}

/// Differences where the JSON builder (`json`), not the kernel's answer, is wrong: each is
/// printed, and is the builder's to fix. (fixture, where, why)
const KNOWN_JSON_GAPS: &[(&str, &str, &str)] = &[(
    "statements",
    "bridge br forward handle 2:",
    "the builder reads `ether type ip` as `meta protocol`; the kernel loads link header bytes 12-13",
)];

#[test]
fn the_native_model_equals_nft_s_on_the_captured_rulesets() {
    if !can_run("the_native_model_equals_nft_s_on_the_captured_rulesets") {
        return;
    }
    for name in ["escapes", "firewalld", "kube-nft", "statements"] {
        let source = fixture(&format!("{name}.nft"));
        let reading =
            read_both(&[(Loader::Nft, &source)]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = compare(reading.native, reading.nft);
        let (known, unknown): (Vec<&String>, Vec<&String>) = c.differences.iter().partition(|d| {
            KNOWN_JSON_GAPS
                .iter()
                .any(|(f, at, _)| *f == name && d.starts_with(at))
        });
        for d in known {
            let why = KNOWN_JSON_GAPS
                .iter()
                .find(|(_, at, _)| d.starts_with(at))
                .unwrap()
                .2;
            println!("KNOWN {name}: {why}");
        }
        assert!(
            unknown.is_empty(),
            "{name}: the native model differs from nft's JSON:\n{}",
            unknown
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(
            reading.undecoded,
            usize::from(name == "statements"),
            "{name}"
        );
    }
}

#[test]
fn iptables_nft_rulesets_are_read_natively_and_agree_where_nft_s_json_can_say() {
    let test = "iptables_nft_rulesets_are_read_natively_and_agree_where_nft_s_json_can_say";
    if !can_run(test) {
        return;
    }
    for name in ["docker", "ufw", "kube-iptables"] {
        let v4 = fixture(&format!("{name}.iptables"));
        let v6 = std::fs::read_to_string(format!(
            "{}/tests/fixtures/nft/netlink/{name}.ip6tables",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_default();
        let c = check(
            name,
            &[
                (Loader::IptablesRestore, &v4),
                (Loader::Ip6tablesRestore, &v6),
            ],
        );
        assert!(c.elided > 0 && c.elided < c.rules, "{name}: {c:?}");
    }
}

#[test]
fn the_small_server_ruleset_reads_the_same_both_ways() {
    if !can_run("the_small_server_ruleset_reads_the_same_both_ways") {
        return;
    }
    let rules = include_str!("../../../bench/smallserver.nft");
    check("bench/smallserver.nft", &[(Loader::Nft, rules)]);
}

/// nftables' own test suite (tests/py rule lines and tests/shell dumps of nft 1.0.6, as
/// bench/nft-corpus.py writes them: PORTAUDIT_NFT_CORPUS=DIR): every ruleset that loads
/// is read both ways and compared. Long (minutes); the figures go to stdout, the
/// differences to DIR/differences.txt, and the rules the JSON builder leaves (in part)
/// unknown to DIR/unknown-to-json.txt. BENCHMARKS.md has the last run's.
#[test]
#[ignore = "needs PORTAUDIT_NFT_CORPUS=DIR from bench/nft-corpus.py, root and minutes"]
fn nftables_corpus_reads_the_same_both_ways() {
    let Ok(dir) = std::env::var("PORTAUDIT_NFT_CORPUS") else {
        return;
    };
    if !can_run("nftables_corpus_reads_the_same_both_ways") {
        return;
    }
    let dir = std::path::PathBuf::from(dir);
    let index = std::fs::read_to_string(dir.join("index.jsonl")).expect("index.jsonl");
    let files: Vec<String> = index
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["file"].as_str().map(str::to_string))
        .collect();
    #[derive(Default, Debug)]
    struct Totals {
        files: usize,
        loaded: usize,
        unreadable: usize,
        rules: usize,
        undecoded: usize,
        elided: usize,
        unknown_to_json: usize,
        devices_not_listed: usize,
        differing_files: usize,
        differences: usize,
    }
    let mut report = String::new();
    let mut unknown_report = String::new();
    let totals = in_private_netns(|| {
        let mut t = Totals::default();
        for file in &files {
            t.files += 1;
            let path = dir.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if run("nft", &["-f", "-"], &text).is_err() {
                continue;
            }
            t.loaded += 1;
            let native = native::read();
            let listed = run("nft", &["-j", "list", "ruleset"], "");
            let (Ok((native, coverage)), Ok(listed)) = (native, listed) else {
                t.unreadable += 1;
                report.push_str(&format!("{file}: not read\n"));
                continue;
            };
            let Ok(nft) = json::parse(&listed, &|name| (name == "lo").then_some(1)) else {
                t.unreadable += 1;
                report.push_str(&format!("{file}: nft's JSON not built\n"));
                continue;
            };
            t.undecoded += coverage.undecoded;
            if coverage.undecoded > 0 {
                let steps = native
                    .tables
                    .iter()
                    .flat_map(|t| &t.chains)
                    .flat_map(|c| &c.rules)
                    .flat_map(|r| &r.steps);
                for step in steps {
                    if let Step::Opaque(why) | Step::Condition(why) = step {
                        report.push_str(&format!("{file}: not decoded: {why}\n"));
                    }
                }
            }
            let c = compare(native, nft);
            t.rules += c.rules;
            t.elided += c.elided;
            t.unknown_to_json += c.unknown_to_json.len();
            for u in &c.unknown_to_json {
                unknown_report.push_str(&format!("{file}: {u}\n"));
            }
            t.devices_not_listed += c.devices_not_listed;
            if !c.differences.is_empty() {
                t.differing_files += 1;
                t.differences += c.differences.len();
                report.push_str(&format!("== {file}\n{}\n", c.differences.join("\n")));
            }
        }
        t
    });
    std::fs::write(dir.join("differences.txt"), &report).unwrap();
    std::fs::write(dir.join("unknown-to-json.txt"), &unknown_report).unwrap();
    println!("{totals:#?}");
}

/// The kernel answers a rule dump asked by family, table and chain with that chain's
/// rules: read chain by chain, on one connection or on two more side by side, a ruleset is
/// the one a single dump gives. Two tables of one name in two families (a name alone
/// would find the first), 80 chains, more rules than one 32 KiB batch holds.
#[test]
fn rules_read_chain_by_chain_are_the_rules_of_one_dump() {
    if !can_run("rules_read_chain_by_chain_are_the_rules_of_one_dump") {
        return;
    }
    let mut text = String::new();
    for (family, base) in [("ip", 1000), ("inet", 20000)] {
        text += &format!("table {family} t {{\n");
        for c in 0..40 {
            text += &format!("  chain c{c} {{\n");
            for r in 0..c % 9 {
                let port = base + c * 10 + r;
                text += &format!("    tcp dport {port} counter accept comment \"c{c} r{r}\"\n");
            }
            text += "  }\n";
        }
        text += "  chain input {\n    type filter hook input priority 0; policy accept;\n";
        text += "    jump c1\n  }\n}\n";
    }
    let (by_chain, side_by_side, at_once) = in_private_netns(|| {
        run("nft", &["-f", "-"], &text).expect("the ruleset loads");
        let mut source =
            crate::collect::netlink::Nftables::open().expect("nfnetlink in the namespace");
        let mut read = |from, lanes: fn() -> usize| {
            native::read_once_by(&mut source, from, lanes)
                .expect("the dumps")
                .expect("not interrupted")
                .finish()
        };
        (read(0, || 0), read(0, || 2), read(usize::MAX, || 0))
    });
    assert_eq!(at_once.tables.len(), 2);
    assert_eq!(
        at_once.rules(),
        2 * (1 + (0..40).map(|c| c % 9).sum::<usize>())
    );
    assert_eq!(by_chain, at_once);
    assert_eq!(side_by_side, at_once);
}
