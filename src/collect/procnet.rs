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

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::{Family, Listener, Protocol};
use crate::error::Error;

/// TCP_LISTEN in the kernel's `st` column.
const TCP_LISTEN: u8 = 0x0A;
/// TCP_CLOSE: what an unconnected UDP socket shows (a connected one shows ESTABLISHED).
const UDP_UNCONNECTED: u8 = 0x07;

/// The most reads of one table in one audit.
pub const MAX_PASSES: usize = 6;
/// The size of the first read of each pass, as a share of the kernel's page: each pass
/// puts the page boundaries at different rows. The first pass reads whole pages.
const FIRST_READ: [usize; MAX_PASSES] = [1 << 20, 2048, 1024, 3072, 512, 2560];
/// What we ask for in every other read: far more than the page the kernel gives, so
/// that a file is read with as few calls, and as quickly, as it can be.
const READ_SIZE: usize = 1 << 20;

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

/// What the tables held: every listener once, and the rows we could not read.
#[derive(Debug, Default)]
pub struct Tables {
    pub listeners: Vec<Listener>,
    /// `PATH:LINE: what is wrong`, one per unparseable row.
    pub bad_rows: Vec<String>,
}

/// One socket, for telling repeats apart: its inode. A socket without one (inode 0,
/// being torn down) is told apart by what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SocketKey {
    Inode(Protocol, u64),
    Orphan(Protocol, IpAddr, u16, u32),
}

impl SocketKey {
    fn of(protocol: Protocol, row: &Row) -> SocketKey {
        match row.inode {
            0 => SocketKey::Orphan(protocol, row.local, row.local_port, row.uid),
            inode => SocketKey::Inode(protocol, inode),
        }
    }
}

/// Read every table under `proc_root/net` and keep the listeners, each socket once.
///
/// A table we cannot open or whose header is wrong ends the audit (we cannot say what
/// is in it); an odd row is only reported in [`Tables::bad_rows`].
pub fn read_listeners(proc_root: &Path) -> Result<Tables, Error> {
    let mut tables = Tables::default();
    let mut seen = HashSet::new();
    let mut bad_seen: HashSet<Vec<u8>> = HashSet::new();
    let mut buf = Buffer::default();
    for table in &TABLES {
        let path = proc_root.join("net").join(table.file);
        for (pass, &first_read) in FIRST_READ.iter().enumerate() {
            let listening_only = pass > 0 && table.protocol == Protocol::Tcp;
            match buf.read_pass(&path, first_read, listening_only) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && !table.required => break,
                Err(e) => return Err(Error::io("read", &path, &e)),
            }
            let parsed = parse_table(buf.text(), table.family)
                .map_err(|(line, why)| Error::new(format!("{}:{line}: {why}", path.display())))?;
            for (line, why) in parsed.bad {
                if bad_seen.insert(line_text(buf.text(), line).to_vec()) {
                    tables
                        .bad_rows
                        .push(format!("{}:{line}: {why}", path.display()));
                }
            }
            let mut new = 0;
            for row in parsed.rows {
                if row.is_listener(table.protocol)
                    && seen.insert(SocketKey::of(table.protocol, &row))
                {
                    new += 1;
                    tables.listeners.push(Listener::new(
                        table.protocol,
                        row.local,
                        row.local_port,
                        row.uid,
                        row.inode,
                    ));
                }
            }
            // The first pass finds everything; a later one that finds nothing new says the
            // table held still, or at least did not lose a listener to us twice.
            if pass > 0 && new == 0 {
                break;
            }
        }
    }
    Ok(tables)
}

/// The 1-based `line` of `text`, for recognising a bad row again in a later read.
fn line_text(text: &[u8], line: usize) -> &[u8] {
    text.split(|&b| b == b'\n')
        .nth(line - 1)
        .unwrap_or_default()
}

/// One buffer for every read of every table: allocated once, grown when a table is
/// bigger than anything read before.
#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    len: usize,
}

impl Buffer {
    fn text(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// Read the whole file at `path` (or, with `listening_only`, up to the first row
    /// that is not in LISTEN) in as few calls as the kernel allows; the first call asks
    /// for `first` bytes, which places the page boundaries of this pass.
    fn read_pass(&mut self, path: &Path, first: usize, listening_only: bool) -> io::Result<()> {
        let mut file = File::open(path)?;
        self.len = 0;
        let mut want = first;
        loop {
            if self.data.len() < self.len + want {
                self.data
                    .resize((self.len + want).max(2 * self.data.len()), 0);
            }
            let from = self.len;
            let n = match file.read(&mut self.data[from..from + want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            self.len += n;
            want = READ_SIZE;
            if listening_only && past_listeners(&self.data[..self.len], from) {
                // A read that asked for less than a page can end inside a row: keep whole rows.
                let text = &self.data[..self.len];
                self.len = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                return Ok(());
            }
        }
    }
}

/// Whether a whole row after byte `from` of `text` (the rows just read) is in a state
/// other than LISTEN: TCP tables list every listener before any other socket.
fn past_listeners(text: &[u8], from: usize) -> bool {
    // Back up to the start of the line the new bytes begin in.
    let start = text[..from]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) if end >= start => &text[start..end],
        _ => return false,
    };
    complete.split(|&b| b == b'\n').any(|line| {
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let first = fields.next();
        let state = fields.nth(2);
        // The header's first column is `sl`, a data row's is `N:`.
        first.is_some_and(|f| f.ends_with(b":")) && state.is_some_and(|s| s != b"0A")
    })
}

/// A parsed table: the rows we could read, and (line, why) for those we could not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub bad: Vec<(usize, String)>,
}

/// Parse a whole table. Only a missing header fails it (the file is not a socket
/// table); a row that does not parse is returned in [`Parsed::bad`] with its 1-based
/// line number.
pub fn parse_table(text: &[u8], family: Family) -> Result<Parsed, (usize, String)> {
    let mut lines = text.split(|&b| b == b'\n').enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_ascii_start().starts_with(b"sl") => {}
        _ => {
            return Err((
                1,
                "expected the table's header line (\"sl local_address ...\")".into(),
            ));
        }
    }
    let mut parsed = Parsed::default();
    for (index, line) in lines {
        if line.trim_ascii().is_empty() {
            continue;
        }
        match std::str::from_utf8(line)
            .map_err(|_| "row is not text".to_string())
            .and_then(|line| parse_row(line, family))
        {
            Ok(row) => parsed.rows.push(row),
            Err(why) => parsed.bad.push((index + 1, why)),
        }
    }
    Ok(parsed)
}

/// Parse one data row (the layout is shared by tcp, tcp6, udp and udp6):
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`
pub fn parse_row(line: &str, family: Family) -> Result<Row, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().take(10).collect();
    if fields.len() < 10 {
        return Err(format!(
            "expected at least 10 columns, found {}",
            fields.len()
        ));
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

    #[test]
    fn listening_section_ends_at_the_first_other_state() {
        let listen =
            "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n";
        let established =
            "   1: 0100007F:0CEA 0100007F:C350 01 00000000:00000000 00:00000000 00000000 0 0 2 1\n";
        let text = format!("{HEADER}{listen}");
        assert!(!past_listeners(text.as_bytes(), 0));
        let text = format!("{HEADER}{listen}{established}");
        assert!(past_listeners(text.as_bytes(), 0));
        // Only whole rows count, and only those that end after `from`.
        let from = HEADER.len() + listen.len();
        assert!(past_listeners(text.as_bytes(), from));
        let cut = &text.as_bytes()[..text.len() - 10];
        assert!(!past_listeners(cut, from));
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
                    let parsed = parse_table(&with_header, family).unwrap();
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
                junk in "[^\n]{0,80}",
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
