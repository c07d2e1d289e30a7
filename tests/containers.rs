//! Containers, namespaces and the firewall, end to end (root): a "host" and a
//! "container" network namespace joined by a veth pair, nftables rules in the host one.
//!
//! Everything lives in namespaces the test creates, on private addresses that exist only
//! there (10.<200+n>.<pid % 250>.0/24: host .1, container .2), so nothing talks to
//! anything outside. portaudit runs in the host namespace, which it calls the host;
//! with `--all-netns` it also sees every other namespace on the machine (the real one,
//! other tests'), so the tests pick records by namespace name and published port; an
//! exit code that must be 0 is asked of `--netns` (the machine's own namespace, with a
//! link of its own to the outside, is reachable from any lab).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::netns::{self, Child, Need, NetNs};
use crate::util::{self, Report, Run, TempDir};

const STARTUP: Duration = Duration::from_secs(10);

/// A TCP listener for `python3 -c`: binds ADDRESS PORT from its arguments, or, run as a
/// docker-proxy, the `-host-ip`/`-host-port` of that command line; says "ready" once it
/// listens, then accepts and drops connections forever.
const LISTENER: &str = "\
import socket, sys
a = sys.argv[1:]
if '-host-port' in a:
    address, port = a[a.index('-host-ip') + 1], int(a[a.index('-host-port') + 1])
else:
    address, port = a[0], int(a[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((address, port))
s.listen(16)
print('ready', flush=True)
while True:
    s.accept()[0].close()
";

/// Connects to ADDRESS PORT, or fails.
const CONNECT: &str = "\
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
";

/// Parse the run's stdout as the JSON report, showing the whole run if it is not one.
fn parse(run: &Run) -> Report {
    run.report()
}

/// What the lab needs: root, ip, python3 and nft.
const LAB: [Need; 4] = [
    Need::Root,
    Need::Program("ip"),
    Need::Program("python3"),
    Need::Nft,
];

/// The real interpreter behind `python3` (not a pyenv shim that would fork): the pid
/// `ip netns exec` leaves us is then python's own.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("cannot run python3");
        assert!(out.status.success(), "python3: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// A host namespace and a container namespace joined by a veth pair; both deleted on
/// drop (the veth goes with them).
struct Lab {
    host: NetNs,
    container: NetNs,
    /// The /24's first three octets: "10.201.34".
    prefix: String,
}

impl Lab {
    fn new() -> Lab {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let host = NetNs::named(format!("pa-h-{pid}-{n}"));
        let container = NetNs::named(format!("pa-c-{pid}-{n}"));
        // Unique per lab, also across test processes (the pid), so that a target address
        // names one namespace even while other labs run.
        let prefix = format!("10.{}.{}", 200 + n % 56, pid % 250);
        let lab = Lab {
            host,
            container,
            prefix,
        };
        // Created inside the host namespace, so the names clash with nothing outside.
        let (veth_h, veth_c) = (format!("pa-vh{n}"), format!("pa-vc{n}"));
        lab.host.ip(&[
            "link",
            "add",
            &veth_h,
            "type",
            "veth",
            "peer",
            "name",
            &veth_c,
            "netns",
            lab.container.name(),
        ]);
        for (ns, veth, last) in [(&lab.host, &veth_h, 1), (&lab.container, &veth_c, 2)] {
            ns.ip(&[
                "addr",
                "add",
                &format!("{}/24", lab.addr(last)),
                "dev",
                veth,
            ]);
            ns.ip(&["link", "set", veth, "up"]);
        }
        lab
    }

    fn h(&self) -> &str {
        self.host.name()
    }

    fn c(&self) -> &str {
        self.container.name()
    }

    /// `10.x.y.LAST`.
    fn addr(&self, last: u8) -> String {
        format!("{}.{last}", self.prefix)
    }

    /// A python TCP listener on ADDRESS:PORT in `ns`, once it listens.
    fn listen(ns: &NetNs, address: &str, port: u16) -> Child {
        let mut cmd = ns.exec(python(), ["-c", LISTENER, address, &port.to_string()]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = Child::spawn(&mut cmd);
        child.wait_for_line("ready", STARTUP);
        child
    }

    /// A listener in the container namespace.
    fn in_container(&self, address: &str, port: u16) -> Child {
        Lab::listen(&self.container, address, port)
    }

    /// A listener in the host namespace.
    fn in_host(&self, address: &str, port: u16) -> Child {
        Lab::listen(&self.host, address, port)
    }

    /// A process that looks like Docker's userland proxy (its name and command line)
    /// forwarding host 0.0.0.0:HOST_PORT to container:TARGET_PORT; it only listens.
    /// The symlink named docker-proxy lives in `dir`.
    fn docker_proxy(&self, dir: &TempDir, host_port: u16, target_port: u16) -> Child {
        let proxy = dir.path().join("docker-proxy");
        let real = std::fs::canonicalize(python()).unwrap();
        std::os::unix::fs::symlink(&real, &proxy).unwrap();
        let (host_port, target_port) = (host_port.to_string(), target_port.to_string());
        let target = self.addr(2);
        let mut cmd = self.host.exec(
            &proxy,
            [
                "-c",
                LISTENER,
                "-proto",
                "tcp",
                "-host-ip",
                "0.0.0.0",
                "-host-port",
                &host_port,
                "-container-ip",
                &target,
                "-container-port",
                &target_port,
            ],
        );
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = Child::spawn(&mut cmd);
        child.wait_for_line("ready", STARTUP);
        assert_eq!(child.comm().as_deref(), Some("docker-proxy"));
        child
    }

    /// Load `rules` into the host namespace's nftables (`nft -f -`).
    fn nft(&self, rules: &str) {
        self.host.load_nft(rules);
    }

    /// `nft ARGS` in the host namespace, its stdout.
    fn nft_output(&self, args: &[&str]) -> String {
        let out = self
            .host
            .exec(netns::nft().unwrap(), args)
            .output()
            .unwrap();
        assert!(out.status.success(), "nft {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The scaffolding check: the host namespace's ruleset holds `text`.
    fn assert_ruleset_has(&self, text: &str) {
        let ruleset = self.nft_output(&["list", "ruleset"]);
        assert!(
            ruleset.contains(text),
            "ruleset of {} lacks {text:?}:\n{ruleset}",
            self.h()
        );
    }

    /// The scaffolding check: from the host namespace, a TCP connection to ADDRESS:PORT
    /// succeeds (over the veth when the address is the container's).
    fn assert_connects(&self, address: &str, port: u16) {
        let out = self
            .host
            .exec(python(), ["-c", CONNECT, address, &port.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot connect from {} to {address}:{port}: {}",
            self.h(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `portaudit ARGS` in the host namespace, nft reachable on PATH.
    fn audit(&self, args: &[&str]) -> Run {
        util::run(
            self.host
                .exec(util::bin(), args)
                .env("PATH", netns::path_with_nft()),
        )
    }

    /// The DNAT rule `tcp dport PORT dnat to TARGET` in the host namespace.
    fn dnat(&self, rules: &[(u16, String)]) {
        let rules: String = rules
            .iter()
            .map(|(port, target)| format!("    tcp dport {port} dnat to {target}\n"))
            .collect();
        self.nft(&format!(
            "table ip nat {{\n  chain prerouting {{\n    type nat hook prerouting priority -100;\n{rules}  }}\n}}\n"
        ));
    }
}

/// Whether `text` names the endpoint ADDRESS:PORT, not merely a longer port that starts
/// the same ("0.0.0.0:80" inside "0.0.0.0:8080").
fn names_endpoint(text: &str, endpoint: &str) -> bool {
    text.match_indices(endpoint).any(|(at, _)| {
        !text[at + endpoint.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// The network namespace inode of a file that refers to one (/proc/PID/ns/net,
/// /run/netns/NAME).
fn netns_inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

// The lab itself, without portaudit: what the other tests build on.
patest!(
    the_lab_is_two_namespaces_joined_by_a_veth_with_rules_and_a_proxy,
    LAB,
    |_| {
        let lab = Lab::new();
        let names = (lab.h().to_string(), lab.c().to_string());
        let web = lab.in_container("0.0.0.0", 80);
        let ssh = lab.in_host("0.0.0.0", 22);
        let dir = TempDir::new("docker-proxy");
        let proxy = lab.docker_proxy(&dir, 9000, 80);

        // Each process is in the namespace we meant, and is the program itself.
        let run_netns = |name: &str| netns_inode(&Path::new("/run/netns").join(name));
        let of_pid =
            |pid: i32| netns_inode(&Path::new("/proc").join(pid.to_string()).join("ns/net"));
        assert_eq!(of_pid(web.pid()), run_netns(lab.c()));
        assert_eq!(of_pid(ssh.pid()), run_netns(lab.h()));
        assert_eq!(of_pid(proxy.pid()), run_netns(lab.h()));
        assert_ne!(run_netns(lab.h()), run_netns(lab.c()));
        assert_eq!(web.comm(), ssh.comm());
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", proxy.pid())).unwrap();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        assert!(args[0].ends_with(b"/docker-proxy"), "{cmdline:?}");
        let target = lab.addr(2);
        assert!(
            args.windows(2)
                .any(|w| w == [b"-container-ip".as_slice(), target.as_bytes()]),
            "{}",
            String::from_utf8_lossy(&cmdline)
        );

        // The veth carries traffic between them; each listener answers.
        lab.assert_connects(&lab.addr(2), 80);
        lab.assert_connects(&lab.addr(1), 22);
        lab.assert_connects("127.0.0.1", 9000);

        // Rules land in the host namespace only.
        lab.dnat(&[(8080, format!("{target}:80"))]);
        lab.nft(INPUT_DROP);
        lab.assert_ruleset_has(&format!("tcp dport 8080 dnat to {target}:80"));
        lab.assert_ruleset_has("tcp dport 22 accept");
        let container_rules = Command::new("ip")
            .args(["netns", "exec", lab.c()])
            .arg(netns::nft().unwrap())
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        assert!(container_rules.status.success(), "{container_rules:?}");
        assert!(
            container_rules.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&container_rules.stdout)
        );
        // The input policy drops, yet replies to the host's own connections come back.
        lab.assert_connects(&lab.addr(2), 80);

        // Dropped in reverse: processes killed, then namespaces (and the veth) deleted.
        let pids = [web.pid(), ssh.pid(), proxy.pid()];
        drop((proxy, ssh, web, lab));
        for pid in pids {
            assert!(
                !Path::new("/proc").join(pid.to_string()).exists(),
                "pid {pid} outlived the lab"
            );
        }
        for name in [names.0, names.1] {
            assert!(
                !Path::new("/run/netns").join(&name).exists(),
                "namespace {name} outlived the lab"
            );
        }
    }
);

patest!(
    a_container_listener_that_nothing_publishes_is_contained,
    LAB,
    |_| {
        let lab = Lab::new();
        let web = lab.in_container("0.0.0.0", 80);
        lab.assert_connects(&lab.addr(2), 80);

        let alone = lab.audit(&["--netns", lab.c(), "--json"]);
        assert_eq!(
            alone.code, 0,
            "a contained listener never fails:\n{alone:#?}"
        );
        assert_eq!(parse(&alone).summary.exit_code, 0);
        let run = lab.audit(&["--all-netns", "--json"]);
        let report = parse(&run);
        assert!(report.summary.contained >= 1, "{:#?}", report.summary);
        let s = report.one_in(lab.c(), "0.0.0.0", 80);
        assert_eq!(s.verdict, "contained", "{s:#?}");
        assert!(!s.fails, "{s:#?}");
        assert_eq!(s.listening, Some(true), "{s:#?}");
        assert!(s.published.is_none(), "{s:#?}");
        assert!(!s.netns.as_ref().unwrap().host, "{s:#?}");
        assert!(
            s.owned_by(web.pid()),
            "pid {} missing from {s:#?}",
            web.pid()
        );
        // Contained sockets are not judged against the firewall.
        assert_eq!(s.firewall, None, "{s:#?}");

        let host = report.namespace(lab.h());
        assert!(host.host && host.audited, "{host:#?}");
        let container = report.namespace(lab.c());
        assert!(!container.host && container.audited, "{container:#?}");
        assert_eq!(container.listening, 1, "{container:#?}");
        // Every other namespace on the machine is someone else's, never the host.
        assert_eq!(
            report.namespaces.iter().filter(|n| n.host).count(),
            1,
            "{:#?}",
            report.namespaces
        );

        // A contained row says so in the table.
        let table = lab.audit(&["--netns", lab.c()]);
        assert_eq!(table.code, 0, "{table:#?}");
        let owner = format!("{}/", web.pid());
        assert!(
        table
            .stdout
            .lines()
            .any(|l| l.contains(&owner) && l.split_whitespace().any(|cell| cell == "contained")),
        "no contained row for pid {}:\n{}",
        web.pid(),
        table.stdout
    );
    }
);

patest!(
    a_dnat_rule_publishes_the_container_listener_on_the_host,
    LAB,
    |_| {
        let lab = Lab::new();
        let web = lab.in_container("0.0.0.0", 80);
        lab.dnat(&[(8080, format!("{}:80", lab.addr(2)))]);
        lab.assert_ruleset_has("tcp dport 8080 dnat to");
        lab.assert_connects(&lab.addr(2), 80);

        let run = lab.audit(&["--all-netns", "--json"]);
        assert_eq!(run.code, 1, "a published port is exposed:\n{run:#?}");
        let report = parse(&run);
        assert_eq!(report.summary.exit_code, 1);
        assert!(report.summary.exposed >= 1, "{:#?}", report.summary);
        let s = report.published(8080);
        let published = s.published.as_ref().unwrap();
        assert_eq!(published.via, "dnat", "{s:#?}");
        assert_eq!(published.address, "0.0.0.0", "{s:#?}");
        assert!(published.rule.is_some(), "the DNAT rule is named: {s:#?}");
        assert_eq!(published.pid, None, "{s:#?}");
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(s.fails, "{s:#?}");
        assert_eq!(s.listening, Some(true), "{s:#?}");
        assert_eq!(s.netns_name(), Some(lab.c()), "{s:#?}");
        assert_eq!((s.address.as_str(), s.port), ("0.0.0.0", 80), "{s:#?}");
        assert!(
            s.owned_by(web.pid()),
            "pid {} missing from {s:#?}",
            web.pid()
        );
        // One record per published port: the listener is not also listed as contained.
        assert_eq!(report.in_netns(lab.c()).len(), 1, "{report:#?}");

        // The table row shows both sides and who answers.
        let table = lab.audit(&["--all-netns"]);
        assert_eq!(table.code, 1, "{table:#?}");
        let comm = web.comm().unwrap();
        let row = table
            .stdout
            .lines()
            .find(|l| l.contains("8080") && l.contains('→'))
            .unwrap_or_else(|| panic!("no row for 8080 →:\n{}", table.stdout));
        assert!(
            names_endpoint(row, &format!("{}:80", lab.addr(2)))
                || names_endpoint(row, "0.0.0.0:80"),
            "{row}"
        );
        assert!(row.contains(&comm), "{comm} missing: {row}");

        // The host side decides: allowing it there passes.
        let allowed = lab.audit(&["--netns", lab.c(), "--json", "--allow", "8080/tcp"]);
        assert_eq!(allowed.code, 0, "{allowed:#?}");
        assert_eq!(parse(&allowed).published(8080).verdict, "allowed");

        // The container namespace alone, judged from the host: the same record.
        let one = lab.audit(&["--netns", lab.c(), "--json"]);
        assert_eq!(one.code, 1, "{one:#?}");
        let one = parse(&one);
        let s = one.published(8080);
        assert_eq!(s.published.as_ref().unwrap().via, "dnat", "{s:#?}");
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert_eq!(s.listening, Some(true), "{s:#?}");
        assert_eq!(s.netns_name(), Some(lab.c()), "{s:#?}");
        assert_eq!((s.address.as_str(), s.port), ("0.0.0.0", 80), "{s:#?}");
        assert!(s.owned_by(web.pid()), "{s:#?}");
    }
);

patest!(
    a_dnat_rule_to_where_nothing_listens_is_reported,
    LAB,
    |_| {
        let lab = Lab::new();
        let _web = lab.in_container("0.0.0.0", 80);
        let (target, nowhere) = (lab.addr(2), lab.addr(77));
        lab.dnat(&[
            (8081, format!("{target}:81")),
            (8082, format!("{nowhere}:80")),
        ]);
        lab.assert_ruleset_has("tcp dport 8081 dnat to");
        lab.assert_ruleset_has("tcp dport 8082 dnat to");

        let run = lab.audit(&["--all-netns", "--json"]);
        assert_eq!(run.code, 1, "published ports are exposed:\n{run:#?}");
        let report = parse(&run);

        // The container was audited and nothing listens on :81 there.
        let s = report.published(8081);
        assert_eq!(s.listening, Some(false), "{s:#?}");
        assert_eq!(
            (s.address.as_str(), s.port),
            (target.as_str(), 81),
            "{s:#?}"
        );
        assert!(s.processes.is_empty(), "{s:#?}");
        assert_eq!((s.uid, s.inode), (None, None), "{s:#?}");
        assert_eq!(s.netns_name(), Some(lab.c()), "{s:#?}");
        assert_eq!(s.published.as_ref().unwrap().via, "dnat", "{s:#?}");
        assert!(s.fails, "{s:#?}");

        // No namespace has .77: nobody can tell what answers.
        let s = report.published(8082);
        assert_eq!(s.listening, None, "{s:#?}");
        assert_eq!(
            (s.address.as_str(), s.port),
            (nowhere.as_str(), 80),
            "{s:#?}"
        );
        assert!(s.processes.is_empty(), "{s:#?}");
        assert!(s.netns.is_none(), "{s:#?}");

        // The real listener on :80 is not published, so still contained.
        assert_eq!(report.one_in(lab.c(), "0.0.0.0", 80).verdict, "contained");
    }
);

const INPUT_DROP: &str = "\
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    tcp dport 22 accept
  }
}
";

patest!(
    the_host_firewall_annotates_dropped_and_accepted_ports,
    LAB,
    |_| {
        let lab = Lab::new();
        let redis = lab.in_host("0.0.0.0", 6379);
        let ssh = lab.in_host("0.0.0.0", 22);
        lab.nft(INPUT_DROP);
        lab.assert_ruleset_has("tcp dport 22 accept");
        lab.assert_ruleset_has("policy drop");

        let run = lab.audit(&["--json"]);
        assert_eq!(run.code, 1, "6379 is exposed:\n{run:#?}");
        let report = parse(&run);
        let s = report.one_in(lab.h(), "0.0.0.0", 6379);
        assert!(s.owned_by(redis.pid()), "{s:#?}");
        assert_eq!(s.firewall.as_deref(), Some("dropped"), "{s:#?}");
        assert!(
            s.firewall_why.as_ref().is_some_and(|w| !w.is_empty()),
            "{s:#?}"
        );
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(s.netns.as_ref().unwrap().host, "{s:#?}");
        let s = report.one_in(lab.h(), "0.0.0.0", 22);
        assert!(s.owned_by(ssh.pid()), "{s:#?}");
        assert_eq!(s.firewall.as_deref(), Some("accepted"), "{s:#?}");
        assert!(
            s.firewall_why.as_ref().is_some_and(|w| !w.is_empty()),
            "{s:#?}"
        );
        assert_eq!(
            s.verdict, "allowed",
            "22/tcp is on the default allowlist: {s:#?}"
        );
        // On a plain run the only namespace considered is our own.
        assert_eq!(report.namespaces.len(), 1, "{:#?}", report.namespaces);
        assert!(report.namespace(lab.h()).host);

        let table = lab.audit(&[]);
        assert_eq!(table.code, 1, "{table:#?}");
        let header = table.stdout.lines().next().unwrap_or_default();
        assert!(header.contains("Firewall"), "{}", table.stdout);
        let row = table.stdout.lines().find(|l| l.contains("6379")).unwrap();
        assert!(row.contains("dropped"), "{row}");

        // Trusting the firewall: dropped on every way in passes.
        let trusted = lab.audit(&["--json", "--trust-firewall"]);
        assert_eq!(trusted.code, 0, "{trusted:#?}");
        let trusted = parse(&trusted);
        assert_eq!(trusted.one_in(lab.h(), "0.0.0.0", 6379).verdict, "filtered");
        assert!(!trusted.one_in(lab.h(), "0.0.0.0", 6379).fails);
        assert_eq!(trusted.summary.filtered, 1, "{:#?}", trusted.summary);

        // Not reading the ruleset: no firewall annotation, no column.
        let blind = lab.audit(&["--json", "--no-firewall"]);
        assert_eq!(blind.code, 1, "{blind:#?}");
        let blind = parse(&blind);
        for port in [6379, 22] {
            let s = blind.one_in(lab.h(), "0.0.0.0", port);
            assert_eq!(s.firewall, None, "{s:#?}");
        }
        let table = lab.audit(&["--no-firewall"]);
        assert!(
            !table
                .stdout
                .lines()
                .next()
                .unwrap_or_default()
                .contains("Firewall"),
            "{}",
            table.stdout
        );
    }
);

patest!(a_saved_ruleset_replaces_running_nft, LAB, |_| {
    let lab = Lab::new();
    let _redis = lab.in_host("0.0.0.0", 6379);
    lab.nft(INPUT_DROP);
    let saved = TempDir::new("ruleset");
    let file = saved.path().join("ruleset.json");
    std::fs::write(&file, lab.nft_output(&["-j", "list", "ruleset"])).unwrap();

    // No nft on PATH: the saved file is all portaudit can read.
    let run = audit_without_nft(&lab, &["--json", "--ruleset", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:#?}");
    let report = parse(&run);
    let s = report.one_in(lab.h(), "0.0.0.0", 6379);
    assert_eq!(s.firewall.as_deref(), Some("dropped"), "{s:#?}");
    assert!(
        !report.warnings.iter().any(|w| w.contains("nft")),
        "{:#?}",
        report.warnings
    );
});

/// `portaudit ARGS` in the lab's host namespace where there is no nft (see
/// `netns::without_nft`).
fn audit_without_nft(lab: &Lab, args: &[&str]) -> Run {
    let ip = util::program_path("ip");
    let mut all = vec!["netns", "exec", lab.h(), util::bin()];
    all.extend(args);
    util::run(netns::without_nft(ip, all).env_remove("NO_COLOR"))
}

// The ruleset is read from the kernel over netlink: nft need not be installed.
patest!(
    without_nft_the_ruleset_is_still_read_from_the_kernel,
    LAB,
    |_| {
        let lab = Lab::new();
        let _redis = lab.in_host("0.0.0.0", 6379);
        lab.nft(INPUT_DROP);

        let run = audit_without_nft(&lab, &["--json"]);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = parse(&run);
        let s = report.one_in(lab.h(), "0.0.0.0", 6379);
        assert_eq!(s.firewall.as_deref(), Some("dropped"), "{s:#?}");
        assert!(
            !report.warnings.iter().any(|w| w.contains("nft")),
            "{:#?}",
            report.warnings
        );
    }
);

patest!(a_docker_proxy_publishes_its_container_port, LAB, |_| {
    let lab = Lab::new();
    let web = lab.in_container("0.0.0.0", 80);
    let bin = TempDir::new("docker-proxy");
    let proxy = lab.docker_proxy(&bin, 9000, 80);
    lab.assert_connects("127.0.0.1", 9000);
    lab.assert_connects(&lab.addr(2), 80);

    let run = lab.audit(&["--all-netns", "--json"]);
    assert_eq!(run.code, 1, "a published port is exposed:\n{run:#?}");
    let report = parse(&run);
    let s = report.published(9000);
    let published = s.published.as_ref().unwrap();
    assert_eq!(published.via, "docker-proxy", "{s:#?}");
    assert_eq!(published.pid, Some(proxy.pid()), "{s:#?}");
    assert_eq!(published.address, "0.0.0.0", "{s:#?}");
    assert_eq!(s.netns_name(), Some(lab.c()), "{s:#?}");
    assert_eq!((s.address.as_str(), s.port), ("0.0.0.0", 80), "{s:#?}");
    assert_eq!(s.listening, Some(true), "{s:#?}");
    assert!(
        s.owned_by(web.pid()),
        "pid {} missing from {s:#?}",
        web.pid()
    );
    assert_eq!(s.verdict, "exposed", "{s:#?}");
    // The proxy's own socket is folded into that record, never a row of its own.
    assert!(
        report.in_netns(lab.h()).iter().all(|s| s.port != 9000),
        "{report:#?}"
    );
    assert!(
        report.sockets.iter().all(|s| !s.owned_by(proxy.pid())),
        "{report:#?}"
    );

    // The container not audited: the proxy still says where it forwards.
    let run = lab.audit(&["--json"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let report = parse(&run);
    let s = report.published(9000);
    assert_eq!(s.published.as_ref().unwrap().via, "docker-proxy", "{s:#?}");
    assert_eq!(s.published.as_ref().unwrap().pid, Some(proxy.pid()));
    assert_eq!(
        (s.address.as_str(), s.port),
        (lab.addr(2).as_str(), 80),
        "{s:#?}"
    );
    assert_eq!(s.listening, None, "{s:#?}");
    assert!(s.processes.is_empty(), "{s:#?}");
    assert_eq!(report.sockets.len(), 1, "{report:#?}");
});

patest!(netns_by_pid_is_the_same_namespace_as_by_name, LAB, |_| {
    let lab = Lab::new();
    let web = lab.in_container("0.0.0.0", 80);
    let by_pid = lab.audit(&["--netns", &web.pid().to_string(), "--json"]);
    assert_eq!(by_pid.code, 0, "{by_pid:#?}");
    let by_pid = parse(&by_pid);
    let s = by_pid.one_in(lab.c(), "0.0.0.0", 80);
    assert_eq!(s.verdict, "contained", "{s:#?}");
    assert!(s.owned_by(web.pid()), "{s:#?}");
    // By path too: the /run/netns file.
    let path = Path::new("/run/netns").join(lab.c());
    let by_path = lab.audit(&["--netns", path.to_str().unwrap(), "--json"]);
    assert_eq!(by_path.code, 0, "{by_path:#?}");
    assert_eq!(
        parse(&by_path).one_in(lab.c(), "0.0.0.0", 80).verdict,
        "contained"
    );
});

#[test]
fn an_unknown_netns_is_a_usage_error_naming_it() {
    let name = format!("pa-no-such-netns-{}", std::process::id());
    let run = util::run_args(&["--netns", &name, "--json"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(&name), "{}", run.stderr);

    let conflict = util::run_args(&["--netns", &name, "--all-netns"]);
    assert_eq!(conflict.code, 2, "{conflict:#?}");
}

#[test]
fn a_bad_ruleset_file_is_an_error_naming_it() {
    let dir = TempDir::new("bad-ruleset");
    let missing = dir.path().join("missing.json");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "this is not nft -j output\n").unwrap();
    for file in [&missing, &garbage] {
        let file = file.to_str().unwrap();
        let run = util::run_args(&["--ruleset", file, "--json"]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(file), "{}", run.stderr);
    }
}

/// A cgroup laid out as Docker lays out a container's (`docker/<64 hex digits>`), in a
/// hierarchy of the host's (cgroup v2, or v1's pids controller): what portaudit reads
/// to attribute a socket to a container, without a container runtime. Removed on drop,
/// once the processes put in it are gone (drop it after them).
struct DockerCgroup {
    dir: PathBuf,
    id: String,
}

impl DockerCgroup {
    fn new() -> Option<DockerCgroup> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let base = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|b| b.join("cgroup.procs").exists())?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:056x}{:08x}", std::process::id(), n);
        let dir = base.join("docker").join(&id);
        std::fs::create_dir_all(&dir).ok()?;
        Some(DockerCgroup { dir, id })
    }

    fn add(&self, pid: i32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("cannot move {pid} into {}: {e}", self.dir.display()));
    }
}

impl Drop for DockerCgroup {
    fn drop(&mut self) {
        // A cgroup is removed with rmdir once it has no processes; a killed one may take a
        // moment to leave.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

patest!(
    a_socket_in_a_container_cgroup_names_the_runtime_and_id,
    LAB,
    |t| {
        let Some(cgroup) = DockerCgroup::new() else {
            t.skip("no writable cgroup hierarchy");
            return;
        };
        let lab = Lab::new();
        let web = lab.in_container("0.0.0.0", 80);
        cgroup.add(web.pid());

        let run = lab.audit(&["--all-netns", "--json"]);
        let report = parse(&run);
        let s = report.one_in(lab.c(), "0.0.0.0", 80);
        let container = s.container.as_ref().unwrap_or_else(|| panic!("{s:#?}"));
        assert_eq!(
            (container.runtime.as_str(), container.id.as_str()),
            ("docker", cgroup.id.as_str()),
            "{s:#?}"
        );
        assert_eq!(container.name, None, "no Docker state on disk names it");
        let table = lab.audit(&["--all-netns"]);
        let short = format!("docker {}", &cgroup.id[..12]);
        assert!(table.stdout.contains(&short), "{short}:\n{}", table.stdout);
        drop(web);
    }
);
