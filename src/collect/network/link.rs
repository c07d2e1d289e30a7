//! RTM_GETLINK: a namespace's interfaces as [`NetLink`] records, and what the same dump
//! says besides: each interface's own forwarding and route_localnet settings
//! (IFLA_AF_SPEC carries the whole devconf array, so no file per interface is read),
//! the XDP programs attached to it, and the nsid its peer's namespace has here.

use crate::collect::netlink::{AF_INET, AF_INET6, attributes, u32_at};
use crate::network::{BridgeSettings, NetLink};

// <linux/if_link.h>, <linux/if.h>
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_XDP: u16 = 43;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_BR_NF_CALL_IPTABLES: u16 = 36;
const IFLA_BR_NF_CALL_IP6TABLES: u16 = 37;
const IFLA_INET_CONF: u16 = 1;
const IFLA_INET6_CONF: u16 = 2;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
/// Indexes into IFLA_INET_CONF's array, which starts at IPV4_DEVCONF_FORWARDING (1):
/// IPV4_DEVCONF_* - 1.
const IPV4_DEVCONF_FORWARDING: usize = 0;
const IPV4_DEVCONF_ROUTE_LOCALNET: usize = 25;
/// Index into IFLA_INET6_CONF's array: DEVCONF_FORWARDING.
const IPV6_DEVCONF_FORWARDING: usize = 0;

/// One RTM_NEWLINK: the record, and what else the dump says about the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDump {
    pub link: NetLink,
    /// IFLA_LINK_NETNSID: the peer's namespace, by its nsid in this namespace.
    pub peer_nsid: Option<i32>,
    /// IFLA_LINK: the peer's (or lower device's) ifindex, in that namespace.
    pub peer_ifindex: Option<u32>,
    /// net.ipv4.conf.IF.forwarding, route_localnet; net.ipv6.conf.IF.forwarding.
    pub ipv4_forwarding: Option<bool>,
    pub route_localnet: Option<bool>,
    pub ipv6_forwarding: Option<bool>,
    /// The XDP programs attached (native, generic, offloaded), by id.
    pub xdp: Vec<u32>,
}

/// One RTM_NEWLINK payload; `None` for a record without a name (none the kernel sends).
pub fn parse(payload: &[u8]) -> Result<Option<LinkDump>, String> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(format!("interface record of {} bytes", payload.len()));
    }
    let ifindex = u32_at(payload, 4);
    let flags = u32_at(payload, 8);
    let mut name = None;
    let mut master = None;
    let mut peer_ifindex = None;
    let mut peer_nsid = None;
    let mut kind = None;
    let mut bridge = None;
    let mut conf = (None, None, None);
    let mut xdp = Vec::new();
    for (attribute, data) in attributes(&payload[IFINFOMSG_LEN..]) {
        match (attribute, data.len()) {
            (IFLA_IFNAME, _) => name = Some(text(data)),
            (IFLA_MASTER, 4) => master = Some(u32_at(data, 0)),
            (IFLA_LINK, 4) => peer_ifindex = Some(u32_at(data, 0)),
            (IFLA_LINK_NETNSID, 4) => peer_nsid = Some(u32_at(data, 0) as i32),
            (IFLA_LINKINFO, _) => (kind, bridge) = link_info(data),
            (IFLA_AF_SPEC, _) => conf = af_spec(data),
            (IFLA_XDP, _) => {
                for (attribute, data) in attributes(data) {
                    let id_attribute = matches!(
                        attribute,
                        IFLA_XDP_PROG_ID
                            | IFLA_XDP_DRV_PROG_ID
                            | IFLA_XDP_SKB_PROG_ID
                            | IFLA_XDP_HW_PROG_ID
                    );
                    if id_attribute && data.len() == 4 {
                        let id = u32_at(data, 0);
                        if id != 0 && !xdp.contains(&id) {
                            xdp.push(id);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let Some(name) = name else {
        return Ok(None);
    };
    // The kernel leaves IFLA_LINK out when it equals the device's own index: no other
    // end in the same namespace, but the same index in the peer's namespace when
    // IFLA_LINK_NETNSID says it is elsewhere. 0 is no lower device (a tunnel's).
    let peer_ifindex = match (peer_ifindex, peer_nsid) {
        (None, Some(_)) => Some(ifindex),
        (peer, _) => peer,
    };
    Ok(Some(LinkDump {
        link: NetLink {
            ifindex,
            name,
            kind,
            loopback: flags & IFF_LOOPBACK != 0,
            up: flags & IFF_UP != 0,
            master: master.filter(|&m| m != 0),
            peer: None,
            bridge,
        },
        peer_nsid,
        peer_ifindex: peer_ifindex.filter(|&peer| peer != 0),
        ipv4_forwarding: conf.0,
        route_localnet: conf.1,
        ipv6_forwarding: conf.2,
        xdp,
    }))
}

/// A NUL-terminated name, as text (an interface name is bytes; odd ones become U+FFFD).
fn text(data: &[u8]) -> String {
    let name = data.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

/// IFLA_LINKINFO: the kind, and a bridge's netfilter settings.
fn link_info(data: &[u8]) -> (Option<String>, Option<BridgeSettings>) {
    let mut kind = None;
    let mut info = None;
    for (attribute, data) in attributes(data) {
        match attribute {
            IFLA_INFO_KIND => kind = Some(text(data)),
            IFLA_INFO_DATA => info = Some(data),
            _ => {}
        }
    }
    let bridge = (kind.as_deref() == Some("bridge")).then(|| {
        let mut settings = BridgeSettings::default();
        // Sent only by kernels built with br_netfilter (CONFIG_BRIDGE_NETFILTER).
        for (attribute, data) in info.into_iter().flat_map(attributes) {
            match (attribute, data.first()) {
                (IFLA_BR_NF_CALL_IPTABLES, Some(&on)) => settings.nf_call_iptables = Some(on != 0),
                (IFLA_BR_NF_CALL_IP6TABLES, Some(&on)) => {
                    settings.nf_call_ip6tables = Some(on != 0)
                }
                _ => {}
            }
        }
        settings
    });
    (kind, bridge)
}

/// IFLA_AF_SPEC: (ipv4 forwarding, route_localnet, ipv6 forwarding) of the interface.
fn af_spec(data: &[u8]) -> (Option<bool>, Option<bool>, Option<bool>) {
    let mut conf = (None, None, None);
    for (family, data) in attributes(data) {
        let (wanted, family) = match u8::try_from(family) {
            Ok(AF_INET) => (IFLA_INET_CONF, AF_INET),
            Ok(AF_INET6) => (IFLA_INET6_CONF, AF_INET6),
            _ => continue,
        };
        let Some((_, array)) = attributes(data).find(|(kind, _)| *kind == wanted) else {
            continue;
        };
        let at = |index: usize| {
            let start = index * 4;
            (array.len() >= start + 4).then(|| u32_at(array, start) != 0)
        };
        if family == AF_INET {
            conf.0 = at(IPV4_DEVCONF_FORWARDING);
            conf.1 = at(IPV4_DEVCONF_ROUTE_LOCALNET);
        } else {
            conf.2 = at(IPV6_DEVCONF_FORWARDING);
        }
    }
    conf
}
