//! The network namespaces in the audit, and each one read: its network first (links,
//! addresses, routes, rules, settings, BPF, IPVS), then its sockets, by a thread inside
//! it. portaudit's own namespace is read by the calling thread; the others by a few
//! worker threads that enter them in turn (`netns::each`).
//!
//! Which namespaces: portaudit's own always (its network at least: packets from outside
//! enter there); with `--netns` the one named; with `--all-netns` every one.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use super::{FirewallSource, Namespaces, Options, describe_netns, netns, network, sockets};
use crate::error::Error;
use crate::network::{Network, SkLookup};
use crate::socket::{Collector, Listener, NamespaceSeen, Netns};

/// `ip netns add` names namespaces by files here.
const RUN_NETNS: &str = "/run/netns";

/// The namespaces the audit considers.
pub struct Scope {
    /// The inode of portaudit's own namespace (live only).
    pub own: Option<u64>,
    own_netns: Option<Netns>,
    /// The namespaces asked for besides (`--netns`, `--all-netns`), own included when
    /// listed.
    pub targets: Vec<netns::Namespace>,
    /// Whether portaudit's own namespace's sockets are audited.
    audit_own: bool,
}

/// Which namespaces: portaudit's own unless asked for more (only on a live host).
pub fn scope(options: &Options, warnings: &mut Vec<String>) -> Result<Scope, Error> {
    let proc_root = options.proc_root.as_path();
    let run_netns = Path::new(RUN_NETNS);
    let own = if options.live() {
        netns::own(proc_root).ok()
    } else {
        None
    };
    let targets: Vec<netns::Namespace> = match &options.namespaces {
        Namespaces::Own => Vec::new(),
        _ if !options.live() => {
            return Err(Error::new(format!(
                "--all-netns and --netns read live namespaces, not --proc-root {}",
                proc_root.display()
            )));
        }
        Namespaces::All => {
            let (all, trouble) = netns::list(proc_root, run_netns);
            warnings.extend(trouble);
            all
        }
        Namespaces::One(spec) => vec![netns::find(spec, proc_root, run_netns).map_err(Error::new)?],
    };
    let audit_own = match &options.namespaces {
        Namespaces::Own => true,
        _ => targets.iter().any(|n| n.netns.host),
    };
    let own_netns = own.map(|inode| Netns {
        inode,
        name: match targets.iter().find(|n| n.netns.inode == inode) {
            Some(n) => n.netns.name.clone(),
            None => netns::name_of(inode, run_netns).map(Arc::from),
        },
        host: true,
    });
    Ok(Scope {
        own,
        own_netns,
        targets,
        audit_own,
    })
}

/// Every namespace in scope, read.
pub struct Read {
    pub listeners: Vec<Listener>,
    pub collector: Collector,
    /// The namespaces considered, portaudit's own first; empty with `--proc-root`.
    pub namespaces: Vec<NamespaceSeen>,
    pub network: Network,
}

/// Read each namespace in `scope`: its network, and its sockets where audited.
pub fn read(
    options: &Options,
    scope: &Scope,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Result<Read, Error> {
    let proc_root = options.proc_root.as_path();
    let others: Vec<&netns::Namespace> = scope.targets.iter().filter(|n| !n.netns.host).collect();
    // Read once for every namespace: the host's BPF links, and an fd for each namespace a
    // link may lead to (to map the nsids links name).
    let sk_lookup: Result<Vec<(u64, SkLookup)>, String> = if options.live() {
        network::sk_lookup_links()
    } else {
        Ok(Vec::new())
    };
    // Only namespaces that are read can be named: with none but our own, none.
    let known: Vec<(u64, OwnedFd)> = if others.is_empty() {
        Vec::new()
    } else {
        std::iter::once(own_target(scope, proc_root))
            .flatten()
            .chain(others.iter().map(|n| (*n).clone()))
            .filter_map(|n| Some((n.netns.inode, OwnedFd::from(netns::open(&n).ok()?))))
            .collect()
    };
    let shared = network::Shared {
        known: &known,
        sk_lookup: &sk_lookup,
        modules: network::Modules::any(),
        ruleset: false,
    };

    // portaudit's own namespace: by this thread.
    let own_netns = Arc::new(scope.own_netns.clone().unwrap_or(Netns {
        inode: 0,
        name: None,
        host: true,
    }));
    let own_net = if options.live() {
        network::read_live(
            Arc::clone(&own_netns),
            proc_root,
            &proc_root.join("net"),
            &shared,
        )
    } else {
        network::read_files(Arc::clone(&own_netns), proc_root)
    };
    let mut listeners = Vec::new();
    let mut namespaces = Vec::new();
    let mut collector = Collector::Proc;
    if scope.audit_own {
        let (mine, used) = sockets::own(options, &own_net, warnings, incomplete)?;
        collector = used;
        // Taken as they are, not copied: the first namespace's sockets are most often all.
        listeners = mine;
        let shared = scope.own_netns.is_some().then(|| Arc::clone(&own_netns));
        for listener in &mut listeners {
            listener.netns = shared.clone();
        }
        if let Some(netns) = &scope.own_netns {
            namespaces.push(NamespaceSeen {
                netns: netns.clone(),
                audited: true,
                addresses: sockets::addresses(&own_net),
                container: None,
            });
        }
    }

    // The others: each read by a worker thread inside it, looking only for the files of
    // modules the host has.
    let shared = network::Shared {
        modules: network::Modules::present(&proc_root.join("net")),
        ruleset: options.firewall == FirewallSource::Nft,
        ..shared
    };
    let use_netlink = options.collector != super::Choice::Proc;
    let rulesets = options.firewall == super::FirewallSource::Nft;
    let inside = netns::each(&others, |target| {
        let netns = Arc::new(target.netns.clone());
        let mut net = network::read_live(
            Arc::clone(&netns),
            proc_root,
            Path::new("/proc/thread-self/net"),
            &shared,
        );
        let mut trouble = Vec::new();
        // Its own ruleset, where it has tables (`read_live` told an empty one by one dump):
        // what its hooks do with what enters it, read by the typed reader from this thread
        // (nft, where needed, started from here runs in the namespace). Nothing enters a
        // namespace with only loopback.
        let linked = net
            .links
            .as_ref()
            .is_none_or(|links| links.iter().any(|l| !l.loopback));
        let tables = !matches!(net.ruleset, crate::network::Reading::Done(_));
        if rulesets && linked && tables {
            net.ruleset = match super::nft::read_ruleset(&mut trouble) {
                Ok(ruleset) => crate::network::Reading::Done(ruleset),
                Err(why) => crate::network::Reading::Unreadable(why),
            };
        }
        let sockets = use_netlink.then(|| sockets::from_netlink(&net, &mut trouble));
        (net, sockets, trouble)
    });
    let mut network = vec![own_net];
    for (target, inside) in others.iter().zip(inside) {
        let name = describe_netns(&target.netns);
        let shared = Arc::new(target.netns.clone());
        let (net, read) = match inside {
            Ok((net, Some(Ok(theirs)), trouble)) => {
                warnings.extend(trouble.into_iter().map(|w| format!("{name}: {w}")));
                (net, Ok(theirs))
            }
            Ok((net, Some(Err(e)), _)) => (net, Err(Some(e.message().to_string()))),
            Ok((net, None, _)) => (net, Err(None)),
            Err(e) => (
                network::unreadable(Arc::clone(&shared), &e.to_string()),
                Err(Some(e.to_string())),
            ),
        };
        // Without netlink inside it: the /proc/PID/net of a process in it.
        let theirs = read.or_else(|why| {
            from_pids(target, options, &name, warnings, incomplete).ok_or_else(|| {
                why.unwrap_or_else(|| "no process in it whose /proc/PID/net we may read".into())
            })
        });
        match theirs {
            Ok(theirs) => {
                listeners.extend(theirs.into_iter().map(|mut l| {
                    l.netns = Some(Arc::clone(&shared));
                    l
                }));
                if !scope.audit_own && collector == Collector::Proc {
                    collector = Collector::Netlink;
                }
                namespaces.push(NamespaceSeen {
                    netns: target.netns.clone(),
                    audited: true,
                    addresses: sockets::addresses(&net),
                    container: None,
                });
            }
            Err(why) => {
                warnings.push(format!("{name} not audited: {why}"));
                namespaces.push(NamespaceSeen {
                    netns: target.netns.clone(),
                    audited: false,
                    addresses: None,
                    container: None,
                });
            }
        }
        network.push(net);
    }
    if !scope.targets.is_empty() && !scope.audit_own {
        // Only another namespace's sockets are shown, but the host still publishes them.
        if let Some(netns) = &scope.own_netns {
            namespaces.insert(
                0,
                NamespaceSeen {
                    netns: netns.clone(),
                    audited: false,
                    addresses: sockets::addresses(&network[0]),
                    container: None,
                },
            );
        }
    }
    Ok(Read {
        listeners,
        collector,
        namespaces,
        network: Network {
            namespaces: network,
        },
    })
}

/// portaudit's own namespace as a target to open (for nsids), when live.
fn own_target(scope: &Scope, proc_root: &Path) -> Option<netns::Namespace> {
    let netns = scope.own_netns.clone()?;
    Some(
        scope
            .targets
            .iter()
            .find(|n| n.netns.host)
            .cloned()
            .unwrap_or_else(|| netns::Namespace {
                path: netns::own_path(proc_root),
                netns,
                pids: Vec::new(),
            }),
    )
}

/// Another namespace's sockets from the /proc/PID/net of one of its processes.
fn from_pids(
    target: &netns::Namespace,
    options: &Options,
    name: &str,
    warnings: &mut Vec<String>,
    incomplete: &mut bool,
) -> Option<Vec<Listener>> {
    for pid in &target.pids {
        let root = options.proc_root.join(pid.to_string());
        let mut trouble = Vec::new();
        if let Ok(listeners) = sockets::from_proc(&root, &mut trouble, incomplete) {
            warnings.extend(trouble.into_iter().map(|w| format!("{name}: {w}")));
            return Some(listeners);
        }
    }
    None
}
