//! Read the network around the sockets, one namespace at a time, into the plain records
//! of [`crate::network`]: what the path walk (reach) follows a packet through.
//!
//! [`read_live`] runs on a thread inside the namespace (see `netns::each`): one
//! rtnetlink socket answers for its links, addresses, routes of every table, rules, the
//! nsids of its peers' namespaces and its tc filters; files under /proc/sys/net (which
//! show the reading thread's namespace) and /proc/thread-self/net give the settings,
//! IPVS and the legacy iptables tables; bpf(2) the programs on its devices. The host's
//! sk_lookup links are read once for every namespace ([`sk_lookup_links`]).
//!
//! [`read_files`] reads what a captured `--proc-root` tree can say: sysctls, IPVS,
//! legacy iptables. What could not be read is [`Reading::Unreadable`], with why.

mod bpf;
pub(crate) mod ipvs;
pub(crate) mod link;
pub(crate) mod route;
pub(crate) mod tc;
#[cfg(test)]
mod testbpf;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use super::netlink::{
    self, AF_INET, AF_INET6, NETLINK_ROUTE, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, Netlink,
    NetlinkError, attributes, message, u32_at,
};
use super::sysctl;
use crate::network::{
    Bpf, IngressProgram, IpvsService, NamespaceNet, NetLink, Peer, PeerNetns, PerInterface,
    Reading, SkLookup, Sysctls,
};
use crate::ruleset::Ruleset;
use crate::socket::{Device, HostAddress, Netns};

pub use bpf::sk_lookup_links;

// <linux/rtnetlink.h>, <linux/net_namespace.h>
pub(crate) const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_NEWRULE: u16 = 32;
const RTM_GETRULE: u16 = 34;
pub(crate) const RTM_NEWQDISC: u16 = 36;
const RTM_GETQDISC: u16 = 38;
pub(crate) const RTM_NEWTFILTER: u16 = 44;
const RTM_GETTFILTER: u16 = 46;
pub(crate) const RTM_NEWNETCONF: u16 = 80;
const RTM_GETNETCONF: u16 = 82;
const RTM_NEWNSID: u16 = 88;
const RTM_GETNSID: u16 = 90;
const NETNSA_NSID: u16 = 1;
const NETNSA_FD: u16 = 3;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RTMSG_LEN: usize = 12;
const FIB_RULE_HDR_LEN: usize = 12;
const TCMSG_LEN: usize = 20;
/// struct netconfmsg, padded to 4.
const NETCONFMSG_LEN: usize = 4;
const NETCONFA_IFINDEX: u16 = 1;
const NETCONFA_FORWARDING: u16 = 2;
const NETCONFA_IFINDEX_ALL: i32 = -1;

/// What every namespace's reading shares.
pub struct Shared<'a> {
    /// The namespaces a link's peer may be in, with an open fd each: a link names its
    /// peer's namespace by an nsid, which only asking about each fd maps to an inode.
    pub known: &'a [(u64, OwnedFd)],
    /// The host's sk_lookup programs by namespace inode, or why they could not be read.
    pub sk_lookup: &'a Result<Vec<(u64, SkLookup)>, String>,
    /// Which /proc/net files of modules to look for.
    pub modules: Modules,
    /// Whether to read the namespace's own nftables ruleset (the firewall is read live,
    /// and this is not portaudit's own namespace, whose ruleset the firewall thread reads).
    pub ruleset: bool,
}

/// One namespace's network, read by a thread inside it. `net` is where its
/// /proc/net files are (`/proc/thread-self/net` on another thread than the main one);
/// `proc_root` holds `sys/net`.
pub fn read_live(netns: Arc<Netns>, proc_root: &Path, net: &Path, shared: &Shared) -> NamespaceNet {
    let inode = netns.inode;
    let mut record = NamespaceNet {
        netns,
        links: Reading::NotAsked,
        addresses: Reading::NotAsked,
        routes: Reading::NotAsked,
        rules: Reading::NotAsked,
        sysctls: Sysctls::default(),
        ruleset: Reading::NotAsked,
        legacy_iptables: legacy_iptables(net, shared.modules),
        bpf: Reading::NotAsked,
        ipvs: if shared.modules.ip_vs {
            read_ipvs(net)
        } else {
            Reading::Done(Vec::new())
        },
    };
    if shared.ruleset {
        record.ruleset = ruleset();
    }
    let mut rtnl = match Netlink::open(NETLINK_ROUTE, "rtnetlink") {
        Ok(rtnl) => rtnl,
        Err(e) => {
            let why = e.message().to_string();
            record.links = Reading::Unreadable(why.clone());
            record.addresses = Reading::Unreadable(why.clone());
            record.routes = Reading::Unreadable(why.clone());
            record.rules = Reading::Unreadable(why.clone());
            record.bpf = Reading::Unreadable(why);
            record.sysctls = file_settings(proc_root, None, Files::Every);
            return record;
        }
    };
    let dumps = dump_links(&mut rtnl);
    record.sysctls = match &dumps {
        Ok(links) => live_sysctls(&mut rtnl, proc_root, links),
        Err(_) => file_settings(proc_root, None, Files::Every),
    };
    record.addresses = reading(dump_addresses(&mut rtnl, dumps.as_ref().ok()));
    record.routes = reading(dump(
        &mut rtnl,
        RTM_GETROUTE,
        RTMSG_LEN,
        RTM_NEWROUTE,
        "the route list",
        route::parse_route,
    ));
    record.rules = reading(dump(
        &mut rtnl,
        RTM_GETRULE,
        FIB_RULE_HDR_LEN,
        RTM_NEWRULE,
        "the routing rules",
        route::parse_rule,
    ));
    match dumps {
        Ok(dumps) => {
            let sk_lookup = match shared.sk_lookup {
                Ok(all) => Ok(all
                    .iter()
                    .filter(|(netns, _)| *netns == inode)
                    .map(|(_, program)| program.clone())
                    .collect()),
                Err(why) => Err(why.clone()),
            };
            record.bpf = match (sk_lookup, ingress(&mut rtnl, &dumps)) {
                (Ok(sk_lookup), Ok(ingress)) => Reading::Done(Bpf { sk_lookup, ingress }),
                (Err(why), _) | (_, Err(why)) => Reading::Unreadable(why),
            };
            let nsids = nsids(&mut rtnl, &dumps, shared.known);
            record.links = Reading::Done(
                dumps
                    .into_iter()
                    .map(|dump| with_peer(dump, &nsids))
                    .collect(),
            );
        }
        Err(e) => {
            record.links = Reading::Unreadable(e.message().to_string());
            record.bpf = Reading::Unreadable(e.message().to_string());
        }
    }
    record
}

/// What a captured tree can say of its namespace: settings, IPVS, legacy iptables.
pub fn read_files(netns: Arc<Netns>, proc_root: &Path) -> NamespaceNet {
    let net = proc_root.join("net");
    NamespaceNet {
        netns,
        links: Reading::NotAsked,
        addresses: Reading::NotAsked,
        routes: Reading::NotAsked,
        rules: Reading::NotAsked,
        sysctls: file_settings(proc_root, None, Files::Every),
        ruleset: Reading::NotAsked,
        legacy_iptables: legacy_iptables(&net, Modules::any()),
        bpf: Reading::NotAsked,
        ipvs: read_ipvs(&net),
    }
}

/// The same, for a namespace that could not be entered: why, for everything.
pub fn unreadable(netns: Arc<Netns>, why: &str) -> NamespaceNet {
    NamespaceNet {
        netns,
        links: Reading::Unreadable(why.to_string()),
        addresses: Reading::Unreadable(why.to_string()),
        routes: Reading::Unreadable(why.to_string()),
        rules: Reading::Unreadable(why.to_string()),
        sysctls: Sysctls::default(),
        ruleset: Reading::Unreadable(why.to_string()),
        legacy_iptables: Vec::new(),
        bpf: Reading::Unreadable(why.to_string()),
        ipvs: Reading::Unreadable(why.to_string()),
    }
}

/// The devices (index → name, loopback) of a namespace's links, as the socket
/// records name a bound device.
pub fn devices(net: &NamespaceNet) -> BTreeMap<u32, Device> {
    net.links
        .as_ref()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l.ifindex,
                Device {
                    name: l.name.clone(),
                    loopback: l.loopback,
                },
            )
        })
        .collect()
}

fn reading<T>(result: Result<T, NetlinkError>) -> Reading<T> {
    match result {
        Ok(value) => Reading::Done(value),
        Err(e) => Reading::Unreadable(e.message().to_string()),
    }
}

/// A dump of `get` with a zeroed header of `header_len` bytes (AF_UNSPEC: both
/// families), each `reply` parsed by `parse`.
fn dump<T>(
    rtnl: &mut Netlink,
    get: u16,
    header_len: usize,
    reply: u16,
    what: &str,
    parse: fn(&[u8]) -> Result<Option<T>, String>,
) -> Result<Vec<T>, NetlinkError> {
    let request = message(get, NLM_F_REQUEST | NLM_F_DUMP, &vec![0u8; header_len]);
    rtnl.dump(&request, what, |kind, payload, out: &mut Vec<T>| {
        if kind == reply {
            out.extend(parse(payload)?);
        }
        Ok(())
    })
}

fn dump_links(rtnl: &mut Netlink) -> Result<Vec<link::LinkDump>, NetlinkError> {
    dump(
        rtnl,
        RTM_GETLINK,
        IFINFOMSG_LEN,
        RTM_NEWLINK,
        "the interface list",
        link::parse,
    )
}

fn dump_addresses(
    rtnl: &mut Netlink,
    links: Option<&Vec<link::LinkDump>>,
) -> Result<Vec<HostAddress>, NetlinkError> {
    let addresses = dump(
        rtnl,
        RTM_GETADDR,
        IFADDRMSG_LEN,
        RTM_NEWADDR,
        "the address list",
        netlink::parse_address,
    )?;
    let name = |index: u32| {
        links
            .and_then(|all| all.iter().find(|d| d.link.ifindex == index))
            .map_or_else(|| format!("if{index}"), |d| d.link.name.clone())
    };
    Ok(addresses
        .into_iter()
        .map(|(ifindex, address): (u32, IpAddr)| HostAddress {
            address,
            device: name(ifindex),
            ifindex,
        })
        .collect())
}

/// The namespace inode of each nsid the links name: each known namespace's fd is asked
/// about (RTM_GETNSID) until every nsid is mapped. An nsid no known namespace has stays
/// unmapped (its peer is then in an unknown namespace).
fn nsids(
    rtnl: &mut Netlink,
    links: &[link::LinkDump],
    known: &[(u64, OwnedFd)],
) -> HashMap<i32, u64> {
    let mut wanted: Vec<i32> = links.iter().filter_map(|l| l.peer_nsid).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = HashMap::new();
    for (inode, fd) in known {
        if wanted.iter().all(|id| found.contains_key(id)) {
            break;
        }
        if let Ok(Some(id)) = nsid_of(rtnl, fd)
            && wanted.contains(&id)
        {
            found.insert(id, *inode);
        }
    }
    found
}

/// The nsid this namespace has for the namespace of `fd`; `None` when it has none.
fn nsid_of(rtnl: &mut Netlink, fd: &OwnedFd) -> Result<Option<i32>, NetlinkError> {
    // struct rtgenmsg (padded to 4), then NETNSA_FD.
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&8u16.to_ne_bytes());
    body.extend_from_slice(&NETNSA_FD.to_ne_bytes());
    body.extend_from_slice(&(fd.as_raw_fd() as u32).to_ne_bytes());
    // Acknowledged: a plain request's reply has no NLMSG_DONE after it.
    let request = message(RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK, &body);
    let mut id = None;
    rtnl.exchange(&request, "a namespace id", true, &mut |kind, payload| {
        if kind == RTM_NEWNSID && payload.len() >= 4 {
            id = attributes(&payload[4..])
                .find(|(k, d)| *k == NETNSA_NSID && d.len() == 4)
                .map(|(_, d)| u32_at(d, 0) as i32);
        }
        Ok(())
    })?;
    // NETNSA_NSID_NOT_ASSIGNED is -1.
    Ok(id.filter(|&id| id >= 0))
}

/// The record, with its other end's namespace told by inode where known.
fn with_peer(dump: link::LinkDump, nsids: &HashMap<i32, u64>) -> NetLink {
    let mut link = dump.link;
    link.peer = dump.peer_ifindex.map(|ifindex| Peer {
        netns: match dump.peer_nsid {
            None => PeerNetns::Same,
            Some(id) => nsids
                .get(&id)
                .map_or(PeerNetns::Unknown, |&i| PeerNetns::Inode(i)),
        },
        ifindex,
    });
    link
}

/// The programs on each device's receive path: XDP (from the interface dump), tc
/// filters on an ingress/clsact qdisc, tcx and netkit programs.
fn ingress(rtnl: &mut Netlink, links: &[link::LinkDump]) -> Result<Vec<IngressProgram>, String> {
    let mut programs = Vec::new();
    let device = |ifindex: u32| {
        links
            .iter()
            .find(|l| l.link.ifindex == ifindex)
            .map_or_else(|| format!("if{ifindex}"), |l| l.link.name.clone())
    };
    let named = |id: u32| match bpf::program_name(id) {
        Ok(name) => Ok(name),
        Err(e) if e.refused() => Err("reading BPF programs needs root (CAP_SYS_ADMIN)".to_string()),
        // Gone meanwhile, or not ours to name: the id says which.
        Err(_) => Ok(String::new()),
    };
    for dump in links {
        for &id in &dump.xdp {
            programs.push(IngressProgram {
                ifindex: dump.link.ifindex,
                device: dump.link.name.clone(),
                attach: "xdp".into(),
                program_id: id,
                name: named(id)?,
            });
        }
        let mut attach_types = vec![(bpf::BPF_TCX_INGRESS, "tcx ingress")];
        if dump.link.kind.as_deref() == Some("netkit") {
            attach_types.push((bpf::BPF_NETKIT_PRIMARY, "netkit"));
            attach_types.push((bpf::BPF_NETKIT_PEER, "netkit peer"));
        }
        for (attach_type, attach) in attach_types {
            let ids = bpf::attached(dump.link.ifindex, attach_type).map_err(|e| {
                if e.refused() {
                    "reading BPF programs needs root (CAP_NET_ADMIN)".to_string()
                } else {
                    format!(
                        "cannot ask for the {attach} programs of {}: {}",
                        dump.link.name,
                        describe_errno(e.0)
                    )
                }
            })?;
            for id in ids {
                programs.push(IngressProgram {
                    ifindex: dump.link.ifindex,
                    device: dump.link.name.clone(),
                    attach: attach.into(),
                    program_id: id,
                    name: named(id)?,
                });
            }
        }
    }
    let qdiscs = dump(
        rtnl,
        RTM_GETQDISC,
        TCMSG_LEN,
        RTM_NEWQDISC,
        "the qdisc list",
        tc::parse_qdisc,
    )
    .map_err(|e| e.message().to_string())?;
    for ifindex in qdiscs {
        let mut body = vec![0u8; TCMSG_LEN];
        body[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        body[12..16].copy_from_slice(&tc::INGRESS_PARENT.to_ne_bytes());
        let request = message(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, &body);
        let filters = rtnl
            .dump(
                &request,
                "the ingress filters",
                |kind, payload, out: &mut Vec<tc::Filter>| {
                    if kind == RTM_NEWTFILTER {
                        out.extend(tc::parse_filter(payload)?);
                    }
                    Ok(())
                },
            )
            .map_err(|e| e.message().to_string())?;
        for filter in filters {
            let (program_id, name) = match filter.program {
                Some((id, name)) if id != 0 => (id, name),
                // A classic filter (a u32 hash table and its entries are several
                // messages: one record for the classifier on the device).
                _ => (0, format!("{} filter", filter.kind)),
            };
            let program = IngressProgram {
                ifindex,
                device: device(ifindex),
                attach: "tc ingress".into(),
                program_id,
                name,
            };
            if !programs.contains(&program) {
                programs.push(program);
            }
        }
    }
    Ok(programs)
}

fn describe_errno(errno: i32) -> String {
    crate::error::describe_io(&io::Error::from_raw_os_error(errno))
}

/// The path settings of a live namespace. A file of /proc/sys costs more than a netlink
/// dump, so: `all`'s forwarding for both families from one RTM_GETNETCONF dump, each
/// interface's own settings from the interface dump, and files only for route_localnet's
/// `all` (which no dump carries) and the bridge switches (only where there is a bridge:
/// they apply to nothing else). Without the netconf dump, files.
fn live_sysctls(rtnl: &mut Netlink, proc_root: &Path, links: &[link::LinkDump]) -> Sysctls {
    let mut settings = file_settings(proc_root, Some(links), Files::RouteLocalnet);
    match dump(
        rtnl,
        RTM_GETNETCONF,
        NETCONFMSG_LEN,
        RTM_NEWNETCONF,
        "the forwarding settings",
        parse_netconf,
    ) {
        Ok(all) => {
            for (family, forwarding) in all {
                match family {
                    AF_INET => settings.ipv4_forwarding.all = Some(forwarding),
                    _ => settings.ipv6_forwarding.all = Some(forwarding),
                }
            }
        }
        Err(_) => {
            settings.ipv4_forwarding.all = ipv4_forwarding_all(proc_root);
            settings.ipv6_forwarding.all = sysctl::switch(proc_root, "ipv6/conf/all/forwarding");
        }
    }
    if links.iter().any(|l| l.link.bridge.is_some()) {
        settings.bridge_nf_call_iptables =
            sysctl::bridge_switch(proc_root, "bridge-nf-call-iptables");
        settings.bridge_nf_call_ip6tables =
            sysctl::bridge_switch(proc_root, "bridge-nf-call-ip6tables");
    }
    settings
}

/// Which `all` settings [`file_settings`] reads from files.
#[derive(PartialEq)]
enum Files {
    Every,
    RouteLocalnet,
}

/// The path settings from the files under `<proc_root>/sys/net` (a captured tree, or a
/// namespace whose interface dump failed); each interface's own from `links` if given.
fn file_settings(proc_root: &Path, links: Option<&[link::LinkDump]>, files: Files) -> Sysctls {
    let per_interface =
        |family: &str, key: &str, of: fn(&link::LinkDump) -> Option<bool>| PerInterface {
            all: (files == Files::Every || key == "route_localnet")
                .then(|| sysctl::switch(proc_root, &format!("{family}/conf/all/{key}")))
                .flatten(),
            interfaces: match links {
                Some(links) => links
                    .iter()
                    .filter_map(|l| Some((l.link.name.clone(), of(l)?)))
                    .collect(),
                None => sysctl::per_interface(proc_root, family, key),
            },
        };
    let mut settings = Sysctls {
        ipv4_forwarding: per_interface("ipv4", "forwarding", |l| l.ipv4_forwarding),
        ipv6_forwarding: per_interface("ipv6", "forwarding", |l| l.ipv6_forwarding),
        route_localnet: per_interface("ipv4", "route_localnet", |l| l.route_localnet),
        bridge_nf_call_iptables: None,
        bridge_nf_call_ip6tables: None,
    };
    if files == Files::Every {
        settings.ipv4_forwarding.all = ipv4_forwarding_all(proc_root);
        settings.bridge_nf_call_iptables =
            sysctl::bridge_switch(proc_root, "bridge-nf-call-iptables");
        settings.bridge_nf_call_ip6tables =
            sysctl::bridge_switch(proc_root, "bridge-nf-call-ip6tables");
    }
    settings
}

/// net.ipv4.conf.all.forwarding, or net.ipv4.ip_forward, its older name.
fn ipv4_forwarding_all(proc_root: &Path) -> Option<bool> {
    sysctl::switch(proc_root, "ipv4/conf/all/forwarding")
        .or_else(|| sysctl::switch(proc_root, "ipv4/ip_forward"))
}

/// One RTM_NEWNETCONF: `all`'s forwarding, as (family, on); other entries (`default`,
/// each interface's) are `None`.
pub(crate) fn parse_netconf(payload: &[u8]) -> Result<Option<(u8, bool)>, String> {
    if payload.len() < NETCONFMSG_LEN {
        return Err(format!("netconf record of {} bytes", payload.len()));
    }
    let family = payload[0];
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let (mut ifindex, mut forwarding) = (None, None);
    for (attribute, data) in attributes(&payload[NETCONFMSG_LEN..]) {
        match (attribute, data.len()) {
            (NETCONFA_IFINDEX, 4) => ifindex = Some(u32_at(data, 0) as i32),
            (NETCONFA_FORWARDING, 4) => forwarding = Some(u32_at(data, 0) != 0),
            _ => {}
        }
    }
    Ok(match (ifindex, forwarding) {
        (Some(NETCONFA_IFINDEX_ALL), Some(on)) => Some((family, on)),
        _ => None,
    })
}

/// Which of the per-namespace files of /proc/net exist at all: a module creates its file
/// in every namespace when it loads, so one the host lacks no namespace has, and is not
/// looked for in each.
#[derive(Debug, Clone, Copy)]
pub struct Modules {
    pub ip_vs: bool,
    pub ip_tables: bool,
    pub ip6_tables: bool,
}

impl Modules {
    /// Look for each: they are in the host's /proc/net when the module is loaded.
    pub fn present(net: &Path) -> Modules {
        Modules {
            ip_vs: net.join("ip_vs").exists(),
            ip_tables: net.join("ip_tables_names").exists(),
            ip6_tables: net.join("ip6_tables_names").exists(),
        }
    }

    /// Look for every file (the host's own reading).
    pub fn any() -> Modules {
        Modules {
            ip_vs: true,
            ip_tables: true,
            ip6_tables: true,
        }
    }
}

/// The namespace's own nftables ruleset. A namespace without tables (most) is told by one
/// dump; one with tables is unreadable here, and read by the typed reader of the caller's
/// (collect::namespaces), so the walk says unknown for its hooks, never "no rules", where
/// that cannot read it.
fn ruleset() -> Reading<Ruleset> {
    const NFT_MSG_GETTABLE: u16 = 1;
    const AF_UNSPEC: u8 = 0;
    let mut tables = 0usize;
    let dump = netlink::Nftables::open().and_then(|mut nft| {
        nft.dump(
            NFT_MSG_GETTABLE,
            AF_UNSPEC,
            &[],
            "the nftables tables",
            &mut |_, _| {
                tables += 1;
                Ok(())
            },
        )
    });
    match dump {
        Ok(true) if tables == 0 => Reading::Done(Ruleset::default()),
        Ok(_) => Reading::Unreadable(format!(
            "its nftables ruleset ({tables} table{}) is read by the typed reader",
            if tables == 1 { "" } else { "s" }
        )),
        Err(NetlinkError::Refused(_)) => Reading::Unreadable(
            "reading the nftables ruleset needs root (CAP_NET_ADMIN)".to_string(),
        ),
        Err(e) => Reading::Unreadable(e.message().to_string()),
    }
}

/// `<net>/ip_vs`: no file, no IPVS (the module is not loaded).
fn read_ipvs(net: &Path) -> Reading<Vec<IpvsService>> {
    let path = net.join("ip_vs");
    match std::fs::read(&path) {
        Ok(bytes) => match ipvs::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(services) => Reading::Done(services),
            Err(why) => Reading::Unreadable(format!("{}: {why}", path.display())),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Reading::Done(Vec::new()),
        Err(e) => Reading::Unreadable(format!(
            "cannot read {}: {}",
            path.display(),
            crate::error::describe_io(&e)
        )),
    }
}

/// The legacy (x_tables) iptables tables in use, as `ip nat`, `ip6 filter`.
fn legacy_iptables(net: &Path, modules: Modules) -> Vec<String> {
    let mut tables = Vec::new();
    for (family, file, loaded) in [
        ("ip", "ip_tables_names", modules.ip_tables),
        ("ip6", "ip6_tables_names", modules.ip6_tables),
    ] {
        if !loaded {
            continue;
        }
        let Ok(bytes) = std::fs::read(net.join(file)) else {
            continue;
        };
        for name in String::from_utf8_lossy(&bytes).lines() {
            let name: String = name.trim().chars().filter(|c| !c.is_control()).collect();
            if !name.is_empty() {
                tables.push(format!("{family} {name}"));
            }
        }
    }
    tables
}
