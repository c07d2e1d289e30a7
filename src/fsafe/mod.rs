//! Files that a run as root reads to decide the gate, or writes for others to read: the
//! one way to do each, so that no other user can swap what is read or redirect what is
//! written.
//!
//! - [`read`]: the policy file, the baseline, `--ruleset FILE`.
//! - [`write`]: `--save-baseline`, `--output`, `--generate … DIR`.
//!
//! Run as root (euid 0), a path is resolved one component at a time from `/` (relative
//! paths from the working directory), each directory opened relative to the one before
//! with `O_NOFOLLOW`, and judged by `fstat` of the descriptor then used — never by
//! looking the name up again. The rule is sshd's StrictModes, applied to every step:
//!
//! - a directory is trusted when root owns it and neither group nor others may write it,
//!   or when root owns it and it has the sticky bit (`/tmp`: there only an entry's owner
//!   may rename or delete it, so the entries are judged on their own);
//! - a symlink is followed only when it sits in a trusted directory and root owns it:
//!   only root chose where it points (`/sbin -> usr/sbin`); its target is walked the same
//!   way, every directory of it judged;
//! - a file read is trusted when it is a regular file root owns that neither group nor
//!   others may write, and every directory on its way is trusted.
//!
//! A file written: the directory it goes into must be trusted; directories above it may
//! belong to another user (Debian's `/var/lib/prometheus` is prometheus's), because each
//! is entered through the descriptor of the one before and only the last one's owner and
//! mode count: whatever such a user puts in place of a directory is theirs, or a symlink,
//! and is refused. The file is created beside its final name under a random name with
//! `O_CREAT|O_EXCL|O_NOFOLLOW`, written, given its mode with `fchmod`, synced, and
//! renamed over the final name within the directory's descriptor; a symlink at the final
//! name is replaced, never written through.
//!
//! Run as another user, nothing is refused for its owner or mode: such a run reads and
//! writes only what that user could anyway, and a user's own files (a baseline in their
//! home) are theirs to trust. The mechanics stay the same — one open, the temporary
//! file, the rename — and so do the messages.

pub mod read;
mod walk;
pub mod write;

use std::path::Path;

use rustix::fs::{FileType, Stat};

/// Whether this run is root's, whose reads and writes are judged (see the module doc).
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Why a directory or file is not trusted, as a phrase: "owned by another user than
/// root", "writable by group", … `None`: trusted.
fn distrust(stat: &Stat, directory: bool) -> Option<&'static str> {
    if stat.st_uid != 0 {
        return Some("owned by another user than root");
    }
    let mode = stat.st_mode;
    if directory && mode & 0o1000 != 0 {
        return None;
    }
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => Some("writable by group and others"),
        (true, false) => Some("writable by group"),
        (false, true) => Some("writable by others"),
        (false, false) => None,
    }
}

/// The fix for a `distrust` phrase on `path`.
fn fix(problem: &str, path: &Path) -> String {
    if problem.starts_with("owned") {
        format!("chown root {}", path.display())
    } else {
        format!("chmod go-w {}", path.display())
    }
}

/// The owner's user name, or "uid N" when it has none.
fn owner(stat: &Stat) -> String {
    let mut users = crate::collect::users::UserNames::default();
    users.name(stat.st_uid).map_or_else(
        || format!("uid {}", stat.st_uid),
        |n| String::from_utf8_lossy(&n).into_owned(),
    )
}

/// "(owner NAME, mode 0755)".
fn owner_and_mode(stat: &Stat) -> String {
    format!(
        "(owner {}, mode {:04o})",
        owner(stat),
        stat.st_mode & 0o7777
    )
}

/// What a file type is called in a message.
fn kind(stat: &Stat) -> &'static str {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a fifo",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown type",
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Trees of directories with chosen owners and modes, for the tests of the reader
    //! and the writer (they need root to give files to another user).

    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub const NOBODY: u32 = 65534;

    /// A directory under the system's temp dir, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(label: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "portaudit-fsafe-{}-{n}-{label}",
                std::process::id()
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn chown(path: &Path, uid: u32) {
        std::os::unix::fs::lchown(path, Some(uid), None).unwrap();
    }

    /// True when root; otherwise a SKIPPED line (in CI, a failure).
    pub fn require_root(test: &str) -> bool {
        if super::privileged() {
            return true;
        }
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0") {
            panic!("{test}: needs root; CI must run this test, so it fails instead of skipping");
        }
        eprintln!("SKIPPED {test}: needs root");
        false
    }
}
