//! Containers: which runtime and container a process belongs to, from its cgroup path
//! (docker, containerd, podman, cri-o, kubepods, lxc), and the container's name where
//! the runtime's state on disk gives it. Never talks to a daemon.
//!
//! The cgroup a runtime puts a container in names it (`/proc/PID/cgroup`, one line per
//! v1 hierarchy or a single `0::PATH` line on v2). The component we recognise, innermost
//! first (docker-in-docker names the outer container too):
//!
//! | runtime      | cgroupfs driver                     | systemd driver                  |
//! |--------------|-------------------------------------|---------------------------------|
//! | `docker`     | `/docker/<id>`                      | `docker-<id>.scope`             |
//! | `containerd` | `/default/<id>` (`ctr`, `nerdctl`)  | `nerdctl-<id>.scope`, `cri-containerd-<id>.scope` |
//! | `cri-o`      |                                     | `crio-<id>.scope`               |
//! | `podman`     | `/libpod_parent/libpod-<id>`        | `libpod-<id>.scope` (`…/container` below it) |
//! | `kubepods`   | `/kubepods/<qos>/pod<uid>/<id>`     |                                 |
//! | `lxc`        | `/lxc/<name>`                       | `lxc.payload.<name>`            |
//!
//! `<id>` is 64 lowercase hex digits. A Kubernetes pod's container is reported with its
//! engine as runtime (`containerd`, `cri-o`, `docker`): the id is the engine's, the one
//! `crictl ps` or `docker ps` shows. Only kubelet's cgroupfs driver leaves the engine
//! unnamed (`/kubepods/burstable/pod<uid>/<id>`); then the runtime is `kubepods`. The
//! runtimes' own helpers are not containers: podman's `libpod-conmon-<id>.scope`, cri-o's
//! `crio-conmon-<id>.scope`, LXC's `lxc.monitor.<name>`. For LXC the id is the name.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::Container;

/// A cgroup file is a line per hierarchy; anything bigger is not one.
const MAX_CGROUP: u64 = 64 * 1024;
/// docker's config.v2.json of one container: a few KiB, more with many mounts or env.
const MAX_DOCKER_CONFIG: u64 = 8 * 1024 * 1024;
/// podman's containers.json lists every container of the host.
const MAX_PODMAN_CONTAINERS: u64 = 64 * 1024 * 1024;

/// The container process `pid` runs in, if any.
pub fn of_pid(proc_root: &Path, pid: i32) -> Option<Container> {
    of_pid_in(proc_root, pid, Path::new("/"))
}

/// [`of_pid`] with the runtimes' state (`var/lib/docker`, …) looked up under `state_root`.
fn of_pid_in(proc_root: &Path, pid: i32, state_root: &Path) -> Option<Container> {
    let cgroup = read_capped(&proc_root.join(pid.to_string()).join("cgroup"), MAX_CGROUP)?;
    let (runtime, id) = parse_cgroup(&String::from_utf8_lossy(&cgroup))?;
    let name = name_of(&runtime, &id, state_root);
    Some(Container { runtime, id, name })
}

/// The runtime and container id a `/proc/PID/cgroup` text names, if any: the innermost
/// container component of any line (the deepest one).
pub fn parse_cgroup(text: &str) -> Option<(String, String)> {
    let mut best: Option<(usize, &'static str, &str)> = None;
    for line in text.lines() {
        // `hierarchy-ID:controllers:path`; the path may itself hold ':'.
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(_), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let found = (0..parts.len())
            .rev()
            .find_map(|i| component(&parts, i).map(|(runtime, id)| (i, runtime, id)));
        if let Some(found) = found
            && best.is_none_or(|(depth, _, _)| found.0 > depth)
        {
            best = Some(found);
        }
    }
    best.map(|(_, runtime, id)| (runtime.to_string(), id.to_string()))
}

/// Whether `parts[i]` is a container's cgroup, and whose.
fn component<'a>(parts: &[&'a str], i: usize) -> Option<(&'static str, &'a str)> {
    let part = parts[i];
    let parent = i.checked_sub(1).map(|p| parts[p]);
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return (!name.is_empty()).then_some(("lxc", name));
    }
    if parent == Some("lxc") {
        return Some(("lxc", part));
    }
    if let Some(scope) = part.strip_suffix(".scope") {
        const SCOPES: [(&str, &str); 5] = [
            ("docker-", "docker"),
            ("cri-containerd-", "containerd"),
            ("nerdctl-", "containerd"),
            ("crio-", "cri-o"),
            ("libpod-", "podman"),
        ];
        return SCOPES.iter().find_map(|&(prefix, runtime)| {
            scope
                .strip_prefix(prefix)
                .filter(|id| is_id(id))
                .map(|id| (runtime, id))
        });
    }
    if let Some(id) = part.strip_prefix("libpod-") {
        return is_id(id).then_some(("podman", id));
    }
    if !is_id(part) {
        return None;
    }
    match parent {
        Some("docker") => Some(("docker", part)),
        // containerd's default namespace, where `ctr run` and `nerdctl run` put them.
        Some("default") => Some(("containerd", part)),
        _ if parts[..i].contains(&"kubepods") => Some(("kubepods", part)),
        _ => None,
    }
}

/// A container id as docker, containerd, cri-o and podman make them.
fn is_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The container's name from the runtime's state on disk; `None` when the runtime keeps
/// none we can read, or the file is missing, too big or not what we expect.
fn name_of(runtime: &str, id: &str, state_root: &Path) -> Option<String> {
    let name = match runtime {
        "docker" => {
            let path = state_root.join(format!("var/lib/docker/containers/{id}/config.v2.json"));
            docker_name(&read_capped(&path, MAX_DOCKER_CONFIG)?)?
        }
        "podman" => {
            let path =
                state_root.join("var/lib/containers/storage/overlay-containers/containers.json");
            podman_name(&read_capped(&path, MAX_PODMAN_CONTAINERS)?, id)?
        }
        "lxc" => id.to_string(),
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

/// The name in Docker's `config.v2.json` of a container.
pub fn docker_name(config: &[u8]) -> Option<String> {
    // An object, not a struct: serde would take a struct from a JSON array too.
    let config: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(config).ok()?;
    // Docker keeps the name as a path in its name tree: "/web".
    let name = config.get("Name")?.as_str()?;
    Some(name.strip_prefix('/').unwrap_or(name).to_string())
}

/// The first name of container `id` in podman's `containers.json`.
pub fn podman_name(containers: &[u8], id: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Entry {
        id: String,
        #[serde(default)]
        names: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(containers).ok()?;
    entries
        .into_iter()
        .find(|e| e.id == id)?
        .names
        .into_iter()
        .next()
}

/// The file's bytes, or `None` when it cannot be read or is bigger than `max`.
fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}

#[cfg(test)]
mod tests {
    //! The cgroup paths below follow each runtime's documented layout: Docker's "Runtime
    //! metrics" page (`/docker/<id>` with cgroupfs, `docker-<id>.scope` with systemd),
    //! Kubernetes' "Configuring a cgroup driver" page (kubelet's `kubepods-…-pod<uid>.slice`
    //! slices, the engines' `cri-containerd-`/`crio-` scopes), podman's `libpod-<id>.scope`
    //! with `libpod-conmon-<id>.scope` beside it, and LXC 4.0's `lxc.payload.<name>` /
    //! `lxc.monitor.<name>` split. The ids are made up; the shapes are the runtimes'.

    use super::*;
    use crate::collect::testdir::TempDir;

    const ID: &str = "3b2e9a51c0d84f7e96a1b5c27d3e8f40a6c91d7e25b84f03c6d19e7a82f5b40c";
    const ID2: &str = "e07c4d2a91b35f86c2d0a7e4b19f53c68a2e7d0f41b96c35e8a07d12f4c9b6e3";

    fn parsed(text: &str) -> Option<(String, String)> {
        parse_cgroup(text)
    }

    fn is(runtime: &str, id: &str) -> Option<(String, String)> {
        Some((runtime.to_string(), id.to_string()))
    }

    #[test]
    fn docker() {
        // cgroup v1, cgroupfs driver (Docker's default on Debian before cgroup v2).
        let v1 = format!(
            "12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n2:cpu,cpuacct:/docker/{ID}\n\
             1:name=systemd:/docker/{ID}\n0::/system.slice/containerd.service\n"
        );
        assert_eq!(parsed(&v1), is("docker", ID));
        // cgroup v1, systemd driver (CentOS/RHEL).
        let v1_systemd = format!(
            "10:devices:/system.slice/docker-{ID}.scope\n\
             1:name=systemd:/system.slice/docker-{ID}.scope\n"
        );
        assert_eq!(parsed(&v1_systemd), is("docker", ID));
        // cgroup v2, systemd driver (Docker's default on a systemd host with cgroup v2).
        assert_eq!(
            parsed(&format!("0::/system.slice/docker-{ID}.scope\n")),
            is("docker", ID)
        );
        // cgroup v2, cgroupfs driver.
        assert_eq!(parsed(&format!("0::/docker/{ID}\n")), is("docker", ID));
        // Rootless docker: the scope sits in the user's manager.
        assert_eq!(
            parsed(&format!(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope\n"
            )),
            is("docker", ID)
        );
    }

    #[test]
    fn docker_in_docker_is_the_inner_container() {
        assert_eq!(
            parsed(&format!("0::/docker/{ID2}/docker/{ID}\n")),
            is("docker", ID)
        );
        // On v1 one hierarchy may show the nesting and another not: the deepest wins.
        assert_eq!(
            parsed(&format!(
                "3:memory:/docker/{ID2}\n2:cpu:/docker/{ID2}/docker/{ID}\n"
            )),
            is("docker", ID)
        );
    }

    #[test]
    fn containerd() {
        // `ctr run` / `nerdctl run` with the cgroupfs manager: /<namespace>/<id>.
        assert_eq!(parsed(&format!("0::/default/{ID}\n")), is("containerd", ID));
        assert_eq!(
            parsed(&format!(
                "5:memory:/default/{ID}\n1:name=systemd:/default/{ID}\n"
            )),
            is("containerd", ID)
        );
        // nerdctl with the systemd manager.
        assert_eq!(
            parsed(&format!("0::/system.slice/nerdctl-{ID}.scope\n")),
            is("containerd", ID)
        );
        // The daemon and its shims are not containers.
        assert_eq!(parsed("0::/system.slice/containerd.service\n"), None);
    }

    #[test]
    fn kubernetes() {
        // kubelet's systemd driver with containerd (the pod uid's '-' become '_').
        let pod = "kubepods-burstable-pod6e7b7f2c_6d8a_4b4e_9d3a_1f2e3d4c5b6a.slice";
        assert_eq!(
            parsed(&format!(
                "0::/kubepods.slice/kubepods-burstable.slice/{pod}/cri-containerd-{ID}.scope\n"
            )),
            is("containerd", ID)
        );
        // cri-o, v1 and v2.
        assert_eq!(
            parsed(&format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/{pod}/crio-{ID}.scope\n"
            )),
            is("cri-o", ID)
        );
        assert_eq!(
            parsed(&format!(
                "4:memory:/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope\n\
                 1:name=systemd:/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope\n"
            )),
            is("cri-o", ID)
        );
        // cri-o's conmon is not the container.
        assert_eq!(
            parsed(&format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/{pod}/crio-conmon-{ID}.scope\n"
            )),
            None
        );
        // dockershim.
        assert_eq!(
            parsed(&format!(
                "0::/kubepods.slice/kubepods-pod1.slice/docker-{ID}.scope\n"
            )),
            is("docker", ID)
        );
        // kubelet's cgroupfs driver (k3s): no engine in the path.
        assert_eq!(
            parsed(&format!(
                "0::/kubepods/burstable/pod6e7b7f2c-6d8a-4b4e-9d3a-1f2e3d4c5b6a/{ID}\n"
            )),
            is("kubepods", ID)
        );
        assert_eq!(
            parsed(&format!("9:memory:/kubepods/pod6e7b7f2c/{ID}\n")),
            is("kubepods", ID)
        );
        // The pod's slice alone is not a container.
        assert_eq!(
            parsed(&format!(
                "0::/kubepods.slice/kubepods-burstable.slice/{pod}\n"
            )),
            None
        );
    }

    #[test]
    fn podman() {
        // Rootful, systemd manager, v2; `…/container` when the container has a
        // sub-cgroup of its own (systemd in the container, --cgroups=split).
        assert_eq!(
            parsed(&format!("0::/machine.slice/libpod-{ID}.scope\n")),
            is("podman", ID)
        );
        assert_eq!(
            parsed(&format!("0::/machine.slice/libpod-{ID}.scope/container\n")),
            is("podman", ID)
        );
        // Rootless.
        assert_eq!(
            parsed(&format!(
                "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope\n"
            )),
            is("podman", ID)
        );
        // v1, cgroupfs manager.
        assert_eq!(
            parsed(&format!(
                "4:memory:/libpod_parent/libpod-{ID}\n1:name=systemd:/libpod_parent/libpod-{ID}\n"
            )),
            is("podman", ID)
        );
        // conmon, the container's monitor, runs beside it and is not it.
        assert_eq!(
            parsed(&format!("0::/machine.slice/libpod-conmon-{ID}.scope\n")),
            None
        );
    }

    #[test]
    fn lxc() {
        // LXC 4+ and LXD on v2.
        assert_eq!(parsed("0::/lxc.payload.web1\n"), is("lxc", "web1"));
        assert_eq!(
            parsed("0::/lxc.payload.web1/system.slice/nginx.service\n"),
            is("lxc", "web1")
        );
        // Older LXC on v1.
        assert_eq!(
            parsed("4:memory:/lxc/web1\n1:name=systemd:/lxc/web1/init.scope\n"),
            is("lxc", "web1")
        );
        // The monitor process is not in the container.
        assert_eq!(parsed("0::/lxc.monitor.web1\n"), None);
        // A docker container inside an LXC one is the innermost.
        assert_eq!(
            parsed(&format!("0::/lxc.payload.web1/docker/{ID}\n")),
            is("docker", ID)
        );
    }

    #[test]
    fn not_in_a_container() {
        for text in [
            "",
            "0::/\n",
            "0::/init.scope\n",
            "0::/system.slice/sshd.service\n",
            "0::/user.slice/user-1000.slice/session-3.scope\n",
            "12:pids:/\n1:name=systemd:/init.scope\n0::/init.scope\n",
            // Short or upper-case ids are not a runtime's.
            "0::/docker/3b2e9a51c0d8\n",
            &format!("0::/docker/{}\n", ID.to_uppercase()),
            &format!("0::/system.slice/docker-{ID}x.scope\n"),
            // A bare id anywhere else says nothing about who made it.
            &format!("0::/system.slice/{ID}\n"),
            "garbage without colons\n\u{fffd}\u{fffd}",
        ] {
            assert_eq!(parsed(text), None, "{text:?}");
        }
    }

    #[test]
    fn docker_name_from_its_state() {
        let dir = TempDir::new("docker");
        dir.write(
            "proc/42/cgroup",
            format!("0::/system.slice/docker-{ID}.scope\n").as_bytes(),
        );
        // The fields around "Name" as Docker writes them.
        dir.write(
            &format!("state/var/lib/docker/containers/{ID}/config.v2.json"),
            format!(
                r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Pid":42}},"ID":"{ID}","Created":"2024-05-01T10:00:00Z","Path":"nginx","Name":"/web","Driver":"overlay2"}}"#
            )
            .as_bytes(),
        );
        let container = of_pid_in(&dir.0.join("proc"), 42, &dir.0.join("state"));
        assert_eq!(
            container,
            Some(Container {
                runtime: "docker".into(),
                id: ID.into(),
                name: Some("web".into()),
            })
        );
    }

    #[test]
    fn podman_name_from_its_state() {
        let dir = TempDir::new("podman");
        dir.write(
            "proc/7/cgroup",
            format!("0::/machine.slice/libpod-{ID}.scope/container\n").as_bytes(),
        );
        // containers/storage's containers.json: an array of every container.
        dir.write(
            "state/var/lib/containers/storage/overlay-containers/containers.json",
            format!(
                r#"[{{"id":"{ID2}","names":["db"],"image":"abc","layer":"def","metadata":"{{}}","created":"2024-05-01T10:00:00Z"}},{{"id":"{ID}","names":["cache","cache-alias"],"image":"abc","layer":"123"}}]"#
            )
            .as_bytes(),
        );
        let container = of_pid_in(&dir.0.join("proc"), 7, &dir.0.join("state")).unwrap();
        assert_eq!(container.runtime, "podman");
        assert_eq!(container.name.as_deref(), Some("cache"));
    }

    #[test]
    fn odd_state_leaves_the_name_out() {
        let dir = TempDir::new("odd");
        let proc = dir.0.join("proc");
        let state = dir.0.join("state");
        dir.write("proc/1/cgroup", format!("0::/docker/{ID}\n").as_bytes());
        let config = format!("state/var/lib/docker/containers/{ID}/config.v2.json");
        let name = || of_pid_in(&proc, 1, &state).map(|c| c.name);

        // No state at all: still the container, without a name.
        assert_eq!(name(), Some(None));
        for bad in [
            &b"not json"[..],
            b"\xff\xfe\x00garbage",
            br#"{"Name": 42}"#,
            br#"{"Name": ""}"#,
            br#"{"Name": "/"}"#,
            br#"["Name"]"#,
            b"",
        ] {
            dir.write(&config, bad);
            assert_eq!(name(), Some(None), "{:?}", String::from_utf8_lossy(bad));
        }
        // Bigger than any real config: not read.
        let mut big = br#"{"Name":"/web","Pad":""#.to_vec();
        big.resize(MAX_DOCKER_CONFIG as usize + 10, b'x');
        big.extend_from_slice(br#""}"#);
        dir.write(&config, &big);
        assert_eq!(name(), Some(None));

        // podman's list, malformed or without the container.
        dir.write(
            "proc/2/cgroup",
            format!("0::/machine.slice/libpod-{ID}.scope\n").as_bytes(),
        );
        let list = "state/var/lib/containers/storage/overlay-containers/containers.json";
        for bad in [
            &b"{}"[..],
            b"[{\"names\":[\"x\"]}]",
            b"[{\"id\":\"other\",\"names\":[\"x\"]}]",
            format!("[{{\"id\":\"{ID}\"}}]").as_bytes(),
            format!("[{{\"id\":\"{ID}\",\"names\":[]}}]").as_bytes(),
        ] {
            dir.write(list, bad);
            let found = of_pid_in(&proc, 2, &state).unwrap();
            assert_eq!(found.name, None, "{:?}", String::from_utf8_lossy(bad));
        }

        // A cgroup file that is not text, or not there.
        dir.write("proc/3/cgroup", b"\xff\xff\xff:\xff:/docker/\xff\n");
        assert_eq!(of_pid_in(&proc, 3, &state), None);
        assert_eq!(of_pid_in(&proc, 4, &state), None);
    }

    #[test]
    fn lxc_id_is_its_name() {
        let dir = TempDir::new("lxc");
        dir.write("proc/5/cgroup", b"0::/lxc.payload.web1/init.scope\n");
        let found = of_pid_in(&dir.0.join("proc"), 5, &dir.0.join("state")).unwrap();
        assert_eq!(
            (
                found.runtime.as_str(),
                found.id.as_str(),
                found.name.as_deref()
            ),
            ("lxc", "web1", Some("web1"))
        );
    }

    #[test]
    fn own_process_is_readable() {
        // Whatever this host runs us in, reading our own cgroup must not fail oddly.
        let _ = of_pid(Path::new("/proc"), std::process::id() as i32);
    }
}
