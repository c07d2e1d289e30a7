//! Drift: what listens now compared with a saved baseline (`--save-baseline FILE`,
//! `--baseline FILE`).
//!
//! A listener is keyed on (protocol, bind class, port, executable) — not pid, inode or
//! exact address — so restarts are not drift. The bind class is how far it reaches:
//! `loopback`, `wildcard`, `internal` or `public` (a specific address of that kind).
//! The executable is the owners' executables (their names when the executable cannot
//! be read; `-` when no owner is known).
//!
//! Ephemeral UDP sockets (a client's, on a port the kernel picked) are never drift: they
//! get a new port on every restart, which is why the policy allows them by default too.

use std::collections::BTreeSet;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::{Audit, Comparison, Drift, Finding, Key, Verdict};
use crate::error::Error;

/// The baseline file's own format version.
pub const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    portaudit_baseline: u32,
    listeners: Vec<Key>,
}

/// A published socket is keyed on its host side; a contained one says so.
pub fn key(f: &Finding) -> Key {
    let class = if f.verdict == Verdict::Contained {
        "contained"
    } else {
        f.class
    };
    let mut owners: Vec<String> = f
        .listener
        .processes
        .iter()
        .map(|p| match &p.exe {
            Some(exe) => exe.to_string_lossy().into_owned(),
            None => p.name().into_owned(),
        })
        .collect();
    owners.sort();
    owners.dedup();
    Key {
        protocol: f.listener.protocol.name().to_string(),
        class: class.to_string(),
        port: f.port(),
        executable: if owners.is_empty() {
            "-".to_string()
        } else {
            owners.join(",")
        },
    }
}

/// Write the current listeners to `path`, atomically (a temporary file, then rename).
pub fn save(audit: &Audit, path: &Path) -> Result<(), Error> {
    let listeners: BTreeSet<Key> = audit
        .findings
        .iter()
        .filter(|f| !f.ephemeral)
        .map(key)
        .collect();
    let file = File {
        portaudit_baseline: FORMAT,
        listeners: listeners.into_iter().collect(),
    };
    let mut text = serde_json::to_string_pretty(&file)
        .map_err(|e| Error::new(format!("cannot encode the baseline: {e}")))?;
    text.push('\n');
    let name = path.file_name().ok_or_else(|| {
        Error::new(format!(
            "--save-baseline {}: not a file name",
            path.display()
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("write", path, &e)
    })
}

pub fn load(path: &Path) -> Result<BTreeSet<Key>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, &e))?;
    let file: File = serde_json::from_str(&text).map_err(|e| {
        Error::new(format!(
            "{}:{}: not a portaudit baseline: {}",
            path.display(),
            e.line(),
            strip_position(&e.to_string())
        ))
    })?;
    if file.portaudit_baseline != FORMAT {
        return Err(Error::new(format!(
            "{}: baseline format {} is not supported (expected {FORMAT})",
            path.display(),
            file.portaudit_baseline
        )));
    }
    Ok(file.listeners.into_iter().collect())
}

/// serde_json appends " at line L column C"; we already say the line.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |cut| &message[..cut])
}

/// Each finding new or known (ephemeral UDP: neither), and what the baseline has that
/// no longer listens. Deciding what fails is the audit's ([`crate::audit::conclude`]).
pub fn compare(
    findings: &[Finding],
    baseline: &BTreeSet<Key>,
    path: &Path,
    ephemeral: &RangeInclusive<u16>,
) -> Comparison {
    let mut now = BTreeSet::new();
    let mut new = 0;
    let mut drift = Vec::with_capacity(findings.len());
    for finding in findings {
        if finding.ephemeral {
            drift.push(None);
            continue;
        }
        let key = key(finding);
        if baseline.contains(&key) {
            drift.push(Some(Drift::Known));
        } else {
            new += 1;
            drift.push(Some(Drift::New));
        }
        now.insert(key);
    }
    // A baseline saved before ephemeral sockets were left out may hold some: they are
    // not "removed" either.
    let removed = baseline
        .difference(&now)
        .filter(|k| !(k.protocol == "udp" && k.class == "wildcard" && ephemeral.contains(&k.port)))
        .cloned()
        .collect();
    Comparison {
        path: path.to_path_buf(),
        drift,
        new,
        removed,
    }
}
