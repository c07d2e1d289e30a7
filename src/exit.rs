//! Exit codes are the product's API: provisioning gates on them (`portaudit || exit 1`).
//!
//! 0: nothing unexpected is reachable. 1: something is exposed (or internal, under
//! `--strict`). 2: a usage error, or the audit could not be done, or not whole (a row of
//! a socket table could not be read) — never 0 when we could not look. A finding that
//! fails the audit wins over an incomplete one: exposed is exposed.

use std::process::ExitCode;

pub const CLEAN: u8 = 0;
pub const EXPOSED: u8 = 1;
pub const TROUBLE: u8 = 2;

/// What an audit that ran to the end concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Exposed,
    /// Nothing failed among what we saw, but part of a socket table could not be read:
    /// the rows we lost might have been listeners.
    Incomplete,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => CLEAN,
            Outcome::Exposed => EXPOSED,
            Outcome::Incomplete => TROUBLE,
        }
    }

    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}
