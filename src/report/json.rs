//! `--json`: one document, schema_version 1. This is a contract scripts rely on (see
//! docs/json.md): fields are only ever added, and a change in meaning bumps
//! the version. The types here are the schema; they are separate from our internal
//! records on purpose, so that refactoring cannot change the output by accident.

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use crate::audit::{Audit, Basis, Drift, Finding, Key, Severity, Verdict};
use crate::classify::{Exposure, Scope};
use crate::socket::{Family, FirewallVerdict, Listening, Protocol, Via, Way};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    /// Which collector read the sockets.
    collector: &'static str,
    sockets: Sockets<'a>,
    summary: Summary<'a>,
    warnings: Vec<&'a str>,
    /// The policy file used, if any.
    policy_file: Option<Cow<'a, str>>,
    ephemeral_ports: EphemeralPorts<'a>,
    baseline: Option<Baseline<'a>>,
    /// The network namespaces considered, the host's (portaudit's own) first.
    namespaces: Vec<Namespace<'a>>,
}

#[derive(Serialize)]
struct Namespace<'a> {
    inode: u64,
    name: Option<&'a str>,
    host: bool,
    /// Its sockets were read.
    audited: bool,
    /// How many records of `sockets` are its listening sockets.
    listening: usize,
    container: Option<Container<'a>>,
}

#[derive(Serialize)]
struct Netns<'a> {
    inode: u64,
    name: Option<&'a str>,
    host: bool,
}

#[derive(Serialize)]
struct Container<'a> {
    runtime: &'a str,
    id: &'a str,
    name: Option<&'a str>,
}

#[derive(Serialize)]
struct Published<'a> {
    protocol: Protocol,
    address: String,
    port: u16,
    /// The last port, when the rule publishes a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    port_last: Option<u16>,
    via: &'static str,
    rule: Option<&'a str>,
    pid: Option<i32>,
}

#[derive(Serialize)]
struct EphemeralPorts<'a> {
    low: u16,
    high: u16,
    /// The file read; null when absent and the kernel's default was assumed.
    source: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Baseline<'a> {
    file: Cow<'a, str>,
    new: usize,
    removed: &'a [Key],
}

#[derive(Serialize)]
struct Advice<'a> {
    service: &'a str,
    severity: Severity,
    why: &'a str,
    fix: &'a str,
    /// The file to edit, when there is one.
    file: Option<&'a str>,
    /// The command that applies the fix.
    command: Option<&'a str>,
    /// What named the service: `unit`, `executable`, `process` or `port`.
    identified_by: Basis,
}

#[derive(Serialize)]
pub(super) struct Socket<'a> {
    protocol: Protocol,
    family: Family,
    address: String,
    port: u16,
    scope: Scope,
    exposure: Exposure,
    verdict: Verdict,
    /// Null when no socket listens behind a published port (`listening` not true).
    uid: Option<u32>,
    /// The uid's name as text; bytes that are not UTF-8 become U+FFFD.
    user: Option<Cow<'a, str>>,
    /// The exact bytes of the user name, only when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_bytes: Option<&'a [u8]>,
    inode: Option<u64>,
    processes: Vec<Process<'a>>,
    /// The rule that decided the verdict.
    rule: Option<&'a str>,
    /// UDP on a wildcard address and an ephemeral port.
    ephemeral: bool,
    /// This socket makes the audit fail (exit 1 unless advisory).
    fails: bool,
    advice: Option<Advice<'a>>,
    drift: Option<Drift>,
    /// Can an IPv4 client connect? For a `::` bind: unless IPV6_V6ONLY; null when the
    /// collector cannot tell.
    ipv4_reachable: Option<bool>,
    /// When `ipv4_reachable` is null on a `::` bind: what net.ipv6.bindv6only makes the
    /// default, a guess.
    ipv4_reachable_guess: Option<bool>,
    /// The device the socket is bound to (SO_BINDTODEVICE).
    device: Option<&'a str>,
    /// For wildcard binds: the host's addresses it is reachable on.
    reachable_on: Option<Vec<HostAddress<'a>>>,
    /// Every process was inspected, so `processes` is the whole list.
    processes_complete: bool,
    netns: Option<Netns<'a>>,
    container: Option<Container<'a>>,
    /// The host side, when the host publishes this socket: the verdict is judged there.
    published: Option<Published<'a>>,
    /// A socket listens here; false: nothing listens at a published port's target; null:
    /// the target is in no audited namespace.
    listening: Option<bool>,
    firewall: Option<FirewallVerdict>,
    firewall_why: Option<&'a str>,
    /// The systemd unit whose cgroup created the socket, else its owners' unit.
    unit: Option<&'a str>,
    /// For a `.socket` unit: the service it activates.
    unit_service: Option<&'a str>,
    /// The kernel facility holding a socket no process holds (`vxlan vx0`).
    kernel: Option<&'a str>,
    /// Every way in from outside, each with the firewall's answer on it; empty when none.
    ways_in: Vec<WayIn<'a>>,
}

#[derive(Serialize)]
struct WayIn<'a> {
    via: Way,
    /// Where a client sends the connection; unspecified when any of the host's addresses.
    address: String,
    port: u16,
    /// The interface it arrives on (direct) or is forwarded out of (routed); null: any.
    interface: Option<&'a str>,
    /// Null when the ruleset was not to be read.
    firewall: Option<FirewallVerdict>,
}

#[derive(Serialize)]
struct HostAddress<'a> {
    address: String,
    device: &'a str,
}

#[derive(Serialize)]
struct Process<'a> {
    pid: i32,
    /// `comm` as text; bytes that are not UTF-8 become U+FFFD.
    name: Cow<'a, str>,
    /// The exact bytes of `comm`, only when they are not UTF-8 (so `name` lost some).
    #[serde(skip_serializing_if = "Option::is_none")]
    name_bytes: Option<&'a [u8]>,
    exe: Option<Cow<'a, str>>,
    /// The exact bytes of the executable's path, only when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    exe_bytes: Option<&'a [u8]>,
    /// The effective uid the process runs as; null when its status could not be read.
    uid: Option<u32>,
    /// That uid's name as text; bytes that are not UTF-8 become U+FFFD.
    user: Option<Cow<'a, str>>,
    /// The exact bytes of the user name, only when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_bytes: Option<&'a [u8]>,
}

#[derive(Serialize)]
struct Summary<'a> {
    listening: usize,
    exposed: usize,
    internal: usize,
    allowed: usize,
    local: usize,
    strict: bool,
    /// False when a row of a socket table could not be read (see `warnings`).
    complete: bool,
    exit_code: u8,
    denied: usize,
    advisory: bool,
    filtered: usize,
    contained: usize,
    /// Sockets that fail the audit (`fails` true), whatever the reason.
    failing: usize,
    /// Of those, how many fail because they are new since `--baseline`.
    drift: usize,
    /// With `--port`, `--process`, `--pid` or `--protocol`: what was selected out of how
    /// many (the counts above, and the exit code, are the selected sockets'); null
    /// without.
    selection: Option<Selection<'a>>,
}

#[derive(Serialize)]
struct Selection<'a> {
    /// The sockets selected: as many as `sockets` has.
    selected: usize,
    /// The listening sockets before selecting.
    of: usize,
    /// Of those selected, how many only because their owners could not all be seen.
    unsure: usize,
    /// The flags, as given: `["--port 80"]`.
    filters: &'a [String],
}

/// The bytes themselves when text cannot carry them: strings in JSON are Unicode, so a
/// name that is not UTF-8 is also given as an array of its bytes.
fn unless_utf8(bytes: &[u8]) -> Option<&[u8]> {
    std::str::from_utf8(bytes).is_err().then_some(bytes)
}

/// A socket listens behind this record (not a published port nobody answers on).
fn answered(f: &Finding) -> bool {
    f.listening == Listening::Yes
}

fn container(c: &crate::socket::Container) -> Container<'_> {
    Container {
        runtime: &c.runtime,
        id: &c.id,
        name: c.name.as_deref(),
    }
}

/// One finding as its JSON record, built only when it is written.
pub(super) fn socket(f: &Finding) -> Socket<'_> {
    Socket {
        protocol: f.listener.protocol,
        family: f.listener.family,
        address: f.listener.address.to_string(),
        port: f.listener.port,
        scope: f.scope,
        exposure: f.exposure,
        verdict: f.verdict,
        uid: answered(f).then_some(f.listener.uid),
        user: f.listener.user_name(),
        user_bytes: f.listener.user.as_deref().and_then(unless_utf8),
        inode: answered(f).then_some(f.listener.inode),
        processes_complete: f.listener.processes_complete,
        processes: f
            .listener
            .processes
            .iter()
            .map(|p| Process {
                pid: p.pid,
                name: p.name(),
                name_bytes: unless_utf8(&p.comm),
                exe: p.exe.as_deref().map(|e| e.to_string_lossy()),
                exe_bytes: p
                    .exe
                    .as_deref()
                    .and_then(|e| unless_utf8(e.as_os_str().as_bytes())),
                uid: p.uid,
                user: p.user_name(),
                user_bytes: p.user.as_deref().and_then(unless_utf8),
            })
            .collect(),
        rule: f.rule.as_deref(),
        ephemeral: f.ephemeral,
        fails: f.fails,
        advice: f.advice.as_ref().map(|a| Advice {
            service: &a.service,
            severity: a.severity,
            why: &a.why,
            fix: &a.fix,
            file: a.file.as_deref(),
            command: a.command.as_deref(),
            identified_by: a.identified_by,
        }),
        drift: f.drift,
        ipv4_reachable: f.ipv4_reachable,
        ipv4_reachable_guess: f.ipv4_reachable_guess,
        device: f.listener.detail.device.as_ref().map(|d| d.name.as_str()),
        reachable_on: f.listener.detail.reachable_on.as_ref().map(|all| {
            all.iter()
                .map(|h| HostAddress {
                    address: h.address.to_string(),
                    device: &h.device,
                })
                .collect()
        }),
        netns: f.listener.netns.as_ref().map(|n| Netns {
            inode: n.inode,
            name: n.name.as_deref(),
            host: n.host,
        }),
        container: f.listener.container.as_deref().map(container),
        published: f.published.as_ref().map(|p| Published {
            protocol: p.protocol,
            address: p.address.to_string(),
            port: *p.ports.start(),
            port_last: (p.ports.start() != p.ports.end()).then_some(*p.ports.end()),
            via: match p.via {
                Via::Dnat { .. } => "dnat",
                Via::Proxy { .. } => "docker-proxy",
            },
            rule: match &p.via {
                Via::Dnat { rule } => Some(rule),
                Via::Proxy { .. } => None,
            },
            pid: match p.via {
                Via::Proxy { pid, .. } => Some(pid),
                Via::Dnat { .. } => None,
            },
        }),
        listening: match f.listening {
            Listening::Yes => Some(true),
            Listening::No => Some(false),
            Listening::Unknown => None,
        },
        firewall: f.firewall.as_ref().map(|j| j.verdict),
        firewall_why: f.firewall.as_ref().map(|j| &*j.why),
        unit: f.listener.unit.as_deref(),
        unit_service: f.listener.unit_service.as_deref(),
        kernel: f.listener.kernel.as_deref(),
        ways_in: f
            .ways_in
            .iter()
            .map(|w| WayIn {
                via: w.via,
                address: w.address.to_string(),
                port: w.port,
                interface: w.interface.as_deref(),
                firewall: w.firewall,
            })
            .collect(),
    }
}

/// The sockets, each record built as it is written: a host with tens of thousands of
/// sockets never holds them all as JSON records at once.
struct Sockets<'a>(&'a [Finding]);

impl Serialize for Sockets<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(socket))
    }
}

/// Write the report as one JSON document and a newline, as it is encoded: no copy of
/// the whole text is held.
pub fn write(audit: &Audit, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let sockets = Sockets(&audit.findings);
    let namespaces = audit
        .namespaces
        .iter()
        .map(|n| Namespace {
            inode: n.netns.inode,
            name: n.netns.name.as_deref(),
            host: n.netns.host,
            audited: n.audited,
            listening: audit
                .findings
                .iter()
                .filter(|f| f.listening == Listening::Yes)
                .filter(|f| {
                    f.listener
                        .netns
                        .as_ref()
                        .is_some_and(|l| l.inode == n.netns.inode)
                })
                .count(),
            container: n.container.as_deref().map(container),
        })
        .collect();
    let document = Document {
        schema_version: SCHEMA_VERSION,
        collector: audit.collector.name(),
        sockets,
        summary: Summary {
            listening: audit.findings.len(),
            exposed: audit.count(Verdict::Exposed),
            internal: audit.count(Verdict::Internal),
            allowed: audit.count(Verdict::Allowed),
            local: audit.count(Verdict::Local),
            strict: audit.strict,
            complete: !audit.incomplete,
            exit_code: audit.outcome.code(),
            denied: audit.count(Verdict::Denied),
            advisory: audit.advisory,
            filtered: audit.count(Verdict::Filtered),
            contained: audit.count(Verdict::Contained),
            failing: audit.failing(),
            drift: audit.drifted(),
            selection: audit.selection.as_ref().map(|s| Selection {
                selected: audit.findings.len(),
                of: s.of,
                unsure: s.unsure,
                filters: &s.flags,
            }),
        },
        warnings: audit.warnings.iter().map(|w| w.text.as_str()).collect(),
        policy_file: audit.policy_file.as_deref().map(|p| p.to_string_lossy()),
        ephemeral_ports: EphemeralPorts {
            low: *audit.ephemeral_ports.range.start(),
            high: *audit.ephemeral_ports.range.end(),
            source: audit
                .ephemeral_ports
                .source
                .as_deref()
                .map(|p| p.to_string_lossy()),
        },
        baseline: audit.baseline.as_ref().map(|b| Baseline {
            file: b.path.to_string_lossy(),
            new: b.new,
            removed: &b.removed,
        }),
        namespaces,
    };
    serde_json::to_writer_pretty(&mut *out, &document).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}
