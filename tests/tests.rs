//! The integration tests: the real `portaudit` binary, driven end to end.
//!
//! A test that needs something of the machine (root, a program, nft, cgroup2) is written
//! `patest!(name, [needs], |t| { … })` (macros.rs): it says SKIPPED, or fails under CI,
//! when the machine lacks it. The helpers: `netns` (namespaces, children, needs), `util`
//! (running the binary, the typed JSON report).
//!
//! - `fixtures`: proc trees captured from a live kernel, read through `--proc-root`;
//! - `live`: real sockets bound by the test itself on ephemeral ports;
//! - `daemon`: a real memcached in a network namespace of its own (root);
//! - `policy`: policy files, advisory mode, advice, ephemeral UDP, drift, Prometheus;
//! - `ansible`: the example playbook, run with ansible-core against localhost.
//! - `collectors`: netlink against /proc/net on real sockets in a namespace (root), and
//!   a sandbox that refuses netlink.
//! - `advice`: advice by the service that holds a socket, service names in `--allow`,
//!   the policy's warnings, and the refusal of a policy others could change (root).
//! - `containers`: a host and a container namespace joined by a veth, nftables DNAT and
//!   filter rules, a docker-proxy look-alike (root).
//! - `iptables`: Docker's rules written by iptables-nft (xt expressions), read through nft
//!   (root).
//! - `fleet`: hosts in namespaces, each with node_exporter serving its textfile, one real
//!   Prometheus scraping them all with the example alert rules (root); promtool.
//! - `man`: `--generate man DIR` writes both man pages, man(1) renders them, they write
//!   each flag as `--help` does; bash completion offers what a flag takes.
//! - `shapes`: tables that must never read as "no sockets", rows that must never merge,
//!   and the fast paths of the collectors against the slow ones.
//! - `units`: the systemd unit of a socket (cgroups named like units, root), the kernel
//!   facility holding a socket no process holds (a VXLAN device, root), `--proc-root`.
//! - `watch`: `--watch` polling the live kernel: events as listeners come and go, a
//!   firewall rule that changes a verdict (root), signals, memory over many polls.
//! - `table`: the table fitted to a terminal's width, piped whole, partial owners.
//! - `select`: `--port`, `--process`, `--pid`, `--protocol`: the audit of the sockets
//!   selected.
//! - `verdicts`: the kernel-truth differential: generated nftables rulesets in a lab,
//!   real SYNs and datagrams from outside, delivery against the firewall column (root).
//! - `docs`: README.md and docs/: the commands they show run and print what is shown,
//!   the files they show are the files, links lead somewhere (docs/testing.md).
//! - `harness`: `patest!` itself: a SKIPPED line names its test, and CI fails instead.
//! - `security`: issue 19's attacks on a run as root, each refused: planted symlinks,
//!   swapped directories, a flipped policy link, a foreign ruleset, nft on PATH (root).

#[macro_use]
mod macros;
mod netns;
mod util;

mod advice;
mod ansible;
mod collectors;
mod containers;
mod daemon;
mod docs;
mod firewall;
mod fixtures;
mod fleet;
mod harness;
mod hostile;
mod iptables;
mod live;
mod man;
mod names;
mod outcome;
mod policy;
mod privilege;
mod reach;
mod security;
mod select;
mod shapes;
mod table;
mod units;
mod verdicts;
mod watch;
