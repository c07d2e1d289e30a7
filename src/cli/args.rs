//! The flags, as clap parses them: the one definition that `--help`, the man page and
//! the shell completions are made from. [`super`] turns them into a checked `Config`.
//!
//! This file uses only clap and std: build.rs includes it to write the man pages and
//! completions at build time (for the Debian package), so it cannot reach the rest of
//! the crate. Add a flag here, and read it in `Cli::into_config` (src/cli/mod.rs).

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Parser, ValueEnum, ValueHint};

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
  portaudit --port 80                what is on port 80; the exit code covers those sockets only
  portaudit --pid 1234               what process 1234 listens on (--process nginx: by name)
  portaudit --all-netns              containers too: contained unless the host publishes them
  portaudit --netns web              one network namespace (ip netns name, path or pid)
  portaudit --format prometheus --output /var/lib/prometheus/node-exporter/portaudit.prom
                                     metrics for node_exporter's textfile collector
  portaudit --watch 60 --json        every minute, one JSON line per listener that appears,
                                     goes away or changes verdict (until SIGTERM: exit 0)
  portaudit --generate man > portaudit.1
  portaudit --generate man /usr/local/share/man
                                     portaudit(1) and portaudit.toml(5), the policy file

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
    #[arg(long, value_name = "SPEC", value_delimiter = ',', value_hint = ValueHint::Other)]
    pub(crate) allow: Vec<String>,

    /// Do not allow ssh, http and https (22, 80, 443/tcp) by default
    #[arg(long)]
    pub(crate) no_default_allow: bool,

    /// Fail (exit 1) on internal findings too: listeners on private, shared, link-local
    /// or ULA addresses that are not allowed
    #[arg(long)]
    pub(crate) strict: bool,

    /// Print one JSON document (schema_version 1) instead of the table: short for
    /// --format json
    #[arg(long)]
    pub(crate) json: bool,

    /// Read the socket tables and processes under DIR instead of /proc
    #[arg(long, value_name = "DIR", default_value = "/proc", value_hint = ValueHint::DirPath)]
    pub(crate) proc_root: PathBuf,

    /// When to colour the table
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    pub(crate) color: Color,

    /// The output format
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<FormatArg>,

    /// Judge by this policy file (TOML) [default: /etc/portaudit/portaudit.toml when it
    /// exists]
    #[arg(long, value_name = "FILE", conflicts_with = "no_config", value_hint = ValueHint::FilePath)]
    pub(crate) config: Option<PathBuf>,

    /// Ignore /etc/portaudit/portaudit.toml
    #[arg(long)]
    pub(crate) no_config: bool,

    /// Report findings but exit 0 on them (roll a policy out before enforcing it); an
    /// audit that could not be done still exits 2
    #[arg(long)]
    pub(crate) advisory: bool,

    /// Write the current listeners to FILE, as the baseline for --baseline, and say so on
    /// stderr; the exit code is still the audit's (1 when something is exposed)
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) save_baseline: Option<PathBuf>,

    /// Fail (exit 1) on listeners that are not in the baseline FILE; removed ones are
    /// reported, not failed
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) baseline: Option<PathBuf>,

    /// Print a man page or a shell completion script (WHAT), then exit; `man DIR` writes
    /// both man pages into the man tree DIR (DIR/man1, DIR/man5)
    #[arg(long, value_names = ["WHAT", "DIR"], num_args = 1..=2, value_parser = GenerateValues)]
    pub(crate) generate: Vec<String>,

    /// How to read the sockets: netlink (sock_diag: tells dual-stack and bound devices),
    /// proc (/proc/net), or auto: netlink on this host, proc with --proc-root or where
    /// netlink is refused
    #[arg(long, value_enum, value_name = "HOW", default_value_t = CollectorArg::Auto)]
    pub(crate) collector: CollectorArg,

    /// Do not look for the processes that own the sockets (faster; no root needed for a
    /// complete answer)
    #[arg(long)]
    pub(crate) no_processes: bool,

    /// Audit every network namespace (containers'): theirs are `contained` unless this
    /// host publishes them (DNAT, docker-proxy)
    #[arg(long, conflicts_with = "netns")]
    pub(crate) all_netns: bool,

    /// Audit one network namespace: a name under /run/netns, a path to one, or a pid.
    /// Judged from this host: its sockets are reachable through the ways in this host
    /// gives them (routed, DNAT, proxy). `ip netns exec NAME portaudit` instead judges
    /// that namespace as a host of its own (its addresses, its firewall); the two agree
    /// wherever the namespace is routed
    #[arg(long, value_name = "NAME|PATH|PID")]
    pub(crate) netns: Option<String>,

    /// Do not read the nftables ruleset (no DNAT publishes, no firewall column)
    #[arg(long, conflicts_with = "ruleset")]
    pub(crate) no_firewall: bool,

    /// Read the ruleset from FILE (saved `nft -j list ruleset`) instead of the kernel's
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) ruleset: Option<PathBuf>,

    /// Let sockets pass that the host firewall drops on every way in (verdict `filtered`)
    #[arg(long)]
    pub(crate) trust_firewall: bool,

    /// Audit again every SECONDS (fractions allowed, at least 0.01) and print one line per
    /// change: a listener appears, goes away or changes verdict (one JSON object per line
    /// with --json). The first poll reports every socket as new. Runs until SIGINT or
    /// SIGTERM, then exits 0
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_hint = ValueHint::Other)]
    pub(crate) watch: Option<String>,

    /// Write the report to FILE instead of stdout, replacing it whole (a temporary file
    /// beside it, then a rename): the table, the JSON, or with --format prometheus the
    /// textfile for node_exporter — which, when the audit cannot be done, says so
    /// (portaudit_audit_success 0). Run as root, FILE's directory must be one only root
    /// can change
    #[arg(long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// Fit the table to COLS columns (0: never cut a row) [default: on a terminal, its
    /// width, or COLUMNS when set; piped, rows are never cut]
    #[arg(long, value_name = "COLS", value_hint = ValueHint::Other)]
    pub(crate) width: Option<usize>,

    /// Select the sockets on these ports (the port the outside reaches, or the socket's
    /// own): PORT, PORT/PROTO, LO-HI[/PROTO] or a service name (repeatable, or
    /// comma-separated). The audit, its exit code and its summary cover only the sockets
    /// selected
    #[arg(long, value_name = "SPEC", value_delimiter = ',', value_hint = ValueHint::Other)]
    pub(crate) port: Vec<String>,

    /// Select the sockets held by a process of this name (comm) or executable (its file
    /// name or full path); a socket with no owner seen (not root, hidepid) is selected
    /// too, and counted as such (repeatable, or comma-separated)
    #[arg(long, value_name = "NAME", value_delimiter = ',', value_hint = ValueHint::Other)]
    pub(crate) process: Vec<String>,

    /// Select the sockets held by this process id (repeatable, or comma-separated); as
    /// --process for owners that could not be seen
    #[arg(
        long,
        value_name = "PID",
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_hint = ValueHint::Other
    )]
    pub(crate) pid: Vec<String>,

    /// Select the sockets of one protocol: tcp or udp
    #[arg(long, value_name = "PROTO", value_parser = ProtocolValues)]
    pub(crate) protocol: Option<String>,
}

/// What `--generate` writes (its first value, WHAT), with what --help says of each.
pub(crate) const GENERATE: &[(&str, &str)] = &[
    (
        "man",
        "portaudit(1); with DIR, both man pages into the man tree DIR",
    ),
    ("man-toml", "portaudit.toml(5), the policy file"),
    ("bash", "bash completion"),
    ("zsh", "zsh completion"),
    ("fish", "fish completion"),
];

/// `--generate`'s values are any text (WHAT, then a DIR, checked when the page is
/// written), but WHAT's choices are what --help lists and the completions offer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GenerateValues;

impl TypedValueParser for GenerateValues {
    type Value = String;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            GENERATE
                .iter()
                .map(|&(name, help)| PossibleValue::new(name).help(help)),
        ))
    }
}

/// `--protocol`'s value is any text, checked into one line naming the flag (clap's own
/// error is several); its choices are what the completions offer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProtocolValues;

impl TypedValueParser for ProtocolValues {
    type Value = String;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(command, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(["tcp", "udp"].into_iter().map(PossibleValue::new)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// Rows for people, with a summary line
    Table,
    /// One JSON document (schema_version 1)
    Json,
    /// node_exporter's textfile-collector format
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CollectorArg {
    Auto,
    Netlink,
    Proc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Color {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    Always,
    Never,
}
