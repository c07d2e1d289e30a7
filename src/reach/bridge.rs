//! Bridged frames and netfilter: the bridge family's own chains always see what a bridge
//! forwards; the ip, ip6 and inet chains see it only through br_netfilter, when
//! `net.bridge.bridge-nf-call-iptables` (`…-ip6tables`) or the bridge's own
//! `nf_call_iptables` says so.

use crate::network::{NamespaceNet, NetLink};
use crate::socket::Family;

/// Whether the ip/ip6/inet hooks see frames a bridge forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfCall {
    Yes,
    No,
    /// A setting could not be read, or br_netfilter may not be loaded: a drop there is
    /// not certain, a rewrite may happen.
    Maybe,
}

/// For one bridge of a namespace and one family.
pub fn nf_call(namespace: &NamespaceNet, bridge: &NetLink, family: Family) -> NfCall {
    let (global, own) = match family {
        Family::Ipv4 => (
            namespace.sysctls.bridge_nf_call_iptables,
            bridge.bridge.and_then(|b| b.nf_call_iptables),
        ),
        Family::Ipv6 => (
            namespace.sysctls.bridge_nf_call_ip6tables,
            bridge.bridge.and_then(|b| b.nf_call_ip6tables),
        ),
    };
    match (global, own) {
        (Some(true), _) => NfCall::Yes,
        // The sysctl reads "off" also when br_netfilter is not loaded, and then the
        // bridge's own setting does nothing: either way.
        (Some(false), Some(true)) => NfCall::Maybe,
        (Some(false), _) => NfCall::No,
        (None, _) => NfCall::Maybe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::BridgeSettings;
    use crate::reach::topology::tests::{link, namespace};

    #[test]
    fn the_sysctl_or_the_bridge_decides() {
        let mut ns = namespace(1, Vec::new());
        let mut br = link(3, "br0", Some("bridge"));
        ns.sysctls.bridge_nf_call_iptables = Some(true);
        ns.sysctls.bridge_nf_call_ip6tables = Some(false);
        assert_eq!(nf_call(&ns, &br, Family::Ipv4), NfCall::Yes);
        assert_eq!(nf_call(&ns, &br, Family::Ipv6), NfCall::No);
        br.bridge = Some(BridgeSettings {
            nf_call_iptables: None,
            nf_call_ip6tables: Some(true),
        });
        assert_eq!(nf_call(&ns, &br, Family::Ipv6), NfCall::Maybe);
        ns.sysctls.bridge_nf_call_iptables = None;
        assert_eq!(nf_call(&ns, &br, Family::Ipv4), NfCall::Maybe);
    }
}
