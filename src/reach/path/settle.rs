//! Fates the model gives for one hook, settled: where they agree, which path led there
//! does not matter.

use std::collections::{BTreeSet, HashMap};

use crate::reach::firewall::{End, Fate, PortSet};

/// Fates that agree are one certain fate: where every fate covering some ports ends the
/// same way with the same rewrite, which of the model's paths led there does not matter
/// (a rule in doubt whose both branches accept), and a pass alone for its ports is the only
/// way they go. Where fates differ, or a drop alone is in doubt, they stay possibilities.
/// Fates are cut to `ports`.
pub(super) fn settle(fates: Vec<Fate>, ports: &PortSet) -> Vec<Fate> {
    let fates = cut(fates, ports);
    if fates.iter().all(|f| f.certain) {
        return fates;
    }
    let cuts = cuts(&fates);
    // Where each fate's ranges start and end, in port order: the fates covering a window
    // are kept up to date as the windows go by (thousands of fates on a Kubernetes node:
    // no scan of all of them per window).
    let mut events: Vec<(u32, usize)> = fates
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.ports
                .ranges()
                .iter()
                .flat_map(move |&(low, high)| [(u32::from(low), i), (u32::from(high) + 1, i)])
        })
        .collect();
    events.sort_unstable();
    let mut active: BTreeSet<usize> = BTreeSet::new();
    let mut next_event = 0;
    // Ports by the fates that cover them, in the order they first appear.
    let mut groups: Vec<(Vec<usize>, PortSet)> = Vec::new();
    let mut group_of: HashMap<Vec<usize>, usize> = HashMap::new();
    for window in cuts.windows(2) {
        let (low, high) = (window[0] as u16, (window[1] - 1) as u16);
        // A fate's ranges neither touch nor overlap: at one point, a range of it ends or
        // one starts, never both.
        while let Some(&(point, i)) = events.get(next_event)
            && point <= u32::from(low)
        {
            if !active.remove(&i) {
                active.insert(i);
            }
            next_event += 1;
        }
        if active.is_empty() {
            continue;
        }
        let covering: Vec<usize> = active.iter().copied().collect();
        let span = PortSet::range(low, high);
        match group_of.get(&covering) {
            Some(&g) => groups[g].1 = groups[g].1.union(&span),
            None => {
                group_of.insert(covering.clone(), groups.len());
                groups.push((covering, span));
            }
        }
    }
    merge(&fates, groups)
}

/// The fates of each group of ports (by the fates that cover them, in the order they first
/// appear): one certain fate where they agree, else each of them cut to the group's ports.
fn merge(fates: &[Fate], groups: Vec<(Vec<usize>, PortSet)>) -> Vec<Fate> {
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
                doubt_kind: None,
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

/// Fates cut to `ports`, those left with none dropped.
fn cut(fates: Vec<Fate>, ports: &PortSet) -> Vec<Fate> {
    fates
        .into_iter()
        .map(|mut f| {
            f.ports = f.ports.intersect(ports);
            f
        })
        .filter(|f| !f.ports.is_empty())
        .collect()
}

/// Every point where a fate's range starts or ends past one, in order.
fn cuts(fates: &[Fate]) -> Vec<u32> {
    let mut cuts: Vec<u32> = fates
        .iter()
        .flat_map(|f| f.ports.ranges().iter())
        .flat_map(|&(low, high)| [u32::from(low), u32::from(high) + 1])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::reach::firewall::Rewrite;

    /// The straightforward settle (every fate scanned for every window), which the sweep
    /// must agree with.
    fn reference(fates: Vec<Fate>, ports: &PortSet) -> Vec<Fate> {
        let fates = cut(fates, ports);
        if fates.iter().all(|f| f.certain) {
            return fates;
        }
        let cuts = cuts(&fates);
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
        merge(&fates, groups)
    }

    fn arbitrary_fate() -> impl Strategy<Value = Fate> {
        let ports = proptest::collection::vec((0u16..40, 0u16..40), 1..4).prop_map(|pairs| {
            PortSet::from_ranges(pairs.into_iter().map(|(a, b)| (a.min(b), a.max(b))))
        });
        (ports, any::<bool>(), any::<bool>(), 0u8..3).prop_map(|(ports, drop, certain, why)| Fate {
            ports,
            end: if drop { End::Drop } else { End::Pass },
            rewrite: Rewrite::default(),
            certain,
            why: Arc::from(format!("rule {why}")),
            doubt: (!certain).then(|| Arc::from("a doubt")),
            doubt_kind: (!certain).then_some(crate::reach::firewall::DoubtKind::Other),
            daddr: None,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn the_sweep_settles_as_a_scan_of_every_fate_does(
            fates in proptest::collection::vec(arbitrary_fate(), 0..8),
            low in 0u16..20,
            high in 10u16..45,
        ) {
            let ports = PortSet::range(low, high);
            prop_assert_eq!(settle(fates.clone(), &ports), reference(fates, &ports));
        }
    }
}
