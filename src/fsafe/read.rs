//! The one way to read a file that decides the gate — the policy file, a baseline,
//! `--ruleset FILE`: as root, only a file that root alone could have put there (see
//! [`super`]), read from the descriptor that was judged.

use std::io::{self, Read};
use std::path::Path;

use super::walk::{self, Failure, Found, Goal};
use crate::error::Error;

/// Why a trusted file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The system's answer: missing, permission denied, a directory, …
    Io(io::Error),
    /// Someone else than root could have changed the file or its way (only as root).
    Refused(String),
}

impl ReadError {
    /// One line: a refusal as `refusing PATH: why; run FIX`, an I/O error as `io` says.
    pub fn into_error(self, path: &Path, io: impl FnOnce(&io::Error) -> Error) -> Error {
        match self {
            ReadError::Io(e) => io(&e),
            ReadError::Refused(why) => Error::new(format!("refusing {}: {why}", path.display())),
        }
    }
}

/// The bytes of `path`: as root, judged on the way (see [`super`]); as another user,
/// opened once and read, whoever owns it.
pub fn trusted(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut file = if super::privileged() {
        match walk::walk(path, Goal::Read) {
            Ok(Found::File(fd)) => std::fs::File::from(fd),
            Ok(Found::Parent(_) | Found::Directory(_)) => {
                unreachable!("a read walks to the file")
            }
            Err(Failure::Io(error)) => return Err(ReadError::Io(error)),
            Err(Failure::Refused(why)) => return Err(ReadError::Refused(why)),
        }
    } else {
        let file = std::fs::File::open(path).map_err(ReadError::Io)?;
        if file.metadata().map_err(ReadError::Io)?.is_dir() {
            return Err(ReadError::Io(io::Error::from_raw_os_error(libc::EISDIR)));
        }
        file
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(ReadError::Io)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsafe::testing::{NOBODY, TempDir, chmod, chown, require_root};
    use std::os::unix::fs::symlink;

    fn refused(path: &Path) -> String {
        match trusted(path) {
            Err(ReadError::Refused(why)) => why,
            other => panic!("{} should be refused: {other:?}", path.display()),
        }
    }

    /// A root-owned 0755 directory with a 0644 policy in it.
    fn tree(label: &str) -> (TempDir, std::path::PathBuf) {
        let dir = TempDir::new(label);
        chmod(dir.path(), 0o755);
        let file = dir.path().join("p.toml");
        std::fs::write(&file, "# policy\n").unwrap();
        chmod(&file, 0o644);
        (dir, file)
    }

    #[test]
    fn a_file_only_root_can_change_is_read() {
        if !require_root("a_file_only_root_can_change_is_read") {
            return;
        }
        let (_dir, file) = tree("read-ok");
        assert_eq!(trusted(&file).unwrap(), b"# policy\n");
        // "..", "." and doubled slashes are steps like any other.
        let roundabout = format!(
            "{0}/./..//{1}/p.toml",
            file.parent().unwrap().display(),
            file.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
        );
        assert_eq!(trusted(Path::new(&roundabout)).unwrap(), b"# policy\n");
    }

    #[test]
    fn the_file_and_every_directory_above_it_are_judged() {
        if !require_root("the_file_and_every_directory_above_it_are_judged") {
            return;
        }
        let (dir, file) = tree("read-modes");
        chmod(&file, 0o664);
        assert_eq!(
            refused(&file),
            format!(
                "writable by group (owner root, mode 0664); run chmod go-w {}",
                file.display()
            )
        );
        chmod(&file, 0o646);
        assert!(refused(&file).starts_with("writable by others (owner root, mode 0646)"));
        chmod(&file, 0o644);
        chown(&file, NOBODY);
        assert!(
            refused(&file).starts_with("owned by another user than root (owner nobody"),
            "{}",
            refused(&file)
        );
        chown(&file, 0);
        chmod(dir.path(), 0o777);
        assert_eq!(
            refused(&file),
            format!(
                "its directory {0} is writable by group and others (owner root, mode 0777); \
                 run chmod go-w {0}",
                dir.path().display()
            )
        );
        // Sticky and root's, like /tmp: only an entry's owner may replace it.
        chmod(dir.path(), 0o1777);
        assert!(trusted(&file).is_ok());
    }

    #[test]
    fn symlinks_are_followed_only_where_root_put_them() {
        if !require_root("symlinks_are_followed_only_where_root_put_them") {
            return;
        }
        let (dir, file) = tree("read-links");
        // root's link in root's directory: followed, and its target judged.
        let link = dir.path().join("link.toml");
        symlink("p.toml", &link).unwrap();
        assert_eq!(trusted(&link).unwrap(), b"# policy\n");
        chmod(&file, 0o666);
        assert!(
            refused(&link).starts_with(&format!(
                "the file it leads to, {}, is writable by group and others",
                file.display()
            )),
            "{}",
            refused(&link)
        );
        chmod(&file, 0o644);

        // A hop through a directory another user owns: refused whatever it points to.
        let user = dir.path().join("user");
        std::fs::create_dir(&user).unwrap();
        chown(&user, NOBODY);
        symlink(&file, user.join("hop")).unwrap();
        let through = dir.path().join("through.toml");
        symlink(user.join("hop"), &through).unwrap();
        assert_eq!(
            refused(&through),
            format!(
                "its directory {0} (on the way through the symlink {1}) is owned by another \
                 user than root (owner nobody, mode 0755); run chown root {0}",
                user.display(),
                through.display()
            )
        );

        // Another user's link in a sticky directory (/tmp): not followed.
        let sticky = dir.path().join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        let planted = sticky.join("p.toml");
        symlink(&file, &planted).unwrap();
        chown(&planted, NOBODY);
        assert_eq!(
            refused(&planted),
            format!(
                "{} is a symlink owned by nobody, not root: give the path it leads to",
                planted.display()
            )
        );
    }

    #[test]
    fn what_is_not_a_regular_file_is_not_read() {
        if !require_root("what_is_not_a_regular_file_is_not_read") {
            return;
        }
        let (dir, _file) = tree("read-kinds");
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        // Refused without blocking on the fifo's open.
        assert_eq!(
            refused(&fifo),
            format!("{} is a fifo, not a regular file", fifo.display())
        );
        match trusted(dir.path()) {
            Err(ReadError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EISDIR)),
            other => panic!("{other:?}"),
        }
        match trusted(&dir.path().join("missing")) {
            Err(ReadError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
        // A loop of links is the system's "too many levels of symbolic links".
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        match trusted(&dir.path().join("a")) {
            Err(ReadError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::ELOOP)),
            other => panic!("{other:?}"),
        }
        // /proc/self/fd/N names a pipe, not a path.
        let (reader, _writer) = std::io::pipe().unwrap();
        let magic = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&reader));
        assert!(
            refused(Path::new(&magic)).contains("leads to pipe:["),
            "{}",
            refused(Path::new(&magic))
        );
    }
}
