//! The firewall column and DNAT publishes from a saved ruleset (`--ruleset`, captured by
//! tests/fixtures/nft/capture.sh) over a captured proc tree: no root needed.

use crate::util::{self, Report};

fn audit(ruleset: &str, extra: &[&str]) -> (i32, Report) {
    let proc_root = util::fixture("mixed").join("proc");
    let ruleset = util::fixture("nft").join(ruleset);
    let mut args = vec![
        "--json".to_string(),
        "--proc-root".to_string(),
        proc_root.display().to_string(),
        "--ruleset".to_string(),
        ruleset.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let run = util::run(util::portaudit().args(&args));
    (run.code, run.report())
}

#[test]
fn a_saved_ruleset_annotates_what_the_input_hook_drops_and_accepts() {
    // inet filter input, policy drop; established, lo and 22/tcp accepted.
    let (code, report) = audit("inet-basic.json", &[]);
    assert_eq!(code, 1, "{report:#?}");
    let ssh = report.one("tcp", "0.0.0.0", 22);
    assert_eq!(ssh.firewall.as_deref(), Some("accepted"), "{ssh:#?}");
    assert!(
        ssh.firewall_why.as_deref().unwrap().contains("22"),
        "{ssh:#?}"
    );
    for (protocol, address, port) in [("tcp", "192.0.2.10", 9000), ("udp", "0.0.0.0", 11211)] {
        let s = report.one(protocol, address, port);
        assert_eq!(s.firewall.as_deref(), Some("dropped"), "{s:#?}");
        assert_eq!(s.verdict, "exposed", "informational only: {s:#?}");
        assert!(s.fails);
    }
    // Not reachable from outside: nothing to ask the firewall.
    let postgres = report.one("tcp", "127.0.0.1", 5432);
    assert_eq!(postgres.firewall, None, "{postgres:#?}");
    assert_eq!(
        postgres.netns.as_ref().map(|n| n.inode),
        None,
        "--proc-root: namespace unknown"
    );
}

#[test]
fn trust_firewall_lets_a_dropped_socket_pass_as_filtered() {
    let (_, report) = audit("inet-basic.json", &["--trust-firewall"]);
    let minio = report.one("tcp", "192.0.2.10", 9000);
    assert_eq!(minio.verdict, "filtered", "{minio:#?}");
    assert!(!minio.fails);
    assert_eq!(minio.rule.as_deref(), Some("trust_firewall"));
    assert!(report.summary.filtered >= 2);
    // Where the firewall cannot say, nothing is trusted: a source-address rule on 6379.
    let (_, report) = audit("saddr.json", &["--trust-firewall", "--allow", "22/tcp"]);
    for s in &report.sockets {
        if s.firewall.as_deref() == Some("unknown") {
            assert_ne!(s.verdict, "filtered", "{s:#?}");
        }
    }
}

#[test]
fn a_dnat_rule_is_judged_as_its_host_port_even_with_no_namespace_read() {
    // tcp dport { 8080, 8443 } dnat ip to 10.88.0.2:80 in an inet table.
    let (code, report) = audit("nft-dnat.json", &["--no-default-allow"]);
    assert_eq!(code, 1);
    let published: Vec<&util::Socket> = report
        .sockets
        .iter()
        .filter(|s| s.published.is_some() && s.address == "10.88.0.2")
        .collect();
    let mut ports: Vec<u16> = published
        .iter()
        .map(|s| s.published.as_ref().unwrap().port)
        .collect();
    ports.sort();
    assert_eq!(ports, [8080, 8443], "{report:#?}");
    for s in published {
        let host = s.published.as_ref().unwrap();
        assert_eq!(s.address, "10.88.0.2");
        assert_eq!(s.port, 80);
        assert_eq!(host.via, "dnat");
        assert!(host.rule.as_deref().unwrap().contains("handle"));
        assert_eq!(s.listening, None, "no namespace was read: {s:#?}");
        assert_eq!(s.uid, None);
        assert_eq!(s.inode, None);
        assert_eq!(s.verdict, "exposed");
    }
    // Through jumps (kube-proxy's chains), and a range to an IPv6 address, port unchanged.
    let kube = report.one("tcp", "10.244.0.5", 8080);
    assert_eq!(kube.published.as_ref().unwrap().port, 30080, "{kube:#?}");
    let range = report.one("udp", "fd00::5", 5000);
    let host = range.published.as_ref().unwrap();
    assert_eq!(host.port, 5000, "{range:#?}");
    assert_eq!(host.port_last, Some(5010), "{range:#?}");
    assert_eq!(host.address, "::");
    // A DNAT whose address comes from a map (`dnat ip to tcp dport map { 9000 :
    // 10.88.0.9 }`) is followed through the map: 9000 is published to 10.88.0.9.
    let mapped = report.one("tcp", "10.88.0.9", 9000);
    let host = mapped.published.as_ref().unwrap();
    assert_eq!(
        (host.port, host.via.as_str()),
        (9000, "dnat"),
        "{mapped:#?}"
    );
    assert_eq!(host.rule.as_deref(), Some("inet nat prerouting handle 8"));
    assert!(
        report.warnings.iter().all(|w| !w.contains("handle 8")),
        "{:#?}",
        report.warnings
    );
    // Allowing the host ports allows the publishes (the fixture's own sockets aside).
    let (_, report) = audit(
        "nft-dnat.json",
        &[
            "--no-default-allow",
            "--allow",
            "8080,8443,9000,30080,5000-5010/udp",
        ],
    );
    for s in &report.sockets {
        if s.published.is_some() {
            assert_eq!(s.verdict, "allowed", "{s:#?}");
        }
    }
}

#[test]
fn the_table_has_a_firewall_column_only_when_a_ruleset_is_read() {
    let proc_root = util::fixture("mixed").join("proc");
    let ruleset = util::fixture("nft").join("inet-basic.json");
    let with = util::run(
        util::portaudit()
            .arg("--proc-root")
            .arg(&proc_root)
            .arg("--ruleset")
            .arg(&ruleset),
    );
    let header = with.stdout.lines().next().unwrap();
    assert!(header.ends_with("Firewall"), "{header}");
    let row = with
        .stdout
        .lines()
        .find(|l| l.contains("192.0.2.10") && l.contains("9000"))
        .unwrap();
    assert!(row.trim_end().ends_with("dropped"), "{row}");
    let without = util::run(util::portaudit().arg("--proc-root").arg(&proc_root));
    assert!(!without.stdout.contains("Firewall"), "{}", without.stdout);
}

#[test]
fn a_dnat_whose_map_gives_the_port_too_publishes_that_port_or_says_it_cannot_tell() {
    // ip nat prerouting: tcp dport map { 9000 : 10.88.0.9 . 8080 } (address and port from
    // the map), and the same through a named map @pub { 9100 : 10.88.0.9 . 8080 }.
    let (code, report) = audit("nft-dnat-map.json", &["--no-default-allow"]);
    assert_eq!(code, 1, "{report:#?}");
    // The map's port, not the packet's: 9000 reaches 10.88.0.9:8080.
    let mapped = report.one("tcp", "10.88.0.9", 8080);
    let host = mapped.published.as_ref().unwrap();
    assert_eq!(
        (host.port, host.via.as_str()),
        (9000, "dnat"),
        "{mapped:#?}"
    );
    assert_eq!(host.rule.as_deref(), Some("ip nat prerouting handle 4"));
    // Never "the port is kept": nothing is published to 10.88.0.9:9000 or :9100.
    for s in &report.sockets {
        assert!(
            !(s.address == "10.88.0.9" && [9000, 9100].contains(&s.port)),
            "{s:#?}"
        );
    }
    // The named map's data is not followed: the rule is named as not known.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("handle 5") && w.contains("not known")),
        "{:#?}",
        report.warnings
    );
}
