//! Report: show a judged audit — a table for people, JSON for scripts, Prometheus
//! metrics for fleets.
//!
//! The one place that picks the output format. The verdict is decided before anything
//! is printed, and a closed stdout (`portaudit | head -1`) ends the output quietly: the
//! exit code still tells the verdict.

mod escape;
mod event;
mod json;
mod prometheus;
mod table;

use std::io::{self, Write};

use crate::audit::Audit;
use crate::error::{Error, describe_io};

pub use event::{Change, Event, Standing};

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

/// `--watch`: write one poll's events to stdout at once, one line each. `Ok(false)` when
/// stdout is closed (whoever read it went away): the watch then ends quietly.
pub fn print_events(events: &[Event], format: Format) -> Result<bool, Error> {
    if events.is_empty() {
        return Ok(true);
    }
    let mut text = String::new();
    for event in events {
        match format {
            Format::Json => text.push_str(&event::json_line(event)?),
            Format::Table | Format::Prometheus => text.push_str(&event::text_line(event)),
        }
    }
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::new(format!(
            "cannot write the watch events: {}",
            describe_io(&e)
        ))),
    }
}

/// One warning line on stderr, escaped (it may quote names anyone can choose).
pub fn warn(message: &str) {
    let _ = writeln!(
        io::stderr().lock(),
        "portaudit: warning: {}",
        escape::for_terminal(message)
    );
}
