//! The one public door for the fuzz targets (`fuzz/`): each function here feeds one
//! parser of input portaudit does not control, and checks what must hold beyond "no
//! panic". A target is a one-line `fuzz_target!` calling one of them; the seeds in
//! `fuzz/seeds/<target>/` are run through the same functions by `cargo test`.

use std::path::Path;

pub use crate::collect::procnet::{parse_row, parse_table};
pub use crate::policy::parse_allow;
pub use crate::policy::services::Services;
pub use crate::socket::Family;

use crate::collect::network::{self, ipvs, route as routing, tc as traffic};
use crate::collect::{cgroup, container, host, kernel, netlink, proxy};
use crate::socket::{Family as Af, Protocol};

/// The messages of a netlink datagram, as the kernel sent one (the seeds are captured
/// dumps), framed the way portaudit reads them.
fn payloads(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    netlink::messages(datagram).map_while(Result::ok).map(|m| {
        assert!(m.payload.len() <= datagram.len());
        m.payload
    })
}

/// The nftables ruleset decoder on a stream of nf_tables dump messages: every rule it
/// reads is in the model it returns, and at most all of them are undecoded.
#[cfg(target_os = "linux")]
pub fn nft_netlink(stream: &[u8]) {
    if let Ok((ruleset, coverage)) = crate::collect::decode_dump(stream) {
        assert_eq!(ruleset.rules(), coverage.rules);
        assert!(coverage.undecoded <= coverage.rules);
    }
}

/// sock_diag: each message as a TCP and as a UDP socket record.
pub fn inet_diag(datagram: &[u8]) {
    for payload in payloads(datagram) {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            if let Ok(Some(diag)) = netlink::parse_inet_diag(payload, protocol) {
                // A listener has a port; a UDP "listener" on port 0 is a bind in
                // progress, never reported.
                assert!(diag.listener.port != 0 || protocol == Protocol::Tcp);
            }
        }
    }
}

/// RTM_NEWLINK: the interfaces as the path walk reads them (kind, state, master, the
/// other end, a bridge's settings, each interface's forwarding and route_localnet, XDP),
/// and the tunnels' ports of the kernel-socket stage.
pub fn link(datagram: &[u8]) {
    for payload in payloads(datagram) {
        if let Ok(Some(dump)) = network::link::parse(payload) {
            assert_ne!(dump.peer_ifindex, Some(0), "index 0 is no device: {dump:?}");
            assert!(
                !dump.xdp.contains(&0),
                "program id 0 is no program: {dump:?}"
            );
            let mut ids = dump.xdp.clone();
            ids.dedup();
            assert_eq!(ids.len(), dump.xdp.len(), "each program once: {dump:?}");
        }
        if let Some(link) = kernel::parse_link(payload) {
            assert!(link.port != Some(0), "port 0 is no port: {link:?}");
        }
    }
}

/// RTM_NEWADDR: an interface's addresses.
pub fn address(datagram: &[u8]) {
    for payload in payloads(datagram) {
        let _ = netlink::parse_address(payload);
    }
}

/// The routing decision's dumps: RTM_NEWROUTE (every table, every type), RTM_NEWRULE
/// (the policy rules) and RTM_NEWNETCONF (forwarding of `all`).
pub fn route(datagram: &[u8]) {
    let bits = |family: Af| if family == Af::Ipv4 { 32 } else { 128 };
    let of = |address: std::net::IpAddr| {
        if address.is_ipv4() {
            Af::Ipv4
        } else {
            Af::Ipv6
        }
    };
    for message in netlink::messages(datagram).map_while(Result::ok) {
        match message.kind {
            network::RTM_NEWROUTE => {
                if let Ok(Some(r)) = routing::parse_route(message.payload) {
                    assert!(r.prefix_len <= bits(r.family), "{r:?}");
                    assert_eq!(of(r.destination), r.family, "{r:?}");
                    if let Some((source, len)) = r.source {
                        assert!(of(source) == r.family && len <= bits(r.family), "{r:?}");
                    }
                }
            }
            network::RTM_NEWRULE => {
                if let Ok(Some(rule)) = routing::parse_rule(message.payload) {
                    for (address, len) in rule.from.iter().chain(&rule.to) {
                        assert!(of(*address) == rule.family && *len <= bits(rule.family));
                    }
                    for range in rule.sport.iter().chain(&rule.dport) {
                        assert!(range.start() <= range.end(), "{rule:?}");
                    }
                }
            }
            network::RTM_NEWNETCONF => {
                let _ = network::parse_netconf(message.payload);
            }
            _ => {}
        }
    }
}

/// Traffic control: RTM_NEWQDISC (which devices have an ingress hook) and RTM_NEWTFILTER
/// (the filters on it).
pub fn tc(datagram: &[u8]) {
    for message in netlink::messages(datagram).map_while(Result::ok) {
        match message.kind {
            network::RTM_NEWQDISC => {
                let _ = traffic::parse_qdisc(message.payload);
            }
            network::RTM_NEWTFILTER => {
                if let Ok(Some(filter)) = traffic::parse_filter(message.payload) {
                    // Only a BPF classifier names a program.
                    assert!(
                        filter.program.is_none() || filter.kind == "bpf",
                        "{filter:?}"
                    );
                }
            }
            _ => {}
        }
    }
}

/// /proc/net/ip_vs: the IPVS services, or one line naming the line it cannot read.
pub fn ipvs(text: &[u8]) {
    match ipvs::parse(&String::from_utf8_lossy(text)) {
        Ok(services) => {
            for service in services {
                // A service is an address and port of a protocol, or a firewall mark.
                let by_address = service.protocol.is_some()
                    && service.address.is_some()
                    && service.port.is_some();
                assert!(by_address != service.fwmark.is_some(), "{service:?}");
            }
        }
        Err(e) => one_line(&e),
    }
}

/// Generic netlink: the family list, fou's ports, WireGuard's listen port.
pub fn genl(datagram: &[u8]) {
    for payload in payloads(datagram) {
        let _ = kernel::parse_family(payload);
        if let Some(port) = kernel::parse_fou(payload) {
            assert_ne!(port.port, 0);
        }
        assert_ne!(kernel::listen_port(payload), Some(0));
    }
}

/// A policy file (TOML): checked, or one line saying what is wrong where.
pub fn policy(text: &[u8]) {
    thread_local! {
        static SERVICES: Services = Services::parse(
            "ssh 22/tcp\ndomain 53/tcp dns\ndomain 53/udp dns\nhttp 80/tcp www\n",
            "fuzz services".into(),
        );
    }
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    SERVICES.with(|services| {
        if let Err(e) = crate::policy::file::parse(text, Path::new("fuzz.toml"), services) {
            one_line(&e.to_string());
        }
    });
}

/// A baseline file (JSON): its listeners, or one line saying what is wrong where.
pub fn baseline(bytes: &[u8]) {
    if let Err(e) = crate::baseline::parse(bytes, Path::new("fuzz.json")) {
        one_line(&e.to_string());
    }
}

/// /proc/PID/cgroup (the unit or container of a process) and a unit file's [Socket]
/// section.
pub fn cgroup(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    if let Some(unit) = cgroup::unit_of_proc_cgroup(&text) {
        assert!(!unit.is_empty() && !unit.contains('/'), "{unit:?}");
    }
    let _ = cgroup::unit_of_path(&text);
    let _ = container::parse_cgroup(&text);
    let _ = cgroup::socket_section(&text);
}

/// /proc/self/mountinfo (where cgroup2 is, whether /proc hides pids) and uid_map.
pub fn mountinfo(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let _ = cgroup::cgroup2_mount(&text);
    if let Some(option) = host::hidepid_in(&text, Path::new("/proc")) {
        assert!(option.starts_with("hidepid="), "{option}");
    }
    let _ = host::maps_every_uid(&text);
}

/// A process's command line, as a docker-proxy's.
pub fn proxy(cmdline: &[u8]) {
    if let Some(forward) = proxy::parse(cmdline) {
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        assert!(argv0.ends_with(b"docker-proxy"), "{forward:?}");
    }
}

/// A container's cgroup path, Docker's `config.v2.json`, podman's `containers.json`.
pub fn container(bytes: &[u8]) {
    if let Some((runtime, id)) = container::parse_cgroup(&String::from_utf8_lossy(bytes)) {
        assert!(!runtime.is_empty() && !id.is_empty());
    }
    let _ = container::docker_name(bytes);
    // The id of the seeds' containers, so that a found entry's names are read too.
    let _ = container::podman_name(
        bytes,
        "3b2e9a51c0d84f7e96a1b5c27d3e8f40a6c91d7e25b84f03c6d19e7a82f5b40c",
    );
}

/// nft's JSON (`--ruleset FILE`) into the ruleset model, and the model evaluated: an
/// error is one line; a ruleset read is evaluated at every hook for TCP over IPv4 and
/// UDP over IPv6 (nothing known but the ports), and its fates cover exactly the class's
/// ports, each with a one-line reason.
#[cfg(target_os = "linux")]
pub fn nft_json(bytes: &[u8]) {
    use crate::reach::firewall::{Class, PortSet, evaluate};
    use crate::ruleset::Hook;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let ruleset = match crate::collect::nft::parse_saved(text) {
        Ok(ruleset) => ruleset,
        Err(e) => return one_line(&e),
    };
    for (family, protocol) in [(Family::Ipv4, Protocol::Tcp), (Family::Ipv6, Protocol::Udp)] {
        let class = Class::new(family, protocol, PortSet::range(1, u16::MAX));
        for hook in [Hook::Ingress, Hook::Prerouting, Hook::Input, Hook::Forward] {
            let fates = evaluate(&ruleset, hook, &class);
            let mut covered = PortSet::empty();
            for fate in &fates {
                assert_eq!(fate.ports.intersect(&class.ports), fate.ports, "{fate:?}");
                assert!(!fate.ports.is_empty(), "{fate:?}");
                assert_eq!(fate.certain, fate.doubt.is_none() && fate.daddr.is_none());
                for text in std::iter::once(&fate.why).chain(&fate.doubt) {
                    assert!(!text.chars().any(char::is_control), "{text:?}");
                }
                covered = covered.union(&fate.ports);
            }
            assert_eq!(covered, class.ports, "{hook:?}: {fates:#?}");
        }
    }
}

/// Errors are one line: the terminal and the journal show them whole.
fn one_line(message: &str) {
    assert!(!message.contains('\n'), "{message:?}");
}

#[cfg(test)]
mod tests {
    //! Every seed of every target through its function: the seeds are what the fuzzer
    //! starts from, and what they hold is checked, so that a seed that no longer reaches
    //! its parser (a capture gone wrong) fails here rather than fuzzing nothing.

    use super::*;
    use std::path::PathBuf;

    fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
        seeds
    }

    /// The payloads of the messages of type `kind` (not the dump's NLMSG_DONE).
    fn of_kind(datagram: &[u8], kind: u16) -> Vec<&[u8]> {
        netlink::messages(datagram)
            .map_while(Result::ok)
            .filter(|m| m.kind == kind)
            .map(|m| m.payload)
            .collect()
    }

    /// The captured netlink dumps: every datagram frames into messages to the end.
    fn datagrams(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let seeds = seeds(target);
        for (path, bytes) in &seeds {
            assert!(
                netlink::messages(bytes).all(|m| m.is_ok()),
                "{}",
                path.display()
            );
            assert!(netlink::messages(bytes).count() > 0, "{}", path.display());
        }
        seeds
    }

    #[test]
    fn nft_json_seeds_hold_the_captured_rulesets() {
        let mut rules = 0;
        for (path, bytes) in seeds("nft_json") {
            nft_json(&bytes);
            let text = String::from_utf8(bytes).unwrap();
            let ruleset = crate::collect::nft::parse_saved(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            rules += ruleset.rules();
        }
        assert!(rules > 40, "{rules}");
        // What is not a ruleset is one line.
        nft_json(b"Error: syntax error\n");
        nft_json(br#"{"nftables": 1}"#);
    }

    #[test]
    fn nft_netlink_seeds_hold_the_captured_rulesets() {
        let mut rules = 0;
        for (path, bytes) in seeds("nft_netlink") {
            nft_netlink(&bytes);
            let (_, coverage) = crate::collect::decode_dump(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            rules += coverage.rules;
        }
        assert!(rules > 300, "{rules}");
    }

    #[test]
    fn inet_diag_seeds_hold_the_captured_listeners() {
        let mut listeners = Vec::new();
        for (_, bytes) in datagrams("inet_diag") {
            inet_diag(&bytes);
            for payload in of_kind(&bytes, 20) {
                // The capture asked for TCP in LISTEN and UDP in CLOSE: try both.
                for protocol in [Protocol::Tcp, Protocol::Udp] {
                    if let Ok(Some(d)) = netlink::parse_inet_diag(payload, protocol) {
                        listeners.push((protocol, d.listener.address.to_string(), d.v6only));
                    }
                }
            }
        }
        // fuzz/seeds/capture.py binds these (and more) in its namespace.
        for wanted in [
            (Protocol::Tcp, "0.0.0.0", None),
            (Protocol::Tcp, "::", Some(false)),
            (Protocol::Tcp, "::1", Some(true)),
            (Protocol::Udp, "127.0.0.1", None),
            (Protocol::Udp, "::", Some(false)),
        ] {
            let wanted = (wanted.0, wanted.1.to_string(), wanted.2);
            assert!(listeners.contains(&wanted), "{wanted:?} in {listeners:?}");
        }
    }

    #[test]
    fn link_address_and_route_seeds_hold_the_captured_namespaces() {
        let mut kinds = Vec::new();
        let mut tunnels = Vec::new();
        for (_, bytes) in datagrams("link") {
            link(&bytes);
            for payload in of_kind(&bytes, 16) {
                if let Ok(Some(l)) = network::link::parse(payload) {
                    kinds.push((l.link.name, l.link.kind));
                }
                tunnels.extend(kernel::parse_link(payload).and_then(|l| l.port));
            }
        }
        for wanted in [("lo", None), ("v0", Some("veth")), ("br0", Some("bridge"))] {
            let wanted = (wanted.0.to_string(), wanted.1.map(str::to_string));
            assert!(kinds.contains(&wanted), "{wanted:?} in {kinds:?}");
        }
        assert!(tunnels.contains(&4789), "the VXLAN's port: {tunnels:?}");

        let mut addresses = Vec::new();
        for (_, bytes) in datagrams("address") {
            address(&bytes);
            for payload in of_kind(&bytes, 20) {
                addresses.extend(netlink::parse_address(payload).unwrap());
            }
        }
        for wanted in ["127.0.0.1", "10.9.0.1", "fd00:9::1"] {
            assert!(
                addresses.iter().any(|(_, a)| a.to_string() == wanted),
                "{wanted} in {addresses:?}"
            );
        }

        let (mut routes, mut rules, mut forwarding) = (Vec::new(), Vec::new(), Vec::new());
        for (_, bytes) in datagrams("route") {
            route(&bytes);
            for payload in of_kind(&bytes, network::RTM_NEWROUTE) {
                routes.extend(routing::parse_route(payload).unwrap());
            }
            for payload in of_kind(&bytes, network::RTM_NEWRULE) {
                rules.extend(routing::parse_rule(payload).unwrap());
            }
            for payload in of_kind(&bytes, network::RTM_NEWNETCONF) {
                forwarding.extend(network::parse_netconf(payload).unwrap());
            }
        }
        for (wanted, prefix) in [("198.51.100.0", 24), ("10.9.0.0", 24), ("2001:db8:9::", 48)] {
            assert!(
                routes
                    .iter()
                    .any(|r| r.destination.to_string() == wanted && r.prefix_len == prefix),
                "{wanted}/{prefix} in {routes:?}"
            );
        }
        // tests/fixtures/netlink/capture.sh's tables, rules and forwarding.
        assert!(routes.iter().any(|r| r.table == 100), "{routes:?}");
        assert!(
            rules.iter().any(|r| r.fwmark == Some((1, 0xff))),
            "{rules:?}"
        );
        assert_eq!(forwarding.len(), 2, "{forwarding:?}");
    }

    #[test]
    fn tc_and_ipvs_seeds_hold_a_filter_and_the_services() {
        let mut filters = Vec::new();
        for (_, bytes) in datagrams("tc") {
            tc(&bytes);
            for payload in of_kind(&bytes, network::RTM_NEWTFILTER) {
                filters.extend(traffic::parse_filter(payload).unwrap());
            }
        }
        assert!(filters.iter().any(|f| f.kind == "u32"), "{filters:?}");
        for (_, bytes) in seeds("ipvs") {
            ipvs(&bytes);
            let services = ipvs::parse(&String::from_utf8_lossy(&bytes)).unwrap();
            assert_eq!(services.len(), 3, "{services:?}");
        }
    }

    #[test]
    fn genl_seeds_hold_the_family_list() {
        let mut families = Vec::new();
        for (_, bytes) in datagrams("genl") {
            genl(&bytes);
            families.extend(
                of_kind(&bytes, 0x10)
                    .into_iter()
                    .filter_map(kernel::parse_family),
            );
        }
        assert!(
            families
                .iter()
                .any(|(name, id)| name == "nlctrl" && *id == 0x10),
            "{families:?}"
        );
    }

    #[test]
    fn text_seeds_reach_their_parsers() {
        let services = Services::parse("ssh 22/tcp\nhttp 80/tcp www\n", "test".into());
        let mut policies = 0;
        for (path, bytes) in seeds("policy") {
            policy(&bytes);
            let text = std::str::from_utf8(&bytes).unwrap();
            if crate::policy::file::parse(text, &path, &services).is_ok() {
                policies += 1;
            }
        }
        assert!(policies >= 2, "most policy seeds are valid policies");
        for (path, bytes) in seeds("baseline") {
            baseline(&bytes);
            assert!(
                crate::baseline::parse(&bytes, &path).is_ok(),
                "{}",
                path.display()
            );
        }
        let mut units = 0;
        for (_, bytes) in seeds("cgroup") {
            cgroup(&bytes);
            units += usize::from(
                cgroup::unit_of_proc_cgroup(&String::from_utf8_lossy(&bytes)).is_some(),
            );
        }
        assert!(units >= 1, "a seed names a unit");
        let mut mounts = 0;
        for (_, bytes) in seeds("mountinfo") {
            mountinfo(&bytes);
            mounts +=
                usize::from(cgroup::cgroup2_mount(&String::from_utf8_lossy(&bytes)).is_some());
        }
        assert!(mounts >= 1, "a seed mounts cgroup2");
        let mut forwards = 0;
        for (_, bytes) in seeds("proxy") {
            proxy(&bytes);
            forwards += usize::from(proxy::parse(&bytes).is_some());
        }
        assert!(forwards >= 1, "a seed is a docker-proxy's");
        let mut named = 0;
        for (_, bytes) in seeds("container") {
            container(&bytes);
            named += usize::from(
                container::docker_name(&bytes).is_some()
                    || container::parse_cgroup(&String::from_utf8_lossy(&bytes)).is_some(),
            );
        }
        assert!(named >= 2, "seeds name containers");
        let mut rows = 0;
        for (path, bytes) in seeds("row") {
            let family = if path.to_string_lossy().ends_with('6') {
                Family::Ipv6
            } else {
                Family::Ipv4
            };
            rows += parse_table(&bytes, family).map_or(0, |t| t.rows.len());
        }
        assert!(rows >= 40, "the fixtures' rows: {rows}");
    }
}
