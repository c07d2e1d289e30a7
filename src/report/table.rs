//! The table for people: netstat-style rows, most severe first, then a one-line summary
//! (`5 listening, 1 exposed: 11211/udp memcached`). Every name in it is escaped.
//!
//! Sockets that share protocol, address, port and owner uid (an SO_REUSEPORT group:
//! nginx workers, a DNS server's threads) are one service to a person: they share a
//! row, which counts them (`(4 sockets)`). The JSON keeps every socket.

use std::borrow::Cow;
use std::fmt::Write;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};

use super::escape::bytes_for_terminal;
use crate::collect::{Family, Listener, Process};
use crate::policy::{Audit, Finding, Verdict};

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
    out.push_str(&summary(audit));
    out.push('\n');
    out
}

fn table(audit: &Audit, color: bool) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "Proto",
        "Local Address",
        "Port",
        "Scope",
        "Process",
        "User",
        "Verdict",
    ]);
    if color {
        table.enforce_styling();
    }
    for group in groups(audit) {
        let finding = group.finding;
        let l = &finding.listener;
        let verdict = if finding.fails {
            finding.verdict.name().to_uppercase()
        } else {
            finding.verdict.name().to_string()
        };
        let cells = [
            proto(l),
            l.address.to_string(),
            l.port.to_string(),
            finding.scope.name().to_string(),
            processes(&group),
            user(l),
            verdict,
        ];
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
        Verdict::Exposed | Verdict::Allowed | Verdict::Local => cell,
    }
}

/// netstat's names: tcp, tcp6, udp, udp6.
fn proto(l: &Listener) -> String {
    match l.family {
        Family::Ipv4 => l.protocol.name().to_string(),
        Family::Ipv6 => format!("{}6", l.protocol.name()),
    }
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
            (
                first.protocol,
                first.family,
                first.address,
                first.port,
                first.uid,
            ) == (l.protocol, l.family, l.address, l.port, l.uid)
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

/// `pid/name` of the first owners and how many more; `-` when there are none, `?` when
/// we could not see them.
fn processes(group: &Group) -> String {
    let mut text = if group.processes.is_empty() {
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
    if group.sockets > 1 {
        let _ = write!(text, " ({} sockets)", group.sockets);
    }
    text
}

fn user(l: &Listener) -> String {
    match &l.user {
        Some(name) => bytes_for_terminal(name).into_owned(),
        None => l.uid.to_string(),
    }
}

/// `7 listening, 2 exposed: 9000/tcp python3, 11211/udp memcached; 1 internal: 8080/tcp web`
fn summary(audit: &Audit) -> String {
    let exposed = audit.count(Verdict::Exposed);
    let mut line = format!("{} listening, {exposed} exposed", audit.findings.len());
    if exposed > 0 {
        let _ = write!(line, ": {}", items(audit, Verdict::Exposed));
    }
    let internal = audit.count(Verdict::Internal);
    if internal > 0 {
        let _ = write!(
            line,
            "; {internal} internal: {}",
            items(audit, Verdict::Internal)
        );
        if !audit.strict {
            line.push_str(" (not failing without --strict)");
        }
    }
    if audit.incomplete {
        line.push_str("; INCOMPLETE: rows of the socket tables could not be read (see warnings)");
    }
    line
}

/// `PORT/PROTO NAME` for each finding with this verdict, once each.
fn items(audit: &Audit, verdict: Verdict) -> String {
    let mut items: Vec<String> = Vec::new();
    for f in audit.findings.iter().filter(|f| f.verdict == verdict) {
        let l = &f.listener;
        let mut names: Vec<Cow<str>> = l
            .processes
            .iter()
            .map(|p| bytes_for_terminal(&p.comm))
            .collect();
        names.dedup();
        let owner = if names.is_empty() {
            "?".to_string()
        } else {
            names.join(",")
        };
        let item = format!("{}/{} {owner}", l.port, l.protocol.name());
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items.join(", ")
}
