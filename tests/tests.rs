//! The integration tests: the real `portaudit` binary, driven end to end.
//!
//! - `fixtures`: proc trees captured from a live kernel, read through `--proc-root`;
//! - `live`: real sockets bound by the test itself on ephemeral ports;
//! - `daemon`: a real memcached in a network namespace of its own (root);
//! - `policy`: policy files, advisory mode, advice, ephemeral UDP, drift, Prometheus;
//! - `ansible`: the example playbook, run with ansible-core against localhost.
//! - `collectors`: netlink against /proc/net on real sockets in a namespace (root), and
//!   a sandbox that refuses netlink.
//! - `containers`: a host and a container namespace joined by a veth, nftables DNAT and
//!   filter rules, a docker-proxy look-alike (root).
//! - `table`: the table fitted to a terminal's width, piped whole, partial owners.

mod netns;
mod util;

mod ansible;
mod collectors;
mod containers;
mod daemon;
mod firewall;
mod fixtures;
mod hostile;
mod live;
mod names;
mod policy;
mod privilege;
mod table;
