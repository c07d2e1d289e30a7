//! Network namespaces: find them (/proc/*/ns/net, /run/netns), name them, and run code
//! inside one (setns on a thread of its own).

use std::io;
use std::path::{Path, PathBuf};

use super::Netns;

/// A namespace found on the host.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub netns: Netns,
    /// Some processes in it (for /proc/PID/net and their cgroups); may be empty for a
    /// namespace only held by a /run/netns mount.
    pub pids: Vec<i32>,
    /// A file that refers to it, to open for setns: /run/netns/NAME or /proc/PID/ns/net.
    pub path: PathBuf,
}

/// The inode of the network namespace portaudit runs in.
pub fn own(_proc_root: &Path) -> io::Result<u64> {
    Err(io::Error::other("not implemented"))
}

/// Every namespace: one per inode, the own one marked `host`; warnings for what could
/// not be seen.
pub fn list(_proc_root: &Path, _run_netns: &Path) -> (Vec<Namespace>, Vec<String>) {
    (Vec::new(), Vec::new())
}

/// `--netns NAME|PATH|PID`; an error names the value.
pub fn find(spec: &str, _proc_root: &Path, _run_netns: &Path) -> Result<Namespace, String> {
    Err(format!("--netns {spec}: not implemented"))
}

/// Run `f` on a new thread that has joined `target`'s network namespace.
pub fn within<T: Send>(target: &Namespace, _f: impl FnOnce() -> T + Send) -> io::Result<T> {
    Err(io::Error::other(format!(
        "cannot enter {}: not implemented",
        target.path.display()
    )))
}

/// A warning when portaudit runs in another network namespace than pid 1 (a container):
/// the audit then describes that namespace, not the host. `None` when the same, or when
/// pid 1's namespace cannot be read.
pub fn inside_container(_proc_root: &Path) -> Option<String> {
    None
}
