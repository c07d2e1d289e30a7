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
use std::ops::RangeInclusive;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audit::{Audit, Comparison, Drift, Finding, Key, Verdict};
use crate::error::Error;
use crate::fsafe::write::Target;

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

/// Write the current listeners to `target` (opened before the audit), atomically: see
/// `fsafe::write`. Returns how many listeners the baseline holds.
pub fn save(audit: &Audit, target: &Target) -> Result<usize, Error> {
    let listeners: BTreeSet<Key> = audit
        .findings
        .iter()
        .filter(|f| !f.ephemeral)
        .map(key)
        .collect();
    let count = listeners.len();
    let file = File {
        portaudit_baseline: FORMAT,
        listeners: listeners.into_iter().collect(),
    };
    let mut text = serde_json::to_string_pretty(&file)
        .map_err(|e| Error::new(format!("cannot encode the baseline: {e}")))?;
    text.push('\n');
    target.replace(0o644, |out| out.write_all(text.as_bytes()))?;
    Ok(count)
}

/// Read a baseline (as root: only a file root alone could have put there, see `fsafe`).
pub fn load(path: &Path) -> Result<BTreeSet<Key>, Error> {
    let bytes = crate::fsafe::read::trusted(path)
        .map_err(|e| e.into_error(path, |e| Error::io("read", path, e)))?;
    parse(&bytes, path)
}

/// A baseline's text: its listeners, or one line naming the line at fault.
pub fn parse(bytes: &[u8], path: &Path) -> Result<BTreeSet<Key>, Error> {
    let file: File = serde_json::from_slice(bytes).map_err(|e| {
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
