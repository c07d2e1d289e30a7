//! The plain writer under the table: columns that fit a width, prose that wraps.
//!
//! A cell is made of parts: the first says what the cell is (an address, `pid/name`),
//! the later ones add to it (`, 812/sshd`, ` +3`, ` (4 sockets)`). A column narrower than
//! a cell keeps the parts that fit and ends with `…`, so no address, port or name is
//! split; only a part that cannot fit alone is cut, and never inside an escape (`\x1b`).
//! Without a width every row is one whole line, for grep.
//!
//! Widths are measured once, as rows are added, and each row is kept as one string: a
//! table of 500,000 rows costs one pass and one allocation per row.

use std::io::{self, Write};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Inside a row's string: between two parts of a cell, and between two cells. Names
/// reach the table escaped (escape.rs), so no text in a cell holds a control character
/// and neither can be forged.
const PART: char = '\u{1e}';
const CELL: char = '\u{1f}';
/// Spaces between two columns.
const GAP: usize = 2;
/// Continuation lines of wrapped prose start with this.
const INDENT: &str = "  ";
/// A column is never cut narrower than this (`a…`); a terminal narrower than the rest
/// of the table gets each line cut at its width instead.
const CUT_FLOOR: usize = 4;

/// The text of one cell.
pub struct Cell(String);

impl Cell {
    pub fn new(text: impl Into<String>) -> Cell {
        Cell(text.into())
    }

    /// Adds a part the column may leave out (the cell then ends with `…`).
    pub fn more(mut self, text: &str) -> Cell {
        if !text.is_empty() {
            self.0.push(PART);
            self.0.push_str(text);
        }
        self
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell(text.to_string())
    }
}

/// How a row is coloured on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    /// Fails the audit: bold red.
    Failing,
    /// Worth a look: yellow.
    Warning,
}

/// One way to make the table narrower, naming a column by its header. [`Grid::fit`]
/// takes them in order and stops as soon as the table fits.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Leave the column out.
    Drop(&'static str),
    /// Leave out later parts of its cells, down to each cell's first part.
    Shorten(&'static str),
    /// Cut its cells' first parts too, down to a few characters.
    Cut(&'static str),
}

struct Column {
    header: &'static str,
    /// The widest cell, whole (the header counts).
    natural: usize,
    /// The widest first part, with `…` when the cell has more (the header counts).
    least: usize,
}

/// Rows of cells under a header.
pub struct Grid {
    columns: Vec<Column>,
    rows: Vec<(String, Tone)>,
}

/// The width of each column, `None` for one left out, and the line width to keep to.
pub struct Fit {
    widths: Vec<Option<usize>>,
    limit: Option<usize>,
}

impl Grid {
    pub fn new(headers: &[&'static str]) -> Grid {
        let columns = headers
            .iter()
            .map(|&header| Column {
                header,
                natural: header.width(),
                least: header.width(),
            })
            .collect();
        Grid {
            columns,
            rows: Vec::new(),
        }
    }

    /// Adds a row: one cell per header, in order.
    pub fn push(&mut self, cells: impl IntoIterator<Item = Cell>, tone: Tone) {
        let mut row = String::new();
        for (i, Cell(text)) in cells.into_iter().enumerate() {
            debug_assert!(
                !text.chars().any(|c| c.is_control() && c != PART),
                "a cell holds a control character: {text:?}"
            );
            if i > 0 {
                row.push(CELL);
            }
            let column = &mut self.columns[i];
            let whole = width(&text);
            let first = text.split(PART).next().map_or(0, str::width);
            let least = if first < whole { first + 1 } else { whole };
            column.natural = column.natural.max(whole);
            column.least = column.least.max(least);
            row.push_str(&text);
        }
        self.rows.push((row, tone));
    }

    /// The widths that fit `limit` columns, taking `steps` in order until the table fits;
    /// without a limit, every column whole.
    pub fn fit(&self, limit: Option<usize>, steps: &[Step]) -> Fit {
        let mut widths: Vec<Option<usize>> = self.columns.iter().map(|c| Some(c.natural)).collect();
        if let Some(limit) = limit {
            for step in steps {
                let excess = line_width(&widths).saturating_sub(limit);
                if excess == 0 {
                    break;
                }
                let (Step::Drop(header) | Step::Shorten(header) | Step::Cut(header)) = *step;
                let Some(i) = self.columns.iter().position(|c| c.header == header) else {
                    continue;
                };
                let Some(now) = widths[i] else { continue };
                let floor = match step {
                    Step::Drop(_) => {
                        widths[i] = None;
                        continue;
                    }
                    Step::Shorten(_) => self.columns[i].least,
                    Step::Cut(_) => CUT_FLOOR,
                };
                widths[i] = Some(now.saturating_sub(excess).max(floor).min(now));
            }
            self.give_back(&mut widths, limit, steps);
        }
        Fit { widths, limit }
    }

    /// A step can take more than needed (a dropped column, a cell cut to its first
    /// part): give the room left back, latest step first, since the order puts what
    /// matters most last.
    fn give_back(&self, widths: &mut [Option<usize>], limit: usize, steps: &[Step]) {
        for step in steps.iter().rev() {
            let slack = limit.saturating_sub(line_width(widths));
            if slack == 0 {
                break;
            }
            let (Step::Drop(header) | Step::Shorten(header) | Step::Cut(header)) = *step;
            let Some(i) = self.columns.iter().position(|c| c.header == header) else {
                continue;
            };
            let natural = self.columns[i].natural;
            widths[i] = match widths[i] {
                None if natural + GAP <= slack => Some(natural),
                None => None,
                Some(w) => Some(natural.min(w + slack)),
            };
        }
    }

    /// Whether `fit` shows every cell of the column `header` whole.
    pub fn whole(&self, fit: &Fit, header: &str) -> bool {
        self.columns
            .iter()
            .zip(&fit.widths)
            .any(|(c, w)| c.header == header && *w >= Some(c.natural))
    }

    /// The headers of the columns `fit` leaves out.
    pub fn dropped(&self, fit: &Fit) -> Vec<&'static str> {
        self.columns
            .iter()
            .zip(&fit.widths)
            .filter(|(_, w)| w.is_none())
            .map(|(c, _)| c.header)
            .collect()
    }

    /// Writes the header and every row, one line each.
    pub fn write(&self, fit: &Fit, color: bool, out: &mut dyn Write) -> io::Result<()> {
        let mut line = String::new();
        compose(
            self.columns.iter().map(|c| c.header),
            fit,
            Tone::Plain,
            color,
            &mut line,
        );
        out.write_all(line.as_bytes())?;
        for (row, tone) in &self.rows {
            compose(row.split(CELL), fit, *tone, color, &mut line);
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }
}

/// The width of a line with these columns.
fn line_width(widths: &[Option<usize>]) -> usize {
    let shown = widths.iter().flatten();
    let count = shown.clone().count();
    shown.sum::<usize>() + GAP * count.saturating_sub(1)
}

/// One line of the table into `line` (cleared first), ending in a newline.
fn compose<'a>(
    cells: impl Iterator<Item = &'a str>,
    fit: &Fit,
    tone: Tone,
    color: bool,
    line: &mut String,
) {
    line.clear();
    let mut pad = 0;
    for (cell, w) in cells.zip(&fit.widths) {
        let Some(w) = *w else { continue };
        line.extend(std::iter::repeat_n(' ', pad));
        let used = put(cell, w, line);
        pad = w - used.min(w) + GAP;
    }
    let end = line.trim_end_matches(' ').len();
    line.truncate(end);
    if let Some(limit) = fit.limit
        && line.width() > limit
    {
        // Narrower than the columns can go: the line itself is cut.
        let whole = std::mem::take(line);
        let used = cut(&whole, limit.saturating_sub(1), line);
        if used < whole.width() {
            line.push('…');
        }
    }
    if color && tone != Tone::Plain {
        let on = match tone {
            Tone::Failing => "\x1b[1;31m",
            _ => "\x1b[33m",
        };
        line.insert_str(0, on);
        line.push_str("\x1b[0m");
    }
    line.push('\n');
}

/// The cell into at most `w` columns of `line`: whole if it fits, else the parts that
/// fit and `…`, else its first part cut. Returns the width used.
fn put(cell: &str, w: usize, line: &mut String) -> usize {
    let whole = width(cell);
    if whole <= w {
        line.extend(cell.split(PART));
        return whole;
    }
    if w == 0 {
        return 0;
    }
    let mut used = 0;
    for part in cell.split(PART) {
        let pw = part.width();
        if used + pw + 1 > w {
            break;
        }
        line.push_str(part);
        used += pw;
    }
    if used == 0 {
        let first = cell.split(PART).next().unwrap_or_default();
        used = cut(first, w - 1, line);
    }
    line.push('…');
    used + 1
}

/// The width of a cell's text, parts joined.
fn width(cell: &str) -> usize {
    cell.split(PART).map(str::width).sum()
}

/// As much of `text` as fits `avail` columns, never splitting an escape (`\x1b`,
/// `\u{202e}`, `\\`) or leaving a combining mark behind; returns the width used.
fn cut(text: &str, avail: usize, out: &mut String) -> usize {
    let mut used = 0;
    for unit in units(text) {
        let w = unit.width();
        if used + w > avail {
            break;
        }
        out.push_str(unit);
        used += w;
    }
    used
}

/// `text` in pieces that must stay whole: a character with the zero-width marks after
/// it, or one escape as escape.rs writes them.
fn units(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        let mut end = match first {
            '\\' => match rest[1..].chars().next() {
                Some('x') => rest.len().min(4),
                Some('u') => rest.find('}').map_or(rest.len(), |i| i + 1),
                Some(c) => 1 + c.len_utf8(),
                None => 1,
            },
            c => c.len_utf8(),
        };
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        for c in rest[end..].chars() {
            if c.width() != Some(0) {
                break;
            }
            end += c.len_utf8();
        }
        let (unit, tail) = rest.split_at(end);
        rest = tail;
        Some(unit)
    })
}

/// `text`'s lines, each wrapped at spaces to `limit` columns (continuation lines
/// indented by two); a word wider than a line is cut between characters. Without a
/// limit, the text as it is.
pub fn wrap(text: &str, limit: Option<usize>) -> String {
    let Some(limit) = limit else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.split_inclusive('\n') {
        let (line, newline) = match line.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (line, ""),
        };
        if line.width() <= limit {
            out.push_str(line);
            out.push_str(newline);
            continue;
        }
        let mut col = 0;
        for (i, word) in line.split(' ').enumerate() {
            let w = word.width();
            if i > 0 {
                if col + 1 + w <= limit {
                    out.push(' ');
                    out.push_str(word);
                    col += 1 + w;
                    continue;
                }
                out.push('\n');
                out.push_str(INDENT);
                col = INDENT.len();
            }
            let mut fresh = true;
            for unit in units(word) {
                let uw = unit.width();
                if col + uw > limit && !fresh {
                    out.push('\n');
                    out.push_str(INDENT);
                    col = INDENT.len();
                }
                out.push_str(unit);
                col += uw;
                fresh = false;
            }
        }
        out.push_str(newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let mut grid = Grid::new(&["Address", "Process", "Verdict"]);
        grid.push(
            [
                Cell::new("2001:db8:1234:5678:9abc:def0:1234:5678"),
                Cell::new("812/sshd")
                    .more(", 900/sshd")
                    .more(" +3")
                    .more(" (5 sockets)"),
                Cell::new("EXPOSED").more(" (new)"),
            ],
            Tone::Failing,
        );
        grid.push(
            [
                Cell::new("0.0.0.0"),
                Cell::new("1/ev\\x1b[2Jil\\u{202e}name"),
                Cell::new("allowed"),
            ],
            Tone::Plain,
        );
        grid
    }

    fn lines(grid: &Grid, fit: &Fit) -> Vec<String> {
        let mut out = Vec::new();
        grid.write(fit, false, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn without_a_limit_every_row_is_whole() {
        let grid = grid();
        let fit = grid.fit(None, &[Step::Drop("Verdict")]);
        let lines = lines(&grid, &fit);
        assert_eq!(
            lines[1],
            "2001:db8:1234:5678:9abc:def0:1234:5678  812/sshd, 900/sshd +3 (5 sockets)  EXPOSED (new)"
        );
        assert_eq!(
            lines[2],
            "0.0.0.0                                 1/ev\\x1b[2Jil\\u{202e}name          allowed"
        );
    }

    #[test]
    fn shortening_keeps_whole_parts_and_marks_the_cut() {
        let grid = grid();
        let fit = grid.fit(Some(70), &[Step::Shorten("Process")]);
        let lines = lines(&grid, &fit);
        assert!(lines.iter().all(|l| l.width() <= 70), "{lines:#?}");
        assert!(lines[1].contains("812/sshd, 900/sshd +3…"), "{lines:#?}");
        // The hostile name is the least this column may be: it stays whole.
        assert!(
            lines[2].contains("1/ev\\x1b[2Jil\\u{202e}name "),
            "{lines:#?}"
        );
    }

    #[test]
    fn cutting_never_splits_an_escape() {
        let grid = grid();
        for limit in 50..62 {
            let fit = grid.fit(
                Some(limit),
                &[Step::Shorten("Process"), Step::Cut("Process")],
            );
            let lines = lines(&grid, &fit);
            assert!(lines.iter().all(|l| l.width() <= limit), "{lines:#?}");
            let cell = lines[2].split_whitespace().nth(1).unwrap();
            let kept = cell.trim_end_matches('…');
            assert!(
                "1/ev\\x1b[2Jil\\u{202e}name".starts_with(kept),
                "{kept} at {limit}"
            );
            assert!(
                !kept.ends_with("\\x1") && !kept.ends_with("\\u{202") && !kept.ends_with('\\'),
                "{kept} at {limit}"
            );
        }
    }

    #[test]
    fn whole_says_whether_a_column_was_shortened() {
        let grid = grid();
        let fit = grid.fit(None, &[]);
        assert!(grid.whole(&fit, "Process") && grid.whole(&fit, "Verdict"));
        let fit = grid.fit(Some(70), &[Step::Shorten("Process")]);
        assert!(!grid.whole(&fit, "Process") && grid.whole(&fit, "Verdict"));
        let fit = grid.fit(Some(75), &[Step::Drop("Verdict")]);
        assert!(!grid.whole(&fit, "Verdict"));
        assert!(!grid.whole(&fit, "No such column"));
    }

    #[test]
    fn dropping_leaves_a_column_out_and_says_which() {
        let grid = grid();
        let fit = grid.fit(Some(75), &[Step::Drop("Verdict"), Step::Drop("Process")]);
        assert_eq!(grid.dropped(&fit), ["Verdict"]);
        let lines = lines(&grid, &fit);
        assert_eq!(lines[0], "Address                                 Process");
    }

    #[test]
    fn a_terminal_too_narrow_for_anything_cuts_each_line() {
        let grid = grid();
        let fit = grid.fit(Some(20), &[Step::Cut("Process")]);
        for line in lines(&grid, &fit) {
            assert!(line.width() <= 20, "{line}");
        }
    }

    #[test]
    fn colour_wraps_failing_rows() {
        let grid = grid();
        let mut out = Vec::new();
        grid.write(&grid.fit(None, &[]), true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines[0].contains('\x1b'));
        assert!(lines[1].starts_with("\x1b[1;31m2001:") && lines[1].ends_with("\x1b[0m"));
        assert!(!lines[2].starts_with('\x1b'));
    }

    #[test]
    fn prose_wraps_at_spaces() {
        let text = "3 listening, 2 exposed: 9000/tcp python3, 11211/udp memcached\nshort\n";
        assert_eq!(wrap(text, None), text);
        assert_eq!(
            wrap(text, Some(30)),
            "3 listening, 2 exposed:\n  9000/tcp python3, 11211/udp\n  memcached\nshort\n"
        );
    }

    #[test]
    fn a_word_wider_than_the_line_is_cut_between_escapes() {
        let out = wrap("see /var/lib/portaudit/\\x1b[2J/baseline.json", Some(16));
        assert!(out.lines().all(|l| l.width() <= 16), "{out}");
        assert!(!out.contains("\\x\n") && !out.contains("\\x1\n"), "{out}");
        assert_eq!(
            out.replace("\n  ", ""),
            "see/var/lib/portaudit/\\x1b[2J/baseline.json"
        );
    }

    #[test]
    fn wide_characters_count_double() {
        let mut grid = Grid::new(&["Name", "X"]);
        grid.push([Cell::new("名前"), Cell::new("x")], Tone::Plain);
        grid.push([Cell::new("ab"), Cell::new("y")], Tone::Plain);
        let lines = lines(&grid, &grid.fit(None, &[]));
        assert_eq!(lines[1], "名前  x");
        assert_eq!(lines[2], "ab    y");
    }
}
