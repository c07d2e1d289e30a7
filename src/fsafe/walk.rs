//! A path resolved as root, one component at a time: each directory opened relative to
//! the one before with `O_NOFOLLOW`, judged by `fstat` of that descriptor, and a symlink
//! followed only where root put it (see [`super`] for the rule).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::{distrust, fix, kind, owner, owner_and_mode};

/// Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS).
const MAX_LINKS: usize = 40;

/// What the walk is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Open the file the path names, following a trusted symlink at its end too; every
    /// directory on the way and the file must be trusted.
    Read,
    /// Stop at the directory the last component is in, which must be trusted; that
    /// component is not looked at (a writer replaces it, whatever it is).
    Parent,
    /// The directory the path names, which must be trusted, made (0755) where it or a
    /// directory above it is missing (`--generate man DIR`).
    Directory,
}

/// A directory reached by the walk: its descriptor and the path it was reached by
/// (symlinks resolved), for messages.
#[derive(Debug)]
pub struct Dir {
    pub fd: OwnedFd,
    pub path: PathBuf,
}

#[derive(Debug)]
pub enum Found {
    /// `Goal::Read`: the file, opened for reading.
    File(OwnedFd),
    /// `Goal::Parent`: the directory the last component is in, opened for reading (so
    /// that it can be synced).
    Parent(Dir),
    /// `Goal::Directory`: the directory, opened for reading.
    Directory(Dir),
}

/// Why the walk stopped.
#[derive(Debug)]
pub enum Failure {
    /// The system said no (missing, permission denied, too many links, …).
    Io(io::Error),
    /// A step is not trusted: the reason, as the rest of "refusing PATH: …".
    Refused(String),
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Failure {
        Failure::Io(errno.into())
    }
}

enum Part {
    Root,
    Up,
    Name(OsString),
}

fn parts(path: &Path) -> impl Iterator<Item = Part> + '_ {
    path.components().filter_map(|c| match c {
        Component::RootDir | Component::Prefix(_) => Some(Part::Root),
        Component::CurDir => None,
        Component::ParentDir => Some(Part::Up),
        Component::Normal(name) => Some(Part::Name(name.to_os_string())),
    })
}

/// Resolve `given` for `goal`, judging every step (see the module doc).
pub fn walk(given: &Path, goal: Goal) -> Result<Found, Failure> {
    let absolute = if given.is_absolute() {
        given.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(Failure::Io)?;
        cwd.join(given)
    };
    let mut queue: VecDeque<Part> = parts(&absolute).collect();
    let root_path = PathBuf::from("/");
    let root = rustix::fs::openat(CWD, "/", dir_flags(), Mode::empty()).map_err(Failure::from)?;
    let mut stack = vec![entered(root, root_path, goal, None)?];
    // The first symlink followed, to say how a directory was reached.
    let mut via: Option<PathBuf> = None;
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        let name = match part {
            Part::Root => {
                stack.truncate(1);
                continue;
            }
            Part::Up => {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            Part::Name(name) => name,
        };
        let last = queue.is_empty() && goal != Goal::Directory;
        let top = stack.last().expect("the root is never popped");
        let here = top.path.join(&name);
        if last && goal == Goal::Parent {
            let dir = stack.pop().expect("the stack is not empty");
            return parent(dir, via.as_deref());
        }
        let flags = if last {
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
        } else {
            dir_flags()
        };
        let mut opened = rustix::fs::openat(&top.fd, name.as_os_str(), flags, Mode::empty());
        if goal == Goal::Directory && matches!(opened, Err(Errno::NOENT)) {
            opened =
                match rustix::fs::mkdirat(&top.fd, name.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {
                        rustix::fs::openat(&top.fd, name.as_os_str(), flags, Mode::empty())
                    }
                    Err(e) => Err(e),
                };
        }
        match opened {
            Ok(fd) => {
                if last {
                    return file(fd, here, via.as_deref());
                }
                let dir = entered(fd, here, goal, via.as_deref())?;
                stack.push(dir);
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let stat = rustix::fs::statat(&top.fd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(Failure::from)?;
                if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
                    return Err(Failure::from(Errno::NOTDIR));
                }
                let target = follow(top, &name, &here, &stat)?;
                links += 1;
                if links > MAX_LINKS {
                    return Err(Failure::from(Errno::LOOP));
                }
                via.get_or_insert(here);
                let target = Path::new(OsStr::from_bytes(&target));
                for part in parts(target).collect::<Vec<_>>().into_iter().rev() {
                    queue.push_front(part);
                }
            }
            Err(e) => return Err(Failure::from(e)),
        }
    }
    let top = stack.pop().expect("the stack is not empty");
    if goal == Goal::Directory {
        let dir = reopened(top, via.as_deref())?;
        return Ok(Found::Directory(dir));
    }
    // The path ends at a directory ("/", "x/.."): there is no file to read, nor a name
    // to write.
    Err(Failure::from(Errno::ISDIR))
}

/// Directories on the way are only passed through: `O_PATH` needs no read permission.
fn dir_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn stat_of(fd: &OwnedFd) -> Result<Stat, Failure> {
    rustix::fs::fstat(fd).map_err(Failure::from)
}

/// A directory just entered: for reading, it must be trusted.
fn entered(fd: OwnedFd, path: PathBuf, goal: Goal, via: Option<&Path>) -> Result<Dir, Failure> {
    if goal == Goal::Read {
        let stat = stat_of(&fd)?;
        judge_dir(&stat, &path, via)?;
    }
    Ok(Dir { fd, path })
}

fn judge_dir(stat: &Stat, path: &Path, via: Option<&Path>) -> Result<(), Failure> {
    let Some(problem) = distrust(stat, true) else {
        return Ok(());
    };
    let through = via.map_or(String::new(), |link| {
        format!(" (on the way through the symlink {})", link.display())
    });
    Err(Failure::Refused(format!(
        "its directory {}{through} is {problem} {}; run {}",
        path.display(),
        owner_and_mode(stat),
        fix(problem, path)
    )))
}

/// The last component, opened for reading: a regular file root alone can change.
fn file(fd: OwnedFd, path: PathBuf, via: Option<&Path>) -> Result<Found, Failure> {
    let stat = stat_of(&fd)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(Failure::from(Errno::ISDIR)),
        _ => {
            return Err(Failure::Refused(format!(
                "{} is {}, not a regular file",
                path.display(),
                kind(&stat)
            )));
        }
    }
    if let Some(problem) = distrust(&stat, false) {
        let what = match via {
            Some(_) => format!("the file it leads to, {}, is ", path.display()),
            None => String::new(),
        };
        return Err(Failure::Refused(format!(
            "{what}{problem} {}; run {}",
            owner_and_mode(&stat),
            fix(problem, &path)
        )));
    }
    Ok(Found::File(fd))
}

/// The directory a file is written into.
fn parent(dir: Dir, via: Option<&Path>) -> Result<Found, Failure> {
    Ok(Found::Parent(reopened(dir, via)?))
}

/// A directory to write in: opened again (as ".", the same directory, no name looked
/// up) for reading, so that it can be synced, and judged.
fn reopened(dir: Dir, via: Option<&Path>) -> Result<Dir, Failure> {
    let fd = rustix::fs::openat(
        &dir.fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Failure::from)?;
    let stat = stat_of(&fd)?;
    judge_dir(&stat, &dir.path, via)?;
    Ok(Dir { fd, path: dir.path })
}

/// Where the symlink `name` in `dir` points, if it may be followed: only root may have
/// put it there (a trusted directory) and it is root's.
fn follow(dir: &Dir, name: &OsStr, here: &Path, link: &Stat) -> Result<Vec<u8>, Failure> {
    let stat = stat_of(&dir.fd)?;
    if let Some(problem) = distrust(&stat, true) {
        return Err(Failure::Refused(format!(
            "{} is a symlink in {}, which is {problem} {}: a symlink is followed only in a \
             directory only root can change; give the path it leads to, or run {}",
            here.display(),
            dir.path.display(),
            owner_and_mode(&stat),
            fix(problem, &dir.path)
        )));
    }
    if link.st_uid != 0 {
        return Err(Failure::Refused(format!(
            "{} is a symlink owned by {}, not root: give the path it leads to",
            here.display(),
            owner(link)
        )));
    }
    let target = rustix::fs::readlinkat(&dir.fd, name, Vec::new())
        .map_err(Failure::from)?
        .into_bytes();
    // /proc/PID/fd/N and the like: "pipe:[123]" is no path to walk.
    if !target.starts_with(b"/") && target.windows(2).any(|w| w == b":[") {
        return Err(Failure::Refused(format!(
            "{} leads to {}, not a file",
            here.display(),
            String::from_utf8_lossy(&target)
        )));
    }
    Ok(target)
}
