//! The audit: every finding with its verdict, and the one decision that turns verdicts,
//! drift, `--strict`, `--advisory` and completeness into the outcome. The exit code,
//! each socket's `fails`, the summary, the table's last line and the Prometheus series
//! all read what [`conclude`] decided; nothing else decides it.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::classify::{Exposure, Scope};
use crate::exit::Outcome;
use crate::socket::EphemeralPorts;
use crate::socket::{
    Collector, Judgement, Listener, Listening, NamespaceSeen, Process, Protocol, Published,
    Warning, WayIn,
};

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
    /// Whether this verdict fails the audit: exposed and denied always, internal under
    /// `--strict`.
    pub fn fails(self, strict: bool) -> bool {
        match self {
            Verdict::Exposed | Verdict::Denied => true,
            Verdict::Internal => strict,
            Verdict::Allowed | Verdict::Local | Verdict::Filtered | Verdict::Contained => false,
        }
    }

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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub protocol: String,
    pub class: String,
    pub port: u16,
    pub executable: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Drift {
    /// Not in the baseline: fails the audit.
    New,
    /// In the baseline.
    Known,
}

/// The comparison with a baseline: each finding's drift (in order), how many are new,
/// and what is gone.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub path: PathBuf,
    /// One per finding, in the findings' order; `None` for what is never drift
    /// (ephemeral UDP clients).
    pub drift: Vec<Option<Drift>>,
    pub new: usize,
    /// In the baseline, not listening now: reported, never failing.
    pub removed: Vec<Key>,
}

/// A listener with what it means and what we think of it.
#[derive(Debug, Clone)]
pub struct Finding {
    pub listener: Listener,
    pub scope: Scope,
    pub exposure: Exposure,
    /// How far the bind reaches, in one word (`loopback`, `wildcard`, `internal`,
    /// `public`): the baseline's keys and the metrics' labels name it so.
    pub class: &'static str,
    /// Can an IPv4 client connect? For a `::` bind: unless IPV6_V6ONLY; `None` when the
    /// collector cannot tell.
    pub ipv4_reachable: Option<bool>,
    /// When `ipv4_reachable` is `None` on a `::` bind: what net.ipv6.bindv6only makes the
    /// default, a guess.
    pub ipv4_reachable_guess: Option<bool>,
    pub verdict: Verdict,
    /// This finding alone makes the audit exit 1 (when not advisory): its verdict fails,
    /// or it is new since the baseline. Set by [`conclude`] alone.
    pub fails: bool,
    /// The label of the rule that decided the verdict; `None` when no rule matched.
    pub rule: Option<Arc<str>>,
    /// UDP on a wildcard address and an ephemeral port: probably a client's socket.
    pub ephemeral: bool,
    /// What we know about the service, for failing reachable findings.
    pub advice: Option<Box<Advice>>,
    /// Compared with `--baseline`: new or known. `None` without a baseline.
    pub drift: Option<Drift>,
    /// The host side, when the host publishes this socket (DNAT, docker-proxy); the
    /// verdict is the host side's.
    pub published: Option<Box<Published>>,
    /// Whether a socket listens behind it.
    pub listening: Listening,
    /// Every way in from outside (see the reach stage).
    pub ways_in: Vec<WayIn>,
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
    pub warnings: Vec<Warning>,
    pub strict: bool,
    /// Part of a socket table could not be read (see `warnings`).
    pub incomplete: bool,
    pub outcome: Outcome,
    /// Findings were reported but did not fail the audit.
    pub advisory: bool,
    pub ephemeral_ports: EphemeralPorts,
    pub policy_file: Option<PathBuf>,
    /// The comparison with `--baseline`, when given.
    pub baseline: Option<Comparison>,
    /// Which collector read the sockets.
    pub collector: Collector,
    /// The network namespaces considered, the host's first.
    pub namespaces: Vec<NamespaceSeen>,
    /// The host's ruleset was to be read: the report has a firewall column.
    pub firewall_read: bool,
    /// What `--port`, `--process`, `--pid` or `--protocol` selected, when given: the
    /// findings are those, and the outcome is theirs.
    pub selection: Option<Selected>,
}

impl Audit {
    /// How many findings fail the audit.
    pub fn failing(&self) -> usize {
        self.findings.iter().filter(|f| f.fails).count()
    }

    /// How many findings fail because they are new since the baseline.
    pub fn drifted(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.fails && f.drift == Some(Drift::New))
            .count()
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings
            .iter()
            .filter(|f| f.verdict == verdict)
            .count()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
        }
    }
}

/// What to do about a failing reachable socket: which service it is, why it matters, and
/// the fix for the program and unit found holding it (see `policy::advice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// The service, as `--allow` accepts it (`memcached`, `dns`, …); for a program we
    /// have no advice for on a well-known port, that program's name.
    pub service: String,
    pub severity: Severity,
    pub why: String,
    pub fix: String,
    /// The file to edit, when there is one (for the RHEL family `fix` may name another).
    pub file: Option<String>,
    /// The command that applies the change (`systemctl restart memcached`).
    pub command: Option<String>,
    /// What named the service: the owner's unit, executable or process name, or only
    /// the port (no owner known, or an interpreter such as `java` that says nothing).
    pub identified_by: Basis,
}

/// What named the service an [`Advice`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Unit,
    Executable,
    Process,
    Port,
}

/// `--port`, `--process`, `--pid`, `--protocol`: the sockets the audit is about. Kinds
/// are ANDed, the values of one kind ORed, as in ss's filters.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub ports: Vec<(RangeInclusive<u16>, Option<Protocol>)>,
    /// Process names (comm), executables' file names or paths.
    pub processes: Vec<String>,
    pub pids: Vec<i32>,
    pub protocol: Option<Protocol>,
    /// The flags as given (`--port 80`), for the summary.
    pub flags: Vec<String>,
}

/// Whether a selection takes a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Yes,
    No,
    /// By its owners, none of which could be seen: taken, so that a socket of the
    /// process asked for is not left out of the verdict for want of privilege.
    Unsure,
}

/// What a selection kept, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected {
    /// How many listening sockets there were before selecting.
    pub of: usize,
    /// How many of those kept were kept only because their owners could not be seen.
    pub unsure: usize,
    /// The flags as given.
    pub flags: Vec<String>,
}

impl Selection {
    /// No flag given: every socket.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    fn by_owner(&self) -> bool {
        !self.processes.is_empty() || !self.pids.is_empty()
    }

    fn names(&self, p: &Process) -> bool {
        let exe = p.exe.as_deref();
        self.pids.contains(&p.pid)
            || self.processes.iter().any(|name| {
                p.comm == name.as_bytes()
                    || exe.is_some_and(|e| {
                        e.as_os_str() == name.as_str()
                            || e.file_name().is_some_and(|f| f == name.as_str())
                    })
            })
    }

    fn pick(&self, f: &Finding) -> Pick {
        let l = &f.listener;
        if self.protocol.is_some_and(|p| p != l.protocol) {
            return Pick::No;
        }
        let on_port = |(ports, protocol): &(RangeInclusive<u16>, Option<Protocol>)| {
            protocol.is_none_or(|p| p == l.protocol)
                && (ports.contains(&f.port()) || ports.contains(&l.port))
        };
        if !self.ports.is_empty() && !self.ports.iter().any(on_port) {
            return Pick::No;
        }
        if !self.by_owner() {
            return Pick::Yes;
        }
        if f.listening != Listening::Yes {
            return Pick::No;
        }
        if l.processes.iter().any(|p| self.names(p)) {
            Pick::Yes
        } else if l.processes.is_empty() && !l.processes_complete && l.kernel.is_none() {
            Pick::Unsure
        } else {
            Pick::No
        }
    }

    /// Keep the findings it selects (and the warnings that say what could not be told),
    /// and say how many there were.
    pub fn apply(&self, judged: &mut Judged) -> Selected {
        let of = judged.findings.len();
        let mut unsure = 0;
        judged.findings.retain(|f| match self.pick(f) {
            Pick::Yes => true,
            Pick::Unsure => {
                unsure += 1;
                true
            }
            Pick::No => false,
        });
        let flags = self.flags.join(" ");
        if judged.findings.is_empty() {
            judged.warnings.push(Warning::counted(
                "the selection is empty",
                format!("{flags} selected none of the {of} listening sockets"),
            ));
        }
        if unsure > 0 {
            judged.warnings.push(Warning::counted(
                "selected by owners that could not be seen",
                format!(
                    "{flags}: {unsure} socket{} selected because no owner of {} could be seen, \
                     and it may be the one asked for; run as root to see every owner",
                    if unsure == 1 { " is" } else { "s are" },
                    if unsure == 1 { "it" } else { "theirs" },
                ),
            ));
        }
        Selected {
            of,
            unsure,
            flags: self.flags.clone(),
        }
    }

    /// Whether a baseline listener that is gone would have been selected: by its port,
    /// protocol and executable (a gone listener has no pid, so `--pid` takes none).
    pub fn keeps(&self, key: &Key) -> bool {
        let protocol = match key.protocol.as_str() {
            "tcp" => Protocol::Tcp,
            _ => Protocol::Udp,
        };
        if self.protocol.is_some_and(|p| p != protocol) {
            return false;
        }
        let on_port = |(ports, p): &(RangeInclusive<u16>, Option<Protocol>)| {
            p.is_none_or(|p| p == protocol) && ports.contains(&key.port)
        };
        if !self.ports.is_empty() && !self.ports.iter().any(on_port) {
            return false;
        }
        if !self.pids.is_empty() {
            return false;
        }
        self.processes.is_empty()
            || key.executable.split(',').any(|exe| {
                let file = exe.rsplit('/').next().unwrap_or(exe);
                self.processes.iter().any(|n| n == exe || n == file)
            })
    }
}

/// The policy's findings, before the outcome is decided.
#[derive(Debug)]
pub struct Judged {
    pub findings: Vec<Finding>,
    pub warnings: Vec<Warning>,
}

/// What decides the outcome besides the findings.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub strict: bool,
    pub advisory: bool,
}

/// What the audit saw besides the findings, carried into the report.
#[derive(Debug, Default)]
pub struct Context {
    pub warnings: Vec<Warning>,
    pub incomplete: bool,
    pub collector: Collector,
    pub namespaces: Vec<NamespaceSeen>,
    pub firewall_read: bool,
    pub ephemeral_ports: EphemeralPorts,
    pub policy_file: Option<PathBuf>,
    pub selection: Option<Selected>,
}

/// The one decision. A finding fails when its verdict fails or it is new since the
/// baseline; the audit is exposed (exit 1) when any finding fails and it is not
/// advisory, else incomplete (exit 2) when a table could not be read whole, else clean.
pub fn conclude(
    judged: Judged,
    comparison: Option<Comparison>,
    mode: Mode,
    context: Context,
) -> Audit {
    let Judged {
        mut findings,
        warnings: judge_warnings,
    } = judged;
    if let Some(comparison) = &comparison {
        for (finding, drift) in findings.iter_mut().zip(&comparison.drift) {
            finding.drift = *drift;
        }
    }
    for finding in &mut findings {
        finding.fails = finding.verdict.fails(mode.strict) || finding.drift == Some(Drift::New);
    }
    sort(&mut findings);
    let outcome = if !mode.advisory && findings.iter().any(|f| f.fails) {
        Outcome::Exposed
    } else if context.incomplete {
        Outcome::Incomplete
    } else {
        Outcome::Clean
    };
    let mut warnings = context.warnings;
    warnings.extend(judge_warnings);
    Audit {
        findings,
        warnings,
        strict: mode.strict,
        incomplete: context.incomplete,
        outcome,
        advisory: mode.advisory,
        ephemeral_ports: context.ephemeral_ports,
        policy_file: context.policy_file,
        baseline: comparison,
        collector: context.collector,
        namespaces: context.namespaces,
        firewall_read: context.firewall_read,
        selection: context.selection,
    }
}

/// Failing findings first, whatever makes them fail (a verdict, drift); then by
/// severity, port, protocol, family, address; ties keep their order. The
/// keys are sorted, then the findings moved into place: sorting the records themselves
/// would take a scratch copy of half of them (megabytes for a busy host).
fn sort(findings: &mut [Finding]) {
    let mut keys: Vec<_> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let key = (
                !f.fails,
                f.verdict,
                f.port(),
                f.listener.protocol,
                f.listener.family,
                f.address(),
                f.listener.port,
            );
            (key, i)
        })
        .collect();
    keys.sort_unstable(); // the index ends every key: no two are equal, so stable
    // Position i takes the finding that was at keys[i].1: follow each cycle of that
    // permutation with swaps, marking the places filled.
    let mut from: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();
    for start in 0..from.len() {
        let mut at = start;
        while from[at] != start {
            let next = from[at];
            findings.swap(at, next);
            from[at] = at;
            at = next;
        }
        from[at] = at;
    }
}
