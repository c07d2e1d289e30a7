//! Fates the model gives for one hook, settled: where they agree, which path led there
//! does not matter.

use crate::reach::firewall::{End, Fate, PortSet};

/// Fates that agree are one certain fate: where every fate covering some ports ends the
/// same way with the same rewrite, which of the model's paths led there does not matter
/// (a rule in doubt whose both branches accept), and a pass alone for its ports is the only
/// way they go. Where fates differ, or a drop alone is in doubt, they stay possibilities.
/// Fates are cut to `ports`.
pub(super) fn settle(fates: Vec<Fate>, ports: &PortSet) -> Vec<Fate> {
    let fates: Vec<Fate> = fates
        .into_iter()
        .map(|mut f| {
            f.ports = f.ports.intersect(ports);
            f
        })
        .filter(|f| !f.ports.is_empty())
        .collect();
    if fates.iter().all(|f| f.certain) {
        return fates;
    }
    let mut cuts: Vec<u32> = fates
        .iter()
        .flat_map(|f| f.ports.ranges().iter())
        .flat_map(|&(low, high)| [u32::from(low), u32::from(high) + 1])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    // Ports by the fates that cover them, in the order they first appear.
    let mut groups: Vec<(Vec<usize>, PortSet)> = Vec::new();
    for window in cuts.windows(2) {
        let (low, high) = (window[0] as u16, (window[1] - 1) as u16);
        let covering: Vec<usize> = (0..fates.len())
            .filter(|&i| fates[i].ports.contains(low))
            .collect();
        if covering.is_empty() {
            continue;
        }
        let span = PortSet::range(low, high);
        match groups.iter_mut().find(|(c, _)| *c == covering) {
            Some((_, set)) => *set = set.union(&span),
            None => groups.push((covering, span)),
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (covering, set) in groups {
        let first = &fates[covering[0]];
        let agree = covering.iter().all(|&i| {
            let f = &fates[i];
            f.end == first.end && f.rewrite == first.rewrite && f.daddr == first.daddr
        });
        // Alone for its ports, a pass is the only possibility the model saw (a drop alone in
        // doubt is one that may not happen: a dormant table, a hook br_netfilter may skip).
        let alone_pass = first.end == End::Pass && first.rewrite.unknown.is_none();
        if agree && (covering.len() > 1 || first.certain || alone_pass) {
            let pick = covering
                .iter()
                .map(|&i| &fates[i])
                .find(|f| f.certain)
                .unwrap_or(first);
            out.push(Fate {
                ports: set,
                certain: true,
                doubt: None,
                ..pick.clone()
            });
        } else {
            out.extend(covering.iter().map(|&i| Fate {
                ports: set.clone(),
                ..fates[i].clone()
            }));
        }
    }
    out
}
