//! `--watch`: one line per change between two polls — text for the journal, or one JSON
//! object per line (`--json`) carrying the socket exactly as `sockets[]` of the JSON
//! document shows it. Names in the text are escaped: anyone can name a process.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::escape::{bytes_for_terminal, for_terminal};
use super::json;
use crate::audit::{Finding, Verdict};
use crate::error::Error;
use crate::socket::FirewallVerdict;

/// What happened to a socket since the previous poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// It appeared (every socket of the first poll is `new`).
    New,
    /// It went away; the event shows it as it was last seen.
    Gone,
    /// Still there, but its verdict, the firewall's answer or `fails` is not the same.
    Changed,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Gone => "gone",
            Change::Changed => "changed",
        }
    }
}

/// What a `changed` event compares: the verdict, the firewall's answer, and whether the
/// socket fails the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub verdict: Verdict,
    pub firewall: Option<FirewallVerdict>,
    pub fails: bool,
}

impl Standing {
    pub fn of(finding: &Finding) -> Standing {
        Standing {
            verdict: finding.verdict,
            firewall: finding.firewall.as_ref().map(|j| j.verdict),
            fails: finding.fails,
        }
    }
}

/// One change, seen by the poll that started at `time`.
#[derive(Debug, Clone)]
pub struct Event {
    pub change: Change,
    pub time: SystemTime,
    /// The socket now; for `gone`, as the last poll that saw it had it.
    pub finding: Finding,
    /// For `changed`: how it stood before.
    pub before: Option<Standing>,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    event: Change,
    time: String,
    socket: json::Socket<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<Standing>,
}

/// `{"event": "new", "time": "2026-12-01T06:00:00Z", "socket": {…}}`, and a newline.
pub fn json_line(event: &Event) -> Result<String, Error> {
    let object = JsonEvent {
        event: event.change,
        time: rfc3339(event.time),
        socket: json::socket(&event.finding),
        before: event.before,
    };
    let mut line = serde_json::to_string(&object)
        .map_err(|e| Error::new(format!("cannot encode a watch event: {e}")))?;
    line.push('\n');
    Ok(line)
}

/// `2026-12-01T06:00:00Z changed tcp 0.0.0.0:11211 EXPOSED → filtered memcached[812]
/// (firewall: dropped)`, and a newline. A verdict that fails is in capitals, as in the
/// table.
pub fn text_line(event: &Event) -> String {
    let f = &event.finding;
    let mut line = format!(
        "{} {} {} {} ",
        rfc3339(event.time),
        event.change.name(),
        f.listener.protocol.name(),
        place(f)
    );
    if let Some(before) = &event.before {
        let _ = write!(line, "{} → ", verdict(before.verdict, before.fails));
    }
    line.push_str(&verdict(f.verdict, f.fails));
    for (i, p) in f.listener.processes.iter().enumerate() {
        line.push_str(if i == 0 { " " } else { "," });
        let _ = write!(line, "{}[{}]", bytes_for_terminal(&p.comm), p.pid);
    }
    if let Some(judgement) = &f.firewall {
        let _ = write!(line, " (firewall: {})", judgement.verdict.name());
    }
    line.push('\n');
    line
}

fn verdict(verdict: Verdict, fails: bool) -> String {
    if fails {
        verdict.name().to_uppercase()
    } else {
        verdict.name().to_string()
    }
}

/// `[::]:22`, `10.0.0.5%eth0:80`; a published socket from the host side:
/// `0.0.0.0:8080 → 10.88.0.2:80 in netns 4026532301 (web)`.
fn place(f: &Finding) -> String {
    let l = &f.listener;
    let own = match &l.detail.device {
        Some(device) => format!("{}%{}", l.address, for_terminal(&device.name)),
        None => l.address.to_string(),
    };
    let mut place = match &f.published {
        Some(host) => format!(
            "{} → {}",
            with_port(&host.address.to_string(), host.address, *host.ports.start()),
            with_port(&own, l.address, l.port)
        ),
        None => with_port(&own, l.address, l.port),
    };
    if let Some(netns) = l.netns.as_ref().filter(|n| !n.host) {
        let _ = write!(place, " in netns {}", netns.inode);
        if let Some(name) = &netns.name {
            let _ = write!(place, " ({})", for_terminal(name));
        }
    }
    place
}

fn with_port(shown: &str, address: IpAddr, port: u16) -> String {
    match address {
        IpAddr::V6(_) => format!("[{shown}]:{port}"),
        IpAddr::V4(_) => format!("{shown}:{port}"),
    }
}

/// RFC 3339 in UTC to the second: `2026-12-01T06:00:00Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_in_utc() {
        let at = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_083_199), "2026-11-30T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
