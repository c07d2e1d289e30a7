//! Read the ruleset straight from the kernel: nfnetlink dumps of tables, chains, sets,
//! each set's elements, and rules, decoded into the model as they arrive.
//!
//! Starting nft costs milliseconds (exec, dynamic linking, libnftables) and, on a host
//! with tens of thousands of rules, more time and memory than the whole audit; the dumps
//! cost well under a millisecond on a small host. The read is consistent: the ruleset's
//! generation id is asked before and after, and a read that straddles a change (or
//! that the kernel flags as interrupted) is done again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::decode::{Builder, Coverage, NEWCHAIN, NEWSET};
use crate::collect::netlink::{NetlinkError, Nftables, OnMessage};
use crate::collect::nlmsg::{Attrs, align4};
use crate::ruleset::Ruleset;

// <linux/netfilter/nf_tables.h>
pub(super) const NFT_MSG_GETTABLE: u16 = 1;
pub(super) const NFT_MSG_GETCHAIN: u16 = 4;
pub(super) const NFT_MSG_GETRULE: u16 = 7;
pub(super) const NFT_MSG_GETSET: u16 = 10;
pub(super) const NFT_MSG_GETSETELEM: u16 = 13;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;

/// A ruleset changing under every one of this many reads is left to nft.
const ATTEMPTS: usize = 3;

/// Where the messages come from: the kernel, or a test's script.
pub(super) trait Source {
    fn generation(&mut self) -> Result<u32, NetlinkError>;
    /// Hands `each` the replies to one dump; Ok(false) if the kernel flagged it
    /// interrupted.
    fn dump(
        &mut self,
        get: u16,
        family: u8,
        attrs: &[u8],
        what: &str,
        each: &mut OnMessage<'_>,
    ) -> Result<bool, NetlinkError>;
    /// Another connection to the same ruleset, for dumping chains side by side; None
    /// where there is none.
    fn another(&mut self) -> Option<Self>
    where
        Self: Sized;
}

impl Source for Nftables {
    fn generation(&mut self) -> Result<u32, NetlinkError> {
        Nftables::generation(self)
    }

    fn dump(
        &mut self,
        get: u16,
        family: u8,
        attrs: &[u8],
        what: &str,
        each: &mut OnMessage<'_>,
    ) -> Result<bool, NetlinkError> {
        Nftables::dump(self, get, family, attrs, what, each)
    }

    /// Opened on the calling thread: in its network namespace, as `self` is.
    fn another(&mut self) -> Option<Nftables> {
        Nftables::open().ok()
    }
}

/// The ruleset of the calling thread's network namespace, and how much of it was
/// decoded; or why it could not be read (no CAP_NET_ADMIN, no nf_tables, a sandbox).
pub fn read() -> Result<(Ruleset, Coverage), NetlinkError> {
    let mut source = Nftables::open()?;
    read_from(&mut source)
}

pub(super) fn read_from(
    source: &mut (impl Source + Send),
) -> Result<(Ruleset, Coverage), NetlinkError> {
    for _ in 0..ATTEMPTS {
        let before = source.generation()?;
        let Some(builder) = read_once(source)? else {
            continue;
        };
        if source.generation()? == before {
            let coverage = builder.coverage();
            return Ok((builder.finish(), coverage));
        }
    }
    Err(NetlinkError::Failed(format!(
        "the nftables ruleset changed during each of {ATTEMPTS} reads"
    )))
}

/// One pass over the dumps; None if one was interrupted.
fn read_once(source: &mut (impl Source + Send)) -> Result<Option<Builder>, NetlinkError> {
    read_once_by(source, CHAINS_ONE_BY_ONE, lanes)
}

/// From this many chains on, the rules are dumped chain by chain. The kernel resumes a
/// whole-ruleset rule dump by counting every rule again from the first (one 32 KiB batch
/// at a time): quadratic, a third of a second of kernel time on a Kubernetes node's 21k
/// rules. Asked by table and chain, it finds the chain by hash and counts only its rules;
/// the messages come in the same order. Below, one dump costs fewer round trips.
const CHAINS_ONE_BY_ONE: usize = 64;

/// `lanes`: how many more connections dump the chains' rules side by side (asked only
/// when they are dumped chain by chain).
pub(super) fn read_once_by(
    source: &mut (impl Source + Send),
    one_by_one_from: usize,
    lanes: fn() -> usize,
) -> Result<Option<Builder>, NetlinkError> {
    let mut builder = Builder::new();
    let mut sets: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut chains: Vec<(u8, Vec<u8>)> = Vec::new();
    let feed = |b: &mut Builder, kind: u16, payload: &[u8]| b.message(kind, payload);
    let dumps = [
        (NFT_MSG_GETTABLE, "the nftables tables"),
        (NFT_MSG_GETCHAIN, "the nftables chains"),
        (NFT_MSG_GETSET, "the nftables sets"),
    ];
    for (get, what) in dumps {
        let complete = source.dump(get, 0, &[], what, &mut |kind, payload| {
            if kind == NEWSET {
                sets.push((
                    payload.first().copied().unwrap_or(0),
                    elements_request(payload),
                ));
            }
            if kind == NEWCHAIN {
                chains.push((
                    payload.first().copied().unwrap_or(0),
                    rules_request(payload),
                ));
            }
            feed(&mut builder, kind, payload)
        })?;
        if !complete {
            return Ok(None);
        }
    }
    for (family, request) in &sets {
        let complete = source.dump(
            NFT_MSG_GETSETELEM,
            *family,
            request,
            "the nftables set elements",
            &mut |kind, payload| feed(&mut builder, kind, payload),
        )?;
        if !complete {
            return Ok(None);
        }
    }
    if chains.len() < one_by_one_from {
        let complete = source.dump(
            NFT_MSG_GETRULE,
            0,
            &[],
            "the nftables rules",
            &mut |kind, payload| feed(&mut builder, kind, payload),
        )?;
        return Ok(complete.then_some(builder));
    }
    let complete = rules_by_chain(source, &chains, lanes(), &mut |kind, payload| {
        feed(&mut builder, kind, payload)
    })?;
    Ok(complete.then_some(builder))
}

/// Connections that dump chains side by side at most.
const LANES: usize = 4;

/// How many connections dump chains side by side: one per core, a few at most (each
/// dump is the kernel's work on the dumping thread; the decoding is this thread's); none
/// on one core, where a lane would only add a copy and a thread switch per chain.
fn lanes() -> usize {
    match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        1 => 0,
        cores => cores.min(LANES),
    }
}

/// Every chain's rules, asked chain by chain on `lanes` connections of their own, one
/// thread each, while this thread hands each chain's replies to `each` as they come (a
/// chain's rules in order; the chains in any order: a rule names its chain). Ok(false)
/// if a dump was interrupted. Alone on `source` without lanes, or where no other
/// connection opens.
fn rules_by_chain<S: Source + Send>(
    source: &mut S,
    chains: &[(u8, Vec<u8>)],
    lanes: usize,
    each: &mut OnMessage<'_>,
) -> Result<bool, NetlinkError> {
    let lanes: Vec<S> = (0..lanes).map_while(|_| source.another()).collect();
    if lanes.is_empty() {
        for chain in chains {
            if !dump_chain(source, chain, each)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (sender, replies) = mpsc::sync_channel::<Result<Replies, NetlinkError>>(16);
    std::thread::scope(|scope| {
        for mut lane in lanes {
            let (sender, next, stop) = (sender.clone(), &next, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(chain) = chains.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let mut got = Replies::default();
                    let dumped = dump_chain(&mut lane, chain, &mut |kind, payload| {
                        got.push(kind, payload);
                        Ok(())
                    });
                    got.complete = matches!(dumped, Ok(true));
                    let last = !got.complete;
                    if sender.send(dumped.map(|_| got)).is_err() || last {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        drop(sender);
        // Returning early drops `replies`: each lane's next send fails and it stops.
        let mut complete = true;
        for chain in replies {
            let chain = chain?;
            complete &= chain.complete;
            for (kind, payload) in chain.messages() {
                each(kind, payload).map_err(NetlinkError::Failed)?;
            }
        }
        Ok(complete)
    })
}

/// One chain's rules, asked by the table and name in `request`.
fn dump_chain(
    source: &mut impl Source,
    (family, request): &(u8, Vec<u8>),
    each: &mut OnMessage<'_>,
) -> Result<bool, NetlinkError> {
    source.dump(
        NFT_MSG_GETRULE,
        *family,
        request,
        "the nftables rules",
        each,
    )
}

/// One chain's replies, copied out of a lane's receive buffer for the decoding thread.
#[derive(Default)]
struct Replies {
    bytes: Vec<u8>,
    /// Each message's type and where its payload ends in `bytes`.
    ends: Vec<(u16, usize)>,
    /// The dump was not interrupted.
    complete: bool,
}

impl Replies {
    fn push(&mut self, kind: u16, payload: &[u8]) {
        self.bytes.extend_from_slice(payload);
        self.ends.push((kind, self.bytes.len()));
    }

    fn messages(&self) -> impl Iterator<Item = (u16, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, end)| end));
        self.ends
            .iter()
            .zip(starts)
            .map(|(&(kind, end), start)| (kind, &self.bytes[start..end]))
    }
}

/// The attributes that ask for one chain's rules: its table and name (the family is the
/// request's: a table's name is unique only within its family).
fn rules_request(chain: &[u8]) -> Vec<u8> {
    let a = Attrs::parse(chain.get(4..).unwrap_or_default());
    let mut request = attribute(NFTA_RULE_TABLE, a.get(NFTA_CHAIN_TABLE).unwrap_or_default());
    request.extend(attribute(
        NFTA_RULE_CHAIN,
        a.get(NFTA_CHAIN_NAME).unwrap_or_default(),
    ));
    request
}

/// The attributes that ask for one set's elements: its table and name.
fn elements_request(set: &[u8]) -> Vec<u8> {
    let a = Attrs::parse(set.get(4..).unwrap_or_default());
    let mut request = attribute(
        NFTA_SET_ELEM_LIST_TABLE,
        a.get(NFTA_SET_TABLE).unwrap_or_default(),
    );
    request.extend(attribute(
        NFTA_SET_ELEM_LIST_SET,
        a.get(NFTA_SET_NAME).unwrap_or_default(),
    ));
    request
}

/// One netlink attribute, padded to 4 bytes.
fn attribute(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut b = Vec::with_capacity(align4(len));
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(data);
    b.resize(align4(len), 0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::nlmsg::messages;

    /// Replays a captured dump; the generation id and interruptions as the script says.
    struct Script {
        stream: &'static [u8],
        generations: Vec<u32>,
        /// Rule dumps to flag as interrupted, first ones first.
        interrupted: usize,
        table_dumps: usize,
        element_requests: Vec<Vec<u8>>,
        /// The rule dumps asked for, by family and attributes.
        rule_requests: Vec<(u8, Vec<u8>)>,
        /// How many more connections [`Source::another`] opens (each a script like this
        /// one, its interruptions its own).
        lanes: Vec<usize>,
    }

    impl Script {
        fn new(generations: Vec<u32>) -> Script {
            Script {
                stream: include_bytes!("../../../tests/fixtures/nft/netlink/docker.nlmsg"),
                generations,
                interrupted: 0,
                table_dumps: 0,
                element_requests: Vec::new(),
                rule_requests: Vec::new(),
                lanes: Vec::new(),
            }
        }
    }

    impl Source for Script {
        fn generation(&mut self) -> Result<u32, NetlinkError> {
            Ok(if self.generations.len() > 1 {
                self.generations.remove(0)
            } else {
                self.generations[0]
            })
        }

        fn dump(
            &mut self,
            get: u16,
            family: u8,
            attrs: &[u8],
            _: &str,
            each: &mut OnMessage<'_>,
        ) -> Result<bool, NetlinkError> {
            if get == NFT_MSG_GETTABLE {
                self.table_dumps += 1;
            }
            if get == NFT_MSG_GETSETELEM {
                self.element_requests.push(attrs.to_vec());
            }
            if get == NFT_MSG_GETRULE {
                self.rule_requests.push((family, attrs.to_vec()));
            }
            // A rule dump asked by table and chain answers that chain's rules only, as
            // the kernel does.
            let asked = Attrs::parse(attrs);
            let wanted = |payload: &[u8]| {
                if get != NFT_MSG_GETRULE || attrs.is_empty() {
                    return true;
                }
                let rule = Attrs::parse(payload.get(4..).unwrap_or_default());
                payload.first() == Some(&family)
                    && rule.get(NFTA_RULE_TABLE) == asked.get(NFTA_RULE_TABLE)
                    && rule.get(NFTA_RULE_CHAIN) == asked.get(NFTA_RULE_CHAIN)
            };
            for m in messages(self.stream).map_while(Result::ok) {
                if m.kind == 0x0a00 | (get - 1) && wanted(m.payload) {
                    each(m.kind, m.payload).map_err(NetlinkError::Failed)?;
                }
            }
            if get == NFT_MSG_GETRULE && self.interrupted > 0 {
                self.interrupted -= 1;
                return Ok(false);
            }
            Ok(true)
        }

        fn another(&mut self) -> Option<Script> {
            let interrupted = self.lanes.pop()?;
            Some(Script {
                interrupted,
                ..Script::new(self.generations.clone())
            })
        }
    }

    #[test]
    fn a_consistent_read_decodes_every_dump() {
        let mut script = Script::new(vec![7]);
        let (ruleset, coverage) = read_from(&mut script).unwrap();
        assert_eq!(script.table_dumps, 1);
        assert!(coverage.rules > 0);
        assert!(!ruleset.tables.is_empty());
    }

    #[test]
    fn a_ruleset_changed_during_the_read_is_read_again() {
        // Before and after the first read differ; the second read is consistent.
        let mut script = Script::new(vec![1, 2, 2, 2]);
        assert!(read_from(&mut script).is_ok());
        assert_eq!(script.table_dumps, 2);

        // An interrupted dump is read again too.
        let mut script = Script::new(vec![5]);
        script.interrupted = 1;
        assert!(read_from(&mut script).is_ok());
        assert_eq!(script.table_dumps, 2);

        let mut script = Script::new((1..=10).collect());
        let why = read_from(&mut script).unwrap_err();
        assert!(why.message().contains("changed"), "{}", why.message());
        assert_eq!(script.table_dumps, ATTEMPTS);
    }

    #[test]
    fn rules_read_chain_by_chain_are_the_rules_read_at_once() {
        let mut whole = Script::new(vec![3]);
        let at_once = read_once_by(&mut whole, usize::MAX, || 0).unwrap().unwrap();
        assert_eq!(whole.rule_requests, vec![(0, Vec::new())]);

        let mut script = Script::new(vec![3]);
        let by_chain = read_once_by(&mut script, 0, || 0).unwrap().unwrap();
        let ruleset = at_once.finish();
        let chains: usize = ruleset.tables.iter().map(|t| t.chains.len()).sum();
        assert!(chains > 1);
        assert_eq!(script.rule_requests.len(), chains);
        assert!(script.rule_requests.iter().all(|(family, _)| *family != 0));
        assert!(
            ruleset
                .tables
                .iter()
                .any(|t| t.chains.iter().any(|c| !c.rules.is_empty()))
        );
        assert_eq!(by_chain.finish(), ruleset);
    }

    #[test]
    fn chains_dumped_side_by_side_are_the_rules_read_at_once() {
        let at_once = read_once_by(&mut Script::new(vec![3]), usize::MAX, || 0)
            .unwrap()
            .unwrap()
            .finish();
        let lanes: [fn() -> usize; 2] = [|| 1, || 3];
        for lanes in lanes {
            let mut script = Script::new(vec![3]);
            script.lanes = vec![0; lanes()];
            let side_by_side = read_once_by(&mut script, 0, lanes).unwrap().unwrap();
            // Every chain on the other connections, none on this one.
            assert!(script.lanes.is_empty() && script.rule_requests.is_empty());
            assert_eq!(side_by_side.finish(), at_once);
        }

        // A dump interrupted on any connection is a read to do again.
        let mut script = Script::new(vec![3]);
        script.lanes = vec![0, 1];
        assert!(read_once_by(&mut script, 0, || 2).unwrap().is_none());
        // Read again (on as many lanes as this machine has cores), it is all there.
        let mut script = Script::new(vec![3, 3, 3, 3]);
        script.lanes = vec![0, 1];
        let (ruleset, _) = read_from(&mut script).unwrap();
        assert_eq!(ruleset, at_once);
    }

    #[test]
    fn a_chain_s_rules_are_asked_by_table_and_name() {
        let request = rules_request(&[
            2, 0, 0, 0, 6, 0, 1, 0, b't', 0, 0, 0, 6, 0, 3, 0, b'c', 0, 0, 0,
        ]);
        assert_eq!(
            request,
            vec![6, 0, 1, 0, b't', 0, 0, 0, 6, 0, 2, 0, b'c', 0, 0, 0]
        );
    }

    #[test]
    fn a_set_s_elements_are_asked_by_table_and_name() {
        let request = elements_request(&[
            2, 0, 0, 0, 6, 0, 1, 0, b't', 0, 0, 0, 6, 0, 2, 0, b's', 0, 0, 0,
        ]);
        assert_eq!(
            request,
            vec![6, 0, 1, 0, b't', 0, 0, 0, 6, 0, 2, 0, b's', 0, 0, 0]
        );
    }
}
