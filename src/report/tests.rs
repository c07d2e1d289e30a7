//! Snapshots of the table at 80, 120 and 200 columns and piped, from an audit built
//! here: long IPv6 addresses, hostile and non-UTF-8 names, owners we could only partly
//! see, a reuseport group, namespaces and publishes, the rule and firewall columns.
//! Every line of a fitted table must fit; no name or address may be split.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use unicode_width::UnicodeWidthStr;

use super::table;
use crate::audit::{
    self, Advice, Audit, Basis, Context, Drift, Finding, Judged, Mode, Severity, Verdict,
};
use crate::classify::classify;
use crate::socket::{
    Collector, Container, Device, FirewallVerdict, HostAddress, Judgement, Listener, Listening,
    NamespaceSeen, Netns, Process, Protocol, Published, Via,
};

/// Our own advice, so that edits to the real table do not move these snapshots.
fn advice() -> Advice {
    Advice {
        service: "memcached".into(),
        severity: Severity::Critical,
        why: "UDP memcached answers spoofed requests with replies up to 50000 times larger: \
              a DDoS amplifier"
            .into(),
        fix: "disable UDP and bind to loopback: memcached -U 0 -l 127.0.0.1".into(),
        file: None,
        command: None,
        identified_by: Basis::Process,
    }
}

const CONTAINER_NETNS: u64 = 4026532301;

fn process(pid: i32, comm: &[u8]) -> Process {
    Process {
        pid,
        comm: comm.to_vec(),
        ..Process::default()
    }
}

fn listener(protocol: Protocol, address: &str, port: u16, owners: Vec<Process>) -> Listener {
    let address: IpAddr = address.parse().unwrap();
    let mut l = Listener::new(protocol, address, port, 0, u64::from(port));
    l.user = Some(b"root"[..].into());
    l.processes = owners.into();
    l.processes_complete = true;
    l.netns = Some(Arc::new(Netns {
        inode: 4026531840,
        name: None,
        host: true,
    }));
    if address.is_ipv6() && address.is_unspecified() {
        l.detail.v6only = Some(false);
    }
    l
}

fn finding(listener: Listener, verdict: Verdict) -> Finding {
    let (scope, exposure) = classify(listener.address);
    let firewall = matches!(verdict, Verdict::Exposed | Verdict::Internal).then(|| Judgement {
        verdict: FirewallVerdict::Accepted,
        why: "policy accept".into(),
    });
    Finding {
        ipv4_reachable: crate::classify::ipv4_reachable(listener.address, listener.detail.v6only),
        ipv4_reachable_guess: None,
        listener,
        scope,
        exposure,
        class: crate::classify::bind_class(scope, exposure),
        verdict,
        fails: false,
        rule: None,
        ephemeral: false,
        advice: None,
        drift: None,
        published: None,
        listening: Listening::Yes,
        ways_in: Vec::new(),
        firewall,
    }
}

fn docker_web() -> (Netns, Container) {
    let netns = Netns {
        inode: CONTAINER_NETNS,
        name: None,
        host: false,
    };
    let container = Container {
        runtime: "docker".to_string(),
        id: "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899".to_string(),
        name: Some("web".to_string()),
    };
    (netns, container)
}

/// A host with a little of everything the table can say.
fn busy_audit() -> Audit {
    use Protocol::{Tcp, Udp};
    let mut findings = Vec::new();

    let l = listener(
        Tcp,
        "2001:db8:1234:5678:9abc:def0:1234:5678",
        9200,
        vec![process(4242, b"elasticsearch")],
    );
    let mut f = finding(l, Verdict::Exposed);
    f.drift = Some(Drift::New);
    findings.push(f);

    // Bound as root, run as nobody (`memcached -u nobody`).
    let memcached = Process {
        uid: Some(65534),
        user: Some(b"nobody"[..].into()),
        ..process(733, b"memcached")
    };
    let l = listener(Udp, "0.0.0.0", 11211, vec![memcached]);
    let mut f = finding(l, Verdict::Exposed);
    f.advice = Some(Box::new(advice()));
    findings.push(f);

    // A name chosen to attack the terminal, not UTF-8 either, with a user to match.
    let mut l = listener(
        Tcp,
        "0.0.0.0",
        4444,
        vec![process(6666, b"ev\x1b[2Jil\xe2\x80\xaex\x07\xff")],
    );
    l.uid = 1001;
    l.user = Some(b"m\xe9chant\x1b]0;"[..].into());
    findings.push(finding(l, Verdict::Exposed));

    // Published into a container by a DNAT rule.
    let (netns, container) = docker_web();
    let mut l = listener(Tcp, "0.0.0.0", 80, vec![process(9100, b"nginx")]);
    l.netns = Some(netns.clone().into());
    l.container = Some(container.clone().into());
    let mut f = finding(l, Verdict::Exposed);
    f.published = Some(Box::new(Published {
        protocol: Tcp,
        address: "0.0.0.0".parse().unwrap(),
        ports: 8080..=8080,
        target: "172.17.0.2".parse().unwrap(),
        via: Via::Dnat {
            rule: "ip nat DOCKER handle 12".to_string(),
        },
    }));
    f.rule = Some("web: published by docker".into());
    findings.push(f);

    // Published, and nothing listens behind it.
    let mut l = listener(Tcp, "172.17.0.3", 5432, Vec::new());
    l.netns = Some(netns.clone().into());
    let mut f = finding(l, Verdict::Exposed);
    f.listening = Listening::No;
    f.published = Some(Box::new(Published {
        protocol: Tcp,
        address: "0.0.0.0".parse().unwrap(),
        ports: 15432..=15432,
        target: "172.17.0.3".parse().unwrap(),
        via: Via::Proxy {
            pid: 9300,
            inode: 1,
        },
    }));
    findings.push(f);

    let mut l = listener(Tcp, "::ffff:192.168.100.200", 8443, Vec::new());
    l.processes_complete = false;
    findings.push(finding(l, Verdict::Internal));

    let mut l = listener(
        Udp,
        "fe80::1234:5678:9abc:def0",
        547,
        vec![process(812, b"dhcpd")],
    );
    l.detail.device = Some(Box::new(Device {
        name: "enp0s31f6".to_string(),
        loopback: false,
    }));
    l.processes_complete = false;
    findings.push(finding(l, Verdict::Internal));

    let l = listener(Tcp, "::", 22, vec![process(1001, b"sshd")]);
    let mut f = finding(l, Verdict::Allowed);
    f.rule = Some("ssh from anywhere".into());
    findings.push(f);

    // An SO_REUSEPORT group: four sockets, three workers.
    for (inode, pid) in [(1, 2001), (2, 2002), (3, 2003), (4, 2003)] {
        // The master runs as root, its workers as www-data.
        let (uid, user) = if pid == 2001 {
            (0, "root")
        } else {
            (33, "www-data")
        };
        let nginx = Process {
            uid: Some(uid),
            user: Some(user.as_bytes().into()),
            ..process(pid, b"nginx")
        };
        let mut l = listener(Tcp, "0.0.0.0", 443, vec![nginx]);
        l.inode = inode;
        findings.push(finding(l, Verdict::Allowed));
    }

    let l = listener(Udp, "0.0.0.0", 41234, vec![process(3001, b"syncthing")]);
    let mut f = finding(l, Verdict::Allowed);
    f.ephemeral = true;
    findings.push(f);

    let mut l = listener(Tcp, "10.88.0.2", 3000, vec![process(9200, b"node")]);
    l.netns = Some(netns.into());
    l.container = Some(container.into());
    findings.push(finding(l, Verdict::Contained));

    let l = listener(Tcp, "::1", 6379, vec![process(1200, b"redis-server")]);
    findings.push(finding(l, Verdict::Local));

    let mut first = findings[0].listener.clone();
    first.detail.reachable_on = Some(
        Vec::from([
            HostAddress {
                address: "192.0.2.10".parse().unwrap(),
                device: "eth0".to_string(),
                ifindex: 2,
            },
            HostAddress {
                address: "2001:db8:1234:5678:9abc:def0:1234:5678".parse().unwrap(),
                device: "eth0".to_string(),
                ifindex: 2,
            },
        ])
        .into(),
    );
    findings[1].listener.detail.reachable_on = first.detail.reachable_on;

    let namespaces = vec![
        NamespaceSeen {
            netns: Netns::clone(findings[0].listener.netns.as_ref().unwrap()),
            audited: true,
            addresses: None,
            container: None,
        },
        NamespaceSeen {
            netns: docker_web().0,
            audited: true,
            addresses: None,
            container: Some(docker_web().1.into()),
        },
    ];
    let context = Context {
        collector: Collector::Netlink,
        namespaces,
        firewall_read: true,
        policy_file: Some(PathBuf::from("/etc/portaudit/portaudit.toml")),
        ..Context::default()
    };
    let judged = Judged {
        findings,
        warnings: Vec::new(),
    };
    let mode = Mode {
        strict: false,
        advisory: false,
    };
    audit::conclude(judged, None, mode, context)
}

fn render(audit: &Audit, width: Option<usize>) -> String {
    let mut out = Vec::new();
    table::render(audit, false, width, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Every line fits, nothing in it is a control character, and the addresses stay whole.
fn check_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(line.width() <= width, "wider than {width}: {line:?}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    let whole = [
        " 2001:db8:1234:5678:9abc:def0:1234:5678 ",
        " fe80::1234:5678:9abc:def0%enp0s31f6 ",
        " ::ffff:192.168.100.200 ",
        " EXPOSED",
    ];
    for token in whole {
        assert!(text.contains(token), "{token} split or missing:\n{text}");
    }
}

#[test]
fn table_at_80_columns() {
    let text = render(&busy_audit(), Some(80));
    check_fits(&text, 80);
    insta::assert_snapshot!(text);
}

#[test]
fn table_at_120_columns() {
    let text = render(&busy_audit(), Some(120));
    check_fits(&text, 120);
    // At 120 columns every name is whole.
    for name in [
        "4242/elasticsearch",
        "6666/ev\\x1b[2Jil\\u{202e}x\\x07\\xff ",
    ] {
        assert!(text.contains(name), "{name}:\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn table_at_200_columns() {
    let text = render(&busy_audit(), Some(200));
    check_fits(&text, 200);
    insta::assert_snapshot!(text);
}

#[test]
fn table_piped_is_one_line_per_row() {
    let text = render(&busy_audit(), None);
    // 15 findings, the four reuseport sockets in one row, and the header.
    let rows = text
        .lines()
        .take_while(|l| !l.starts_with("11211/udp"))
        .count();
    assert_eq!(rows, 1 + 12, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn a_width_wider_than_the_table_changes_nothing_but_the_prose() {
    let audit = busy_audit();
    let piped = render(&audit, None);
    let wide = render(&audit, Some(1000));
    assert_eq!(piped, wide);
}

#[test]
fn partial_owners_say_so() {
    let text = render(&busy_audit(), None);
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle}:\n{text}"))
            .to_string()
    };
    assert!(row("enp0s31f6").contains("812/dhcpd +?"), "{text}");
    // No owner seen at all, and there may be some: `?`.
    assert!(row("::ffff:192.168.100.200").contains(" ? "), "{text}");
    // Every owner seen: no mark.
    assert!(!row("redis-server").contains('?'), "{text}");
    assert!(
        row(" 443 ").contains("2001/nginx, 2002/nginx +1 (4 sockets)"),
        "{text}"
    );
}

#[test]
fn the_user_column_says_whom_the_owners_run_as() {
    let text = render(&busy_audit(), None);
    let row = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle}:\n{text}"))
            .to_string()
    };
    // memcached -u nobody: the process runs as nobody, its socket was made by root.
    assert!(
        row("733/memcached").contains(" nobody (socket: root) "),
        "{text}"
    );
    // nginx: the master as root (the socket's user), the workers as www-data.
    assert!(row(" 443 ").contains(" root,www-data "), "{text}");
    assert!(!row(" 443 ").contains("socket:"), "{text}");
    // No user known for any owner: the socket's.
    assert!(row("1001/sshd").contains(" root "), "{text}");
}

#[test]
fn narrow_terminals_still_fit() {
    let audit = busy_audit();
    for width in [20, 40, 60, 79, 100, 140] {
        let text = render(&audit, Some(width));
        for line in text.lines() {
            assert!(line.width() <= width, "wider than {width}: {line:?}");
        }
    }
}

/// A host with `n` new listeners since a baseline, each with advice of its own, and as
/// many gone: the prose under the table must stay a screenful.
fn crowded_audit(n: u16) -> Audit {
    use crate::audit::{Comparison, Key};
    let mut findings = Vec::new();
    for i in 0..n {
        let port = 20000 + i;
        let l = listener(
            Protocol::Tcp,
            "0.0.0.0",
            port,
            vec![process(i32::from(port), b"svc")],
        );
        let mut f = finding(l, Verdict::Exposed);
        f.drift = Some(Drift::New);
        let mut advice = advice();
        advice.fix = format!("a fix of its own for {port}: restart svc-{port}");
        f.advice = Some(Box::new(advice));
        findings.push(f);
    }
    let removed = (0..n)
        .map(|i| Key {
            protocol: "tcp".into(),
            class: "wildcard".into(),
            port: 40000 + i,
            executable: "/usr/bin/old".into(),
        })
        .collect();
    let comparison = Comparison {
        path: PathBuf::from("/var/lib/portaudit/baseline.json"),
        drift: vec![Some(Drift::New); findings.len()],
        new: usize::from(n),
        removed,
    };
    let judged = Judged {
        findings,
        warnings: Vec::new(),
    };
    let mode = Mode {
        strict: false,
        advisory: false,
    };
    audit::conclude(judged, Some(comparison), mode, Context::default())
}

#[test]
fn the_prose_under_a_crowded_table_is_a_screenful_naming_each_socket_once() {
    let audit = crowded_audit(308);
    for width in [Some(80), Some(120), None] {
        let text = render(&audit, width);
        let prose: Vec<&str> = text.lines().skip(1 + 308).collect();
        assert!(
            prose.len() <= 24,
            "{} lines at {width:?}:\n{}",
            prose.len(),
            prose.join("\n")
        );
        // Wrapped lines joined back, to read what they say.
        let prose = prose.join("\n").replace("\n  ", " ");
        assert!(
            prose.contains("more advice entries: --json for all"),
            "{prose}"
        );
        assert!(prose.contains("308 gone since /var/lib/portaudit/baseline.json (not failing)"));
        assert!(prose.contains(" and 303 more: --json for all"), "{prose}");
        assert!(prose.contains("308 new since /var/lib/portaudit/baseline.json: marked (new)"));
        // Under the advice, no socket is named twice: the drift lines count the new
        // ones (the table marks them), the summary names the failing ones once.
        let (advice, lists) = prose
            .split_once("more advice entries: --json for all")
            .unwrap();
        assert!(advice.lines().count() < 24);
        for port in 20000..20308 {
            let named = lists.matches(&format!("{port}/tcp")).count();
            assert!(named <= 1, "{port} named {named} times:\n{prose}");
        }
        assert!(lists.contains("\n308 listening, 308 exposed: "), "{prose}");
    }
    // The summary wraps, so it is the last few lines at 80 columns; piped, one line.
    let piped = render(&audit, None);
    assert!(
        piped
            .lines()
            .last()
            .unwrap()
            .contains(" and 303 more; 308 new since the baseline")
    );
}
