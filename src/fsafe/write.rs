//! The one way to write a file — `--save-baseline`, `--output`, `--generate … DIR`: into
//! a directory only root can change (as root; see [`super`]), through a temporary file
//! created beside it with `O_CREAT|O_EXCL|O_NOFOLLOW`, renamed over the final name within
//! the directory's descriptor, so that a reader never sees half a file and nobody can
//! point the write elsewhere.
//!
//! The directory is opened and judged when the target is made ([`Target::open`]), before
//! the audit runs, and written later through that same descriptor.

use std::collections::hash_map::RandomState;
use std::ffi::{OsStr, OsString};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::walk::{self, Failure, Found, Goal};
use crate::error::{Error, describe_io};

/// A directory to write in, opened and judged.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    /// As reached (symlinks resolved), for messages.
    path: PathBuf,
}

/// A file to be replaced: its directory, opened and judged, and its name there.
#[derive(Debug)]
pub struct Target {
    dir: Dir,
    name: OsString,
    /// As given, for messages.
    path: PathBuf,
}

impl Dir {
    /// The directory `path` (`--generate man DIR`), made where missing, which must be one
    /// only root can change when run as root.
    pub fn create(path: &Path) -> Result<Dir, Error> {
        if super::privileged() {
            return match walk::walk(path, Goal::Directory) {
                Ok(Found::Directory(dir)) => Ok(Dir {
                    fd: dir.fd,
                    path: dir.path,
                }),
                Ok(_) => unreachable!("a directory walk ends at a directory"),
                Err(failure) => Err(failed(path, failure)),
            };
        }
        std::fs::create_dir_all(path).map_err(|e| Error::io("create", path, &e))?;
        let fd = rustix::fs::openat(CWD, path, dir_flags(), Mode::empty())
            .map_err(|e| failed(path, io_failure(e)))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The subdirectory `name`, made (0755) when missing; `given` names it in messages.
    pub fn subdir(&self, name: &str, given: &Path) -> Result<Dir, Error> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::io("create", given, &e.into())),
        }
        let path = self.path.join(name);
        let flags = dir_flags() | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty()).map_err(|e| {
            if e == Errno::LOOP || e == Errno::NOTDIR {
                Error::new(format!(
                    "refusing to write in {}: not a directory (a symlink is not followed here)",
                    given.display()
                ))
            } else {
                Error::io("open", given, &e.into())
            }
        })?;
        let dir = Dir { fd, path };
        dir.judge(given)?;
        Ok(dir)
    }

    /// The file `name` in this directory.
    pub fn target(&self, name: &str, given: &Path) -> Result<Target, Error> {
        let dir = Dir {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| Error::io("open", given, &e))?,
            path: self.path.clone(),
        };
        Target::in_dir(dir, OsString::from(name), given)
    }

    /// As root, refuse a directory others could change (a subdirectory just opened).
    fn judge(&self, given: &Path) -> Result<(), Error> {
        if !super::privileged() {
            return Ok(());
        }
        let stat = rustix::fs::fstat(&self.fd).map_err(|e| Error::io("open", given, &e.into()))?;
        match super::distrust(&stat, true) {
            None => Ok(()),
            Some(problem) => Err(Error::new(format!(
                "refusing to write {}: its directory {} is {problem} {}; run {}",
                given.display(),
                self.path.display(),
                super::owner_and_mode(&stat),
                super::fix(problem, &self.path)
            ))),
        }
    }
}

impl Target {
    /// The file `path`, to be replaced later by [`Target::replace`]: its directory is
    /// opened and, as root, judged now.
    pub fn open(path: &Path) -> Result<Target, Error> {
        let Some(name) = path.file_name() else {
            return Err(Error::new(format!(
                "cannot write {}: not a file name",
                path.display()
            )));
        };
        let dir = if super::privileged() {
            match walk::walk(path, Goal::Parent) {
                Ok(Found::Parent(dir)) => Dir {
                    fd: dir.fd,
                    path: dir.path,
                },
                Ok(_) => unreachable!("a parent walk ends at a directory"),
                Err(failure) => return Err(failed(path, failure)),
            }
        } else {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let fd = rustix::fs::openat(CWD, parent, dir_flags(), Mode::empty())
                .map_err(|e| failed(path, io_failure(e)))?;
            Dir {
                fd,
                path: parent.to_path_buf(),
            }
        };
        Target::in_dir(dir, name.to_os_string(), path)
    }

    fn in_dir(dir: Dir, name: OsString, path: &Path) -> Result<Target, Error> {
        // A directory in the way would only fail the rename, after the whole audit.
        if let Ok(stat) = rustix::fs::statat(&dir.fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
            && FileType::from_raw_mode(stat.st_mode) == FileType::Directory
        {
            return Err(Error::new(format!(
                "cannot write {}: is a directory",
                path.display()
            )));
        }
        Ok(Target {
            dir,
            name,
            path: path.to_path_buf(),
        })
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replace the file with what `fill` writes, with permissions `mode`: a temporary
    /// file beside it, written, `fchmod`, `fsync`, renamed over it, the directory synced.
    /// When anything fails the file is left as it was and the temporary removed.
    pub fn replace(
        &self,
        mode: u32,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), Error> {
        let (fd, temporary) = self.create_temporary()?;
        let written = (|| -> io::Result<()> {
            let mut out = BufWriter::with_capacity(1 << 16, std::fs::File::from(fd));
            fill(&mut out)?;
            let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
            file.sync_all()?;
            // Closed before the rename: the final name only ever holds a finished file.
            drop(file);
            rustix::fs::renameat(&self.dir.fd, &temporary, &self.dir.fd, &self.name)?;
            Ok(())
        })();
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(&self.dir.fd, &temporary, AtFlags::empty());
            return Err(Error::io("write", &self.path, &e));
        }
        // The rename is durable once the directory is; the file is already in place.
        let _ = rustix::fs::fsync(&self.dir.fd);
        Ok(())
    }

    /// `.NAME.RANDOM.tmp` in the directory, made by us alone (`O_EXCL`), never through a
    /// symlink (`O_NOFOLLOW`); readable by nobody but us until it is finished.
    fn create_temporary(&self) -> Result<(OwnedFd, OsString), Error> {
        let keep = self.name.as_bytes().len().min(200);
        let stem = OsStr::from_bytes(&self.name.as_bytes()[..keep]);
        let random = RandomState::new();
        let mut last = Errno::EXIST;
        for attempt in 0u64..16 {
            let mut hasher = random.build_hasher();
            hasher.write_u64(attempt);
            let mut name = OsString::from(".");
            name.push(stem);
            name.push(format!(".{:016x}.tmp", hasher.finish()));
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.dir.fd, &name, flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((fd, name)),
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        Err(Error::new(format!(
            "cannot write {}: cannot create a temporary file in {}: {}",
            self.path.display(),
            self.dir.path.display(),
            describe_io(&last.into())
        )))
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn io_failure(errno: Errno) -> Failure {
    Failure::Io(errno.into())
}

/// The one line for a walk that stopped: a refusal, a missing directory (with the fix),
/// or the system's answer.
fn failed(path: &Path, failure: Failure) -> Error {
    match failure {
        Failure::Refused(why) => Error::new(format!("refusing to write {}: {why}", path.display())),
        Failure::Io(error) if error.kind() == io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            Error::new(format!(
                "cannot write {}: no directory {} (create it first: install -d {})",
                path.display(),
                dir.display(),
                dir.display()
            ))
        }
        Failure::Io(error) => Error::io("write", path, &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsafe::testing::{NOBODY, TempDir, chmod, chown, require_root};
    use std::os::unix::fs::{MetadataExt, symlink};

    fn write(path: &Path, text: &str) -> Result<(), Error> {
        Target::open(path)?.replace(0o644, |out| out.write_all(text.as_bytes()))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_whole_with_its_mode() {
        let dir = TempDir::new("write-ok");
        chmod(dir.path(), 0o755);
        let file = dir.path().join("out.prom");
        std::fs::write(&file, "old\n").unwrap();
        chmod(&file, 0o600);
        write(&file, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new\n");
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o644, "fchmod, whatever the umask");
        assert_eq!(names(dir.path()), ["out.prom"], "no temporary is left");

        // A failing writer leaves the file as it was, and no temporary.
        let target = Target::open(&file).unwrap();
        let failed = target.replace(0o644, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert_eq!(
            failed.unwrap_err().to_string(),
            format!("cannot write {}: disk full", file.display())
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new\n");
        assert_eq!(names(dir.path()), ["out.prom"]);
    }

    /// What node_exporter could see of the final name: only a finished file renamed into
    /// place, never one being created, written or closed there (inotify's account).
    #[test]
    fn the_final_name_only_ever_appears_by_a_rename() {
        let dir = TempDir::new("write-inotify");
        let file = dir.path().join("portaudit.prom");
        std::fs::write(&file, "old\n").unwrap();
        // SAFETY: plain inotify calls on a descriptor we own, with a NUL-terminated path
        // and a buffer whose length is passed.
        let events = unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            assert!(fd >= 0);
            let path = std::ffi::CString::new(dir.path().as_os_str().as_bytes()).unwrap();
            let mask = libc::IN_CREATE | libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO;
            assert!(libc::inotify_add_watch(fd, path.as_ptr(), mask) >= 0);
            write(&file, "new\n").unwrap();
            let mut buffer = vec![0u8; 1 << 16];
            let n = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
            libc::close(fd);
            assert!(n > 0);
            buffer.truncate(n as usize);
            buffer
        };
        let mut on_final = Vec::new();
        let mut at = 0;
        while at + 16 <= events.len() {
            let mask = u32::from_ne_bytes(events[at + 4..at + 8].try_into().unwrap());
            let len = u32::from_ne_bytes(events[at + 12..at + 16].try_into().unwrap()) as usize;
            let name = &events[at + 16..at + 16 + len];
            let name = name.split(|&b| b == 0).next().unwrap();
            if name == b"portaudit.prom" {
                on_final.push(mask);
            }
            at += 16 + len;
        }
        assert_eq!(on_final, [libc::IN_MOVED_TO], "{on_final:x?}");
    }

    #[test]
    fn a_symlink_at_the_name_is_replaced_not_written_through() {
        let dir = TempDir::new("write-link");
        chmod(dir.path(), 0o755);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "secret\n").unwrap();
        let file = dir.path().join("out.prom");
        symlink(&victim, &file).unwrap();
        write(&file, "metrics\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
        assert!(!std::fs::symlink_metadata(&file).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "metrics\n");
    }

    #[test]
    fn what_cannot_be_written_says_why() {
        let dir = TempDir::new("write-errors");
        let missing = dir.path().join("no/such/dir/baseline.json");
        assert_eq!(
            write(&missing, "x").unwrap_err().to_string(),
            format!(
                "cannot write {0}: no directory {1} (create it first: install -d {1})",
                missing.display(),
                dir.path().join("no/such/dir").display(),
            )
        );
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(
            Target::open(&dir.path().join("sub"))
                .unwrap_err()
                .to_string(),
            format!(
                "cannot write {}: is a directory",
                dir.path().join("sub").display()
            )
        );
        assert_eq!(
            Target::open(Path::new("/")).unwrap_err().to_string(),
            "cannot write /: not a file name"
        );
    }

    #[test]
    fn as_root_a_directory_others_can_change_is_refused() {
        if !require_root("as_root_a_directory_others_can_change_is_refused") {
            return;
        }
        let dir = TempDir::new("write-refused");
        chmod(dir.path(), 0o755);
        let textfiles = dir.path().join("node-exporter");
        std::fs::create_dir(&textfiles).unwrap();
        let file = textfiles.join("portaudit.prom");
        chmod(&textfiles, 0o775);
        assert_eq!(
            write(&file, "x").unwrap_err().to_string(),
            format!(
                "refusing to write {0}: its directory {1} is writable by group (owner root, \
                 mode 0775); run chmod go-w {1}",
                file.display(),
                textfiles.display()
            )
        );
        chmod(&textfiles, 0o755);
        chown(&textfiles, NOBODY);
        assert!(write(&file, "x").unwrap_err().to_string().contains(
            "is owned by another user than root (owner nobody, mode 0755); run chown root"
        ),);
        assert!(!file.exists());

        // Debian: /var/lib/prometheus is prometheus's, node-exporter below it root's. The
        // owner of the directory above may swap what is there, but only for something of
        // theirs (refused) or a symlink (not followed in their directory).
        chown(&textfiles, 0);
        chown(dir.path(), NOBODY);
        write(&file, "metrics\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "metrics\n");
        let elsewhere = TempDir::new("write-elsewhere");
        chmod(elsewhere.path(), 0o755);
        std::fs::rename(&textfiles, dir.path().join("moved")).unwrap();
        symlink(elsewhere.path(), &textfiles).unwrap();
        assert_eq!(
            write(&file, "x").unwrap_err().to_string(),
            format!(
                "refusing to write {0}: {1} is a symlink in {2}, which is owned by another user \
                 than root (owner nobody, mode 0755): a symlink is followed only in a directory \
                 only root can change; give the path it leads to, or run chown root {2}",
                file.display(),
                textfiles.display(),
                dir.path().display()
            )
        );
        assert_eq!(names(elsewhere.path()), Vec::<String>::new());
    }

    #[test]
    fn subdirectories_are_made_and_judged() {
        let dir = TempDir::new("write-subdir");
        chmod(dir.path(), 0o755);
        let man = Dir::create(dir.path()).unwrap();
        let man1 = man.subdir("man1", &dir.path().join("man1")).unwrap();
        let page = dir.path().join("man1/portaudit.1");
        man1.target("portaudit.1", &page)
            .unwrap()
            .replace(0o644, |out| out.write_all(b".TH x\n"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&page).unwrap(), ".TH x\n");
        // Made once, then reused.
        assert!(man.subdir("man1", &dir.path().join("man1")).is_ok());
        symlink("/etc", dir.path().join("man5")).unwrap();
        assert_eq!(
            man.subdir("man5", &dir.path().join("man5"))
                .unwrap_err()
                .to_string(),
            format!(
                "refusing to write in {}: not a directory (a symlink is not followed here)",
                dir.path().join("man5").display()
            )
        );
    }
}
