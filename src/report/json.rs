//! `--json`: one document, schema_version 1. This is a contract scripts rely on (see
//! README.md, "JSON output"): fields are only ever added, and a change in meaning bumps
//! the version. The types here are the schema; they are separate from our internal
//! records on purpose, so that refactoring cannot change the output by accident.

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;

use serde::Serialize;

use crate::classify::{Exposure, Scope};
use crate::collect::{Family, Protocol};
use crate::error::Error;
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
    /// Every process was inspected, so `processes` is the whole list.
    processes_complete: bool,
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
        })
        .collect();
    let document = Document {
        schema_version: SCHEMA_VERSION,
        collector: "proc",
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
        },
        warnings: &audit.warnings,
    };
    let mut text = serde_json::to_string_pretty(&document)
        .map_err(|e| Error::new(format!("cannot encode the JSON report: {e}")))?;
    text.push('\n');
    Ok(text)
}
