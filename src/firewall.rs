//! Firewall: the host's nftables ruleset (`nft -j list ruleset`), as far as portaudit
//! needs it: which ports the nat prerouting hook publishes to other addresses (DNAT),
//! and whether the input (or forward) hook would accept or drop a new connection from
//! outside. Pure: JSON text in, answers out; `collect::nft` runs `nft`.
//!
//! Anything it cannot evaluate makes the answer `unknown`, never a guess.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde::Serialize;

use crate::collect::Protocol;

/// What the hook does with a new connection from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FirewallVerdict {
    /// Accepted on at least one way in.
    Accepted,
    /// Dropped (or rejected) on every way in.
    Dropped,
    /// A rule on the way could not be evaluated.
    Unknown,
}

impl FirewallVerdict {
    pub fn name(self) -> &'static str {
        match self {
            FirewallVerdict::Accepted => "accepted",
            FirewallVerdict::Dropped => "dropped",
            FirewallVerdict::Unknown => "unknown",
        }
    }
}

/// The answer, with one line saying why (the deciding rule, or what stopped evaluation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: FirewallVerdict,
    pub why: String,
}

/// Which hook a new connection from outside passes: input for the host's own sockets,
/// forward for DNAT-ed traffic to another namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Input,
    Forward,
}

/// One way in: a destination address, and the interface the packet arrives on (`None`:
/// any interface but loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The packet's destination address; unspecified (`0.0.0.0`/`::`) when any host
    /// address (a rule on the address cannot be evaluated then).
    pub address: IpAddr,
    pub device: Option<String>,
}

/// A port the nat prerouting hook rewrites to another address (a "published" port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnat {
    pub protocol: Protocol,
    /// The destination address the rule matches; `None` when any.
    pub host_address: Option<IpAddr>,
    /// Which families it applies to (an `ip` table: IPv4 only; `inet`: both).
    pub ipv4: bool,
    pub ipv6: bool,
    pub host_ports: RangeInclusive<u16>,
    pub target: IpAddr,
    /// `None`: the port is not changed.
    pub target_port: Option<u16>,
    /// The rule, as a person finds it: `ip nat DOCKER handle 12`.
    pub rule: String,
}

/// A parsed ruleset.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {}

/// Parse the output of `nft -j list ruleset`; an error names what was wrong.
pub fn parse(_json: &str) -> Result<Ruleset, String> {
    Ok(Ruleset::default())
}

impl Ruleset {
    /// Every DNAT in the nat prerouting hook (following jumps), host side to target.
    pub fn dnats(&self) -> Vec<Dnat> {
        Vec::new()
    }

    /// One line per DNAT statement whose target could not be read (a map, say).
    pub fn unread_dnats(&self) -> Vec<String> {
        Vec::new()
    }

    /// What `hook` does with a new connection from outside to `port` at each of
    /// `destinations`: accepted when any is accepted, dropped when all are dropped.
    pub fn judge(
        &self,
        _hook: Hook,
        _protocol: Protocol,
        _port: u16,
        _destinations: &[Destination],
    ) -> Judgement {
        Judgement {
            verdict: FirewallVerdict::Unknown,
            why: "not evaluated".into(),
        }
    }
}
