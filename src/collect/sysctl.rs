//! The kernel settings the audit depends on, read under `--proc-root` like the socket
//! tables: a captured tree or a container's proc is judged with its own settings.
//!
//! `net.ipv4.ip_local_port_range`: the ports the kernel hands out for port 0 (the same
//! range serves IPv6). A UDP socket bound on a wildcard address to one of them is most
//! likely a client's (a resolver, an NTP client), not a service.
//!
//! And the switches that change a packet's path (forwarding, route_localnet, bridge
//! netfilter), as `network` reads them for a namespace: /proc/sys/net shows the reading
//! thread's namespace, so a thread inside another one reads that one's.

use std::collections::BTreeMap;
use std::io;
use std::ops::RangeInclusive;
use std::path::Path;

use crate::error::Error;
use crate::socket::EphemeralPorts;

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

/// A 0/1 switch under `<proc_root>/sys/net/`: `None` when it cannot be read or says
/// something else (the walk then takes the way that reaches more).
pub fn switch(proc_root: &Path, relative: &str) -> Option<bool> {
    let text = std::fs::read_to_string(proc_root.join("sys/net").join(relative)).ok()?;
    parse_switch(&text)
}

/// A number, any but 0 being on.
fn parse_switch(text: &str) -> Option<bool> {
    text.trim().parse::<i64>().ok().map(|n| n != 0)
}

/// net.bridge.bridge-nf-call-{iptables,ip6tables}: the files exist only while
/// br_netfilter is loaded (`Some(false)` without them, bridged frames then skip the ip
/// hooks), but only where /proc/sys/net can be seen at all.
pub fn bridge_switch(proc_root: &Path, name: &str) -> Option<bool> {
    let path = proc_root.join("sys/net/bridge").join(name);
    match std::fs::read(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            proc_root.join("sys/net/ipv4").is_dir().then_some(false)
        }
        Err(_) => None,
        Ok(text) => parse_switch(&String::from_utf8_lossy(&text)),
    }
}

/// One per-interface switch (`forwarding`, `route_localnet`) of every interface that
/// `<proc_root>/sys/net/<family>/conf/` lists, `all` and `default` left out: for a
/// captured tree, where no interface dump says them.
pub fn per_interface(proc_root: &Path, family: &str, key: &str) -> BTreeMap<String, bool> {
    let conf = proc_root.join("sys/net").join(family).join("conf");
    let Ok(entries) = std::fs::read_dir(&conf) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            if name == "all" || name == "default" {
                return None;
            }
            let on = switch(proc_root, &format!("{family}/conf/{name}/{key}"))?;
            Some((name, on))
        })
        .collect()
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
    fn switches_are_numbers_and_unreadable_is_none() {
        let dir = crate::collect::testdir::TempDir::new("switches");
        assert_eq!(switch(&dir.0, "ipv4/conf/all/forwarding"), None);
        dir.write("sys/net/ipv4/conf/all/forwarding", b"0\n");
        dir.write("sys/net/ipv4/conf/all/route_localnet", b"1\n");
        dir.write("sys/net/ipv6/conf/all/forwarding", b"2\n");
        dir.write("sys/net/ipv4/conf/eth0/route_localnet", b"x\n");
        assert_eq!(switch(&dir.0, "ipv4/conf/all/forwarding"), Some(false));
        assert_eq!(switch(&dir.0, "ipv4/conf/all/route_localnet"), Some(true));
        assert_eq!(switch(&dir.0, "ipv6/conf/all/forwarding"), Some(true));
        assert_eq!(switch(&dir.0, "ipv4/conf/eth0/route_localnet"), None);
    }

    #[test]
    fn bridge_netfilter_absent_is_off_only_where_sys_net_is_seen() {
        let dir = crate::collect::testdir::TempDir::new("bridge");
        // A tree without /proc/sys/net: nobody can say.
        assert_eq!(bridge_switch(&dir.0, "bridge-nf-call-iptables"), None);
        dir.write("sys/net/ipv4/ip_forward", b"1\n");
        assert_eq!(
            bridge_switch(&dir.0, "bridge-nf-call-iptables"),
            Some(false)
        );
        dir.write("sys/net/bridge/bridge-nf-call-iptables", b"1\n");
        dir.write("sys/net/bridge/bridge-nf-call-ip6tables", b"0\n");
        assert_eq!(bridge_switch(&dir.0, "bridge-nf-call-iptables"), Some(true));
        assert_eq!(
            bridge_switch(&dir.0, "bridge-nf-call-ip6tables"),
            Some(false)
        );
    }

    #[test]
    fn per_interface_lists_the_interfaces_but_all_and_default() {
        let dir = crate::collect::testdir::TempDir::new("per-interface");
        assert!(per_interface(&dir.0, "ipv4", "route_localnet").is_empty());
        for (name, value) in [("all", "1"), ("default", "1"), ("eth0", "1"), ("lo", "0")] {
            dir.write(
                &format!("sys/net/ipv4/conf/{name}/route_localnet"),
                format!("{value}\n").as_bytes(),
            );
        }
        // A directory without the file is left out, not guessed.
        std::fs::create_dir_all(dir.0.join("sys/net/ipv4/conf/veth1")).unwrap();
        assert_eq!(
            per_interface(&dir.0, "ipv4", "route_localnet"),
            BTreeMap::from([("eth0".to_string(), true), ("lo".to_string(), false)])
        );
    }
}
