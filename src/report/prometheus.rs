//! `--format prometheus`: node_exporter's textfile-collector format, so a fleet's
//! existing Prometheus scrapes the audit (see docs/fleet.md).
//!
//! Counts for the whole host, one series per failing socket (labels: protocol, port,
//! address, address class, process, verdict; the value is how many sockets share those
//! labels, so SO_REUSEPORT twins do not make a duplicate series), and a success gauge
//! with the audit's timestamp. With a baseline, the same for each listener new since it.
//!
//! Cardinality stays bounded: a listener that passes (a loopback one, an allowed one)
//! gets no series of its own, only a count in `portaudit_sockets{verdict}`; per-socket
//! series exist only for what fails or is new, which a host owner fixes or baselines.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::audit::{Audit, Drift, Finding, Verdict};

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
        "Listening TCP and UDP sockets found by the audit (those selected, with --port, --process, --pid or --protocol).",
        audit.findings.len(),
    );
    gauge(
        &mut out,
        "portaudit_audited_sockets",
        "Listening TCP and UDP sockets found, before --port, --process, --pid or --protocol selected some.",
        audit
            .selection
            .as_ref()
            .map_or(audit.findings.len(), |s| s.of),
    );
    gauge(
        &mut out,
        "portaudit_exposed_sockets",
        "Sockets that fail the audit: exposed, denied, internal under strict, or new since the baseline.",
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
    per_socket(
        &mut out,
        "portaudit_exposed_socket",
        audit.findings.iter().filter(|f| f.fails),
    );
    if let Some(baseline) = &audit.baseline {
        header(
            &mut out,
            "portaudit_new_socket",
            "One series per listener that is not in the baseline; the value counts sockets with the same labels.",
        );
        per_socket(
            &mut out,
            "portaudit_new_socket",
            audit
                .findings
                .iter()
                .filter(|f| f.drift == Some(Drift::New)),
        );
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
        EXIT_CODE_HELP,
        usize::from(audit.outcome.code()),
    );
    gauge(&mut out, "portaudit_audit_success", SUCCESS_HELP, 1);
    gauge(
        &mut out,
        "portaudit_audit_complete",
        "0 when a row of a socket table could not be read, so a listener may be missing.",
        usize::from(!audit.incomplete),
    );
    timestamp(&mut out, now);
    out
}

fn timestamp(out: &mut String, now: SystemTime) {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    header(
        out,
        "portaudit_audit_timestamp_seconds",
        "When the audit ran, in seconds since the Unix epoch.",
    );
    let _ = writeln!(out, "portaudit_audit_timestamp_seconds {seconds}");
}

const EXIT_CODE_HELP: &str =
    "The audit's exit status: 0 clean, 1 exposed, 2 incomplete or could not be done.";
const SUCCESS_HELP: &str = "1 when the audit ran to the end; 0 when it could not be done (--output FILE then holds only this, the exit code and the time).";

/// What `--output FILE` holds when the audit could not be done (exit 2 before a report):
/// an alert can fire on `portaudit_audit_success == 0`, and nothing of an earlier audit
/// is left to pass for this one.
pub fn failure(now: SystemTime) -> String {
    let mut out = String::new();
    gauge(&mut out, "portaudit_audit_success", SUCCESS_HELP, 0);
    gauge(
        &mut out,
        "portaudit_exit_code",
        EXIT_CODE_HELP,
        usize::from(crate::exit::TROUBLE),
    );
    timestamp(&mut out, now);
    out
}

/// One sample per distinct label set of `findings`, valued by how many share it.
fn per_socket<'a>(out: &mut String, name: &str, findings: impl Iterator<Item = &'a Finding>) {
    let mut series: BTreeMap<String, usize> = BTreeMap::new();
    for f in findings {
        let l = &f.listener;
        let mut names: Vec<String> = l.processes.iter().map(|p| p.name().into_owned()).collect();
        names.dedup();
        let labels = format!(
            "protocol=\"{}\",port=\"{}\",address=\"{}\",address_class=\"{}\",process=\"{}\",verdict=\"{}\"",
            l.protocol.name(),
            f.port(),
            f.address(),
            f.class,
            label_value(&names.join(",")),
            f.verdict.name(),
        );
        *series.entry(labels).or_default() += 1;
    }
    for (labels, count) in series {
        let _ = writeln!(out, "{name}{{{labels}}} {count}");
    }
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
    use crate::audit::{Context, conclude};
    use crate::policy::Policy;
    use crate::policy::services::Services;
    use crate::socket::{Listener, Process, Protocol, Subject};

    /// A socket owned by one process called `comm`.
    fn socket(protocol: Protocol, address: &str, port: u16, comm: &str) -> Listener {
        Listener {
            processes: vec![Process {
                pid: 1,
                comm: comm.as_bytes().to_vec(),
                exe: Some(format!("/usr/bin/{comm}").into()),
                ..Process::default()
            }]
            .into(),
            processes_complete: true,
            ..Listener::new(protocol, address.parse().unwrap(), port, 0, 1)
        }
    }

    /// The audit of these sockets under an empty allowlist, compared with a baseline
    /// holding the keys of those that `known` picks, when given.
    fn audit(listeners: Vec<Listener>, known: Option<fn(&Finding) -> bool>) -> Audit {
        let services = Services::parse("", "none".into());
        let policy = Policy::new(&[], false, false, &services).unwrap();
        let judged = policy.judge(listeners.into_iter().map(Subject::alone).collect());
        let comparison = known.map(|known| {
            let keys = judged
                .findings
                .iter()
                .filter(|f| known(f))
                .map(crate::baseline::key)
                .collect();
            let path = std::path::Path::new("b.json");
            crate::baseline::compare(&judged.findings, &keys, path, &(32768..=60999))
        });
        conclude(judged, comparison, policy.mode(), Context::default())
    }

    /// The sample lines (not comments) that start with `prefix`.
    fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    const MEMCACHED: &str = "{protocol=\"udp\",port=\"11211\",address=\"0.0.0.0\",\
                             address_class=\"wildcard\",process=\"memcached\",verdict=\"exposed\"} 1";

    #[test]
    fn passing_listeners_get_no_series_of_their_own() {
        let exposed = || socket(Protocol::Udp, "0.0.0.0", 11211, "memcached");
        let few = render(&audit(vec![exposed()], None), UNIX_EPOCH);
        let many = render(
            &audit(
                (1..=1000)
                    .map(|port| socket(Protocol::Tcp, "127.0.0.1", port, "lo"))
                    .chain([exposed()])
                    .collect(),
                None,
            ),
            UNIX_EPOCH,
        );
        assert_eq!(
            samples(&many, "portaudit_exposed_socket{"),
            [format!("portaudit_exposed_socket{MEMCACHED}")]
        );
        // A thousand loopback listeners change counts, not the number of series.
        assert_eq!(few.lines().count(), many.lines().count(), "{many}");
        assert!(many.contains("\nportaudit_sockets{verdict=\"local\"} 1000\n"));
        assert!(!many.contains("127.0.0.1"), "{many}");
    }

    #[test]
    fn listeners_new_since_the_baseline_get_a_series() {
        let sockets = || {
            vec![
                socket(Protocol::Udp, "0.0.0.0", 11211, "memcached"),
                socket(Protocol::Tcp, "127.0.0.1", 6379, "redis-server"),
                socket(Protocol::Tcp, "127.0.0.1", 6379, "redis-server"),
            ]
        };
        let without = render(&audit(sockets(), None), UNIX_EPOCH);
        assert!(!without.contains("portaudit_new_socket"), "{without}");

        // The baseline knew memcached: redis (both sockets) is new.
        let with = render(
            &audit(sockets(), Some(|f| f.listener.port == 11211)),
            UNIX_EPOCH,
        );
        assert_eq!(
            samples(&with, "portaudit_new_socket{"),
            [
                "portaudit_new_socket{protocol=\"tcp\",port=\"6379\",address=\"127.0.0.1\",\
              address_class=\"loopback\",process=\"redis-server\",verdict=\"local\"} 2"
            ],
            "{with}"
        );
        assert!(with.contains("\n# TYPE portaudit_new_socket gauge\n"));
        assert!(with.contains("\nportaudit_new_sockets 2\n"), "{with}");
        // The series that were there before are still there; a new listener fails the
        // audit, so it is a failing series too, with its own verdict.
        assert_eq!(
            samples(&with, "portaudit_exposed_socket{"),
            [
                "portaudit_exposed_socket{protocol=\"tcp\",port=\"6379\",address=\"127.0.0.1\",\
                 address_class=\"loopback\",process=\"redis-server\",verdict=\"local\"} 2"
                    .to_string(),
                format!("portaudit_exposed_socket{MEMCACHED}"),
            ],
            "{with}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label_value("nginx"), "nginx");
    }
}
