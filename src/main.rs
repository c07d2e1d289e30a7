//! The `portaudit` command: parse the flags, run the audit, exit with its verdict.

use std::process::ExitCode;

use clap::Parser;

use portaudit::cli::Cli;
use portaudit::exit;

fn main() -> ExitCode {
    match portaudit::run(Cli::parse()) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            eprintln!("portaudit: {e}");
            ExitCode::from(exit::TROUBLE)
        }
    }
}
