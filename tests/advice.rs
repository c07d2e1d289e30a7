//! Advice a person can act on, and a policy language that can be trusted, end to end:
//! the `services` fixture (a DNS server on 53 tcp+udp, memcached on both, redis, sshd,
//! a program that is not Elasticsearch on 9200, postgres on a private address) through
//! the binary; service names and their typos in `--allow`; the policy's warnings; the
//! refusal, as root, of a policy file others could change.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::netns;
use crate::util::{Report, Run, Socket, TempDir, fixture, run_args};

fn services() -> String {
    fixture("services").join("proc").display().to_string()
}

fn audit(extra: &[&str]) -> (Report, Run) {
    let root = services();
    let run = run_args(&[&["--json", "--proc-root", &root][..], extra].concat());
    let report = run.report();
    assert_eq!(run.code, i32::from(report.summary.exit_code), "{run:#?}");
    (report, run)
}

fn advice(socket: &Socket) -> &crate::util::Advice {
    socket
        .advice
        .as_ref()
        .unwrap_or_else(|| panic!("no advice for {socket:?}"))
}

#[test]
fn advice_names_the_service_by_its_owner_with_file_and_command() {
    let (report, run) = audit(&["--no-default-allow", "--strict"]);
    assert_eq!(run.code, 1);

    // DNS: UDP is the amplification vector and says so; TCP is not.
    let dns_udp = advice(report.one("udp", "0.0.0.0", 53));
    let dns_tcp = advice(report.one("tcp", "0.0.0.0", 53));
    assert_eq!(
        (dns_udp.service.as_str(), dns_tcp.service.as_str()),
        ("dns", "dns")
    );
    assert!(dns_udp.why.contains("amplification vector"), "{dns_udp:?}");
    assert!(!dns_tcp.why.contains("amplification"), "{dns_tcp:?}");
    assert_eq!(dns_udp.identified_by, "process");
    assert!(
        dns_udp.fix.contains(
            "listen-address=127.0.0.1 (or a private address) and bind-interfaces in \
             /etc/dnsmasq.conf, then systemctl restart dnsmasq"
        ),
        "{dns_udp:?}"
    );
    assert_eq!(dns_udp.file.as_deref(), Some("/etc/dnsmasq.conf"));

    // memcached: disable UDP on UDP; bind on TCP.
    let udp = advice(report.one("udp", "0.0.0.0", 11211));
    let tcp = advice(report.one("tcp", "0.0.0.0", 11211));
    assert_eq!(
        (udp.severity.as_str(), tcp.severity.as_str()),
        ("critical", "high")
    );
    assert!(
        udp.fix
            .starts_with("disable UDP and bind to loopback: -U 0 and -l 127.0.0.1")
    );
    assert!(
        tcp.fix.starts_with("bind to loopback: -l 127.0.0.1"),
        "{tcp:?}"
    );
    for fix in [&udp.fix, &tcp.fix] {
        assert!(
            fix.contains("/etc/memcached.conf (Debian, Ubuntu)"),
            "{fix}"
        );
        assert!(fix.contains("OPTIONS in /etc/sysconfig/memcached (RHEL family)"));
        assert!(fix.contains("then systemctl restart memcached"), "{fix}");
    }
    assert_eq!(udp.command.as_deref(), Some("systemctl restart memcached"));

    // redis: bind and protected-mode in redis.conf.
    let redis = advice(report.one("tcp", "192.0.2.20", 6379));
    assert_eq!(redis.service, "redis");
    assert!(
        redis.fix.starts_with(
            "bind 127.0.0.1 -::1 (or a private address) and protected-mode yes in \
             /etc/redis/redis.conf"
        ),
        "{redis:?}"
    );

    // sshd: ListenAddress in sshd_config.
    let ssh = advice(report.one("tcp", "0.0.0.0", 22));
    assert_eq!(ssh.service, "ssh");
    assert!(
        ssh.fix
            .starts_with("ListenAddress ADDRESS in /etc/ssh/sshd_config")
    );

    // 9200 held by minio is not called Elasticsearch.
    let minio = advice(report.one("tcp", "0.0.0.0", 9200));
    assert_eq!(minio.service, "minio");
    assert!(
        minio
            .why
            .contains("9200/tcp is the port usually used by elasticsearch, but minio holds it"),
        "{minio:?}"
    );
    assert!(!minio.fix.contains("elasticsearch"));

    // A private address under --strict is not told to bind to a private address.
    let postgres = report.one("tcp", "10.1.2.3", 5432);
    assert_eq!(postgres.verdict, "internal");
    let pg = advice(postgres);
    assert!(!pg.fix.contains("private address"), "{pg:?}");
    assert!(pg.fix.contains("listen_addresses = 'localhost'"));
    assert!(pg.fix.contains("allow it: --allow postgres/tcp"), "{pg:?}");
    // Without --strict it does not fail, and gets no advice.
    let (lax, _) = audit(&["--no-default-allow"]);
    assert_eq!(lax.one("tcp", "10.1.2.3", 5432).advice, None);
}

#[test]
fn the_footer_lists_advice_most_severe_first_then_by_port() {
    let root = services();
    let run = run_args(&[
        "--color",
        "never",
        "--no-default-allow",
        "--strict",
        "--proc-root",
        &root,
    ]);
    assert_eq!(run.code, 1);
    let rank = |severity: &str| {
        ["critical", "high", "medium"]
            .iter()
            .position(|s| *s == severity)
    };
    let lines: Vec<(usize, u16, &str)> = run
        .stdout
        .lines()
        .filter_map(|line| {
            let (spec, rest) = line.split_once(' ')?;
            let (port, _) = spec.split_once('/')?;
            let port: u16 = port.parse().ok()?;
            let severity = rest.split_once(" (")?.1.split_once(')')?.0;
            Some((rank(severity)?, port, line))
        })
        .collect();
    let specs: Vec<&str> = lines
        .iter()
        .map(|(_, _, line)| line.split(" (").next().unwrap())
        .collect();
    assert_eq!(
        specs,
        [
            "6379/tcp redis",
            "11211/udp memcached",
            "53/udp dns",
            "5432/tcp postgres",
            "11211/tcp memcached",
            "22/tcp ssh",
            "53/tcp dns",
            "9200/tcp minio",
        ],
        "{}",
        run.stdout
    );
    let keys: Vec<(usize, u16)> = lines.iter().map(|&(r, p, _)| (r, p)).collect();
    assert!(keys.is_sorted(), "{keys:?}");
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("8 listening"),
        "the summary stays last: {}",
        run.stdout
    );
}

#[test]
fn allow_dns_passes_53_over_udp_and_tcp() {
    let (report, run) = audit(&[
        "--allow",
        "dns,memcached,redis,postgres,elasticsearch",
        "--strict",
    ]);
    for (protocol, port) in [("udp", 53), ("tcp", 53)] {
        let socket = report.one(protocol, "0.0.0.0", port);
        assert_eq!(socket.verdict, "allowed", "{socket:?}");
        assert_eq!(socket.rule.as_deref(), Some("--allow dns"));
    }
    assert_eq!(report.one("udp", "0.0.0.0", 11211).verdict, "allowed");
    // minio on elasticsearch's port is allowed by the port, as --allow says.
    assert_eq!(
        report.one("tcp", "0.0.0.0", 9200).rule.as_deref(),
        Some("--allow elasticsearch")
    );
    assert_eq!(run.code, 0, "{run:#?}");
}

#[test]
fn a_typo_in_a_service_name_suggests_the_nearest() {
    let system = std::fs::read_to_string("/etc/services").unwrap_or_default();
    let typo = if system
        .lines()
        .any(|l| l.split_whitespace().any(|w| w == "memcache"))
    {
        "memcachd"
    } else {
        "memcache"
    };
    let run = run_args(&["--allow", typo, "--proc-root", &services()]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert_eq!(
        run.stderr,
        format!(
            "portaudit: invalid --allow value \"{typo}\": unknown service \"{typo}\" (did you \
             mean \"memcached\"?)\n"
        )
    );
    assert!(run.stdout.is_empty());

    let dir = TempDir::new("typo");
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[[rule]]\naction = \"allow\"\nport = \"elasticserach\"\n",
    )
    .unwrap();
    let run = run_args(&[
        "--config",
        &policy.display().to_string(),
        "--proc-root",
        &services(),
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.ends_with(
            ":3: [[rule]] 1: port \"elasticserach\": unknown service \"elasticserach\" (did you \
             mean \"elasticsearch\"?)\n"
        ),
        "{run:#?}"
    );
}

#[test]
fn a_policy_that_allows_everything_or_never_matches_is_warned_about() {
    let (report, run) = audit(&["--allow", "1-65535"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let warning = "--allow 1-65535 allows every socket: nothing reachable can fail the audit";
    assert!(report.warnings.iter().any(|w| w == warning), "{report:#?}");
    assert!(
        run.stderr
            .contains(&format!("portaudit: warning: {warning}\n")),
        "{run:#?}"
    );

    let dir = TempDir::new("lint");
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[[rule]]\nname = \"pg\"\nport = \"5432/tcp\"\nprotocol = \"udp\"\naction = \"allow\"\n\n\
         [[rule]]\nname = \"anything\"\naction = \"allow\"\n",
    )
    .unwrap();
    let file = policy.display().to_string();
    let (report, run) = audit(&["--config", &file, "--allow", "5432/udp"]);
    assert_eq!(run.code, 0, "warnings are not errors: {run:#?}");
    let expected = [
        format!(
            "{file}:1: [[rule]] 1: can never match: protocol = \"udp\" but every port it names is tcp"
        ),
        format!(
            "{file}:7: [[rule]] 2: allows every socket (no condition limits it): the rules after \
             it are never used"
        ),
        "--allow 5432/udp matched no listening socket this run (informational)".to_string(),
    ];
    for warning in &expected {
        assert!(report.warnings.contains(warning), "{warning}: {report:#?}");
    }
}

#[test]
fn json_with_another_format_is_a_usage_error() {
    for format in ["prometheus", "table"] {
        let run = run_args(&["--json", "--format", format, "--proc-root", &services()]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            run.stderr,
            format!(
                "portaudit: --json and --format {format} cannot be used together: --json is \
                 --format json\n"
            )
        );
        assert!(run.stdout.is_empty());
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

patest!(
    as_root_a_policy_or_baseline_others_could_change_is_refused,
    [Root],
    |_| {
        let dir = TempDir::new("strictmodes");
        chmod(dir.path(), 0o755);
        let policy = dir.path().join("p.toml");
        std::fs::write(&policy, "[[rule]]\naction = \"allow\"\nport = \"dns\"\n").unwrap();
        let file = policy.display().to_string();
        let root = services();
        chmod(&policy, 0o644);
        let fine = run_args(&["--config", &file, "--proc-root", &root]);
        assert_ne!(fine.code, 2, "root's own 0644 file is trusted: {fine:#?}");

        chmod(&policy, 0o664);
        let run = run_args(&["--config", &file, "--proc-root", &root]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            run.stderr,
            format!(
                "portaudit: refusing {file}: writable by group (owner root, mode 0664); run chmod \
             go-w {file}\n"
            )
        );
        assert!(run.stdout.is_empty());

        chmod(&policy, 0o644);
        chmod(dir.path(), 0o777);
        let run = run_args(&["--config", &file, "--proc-root", &root]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(
        run.stderr.contains(&format!(
            "refusing {file}: its directory {} is writable by group and others (owner root, mode \
             0777)",
            dir.path().display()
        )),
        "{run:#?}"
    );
        chmod(dir.path(), 0o755);

        // A baseline, and a file owned by another user.
        let baseline = dir.path().join("baseline.json");
        let save = run_args(&[
            "--save-baseline",
            &baseline.display().to_string(),
            "--proc-root",
            &root,
            "--no-config",
        ]);
        assert_ne!(save.code, 2, "{save:#?}");
        std::os::unix::fs::chown(&baseline, Some(65534), None).unwrap();
        let run = run_args(&[
            "--baseline",
            &baseline.display().to_string(),
            "--proc-root",
            &root,
            "--no-config",
        ]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(
            run.stderr.starts_with(&format!(
                "portaudit: refusing {}: owned by another user than root (owner ",
                baseline.display()
            )),
            "{run:#?}"
        );
        assert_eq!(run.stderr.lines().count(), 1);
    }
);
