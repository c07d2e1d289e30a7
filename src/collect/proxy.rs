//! docker-proxy: Docker's userland proxy publishes a container port by listening on
//! the host and forwarding; its command line names both sides.

use std::net::IpAddr;

use super::Protocol;

/// What one docker-proxy forwards: host side to container side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub protocol: Protocol,
    pub host_address: IpAddr,
    pub host_port: u16,
    pub target: IpAddr,
    pub target_port: u16,
}

/// Parse a process's command line (`/proc/PID/cmdline`, NUL-separated); `None` when it
/// is not a docker-proxy's.
pub fn parse(_cmdline: &[u8]) -> Option<Forward> {
    None
}
