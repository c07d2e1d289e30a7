//! Kernel-held sockets: a listening socket no process holds, because a kernel facility
//! does, gets that facility's name (`vxlan vx0`, `nfsd`).
//!
//! The kernel opens these itself: a VXLAN, Geneve or bareudp device's UDP port (rtnetlink
//! link info: IFLA_INFO_KIND and the kind's port attribute), WireGuard's (generic netlink
//! WG_CMD_GET_DEVICE), a foo-over-UDP receiver's (FOU_CMD_GET), nfsd's
//! (/proc/fs/nfsd/portlist), lockd's (the nlm_tcpport and nlm_udpport sysctls, when set)
//! and ksmbd's 445/tcp (when its control device exists).
//! A socket is named only on protocol and port in the namespace whose devices say so, and
//! only when no process was found holding it. For the files' ports that also takes every
//! process having been looked at (a hidden process may hold the port); a tunnel device
//! that is up holds its port alone (the kernel binds it without SO_REUSEADDR), so its
//! claim stands even when some process could not be read.

use std::path::Path;

use super::netlink::{self, NetlinkError, attributes};
use super::netns;
use crate::socket::{Listener, Protocol};

// <linux/rtnetlink.h>, <linux/if_link.h>
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const IFINFOMSG_LEN: usize = 16;
const IFF_UP: u32 = 0x1;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VXLAN_PORT: u16 = 15;
const IFLA_GENEVE_PORT: u16 = 5;
const IFLA_BAREUDP_PORT: u16 = 1;
// <linux/genetlink.h>, <linux/wireguard.h>
const GENL_ID_CTRL: u16 = 0x10;
const GENL_HDRLEN: usize = 4;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const WG_CMD_GET_DEVICE: u8 = 0;
const WG_GENL_VERSION: u8 = 1;
const WGDEVICE_A_IFNAME: u16 = 2;
const WGDEVICE_A_LISTEN_PORT: u16 = 6;
// <linux/fou.h>
const FOU_CMD_GET: u8 = 3;
const FOU_GENL_VERSION: u8 = 1;
const FOU_ATTR_PORT: u16 = 1;
const FOU_ATTR_TYPE: u16 = 4;
const FOU_ENCAP_GUE: u8 = 2;

/// A port a kernel facility holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPort {
    pub protocol: Protocol,
    pub port: u16,
    /// `vxlan vx0`, `wireguard wg0`, `nfsd`.
    pub name: String,
    /// Only the kernel can hold the port (a tunnel device that is up), so a socket on it
    /// is the kernel's even when some process could not be looked at.
    pub exclusive: bool,
}

/// A network device as rtnetlink describes it: its name, kind and (for a tunnel that
/// listens) the UDP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub kind: String,
    pub port: Option<u16>,
    /// IFF_UP: the kernel opens the port when the device comes up.
    pub up: bool,
}

/// Name the sockets no process holds that a kernel facility does. `own`: the inode of
/// portaudit's own namespace (the files under `proc_root` describe it); `targets`: the
/// other namespaces audited, whose devices are read from inside them. Trouble reading a
/// namespace's devices is a warning only when some socket there could have used them.
pub fn attribute(
    proc_root: &Path,
    live: bool,
    own: Option<u64>,
    targets: &[netns::Namespace],
    listeners: &mut [Listener],
    warnings: &mut Vec<String>,
) {
    let unheld = |l: &Listener| l.processes.is_empty();
    if !listeners.iter().any(unheld) {
        return;
    }
    let mut namespaces: Vec<Option<u64>> = listeners
        .iter()
        .filter(|l| unheld(l))
        .map(|l| l.netns.as_ref().map(|n| n.inode))
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let here = |netns: Option<u64>| netns.is_none() || netns == own;
    // The other namespaces' devices, read by a few workers that enter them in turn: with
    // --all-netns a thread started for each namespace was most of the owners' cost.
    let elsewhere: Vec<&netns::Namespace> = if live {
        namespaces
            .iter()
            .filter(|&&n| !here(n))
            .filter_map(|&n| targets.iter().find(|t| Some(t.netns.inode) == n))
            .collect()
    } else {
        Vec::new()
    };
    let mut read_elsewhere: Vec<(u64, Result<_, String>)> = elsewhere
        .iter()
        .map(|t| t.netns.inode)
        .zip(
            netns::each(&elsewhere, |_| from_devices())
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string())),
        )
        .collect();
    for netns in namespaces {
        let here = here(netns);
        let mut ports = if here {
            from_files(proc_root, live)
        } else {
            Vec::new()
        };
        if live {
            let devices = if here {
                Ok(from_devices())
            } else {
                match read_elsewhere
                    .iter()
                    .position(|(inode, _)| Some(*inode) == netns)
                {
                    Some(i) => read_elsewhere.swap_remove(i).1,
                    None => Err("not entered".to_string()),
                }
            };
            match devices {
                Ok(Ok(found)) => ports.extend(found),
                Ok(Err(e)) => warnings.push(unread(netns, e.message())),
                Err(why) => warnings.push(unread(netns, &why)),
            }
        }
        for listener in listeners
            .iter_mut()
            .filter(|l| unheld(l) && l.netns.as_ref().map(|n| n.inode) == netns)
        {
            listener.kernel = claimant(listener, &ports).map(|p| p.name.as_str().into());
        }
    }
}

/// The facility among `ports` that holds `listener`: nobody was found holding it, and a
/// port only the kernel can hold, or every process was looked at (or it has no inode).
fn claimant<'a>(listener: &Listener, ports: &'a [KernelPort]) -> Option<&'a KernelPort> {
    if !listener.processes.is_empty() {
        return None;
    }
    let sure = listener.inode == 0 || listener.processes_complete;
    ports.iter().find(|p| {
        (p.exclusive || sure) && p.protocol == listener.protocol && p.port == listener.port
    })
}

fn unread(netns: Option<u64>, why: &str) -> String {
    let which = netns.map_or_else(String::new, |inode| {
        format!(" of network namespace {inode}")
    });
    format!(
        "cannot read the network devices{which} ({why}): sockets held by a tunnel device are not named"
    )
}

/// The ports the files under `proc_root` (and, live, /sys) give: nfsd, lockd, ksmbd.
fn from_files(proc_root: &Path, live: bool) -> Vec<KernelPort> {
    let mut ports = Vec::new();
    if let Ok(text) = std::fs::read_to_string(proc_root.join("fs/nfsd/portlist")) {
        ports.extend(
            parse_portlist(&text)
                .into_iter()
                .map(|(protocol, port)| KernelPort {
                    protocol,
                    port,
                    name: "nfsd".to_string(),
                    exclusive: false,
                }),
        );
    }
    for (protocol, file) in [
        (Protocol::Tcp, "sys/fs/nfs/nlm_tcpport"),
        (Protocol::Udp, "sys/fs/nfs/nlm_udpport"),
    ] {
        // 0: lockd takes a port rpcbind hands out, which only rpcbind can tell.
        let port = std::fs::read_to_string(proc_root.join(file))
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok())
            .filter(|&p| p != 0);
        if let Some(port) = port {
            ports.push(KernelPort {
                protocol,
                port,
                name: "lockd".to_string(),
                exclusive: false,
            });
        }
    }
    if live && Path::new("/sys/class/ksmbd-control").exists() {
        ports.push(KernelPort {
            protocol: Protocol::Tcp,
            port: 445,
            name: "ksmbd".to_string(),
            exclusive: false,
        });
    }
    ports
}

/// /proc/fs/nfsd/portlist: a line per transport, `tcp 2049`; others (`rdma`) left out.
pub fn parse_portlist(text: &str) -> Vec<(Protocol, u16)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let protocol = match fields.next()? {
                "tcp" | "tcp6" => Protocol::Tcp,
                "udp" | "udp6" => Protocol::Udp,
                _ => return None,
            };
            let port = fields.next()?.parse().ok()?;
            Some((protocol, port))
        })
        .collect()
}

/// The ports the network devices of the calling thread's namespace hold.
fn from_devices() -> Result<Vec<KernelPort>, NetlinkError> {
    let body = [0u8; IFINFOMSG_LEN];
    let payloads = netlink::dump_raw(
        libc::NETLINK_ROUTE,
        "rtnetlink",
        RTM_GETLINK,
        &body,
        RTM_NEWLINK,
        "the interface list",
    )?;
    let links: Vec<Link> = payloads.iter().filter_map(|p| parse_link(p)).collect();
    let mut ports: Vec<KernelPort> = links
        .iter()
        .filter_map(|link| {
            Some(KernelPort {
                protocol: Protocol::Udp,
                port: link.port?,
                name: format!("{} {}", link.kind, link.name),
                exclusive: link.up,
            })
        })
        .collect();
    // Without a family (its module not loaded) or CAP_NET_ADMIN, nothing is named.
    let families = genl_families();
    let family = |wanted: &str| {
        families
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|&(_, id)| id)
    };
    if let Some(family) = family("wireguard") {
        for link in links.iter().filter(|l| l.kind == "wireguard") {
            if let Some(port) = wireguard_port(family, &link.name) {
                ports.push(KernelPort {
                    protocol: Protocol::Udp,
                    port,
                    name: format!("wireguard {}", link.name),
                    exclusive: link.up,
                });
            }
        }
    }
    if let Some(family) = family("fou") {
        ports.extend(fou_ports(family));
    }
    Ok(ports)
}

/// RTM_NEWLINK: the device's name, its kind (IFLA_INFO_KIND) and, for the tunnels that
/// listen on a UDP port, that port (network byte order on the wire).
pub fn parse_link(payload: &[u8]) -> Option<Link> {
    let attrs = payload.get(IFINFOMSG_LEN..)?;
    let flags = u32::from_ne_bytes(payload.get(8..12)?.try_into().ok()?);
    let mut name = None;
    let mut kind = None;
    let mut data: &[u8] = &[];
    for (key, value) in attributes(attrs) {
        match key {
            IFLA_IFNAME => name = Some(c_string(value)),
            IFLA_LINKINFO => {
                for (key, value) in attributes(value) {
                    match key {
                        IFLA_INFO_KIND => kind = Some(c_string(value)),
                        IFLA_INFO_DATA => data = value,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let kind = kind?;
    let port_attribute = match kind.as_str() {
        "vxlan" => Some(IFLA_VXLAN_PORT),
        "geneve" => Some(IFLA_GENEVE_PORT),
        "bareudp" => Some(IFLA_BAREUDP_PORT),
        _ => None,
    };
    let port = port_attribute.and_then(|wanted| {
        attributes(data)
            .find(|(key, value)| *key == wanted && value.len() == 2)
            .map(|(_, value)| u16::from_be_bytes([value[0], value[1]]))
            .filter(|&p| p != 0)
    });
    Some(Link {
        name: name?,
        kind,
        port,
        up: flags & IFF_UP != 0,
    })
}

/// A NUL-terminated string attribute, as text (names are not trusted to be UTF-8).
fn c_string(value: &[u8]) -> String {
    let text = value.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

/// The generic netlink families (name, id) the loaded modules offer; none when the list
/// cannot be read.
fn genl_families() -> Vec<(String, u16)> {
    let body = [CTRL_CMD_GETFAMILY, 1, 0, 0];
    let payloads = netlink::dump_raw(
        libc::NETLINK_GENERIC,
        "generic netlink",
        GENL_ID_CTRL,
        &body,
        GENL_ID_CTRL,
        "the family list",
    )
    .unwrap_or_default();
    payloads.iter().filter_map(|p| parse_family(p)).collect()
}

/// CTRL_CMD_NEWFAMILY: the family's name and id.
pub fn parse_family(payload: &[u8]) -> Option<(String, u16)> {
    let attrs = payload.get(GENL_HDRLEN..)?;
    let mut id = None;
    let mut name = None;
    for (key, value) in attributes(attrs) {
        match key {
            CTRL_ATTR_FAMILY_ID if value.len() == 2 => {
                id = Some(u16::from_ne_bytes([value[0], value[1]]));
            }
            CTRL_ATTR_FAMILY_NAME => name = Some(c_string(value)),
            _ => {}
        }
    }
    Some((name?, id?))
}

/// FOU_CMD_GET: the UDP ports of the foo-over-UDP receivers (`ip fou add port N`).
fn fou_ports(family: u16) -> Vec<KernelPort> {
    let body = [FOU_CMD_GET, FOU_GENL_VERSION, 0, 0];
    netlink::dump_raw(
        libc::NETLINK_GENERIC,
        "generic netlink",
        family,
        &body,
        family,
        "the fou ports",
    )
    .unwrap_or_default()
    .iter()
    .filter_map(|p| parse_fou(p))
    .collect()
}

/// One FOU_CMD_GET reply: its port (network byte order) and whether it is GUE.
pub fn parse_fou(payload: &[u8]) -> Option<KernelPort> {
    let mut port = None;
    let mut gue = false;
    for (key, value) in attributes(payload.get(GENL_HDRLEN..)?) {
        match key {
            FOU_ATTR_PORT if value.len() == 2 => {
                port = Some(u16::from_be_bytes([value[0], value[1]]))
            }
            FOU_ATTR_TYPE if value.len() == 1 => gue = value[0] == FOU_ENCAP_GUE,
            _ => {}
        }
    }
    Some(KernelPort {
        protocol: Protocol::Udp,
        port: port.filter(|&p| p != 0)?,
        name: if gue { "gue" } else { "fou" }.to_string(),
        // The kernel binds a receiver's port without SO_REUSEADDR, and holds it alone.
        exclusive: true,
    })
}

/// WG_CMD_GET_DEVICE for the device `name`: its listen port (host byte order).
fn wireguard_port(family: u16, name: &str) -> Option<u16> {
    let mut body = vec![WG_CMD_GET_DEVICE, WG_GENL_VERSION, 0, 0];
    let value: Vec<u8> = name.bytes().chain([0]).collect();
    let len = 4 + value.len();
    body.extend_from_slice(&(len as u16).to_ne_bytes());
    body.extend_from_slice(&WGDEVICE_A_IFNAME.to_ne_bytes());
    body.extend_from_slice(&value);
    body.resize(body.len() + (4 - len % 4) % 4, 0);
    let payloads = netlink::dump_raw(
        libc::NETLINK_GENERIC,
        "generic netlink",
        family,
        &body,
        family,
        "the WireGuard device",
    )
    .ok()?;
    payloads.iter().find_map(|p| listen_port(p))
}

/// WG_CMD_GET_DEVICE's reply: WGDEVICE_A_LISTEN_PORT (the rest, keys included, is
/// dropped unread).
pub fn listen_port(payload: &[u8]) -> Option<u16> {
    attributes(payload.get(GENL_HDRLEN..)?)
        .find(|(key, value)| *key == WGDEVICE_A_LISTEN_PORT && value.len() == 2)
        .map(|(_, value)| u16::from_ne_bytes([value[0], value[1]]))
        .filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route attribute: length, type, value, padded to 4 bytes.
    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(value);
        b.resize(b.len().div_ceil(4) * 4, 0);
        b
    }

    /// RTM_NEWLINK of a device `name` of `kind`, its kind's data holding `data`.
    fn link(name: &str, kind: &str, data: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; IFINFOMSG_LEN];
        b[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
        b.extend(attr(IFLA_IFNAME, format!("{name}\0").as_bytes()));
        // NLA_F_NESTED, as the kernel sets it on IFLA_LINKINFO.
        let mut info = attr(IFLA_INFO_KIND, format!("{kind}\0").as_bytes());
        info.extend(attr(IFLA_INFO_DATA | 0x8000, data));
        b.extend(attr(IFLA_LINKINFO | 0x8000, &info));
        b
    }

    #[test]
    fn vxlan_and_geneve_ports_in_network_byte_order() {
        let mut data = attr(1, &42u32.to_ne_bytes());
        data.extend(attr(IFLA_VXLAN_PORT, &4789u16.to_be_bytes()));
        assert_eq!(
            parse_link(&link("vx0", "vxlan", &data)),
            Some(Link {
                name: "vx0".into(),
                kind: "vxlan".into(),
                port: Some(4789),
                up: true,
            })
        );
        let data = attr(IFLA_GENEVE_PORT, &6081u16.to_be_bytes());
        let geneve = parse_link(&link("gnv0", "geneve", &data)).unwrap();
        assert_eq!((geneve.kind.as_str(), geneve.port), ("geneve", Some(6081)));
    }

    #[test]
    fn devices_that_listen_on_nothing_have_no_port() {
        // A bridge's data has attribute 15 too; it is not a port.
        let data = attr(15, &[1, 2]);
        let bridge = parse_link(&link("br0", "bridge", &data)).unwrap();
        assert_eq!(bridge.port, None);
        let mut plain = vec![0u8; IFINFOMSG_LEN];
        plain.extend(attr(IFLA_IFNAME, b"eth0\0"));
        assert_eq!(parse_link(&plain), None);
        assert_eq!(parse_link(&[0u8; 4]), None);
    }

    #[test]
    fn a_claim_needs_a_free_socket_and_certainty() {
        let port = |name: &str, exclusive| KernelPort {
            protocol: Protocol::Udp,
            port: 4789,
            name: name.into(),
            exclusive,
        };
        let mut l = Listener::new(Protocol::Udp, "0.0.0.0".parse().unwrap(), 4789, 0, 7);
        // Some process could not be read: only a port the kernel holds alone is claimed.
        let ports = [port("nfsd", false), port("vxlan vx0", true)];
        assert_eq!(claimant(&l, &ports).unwrap().name, "vxlan vx0");
        assert_eq!(claimant(&l, &ports[..1]), None);
        l.processes_complete = true;
        assert_eq!(claimant(&l, &ports).unwrap().name, "nfsd");
        // Another protocol or port, or a process holding it: not the kernel's.
        let tcp = Listener {
            processes_complete: true,
            ..Listener::new(Protocol::Tcp, "0.0.0.0".parse().unwrap(), 4789, 0, 7)
        };
        assert_eq!(claimant(&tcp, &ports), None);
        l.processes = vec![crate::socket::Process {
            pid: 9,
            comm: b"socat".to_vec(),
            ..crate::socket::Process::default()
        }]
        .into();
        assert_eq!(claimant(&l, &ports), None);
    }

    #[test]
    fn nfsd_portlist() {
        let text = "rdma 20049\ntcp 2049\nudp 2049\nnonsense\ntcp x\n";
        assert_eq!(
            parse_portlist(text),
            vec![(Protocol::Tcp, 2049), (Protocol::Udp, 2049)]
        );
        assert!(parse_portlist("").is_empty());
    }

    #[test]
    fn generic_netlink_family_and_wireguard_port() {
        let mut family = vec![1, 2, 0, 0];
        family.extend(attr(CTRL_ATTR_FAMILY_ID, &0x1cu16.to_ne_bytes()));
        family.extend(attr(CTRL_ATTR_FAMILY_NAME, b"wireguard\0"));
        assert_eq!(parse_family(&family), Some(("wireguard".into(), 0x1c)));
        assert_eq!(parse_family(&[3, 1, 0, 0]), None);

        let mut device = vec![WG_CMD_GET_DEVICE, 1, 0, 0];
        device.extend(attr(WGDEVICE_A_IFNAME, b"wg0\0"));
        device.extend(attr(WGDEVICE_A_LISTEN_PORT, &51820u16.to_ne_bytes()));
        assert_eq!(listen_port(&device), Some(51820));
        assert_eq!(listen_port(&[0, 1]), None);

        let mut fou = vec![FOU_CMD_GET, 1, 0, 0];
        fou.extend(attr(FOU_ATTR_PORT, &5555u16.to_be_bytes()));
        fou.extend(attr(2, &[2]));
        let port = parse_fou(&fou).unwrap();
        assert_eq!((port.port, port.name.as_str()), (5555, "fou"));
        fou.extend(attr(FOU_ATTR_TYPE, &[FOU_ENCAP_GUE]));
        assert_eq!(parse_fou(&fou).unwrap().name, "gue");
    }

    #[test]
    fn files_name_nfsd_and_lockd() {
        let dir = crate::collect::testdir::TempDir::new("kernel-files");
        dir.write("fs/nfsd/portlist", b"tcp 2049\nudp 2049\n");
        dir.write("sys/fs/nfs/nlm_tcpport", b"32768\n");
        dir.write("sys/fs/nfs/nlm_udpport", b"0\n");
        let ports = from_files(&dir.0, false);
        let named: Vec<(Protocol, u16, &str)> = ports
            .iter()
            .map(|p| (p.protocol, p.port, p.name.as_str()))
            .collect();
        assert_eq!(
            named,
            vec![
                (Protocol::Tcp, 2049, "nfsd"),
                (Protocol::Udp, 2049, "nfsd"),
                (Protocol::Tcp, 32768, "lockd"),
            ]
        );
    }
}
