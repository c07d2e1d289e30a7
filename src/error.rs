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

/// Escaped as the table escapes names: a message quotes what a file or flag said (a
/// key of a baseline, a path), and it stays one line with no control character for the
/// terminal.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::report::for_terminal(&self.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `baseline` fuzz target: serde quotes an unknown key as it was.
    #[test]
    fn a_message_quoting_a_file_stays_one_line_without_control_characters() {
        let e = Error::new("b.json:2: unknown field `a\nb\x1b[2J`");
        assert_eq!(e.to_string(), "b.json:2: unknown field `a\\x0ab\\x1b[2J`");
    }
}
