//! The command line: clap parses raw flags, [`Cli::into_config`] checks them once and
//! turns them into the [`Config`] the rest of the program trusts.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, ValueEnum};

use crate::audit::Key;
use crate::baseline;
use crate::collect;
use crate::collect::sysctl;
use crate::error::Error;
use crate::exit::Outcome;
use crate::policy::Policy;
use crate::policy::file;
use crate::policy::services::Services;
use crate::report::Format;

const AFTER_HELP: &str = "\
Examples:
  portaudit                          audit this host; exit 1 if anything unexpected is exposed
  portaudit --allow 5432/tcp         PostgreSQL may be reachable too
  portaudit --allow 8000-8100,domain a port range, and a service name (DNS: 53 tcp and udp)
  portaudit --json | jq '.sockets[] | select(.verdict == \"exposed\")'
  portaudit || exit 1                gate a provisioning script
  portaudit --config policy.toml     judge by a policy file (default: /etc/portaudit/portaudit.toml)
  portaudit --advisory               report what the policy would fail, but exit 0
  portaudit --save-baseline /var/lib/portaudit/baseline.json
  portaudit --baseline /var/lib/portaudit/baseline.json
                                     fail on listeners that are new since the baseline
  portaudit --all-netns              containers too: contained unless the host publishes them
  portaudit --netns web              one network namespace (ip netns name, path or pid)
  portaudit --format prometheus      metrics for node_exporter's textfile collector
  portaudit --generate man > portaudit.1

Exit status:
  0  nothing unexpected is reachable from outside
  1  something is exposed, denied by a rule or new since --baseline (or internal,
     with --strict); --advisory exits 0 instead
  2  usage error, or the audit could not be done or is incomplete (a row of a socket
     table could not be read and nothing fails); a bad policy or baseline file too

By default only ssh, http and https (22, 80, 443/tcp) may be reachable from outside.
Run as root to see which process owns every socket, to enter other network namespaces,
and to read the nftables ruleset (DNAT publishes, the Firewall column).";

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

    /// Print one JSON document (schema_version 1) instead of the table: short for
    /// --format json
    #[arg(long, overrides_with = "format")]
    json: bool,

    /// Read the socket tables and processes under DIR instead of /proc
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    proc_root: PathBuf,

    /// When to colour the table
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    color: Color,

    /// The output format
    #[arg(long, value_enum, value_name = "FORMAT", overrides_with = "json")]
    format: Option<FormatArg>,

    /// Judge by this policy file (TOML) [default: /etc/portaudit/portaudit.toml when it
    /// exists]
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    config: Option<PathBuf>,

    /// Ignore /etc/portaudit/portaudit.toml
    #[arg(long)]
    no_config: bool,

    /// Report findings but exit 0 on them (roll a policy out before enforcing it); an
    /// audit that could not be done still exits 2
    #[arg(long)]
    advisory: bool,

    /// Write the current listeners to FILE, as the baseline for --baseline
    #[arg(long, value_name = "FILE")]
    save_baseline: Option<PathBuf>,

    /// Fail (exit 1) on listeners that are not in the baseline FILE; removed ones are
    /// reported, not failed
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,

    /// Print a man page or a shell completion script, then exit
    #[arg(long, value_enum, value_name = "WHAT")]
    generate: Option<Generate>,

    /// How to read the sockets: netlink (sock_diag: tells dual-stack and bound devices),
    /// proc (/proc/net), or auto: netlink on this host, proc with --proc-root or where
    /// netlink is refused
    #[arg(long, value_enum, value_name = "HOW", default_value_t = CollectorArg::Auto)]
    collector: CollectorArg,

    /// Do not look for the processes that own the sockets (faster; no root needed for a
    /// complete answer)
    #[arg(long)]
    no_processes: bool,

    /// Audit every network namespace (containers'): theirs are `contained` unless this
    /// host publishes them (DNAT, docker-proxy)
    #[arg(long, conflicts_with = "netns")]
    all_netns: bool,

    /// Audit one network namespace: a name under /run/netns, a path to one, or a pid
    #[arg(long, value_name = "NAME|PATH|PID")]
    netns: Option<String>,

    /// Do not read the nftables ruleset (no DNAT publishes, no firewall column)
    #[arg(long, conflicts_with = "ruleset")]
    no_firewall: bool,

    /// Read the ruleset from FILE (saved `nft -j list ruleset`) instead of running nft
    #[arg(long, value_name = "FILE")]
    ruleset: Option<PathBuf>,

    /// Let sockets pass that the host firewall drops on every way in (verdict `filtered`)
    #[arg(long)]
    trust_firewall: bool,

    /// Fit the table to COLS columns (0: never cut a row) [default: on a terminal, its
    /// width, or COLUMNS when set; piped, rows are never cut]
    #[arg(long, value_name = "COLS")]
    width: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// Rows for people, with a summary line
    Table,
    /// One JSON document (schema_version 1)
    Json,
    /// node_exporter's textfile-collector format
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// A man page (roff), for man1
    Man,
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CollectorArg {
    Auto,
    Netlink,
    Proc,
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
    pub color: bool,
    /// The columns the table fits; `None`: rows are never cut.
    pub width: Option<usize>,
    /// `--save-baseline FILE`.
    pub save_baseline: Option<PathBuf>,
    /// `--baseline FILE`, read and checked.
    pub baseline: Option<(PathBuf, BTreeSet<Key>)>,
    /// Which collector, and whether to find owners.
    pub collect: collect::Options,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, Error> {
        let services = Services::load()?;
        let mut policy = Policy::new(&self.allow, !self.no_default_allow, self.strict, &services)?;
        let system = Path::new(file::SYSTEM_FILE);
        if let Some(path) = file::discover(self.config.as_deref(), self.no_config, system) {
            policy.add_file(file::load(&path, &services)?);
        }
        policy.advisory |= self.advisory;
        policy.trust_firewall |= self.trust_firewall;
        if !self.proc_root.is_dir() {
            return Err(Error::new(format!(
                "--proc-root {}: not a directory",
                self.proc_root.display()
            )));
        }
        policy.ephemeral_ports = sysctl::ephemeral_ports(&self.proc_root)?;
        let baseline = match self.baseline {
            Some(path) => {
                let listeners = baseline::load(&path)?;
                Some((path, listeners))
            }
            None => None,
        };
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let terminal = std::io::stdout().is_terminal();
        let color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => !no_color && terminal,
        };
        let width = match self.width {
            Some(0) => None,
            Some(n) => Some(n),
            None if terminal => crate::report::terminal_width(),
            None => None,
        };
        let format = match (self.json, self.format) {
            (true, _) | (false, Some(FormatArg::Json)) => Format::Json,
            (false, Some(FormatArg::Prometheus)) => Format::Prometheus,
            (false, Some(FormatArg::Table) | None) => Format::Table,
        };
        let firewall = match self.ruleset {
            Some(path) => collect::FirewallSource::File(path),
            None if self.no_firewall || self.proc_root != Path::new("/proc") => {
                collect::FirewallSource::Off
            }
            None => collect::FirewallSource::Nft,
        };
        let collect = collect::Options {
            proc_root: self.proc_root,
            collector: match self.collector {
                CollectorArg::Auto => collect::Choice::Auto,
                CollectorArg::Netlink => collect::Choice::Netlink,
                CollectorArg::Proc => collect::Choice::Proc,
            },
            processes: !self.no_processes,
            namespaces: match (self.all_netns, self.netns) {
                (true, _) => collect::Namespaces::All,
                (false, Some(spec)) => collect::Namespaces::One(spec),
                (false, None) => collect::Namespaces::Own,
            },
            firewall,
        };
        Ok(Config {
            policy,
            format,
            color,
            width,
            save_baseline: self.save_baseline,
            baseline,
            collect,
        })
    }

    /// `--generate WHAT`, if asked for: it replaces the audit.
    pub fn generate(&self) -> Option<Generate> {
        self.generate
    }
}

/// Write the man page or a completion script, made from this clap definition, to stdout.
pub fn generate(what: Generate) -> Result<Outcome, Error> {
    use clap_complete::Shell;
    let mut command = Cli::command();
    let mut out = Vec::new();
    match what {
        Generate::Man => clap_mangen::Man::new(command)
            .render(&mut out)
            .map_err(|e| Error::new(format!("cannot render the man page: {e}")))?,
        Generate::Bash | Generate::Zsh | Generate::Fish => {
            let shell = match what {
                Generate::Bash => Shell::Bash,
                Generate::Zsh => Shell::Zsh,
                _ => Shell::Fish,
            };
            clap_complete::generate(shell, &mut command, "portaudit", &mut out);
        }
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&out).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(Outcome::Clean),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Clean),
        Err(e) => Err(Error::new(format!(
            "cannot write: {}",
            crate::error::describe_io(&e)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
