//! Sets of destination ports: what a packet class covers, and what a rule's port match
//! splits it into. Sorted, disjoint, inclusive ranges, never two that touch.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct PortSet {
    /// Sorted by start; disjoint and not adjacent (`1-2` and `3-4` are one range `1-4`).
    ranges: Ranges,
}

/// How many ranges a set holds without a heap allocation: a class's ports, and the parts a
/// port match splits them into, are one or two ranges almost always, and the evaluator
/// makes millions of them on a Kubernetes node's ruleset.
const INLINE: usize = 2;

/// The ranges of a set: the first [`INLINE`] in place, more on the heap. Compared and
/// hashed as the slice they are, whichever way they are held.
#[derive(Clone)]
enum Ranges {
    Inline {
        len: u8,
        items: [(u16, u16); INLINE],
    },
    Heap(Vec<(u16, u16)>),
}

impl Default for Ranges {
    fn default() -> Ranges {
        Ranges::Inline {
            len: 0,
            items: [(0, 0); INLINE],
        }
    }
}

impl Ranges {
    /// Room for `n` ranges (on the heap only beyond [`INLINE`]): a merge of two sets
    /// of thousands of ranges grows no vector on the way.
    fn with_capacity(n: usize) -> Ranges {
        if n <= INLINE {
            Ranges::default()
        } else {
            Ranges::Heap(Vec::with_capacity(n))
        }
    }

    fn push(&mut self, range: (u16, u16)) {
        match self {
            Ranges::Inline { len, items } if usize::from(*len) < INLINE => {
                items[usize::from(*len)] = range;
                *len += 1;
            }
            Ranges::Inline { len, items } => {
                let mut heap = Vec::with_capacity(INLINE * 2);
                heap.extend_from_slice(&items[..usize::from(*len)]);
                heap.push(range);
                *self = Ranges::Heap(heap);
            }
            Ranges::Heap(heap) => heap.push(range),
        }
    }

    fn last_mut(&mut self) -> Option<&mut (u16, u16)> {
        match self {
            Ranges::Inline { len, items } => items[..usize::from(*len)].last_mut(),
            Ranges::Heap(heap) => heap.last_mut(),
        }
    }
}

impl Deref for Ranges {
    type Target = [(u16, u16)];

    fn deref(&self) -> &[(u16, u16)] {
        match self {
            Ranges::Inline { len, items } => &items[..usize::from(*len)],
            Ranges::Heap(heap) => heap,
        }
    }
}

impl PartialEq for Ranges {
    fn eq(&self, other: &Ranges) -> bool {
        **self == **other
    }
}

impl Eq for Ranges {}

impl Hash for Ranges {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PortSet {
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    /// Every port, 0 to 65535.
    pub fn all() -> PortSet {
        PortSet::range(0, u16::MAX)
    }

    pub fn single(port: u16) -> PortSet {
        PortSet::range(port, port)
    }

    /// `low` to `high` inclusive; empty when `low > high`.
    pub fn range(low: u16, high: u16) -> PortSet {
        if low > high {
            return PortSet::empty();
        }
        let mut ranges = Ranges::default();
        ranges.push((low, high));
        PortSet { ranges }
    }

    /// The union of any ranges, in any order (`low > high` ones are empty).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u16, u16)>) -> PortSet {
        let mut ranges: Vec<(u16, u16)> = ranges.into_iter().filter(|(l, h)| l <= h).collect();
        ranges.sort_unstable();
        let mut merged = Ranges::with_capacity(ranges.len());
        for (low, high) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(low) <= u32::from(last.1) + 1 => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        PortSet { ranges: merged }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, port: u16) -> bool {
        // The range that starts at or before `port`, if any, is the only one to check.
        let at = self.ranges.partition_point(|&(low, _)| low <= port);
        at > 0 && self.ranges[at - 1].1 >= port
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// How many ports.
    pub fn count(&self) -> u32 {
        self.ranges
            .iter()
            .map(|&(l, h)| u32::from(h) - u32::from(l) + 1)
            .sum()
    }

    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let (mut i, mut j) = (0, 0);
        let mut out = Ranges::with_capacity(self.ranges.len() + other.ranges.len());
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            let (low, high) = (a.0.max(b.0), a.1.min(b.1));
            if low <= high {
                out.push((low, high));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        PortSet { ranges: out }
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        // Both sorted: one merge pass (a walk unions thousands of fates' ports into one
        // set, one at a time).
        let (a, b) = (&self.ranges, &other.ranges);
        let mut out = Ranges::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let next = if j >= b.len() || (i < a.len() && a[i].0 <= b[j].0) {
                i += 1;
                a[i - 1]
            } else {
                j += 1;
                b[j - 1]
            };
            match out.last_mut() {
                Some(last) if u32::from(next.0) <= u32::from(last.1) + 1 => {
                    last.1 = last.1.max(next.1)
                }
                _ => out.push(next),
            }
        }
        PortSet { ranges: out }
    }

    /// The ports of `self` that are not in `other`.
    pub fn subtract(&self, other: &PortSet) -> PortSet {
        if other.is_empty() || self.is_empty() {
            return self.clone();
        }
        let mut out = Ranges::with_capacity(self.ranges.len() + other.ranges.len());
        let mut j = 0;
        for &(low, high) in self.ranges.iter() {
            let mut start = u32::from(low);
            let end = u32::from(high);
            while j < other.ranges.len() && u32::from(other.ranges[j].1) < start {
                j += 1;
            }
            let mut k = j;
            while k < other.ranges.len() && u32::from(other.ranges[k].0) <= end {
                let (cut_low, cut_high) =
                    (u32::from(other.ranges[k].0), u32::from(other.ranges[k].1));
                if cut_low > start {
                    out.push((start as u16, (cut_low - 1) as u16));
                }
                start = start.max(cut_high + 1);
                if start > end {
                    break;
                }
                k += 1;
            }
            if start <= end {
                out.push((start as u16, end as u16));
            }
        }
        PortSet { ranges: out }
    }

    /// The complement within `0..=65535`.
    #[cfg(test)]
    pub fn complement(&self) -> PortSet {
        PortSet::all().subtract(self)
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// `22,80,8000-8999`; `none` when empty.
impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("none");
        }
        for (i, &(low, high)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ranges: &[(u16, u16)]) -> PortSet {
        PortSet::from_ranges(ranges.iter().copied())
    }

    #[test]
    fn ranges_merge_when_they_touch_or_overlap() {
        assert_eq!(set(&[(3, 4), (1, 2)]).ranges(), [(1, 4)]);
        assert_eq!(
            set(&[(1, 10), (5, 6), (12, 12)]).ranges(),
            [(1, 10), (12, 12)]
        );
        assert_eq!(set(&[(5, 1)]), PortSet::empty());
        assert_eq!(set(&[(0, 65535), (7, 9)]), PortSet::all());
        assert_eq!(PortSet::all().to_string(), "0-65535");
        assert_eq!(set(&[(22, 22), (80, 81)]).to_string(), "22,80-81");
    }

    #[test]
    fn a_range_rule_splits_a_class_exactly() {
        let class = PortSet::range(1, 65535);
        let rule = PortSet::range(5000, 5999);
        assert_eq!(class.intersect(&rule), rule);
        assert_eq!(class.subtract(&rule).ranges(), [(1, 4999), (6000, 65535)]);
        assert!(PortSet::single(0).subtract(&class).contains(0));
        assert_eq!(PortSet::all().subtract(&PortSet::all()), PortSet::empty());
        assert_eq!(PortSet::single(65535).complement().ranges(), [(0, 65534)]);
    }

    /// Each operation against the same operation on explicit port lists.
    fn members(set: &PortSet) -> Vec<u16> {
        (0..=u16::MAX).filter(|p| set.contains(*p)).collect()
    }

    fn arbitrary_set() -> impl Strategy<Value = PortSet> {
        proptest::collection::vec((0u16..300, 0u16..300), 0..6).prop_map(|pairs| {
            PortSet::from_ranges(pairs.into_iter().map(|(a, b)| (a.min(b), a.max(b))))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn operations_agree_with_explicit_lists(a in arbitrary_set(), b in arbitrary_set()) {
            let (ma, mb) = (members(&a), members(&b));
            let inter: Vec<u16> = ma.iter().copied().filter(|p| mb.contains(p)).collect();
            let minus: Vec<u16> = ma.iter().copied().filter(|p| !mb.contains(p)).collect();
            let mut union: Vec<u16> = ma.iter().chain(&mb).copied().collect();
            union.sort_unstable();
            union.dedup();
            prop_assert_eq!(members(&a.intersect(&b)), inter);
            prop_assert_eq!(members(&a.subtract(&b)), minus);
            prop_assert_eq!(members(&a.union(&b)), union);
            prop_assert_eq!(a.count() as usize, ma.len());
            // The representation is canonical: equal sets are equal values.
            prop_assert_eq!(a.union(&b), b.union(&a));
        }
    }
}
