//! `--json`: one document, schema_version 1. This is a contract scripts rely on (see
//! README.md, "JSON output"): fields are only ever added, and a change in meaning bumps
//! the version. The types here are the schema; they are separate from our internal
//! records on purpose, so that refactoring cannot change the output by accident.

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use crate::baseline::{Drift, Key};
use crate::classify::{self, Exposure, Scope};
use crate::collect::{Family, Protocol};
use crate::error::Error;
use crate::policy::advice::Severity;
use crate::policy::{Audit, Verdict};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    /// Which collector read the sockets.
    collector: &'static str,
    sockets: Vec<Socket<'a>>,
    summary: Summary,
    warnings: &'a [String],
    /// The policy file used, if any.
    policy_file: Option<Cow<'a, str>>,
    ephemeral_ports: EphemeralPorts<'a>,
    baseline: Option<Baseline<'a>>,
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
struct Advice {
    service: &'static str,
    severity: Severity,
    why: &'static str,
    fix: &'static str,
}

#[derive(Serialize)]
struct Socket<'a> {
    protocol: Protocol,
    family: Family,
    address: String,
    port: u16,
    scope: Scope,
    exposure: Exposure,
    verdict: Verdict,
    uid: u32,
    /// The uid's name as text; bytes that are not UTF-8 become U+FFFD.
    user: Option<Cow<'a, str>>,
    /// The exact bytes of the user name, only when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_bytes: Option<&'a [u8]>,
    inode: u64,
    processes: Vec<Process<'a>>,
    /// The rule that decided the verdict.
    rule: Option<&'a str>,
    /// UDP on a wildcard address and an ephemeral port.
    ephemeral: bool,
    /// This socket makes the audit fail (exit 1 unless advisory).
    fails: bool,
    advice: Option<Advice>,
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
}

#[derive(Serialize)]
struct Summary {
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
}

/// The bytes themselves when text cannot carry them: strings in JSON are Unicode, so a
/// name that is not UTF-8 is also given as an array of its bytes.
fn unless_utf8(bytes: &[u8]) -> Option<&[u8]> {
    std::str::from_utf8(bytes).is_err().then_some(bytes)
}

pub fn render(audit: &Audit) -> Result<String, Error> {
    let sockets = audit
        .findings
        .iter()
        .map(|f| Socket {
            protocol: f.listener.protocol,
            family: f.listener.family,
            address: f.listener.address.to_string(),
            port: f.listener.port,
            scope: f.scope,
            exposure: f.exposure,
            verdict: f.verdict,
            uid: f.listener.uid,
            user: f.listener.user_name(),
            user_bytes: f.listener.user.as_deref().and_then(unless_utf8),
            inode: f.listener.inode,
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
                })
                .collect(),
            rule: f.rule.as_deref(),
            ephemeral: f.ephemeral,
            fails: f.fails,
            advice: f.advice.map(|a| Advice {
                service: a.service,
                severity: a.severity,
                why: a.why,
                fix: a.fix,
            }),
            drift: f.drift,
            ipv4_reachable: classify::ipv4_reachable(f.listener.address, f.listener.detail.v6only),
            ipv4_reachable_guess: if f.listener.address.is_unspecified()
                && f.listener.detail.v6only.is_none()
            {
                f.listener.detail.v6only_default.map(|only| !only)
            } else {
                None
            },
            device: f.listener.detail.device.as_ref().map(|d| d.name.as_str()),
            reachable_on: f.listener.detail.reachable_on.as_ref().map(|all| {
                all.iter()
                    .map(|h| HostAddress {
                        address: h.address.to_string(),
                        device: &h.device,
                    })
                    .collect()
            }),
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
        },
        warnings: &audit.warnings,
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
    };
    let mut text = serde_json::to_string_pretty(&document)
        .map_err(|e| Error::new(format!("cannot encode the JSON report: {e}")))?;
    text.push('\n');
    Ok(text)
}
