//! Policy: which reachable sockets are expected, and the verdict on each listener.
//!
//! A policy is an ordered list of rules; the first that matches a socket decides
//! (see docs/policy.md). In order:
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
pub mod known;
mod lint;
pub mod reference;
pub mod rules;
pub mod services;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use crate::audit::{Finding, Judged, Mode, Verdict};
use crate::classify::{self, Exposure, Scope};
use crate::error::Error;
use crate::socket::EphemeralPorts;
use crate::socket::{FirewallVerdict, Listener, Protocol, Subject, Warning, Way};
use file::{EphemeralUdp, PolicyFile};
use lint::{Blind, Elsewhere};
use rules::{Action, Match, Rule};
use services::Services;

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
    /// How many of `rules` come from `--allow` (they come first).
    pub flag_rules: usize,
    /// What is odd about the rules themselves (allows everything, can never match):
    /// warnings, reported with the audit.
    pub lint: Vec<String>,
}

/// How one socket was judged.
struct Decision<'a> {
    verdict: Verdict,
    rule: Option<&'a str>,
    /// The index in `rules` of the rule that decided, if one of them did.
    matched: Option<usize>,
    /// Rules on owners that were skipped because the owners are not known (indices in
    /// `rules`), before the one that decided.
    skipped: Vec<usize>,
    /// The rule that decided matched a service only by its usual port.
    by_port: bool,
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
        let mut lint = Vec::new();
        for spec in specs {
            let rule = allow_rule(format!("--allow {}", spec.trim()), spec, services)?;
            if rule.allows_everything() {
                lint.push(format!(
                    "{} allows every socket: nothing reachable can fail the audit",
                    rule.label
                ));
            }
            rules.push(rule);
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
            flag_rules: specs.len(),
            lint,
        })
    }

    /// Add a policy file: its rules after the `--allow` flags, its settings where the
    /// command line did not already decide (a flag can only make the policy stricter or
    /// advisory, never undo the file's `default_allow = false`).
    pub fn add_file(&mut self, file: PolicyFile) {
        self.rules.extend(file.rules);
        self.lint.extend(file.warnings);
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
    fn decide(&self, listener: &Listener, exposure: Exposure, ephemeral: bool) -> Decision<'_> {
        let mut skipped = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            match rule.matches(listener, exposure, ephemeral) {
                found @ (Match::Yes | Match::ByPort) => {
                    return Decision {
                        verdict: action_verdict(rule.action, exposure),
                        rule: Some(&rule.label),
                        matched: Some(index),
                        skipped,
                        by_port: found == Match::ByPort,
                    };
                }
                Match::Unknown => skipped.push(index),
                Match::No => {}
            }
        }
        let builtin = if exposure == Exposure::None {
            Some(LOOPBACK_RULE)
        } else if ephemeral && self.ephemeral_udp == EphemeralUdp::Allow {
            Some(EPHEMERAL_RULE)
        } else {
            self.defaults
                .iter()
                .find(|r| r.matches(listener, exposure, ephemeral) == Match::Yes)
                .map(|r| r.label.as_str())
        };
        let verdict = match (&builtin, exposure) {
            (Some(_), _) => action_verdict(Action::Allow, exposure),
            (None, Exposure::Internal) => Verdict::Internal,
            (None, _) => Verdict::Exposed,
        };
        Decision {
            verdict,
            rule: builtin,
            matched: None,
            skipped,
            by_port: false,
        }
    }

    /// What decides the outcome besides the verdicts.
    pub fn mode(&self) -> Mode {
        Mode {
            strict: self.strict,
            advisory: self.advisory,
        }
    }

    /// Classify and judge every subject, in the order given (the audit sorts them).
    pub fn judge(&self, subjects: Vec<Subject>) -> Judged {
        let mut matched = vec![false; self.rules.len()];
        let mut labels = Labels::default();
        let mut blind = Blind::default();
        let mut elsewhere = Elsewhere::default();
        let findings: Vec<Finding> = subjects
            .into_iter()
            .map(|subject| {
                let (finding, decision) = self.finding(subject, &mut labels);
                let DecisionTrace {
                    skipped,
                    matched: rule,
                    by_port,
                } = decision;
                if !skipped.is_empty() || by_port {
                    blind.note(&finding, &skipped, rule.filter(|_| by_port));
                }
                if let Some(index) = rule {
                    matched[index] = true;
                }
                elsewhere.note(&self.rules, &finding);
                finding
            })
            .collect();
        let mut warnings: Vec<Warning> = self.lint.iter().cloned().map(Warning::from).collect();
        // Only the command line's: a fleet's policy file names services a host may not run.
        for (rule, _) in self.rules[..self.flag_rules]
            .iter()
            .zip(&matched)
            .filter(|(_, matched)| !**matched)
        {
            warnings.push(Warning::from(format!(
                "{} matched no listening socket this run (informational)",
                rule.label
            )));
        }
        warnings.extend(elsewhere.warnings(&self.rules));
        warnings.extend(blind.warning(&self.rules));
        Judged { findings, warnings }
    }

    /// One subject's finding, and how its rules went.
    fn finding<'a>(
        &'a self,
        subject: Subject,
        labels: &mut Labels<'a>,
    ) -> (Finding, DecisionTrace) {
        let Subject {
            listener,
            published,
            listening,
            ways_in,
            contained,
            firewall,
        } = subject;
        if contained {
            let (scope, _) = classify::classify(listener.address);
            let (ipv4_reachable, ipv4_reachable_guess) = ipv4(&listener);
            let finding = Finding {
                listener,
                scope,
                exposure: Exposure::None,
                class: classify::bind_class(scope, Exposure::None),
                ipv4_reachable,
                ipv4_reachable_guess,
                verdict: Verdict::Contained,
                fails: false,
                rule: None,
                ephemeral: false,
                advice: None,
                drift: None,
                published: None,
                listening,
                ways_in,
                firewall: None,
            };
            return (finding, DecisionTrace::default());
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
            view.unit = listener.unit.clone();
            view.unit_exec = listener.unit_exec.clone();
            view
        });
        let mut judged = view.as_ref().unwrap_or(&listener);
        let loopback_device = |l: &Listener| l.detail.device.as_ref().is_some_and(|d| d.loopback);
        let (mut scope, mut exposure) =
            classify::classify_bound(judged.address, loopback_device(judged));
        let ephemeral = published.is_none() && self.is_ephemeral(judged, scope);
        let mut decision = self.decide(judged, exposure, ephemeral);
        // A published socket that the host also forwards to (routed, or on a link of its
        // namespace's own) is reached at its own address too: judged there as well, the
        // more severe verdict stands.
        let reached_itself = published.is_some()
            && ways_in
                .iter()
                .any(|w| matches!(w.via, Way::Routed | Way::Direct));
        if reached_itself {
            let (own_scope, own_exposure) =
                classify::classify_bound(listener.address, loopback_device(&listener));
            let own = self.decide(&listener, own_exposure, false);
            if own.verdict < decision.verdict {
                let skipped = std::mem::take(&mut decision.skipped);
                decision = own;
                decision.skipped.extend(skipped);
                decision.skipped.sort_unstable();
                decision.skipped.dedup();
                judged = &listener;
                (scope, exposure) = (own_scope, own_exposure);
            }
        }
        let firewall = firewall.filter(|_| exposure != Exposure::None);
        let mut verdict = decision.verdict;
        let mut rule = decision.rule;
        if self.trust_firewall
            && matches!(verdict, Verdict::Exposed | Verdict::Internal)
            && firewall
                .as_ref()
                .is_some_and(|j| j.verdict == FirewallVerdict::Dropped)
        {
            verdict = Verdict::Filtered;
            rule = Some(FIREWALL_RULE);
        }
        // The unit of the socket that answers (a published socket's host side has none).
        let unit = listener.unit.as_deref();
        let advice = (verdict.fails(self.strict) && exposure != Exposure::None)
            .then(|| {
                let owner = advice::Owner::of(judged, unit);
                advice::advise(judged.protocol, judged.port, exposure, &owner)
            })
            .flatten()
            .map(Box::new);
        let (ipv4_reachable, ipv4_reachable_guess) = ipv4(&listener);
        let finding = Finding {
            listener,
            scope,
            exposure,
            class: classify::bind_class(scope, exposure),
            ipv4_reachable,
            ipv4_reachable_guess,
            verdict,
            fails: false,
            rule: rule.map(|label| labels.shared(label)),
            ephemeral,
            advice,
            drift: None,
            published,
            listening,
            ways_in,
            firewall,
        };
        let trace = DecisionTrace {
            skipped: decision.skipped,
            matched: decision.matched,
            by_port: decision.by_port,
        };
        (finding, trace)
    }
}

/// How the rules went for one socket, for the warnings about them.
#[derive(Default)]
struct DecisionTrace {
    /// Rules on owners skipped because the owners are not known.
    skipped: Vec<usize>,
    /// The rule that decided, if one of `rules` did.
    matched: Option<usize>,
    /// It matched a service by its usual port alone.
    by_port: bool,
}

/// One copy of each rule's label, shared by the findings it decided (tens of thousands
/// for `default ephemeral-udp` on a busy resolver).
#[derive(Default)]
struct Labels<'a>(HashMap<&'a str, Arc<str>>);

impl<'a> Labels<'a> {
    fn shared(&mut self, label: &'a str) -> Arc<str> {
        Arc::clone(self.0.entry(label).or_insert_with(|| Arc::from(label)))
    }
}

/// Whether an IPv4 client reaches the socket, and, where the collector cannot tell for
/// a `::` bind, the guess net.ipv6.bindv6only gives.
fn ipv4(l: &Listener) -> (Option<bool>, Option<bool>) {
    let reachable = classify::ipv4_reachable(l.address, l.detail.v6only);
    let guess = if l.address.is_unspecified() && l.detail.v6only.is_none() {
        l.detail.v6only_default.map(|only| !only)
    } else {
        None
    };
    (reachable, guess)
}

/// The label of the rule that lets a firewall-dropped socket pass (`trust_firewall`).
pub const FIREWALL_RULE: &str = "trust_firewall";

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
        return Err(match services.suggest(body) {
            Some(near) => format!("unknown service {body:?} (did you mean {near:?}?)"),
            None => format!("unknown service {body:?} (not in {})", services.source),
        });
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

    use crate::audit::{Context, conclude};
    use crate::exit::Outcome;
    use crate::socket::Process;

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
            let audit = self.judge(vec![Subject::alone(l)]);
            let f = &audit.findings[0];
            (f.verdict, f.rule.as_deref().map(str::to_string))
        }
    }

    fn socket(protocol: Protocol, address: &str, port: u16, owners: &[&str]) -> Listener {
        Listener {
            user: Some(b"root"[..].into()),
            processes_complete: true,
            processes: owners
                .iter()
                .map(|comm| Process {
                    pid: 1,
                    comm: comm.as_bytes().to_vec(),
                    ..Process::default()
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

    /// The example policy, as docs/policy.md shows it (examples/portaudit.toml).
    const EXAMPLE: &str = include_str!("../../examples/portaudit.toml");

    #[test]
    fn failing_findings_come_first_then_severity_then_port_and_ties_keep_their_order() {
        let policy = Policy::new(&[], true, false, &services()).unwrap();
        // (port, address, inode): inodes 5, 6 and 7 share a key (SO_REUSEPORT twins).
        let sockets = [
            (6379, "127.0.0.1", 1),
            (22, "0.0.0.0", 2),
            (9000, "0.0.0.0", 3),
            (8080, "0.0.0.0", 4),
            (8080, "10.0.0.1", 5),
            (8080, "10.0.0.1", 6),
            (80, "0.0.0.0", 8),
            (8080, "10.0.0.1", 7),
            (53, "127.0.0.1", 9),
            (4000, "127.0.0.1", 10),
        ];
        let subjects = || {
            sockets
                .iter()
                .map(|&(port, address, inode)| {
                    let mut l = socket(Protocol::Tcp, address, port, &[]);
                    l.inode = inode;
                    Subject::alone(l)
                })
                .collect()
        };
        let order = |audit: &crate::audit::Audit| -> Vec<(Verdict, u16, u64)> {
            audit
                .findings
                .iter()
                .map(|f| (f.verdict, f.listener.port, f.listener.inode))
                .collect()
        };
        let audit = conclude(
            policy.judge(subjects()),
            None,
            policy.mode(),
            Context::default(),
        );
        assert_eq!(
            order(&audit),
            [
                (Verdict::Exposed, 8080, 4),
                (Verdict::Exposed, 9000, 3),
                (Verdict::Internal, 8080, 5),
                (Verdict::Internal, 8080, 6),
                (Verdict::Internal, 8080, 7),
                (Verdict::Allowed, 22, 2),
                (Verdict::Allowed, 80, 8),
                (Verdict::Local, 53, 9),
                (Verdict::Local, 4000, 10),
                (Verdict::Local, 6379, 1),
            ]
        );
        // New since a baseline that knew all but the loopback 4000: it fails, so it
        // comes with the failing ones, not among the other local sockets.
        let judged = policy.judge(subjects());
        let known = judged
            .findings
            .iter()
            .filter(|f| f.listener.port != 4000)
            .map(crate::baseline::key)
            .collect();
        let path = std::path::Path::new("b.json");
        let drift = crate::baseline::compare(&judged.findings, &known, path, &(32768..=60999));
        let audit = conclude(judged, Some(drift), policy.mode(), Context::default());
        assert_eq!(
            order(&audit)[..4],
            [
                (Verdict::Exposed, 8080, 4),
                (Verdict::Exposed, 9000, 3),
                (Verdict::Local, 4000, 10),
                (Verdict::Internal, 8080, 5),
            ]
        );
        assert!(audit.findings[2].fails && !audit.findings[3].fails);
    }

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

    /// A socket held by processes with these (name, executable).
    fn held(port: u16, owners: &[(&str, Option<&str>)]) -> Listener {
        let mut l = socket(Protocol::Tcp, "0.0.0.0", port, &[]);
        l.processes = owners
            .iter()
            .enumerate()
            .map(|(i, (comm, exe))| Process {
                pid: 100 + i as i32,
                comm: comm.as_bytes().to_vec(),
                exe: exe.map(std::path::PathBuf::from),
                ..Process::default()
            })
            .collect();
        l
    }

    #[test]
    fn readme_example_node_exporter_only_as_itself_by_its_executable() {
        let policy = with_file(EXAMPLE);
        let allowed = (Verdict::Allowed, Some("node exporter".into()));
        let denied = (Verdict::Denied, Some("9100 is the node exporter's".into()));
        let on_9100 = |owners: &[(&str, Option<&str>)]| policy.judge_one(held(9100, owners));
        // Debian's (its name cut to 15 bytes), and upstream's as the RHEL family ships it.
        let debian = ("prometheus-node", Some("/usr/bin/prometheus-node-exporter"));
        let rhel = ("node_exporter", Some("/usr/bin/node_exporter"));
        assert_eq!(on_9100(&[debian]), allowed);
        assert_eq!(on_9100(&[rhel]), allowed);
        assert_eq!(
            on_9100(&[("node_exporter", Some("/tmp/node_exporter"))]),
            denied
        );
        assert_eq!(on_9100(&[rhel, ("nc", Some("/usr/bin/nc"))]), denied);
        assert_eq!(
            on_9100(&[]),
            denied,
            "no known owner is never allowed by owner"
        );
        // As nobody, the executable cannot be read: the rule is skipped, and one warning
        // names it and the socket.
        let audit = policy.judge(vec![Subject::alone(held(9100, &[("node_exporter", None)]))]);
        assert_eq!(audit.findings[0].verdict, Verdict::Denied);
        assert_eq!(
            audit.warnings,
            [
                "1 listening socket was judged without knowing its owners, so rules on owners \
              were not applied as written (run as root to see every owner; as root these \
              verdicts may differ): t.toml:34: [[rule]] 4 (\"node exporter\") was skipped for \
              0.0.0.0:9100/tcp (later rules decided)"
            ]
        );
    }

    #[test]
    fn readme_example_redis_and_memcached_on_any_port() {
        let policy = with_file(EXAMPLE);
        let rule = Some("no reachable redis or memcached".into());
        for (port, owner) in [
            (6379, ("redis-server", Some("/usr/bin/redis-server"))),
            (6380, ("redis-server", Some("/usr/bin/redis-server"))),
            (11311, ("memcached", None)),
        ] {
            assert_eq!(
                policy.judge_one(held(port, &[owner])),
                (Verdict::Denied, rule.clone()),
                "{port} {owner:?}"
            );
        }
        // Something else on redis's port is not redis.
        assert_eq!(
            policy.judge_one(held(6379, &[("nc", Some("/usr/bin/nc"))])),
            (Verdict::Exposed, None)
        );
        // Nobody known: the port is the last resort, and a warning says so.
        let audit = policy.judge(vec![Subject::alone(held(6379, &[]))]);
        assert_eq!(audit.findings[0].verdict, Verdict::Denied);
        assert!(
            audit.warnings[0].text.ends_with(
                "(\"no reachable redis or memcached\") matched 0.0.0.0:6379/tcp by its \
                            service's port only"
            ),
            "{:?}",
            audit.warnings
        );
        // Loopback stays local.
        let mut local = held(6380, &[("redis-server", None)]);
        local.address = "127.0.0.1".parse().unwrap();
        assert_eq!(policy.judge_one(local).0, Verdict::Local);
    }

    #[test]
    fn an_allowed_service_needs_every_owner_to_be_it_and_a_unit_names_it() {
        let policy = with_file(
            "[[rule]]\nname = \"redis anywhere\"\nservice = \"redis\"\naction = \"allow\"\n",
        );
        let allowed = (Verdict::Allowed, Some("redis anywhere".into()));
        let redis = ("redis-server", Some("/usr/bin/redis-server"));
        assert_eq!(policy.judge_one(held(6380, &[redis])), allowed);
        assert_eq!(
            policy.judge_one(held(6380, &[redis, ("nc", None)])).0,
            Verdict::Exposed
        );
        // A unit names a service an interpreter runs; a unit of another service does not.
        let mut by_unit = held(7777, &[("python3", Some("/usr/bin/python3.12"))]);
        by_unit.unit = Some("redis-server.service".into());
        assert_eq!(policy.judge_one(by_unit.clone()), allowed);
        by_unit.unit = Some("memcached.service".into());
        assert_eq!(policy.judge_one(by_unit).0, Verdict::Exposed);
        // An interpreter says nothing: off the service's port, no match.
        assert_eq!(
            policy
                .judge_one(held(7777, &[("python3", Some("/usr/bin/python3.12"))]))
                .0,
            Verdict::Exposed
        );
    }

    #[test]
    fn port_named_after_a_service_that_listens_elsewhere_is_warned_about() {
        let policy =
            with_file("[[rule]]\nname = \"no redis\"\nport = \"redis\"\naction = \"deny\"\n");
        let judged = policy.judge(vec![
            Subject::alone(held(6380, &[("redis-server", None)])),
            Subject::alone(held(6379, &[("redis-server", None)])),
        ]);
        assert_eq!(
            judged.warnings,
            [
                "t.toml:1: [[rule]] 1 (\"no redis\"): port = \"redis\" means that port number \
              only, but redis also listens on 6380/tcp here; to match redis on any port, write \
              service = \"redis\""
            ]
        );
        // Only where the service really is elsewhere.
        let judged = policy.judge(vec![Subject::alone(held(6379, &[("redis-server", None)]))]);
        assert!(judged.warnings.is_empty(), "{:?}", judged.warnings);
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
            let judged = p.judge(vec![Subject::alone(socket(
                Protocol::Udp,
                "0.0.0.0",
                11211,
                &["memcached"],
            ))]);
            conclude(judged, None, p.mode(), Context::default())
        };
        assert_eq!(audit(&policy).outcome, Outcome::Exposed);
        policy.advisory = true;
        let advisory = audit(&policy);
        assert_eq!(advisory.outcome, Outcome::Clean);
        assert!(
            advisory.findings[0].fails,
            "the finding still says it would fail"
        );
        let advice = advisory.findings[0]
            .advice
            .as_ref()
            .expect("memcached advice");
        assert_eq!(advice.service, "memcached");
    }

    #[test]
    fn a_policy_that_allows_everything_is_warned_about() {
        let everything = Policy::new(&["1-65535".into()], true, false, &services()).unwrap();
        let judged = everything.judge(vec![]);
        assert!(
            judged.warnings.iter().any(|w| w
                == &"--allow 1-65535 allows every socket: nothing reachable can fail the audit"),
            "{:?}",
            judged.warnings
        );
        let halves = Policy::new(
            &[
                "1-30000".into(),
                "30001-65535/tcp".into(),
                "30001-65535/udp".into(),
            ],
            true,
            false,
            &services(),
        )
        .unwrap();
        assert!(halves.lint.is_empty(), "each rule alone allows a part");
        let tcp_only = Policy::new(&["1-65535/tcp".into()], true, false, &services()).unwrap();
        assert!(tcp_only.lint.is_empty());

        let file = with_file("[[rule]]\nname = \"all\"\naction = \"allow\"\n");
        assert_eq!(
            file.lint,
            [
                "t.toml:1: [[rule]] 1: allows every socket (no condition limits it): the rules \
              after it are never used"
            ]
        );
        let deny = with_file("[[rule]]\naction = \"deny\"\n");
        assert!(
            deny.lint.is_empty(),
            "denying everything is strict, not lax"
        );
    }

    #[test]
    fn a_rule_that_can_never_match_is_warned_about() {
        let policy = with_file(
            "[[rule]]\nport = \"5432/tcp\"\nprotocol = \"udp\"\naction = \"allow\"\n\n\
             [[rule]]\nport = \"5432/tcp\"\nprotocol = \"tcp\"\naction = \"allow\"\n\n\
             [[rule]]\nport = [\"ssh\", 53]\nprotocol = \"udp\"\naction = \"deny\"\n\n\
             [[rule]]\nephemeral = true\nprotocol = \"tcp\"\naction = \"deny\"\n",
        );
        assert_eq!(
            policy.lint,
            [
                "t.toml:1: [[rule]] 1: can never match: protocol = \"udp\" but every port it \
                 names is tcp",
                "t.toml:16: [[rule]] 4: can never match: ephemeral = true is only ever UDP, but \
                 the rule is for TCP",
            ]
        );
        let judged = policy.judge(vec![]);
        assert!(
            judged
                .warnings
                .iter()
                .any(|w| w.text.contains("can never match"))
        );
    }

    #[test]
    fn allow_flags_that_matched_nothing_are_noted() {
        let policy = Policy::new(
            &["5432/tcp".into(), "ssh".into(), "11211".into()],
            true,
            false,
            &services(),
        )
        .unwrap();
        let judged = policy.judge(vec![
            Subject::alone(socket(Protocol::Tcp, "0.0.0.0", 22, &["sshd"])),
            Subject::alone(socket(Protocol::Udp, "127.0.0.1", 11211, &["memcached"])),
        ]);
        assert_eq!(
            judged.warnings,
            ["--allow 5432/tcp matched no listening socket this run (informational)"]
        );
        // The file's rules are a fleet's: a host need not run everything they name.
        let file = with_file("[[rule]]\nport = 5432\naction = \"allow\"\n");
        assert!(file.judge(vec![]).warnings.is_empty());
    }

    #[test]
    fn advice_names_the_service_by_its_owner() {
        let policy = Policy::new(&[], false, true, &services()).unwrap();
        let judged = policy.judge(vec![
            Subject::alone(socket(Protocol::Tcp, "0.0.0.0", 9200, &["minio"])),
            Subject::alone(socket(Protocol::Tcp, "10.0.0.5", 11211, &["memcached"])),
            Subject::alone(socket(Protocol::Tcp, "127.0.0.1", 6379, &["redis-server"])),
        ]);
        let advice = |port: u16| {
            judged
                .findings
                .iter()
                .find(|f| f.port() == port)
                .unwrap()
                .advice
                .clone()
        };
        let minio = advice(9200).unwrap();
        assert_eq!(minio.service, "minio");
        let memcached = advice(11211).unwrap();
        assert_eq!(memcached.service, "memcached");
        assert!(!memcached.fix.contains("private address"), "{memcached:?}");
        assert_eq!(advice(6379), None, "loopback: nothing to advise");
    }

    fn services() -> Services {
        Services::parse(
            "ssh 22/tcp\ndomain 53/tcp\ndomain 53/udp\npostgresql 5432/tcp postgres\n\
             redis 6379/tcp\n",
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
            (
                "nonesuch",
                "unknown service \"nonesuch\" (not in test services)",
            ),
            (
                "dmoain",
                "unknown service \"dmoain\" (did you mean \"domain\"?)",
            ),
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
        assert!(Verdict::Exposed.fails(policy.strict));
        assert!(!Verdict::Internal.fails(policy.strict));
        let strict = Policy::new(&[], true, true, &services()).unwrap();
        assert!(Verdict::Internal.fails(strict.strict));
        assert!(!Verdict::Allowed.fails(strict.strict));
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

    #[test]
    fn a_published_socket_the_host_also_routes_to_is_judged_at_its_own_address_too() {
        use crate::socket::{Listening, Published, Via, WayIn};
        let policy = Policy::new(&[], true, false, &services()).unwrap();
        let container = socket(Protocol::Tcp, "0.0.0.0", 6379, &["redis-server"]);
        // `-p 127.0.0.1:8080:6379`: on the host side only loopback.
        let published = Published {
            protocol: Protocol::Tcp,
            address: "127.0.0.1".parse().unwrap(),
            ports: 8080..=8080,
            target: "172.17.0.2".parse().unwrap(),
            via: Via::Dnat {
                rule: "ip nat DOCKER handle 3".into(),
            },
        };
        let subject = |ways_in: Vec<WayIn>| Subject {
            listener: container.clone(),
            published: Some(Box::new(published.clone())),
            listening: Listening::Yes,
            ways_in,
            contained: false,
            firewall: None,
        };
        let judged = policy.judge(vec![subject(Vec::new())]);
        assert_eq!(judged.findings[0].verdict, Verdict::Local);
        // The host forwards to 172.17.0.2: a neighbour reaches port 6379 directly.
        let routed = WayIn {
            via: Way::Routed,
            address: "172.17.0.2".parse().unwrap(),
            port: 6379,
            interface: Some("docker0".into()),
            firewall: None,
        };
        let judged = policy.judge(vec![subject(vec![routed])]);
        let finding = &judged.findings[0];
        assert_eq!(finding.verdict, Verdict::Exposed, "{finding:#?}");
        assert!(finding.verdict.fails(false));
        assert!(finding.published.is_some(), "still shows its publish");
    }
}
