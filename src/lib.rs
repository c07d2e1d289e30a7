//! portaudit: what is listening on this host, on which addresses, owned by which
//! process — and is anything reachable from outside that should not be?
//!
//! The pipeline, one stage per module, called in order by [`run`]: cli (flags → checked
//! config) → collect (the kernel's socket tables, owners, namespaces, the ruleset's
//! text) → reach (the ways in from outside, and the firewall's answer on each) → policy
//! (a verdict per socket) → baseline (drift) → audit (the one outcome) → report (table,
//! JSON, Prometheus). The records they pass along live in `socket` and `audit`.
//!
//! The binary is `src/main.rs`; the library exists so that the fuzz targets (`fuzz/`)
//! can drive the parsers that read untrusted text ([`fuzzing`]).

mod audit;
mod baseline;
mod classify;
pub mod cli;
mod collect;
mod error;
pub mod exit;
mod man;
// The records of the reachability path and the typed ruleset: being filled in by the
// readers and the path walk (issues 17 and 18).
#[allow(dead_code)]
mod network;
mod policy;
mod reach;
mod report;
mod ruleset;
mod socket;
mod watch;

use cli::Cli;
use error::Error;
use exit::Outcome;

/// The parsers of untrusted text, for the fuzz targets.
pub mod fuzzing {
    pub use crate::collect::procnet::{parse_row, parse_table};
    #[cfg(target_os = "linux")]
    pub use crate::collect::{Coverage, decode_dump as decode_nftables_dump};
    pub use crate::policy::parse_allow;
    pub use crate::policy::services::Services;
    pub use crate::ruleset::Ruleset;
    pub use crate::socket::Family;
}

/// One audit, start to end: check the flags, then each stage once, in order (or, with
/// `--watch`, again every interval).
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    if let Some(what) = cli.generate() {
        return cli::generate(what);
    }
    let config = cli.into_config()?;
    if let Some(every) = config.watch {
        return watch::watch(every, config.format, |owners| audit(&config, owners));
    }
    let audit = audit(&config, &mut collect::KnownOwners::once())?;
    if let Some(path) = &config.save_baseline {
        baseline::save(&audit, path)?;
    }
    report::print(&audit, config.format, config.color, config.width)?;
    Ok(audit.outcome)
}

/// The stages in order: collect → reach → judge → drift → outcome. `owners` holds what
/// an earlier poll of `--watch` found, so only new sockets are looked up.
fn audit(config: &cli::Config, owners: &mut collect::KnownOwners) -> Result<audit::Audit, Error> {
    let collect::Collection { listeners, seen } = collect::collect(&config.collect, owners)?;
    let reach = reach::resolve(listeners, &seen)?;
    let judged = config.policy.judge(reach.subjects);
    let drift = config.baseline.as_ref().map(|(path, keys)| {
        let ephemeral = &config.policy.ephemeral_ports.range;
        baseline::compare(&judged.findings, keys, path, ephemeral)
    });
    let mut warnings = seen.warnings;
    warnings.extend(reach.warnings);
    let context = audit::Context {
        warnings,
        incomplete: seen.incomplete,
        collector: seen.collector,
        namespaces: seen.namespaces,
        firewall_read: reach.firewall_read,
        ephemeral_ports: config.policy.ephemeral_ports.clone(),
        policy_file: config.policy.file.clone(),
    };
    Ok(audit::conclude(
        judged,
        drift,
        config.policy.mode(),
        context,
    ))
}
