//! portaudit: what is listening on this host, on which addresses, owned by which
//! process — and is anything reachable from outside that should not be?
//!
//! The pipeline, one module per stage: cli (flags → checked config) → collect (the
//! kernel's socket tables, owners) → classify (what a bind address reaches) → policy
//! (allowlist, verdicts) → report (table or JSON). The exit code is the verdict.
//!
//! The binary is `src/main.rs`; the library exists so that the fuzz targets (`fuzz/`)
//! can drive the parsers that read untrusted text.

pub mod baseline;
pub mod classify;
pub mod cli;
pub mod collect;
pub mod error;
pub mod exit;
pub mod firewall;
mod man;
pub mod policy;
pub mod reach;
pub mod report;

use cli::Cli;
use error::Error;
use exit::Outcome;

/// One audit, start to end: check the flags, collect, judge, print.
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    if let Some(what) = cli.generate() {
        return cli::generate(what);
    }
    let config = cli.into_config()?;
    let collection = collect::collect(&config.collect)?;
    let mut audit = config.policy.judge(collection);
    if let Some((path, listeners)) = &config.baseline {
        baseline::compare(&mut audit, listeners, path);
    }
    if let Some(path) = &config.save_baseline {
        baseline::save(&audit, path)?;
    }
    report::print(&audit, config.format, config.color)?;
    Ok(audit.outcome)
}
