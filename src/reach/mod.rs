//! Reach: the ways in from outside to every socket (between collect and policy; pure).
//!
//! A connection from outside arrives in the host's network namespace. It reaches a
//! socket there `direct`ly, on the host's addresses; a socket in another namespace only
//! when the host passes it on: a DNAT rule (`dnat`), a userland proxy (`proxy`), or
//! plain forwarding (`routed`). Each way in gets the host firewall's answer for that
//! way. A socket in another namespace with no way in is `contained`; where the model
//! cannot tell, it gives a way in, never "contained".

mod firewall;
mod publish;

/// The ruleset parser, for the collect stage's test that its stand-in for "no tables"
/// reads as nft's own.
#[cfg(test)]
pub(crate) use firewall::parse as parse_nft_json;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::classify::{self, Exposure};
use crate::collect::{RulesetText, Seen};
use crate::error::Error;
use crate::socket::{
    FirewallVerdict, Judgement, Listener, Publish, Published, Subject, Via, Way, WayIn,
};
use firewall::{Destination, Hook, Ruleset};
use publish::Paired;

/// What the reach stage found: every subject with its ways in, and what it could not
/// evaluate.
#[derive(Debug)]
pub struct Reach {
    pub subjects: Vec<Subject>,
    pub warnings: Vec<String>,
    /// The host's ruleset was to be read: each way in has a firewall answer.
    pub firewall_read: bool,
}

/// Pair publishes with sockets, then give every subject its ways in and the firewall's
/// answer on each. A `--ruleset FILE` that is not a ruleset is an error.
pub fn resolve(listeners: Vec<Listener>, seen: &Seen) -> Result<Reach, Error> {
    let mut warnings = Vec::new();
    let (ruleset, firewall_read) = parse_ruleset(&seen.ruleset, &mut warnings)?;
    let mut publishes: Vec<Publish> = Vec::new();
    if let Some(ruleset) = &ruleset {
        publishes.extend(ruleset.dnats().into_iter().map(publish_of_dnat));
        for unread in ruleset.unread_dnats() {
            warnings.push(format!(
                "{unread}: its target is not known, so what it publishes is not reported"
            ));
        }
    }
    publishes.extend(seen.proxies.iter().cloned());
    let firewall = firewall_read.then_some(Firewall {
        ruleset: ruleset.as_ref(),
        legacy: seen.legacy_firewall,
    });
    let subjects = publish::pair(listeners, &publishes, &seen.namespaces)
        .into_iter()
        .map(|paired| subject(paired, firewall))
        .collect();
    Ok(Reach {
        subjects,
        warnings,
        firewall_read,
    })
}

/// The ruleset, understood; `(None, true)` when it was to be read but could not be.
fn parse_ruleset(
    text: &RulesetText,
    warnings: &mut Vec<String>,
) -> Result<(Option<Ruleset>, bool), Error> {
    match text {
        RulesetText::NotRead => Ok((None, false)),
        RulesetText::Unreadable => Ok((None, true)),
        RulesetText::Read {
            json,
            listing,
            file,
        } => match firewall::parse(json) {
            Ok(mut ruleset) => {
                if let Some(listing) = listing {
                    ruleset.read_xt_from_text(listing);
                }
                Ok((Some(ruleset), true))
            }
            Err(why) => match file {
                Some(path) => Err(Error::new(format!("--ruleset {}: {why}", path.display()))),
                None => {
                    warnings.push(format!(
                        "{why}; the firewall column says unknown and ports published by DNAT \
                         rules are not seen"
                    ));
                    Ok((None, true))
                }
            },
        },
    }
}

/// One subject: its ways in, the firewall's answer on each and on all together.
fn subject(paired: Paired, firewall: Option<Firewall>) -> Subject {
    let Paired {
        listener,
        published,
        listening,
        elsewhere,
    } = paired;
    let ways_in = ways_in(&listener, published.as_ref(), elsewhere, firewall);
    let judgement = firewall
        .filter(|_| !ways_in.is_empty())
        .map(|f| f.judge(&listener, published.as_ref(), &ways_in));
    Subject {
        contained: elsewhere && ways_in.is_empty(),
        listener,
        published,
        listening,
        ways_in,
        firewall: judgement,
    }
}

/// The ways in from outside. A published socket is reached through its publish; the
/// host's own sockets directly on the host addresses they answer on (none for loopback).
fn ways_in(
    listener: &Listener,
    published: Option<&Published>,
    elsewhere: bool,
    firewall: Option<Firewall>,
) -> Vec<WayIn> {
    let mut ways = Vec::new();
    if let Some(host) =
        published.filter(|host| !classify::classify(host.address).1.eq(&Exposure::None))
    {
        let via = match host.via {
            Via::Dnat { .. } => Way::Dnat,
            Via::Proxy { .. } => Way::Proxy,
        };
        ways.push(WayIn {
            via,
            address: host.address,
            port: *host.ports.start(),
            interface: None,
            firewall: None,
        });
    } else if !elsewhere {
        let loopback_device = listener.detail.device.as_ref().is_some_and(|d| d.loopback);
        let (_, exposure) = classify::classify_bound(listener.address, loopback_device);
        if exposure != Exposure::None {
            let device = listener.detail.device.as_ref().map(|d| d.name.clone());
            match &listener.detail.reachable_on {
                Some(all) if !all.is_empty() => ways.extend(all.iter().map(|h| WayIn {
                    via: Way::Direct,
                    address: h.address,
                    port: listener.port,
                    interface: Some(h.device.clone()),
                    firewall: None,
                })),
                _ => ways.push(WayIn {
                    via: Way::Direct,
                    address: listener.address,
                    port: listener.port,
                    interface: device,
                    firewall: None,
                }),
            }
        }
    }
    if let Some(firewall) = firewall {
        for way in &mut ways {
            let judged = firewall.judge(listener, published, std::slice::from_ref(way));
            way.firewall = Some(judged.verdict);
        }
    }
    ways
}

/// The host's firewall as the reach stage sees it.
#[derive(Clone, Copy)]
struct Firewall<'a> {
    /// `None`: it was to be read, but could not be.
    ruleset: Option<&'a Ruleset>,
    /// Legacy iptables tables are loaded, which nft cannot show.
    legacy: bool,
}

impl Firewall<'_> {
    /// What the firewall does with a new connection on these ways in: accepted when any
    /// is, dropped when all are. Accepted by the rules nft shows is only "unknown" when
    /// legacy tables could still drop it; dropped is dropped either way.
    fn judge(
        self,
        listener: &Listener,
        published: Option<&Published>,
        ways: &[WayIn],
    ) -> Judgement {
        let Some(ruleset) = self.ruleset else {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: "the ruleset could not be read (see warnings)".into(),
            };
        };
        let judgement = match published {
            // DNAT-ed traffic passes the forward hook, to the target.
            Some(host) if matches!(host.via, Via::Dnat { .. }) => {
                let destination = Destination {
                    address: host.target,
                    device: None,
                };
                ruleset.judge(
                    Hook::Forward,
                    listener.protocol,
                    listener.port,
                    &[destination],
                )
            }
            _ => {
                let destinations: Vec<Destination> = ways
                    .iter()
                    .map(|w| Destination {
                        address: w.address,
                        device: w.interface.clone(),
                    })
                    .collect();
                let port = ways.first().map_or(listener.port, |w| w.port);
                ruleset.judge(Hook::Input, listener.protocol, port, &destinations)
            }
        };
        if self.legacy && judgement.verdict == FirewallVerdict::Accepted {
            return Judgement {
                verdict: FirewallVerdict::Unknown,
                why: format!(
                    "{}; but legacy iptables tables are loaded, which nft cannot show",
                    judgement.why
                ),
            };
        }
        judgement
    }
}

/// A DNAT as a publish; the host side is unspecified (any address) when the rule
/// matches none, in the target's family.
fn publish_of_dnat(dnat: firewall::Dnat) -> Publish {
    let host_address = dnat.host_address.unwrap_or(match dnat.target {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    Publish {
        protocol: dnat.protocol,
        host_address,
        host_ports: dnat.host_ports,
        target: dnat.target,
        target_port: dnat.target_port,
        via: Via::Dnat { rule: dnat.rule },
    }
}
