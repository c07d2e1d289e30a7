//! Whether a policy file or baseline may be trusted by a run as root: the policy decides
//! what passes the gate, so only root may be able to change it — the way sshd's
//! StrictModes judges `authorized_keys`.
//!
//! Refused: the file, or any directory above it (of the path as given and of the file
//! it resolves to), owned by anyone but root, or writable by group or others. One
//! exception: a directory with the sticky bit owned by root (`/tmp`) — there only an
//! entry's owner may rename or delete it, so a root-owned file or directory inside is
//! safe from other users; the entry itself is still checked.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Check `path` and the directories above it; `name` gives a uid's user name.
pub fn check(path: &Path, mut name: impl FnMut(u32) -> Option<String>) -> Result<(), Error> {
    // What cannot be resolved is left to the read that follows, which says why.
    let Ok(real) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let Ok(given) = std::path::absolute(path) else {
        return Ok(());
    };
    let mut seen: Vec<PathBuf> = Vec::new();
    let above_given = given.parent().into_iter().flat_map(Path::ancestors);
    for at in real.ancestors().chain(above_given) {
        if seen.iter().any(|s| s == at) {
            continue;
        }
        seen.push(at.to_path_buf());
        let Ok(meta) = std::fs::metadata(at) else {
            continue;
        };
        let mode = meta.mode() & 0o7777;
        let owner = name(meta.uid()).unwrap_or_else(|| format!("uid {}", meta.uid()));
        let what = if at == real {
            String::new()
        } else {
            format!("its directory {} is ", at.display())
        };
        let refuse = |problem: &str, fix: String| {
            Error::new(format!(
                "refusing {}: {what}{problem} (owner {owner}, mode {mode:04o}); run {fix}",
                path.display(),
            ))
        };
        if meta.uid() != 0 {
            return Err(refuse(
                "owned by another user than root",
                format!("chown root {}", at.display()),
            ));
        }
        let sticky = meta.is_dir() && mode & 0o1000 != 0;
        if sticky {
            continue;
        }
        let writable = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "writable by group and others",
            (true, false) => "writable by group",
            (false, true) => "writable by others",
            (false, false) => continue,
        };
        return Err(refuse(writable, format!("chmod go-w {}", at.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names(uid: u32) -> Option<String> {
        (uid == 0).then(|| "root".to_string())
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Only meaningful as root: the files made here are owned by whoever runs the test.
    #[test]
    fn group_writable_files_and_directories_are_refused() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root (files owned by root)");
            return;
        }
        let dir = std::env::temp_dir().join(format!("portaudit-trust-{}", std::process::id()));
        let inner = dir.join("policy");
        std::fs::create_dir_all(&inner).unwrap();
        chmod(&dir, 0o755);
        chmod(&inner, 0o755);
        let file = inner.join("p.toml");
        std::fs::write(&file, "").unwrap();
        chmod(&file, 0o644);
        assert!(check(&file, names).is_ok(), "root's 0644 file under /tmp");

        chmod(&file, 0o664);
        let err = check(&file, names).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "refusing {0}: writable by group (owner root, mode 0664); run chmod go-w {0}",
                file.display()
            )
        );
        chmod(&file, 0o646);
        assert!(
            check(&file, names)
                .unwrap_err()
                .to_string()
                .contains("writable by others")
        );
        chmod(&file, 0o644);
        chmod(&inner, 0o777);
        let err = check(&file, names).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                ": its directory {} is writable by group and others (owner root, mode 0777)",
                inner.display()
            )),
            "{err}"
        );
        // Sticky and root's, like /tmp: only an entry's owner may replace it.
        chmod(&inner, 0o1777);
        assert!(check(&file, names).is_ok());

        // A symlink is judged by where it points, and where it is.
        chmod(&inner, 0o755);
        let link = dir.join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(check(&link, names).is_ok());
        chmod(&inner, 0o775);
        assert!(check(&link, names).is_err());

        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        chmod(&inner, 0o755);
        let err = check(&file, |_| Some("nobody".into()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("owned by another user than root (owner nobody, mode 0644)"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
