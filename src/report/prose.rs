//! The prose under the table: advice on dangerous services, drift since the baseline,
//! what the marks mean, what the collector could see, and the one-line summary. It stays
//! within a screenful whatever the host, and names each socket once; the JSON has it all.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::escape::{bytes_for_terminal, for_terminal};
use super::layout;
use crate::audit::{Advice, Audit, Drift, Finding, Key, Verdict};
use crate::socket::{Collector, Family, Listening};

/// The prose under the table — advice, drift, notes, the summary — stays within a
/// screenful of a classic terminal, whatever the host: past it, the JSON has it all.
pub const SCREENFUL: usize = 24;

/// Items named per list (a verdict's sockets, the listeners gone); the rest are counted.
const LISTED: usize = 5;

/// How many lines `text` takes at `width`.
pub fn lines(text: &str, width: Option<usize>) -> usize {
    layout::wrap(text, width).lines().count()
}

/// The marks the Process column used, explained under the table.
#[derive(Default)]
pub struct Legend {
    /// `?`: no owner seen, and there may be some.
    pub unseen: bool,
    /// `+?`: owners seen, and there may be more.
    pub partial: bool,
}

impl Legend {
    pub fn line(&self) -> String {
        let says = match (self.unseen, self.partial) {
            (false, false) => return String::new(),
            (true, false) => "?: no owner could be seen",
            (false, true) => "+?: there may be owners besides those shown",
            (true, true) => {
                "?: no owner could be seen; +?: there may be owners besides those shown"
            }
        };
        // Not "run as root": root too can be refused (a process outside its user
        // namespace, an LSM); a warning says why when a socket shows no owner at all.
        format!("{says} (not every process's open files could be read)\n")
    }
}

/// One line on what the collector could see, and where the wildcard binds are reachable.
pub fn collector_note(audit: &Audit) -> String {
    match audit.collector {
        Collector::Proc => {
            let dual = audit
                .findings
                .iter()
                .any(|f| f.listener.family == Family::Ipv6 && f.listener.address.is_unspecified());
            let mut line = "Read from /proc/net: bound devices not visible".to_string();
            if dual {
                line.push_str("; ?: dual-stack guessed from net.ipv6.bindv6only");
            }
            line
        }
        Collector::Netlink => {
            // The host's few addresses, once each, in the order first seen.
            let mut seen: Vec<(&IpAddr, &str)> = Vec::new();
            let host = |f: &&Finding| f.listener.netns.as_ref().is_none_or(|n| n.host);
            for f in audit.findings.iter().filter(host) {
                for h in f
                    .listener
                    .detail
                    .reachable_on
                    .iter()
                    .flat_map(|all| all.iter())
                {
                    let item = (&h.address, h.device.as_str());
                    if !seen.contains(&item) {
                        seen.push(item);
                    }
                }
            }
            let reach: Vec<String> = seen
                .iter()
                .map(|(address, device)| format!("{address} ({})", for_terminal(device)))
                .collect();
            if reach.is_empty() {
                "Read with netlink sock_diag".to_string()
            } else {
                format!(
                    "Read with netlink sock_diag; wildcard binds reach {}",
                    reach.join(", ")
                )
            }
        }
    }
}

/// With more than one network namespace: how many, which is the host, and how many
/// could not be read.
pub fn namespaces_note(audit: &Audit) -> String {
    let all = &audit.namespaces;
    if all.len() < 2 {
        return String::new();
    }
    let mut line = format!("\n{} network namespaces", all.len());
    if let Some(host) = all.iter().find(|n| n.netns.host) {
        let _ = write!(line, ", the host's is {}", host.netns.inode);
    }
    let missed = all.iter().filter(|n| !n.audited && !n.netns.host).count();
    if missed > 0 {
        let _ = write!(line, "; {missed} not audited (see warnings)");
    }
    line
}

/// Advice on dangerous services, most severe first, then by port: one entry per advice,
/// naming the sockets it is for; as many as fit in `room` lines, then how many more.
pub fn advice(audit: &Audit, width: Option<usize>, room: usize) -> String {
    let mut entries: Vec<(&Advice, Vec<(u16, &str)>)> = Vec::new();
    for f in &audit.findings {
        let Some(advice) = f.advice.as_deref() else {
            continue;
        };
        let spec = (f.port(), f.listener.protocol.name());
        match entries.iter_mut().find(|(a, _)| *a == advice) {
            Some((_, specs)) if specs.contains(&spec) => {}
            Some((_, specs)) => specs.push(spec),
            None => entries.push((advice, vec![spec])),
        }
    }
    for (_, specs) in &mut entries {
        specs.sort_unstable();
    }
    entries.sort_by_key(|(advice, specs)| (advice.severity, specs[0]));
    let mut out = String::new();
    let mut used = 0;
    for (shown, (advice, specs)) in entries.iter().enumerate() {
        let named: Vec<String> = specs
            .iter()
            .take(LISTED)
            .map(|(port, protocol)| format!("{port}/{protocol}"))
            .collect();
        let more = match specs.len().saturating_sub(LISTED) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let entry = format!(
            "{}{more} {} ({}): {}. Fix: {}.\n",
            named.join(", "),
            for_terminal(&advice.service),
            advice.severity.name(),
            for_terminal(&advice.why),
            for_terminal(&advice.fix)
        );
        let left = entries.len() - shown;
        // Room for this entry, and for the line that counts the rest if any remain.
        let need = lines(&entry, width) + usize::from(left > 1);
        if used + need > room && shown > 0 || (shown == 0 && room == 0) {
            let _ = writeln!(
                out,
                "and {left} more advice {}: --json for all",
                if left == 1 { "entry" } else { "entries" }
            );
            break;
        }
        used += lines(&entry, width);
        out.push_str(&entry);
    }
    out
}

/// What changed since the baseline: how many listeners are new (each marked in the
/// table, and named in the summary as it fails), and which are gone.
pub fn drift(audit: &Audit) -> String {
    let mut out = String::new();
    let Some(baseline) = &audit.baseline else {
        return out;
    };
    let file = baseline.path.display();
    if baseline.new > 0 {
        let _ = writeln!(out, "{} new since {file}: marked (new) above", baseline.new);
    }
    if !baseline.removed.is_empty() {
        let removed: Vec<String> = baseline
            .removed
            .iter()
            .take(LISTED)
            .map(drift_item)
            .collect();
        let more = match baseline.removed.len().saturating_sub(LISTED) {
            0 => String::new(),
            n => format!(" and {n} more: --json for all"),
        };
        let _ = writeln!(
            out,
            "{} gone since {file} (not failing): {}{more}",
            baseline.removed.len(),
            removed.join(", ")
        );
    }
    out
}

/// `7 listening, 2 exposed: 9000/tcp python3, 11211/udp memcached; 1 internal: 8080/tcp web`
pub fn summary(audit: &Audit) -> String {
    let exposed = audit.count(Verdict::Exposed);
    let mut line = match &audit.selection {
        Some(selected) => {
            let mut line = format!(
                "{} of {} sockets selected ({}",
                audit.findings.len(),
                selected.of,
                for_terminal(&selected.flags.join(" "))
            );
            if selected.unsure > 0 {
                let _ = write!(line, "; {} with no owner seen", selected.unsure);
            }
            line.push(')');
            line
        }
        None => format!("{} listening", audit.findings.len()),
    };
    let _ = write!(line, ", {exposed} exposed");
    if exposed > 0 {
        let _ = write!(
            line,
            ": {}",
            items(audit, |f| f.verdict == Verdict::Exposed)
        );
    }
    let denied = audit.count(Verdict::Denied);
    if denied > 0 {
        let _ = write!(
            line,
            "; {denied} denied: {}",
            items(audit, |f| f.verdict == Verdict::Denied)
        );
    }
    let internal = audit.count(Verdict::Internal);
    if internal > 0 {
        let _ = write!(
            line,
            "; {internal} internal: {}",
            items(audit, |f| f.verdict == Verdict::Internal)
        );
        if !audit.strict {
            line.push_str(" (not failing without --strict)");
        }
    }
    for (verdict, note) in [
        (Verdict::Filtered, " (dropped by the firewall, trusted)"),
        (
            Verdict::Contained,
            " (in other network namespaces, not published)",
        ),
    ] {
        let count = audit.count(verdict);
        if count > 0 {
            let _ = write!(line, "; {count} {}{note}", verdict.name());
        }
    }
    // New since the baseline fails whatever the verdict; one decision, said here too.
    // Each socket is named once: those the lists above name already are counted here.
    let drifted = audit.drifted();
    if drifted > 0 {
        let _ = write!(line, "; {drifted} new since the baseline");
        let named_above = |f: &Finding| {
            matches!(
                f.verdict,
                Verdict::Exposed | Verdict::Denied | Verdict::Internal
            )
        };
        let only_new = |f: &Finding| f.fails && f.drift == Some(Drift::New) && !named_above(f);
        if audit.findings.iter().any(only_new) {
            let _ = write!(line, ": {}", items(audit, only_new));
        }
    }
    if audit.advisory && !audit.incomplete {
        line.push_str(" [advisory: exit 0]");
    }
    if audit.incomplete {
        line.push_str("; INCOMPLETE: rows of the socket tables could not be read (see warnings)");
    }
    line
}

/// `PORT/PROTO NAME` for each finding picked, once each: the first few, then how many
/// more.
fn items(audit: &Audit, pick: impl Fn(&Finding) -> bool) -> String {
    let mut items = String::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut more = 0;
    for f in audit.findings.iter().filter(|f| pick(f)) {
        let l = &f.listener;
        let mut names: Vec<Cow<str>> = l
            .processes
            .iter()
            .map(|p| bytes_for_terminal(&p.comm))
            .collect();
        names.dedup();
        let owner = if f.listening == Listening::No {
            "(nothing listens)".to_string()
        } else if names.is_empty() {
            "?".to_string()
        } else {
            names.join(",")
        };
        let item = format!("{}/{} {owner}", f.port(), l.protocol.name());
        if seen.contains(&item) {
            continue;
        }
        if seen.len() >= LISTED {
            more += 1;
        } else {
            if !items.is_empty() {
                items.push_str(", ");
            }
            items.push_str(&item);
        }
        seen.insert(item);
    }
    if more > 0 {
        let _ = write!(items, " and {more} more");
    }
    items
}

/// `PORT/PROTO CLASS EXECUTABLE`: one baseline key, as the drift lines name it.
fn drift_item(k: &Key) -> String {
    format!(
        "{}/{} {} {}",
        k.port,
        k.protocol,
        k.class,
        for_terminal(&k.executable)
    )
}
