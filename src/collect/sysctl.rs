//! The kernel settings the audit depends on, read under `--proc-root` like the socket
//! tables: a captured tree or a container's proc is judged with its own settings.
//!
//! Today that is one: `net.ipv4.ip_local_port_range`, the ports the kernel hands out for
//! port 0 (the same range serves IPv6). A UDP socket bound on a wildcard address to one
//! of them is most likely a client's (a resolver, an NTP client), not a service.

use std::io;
use std::ops::RangeInclusive;
use std::path::Path;

use crate::error::Error;
use crate::socket::{EphemeralPorts, Forwarding};

/// Where the range lives, relative to the proc root.
pub const LOCAL_PORT_RANGE: &str = "sys/net/ipv4/ip_local_port_range";

/// Read `<proc_root>/sys/net/ipv4/ip_local_port_range`. A missing file means the kernel
/// default; a file we cannot read or parse stops the audit (its verdicts depend on it).
pub fn ephemeral_ports(proc_root: &Path) -> Result<EphemeralPorts, Error> {
    let path = proc_root.join(LOCAL_PORT_RANGE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(EphemeralPorts::default()),
        Err(e) => return Err(Error::io("read", &path, &e)),
    };
    let range = parse_range(&text).map_err(|why| {
        Error::new(format!(
            "{}: {why}: {:?}",
            path.display(),
            text.trim_end_matches('\n')
        ))
    })?;
    Ok(EphemeralPorts {
        range,
        source: Some(path),
    })
}

/// Where the forwarding switches live, relative to the proc root.
pub const IPV4_FORWARD: &str = "sys/net/ipv4/ip_forward";
pub const IPV6_FORWARD: &str = "sys/net/ipv6/conf/all/forwarding";

/// Whether the namespace whose proc this is forwards IPv4 and IPv6. /proc/sys/net shows
/// the reading thread's namespace: portaudit's own, the host. A file that cannot be read
/// or parsed counts as on (a routed namespace is then reachable, never contained on a
/// guess).
pub fn forwarding(proc_root: &Path) -> Forwarding {
    let on = |file: &str| {
        std::fs::read_to_string(proc_root.join(file)).map_or(true, |text| text.trim() != "0")
    };
    Forwarding {
        ipv4: on(IPV4_FORWARD),
        ipv6: on(IPV6_FORWARD),
    }
}

/// `"32768\t60999\n"`: two port numbers, low then high.
fn parse_range(text: &str) -> Result<RangeInclusive<u16>, &'static str> {
    let mut words = text.split_whitespace();
    let (Some(low), Some(high), None) = (words.next(), words.next(), words.next()) else {
        return Err("expected two port numbers");
    };
    let (Ok(low), Ok(high)) = (low.parse::<u16>(), high.parse::<u16>()) else {
        return Err("expected two port numbers");
    };
    if low > high {
        return Err("the low port is above the high one");
    }
    Ok(low..=high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernels_format() {
        assert_eq!(parse_range("32768\t60999\n"), Ok(32768..=60999));
        assert_eq!(parse_range("1024 65535"), Ok(1024..=65535));
        assert!(parse_range("").is_err());
        assert!(parse_range("1 2 3").is_err());
        assert!(parse_range("x 2").is_err());
        assert!(parse_range("70000 2").is_err());
        assert!(parse_range("60000 50000").is_err());
    }

    #[test]
    fn a_tree_without_the_file_gets_the_kernel_default() {
        let ports = ephemeral_ports(Path::new("/nonexistent-proc-root")).unwrap();
        assert_eq!(ports, EphemeralPorts::default());
        assert_eq!(ports.range, 32768..=60999);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_hosts_range() {
        let ports = ephemeral_ports(Path::new("/proc")).unwrap();
        assert_eq!(
            ports.source.as_deref(),
            Some(Path::new("/proc/sys/net/ipv4/ip_local_port_range"))
        );
        assert!(ports.range.start() <= ports.range.end());
    }

    #[test]
    fn forwarding_off_only_when_it_says_0() {
        let dir = crate::collect::testdir::TempDir::new("forwarding");
        assert_eq!(forwarding(&dir.0), Forwarding::default(), "unreadable: on");
        dir.write(IPV4_FORWARD, b"0\n");
        dir.write(IPV6_FORWARD, b"1\n");
        assert_eq!(
            forwarding(&dir.0),
            Forwarding {
                ipv4: false,
                ipv6: true
            }
        );
    }
}
