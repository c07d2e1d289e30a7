//! Docker's iptables-nft ruleset, end to end (root): the xt expressions that the native
//! reader leaves to nft, read through nft's JSON and its text listing, in a namespace of
//! the test's own with listeners of its own.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::netns::{self, Child, NetNs};
use crate::util::{self, Report, Run, TempDir};

/// Binds 0.0.0.0 on each port of its arguments (TCP), says "ready", then sleeps.
const LISTENERS: &str = "\
import socket, sys, time
held = []
for port in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', int(port)))
    s.listen(16)
    held.append(s)
print('ready', flush=True)
while True:
    time.sleep(60)
";

/// `portaudit ARGS` in `ns`, nft reachable on PATH.
fn audit(ns: &NetNs, args: &[&str]) -> Run {
    util::run(
        ns.exec(util::bin(), args)
            .env("PATH", netns::path_with_nft()),
    )
}

/// (firewall, firewall_why) of the listener on 0.0.0.0:PORT.
fn firewall(report: &Report, ns: &NetNs, port: u16) -> (Option<String>, Option<String>) {
    let s = report.one_in(ns.name(), "0.0.0.0", port);
    (s.firewall.clone(), s.firewall_why.clone())
}

patest!(
    docker_rules_written_by_iptables_nft_publish_and_filter_through_nft,
    [Root, Program("ip"), Program("python3"), Nft, IptablesNft],
    |_| {
        let ns = NetNs::new();
        // A wildcard bind needs an address other than loopback to be reachable at all.
        ns.add_addresses(&["192.0.2.1/24"]);
        for args in netns::DOCKER_IPTABLES {
            ns.iptables_nft(args);
        }
        // A comment (`-m comment`, an xt match too) decides nothing: 6380 is accepted.
        ns.iptables_nft(&[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "6380",
            "-m",
            "comment",
            "--comment",
            "redis replica",
            "-j",
            "ACCEPT",
        ]);
        let mut cmd = ns.exec("python3", ["-c", LISTENERS, "22", "6379", "6380"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut listeners = Child::spawn(&mut cmd);
        listeners.wait_for_line("ready", Duration::from_secs(10));

        let run = audit(&ns, &["--json", "--no-config"]);
        assert_eq!(
            run.code, 1,
            "6379 and the published 8080 are exposed:\n{run:#?}"
        );
        let report = run.report();

        // The DNAT target's address comes from nft's text listing: the publish is seen.
        let s = report.published(8080);
        let published = s.published.as_ref().unwrap();
        assert_eq!(published.via, "dnat", "{s:#?}");
        assert_eq!(published.address, "0.0.0.0", "{s:#?}");
        assert_eq!(
            published.rule.as_deref(),
            Some("ip nat DOCKER handle 4"),
            "{s:#?}"
        );
        assert_eq!((s.address.as_str(), s.port), ("172.17.0.2", 80), "{s:#?}");
        // No namespace here has 172.17.0.2: nobody can tell what answers.
        assert_eq!(s.listening, None, "{s:#?}");
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(s.fails, "{s:#?}");

        // `-m conntrack --ctstate ESTABLISHED,RELATED` is an xt match in nft's JSON; its text
        // listing shows it translated (`ct state related,established`), and a new connection
        // from outside is neither: 22 is accepted by its rule, 6379 falls to policy drop.
        let ssh = report.one_in(ns.name(), "0.0.0.0", 22);
        assert!(ssh.owned_by(listeners.pid()), "{ssh:#?}");
        assert_eq!(ssh.firewall.as_deref(), Some("accepted"), "{ssh:#?}");
        assert_eq!(ssh.verdict, "allowed", "{ssh:#?}");
        let redis = report.one_in(ns.name(), "0.0.0.0", 6379);
        assert!(redis.owned_by(listeners.pid()), "{redis:#?}");
        assert_eq!(redis.firewall.as_deref(), Some("dropped"), "{redis:#?}");
        assert_eq!(
            redis.firewall_why.as_deref(),
            Some("ip filter INPUT: policy drop"),
            "{redis:#?}"
        );
        let replica = report.one_in(ns.name(), "0.0.0.0", 6380);
        assert_eq!(
            replica.firewall.as_deref(),
            Some("accepted"),
            "{replica:#?}"
        );
        assert_eq!(redis.verdict, "exposed", "{redis:#?}");
        assert!(
            report.warnings.iter().all(|w| !w.contains("nft")),
            "{:#?}",
            report.warnings
        );

        // nft's own JSON listing, saved and read back, gives the same firewall answers.
        let out = ns
            .exec(netns::nft().unwrap(), ["-j", "list", "ruleset"])
            .output()
            .unwrap();
        assert!(out.status.success(), "nft -j list ruleset: {out:?}");
        let saved = TempDir::new("iptables-nft");
        let file = saved.path().join("ruleset.json");
        std::fs::write(&file, &out.stdout).unwrap();
        let from_file = audit(
            &ns,
            &["--json", "--no-config", "--ruleset", file.to_str().unwrap()],
        );
        let from_file = from_file.report();
        for port in [22, 6380] {
            assert_eq!(
                firewall(&from_file, &ns, port).0,
                firewall(&report, &ns, port).0,
                "port {port}"
            );
        }
        // Without the text listing the conntrack match cannot be read: unknown, never a
        // guessed "dropped".
        assert_eq!(
            firewall(&from_file, &ns, 6379).0.as_deref(),
            Some("unknown")
        );
    }
);

patest!(
    a_kubernetes_node_is_read_and_judged_alike_on_one_core_and_on_every_core,
    [
        Root,
        Program("ip"),
        Program("python3"),
        Program("taskset"),
        Nft,
        IptablesNft
    ],
    |_| {
        // kube-proxy's iptables mode with 300 services (bench/kube.py): about 1,300 rules
        // in 460 chains. With more than one core the rules are dumped chain by chain on a
        // connection per core and the DNAT rules listed beside the walk; on one, neither.
        let ns = NetNs::new();
        ns.add_addresses(&["192.0.2.1/24"]);
        let kube = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/kube.py");
        let rules = Command::new("python3")
            .args([kube, "--services", "300", "--nodeports", "30"])
            .output()
            .unwrap();
        assert!(rules.status.success(), "bench/kube.py: {rules:?}");
        let restore = netns::iptables_nft()
            .unwrap()
            .with_file_name("iptables-nft-restore");
        let mut load = ns
            .exec(restore, std::iter::empty::<&str>())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        load.stdin.take().unwrap().write_all(&rules.stdout).unwrap();
        assert!(load.wait().unwrap().success(), "iptables-nft-restore");
        let mut cmd = ns.exec("python3", ["-c", LISTENERS, "22", "6379"]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut listeners = Child::spawn(&mut cmd);
        listeners.wait_for_line("ready", Duration::from_secs(10));

        let every = audit(&ns, &["--json", "--no-config"]);
        let one = util::run(
            ns.exec("taskset", ["-c", "0", util::bin(), "--json", "--no-config"])
                .env("PATH", netns::path_with_nft()),
        );
        assert_eq!(every.code, 1, "{every:#?}");
        assert_eq!(one.code, every.code, "{one:#?}");
        let (every, one) = (every.report(), one.report());
        // 220 DNAT rules to endpoints, and the NodePorts: each a publish.
        let published = every.sockets.iter().filter(|s| s.published.is_some());
        assert!(published.count() > 220, "{every:#?}");
        assert_eq!(
            format!("{:#?}", one.sockets),
            format!("{:#?}", every.sockets)
        );
        assert_eq!(one.warnings, every.warnings);
    }
);
