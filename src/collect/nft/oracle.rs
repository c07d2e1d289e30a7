//! The native reader against nft itself (root): each ruleset is loaded into a private
//! network namespace, listed there by `nft -j list ruleset` and read there by
//! `native::read`, and both must parse to the same `Ruleset` with the same rule texts.
//! The rulesets we leave to nft on purpose must be left to nft.

use std::io::Write;
use std::process::Stdio;

#[allow(dead_code)]
#[path = "../../../tests/netns.rs"]
mod netns;

use netns::NetNs;

/// What the reader must do with a ruleset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Native,
    /// Left to nft (iptables-nft rules, maps to data, concatenations, ...).
    Nft,
}

/// `nft ARGS` in `ns`, with `input` on stdin; its stdout, or its stderr as the error.
fn nft(ns: &NetNs, args: &[&str], input: &str) -> Result<String, String> {
    let nft = netns::nft().expect("require_nft checked nft");
    let mut child = ns
        .exec(nft, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run nft");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn fingerprint(json: &str) -> String {
    crate::reach::parse_nft_json(json)
        .unwrap_or_else(|e| panic!("{e}\n{json}"))
        .fingerprint()
}

/// Load `rules` (`nft -f`, or `nft -j -f` for JSON) into a fresh namespace, and compare.
/// Returns false (and says why) when this kernel or nft cannot load them.
fn check(name: &str, rules: &str, json: bool, expect: Expect) -> bool {
    let ns = NetNs::new();
    let load: &[&str] = if json {
        &["-j", "-f", "-"]
    } else {
        &["-f", "-"]
    };
    if let Err(why) = nft(&ns, load, rules) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED ruleset {name}: nft cannot load it here: {why}"
        );
        return false;
    }
    let listed = nft(&ns, &["-j", "list", "ruleset"], "").expect("nft lists the ruleset");
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
                "ruleset {name}: the native reader differs from nft\n--- nft:\n{want}\n--- native:\n{got}\n--- nft json:\n{listed}\n--- native json:\n{native}"
            );
        }
        (Expect::Native, Err(why)) => {
            panic!("ruleset {name}: the native reader left it to nft: {why}\n{listed}")
        }
        (Expect::Nft, Ok(native)) => {
            panic!("ruleset {name}: expected to be left to nft, read natively:\n{native}")
        }
        (Expect::Nft, Err(_)) => {}
    }
    true
}

fn can_run(test: &str) -> bool {
    netns::require_root(test) && netns::require_nft(test)
}

#[test]
fn the_captured_fixtures_read_as_nft_lists_them() {
    if !can_run("the_captured_fixtures_read_as_nft_lists_them") {
        return;
    }
    let fixtures = [
        (
            "empty",
            include_str!("../../../tests/fixtures/nft/empty.json"),
            Expect::Native,
        ),
        (
            "inet-basic",
            include_str!("../../../tests/fixtures/nft/inet-basic.json"),
            Expect::Nft,
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
        (
            "docker",
            include_str!("../../../tests/fixtures/nft/docker.json"),
            Expect::Nft,
        ),
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

#[test]
fn the_small_server_ruleset_is_read_natively() {
    if !can_run("the_small_server_ruleset_is_read_natively") {
        return;
    }
    let rules = include_str!("../../../bench/smallserver.nft");
    assert!(check("bench/smallserver.nft", rules, false, Expect::Native));
}
