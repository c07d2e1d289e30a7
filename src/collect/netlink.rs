//! Ask the kernel directly: netlink sock_diag for the listening sockets, rtnetlink for
//! the host's interfaces and addresses.
//!
//! /proc/net cannot tell a dual-stack `::` socket from an IPV6_V6ONLY one, nor show a
//! socket bound to a device (SO_BINDTODEVICE); sock_diag gives both (INET_DIAG_SKV6ONLY,
//! `idiag_if`). It is also fast: a TCP dump that asks for LISTEN only never walks the
//! established sockets, where /proc/net/tcp prints every one of them as text.
//!
//! A small module over libc rather than the netlink-packet-* crates: we send five fixed
//! requests and read a handful of fields, we need the refusals (sandboxes, gVisor) told
//! apart from real failures, and one reused 32 KiB buffer keeps memory flat.
//! The parsing is pure and unit-tested; [`Netlink`] is the only part that does I/O.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::nlmsg::NLMSG_HDRLEN;
pub(super) use super::nlmsg::attributes;
pub use super::nlmsg::{Message, messages};
use super::{Device, Family, HostAddress, Listener, Protocol};
use crate::error::describe_io;
use crate::socket::{Link, Route};

// <linux/netlink.h>
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_DUMP: u16 = 0x300;
// <linux/sock_diag.h>, <linux/inet_diag.h>
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_SKV6ONLY: u16 = 11;
const INET_DIAG_CGROUP_ID: u16 = 21;
#[cfg(test)]
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
// <linux/netfilter/nfnetlink.h>, <linux/netfilter/nf_tables.h>
const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNETLINK_V0: u8 = 0;
// <linux/rtnetlink.h>, <linux/if_addr.h>, <linux/if_link.h>
const NETLINK_ROUTE: i32 = 0;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_LOOPBACK: u32 = 0x8;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// The kernel caps a dump's message batch at 32 KiB; a buffer that size takes any batch.
const BUFFER: usize = 32 * 1024;
/// An interrupted dump (the table changed under it) is read again, this many times.
const ATTEMPTS: usize = 5;

/// Why netlink could not give us the sockets.
#[derive(Debug)]
pub enum NetlinkError {
    /// The kernel or a sandbox does not offer it (no socket, no handler, not permitted):
    /// /proc/net is the way to look instead.
    Refused(String),
    /// It is there but failed: the audit cannot be trusted.
    Failed(String),
}

impl NetlinkError {
    pub fn message(&self) -> &str {
        match self {
            NetlinkError::Refused(m) | NetlinkError::Failed(m) => m,
        }
    }
}

/// What the socket dump says about one listener beyond the /proc/net columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub listener: Listener,
    /// IPV6_V6ONLY, for IPv6 sockets (None for IPv4, or a kernel that does not say).
    pub v6only: Option<bool>,
    /// SO_BINDTODEVICE's interface index; 0 when not bound to a device.
    pub ifindex: u32,
    /// The cgroup v2 id of the cgroup that created the socket (INET_DIAG_CGROUP_ID,
    /// kernel 5.8 and later, sent unasked); `None` from older kernels.
    pub cgroup_id: Option<u64>,
}

/// Every listening TCP socket and every bound, unconnected UDP socket, IPv4 and IPv6.
pub fn read_listeners() -> Result<Vec<Diag>, NetlinkError> {
    let mut netlink = Netlink::open(NETLINK_SOCK_DIAG, "sock_diag")?;
    let mut all = Vec::new();
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        for family in [Family::Ipv4, Family::Ipv6] {
            let request = sock_diag_request(protocol, family);
            let what = format!(
                "the {}/{} socket dump",
                protocol.name(),
                family_name(family)
            );
            let diags = netlink.dump(&request, &what, |kind, payload, out: &mut Vec<Diag>| {
                if kind == SOCK_DIAG_BY_FAMILY {
                    out.extend(parse_inet_diag(payload, protocol)?);
                }
                Ok(())
            })?;
            all.extend(diags);
        }
    }
    Ok(without_repeats(all))
}

/// Each socket once: records merge only when they agree on (protocol, family, address,
/// port, inode). Two binds under one inode are two listeners (inode numbers repeat once
/// the counter wraps, and sock_diag gives only their low 32 bits), and inode 0 (a socket
/// being torn down) never merges.
fn without_repeats(mut diags: Vec<Diag>) -> Vec<Diag> {
    let mut seen = HashSet::new();
    diags.retain(|d| {
        let l = &d.listener;
        l.inode == 0 || seen.insert((l.protocol, l.family, l.address, l.port, l.inode))
    });
    diags
}

/// The host's interfaces (index → device) and their addresses, from rtnetlink.
pub fn read_interfaces() -> Result<(BTreeMap<u32, Device>, Vec<HostAddress>), NetlinkError> {
    let mut netlink = Netlink::open(NETLINK_ROUTE, "rtnetlink")?;
    let links = netlink.dump(
        &route_request(RTM_GETLINK, IFINFOMSG_LEN),
        "the interface list",
        |kind, payload, out: &mut Vec<(u32, Device)>| {
            if kind == RTM_NEWLINK {
                out.extend(parse_link(payload)?);
            }
            Ok(())
        },
    )?;
    let devices: BTreeMap<u32, Device> = links.into_iter().collect();
    let addresses = netlink.dump(
        &route_request(RTM_GETADDR, IFADDRMSG_LEN),
        "the address list",
        |kind, payload, out: &mut Vec<(u32, IpAddr)>| {
            if kind == RTM_NEWADDR {
                out.extend(parse_address(payload)?);
            }
            Ok(())
        },
    )?;
    let addresses = addresses
        .into_iter()
        .map(|(index, address)| HostAddress {
            address,
            device: devices
                .get(&index)
                .map_or_else(|| format!("if{index}"), |d| d.name.clone()),
            ifindex: index,
        })
        .collect();
    Ok((devices, addresses))
}

/// One nfnetlink socket for reading the nftables ruleset (`collect::nft::native`): dumps
/// of tables, chains, sets, set elements and rules, and the ruleset's generation id.
pub(super) struct Nftables(Netlink);

impl Nftables {
    pub(super) fn open() -> Result<Nftables, NetlinkError> {
        Netlink::open(NETLINK_NETFILTER, "nfnetlink").map(Nftables)
    }

    /// Hands `each` every reply to an NFT_MSG_GET* dump of `family` (AF_UNSPEC: all)
    /// with the request attributes `attrs` (its netlink type and payload, from the
    /// nfgenmsg on), as it arrives; Ok(false) when the kernel flagged the dump
    /// inconsistent (the ruleset changed under it), which the caller reads again.
    pub(super) fn dump(
        &mut self,
        get: u16,
        family: u8,
        attrs: &[u8],
        what: &str,
        each: &mut OnMessage<'_>,
    ) -> Result<bool, NetlinkError> {
        let mut body = vec![family, NFNETLINK_V0, 0, 0];
        body.extend_from_slice(attrs);
        let request = message(
            NFNL_SUBSYS_NFTABLES << 8 | get,
            NLM_F_REQUEST | NLM_F_DUMP,
            &body,
        );
        // Replies are NEW* = GET* - 1.
        let reply = NFNL_SUBSYS_NFTABLES << 8 | (get - 1);
        self.0.dump_once(&request, what, &mut |kind, payload| {
            if kind == reply {
                each(kind, payload)?;
            }
            Ok(())
        })
    }

    /// The ruleset's generation id (NFT_MSG_GETGEN), which every committed change bumps.
    pub(super) fn generation(&mut self) -> Result<u32, NetlinkError> {
        const NFT_MSG_NEWGEN: u16 = 15;
        const NFT_MSG_GETGEN: u16 = 16;
        const NFTA_GEN_ID: u16 = 1;
        let request = message(
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN,
            NLM_F_REQUEST | NLM_F_ACK,
            &[0, NFNETLINK_V0, 0, 0],
        );
        let mut id = None;
        self.0.exchange(
            &request,
            "the nftables generation",
            true,
            &mut |kind, payload| {
                if kind == NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN && payload.len() >= 4 {
                    id = attributes(&payload[4..])
                        .find(|(k, d)| *k == NFTA_GEN_ID && d.len() == 4)
                        .map(|(_, d)| u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
                }
                Ok(())
            },
        )?;
        id.ok_or_else(|| self.0.failed("the nftables generation", "no NFTA_GEN_ID"))
    }
}

/// The payload of every `reply` message to a dump request of type `kind` with `body`, on
/// a netlink socket of `protocol` (`name` says which in errors): for callers that parse
/// messages of their own (the kernel sockets' owners: link kinds, generic netlink).
pub fn dump_raw(
    protocol: i32,
    name: &'static str,
    kind: u16,
    body: &[u8],
    reply: u16,
    what: &str,
) -> Result<Vec<Vec<u8>>, NetlinkError> {
    let mut netlink = Netlink::open(protocol, name)?;
    let request = message(kind, NLM_F_REQUEST | NLM_F_DUMP, body);
    netlink.dump(&request, what, |k, payload, out: &mut Vec<Vec<u8>>| {
        if k == reply {
            out.push(payload.to_vec());
        }
        Ok(())
    })
}

fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// nlmsghdr + inet_diag_req_v2: one protocol and family, only the listening states.
fn sock_diag_request(protocol: Protocol, family: Family) -> Vec<u8> {
    let (proto, states) = match protocol {
        // LISTEN alone: the kernel then skips the established hash entirely.
        Protocol::Tcp => (libc::IPPROTO_TCP as u8, 1u32 << TCP_LISTEN),
        // Unconnected UDP sockets are in state CLOSE; connected ones ESTABLISHED.
        Protocol::Udp => (libc::IPPROTO_UDP as u8, 1u32 << TCP_CLOSE),
    };
    let af = match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    };
    let mut body = vec![0u8; 56];
    body[0] = af;
    body[1] = proto;
    body[2] = 0; // idiag_ext: INET_DIAG_SKV6ONLY comes with LISTEN and CLOSE sockets unasked
    body[4..8].copy_from_slice(&states.to_ne_bytes());
    message(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, &body)
}

/// nlmsghdr + a zeroed ifinfomsg/ifaddrmsg (AF_UNSPEC: every family).
fn route_request(kind: u16, header_len: usize) -> Vec<u8> {
    message(kind, NLM_F_REQUEST | NLM_F_DUMP, &vec![0u8; header_len])
}

/// A netlink message; the sequence number and port id are filled in when sent.
fn message(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&[0; 8]);
    msg.extend_from_slice(body);
    msg
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One inet_diag_msg: a listener, or None for a socket that is not one (a connected UDP
/// socket the kernel let through, a port-0 bind).
pub fn parse_inet_diag(payload: &[u8], protocol: Protocol) -> Result<Option<Diag>, String> {
    if payload.len() < INET_DIAG_MSG_LEN {
        return Err(format!(
            "socket record of {} bytes, expected at least {INET_DIAG_MSG_LEN}",
            payload.len()
        ));
    }
    let state = payload[1];
    let sport = u16::from_be_bytes([payload[4], payload[5]]);
    let dport = u16::from_be_bytes([payload[6], payload[7]]);
    let (family, local, remote) = match payload[0] {
        AF_INET => (
            Family::Ipv4,
            IpAddr::V4(ipv4(&payload[8..12])),
            IpAddr::V4(ipv4(&payload[24..28])),
        ),
        AF_INET6 => (
            Family::Ipv6,
            IpAddr::V6(ipv6(&payload[8..24])),
            IpAddr::V6(ipv6(&payload[24..40])),
        ),
        other => return Err(format!("socket record of address family {other}")),
    };
    let ifindex = u32_at(payload, 40);
    let uid = u32_at(payload, 64);
    let inode = u64::from(u32_at(payload, 68));
    let listening = match protocol {
        Protocol::Tcp => state == TCP_LISTEN,
        Protocol::Udp => state == TCP_CLOSE && sport != 0 && dport == 0 && remote.is_unspecified(),
    };
    if !listening {
        return Ok(None);
    }
    let v6only = attributes(&payload[INET_DIAG_MSG_LEN..])
        .find(|(kind, data)| *kind == INET_DIAG_SKV6ONLY && !data.is_empty())
        .map(|(_, data)| data[0] != 0);
    let cgroup_id = attributes(&payload[INET_DIAG_MSG_LEN..])
        .find(|(kind, data)| *kind == INET_DIAG_CGROUP_ID && data.len() == 8)
        .map(|(_, data)| u64::from_ne_bytes(data.try_into().unwrap_or_default()));
    Ok(Some(Diag {
        listener: Listener::new(protocol, local, sport, uid, inode),
        v6only: if family == Family::Ipv6 { v6only } else { None },
        ifindex,
        cgroup_id,
    }))
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn ipv6(b: &[u8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(b);
    Ipv6Addr::from(octets)
}

/// RTM_NEWLINK: ifinfomsg (index, flags) and IFLA_IFNAME.
pub fn parse_link(payload: &[u8]) -> Result<Option<(u32, Device)>, String> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(format!("interface record of {} bytes", payload.len()));
    }
    let index = u32_at(payload, 4);
    let flags = u32_at(payload, 8);
    let Some((_, name)) = attributes(&payload[IFINFOMSG_LEN..]).find(|(k, _)| *k == IFLA_IFNAME)
    else {
        return Ok(None);
    };
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    Ok(Some((
        index,
        Device {
            name: String::from_utf8_lossy(name).into_owned(),
            loopback: flags & IFF_LOOPBACK != 0,
        },
    )))
}

/// RTM_NEWADDR: the interface index and the local address (IFA_LOCAL, which differs from
/// IFA_ADDRESS on point-to-point links, where IFA_ADDRESS is the peer).
pub fn parse_address(payload: &[u8]) -> Result<Option<(u32, IpAddr)>, String> {
    if payload.len() < IFADDRMSG_LEN {
        return Err(format!("address record of {} bytes", payload.len()));
    }
    let family = payload[0];
    let index = u32_at(payload, 4);
    let mut local = None;
    let mut address = None;
    for (kind, data) in attributes(&payload[IFADDRMSG_LEN..]) {
        let ip = match (family, data.len()) {
            (AF_INET, 4) => IpAddr::V4(ipv4(data)),
            (AF_INET6, 16) => IpAddr::V6(ipv6(data)),
            _ => continue,
        };
        match kind {
            IFA_LOCAL => local = Some(ip),
            IFA_ADDRESS => address = Some(ip),
            _ => {}
        }
    }
    Ok(local.or(address).map(|ip| (index, ip)))
}

/// Called with each reply message's type and payload; an Err is a malformed reply.
pub(super) type OnMessage<'a> = dyn FnMut(u16, &[u8]) -> Result<(), String> + 'a;

/// One netlink socket and the buffer its replies are read into.
struct Netlink {
    fd: OwnedFd,
    buffer: Vec<u8>,
    seq: u32,
    what: &'static str,
}

/// errnos that mean "not offered here" rather than "broken".
fn is_refusal(errno: i32) -> bool {
    matches!(
        errno,
        libc::EPROTONOSUPPORT
            | libc::EAFNOSUPPORT
            | libc::EPERM
            | libc::EACCES
            | libc::ENOENT
            | libc::EOPNOTSUPP
            | libc::ENOSYS
            | libc::EINVAL
            | libc::ECONNREFUSED
    )
}

impl Netlink {
    fn open(protocol: i32, what: &'static str) -> Result<Netlink, NetlinkError> {
        // SAFETY: plain socket(2); the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(os_error(
                &format!("cannot open a netlink {what} socket"),
                None,
            ));
        }
        Ok(Netlink {
            // SAFETY: fd is a fresh descriptor that nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            buffer: vec![0; BUFFER],
            seq: 0,
            what,
        })
    }

    /// Send a dump request and hand each reply message to `each`; an interrupted dump is
    /// started over with an empty result.
    fn dump<T>(
        &mut self,
        request: &[u8],
        what: &str,
        mut each: impl FnMut(u16, &[u8], &mut Vec<T>) -> Result<(), String>,
    ) -> Result<Vec<T>, NetlinkError> {
        for _ in 0..ATTEMPTS {
            let mut out = Vec::new();
            if self.dump_once(request, what, &mut |kind, payload| {
                each(kind, payload, &mut out)
            })? {
                return Ok(out);
            }
        }
        Err(NetlinkError::Failed(format!(
            "netlink {}: {what} was interrupted {ATTEMPTS} times in a row (sockets changing too fast)",
            self.what
        )))
    }

    /// One dump; Ok(false) when the kernel flagged it inconsistent (NLM_F_DUMP_INTR).
    fn dump_once(
        &mut self,
        request: &[u8],
        what: &str,
        each: &mut OnMessage<'_>,
    ) -> Result<bool, NetlinkError> {
        self.exchange(request, what, false, each)
    }

    /// Send `request` and hand each reply to `each` until NLMSG_DONE, or, with `acked`
    /// (a plain request sent with NLM_F_ACK), until the kernel's acknowledgement.
    fn exchange(
        &mut self,
        request: &[u8],
        what: &str,
        acked: bool,
        each: &mut OnMessage<'_>,
    ) -> Result<bool, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let mut request = request.to_vec();
        request[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        self.send(&request, what)?;
        let mut interrupted = false;
        loop {
            let len = self.receive(what)?;
            for message in messages(&self.buffer[..len]) {
                let Ok(Message {
                    kind,
                    flags,
                    seq,
                    payload,
                }) = message
                else {
                    return Err(self.failed(what, "malformed reply"));
                };
                if seq != self.seq {
                    continue; // a late reply to an earlier request
                }
                if flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match kind {
                    NLMSG_NOOP => {}
                    NLMSG_DONE => {
                        // The dump may end with the error that stopped it.
                        if payload.len() >= 4 {
                            let err = u32_at(payload, 0) as i32;
                            if err < 0 {
                                return Err(os_error(
                                    &format!("netlink {} refused {what}", self.what),
                                    Some(-err),
                                ));
                            }
                        }
                        return Ok(!interrupted);
                    }
                    NLMSG_ERROR => {
                        let err = if payload.len() >= 4 {
                            u32_at(payload, 0) as i32
                        } else {
                            -libc::EIO
                        };
                        if err < 0 {
                            return Err(os_error(
                                &format!("netlink {} refused {what}", self.what),
                                Some(-err),
                            ));
                        }
                        if acked {
                            return Ok(!interrupted);
                        }
                    }
                    NLMSG_OVERRUN => return Err(self.failed(what, "the kernel overran the reply")),
                    _ => each(kind, payload).map_err(|why| self.failed(what, &why))?,
                }
            }
        }
    }

    fn failed(&self, what: &str, why: &str) -> NetlinkError {
        NetlinkError::Failed(format!("netlink {}: {what}: {why}", self.what))
    }

    fn send(&self, request: &[u8], what: &str) -> Result<(), NetlinkError> {
        // SAFETY: sockaddr_nl is plain data; all zero but the family means "the kernel".
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: request and kernel outlive the call; the lengths are theirs.
            let sent = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&raw const kernel).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if sent >= 0 {
                return Ok(());
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(os_error(
                    &format!("cannot send netlink {} the request for {what}", self.what),
                    None,
                ));
            }
        }
    }

    /// Read one datagram into the buffer; its length.
    fn receive(&mut self, what: &str) -> Result<usize, NetlinkError> {
        loop {
            // SAFETY: the buffer is ours and its length is passed. MSG_TRUNC makes the
            // kernel return the full length, so a cut datagram is seen, not misread.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buffer.as_mut_ptr().cast(),
                    self.buffer.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                let n = n as usize;
                if n > self.buffer.len() {
                    return Err(self.failed(what, "reply larger than the receive buffer"));
                }
                return Ok(n);
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(NetlinkError::Failed(format!(
                    "netlink {}: cannot read {what}: {}",
                    self.what,
                    describe_io(&err)
                )));
            }
        }
    }
}

/// The last OS error (or `errno`), as a refusal or a failure.
fn os_error(context: &str, errno: Option<i32>) -> NetlinkError {
    let err = match errno {
        Some(e) => io::Error::from_raw_os_error(e),
        None => io::Error::last_os_error(),
    };
    let message = format!("{context}: {}", describe_io(&err));
    match err.raw_os_error() {
        Some(e) if is_refusal(e) => NetlinkError::Refused(message),
        _ => NetlinkError::Failed(message),
    }
}

// Link kinds and routes (<linux/if_link.h>, <linux/rtnetlink.h>): what the reach stage
// needs to tell a namespace's own link to the outside from a veth to the host, and which
// host interface faces a namespace.
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u32 = 254;
const RTN_UNICAST: u8 = 1;

/// The interfaces of the namespace the calling thread is in, with their kinds.
pub fn read_links() -> Result<Vec<Link>, NetlinkError> {
    let mut netlink = Netlink::open(NETLINK_ROUTE, "rtnetlink")?;
    netlink.dump(
        &route_request(RTM_GETLINK, IFINFOMSG_LEN),
        "the interface list",
        |kind, payload, out: &mut Vec<Link>| {
            if kind == RTM_NEWLINK {
                out.extend(parse_link_kind(payload)?);
            }
            Ok(())
        },
    )
}

/// The unicast routes of the main table of the namespace the calling thread is in, with
/// the device each leaves by (`None`: several next hops, or an index no link has).
pub fn read_routes(links: &[Link]) -> Result<Vec<Route>, NetlinkError> {
    let mut netlink = Netlink::open(NETLINK_ROUTE, "rtnetlink")?;
    let routes = netlink.dump(
        &route_request(RTM_GETROUTE, RTMSG_LEN),
        "the route list",
        |kind, payload, out: &mut Vec<(IpAddr, u8, u32)>| {
            if kind == RTM_NEWROUTE {
                out.extend(parse_route(payload)?);
            }
            Ok(())
        },
    )?;
    Ok(routes
        .into_iter()
        .map(|(destination, prefix_len, oif)| Route {
            destination,
            prefix_len,
            device: links
                .iter()
                .find(|l| oif != 0 && l.ifindex == oif)
                .map(|l| l.name.clone()),
        })
        .collect())
}

/// RTM_NEWLINK: index, name, loopback flag and IFLA_LINKINFO's IFLA_INFO_KIND.
pub fn parse_link_kind(payload: &[u8]) -> Result<Option<Link>, String> {
    let Some((ifindex, device)) = parse_link(payload)? else {
        return Ok(None);
    };
    let kind = attributes(&payload[IFINFOMSG_LEN..])
        .find(|(k, _)| *k == IFLA_LINKINFO)
        .and_then(|(_, info)| attributes(info).find(|(k, _)| *k == IFLA_INFO_KIND))
        .map(|(_, kind)| {
            let kind = kind.split(|&b| b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(kind).into_owned()
        });
    Ok(Some(Link {
        ifindex,
        name: device.name,
        kind,
        loopback: device.loopback,
    }))
}

/// RTM_NEWROUTE: a unicast route of the main table as (destination, prefix length, oif).
pub fn parse_route(payload: &[u8]) -> Result<Option<(IpAddr, u8, u32)>, String> {
    if payload.len() < RTMSG_LEN {
        return Err(format!("route record of {} bytes", payload.len()));
    }
    let (family, prefix_len, table, kind) = (payload[0], payload[1], payload[4], payload[7]);
    let mut table = u32::from(table);
    let mut destination = None;
    let mut oif = 0;
    for (attribute, data) in attributes(&payload[RTMSG_LEN..]) {
        match (attribute, family, data.len()) {
            (RTA_DST, AF_INET, 4) => destination = Some(IpAddr::V4(ipv4(data))),
            (RTA_DST, AF_INET6, 16) => destination = Some(IpAddr::V6(ipv6(data))),
            (RTA_OIF, _, 4) => oif = u32_at(data, 0),
            (RTA_TABLE, _, 4) => table = u32_at(data, 0),
            _ => {}
        }
    }
    if kind != RTN_UNICAST || table != RT_TABLE_MAIN {
        return Ok(None);
    }
    let destination = match (destination, family) {
        (Some(d), _) => d,
        // A default route has no RTA_DST.
        (None, AF_INET) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (None, _) => return Ok(None),
    };
    Ok(Some((destination, prefix_len, oif)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::nlmsg::{Malformed, align4};

    #[test]
    fn a_datagram_frames_into_its_messages_and_stops_at_a_bad_length() {
        let mut datagram = message(RTM_NEWLINK, 0, &[1, 2, 3]);
        // Padded to 4 bytes, as the kernel aligns each message.
        datagram.resize(align4(datagram.len()), 0);
        datagram.extend(message(NLMSG_DONE, 2, &[0; 4]));
        datagram.extend([0; 5]); // too short for a header: left
        let framed: Vec<_> = messages(&datagram).collect();
        assert_eq!(
            framed,
            [
                Ok(Message {
                    kind: RTM_NEWLINK,
                    flags: 0,
                    seq: 0,
                    payload: &[1, 2, 3]
                }),
                Ok(Message {
                    kind: NLMSG_DONE,
                    flags: 2,
                    seq: 0,
                    payload: &[0; 4]
                })
            ]
        );
        // A length past the end, or shorter than a header: an error, then nothing.
        for bad in [1000u32, 15] {
            let mut broken = message(RTM_NEWLINK, 0, &[0; 8]);
            broken[..4].copy_from_slice(&bad.to_ne_bytes());
            broken.extend(message(NLMSG_DONE, 0, &[0; 4]));
            assert_eq!(messages(&broken).collect::<Vec<_>>(), [Err(Malformed)]);
        }
        assert_eq!(messages(&[]).count(), 0);
    }

    /// An inet_diag_msg as the kernel lays it out, with an optional SKV6ONLY attribute.
    fn record(
        family: u8,
        state: u8,
        local: IpAddr,
        sport: u16,
        dport: u16,
        ifindex: u32,
        v6only: Option<u8>,
    ) -> Vec<u8> {
        let mut b = vec![0u8; INET_DIAG_MSG_LEN];
        b[0] = family;
        b[1] = state;
        b[4..6].copy_from_slice(&sport.to_be_bytes());
        b[6..8].copy_from_slice(&dport.to_be_bytes());
        match local {
            IpAddr::V4(v4) => b[8..12].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => b[8..24].copy_from_slice(&v6.octets()),
        }
        b[40..44].copy_from_slice(&ifindex.to_ne_bytes());
        b[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        b[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        if let Some(flag) = v6only {
            b.extend_from_slice(&5u16.to_ne_bytes());
            b.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
            b.extend_from_slice(&[flag, 0, 0, 0]);
        }
        b
    }

    #[test]
    fn tcp_listener_with_its_port_uid_inode_and_device() {
        let b = record(
            AF_INET,
            TCP_LISTEN,
            "127.0.0.1".parse().unwrap(),
            8080,
            0,
            1,
            None,
        );
        let d = parse_inet_diag(&b, Protocol::Tcp).unwrap().unwrap();
        assert_eq!(d.listener.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(d.listener.port, 8080);
        assert_eq!(d.listener.family, Family::Ipv4);
        assert_eq!((d.listener.uid, d.listener.inode), (1000, 4242));
        assert_eq!((d.ifindex, d.v6only), (1, None));
    }

    #[test]
    fn v6only_attribute_is_read_for_ipv6() {
        for (flag, want) in [(1, Some(true)), (0, Some(false))] {
            let b = record(
                AF_INET6,
                TCP_LISTEN,
                "::".parse().unwrap(),
                22,
                0,
                0,
                Some(flag),
            );
            let d = parse_inet_diag(&b, Protocol::Tcp).unwrap().unwrap();
            assert_eq!(d.v6only, want);
            assert_eq!(d.listener.address, "::".parse::<IpAddr>().unwrap());
        }
        let b = record(
            AF_INET6,
            TCP_LISTEN,
            "2001:db8::1".parse().unwrap(),
            22,
            0,
            0,
            None,
        );
        assert_eq!(
            parse_inet_diag(&b, Protocol::Tcp).unwrap().unwrap().v6only,
            None
        );
    }

    #[test]
    fn only_unconnected_bound_udp_and_listening_tcp_count() {
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let udp = |state, sport, dport| {
            parse_inet_diag(
                &record(AF_INET, state, any, sport, dport, 0, None),
                Protocol::Udp,
            )
            .unwrap()
        };
        assert!(udp(TCP_CLOSE, 53, 0).is_some());
        assert!(udp(TCP_CLOSE, 0, 0).is_none());
        assert!(udp(TCP_ESTABLISHED, 53, 9999).is_none());
        let tcp = parse_inet_diag(
            &record(AF_INET, TCP_ESTABLISHED, any, 1, 2, 0, None),
            Protocol::Tcp,
        );
        assert!(tcp.unwrap().is_none());
    }

    #[test]
    fn repeats_merge_only_when_they_name_the_same_bind() {
        let diag = |address: &str, port, inode| {
            let b = record(
                AF_INET,
                TCP_LISTEN,
                address.parse().unwrap(),
                port,
                0,
                0,
                None,
            );
            let mut d = parse_inet_diag(&b, Protocol::Tcp).unwrap().unwrap();
            d.listener.inode = inode;
            d
        };
        let kept = without_repeats(vec![
            diag("127.0.0.1", 5432, 7),
            diag("0.0.0.0", 5432, 7),
            diag("127.0.0.1", 5432, 7),
            diag("127.0.0.1", 5433, 7),
            diag("127.0.0.1", 9, 0),
            diag("127.0.0.1", 9, 0),
        ]);
        let binds: Vec<_> = kept
            .iter()
            .map(|d| {
                (
                    d.listener.address.to_string(),
                    d.listener.port,
                    d.listener.inode,
                )
            })
            .collect();
        assert_eq!(
            binds,
            [
                ("127.0.0.1".to_string(), 5432, 7),
                ("0.0.0.0".to_string(), 5432, 7),
                ("127.0.0.1".to_string(), 5433, 7),
                ("127.0.0.1".to_string(), 9, 0),
                ("127.0.0.1".to_string(), 9, 0),
            ]
        );
    }

    #[test]
    fn short_or_foreign_records_are_errors() {
        assert!(parse_inet_diag(&[0; 20], Protocol::Tcp).is_err());
        let b = record(7, TCP_LISTEN, "0.0.0.0".parse().unwrap(), 1, 0, 0, None);
        assert!(parse_inet_diag(&b, Protocol::Tcp).is_err());
    }

    #[test]
    fn cgroup_id_attribute_is_read() {
        let mut b = record(
            AF_INET,
            TCP_LISTEN,
            "0.0.0.0".parse().unwrap(),
            80,
            0,
            0,
            None,
        );
        assert_eq!(
            parse_inet_diag(&b, Protocol::Tcp)
                .unwrap()
                .unwrap()
                .cgroup_id,
            None
        );
        b.extend_from_slice(&12u16.to_ne_bytes());
        b.extend_from_slice(&INET_DIAG_CGROUP_ID.to_ne_bytes());
        b.extend_from_slice(&0x1_0000_2345u64.to_ne_bytes());
        let d = parse_inet_diag(&b, Protocol::Tcp).unwrap().unwrap();
        assert_eq!(d.cgroup_id, Some(0x1_0000_2345));
    }

    #[test]
    fn addresses_prefer_the_local_one() {
        let mut b = vec![AF_INET, 32, 0, 0];
        b.extend_from_slice(&3u32.to_ne_bytes());
        for (kind, ip) in [(IFA_ADDRESS, [10, 0, 0, 2]), (IFA_LOCAL, [10, 0, 0, 1])] {
            b.extend_from_slice(&8u16.to_ne_bytes());
            b.extend_from_slice(&kind.to_ne_bytes());
            b.extend_from_slice(&ip);
        }
        assert_eq!(
            parse_address(&b).unwrap(),
            Some((3, "10.0.0.1".parse().unwrap()))
        );
    }

    #[test]
    fn link_names_and_loopback_flag() {
        let mut b = vec![0u8; IFINFOMSG_LEN];
        b[4..8].copy_from_slice(&1u32.to_ne_bytes());
        b[8..12].copy_from_slice(&(IFF_LOOPBACK | 1).to_ne_bytes());
        b.extend_from_slice(&7u16.to_ne_bytes());
        b.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        b.extend_from_slice(b"lo\0\0");
        let (index, device) = parse_link(&b).unwrap().unwrap();
        assert_eq!(
            (index, device.name.as_str(), device.loopback),
            (1, "lo", true)
        );
    }

    #[test]
    fn request_asks_for_listen_only() {
        let r = sock_diag_request(Protocol::Tcp, Family::Ipv6);
        assert_eq!(r.len(), NLMSG_HDRLEN + 56);
        assert_eq!(u32_at(&r, 0) as usize, r.len());
        assert_eq!((r[16], r[17]), (AF_INET6, libc::IPPROTO_TCP as u8));
        assert_eq!(u32_at(&r, 20), 1 << TCP_LISTEN);
    }

    #[test]
    fn link_kind_comes_from_linkinfo() {
        let mut b = vec![0u8; IFINFOMSG_LEN];
        b[4..8].copy_from_slice(&7u32.to_ne_bytes());
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        b.extend_from_slice(b"mv0\0");
        // IFLA_LINKINFO { IFLA_INFO_KIND "macvlan" }
        b.extend_from_slice(&16u16.to_ne_bytes());
        b.extend_from_slice(&(IFLA_LINKINFO | 0x8000).to_ne_bytes());
        b.extend_from_slice(&12u16.to_ne_bytes());
        b.extend_from_slice(&IFLA_INFO_KIND.to_ne_bytes());
        b.extend_from_slice(b"macvlan\0");
        let link = parse_link_kind(&b).unwrap().unwrap();
        assert_eq!(
            (link.ifindex, link.name.as_str(), link.kind.as_deref()),
            (7, "mv0", Some("macvlan"))
        );
        assert!(!link.loopback);
    }

    #[test]
    fn routes_of_the_main_table_only() {
        let route = |table: u8, kind: u8, dst: Option<[u8; 4]>, len: u8| {
            let mut b = vec![AF_INET, len, 0, 0, table, 0, 0, kind, 0, 0, 0, 0];
            if let Some(dst) = dst {
                b.extend_from_slice(&8u16.to_ne_bytes());
                b.extend_from_slice(&RTA_DST.to_ne_bytes());
                b.extend_from_slice(&dst);
            }
            b.extend_from_slice(&8u16.to_ne_bytes());
            b.extend_from_slice(&RTA_OIF.to_ne_bytes());
            b.extend_from_slice(&3u32.to_ne_bytes());
            b
        };
        assert_eq!(
            parse_route(&route(254, RTN_UNICAST, Some([10, 250, 1, 0]), 24)).unwrap(),
            Some(("10.250.1.0".parse().unwrap(), 24, 3))
        );
        assert_eq!(
            parse_route(&route(254, RTN_UNICAST, None, 0)).unwrap(),
            Some(("0.0.0.0".parse().unwrap(), 0, 3))
        );
        assert_eq!(
            parse_route(&route(255, 2, Some([10, 0, 0, 1]), 32)).unwrap(),
            None
        );
        assert!(parse_route(&[0; 4]).is_err());
    }
}
