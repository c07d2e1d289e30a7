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

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::nlmsg::NLMSG_HDRLEN;
pub use super::nlmsg::{Message, messages};
pub(super) use super::nlmsg::{align4, attributes};
use crate::error::describe_io;
use crate::socket::{Family, Listener, Protocol};

// <linux/netlink.h>
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP_INTR: u16 = 0x10;
pub(super) const NLM_F_DUMP: u16 = 0x300;
// <linux/sock_diag.h>, <linux/inet_diag.h>
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_SKV6ONLY: u16 = 11;
const INET_DIAG_CGROUP_ID: u16 = 21;
const INET_DIAG_SOCKOPT: u16 = 22;
/// `idiag_cookie` when the kernel has none to give (INET_DIAG_NOCOOKIE, both halves).
const NO_COOKIE: u64 = u64::MAX;
#[cfg(test)]
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
// <linux/netfilter/nfnetlink.h>, <linux/netfilter/nf_tables.h>
const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNETLINK_V0: u8 = 0;
// <linux/rtnetlink.h>, <linux/if_addr.h>, <linux/if_link.h>
pub(super) const NETLINK_ROUTE: i32 = 0;
const IFADDRMSG_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;

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
    /// IP_TRANSPARENT (INET_DIAG_SOCKOPT, kernel 5.10 and later, sent unasked): a
    /// tproxy rule may hand it packets for any address. `None` from older kernels.
    pub transparent: Option<bool>,
    /// The socket's cookie (`idiag_cookie`): what an sk_lookup program's SOCKMAP holds.
    pub cookie: Option<u64>,
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

/// A netlink message; the sequence number and port id are filled in when sent.
pub(super) fn message(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&[0; 8]);
    msg.extend_from_slice(body);
    msg
}

pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
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
    let transparent = attributes(&payload[INET_DIAG_MSG_LEN..])
        .find(|(kind, data)| *kind == INET_DIAG_SOCKOPT && data.len() >= 2)
        .map(|(_, data)| sockopt_transparent(data[0]));
    // idiag_cookie[2]: the low half first, each in host order.
    let cookie = u64::from(u32_at(payload, 44)) | u64::from(u32_at(payload, 48)) << 32;
    Ok(Some(Diag {
        listener: Listener::new(protocol, local, sport, uid, inode),
        v6only: if family == Family::Ipv6 { v6only } else { None },
        ifindex,
        cgroup_id,
        transparent,
        cookie: (cookie != NO_COOKIE).then_some(cookie),
    }))
}

/// The `transparent` bit of struct inet_diag_sockopt's first byte, a C bitfield
/// (`recverr:1, is_icsk:1, freebind:1, hdrincl:1, mc_loop:1, transparent:1, …`): the
/// sixth field, counted from the low bit on little-endian machines and from the high
/// bit on big-endian ones.
fn sockopt_transparent(first: u8) -> bool {
    let bit = if cfg!(target_endian = "little") { 5 } else { 2 };
    first & (1 << bit) != 0
}

pub(super) fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

pub(super) fn ipv6(b: &[u8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(b);
    Ipv6Addr::from(octets)
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
pub(super) struct Netlink {
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
    pub(super) fn open(protocol: i32, what: &'static str) -> Result<Netlink, NetlinkError> {
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
    pub(super) fn dump<T>(
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
    pub(super) fn exchange(
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

    pub(super) fn failed(&self, what: &str, why: &str) -> NetlinkError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::nlmsg::{Malformed, align4};

    #[test]
    fn a_datagram_frames_into_its_messages_and_stops_at_a_bad_length() {
        const RTM_NEWLINK: u16 = 16;
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
    fn request_asks_for_listen_only() {
        let r = sock_diag_request(Protocol::Tcp, Family::Ipv6);
        assert_eq!(r.len(), NLMSG_HDRLEN + 56);
        assert_eq!(u32_at(&r, 0) as usize, r.len());
        assert_eq!((r[16], r[17]), (AF_INET6, libc::IPPROTO_TCP as u8));
        assert_eq!(u32_at(&r, 20), 1 << TCP_LISTEN);
    }

    /// The captured sock_diag dump (tests/fixtures/netlink/, capture.sh there): TCP
    /// listeners on 127.0.0.1:7001 with IP_TRANSPARENT and 127.0.0.1:7002 without.
    fn captured_diags() -> Vec<Vec<u8>> {
        let mut bytes = &include_bytes!("../../tests/fixtures/netlink/inet_diag.bin")[..];
        let mut payloads = Vec::new();
        while bytes.len() >= NLMSG_HDRLEN {
            let len = u32_at(bytes, 0) as usize;
            if u16_at(bytes, 4) == SOCK_DIAG_BY_FAMILY {
                payloads.push(bytes[NLMSG_HDRLEN..len].to_vec());
            }
            bytes = &bytes[align4(len).min(bytes.len())..];
        }
        payloads
    }

    #[test]
    fn captured_listeners_say_transparent_and_cookie() {
        let diags: Vec<Diag> = captured_diags()
            .iter()
            .filter_map(|p| parse_inet_diag(p, Protocol::Tcp).unwrap())
            .collect();
        let by_port = |port| diags.iter().find(|d| d.listener.port == port).unwrap();
        let (transparent, plain) = (by_port(7001), by_port(7002));
        assert_eq!(diags.len(), 2);
        assert_eq!(transparent.transparent, Some(true));
        assert_eq!(plain.transparent, Some(false));
        let (a, b) = (transparent.cookie.unwrap(), plain.cookie.unwrap());
        assert_ne!(a, b);
        assert_ne!(a, NO_COOKIE);
    }

    #[test]
    fn a_kernel_without_sockopt_leaves_transparent_unknown() {
        // The captured record with INET_DIAG_SOCKOPT taken out, as a kernel before 5.10
        // sends it.
        for payload in captured_diags() {
            let mut without = payload[..INET_DIAG_MSG_LEN].to_vec();
            for (kind, data) in attributes(&payload[INET_DIAG_MSG_LEN..]) {
                if kind != INET_DIAG_SOCKOPT {
                    let len = 4 + data.len();
                    without.extend_from_slice(&(len as u16).to_ne_bytes());
                    without.extend_from_slice(&kind.to_ne_bytes());
                    without.extend_from_slice(data);
                    without.resize(align4(without.len()), 0);
                }
            }
            let d = parse_inet_diag(&without, Protocol::Tcp).unwrap().unwrap();
            assert_eq!(d.transparent, None);
            assert!(d.cookie.is_some());
        }
        // No cookie to give: both halves all ones.
        let mut b = record(
            AF_INET,
            TCP_LISTEN,
            "0.0.0.0".parse().unwrap(),
            80,
            0,
            0,
            None,
        );
        b[44..52].copy_from_slice(&[0xff; 8]);
        assert_eq!(
            parse_inet_diag(&b, Protocol::Tcp).unwrap().unwrap().cookie,
            None
        );
    }
}
