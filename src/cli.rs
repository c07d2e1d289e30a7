//! The command line: clap parses raw flags, [`Cli::into_config`] checks them once and
//! turns them into the [`Config`] the rest of the program trusts.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::error::Error;
use crate::policy::Policy;
use crate::policy::services::Services;
use crate::report::Format;

const AFTER_HELP: &str = "\
Examples:
  portaudit                          audit this host; exit 1 if anything unexpected is exposed
  portaudit --allow 5432/tcp         PostgreSQL may be reachable too
  portaudit --allow 8000-8100,domain a port range, and a service name (DNS: 53 tcp and udp)
  portaudit --json | jq '.sockets[] | select(.verdict == \"exposed\")'
  portaudit || exit 1                gate a provisioning script

Exit status:
  0  nothing unexpected is reachable from outside
  1  something is exposed (or internal, with --strict)
  2  usage error, or the audit could not be done or is incomplete
     (a row of a socket table could not be read, and nothing is exposed)

By default only ssh, http and https (22, 80, 443/tcp) may be reachable from outside.
Run as root to see which process owns every socket.";

#[derive(Debug, Parser)]
#[command(
    name = "portaudit",
    version,
    // A later flag wins over an earlier one (`alias portaudit='portaudit --color never'`).
    args_override_self = true,
    about = "Audit the listening TCP and UDP sockets of this host: what listens, on which \
             addresses, owned by which process, and what is exposed that should not be.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Also allow these to be reachable: PORT, PORT/PROTO, LO-HI[/PROTO] or a service
    /// name from /etc/services (repeatable, or comma-separated)
    #[arg(long, value_name = "SPEC", value_delimiter = ',')]
    allow: Vec<String>,

    /// Do not allow ssh, http and https (22, 80, 443/tcp) by default
    #[arg(long)]
    no_default_allow: bool,

    /// Fail (exit 1) on internal findings too: listeners on private, shared, link-local
    /// or ULA addresses that are not allowed
    #[arg(long)]
    strict: bool,

    /// Print one JSON document (schema_version 1) instead of the table
    #[arg(long)]
    json: bool,

    /// Read the socket tables and processes under DIR instead of /proc
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    proc_root: PathBuf,

    /// When to colour the table
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    Always,
    Never,
}

/// Checked settings for one run.
#[derive(Debug)]
pub struct Config {
    pub policy: Policy,
    pub format: Format,
    pub proc_root: PathBuf,
    pub color: bool,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, Error> {
        let services = Services::load()?;
        let policy = Policy::new(&self.allow, !self.no_default_allow, self.strict, &services)?;
        if !self.proc_root.is_dir() {
            return Err(Error::new(format!(
                "--proc-root {}: not a directory",
                self.proc_root.display()
            )));
        }
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => !no_color && std::io::stdout().is_terminal(),
        };
        let format = if self.json {
            Format::Json
        } else {
            Format::Table
        };
        Ok(Config {
            policy,
            format,
            proc_root: self.proc_root,
            color,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
