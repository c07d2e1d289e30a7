//! Report: show a judged audit — a table for people, JSON for scripts, Prometheus
//! metrics for fleets.
//!
//! The one place that picks the output format. The verdict is decided before anything
//! is printed, and a closed stdout (`portaudit | head -1`) ends the output quietly: the
//! exit code still tells the verdict.

mod escape;
mod json;
mod prometheus;
mod table;

use std::io::{self, Write};

use crate::audit::Audit;
use crate::error::{Error, describe_io};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// node_exporter's textfile-collector format.
    Prometheus,
}

/// Write the report to stdout and the warnings to stderr.
pub fn print(audit: &Audit, format: Format, color: bool) -> Result<(), Error> {
    let text = match format {
        Format::Table => table::render(audit, color),
        Format::Json => json::render(audit)?,
        Format::Prometheus => prometheus::render(audit, std::time::SystemTime::now()),
    };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            return Err(Error::new(format!(
                "cannot write the report: {}",
                describe_io(&e)
            )));
        }
    }
    let mut stderr = io::stderr().lock();
    for warning in &audit.warnings {
        let _ = writeln!(
            stderr,
            "portaudit: warning: {}",
            escape::for_terminal(warning)
        );
    }
    Ok(())
}
