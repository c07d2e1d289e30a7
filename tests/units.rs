//! Naming the service: the systemd unit whose cgroup made a socket, and the kernel
//! facility holding a socket no process holds.
//!
//! The live tests (root) make cgroups of their own under the cgroup2 mount, named like
//! systemd's units, and start a real memcached in them, each in a network namespace of
//! its own; a VXLAN device in a namespace gives a kernel-held socket. Every cgroup, file
//! and namespace is removed by a guard, even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::netns::{self, Child, Need, NetNs};
use crate::util::{self, Report, Run, TempDir};

const PORT: u16 = 11211;
const STARTUP: Duration = Duration::from_secs(10);

/// A name no other test run uses: `portaudit-test-<pid>-<n>-<label>`.
fn unique(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("portaudit-test-{}-{n}-{label}", std::process::id())
}

/// A cgroup we made (with the parents that were missing); on drop any process still in
/// it is moved to the root cgroup, then the directories we made are removed.
struct Cgroup {
    root: PathBuf,
    path: PathBuf,
    made: Vec<PathBuf>,
}

impl Cgroup {
    /// `relative` under the cgroup2 mount; it must not exist yet.
    fn create(root: &Path, relative: &str) -> Cgroup {
        Cgroup::try_create(root, relative)
            .unwrap_or_else(|| panic!("{}/{relative} exists already", root.display()))
    }

    /// `relative` under the cgroup2 mount, or `None` when it exists already (the host
    /// runs a unit of that name, or another test run made it first).
    fn try_create(root: &Path, relative: &str) -> Option<Cgroup> {
        let mut cgroup = Cgroup {
            root: root.to_path_buf(),
            path: root.join(relative),
            made: Vec::new(),
        };
        let mut dir = root.to_path_buf();
        let parts: Vec<_> = Path::new(relative).components().collect();
        for (i, part) in parts.iter().enumerate() {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => cgroup.made.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if i + 1 == parts.len() {
                        return None;
                    }
                }
                Err(e) => panic!("mkdir {}: {e}", dir.display()),
            }
        }
        Some(cgroup)
    }

    fn procs(&self) -> PathBuf {
        self.path.join("cgroup.procs")
    }

    /// Move process `pid` (and its threads) into this cgroup.
    fn adopt(&self, pid: i32) {
        std::fs::write(self.procs(), pid.to_string())
            .unwrap_or_else(|e| panic!("move {pid} to {}: {e}", self.path.display()));
    }

    /// The unit name this cgroup stands for: its last component.
    fn unit(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            // Only our own children can be in a cgroup we made; they are normally killed
            // already, but a survivor must not keep the directory.
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
            if let Err(e) = std::fs::remove_dir(dir) {
                eprintln!("warning: cannot remove cgroup {}: {e}", dir.display());
            }
        }
    }
}

/// A file we wrote (with the directories that were missing), removed on drop.
struct Written {
    file: PathBuf,
    made: Vec<PathBuf>,
}

impl Written {
    fn new(file: &Path, text: &str) -> Written {
        let mut made = Vec::new();
        let mut missing: Vec<&Path> = file
            .ancestors()
            .skip(1)
            .take_while(|d| !d.exists())
            .collect();
        missing.reverse();
        for dir in missing {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            made.push(dir.to_path_buf());
        }
        let written = Written {
            file: file.to_path_buf(),
            made,
        };
        std::fs::write(file, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        written
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        for dir in self.made.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The live cgroup tests share system.slice, which the first may have to make and the
/// last removes: one at a time, so neither removes it under the other.
static SYSTEM_SLICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the cgroup tests need: root, ip, memcached and a cgroup2 mount.
const CGROUP_LAB: [Need; 4] = [
    Need::Root,
    Need::Program("ip"),
    Need::Program("memcached"),
    Need::Cgroup2,
];

/// The cgroup2 mount, which the test has required.
fn cgroup2_mount() -> PathBuf {
    netns::cgroup2_mount().expect("the test requires Need::Cgroup2")
}

/// memcached on 127.0.0.1:11211 (tcp and udp) inside `ns`, started inside `cgroup`:
/// the shell moves itself there before it execs `ip netns exec` (which hides /sys/fs/cgroup
/// behind a fresh sysfs), so memcached is born in the cgroup.
fn start_memcached(ns: &NetNs, cgroup: &Cgroup) -> Child {
    let port = PORT.to_string();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo $$ > \"$0\" && exec \"$@\""])
        .arg(cgroup.procs())
        .args(["ip", "netns", "exec", ns.name(), "memcached"])
        .args(["-l", "127.0.0.1", "-U", &port, "-p", &port, "-u", "nobody"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut memcached = Child::spawn(&mut cmd);
    memcached.wait_for_comm("memcached", STARTUP);
    netns::wait_until("memcached to listen", STARTUP, || {
        memcached.assert_running();
        let report = audit(ns).report();
        let up = !report.find("tcp", "127.0.0.1", PORT).is_empty()
            && !report.find("udp", "127.0.0.1", PORT).is_empty();
        up.then_some(())
    });
    memcached
}

/// `portaudit --json --netns NAME`, run from the host's namespace (and so its mounts,
/// where the cgroup2 tree is).
fn audit(ns: &NetNs) -> Run {
    util::run_args(&["--json", "--netns", ns.name()])
}

/// The report's memcached sockets, each asserted to be held by `memcached`.
fn memcached_sockets<'a>(report: &'a Report, memcached: &Child) -> Vec<&'a util::Socket> {
    let sockets: Vec<_> = ["tcp", "udp"]
        .iter()
        .map(|protocol| report.one(protocol, "127.0.0.1", PORT))
        .collect();
    for s in &sockets {
        assert!(
            s.processes.iter().any(|p| p.pid == memcached.pid()),
            "memcached (pid {}) should hold {s:#?}",
            memcached.pid()
        );
    }
    sockets
}

patest!(a_service_is_named_by_its_unit, CGROUP_LAB, |_| {
    let mount = cgroup2_mount();
    // Held to the end: the guards below drop first.
    let _one_at_a_time = SYSTEM_SLICE.lock().unwrap_or_else(|e| e.into_inner());
    // Locals drop in reverse order: memcached is killed, then its cgroup removed.
    // The unit's real name, unless this host (or a parallel run) has it already.
    let cgroup =
        Cgroup::try_create(&mount, "system.slice/memcached.service").unwrap_or_else(|| {
            Cgroup::create(
                &mount,
                &format!("system.slice/{}", unique("memcached.service")),
            )
        });
    let name = cgroup.unit();
    let ns = NetNs::new();
    let memcached = start_memcached(&ns, &cgroup);

    let run = audit(&ns);
    let report = run.report();
    for s in memcached_sockets(&report, &memcached) {
        assert_eq!(s.unit.as_deref(), Some(name.as_str()), "{s:#?}");
        assert_eq!(s.unit_service, None, "{s:#?}");
        assert_eq!(s.kernel, None, "{s:#?}");
    }

    // The table names the unit beside the process (after `+?` when some processes could
    // not be examined, as root cannot pid 1's fds in some sandboxes).
    let partial = memcached_sockets(&report, &memcached)
        .iter()
        .any(|s| !s.processes_complete);
    let mark = if partial { " +?" } else { "" };
    let run = util::run_args(&["--color", "never", "--netns", ns.name()]);
    let want = format!("{}/memcached{mark} ({name})", memcached.pid());
    assert!(
        run.stdout.contains(&want),
        "no {want:?} in:\n{}",
        run.stdout
    );
});

patest!(
    a_socket_unit_is_named_by_where_the_socket_was_made,
    CGROUP_LAB,
    |_| {
        let mount = cgroup2_mount();
        // Held to the end: the guards below drop first.
        let _one_at_a_time = SYSTEM_SLICE.lock().unwrap_or_else(|e| e.into_inner());
        let made_in = Cgroup::create(&mount, &format!("system.slice/{}", unique("pa.socket")));
        let moved_to = Cgroup::create(
            &mount,
            &format!("system.slice/{}", unique("holder.service")),
        );
        let socket_unit = made_in.unit();
        let service = unique("activated.service");
        // Its unit file says which service it activates (only read: systemd is not told).
        let _unit_file = Written::new(
            &Path::new("/etc/systemd/system").join(&socket_unit),
            &format!("[Socket]\nListenStream=127.0.0.1:{PORT}\nService={service}\n"),
        );
        let ns = NetNs::new();
        let memcached = start_memcached(&ns, &made_in);

        // The holder moves on, as a service started by systemd runs elsewhere than where
        // its socket was made: its own cgroup now names the other unit.
        moved_to.adopt(memcached.pid());
        let now = std::fs::read_to_string(format!("/proc/{}/cgroup", memcached.pid())).unwrap();
        assert!(now.contains(&moved_to.unit()), "{now}");

        let report = audit(&ns).report();
        for s in memcached_sockets(&report, &memcached) {
            assert_eq!(s.unit.as_deref(), Some(socket_unit.as_str()), "{s:#?}");
            assert_eq!(s.unit_service.as_deref(), Some(service.as_str()), "{s:#?}");
        }
    }
);

patest!(
    a_vxlan_port_is_named_by_its_device,
    [Root, Program("ip")],
    |_| {
        let ns = NetNs::new();
        ns.ip(&[
            "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789", "dev", "lo",
        ]);
        // The kernel opens the port when the device comes up.
        ns.ip(&["link", "set", "vx0", "up"]);

        let run = util::run(&mut ns.exec(util::bin(), ["--json"]));
        let report = run.report();
        let vxlan: Vec<_> = report
            .sockets
            .iter()
            .filter(|s| s.protocol == "udp" && s.port == 4789)
            .collect();
        assert!(!vxlan.is_empty(), "no udp 4789 socket:\n{report:#?}");
        for s in vxlan {
            assert!(s.processes.is_empty(), "{s:#?}");
            assert_eq!(s.kernel.as_deref(), Some("vxlan vx0"), "{s:#?}");
        }
        // Named, it is no longer a socket with no owner to warn about.
        assert!(
            !report
                .warnings
                .iter()
                .any(|w| w.contains("no owning process")),
            "{:#?}",
            report.warnings
        );

        let run = util::run(&mut ns.exec(util::bin(), ["--color", "never"]));
        let row = run
            .stdout
            .lines()
            .find(|line| line.contains("4789"))
            .unwrap_or_else(|| panic!("no 4789 row:\n{}", run.stdout));
        assert!(row.contains("kernel: vxlan vx0"), "{row:?}");
    }
);

patest!(
    each_namespaces_tunnel_ports_are_named_by_its_own_devices,
    [Root, Program("ip")],
    |_| {
        // Audited from outside: the other namespaces' devices are read from inside them
        // (a few workers entering each in turn). Two namespaces, a port each, and the
        // other's port unclaimed in each: a mix-up would name the wrong device.
        let a = NetNs::new();
        let b = NetNs::new();
        for (ns, device, port, id) in [(&a, "vxa", "4789", "42"), (&b, "vxb", "4790", "43")] {
            ns.ip(&[
                "link", "add", device, "type", "vxlan", "id", id, "dstport", port, "dev", "lo",
            ]);
            ns.ip(&["link", "set", device, "up"]);
        }
        let run = util::run_args(&["--all-netns", "--json"]);
        let report = run.report();
        let tunnel = |ns: &NetNs, port: u16| {
            let found: Vec<_> = report
                .sockets
                .iter()
                .filter(|s| s.netns_name() == Some(ns.name()) && s.protocol == "udp")
                .filter(|s| s.port == port)
                .collect();
            assert!(
                !found.is_empty(),
                "no udp {port} in {}:\n{run:#?}",
                ns.name()
            );
            found
        };
        for (ns, port, device) in [(&a, 4789, "vxlan vxa"), (&b, 4790, "vxlan vxb")] {
            for s in tunnel(ns, port) {
                assert!(s.processes.is_empty(), "{s:#?}");
                assert_eq!(s.kernel.as_deref(), Some(device), "{s:#?}");
            }
        }
    }
);

/// The memcached fixture's proc tree, with `cgroup` as its process's /proc/PID/cgroup.
fn memcached_tree(cgroup: &str) -> (TempDir, String) {
    let dir = TempDir::new("units");
    let proc_root = dir.path().join("proc");
    util::copy_tree(&util::fixture("memcached").join("proc"), &proc_root);
    std::fs::write(proc_root.join("7001/cgroup"), cgroup).unwrap();
    let root = proc_root.display().to_string();
    (dir, root)
}

#[test]
fn proc_root_reads_the_owners_cgroup_files() {
    for (cgroup, unit) in [
        (
            "0::/system.slice/memcached.service\n",
            Some("memcached.service"),
        ),
        (
            "12:pids:/\n1:name=systemd:/system.slice/memcached.service\n0::/\n",
            Some("memcached.service"),
        ),
        (
            "0::/user.slice/user-1000.slice/session-2.scope\n",
            Some("session-2.scope"),
        ),
        (
            "0::/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope\n",
            None,
        ),
        ("0::/\n", None),
    ] {
        let (_dir, root) = memcached_tree(cgroup);
        let report = util::run_args(&["--json", "--proc-root", &root]).report();
        for protocol in ["tcp", "udp"] {
            let s = report.one(protocol, "0.0.0.0", PORT);
            assert_eq!(s.unit.as_deref(), unit, "{cgroup:?}: {s:#?}");
            assert_eq!(s.unit_service, None);
        }
    }
}

#[test]
fn proc_root_names_a_socket_units_service_from_its_host() {
    // A captured host: its proc tree and, beside it, its unit files.
    let (dir, root) = memcached_tree("0::/system.slice/memcached.socket\n");
    let units = dir.path().join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join("memcached.socket"),
        "[Socket]\nListenStream=11211\n",
    )
    .unwrap();
    let report = util::run_args(&["--json", "--proc-root", &root]).report();
    let s = report.one("tcp", "0.0.0.0", PORT);
    assert_eq!(s.unit.as_deref(), Some("memcached.socket"));
    assert_eq!(s.unit_service.as_deref(), Some("memcached.service"));

    let run = util::run_args(&["--color", "never", "--proc-root", &root]);
    assert!(
        run.stdout
            .contains("7001/memcached (memcached.socket for memcached.service)"),
        "{}",
        run.stdout
    );
}

#[test]
fn proc_root_names_nfsd_from_its_portlist() {
    // No process holds the sockets any more; nfsd's portlist claims the tcp one.
    let (dir, root) = memcached_tree("0::/\n");
    std::fs::remove_dir_all(dir.path().join("proc/7001")).unwrap();
    std::fs::create_dir_all(dir.path().join("proc/fs/nfsd")).unwrap();
    std::fs::write(dir.path().join("proc/fs/nfsd/portlist"), "tcp 11211\n").unwrap();
    let report = util::run_args(&["--json", "--proc-root", &root]).report();
    let tcp = report.one("tcp", "0.0.0.0", PORT);
    let udp = report.one("udp", "0.0.0.0", PORT);
    assert!(
        tcp.processes.is_empty() && tcp.processes_complete,
        "{tcp:#?}"
    );
    assert_eq!(tcp.kernel.as_deref(), Some("nfsd"), "{tcp:#?}");
    assert_eq!(udp.kernel, None, "{udp:#?}");
    // The one nobody can name is still warned about.
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("1 listening socket has no owning process")),
        "{:#?}",
        report.warnings
    );
}
