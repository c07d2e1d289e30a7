//! IPVS virtual services, from `/proc/net/ip_vs` (the namespace's own: read from the
//! reading thread's `/proc/thread-self/net`, or from a `--proc-root` tree). A service
//! takes the connections for its address and port in the input hook and hands them to
//! its real servers: it delivers, whatever the sockets on that port.
//!
//! The kernel prints (net/netfilter/ipvs/ip_vs_ctl.c):
//! ```text
//! IP Virtual Server version 1.2.1 (size=4096)
//! Prot LocalAddress:Port Scheduler Flags
//!   -> RemoteAddress:Port Forward Weight ActiveConn InActConn
//! TCP  0A000001:0050 rr
//!   -> 0A000002:1F90      Masq    1      0          0
//! UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 rr
//! FWM  00000001 rr
//! ```
//! IPv4 addresses and ports in hexadecimal (host order of the number, so `0A000001` is
//! 10.0.0.1), IPv6 ones in brackets; a firewall-mark service has no address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::network::IpvsService;
use crate::socket::Protocol;

/// The services in the file's text; an error names the first line that is neither a
/// header nor a service nor a destination.
pub fn parse(text: &str) -> Result<Vec<IpvsService>, String> {
    let mut services: Vec<IpvsService> = Vec::new();
    // A service of a protocol portaudit does not audit (SCTP): its destinations are
    // skipped with it.
    let mut skipping = false;
    for (number, line) in text.lines().enumerate() {
        let bad = || format!("line {}: {:?}", number + 1, truncate(line));
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["IP", "Virtual", "Server", ..] | ["Prot", ..] | ["->", "RemoteAddress:Port", ..] => {}
            ["->", endpoint, ..] => {
                let destination = endpoint_of(endpoint).ok_or_else(bad)?;
                match services.last_mut() {
                    _ if skipping => {}
                    Some(service) => service.destinations.push(destination),
                    None => return Err(bad()),
                }
            }
            ["FWM", mark, ..] => {
                let mark = u32::from_str_radix(mark, 16).map_err(|_| bad())?;
                skipping = false;
                services.push(IpvsService {
                    protocol: None,
                    address: None,
                    port: None,
                    fwmark: Some(mark),
                    destinations: Vec::new(),
                });
            }
            [protocol, endpoint, ..] => {
                let (address, port) = endpoint_of(endpoint).ok_or_else(bad)?;
                let protocol = match *protocol {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    "SCTP" | "AH" | "ESP" => {
                        skipping = true;
                        continue;
                    }
                    _ => return Err(bad()),
                };
                skipping = false;
                services.push(IpvsService {
                    protocol: Some(protocol),
                    address: Some(address),
                    port: Some(port),
                    fwmark: None,
                    destinations: Vec::new(),
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(services)
}

/// `0A000001:0050` or `[2001:0db8:…]:0050`.
fn endpoint_of(text: &str) -> Option<(IpAddr, u16)> {
    let (address, port) = text.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match address.strip_prefix('[') {
        Some(v6) => IpAddr::V6(v6.strip_suffix(']')?.parse::<Ipv6Addr>().ok()?),
        None if address.len() == 8 => {
            IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(address, 16).ok()?))
        }
        None => return None,
    };
    Some((address, port))
}

/// A line as an error quotes it: at most 80 characters, no control characters.
fn truncate(line: &str) -> String {
    line.chars().filter(|c| !c.is_control()).take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_with_their_destinations() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\n\
                    Prot LocalAddress:Port Scheduler Flags\n  \
                    -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
                    TCP  0A000001:0050 rr \n  \
                    -> 0A000002:1F90      Masq    1      0          0         \n  \
                    -> 7F000001:1F90      Local   1      0          0         \n\
                    SCTP 0A000001:0050 rr \n  \
                    -> 0A000003:0050      Masq    1      0          0         \n\
                    UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 rr \n  \
                    -> [2001:0db8:0000:0000:0000:0000:0000:0002]:0035      Route   1      0          0         \n\
                    FWM  0000000A rr persistent 300 FFFFFFFF\n";
        let services = parse(text).unwrap();
        assert_eq!(
            services,
            vec![
                IpvsService {
                    protocol: Some(Protocol::Tcp),
                    address: Some("10.0.0.1".parse().unwrap()),
                    port: Some(80),
                    fwmark: None,
                    destinations: vec![
                        ("10.0.0.2".parse().unwrap(), 8080),
                        ("127.0.0.1".parse().unwrap(), 8080)
                    ],
                },
                IpvsService {
                    protocol: Some(Protocol::Udp),
                    address: Some("2001:db8::1".parse().unwrap()),
                    port: Some(53),
                    fwmark: None,
                    destinations: vec![("2001:db8::2".parse().unwrap(), 53)],
                },
                IpvsService {
                    protocol: None,
                    address: None,
                    port: None,
                    fwmark: Some(10),
                    destinations: vec![],
                },
            ]
        );
    }

    #[test]
    fn the_headers_alone_are_no_service() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\n\
                    Prot LocalAddress:Port Scheduler Flags\n  \
                    -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n";
        assert_eq!(parse(text), Ok(vec![]));
        assert_eq!(parse(""), Ok(vec![]));
    }

    #[test]
    fn an_odd_line_is_an_error_naming_it() {
        assert_eq!(
            parse("TCP  0A00001:0050 rr\n"),
            Err("line 1: \"TCP  0A00001:0050 rr\"".to_string())
        );
        assert_eq!(
            parse("  -> 0A000002:1F90 Masq 1 0 0\n"),
            Err("line 1: \"  -> 0A000002:1F90 Masq 1 0 0\"".to_string())
        );
        assert!(parse("XYZ 0A000001:0050 rr\n").is_err());
        assert!(parse("TCP [::1:0050 rr\n").is_err());
        assert!(parse("garbage\n").is_err());
    }
}
