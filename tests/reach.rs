//! Ways in from outside, end to end (root): a lab of network namespaces per case, with
//! a client that really connects (or really cannot) before portaudit says what it sees.
//!
//! The lab: a "host" namespace (where portaudit runs, and which it calls the host), an
//! "app" namespace joined to it by a veth (10.250.N.0/24: host .1, app .2), and a
//! "client" namespace on another veth (10.251.N.0/24: host .1, client .2) whose default
//! route is the lab host: a neighbour that routes the app network to the host. Every
//! address lives only in namespaces the test creates; forwarding and nftables rules are
//! set inside the lab host, never on the machine's own namespace. portaudit audits the
//! app namespace with `--netns`, so what else runs on the machine does not matter.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::netns::{self, Child, Need, NetNs};
use crate::util::{self, Report, Run, Socket};

const PORT: u16 = 8080;

/// Binds ADDRESS PORT (TCP), says "ready", then accepts and closes forever.
const LISTENER: &str = "\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print('ready', flush=True)
while True:
    s.accept()[0].close()
";

/// Connects to ADDRESS PORT within SECONDS, or exits non-zero.
const CONNECT: &str = "\
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
";

/// What the lab needs: root, ip, python3 and nft.
const LAB: [Need; 4] = [
    Need::Root,
    Need::Program("ip"),
    Need::Program("python3"),
    Need::Nft,
];

/// The lab: host, app and client namespaces; deleted on drop (veths go with them).
struct Lab {
    host: NetNs,
    app: NetNs,
    client: NetNs,
    /// Distinguishes this lab's networks from other labs' of this process.
    n: usize,
}

impl Lab {
    fn new() -> Lab {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let lab = Lab {
            host: NetNs::named(format!("pa-rh-{pid}-{n}")),
            app: NetNs::named(format!("pa-ra-{pid}-{n}")),
            client: NetNs::named(format!("pa-rc-{pid}-{n}")),
            n: n % 250,
        };
        lab.join(&lab.client, "vhc", &lab.client_net());
        lab
    }

    /// A veth from the lab host (`host_side`, .1) to `other` (`eth0`, .2) on `net`
    /// (`10.250.N`), and `other`'s default route through the lab host.
    fn join(&self, other: &NetNs, host_side: &str, net: &str) {
        self.host.ip(&[
            "link",
            "add",
            host_side,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            other.name(),
        ]);
        self.host
            .ip(&["addr", "add", &format!("{net}.1/24"), "dev", host_side]);
        self.host.ip(&["link", "set", host_side, "up"]);
        other.ip(&["addr", "add", &format!("{net}.2/24"), "dev", "eth0"]);
        other.ip(&["link", "set", "eth0", "up"]);
        other.ip(&["route", "add", "default", "via", &format!("{net}.1")]);
    }

    /// The app namespace behind the veth `vha`, routed by the lab host.
    fn with_routed_app(self) -> Lab {
        self.join(&self.app, "vha", &self.app_net());
        self
    }

    fn app_net(&self) -> String {
        format!("10.250.{}", self.n)
    }

    fn client_net(&self) -> String {
        format!("10.251.{}", self.n)
    }

    fn app_address(&self) -> String {
        format!("{}.2", self.app_net())
    }

    /// net.ipv4.ip_forward inside the lab host (never the machine's own).
    fn forwarding(&self, on: bool) {
        let value = if on { "1" } else { "0" };
        let status = self
            .host
            .exec(
                "sh",
                [
                    "-c",
                    &format!("echo {value} > /proc/sys/net/ipv4/ip_forward"),
                ],
            )
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cannot set ip_forward in {}",
            self.host.name()
        );
        let now = self
            .host
            .exec("cat", ["/proc/sys/net/ipv4/ip_forward"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&now.stdout).trim(), value);
    }

    /// A TCP listener on ADDRESS:PORT in `ns`, once it listens.
    fn listen(ns: &NetNs, address: &str, port: u16) -> Child {
        let mut cmd = ns.exec("python3", ["-c", LISTENER, address, &port.to_string()]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = Child::spawn(&mut cmd);
        child.wait_for_line("ready", Duration::from_secs(10));
        child
    }

    /// Whether the client namespace connects to ADDRESS:PORT within `seconds`.
    fn client_connects(&self, address: &str, port: u16, seconds: u32) -> bool {
        let out = self
            .client
            .exec(
                "python3",
                [
                    "-c",
                    CONNECT,
                    address,
                    &port.to_string(),
                    &seconds.to_string(),
                ],
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
        out.status.success()
    }

    /// A service address on the lab host's `lo` (a VIP), which the client reaches
    /// through the host.
    fn with_vip_on_lo(self) -> (Lab, &'static str) {
        let vip = "192.0.2.10";
        self.host
            .ip(&["addr", "add", &format!("{vip}/32"), "dev", "lo"]);
        (self, vip)
    }

    /// Load `rules` into the lab host's nftables.
    fn nft(&self, rules: &str) {
        self.host.load_nft(rules);
    }

    /// `portaudit ARGS` in the lab host, nft reachable on PATH.
    fn audit(&self, args: &[&str]) -> Run {
        util::run(
            self.host
                .exec(util::bin(), args)
                .env("PATH", netns::path_with_nft()),
        )
    }

    /// `portaudit --netns APP --json ARGS` in the lab host.
    fn audit_app(&self, args: &[&str]) -> (Run, Report) {
        let mut all = vec!["--netns", self.app.name(), "--json"];
        all.extend_from_slice(args);
        let run = self.audit(&all);
        let report = run.report();
        (run, report)
    }
}

fn ways(s: &Socket) -> Vec<(&str, &str, Option<&str>, Option<&str>)> {
    s.ways_in
        .iter()
        .map(|w| {
            (
                w.via.as_str(),
                w.address.as_str(),
                w.interface.as_deref(),
                w.firewall.as_deref(),
            )
        })
        .collect()
}

patest!(
    a_routed_namespace_is_reachable_when_the_host_forwards,
    LAB,
    |_| {
        let lab = Lab::new().with_routed_app();
        lab.forwarding(true);
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let address = lab.app_address();
        assert!(
            lab.client_connects(&address, PORT, 5),
            "the client cannot reach {address}:{PORT} through the lab host"
        );

        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "a routed listener is exposed:\n{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(s.fails, "{s:#?}");
        assert_eq!(
            ways(s),
            [("routed", address.as_str(), Some("vha"), Some("accepted"))],
            "{s:#?}"
        );
        assert_eq!(s.ways_in[0].port, PORT);

        // The table says how it is reached.
        let table = lab.audit(&["--netns", lab.app.name()]);
        assert_eq!(table.code, 1, "{table:#?}");
        assert!(
            table
                .stdout
                .lines()
                .any(|l| l.contains(&PORT.to_string()) && l.contains("routed via vha")),
            "{}",
            table.stdout
        );

        // Run inside the app namespace, portaudit calls it the host: direct, and exposed
        // all the same: the two views agree.
        let inside = util::run(&mut lab.app.exec(util::bin(), ["--json", "--no-firewall"]));
        assert_eq!(inside.code, 1, "{inside:#?}");
        let report = inside.report();
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert_eq!(
            ways(s),
            [("direct", address.as_str(), Some("eth0"), None)],
            "{s:#?}"
        );
    }
);

patest!(
    a_namespace_the_host_does_not_forward_to_is_contained,
    LAB,
    |_| {
        let lab = Lab::new().with_routed_app();
        lab.forwarding(false);
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let address = lab.app_address();
        assert!(
            !lab.client_connects(&address, PORT, 2),
            "the client reaches {address}:{PORT} although the lab host does not forward"
        );

        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 0, "nothing reaches it:\n{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "contained", "{s:#?}");
        assert!(!s.fails, "{s:#?}");
        assert!(s.ways_in.is_empty(), "{s:#?}");
    }
);

patest!(
    a_forward_hook_drop_is_dropped_and_passes_only_when_trusted,
    LAB,
    |_| {
        let lab = Lab::new().with_routed_app();
        lab.forwarding(true);
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let address = lab.app_address();
        // Matched on the interface facing the app namespace: decided per way in.
        lab.nft(
            "table inet filter {\n  chain forward {\n    type filter hook forward priority 0; \
         policy accept;\n    oifname \"vha\" tcp dport 8080 drop\n  }\n}\n",
        );
        assert!(
            !lab.client_connects(&address, PORT, 2),
            "the client reaches {address}:{PORT} although forward drops it"
        );

        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "dropped still fails by default:\n{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(
            ways(s),
            [("routed", address.as_str(), Some("vha"), Some("dropped"))],
            "{s:#?}"
        );
        assert_eq!(s.verdict, "exposed", "{s:#?}");

        let (run, report) = lab.audit_app(&["--trust-firewall"]);
        assert_eq!(run.code, 0, "{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "filtered", "{s:#?}");
        assert!(!s.fails, "{s:#?}");
    }
);

patest!(
    a_namespace_with_a_macvlan_of_its_own_is_judged_by_its_own_address,
    LAB,
    |_| {
        let lab = Lab::new();
        // The parent: a dummy link in the lab host (a bridge with no ports where the kernel
        // has no dummy driver), standing in for the NIC a macvlan usually sits on.
        let dummy = Command::new("ip")
            .args(["-n", lab.host.name(), "link", "add", "up0", "type", "dummy"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !dummy {
            lab.host.ip(&["link", "add", "up0", "type", "bridge"]);
        }
        lab.host.ip(&["link", "set", "up0", "up"]);
        let net = format!("10.252.{}", lab.n);
        for (ns, last) in [(&lab.app, 2), (&lab.client, 3)] {
            let name = format!("mv{last}");
            lab.host.ip(&[
                "link", "add", &name, "link", "up0", "type", "macvlan", "mode", "bridge",
            ]);
            lab.host.ip(&["link", "set", &name, "netns", ns.name()]);
            ns.ip(&["addr", "add", &format!("{net}.{last}/24"), "dev", &name]);
            ns.ip(&["link", "set", &name, "up"]);
        }
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let address = format!("{net}.2");
        // The lab host does not forward; the client reaches the app over the macvlans.
        lab.forwarding(false);
        assert!(
            lab.client_connects(&address, PORT, 5),
            "the client cannot reach {address}:{PORT} over the macvlan"
        );

        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "its own link reaches it:\n{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert_eq!(
            ways(s),
            [("direct", address.as_str(), Some("mv2"), Some("unknown"))],
            "{s:#?}"
        );
    }
);

patest!(
    iif_lo_accept_does_not_let_a_vip_on_lo_in_from_outside,
    LAB,
    |_| {
        let (lab, vip) = Lab::new().with_vip_on_lo();
        let _redis = Lab::listen(&lab.host, "0.0.0.0", 6379);
        // Without a firewall the client reaches the VIP through the lab host.
        assert!(
            lab.client_connects(vip, 6379, 5),
            "the client cannot reach {vip}:6379"
        );
        lab.nft(
            "table inet filter {\n  chain input {\n    type filter hook input priority 0; \
         policy drop;\n    ct state established,related accept\n    iif lo accept\n    \
         tcp dport 22 accept\n  }\n}\n",
        );
        assert!(
            !lab.client_connects(vip, 6379, 2),
            "the client reaches {vip}:6379 through policy drop"
        );

        let run = lab.audit(&["--json"]);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = run.report();
        let s = report.one("tcp", "0.0.0.0", 6379);
        let on_vip: Vec<_> = ways(s).into_iter().filter(|w| w.1 == vip).collect();
        assert_eq!(
            on_vip,
            [("direct", vip, None, Some("dropped"))],
            "a way from outside never arrives on lo: {s:#?}"
        );
        assert!(
            s.ways_in
                .iter()
                .all(|w| w.firewall.as_deref() == Some("dropped")),
            "{s:#?}"
        );
        // Dropped on every way in: trusting the firewall passes it.
        let trusted = lab.audit(&["--json", "--trust-firewall"]);
        assert_eq!(trusted.code, 0, "{trusted:#?}");
        assert_eq!(
            trusted.report().one("tcp", "0.0.0.0", 6379).verdict,
            "filtered"
        );
    }
);

patest!(a_dormant_table_filters_nothing, LAB, |_| {
    let (lab, vip) = Lab::new().with_vip_on_lo();
    let _redis = Lab::listen(&lab.host, "0.0.0.0", 6379);
    // Its policy would drop everything, but a dormant table's chains are not hooked.
    lab.nft(
        "table inet filter {\n  flags dormant\n  chain input {\n    type filter hook input \
         priority 0; policy drop;\n    tcp dport 22 accept\n  }\n}\n",
    );
    assert!(
        lab.client_connects(vip, 6379, 5),
        "the client cannot reach {vip}:6379 past a dormant table"
    );

    // Trusting the firewall must not pass what the firewall lets in.
    let run = lab.audit(&["--json", "--trust-firewall"]);
    assert_eq!(run.code, 1, "{run:#?}");
    let report = run.report();
    let s = report.one("tcp", "0.0.0.0", 6379);
    assert_eq!(s.verdict, "exposed", "{s:#?}");
    assert!(s.fails, "{s:#?}");
    assert!(
        s.ways_in
            .iter()
            .all(|w| w.firewall.as_deref() == Some("accepted")),
        "the netlink reader names the table dormant: {s:#?}"
    );

    // Read from nft's own listing (nft 1.0.6 garbles the flag), the answer is at worst
    // unknown, never dropped.
    let listed = lab
        .host
        .exec(netns::nft().unwrap(), ["-j", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let saved = std::env::temp_dir().join(format!("portaudit-dormant-{}.json", std::process::id()));
    std::fs::write(&saved, &listed.stdout).unwrap();
    let from_nft = lab.audit(&[
        "--json",
        "--trust-firewall",
        "--ruleset",
        saved.to_str().unwrap(),
    ]);
    std::fs::remove_file(&saved).unwrap();
    assert_eq!(from_nft.code, 1, "{from_nft:#?}");
    let report = from_nft.report();
    let s = report.one("tcp", "0.0.0.0", 6379);
    assert!(
        s.ways_in
            .iter()
            .all(|w| matches!(w.firewall.as_deref(), Some("accepted" | "unknown"))),
        "{s:#?}"
    );
});
