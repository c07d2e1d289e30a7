//! One namespace's listening sockets: sock_diag (netlink) on a live host, else the
//! /proc/net tables (a captured tree, a container's proc, a sandbox that refuses
//! netlink). Run by a thread inside the namespace; the namespace's interfaces (already
//! read, see `network`) name the bound devices and the addresses wildcard binds reach.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::netlink::{self, NetlinkError};
use super::{Choice, Options, procnet};
use crate::error::Error;
use crate::network::{NamespaceNet, Reading};
use crate::socket::{Collector, Detail, Device, Family, HostAddress, Listener};

/// The sockets of portaudit's own namespace with the chosen collector, and the one
/// that read them; `net` is its network, read first.
pub fn own(
    options: &Options,
    net: &NamespaceNet,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Result<(Vec<Listener>, Collector), Error> {
    let proc_root = options.proc_root.as_path();
    Ok(match options.collector {
        Choice::Netlink if !options.live() => {
            return Err(Error::new(format!(
                "--collector netlink cannot read --proc-root {}: netlink sees only the network \
                 namespace portaudit runs in (use --collector proc or auto)",
                proc_root.display()
            )));
        }
        Choice::Netlink => match from_netlink(net, warnings) {
            Ok(listeners) => (listeners, Collector::Netlink),
            Err(e) => return Err(Error::new(format!("--collector netlink: {}", e.message()))),
        },
        Choice::Auto if options.live() => match from_netlink(net, warnings) {
            Ok(listeners) => (listeners, Collector::Netlink),
            Err(NetlinkError::Refused(why)) => {
                warnings.push(format!(
                    "{why}; read /proc/net instead, which cannot tell dual-stack from \
                     IPv6-only sockets nor show bound devices"
                ));
                (from_proc(proc_root, warnings, incomplete)?, Collector::Proc)
            }
            Err(NetlinkError::Failed(why)) => return Err(Error::new(why)),
        },
        Choice::Auto | Choice::Proc => {
            (from_proc(proc_root, warnings, incomplete)?, Collector::Proc)
        }
    })
}

/// /proc/net: the sockets, with IPV6_V6ONLY's default (net.ipv6.bindv6only) as the only
/// hint about dual-stack. A row that cannot be parsed is a warning and makes the audit
/// incomplete.
pub fn from_proc(
    proc_root: &Path,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Result<Vec<Listener>, Error> {
    let tables = procnet::read_listeners(proc_root)?;
    *incomplete |= !tables.bad_rows.is_empty() || !tables.unrecognised.is_empty();
    warnings.extend(tables.unrecognised);
    warnings.extend(
        tables
            .bad_rows
            .into_iter()
            .map(|row| format!("{row}; row skipped, so the audit is incomplete")),
    );
    let mut listeners = tables.listeners;
    let bindv6only = std::fs::read_to_string(proc_root.join("sys/net/ipv6/bindv6only"))
        .ok()
        .and_then(|text| match text.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        });
    for listener in listeners.iter_mut().filter(|l| l.family == Family::Ipv6) {
        listener.detail.v6only_default = bindv6only;
    }
    Ok(listeners)
}

/// sock_diag: the sockets with their IPV6_V6ONLY, bound device, IP_TRANSPARENT and
/// cookie; the namespace's interfaces (`net`) name the devices and give the addresses
/// wildcard binds reach. Without them the sockets are still right, so that is only a
/// warning.
pub fn from_netlink(
    net: &NamespaceNet,
    warnings: &mut Vec<String>,
) -> Result<Vec<Listener>, NetlinkError> {
    let diags = netlink::read_listeners()?;
    let devices = super::network::devices(net);
    let addresses = match &net.addresses {
        Reading::Done(all) => Some(all.as_slice()),
        Reading::Unreadable(why) => {
            let named = diags
                .iter()
                .any(|d| d.ifindex != 0 || d.listener.address.is_unspecified());
            if named {
                warnings.push(format!(
                    "{why}: bound devices are shown by number and wildcard binds without the \
                     host's addresses"
                ));
            }
            None
        }
        Reading::NotAsked => None,
    };
    // Every wildcard bind of a family on the same device reaches the same addresses: one
    // list each, shared.
    let mut shared: HashMap<(bool, bool, u32), Arc<[HostAddress]>> = HashMap::new();
    Ok(diags
        .into_iter()
        .map(|diag| {
            let mut listener = diag.listener;
            let device = (diag.ifindex != 0).then(|| {
                Box::new(devices.get(&diag.ifindex).cloned().unwrap_or(Device {
                    name: format!("if{}", diag.ifindex),
                    loopback: false,
                }))
            });
            let reachable_on = addresses.and_then(|all| {
                let (v4, v6) = wildcard_families(&listener, diag.v6only)?;
                let list = shared
                    .entry((v4, v6, diag.ifindex))
                    .or_insert_with(|| reachable_on(v4, v6, diag.ifindex, all));
                Some(Arc::clone(list))
            });
            listener.detail = Detail {
                v6only: diag.v6only,
                v6only_default: None,
                device,
                reachable_on,
                cgroup_id: diag.cgroup_id,
                transparent: diag.transparent,
                cookie: diag.cookie,
            };
            listener
        })
        .collect())
}

/// A namespace's addresses, as the namespaces list carries them.
pub fn addresses(net: &NamespaceNet) -> Option<Vec<IpAddr>> {
    net.addresses
        .as_ref()
        .map(|all| all.iter().map(|h| h.address).collect())
}

/// The families a wildcard bind answers (both, for a dual-stack `::`): (IPv4, IPv6);
/// `None` for a bind to one address.
fn wildcard_families(listener: &Listener, v6only: Option<bool>) -> Option<(bool, bool)> {
    match listener.address {
        IpAddr::V4(a) if a.is_unspecified() => Some((true, false)),
        IpAddr::V6(a) if a.is_unspecified() => Some((v6only == Some(false), true)),
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|m| m.is_unspecified()) => {
            Some((true, false))
        }
        _ => None,
    }
}

/// The host addresses a wildcard bind of these families answers on: only the bound
/// device's when it has one, loopback addresses left out.
fn reachable_on(v4: bool, v6: bool, ifindex: u32, all: &[HostAddress]) -> Arc<[HostAddress]> {
    all.iter()
        .filter(|h| !h.address.is_loopback())
        .filter(|h| ifindex == 0 || h.ifindex == ifindex)
        .filter(|h| if h.address.is_ipv4() { v4 } else { v6 })
        .cloned()
        .collect()
}
