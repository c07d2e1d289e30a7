//! The firewall column and DNAT publishes from a saved ruleset (`--ruleset`, captured by
//! tests/fixtures/nft/capture.sh) over a captured proc tree: no root needed.

use serde_json::Value;

use crate::util;

fn audit(ruleset: &str, extra: &[&str]) -> (i32, Value) {
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
    let report =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:#?}"));
    (run.code, report)
}

fn socket<'a>(report: &'a Value, protocol: &str, address: &str, port: u64) -> &'a Value {
    let found: Vec<&Value> = report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["protocol"] == protocol && s["address"] == address && s["port"] == port)
        .collect();
    assert_eq!(found.len(), 1, "{protocol} {address}:{port} in {report:#}");
    found[0]
}

#[test]
fn a_saved_ruleset_annotates_what_the_input_hook_drops_and_accepts() {
    // inet filter input, policy drop; established, lo and 22/tcp accepted.
    let (code, report) = audit("inet-basic.json", &[]);
    assert_eq!(code, 1, "{report:#}");
    let ssh = socket(&report, "tcp", "0.0.0.0", 22);
    assert_eq!(ssh["firewall"], "accepted", "{ssh:#}");
    assert!(
        ssh["firewall_why"].as_str().unwrap().contains("22"),
        "{ssh:#}"
    );
    for (protocol, address, port) in [("tcp", "192.0.2.10", 9000), ("udp", "0.0.0.0", 11211)] {
        let s = socket(&report, protocol, address, port);
        assert_eq!(s["firewall"], "dropped", "{s:#}");
        assert_eq!(s["verdict"], "exposed", "informational only: {s:#}");
        assert_eq!(s["fails"], true);
    }
    // Not reachable from outside: nothing to ask the firewall.
    let postgres = socket(&report, "tcp", "127.0.0.1", 5432);
    assert_eq!(postgres["firewall"], Value::Null, "{postgres:#}");
    assert_eq!(
        postgres["netns"],
        Value::Null,
        "--proc-root: namespace unknown"
    );
}

#[test]
fn trust_firewall_lets_a_dropped_socket_pass_as_filtered() {
    let (_, report) = audit("inet-basic.json", &["--trust-firewall"]);
    let minio = socket(&report, "tcp", "192.0.2.10", 9000);
    assert_eq!(minio["verdict"], "filtered", "{minio:#}");
    assert_eq!(minio["fails"], false);
    assert_eq!(minio["rule"], "trust_firewall");
    assert!(report["summary"]["filtered"].as_u64().unwrap() >= 2);
    // Where the firewall cannot say, nothing is trusted: a source-address rule on 6379.
    let (_, report) = audit("saddr.json", &["--trust-firewall", "--allow", "22/tcp"]);
    for s in report["sockets"].as_array().unwrap() {
        if s["firewall"] == "unknown" {
            assert_ne!(s["verdict"], "filtered", "{s:#}");
        }
    }
}

#[test]
fn a_dnat_rule_is_judged_as_its_host_port_even_with_no_namespace_read() {
    // tcp dport { 8080, 8443 } dnat ip to 10.88.0.2:80 in an inet table.
    let (code, report) = audit("nft-dnat.json", &["--no-default-allow"]);
    assert_eq!(code, 1);
    let published: Vec<&Value> = report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["published"].is_null() && s["address"] == "10.88.0.2")
        .collect();
    let mut ports: Vec<u64> = published
        .iter()
        .map(|s| s["published"]["port"].as_u64().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, [8080, 8443], "{report:#}");
    for s in published {
        assert_eq!(s["address"], "10.88.0.2");
        assert_eq!(s["port"], 80);
        assert_eq!(s["published"]["via"], "dnat");
        assert!(s["published"]["rule"].as_str().unwrap().contains("handle"));
        assert_eq!(s["listening"], Value::Null, "no namespace was read: {s:#}");
        assert_eq!(s["uid"], Value::Null);
        assert_eq!(s["inode"], Value::Null);
        assert_eq!(s["verdict"], "exposed");
    }
    // Through jumps (kube-proxy's chains), and a range to an IPv6 address, port unchanged.
    let kube = socket(&report, "tcp", "10.244.0.5", 8080);
    assert_eq!(kube["published"]["port"], 30080, "{kube:#}");
    let range = socket(&report, "udp", "fd00::5", 5000);
    assert_eq!(range["published"]["port"], 5000, "{range:#}");
    assert_eq!(range["published"]["port_last"], 5010, "{range:#}");
    assert_eq!(range["published"]["address"], "::");
    // A DNAT whose address comes from a map cannot be followed: a warning says so.
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("handle 8")),
        "{:#}",
        report["warnings"]
    );
    // Allowing the host ports allows the publishes (the fixture's own sockets aside).
    let (_, report) = audit(
        "nft-dnat.json",
        &[
            "--no-default-allow",
            "--allow",
            "8080,8443,30080,5000-5010/udp",
        ],
    );
    for s in report["sockets"].as_array().unwrap() {
        if !s["published"].is_null() {
            assert_eq!(s["verdict"], "allowed", "{s:#}");
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
