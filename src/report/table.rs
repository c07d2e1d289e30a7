//! The table for people: netstat-style rows, failing ones first, then the prose under
//! it (prose.rs) ending in a one-line summary (`5 listening, 1 exposed: 11211/udp
//! memcached`). Every name in it is escaped.
//!
//! Sockets that share protocol, address, port and owner uid (an SO_REUSEPORT group:
//! nginx workers, a DNS server's threads) are one service to a person: they share a
//! row, which counts them (`(4 sockets)`). The JSON keeps every socket.
//!
//! Given a width (a terminal's), every line fits it: columns shorten or drop in the
//! order of [`STEPS`] and the prose wraps at spaces (see layout.rs). Without one (piped
//! output) each row is one whole line, for grep.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;

use super::escape::{bytes_for_terminal, for_terminal};
use super::layout::{self, Cell, Fit, Grid, Step, Tone};
use super::prose::{self, Legend};
use crate::audit::{Audit, Drift, Finding, Verdict};

use crate::socket::{Family, Listening, Process, Protocol, Via, Way, WayIn};

/// Owners shown per row; the rest are counted (`+6`). JSON lists them all.
const SHOWN_PROCESSES: usize = 2;

/// What gives way, in order, when the table is wider than the terminal: each step is
/// taken only while the table still does not fit (docs/report.md, "Width", says the same).
const STEPS: &[Step] = &[
    // The address says it (0.0.0.0, 127.0.0.1).
    Step::Drop("Scope"),
    // Namespace labels and publish targets, then the bind address alone.
    Step::Shorten("Local Address"),
    // Later owners, `+N`, `(N sockets)`: the first `pid/name` stays.
    Step::Shorten("Process"),
    // `(socket: root)`, later users: whom the first owner runs as stays.
    Step::Shorten("User"),
    // A rule's label keeps its first words; cut, every label gets a key (`[1]`) and is
    // written whole under the table.
    Step::Shorten("Rule"),
    Step::Drop("User"),
    // `(ephemeral)`, `(new)`: the verdict stays.
    Step::Shorten("Verdict"),
    Step::Drop("Firewall"),
    // Before any name is cut; the labels are then written under the table with the
    // ports they decided.
    Step::Drop("Rule"),
    // Past here names and then addresses are cut, with `…`.
    Step::Cut("Process"),
    Step::Cut("Local Address"),
];

/// The table, then the prose under it. `width`: the columns to fit, `None` for rows
/// that are never cut (piped output).
pub fn render(
    audit: &Audit,
    color: bool,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut prose = String::new();
    let mut legend = Legend::default();
    if audit.findings.is_empty() {
        prose.push_str(match audit.selection {
            Some(_) => "No listening socket selected.\n",
            None => "No listening sockets.\n",
        });
    } else {
        let mut grid = table(audit, &mut legend, None);
        let mut fit = grid.fit(width, STEPS);
        let mut keys = None;
        let rule_shown = |grid: &Grid, fit: &Fit| !grid.dropped(fit).contains(&"Rule");
        if audit.policy_file.is_some() && !grid.whole(&fit, "Rule") && rule_shown(&grid, &fit) {
            // Too narrow for the reasons: each gets a key in its cell and a line of its own
            // under the table, so no row wraps and no reason is lost.
            let keyed = RuleKeys::new(audit);
            grid = table(audit, &mut Legend::default(), Some(&keyed));
            fit = grid.fit(width, STEPS);
            keys = Some(keyed);
        }
        grid.write(&fit, color, out)?;
        let dropped = grid.dropped(&fit);
        if let (Some(width), false) = (width, dropped.is_empty()) {
            let _ = writeln!(
                prose,
                "Not shown at {width} columns: {} (--width 0 shows all)",
                dropped.join(", ")
            );
        }
        if audit.policy_file.is_some() && !rule_shown(&grid, &fit) {
            prose.push_str(&rules_by_port(audit));
        } else if let Some(keys) = keys {
            prose.push_str(&keys.lines());
        }
    }
    // What always shows, then as much advice as a screenful leaves room for.
    let mut rest = prose::drift(audit);
    rest.push_str(&legend.line());
    rest.push_str(&prose::collector_note(audit));
    rest.push_str(&prose::namespaces_note(audit));
    rest.push('\n');
    rest.push_str(&prose::summary(audit));
    rest.push('\n');
    let rest = layout::wrap(&rest, width);
    let used = prose::lines(&prose, width) + rest.lines().count();
    prose.push_str(&prose::advice(
        audit,
        width,
        prose::SCREENFUL.saturating_sub(used),
    ));
    out.write_all(layout::wrap(&prose, width).as_bytes())?;
    out.write_all(rest.as_bytes())
}

/// The labels of the rules that decided, numbered in the order the rows first show
/// them, for a Rule column too narrow to show them whole.
struct RuleKeys(Vec<String>);

impl RuleKeys {
    fn new(audit: &Audit) -> RuleKeys {
        let mut labels: Vec<String> = Vec::new();
        for group in groups(audit) {
            if let Some(label) = &group.finding.rule
                && !labels.iter().any(|l| **l == **label)
            {
                labels.push(label.to_string());
            }
        }
        RuleKeys(labels)
    }

    /// `[N]`, N counting from 1.
    fn key(&self, label: &str) -> Option<String> {
        let i = self.0.iter().position(|l| l == label)?;
        Some(format!("[{}]", i + 1))
    }

    /// One line per label, escaped: `Rule [1]: loopback is fine`.
    fn lines(&self) -> String {
        let mut text = String::new();
        for (i, label) in self.0.iter().enumerate() {
            let _ = writeln!(text, "Rule [{}]: {}", i + 1, for_terminal(label));
        }
        text
    }
}

/// With the Rule column left out: each label that decided a row, whole, after the
/// ports of its rows (`Rule for 53/udp, 123/udp: loopback is fine`), in row order.
fn rules_by_port(audit: &Audit) -> String {
    let mut rules: Vec<(&str, Vec<String>)> = Vec::new();
    for group in groups(audit) {
        let f = group.finding;
        let Some(label) = f.rule.as_deref() else {
            continue;
        };
        let port = format!("{}/{}", f.port(), f.listener.protocol.name());
        let at = match rules.iter().position(|(l, _)| *l == label) {
            Some(at) => at,
            None => {
                rules.push((label, Vec::new()));
                rules.len() - 1
            }
        };
        if !rules[at].1.contains(&port) {
            rules[at].1.push(port);
        }
    }
    let mut text = String::new();
    for (label, ports) in rules {
        let _ = writeln!(
            text,
            "Rule for {}: {}",
            ports.join(", "),
            for_terminal(label)
        );
    }
    text
}

fn table(audit: &Audit, legend: &mut Legend, keys: Option<&RuleKeys>) -> Grid {
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
    let mut grid = Grid::new(&header);
    for group in groups(audit) {
        let finding = group.finding;
        let mut cells = vec![
            Cell::new(proto(finding)),
            address(finding),
            Cell::new(finding.port().to_string()),
            Cell::new(finding.scope.name()),
            processes(&group, legend),
            user(&group),
            verdict(finding),
        ];
        if show_rule {
            cells.push(rule(finding, keys));
        }
        if audit.firewall_read {
            cells.push(Cell::new(
                finding.firewall.as_ref().map_or("-", |j| j.verdict.name()),
            ));
        }
        grid.push(cells, tone(finding));
    }
    grid
}

fn tone(finding: &Finding) -> Tone {
    match finding.verdict {
        _ if finding.fails => Tone::Failing,
        Verdict::Internal => Tone::Warning,
        _ => Tone::Plain,
    }
}

/// The label of the rule that decided, `-` for none. A label is words a person wrote:
/// a narrow column keeps the first ones, after the label's key when there are `keys`.
fn rule(finding: &Finding, keys: Option<&RuleKeys>) -> Cell {
    let label = for_terminal(finding.rule.as_deref().unwrap_or("-"));
    let key = finding.rule.as_deref().and_then(|label| keys?.key(label));
    let mut words = label.split(' ');
    let first = match key {
        Some(key) => Cell::new(key).more(&format!(" {}", words.next().unwrap_or_default())),
        None => Cell::new(words.next().unwrap_or_default()),
    };
    words.fold(first, |cell, word| cell.more(&format!(" {word}")))
}

/// `EXPOSED` in capitals when it fails, then its notes.
fn verdict(finding: &Finding) -> Cell {
    let name = if finding.fails {
        finding.verdict.name().to_uppercase()
    } else {
        finding.verdict.name().to_string()
    };
    Cell::new(name).more(&notes(finding))
}

/// netstat's names: tcp, tcp6, udp, udp6; and, as BSD's netstat says it, `tcp46` for a
/// `::` bind that IPv4 reaches too. `?` marks a guess (the /proc collector cannot tell
/// and net.ipv6.bindv6only gives the default).
fn proto(f: &Finding) -> String {
    let l = &f.listener;
    let name = l.protocol.name();
    match l.family {
        Family::Ipv4 => name.to_string(),
        Family::Ipv6 if !l.address.is_unspecified() => format!("{name}6"),
        Family::Ipv6 => match (f.ipv4_reachable, f.ipv4_reachable_guess) {
            (Some(false), _) => format!("{name}6"),
            (Some(true), _) => format!("{name}46"),
            (None, Some(true)) => format!("{name}46?"),
            (None, _) => format!("{name}6?"),
        },
    }
}

/// The bind address, with `%DEVICE` when bound to one (as `ss` writes it). Where the
/// host publishes it, the host side, then who answers: `0.0.0.0 → netns 4026532301
/// (docker web) 10.88.0.2:80`. A socket in another namespace names it. Each addition is
/// a part a narrow column may leave out.
fn address(f: &Finding) -> Cell {
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
            let label = match (&l.container, &n.name) {
                (Some(c), _) => Some(format!(
                    "{} {}",
                    c.runtime,
                    c.name.clone().unwrap_or_else(|| short_id(&c.id))
                )),
                (None, Some(name)) => Some(name.to_string()),
                (None, None) => None,
            };
            let label = label.map_or_else(String::new, |l| format!(" ({})", for_terminal(&l)));
            (format!("netns {}", n.inode), label)
        });
    let Some(host) = &f.published else {
        return match place {
            Some((netns, label)) => Cell::new(own)
                .more(&format!(" in {netns}"))
                .more(&label)
                .more(&reached(f, true)),
            // The host's own socket: its addresses say how it is reached, unless a
            // mechanism beyond them does (tproxy, route_localnet, sk_lookup, …).
            None => Cell::new(own).more(&reached(f, false)),
        };
    };
    // Where the publish sends connections: the target, not a wildcard bind.
    let shown = if l.address.is_unspecified() {
        host.target.to_string()
    } else {
        own
    };
    let target = match host.target {
        IpAddr::V6(_) => format!(" [{shown}]:{}", l.port),
        IpAddr::V4(_) => format!(" {shown}:{}", l.port),
    };
    let answer = match f.listening {
        Listening::Yes => "",
        Listening::No => " (nothing listens)",
        Listening::Unknown => " (not audited)",
    };
    let via = match host.via {
        Via::Dnat { .. } => "",
        Via::Proxy { .. } => " via docker-proxy",
    };
    let cell = Cell::new(host.address.to_string()).more(" →");
    let cell = match place {
        Some((netns, label)) => cell.more(&format!(" {netns}")).more(&label),
        None => cell,
    };
    cell.more(&target).more(answer).more(via)
}

/// How the outside reaches a socket of another namespace that nothing publishes, or
/// (without `direct` ways) a host socket a mechanism beyond its address reaches: `, routed via vh0`, `, direct on mv0`
/// (its own link), `, tproxy on eth0 5000-5999`, `, 127.0.0.1 via route_localnet on
/// eth0`; nothing when contained.
fn reached(f: &Finding, direct: bool) -> String {
    let mut ways: Vec<String> = Vec::new();
    for way in f.ways_in.iter().filter(|w| direct || w.via != Way::Direct) {
        let text = hop(way);
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

/// The decisive hop of a way in, as the table names it.
fn hop(way: &WayIn) -> String {
    fn name(text: &Option<std::sync::Arc<str>>) -> Option<Cow<'_, str>> {
        text.as_deref().map(for_terminal)
    }
    let on = |text: &Option<std::sync::Arc<str>>| match name(text) {
        Some(entry) => format!(" on {entry}"),
        None => String::new(),
    };
    let ports = match way.port_last {
        Some(last) if last != way.port => format!("{}-{last}", way.port),
        _ => way.port.to_string(),
    };
    match way.via {
        Way::Routed | Way::Bridged => match name(&way.interface) {
            Some(device) => format!("{} via {device}", way.via.name()),
            None => way.via.name().to_string(),
        },
        Way::Direct => match name(&way.interface) {
            Some(device) => format!("direct on {device}"),
            None => "direct".to_string(),
        },
        Way::Dnat | Way::Proxy => format!("{} {}", way.via.name(), way.port),
        Way::Redirect => format!("redirect {ports}{}", on(&way.entry)),
        Way::Tproxy => format!("tproxy{} {ports}", on(&way.entry)),
        Way::Localnet => format!("{} via route_localnet{}", way.delivered.0, on(&way.entry)),
        Way::Ipvs => format!("ipvs {}", endpoint(way.address, way.port)),
        Way::SkLookup | Way::Unknown => match name(&way.rule) {
            Some(rule) => format!("{} ({rule})", way.via.name()),
            None => way.via.name().to_string(),
        },
    }
}

/// `10.0.0.1:80`, `[fd00::1]:80`.
fn endpoint(address: IpAddr, port: u16) -> String {
    match address {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    }
}

/// The first 12 digits of a container id, as `docker ps` shows it.
fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}
/// The sockets of one table row: the same protocol, address, port and uid.
struct Group<'a> {
    /// The first of them; the others differ only in inode and owners.
    finding: &'a Finding,
    sockets: usize,
    /// With more than one socket, every owner of any of them, each once, in pid order;
    /// empty for a row of one socket (whose own list is that already): a table of tens
    /// of thousands of single sockets makes no copies.
    merged: Vec<&'a Process>,
    /// Whether every owner of every socket could be seen.
    complete: bool,
    /// The group before it with the same key, if any.
    same_key: Option<usize>,
}

impl<'a> Group<'a> {
    /// Every owner of any of its sockets, each once, in pid order.
    fn processes(&self) -> Cow<'_, [&'a Process]> {
        if self.sockets == 1 {
            let mut own: Vec<&Process> = self.finding.listener.processes.iter().collect();
            own.sort_by_key(|p| p.pid);
            own.dedup_by_key(|p| p.pid);
            Cow::Owned(own)
        } else {
            Cow::Borrowed(&self.merged)
        }
    }
}

/// What the sockets of one row share, besides where the host publishes them and the
/// verdict (compared within the few groups that share this).
type GroupKey = (Protocol, Family, IpAddr, u16, u32, Option<u64>);

fn groups(audit: &Audit) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    // The last group of each key; the others are chained through `same_key`.
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    for finding in &audit.findings {
        let l = &finding.listener;
        let key = (
            l.protocol,
            l.family,
            l.address,
            l.port,
            l.uid,
            l.netns.as_ref().map(|n| n.inode),
        );
        let last = index.get(&key).copied();
        let mut candidate = last;
        while let Some(i) = candidate {
            let first = groups[i].finding;
            if (&first.published, first.verdict) == (&finding.published, finding.verdict) {
                break;
            }
            candidate = groups[i].same_key;
        }
        match candidate {
            Some(i) => {
                let group = &mut groups[i];
                group.sockets += 1;
                if group.sockets == 2 {
                    group.merged.extend(group.finding.listener.processes.iter());
                }
                group.merged.extend(l.processes.iter());
                group.complete &= l.processes_complete;
            }
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    finding,
                    sockets: 1,
                    merged: Vec::new(),
                    complete: l.processes_complete,
                    same_key: last,
                });
            }
        }
    }
    for group in &mut groups {
        group.merged.sort_by_key(|p| p.pid);
        group.merged.dedup_by_key(|p| p.pid);
    }
    groups
}

/// `pid/name` of the first owners and how many more; `-` when there are none, `?` when
/// we could not see them, `+?` after those we saw when there may be others.
fn processes(group: &Group, legend: &mut Legend) -> Cell {
    let l = &group.finding.listener;
    let processes = group.processes();
    let mut shown = processes.iter().take(SHOWN_PROCESSES);
    let mut cell = match shown.next() {
        None if l.kernel.is_some() => Cell::new(format!(
            "kernel: {}",
            for_terminal(l.kernel.as_deref().unwrap_or(""))
        )),
        None if group.complete => Cell::new("-"),
        None => {
            legend.unseen = true;
            Cell::new("?")
        }
        Some(p) => Cell::new(owner(p)),
    };
    for p in shown {
        cell = cell.more(&format!(", {}", owner(p)));
    }
    if processes.len() > SHOWN_PROCESSES {
        cell = cell.more(&format!(" +{}", processes.len() - SHOWN_PROCESSES));
    }
    if !processes.is_empty() && !group.complete {
        legend.partial = true;
        cell = cell.more(" +?");
    }
    match (&l.unit, &l.unit_service) {
        (Some(unit), Some(service)) => {
            cell = cell.more(&format!(
                " ({} for {})",
                for_terminal(unit),
                for_terminal(service)
            ));
        }
        (Some(unit), None) => cell = cell.more(&format!(" ({})", for_terminal(unit))),
        _ => {}
    }
    if group.sockets > 1 {
        cell = cell.more(&format!(" ({} sockets)", group.sockets));
    }
    cell
}

fn owner(p: &Process) -> String {
    format!("{}/{}", p.pid, bytes_for_terminal(&p.comm))
}

/// Whom the owners run as (what ps and lsof say), each once, in pid order; then, when
/// the socket's own uid (the user that made it) is none of them, `(socket: NAME)`.
/// Without an owner whose user we know, the socket's user alone.
fn user(group: &Group) -> Cell {
    let f = group.finding;
    let l = &f.listener;
    if f.listening != Listening::Yes {
        return Cell::new("-");
    }
    let socket_user = match &l.user {
        Some(name) => bytes_for_terminal(name).into_owned(),
        None => l.uid.to_string(),
    };
    let mut users: Vec<(u32, String)> = Vec::new();
    for p in group.processes().iter() {
        let Some(uid) = p.uid else { continue };
        if !users.iter().any(|(u, _)| *u == uid) {
            let name = match &p.user {
                Some(name) => bytes_for_terminal(name).into_owned(),
                None => uid.to_string(),
            };
            users.push((uid, name));
        }
    }
    let Some(((_, first), rest)) = users.split_first() else {
        return Cell::new(socket_user);
    };
    let mut cell = Cell::new(first.clone());
    for (_, name) in rest {
        cell = cell.more(&format!(",{name}"));
    }
    if !users.iter().any(|(uid, _)| *uid == l.uid) {
        cell = cell.more(&format!(" (socket: {socket_user})"));
    }
    cell
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
