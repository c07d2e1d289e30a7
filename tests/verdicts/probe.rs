//! What the kernel delivers: listeners held by the test in the lab's namespaces, probes
//! sent from the outside namespace, and what arrived where.
//!
//! A probe is identified by its source port (unique within a round). A TCP probe is a
//! non-blocking connect: its SYN arrived when the listener holds the connection
//! (accepted, or still in SYN-RECV because the handshake's later packets were dropped,
//! which `/proc/net/tcp` shows). A UDP probe is one datagram; the listener records its
//! sender. Nothing relies on replies, which the ruleset may drop on their way back.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::netns::NetNs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Which of the lab's namespaces a listener is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Host,
    App,
}

#[derive(Debug)]
pub struct Listener {
    pub side: Side,
    pub proto: Proto,
    pub bind: IpAddr,
    pub port: u16,
    socket: Socket,
}

/// Run `work` on a thread of its own inside `ns`: sockets it creates live there.
pub fn in_netns<T: Send>(ns: &NetNs, work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                ns.enter();
                work()
            })
            .join()
            .expect("a thread inside a lab namespace panicked")
    })
}

fn domain(address: IpAddr) -> Domain {
    if address.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

/// Bind (and for TCP, listen on) each (protocol, address, port) inside `ns`.
pub fn listen(ns: &NetNs, side: Side, binds: &[(Proto, IpAddr, u16)]) -> Vec<Listener> {
    in_netns(ns, || {
        binds
            .iter()
            .map(|&(proto, bind, port)| {
                let (kind, protocol) = match proto {
                    Proto::Tcp => (Type::STREAM, Protocol::TCP),
                    Proto::Udp => (Type::DGRAM, Protocol::UDP),
                };
                let socket = Socket::new(domain(bind), kind, Some(protocol)).unwrap();
                if bind.is_ipv6() {
                    // Each family has its own listener: a `::` bind never takes IPv4.
                    socket.set_only_v6(true).unwrap();
                }
                socket.set_reuse_address(true).unwrap();
                socket
                    .bind(&SocketAddr::new(bind, port).into())
                    .unwrap_or_else(|e| panic!("bind {proto:?} {bind} {port}: {e}"));
                if proto == Proto::Tcp {
                    socket.listen(4096).unwrap();
                }
                socket.set_nonblocking(true).unwrap();
                Listener {
                    side,
                    proto,
                    bind,
                    port,
                    socket,
                }
            })
            .collect()
    })
}

/// One probe: a SYN or a datagram from `source:src_port` to `dst:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub proto: Proto,
    pub dst: IpAddr,
    pub port: u16,
    pub source: IpAddr,
    pub src_port: u16,
}

/// What the client saw (only to explain; delivery is read at the listeners).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSaw {
    Connected,
    Refused,
    TimedOut,
    Sent,
    Failed(i32),
}

/// Probes in flight: the client's sockets stay open until the listeners were read, so
/// that no reset from the client removes a connection before it is counted.
pub struct Round {
    pub saw: Vec<ClientSaw>,
    _sockets: Vec<Socket>,
}

/// Send every probe at once from inside `client`; wait up to `wait` for the TCP
/// handshakes (and for the datagrams to land).
pub fn send(client: &NetNs, probes: &[Probe], wait: Duration) -> Round {
    in_netns(client, || {
        let mut sockets = Vec::with_capacity(probes.len());
        let mut saw = Vec::with_capacity(probes.len());
        // Datagrams first: they land while the handshakes run.
        let mut order: Vec<usize> = (0..probes.len()).collect();
        order.sort_by_key(|&i| probes[i].proto == Proto::Tcp);
        let mut slots: Vec<Option<(Socket, ClientSaw)>> = (0..probes.len()).map(|_| None).collect();
        for i in order {
            let probe = probes[i];
            let (kind, protocol) = match probe.proto {
                Proto::Tcp => (Type::STREAM, Protocol::TCP),
                Proto::Udp => (Type::DGRAM, Protocol::UDP),
            };
            let socket = Socket::new(domain(probe.dst), kind, Some(protocol)).unwrap();
            socket.set_reuse_address(true).unwrap();
            socket.set_nonblocking(true).unwrap();
            if let Err(e) = socket.bind(&SocketAddr::new(probe.source, probe.src_port).into()) {
                slots[i] = Some((socket, ClientSaw::Failed(e.raw_os_error().unwrap_or(-1))));
                continue;
            }
            let to: SockAddr = SocketAddr::new(probe.dst, probe.port).into();
            let state = match probe.proto {
                Proto::Udp => match socket.send_to(format!("{}", probe.src_port).as_bytes(), &to) {
                    Ok(_) => ClientSaw::Sent,
                    Err(e) => ClientSaw::Failed(e.raw_os_error().unwrap_or(-1)),
                },
                Proto::Tcp => {
                    // No TIME-WAIT afterwards: the port is free for a later round.
                    socket.set_linger(Some(Duration::ZERO)).unwrap();
                    match socket.connect(&to) {
                        Ok(()) => ClientSaw::Connected,
                        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                            ClientSaw::TimedOut
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                            ClientSaw::Refused
                        }
                        Err(e) => ClientSaw::Failed(e.raw_os_error().unwrap_or(-1)),
                    }
                }
            };
            slots[i] = Some((socket, state));
        }
        for slot in slots {
            let (socket, state) = slot.unwrap();
            saw.push(state);
            sockets.push(socket);
        }
        wait_for_handshakes(probes, &sockets, &mut saw, wait);
        Round {
            saw,
            _sockets: sockets,
        }
    })
}

/// Poll the connecting sockets until each is connected or refused, or `wait` is over.
fn wait_for_handshakes(
    probes: &[Probe],
    sockets: &[Socket],
    saw: &mut [ClientSaw],
    wait: Duration,
) {
    let deadline = Instant::now() + wait;
    loop {
        let pending: Vec<usize> = (0..probes.len())
            .filter(|&i| probes[i].proto == Proto::Tcp && saw[i] == ClientSaw::TimedOut)
            .collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if pending.is_empty() || left.is_zero() {
            break;
        }
        let mut fds: Vec<libc::pollfd> = pending
            .iter()
            .map(|&i| libc::pollfd {
                fd: sockets[i].as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            })
            .collect();
        let timeout = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid array of pollfd for the length we pass.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if ready <= 0 {
            continue;
        }
        for (fd, &i) in fds.iter().zip(&pending) {
            if fd.revents == 0 {
                continue;
            }
            saw[i] = match sockets[i].take_error() {
                Ok(None) => ClientSaw::Connected,
                Ok(Some(e)) if e.raw_os_error() == Some(libc::ECONNREFUSED) => ClientSaw::Refused,
                Ok(Some(e)) => ClientSaw::Failed(e.raw_os_error().unwrap_or(-1)),
                Err(e) => ClientSaw::Failed(e.raw_os_error().unwrap_or(-1)),
            };
        }
    }
    // Datagrams that were sent before the handshakes' wait have landed by now; with no
    // TCP probe at all, give them a moment.
    if probes.iter().all(|p| p.proto == Proto::Udp) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What arrived since the last call: source port → index of the listener it reached.
/// Reads every listener (accepting and closing what waits) and the SYN-RECV entries of
/// `/proc/net/tcp{,6}` in the host and app namespaces.
pub fn arrived(listeners: &[Listener], host: &NetNs, app: &NetNs) -> HashMap<(Proto, u16), usize> {
    let mut found = HashMap::new();
    // SYN-RECV first: a handshake that completes meanwhile is then found accepted.
    for (side, ns) in [(Side::Host, host), (Side::App, app)] {
        for (v6, local, remote) in syn_recv(ns) {
            let listener = listeners.iter().position(|l| {
                l.side == side && l.proto == Proto::Tcp && l.port == local && l.bind.is_ipv6() == v6
            });
            if let Some(index) = listener {
                found.insert((Proto::Tcp, remote), index);
            }
        }
    }
    let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 512];
    for (index, listener) in listeners.iter().enumerate() {
        match listener.proto {
            Proto::Tcp => {
                while let Ok((_, peer)) = listener.socket.accept() {
                    if let Some(peer) = peer.as_socket() {
                        found.insert((Proto::Tcp, peer.port()), index);
                    }
                }
            }
            Proto::Udp => {
                while let Ok((_, peer)) = listener.socket.recv_from(&mut buffer) {
                    if let Some(peer) = peer.as_socket() {
                        found.insert((Proto::Udp, peer.port()), index);
                    }
                }
            }
        }
    }
    found
}

/// The (IPv6, local port, remote port) of every SYN-RECV entry in `ns`.
fn syn_recv(ns: &NetNs) -> Vec<(bool, u16, u16)> {
    let tables = in_netns(ns, || {
        ["tcp", "tcp6"].map(|file| {
            std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
                .unwrap_or_else(|e| panic!("/proc/thread-self/net/{file}: {e}"))
        })
    });
    let port = |field: &str| {
        let hex = field.rsplit(':').next().unwrap_or_default();
        u16::from_str_radix(hex, 16).ok()
    };
    let mut entries = Vec::new();
    for (v6, text) in [(false, &tables[0]), (true, &tables[1])] {
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 3
                && fields[3] == "03"
                && let (Some(local), Some(remote)) = (port(fields[1]), port(fields[2]))
            {
                entries.push((v6, local, remote));
            }
        }
    }
    entries
}
