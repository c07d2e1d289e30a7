//! What the policy says about its own rules once it has judged the sockets: rules on
//! owners it could not apply (owners not seen: not root, hidepid) and the sockets judged
//! without them, and `port = "NAME"` where that service listens elsewhere.

use std::collections::BTreeMap;

use super::advice;
use super::rules::Rule;
use crate::audit::{Basis, Finding};
use crate::socket::Warning;

/// `0.0.0.0:9100/tcp`, `[::]:22/tcp`: a socket as the policy's warnings name it, from
/// the side the outside reaches.
fn place(f: &Finding) -> String {
    let address = f.address();
    let protocol = f.protocol().name();
    match address {
        std::net::IpAddr::V6(_) => format!("[{address}]:{}/{protocol}", f.port()),
        std::net::IpAddr::V4(_) => format!("{address}:{}/{protocol}", f.port()),
    }
}

/// At most this many sockets are named per rule in a warning; the rest are counted.
const NAMED: usize = 3;

/// `a, b, c and 4 more`.
fn some_of(places: &[String], total: usize) -> String {
    let mut text = places.join(", ");
    if total > places.len() {
        text.push_str(&format!(" and {} more", total - places.len()));
    }
    text
}

/// The sockets judged without knowing their owners, by rule: rules on owners skipped
/// for them, and rules on services that matched them by port alone. One warning names
/// them all (docs/policy.md, "Rules on owners"): as root, with every owner seen, these verdicts
/// may differ.
#[derive(Default)]
pub struct Blind {
    sockets: usize,
    /// rule index → (skipped, by its port only): the first sockets named, and how many.
    by_rule: BTreeMap<usize, [(Vec<String>, usize); 2]>,
}

impl Blind {
    pub fn note(&mut self, f: &Finding, skipped: &[usize], by_port: Option<usize>) {
        self.sockets += 1;
        let here = place(f);
        let mut add = |rule: usize, kind: usize| {
            let (named, count) = &mut self.by_rule.entry(rule).or_default()[kind];
            *count += 1;
            if named.len() < NAMED && !named.contains(&here) {
                named.push(here.clone());
            }
        };
        for &rule in skipped {
            add(rule, 0);
        }
        if let Some(rule) = by_port {
            add(rule, 1);
        }
    }

    pub fn warning(&self, rules: &[Rule]) -> Option<Warning> {
        if self.sockets == 0 {
            return None;
        }
        let mut parts = Vec::new();
        for (&index, [(skipped, skips), (by_port, ports)]) in &self.by_rule {
            let rule = rules[index].name();
            if *skips > 0 {
                parts.push(format!(
                    "{rule} was skipped for {} (later rules decided)",
                    some_of(skipped, *skips)
                ));
            }
            if *ports > 0 {
                parts.push(format!(
                    "{rule} matched {} by its service's port only",
                    some_of(by_port, *ports)
                ));
            }
        }
        let n = self.sockets;
        Some(Warning::counted(
            "rules on owners not applied",
            format!(
                "{n} listening socket{} judged without knowing {} owners, so rules on owners \
                 were not applied as written (run as root to see every owner; as root these \
                 verdicts may differ): {}",
                if n == 1 { " was" } else { "s were" },
                if n == 1 { "its" } else { "their" },
                parts.join("; ")
            ),
        ))
    }
}

/// Services that listen where a rule's `port = "NAME"` does not reach: the name meant
/// the port number, and the service is elsewhere too.
#[derive(Default)]
pub struct Elsewhere {
    /// (rule index, the name written) → the service's sockets off the rule's ports.
    by_rule: BTreeMap<(usize, &'static str), (&'static str, Vec<String>)>,
}

impl Elsewhere {
    pub fn note(&mut self, rules: &[Rule], f: &Finding) {
        if rules.iter().all(|r| r.port_names.is_empty()) {
            return;
        }
        let owner = advice::Owner::of(&f.listener, f.listener.unit.as_deref());
        let advice::Identity::Known(service, basis) = advice::identify(&owner) else {
            return;
        };
        if basis == Basis::Port {
            return;
        }
        let (protocol, port) = (f.protocol(), f.port());
        for (index, rule) in rules.iter().enumerate() {
            if rule.ports.iter().any(|a| a.matches(protocol, port)) {
                continue;
            }
            for (written, named) in &rule.port_names {
                if std::ptr::eq(*named, service) {
                    let spec = format!("{port}/{}", protocol.name());
                    let key = (index, service.name);
                    let (_, seen) = self
                        .by_rule
                        .entry(key)
                        .or_insert_with(|| (static_name(written, service), Vec::new()));
                    if !seen.contains(&spec) {
                        seen.push(spec);
                    }
                }
            }
        }
    }

    pub fn warnings(&self, rules: &[Rule]) -> Vec<Warning> {
        self.by_rule
            .iter()
            .map(|(&(index, service), (written, specs))| {
                let shown: Vec<String> = specs.iter().take(NAMED).cloned().collect();
                Warning::counted(
                    "port names a service that listens elsewhere",
                    format!(
                        "{}: port = {written:?} means that port number only, but {service} \
                         also listens on {} here; to match {service} on any port, write \
                         service = {service:?}",
                        rules[index].name(),
                        some_of(&shown, specs.len())
                    ),
                )
            })
            .collect()
    }
}

/// The name as written in the rule, when it is one the service table has; else the
/// service's own name (both are static, so the map keeps no copies).
fn static_name(written: &str, service: &'static advice::Service) -> &'static str {
    std::iter::once(service.name)
        .chain(service.aliases.iter().copied())
        .find(|n| *n == written)
        .unwrap_or(service.name)
}
