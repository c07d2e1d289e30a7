//! portaudit: what is listening on this host, on which addresses, owned by which
//! process — and is anything reachable from outside that should not be?
//!
//! The pipeline, one module per stage: cli (flags → checked config) → collect (the
//! kernel's socket tables, owners) → classify (what a bind address reaches) → policy
//! (allowlist, verdicts) → report (table or JSON). The exit code is the verdict.

mod classify;
mod cli;
mod collect;
mod error;
mod exit;
mod policy;
mod report;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;
use error::Error;
use exit::Outcome;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("portaudit: {e}");
            ExitCode::from(exit::TROUBLE)
        }
    }
}

fn run(cli: Cli) -> Result<Outcome, Error> {
    let config = cli.into_config()?;
    let collection = collect::collect(&config.collect)?;
    let audit = config.policy.judge(collection);
    report::print(&audit, config.format, config.color)?;
    Ok(audit.outcome)
}
