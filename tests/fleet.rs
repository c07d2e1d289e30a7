//! Prometheus as the fleet engine: which hosts expose what, asked of a real Prometheus
//! (root), and promtool on the example alert rules.
//!
//! The fleet is six hosts, each a network namespace joined to a hub namespace by a veth
//! on a bridge, on 10.199.<pid % 250>.0/24: addresses that exist only in these
//! namespaces. Each host runs what it runs (memcached on every interface or on loopback
//! only, a Python listener), writes its textfile with docs/fleet.md's command (`portaudit
//! --format prometheus --output FILE`, the built binary), and serves it with
//! Debian's prometheus-node-exporter on its own address. One Prometheus in the hub, with
//! the example alert rules loaded, scrapes them all; the test asks its HTTP API (from a
//! thread inside the hub, on the hub's loopback) and checks that PromQL and the alerts
//! name exactly the hosts that expose something, by port and process.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::netns::{self, Child, NetNs};
use crate::util::{self, TempDir};

const STARTUP: Duration = Duration::from_secs(20);
/// How many times Prometheus may scrape every host and evaluate the rules after it, and
/// still answer otherwise, before the answer is wrong: the wait is counted in its work
/// done, not in seconds, so a busy machine only makes it longer.
const SETTLED_ROUNDS: usize = 3;
/// A guard against a hang only: this long without a scrape or a rule evaluation
/// (Prometheus alive but doing nothing) fails the test.
const STALLED: Duration = Duration::from_secs(300);
const PROMETHEUS: &str = "127.0.0.1:9090";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/prometheus")
        .join(name)
}

patest!(
    promtool_checks_and_tests_the_alert_rules,
    [Program("promtool")],
    |_| {
        for (command, file) in [
            ("check", "portaudit.rules.yml"),
            ("test", "portaudit.rules.test.yml"),
        ] {
            let out = Command::new("promtool")
                .args([command, "rules"])
                .arg(example(file))
                .stdin(Stdio::null())
                .output()
                .expect("cannot run promtool");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("SUCCESS"),
                "promtool {command} rules {file} failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
);

/// One host of the fleet: a namespace on the bridge, with a textfile directory.
struct Host {
    name: &'static str,
    ns: NetNs,
    address: String,
    textfiles: PathBuf,
}

impl Host {
    /// Wait until `child` listens on PROTOCOL ADDRESS:PORT, as `ss -ln` sees it (cheap:
    /// a full audit looks at every process of a busy machine).
    fn wait_listening(&self, child: &mut Child, protocol: &str, address: &str, port: u16) {
        let what = format!("{protocol} {address}:{port} to listen in {}", self.name);
        let flag = if protocol == "udp" { "-u" } else { "-t" };
        let local = format!("{address}:{port}");
        netns::wait_until(&what, STARTUP, || {
            child.assert_running();
            let out = self
                .ns
                .exec("ss", ["-H", "-l", "-n", flag])
                .stdin(Stdio::null())
                .output()
                .expect("cannot run ss");
            let table = String::from_utf8_lossy(&out.stdout);
            let found = table
                .lines()
                .any(|line| line.split_whitespace().nth(3) == Some(&local));
            found.then_some(())
        });
    }

    /// memcached on ADDRESS, tcp and udp 11211, once it listens.
    fn memcached(&self, address: &str) -> Child {
        let mut cmd = self.ns.exec(
            "memcached",
            ["-l", address, "-p", "11211", "-U", "11211", "-u", "nobody"],
        );
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let mut memcached = Child::spawn(&mut cmd);
        memcached.wait_for_comm("memcached", STARTUP);
        self.wait_listening(&mut memcached, "tcp", address, 11211);
        self.wait_listening(&mut memcached, "udp", address, 11211);
        memcached
    }

    /// A Python TCP listener on 0.0.0.0:PORT, once it listens.
    fn python(&self, port: u16) -> Child {
        const LISTENER: &str = "\
import socket, sys, time
s = socket.socket()
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen()
print('ready', flush=True)
time.sleep(3600)
";
        let mut cmd = self.ns.exec("python3", ["-c", LISTENER, &port.to_string()]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = Child::spawn(&mut cmd);
        child.wait_for_line("ready", STARTUP);
        child
    }

    /// Debian's node_exporter, only its textfile collector, on this host's address.
    fn node_exporter(&self, log: &Path) -> Child {
        let mut cmd = self.ns.exec(
            "prometheus-node-exporter",
            [
                "--collector.disable-defaults".to_string(),
                "--collector.textfile".to_string(),
                format!(
                    "--collector.textfile.directory={}",
                    self.textfiles.display()
                ),
                format!("--web.listen-address={}:9100", self.address),
            ],
        );
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let mut exporter = Child::spawn_logging(&mut cmd, log);
        self.wait_listening(&mut exporter, "tcp", &self.address, 9100);
        exporter
    }

    /// `portaudit --save-baseline DIR/NAME-baseline.json` in this host; the file's path.
    fn save_baseline(&self, dir: &Path) -> String {
        let path = dir.join(format!("{}-baseline.json", self.name));
        let path = path.to_str().unwrap().to_string();
        let saved = util::run(
            &mut self
                .ns
                .exec(util::bin(), ["--no-config", "--save-baseline", &path]),
        );
        assert_eq!(saved.code, 0, "{}: {saved:#?}", self.name);
        path
    }

    /// docs/fleet.md's recipe, run in this host with the built binary: `portaudit --format
    /// prometheus --output DIR/portaudit.prom ARGS`; `audited`: whether the audit can be
    /// done (exit 0 or 1), or not (exit 2, and the file says so).
    fn write_textfile(&self, args: &[&str], audited: bool) {
        let file = self.textfiles.join("portaudit.prom");
        let mut cmd = self.ns.exec(
            util::bin(),
            [
                "--format",
                "prometheus",
                "--no-config",
                "--output",
                file.to_str().unwrap(),
            ],
        );
        cmd.args(args);
        let run = util::run(&mut cmd);
        let codes: &[i32] = if audited { &[0, 1] } else { &[2] };
        assert!(
            codes.contains(&run.code),
            "portaudit --output in {}: {run:#?}",
            self.name
        );
        assert!(file.is_file(), "{} has no {}", self.name, file.display());
    }
}

/// The hub (a bridge, Prometheus) and the hosts on it; every namespace is deleted on
/// drop, the veths with them.
struct Fleet {
    hub: NetNs,
    hosts: Vec<Host>,
}

impl Fleet {
    fn new(names: &[&'static str], dir: &Path) -> Fleet {
        let pid = std::process::id();
        let hub = NetNs::named(format!("pa-fleet-{pid}-hub"));
        let prefix = format!("10.199.{}", pid % 250);
        hub.ip(&["link", "add", "br0", "type", "bridge"]);
        hub.ip(&["addr", "add", &format!("{prefix}.1/24"), "dev", "br0"]);
        hub.ip(&["link", "set", "br0", "up"]);
        let mut fleet = Fleet {
            hub,
            hosts: Vec::new(),
        };
        for (i, &name) in names.iter().enumerate() {
            let ns = NetNs::named(format!("pa-fleet-{pid}-{name}"));
            let veth = format!("v{i}");
            fleet.hub.ip(&[
                "link",
                "add",
                &veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns.name(),
            ]);
            fleet.hub.ip(&["link", "set", &veth, "master", "br0", "up"]);
            let address = format!("{prefix}.{}", 10 + i);
            ns.ip(&["addr", "add", &format!("{address}/24"), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            let textfiles = dir.join(name);
            std::fs::create_dir(&textfiles).unwrap();
            fleet.hosts.push(Host {
                name,
                ns,
                address,
                textfiles,
            });
        }
        fleet
    }

    fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }

    /// The host a scrape's `instance` label names.
    fn name_of(&self, instance: &str) -> String {
        self.hosts
            .iter()
            .find(|h| instance == format!("{}:9100", h.address))
            .map_or_else(|| format!("unknown instance {instance}"), |h| h.name.into())
    }

    /// Prometheus in the hub, scraping every host's node_exporter, with the rules.
    fn prometheus(&self, dir: &Path) -> Child {
        let targets: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("'{}:9100'", h.address))
            .collect();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - '{}'\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [{}]\n",
                example("portaudit.rules.yml").display(),
                targets.join(", ")
            ),
        )
        .unwrap();
        let mut cmd = self.hub.exec(
            "prometheus",
            [
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address={PROMETHEUS}"),
            ],
        );
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        Child::spawn_logging(&mut cmd, &dir.join("prometheus.log"))
    }

    /// GET PATH from Prometheus's API, from a thread inside the hub; its `data`.
    fn api<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let body = std::thread::scope(|s| {
            s.spawn(|| {
                self.hub.enter();
                http_get(path)
            })
            .join()
            .expect("the API thread panicked")
        })?;
        let response: Response<T> =
            serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        match (response.status.as_str(), response.data) {
            ("success", Some(data)) => Ok(data),
            _ => Err(format!("{}: {body}", response.status)),
        }
    }

    /// Ask Prometheus: `/api/v1/query?query=PROMQL`.
    fn query(&self, promql: &str) -> Result<Vec<Sample>, String> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        self.api::<Data>(&path).map(|data| data.result)
    }

    /// How far Prometheus has got: each target's last scrape, and the rules' last
    /// evaluation.
    fn progress(&self) -> Result<Progress, String> {
        let targets: Targets = self.api("/api/v1/targets?state=active")?;
        let rules: Rules = self.api("/api/v1/rules")?;
        let mut scrapes = BTreeMap::new();
        for target in targets.active_targets {
            let instance = target.labels.get("instance").cloned().unwrap_or_default();
            scrapes.insert(self.name_of(&instance), target);
        }
        Ok(Progress {
            scrapes,
            evaluated: rules
                .groups
                .into_iter()
                .map(|g| g.last_evaluation)
                .collect(),
        })
    }

    /// The samples as rows of these labels; `host` is the host the instance names.
    fn rows(&self, samples: &[Sample], labels: &[&str]) -> BTreeSet<Vec<String>> {
        samples
            .iter()
            .map(|s| {
                labels
                    .iter()
                    .map(|&label| match label {
                        "host" => self.name_of(s.metric.get("instance").map_or("", |i| i)),
                        _ => s.metric.get(label).cloned().unwrap_or_default(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// The API's answer: `{"status": "success", "data": …}`.
#[derive(Debug, Deserialize)]
struct Response<T> {
    status: String,
    data: Option<T>,
}

#[derive(Debug, Deserialize)]
struct Data {
    result: Vec<Sample>,
}

#[derive(Debug, Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
}

/// `/api/v1/targets`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Targets {
    active_targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    labels: BTreeMap<String, String>,
    health: String,
    /// RFC 3339; when the last scrape started.
    last_scrape: String,
    /// Seconds it took.
    last_scrape_duration: f64,
}

/// `/api/v1/rules`.
#[derive(Debug, Deserialize)]
struct Rules {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleGroup {
    /// RFC 3339.
    last_evaluation: String,
}

/// Where Prometheus has got to (`Fleet::progress`).
#[derive(Debug, Clone, PartialEq)]
struct Progress {
    /// Each host's target, by host name.
    scrapes: BTreeMap<String, Target>,
    /// Each rule group's last evaluation.
    evaluated: Vec<String>,
}

impl Progress {
    /// Every host was scraped, each last scrape succeeded, and every rule group was
    /// evaluated after the last of them had ended: queries and alerts now describe
    /// every host's textfile.
    fn settled(&self, hosts: usize) -> bool {
        let mut scraped_by = f64::MIN;
        for target in self.scrapes.values() {
            let Some(start) = epoch_seconds(&target.last_scrape) else {
                return false;
            };
            if target.health != "up" {
                return false;
            }
            scraped_by = scraped_by.max(start + target.last_scrape_duration);
        }
        self.scrapes.len() == hosts
            && !self.evaluated.is_empty()
            && self
                .evaluated
                .iter()
                .all(|e| epoch_seconds(e).is_some_and(|e| e > scraped_by))
    }
}

/// Seconds since the epoch of an RFC 3339 time as Go writes it
/// (`2026-12-03T08:03:06.123456789Z`, or with `+01:00`); None for Go's zero time.
fn epoch_seconds(text: &str) -> Option<f64> {
    let (date, time) = text.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (ymd.next()??, ymd.next()??, ymd.next()??);
    if y < 1970 {
        return None;
    }
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => return None,
    };
    let offset = match offset {
        "Z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = offset[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let mut hms = clock.splitn(3, ':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = hms.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60 - offset) as f64 + sec)
}

#[test]
fn go_times_are_read_as_seconds_since_the_epoch() {
    assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(epoch_seconds("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
    assert_eq!(
        epoch_seconds("2026-12-03T09:03:06+01:00"),
        epoch_seconds("2026-12-03T08:03:06Z")
    );
    assert_eq!(epoch_seconds("0001-01-01T00:00:00Z"), None);
}

/// GET PATH from Prometheus over HTTP/1.0: one request, the server closes, no chunks.
fn http_get(path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(PROMETHEUS).map_err(|e| format!("{PROMETHEUS}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {PROMETHEUS}\r\n\r\n")
        .map_err(|e| format!("{PROMETHEUS}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("{PROMETHEUS}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP response: {response:?}"))?;
    match head.split(' ').nth(1) {
        Some("200") => Ok(body.to_string()),
        _ => Err(format!("{head}\n{body}")),
    }
}

/// A query string's value: everything but the unreserved characters as %XX.
fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A PromQL query and the rows (of `labels`) it must return, exactly.
struct Check {
    promql: String,
    labels: &'static [&'static str],
    expected: BTreeSet<Vec<String>>,
}

fn check(promql: &str, labels: &'static [&'static str], rows: &[&[&str]]) -> Check {
    Check {
        promql: promql.into(),
        labels,
        expected: rows
            .iter()
            .map(|row| row.iter().map(|s| s.to_string()).collect())
            .collect(),
    }
}

patest!(
    prometheus_names_exactly_the_hosts_that_expose_something,
    [
        Root,
        Program("ip"),
        Program("ss"),
        Program("memcached"),
        Program("python3"),
        Program("prometheus"),
        Program("prometheus-node-exporter"),
    ],
    |_| {
        // Locals drop in reverse order: the processes are killed (by pid) before the
        // directory goes, and that before the namespaces.
        let dir = TempDir::new("fleet");
        let names = ["web1", "web2", "web3", "app1", "cache1", "broken"];
        let fleet = Fleet::new(&names, dir.path());
        let mut children = Vec::new();
        for host in &fleet.hosts {
            let log = dir.path().join(format!("node-exporter-{}.log", host.name));
            children.push(host.node_exporter(&log));
        }
        // app1 and cache1: a baseline of what they run now (node_exporter), then a new
        // listener: on every interface in app1, memcached on loopback only in cache1.
        let (app1, cache1) = (fleet.host("app1"), fleet.host("cache1"));
        let app1_baseline = app1.save_baseline(dir.path());
        let cache1_baseline = cache1.save_baseline(dir.path());
        let python = app1.python(8080);
        let py = python.comm().expect("the Python listener's comm");
        children.push(python);
        children.push(cache1.memcached("127.0.0.1"));
        // web1 and web3: memcached on every interface; web2: on loopback only.
        children.push(fleet.host("web1").memcached("0.0.0.0"));
        children.push(fleet.host("web2").memcached("127.0.0.1"));
        children.push(fleet.host("web3").memcached("0.0.0.0"));

        for name in ["web1", "web2", "web3"] {
            fleet.host(name).write_textfile(&[], true);
        }
        app1.write_textfile(&["--baseline", &app1_baseline], true);
        cache1.write_textfile(&["--baseline", &cache1_baseline], true);
        // broken: a policy portaudit refuses (exit 2), so the recipe says the audit failed.
        fleet
            .host("broken")
            .write_textfile(&["--allow", "70000"], false);

        let mut prometheus = fleet.prometheus(dir.path());

        const SOCKET: &[&str] = &["host", "protocol", "port", "process"];
        let memcached: &[&[&str]] = &[
            &["web1", "tcp", "11211", "memcached"],
            &["web1", "udp", "11211", "memcached"],
            &["web3", "tcp", "11211", "memcached"],
            &["web3", "udp", "11211", "memcached"],
        ];
        let python_row: &[&str] = &["app1", "tcp", "8080", &py];
        let cache1_rows: &[&[&str]] = &[
            &["cache1", "tcp", "11211", "memcached"],
            &["cache1", "udp", "11211", "memcached"],
        ];
        // What fails on its own: the alert PortauditExposed.
        let exposed: Vec<&[&str]> = memcached.iter().copied().chain([python_row]).collect();
        // What is new since a baseline: the alert PortauditNewListener.
        let new: Vec<&[&str]> = cache1_rows.iter().copied().chain([python_row]).collect();
        // Everything that fails, new or exposed: portaudit_exposed_socket.
        let failing: Vec<&[&str]> = exposed.iter().chain(cache1_rows).copied().collect();
        let checks = [
            check(
                "up == 1",
                &["host"],
                &names.map(|name| [name]).each_ref().map(|row| &row[..]),
            ),
            // Every failing socket on 11211, with its verdict: cache1's loopback memcached
            // fails as new since its baseline, but it is local.
            check(
                "portaudit_exposed_socket{port=\"11211\"}",
                &["host", "protocol", "port", "process", "verdict"],
                &[
                    &["web1", "tcp", "11211", "memcached", "exposed"],
                    &["web1", "udp", "11211", "memcached", "exposed"],
                    &["web3", "tcp", "11211", "memcached", "exposed"],
                    &["web3", "udp", "11211", "memcached", "exposed"],
                    &["cache1", "tcp", "11211", "memcached", "local"],
                    &["cache1", "udp", "11211", "memcached", "local"],
                ],
            ),
            // docs/fleet.md: which hosts expose 11211.
            check(
                "count by (instance) (portaudit_exposed_socket{port=\"11211\",verdict=\"exposed\"})",
                &["host"],
                &[&["web1"], &["web3"]],
            ),
            check(
                &format!("portaudit_exposed_socket{{process=\"{py}\"}}"),
                SOCKET,
                &[python_row],
            ),
            check(
                "count by (instance) (portaudit_exposed_socket)",
                &["host"],
                &[&["web1"], &["web3"], &["app1"], &["cache1"]],
            ),
            // Clean is a value, not an absence: web2 was audited and nothing fails there.
            check("portaudit_exposed_sockets == 0", &["host"], &[&["web2"]]),
            // docs/fleet.md: what is new on any host this week (since its baseline).
            check("portaudit_new_socket", SOCKET, &new),
            check("max_over_time(portaudit_new_socket[1w])", SOCKET, &new),
            // docs/fleet.md: what fails now that did not a week ago (this Prometheus is new).
            check(
                "portaudit_exposed_socket unless portaudit_exposed_socket offset 1w",
                SOCKET,
                &failing,
            ),
            check("portaudit_audit_success == 0", &["host"], &[&["broken"]]),
            // The example alert rules, evaluated by this Prometheus on these hosts.
            check(
                "ALERTS{alertname=\"PortauditExposed\",alertstate=\"firing\"}",
                SOCKET,
                &exposed,
            ),
            check(
                "ALERTS{alertname=\"PortauditNewListener\",alertstate=\"firing\"}",
                SOCKET,
                &new,
            ),
            check(
                "ALERTS{alertname=\"PortauditAuditFailed\",alertstate=\"firing\"}",
                &["host"],
                &[&["broken"]],
            ),
            check(
                "ALERTS{alertname=~\"PortauditAuditIncomplete|PortauditStale|PortauditMissing\"}",
                &["alertname", "host"],
                &[],
            ),
        ];

        // Ask until every answer is the expected one. Prometheus starts, scrapes, then
        // evaluates the rules; on a busy machine a scrape can time out, and a failed
        // scrape hides its host's series until the next. So a wrong answer counts only
        // when it was read between two identical readings of a settled Prometheus: every
        // host scraped, every last scrape good, the rules evaluated after them. Three of
        // those (different evaluations) and the answer is wrong; until then, wait.
        let mut wrong_when_settled = BTreeMap::new();
        let mut last_progress = None;
        let mut last_change = Instant::now();
        loop {
            prometheus.assert_running();
            for child in &mut children {
                child.assert_running();
            }
            let before = fleet.progress();
            let answers: Vec<Result<BTreeSet<Vec<String>>, String>> = checks
                .iter()
                .map(|c| {
                    fleet
                        .query(&c.promql)
                        .map(|samples| fleet.rows(&samples, c.labels))
                })
                .collect();
            let wrong: Vec<String> = checks
                .iter()
                .zip(&answers)
                .filter(|(c, got)| got.as_ref() != Ok(&c.expected))
                .map(|(c, got)| {
                    format!(
                        "{}\n  rows of {:?}\n  expected {:?}\n  got      {got:?}",
                        c.promql, c.labels, c.expected
                    )
                })
                .collect();
            if wrong.is_empty() {
                break;
            }
            let after = fleet.progress();
            if let (Ok(before), Ok(after)) = (&before, &after)
                && before == after
                && before.settled(names.len())
            {
                wrong_when_settled.insert(before.evaluated.clone(), wrong.join("\n"));
            }
            let progress = after.ok();
            if progress != last_progress {
                last_progress = progress;
                last_change = Instant::now();
            }
            let log =
                || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            if wrong_when_settled.len() >= SETTLED_ROUNDS {
                panic!(
                    "Prometheus scraped every host and evaluated the rules after it \
                     {SETTLED_ROUNDS} times, and still does not answer as expected:\n{}\n\
                     its progress: {last_progress:#?}\nprometheus.log:\n{}",
                    wrong.join("\n"),
                    log()
                );
            }
            if last_change.elapsed() > STALLED {
                panic!(
                    "Prometheus neither scraped nor evaluated anything for {STALLED:?}:\n\
                     {last_progress:#?}\nthe answers:\n{}\nprometheus.log:\n{}",
                    wrong.join("\n"),
                    log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        // docs/fleet.md: the same from a shell, with promtool (run in the hub, where Prometheus is).
        let query = "portaudit_exposed_socket{port=\"11211\",verdict=\"exposed\"}";
        let out = fleet
            .hub
            .exec(
                "promtool",
                ["query", "instant", &format!("http://{PROMETHEUS}"), query],
            )
            .stdin(Stdio::null())
            .output()
            .expect("cannot run promtool");
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "promtool query: {out:?}");
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 4, "{printed}");
        for host in ["web1", "web3"] {
            let instance = format!("instance=\"{}:9100\"", fleet.host(host).address);
            let found = lines
                .iter()
                .filter(|l| l.contains(&instance) && l.contains("process=\"memcached\""))
                .count();
            assert_eq!(found, 2, "{host}: tcp and udp in\n{printed}");
        }
    }
);
