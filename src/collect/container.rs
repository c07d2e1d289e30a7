//! Containers: which runtime and container a process belongs to, from its cgroup path
//! (docker, containerd, podman, kubepods), and the container's name where the runtime's
//! state on disk gives it. Never talks to a daemon.

use std::path::Path;

use super::Container;

/// The container process `pid` runs in, if any.
pub fn of_pid(_proc_root: &Path, _pid: i32) -> Option<Container> {
    None
}
