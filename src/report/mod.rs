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
    let mut stdout = io::stdout().lock();
    let written = match format {
        // Written as it is encoded: a big report is never held whole.
        Format::Json => {
            let mut out = io::BufWriter::with_capacity(64 * 1024, &mut stdout);
            json::write(audit, &mut out).and_then(|()| out.flush())
        }
        Format::Table => write_text(&mut stdout, &table::render(audit, color)),
        Format::Prometheus => write_text(
            &mut stdout,
            &prometheus::render(audit, std::time::SystemTime::now()),
        ),
    };
    match written {
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

fn write_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(text.as_bytes()).and_then(|()| out.flush())
}
