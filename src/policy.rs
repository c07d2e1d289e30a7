//! Policy: which reachable sockets are expected, and the verdict on each listener.
//!
//! A policy is an ordered list of rules; the first that matches a socket decides
//! (see README, "Policy file"). In order:
//! 1. `--allow` flags (the command line wins over the file);
//! 2. the policy file's `[[rule]]`s, top to bottom;
//! 3. built-ins: loopback is fine (`default loopback`), wildcard UDP on an ephemeral port
//!    is a client's (`default ephemeral-udp`, unless `ephemeral_udp = "judge"`), and the
//!    default allowlist, ssh, http and https (`default 22/tcp`, …).
//!
//! A socket no rule matches is `internal` or `exposed` by its exposure. Judging is pure:
//! a listener and its classification in, a verdict out.

pub mod advice;
pub mod file;
pub mod reference;
pub mod rules;
pub mod services;

use std::ops::RangeInclusive;

use serde::Serialize;

use crate::classify::{self, Exposure, Scope};
use crate::collect::sysctl::EphemeralPorts;
use crate::collect::{Collection, Collector, Listener, NamespaceSeen, Protocol, Via};
use crate::error::Error;
use crate::exit::Outcome;
use crate::firewall::{Destination, FirewallVerdict, Hook, Judgement, Ruleset};
use crate::reach::{self, Published, Subject};
use advice::Advice;
use file::{EphemeralUdp, PolicyFile};
use rules::{Action, Match, Rule};
use services::Services;

/// Ordered by severity: the report sorts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Reachable from anywhere and not on the allowlist.
    Exposed,
    /// A `deny` rule matched it: fails whatever its exposure.
    Denied,
    /// Reachable from a private network and not on the allowlist.
    Internal,
    /// Reachable, and on the allowlist.
    Allowed,
    /// Not reachable from outside the host.
    Local,
    /// Dropped by the host firewall on every way in, and `trust_firewall` lets that pass.
    Filtered,
    /// In another network namespace than the host's, and not published: not reachable
    /// from outside.
    Contained,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Exposed => "exposed",
            Verdict::Denied => "denied",
            Verdict::Internal => "internal",
            Verdict::Allowed => "allowed",
            Verdict::Local => "local",
            Verdict::Filtered => "filtered",
            Verdict::Contained => "contained",
        }
    }
}

/// The ports that may be reachable unless `--no-default-allow`: ssh, http, https.
pub const DEFAULT_ALLOW: [&str; 3] = ["22/tcp", "80/tcp", "443/tcp"];

/// The label of the built-in rule that keeps loopback sockets `local`.
pub const LOOPBACK_RULE: &str = "default loopback";
/// The label of the built-in rule that allows wildcard UDP on ephemeral ports.
pub const EPHEMERAL_RULE: &str = "default ephemeral-udp";

/// One allowlist entry: a port range, on one protocol or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub ports: RangeInclusive<u16>,
    pub protocol: Option<Protocol>,
}

impl Allow {
    fn matches(&self, protocol: Protocol, port: u16) -> bool {
        self.ports.contains(&port) && self.protocol.is_none_or(|p| p == protocol)
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// `--allow` rules, then the policy file's, in the order they are tried.
    pub rules: Vec<Rule>,
    /// The default allowlist (empty with `--no-default-allow`), tried last.
    pub defaults: Vec<Rule>,
    /// Fail on `internal` verdicts too.
    pub strict: bool,
    /// Report, but exit 0 on findings (rolling a policy out before enforcing it).
    pub advisory: bool,
    pub ephemeral_udp: EphemeralUdp,
    pub ephemeral_ports: EphemeralPorts,
    /// The policy file in use, if any.
    pub file: Option<std::path::PathBuf>,
    /// A socket the host firewall drops on every way in passes (`filtered`).
    pub trust_firewall: bool,
}

/// How one socket was judged.
struct Decision {
    verdict: Verdict,
    rule: Option<String>,
    /// A rule on owners was skipped because the owners are not known.
    skipped_owner_rule: bool,
}

impl Policy {
    /// Build the policy from `--allow` specs; a bad spec is an error naming it.
    pub fn new(
        specs: &[String],
        default_allow: bool,
        strict: bool,
        services: &Services,
    ) -> Result<Policy, Error> {
        let mut rules = Vec::new();
        for spec in specs {
            rules.push(allow_rule(
                format!("--allow {}", spec.trim()),
                spec,
                services,
            )?);
        }
        let mut defaults = Vec::new();
        for spec in DEFAULT_ALLOW.iter().filter(|_| default_allow) {
            defaults.push(allow_rule(format!("default {spec}"), spec, services)?);
        }
        Ok(Policy {
            rules,
            defaults,
            strict,
            advisory: false,
            ephemeral_udp: EphemeralUdp::default(),
            ephemeral_ports: EphemeralPorts::default(),
            file: None,
            trust_firewall: false,
        })
    }

    /// Add a policy file: its rules after the `--allow` flags, its settings where the
    /// command line did not already decide (a flag can only make the policy stricter or
    /// advisory, never undo the file's `default_allow = false`).
    pub fn add_file(&mut self, file: PolicyFile) {
        self.rules.extend(file.rules);
        self.strict |= file.strict.unwrap_or(false);
        self.advisory |= file.advisory.unwrap_or(false);
        self.trust_firewall |= file.trust_firewall.unwrap_or(false);
        if file.default_allow == Some(false) {
            self.defaults.clear();
        }
        if let Some(ephemeral) = file.ephemeral_udp {
            self.ephemeral_udp = ephemeral;
        }
        self.file = Some(file.path);
    }

    /// A UDP socket on a wildcard address and a port from the kernel's ephemeral range:
    /// most likely a client's (a resolver, an NTP client), not a service.
    pub fn is_ephemeral(&self, listener: &Listener, scope: Scope) -> bool {
        listener.protocol == Protocol::Udp
            && scope == Scope::Wildcard
            && self.ephemeral_ports.range.contains(&listener.port)
    }

    /// The first rule that matches decides; the built-ins come last.
    fn decide(&self, listener: &Listener, exposure: Exposure, ephemeral: bool) -> Decision {
        let mut skipped_owner_rule = false;
        for rule in self.rules.iter() {
            match rule.matches(listener, exposure, ephemeral) {
                Match::Yes => {
                    return Decision {
                        verdict: action_verdict(rule.action, exposure),
                        rule: Some(rule.label.clone()),
                        skipped_owner_rule,
                    };
                }
                Match::Unknown => skipped_owner_rule = true,
                Match::No => {}
            }
        }
        let builtin = if exposure == Exposure::None {
            Some(LOOPBACK_RULE.to_string())
        } else if ephemeral && self.ephemeral_udp == EphemeralUdp::Allow {
            Some(EPHEMERAL_RULE.to_string())
        } else {
            self.defaults
                .iter()
                .find(|r| r.matches(listener, exposure, ephemeral) == Match::Yes)
                .map(|r| r.label.clone())
        };
        let verdict = match (&builtin, exposure) {
            (Some(_), _) => action_verdict(Action::Allow, exposure),
            (None, Exposure::Internal) => Verdict::Internal,
            (None, _) => Verdict::Exposed,
        };
        Decision {
            verdict,
            rule: builtin,
            skipped_owner_rule,
        }
    }

    /// Whether this verdict makes the audit fail (exit 1, unless advisory).
    pub fn fails(&self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Exposed | Verdict::Denied => true,
            Verdict::Internal => self.strict,
            Verdict::Allowed | Verdict::Local | Verdict::Filtered | Verdict::Contained => false,
        }
    }

    /// Classify and judge every listener; sorted by severity, then port.
    pub fn judge(&self, collection: Collection) -> Audit {
        let mut unattributed = 0;
        let subjects = reach::resolve(
            collection.listeners,
            &collection.publishes,
            &collection.namespaces,
        );
        let firewall = collection.firewall_read.then_some(Firewall {
            ruleset: collection.firewall.as_ref(),
            legacy: collection.legacy_firewall,
        });
        let mut findings: Vec<Finding> = subjects
            .into_iter()
            .map(|subject| {
                let (finding, skipped_owner_rule) = self.finding(subject, firewall);
                unattributed += usize::from(skipped_owner_rule);
                finding
            })
            .collect();
        findings.sort_by(|a, b| {
            let key = |f: &Finding| {
                (
                    f.verdict,
                    f.port(),
                    f.listener.protocol,
                    f.listener.family,
                    f.address(),
                    f.listener.port,
                )
            };
            key(a).cmp(&key(b))
        });
        // Advisory mode reports findings but does not fail on them; an audit that could
        // not be done, or not completely, still exits 2.
        let fails = !self.advisory && findings.iter().any(|f| f.fails);
        let outcome = if fails {
            Outcome::Exposed
        } else if collection.incomplete {
            Outcome::Incomplete
        } else {
            Outcome::Clean
        };
        let mut warnings = collection.warnings;
        if unattributed > 0 {
            warnings.push(format!(
                "{unattributed} listening socket{} no known owning process: rules that name a \
                 process or executable were skipped for {}, and later rules decided",
                if unattributed == 1 { " has" } else { "s have" },
                if unattributed == 1 { "it" } else { "them" },
            ));
        }
        Audit {
            findings,
            warnings,
            strict: self.strict,
            incomplete: collection.incomplete,
            outcome,
            advisory: self.advisory,
            ephemeral_ports: self.ephemeral_ports.clone(),
            policy_file: self.file.clone(),
            baseline: None,
            collector: collection.collector,
            namespaces: collection.namespaces,
            firewall_read: collection.firewall_read,
        }
    }

    /// One subject's finding, and whether a rule on owners was skipped for it.
    fn finding(&self, subject: Subject, firewall: Option<Firewall>) -> (Finding, bool) {
        let Subject {
            listener,
            published,
            listening,
            contained,
        } = subject;
        if contained {
            let (scope, _) = classify::classify(listener.address);
            let finding = Finding {
                listener,
                scope,
                exposure: Exposure::None,
                verdict: Verdict::Contained,
                fails: false,
                rule: None,
                ephemeral: false,
                advice: None,
                drift: None,
                published: None,
                listening,
                firewall: None,
            };
            return (finding, false);
        }
        // A published socket is judged as the host side: that is what the outside reaches.
        let view = published.as_ref().map(|host| {
            let mut view = Listener::new(
                host.protocol,
                host.address,
                *host.ports.start(),
                listener.uid,
                listener.inode,
            );
            view.processes = listener.processes.clone();
            view.processes_complete = listener.processes_complete;
            view.user = listener.user.clone();
            view
        });
        let judged = view.as_ref().unwrap_or(&listener);
        let loopback_device = judged.detail.device.as_ref().is_some_and(|d| d.loopback);
        let (scope, exposure) = classify::classify_bound(judged.address, loopback_device);
        let ephemeral = published.is_none() && self.is_ephemeral(judged, scope);
        let decision = self.decide(judged, exposure, ephemeral);
        let firewall = match firewall {
            Some(firewall) if exposure != Exposure::None => {
                Some(firewall.judge(judged, &listener, published.as_ref()))
            }
            _ => None,
        };
        let mut verdict = decision.verdict;
        let mut rule = decision.rule;
        if self.trust_firewall
            && matches!(verdict, Verdict::Exposed | Verdict::Internal)
            && firewall
                .as_ref()
                .is_some_and(|j| j.verdict == FirewallVerdict::Dropped)
        {
            verdict = Verdict::Filtered;
            rule = Some(FIREWALL_RULE.to_string());
        }
        let fails = self.fails(verdict);
        let advice = (fails && exposure != Exposure::None)
            .then(|| advice::lookup(judged.protocol, judged.port))
            .flatten();
        let finding = Finding {
            listener,
            scope,
            exposure,
            verdict,
            fails,
            rule,
            ephemeral,
            advice,
            drift: None,
            published,
            listening,
            firewall,
        };
        (finding, decision.skipped_owner_rule)
    }
}

/// The label of the rule that lets a firewall-dropped socket pass (`trust_firewall`).
pub const FIREWALL_RULE: &str = "trust_firewall";

/// The host's firewall as the policy sees it.
#[derive(Clone, Copy)]
struct Firewall<'a> {
    /// `None`: it was to be read, but could not be.
    ruleset: Option<&'a Ruleset>,
    /// Legacy iptables tables are loaded, which nft cannot show.
    legacy: bool,
}

impl Firewall<'_> {
    /// Accepted by the rules nft shows is only "unknown" when legacy tables could still
    /// drop it; dropped is dropped either way.
    fn judge(
        self,
        judged: &Listener,
        listener: &Listener,
        published: Option<&Published>,
    ) -> Judgement {
        let judgement = firewall_judgement(self.ruleset, judged, listener, published);
        if self.legacy && judgement.verdict == FirewallVerdict::Accepted {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: format!(
                    "{}; but legacy iptables tables are loaded, which nft cannot show",
                    judgement.why
                ),
            };
        }
        judgement
    }
}

/// What the host's firewall does with a new connection from outside: the input hook for
/// the host's own sockets (and a docker-proxy's), the forward hook for a DNAT target.
fn firewall_judgement(
    ruleset: Option<&Ruleset>,
    judged: &Listener,
    listener: &Listener,
    published: Option<&Published>,
) -> Judgement {
    let Some(ruleset) = ruleset else {
        return Judgement {
            verdict: FirewallVerdict::Unknown,
            why: "the ruleset could not be read (see warnings)".into(),
        };
    };
    if let Some(host) = published.filter(|p| matches!(p.via, Via::Dnat { .. })) {
        let destination = Destination {
            address: host.target,
            device: None,
        };
        return ruleset.judge(
            Hook::Forward,
            listener.protocol,
            listener.port,
            &[destination],
        );
    }
    let device = judged.detail.device.as_ref().map(|d| d.name.clone());
    let destinations: Vec<Destination> = match &judged.detail.reachable_on {
        Some(all) if !all.is_empty() => all
            .iter()
            .map(|h| Destination {
                address: h.address,
                device: Some(h.device.clone()),
            })
            .collect(),
        _ => vec![Destination {
            address: judged.address,
            device,
        }],
    };
    ruleset.judge(Hook::Input, judged.protocol, judged.port, &destinations)
}

fn allow_rule(label: String, spec: &str, services: &Services) -> Result<Rule, Error> {
    let ports = parse_allow(spec, services)
        .map_err(|why| Error::new(format!("invalid --allow value {spec:?}: {why}")))?;
    Ok(Rule {
        ports,
        ..Rule::new(label, Action::Allow)
    })
}

/// What a matching rule's action means for a socket of this exposure.
fn action_verdict(action: Action, exposure: Exposure) -> Verdict {
    match (action, exposure) {
        (Action::Deny, _) => Verdict::Denied,
        (Action::Allow, Exposure::None) => Verdict::Local,
        (Action::Allow, _) => Verdict::Allowed,
    }
}

/// A listener with what it means and what we think of it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub listener: Listener,
    pub scope: Scope,
    pub exposure: Exposure,
    pub verdict: Verdict,
    /// This finding alone would make the audit exit 1 (when not advisory).
    pub fails: bool,
    /// The label of the rule that decided the verdict; `None` when no rule matched.
    pub rule: Option<String>,
    /// UDP on a wildcard address and an ephemeral port: probably a client's socket.
    pub ephemeral: bool,
    /// What we know about the service, for failing reachable findings.
    pub advice: Option<&'static Advice>,
    /// Compared with `--baseline`: new or known. `None` without a baseline.
    pub drift: Option<crate::baseline::Drift>,
    /// The host side, when the host publishes this socket (DNAT, docker-proxy); the
    /// verdict is the host side's.
    pub published: Option<Published>,
    /// Whether a socket listens behind it (see [`reach::Subject::listening`]).
    pub listening: Option<bool>,
    /// What the host firewall does with a new connection from outside; `None` when not
    /// asked (not reachable from outside, or the ruleset was not to be read).
    pub firewall: Option<Judgement>,
}

impl Finding {
    /// The port the outside reaches: the host side's when published.
    pub fn port(&self) -> u16 {
        self.published
            .as_ref()
            .map_or(self.listener.port, |p| *p.ports.start())
    }

    /// The address the outside reaches: the host side's when published.
    pub fn address(&self) -> std::net::IpAddr {
        self.published
            .as_ref()
            .map_or(self.listener.address, |p| p.address)
    }

    /// The protocol, the same on both sides.
    pub fn protocol(&self) -> Protocol {
        self.listener.protocol
    }
}

/// The whole judged audit: what the report shows and the exit code follows.
#[derive(Debug)]
pub struct Audit {
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
    pub strict: bool,
    /// Part of a socket table could not be read (see `warnings`).
    pub incomplete: bool,
    pub outcome: Outcome,
    /// Findings were reported but did not fail the audit.
    pub advisory: bool,
    pub ephemeral_ports: EphemeralPorts,
    pub policy_file: Option<std::path::PathBuf>,
    /// The comparison with `--baseline`, when given.
    pub baseline: Option<crate::baseline::Comparison>,
    /// Which collector read the sockets.
    pub collector: Collector,
    /// The network namespaces considered, the host's first.
    pub namespaces: Vec<NamespaceSeen>,
    /// The host's ruleset was to be read: the report has a firewall column.
    pub firewall_read: bool,
}

impl Audit {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == verdict)
            .count()
    }
}

/// `PORT`, `PORT/PROTO`, `LO-HI[/PROTO]`, or a service name (`ssh`, `postgresql/tcp`).
pub fn parse_allow(spec: &str, services: &Services) -> Result<Vec<Allow>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("empty entry".into());
    }
    let (body, protocol) = match spec.split_once('/') {
        Some((body, proto)) => (body, Some(parse_protocol(proto)?)),
        None => (spec, None),
    };
    if body.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        let ports = match body.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
                if lo > hi {
                    return Err(format!("range start {lo} is greater than its end {hi}"));
                }
                lo..=hi
            }
            None => {
                let port = parse_port(body)?;
                port..=port
            }
        };
        return Ok(vec![Allow { ports, protocol }]);
    }
    let name_like = body.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !name_like {
        return Err("expected PORT, PORT/PROTO, LO-HI[/PROTO] or a service name".into());
    }
    let Some(known) = services.lookup(body) else {
        return Err(format!("unknown service name (not in {})", services.source));
    };
    let entries: Vec<Allow> = known
        .iter()
        .filter(|(_, p)| protocol.is_none_or(|want| want == *p))
        .map(|&(port, p)| Allow {
            ports: port..=port,
            protocol: Some(p),
        })
        .collect();
    if entries.is_empty() {
        let proto = protocol.map(Protocol::name).unwrap_or_default();
        return Err(format!(
            "service {body:?} has no {proto} port in {}",
            services.source
        ));
    }
    Ok(entries)
}

pub(crate) fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        _ => Err(format!("unknown protocol {text:?} (expected tcp or udp)")),
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a port number"));
    }
    match text.parse::<u32>() {
        Ok(port @ 1..=65535) => Ok(port as u16),
        _ => Err(format!("port {text} is out of range (1-65535)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::collect::Process;

    impl Policy {
        /// The verdict for an ownerless socket with this exposure (address chosen to fit).
        fn verdict(&self, protocol: Protocol, port: u16, exposure: Exposure) -> Verdict {
            let address = match exposure {
                Exposure::None => "127.0.0.1",
                Exposure::Internal => "10.0.0.1",
                Exposure::Public => "192.0.2.1",
            };
            self.decide(&socket(protocol, address, port, &[]), exposure, false)
                .verdict
        }

        /// Verdict and rule for a socket, judged as `judge` would.
        fn judge_one(&self, l: Listener) -> (Verdict, Option<String>) {
            let audit = self.judge(Collection {
                listeners: vec![l],
                warnings: Vec::new(),
                collector: Default::default(),
                incomplete: false,
                ..Default::default()
            });
            let f = &audit.findings[0];
            (f.verdict, f.rule.clone())
        }
    }

    fn socket(protocol: Protocol, address: &str, port: u16, owners: &[&str]) -> Listener {
        Listener {
            user: Some("root".into()),
            processes_complete: true,
            processes: owners
                .iter()
                .map(|comm| Process {
                    pid: 1,
                    comm: comm.as_bytes().to_vec(),
                    exe: None,
                })
                .collect(),
            ..Listener::new(protocol, address.parse().unwrap(), port, 0, 1)
        }
    }

    fn with_file(text: &str) -> Policy {
        let services = services();
        let file = file::parse(text, std::path::Path::new("t.toml"), &services).unwrap();
        let mut policy = Policy::new(&[], true, false, &services).unwrap();
        policy.add_file(file);
        policy
    }

    /// The README's examples, as the README shows them (examples/portaudit.toml).
    const EXAMPLE: &str = include_str!("../examples/portaudit.toml");

    #[test]
    fn readme_example_postgres_on_10_slash_8_only() {
        let policy = with_file(EXAMPLE);
        let pg = |address| policy.judge_one(socket(Protocol::Tcp, address, 5432, &["postgres"]));
        assert_eq!(
            pg("10.1.2.3"),
            (Verdict::Allowed, Some("postgres on 10.0.0.0/8".into()))
        );
        assert_eq!(
            pg("192.168.1.5"),
            (Verdict::Denied, Some("postgres nowhere else".into()))
        );
        assert_eq!(
            pg("0.0.0.0"),
            (Verdict::Denied, Some("postgres nowhere else".into()))
        );
        assert_eq!(
            pg("127.0.0.1"),
            (Verdict::Local, Some("loopback is fine".into()))
        );
    }

    #[test]
    fn readme_example_node_exporter_only_as_itself() {
        let policy = with_file(EXAMPLE);
        let on_9100 =
            |owners: &[&str]| policy.judge_one(socket(Protocol::Tcp, "0.0.0.0", 9100, owners));
        assert_eq!(
            on_9100(&["node_exporter"]),
            (Verdict::Allowed, Some("node_exporter".into()))
        );
        let denied = (Verdict::Denied, Some("9100 is node_exporter's".into()));
        assert_eq!(on_9100(&["nc"]), denied);
        assert_eq!(on_9100(&["node_exporter", "nc"]), denied);
        assert_eq!(
            on_9100(&[]),
            denied,
            "no known owner is never allowed by owner"
        );
        let audit = policy.judge(Collection {
            listeners: vec![socket(Protocol::Tcp, "0.0.0.0", 9100, &[])],
            warnings: Vec::new(),
            collector: Default::default(),
            incomplete: false,
            ..Default::default()
        });
        assert!(
            audit.warnings[0].contains("no known owning process"),
            "{:?}",
            audit.warnings
        );
    }

    #[test]
    fn readme_example_no_public_udp() {
        let policy = with_file(EXAMPLE);
        let udp = |address, port| policy.judge_one(socket(Protocol::Udp, address, port, &["x"]));
        assert_eq!(
            udp("0.0.0.0", 5353),
            (Verdict::Denied, Some("no public UDP".into()))
        );
        assert_eq!(
            udp("192.0.2.1", 53),
            (Verdict::Denied, Some("no public UDP".into()))
        );
        assert_eq!(udp("10.0.0.1", 53).0, Verdict::Internal);
        assert_eq!(udp("127.0.0.53", 53).0, Verdict::Local);
        // A wildcard client socket on an ephemeral port is left to ephemeral_udp.
        assert_eq!(
            udp("0.0.0.0", 40000),
            (Verdict::Allowed, Some(EPHEMERAL_RULE.into()))
        );
    }

    #[test]
    fn first_match_wins_and_flags_come_first() {
        let services = services();
        let file = file::parse(
            "[[rule]]\nname = \"deny\"\nport = 8080\naction = \"deny\"\n[[rule]]\nname = \"allow\"\nport = 8080\naction = \"allow\"\n",
            std::path::Path::new("t.toml"),
            &services,
        )
        .unwrap();
        let mut policy = Policy::new(&["8080/tcp".into()], true, false, &services).unwrap();
        policy.add_file(file);
        let l = || socket(Protocol::Tcp, "0.0.0.0", 8080, &[]);
        assert_eq!(
            policy.judge_one(l()),
            (Verdict::Allowed, Some("--allow 8080/tcp".into()))
        );
        policy.rules.remove(0);
        assert_eq!(
            policy.judge_one(l()),
            (Verdict::Denied, Some("deny".into()))
        );
        assert_eq!(
            policy.judge_one(socket(Protocol::Tcp, "0.0.0.0", 22, &[])),
            (Verdict::Allowed, Some("default 22/tcp".into()))
        );
        assert_eq!(
            policy.judge_one(socket(Protocol::Tcp, "0.0.0.0", 23, &[])),
            (Verdict::Exposed, None)
        );
    }

    #[test]
    fn ephemeral_udp_is_a_policy_decision() {
        let mut policy = Policy::new(&[], true, false, &services()).unwrap();
        let client = || socket(Protocol::Udp, "0.0.0.0", 45000, &["resolver"]);
        let (scope, _) = classify::classify(client().address);
        assert!(policy.is_ephemeral(&client(), scope));
        assert_eq!(
            policy.judge_one(client()),
            (Verdict::Allowed, Some(EPHEMERAL_RULE.into()))
        );
        policy.ephemeral_udp = EphemeralUdp::Judge;
        assert_eq!(policy.judge_one(client()), (Verdict::Exposed, None));
        // Only UDP, only wildcard binds, only inside the range.
        for l in [
            socket(Protocol::Tcp, "0.0.0.0", 45000, &[]),
            socket(Protocol::Udp, "192.0.2.1", 45000, &[]),
            socket(Protocol::Udp, "0.0.0.0", 11211, &[]),
        ] {
            let (scope, _) = classify::classify(l.address);
            assert!(!policy.is_ephemeral(&l, scope), "{l:?}");
        }
        assert!(policy.is_ephemeral(&socket(Protocol::Udp, "::", 60999, &[]), Scope::Wildcard));
    }

    #[test]
    fn advisory_reports_but_exits_clean() {
        let mut policy = Policy::new(&[], true, false, &services()).unwrap();
        let audit = |p: &Policy| {
            p.judge(Collection {
                listeners: vec![socket(Protocol::Udp, "0.0.0.0", 11211, &["memcached"])],
                warnings: Vec::new(),
                collector: Default::default(),
                incomplete: false,
                ..Default::default()
            })
        };
        assert_eq!(audit(&policy).outcome, Outcome::Exposed);
        policy.advisory = true;
        let advisory = audit(&policy);
        assert_eq!(advisory.outcome, Outcome::Clean);
        assert!(
            advisory.findings[0].fails,
            "the finding still says it would fail"
        );
        let advice = advisory.findings[0].advice.expect("memcached advice");
        assert_eq!(advice.service, "memcached");
    }

    fn services() -> Services {
        Services::parse(
            "ssh 22/tcp\ndomain 53/tcp\ndomain 53/udp\npostgresql 5432/tcp postgres\n",
            "test services".into(),
        )
    }

    fn allow(spec: &str) -> Result<Vec<Allow>, String> {
        parse_allow(spec, &services())
    }

    fn one(ports: RangeInclusive<u16>, protocol: Option<Protocol>) -> Vec<Allow> {
        vec![Allow { ports, protocol }]
    }

    #[test]
    fn port_specs() {
        assert_eq!(allow("5432"), Ok(one(5432..=5432, None)));
        assert_eq!(allow("5432/tcp"), Ok(one(5432..=5432, Some(Protocol::Tcp))));
        assert_eq!(allow("53/UDP"), Ok(one(53..=53, Some(Protocol::Udp))));
        assert_eq!(allow("8000-8100"), Ok(one(8000..=8100, None)));
        assert_eq!(
            allow("60000-61000/udp"),
            Ok(one(60000..=61000, Some(Protocol::Udp)))
        );
        assert_eq!(allow(" 1 "), Ok(one(1..=1, None)));
        assert_eq!(allow("65535"), Ok(one(65535..=65535, None)));
    }

    #[test]
    fn service_specs() {
        assert_eq!(allow("ssh"), Ok(one(22..=22, Some(Protocol::Tcp))));
        assert_eq!(allow("postgres"), Ok(one(5432..=5432, Some(Protocol::Tcp))));
        assert_eq!(allow("domain").unwrap().len(), 2);
        assert_eq!(allow("domain/udp"), Ok(one(53..=53, Some(Protocol::Udp))));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("", "empty"),
            ("0", "out of range"),
            ("65536", "out of range"),
            ("99999999999999999999", "out of range"),
            ("80/sctp", "unknown protocol"),
            ("80/", "unknown protocol"),
            ("90-80", "greater than"),
            ("80-", "not a port"),
            ("1-2-3", "not a port"),
            ("-80", "expected PORT"),
            ("8o", "not a port"),
            ("nonesuch", "unknown service name (not in test services)"),
            ("ssh/udp", "no udp port"),
            ("ss h", "expected PORT"),
            ("/tcp", "expected PORT"),
        ] {
            let err = allow(spec).unwrap_err();
            assert!(err.contains(says), "{spec:?} gave {err:?}");
        }
    }

    #[test]
    fn default_allowlist_is_ssh_http_https_over_tcp() {
        let policy = Policy::new(&[], true, false, &services()).unwrap();
        assert_eq!(
            policy.verdict(Protocol::Tcp, 22, Exposure::Public),
            Verdict::Allowed
        );
        assert_eq!(
            policy.verdict(Protocol::Tcp, 80, Exposure::Public),
            Verdict::Allowed
        );
        assert_eq!(
            policy.verdict(Protocol::Tcp, 443, Exposure::Public),
            Verdict::Allowed
        );
        assert_eq!(
            policy.verdict(Protocol::Udp, 443, Exposure::Public),
            Verdict::Exposed
        );
        assert_eq!(
            policy.verdict(Protocol::Tcp, 8080, Exposure::Public),
            Verdict::Exposed
        );
        let bare = Policy::new(&[], false, false, &services()).unwrap();
        assert_eq!(
            bare.verdict(Protocol::Tcp, 22, Exposure::Public),
            Verdict::Exposed
        );
    }

    #[test]
    fn verdicts() {
        let policy = Policy::new(&["5432/tcp".into()], true, false, &services()).unwrap();
        assert_eq!(
            policy.verdict(Protocol::Tcp, 11211, Exposure::None),
            Verdict::Local
        );
        assert_eq!(
            policy.verdict(Protocol::Tcp, 5432, Exposure::Internal),
            Verdict::Allowed
        );
        assert_eq!(
            policy.verdict(Protocol::Tcp, 5432, Exposure::Public),
            Verdict::Allowed
        );
        assert_eq!(
            policy.verdict(Protocol::Udp, 5432, Exposure::Public),
            Verdict::Exposed
        );
        assert_eq!(
            policy.verdict(Protocol::Tcp, 6379, Exposure::Internal),
            Verdict::Internal
        );
        assert!(policy.fails(Verdict::Exposed));
        assert!(!policy.fails(Verdict::Internal));
        let strict = Policy::new(&[], true, true, &services()).unwrap();
        assert!(strict.fails(Verdict::Internal));
        assert!(!strict.fails(Verdict::Allowed));
    }

    #[test]
    fn bad_spec_error_names_the_flag_and_value() {
        let err = Policy::new(&["ssh".into(), "7o".into()], true, false, &services()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid --allow value \"7o\": \"7o\" is not a port number"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn protocol() -> impl Strategy<Value = Option<Protocol>> {
            prop_oneof![
                Just(None),
                Just(Some(Protocol::Tcp)),
                Just(Some(Protocol::Udp))
            ]
        }

        fn suffix(protocol: Option<Protocol>, upper: bool) -> String {
            match protocol {
                None => String::new(),
                Some(p) if upper => format!("/{}", p.name().to_uppercase()),
                Some(p) => format!("/{}", p.name()),
            }
        }

        proptest! {
            #[test]
            fn port_specs_round_trip(port in 1u16..=65535, protocol in protocol(), upper in any::<bool>()) {
                let spec = format!("{port}{}", suffix(protocol, upper));
                prop_assert_eq!(allow(&spec), Ok(one(port..=port, protocol)));
            }

            #[test]
            fn range_specs_round_trip(a in 1u16..=65535, b in 1u16..=65535, protocol in protocol()) {
                let spec = format!("{a}-{b}{}", suffix(protocol, false));
                let parsed = allow(&spec);
                if a <= b {
                    prop_assert_eq!(parsed, Ok(one(a..=b, protocol)));
                } else {
                    prop_assert!(parsed.unwrap_err().contains("greater than"));
                }
            }

            #[test]
            fn any_spec_is_parsed_or_refused_never_a_panic(spec in "\\PC{0,40}") {
                if let Ok(entries) = allow(&spec) {
                    prop_assert!(!entries.is_empty());
                    for entry in entries {
                        prop_assert!(*entry.ports.start() >= 1 && entry.ports.start() <= entry.ports.end());
                    }
                }
            }

            #[test]
            fn spec_shaped_text_is_parsed_or_refused_never_a_panic(
                spec in "[0-9]{0,7}(-[0-9]{0,7})?(/[a-zA-Z]{0,4})?",
            ) {
                let _ = allow(&spec);
            }
        }
    }
}
