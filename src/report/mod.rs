//! Report: show a judged audit — a table for people, JSON for scripts, Prometheus
//! metrics for fleets.
//!
//! The one place that picks the output format. The verdict is decided before anything
//! is printed, and a closed stdout (`portaudit | head -1`) ends the output quietly: the
//! exit code still tells the verdict.

mod escape;
mod event;
mod json;
mod layout;
mod prometheus;
mod prose;
mod table;
#[cfg(test)]
mod tests;

use std::io::{self, BufWriter, Write};

use crate::audit::Audit;
use crate::error::{Error, describe_io};

pub use escape::for_terminal;
pub use event::{Change, Event, Standing};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// node_exporter's textfile-collector format.
    Prometheus,
}

pub use prometheus::failure as prometheus_failure;

/// Write the report to stdout and the warnings to stderr. `width`: the columns the
/// table fits, `None` for whole rows (see [`terminal_width`]).
pub fn print(
    audit: &Audit,
    format: Format,
    color: bool,
    width: Option<usize>,
) -> Result<(), Error> {
    let mut stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let written = write(audit, format, color, width, &mut stdout);
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
    print_warnings(audit);
    Ok(())
}

/// The report in `format` into `out` (stdout, or the file of `--output`).
pub fn write(
    audit: &Audit,
    format: Format,
    color: bool,
    width: Option<usize>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => table::render(audit, color, width, out),
        // Written as it is encoded: a big report is never held whole.
        Format::Json => json::write(audit, &mut &mut *out),
        Format::Prometheus => {
            out.write_all(prometheus::render(audit, std::time::SystemTime::now()).as_bytes())
        }
    }
}

/// The audit's warnings on stderr, one line each, escaped.
pub fn print_warnings(audit: &Audit) {
    let mut stderr = io::stderr().lock();
    for warning in &audit.warnings {
        let _ = writeln!(
            stderr,
            "portaudit: warning: {}",
            escape::for_terminal(&warning.text)
        );
    }
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

/// `--save-baseline`: one line on stderr once the file is written. The exit code stays
/// the audit's (1 when something is exposed), so without it a saved baseline and a
/// failed one look alike to whoever reads the verdict.
pub fn baseline_saved(path: &std::path::Path, listeners: usize) {
    let _ = writeln!(
        io::stderr().lock(),
        "{}",
        baseline_saved_line(path, listeners)
    );
}

fn baseline_saved_line(path: &std::path::Path, listeners: usize) -> String {
    format!(
        "portaudit: baseline saved to {} ({listeners} {})",
        escape::for_terminal(&path.to_string_lossy()),
        if listeners == 1 {
            "listener"
        } else {
            "listeners"
        }
    )
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
