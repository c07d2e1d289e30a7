//! Policy: which reachable sockets are expected, and the verdict on each listener.
//!
//! The allowlist says which ports may be reachable from outside (by default ssh, http
//! and https: 22, 80 and 443/tcp). Judging is pure: a listener and its classification
//! in, a verdict out.

pub mod services;

use std::ops::RangeInclusive;

use serde::Serialize;

use crate::classify::{self, Exposure, Scope};
use crate::collect::{Collection, Listener, Protocol};
use crate::error::Error;
use crate::exit::Outcome;
use services::Services;

/// Ordered by severity: the report sorts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Reachable from anywhere and not on the allowlist.
    Exposed,
    /// Reachable from a private network and not on the allowlist.
    Internal,
    /// Reachable, and on the allowlist.
    Allowed,
    /// Not reachable from outside the host.
    Local,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Exposed => "exposed",
            Verdict::Internal => "internal",
            Verdict::Allowed => "allowed",
            Verdict::Local => "local",
        }
    }
}

/// The ports that may be reachable unless `--no-default-allow`: ssh, http, https.
pub const DEFAULT_ALLOW: [&str; 3] = ["22/tcp", "80/tcp", "443/tcp"];

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
    pub allow: Vec<Allow>,
    /// Fail on `internal` verdicts too.
    pub strict: bool,
}

impl Policy {
    /// Build the policy from `--allow` specs; a bad spec is an error naming it.
    pub fn new(
        specs: &[String],
        default_allow: bool,
        strict: bool,
        services: &Services,
    ) -> Result<Policy, Error> {
        let defaults = DEFAULT_ALLOW
            .iter()
            .filter(|_| default_allow)
            .map(|s| s.to_string());
        let mut allow = Vec::new();
        for spec in defaults.chain(specs.iter().cloned()) {
            let entries = parse_allow(&spec, services)
                .map_err(|why| Error::new(format!("invalid --allow value {spec:?}: {why}")))?;
            allow.extend(entries);
        }
        Ok(Policy { allow, strict })
    }

    pub fn verdict(&self, protocol: Protocol, port: u16, exposure: Exposure) -> Verdict {
        let allowed = || self.allow.iter().any(|a| a.matches(protocol, port));
        match exposure {
            Exposure::None => Verdict::Local,
            _ if allowed() => Verdict::Allowed,
            Exposure::Internal => Verdict::Internal,
            Exposure::Public => Verdict::Exposed,
        }
    }

    /// Whether this verdict makes the audit fail (exit 1).
    pub fn fails(&self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Exposed => true,
            Verdict::Internal => self.strict,
            Verdict::Allowed | Verdict::Local => false,
        }
    }

    /// Classify and judge every listener; sorted by severity, then port.
    pub fn judge(&self, collection: Collection) -> Audit {
        let mut findings: Vec<Finding> = collection
            .listeners
            .into_iter()
            .map(|listener| {
                let (scope, exposure) = classify::classify(listener.address);
                let verdict = self.verdict(listener.protocol, listener.port, exposure);
                Finding {
                    listener,
                    scope,
                    exposure,
                    verdict,
                    fails: self.fails(verdict),
                }
            })
            .collect();
        findings.sort_by(|a, b| {
            let key = |f: &Finding| {
                (
                    f.verdict,
                    f.listener.port,
                    f.listener.protocol,
                    f.listener.family,
                    f.listener.address,
                )
            };
            key(a).cmp(&key(b))
        });
        let outcome = if findings.iter().any(|f| f.fails) {
            Outcome::Exposed
        } else if collection.incomplete {
            Outcome::Incomplete
        } else {
            Outcome::Clean
        };
        Audit {
            findings,
            warnings: collection.warnings,
            strict: self.strict,
            incomplete: collection.incomplete,
            outcome,
        }
    }
}

/// A listener with what it means and what we think of it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub listener: Listener,
    pub scope: Scope,
    pub exposure: Exposure,
    pub verdict: Verdict,
    /// This finding alone would make the audit exit 1.
    pub fails: bool,
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

fn parse_protocol(text: &str) -> Result<Protocol, String> {
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
