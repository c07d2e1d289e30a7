//! Read and parse the kernel's socket tables: /proc/net/{tcp,tcp6,udp,udp6}.
//!
//! We read the rows ourselves rather than through the procfs crate: its parser fails a
//! whole table on one unexpected row. Here one odd row costs only that row: it becomes
//! a warning naming file and line, and the audit is marked incomplete (it might have
//! been a listener).
//!
//! The kernel cannot hand us a table atomically. Each read() returns at most a page of
//! rows, and the next read resumes by position: for UDP, by counting rows from the start
//! of the table. A socket closed between two reads shifts every later row back by one,
//! so the row at the page boundary is never shown; a socket opened shifts them forward,
//! so a row shows twice. On a host that opens and closes UDP sockets all the time (any
//! DNS client), one read in four missed some listener in our measurements. So each
//! table is read several times, with the page boundaries at different rows each time,
//! until a read brings no listener the earlier ones had not shown (at most
//! [`MAX_PASSES`]), and the listeners are the union of all reads, each socket once by
//! (protocol, inode). TCP's listeners come first in its tables and resume by hash
//! bucket, which churn does not shift, so its later reads stop at the end of the
//! listeners. The parsing here is pure and unit-tested; only [`read_listeners`] touches
//! the filesystem.
//!
//! Each read streams: a 64 KiB buffer holds the rows not yet parsed, and only the
//! listeners are kept, so memory does not grow with the established connections.
//!
//! Rows are one socket each only when they agree on everything that names a socket:
//! (protocol, family, address, port, inode). Two rows with one inode and different
//! binds are two listeners (inode numbers can repeat once the kernel's counter wraps),
//! and a row with inode 0 (a socket being torn down) is never merged with another.
//!
//! Content the parser does not recognise is never read as "no sockets": a header that
//! is not the kernel's, a carriage return inside a line (CR-only line endings; CRLF is
//! tolerated), or bytes after the header that yield no row make the audit incomplete,
//! with a warning naming the file.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::error::Error;
use crate::socket::{Family, Listener, Protocol};

/// TCP_LISTEN in the kernel's `st` column.
const TCP_LISTEN: u8 = 0x0A;
/// TCP_CLOSE: what an unconnected UDP socket shows (a connected one shows ESTABLISHED).
const UDP_UNCONNECTED: u8 = 0x07;

/// The most reads of one table in one audit.
pub const MAX_PASSES: usize = 6;
/// The size of the first read of each pass, as a share of the kernel's page: each pass
/// puts the page boundaries at different rows. The first pass reads whole pages.
const FIRST_READ: [usize; MAX_PASSES] = [CHUNK, 2048, 1024, 3072, 512, 2560];
/// The read buffer: far more than the page the kernel gives per read, so that a file
/// is read with as few calls as it can be, and all the memory a read needs.
const CHUNK: usize = 64 * 1024;
/// A kernel row is under 200 bytes; a longer line is not a row.
const MAX_LINE: usize = 4096;

/// One socket table under `<proc-root>/net/`.
struct Table {
    file: &'static str,
    protocol: Protocol,
    family: Family,
    /// IPv4 tables always exist; the IPv6 ones are absent on a kernel without IPv6.
    required: bool,
}

const TABLES: [Table; 4] = [
    Table {
        file: "tcp",
        protocol: Protocol::Tcp,
        family: Family::Ipv4,
        required: true,
    },
    Table {
        file: "tcp6",
        protocol: Protocol::Tcp,
        family: Family::Ipv6,
        required: false,
    },
    Table {
        file: "udp",
        protocol: Protocol::Udp,
        family: Family::Ipv4,
        required: true,
    },
    Table {
        file: "udp6",
        protocol: Protocol::Udp,
        family: Family::Ipv6,
        required: false,
    },
];

/// The columns of one row that an audit needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub local: IpAddr,
    pub local_port: u16,
    pub remote: IpAddr,
    pub remote_port: u16,
    pub state: u8,
    pub uid: u32,
    pub inode: u64,
}

impl Row {
    /// TCP: state LISTEN. UDP: bound to a port and not connected to a peer.
    pub fn is_listener(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Tcp => self.state == TCP_LISTEN,
            Protocol::Udp => {
                self.state == UDP_UNCONNECTED
                    && self.local_port != 0
                    && self.remote_port == 0
                    && self.remote.is_unspecified()
            }
        }
    }
}

/// What the tables held: every listener once, and what we could not read.
#[derive(Debug, Default)]
pub struct Tables {
    pub listeners: Vec<Listener>,
    /// `PATH:LINE: what is wrong`, one per unparseable row.
    pub bad_rows: Vec<String>,
    /// One whole warning per table whose content was not recognised (its header, its
    /// line endings, or no row at all): the audit is incomplete.
    pub unrecognised: Vec<String>,
}

/// What names one socket: two rows that agree on all of it are the same socket.
type SocketKey = (Protocol, Family, IpAddr, u16, u64);
/// A row with inode 0 has no identity: rows like it are counted, never merged.
type OrphanKey = (Protocol, IpAddr, u16, u32);

/// The listeners of every read of one table, each socket once.
#[derive(Default)]
struct Union {
    keys: HashSet<SocketKey>,
    /// For inode-0 rows: the most that one read showed alike.
    orphans: HashMap<OrphanKey, usize>,
    listeners: Vec<Listener>,
}

impl Union {
    /// Add one listener row of the current read; `this_read` counts this read's inode-0
    /// rows. Whether it is a socket no earlier row showed.
    fn add(
        &mut self,
        protocol: Protocol,
        family: Family,
        row: &Row,
        this_read: &mut HashMap<OrphanKey, usize>,
    ) -> bool {
        let new = if row.inode == 0 {
            let key = (protocol, row.local, row.local_port, row.uid);
            let count = this_read.entry(key).or_default();
            *count += 1;
            let most = self.orphans.entry(key).or_default();
            let new = *count > *most;
            *most = (*most).max(*count);
            new
        } else {
            self.keys
                .insert((protocol, family, row.local, row.local_port, row.inode))
        };
        if new {
            self.listeners.push(Listener::new(
                protocol,
                row.local,
                row.local_port,
                row.uid,
                row.inode,
            ));
        }
        new
    }
}

/// Read every table under `proc_root/net` and keep the listeners, each socket once.
///
/// A table we cannot open ends the audit; one whose content is not recognised is
/// reported in [`Tables::unrecognised`], an odd row in [`Tables::bad_rows`].
pub fn read_listeners(proc_root: &Path) -> Result<Tables, Error> {
    let mut tables = Tables::default();
    let mut bad_seen: HashSet<Vec<u8>> = HashSet::new();
    let mut reader = Reader::default();
    for table in &TABLES {
        let path = proc_root.join("net").join(table.file);
        let mut union = Union::default();
        for (pass, &first_read) in FIRST_READ.iter().enumerate() {
            // TCP lists every listener before any other socket.
            let listening_only = pass > 0 && table.protocol == Protocol::Tcp;
            let mut parser = LineParser::new(table.family);
            let mut this_read = HashMap::new();
            let mut new = 0;
            let mut unrecognised = None;
            let read = reader.read_pass(&path, first_read, |number, line| {
                match parser.line(line) {
                    Line::Header | Line::Blank => {}
                    Line::Row(row) => {
                        if listening_only && row.state != TCP_LISTEN {
                            return false;
                        }
                        if row.is_listener(table.protocol)
                            && union.add(table.protocol, table.family, &row, &mut this_read)
                        {
                            new += 1;
                        }
                    }
                    Line::Bad(why) => {
                        if bad_seen.insert(line.to_vec()) {
                            tables
                                .bad_rows
                                .push(format!("{}:{number}: {why}", path.display()));
                        }
                    }
                    Line::Unrecognised(why) => {
                        unrecognised = Some(format!("{}:{number}: {why}", path.display()));
                        return false;
                    }
                }
                true
            });
            match read {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && !table.required => break,
                Err(e) => return Err(Error::io("read", &path, &e)),
            }
            if unrecognised.is_none() && !listening_only {
                unrecognised = parser.unrecognised_at_end().map(|(line, why)| match line {
                    Some(line) => format!("{}:{line}: {why}", path.display()),
                    None => format!("{}: {why}", path.display()),
                });
            }
            if let Some(why) = unrecognised {
                tables.unrecognised.push(format!(
                    "{why}; the table is not read as the kernel's, so the audit is incomplete"
                ));
                break;
            }
            // The first pass finds everything; a later one that finds nothing new says the
            // table held still, or at least did not lose a listener to us twice.
            if pass > 0 && new == 0 {
                break;
            }
        }
        tables.listeners.append(&mut union.listeners);
    }
    Ok(tables)
}

/// One buffer for every read of every table, allocated once.
#[derive(Default)]
struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// Read the file at `path` and hand `each` its lines (1-based number, bytes without
    /// the `\n`), until the end or until `each` says stop. The first call asks for
    /// `first` bytes, which places the page boundaries of this pass. A line longer than
    /// [`MAX_LINE`] is handed over cut at that length.
    fn read_pass(
        &mut self,
        path: &Path,
        first: usize,
        mut each: impl FnMut(usize, &[u8]) -> bool,
    ) -> io::Result<()> {
        let mut file = File::open(path)?;
        self.buf.resize(CHUNK, 0);
        let buf = &mut self.buf;
        let mut pending = 0; // the start of a line not yet ended, at buf[..pending]
        let mut number = 0;
        let mut skipping = false; // inside a line already handed over cut
        let mut want = first.min(CHUNK);
        loop {
            let ask = want.min(CHUNK - pending);
            want = CHUNK;
            let n = match file.read(&mut buf[pending..pending + ask]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                if pending > 0 && !skipping {
                    number += 1;
                    each(number, &buf[..pending]);
                }
                return Ok(());
            }
            let end = pending + n;
            let mut start = 0;
            let mut scan = pending;
            while let Some(i) = buf[scan..end].iter().position(|&b| b == b'\n') {
                let newline = scan + i;
                if skipping {
                    skipping = false;
                } else {
                    number += 1;
                    if !each(number, &buf[start..newline]) {
                        return Ok(());
                    }
                }
                start = newline + 1;
                scan = start;
            }
            if skipping {
                pending = 0;
            } else if end - start >= MAX_LINE {
                number += 1;
                if !each(number, &buf[start..start + MAX_LINE]) {
                    return Ok(());
                }
                skipping = true;
                pending = 0;
            } else {
                buf.copy_within(start..end, 0);
                pending = end - start;
            }
        }
    }
}

/// What one line of a table is.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Header,
    Blank,
    Row(Row),
    /// A row we could not parse: why.
    Bad(String),
    /// The table is not one we know how to read: why. Nothing after it is read.
    Unrecognised(String),
}

/// Reads a table line by line: the header first, then rows.
struct LineParser {
    family: Family,
    header: bool,
    rows: usize,
    /// Lines after the header that are not empty.
    content: usize,
}

impl LineParser {
    fn new(family: Family) -> LineParser {
        LineParser {
            family,
            header: false,
            rows: 0,
            content: 0,
        }
    }

    fn line(&mut self, line: &[u8]) -> Line {
        // CRLF is tolerated (`\r` is whitespace to the row parser); a `\r` anywhere
        // else means lines end in a way we do not read: the file could be one line.
        if line
            .iter()
            .rposition(|&b| b == b'\r')
            .is_some_and(|i| i + 1 != line.len() || line[..i].contains(&b'\r'))
        {
            return Line::Unrecognised(
                "line endings are not LF (a carriage return inside a line)".into(),
            );
        }
        if !self.header {
            if !is_header(line) {
                return Line::Unrecognised(
                    "expected the table's header line (\"sl local_address ...\")".into(),
                );
            }
            self.header = true;
            return Line::Header;
        }
        if line.is_empty() || line == b"\r" {
            return Line::Blank;
        }
        self.content += 1;
        if line.trim_ascii().is_empty() {
            return Line::Blank;
        }
        if line.len() >= MAX_LINE {
            return Line::Bad(format!("line of {MAX_LINE} bytes or more is not a row"));
        }
        match std::str::from_utf8(line)
            .map_err(|_| "row is not text".to_string())
            .and_then(|line| parse_row(line, self.family))
        {
            Ok(row) => {
                self.rows += 1;
                Line::Row(row)
            }
            Err(why) => Line::Bad(why),
        }
    }

    /// After a whole read: why the table is not recognised (and on which line), if it
    /// is not.
    fn unrecognised_at_end(&self) -> Option<(Option<usize>, String)> {
        if !self.header {
            return Some((
                Some(1),
                "expected the table's header line (\"sl local_address ...\"), found an empty file"
                    .into(),
            ));
        }
        (self.rows == 0 && self.content > 0).then(|| {
            let lines = if self.content == 1 { "line" } else { "lines" };
            (
                None,
                format!(
                    "{} {lines} after the header but no row could be read",
                    self.content
                ),
            )
        })
    }
}

/// The kernel's header: `sl local_address rem_address st tx_queue rx_queue tr tm->when
/// retrnsmt uid timeout inode` (`remote_address` in the IPv6 tables; UDP's adds `ref
/// pointer drops`).
fn is_header(line: &[u8]) -> bool {
    const COLUMNS: [&[u8]; 12] = [
        b"sl",
        b"local_address",
        b"rem_address",
        b"st",
        b"tx_queue",
        b"rx_queue",
        b"tr",
        b"tm->when",
        b"retrnsmt",
        b"uid",
        b"timeout",
        b"inode",
    ];
    let mut words = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    COLUMNS.iter().all(|&want| {
        words
            .next()
            .is_some_and(|w| w == want || (want == b"rem_address" && w == b"remote_address"))
    })
}

/// A parsed table: the rows we could read, and (line, why) for those we could not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub bad: Vec<(usize, String)>,
}

/// Parse a whole table held in memory. Content we do not recognise (no header, a
/// carriage return inside a line) fails it with the 1-based line; a row that does not
/// parse is returned in [`Parsed::bad`] with its line number.
pub fn parse_table(text: &[u8], family: Family) -> Result<Parsed, (usize, String)> {
    let mut parser = LineParser::new(family);
    let mut parsed = Parsed::default();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        match parser.line(line) {
            Line::Header | Line::Blank => {}
            Line::Row(row) => parsed.rows.push(row),
            Line::Bad(why) => parsed.bad.push((index + 1, why)),
            Line::Unrecognised(why) => return Err((index + 1, why)),
        }
    }
    Ok(parsed)
}

/// Parse one data row (the layout is shared by tcp, tcp6, udp and udp6):
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
pub fn parse_row(line: &str, family: Family) -> Result<Row, String> {
    // No allocation per row: a table can have hundreds of thousands.
    let mut fields = [""; 10];
    let mut found = 0;
    for (slot, field) in fields.iter_mut().zip(line.split_ascii_whitespace()) {
        *slot = field;
        found += 1;
    }
    if found < 10 {
        return Err(format!("expected at least 10 columns, found {found}"));
    }
    if !fields[0].ends_with(':') {
        return Err(format!("bad slot number {:?}", fields[0]));
    }
    let (local, local_port) = parse_endpoint(fields[1], family)
        .map_err(|why| format!("bad local address {:?}: {why}", fields[1]))?;
    let (remote, remote_port) = parse_endpoint(fields[2], family)
        .map_err(|why| format!("bad remote address {:?}: {why}", fields[2]))?;
    let state = parse_hex(fields[3], 2)
        .and_then(|s| u8::try_from(s).map_err(|_| "too large".to_string()))
        .map_err(|why| format!("bad state {:?}: {why}", fields[3]))?;
    let uid = fields[7]
        .parse()
        .map_err(|_| format!("bad uid {:?}", fields[7]))?;
    let inode = fields[9]
        .parse()
        .map_err(|_| format!("bad inode {:?}", fields[9]))?;
    Ok(Row {
        local,
        local_port,
        remote,
        remote_port,
        state,
        uid,
        inode,
    })
}

/// `0100007F:0016` (IPv4) or 32 hex digits + port (IPv6).
///
/// The kernel prints each 32-bit word of the address as it sits in memory, read as a
/// native integer (`%08X` of a `__be32`). So the bytes come back with `to_ne_bytes`:
/// on x86 `0100007F` is 127.0.0.1. The port is printed in host order.
fn parse_endpoint(text: &str, family: Family) -> Result<(IpAddr, u16), String> {
    let (addr, port) = text.split_once(':').ok_or("expected ADDRESS:PORT")?;
    let port = parse_hex(port, 4)
        .and_then(|p| u16::try_from(p).map_err(|_| "port too large".to_string()))?;
    let words = match family {
        Family::Ipv4 => 1,
        Family::Ipv6 => 4,
    };
    if addr.len() != 8 * words || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("expected {} hex digits of address", 8 * words));
    }
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_exact_mut(4).take(words).enumerate() {
        let word = parse_hex(&addr[8 * i..8 * i + 8], 8)?;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    let ip = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(bytes)),
    };
    Ok((ip, port))
}

/// Up to `max_digits` hex digits, nothing else (`from_str_radix` alone would take a `+`).
fn parse_hex(text: &str, max_digits: usize) -> Result<u32, String> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not hexadecimal".to_string());
    }
    u32::from_str_radix(text, 16).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testdir::TempDir;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    fn v4(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn v6(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    /// What the kernel would print for an IPv6 address: each 32-bit word as a native integer.
    fn kernel_hex_v6(ip: Ipv6Addr) -> String {
        ip.octets()
            .chunks_exact(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect()
    }

    #[test]
    fn ipv4_listen_row() {
        let row = parse_row(
            "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   113        0 21987 1 0000000000000000 100 0 0 10 0",
            Family::Ipv4,
        )
        .unwrap();
        assert_eq!(row.local, IpAddr::V4(v4("127.0.0.1")));
        assert_eq!(row.local_port, 3306);
        assert_eq!(row.remote, IpAddr::V4(v4("0.0.0.0")));
        assert_eq!(row.state, TCP_LISTEN);
        assert_eq!(row.uid, 113);
        assert_eq!(row.inode, 21987);
        assert!(row.is_listener(Protocol::Tcp));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn ipv4_byte_order_on_little_endian() {
        // 192.168.1.10 sits in memory as C0 A8 01 0A; read as a little-endian u32: 0A01A8C0.
        let (ip, port) = parse_endpoint("0A01A8C0:1F90", Family::Ipv4).unwrap();
        assert_eq!(ip, IpAddr::V4(v4("192.168.1.10")));
        assert_eq!(port, 8080);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn ipv6_words_are_in_host_order() {
        // ::1 as printed by an x86 kernel.
        let (ip, _) =
            parse_endpoint("00000000000000000000000001000000:0016", Family::Ipv6).unwrap();
        assert_eq!(ip, IpAddr::V6(v6("::1")));
        // 2001:db8::10 — a word-swapped reading would give 0120:b80d:...
        let (ip, _) =
            parse_endpoint("B80D0120000000000000000010000000:0050", Family::Ipv6).unwrap();
        assert_eq!(ip, IpAddr::V6(v6("2001:db8::10")));
        // ::ffff:127.0.0.1
        let (ip, _) =
            parse_endpoint("0000000000000000FFFF00000100007F:1B58", Family::Ipv6).unwrap();
        assert_eq!(ip, IpAddr::V6(v6("::ffff:127.0.0.1")));
    }

    #[test]
    fn ipv6_round_trips_through_the_kernel_format() {
        for text in [
            "::",
            "::1",
            "fe80::1:2:3:4",
            "fd00::10",
            "2001:db8:85a3::8a2e:370:7334",
            "::ffff:10.1.2.3",
        ] {
            let ip = v6(text);
            let printed = format!("{}:01BB", kernel_hex_v6(ip));
            assert_eq!(
                parse_endpoint(&printed, Family::Ipv6).unwrap(),
                (IpAddr::V6(ip), 443),
                "{text}"
            );
        }
    }

    #[test]
    fn udp_connected_and_unconnected() {
        let unconnected = parse_row(
            "  529: 00000000:2BCB 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 31337 2 0000000000000000 0",
            Family::Ipv4,
        )
        .unwrap();
        assert!(unconnected.is_listener(Protocol::Udp));
        let connected = parse_row(
            "  530: 0100007F:0FA1 0100007F:0FA2 01 00000000:00000000 00:00000000 00000000     0        0 31338 2 0000000000000000 0",
            Family::Ipv4,
        )
        .unwrap();
        assert!(!connected.is_listener(Protocol::Udp));
    }

    #[test]
    fn established_tcp_is_not_a_listener() {
        let row = parse_row(
            "   3: 0100007F:0FA0 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1",
            Family::Ipv4,
        )
        .unwrap();
        assert!(!row.is_listener(Protocol::Tcp));
    }

    #[test]
    fn one_bad_row_costs_only_that_row() {
        let text = format!(
            "{HEADER}   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n   1: ZZZZZZZZ:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 2 1\n   2: 0100007F:0CEB 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 3 1\n"
        );
        let parsed = parse_table(text.as_bytes(), Family::Ipv4).unwrap();
        assert_eq!(
            parsed.rows.iter().map(|r| r.inode).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(parsed.bad.len(), 1);
        let (line, why) = &parsed.bad[0];
        assert_eq!(*line, 3);
        assert!(why.contains("ZZZZZZZZ:0016"), "{why}");
    }

    #[test]
    fn table_without_header_is_rejected() {
        assert_eq!(parse_table(b"", Family::Ipv4).unwrap_err().0, 1);
        assert_eq!(parse_table(b"sl\n", Family::Ipv4).unwrap_err().0, 1);
        let cr_only = [HEADER.to_string(), row(0, "00000000:0016", "0A", 0, 1)]
            .concat()
            .replace('\n', "\r");
        assert_eq!(
            parse_table(cr_only.as_bytes(), Family::Ipv4).unwrap_err().0,
            1
        );
        assert_eq!(parse_table(b"garbage\n", Family::Ipv4).unwrap_err().0, 1);
        assert_eq!(
            parse_table(HEADER.as_bytes(), Family::Ipv4).unwrap(),
            Parsed::default()
        );
    }

    /// The shapes real kernels print, each checked against a row captured from one
    /// (tests/fixtures/busy has them all in context).
    #[test]
    fn every_real_row_shape_parses() {
        // Past 9999 rows `%4d:` has no room for the leading space.
        let row = parse_row(
            "10000: 0100007F:A0F3 0100007F:2710 06 00000000:00000000 03:0000176F 00000000     0        0 0 3 0000000000000000",
            Family::Ipv4,
        )
        .unwrap();
        // TIME_WAIT: a shorter row, inode 0, not a listener.
        assert_eq!((row.state, row.inode, row.uid), (0x06, 0, 0));
        assert!(!row.is_listener(Protocol::Tcp));
        // The kernel pads tcp rows to 149 columns and udp rows to 127 with spaces.
        let padded = format!(
            "{:<149}",
            "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21987 1 0000000000000000 100 0 0 10 0"
        );
        assert_eq!(parse_row(&padded, Family::Ipv4).unwrap().inode, 21987);
        // UDP: `sl` is the hash bucket (five digits, repeats), and a `drops` column.
        let udp = "13633: 0100007F:0FA2 00000000:0000 07 00000000:00000000 00:00000000 00000000 65534        0 13693 2 0000000018bf053b 0         ";
        let row = parse_row(udp, Family::Ipv4).unwrap();
        assert_eq!((row.uid, row.inode), (65534, 13693));
        assert!(row.is_listener(Protocol::Udp));
        // An IPv6 row, where the kernel does not pad.
        let row = parse_row(
            "  0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0",
            Family::Ipv6,
        )
        .unwrap();
        assert_eq!(row.local, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }

    /// A row as the kernel prints it, for the tables written below.
    fn row(sl: usize, local: &str, state: &str, uid: u32, inode: u64) -> String {
        format!(
            "{sl:4}: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000 {uid:5}        0 {inode} 1 0000000000000000 100 0 0 10 0\n"
        )
    }

    /// A fake /proc with these tcp and udp tables (and empty IPv6 ones).
    fn proc_with(tcp: &str, udp: &str) -> TempDir {
        let dir = TempDir::new("procnet");
        dir.write("net/tcp", tcp.as_bytes());
        dir.write("net/udp", udp.as_bytes());
        dir.write("net/tcp6", HEADER.as_bytes());
        dir.write("net/udp6", HEADER.as_bytes());
        dir
    }

    fn binds(tables: &Tables) -> Vec<(String, u16, u64)> {
        let mut binds: Vec<_> = tables
            .listeners
            .iter()
            .map(|l| (l.address.to_string(), l.port, l.inode))
            .collect();
        binds.sort();
        binds
    }

    #[test]
    fn rows_sharing_an_inode_are_two_listeners_unless_they_agree() {
        // Loopback first: merging on the inode alone kept only it and hid the wildcard.
        let tcp = [
            HEADER.to_string(),
            row(0, "0100007F:1538", "0A", 0, 777),
            row(1, "00000000:1538", "0A", 0, 777),
            row(2, "0100007F:1538", "0A", 0, 777),
        ]
        .concat();
        let dir = proc_with(&tcp, HEADER);
        let tables = read_listeners(&dir.0).unwrap();
        assert_eq!(
            binds(&tables),
            [
                ("0.0.0.0".to_string(), 5432, 777),
                ("127.0.0.1".to_string(), 5432, 777)
            ]
        );
        assert!(tables.unrecognised.is_empty() && tables.bad_rows.is_empty());
    }

    #[test]
    fn rows_without_an_inode_are_never_merged() {
        let tcp = [
            HEADER.to_string(),
            row(0, "0100007F:1538", "0A", 0, 0),
            row(1, "0100007F:1538", "0A", 0, 0),
        ]
        .concat();
        let dir = proc_with(&tcp, HEADER);
        let tables = read_listeners(&dir.0).unwrap();
        // Two in one read are two sockets; the re-reads do not add them again.
        assert_eq!(tables.listeners.len(), 2);
    }

    #[test]
    fn tables_of_many_pages_are_read_whole_streaming() {
        // More than the read buffer, so that rows are cut at every chunk boundary, and
        // rows past 9999 without the leading space.
        let mut tcp = HEADER.to_string();
        for sl in 0..3000 {
            tcp.push_str(&row(sl, "0100007F:1F90", "0A", 0, 10_000 + sl as u64));
        }
        for sl in 3000..12_000 {
            tcp.push_str(&row(sl, "0100007F:1F90", "01", 0, 100_000 + sl as u64));
        }
        assert!(tcp.len() > 4 * CHUNK);
        let dir = proc_with(&tcp, HEADER);
        let tables = read_listeners(&dir.0).unwrap();
        let inodes: HashSet<u64> = tables.listeners.iter().map(|l| l.inode).collect();
        assert_eq!(inodes, (10_000..13_000).collect());
        assert_eq!(tables.listeners.len(), 3000);
        assert!(tables.unrecognised.is_empty() && tables.bad_rows.is_empty());
    }

    #[test]
    fn unrecognised_tables_are_said_never_empty() {
        let good = [HEADER.to_string(), row(0, "00000000:1538", "0A", 0, 5)].concat();
        let udp = [HEADER.to_string(), row(0, "00000000:0035", "07", 0, 6)].concat();
        let cases = [
            // CR-only line endings: one "line" that starts like the header.
            (good.replace('\n', "\r"), "line endings are not LF"),
            // A header that is not the kernel's.
            (
                good.replacen("local_address", "local_addr", 1),
                "expected the table's header line",
            ),
            (String::new(), "expected the table's header line"),
            // Bytes after the header, and no row.
            (
                format!("{HEADER}this is not a row\n"),
                "after the header but no row could be read",
            ),
            (
                format!("{HEADER}   \n"),
                "after the header but no row could be read",
            ),
            // A line longer than any row, mid-table.
            (
                format!("{HEADER}{}\n", "x".repeat(3 * MAX_LINE)),
                "after the header but no row could be read",
            ),
        ];
        for (tcp, why) in cases {
            let dir = proc_with(&tcp, &udp);
            let tables = read_listeners(&dir.0).unwrap();
            assert_eq!(tables.unrecognised.len(), 1, "{tcp:?}: {tables:?}");
            let warning = &tables.unrecognised[0];
            assert!(
                warning.contains(&format!("{}", dir.0.join("net/tcp").display()))
                    && warning.contains(why)
                    && warning.contains("incomplete"),
                "{warning}"
            );
            // The other tables are still read.
            assert!(tables.listeners.iter().any(|l| l.inode == 6), "{tables:?}");
        }
        // CRLF is tolerated.
        let dir = proc_with(&good.replace('\n', "\r\n"), &udp);
        let tables = read_listeners(&dir.0).unwrap();
        assert!(tables.unrecognised.is_empty(), "{:?}", tables.unrecognised);
        assert_eq!(tables.listeners.len(), 2);
    }

    #[test]
    fn header_lines_of_every_table() {
        for header in [
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ",
            "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\r",
        ] {
            assert!(is_header(header.as_bytes()), "{header}");
        }
        for other in ["sl", "sl local_address", "slab local_address", ""] {
            assert!(!is_header(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn odd_rows_are_errors_not_panics() {
        for bad in [
            "0: 0100007F:0CEA",
            "0: 0100007F:0CEA 00000000:0000 0A 0 0 0 0 0",
            "   0: +100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
            "   0: 0100007F:10000 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
            "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 -1 0 1 1",
            "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x 1",
            "   0: 0100007F:0CEA 00000000:0000 100 00000000:00000000 00:00000000 00000000 0 0 1 1",
            "   0 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
            "   0: 0100007F0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
            "   0: é100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1",
        ] {
            assert!(parse_row(bad, Family::Ipv4).is_err(), "{bad}");
        }
        // An IPv4-length address in an IPv6 table, and a multibyte character mid-address.
        assert!(
            parse_row(
                "0: 0100007F:0CEA 00000000:0000 0A 0:0 0:0 0 0 0 1 1",
                Family::Ipv6
            )
            .is_err()
        );
        assert!(
            parse_row("0: 0000000é00000000000000000000000:0 00000000000000000000000000000000:0 0A 0:0 0:0 0 0 0 1", Family::Ipv6)
                .is_err()
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A row as the kernel prints it (`%4d: %08X:%04X ...`), any slot number, with the
        /// padding and the extra columns of whichever table.
        fn kernel_row(
            sl: u32,
            local: (IpAddr, u16),
            remote: (IpAddr, u16),
            (state, uid, inode): (u8, u32, u64),
            tail: &str,
        ) -> String {
            let hex = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => format!("{:08X}", u32::from_ne_bytes(v4.octets())),
                IpAddr::V6(v6) => kernel_hex_v6(v6),
            };
            format!(
                "{sl:4}: {}:{:04X} {}:{:04X} {state:02X} 00000000:00000000 00:00000000 00000000 {uid:5} {:8} {inode} {tail}",
                hex(local.0),
                local.1,
                hex(remote.0),
                remote.1,
                0
            )
        }

        fn address(family: Family) -> BoxedStrategy<IpAddr> {
            match family {
                Family::Ipv4 => any::<[u8; 4]>().prop_map(IpAddr::from).boxed(),
                Family::Ipv6 => any::<[u8; 16]>().prop_map(IpAddr::from).boxed(),
            }
        }

        fn family() -> impl Strategy<Value = Family> {
            prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)]
        }

        proptest! {
            #[test]
            fn rows_round_trip_every_address_and_column(
                (family, local, remote) in family().prop_flat_map(|f| (Just(f), address(f), address(f))),
                ports in any::<(u16, u16)>(),
                columns in any::<(u8, u32, u64)>(),
                sl in 0u32..200_000,
                tail in "( [0-9a-f]{1,16}){0,8} {0,40}",
            ) {
                let line = kernel_row(sl, (local, ports.0), (remote, ports.1), columns, &tail);
                let row = parse_row(&line, family).unwrap();
                prop_assert_eq!(row, Row {
                    local,
                    local_port: ports.0,
                    remote,
                    remote_port: ports.1,
                    state: columns.0,
                    uid: columns.1,
                    inode: columns.2,
                });
            }

            #[test]
            fn any_row_text_is_parsed_or_refused_never_a_panic(line in "\\PC{0,200}") {
                let _ = parse_row(&line, Family::Ipv4);
                let _ = parse_row(&line, Family::Ipv6);
            }

            #[test]
            fn any_table_bytes_are_parsed_or_refused_never_a_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..600),
            ) {
                for family in [Family::Ipv4, Family::Ipv6] {
                    let _ = parse_table(&bytes, family);
                    let with_header = [HEADER.as_bytes(), &bytes].concat();
                    // A carriage return that does not end a line: not a table we read.
                    let lone_cr = with_header.split(|&b| b == b'\n').any(|l| {
                        l.iter().position(|&b| b == b'\r').is_some_and(|i| i + 1 != l.len())
                    });
                    let parsed = match parse_table(&with_header, family) {
                        Err(_) if lone_cr => continue,
                        parsed => parsed.unwrap(),
                    };
                    prop_assert!(!lone_cr);
                    // Every line is accounted for: a row, a refusal, or blank.
                    let lines = with_header.split(|&b| b == b'\n').skip(1)
                        .filter(|l| !l.trim_ascii().is_empty()).count();
                    prop_assert_eq!(parsed.rows.len() + parsed.bad.len(), lines);
                }
            }

            #[test]
            fn a_damaged_row_costs_only_itself(
                keep in proptest::collection::vec(any::<(u16, u64)>(), 1..20),
                damage in 0usize..20,
                junk in "[^\n\r]{0,80}",
            ) {
                let mut text = HEADER.to_string();
                for (i, (port, inode)) in keep.iter().enumerate() {
                    let row = kernel_row(i as u32, (Ipv4Addr::LOCALHOST.into(), *port), (Ipv4Addr::UNSPECIFIED.into(), 0), (0x0A, 0, *inode), "1 0");
                    text.push_str(&row);
                    text.push('\n');
                    if i == damage {
                        text.push_str(&junk);
                        text.push('\n');
                    }
                }
                let parsed = parse_table(text.as_bytes(), Family::Ipv4).unwrap();
                let inodes: Vec<u64> = parsed.rows.iter().map(|r| r.inode).collect();
                let wanted: Vec<u64> = keep.iter().map(|k| k.1).collect();
                // The junk line may itself happen to be a row; every real row survives.
                prop_assert!(wanted.iter().all(|w| inodes.contains(w)));
            }
        }
    }
}
