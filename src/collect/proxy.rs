//! docker-proxy: Docker's userland proxy publishes a container port by listening on
//! the host and forwarding; its command line names both sides.
//!
//! The daemon starts one per published port, as (moby's cmd/docker-proxy):
//! `docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2
//! -container-port 80 -use-listen-fd`. The flags are Go's `flag` package's, so each may be
//! written `-x v`, `--x v`, `-x=v` or `--x=v`. Where docker-proxy itself has a default we
//! take it: `-proto` is `tcp`, and without `-host-ip` it listens on every address (older
//! versions parse `""` to Go's nil IP, newer ones default to 0.0.0.0). The ports and the
//! container's address have no usable default, so without them there is no forward.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::Protocol;
use crate::socket::{Listener, Publish, Via};

/// What one docker-proxy forwards: host side to container side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub protocol: Protocol,
    pub host_address: IpAddr,
    pub host_port: u16,
    pub target: IpAddr,
    pub target_port: u16,
}

/// docker-proxy's flags that take a value; any other flag (`-use-listen-fd`, `-v`, one a
/// later version adds) is skipped.
const VALUE_FLAGS: [&str; 5] = [
    "proto",
    "host-ip",
    "host-port",
    "container-ip",
    "container-port",
];

/// Parse a process's command line (`/proc/PID/cmdline`, NUL-separated); `None` when it
/// is not a docker-proxy's, or when it does not say what it forwards (an SCTP proxy, a
/// missing or bad value).
pub fn parse(cmdline: &[u8]) -> Option<Forward> {
    // The kernel ends every argument with a NUL, the last one included.
    let cmdline = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
    let mut args = cmdline.split(|&b| b == 0);
    let argv0 = args.next()?;
    let basename = argv0.rsplit(|&b| b == b'/').next()?;
    if basename != b"docker-proxy" {
        return None;
    }

    let mut values: [Option<&str>; VALUE_FLAGS.len()] = [None; VALUE_FLAGS.len()];
    while let Some(arg) = args.next() {
        if arg == b"--" {
            break; // Go's flag package stops here
        }
        let Some(flag) = arg
            .strip_prefix(b"--")
            .or_else(|| arg.strip_prefix(b"-"))
            .filter(|f| !f.is_empty())
        else {
            // Not a flag: docker-proxy takes none, so skip it rather than guess.
            continue;
        };
        let (name, inline) = match flag.iter().position(|&b| b == b'=') {
            Some(eq) => (&flag[..eq], Some(&flag[eq + 1..])),
            None => (flag, None),
        };
        let Some(slot) = VALUE_FLAGS.iter().position(|f| f.as_bytes() == name) else {
            continue; // a boolean such as -use-listen-fd, or a flag we do not know
        };
        let value = match inline {
            Some(value) => value,
            None => args.next()?,
        };
        values[slot] = Some(std::str::from_utf8(value).ok()?);
    }

    let [proto, host_ip, host_port, container_ip, container_port] = values;
    let protocol = match proto.unwrap_or("tcp") {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None, // sctp is not in the socket tables we read
    };
    let host_address = match host_ip {
        Some(text) => text.parse().ok()?,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    Some(Forward {
        protocol,
        host_address,
        host_port: port(host_port?)?,
        target: container_ip?.parse().ok()?,
        target_port: port(container_port?)?,
    })
}

/// A port as Go's `flag.Int` reads it for docker-proxy: decimal, 1..=65535.
fn port(text: &str) -> Option<u16> {
    text.parse().ok().filter(|&p| p != 0)
}

/// docker-proxy processes owning a socket of the host: their command line says where
/// they forward.
pub fn published(proc_root: &Path, listeners: &[Listener]) -> Vec<Publish> {
    let mut publishes = Vec::new();
    for listener in listeners
        .iter()
        .filter(|l| l.netns.as_ref().is_none_or(|n| n.host))
    {
        // Only a process that calls itself docker-proxy has its command line read.
        for process in listener
            .processes
            .iter()
            .filter(|p| p.comm == b"docker-proxy")
        {
            let Ok(cmdline) =
                std::fs::read(proc_root.join(process.pid.to_string()).join("cmdline"))
            else {
                continue;
            };
            let Some(forward) = parse(&cmdline) else {
                continue;
            };
            if forward.protocol != listener.protocol || forward.host_port != listener.port {
                continue;
            }
            publishes.push(Publish {
                protocol: forward.protocol,
                host_address: listener.address,
                host_ports: listener.port..=listener.port,
                target: forward.target,
                target_port: Some(forward.target_port),
                via: Via::Proxy {
                    pid: process.pid,
                    inode: listener.inode,
                },
            });
        }
    }
    publishes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmdline(args: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for arg in args {
            out.extend_from_slice(arg.as_bytes());
            out.push(0);
        }
        out
    }

    fn forward(protocol: Protocol, host: &str, hp: u16, target: &str, tp: u16) -> Forward {
        Forward {
            protocol,
            host_address: host.parse().unwrap(),
            host_port: hp,
            target: target.parse().unwrap(),
            target_port: tp,
        }
    }

    #[test]
    fn docker_20_command_line() {
        // As Docker 20.10 starts it (`ps -ww` on a host with `docker run -p 8080:80`).
        let line = cmdline(&[
            "/usr/bin/docker-proxy",
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "8080",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "80",
        ]);
        assert_eq!(
            parse(&line),
            Some(forward(Protocol::Tcp, "0.0.0.0", 8080, "172.17.0.2", 80))
        );
    }

    #[test]
    fn docker_27_command_line_with_listen_fd_and_ipv6() {
        // Docker 27+ hands the socket over and adds the boolean -use-listen-fd; with
        // `-p 5353:53/udp` on an IPv6-enabled daemon it starts one for `::` too.
        let line = cmdline(&[
            "/usr/libexec/docker/docker-proxy",
            "-proto",
            "udp",
            "-host-ip",
            "::",
            "-host-port",
            "5353",
            "-container-ip",
            "fd00:dead:beef::2",
            "-container-port",
            "53",
            "-use-listen-fd",
        ]);
        assert_eq!(
            parse(&line),
            Some(forward(Protocol::Udp, "::", 5353, "fd00:dead:beef::2", 53))
        );
    }

    #[test]
    fn every_go_flag_form() {
        let line = cmdline(&[
            "docker-proxy",
            "--proto=udp",
            "-host-ip=127.0.0.1",
            "--host-port",
            "9000",
            "-use-listen-fd=true",
            "-container-ip",
            "10.0.0.5",
            "--container-port=9001",
        ]);
        assert_eq!(
            parse(&line),
            Some(forward(Protocol::Udp, "127.0.0.1", 9000, "10.0.0.5", 9001))
        );
    }

    #[test]
    fn docker_proxy_defaults() {
        // Without -proto and -host-ip docker-proxy listens with TCP on every address.
        let line = cmdline(&[
            "docker-proxy",
            "-host-port",
            "80",
            "-container-ip",
            "172.17.0.3",
            "-container-port",
            "8080",
        ]);
        assert_eq!(
            parse(&line),
            Some(forward(Protocol::Tcp, "0.0.0.0", 80, "172.17.0.3", 8080))
        );
    }

    #[test]
    fn without_the_trailing_nul() {
        let mut line = cmdline(&[
            "docker-proxy",
            "-host-port",
            "80",
            "-container-ip",
            "172.17.0.3",
            "-container-port",
            "80",
        ]);
        line.pop();
        assert!(parse(&line).is_some());
    }

    #[test]
    fn not_a_forward() {
        let good = [
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "8080",
            "-container-ip",
            "172.17.0.2",
            "-container-port",
            "80",
        ];
        let with = |argv0: &str, replace: &[(usize, &str)]| {
            let mut args = vec![argv0];
            args.extend_from_slice(&good);
            for &(i, value) in replace {
                args[i + 1] = value;
            }
            parse(&cmdline(&args))
        };
        assert!(with("/usr/bin/docker-proxy", &[]).is_some());
        // Other programs, even with the same flags.
        assert_eq!(with("/usr/bin/dockerd", &[]), None);
        assert_eq!(with("/usr/bin/docker-proxy.sh", &[]), None);
        assert_eq!(with("/opt/docker-proxy/bin/python", &[]), None);
        // Bad values.
        assert_eq!(with("docker-proxy", &[(1, "sctp")]), None);
        assert_eq!(with("docker-proxy", &[(1, "TCP")]), None);
        assert_eq!(with("docker-proxy", &[(3, "0.0.0")]), None);
        assert_eq!(with("docker-proxy", &[(3, "[::]")]), None);
        assert_eq!(with("docker-proxy", &[(5, "0")]), None);
        assert_eq!(with("docker-proxy", &[(5, "65536")]), None);
        assert_eq!(with("docker-proxy", &[(5, "-1")]), None);
        assert_eq!(with("docker-proxy", &[(5, "http")]), None);
        assert_eq!(with("docker-proxy", &[(7, "")]), None);
        assert_eq!(with("docker-proxy", &[(9, " 80")]), None);
        // Missing values: no container side, or a flag at the end without its value.
        assert_eq!(parse(&cmdline(&["docker-proxy", "-host-port", "80"])), None);
        assert_eq!(
            parse(&cmdline(&[
                "docker-proxy",
                "-host-port",
                "80",
                "-container-ip",
                "172.17.0.2",
                "-container-port"
            ])),
            None
        );
        // Not UTF-8, empty.
        assert_eq!(parse(b"docker-proxy\0-proto\0\xff\0"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\0"), None);
        // After `--` nothing is a flag.
        assert_eq!(
            parse(&cmdline(&[
                "docker-proxy",
                "--",
                "-host-port",
                "80",
                "-container-ip",
                "172.17.0.2",
                "-container-port",
                "80"
            ])),
            None
        );
    }
}
