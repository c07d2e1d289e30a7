//! The table for people: netstat-style rows, most severe first, then a one-line summary
//! (`5 listening, 1 exposed: 11211/udp memcached`). Every name in it is escaped.
//!
//! Sockets that share protocol, address, port and owner uid (an SO_REUSEPORT group:
//! nginx workers, a DNS server's threads) are one service to a person: they share a
//! row, which counts them (`(4 sockets)`). The JSON keeps every socket.

use std::borrow::Cow;
use std::fmt::Write;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};

use super::escape::{bytes_for_terminal, for_terminal};
use crate::audit::{Advice, Audit, Drift, Finding, Key, Verdict};
use crate::baseline;

use crate::socket::{Collector, Family, Listener, Listening, Process, Via, Way};

/// Owners shown per row; the rest are counted (`+6`). JSON lists them all.
const SHOWN_PROCESSES: usize = 2;

pub fn render(audit: &Audit, color: bool) -> String {
    let mut out = String::new();
    if audit.findings.is_empty() {
        out.push_str("No listening sockets.\n");
    } else {
        out.push_str(&table(audit, color).trim_fmt());
        out.push('\n');
    }
    out.push_str(&footer(audit));
    out.push_str(&collector_note(audit));
    out.push_str(&namespaces_note(audit));
    out.push('\n');
    out.push_str(&summary(audit));
    out.push('\n');
    out
}

fn table(audit: &Audit, color: bool) -> Table {
    let mut table = Table::new();
    let mut header = vec![
        "Proto",
        "Local Address",
        "Port",
        "Scope",
        "Process",
        "User",
        "Verdict",
    ];
    // Which rule decided: shown when a policy file is in use.
    let show_rule = audit.policy_file.is_some();
    if show_rule {
        header.push("Rule");
    }
    // What the host firewall does: shown when its ruleset was to be read.
    if audit.firewall_read {
        header.push("Firewall");
    }
    table.load_style(presets::NOTHING).set_header(header);
    if color {
        table.enforce_styling();
    }
    for group in groups(audit) {
        let finding = group.finding;
        let l = &finding.listener;
        let mut verdict = if finding.fails {
            finding.verdict.name().to_uppercase()
        } else {
            finding.verdict.name().to_string()
        };
        verdict.push_str(&notes(finding));
        let mut cells = vec![
            proto(l),
            address(finding),
            finding.port().to_string(),
            finding.scope.name().to_string(),
            processes(&group),
            user(finding),
            verdict,
        ];
        if show_rule {
            cells.push(for_terminal(finding.rule.as_deref().unwrap_or("-")).into_owned());
        }
        if audit.firewall_read {
            cells.push(
                finding
                    .firewall
                    .as_ref()
                    .map_or("-", |j| j.verdict.name())
                    .to_string(),
            );
        }
        table.add_row(
            cells
                .into_iter()
                .map(|text| style(Cell::new(text), finding, color)),
        );
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    // Fit a terminal's width; a pty that reports no size (width 0) or a pipe gets full rows.
    if table.width().is_some_and(|w| w >= 40) {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table
}

fn style(cell: Cell, finding: &Finding, color: bool) -> Cell {
    if !color {
        return cell;
    }
    match finding.verdict {
        _ if finding.fails => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Verdict::Internal => cell.fg(Color::Yellow),
        _ => cell,
    }
}

/// netstat's names: tcp, tcp6, udp, udp6; and, as BSD's netstat says it, `tcp46` for a
/// `::` bind that IPv4 reaches too. `?` marks a guess (the /proc collector cannot tell
/// and net.ipv6.bindv6only gives the default).
fn proto(l: &Listener) -> String {
    let name = l.protocol.name();
    match l.family {
        Family::Ipv4 => name.to_string(),
        Family::Ipv6 if !l.address.is_unspecified() => format!("{name}6"),
        Family::Ipv6 => match (l.detail.v6only, l.detail.v6only_default) {
            (Some(true), _) => format!("{name}6"),
            (Some(false), _) => format!("{name}46"),
            (None, Some(false)) => format!("{name}46?"),
            (None, _) => format!("{name}6?"),
        },
    }
}

/// The bind address, with `%DEVICE` when bound to one (as `ss` writes it). Where the
/// host publishes it, the host side, then who answers: `0.0.0.0 → netns 4026532301
/// (docker web) 10.88.0.2:80`. A socket in another namespace names it.
fn address(f: &Finding) -> String {
    let l = &f.listener;
    let own = match &l.detail.device {
        Some(device) => format!("{}%{}", l.address, for_terminal(&device.name)),
        None => l.address.to_string(),
    };
    let place = l
        .netns
        .as_ref()
        .filter(|n| !n.host || f.published.is_some())
        .map(|n| {
            let mut place = format!("netns {}", n.inode);
            let label = match (&l.container, &n.name) {
                (Some(c), _) => Some(format!(
                    "{} {}",
                    c.runtime,
                    c.name.clone().unwrap_or_else(|| short_id(&c.id))
                )),
                (None, Some(name)) => Some(name.clone()),
                (None, None) => None,
            };
            if let Some(label) = label {
                let _ = write!(place, " ({})", for_terminal(&label));
            }
            place
        });
    match &f.published {
        Some(host) => {
            // Where the publish sends connections: the target, not a wildcard bind.
            let shown = if l.address.is_unspecified() {
                host.target.to_string()
            } else {
                own
            };
            let target = match host.target {
                std::net::IpAddr::V6(_) => format!("[{shown}]:{}", l.port),
                std::net::IpAddr::V4(_) => format!("{shown}:{}", l.port),
            };
            let answer = match f.listening {
                Listening::Yes => String::new(),
                Listening::No => " (nothing listens)".to_string(),
                Listening::Unknown => " (not audited)".to_string(),
            };
            let via = match host.via {
                Via::Dnat { .. } => "",
                Via::Proxy { .. } => " via docker-proxy",
            };
            match place {
                Some(place) => format!("{} → {place} {target}{answer}{via}", host.address),
                None => format!("{} → {target}{answer}{via}", host.address),
            }
        }
        None => match place {
            Some(place) => format!("{own} in {place}{}", reached(f)),
            None => own,
        },
    }
}

/// How the outside reaches a socket of another namespace that nothing publishes:
/// `, routed via vh0`, `, direct on mv0` (its own link); nothing when contained.
fn reached(f: &Finding) -> String {
    let mut ways: Vec<String> = Vec::new();
    for way in &f.ways_in {
        let text = match (way.via, &way.interface) {
            (Way::Routed, Some(device)) => format!("routed via {}", for_terminal(device)),
            (Way::Direct, Some(device)) => format!("direct on {}", for_terminal(device)),
            (Way::Dnat | Way::Proxy, _) => format!("{} {}", way.via.name(), way.port),
            (via, None) => via.name().to_string(),
        };
        if !ways.contains(&text) {
            ways.push(text);
        }
    }
    if ways.is_empty() {
        String::new()
    } else {
        format!(", {}", ways.join(", "))
    }
}

/// The first 12 digits of a container id, as `docker ps` shows it.
fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// One line on what the collector could see, and where the wildcard binds are reachable.
fn collector_note(audit: &Audit) -> String {
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
            let mut reach: Vec<String> = Vec::new();
            let host = |f: &&Finding| f.listener.netns.as_ref().is_none_or(|n| n.host);
            for f in audit.findings.iter().filter(host) {
                for h in f.listener.detail.reachable_on.iter().flatten() {
                    let item = format!("{} ({})", h.address, for_terminal(&h.device));
                    if !reach.contains(&item) {
                        reach.push(item);
                    }
                }
            }
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
fn namespaces_note(audit: &Audit) -> String {
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

/// The sockets of one table row: the same protocol, address, port and uid.
struct Group<'a> {
    /// The first of them; the others differ only in inode and owners.
    finding: &'a Finding,
    sockets: usize,
    /// Every owner of any of them, each once, in pid order.
    processes: Vec<&'a Process>,
    /// Whether every owner of every socket could be seen.
    complete: bool,
}

fn groups(audit: &Audit) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    for finding in &audit.findings {
        let l = &finding.listener;
        let same = |g: &&mut Group| {
            let first = &g.finding.listener;
            let netns = |l: &Listener| l.netns.as_ref().map(|n| n.inode);
            (
                first.protocol,
                first.family,
                first.address,
                first.port,
                first.uid,
                netns(first),
                &g.finding.published,
                g.finding.verdict,
            ) == (
                l.protocol,
                l.family,
                l.address,
                l.port,
                l.uid,
                netns(l),
                &finding.published,
                finding.verdict,
            )
        };
        match groups.iter_mut().find(same) {
            Some(group) => {
                group.sockets += 1;
                group.processes.extend(&l.processes);
                group.complete &= l.processes_complete;
            }
            None => groups.push(Group {
                finding,
                sockets: 1,
                processes: l.processes.iter().collect(),
                complete: l.processes_complete,
            }),
        }
    }
    for group in &mut groups {
        group.processes.sort_by_key(|p| p.pid);
        group.processes.dedup_by_key(|p| p.pid);
    }
    groups
}

/// `pid/name` of the first owners and how many more, then the systemd unit; `kernel:
/// vxlan vx0` for a socket a kernel facility holds; `-` when there are none, `?` when we
/// could not see them.
fn processes(group: &Group) -> String {
    let l = &group.finding.listener;
    let mut text = if let (true, Some(kernel)) = (group.processes.is_empty(), &l.kernel) {
        format!("kernel: {}", for_terminal(kernel))
    } else if group.processes.is_empty() {
        if group.complete { "-" } else { "?" }.to_string()
    } else {
        group
            .processes
            .iter()
            .take(SHOWN_PROCESSES)
            .map(|p| format!("{}/{}", p.pid, bytes_for_terminal(&p.comm)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if group.processes.len() > SHOWN_PROCESSES {
        let _ = write!(text, " +{}", group.processes.len() - SHOWN_PROCESSES);
    }
    match (&l.unit, &l.unit_service) {
        (Some(unit), Some(service)) => {
            let _ = write!(
                text,
                " ({} for {})",
                for_terminal(unit),
                for_terminal(service)
            );
        }
        (Some(unit), None) => {
            let _ = write!(text, " ({})", for_terminal(unit));
        }
        _ => {}
    }
    if group.sockets > 1 {
        let _ = write!(text, " ({} sockets)", group.sockets);
    }
    text
}

fn user(f: &Finding) -> String {
    let l = &f.listener;
    if f.listening != Listening::Yes {
        return "-".to_string();
    }
    match &l.user {
        Some(name) => bytes_for_terminal(name).into_owned(),
        None => l.uid.to_string(),
    }
}

/// What the verdict cell adds: `(ephemeral)`, `(new)`.
fn notes(f: &Finding) -> String {
    let mut notes = Vec::new();
    if f.ephemeral {
        notes.push("ephemeral");
    }
    if f.drift == Some(Drift::New) {
        notes.push("new");
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    }
}

/// Lines between the table and the summary: advice on dangerous services, then drift.
fn footer(audit: &Audit) -> String {
    let mut out = String::new();
    // Most severe first, then by port; one line per distinct advice.
    let mut advised: Vec<(&Advice, u16, &str)> = audit
        .findings
        .iter()
        .filter_map(|f| Some((f.advice.as_ref()?, f.port(), f.listener.protocol.name())))
        .collect();
    advised.sort_by_key(|(advice, port, protocol)| (advice.severity, *port, *protocol));
    advised.dedup_by(|a, b| a == b);
    for (advice, port, protocol) in advised {
        let _ = writeln!(
            out,
            "{port}/{protocol} {} ({}): {}. Fix: {}.",
            for_terminal(&advice.service),
            advice.severity.name(),
            for_terminal(&advice.why),
            for_terminal(&advice.fix)
        );
    }
    if let Some(baseline) = &audit.baseline {
        let file = baseline.path.display();
        if baseline.new > 0 {
            let mut new: Vec<String> = audit
                .findings
                .iter()
                .filter(|f| f.drift == Some(Drift::New))
                .map(|f| drift_item(&baseline::key(f)))
                .collect();
            new.dedup();
            let _ = writeln!(out, "{} new since {file}: {}", baseline.new, new.join(", "));
        }
        if !baseline.removed.is_empty() {
            let removed: Vec<String> = baseline.removed.iter().map(drift_item).collect();
            let _ = writeln!(
                out,
                "{} gone since {file} (not failing): {}",
                baseline.removed.len(),
                removed.join(", ")
            );
        }
    }
    out
}

/// `7 listening, 2 exposed: 9000/tcp python3, 11211/udp memcached; 1 internal: 8080/tcp web`
fn summary(audit: &Audit) -> String {
    let exposed = audit.count(Verdict::Exposed);
    let mut line = format!("{} listening, {exposed} exposed", audit.findings.len());
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
    let drifted = audit.drifted();
    if drifted > 0 {
        let _ = write!(
            line,
            "; {drifted} new since the baseline: {}",
            items(audit, |f| f.fails && f.drift == Some(Drift::New))
        );
    }
    if audit.advisory && !audit.incomplete {
        line.push_str(" [advisory: exit 0]");
    }
    if audit.incomplete {
        line.push_str("; INCOMPLETE: rows of the socket tables could not be read (see warnings)");
    }
    line
}

/// `PORT/PROTO NAME` for each finding picked, once each.
fn items(audit: &Audit, pick: impl Fn(&Finding) -> bool) -> String {
    let mut items: Vec<String> = Vec::new();
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
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items.join(", ")
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
