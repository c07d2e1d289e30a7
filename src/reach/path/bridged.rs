//! Bridged frames: what a bridge forwards crosses the bridge family's chains, and the
//! ip/inet ones where br_netfilter passes them (see `reach::bridge`); a frame to the
//! bridge's own address crosses its prerouting and input chains.

use super::{Packet, Walker};
use crate::reach::bridge::{self, NfCall};
use crate::reach::topology::Node;
use crate::ruleset::Hook;
use crate::socket::Family;

impl Walker<'_> {
    /// A frame a bridge forwards from port to port: the bridge family's prerouting,
    /// forward and postrouting chains, and through br_netfilter the ip/inet ones (with
    /// the bridge as both interfaces). A nat rewrite there routes it instead.
    pub(super) fn bridge_forward(
        &mut self,
        p: Packet,
        bridge: Node,
        in_port: Option<u32>,
        out_port: Option<u32>,
    ) -> Vec<Packet> {
        let mut at = p;
        let outer_ns = at.ns;
        let outer_iif = at.iif;
        at.ns = bridge.ns;
        at.iif = in_port;
        let mut frames = vec![at];
        for hook in [Hook::Prerouting, Hook::Forward, Hook::Postrouting] {
            let oif = (hook != Hook::Prerouting).then_some(out_port).flatten();
            frames = frames
                .iter()
                .flat_map(|f| self.hook(f, hook, oif, true, false))
                .map(|(f, _, _)| f)
                .collect();
        }
        let nf = match self.top.link(bridge) {
            Some(link) => bridge::nf_call(
                self.namespace(bridge.ns),
                link,
                frames.first().map_or(Family::Ipv4, Packet::family),
            ),
            None => NfCall::Maybe,
        };
        if nf != NfCall::No {
            let unsure = nf == NfCall::Maybe;
            let mut through = Vec::new();
            for mut f in frames {
                f.iif = Some(bridge.ifindex);
                for (g, rewrite, why) in self.hook(&f, Hook::Prerouting, None, false, unsure) {
                    if rewrite.nat.is_some() || rewrite.unknown.is_some() {
                        // br_netfilter routes a frame whose destination nat changed.
                        for r in self.rewrite(g, rewrite, why) {
                            self.route(r);
                        }
                        continue;
                    }
                    for (h, _, _) in
                        self.hook(&g, Hook::Forward, Some(bridge.ifindex), false, unsure)
                    {
                        for (k, _, _) in
                            self.hook(&h, Hook::Postrouting, Some(bridge.ifindex), false, unsure)
                        {
                            through.push(k);
                        }
                    }
                }
            }
            frames = through;
        }
        for f in &mut frames {
            f.ns = outer_ns;
            f.iif = outer_iif;
        }
        frames
    }

    /// A frame to the bridge's own address: the bridge family's prerouting and input
    /// chains; the namespace's own stack follows on the bridge device.
    pub(super) fn bridge_local(
        &mut self,
        p: Packet,
        bridge: Node,
        in_port: Option<u32>,
    ) -> Vec<Packet> {
        let mut at = p;
        at.ns = bridge.ns;
        at.iif = in_port;
        let mut frames = vec![at];
        for hook in [Hook::Prerouting, Hook::Input] {
            frames = frames
                .iter()
                .flat_map(|f| self.hook(f, hook, None, true, false))
                .map(|(f, _, _)| f)
                .collect();
        }
        for f in &mut frames {
            f.iif = Some(bridge.ifindex);
        }
        frames
    }

    /// A frame the namespace sends out of its own bridge: the bridge family's output and
    /// postrouting chains.
    pub(super) fn bridge_out(&mut self, p: Packet, far: Node) -> Vec<Packet> {
        let out_port = self.top.peer(far).map(|n| n.ifindex);
        let mut frames = vec![p];
        for hook in [Hook::Output, Hook::Postrouting] {
            frames = frames
                .iter()
                .flat_map(|f| self.hook(f, hook, out_port, true, false))
                .map(|(f, _, _)| f)
                .collect();
        }
        frames
    }
}
