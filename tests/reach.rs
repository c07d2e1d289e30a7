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
use crate::util::{self, Report, Run, Socket, TempDir};

const PORT: u16 = 8080;

/// Binds ADDRESS PORT (TCP; with a third argument `transparent`, IP_TRANSPARENT first),
/// says "ready", then accepts and closes forever.
const LISTENER: &str = "\
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if sys.argv[3:] == ['transparent']:
    s.setsockopt(socket.SOL_IP, 19, 1)
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
        Lab::listen_with(ns, address, port, &[])
    }

    /// A listener with IP_TRANSPARENT set, as a tproxy rule's target must be.
    fn listen_transparent(ns: &NetNs, address: &str, port: u16) -> Child {
        Lab::listen_with(ns, address, port, &["transparent"])
    }

    fn listen_with(ns: &NetNs, address: &str, port: u16, extra: &[&str]) -> Child {
        let port = port.to_string();
        let mut args = vec!["-c", LISTENER, address, &port];
        args.extend_from_slice(extra);
        let mut cmd = ns.exec("python3", args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = Child::spawn(&mut cmd);
        child.wait_for_line("ready", Duration::from_secs(10));
        child
    }

    /// Write a sysctl (`net/ipv4/conf/vhc/route_localnet`) inside `ns`, and check it took.
    fn sysctl(ns: &NetNs, key: &str, value: &str) {
        let path = format!("/proc/sys/{key}");
        let status = ns
            .exec("sh", ["-c", &format!("echo {value} > {path}")])
            .status()
            .unwrap();
        assert!(status.success(), "cannot set {key} in {}", ns.name());
        let now = ns.exec("cat", [&path]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&now.stdout).trim(), value, "{key}");
    }

    /// Let the client send to 127.0.0.0/8 through the lab host, as a neighbour with a
    /// route to it does: its own local table after a rule for 127/8 to table 100, and
    /// route_localnet on its side (the kernel will not send 127/8 out of eth0 otherwise).
    fn client_routes_loopback_to_the_host(&self) {
        let c = &self.client;
        c.ip(&[
            "route",
            "add",
            "127.0.0.0/8",
            "via",
            &format!("{}.1", self.client_net()),
            "dev",
            "eth0",
            "table",
            "100",
        ]);
        c.ip(&[
            "rule",
            "add",
            "pref",
            "10",
            "to",
            "127.0.0.0/8",
            "lookup",
            "100",
        ]);
        c.ip(&["rule", "del", "pref", "0", "lookup", "local"]);
        c.ip(&["rule", "add", "pref", "20", "lookup", "local"]);
        Lab::sysctl(c, "net/ipv4/conf/eth0/route_localnet", "1");
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

/// A way in's mechanism, entry, delivered destination and firewall answer.
fn steered(s: &Socket) -> Vec<(&str, Option<&str>, String, Option<&str>)> {
    s.ways_in
        .iter()
        .map(|w| {
            (
                w.via.as_str(),
                w.entry.as_deref(),
                format!("{}:{}", w.delivered_address, w.delivered_port),
                w.firewall.as_deref(),
            )
        })
        .collect()
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
        // Its own ruleset (empty) is read: nothing filters there.
        assert_eq!(
            ways(s),
            [("direct", address.as_str(), Some("mv2"), Some("accepted"))],
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
            [("direct", vip, Some("vhc"), Some("dropped"))],
            "a way from outside never arrives on lo, but where the client is: {s:#?}"
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

/// A veth from the lab host (`host_side`, .1 on `net`) to `other` (`name`, .2), with no
/// route beyond: a second link into a namespace, or a bridge port when `bridge` is given
/// (the host side enslaved, no address on it).
fn veth_to(lab: &Lab, other: &NetNs, host_side: &str, name: &str, net: &str, bridge: Option<&str>) {
    lab.host.ip(&[
        "link",
        "add",
        host_side,
        "type",
        "veth",
        "peer",
        "name",
        name,
        "netns",
        other.name(),
    ]);
    match bridge {
        Some(bridge) => lab.host.ip(&["link", "set", host_side, "master", bridge]),
        None => lab
            .host
            .ip(&["addr", "add", &format!("{net}.1/24"), "dev", host_side]),
    }
    lab.host.ip(&["link", "set", host_side, "up"]);
    let last = if bridge.is_some() && other.name() == lab.client.name() {
        3
    } else {
        2
    };
    other.ip(&["addr", "add", &format!("{net}.{last}/24"), "dev", name]);
    other.ip(&["link", "set", name, "up"]);
}

patest!(
    route_localnet_lets_a_neighbour_reach_loopback_and_off_it_is_local,
    LAB,
    |_| {
        let lab = Lab::new();
        let _redis = Lab::listen(&lab.host, "127.0.0.1", 6379);
        lab.client_routes_loopback_to_the_host();

        // Off, the kernel's default: 127.0.0.1 from outside is martian.
        Lab::sysctl(&lab.host, "net/ipv4/conf/vhc/route_localnet", "0");
        assert!(
            !lab.client_connects("127.0.0.1", 6379, 2),
            "the client reaches 127.0.0.1:6379 with route_localnet off"
        );
        let run = lab.audit(&["--json"]);
        let report = run.report();
        let s = report.one("tcp", "127.0.0.1", 6379);
        assert_eq!(s.verdict, "local", "{s:#?}");
        assert!(s.ways_in.is_empty(), "{s:#?}");
        assert_eq!(run.code, 0, "{run:#?}");

        // On for the client's interface (kube-proxy sets it): a neighbour connects.
        Lab::sysctl(&lab.host, "net/ipv4/conf/vhc/route_localnet", "1");
        assert!(
            lab.client_connects("127.0.0.1", 6379, 5),
            "the client cannot reach 127.0.0.1:6379 with route_localnet on"
        );
        let run = lab.audit(&["--json"]);
        assert_eq!(run.code, 1, "reachable from outside:\n{run:#?}");
        let report = run.report();
        let s = report.one("tcp", "127.0.0.1", 6379);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(s.fails, "{s:#?}");
        assert!(
            steered(s).contains(&(
                "localnet",
                Some("vhc"),
                "127.0.0.1:6379".into(),
                Some("accepted")
            )),
            "{s:#?}"
        );
        let table = lab.audit(&[]);
        assert!(
            table
                .stdout
                .lines()
                .any(|l| l.contains("6379") && l.contains("127.0.0.1 via route_localnet on vhc")),
            "{}",
            table.stdout
        );
    }
);

patest!(
    a_dnat_for_another_address_does_not_apply_to_loopback_from_outside,
    LAB,
    |_| {
        // kube-proxy's shape: a service address DNATed to a local port, route_localnet
        // on. A packet to 127.0.0.1:443 is not to the service address: not rewritten.
        let (lab, vip) = Lab::new().with_vip_on_lo();
        let _app = Lab::listen(&lab.host, "127.0.0.1", 3000);
        lab.client_routes_loopback_to_the_host();
        Lab::sysctl(&lab.host, "net/ipv4/conf/vhc/route_localnet", "1");
        lab.nft(&format!(
            "table ip nat {{\n  chain pre {{\n    type nat hook prerouting priority dstnat; \
             policy accept;\n    ip daddr {vip} tcp dport 443 dnat to 127.0.0.1:3000\n  }}\n}}\n"
        ));
        assert!(
            lab.client_connects(vip, 443, 5),
            "the client cannot reach 127.0.0.1:3000 through {vip}:443"
        );
        assert!(
            !lab.client_connects("127.0.0.1", 443, 2),
            "the client reaches 127.0.0.1:443, which no rule rewrites"
        );

        let run = lab.audit(&["--json"]);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = run.report();
        // The publish is its own record; the socket's has every way in.
        assert_eq!(report.published(443).port, 3000);
        let sockets = report.find("tcp", "127.0.0.1", 3000);
        let s = sockets
            .iter()
            .find(|s| s.published.is_none())
            .unwrap_or_else(|| panic!("{report:#?}"));
        let dnat: Vec<(&str, u16)> = s
            .ways_in
            .iter()
            .filter(|w| w.via == "dnat")
            .map(|w| (w.address.as_str(), w.port))
            .collect();
        assert_eq!(dnat, [(vip, 443)], "{s:#?}");
        assert!(
            steered(s).contains(&(
                "localnet",
                Some("vhc"),
                "127.0.0.1:3000".into(),
                Some("accepted")
            )),
            "{s:#?}"
        );
    }
);

patest!(
    tproxy_hands_outside_traffic_to_a_transparent_socket_and_not_to_a_plain_one,
    LAB,
    |_| {
        let lab = Lab::new();
        lab.nft(
            "table ip mangle {\n  chain pre {\n    type filter hook prerouting priority mangle; \
         policy accept;\n    tcp dport 5000-5999 meta mark set 1 tproxy to 127.0.0.1:7000 \
         accept\n  }\n}\n",
        );
        // What makes tproxy work: marked packets are local, whatever their address.
        lab.host
            .ip(&["rule", "add", "fwmark", "1", "lookup", "100"]);
        lab.host.ip(&[
            "route",
            "add",
            "local",
            "0.0.0.0/0",
            "dev",
            "lo",
            "table",
            "100",
        ]);
        // Any address the client routes through the lab host.
        let anywhere = "203.0.113.7";

        // A plain socket at the target: the kernel assigns it nothing.
        let plain = Lab::listen(&lab.host, "127.0.0.1", 7000);
        assert!(
            !lab.client_connects(anywhere, 5555, 2),
            "the client reaches {anywhere}:5555 with no transparent socket"
        );
        let report = lab.audit(&["--json"]).report();
        let s = report.one("tcp", "127.0.0.1", 7000);
        assert!(
            !s.ways_in.iter().any(|w| w.via == "tproxy"),
            "not transparent, so no tproxy way: {s:#?}"
        );
        assert_eq!(s.verdict, "local", "{s:#?}");
        drop(plain);

        let _proxy = Lab::listen_transparent(&lab.host, "127.0.0.1", 7000);
        assert!(
            lab.client_connects(anywhere, 5555, 5),
            "the client cannot reach the transparent proxy through {anywhere}:5555"
        );
        let run = lab.audit(&["--json"]);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = run.report();
        let s = report.one("tcp", "127.0.0.1", 7000);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        let tproxy: Vec<_> = s.ways_in.iter().filter(|w| w.via == "tproxy").collect();
        assert!(!tproxy.is_empty(), "{s:#?}");
        for w in &tproxy {
            assert_eq!((w.port, w.port_last), (5000, Some(5999)), "{w:#?}");
            assert_eq!(w.entry.as_deref(), Some("vhc"), "{w:#?}");
            assert_eq!(
                (w.delivered_address.as_str(), w.delivered_port),
                ("127.0.0.1", 7000)
            );
            assert_eq!(w.firewall.as_deref(), Some("accepted"), "{w:#?}");
            assert!(
                w.rule.as_deref().is_some_and(|r| r.contains("mangle")),
                "{w:#?}"
            );
        }
        let table = lab.audit(&[]);
        assert!(
            table
                .stdout
                .lines()
                .any(|l| l.contains("tproxy on vhc 5000-5999")),
            "{}",
            table.stdout
        );
    }
);

patest!(
    a_redirect_to_the_host_is_judged_by_input_not_forward,
    LAB,
    |_| {
        let lab = Lab::new();
        let _web = Lab::listen(&lab.host, "0.0.0.0", 8081);
        let rules = |input: &str| {
            format!(
                "table inet f {{\n  chain forward {{\n    type filter hook forward priority 0; policy \
             drop;\n  }}\n  chain input {{\n    type filter hook input priority 0; policy \
             accept;\n    {input}\n  }}\n}}\ntable ip nat {{\n  chain pre {{\n    type nat \
             hook prerouting priority dstnat; policy accept;\n    tcp dport 8080 redirect to \
             :8081\n  }}\n}}\n"
            )
        };
        lab.nft(&rules("counter"));
        let host = format!("{}.1", lab.client_net());
        assert!(
            lab.client_connects(&host, 8080, 5),
            "the client cannot reach {host}:8080 (redirected to :8081)"
        );
        // Forward drops everything, but a redirect is delivered through input.
        let run = lab.audit(&["--json", "--trust-firewall"]);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = run.report();
        let s = report.one("tcp", "0.0.0.0", 8081);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        let redirect = s
            .ways_in
            .iter()
            .find(|w| w.via == "redirect" && w.port == 8080)
            .unwrap_or_else(|| panic!("no redirect way: {s:#?}"));
        assert_eq!(redirect.firewall.as_deref(), Some("accepted"), "{s:#?}");
        assert_eq!(
            (redirect.delivered_address.as_str(), redirect.delivered_port),
            (host.as_str(), 8081)
        );

        // Input drops port 8081: neither way gets through, and trusting the firewall passes.
        lab.host.run_nft(&["flush", "ruleset"], "").unwrap();
        lab.nft(&rules("tcp dport 8081 drop"));
        assert!(!lab.client_connects(&host, 8080, 2), "input should drop it");
        let run = lab.audit(&["--json", "--trust-firewall"]);
        assert_eq!(run.code, 0, "{run:#?}");
        let report = run.report();
        let s = report.one("tcp", "0.0.0.0", 8081);
        assert_eq!(s.verdict, "filtered", "{s:#?}");
        assert!(
            s.ways_in
                .iter()
                .any(|w| w.via == "redirect" && w.firewall.as_deref() == Some("dropped")),
            "{s:#?}"
        );
    }
);

patest!(
    policy_routing_takes_its_table_into_a_namespace_and_that_way_s_forward_drop,
    LAB,
    |_| {
        let lab = Lab::new().with_routed_app();
        lab.forwarding(true);
        // A second link into the app namespace, and a rule sending what comes from the
        // client there (table 200); replies go back the same way.
        let second = format!("10.249.{}", lab.n);
        veth_to(&lab, &lab.app, "vhb", "eth1", &second, None);
        lab.app.ip(&[
            "route",
            "add",
            &format!("{}.0/24", lab.client_net()),
            "via",
            &format!("{second}.1"),
            "dev",
            "eth1",
        ]);
        lab.host
            .ip(&["rule", "add", "pref", "100", "iif", "vhc", "lookup", "200"]);
        lab.host.ip(&[
            "route",
            "add",
            &format!("{}.0/24", lab.app_net()),
            "dev",
            "vhb",
            "table",
            "200",
        ]);
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let address = lab.app_address();
        assert!(
            lab.client_connects(&address, PORT, 5),
            "the client cannot reach {address}:{PORT} through table 200"
        );
        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        let to_app = |s: &Socket| {
            ways(s)
                .into_iter()
                .filter(|w| w.1 == lab.app_address())
                .map(|w| {
                    (
                        w.0.to_owned(),
                        w.2.map(str::to_owned),
                        w.3.map(str::to_owned),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            to_app(s),
            [(
                "routed".to_owned(),
                Some("vhb".into()),
                Some("accepted".into())
            )],
            "the rule's table, not main's vha: {s:#?}"
        );

        // The way table 200 takes drops it; main's way (vha) would accept it.
        lab.nft(
            "table inet filter {\n  chain forward {\n    type filter hook forward priority 0; \
         policy accept;\n    oifname \"vhb\" drop\n  }\n}\n",
        );
        assert!(
            !lab.client_connects(&address, PORT, 2),
            "the client reaches {address}:{PORT} although forward drops it on vhb"
        );
        let (run, report) = lab.audit_app(&["--trust-firewall"]);
        assert_eq!(run.code, 0, "dropped on its only way:\n{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "filtered", "{s:#?}");
        assert_eq!(
            to_app(s),
            [(
                "routed".to_owned(),
                Some("vhb".into()),
                Some("dropped".into())
            )],
            "{s:#?}"
        );
    }
);

patest!(
    a_namespace_s_own_dnat_to_loopback_with_its_own_route_localnet_is_reachable,
    LAB,
    |_| {
        let lab = Lab::new().with_routed_app();
        lab.forwarding(true);
        let _svc = Lab::listen(&lab.app, "127.0.0.1", 9000);
        lab.app.load_nft(
            "table ip nat {\n  chain pre {\n    type nat hook prerouting priority dstnat; policy \
         accept;\n    tcp dport 80 dnat to 127.0.0.1:9000\n  }\n}\n",
        );
        let address = lab.app_address();

        // Without route_localnet there, the rewritten packet is martian: contained.
        Lab::sysctl(&lab.app, "net/ipv4/conf/eth0/route_localnet", "0");
        assert!(
            !lab.client_connects(&address, 80, 2),
            "the client reaches {address}:80 without route_localnet in the app namespace"
        );
        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 0, "{run:#?}");
        assert_eq!(report.one("tcp", "127.0.0.1", 9000).verdict, "contained");

        Lab::sysctl(&lab.app, "net/ipv4/conf/eth0/route_localnet", "1");
        assert!(
            lab.client_connects(&address, 80, 5),
            "the client cannot reach {address}:80 → 127.0.0.1:9000"
        );
        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "{run:#?}");
        let s = report.one("tcp", "127.0.0.1", 9000);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(
            steered(s).contains(&(
                "dnat",
                Some("vhc"),
                "127.0.0.1:9000".into(),
                Some("accepted")
            )),
            "{s:#?}"
        );
        let dnat = s.ways_in.iter().find(|w| w.via == "dnat").unwrap();
        assert_eq!((dnat.address.as_str(), dnat.port), (address.as_str(), 80));
    }
);

/// A bridge `br0` in the lab host with the app namespace's veth as a port (10.253.N.2),
/// and, when `outside`, the client's too (10.253.N.3): the outside's own segment. The lab
/// host does not forward.
fn bridged_lab(outside: bool) -> Lab {
    let lab = Lab::new();
    lab.forwarding(false);
    lab.host.ip(&["link", "add", "br0", "type", "bridge"]);
    lab.host.ip(&["link", "set", "br0", "up"]);
    let net = format!("10.253.{}", lab.n);
    veth_to(&lab, &lab.app, "vba", "eth0", &net, Some("br0"));
    if outside {
        veth_to(&lab, &lab.client, "vbc", "eth1", &net, Some("br0"));
    }
    lab
}

patest!(
    a_bridge_with_a_port_to_the_outside_reaches_its_namespaces_with_forwarding_off,
    LAB,
    |_| {
        let lab = bridged_lab(true);
        Lab::sysctl(&lab.host, "net/bridge/bridge-nf-call-iptables", "0");
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let address = format!("10.253.{}.2", lab.n);
        assert!(
            lab.client_connects(&address, PORT, 5),
            "the client cannot reach {address}:{PORT} across the bridge"
        );
        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        assert!(
            ways(s).contains(&("bridged", address.as_str(), Some("br0"), Some("accepted"))),
            "{s:#?}"
        );

        // br_netfilter passes bridged frames to the inet forward hook, which drops them.
        Lab::sysctl(&lab.host, "net/bridge/bridge-nf-call-iptables", "1");
        lab.nft(
            "table inet filter {\n  chain forward {\n    type filter hook forward priority 0; \
         policy drop;\n  }\n}\n",
        );
        assert!(
            !lab.client_connects(&address, PORT, 2),
            "the client reaches {address}:{PORT} although bridged frames meet forward's drop"
        );
        let (run, report) = lab.audit_app(&["--trust-firewall"]);
        assert_eq!(run.code, 0, "{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(s.verdict, "filtered", "{s:#?}");
        assert!(
            ways(s).contains(&("bridged", address.as_str(), Some("br0"), Some("dropped"))),
            "{s:#?}"
        );
    }
);

patest!(a_bridge_with_only_namespace_ports_is_no_way_in, LAB, |_| {
    let lab = bridged_lab(false);
    let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
    let address = format!("10.253.{}.2", lab.n);
    assert!(
        !lab.client_connects(&address, PORT, 2),
        "the client reaches {address}:{PORT} with no port of its own on the bridge"
    );
    let (run, report) = lab.audit_app(&[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let s = report.one("tcp", "0.0.0.0", PORT);
    assert_eq!(s.verdict, "contained", "{s:#?}");
    assert!(s.ways_in.is_empty(), "{s:#?}");
});

patest!(
    docker_28_s_raw_prerouting_drop_is_filtered_when_the_firewall_is_trusted,
    LAB,
    |_| {
        // docker0 with the container's veth as its only port; the lab host forwards.
        let lab = Lab::new();
        lab.forwarding(true);
        lab.host.ip(&["link", "add", "docker0", "type", "bridge"]);
        lab.host.ip(&["link", "set", "docker0", "up"]);
        let net = format!("10.254.{}", lab.n);
        lab.host
            .ip(&["addr", "add", &format!("{net}.1/24"), "dev", "docker0"]);
        veth_to(&lab, &lab.app, "vethc0", "eth0", &net, Some("docker0"));
        lab.app
            .ip(&["route", "add", "default", "via", &format!("{net}.1")]);
        let _app = Lab::listen(&lab.app, "0.0.0.0", PORT);
        let container = format!("{net}.2");
        assert!(
            lab.client_connects(&container, PORT, 5),
            "the client cannot reach {container}:{PORT} routed by the lab host"
        );
        lab.nft(&format!(
            "table ip raw {{\n  chain PREROUTING {{\n    type filter hook prerouting priority \
         raw; policy accept;\n    ip daddr {container} iifname != \"docker0\" drop\n  }}\n}}\n"
        ));
        assert!(
            !lab.client_connects(&container, PORT, 2),
            "the client reaches {container}:{PORT} past Docker 28's drop"
        );
        let (run, report) = lab.audit_app(&[]);
        assert_eq!(run.code, 1, "dropped still fails by default:\n{run:#?}");
        let s = report.one("tcp", "0.0.0.0", PORT);
        assert_eq!(
            ways(s),
            [(
                "routed",
                container.as_str(),
                Some("docker0"),
                Some("dropped")
            )],
            "{s:#?}"
        );
        let (run, report) = lab.audit_app(&["--trust-firewall"]);
        assert_eq!(run.code, 0, "{run:#?}");
        assert_eq!(report.one("tcp", "0.0.0.0", PORT).verdict, "filtered");
    }
);

patest!(
    an_sk_lookup_program_steers_any_port_to_a_loopback_socket_of_its_map,
    LAB,
    |t| {
        use std::os::fd::AsRawFd;
        let lab = Lab::new();
        let host = format!("{}.1", lab.client_net());
        // The socket is made in the lab host by a thread of ours that moves there; the
        // program and its map live as long as their fds (dropped at the end: detached).
        let (listener, map) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    lab.host.enter();
                    let listener = std::net::TcpListener::bind("127.0.0.1:7000").unwrap();
                    let map = crate::testbpf::sockmap(1).expect("create a SOCKMAP");
                    crate::testbpf::sockmap_put(&map, 0, &listener).expect("put the listener");
                    (listener, map)
                })
                .join()
                .unwrap()
        });
        listener.set_nonblocking(true).unwrap();
        assert!(
            !lab.client_connects(&host, 5555, 2),
            "the client reaches {host}:5555 with nothing listening there"
        );
        let report = lab.audit(&["--json"]).report();
        assert_eq!(report.one("tcp", "127.0.0.1", 7000).verdict, "local");

        let program = match crate::testbpf::sk_lookup_slot0("pa_steer", &map) {
            Ok(program) => program,
            Err(e) => {
                t.skip(&format!("cannot load an sk_lookup program here: {e}"));
                return;
            }
        };
        let netns_file = std::fs::File::open(format!("/run/netns/{}", lab.host.name())).unwrap();
        let _link = crate::testbpf::link(
            &program,
            netns_file.as_raw_fd() as u32,
            crate::testbpf::BPF_SK_LOOKUP,
        )
        .expect("attach the sk_lookup program to the lab host");
        assert!(
            lab.client_connects(&host, 5555, 5),
            "the sk_lookup program does not hand {host}:5555 to 127.0.0.1:7000"
        );
        let run = lab.audit(&["--json"]);
        assert_eq!(run.code, 1, "{run:#?}");
        let report = run.report();
        let s = report.one("tcp", "127.0.0.1", 7000);
        assert_eq!(s.verdict, "exposed", "{s:#?}");
        let steered: Vec<_> = s.ways_in.iter().filter(|w| w.via == "sk_lookup").collect();
        assert!(!steered.is_empty(), "{s:#?}");
        for w in steered {
            assert_eq!((w.port, w.port_last), (0, Some(65535)), "any port: {w:#?}");
            assert!(
                w.rule.as_deref().is_some_and(|r| r.contains("pa_steer")),
                "{w:#?}"
            );
            assert_eq!(
                (w.delivered_address.as_str(), w.delivered_port),
                ("127.0.0.1", 7000)
            );
        }
        drop(listener);
    }
);

// Mechanisms read from files, through captured trees (no root): a kernel whose settings
// and IPVS services are only in /proc, and one without INET_DIAG_SOCKOPT (the proc
// collector never sees IP_TRANSPARENT).

/// `portaudit --proc-root TREE/proc --json --no-config ARGS`.
fn audit_tree(tree: &std::path::Path, args: &[&str]) -> (Run, Report) {
    let run = util::run(
        util::portaudit()
            .arg("--proc-root")
            .arg(tree.join("proc"))
            .args(["--json", "--no-config"])
            .args(args),
    );
    let report = run.report();
    (run, report)
}

#[test]
fn a_captured_tree_with_route_localnet_on_exposes_its_loopback_sockets() {
    // Captured in a namespace whose eth0 has route_localnet=1.
    let (run, report) = audit_tree(&util::fixture("network"), &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    let postgres = report.one("tcp", "127.0.0.1", 5432);
    assert_eq!(postgres.verdict, "exposed", "{postgres:#?}");
    assert!(
        postgres
            .ways_in
            .iter()
            .any(|w| w.via == "localnet" && w.delivered_address == "127.0.0.1"),
        "{postgres:#?}"
    );
    assert_eq!(report.one("udp", "127.0.0.1", 323).verdict, "exposed");
    // The same sockets captured without those settings: the kernel's default, local.
    let (run, report) = audit_tree(&util::fixture("clean"), &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let postgres = report.one("tcp", "127.0.0.1", 5432);
    assert_eq!(postgres.verdict, "local", "{postgres:#?}");
    assert!(postgres.ways_in.is_empty(), "{postgres:#?}");
}

/// The network tree with route_localnet off, and `ip_vs` as given.
fn tree_with_ipvs(dir: &TempDir, name: &str, ip_vs: &str) -> std::path::PathBuf {
    let tree = dir.path().join(name);
    util::copy_tree(&util::fixture("network").join("proc"), &tree.join("proc"));
    std::fs::write(
        tree.join("proc/sys/net/ipv4/conf/eth0/route_localnet"),
        "0\n",
    )
    .unwrap();
    std::fs::write(tree.join("proc/net/ip_vs"), ip_vs).unwrap();
    tree
}

#[test]
fn an_ipvs_service_read_from_proc_reaches_its_real_server() {
    let dir = TempDir::new("ipvs");
    // The kernel's format (ip_vs_ctl.c): TCP 10.0.0.1:80 to 127.0.0.1:5432 (masq).
    let to_postgres = "IP Virtual Server version 1.2.1 (size=4096)\n\
        Prot LocalAddress:Port Scheduler Flags\n  \
        -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
        TCP  0A000001:0050 rr \n  \
        -> 7F000001:1538      Masq    1      0          0         \n";
    let tree = tree_with_ipvs(&dir, "service", to_postgres);
    let (run, report) = audit_tree(&tree, &[]);
    assert_eq!(run.code, 1, "{run:#?}");
    let postgres = report.one("tcp", "127.0.0.1", 5432);
    assert_eq!(postgres.verdict, "exposed", "{postgres:#?}");
    let ipvs: Vec<_> = postgres
        .ways_in
        .iter()
        .filter(|w| w.via == "ipvs")
        .collect();
    assert!(!ipvs.is_empty(), "{postgres:#?}");
    assert!(
        ipvs.iter()
            .all(|w| w.port == 80 && w.rule.as_deref().is_some_and(|r| r.contains("IPVS"))),
        "{ipvs:#?}"
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("IPVS service tcp 10.0.0.1:80")),
        "one warning names the service: {:#?}",
        report.warnings
    );
    // Without the service (and without route_localnet) it is local again.
    let tree = tree_with_ipvs(
        &dir,
        "none",
        "IP Virtual Server version 1.2.1 (size=4096)\n",
    );
    let (_, report) = audit_tree(&tree, &[]);
    assert_eq!(report.one("tcp", "127.0.0.1", 5432).verdict, "local");
}

#[test]
fn tproxy_to_a_socket_whose_ip_transparent_is_not_known_is_reachable_unknown() {
    // /proc/net cannot say IP_TRANSPARENT (nor can a kernel without INET_DIAG_SOCKOPT):
    // the tproxy rule may hand 5000-5999 to postgres, with an unknown answer.
    let ruleset = util::fixture("nft").join("tproxy.json");
    let clean = util::fixture("clean");
    let (run, report) = audit_tree(&clean, &["--ruleset", ruleset.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:#?}");
    let postgres = report.one("tcp", "127.0.0.1", 5432);
    assert_eq!(postgres.verdict, "exposed", "{postgres:#?}");
    let tproxy: Vec<_> = postgres
        .ways_in
        .iter()
        .filter(|w| w.via == "tproxy")
        .collect();
    assert!(!tproxy.is_empty(), "{postgres:#?}");
    for w in tproxy {
        assert_eq!((w.port, w.port_last), (5000, Some(5999)), "{w:#?}");
        assert_eq!(w.firewall.as_deref(), Some("unknown"), "{w:#?}");
    }
    // The other loopback socket is not the rule's target.
    assert_eq!(report.one("udp", "127.0.0.1", 323).verdict, "local");
}
