//! `--format prometheus`: node_exporter's textfile-collector format, so a fleet's
//! existing Prometheus scrapes the audit (see README, "Prometheus").
//!
//! Counts for the whole host, one series per failing socket (labels: protocol, port,
//! address, address class, process, verdict; the value is how many sockets share those
//! labels, so SO_REUSEPORT twins do not make a duplicate series), and a success gauge
//! with the audit's timestamp.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::audit::{Audit, Drift, Verdict};
use crate::baseline::bind_class;

const VERDICTS: [Verdict; 7] = [
    Verdict::Exposed,
    Verdict::Denied,
    Verdict::Internal,
    Verdict::Allowed,
    Verdict::Local,
    Verdict::Filtered,
    Verdict::Contained,
];

pub fn render(audit: &Audit, now: SystemTime) -> String {
    let mut out = String::new();
    let failing = audit.failing();
    gauge(
        &mut out,
        "portaudit_listening_sockets",
        "Listening TCP and UDP sockets found by the audit.",
        audit.findings.len(),
    );
    gauge(
        &mut out,
        "portaudit_exposed_sockets",
        "Sockets that fail the audit: exposed, denied, or internal under strict.",
        failing,
    );
    header(
        &mut out,
        "portaudit_sockets",
        "Listening sockets by verdict.",
    );
    for verdict in VERDICTS {
        let _ = writeln!(
            out,
            "portaudit_sockets{{verdict=\"{}\"}} {}",
            verdict.name(),
            audit.count(verdict)
        );
    }
    header(
        &mut out,
        "portaudit_exposed_socket",
        "One series per socket that fails the audit; the value counts sockets with the same labels.",
    );
    let mut series: BTreeMap<String, usize> = BTreeMap::new();
    for f in audit.findings.iter().filter(|f| f.fails) {
        let l = &f.listener;
        let mut names: Vec<String> = l.processes.iter().map(|p| p.name().into_owned()).collect();
        names.dedup();
        let labels = format!(
            "protocol=\"{}\",port=\"{}\",address=\"{}\",address_class=\"{}\",process=\"{}\",verdict=\"{}\"",
            l.protocol.name(),
            f.port(),
            f.address(),
            bind_class(f.scope, f.exposure),
            label_value(&names.join(",")),
            f.verdict.name(),
        );
        *series.entry(labels).or_default() += 1;
    }
    for (labels, count) in series {
        let _ = writeln!(out, "portaudit_exposed_socket{{{labels}}} {count}");
    }
    if let Some(baseline) = &audit.baseline {
        gauge(
            &mut out,
            "portaudit_new_sockets",
            "Listeners that are not in the baseline.",
            audit
                .findings
                .iter()
                .filter(|f| f.drift == Some(Drift::New))
                .count(),
        );
        gauge(
            &mut out,
            "portaudit_removed_sockets",
            "Baseline listeners that are no longer listening.",
            baseline.removed.len(),
        );
    }
    gauge(
        &mut out,
        "portaudit_exit_code",
        "The audit's exit status: 0 clean, 1 exposed, 2 incomplete.",
        usize::from(audit.outcome.code()),
    );
    gauge(
        &mut out,
        "portaudit_audit_success",
        "1 when the audit ran to the end (the README's recipe writes 0 when it could not).",
        1,
    );
    gauge(
        &mut out,
        "portaudit_audit_complete",
        "0 when a row of a socket table could not be read, so a listener may be missing.",
        usize::from(!audit.incomplete),
    );
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    header(
        &mut out,
        "portaudit_audit_timestamp_seconds",
        "When the audit ran, in seconds since the Unix epoch.",
    );
    let _ = writeln!(out, "portaudit_audit_timestamp_seconds {seconds}");
    out
}

fn header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

fn gauge(out: &mut String, name: &str, help: &str, value: usize) {
    header(out, name, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The exposition format's escapes for a label value: backslash, double quote, newline.
fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label_value("nginx"), "nginx");
    }
}
