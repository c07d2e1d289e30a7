//! Missing privilege and hidden processes: without root, behind hidepid, inside a user
//! namespace. Every socket is still listed with its uid and judged the same; owners we
//! could not see are unknown, and one warning says why.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;

use crate::hostile::{audit, in_namespace};
use crate::netns;
use crate::util::{self, Report, Run};

/// Sockets of every verdict, held by us (root).
fn sockets() -> (Vec<TcpListener>, Vec<UdpSocket>) {
    let tcp = vec![
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap(),
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap(),
        TcpListener::bind(("10.7.0.1", 0)).unwrap(),
        TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap(),
    ];
    let udp = vec![
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap(),
        UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap(),
    ];
    (tcp, udp)
}

/// inode → (protocol, address, port, uid, verdict): everything but the owners.
fn judged(report: &Report) -> BTreeMap<u64, (String, String, u16, u32, String)> {
    report
        .sockets
        .iter()
        .map(|s| {
            let key = (
                s.protocol.clone(),
                s.address.clone(),
                s.port,
                s.uid(),
                s.verdict.clone(),
            );
            (s.inode(), key)
        })
        .collect()
}

/// Run the binary, which sits where any user can run it, through `wrapper…`.
fn run_as(wrapper: &[&str], bin: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(bin)
        .args(args)
        .env_remove("NO_COLOR");
    util::run_when_not_busy(&mut cmd)
}

const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

patest!(
    verdicts_never_depend_on_privilege,
    [Root, Program("ip"), Program("ss"), Program("setpriv")],
    |_| {
        in_namespace(|_| {
            let _held = sockets();
            let (_, root) = audit();
            let (_dir, bin) = util::binary_for_nobody();
            let nobody = run_as(&NOBODY, &bin, &["--json"]);
            let report = nobody.report();
            assert_eq!(
                judged(&report),
                judged(&root),
                "the same sockets, uids and verdicts"
            );
            assert_eq!(report.summary.exit_code, root.summary.exit_code);
            assert_eq!(i32::from(report.summary.exit_code), nobody.code);
            assert_eq!(nobody.code, 1, "0.0.0.0 and :: are exposed whoever looks");
            // (As root, processes_complete may still be false: a sandbox's init can be out of
            // even root's reach.)
            for s in &root.sockets {
                assert!(!s.processes.is_empty(), "as root: {s:?}");
            }
            for s in &report.sockets {
                assert!(
                    !s.processes_complete && s.processes.is_empty(),
                    "as nobody: {s:?}"
                );
            }
            // The owners it could not see, and the firewall it could not read.
            assert_eq!(report.warnings.len(), 2, "{:#?}", report.warnings);
            assert!(report.warnings[1].contains("nft"), "{:?}", report.warnings);
            assert!(
                report.warnings[0].contains("permission denied"),
                "{:?}",
                report.warnings
            );

            // The table says the owner is unknown (`?`), not that there is none (`-`).
            let table = run_as(&NOBODY, &bin, &["--color", "never"]);
            let rows: Vec<&str> = table
                .stdout
                .lines()
                .skip(1)
                .filter(|l| matches!(l.split_whitespace().nth(3), Some("wildcard" | "loopback")))
                .collect();
            assert!(!rows.is_empty(), "{}", table.stdout);
            for row in rows {
                assert_eq!(row.split_whitespace().nth(4), Some("?"), "{row}");
            }
            // The owners it could not see, and the firewall it could not read.
            assert_eq!(table.stderr.lines().count(), 2, "{}", table.stderr);
        });
    }
);

patest!(
    hidepid_is_named_in_the_warning,
    [
        Root,
        Program("ip"),
        Program("ss"),
        Program("setpriv"),
        Program("unshare")
    ],
    |_| {
        in_namespace(|_| {
            let _held = sockets();
            let (_, root) = audit();
            let (_dir, bin) = util::binary_for_nobody();
            for option in ["hidepid=2", "hidepid=invisible", "hidepid=1"] {
                // A proc of our own with the option, over /proc in a private mount namespace.
                let script = format!(
                    "mount -t proc -o {option} proc /proc && exec {} \"$0\" --json --no-config",
                    NOBODY.join(" ")
                );
                let run = run_as(
                    &[
                        "unshare",
                        "--mount",
                        "--propagation",
                        "private",
                        "sh",
                        "-c",
                        &script,
                    ],
                    &bin,
                    &[],
                );
                let report = run.report();
                assert_eq!(
                    judged(&report),
                    judged(&root),
                    "{option}: the same sockets and verdicts"
                );
                assert_eq!(run.code, 1, "{option}: {run:#?}");
                assert!(
                    report
                        .sockets
                        .iter()
                        .all(|s| s.processes.is_empty() && !s.processes_complete)
                );
                assert_eq!(report.warnings.len(), 2, "{option}: {:#?}", report.warnings);
                assert!(
                    report.warnings[1].contains("nft"),
                    "{option}: {:?}",
                    report.warnings
                );
                let warning = &report.warnings[0];
                assert!(
                    warning.contains("/proc is mounted with hidepid="),
                    "{option}: {warning}"
                );
                assert!(
                    warning.contains("keeps other users' processes from us"),
                    "{warning}"
                );
                assert!(
                    warning.contains("looks exactly like one that has exited"),
                    "{warning}"
                );
            }
        });
    }
);

patest!(
    user_namespace_owners_show_the_overflow_uid_and_a_warning,
    [Root, Program("ip"), Program("ss"), Program("unshare")],
    |_| {
        in_namespace(|_| {
            let _held = sockets();
            let (_, root) = audit();
            let (_dir, bin) = util::binary_for_nobody();
            // A user namespace that maps no uid at all: every owner is outside it.
            let run = run_as(&["unshare", "--user"], &bin, &["--json"]);
            let report = run.report();
            assert_eq!(run.code, 1, "{run:#?}");
            // Its fd directories list, but the links do not resolve: that is no permission,
            // not "no owner".
            assert!(
                report
                    .warnings
                    .iter()
                    .any(|w| w.contains("permission denied")),
                "{:#?}",
                report.warnings
            );
            assert_eq!(report.sockets.len(), root.sockets.len());
            for s in &report.sockets {
                assert_eq!(
                    s.uid(),
                    65534,
                    "root, unmapped, shows as the overflow uid: {s:?}"
                );
            }
            let verdicts = |r: &Report| {
                r.sockets
                    .iter()
                    .map(|s| (s.inode(), s.verdict.clone()))
                    .collect::<BTreeMap<_, _>>()
            };
            assert_eq!(verdicts(&report), verdicts(&root));
            assert!(
                report
                    .warnings
                    .iter()
                    .any(|w| w.contains("user namespace") && w.contains("uid 65534")),
                "{:#?}",
                report.warnings
            );
        });
    }
);

patest!(
    rules_on_owners_that_cannot_be_applied_are_named_with_their_sockets,
    [Root, Program("ip"), Program("ss"), Program("setpriv")],
    |_| {
        in_namespace(|_| {
            // A server allowed by its executable: root sees it, nobody cannot read it.
            let server = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
            let port = server.local_addr().unwrap().port();
            let dir = util::TempDir::new("owner-rules");
            let policy = dir.path().join("policy.toml");
            let exe = std::env::current_exe().unwrap();
            std::fs::write(
                &policy,
                format!(
                    "[[rule]]\nname = \"our own server\"\nport = {port}\nexe = {:?}\naction = \
                     \"allow\"\n",
                    exe.display().to_string()
                ),
            )
            .unwrap();
            let args = [
                "--json",
                "--no-firewall",
                "--config",
                &policy.display().to_string(),
            ];
            let root = util::run_args(&args);
            assert_eq!(root.code, 0, "{root:#?}");
            let as_root = root.report();
            assert_eq!(as_root.one("tcp", "0.0.0.0", port).verdict, "allowed");
            assert!(as_root.warnings.is_empty(), "{:?}", as_root.warnings);

            // As nobody the rule cannot be applied: the verdict differs, and one warning
            // names the rule and the socket judged without it.
            let (_bin_dir, bin) = util::binary_for_nobody();
            let nobody = run_as(&NOBODY, &bin, &args);
            assert_eq!(nobody.code, 1, "{nobody:#?}");
            let report = nobody.report();
            assert_eq!(report.one("tcp", "0.0.0.0", port).verdict, "exposed");
            let named: Vec<&String> = report
                .warnings
                .iter()
                .filter(|w| w.contains("rules on owners were not applied"))
                .collect();
            assert_eq!(named.len(), 1, "{:#?}", report.warnings);
            assert!(
                named[0].ends_with(&format!(
                    "(\"our own server\") was skipped for 0.0.0.0:{port}/tcp (later rules decided)"
                )),
                "{}",
                named[0]
            );
            assert!(named[0].contains("run as root"), "{}", named[0]);
            drop(server);
        });
    }
);

patest!(
    a_server_that_drops_privileges_shows_whom_it_runs_as,
    [Root, Program("ip"), Program("ss"), Program("python3")],
    |_| {
        in_namespace(|_| {
            // Binds as root, then becomes nobody, as nginx's workers, dnsmasq and unbound
            // do. The namespace is the test's own: a fixed port is free.
            let port = 7777;
            const DROP: &str = "import os, socket, time\n\
                s = socket.socket()\n\
                s.bind(('0.0.0.0', 7777))\n\
                s.listen()\n\
                os.setgid(65534)\n\
                os.setuid(65534)\n\
                print('ready', flush=True)\n\
                time.sleep(600)\n";
            let mut cmd = Command::new("python3");
            cmd.args(["-c", DROP]).stdout(std::process::Stdio::piped());
            let mut server = netns::Child::spawn(&mut cmd);
            server.wait_for_line("ready", std::time::Duration::from_secs(60));
            let run = util::run_args(&["--json", "--no-firewall", "--no-config"]);
            let report = run.report();
            let s = report.one("tcp", "0.0.0.0", port);
            assert_eq!((s.uid(), s.user.as_deref()), (0, Some("root")), "{s:#?}");
            let process = &s.processes[0];
            assert_eq!(process.pid, server.pid());
            assert_eq!(process.uid, Some(65534), "{s:#?}");
            assert_eq!(process.user, util::user_name(65534), "{s:#?}");

            let table = util::run_args(&["--color", "never", "--no-firewall", "--no-config"]);
            let row = table
                .stdout
                .lines()
                .find(|l| l.split_whitespace().nth(2) == Some(&port.to_string()))
                .unwrap_or_else(|| panic!("{table:#?}"));
            let nobody = util::user_name(65534).unwrap();
            assert!(row.contains(&format!(" {nobody} (socket: root) ")), "{row}");
        });
    }
);
