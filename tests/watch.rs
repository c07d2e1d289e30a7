//! `--watch`: the real binary polling the real kernel. Listeners opened and closed by the
//! test come and go as `new` and `gone` events; a firewall rule added in a private
//! network namespace turns `exposed` into `filtered` (`changed`); signals end it with 0,
//! bad flags with 2; memory stays flat over many polls.
//!
//! Events are read from the pipe with a deadline that only keeps a broken watch from
//! hanging the run: it is generous, and no assertion is about time.

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::netns::{self, NetNs};
use crate::util::{self, Standing, WatchEvent};

/// How long to wait for an event before calling the watch broken.
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `portaudit --watch`, its stdout read line by line; killed (by its pid) and
/// reaped on drop, so a failing test leaves nothing behind.
struct Watch {
    child: std::process::Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Watch {
    fn start(cmd: &mut Command) -> Watch {
        let mut child = util::hermetic(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        // Drained all along, so that warnings can never fill the pipe and stall it.
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watch {
            child,
            lines,
            stderr,
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Read lines until one is `wanted`, and return it.
    fn wait_for_line(&mut self, what: &str, mut wanted: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} in {PATIENCE:?}; stderr:\n{}", self.stderr())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait();
                    panic!(
                        "the watch ended ({status:?}) before {what}; stderr:\n{}",
                        self.stderr()
                    )
                }
            }
        }
    }

    /// Read events (every line must be one) until one is `wanted`, and return it.
    fn wait_for(&mut self, what: &str, mut wanted: impl FnMut(&WatchEvent) -> bool) -> WatchEvent {
        let mut found = None;
        let stderr = Arc::clone(&self.stderr);
        self.wait_for_line(what, |line| {
            let event: WatchEvent = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "not a watch event ({e}): {line}\nstderr:\n{}",
                    stderr.lock().unwrap()
                )
            });
            if wanted(&event) {
                found = Some(event);
            }
            found.is_some()
        });
        found.unwrap()
    }

    /// Send `signal` and wait for the exit code.
    fn stop_with(&mut self, signal: i32) -> i32 {
        // SAFETY: kill(2) on the pid of our own child, which is not reaped yet.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let status = netns::wait_until("the watch to exit", PATIENCE, || {
            self.child.try_wait().unwrap()
        });
        status
            .code()
            .unwrap_or_else(|| panic!("ended by a signal ({status:?}); stderr:\n{}", self.stderr()))
    }

    /// `VmRSS` and `VmHWM` of the watch, in kB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Child::kill signals by pid only while the child is not yet reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP event on 127.0.0.1 (or `address`) and `port`.
fn is(event: &WatchEvent, kind: &str, address: &str, port: u16) -> bool {
    let s = &event.socket;
    event.event == kind && s.protocol == "tcp" && s.address == address && s.port == port
}

fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[test]
fn a_listener_opened_then_closed_is_new_then_gone() {
    let (sentinel, sentinel_port) = loopback_listener();
    let mut watch = Watch::start(util::portaudit().args(["--watch", "0.2", "--json"]));
    // The first poll reports what already listens, as `new`.
    let first = watch.wait_for("the sentinel's new event", |e| {
        is(e, "new", "127.0.0.1", sentinel_port)
    });
    assert_eq!(first.socket.verdict, "local", "{first:#?}");
    assert!(
        first.time.len() == 20 && first.time.ends_with('Z') && first.time.contains('T'),
        "time in RFC 3339, UTC, to the second: {first:#?}"
    );

    let (listener, port) = loopback_listener();
    let new = watch.wait_for("the new listener's event", |e| {
        is(e, "new", "127.0.0.1", port)
    });
    let s = &new.socket;
    assert_eq!(s.verdict, "local", "{new:#?}");
    assert!(!s.fails, "{new:#?}");
    assert_eq!(new.before, None, "{new:#?}");
    // Owners are looked up for a socket that is new: this test process holds it.
    assert!(
        s.processes
            .iter()
            .any(|p| p.pid == i32::try_from(std::process::id()).unwrap()),
        "{new:#?}"
    );

    drop(listener);
    let inode = s.inode;
    let gone = watch.wait_for("the closed listener's gone event", |e| {
        e.event == "gone" && e.socket.inode == inode
    });
    assert!(is(&gone, "gone", "127.0.0.1", port), "{gone:#?}");
    assert_eq!(
        gone.socket.processes, s.processes,
        "a gone socket is shown as last seen"
    );
    drop(sentinel);
    assert_eq!(watch.stop_with(libc::SIGTERM), 0, "{}", watch.stderr());
}

#[test]
fn sigint_and_sigterm_end_the_watch_with_0() {
    for (signal, flags) in [(libc::SIGINT, &["--json"][..]), (libc::SIGTERM, &[])] {
        let (_sentinel, port) = loopback_listener();
        let mut watch = Watch::start(
            util::portaudit()
                .args(["--watch", "0.5", "--json"])
                .args(flags),
        );
        watch.wait_for("the first poll", |e| is(e, "new", "127.0.0.1", port));
        assert_eq!(
            watch.stop_with(signal),
            0,
            "signal {signal}: {}",
            watch.stderr()
        );
    }
    // The text form, and a long interval: the signal ends the wait between polls (were
    // it not heard there, the watch would outlive the patience of `stop_with`).
    let (_sentinel, port) = loopback_listener();
    let mut watch = Watch::start(util::portaudit().args(["--watch", "3600"]));
    let line = watch.wait_for_line("the sentinel's line", |line| {
        line.contains(&format!(" new tcp 127.0.0.1:{port} local"))
    });
    assert!(
        line.split(' ')
            .next()
            .is_some_and(|t| t.len() == 20 && t.ends_with('Z')),
        "{line}"
    );
    assert_eq!(watch.stop_with(libc::SIGTERM), 0, "{}", watch.stderr());
}

#[test]
fn a_bad_interval_or_a_flag_it_cannot_go_with_exits_2() {
    let baseline = util::TempDir::new("watch-baseline");
    let saved = baseline.path().join("baseline.json");
    let proc_root = util::fixture("mixed").join("proc");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--watch", "0"], "--watch"),
        (vec!["--watch", "-1"], "--watch"),
        (vec!["--watch=-0.5"], "--watch"),
        (vec!["--watch", "abc"], "--watch"),
        (vec!["--watch", "nan"], "--watch"),
        (vec!["--watch", "inf"], "--watch"),
        (vec!["--watch", "0.001"], "--watch"),
        (
            vec!["--watch", "1", "--save-baseline", saved.to_str().unwrap()],
            "--save-baseline",
        ),
        (
            vec!["--watch", "1", "--format", "prometheus"],
            "--format prometheus",
        ),
        (
            vec!["--watch", "1", "--proc-root", proc_root.to_str().unwrap()],
            "--proc-root",
        ),
    ];
    for (args, named) in cases {
        let run = util::run_args(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "one line: {args:?}: {run:#?}"
        );
        assert!(
            run.stderr.contains("--watch") && run.stderr.contains(named),
            "{args:?} names {named}: {run:#?}"
        );
    }
    assert!(!saved.exists());
}

#[test]
fn cannot_audit_at_start_exits_2_and_later_trouble_is_a_warning() {
    let dir = util::TempDir::new("watch-ruleset");
    let ruleset = dir.path().join("ruleset.json");
    let args = |path: &PathBuf| {
        let mut cmd = util::portaudit();
        cmd.args(["--watch", "0.1", "--json", "--ruleset"])
            .arg(path);
        cmd
    };
    // The first poll cannot be done: exit 2, the file named, no event.
    let run = util::run(&mut args(&ruleset));
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.contains(ruleset.to_str().unwrap()), "{run:#?}");

    std::fs::copy(util::fixture("nft").join("inet-basic.json"), &ruleset).unwrap();
    let (_sentinel, port) = loopback_listener();
    let mut watch = Watch::start(&mut args(&ruleset));
    watch.wait_for("the first poll", |e| is(e, "new", "127.0.0.1", port));
    // Later the file goes away: each poll warns, and the watch goes on.
    std::fs::remove_file(&ruleset).unwrap();
    netns::wait_until("a warning", PATIENCE, || {
        watch
            .stderr()
            .contains("the next one tries again")
            .then_some(())
    });
    let warning = watch.stderr();
    let line = warning
        .lines()
        .find(|l| l.contains("the next one tries again"))
        .unwrap();
    assert!(line.starts_with("portaudit: warning: "), "{warning}");
    assert!(line.contains(ruleset.to_str().unwrap()), "{warning}");
    std::fs::copy(util::fixture("nft").join("inet-basic.json"), &ruleset).unwrap();
    let (_listener, later) = loopback_listener();
    watch.wait_for("an event after the trouble", |e| {
        is(e, "new", "127.0.0.1", later)
    });
    assert_eq!(watch.stop_with(libc::SIGTERM), 0, "{}", watch.stderr());
}

patest!(
    a_firewall_rule_added_turns_exposed_into_filtered,
    [Root, Program("ip"), Nft],
    |_| {
        let ns = NetNs::new();
        // An address that is not loopback, so that a 0.0.0.0 bind is reachable from outside.
        ns.add_addresses(&["10.77.0.1/24"]);
        let listener = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    ns.enter();
                    TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
                })
                .join()
                .unwrap()
        });
        let port = listener.local_addr().unwrap().port();
        let mut cmd = ns.exec(
            util::bin(),
            ["--watch", "0.2", "--json", "--trust-firewall"],
        );
        cmd.env("PATH", netns::path_with_nft());
        let mut watch = Watch::start(&mut cmd);

        let new = watch.wait_for("the listener's new event", |e| {
            is(e, "new", "0.0.0.0", port)
        });
        assert_eq!(new.socket.verdict, "exposed", "{new:#?}");
        assert!(new.socket.fails, "{new:#?}");
        assert_eq!(new.socket.firewall.as_deref(), Some("accepted"), "{new:#?}");

        let rules = "table inet filter {\n  chain input {\n    type filter hook input priority 0; \
                 policy drop;\n    ct state established,related accept\n    iif lo accept\n  }\n}\n";
        ns.load_nft(rules);

        let changed = watch.wait_for("the changed event", |e| is(e, "changed", "0.0.0.0", port));
        let s = &changed.socket;
        assert_eq!(s.verdict, "filtered", "{changed:#?}");
        assert!(!s.fails, "{changed:#?}");
        assert_eq!(s.firewall.as_deref(), Some("dropped"), "{changed:#?}");
        assert_eq!(s.inode, new.socket.inode, "the same socket");
        assert_eq!(
            changed.before,
            Some(Standing {
                verdict: "exposed".into(),
                firewall: Some("accepted".into()),
                fails: true,
            }),
            "{changed:#?}"
        );
        assert_eq!(watch.stop_with(libc::SIGTERM), 0, "{}", watch.stderr());
        drop(listener);
    }
);

#[test]
fn memory_stays_flat_over_many_polls() {
    // Each round opens a batch of listeners, sees them all new, closes them and sees them
    // all gone: at least two polls, and every socket's owners and finding pass through
    // the watch's memory. Whatever it kept from one round to the next would add up.
    const ROUNDS: usize = 40;
    const BATCH: usize = 200;
    const MEASURED_AT: usize = 10;
    // What the allocator may move between two points of the same steady state.
    const SLACK_KB: u64 = 1024;
    let (_sentinel, port) = loopback_listener();
    let mut watch = Watch::start(util::portaudit().args(["--watch", "0.05", "--json"]));
    watch.wait_for("the first poll", |e| is(e, "new", "127.0.0.1", port));
    let mut start = None;
    for round in 1..=ROUNDS {
        let batch: Vec<(TcpListener, u16)> = (0..BATCH).map(|_| loopback_listener()).collect();
        let mut waiting: std::collections::BTreeSet<u16> =
            batch.iter().map(|(_, port)| *port).collect();
        let mut inodes = std::collections::BTreeSet::new();
        while !waiting.is_empty() {
            let e = watch.wait_for("a batch's new events", |e| {
                e.event == "new"
                    && e.socket.address == "127.0.0.1"
                    && waiting.contains(&e.socket.port)
            });
            waiting.remove(&e.socket.port);
            inodes.insert(e.socket.inode);
        }
        drop(batch);
        while !inodes.is_empty() {
            let e = watch.wait_for("a batch's gone events", |e| {
                e.event == "gone" && inodes.contains(&e.socket.inode)
            });
            inodes.remove(&e.socket.inode);
        }
        if round == MEASURED_AT {
            start = Some(watch.memory());
        }
    }
    let (rss_start, hwm_start) = start.unwrap();
    let (rss_end, hwm_end) = watch.memory();
    assert!(
        rss_end <= rss_start + SLACK_KB && hwm_end <= hwm_start + SLACK_KB,
        "memory grew from round {MEASURED_AT} to {ROUNDS}: VmRSS {rss_start} → {rss_end} kB, \
         VmHWM {hwm_start} → {hwm_end} kB"
    );
    eprintln!(
        "watch memory: VmRSS {rss_start} → {rss_end} kB, VmHWM {hwm_start} → {hwm_end} kB \
         (rounds {MEASURED_AT} → {ROUNDS})"
    );
    assert_eq!(watch.stop_with(libc::SIGTERM), 0, "{}", watch.stderr());
}

/// A root process in `ns` holding a TCP listener on loopback; it prints `ready`.
fn root_listener(ns: &NetNs) -> netns::Child {
    const HOLD: &str = "import socket, time\n\
        s = socket.socket()\n\
        s.bind(('127.0.0.1', 0))\n\
        s.listen()\n\
        print('ready', flush=True)\n\
        time.sleep(600)\n";
    let mut child = netns::Child::spawn(ns.exec("python3", ["-c", HOLD]).stdout(Stdio::piped()));
    child.wait_for_line("ready", PATIENCE);
    child
}

patest!(
    each_warning_is_said_once_per_watch_with_one_explanation_per_socket,
    [Root, Program("ip"), Program("setpriv"), Program("python3")],
    |_| {
        // Locals drop in reverse order: the holders die before their namespace goes.
        let ns = NetNs::new();
        let first = root_listener(&ns);
        // As nobody, root's open files cannot be read: the owner is unknown at every poll,
        // for the same reason. (Each poll but the first looks up only new sockets.)
        let (_dir, bin) = util::binary_for_nobody();
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
        let mut cmd = ns.exec("setpriv", nobody);
        cmd.arg(&bin)
            .args(["--watch", "0.05", "--json", "--no-firewall", "--no-config"]);
        let mut watch = Watch::start(&mut cmd);
        watch.wait_for("the first listener", |e| e.event == "new");
        // A second unattributed socket: the count in the warning changes, its cause not.
        let second = root_listener(&ns);
        let new = watch.wait_for("the second listener", |e| e.event == "new");
        assert!(new.socket.processes.is_empty(), "{new:#?}");
        drop(second);
        watch.wait_for("the second listener gone", |e| e.event == "gone");
        assert_eq!(watch.stop_with(libc::SIGTERM), 0, "{}", watch.stderr());
        drop(first);

        let stderr = watch.stderr();
        let owners: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("no process") || l.contains("no owning process"))
            .collect();
        assert_eq!(owners.len(), 1, "said once, whatever the count:\n{stderr}");
        assert!(
            owners[0].contains("could not read the open files")
                && owners[0].contains("run as root"),
            "{stderr}"
        );
        assert!(!stderr.contains("held by the kernel"), "{stderr}");
    }
);
