//! Names chosen by whoever starts a process or creates a user: escape sequences, bidi
//! overrides, invisible characters and bytes that are not UTF-8 must never reach the
//! terminal as themselves, and JSON must carry them intact.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use crate::netns::{self, Child};
use crate::util::{self, TempDir, fixture};

/// A user name with an escape sequence, a bidi override and a zero-width space, and one
/// that is not UTF-8.
const HOSTILE_USER: &[u8] = b"ev\x1b[31mil\xe2\x80\xaeroot\xe2\x80\x8b";
const BINARY_USER: &[u8] = b"bad\xffname";

patest!(
    hostile_user_names_are_escaped_in_the_table_and_kept_in_json,
    [Root, Program("unshare")],
    |_| {
        // The `clean` tree with its sockets given to two uids of our own...
        let dir = TempDir::new("hostile-users");
        let proc_root = dir.path().join("proc");
        util::copy_tree(&fixture("clean").join("proc"), &proc_root);
        let tcp = proc_root.join("net/tcp");
        let text = std::fs::read_to_string(&tcp).unwrap();
        let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
        for (line, uid) in lines.iter_mut().skip(1).zip(["4242", "4243"]) {
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            fields[7] = uid;
            *line = fields.join(" ");
        }
        std::fs::write(&tcp, lines.join("\n")).unwrap();
        // ...and a user database that names them, seen only by this one run.
        let mut passwd = std::fs::read("/etc/passwd").unwrap();
        for (name, uid) in [(HOSTILE_USER, 4242), (BINARY_USER, 4243)] {
            passwd.extend_from_slice(name);
            passwd
                .extend_from_slice(format!(":x:{uid}:{uid}::/nonexistent:/bin/false\n").as_bytes());
        }
        let fake = dir.path().join("passwd");
        std::fs::write(&fake, passwd).unwrap();

        let run = |args: &[&str]| {
            let mut cmd = Command::new("unshare");
            cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg("mount --bind \"$0\" /etc/passwd && exec \"$@\"")
                .arg(&fake)
                .arg(util::bin())
                .args(args)
                .arg("--proc-root")
                .arg(&proc_root)
                .env_remove("NO_COLOR");
            util::run(&mut cmd)
        };

        let json = run(&["--json"]);
        let report = json.report();
        let named: Vec<_> = report
            .sockets
            .iter()
            .filter(|s| s.uid() == 4242 || s.uid() == 4243)
            .collect();
        assert_eq!(named.len(), 2, "{report:#?}");
        for s in named {
            let (expected, bytes) = match s.uid() {
                4242 => (HOSTILE_USER, None),
                _ => (BINARY_USER, Some(BINARY_USER.to_vec())),
            };
            assert_eq!(s.user.as_deref(), Some(&*String::from_utf8_lossy(expected)));
            assert_eq!(
                s.user_bytes, bytes,
                "the original bytes, only when not UTF-8"
            );
        }

        let table = run(&["--color", "never"]);
        assert_eq!(table.code, 0, "{table:#?}");
        assert!(
            table.stdout.contains("ev\\x1b[31mil\\u{202e}root\\u{200b}"),
            "{}",
            table.stdout
        );
        assert!(table.stdout.contains("bad\\xffname"), "{}", table.stdout);
        for bad in ['\x1b', '\u{202e}', '\u{200b}', '\u{fffd}'] {
            assert!(
                !table.stdout.contains(bad),
                "{bad:?} reached the terminal:\n{}",
                table.stdout
            );
        }
    }
);

patest!(
    an_executable_path_that_is_not_utf8_is_kept_as_bytes,
    [Program("sleep")],
    |_| {
        let dir = TempDir::new("binary-exe");
        let exe = dir.path().join(OsStr::from_bytes(b"sl\xffe\x1bep"));
        std::fs::copy(util::program_path("sleep"), &exe).unwrap();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let fd = listener.as_raw_fd();
        let mut cmd = Command::new(&exe);
        cmd.arg("30").stdin(Stdio::null()).stdout(Stdio::null());
        util::inherit_as_fd3(&mut cmd, fd);
        let mut child = Child::spawn(&mut cmd);
        child.assert_running();
        let run = util::run_args(&["--json"]);
        let report = run.report();
        let socket = report.one("tcp", "127.0.0.1", port);
        let held = socket
            .processes
            .iter()
            .find(|p| p.pid == child.pid())
            .unwrap_or_else(|| panic!("{socket:#?}"));
        let path = std::fs::canonicalize(&exe).unwrap();
        assert_eq!(held.exe_bytes.as_deref(), Some(path.as_os_str().as_bytes()));
        assert_eq!(held.exe.as_deref(), Some(&*path.to_string_lossy()));
        // The name is the file's, cut to 15 bytes by the kernel: escaped in the table.
        let table = util::run_args(&["--color", "never"]);
        let row = table
            .stdout
            .lines()
            .find(|l| l.contains(&format!(" {port} ")))
            .unwrap();
        assert!(row.contains("sl\\xffe\\x1bep"), "{row}");
    }
);
