//! Rules: what a policy file (and `--allow`) says about sockets, and how one matches.
//!
//! A rule is a set of conditions (protocol, ports, exposure, addresses, process names,
//! executables, users, ephemeral) and an action. Every condition a rule names must hold
//! (AND); a condition with a list holds when any item does (OR). Rules are tried in
//! order and the first that matches decides (see [`super::Policy`] for the order).
//!
//! Owners: a socket can be held by several processes, or by none we could see.
//! - an `allow` rule with `process`/`exe` matches only when *every* known owner fits;
//! - a `deny` rule with `process`/`exe` matches when *any* owner fits;
//! - when no owner is known (or an executable could not be read), a rule conditioned on
//!   them matches neither way: it is skipped, the next rule decides, and a warning says
//!   so. A socket nobody can attribute is never allowed because of who owns it.
//!
//! Services (`service = "redis"`) are recognised as advice recognises them (see
//! `advice`): by the socket's unit, then each owner's executable, then its name. An
//! `allow` matches when the unit or an owner is the service and no owner is known to be
//! something else; a `deny` when the unit or any owner is the service. When no owner
//! says anything (none seen, or only an interpreter), the service's usual port is the
//! last resort ([`Match::ByPort`]), and the policy says so.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::classify::Exposure;
use crate::socket::{Listener, Process, Protocol};

use super::Allow;
use super::advice::{self, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

/// An address or a network: `10.0.0.0/8`, `fd00::/8`, `192.0.2.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("prefix length {p:?} must be 0-{max}")),
            },
        };
        // An IPv4-mapped network means the IPv4 one: sockets are matched the same way.
        let (network, prefix) = match network {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (network, prefix),
            },
            _ => (network, prefix),
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` is the IPv4 address it carries, as classify judges it.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// A user by name or by uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserMatch {
    Name(String),
    Uid(u32),
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// What the report shows as `rule`: the rule's `name`, `rule N`, `--allow SPEC`, …
    pub label: String,
    pub action: Action,
    pub protocol: Option<Protocol>,
    /// Empty: any port.
    pub ports: Vec<Allow>,
    pub exposures: Vec<Exposure>,
    pub addresses: Vec<Cidr>,
    /// `comm` names.
    pub processes: Vec<Vec<u8>>,
    pub exes: Vec<PathBuf>,
    /// Services, recognised by unit, executable and name (their port as a last resort).
    pub services: Vec<&'static Service>,
    /// The `port` values that name a service portaudit knows (`port = "redis"`): they
    /// mean its port number, which surprises when the service listens elsewhere.
    pub port_names: Vec<(String, &'static Service)>,
    /// Where the rule is written (`FILE:LINE: [[rule]] N`), for warnings; `None` for
    /// `--allow` and the built-ins, whose label says it.
    pub origin: Option<String>,
    pub users: Vec<UserMatch>,
    pub ephemeral: Option<bool>,
}

/// Whether a rule applies to a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Yes,
    /// A `service` condition held only by the service's usual port: no owner says who
    /// holds the socket.
    ByPort,
    No,
    /// It would depend on owners we do not know.
    Unknown,
}

impl Match {
    /// Both hold: the weaker answer of the two.
    fn and(self, other: Match) -> Match {
        match (self, other) {
            (Match::No, _) | (_, Match::No) => Match::No,
            (Match::Unknown, _) | (_, Match::Unknown) => Match::Unknown,
            (Match::ByPort, _) | (_, Match::ByPort) => Match::ByPort,
            (Match::Yes, Match::Yes) => Match::Yes,
        }
    }
}

impl Rule {
    /// A rule with no conditions: the builder for `--allow` and the built-in rules.
    pub fn new(label: impl Into<String>, action: Action) -> Rule {
        Rule {
            label: label.into(),
            action,
            protocol: None,
            ports: Vec::new(),
            exposures: Vec::new(),
            addresses: Vec::new(),
            processes: Vec::new(),
            exes: Vec::new(),
            services: Vec::new(),
            port_names: Vec::new(),
            origin: None,
            users: Vec::new(),
            ephemeral: None,
        }
    }

    /// How warnings name the rule: where it is written and its label.
    pub fn name(&self) -> String {
        match &self.origin {
            Some(origin) => format!("{origin} ({:?})", self.label),
            None => self.label.clone(),
        }
    }

    /// An `allow` whose conditions hold for every socket (`--allow 1-65535`, a
    /// `[[rule]]` with none): the policy then fails nothing after it.
    pub fn allows_everything(&self) -> bool {
        let any_exposure = self.exposures.is_empty()
            || (self.exposures.contains(&Exposure::Internal)
                && self.exposures.contains(&Exposure::Public));
        self.action == Action::Allow
            && self.protocol.is_none()
            && any_exposure
            && self.addresses.is_empty()
            && self.processes.is_empty()
            && self.exes.is_empty()
            && self.services.is_empty()
            && self.users.is_empty()
            && self.ephemeral.is_none()
            && [Protocol::Tcp, Protocol::Udp]
                .into_iter()
                .all(|p| self.covers_every_port(p))
    }

    fn covers_every_port(&self, protocol: Protocol) -> bool {
        if self.ports.is_empty() {
            return true;
        }
        let mut ranges: Vec<(u32, u32)> = self
            .ports
            .iter()
            .filter(|a| a.protocol.is_none_or(|p| p == protocol))
            .map(|a| (u32::from(*a.ports.start()), u32::from(*a.ports.end())))
            .collect();
        ranges.sort_unstable();
        let mut next = 1;
        for (start, end) in ranges {
            if start > next {
                return false;
            }
            next = next.max(end + 1);
        }
        next > 65535
    }

    /// Why no socket can ever satisfy this rule's conditions, if none can.
    pub fn never_matches(&self) -> Option<String> {
        let port_protocols: Option<Vec<Protocol>> = self.ports.iter().map(|a| a.protocol).collect();
        let only = |want: Protocol| {
            port_protocols
                .as_ref()
                .is_some_and(|ps| !ps.is_empty() && ps.iter().all(|&p| p == want))
        };
        if let Some(protocol) = self.protocol {
            let other = match protocol {
                Protocol::Tcp => Protocol::Udp,
                Protocol::Udp => Protocol::Tcp,
            };
            if only(other) {
                return Some(format!(
                    "protocol = \"{}\" but every port it names is {}",
                    protocol.name(),
                    other.name()
                ));
            }
        }
        if self.ephemeral == Some(true)
            && (self.protocol == Some(Protocol::Tcp) || only(Protocol::Tcp))
        {
            return Some("ephemeral = true is only ever UDP, but the rule is for TCP".into());
        }
        None
    }

    pub fn matches(&self, l: &Listener, exposure: Exposure, ephemeral: bool) -> Match {
        let socket_fits = self.protocol.is_none_or(|p| p == l.protocol)
            && (self.ports.is_empty() || self.ports.iter().any(|a| a.matches(l.protocol, l.port)))
            && (self.exposures.is_empty() || self.exposures.contains(&exposure))
            && (self.addresses.is_empty() || self.addresses.iter().any(|c| c.contains(l.address)))
            && (self.users.is_empty() || self.users.iter().any(|u| user_fits(u, l)))
            && self.ephemeral.is_none_or(|e| e == ephemeral);
        if !socket_fits {
            return Match::No;
        }
        let owners = if self.processes.is_empty() && self.exes.is_empty() {
            Match::Yes
        } else {
            self.owners_match(l)
        };
        if owners == Match::No || self.services.is_empty() {
            return owners;
        }
        owners.and(self.service_match(l))
    }

    /// The `service` condition: see the module's doc.
    fn service_match(&self, l: &Listener) -> Match {
        let is = |answers: &mut dyn Iterator<Item = Option<bool>>| {
            let answers: Vec<Option<bool>> = answers.collect();
            if answers.contains(&Some(true)) {
                Some(true)
            } else if answers.contains(&Some(false)) {
                Some(false)
            } else {
                None
            }
        };
        let unit = l
            .unit
            .as_deref()
            .and_then(|unit| is(&mut self.services.iter().map(|s| advice::unit_is(s, unit))));
        let owners: Vec<Option<bool>> = l
            .processes
            .iter()
            .map(|p| is(&mut self.services.iter().map(|s| advice::process_is(s, p))))
            .collect();
        let yes = unit == Some(true) || owners.contains(&Some(true));
        let other = unit == Some(false) || owners.contains(&Some(false));
        match self.action {
            Action::Allow if other => return Match::No,
            Action::Deny if yes => return Match::Yes,
            _ if yes => return Match::Yes,
            _ if other => return Match::No,
            _ => {}
        }
        // Nobody says who it is: the service's usual port, as advice does.
        if self
            .services
            .iter()
            .any(|s| advice::usual_port(s, l.protocol, l.port))
        {
            Match::ByPort
        } else if l.processes.is_empty() {
            Match::Unknown
        } else {
            Match::No
        }
    }

    /// The `process` and `exe` conditions: see the module's doc.
    fn owners_match(&self, l: &Listener) -> Match {
        let fits: Vec<Option<bool>> = l.processes.iter().map(|p| self.owner_fits(p)).collect();
        let known_no = fits.contains(&Some(false));
        let known_yes = fits.contains(&Some(true));
        let unknown = fits.is_empty() || fits.contains(&None);
        match self.action {
            // Every owner must fit; one that does not is enough to say no.
            Action::Allow if known_no => Match::No,
            Action::Allow if unknown => Match::Unknown,
            Action::Allow => Match::Yes,
            // One owner that fits is enough.
            Action::Deny if known_yes => Match::Yes,
            Action::Deny if unknown => Match::Unknown,
            Action::Deny => Match::No,
        }
    }

    /// `None` when the answer needs an executable we could not read.
    fn owner_fits(&self, p: &Process) -> Option<bool> {
        if !self.processes.is_empty() && !self.processes.contains(&p.comm) {
            return Some(false);
        }
        if self.exes.is_empty() {
            return Some(true);
        }
        let exe = p.exe.as_ref()?;
        Some(self.exes.contains(exe))
    }
}

fn user_fits(user: &UserMatch, l: &Listener) -> bool {
    match user {
        UserMatch::Uid(uid) => *uid == l.uid,
        UserMatch::Name(name) => l.user.as_deref() == Some(name.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(
        protocol: Protocol,
        address: &str,
        port: u16,
        owners: &[(&str, Option<&str>)],
    ) -> Listener {
        Listener {
            user: Some(b"root"[..].into()),
            processes_complete: true,
            processes: owners
                .iter()
                .enumerate()
                .map(|(i, (comm, exe))| Process {
                    pid: 100 + i as i32,
                    comm: comm.as_bytes().to_vec(),
                    exe: exe.map(PathBuf::from),
                    ..Process::default()
                })
                .collect(),
            ..Listener::new(protocol, address.parse().unwrap(), port, 0, 1)
        }
    }

    #[test]
    fn cidrs() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(
            !net.contains("0.0.0.0".parse().unwrap()),
            "a wildcard is not in 10/8"
        );
        let odd = Cidr::parse("172.16.0.0/12").unwrap();
        assert!(odd.contains("172.31.255.255".parse().unwrap()));
        assert!(!odd.contains("172.32.0.0".parse().unwrap()));
        let host = Cidr::parse("192.0.2.10").unwrap();
        assert!(host.contains("192.0.2.10".parse().unwrap()));
        assert!(!host.contains("192.0.2.11".parse().unwrap()));
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fd00::10".parse().unwrap())
        );
        assert!(
            !Cidr::parse("fd00::/8")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("0.0.0.0".parse().unwrap())
        );
        assert!(
            Cidr::parse("::ffff:10.0.0.0/104")
                .unwrap()
                .contains("10.9.9.9".parse().unwrap())
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "fd00::/129",
            "x",
            "10.0.0.0/",
            "10.0.0.0/-1",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    fn process_rule(action: Action) -> Rule {
        Rule {
            processes: vec![b"node_exporter".to_vec()],
            ..Rule::new("node_exporter", action)
        }
    }

    #[test]
    fn allow_on_a_process_needs_every_owner_to_fit() {
        let rule = process_rule(Action::Allow);
        let one = listener(Protocol::Tcp, "0.0.0.0", 9100, &[("node_exporter", None)]);
        assert_eq!(rule.matches(&one, Exposure::Public, false), Match::Yes);
        let mixed = listener(
            Protocol::Tcp,
            "0.0.0.0",
            9100,
            &[("node_exporter", None), ("nc", None)],
        );
        assert_eq!(rule.matches(&mixed, Exposure::Public, false), Match::No);
        let other = listener(Protocol::Tcp, "0.0.0.0", 9100, &[("nc", None)]);
        assert_eq!(rule.matches(&other, Exposure::Public, false), Match::No);
        let nobody = listener(Protocol::Tcp, "0.0.0.0", 9100, &[]);
        assert_eq!(
            rule.matches(&nobody, Exposure::Public, false),
            Match::Unknown
        );
    }

    #[test]
    fn deny_on_a_process_needs_one_owner_to_fit() {
        let rule = process_rule(Action::Deny);
        let mixed = listener(
            Protocol::Tcp,
            "0.0.0.0",
            9100,
            &[("nc", None), ("node_exporter", None)],
        );
        assert_eq!(rule.matches(&mixed, Exposure::Public, false), Match::Yes);
        let other = listener(Protocol::Tcp, "0.0.0.0", 9100, &[("nc", None)]);
        assert_eq!(rule.matches(&other, Exposure::Public, false), Match::No);
        let nobody = listener(Protocol::Tcp, "0.0.0.0", 9100, &[]);
        assert_eq!(
            rule.matches(&nobody, Exposure::Public, false),
            Match::Unknown
        );
    }

    #[test]
    fn exe_rules_need_a_readable_executable() {
        let rule = Rule {
            exes: vec![PathBuf::from("/usr/bin/node_exporter")],
            ..Rule::new("exe", Action::Allow)
        };
        let known = listener(
            Protocol::Tcp,
            "0.0.0.0",
            9100,
            &[("x", Some("/usr/bin/node_exporter"))],
        );
        assert_eq!(rule.matches(&known, Exposure::Public, false), Match::Yes);
        let elsewhere = listener(
            Protocol::Tcp,
            "0.0.0.0",
            9100,
            &[("x", Some("/tmp/node_exporter"))],
        );
        assert_eq!(rule.matches(&elsewhere, Exposure::Public, false), Match::No);
        let unreadable = listener(Protocol::Tcp, "0.0.0.0", 9100, &[("x", None)]);
        assert_eq!(
            rule.matches(&unreadable, Exposure::Public, false),
            Match::Unknown
        );
    }

    #[test]
    fn socket_conditions_are_anded_and_lists_ored() {
        let rule = Rule {
            protocol: Some(Protocol::Udp),
            exposures: vec![Exposure::Public, Exposure::Internal],
            users: vec![UserMatch::Uid(0)],
            ephemeral: Some(false),
            ..Rule::new("udp", Action::Deny)
        };
        let udp = listener(Protocol::Udp, "0.0.0.0", 5353, &[]);
        assert_eq!(rule.matches(&udp, Exposure::Public, false), Match::Yes);
        assert_eq!(rule.matches(&udp, Exposure::Internal, false), Match::Yes);
        assert_eq!(rule.matches(&udp, Exposure::None, false), Match::No);
        assert_eq!(rule.matches(&udp, Exposure::Public, true), Match::No);
        let tcp = listener(Protocol::Tcp, "0.0.0.0", 5353, &[]);
        assert_eq!(rule.matches(&tcp, Exposure::Public, false), Match::No);
        let by_name = Rule {
            users: vec![
                UserMatch::Name("nobody".into()),
                UserMatch::Name("root".into()),
            ],
            ..Rule::new("users", Action::Allow)
        };
        assert_eq!(by_name.matches(&udp, Exposure::Public, false), Match::Yes);
    }
}
