//! `--watch SECONDS`: audit again and again, and report what changed — a listener that
//! appears (with its verdict), goes away, or changes verdict (the firewall changed).
//!
//! Each poll runs the same stages as a single audit (the caller's `poll`); this module
//! only keeps the previous poll's findings, compares, and waits. A socket is the same
//! socket from one poll to the next when its [`Key`] is: namespace, protocol, address,
//! port and inode (and the host side, when published). What it keeps between polls is
//! the current findings and their owners, never more, so memory does not grow with the
//! number of polls.
//!
//! SIGINT and SIGTERM are blocked and waited for between polls (`sigtimedwait`): the
//! wait between polls ends the moment one arrives, and a signal that comes during a
//! poll is taken when the poll is done. Either ends the watch with exit 0.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::audit::{Audit, Finding};
use crate::collect::KnownOwners;
use crate::error::Error;
use crate::exit::Outcome;
use crate::report::{self, Change, Event, Format, Standing};
use crate::socket::{Protocol, Warning};

/// The shortest interval `--watch` takes, in seconds.
pub const MIN_INTERVAL: f64 = 0.01;

/// Poll every `every` until SIGINT or SIGTERM. The first poll reports every socket as
/// `new`; a first poll that fails is the error (exit 2), a later one a warning.
pub fn watch(
    every: Duration,
    format: Format,
    mut poll: impl FnMut(&mut KnownOwners) -> Result<Audit, Error>,
) -> Result<Outcome, Error> {
    let signals = Signals::block()?;
    let mut owners = KnownOwners::default();
    let mut started = Instant::now();
    let mut time = SystemTime::now();
    let mut result = Ok(poll(&mut owners)?);
    let mut previous = BTreeMap::new();
    let mut warned = BTreeSet::new();
    loop {
        match result {
            Ok(audit) => {
                for warning in news(&mut warned, &audit.warnings) {
                    report::warn(&warning.text);
                }
                let events = compare(&mut previous, audit.findings, audit.incomplete, time);
                match report::print_events(&events, format) {
                    Ok(true) => {}
                    Ok(false) => return Ok(Outcome::Clean),
                    Err(e) => report::warn(&e.to_string()),
                }
            }
            Err(e) => report::warn(&format!("this poll failed, the next one tries again: {e}")),
        }
        if signals.wait(every.saturating_sub(started.elapsed())) {
            return Ok(Outcome::Clean);
        }
        started = Instant::now();
        time = SystemTime::now();
        result = poll(&mut owners);
    }
}

/// The warnings of this poll whose cause no earlier poll gave: each is said once per
/// watch, and again only in other words when its cause changes (a count that moves is
/// the same cause).
fn news<'a>(warned: &mut BTreeSet<Cow<'static, str>>, warnings: &'a [Warning]) -> Vec<&'a Warning> {
    warnings
        .iter()
        .filter(|w| warned.insert(w.cause.clone()))
        .collect()
}

/// What makes a socket the same socket from one poll to the next. `nth` tells apart
/// findings that agree on everything else (one socket published twice).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    netns: Option<u64>,
    protocol: Protocol,
    address: IpAddr,
    port: u16,
    inode: u64,
    /// The host side (address, first port), when the host publishes it.
    published: Option<(IpAddr, u16)>,
    nth: usize,
}

impl Key {
    fn of(f: &Finding) -> Key {
        let l = &f.listener;
        Key {
            netns: l.netns.as_ref().map(|n| n.inode),
            protocol: l.protocol,
            address: l.address,
            port: l.port,
            inode: l.inode,
            published: f.published.as_ref().map(|p| (p.address, *p.ports.start())),
            nth: 0,
        }
    }
}

/// The events between the `previous` poll's findings and these, which then become the
/// previous ones. When this poll is `incomplete` (rows of a table could not be read),
/// a socket it did not see may still be there: it is kept, not reported gone.
fn compare(
    previous: &mut BTreeMap<Key, Finding>,
    findings: Vec<Finding>,
    incomplete: bool,
    time: SystemTime,
) -> Vec<Event> {
    let mut current = BTreeMap::new();
    for finding in findings {
        let mut key = Key::of(&finding);
        while current.contains_key(&key) {
            key.nth += 1;
        }
        current.insert(key, finding);
    }
    let mut before = std::mem::take(previous);
    let mut events = Vec::new();
    let mut appeared = Vec::new();
    for (key, finding) in &current {
        match before.remove(key) {
            None => appeared.push(event(Change::New, time, finding.clone(), None)),
            Some(old) => {
                let (was, is) = (Standing::of(&old), Standing::of(finding));
                if was != is {
                    appeared.push(event(Change::Changed, time, finding.clone(), Some(was)));
                }
            }
        }
    }
    for (key, old) in before {
        if incomplete {
            current.insert(key, old);
        } else {
            events.push(event(Change::Gone, time, old, None));
        }
    }
    events.extend(appeared);
    *previous = current;
    events
}

fn event(change: Change, time: SystemTime, finding: Finding, before: Option<Standing>) -> Event {
    Event {
        change,
        time,
        finding,
        before,
    }
}

/// SIGINT and SIGTERM, blocked so that they wait for us (and so that one arriving just
/// before we sleep is not lost): [`Signals::wait`] takes them.
struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Block them in this thread, before any other thread exists (threads started later
    /// inherit the mask; a child process gets a clean one from std's spawn).
    fn block() -> Result<Signals, Error> {
        // SAFETY: sigset_t is plain data that sigemptyset initializes; the calls only
        // read and write `set` and this thread's signal mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(Error::new(format!(
                    "--watch: cannot block SIGINT and SIGTERM: {}",
                    std::io::Error::from_raw_os_error(rc)
                )));
            }
            Ok(Signals { set })
        }
    }

    /// Wait up to `timeout`; true when SIGINT or SIGTERM came (now, or during the poll).
    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let spec = libc::timespec {
                tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: left.subsec_nanos().into(),
            };
            // SAFETY: `set` was initialized in `block`; a null siginfo is allowed.
            let rc = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &spec) };
            if rc > 0 {
                return true;
            }
            // EAGAIN: the time is up. EINTR (another signal's handler ran): wait on.
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Exposure, Scope};
    use crate::socket::{FirewallVerdict, Judgement, Listener, Listening};

    use crate::audit::Verdict;

    fn finding(port: u16, inode: u64, verdict: Verdict) -> Finding {
        Finding {
            listener: Listener::new(Protocol::Tcp, "0.0.0.0".parse().unwrap(), port, 0, inode),
            scope: Scope::Wildcard,
            exposure: Exposure::Public,
            class: "wildcard",
            ipv4_reachable: Some(true),
            ipv4_reachable_guess: None,
            verdict,
            fails: verdict == Verdict::Exposed,
            rule: None,
            ephemeral: false,
            advice: None,
            drift: None,
            published: None,
            listening: Listening::Yes,
            ways_in: Vec::new(),
            firewall: None,
        }
    }

    fn changes(events: &[Event]) -> Vec<(Change, u16)> {
        events
            .iter()
            .map(|e| (e.change, e.finding.listener.port))
            .collect()
    }

    #[test]
    fn the_first_poll_is_all_new_then_only_changes() {
        let mut previous = BTreeMap::new();
        let now = SystemTime::now();
        let first = vec![
            finding(22, 1, Verdict::Allowed),
            finding(80, 2, Verdict::Exposed),
        ];
        let events = compare(&mut previous, first.clone(), false, now);
        assert_eq!(changes(&events), [(Change::New, 22), (Change::New, 80)]);
        assert!(compare(&mut previous, first, false, now).is_empty());

        // 80 goes, 8080 comes, 22 is dropped by a new firewall rule.
        let mut ssh = finding(22, 1, Verdict::Filtered);
        ssh.firewall = Some(Judgement {
            verdict: FirewallVerdict::Dropped,
            why: "policy drop".into(),
        });
        let events = compare(
            &mut previous,
            vec![ssh, finding(8080, 3, Verdict::Exposed)],
            false,
            now,
        );
        assert_eq!(
            changes(&events),
            [
                (Change::Gone, 80),
                (Change::Changed, 22),
                (Change::New, 8080)
            ]
        );
        assert_eq!(events[0].finding.verdict, Verdict::Exposed, "as last seen");
        let before = events[1].before.expect("a changed event says what it was");
        assert_eq!(before.verdict, Verdict::Allowed);
        assert_eq!(before.firewall, None);
        assert_eq!(events[1].finding.verdict, Verdict::Filtered);
        assert_eq!(previous.len(), 2, "only what is open now is kept");
    }

    #[test]
    fn a_new_inode_on_the_same_port_is_a_new_socket() {
        let mut previous = BTreeMap::new();
        let now = SystemTime::now();
        compare(
            &mut previous,
            vec![finding(80, 1, Verdict::Exposed)],
            false,
            now,
        );
        let events = compare(
            &mut previous,
            vec![finding(80, 2, Verdict::Exposed)],
            false,
            now,
        );
        assert_eq!(changes(&events), [(Change::Gone, 80), (Change::New, 80)]);
    }

    #[test]
    fn an_incomplete_poll_reports_nothing_gone() {
        let mut previous = BTreeMap::new();
        let now = SystemTime::now();
        compare(
            &mut previous,
            vec![finding(80, 1, Verdict::Exposed)],
            false,
            now,
        );
        assert!(compare(&mut previous, Vec::new(), true, now).is_empty());
        let events = compare(&mut previous, Vec::new(), false, now);
        assert_eq!(changes(&events), [(Change::Gone, 80)]);
    }

    #[test]
    fn twin_findings_are_told_apart() {
        let mut previous = BTreeMap::new();
        let now = SystemTime::now();
        let twins = vec![
            finding(80, 0, Verdict::Exposed),
            finding(80, 0, Verdict::Exposed),
        ];
        assert_eq!(compare(&mut previous, twins.clone(), false, now).len(), 2);
        assert!(compare(&mut previous, twins, false, now).is_empty());
    }

    #[test]
    fn a_warning_is_said_once_per_cause() {
        let mut warned = BTreeSet::new();
        let owners = |n: usize| {
            Warning::counted(
                "owners: denied without root",
                format!("could not read the open files of {n} processes"),
            )
        };
        let firewall = Warning::from("nft: permission denied".to_string());
        let texts = |said: Vec<&Warning>| -> Vec<String> {
            said.into_iter().map(|w| w.text.clone()).collect()
        };
        let first = [owners(3), firewall.clone()];
        assert_eq!(
            texts(news(&mut warned, &first)),
            [
                "could not read the open files of 3 processes",
                "nft: permission denied"
            ]
        );
        // The count moved, the cause did not: nothing new to say.
        assert!(news(&mut warned, &[owners(4), firewall.clone()]).is_empty());
        // Gone and back: already said.
        assert!(news(&mut warned, &[]).is_empty());
        assert!(news(&mut warned, &[owners(2)]).is_empty());
        // Another cause for the same trouble is said, in its own words.
        let kernel = Warning::counted("owners: none in /proc", "held by the kernel".into());
        assert_eq!(
            texts(news(&mut warned, &[owners(2), kernel])),
            ["held by the kernel"]
        );
    }

    #[test]
    fn the_wait_ends_on_sigterm() {
        // Only the signal's own test thread blocks it; raise it at this thread.
        let signals = Signals::block().unwrap();
        assert!(!signals.wait(Duration::from_millis(10)));
        // SAFETY: raising a blocked signal at the calling thread just makes it pending.
        unsafe {
            libc::pthread_kill(libc::pthread_self(), libc::SIGTERM);
        }
        assert!(signals.wait(Duration::from_secs(60)));
    }
}
