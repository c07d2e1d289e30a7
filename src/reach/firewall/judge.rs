//! The ports the nat prerouting chains publish to other addresses (DNAT), from
//! [`Index::evaluate`]; and, for the tests that pin the evaluator's verdicts and reasons
//! over captured rulesets, the verdict on a new connection to one port at some
//! destinations (what reach asked before it walked the path).
//!
//! Each destination is evaluated once, over every port, and remembered: the sockets of a
//! host share a few destinations, so the rules run per destination, not per socket.

#[cfg(test)]
use std::cell::RefCell;
#[cfg(test)]
use std::collections::HashMap;
use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;
#[cfg(test)]
use std::rc::Rc;

use super::{Class, End, Index, NatAddress, PortSet};
#[cfg(test)]
use super::{Fate, Iface};
#[cfg(test)]
use crate::ruleset::Ruleset;
use crate::ruleset::{ChainKind, Hook};
use crate::socket::{Family, Protocol};
#[cfg(test)]
use crate::socket::{FirewallVerdict, Judgement};

#[cfg(test)]
/// One way in: a destination address, the interface the packet arrives on (`None`: any
/// interface but loopback), and in the forward hook the one it leaves by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The packet's destination address; unspecified (`0.0.0.0`/`::`) when any host
    /// address (a rule on the address cannot be evaluated then).
    pub address: IpAddr,
    pub device: Option<String>,
    /// Forward hook: the interface it is forwarded out of (`None`: some interface, never
    /// loopback). The input and prerouting hooks have none.
    pub out_device: Option<String>,
}

/// A port the nat prerouting hook rewrites to another address (a "published" port).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dnat {
    pub protocol: Protocol,
    /// The destination address the rule matches; `None` when any.
    pub host_address: Option<IpAddr>,
    /// Which families it applies to.
    pub ipv4: bool,
    pub ipv6: bool,
    pub host_ports: RangeInclusive<u16>,
    pub target: IpAddr,
    /// `None`: the port is not changed.
    pub target_port: Option<u16>,
    /// The rule, as a person finds it: `ip nat DOCKER handle 12`.
    pub rule: String,
}

#[cfg(test)]
/// What one destination was evaluated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Asked {
    hook: Hook,
    protocol: Protocol,
    destination: Destination,
    dnat: bool,
}

/// A ruleset, indexed, with the fates of each destination asked so far.
#[cfg(test)]
pub struct Judge<'r> {
    index: Index<'r>,
    #[cfg(test)]
    fates: RefCell<HashMap<Asked, Rc<Vec<Fate>>>>,
}

#[cfg(test)]
/// How one destination ends for one port.
enum Outcome {
    Accept(String),
    Drop(String),
    Unknown(String),
}

#[cfg(test)]
impl<'r> Judge<'r> {
    pub fn new(ruleset: &'r Ruleset) -> Judge<'r> {
        Judge {
            index: Index::new(ruleset),
            #[cfg(test)]
            fates: RefCell::new(HashMap::new()),
        }
    }

    #[cfg(test)]
    /// What the filter chains of `hook` do with a new connection from outside to `port`
    /// at each of `destinations`: accepted when any accepts, dropped when all drop.
    /// `dnat`: the connection was DNAT-ed on its way (`ct status dnat`).
    pub fn judge(
        &self,
        hook: Hook,
        protocol: Protocol,
        port: u16,
        destinations: &[Destination],
        dnat: bool,
    ) -> Judgement {
        let outcomes: Vec<Outcome> = destinations
            .iter()
            .map(|d| self.judge_one(hook, protocol, port, d, dnat))
            .collect();
        let first = |pick: fn(&Outcome) -> Option<&String>| outcomes.iter().find_map(pick);
        let (verdict, why) = if let Some(why) = first(|o| match o {
            Outcome::Accept(why) => Some(why),
            _ => None,
        }) {
            (FirewallVerdict::Accepted, why.as_str())
        } else if let Some(why) = first(|o| match o {
            Outcome::Unknown(why) => Some(why),
            _ => None,
        }) {
            (FirewallVerdict::Unknown, why.as_str())
        } else if let Some(why) = first(|o| match o {
            Outcome::Drop(why) => Some(why),
            _ => None,
        }) {
            (FirewallVerdict::Dropped, why.as_str())
        } else {
            (FirewallVerdict::Unknown, "no destination to judge")
        };
        Judgement {
            verdict,
            why: why.into(),
        }
    }

    #[cfg(test)]
    fn judge_one(
        &self,
        hook: Hook,
        protocol: Protocol,
        port: u16,
        destination: &Destination,
        dnat: bool,
    ) -> Outcome {
        let fates = self.fates(Asked {
            hook,
            protocol,
            destination: destination.clone(),
            dnat,
        });
        let here: Vec<&Fate> = fates.iter().filter(|f| f.ports.contains(port)).collect();
        let why = |f: &Fate| f.why.to_string();
        if here.iter().all(|f| f.end == End::Drop) {
            // The certain one if any; else the way that went on past every rule in
            // doubt (the last), which reads as the chain's own answer.
            let fate = here.iter().find(|f| f.certain).or(here.last());
            return fate.map_or_else(
                || Outcome::Unknown("no fate for this port".into()),
                |f| Outcome::Drop(why(f)),
            );
        }
        if here.iter().all(|f| f.end == End::Pass) {
            let fate = here.iter().find(|f| f.certain).or(here.first());
            return fate.map_or_else(
                || Outcome::Unknown("no fate for this port".into()),
                |f| Outcome::Accept(why(f)),
            );
        }
        let doubt = here
            .iter()
            .find_map(|f| f.doubt.as_deref())
            .map_or_else(|| why(here[0]), str::to_owned);
        Outcome::Unknown(doubt)
    }

    #[cfg(test)]
    /// The fates of one destination over every port, evaluated on first use.
    fn fates(&self, asked: Asked) -> Rc<Vec<Fate>> {
        if let Some(known) = self.fates.borrow().get(&asked) {
            return Rc::clone(known);
        }
        let destination = &asked.destination;
        let address = destination.address.to_canonical();
        let family = match address {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        };
        fn iface(name: &Option<String>) -> Option<Iface<'_>> {
            name.as_deref().map(|name| Iface {
                name,
                ifindex: if name == "lo" { 1 } else { 0 },
                kind: None,
            })
        }
        let class = Class {
            family,
            protocol: asked.protocol,
            daddr: (!address.is_unspecified()).then_some(address),
            dnet: None,
            ports: PortSet::all(),
            iif: iface(&destination.device),
            oif: iface(&destination.out_device),
            mark: Some(0),
            // To one of the host's own sockets, or on through it.
            local: Some(asked.hook == Hook::Input),
            dnat: asked.dnat,
            bridged: false,
        };
        let fates = Rc::new(
            self.index
                .evaluate_kinds(asked.hook, &class, Some(ChainKind::Filter)),
        );
        self.fates.borrow_mut().insert(asked, Rc::clone(&fates));
        fates
    }

    /// [`dnats`] of this ruleset.
    pub fn dnats(&self) -> (Vec<Dnat>, Vec<String>) {
        dnats(&self.index)
    }
}

/// Every DNAT of the nat prerouting chains (following jumps and maps), host side to
/// target, and one line per one whose target could not be read. On the walk's own index
/// of the ruleset: the reasons it renders are rendered once for both.
pub fn dnats(index: &Index<'_>) -> (Vec<Dnat>, Vec<String>) {
    let mut dnats: Vec<Dnat> = Vec::new();
    let mut seen: HashSet<Dnat> = HashSet::new();
    let mut unread = Lines::default();
    for family in [Family::Ipv4, Family::Ipv6] {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let mut class = Class::new(family, protocol, PortSet::range(1, u16::MAX));
            class.local = None;
            let fates = index.evaluate_kinds(Hook::Prerouting, &class, Some(ChainKind::Nat));
            for fate in fates.iter().filter(|f| f.end == End::Pass) {
                if let Some(nat) = &fate.rewrite.nat {
                    let target = match &nat.address {
                        NatAddress::To(a, b) if a == b => *a,
                        // A redirect is to the host itself; a port-only DNAT keeps the
                        // address: neither publishes another one.
                        NatAddress::Interface | NatAddress::Same => continue,
                        NatAddress::To(a, b) => {
                            push_new(
                                &mut unread,
                                format!(
                                    "{}: the dnat address is not one address ({a}-{b})",
                                    nat.rule
                                ),
                            );
                            continue;
                        }
                        NatAddress::Unknown(what) => {
                            push_new(&mut unread, format!("{}: {what}", nat.rule));
                            continue;
                        }
                    };
                    let target_port = match nat.ports {
                        None => None,
                        Some((a, b)) if a == b => Some(a),
                        Some((a, b)) => {
                            push_new(
                                &mut unread,
                                format!("{}: the dnat port is not one port ({a}-{b})", nat.rule),
                            );
                            continue;
                        }
                    };
                    let target = target.to_canonical();
                    if target.is_ipv4() != (family == Family::Ipv4) {
                        continue;
                    }
                    for &(low, high) in fate.ports.ranges() {
                        let dnat = Dnat {
                            protocol,
                            host_address: fate.daddr,
                            ipv4: family == Family::Ipv4,
                            ipv6: family == Family::Ipv6,
                            host_ports: low..=high,
                            target,
                            target_port,
                            rule: nat.rule.to_string(),
                        };
                        if seen.insert(dnat.clone()) {
                            dnats.push(dnat);
                        }
                    }
                } else if let Some(what) = &fate.rewrite.unknown {
                    push_new(&mut unread, what.to_string());
                }
            }
        }
    }
    (dnats, unread.lines)
}

/// Lines in the order first said, each once.
#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    said: HashSet<String>,
}

fn push_new(lines: &mut Lines, line: String) {
    if lines.said.insert(line.clone()) {
        lines.lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> Ruleset {
        let text = match name {
            "empty" => include_str!("../../../tests/fixtures/nft/empty.json"),
            "inet-basic" => include_str!("../../../tests/fixtures/nft/inet-basic.json"),
            "iptables-basic" => include_str!("../../../tests/fixtures/nft/iptables-basic.json"),
            "saddr" => include_str!("../../../tests/fixtures/nft/saddr.json"),
            "iifname" => include_str!("../../../tests/fixtures/nft/iifname.json"),
            "daddr" => include_str!("../../../tests/fixtures/nft/daddr.json"),
            "multi" => include_str!("../../../tests/fixtures/nft/multi.json"),
            "kube-nft" => include_str!("../../../tests/fixtures/nft/kube-nft.json"),
            "vmaps" => include_str!("../../../tests/fixtures/nft/vmaps.json"),
            "docker" => include_str!("../../../tests/fixtures/nft/docker.json"),
            "nft-dnat" => include_str!("../../../tests/fixtures/nft/nft-dnat.json"),
            _ => panic!("no fixture {name}"),
        };
        crate::collect::nft::parse_saved(text).expect("captured fixture parses")
    }

    fn to(address: &str, device: Option<&str>) -> Destination {
        Destination {
            address: address.parse().unwrap(),
            device: device.map(str::to_owned),
            out_device: None,
        }
    }

    fn any4() -> Vec<Destination> {
        vec![to("0.0.0.0", None)]
    }

    fn judge(name: &str, protocol: Protocol, port: u16, at: &[Destination]) -> Judgement {
        let ruleset = fixture(name);
        Judge::new(&ruleset).judge(Hook::Input, protocol, port, at, false)
    }

    fn verdict(name: &str, protocol: Protocol, port: u16, at: &[Destination]) -> FirewallVerdict {
        judge(name, protocol, port, at).verdict
    }

    #[test]
    fn inet_policy_drop_with_ssh_open() {
        for at in [
            any4(),
            vec![to("::", None)],
            vec![to("192.0.2.10", Some("eth0"))],
        ] {
            let ssh = judge("inet-basic", Protocol::Tcp, 22, &at);
            assert_eq!(ssh.verdict, FirewallVerdict::Accepted);
            assert_eq!(&*ssh.why, "inet filter input handle 4: tcp dport 22 accept");
            let redis = judge("inet-basic", Protocol::Tcp, 6379, &at);
            assert_eq!(redis.verdict, FirewallVerdict::Dropped);
            assert_eq!(&*redis.why, "inet filter input: policy drop");
            assert_eq!(
                verdict("inet-basic", Protocol::Udp, 53, &at),
                FirewallVerdict::Dropped
            );
        }
        // On loopback the `iif lo accept` rule lets everything in.
        let lo = judge(
            "inet-basic",
            Protocol::Tcp,
            6379,
            &[to("127.0.0.1", Some("lo"))],
        );
        assert_eq!(lo.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*lo.why, "inet filter input handle 3: iif lo accept");
    }

    #[test]
    fn iptables_nft_gives_the_same_answers() {
        let ssh = judge("iptables-basic", Protocol::Tcp, 22, &any4());
        assert_eq!(ssh.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*ssh.why, "ip filter INPUT handle 3: tcp dport 22 accept");
        let redis = judge("iptables-basic", Protocol::Tcp, 6379, &any4());
        assert_eq!(redis.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*redis.why, "ip filter INPUT: policy drop");
        assert_eq!(
            verdict("iptables-basic", Protocol::Udp, 53, &any4()),
            FirewallVerdict::Dropped
        );
        // An ip table does not see IPv6: nothing filters it.
        let v6 = judge("iptables-basic", Protocol::Tcp, 6379, &[to("::", None)]);
        assert_eq!(v6.verdict, FirewallVerdict::Accepted);
        assert_eq!(&*v6.why, "no input chain: nothing filters");
    }

    #[test]
    fn source_address_rule_is_unknown_never_dropped() {
        let redis = judge("saddr", Protocol::Tcp, 6379, &any4());
        assert_eq!(redis.verdict, FirewallVerdict::Unknown);
        assert_eq!(
            &*redis.why,
            "inet filter input handle 2: ip saddr cannot be evaluated"
        );
        // IPv6 packets cannot match `ip saddr`: surely dropped.
        assert_eq!(
            verdict("saddr", Protocol::Tcp, 6379, &[to("::", None)]),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("saddr", Protocol::Tcp, 22, &any4()),
            FirewallVerdict::Accepted
        );
        assert_eq!(
            verdict("saddr", Protocol::Tcp, 5432, &any4()),
            FirewallVerdict::Dropped
        );
    }

    #[test]
    fn interface_rule_depends_on_the_device() {
        let on = |device| verdict("iifname", Protocol::Tcp, 80, &[to("192.0.2.10", device)]);
        assert_eq!(on(Some("eth0")), FirewallVerdict::Accepted);
        assert_eq!(on(Some("eth1")), FirewallVerdict::Dropped);
        assert_eq!(on(None), FirewallVerdict::Unknown);
        let why = judge("iifname", Protocol::Tcp, 80, &any4()).why;
        assert_eq!(
            &*why,
            "inet filter input handle 2: iifname eth0 cannot be evaluated"
        );
    }

    #[test]
    fn destination_address_rule_with_two_destinations() {
        let open = to("192.0.2.10", None);
        let closed = to("192.0.2.20", None);
        let both = [closed.clone(), open.clone()];
        let judgement = judge("daddr", Protocol::Tcp, 8080, &both);
        assert_eq!(judgement.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*judgement.why,
            "inet filter input handle 2: ip daddr 192.0.2.10 tcp dport 8080 accept"
        );
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 8080, std::slice::from_ref(&closed)),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict(
                "daddr",
                Protocol::Tcp,
                8080,
                &[closed, to("2001:db8::10", None)]
            ),
            FirewallVerdict::Accepted
        );
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 8080, &[to("2001:db8::11", None)]),
            FirewallVerdict::Dropped
        );
        // A wildcard bind: the address is not known, so the answer is not either.
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 8080, &any4()),
            FirewallVerdict::Unknown
        );
        assert_eq!(
            verdict("daddr", Protocol::Tcp, 9000, &both),
            FirewallVerdict::Dropped
        );
    }

    #[test]
    fn no_ruleset_accepts() {
        for ruleset in [fixture("empty"), Ruleset::default()] {
            let judgement =
                Judge::new(&ruleset).judge(Hook::Input, Protocol::Tcp, 6379, &any4(), false);
            assert_eq!(judgement.verdict, FirewallVerdict::Accepted);
            assert_eq!(&*judgement.why, "no input chain: nothing filters");
        }
        let basic = fixture("inet-basic");
        let judge = Judge::new(&basic);
        let forward = judge.judge(Hook::Forward, Protocol::Tcp, 1, &any4(), false);
        assert_eq!(&*forward.why, "no forward chain: nothing filters");
        let none = judge.judge(Hook::Input, Protocol::Tcp, 1, &[], false);
        assert_eq!(none.verdict, FirewallVerdict::Unknown);
    }

    #[test]
    fn sets_ranges_reject_jumps_and_several_base_chains() {
        let v4 = [to("192.0.2.10", None)];
        let v6 = [to("2001:db8::10", None)];
        let http = judge("multi", Protocol::Tcp, 443, &v4);
        assert_eq!(http.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*http.why,
            "inet fw input handle 6: tcp dport @allowed_tcp accept"
        );
        // `tcp dport 3306 reject with tcp reset` in an inet table, read from nft's JSON:
        // nft's listing may have dropped a family check before the reset (it does for
        // `meta nfproto ipv6 …`), so the drop is not certain.
        let mysql = judge("multi", Protocol::Tcp, 3306, &v4);
        assert_eq!(mysql.verdict, FirewallVerdict::Unknown);
        assert_eq!(
            &*mysql.why,
            "inet fw input handle 7: a family check nft's JSON may hide cannot be evaluated"
        );
        assert_eq!(
            verdict("multi", Protocol::Udp, 1500, &v4),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Udp, 2001, &v4),
            FirewallVerdict::Accepted
        );
        // Jumped-to chain: nfproto ipv6 only.
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &v6),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &v4),
            FirewallVerdict::Accepted
        );
        // Named interval set of addresses.
        let blocked = [to("198.51.100.7", None)];
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &blocked),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 8443, &any4()),
            FirewallVerdict::Unknown
        );
        // A rate-limited accept before policy accept: accepted either way.
        let limited = judge("multi", Protocol::Tcp, 9100, &v4);
        assert_eq!(limited.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*limited.why,
            "inet fw checks handle 13: tcp dport 9100 limit accept"
        );
        // After `return`, the rest of the calling chain applies; 7001 is never reached.
        assert_eq!(
            verdict("multi", Protocol::Tcp, 7000, &v4),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 7001, &v4),
            FirewallVerdict::Accepted
        );
        // Other base chains: a drop in any of them drops, for the families they see.
        let extra = judge("multi", Protocol::Tcp, 9999, &v4);
        assert_eq!(extra.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*extra.why, "ip extra input handle 2: tcp dport 9999 drop");
        assert_eq!(
            verdict("multi", Protocol::Tcp, 9999, &v6),
            FirewallVerdict::Accepted
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 9998, &v6),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("multi", Protocol::Tcp, 9998, &v4),
            FirewallVerdict::Accepted
        );
    }

    #[test]
    fn verdict_maps_conntrack_and_paths_that_all_drop() {
        let v4 = [to("192.0.2.10", None)];
        // Every way on from the saddr rule drops: surely dropped.
        let smtp = judge("vmaps", Protocol::Tcp, 25, &v4);
        assert_eq!(smtp.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*smtp.why, "inet filter input: policy drop");
        let https = judge("vmaps", Protocol::Tcp, 443, &v4);
        assert_eq!(https.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*https.why,
            "inet filter input handle 6: ct state new tcp dport 443 accept"
        );
        let mapped = judge("vmaps", Protocol::Tcp, 8000, &v4);
        assert_eq!(mapped.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*mapped.why,
            "inet filter input handle 8: tcp dport vmap { 8000 : accept, 8001 : drop }"
        );
        assert_eq!(
            verdict("vmaps", Protocol::Tcp, 8001, &v4),
            FirewallVerdict::Dropped
        );
        assert_eq!(
            verdict("vmaps", Protocol::Udp, 8000, &v4),
            FirewallVerdict::Dropped
        );
    }

    #[test]
    fn forward_hook_for_dnat_targets() {
        let docker = fixture("docker");
        let judge = Judge::new(&docker);
        let web = judge.judge(
            Hook::Forward,
            Protocol::Tcp,
            80,
            &[to("172.17.0.2", None)],
            true,
        );
        assert_eq!(web.verdict, FirewallVerdict::Accepted);
        assert_eq!(
            &*web.why,
            "ip filter FORWARD handle 2: ip daddr 172.17.0.2 tcp dport 80 accept"
        );
        // `-i docker0 -j ACCEPT`: from outside that depends on the interface.
        let dns = [to("172.17.0.3", None)];
        assert_eq!(
            judge
                .judge(Hook::Forward, Protocol::Udp, 53, &dns, true)
                .verdict,
            FirewallVerdict::Unknown
        );
        let dns = [to("172.17.0.3", Some("eth0"))];
        let judgement = judge.judge(Hook::Forward, Protocol::Udp, 53, &dns, true);
        assert_eq!(judgement.verdict, FirewallVerdict::Dropped);
        assert_eq!(&*judgement.why, "ip filter FORWARD: policy drop");
        // The input hook has no chain in this ruleset.
        assert_eq!(
            judge
                .judge(Hook::Input, Protocol::Udp, 53, &dns, false)
                .verdict,
            FirewallVerdict::Accepted
        );
    }

    /// The kernel refuses loops, so this one is made by editing a captured ruleset.
    #[test]
    fn jump_loop_terminates() {
        for looping in [
            r#"{"jump": {"target": "checks"}}"#,
            r#"{"goto": {"target": "checks"}}"#,
        ] {
            let looped = include_str!("../../../tests/fixtures/nft/multi.json")
                .replace(r#"{"return": null}"#, looping);
            let ruleset = crate::collect::nft::parse_saved(&looped).unwrap();
            let judgement = Judge::new(&ruleset).judge(
                Hook::Input,
                Protocol::Tcp,
                8443,
                &[to("192.0.2.10", None)],
                false,
            );
            assert_eq!(judgement.verdict, FirewallVerdict::Unknown, "{looping}");
            assert!(
                judgement.why.contains("deeper than 16") || judgement.why.contains("too many ways"),
                "{}",
                judgement.why
            );
        }
    }

    /// A table's flags decide whether its chains filter anything: a dormant table's
    /// policy drop drops nothing, and flags portaudit cannot read never give "dropped".
    #[test]
    fn table_flags_decide_whether_its_chains_filter() {
        let judge = |flags: &str| {
            let json = format!(
                r#"{{"nftables": [
                {{"table": {{"family": "inet", "name": "t", "handle": 1{flags}}}}},
                {{"chain": {{"family": "inet", "table": "t", "name": "input", "handle": 1,
                  "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}}}]}}"#
            );
            let ruleset = crate::collect::nft::parse_saved(&json).unwrap();
            Judge::new(&ruleset).judge(Hook::Input, Protocol::Tcp, 5000, &any4(), false)
        };
        assert_eq!(judge("").verdict, FirewallVerdict::Dropped);
        assert_eq!(
            judge(r#", "flags": "owner""#).verdict,
            FirewallVerdict::Dropped
        );
        assert_eq!(
            judge(r#", "flags": ["owner", "persist"]"#).verdict,
            FirewallVerdict::Dropped
        );
        for dormant in [
            r#", "flags": "dormant""#,
            r#", "flags": ["dormant", "owner"]"#,
        ] {
            let accepted = judge(dormant);
            assert_eq!(accepted.verdict, FirewallVerdict::Accepted, "{dormant}");
            assert_eq!(&*accepted.why, "no input chain: nothing filters");
        }
        // nft 1.0.6 prints a dormant table's flags as the table's name.
        for unclear in [r#", "flags": "t""#, r#", "flags": 1"#] {
            let unknown = judge(unclear);
            assert_eq!(unknown.verdict, FirewallVerdict::Unknown, "{unclear}");
            assert!(unknown.why.contains("it may be dormant"), "{}", unknown.why);
        }
    }

    fn dnat(
        protocol: Protocol,
        host_address: Option<&str>,
        (ipv4, ipv6): (bool, bool),
        host_ports: RangeInclusive<u16>,
        target: &str,
        target_port: Option<u16>,
        rule: &str,
    ) -> Dnat {
        Dnat {
            protocol,
            host_address: host_address.map(|a| a.parse().unwrap()),
            ipv4,
            ipv6,
            host_ports,
            target: target.parse().unwrap(),
            target_port,
            rule: rule.into(),
        }
    }

    #[test]
    fn docker_iptables_nft_dnats_are_unread_in_nfts_json() {
        let ruleset = fixture("docker");
        let (dnats, unread) = Judge::new(&ruleset).dnats();
        assert_eq!(dnats, vec![]);
        assert_eq!(unread.len(), 3, "{unread:#?}");
        assert_eq!(
            unread[0],
            "ip nat DOCKER handle 4: an iptables-nft DNAT target, whose address nft's JSON does not show"
        );
    }

    #[test]
    fn native_nft_sets_jumps_and_maps() {
        let ruleset = fixture("nft-dnat");
        let v4 = (true, false);
        let (dnats, unread) = Judge::new(&ruleset).dnats();
        assert_eq!(
            dnats,
            vec![
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    8080..=8080,
                    "10.88.0.2",
                    Some(80),
                    "inet nat prerouting handle 5"
                ),
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    8443..=8443,
                    "10.88.0.2",
                    Some(80),
                    "inet nat prerouting handle 5"
                ),
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    30080..=30080,
                    "10.244.0.5",
                    Some(8080),
                    "inet nat kube-sep-web handle 10"
                ),
                // The map is read: port 9000 goes to 10.88.0.9 (its port kept).
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    9000..=9000,
                    "10.88.0.9",
                    None,
                    "inet nat prerouting handle 8"
                ),
                dnat(
                    Protocol::Udp,
                    None,
                    (false, true),
                    5000..=5010,
                    "fd00::5",
                    None,
                    "ip6 nat6 prerouting handle 2"
                ),
            ]
        );
        assert_eq!(unread, Vec::<String>::new());
    }

    #[test]
    fn kube_proxy_nft_mode_verdict_maps() {
        let v4 = (true, false);
        let ruleset = fixture("kube-nft");
        assert_eq!(
            Judge::new(&ruleset).dnats().0,
            vec![
                dnat(
                    Protocol::Tcp,
                    Some("10.96.0.10"),
                    v4,
                    53..=53,
                    "10.244.0.3",
                    Some(53),
                    "ip kube-proxy endpoint-dns handle 14"
                ),
                dnat(
                    Protocol::Tcp,
                    None,
                    v4,
                    30080..=30080,
                    "10.244.0.5",
                    Some(8080),
                    "ip kube-proxy endpoint-web handle 16"
                ),
            ]
        );
    }

    #[test]
    fn filter_rules_give_no_dnats() {
        for name in ["inet-basic", "multi", "empty"] {
            let ruleset = fixture(name);
            assert_eq!(Judge::new(&ruleset).dnats(), (vec![], vec![]), "{name}");
        }
    }

    /// The kernel refuses loops, so this one is made by editing a captured ruleset.
    #[test]
    fn dnat_jump_loop_terminates() {
        let looped = include_str!("../../../tests/fixtures/nft/nft-dnat.json").replace(
            r#"{"jump": {"target": "kube-sep-web"}}"#,
            r#"{"jump": {"target": "kube-sep-web"}}, {"jump": {"target": "prerouting"}}, {"goto": {"target": "kube-ext-web"}}"#,
        );
        let ruleset = crate::collect::nft::parse_saved(&looped).unwrap();
        assert_eq!(Judge::new(&ruleset).dnats().0.len(), 5);
    }
}
