//! systemd units: the unit a socket belongs to, from the cgroup systemd runs each unit in.
//!
//! The kernel remembers the cgroup that created a socket (sock_diag's INET_DIAG_CGROUP_ID,
//! kernel 5.8 and later), so a socket is named by where it was made: a service's socket
//! still held by a process that has since moved, or one systemd made for a `.socket` unit
//! (systemd creates it in that unit's cgroup). The id is the inode number of the cgroup's
//! directory in the cgroup2 hierarchy; one walk of that tree turns ids into paths. Without
//! an id (an older kernel, the /proc/net collector, `--proc-root`), the owners'
//! /proc/PID/cgroup says where they run now.
//!
//! The unit is the innermost path component named like a unit that has a cgroup
//! (`.service`, `.socket`, `.scope`, `.mount`, `.swap`; a `.slice` only groups units):
//! `system.slice/memcached.service` → `memcached.service`, `…/foo.service/worker` →
//! `foo.service`. A container's cgroup (`docker-<id>.scope`, …) names no unit: the
//! `container` field attributes its sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::container;
use crate::socket::{ExecStart, Listener};

/// The unit types that have a cgroup of their own.
const UNIT_SUFFIXES: [&str; 5] = [".service", ".socket", ".scope", ".mount", ".swap"];
/// A cgroup file is a line per hierarchy; anything bigger is not one.
const MAX_CGROUP: u64 = 64 * 1024;
/// /proc/self/mountinfo: a line per mount.
const MAX_MOUNTINFO: u64 = 16 * 1024 * 1024;
/// A unit file or drop-in.
const MAX_UNIT_FILE: u64 = 1024 * 1024;
/// The cgroup tree walk stops here: no real host has that many cgroups.
const MAX_CGROUPS: usize = 1_000_000;
/// Where systemd looks for unit files, first found wins.
const UNIT_DIRS: [&str; 4] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// Fill in each listener's `unit` and, for a `.socket` unit, `unit_service`. `live`:
/// the cgroup ids came from this host's kernel, so its cgroup2 tree can resolve them.
pub fn attribute(proc_root: &Path, live: bool, listeners: &mut [Listener]) {
    let ids: BTreeSet<u64> = listeners
        .iter()
        .filter_map(|l| l.detail.cgroup_id)
        .collect();
    let paths = if live && !ids.is_empty() {
        read_capped(&proc_root.join("self/mountinfo"), MAX_MOUNTINFO)
            .and_then(|text| cgroup2_mount(&String::from_utf8_lossy(&text)))
            .map(|mount| paths_of(&mount, &ids))
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    // Once per cgroup, not per socket: a busy server's sockets share a handful (and
    // share the names too).
    let of_id: BTreeMap<u64, Option<Arc<str>>> = paths
        .iter()
        .map(|(&id, path)| (id, unit_of_path(path).map(Arc::from)))
        .collect();
    let units_root = host_root(proc_root);
    let mut of_pid: BTreeMap<i32, Option<Arc<str>>> = BTreeMap::new();
    let mut services: BTreeMap<Arc<str>, Option<Arc<str>>> = BTreeMap::new();
    let mut commands: BTreeMap<Arc<str>, Option<Arc<ExecStart>>> = BTreeMap::new();
    for listener in listeners.iter_mut() {
        let made_in = listener.detail.cgroup_id.and_then(|id| of_id.get(&id));
        listener.unit = match made_in {
            Some(unit) => unit.clone(),
            None => listener.processes.iter().find_map(|p| {
                of_pid
                    .entry(p.pid)
                    .or_insert_with(|| {
                        let file = proc_root.join(p.pid.to_string()).join("cgroup");
                        let text = read_capped(&file, MAX_CGROUP)?;
                        unit_of_proc_cgroup(&String::from_utf8_lossy(&text)).map(Arc::from)
                    })
                    .clone()
            }),
        };
        if let (Some(unit), Some(root)) = (&listener.unit, units_root.as_deref())
            && unit.ends_with(".socket")
        {
            listener.unit_service = services
                .entry(Arc::clone(unit))
                .or_insert_with(|| service_of(root, unit).map(Arc::from))
                .clone();
        }
        if let (Some(unit), Some(root)) = (&listener.unit, units_root.as_deref())
            && unit.ends_with(".service")
        {
            listener.unit_exec = commands
                .entry(Arc::clone(unit))
                .or_insert_with(|| exec_start_of(root, unit).map(Arc::new))
                .clone();
        }
    }
}

/// The unit a cgroup path names: its innermost unit component; `None` for a path with
/// none, or one inside a container.
pub fn unit_of_path(path: &str) -> Option<&str> {
    if container::parse_cgroup(&format!("0::{path}")).is_some() {
        return None;
    }
    path.split('/').rev().find(|part| {
        UNIT_SUFFIXES
            .iter()
            .any(|suffix| part.len() > suffix.len() && part.ends_with(suffix))
    })
}

/// The unit a /proc/PID/cgroup text names: the cgroup2 line's (`0::PATH`), else the v1
/// systemd hierarchy's (`N:name=systemd:PATH`); `None` inside a container.
pub fn unit_of_proc_cgroup(text: &str) -> Option<String> {
    if container::parse_cgroup(text).is_some() {
        return None;
    }
    let mut v2 = None;
    let mut v1 = None;
    for line in text.lines() {
        // `hierarchy-ID:controllers:path`; the path may itself hold ':'.
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = v2.or(unit_of_path(path));
        } else if controllers.split(',').any(|c| c == "name=systemd") {
            v1 = v1.or(unit_of_path(path));
        }
    }
    v2.or(v1).map(str::to_string)
}

/// Where the cgroup2 (unified) hierarchy is mounted, from /proc/self/mountinfo:
/// /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        if fs.split(' ').next()? != "cgroup2" {
            return None;
        }
        // id parent major:minor root mount-point options…
        let point = mount.split(' ').nth(4)?;
        Some(PathBuf::from(unescape_mountinfo(point)))
    })
}

/// mountinfo writes space, tab, newline and backslash in paths as octal escapes (`\040`).
fn unescape_mountinfo(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup paths (relative to the mount, `/system.slice/x.service`) of the ids: a
/// cgroup's id is its directory's inode number. Ids not found (a cgroup removed since
/// the socket was made) are left out.
pub fn paths_of(mount: &Path, ids: &BTreeSet<u64>) -> BTreeMap<u64, String> {
    let mut found = BTreeMap::new();
    if let Ok(meta) = std::fs::metadata(mount)
        && ids.contains(&meta.ino())
    {
        found.insert(meta.ino(), "/".to_string());
    }
    let mut stack = vec![(mount.to_path_buf(), String::new())];
    let mut visited = 0;
    while let Some((dir, path)) = stack.pop() {
        if found.len() == ids.len() || visited >= MAX_CGROUPS {
            break;
        }
        visited += 1;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let child = format!("{path}/{}", entry.file_name().to_string_lossy());
            if ids.contains(&entry.ino()) {
                found.insert(entry.ino(), child.clone());
            }
            stack.push((entry.path(), child));
        }
    }
    found
}

/// The root whose /etc/systemd/system goes with `proc_root`: `/` for /proc, `X` for a
/// captured `X/proc`; `None` for a proc tree with no host around it.
fn host_root(proc_root: &Path) -> Option<PathBuf> {
    if proc_root == Path::new("/proc") {
        return Some(PathBuf::from("/"));
    }
    (proc_root.file_name()? == "proc").then(|| proc_root.parent().map(Path::to_path_buf))?
}

/// The service a `.socket` unit activates, as its unit file says: `Service=` in the
/// [Socket] section (drop-ins included), else the same name as a `.service`
/// (`name@.service` with `Accept=yes`). `None` when no unit file is found.
pub fn service_of(root: &Path, unit: &str) -> Option<String> {
    let texts = unit_files(root, unit)?;
    let mut service = None;
    let mut accept = false;
    for (_, text) in &texts {
        let (s, a) = socket_section(&String::from_utf8_lossy(text));
        service = s.or(service);
        accept = a.unwrap_or(accept);
    }
    let stem = unit.strip_suffix(".socket")?;
    Some(service.unwrap_or_else(|| {
        if accept {
            format!("{stem}@.service")
        } else {
            format!("{stem}.service")
        }
    }))
}

/// A unit's files in the order systemd reads them: the unit file (an instance's
/// template when the instance has none of its own), then its drop-ins by name across
/// the directories, the first directory's copy of a name winning. `None` when no unit
/// file is found.
fn unit_files(root: &Path, unit: &str) -> Option<Vec<(PathBuf, Vec<u8>)>> {
    // `name@instance.service` → `name@.service`.
    let template = unit
        .split_once('@')
        .and_then(|(name, rest)| Some(format!("{name}@.{}", rest.rsplit_once('.')?.1)));
    let names: Vec<&str> = std::iter::once(unit).chain(template.as_deref()).collect();
    let main = names.iter().find_map(|name| {
        UNIT_DIRS
            .iter()
            .map(|dir| root.join(dir).join(name))
            .find(|file| file.is_file())
    })?;
    let mut files = vec![(main.clone(), read_capped(&main, MAX_UNIT_FILE)?)];
    let mut drop_ins: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    for name in names.iter().rev() {
        for dir in UNIT_DIRS {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(format!("{name}.d"))) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".conf") {
                    drop_ins.entry(entry.file_name()).or_insert(entry.path());
                }
            }
        }
    }
    files.extend(
        drop_ins
            .into_values()
            .filter_map(|file| Some((file.clone(), read_capped(&file, MAX_UNIT_FILE)?))),
    );
    Some(files)
}

/// A `.service` unit's command: the last `ExecStart=` of its files, where an empty one
/// clears those before it (as a drop-in must, to replace it). `None` when no unit file
/// is found or none sets it.
pub fn exec_start_of(root: &Path, unit: &str) -> Option<ExecStart> {
    let mut found = None;
    for (file, text) in unit_files(root, unit)? {
        let mut in_service = false;
        let text = String::from_utf8_lossy(&text);
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let line = line.trim();
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            let Some(value) = line.strip_prefix("ExecStart=").filter(|_| in_service) else {
                continue;
            };
            // A line ending in a backslash goes on.
            let mut command = value.to_string();
            while command.ends_with('\\') {
                command.pop();
                command.push(' ');
                command.push_str(lines.next().unwrap_or_default().trim());
            }
            // `-`, `@`, `:`, `+`, `!` prefixes say how to run it, not what.
            let command = command.trim_start_matches(['-', '@', ':', '+', '!']).trim();
            found = (!command.is_empty()).then(|| ExecStart {
                command: command.to_string(),
                file: file.clone(),
            });
        }
    }
    found
}

/// `Service=` and `Accept=` of a unit file's [Socket] section; `None` where not set.
pub fn socket_section(text: &str) -> (Option<String>, Option<bool>) {
    let mut in_socket = false;
    let mut service = None;
    let mut accept = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_socket = line == "[Socket]";
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| in_socket) else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Service" if value.is_empty() => service = None,
            "Service" => service = Some(value.to_string()),
            "Accept" => accept = Some(matches!(value, "yes" | "true" | "on" | "1")),
            _ => {}
        }
    }
    (service, accept)
}

fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdir::TempDir;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_innermost_unit_of_a_path() {
        for (path, unit) in [
            ("/system.slice/memcached.service", Some("memcached.service")),
            (
                "/user.slice/user-1000.slice/session-2.scope",
                Some("session-2.scope"),
            ),
            ("/system.slice/foo.service/worker", Some("foo.service")),
            ("/system.slice/ssh.socket", Some("ssh.socket")),
            ("/init.scope", Some("init.scope")),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope",
                Some("app-x.scope"),
            ),
            ("/system.slice", None),
            ("/", None),
            ("/.service", None),
        ] {
            assert_eq!(unit_of_path(path), unit, "{path}");
        }
    }

    #[test]
    fn a_container_names_no_unit() {
        let path = format!("/system.slice/docker-{ID}.scope");
        assert_eq!(unit_of_path(&path), None);
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(unit_of_proc_cgroup(&text), None);
        let v1 = format!("1:name=systemd:/docker/{ID}\n0::/\n");
        assert_eq!(unit_of_proc_cgroup(&v1), None);
    }

    #[test]
    fn proc_cgroup_prefers_the_unified_line_then_systemd_v1() {
        let v2 = "0::/system.slice/redis-server.service\n";
        assert_eq!(
            unit_of_proc_cgroup(v2).as_deref(),
            Some("redis-server.service")
        );
        let v1 = "12:pids:/\n1:name=systemd:/system.slice/nginx.service\n0::/\n";
        assert_eq!(unit_of_proc_cgroup(v1).as_deref(), Some("nginx.service"));
        let hybrid = "1:name=systemd:/system.slice/a.service\n0::/system.slice/b.service\n";
        assert_eq!(unit_of_proc_cgroup(hybrid).as_deref(), Some("b.service"));
        assert_eq!(unit_of_proc_cgroup("4:memory:/x.service\n0::/\n"), None);
        assert_eq!(unit_of_proc_cgroup("garbage"), None);
    }

    #[test]
    fn the_cgroup2_mount_on_unified_and_hybrid_hosts() {
        let unified = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let hybrid = "31 23 0:28 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n\
                      40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let escaped = "41 31 0:38 / /mnt/my\\040cgroups rw shared:5 - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mount(escaped),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
        assert_eq!(
            cgroup2_mount("40 31 0:37 / /sys/fs/cgroup/x rw - cgroup cgroup rw\n"),
            None
        );
    }

    #[test]
    fn ids_are_directory_inodes() {
        let dir = TempDir::new("cgroup-walk");
        let service = dir.0.as_path().join("system.slice/memcached.service");
        std::fs::create_dir_all(&service).unwrap();
        let ino = std::fs::metadata(&service).unwrap().ino();
        let root = std::fs::metadata(dir.0.as_path()).unwrap().ino();
        let ids = BTreeSet::from([ino, root, 1]);
        let paths = paths_of(dir.0.as_path(), &ids);
        assert_eq!(
            paths.get(&ino).map(String::as_str),
            Some("/system.slice/memcached.service")
        );
        assert_eq!(paths.get(&root).map(String::as_str), Some("/"));
        assert!(!paths.contains_key(&1) || root == 1);
    }

    #[test]
    fn a_socket_unit_names_its_service() {
        let dir = TempDir::new("socket-units");
        let etc = dir.0.as_path().join("etc/systemd/system");
        let lib = dir.0.as_path().join("lib/systemd/system");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(lib.join("ssh.socket.d")).unwrap();
        std::fs::write(
            lib.join("ssh.socket"),
            "[Unit]\nService=not-this\n[Socket]\nListenStream=22\nAccept=no\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("cups.socket"),
            "[Socket]\nListenStream=631\nService=cups-daemon.service\n",
        )
        .unwrap();
        std::fs::write(lib.join("sshd.socket"), "[Socket]\nAccept=yes\n").unwrap();
        assert_eq!(
            service_of(dir.0.as_path(), "ssh.socket").as_deref(),
            Some("ssh.service")
        );
        assert_eq!(
            service_of(dir.0.as_path(), "cups.socket").as_deref(),
            Some("cups-daemon.service")
        );
        assert_eq!(
            service_of(dir.0.as_path(), "sshd.socket").as_deref(),
            Some("sshd@.service")
        );
        assert_eq!(service_of(dir.0.as_path(), "gone.socket"), None);
        // A drop-in overrides.
        std::fs::write(
            lib.join("ssh.socket.d/override.conf"),
            "[Socket]\nService=openssh.service\n",
        )
        .unwrap();
        assert_eq!(
            service_of(dir.0.as_path(), "ssh.socket").as_deref(),
            Some("openssh.service")
        );
    }

    #[test]
    fn a_services_command_is_its_last_exec_start_drop_ins_included() {
        let dir = TempDir::new("exec-start");
        let root = dir.0.as_path();
        let lib = root.join("lib/systemd/system");
        let etc = root.join("etc/systemd/system");
        std::fs::create_dir_all(lib.join("memcached.service.d")).unwrap();
        std::fs::create_dir_all(etc.join("memcached.service.d")).unwrap();
        std::fs::write(
            lib.join("memcached.service"),
            "[Unit]\nExecStart=not-this\n[Service]\nExecStart=/usr/share/memcached/scripts/\
             systemd-memcached-wrapper /etc/memcached.conf\n",
        )
        .unwrap();
        let wrapper = exec_start_of(root, "memcached.service").unwrap();
        assert_eq!(
            wrapper.command,
            "/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf"
        );
        assert_eq!(wrapper.file, lib.join("memcached.service"));
        // `systemctl edit`: an empty ExecStart= clears it, the next one replaces it.
        let drop_in = etc.join("memcached.service.d/override.conf");
        std::fs::write(
            &drop_in,
            "[Service]\nExecStart=\nExecStart=-/usr/bin/memcached -u memcache \\\n  -l 0.0.0.0\n",
        )
        .unwrap();
        let edited = exec_start_of(root, "memcached.service").unwrap();
        assert_eq!(edited.command, "/usr/bin/memcached -u memcache  -l 0.0.0.0");
        assert_eq!(edited.file, drop_in);
        // An instance reads its template's file; none at all: unknown.
        std::fs::write(
            lib.join("redis-server@.service"),
            "[Service]\nExecStart=/usr/bin/redis-server /etc/redis/redis-%i.conf\n",
        )
        .unwrap();
        let instance = exec_start_of(root, "redis-server@cache.service").unwrap();
        assert_eq!(
            instance.command,
            "/usr/bin/redis-server /etc/redis/redis-%i.conf"
        );
        assert_eq!(exec_start_of(root, "gone.service"), None);
    }

    #[test]
    fn unit_files_belong_to_the_proc_roots_host() {
        assert_eq!(host_root(Path::new("/proc")), Some(PathBuf::from("/")));
        assert_eq!(
            host_root(Path::new("/captures/web1/proc")),
            Some(PathBuf::from("/captures/web1"))
        );
        assert_eq!(host_root(Path::new("/captures/web1/tree")), None);
    }
}
