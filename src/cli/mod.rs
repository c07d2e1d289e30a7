//! The command line: clap parses raw flags, [`Cli::into_config`] checks them once and
//! turns them into the [`Config`] the rest of the program trusts.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, ValueEnum};

use crate::audit::{Key, Selection};
use crate::baseline;
use crate::collect;
use crate::collect::sysctl;
use crate::error::Error;
use crate::exit::Outcome;
use crate::fsafe::write::{Dir, Target};
use crate::policy::Policy;
use crate::policy::file;
use crate::policy::services::Services;
use crate::report::Format;
use crate::watch;

mod args;
pub use args::Cli;
use args::{CollectorArg, Color, FormatArg};

/// Checked settings for one run.
#[derive(Debug)]
pub struct Config {
    pub policy: Policy,
    pub format: Format,
    pub color: bool,
    /// The columns the table fits; `None`: rows are never cut.
    pub width: Option<usize>,
    /// `--save-baseline FILE`, its directory opened (and, as root, judged) up front.
    pub save_baseline: Option<Target>,
    /// `--baseline FILE`, read and checked.
    pub baseline: Option<(PathBuf, BTreeSet<Key>)>,
    /// Which collector, and whether to find owners.
    pub collect: collect::Options,
    /// `--watch SECONDS`: poll at this interval instead of auditing once.
    pub watch: Option<Duration>,
    /// `--port`, `--process`, `--pid`, `--protocol`.
    pub selection: Selection,
}

impl Cli {
    pub fn into_config(self) -> Result<Config, Error> {
        let watch = match &self.watch {
            Some(text) => Some(self.check_watch(text)?),
            None => None,
        };
        if let (true, Some(format @ (FormatArg::Table | FormatArg::Prometheus))) =
            (self.json, self.format)
        {
            let name = format.to_possible_value().map(|v| v.get_name().to_string());
            return Err(Error::new(format!(
                "--json and --format {} cannot be used together: --json is --format json",
                name.unwrap_or_default()
            )));
        }
        let services = Services::load()?;
        let selection = self.selection(&services)?;
        let mut policy = Policy::new(&self.allow, !self.no_default_allow, self.strict, &services)?;
        let system = Path::new(file::SYSTEM_FILE);
        if let Some(path) = file::discover(self.config.as_deref(), self.no_config, system) {
            policy.add_file(file::load(&path, &services)?);
        }
        policy.advisory |= self.advisory;
        check_takes_effect(&self)?;
        policy.trust_firewall |= self.trust_firewall;
        if !self.proc_root.is_dir() {
            return Err(Error::new(format!(
                "--proc-root {}: not a directory",
                self.proc_root.display()
            )));
        }
        policy.ephemeral_ports = sysctl::ephemeral_ports(&self.proc_root)?;
        if let Some(path) = &self.save_baseline {
            missing_directory(path, "--save-baseline")?;
        }
        let baseline = match self.baseline {
            Some(path) => {
                missing_directory(&path, "--baseline")?;
                if !path.exists() {
                    return Err(Error::new(format!(
                        "--baseline {}: no such file: save one first with portaudit \
                         --save-baseline {}",
                        path.display(),
                        path.display()
                    )));
                }
                let listeners = baseline::load(&path)?;
                Some((path, listeners))
            }
            None => None,
        };
        let save_baseline = self
            .save_baseline
            .as_deref()
            .map(Target::open)
            .transpose()?;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        // With --output the report goes to a file, never a terminal.
        let terminal = self.output.is_none() && std::io::stdout().is_terminal();
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
            save_baseline,
            baseline,
            collect,
            watch,
            selection,
        })
    }

    /// `--port`, `--process`, `--pid` and `--protocol`, checked: a bad value is an error
    /// naming the flag and the value.
    fn selection(&self, services: &Services) -> Result<Selection, Error> {
        let mut selection = Selection::default();
        for spec in &self.port {
            let ports = crate::policy::parse_allow(spec, services)
                .map_err(|why| Error::new(format!("invalid --port value {spec:?}: {why}")))?;
            selection
                .ports
                .extend(ports.into_iter().map(|a| (a.ports, a.protocol)));
            selection.flags.push(format!("--port {}", spec.trim()));
        }
        for name in &self.process {
            if name.trim().is_empty() {
                return Err(Error::new(
                    "invalid --process value \"\": expected a process name or executable",
                ));
            }
            selection.processes.push(name.trim().to_string());
            selection.flags.push(format!("--process {}", name.trim()));
        }
        for pid in &self.pid {
            let number = pid
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    Error::new(format!(
                        "invalid --pid value {pid:?}: expected a process id (a positive number)"
                    ))
                })?;
            selection.pids.push(number);
            selection.flags.push(format!("--pid {number}"));
        }
        if let Some(protocol) = &self.protocol {
            let parsed = crate::policy::parse_protocol(protocol.trim()).map_err(|why| {
                Error::new(format!("invalid --protocol value {protocol:?}: {why}"))
            })?;
            selection.protocol = Some(parsed);
            selection
                .flags
                .push(format!("--protocol {}", parsed.name()));
        }
        if (!self.process.is_empty() || !self.pid.is_empty()) && self.no_processes {
            return Err(Error::new(
                "--process and --pid cannot go with --no-processes: they select sockets by the \
                 processes that own them",
            ));
        }
        if !selection.is_empty() && self.save_baseline.is_some() {
            return Err(Error::new(format!(
                "--save-baseline cannot go with {}: a baseline holds every listener, and one \
                 saved from a selection would make the rest new",
                selection.flags.join(" ")
            )));
        }
        Ok(selection)
    }

    /// `--watch SECONDS`: a number of seconds, and no flag it cannot go with.
    fn check_watch(&self, text: &str) -> Result<Duration, Error> {
        let seconds = text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .ok_or_else(|| {
                Error::new(format!(
                    "--watch {text}: not a number of seconds (e.g. 60 or 0.5)"
                ))
            })?;
        if seconds < watch::MIN_INTERVAL {
            return Err(Error::new(format!(
                "--watch {text}: the interval must be at least {} seconds",
                watch::MIN_INTERVAL
            )));
        }
        let every = Duration::try_from_secs_f64(seconds)
            .map_err(|_| Error::new(format!("--watch {text}: too long an interval")))?;
        let alone = if self.save_baseline.is_some() {
            Some("--save-baseline: it saves one audit; run it once, without --watch")
        } else if self.output.is_some() {
            Some("--output: a file holds one audit; the watch prints each change as it happens")
        } else if self.format == Some(FormatArg::Prometheus) && !self.json {
            Some("--format prometheus: metrics are one audit's; use the textfile timer")
        } else if self.proc_root != Path::new("/proc") {
            Some("--proc-root: a captured tree never changes")
        } else {
            None
        };
        match alone {
            Some(why) => Err(Error::new(format!("--watch cannot go with {why}"))),
            None => Ok(every),
        }
    }

    /// `--generate WHAT [DIR]`, if asked for: it replaces the audit.
    pub fn generate(&self) -> Option<&[String]> {
        (!self.generate.is_empty()).then_some(self.generate.as_slice())
    }

    /// `--output FILE`: its directory opened (and, as root, judged) before anything else,
    /// so that a failed audit can still say so in it.
    pub fn output(&self) -> Result<Option<Target>, Error> {
        self.output.as_deref().map(Target::open).transpose()
    }

    /// Whether the report is Prometheus metrics (`--format prometheus`).
    pub fn prometheus(&self) -> bool {
        !self.json && self.format == Some(FormatArg::Prometheus)
    }
}

/// A baseline's directory that does not exist is said before the audit, with the fix:
/// the Debian package creates /var/lib/portaudit (root's, mode 0700); elsewhere it is
/// the admin's to create.
fn missing_directory(path: &Path, flag: &str) -> Result<(), Error> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::new(format!(
        "{flag} {}: the directory {} does not exist: create it with install -d -m 0700 {} \
         (the Debian package creates /var/lib/portaudit)",
        path.display(),
        dir.display(),
        dir.display()
    )))
}

/// A flag that cannot take effect with the others is a usage error, not silently
/// nothing: `--trust-firewall` needs a ruleset to trust.
fn check_takes_effect(cli: &Cli) -> Result<(), Error> {
    if cli.trust_firewall && cli.no_firewall {
        return Err(Error::new(
            "--trust-firewall cannot take effect with --no-firewall: no ruleset is read, so \
             nothing is known to be dropped",
        ));
    }
    if cli.trust_firewall && cli.ruleset.is_none() && cli.proc_root != Path::new("/proc") {
        return Err(Error::new(format!(
            "--trust-firewall cannot take effect with --proc-root {} unless --ruleset FILE \
             gives that host's ruleset (this host's is not read for a captured tree)",
            cli.proc_root.display()
        )));
    }
    Ok(())
}

/// Write a man page or a completion script, made from this clap definition: to stdout
/// (or `--output FILE`), or, for `man DIR`, both man pages into the man tree DIR.
pub fn generate(what: &[String], output: Option<&Target>) -> Result<Outcome, Error> {
    use clap_complete::Shell;
    let mut command = Cli::command();
    let out = match what {
        [page] if page == "man" => crate::man::command_page(command),
        [page] if page == "man-toml" => crate::man::policy_page(),
        [page, dir] if page == "man" => {
            if output.is_some() {
                return Err(Error::new(
                    "--generate man DIR cannot go with --output: the pages go into DIR",
                ));
            }
            write_man_tree(command, Path::new(dir))?;
            return Ok(Outcome::Clean);
        }
        [shell] => {
            let shell = match shell.as_str() {
                "bash" => Shell::Bash,
                "zsh" => Shell::Zsh,
                "fish" => Shell::Fish,
                other => {
                    return Err(Error::new(format!(
                        "--generate {other}: expected man, man-toml, bash, zsh or fish"
                    )));
                }
            };
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "portaudit", &mut out);
            out
        }
        [what, dir] => {
            return Err(Error::new(format!(
                "--generate {what} {dir}: only man takes a directory (man DIR)"
            )));
        }
        _ => return Err(Error::new("--generate: expected WHAT [DIR]")),
    };
    if let Some(target) = output {
        target.replace(0o644, |file| file.write_all(&out))?;
        return Ok(Outcome::Clean);
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

/// Both man pages into the man tree `dir` (made if missing), each through the safe
/// writer: `dir/man1/portaudit.1`, `dir/man5/portaudit.toml.5`.
fn write_man_tree(command: clap::Command, dir: &Path) -> Result<(), Error> {
    let tree = Dir::create(dir)?;
    for (place, page) in crate::man::pages(command) {
        let (section, name) = place.split_once('/').expect("a man page is SECTION/NAME");
        let path = dir.join(place);
        let section = tree.subdir(section, &dir.join(section))?;
        section
            .target(name, &path)?
            .replace(0o644, |out| out.write_all(&page))?;
        eprintln!("portaudit: wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
