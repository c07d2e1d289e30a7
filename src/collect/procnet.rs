//! Parse the kernel's socket tables: /proc/net/{tcp,tcp6,udp,udp6}.
//!
//! We read the rows ourselves rather than through the procfs crate: its parser fails a
//! whole table on one unexpected row and does not say which line, and our errors must
//! name the file and line. The parsing here is pure and unit-tested; only
//! [`read_listeners`] touches the filesystem.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::{Family, Listener, Protocol};
use crate::error::Error;

/// TCP_LISTEN in the kernel's `st` column.
const TCP_LISTEN: u8 = 0x0A;
/// TCP_CLOSE: what an unconnected UDP socket shows (a connected one shows ESTABLISHED).
const UDP_UNCONNECTED: u8 = 0x07;

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

/// Read every table under `proc_root/net` and keep the listeners, each socket once.
pub fn read_listeners(proc_root: &Path) -> Result<Vec<Listener>, Error> {
    let mut listeners = Vec::new();
    let mut seen = HashSet::new();
    for table in &TABLES {
        let path = proc_root.join("net").join(table.file);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !table.required => continue,
            Err(e) => return Err(Error::io("read", &path, &e)),
        };
        let rows = parse_table(&text, table.family)
            .map_err(|(line, why)| Error::new(format!("{}:{line}: {why}", path.display())))?;
        for row in rows {
            // A row can be read twice when the table changes between the kernel's chunks.
            if row.is_listener(table.protocol) && seen.insert((table.protocol, row.inode)) {
                listeners.push(Listener {
                    protocol: table.protocol,
                    family: table.family,
                    address: row.local,
                    port: row.local_port,
                    uid: row.uid,
                    inode: row.inode,
                    user: None,
                    processes: Vec::new(),
                    detail: Default::default(),
                });
            }
        }
    }
    Ok(listeners)
}

/// Parse a whole table. On failure, returns the 1-based line number and what is wrong.
pub fn parse_table(text: &[u8], family: Family) -> Result<Vec<Row>, (usize, String)> {
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
    let mut rows = Vec::new();
    for (index, line) in lines {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let row = std::str::from_utf8(line)
            .map_err(|_| "row is not text".to_string())
            .and_then(|line| parse_row(line, family))
            .map_err(|why| (index + 1, why))?;
        rows.push(row);
    }
    Ok(rows)
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
    fn table_reports_the_bad_line() {
        let text = format!(
            "{HEADER}   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n   1: ZZZZZZZZ:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 2 1\n"
        );
        let (line, why) = parse_table(text.as_bytes(), Family::Ipv4).unwrap_err();
        assert_eq!(line, 3);
        assert!(why.contains("ZZZZZZZZ:0016"), "{why}");
    }

    #[test]
    fn table_without_header_is_rejected() {
        assert_eq!(parse_table(b"", Family::Ipv4).unwrap_err().0, 1);
        assert_eq!(parse_table(b"garbage\n", Family::Ipv4).unwrap_err().0, 1);
        assert_eq!(
            parse_table(HEADER.as_bytes(), Family::Ipv4).unwrap(),
            vec![]
        );
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
}
