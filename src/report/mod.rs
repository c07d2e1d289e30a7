//! Report: show a judged audit — a table for people, JSON for scripts, Prometheus
//! metrics for fleets.
//!
//! The one place that picks the output format. The verdict is decided before anything
//! is printed, and a closed stdout (`portaudit | head -1`) ends the output quietly: the
//! exit code still tells the verdict.

mod escape;
mod json;
mod layout;
mod prometheus;
mod table;
#[cfg(test)]
mod tests;

use std::io::{self, BufWriter, Write};

use crate::audit::Audit;
use crate::error::{Error, describe_io};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// node_exporter's textfile-collector format.
    Prometheus,
}

/// Write the report to stdout and the warnings to stderr. `width`: the columns the
/// table fits, `None` for whole rows (see [`terminal_width`]).
pub fn print(
    audit: &Audit,
    format: Format,
    color: bool,
    width: Option<usize>,
) -> Result<(), Error> {
    let mut stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let written = match format {
        Format::Table => table::render(audit, color, width, &mut stdout),
        Format::Json => stdout.write_all(json::render(audit)?.as_bytes()),
        Format::Prometheus => {
            stdout.write_all(prometheus::render(audit, std::time::SystemTime::now()).as_bytes())
        }
    };
    match written.and_then(|()| stdout.flush()) {
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

/// The width of the terminal on stdout: `COLUMNS` when it is a positive number (a user's
/// override, as for ls), else what the terminal says (TIOCGWINSZ); `None` when neither
/// says (a pty with no size). Asked only when stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    let columns = std::env::var("COLUMNS").ok();
    if let Some(n) = columns.and_then(|c| c.trim().parse::<usize>().ok())
        && n > 0
    {
        return Some(n);
    }
    window_width()
}

#[cfg(target_os = "linux")]
fn window_width() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(io::stdout()).ok()?;
    Some(usize::from(size.ws_col)).filter(|&n| n > 0)
}

#[cfg(not(target_os = "linux"))]
fn window_width() -> Option<usize> {
    None
}
