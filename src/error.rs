//! The one error type: a single line that tells the user what could not be done.
//!
//! Every fatal problem ends the run with exit code 2 and this message on stderr, so the
//! text names the file (and line) or the flag at fault.

use std::fmt;
use std::io;
use std::path::Path;

#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }

    /// An I/O failure on `path`, worded like the shell's: `cannot read /proc/net/tcp: permission denied`.
    pub fn io(action: &str, path: &Path, err: &io::Error) -> Self {
        Error(format!(
            "cannot {action} {}: {}",
            path.display(),
            describe_io(err)
        ))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The OS message without Rust's "(os error 13)" suffix, lower-cased like coreutils.
pub fn describe_io(err: &io::Error) -> String {
    let text = match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let full = err.to_string();
            match full.find(" (os error") {
                Some(cut) => full[..cut].to_string(),
                None => full,
            }
        }
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
