//! The walk of one class through the base chains of one hook: branches of the class
//! (ports, and what earlier rules did to them) going rule by rule, split where a match
//! depends on the destination port or on something the class does not know.
//!
//! Depth first: a rule's verdicts are followed before the rest of its chain, so that the
//! fates come out in the order a reader follows the rules. A branch coming back from a
//! jumped-to chain merges with the one that went on without it when they are the same
//! packet again, which keeps long chains of jumps (kube-proxy's, Docker's) linear.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

use super::hash::{FastMap, hash_of};
use super::packet::{Hit, Packet, PortNow, Tracked, Tri, Value, element};
use super::ports::PortSet;
use super::{Class, DoubtKind, End, Fate, Mark, NatAddress, NatTo, Rewrite, TproxyTo, render};
use crate::ruleset::{
    ChainKind, CtKey, Data, Dormant, Element, Elements, Field, Hook, Key, Match, MetaKey, Nat,
    NatFamily, NatKind, Operand, OperandRange, PayloadBase, Policy, Rule, Ruleset, Statement, Step,
    Table, TableFamily, Test, Tproxy, Verdict,
};
use crate::socket::Family;

/// The kernel's jump stack holds 16 chains; deeper is a loop in hand-fed input.
const MAX_DEPTH: usize = 16;
/// Rules evaluated per class and hook, over every branch, before giving up.
const BUDGET: u32 = 200_000;
/// Distinct reasons kept per branch; beyond, ports share the first one.
const MAX_REASONS: usize = 32;

/// A ruleset with its chains and sets indexed by name, ready to evaluate classes.
pub struct Index<'r> {
    ruleset: &'r Ruleset,
    /// Per table: chain name → index.
    chains: Vec<FastMap<&'r str, usize>>,
    /// Per table: set name → index.
    sets: Vec<FastMap<&'r str, usize>>,
    /// Reasons and rule labels rendered so far: each rule is written out once, however
    /// many classes and fates it decides.
    texts: RefCell<FastMap<(Reason, Hook), Arc<str>>>,
    labels: RefCell<FastMap<(usize, usize, usize), Arc<str>>>,
    /// Per long chain, its rules by the destination they ask for first.
    dispatch: RefCell<FastMap<(usize, usize), Dispatch>>,
}

/// Chains this long get a [`Dispatch`].
const DISPATCH_MIN: usize = 32;

/// A chain's rules by what each asks of a packet before anything else it does: one
/// destination address (`ip daddr 10.96.0.10 … jump …`, kube-proxy's and Docker's long
/// chains), else one destination port (`tcp dport 30080 jump …`). Packets to a known
/// destination, or to a few ports, go to the rules that can match them, not through all.
#[derive(Debug, Default)]
struct Dispatch {
    by_v4: FastMap<[u8; 4], Vec<u32>>,
    all_v4: Vec<u32>,
    by_v6: FastMap<[u8; 16], Vec<u32>>,
    all_v6: Vec<u32>,
    by_port: FastMap<u16, Vec<u32>>,
    all_port: Vec<u32>,
    /// The rules that ask for neither first.
    others: Vec<u32>,
}

/// What a rule asks for first.
enum Asks {
    V4([u8; 4]),
    V6([u8; 16]),
    Port(u16),
    Nothing,
}

/// Branches with at most this many ports are dispatched by port.
const DISPATCH_PORTS: u32 = 16;

impl Dispatch {
    fn new(rules: &[Rule]) -> Dispatch {
        let mut d = Dispatch::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = i as u32;
            match asks_for(rule) {
                Asks::V4(a) => {
                    d.by_v4.entry(a).or_default().push(i);
                    d.all_v4.push(i);
                }
                Asks::V6(a) => {
                    d.by_v6.entry(a).or_default().push(i);
                    d.all_v6.push(i);
                }
                Asks::Port(p) => {
                    d.by_port.entry(p).or_default().push(i);
                    d.all_port.push(i);
                }
                Asks::Nothing => d.others.push(i),
            }
        }
        d
    }

    /// The first rule from `next` on that packets to `daddr` (if known) and `ports` (if
    /// few and known) can match; past the end when none.
    fn next(
        &self,
        next: u32,
        family: Family,
        daddr: Option<IpAddr>,
        ports: Option<&PortSet>,
    ) -> u32 {
        let first = |list: &[u32]| {
            let at = list.partition_point(|r| *r < next);
            list.get(at).copied().unwrap_or(u32::MAX)
        };
        // An address of the other family's header offset asks nothing of this packet's
        // destination: those rules stay.
        let v4 = match (family, daddr) {
            (Family::Ipv4, Some(IpAddr::V4(a))) => {
                self.by_v4.get(&a.octets()).map_or(u32::MAX, |l| first(l))
            }
            _ => first(&self.all_v4),
        };
        let v6 = match (family, daddr) {
            (Family::Ipv6, Some(IpAddr::V6(a))) => {
                self.by_v6.get(&a.octets()).map_or(u32::MAX, |l| first(l))
            }
            _ => first(&self.all_v6),
        };
        let port = match ports {
            Some(ports) if ports.count() <= DISPATCH_PORTS => ports
                .ranges()
                .iter()
                .flat_map(|&(low, high)| low..=high)
                .map(|p| self.by_port.get(&p).map_or(u32::MAX, |l| first(l)))
                .min()
                .unwrap_or(u32::MAX),
            _ => first(&self.all_port),
        };
        first(&self.others).min(v4).min(v6).min(port)
    }
}

/// The priority of netfilter's own NAT hook, where every nat chain of the hook runs
/// (NF_IP_PRI_NAT_DST at prerouting and output, NF_IP_PRI_NAT_SRC at input and
/// postrouting).
fn nat_core_priority(hook: Hook) -> Option<i32> {
    match hook {
        Hook::Prerouting | Hook::Output => Some(-100),
        Hook::Input | Hook::Postrouting => Some(100),
        _ => None,
    }
}

/// What a rule asks for before it can do anything (only matches, conditions and effects
/// come before): an exact destination address, else an exact destination port.
fn asks_for(rule: &Rule) -> Asks {
    let mut port = None;
    for step in &rule.steps {
        match step {
            Step::Match(m) => {
                let [load] = m.key.parts.as_slice() else {
                    continue;
                };
                let Test::Equal {
                    negate: false,
                    value,
                } = &m.test
                else {
                    continue;
                };
                if value.len() != usize::from(load.len) || !load.transforms.is_empty() {
                    continue;
                }
                match (&load.field, load.len) {
                    (
                        Field::Payload {
                            base: PayloadBase::Network,
                            offset: 16,
                        },
                        4,
                    ) => {
                        if let Ok(a) = <[u8; 4]>::try_from(&**value) {
                            return Asks::V4(a);
                        }
                    }
                    (
                        Field::Payload {
                            base: PayloadBase::Network,
                            offset: 24,
                        },
                        16,
                    ) => {
                        if let Ok(a) = <[u8; 16]>::try_from(&**value) {
                            return Asks::V6(a);
                        }
                    }
                    (
                        Field::Payload {
                            base: PayloadBase::Transport,
                            offset: 2,
                        },
                        2,
                    ) if port.is_none() => port = Some(u16::from_be_bytes([value[0], value[1]])),
                    _ => {}
                }
            }
            Step::Condition(_) | Step::Statement(Statement::Effect(_)) => {}
            _ => break,
        }
    }
    port.map_or(Asks::Nothing, Asks::Port)
}

impl<'r> Index<'r> {
    pub fn new(ruleset: &'r Ruleset) -> Index<'r> {
        let chains = ruleset
            .tables
            .iter()
            .map(|t| {
                // The first of two chains of one name wins, as a lookup in nft would.
                let mut map = FastMap::with_capacity_and_hasher(t.chains.len(), Default::default());
                for (i, c) in t.chains.iter().enumerate() {
                    map.entry(c.name.as_str()).or_insert(i);
                }
                map
            })
            .collect();
        let sets = ruleset
            .tables
            .iter()
            .map(|t| {
                let mut map = FastMap::with_capacity_and_hasher(t.sets.len(), Default::default());
                for (i, s) in t.sets.iter().enumerate() {
                    map.entry(s.name.as_str()).or_insert(i);
                }
                map
            })
            .collect();
        Index {
            ruleset,
            chains,
            sets,
            texts: RefCell::default(),
            labels: RefCell::default(),
            dispatch: RefCell::default(),
        }
    }

    /// What every base chain of `hook` that sees `class` does with it: see
    /// [`super::evaluate`].
    pub fn evaluate(&self, hook: Hook, class: &Class) -> Vec<Fate> {
        self.evaluate_kinds(hook, class, None)
    }

    /// As [`Index::evaluate`], with only the base chains of one kind (the nat chains, for
    /// what they publish).
    pub fn evaluate_kinds(&self, hook: Hook, class: &Class, only: Option<ChainKind>) -> Vec<Fate> {
        let mut run = Run {
            index: self,
            hook,
            class,
            budget: BUDGET,
            raw: Vec::new(),
            tracked: Tracked::Yes,
            going_on: Vec::new(),
            acted: Vec::new(),
        };
        let bases = self.bases(hook, class, only);
        if bases.is_empty() {
            return vec![Fate {
                ports: class.ports.clone(),
                end: End::Pass,
                rewrite: Rewrite::default(),
                certain: true,
                why: format!("no {} chain: nothing filters", hook.name()).into(),
                doubt: None,
                doubt_kind: None,
                daddr: None,
            }];
        }
        let mut entering = vec![Branch::new(class)];
        for (table, chain, maybe_seen) in bases {
            let mut passed = Vec::new();
            for branch in entering {
                run.base_chain(table, chain, maybe_seen, branch, &mut passed);
            }
            entering = merge(passed);
        }
        for branch in entering {
            run.raw.push(RawFate {
                end: End::Pass,
                why: None,
                branch,
            });
        }
        run.finish()
    }

    /// The base chains of `hook` that see the class, in priority order (chains of one
    /// priority in the order the ruleset lists them), and whether it is not known that
    /// they see it (a device-bound chain for an interface not known).
    fn bases(
        &self,
        hook: Hook,
        class: &Class,
        only: Option<ChainKind>,
    ) -> Vec<(usize, usize, bool)> {
        let mut bases = Vec::new();
        for (t, table) in self.ruleset.tables.iter().enumerate() {
            if table.dormant == Dormant::Yes || !sees(table.family, class) {
                continue;
            }
            for (c, chain) in table.chains.iter().enumerate() {
                let Some(base) = &chain.base else { continue };
                if base.hook != hook || only.is_some_and(|k| k != base.kind) {
                    continue;
                }
                let device = match hook {
                    Hook::Ingress => class.iif,
                    Hook::Egress => class.oif,
                    _ => None,
                };
                let bound = matches!(hook, Hook::Ingress | Hook::Egress);
                // No devices: not known which (nft's JSON leaves a netdev chain's
                // devices out of its listing).
                let maybe = match device {
                    _ if !bound => false,
                    _ if base.devices.is_empty() => true,
                    Some(d) => {
                        if !base.devices.iter().any(|name| name == d.name) {
                            continue;
                        }
                        false
                    }
                    None => true,
                };
                bases.push(((base.priority, 0), t, c, maybe));
            }
        }
        // The nat chains of a hook run inside netfilter's NAT hook, at its priority, in
        // their own order among themselves: a filter chain at -101 sees the address a nat
        // chain at -110 is about to rewrite. One at the NAT hook's own priority runs before
        // or after it, as the two were registered: its drops count only as possible.
        let core = nat_core_priority(hook);
        let nat = |t: usize, c: usize| {
            let table = &self.ruleset.tables[t];
            matches!(
                table.family,
                TableFamily::Ip | TableFamily::Ip6 | TableFamily::Inet
            ) && table.chains[c]
                .base
                .as_ref()
                .is_some_and(|b| b.kind == ChainKind::Nat)
        };
        let any_nat = core.is_some() && bases.iter().any(|&(_, t, c, _)| nat(t, c));
        if let Some(core) = core.filter(|_| any_nat) {
            for (key, t, c, maybe) in &mut bases {
                if nat(*t, *c) {
                    *key = (core, key.0);
                } else if key.0 == core {
                    *maybe = true;
                }
            }
        }
        bases.sort_by_key(|b| b.0);
        bases.into_iter().map(|(_, t, c, m)| (t, c, m)).collect()
    }

    /// A reason as a line, rendered on first use.
    fn text(&self, hook: Hook, reason: Reason) -> Arc<str> {
        self.texts
            .borrow_mut()
            .entry((reason, hook))
            .or_insert_with(|| render_reason(self.ruleset, hook, reason).into())
            .clone()
    }

    /// `ip nat DOCKER handle 4`, rendered on first use.
    fn label(&self, t: usize, c: usize, r: usize) -> Arc<str> {
        self.labels
            .borrow_mut()
            .entry((t, c, r))
            .or_insert_with(|| render::label(self.ruleset, t, c, Some(r)).into())
            .clone()
    }

    fn table(&self, t: usize) -> &'r Table {
        &self.ruleset.tables[t]
    }

    /// The elements of a set test or map, and whether they are all there (a dynamic set's
    /// or one not found are not).
    fn elements<'a>(&self, t: usize, elements: &'a Elements) -> (&'a [Element], bool)
    where
        'r: 'a,
    {
        match elements {
            Elements::Inline(items) => (items, true),
            Elements::Set(name) => match self.sets[t].get(name.as_str()) {
                Some(&s) => {
                    let set = &self.table(t).sets[s];
                    (&set.elements, !set.incomplete)
                }
                None => (&[], false),
            },
        }
    }
}

/// Whether a table of `family` has chains that see the class at all.
fn sees(family: TableFamily, class: &Class) -> bool {
    match family {
        TableFamily::Ip => class.family == Family::Ipv4 && !class.bridged,
        TableFamily::Ip6 => class.family == Family::Ipv6 && !class.bridged,
        TableFamily::Inet => !class.bridged,
        TableFamily::Bridge => class.bridged,
        TableFamily::Netdev => true,
        TableFamily::Arp => false,
    }
}

/// Why something happened, kept as positions and rendered only for the fates shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reason {
    /// A rule decided (its verdict, a NAT).
    Rule { table: u32, chain: u32, rule: u32 },
    /// A base chain's policy.
    Policy { table: u32, chain: u32 },
    /// One step of a rule could not be told for the class; `key_only`: nothing at all is
    /// known of what it loads.
    Step {
        table: u32,
        chain: u32,
        rule: u32,
        step: u32,
        key_only: bool,
    },
    /// The table's flags could not be read: it may be dormant.
    Dormant { table: u32 },
    /// A device-bound chain, the device not known.
    Device { table: u32, chain: u32 },
    /// Too many ways through the rules.
    Budget { table: u32, chain: u32 },
    /// Jumps nest deeper than the kernel allows.
    Depth { table: u32, chain: u32, rule: u32 },
    /// A jump or goto to a chain that is not there.
    NoChain { table: u32, chain: u32, rule: u32 },
    /// `tproxy`: whether a transparent socket takes it.
    Tproxy { table: u32, chain: u32, rule: u32 },
    /// `queue`: a program decides.
    Queue { table: u32, chain: u32, rule: u32 },
    /// Through the hook's chains with no rule or policy saying so (none ran).
    Hook,
}

/// Reasons per port: disjoint port sets, each with the first reason seen for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Labels(Vec<(PortSet, Reason)>);

impl Labels {
    fn covered(&self) -> PortSet {
        self.0
            .iter()
            .fold(PortSet::empty(), |all, (ports, _)| all.union(ports))
    }

    /// Label the ports of `ports` that have no label yet.
    fn add(&mut self, ports: &PortSet, reason: Reason) {
        if ports.is_empty() {
            return;
        }
        let fresh = if self.0.is_empty() {
            ports.clone()
        } else {
            ports.subtract(&self.covered())
        };
        if fresh.is_empty() {
            return;
        }
        if let Some(same) = self.0.iter_mut().find(|(_, r)| *r == reason) {
            same.0 = same.0.union(&fresh);
        } else if self.0.len() >= MAX_REASONS {
            self.0[0].0 = self.0[0].0.union(&fresh);
        } else {
            self.0.push((fresh, reason));
        }
    }

    /// Relabel `ports` with `reason` where their label is a policy (a rule says more).
    fn prefer(&mut self, ports: &PortSet, reason: Reason) {
        let mut taken = PortSet::empty();
        for (labelled, old) in &mut self.0 {
            if matches!(old, Reason::Policy { .. }) {
                let moved = labelled.intersect(ports);
                if !moved.is_empty() {
                    *labelled = labelled.subtract(&moved);
                    taken = taken.union(&moved);
                }
            }
        }
        self.0.retain(|(p, _)| !p.is_empty());
        self.add(&taken, reason);
        self.add(ports, reason);
    }

    fn restrict(&mut self, ports: &PortSet) {
        for (labelled, _) in &mut self.0 {
            *labelled = labelled.intersect(ports);
        }
        self.0.retain(|(p, _)| !p.is_empty());
    }

    fn merge(&mut self, other: Labels) {
        for (ports, reason) in other.0 {
            self.add(&ports, reason);
        }
    }
}

/// One chain position of a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Frame {
    table: u32,
    chain: u32,
    /// The next rule to run; past the end: the chain is done.
    next: u32,
    /// Entered by a jump whose rule pinned the destination: coming back unchanged (this
    /// hash of its state, the destination left out), the packets are already going on
    /// unpinned in the calling chain, and need not go on twice.
    covered: Option<u64>,
}

/// What earlier rules on a branch did to its packets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct State {
    daddr: Option<IpAddr>,
    /// The destination as a rule pinned it, the class not knowing it (kept through a
    /// NAT: it is where the packets were sent).
    pinned: Option<IpAddr>,
    port: PortNow,
    mark: Option<u32>,
    ct_mark: Option<u32>,
    local: Option<bool>,
    dnat: bool,
    /// A NAT chain of this hook has set up the mapping: later ones do not run.
    nat_done: bool,
    rewrite: Rewrite,
}

/// Some of a class's ports on one way through the rules.
#[derive(Debug, Clone)]
struct Branch {
    ports: PortSet,
    /// The ports only possibly on this branch, each with the first reason.
    doubts: Labels,
    /// Why the base chains behind let them on.
    whys: Labels,
    stack: Vec<Frame>,
    state: State,
}

impl State {
    /// A hash of the state with the destination left out (as before a rule pinned it).
    /// SipHash, not the evaluator's fast hash: an equal hash here drops a branch as
    /// covered, so a collision must be out of reach, not only unlikely.
    fn unpinned(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        // Every field but the destination, as `State`'s derived hash with both `None`
        // (no copy of the state: this runs at every pinned jump).
        let State {
            daddr: _,
            pinned: _,
            port,
            mark,
            ct_mark,
            local,
            dnat,
            nat_done,
            rewrite,
        } = self;
        None::<IpAddr>.hash(&mut hasher);
        None::<IpAddr>.hash(&mut hasher);
        port.hash(&mut hasher);
        mark.hash(&mut hasher);
        ct_mark.hash(&mut hasher);
        local.hash(&mut hasher);
        dnat.hash(&mut hasher);
        nat_done.hash(&mut hasher);
        rewrite.hash(&mut hasher);
        hasher.finish()
    }
}

impl Branch {
    fn new(class: &Class) -> Branch {
        Branch {
            ports: class.ports.clone(),
            doubts: Labels::default(),
            whys: Labels::default(),
            stack: Vec::new(),
            state: State {
                daddr: class.daddr.and_then(|a| in_family(a, class.family)),
                pinned: None,
                port: PortNow::Class,
                mark: class.mark,
                ct_mark: None,
                local: class.local,
                dnat: class.dnat,
                nat_done: false,
                rewrite: Rewrite::default(),
            },
        }
    }

    /// The part of this branch for `ports` (a subset of its ports).
    fn part(&self, ports: &PortSet) -> Branch {
        let mut part = self.clone();
        part.restrict(ports);
        part
    }

    fn restrict(&mut self, ports: &PortSet) {
        if *ports == self.ports {
            return;
        }
        self.ports = self.ports.intersect(ports);
        self.doubts.restrict(&self.ports);
        self.whys.restrict(&self.ports);
    }

    fn doubt(&mut self, ports: &PortSet, reason: Reason) {
        self.doubts.add(ports, reason);
    }

    fn doubt_all(&mut self, reason: Reason) {
        let ports = self.ports.clone();
        self.doubts.add(&ports, reason);
    }

    fn doubted(mut self, reason: Reason) -> Branch {
        self.doubt_all(reason);
        self
    }

    /// A hash of where it is and what it carries (what `joins` compares).
    fn place(&self) -> u64 {
        hash_of(&(&self.stack, &self.state))
    }

    /// The same packets at the same place: they can go on as one.
    fn joins(&self, other: &Branch) -> bool {
        self.stack == other.stack && self.state == other.state
    }

    fn join(&mut self, other: Branch) {
        self.ports = self.ports.union(&other.ports);
        self.doubts.merge(other.doubts);
        self.whys.merge(other.whys);
    }
}

/// As [`merge`], in place (the vector's room kept for the next rule).
fn merge_in_place(branches: &mut Vec<Branch>) {
    if branches.len() <= 1 {
        branches.retain(|b| !b.ports.is_empty());
    } else {
        *branches = merge(std::mem::take(branches));
    }
}

/// Branches that are the same packets at the same place, joined (in the order first seen).
fn merge(branches: Vec<Branch>) -> Vec<Branch> {
    if branches.len() <= 1 {
        return branches
            .into_iter()
            .filter(|b| !b.ports.is_empty())
            .collect();
    }
    let mut merged: Vec<Branch> = Vec::with_capacity(branches.len());
    // Thousands of branches pass a chain on a big ruleset (one per NAT): find the alike
    // ones by hash, not by comparing each with all.
    let mut seen: FastMap<u64, Vec<usize>> =
        FastMap::with_capacity_and_hasher(branches.len(), Default::default());
    for branch in branches {
        if branch.ports.is_empty() {
            continue;
        }
        let bucket = seen.entry(branch.place()).or_default();
        match bucket.iter().copied().find(|&i| merged[i].joins(&branch)) {
            Some(into) => merged[into].join(branch),
            None => {
                bucket.push(merged.len());
                merged.push(branch);
            }
        }
    }
    merged
}

/// A branch at its end: dropped (and why), or through every base chain.
struct RawFate {
    end: End,
    /// For a drop: the rule or policy. Passes carry theirs in the branch's `whys`.
    why: Option<Reason>,
    branch: Branch,
}

/// What a rule does with a branch's packets that it acts on.
enum Act<'r> {
    Verdict(&'r Verdict),
    /// A jump by packets the rule pinned the destination of: see `Frame::covered`.
    Covered(&'r Verdict, u64),
    Drop,
    /// A NAT set up: the chain accepts (the rewrite is in the branch's state).
    Nat,
    /// Something the model cannot read acted: any verdict, and in a NAT chain any rewrite.
    Opaque(&'r str),
}

/// One evaluation: the class, the budget left, the fates so far.
struct Run<'i, 'r, 'c> {
    index: &'i Index<'r>,
    hook: Hook,
    class: &'i Class<'c>,
    budget: u32,
    raw: Vec<RawFate>,
    /// Whether the base chain running sees packets after conntrack: not below priority
    /// -200 at prerouting and output, nor at netdev ingress; either at -200.
    tracked: Tracked,
    /// What `rule` returns, kept empty between rules: a rule runs for every branch at
    /// every rule it reaches (millions on a Kubernetes node), and two fresh vectors
    /// each time were a good part of the evaluation's allocations.
    going_on: Vec<Branch>,
    acted: Vec<(Branch, Act<'r>)>,
}

/// Conntrack's own priority at prerouting and output (NF_IP_PRI_CONNTRACK): a chain of
/// lower priority runs first; one of this priority runs before conntrack when it was
/// registered after it and after it otherwise (a hook of equal priority registered later
/// runs before the earlier ones), which the ruleset does not say.
const CONNTRACK_PRIORITY: i32 = -200;

impl<'r> Run<'_, 'r, '_> {
    fn ruleset(&self) -> &'r Ruleset {
        self.index.ruleset
    }

    /// Run one base chain for one branch; what passes goes to `passed`.
    fn base_chain(
        &mut self,
        t: usize,
        c: usize,
        maybe_seen: bool,
        mut branch: Branch,
        passed: &mut Vec<Branch>,
    ) {
        let table = &self.ruleset().tables[t];
        let chain = &table.chains[c];
        let Some(base) = &chain.base else { return };
        self.tracked = match base.hook {
            Hook::Ingress | Hook::Egress => Tracked::No,
            Hook::Prerouting | Hook::Output => match base.priority.cmp(&CONNTRACK_PRIORITY) {
                std::cmp::Ordering::Less => Tracked::No,
                std::cmp::Ordering::Equal => Tracked::Either,
                std::cmp::Ordering::Greater => Tracked::Yes,
            },
            _ => Tracked::Yes,
        };
        if base.kind == ChainKind::Nat && branch.state.nat_done {
            passed.push(branch);
            return;
        }
        let doubt = if let Dormant::Unclear(_) = table.dormant {
            Some(Reason::Dormant { table: t as u32 })
        } else if maybe_seen {
            Some(Reason::Device {
                table: t as u32,
                chain: c as u32,
            })
        } else {
            None
        };
        if let Some(reason) = doubt {
            // It may not run at all: the packets go on as they came, too.
            branch.doubt_all(reason);
            let mut skipped = branch.clone();
            let ports = skipped.ports.clone();
            skipped.whys.add(&ports, reason);
            passed.push(skipped);
        }
        branch.stack = vec![Frame {
            table: t as u32,
            chain: c as u32,
            next: 0,
            covered: None,
        }];
        let mut work = vec![branch];
        while let Some(branch) = work.pop() {
            self.walk(branch, &mut work, passed);
        }
    }

    /// Follow one branch until it ends, splits (the parts go to `work`) or passes.
    fn walk(&mut self, mut branch: Branch, work: &mut Vec<Branch>, passed: &mut Vec<Branch>) {
        loop {
            let Some(frame) = branch.stack.last().copied() else {
                return;
            };
            let (t, c) = (frame.table as usize, frame.chain as usize);
            let chain = &self.ruleset().tables[t].chains[c];
            // A known destination skips the rules that ask for another one first.
            let frame = match self.skip_to(t, c, frame.next, &branch) {
                Some(next) if next != frame.next => {
                    if let Some(top) = branch.stack.last_mut() {
                        top.next = next;
                    }
                    Frame { next, ..frame }
                }
                _ => frame,
            };
            let Some(rule) = chain.rules.get(frame.next as usize) else {
                if branch.stack.len() > 1 {
                    branch.stack.pop();
                    if frame.covered.is_some() && frame.covered == Some(branch.state.unpinned()) {
                        return;
                    }
                    // Back in the calling chain: the packets that did not jump may be
                    // waiting at the same place.
                    if let Some(waiting) = work.last_mut()
                        && waiting.joins(&branch)
                    {
                        waiting.join(branch);
                        return;
                    }
                    continue;
                }
                let reason = Reason::Policy {
                    table: frame.table,
                    chain: frame.chain,
                };
                match chain.base.as_ref().map_or(Policy::Accept, |b| b.policy) {
                    Policy::Accept => {
                        let ports = branch.ports.clone();
                        branch.whys.add(&ports, reason);
                        passed.push(branch);
                    }
                    Policy::Drop => self.record(End::Drop, Some(reason), branch),
                }
                return;
            };
            let here = Reason::Rule {
                table: frame.table,
                chain: frame.chain,
                rule: frame.next,
            };
            if self.budget == 0 {
                let base = branch.stack[0];
                self.give_up(
                    branch,
                    Reason::Budget {
                        table: base.table,
                        chain: base.chain,
                    },
                    passed,
                );
                return;
            }
            self.budget -= 1;
            if let Some(top) = branch.stack.last_mut() {
                top.next += 1;
            }
            let mut going_on = std::mem::take(&mut self.going_on);
            let mut acted = std::mem::take(&mut self.acted);
            self.rule(t, c, frame.next, rule, branch, &mut going_on, &mut acted);
            merge_in_place(&mut going_on);
            if acted.is_empty() && going_on.len() == 1 {
                // The common case: nothing acted, one branch goes on.
                if let Some(next) = going_on.pop() {
                    self.going_on = going_on;
                    self.acted = acted;
                    branch = next;
                    continue;
                }
            }
            work.append(&mut going_on);
            // The parts acted on are followed first, in the rule's order.
            let mut follow = Vec::new();
            for (piece, act) in acted.drain(..) {
                follow.extend(self.act(piece, act, here, t, passed));
            }
            work.extend(follow.into_iter().rev());
            self.going_on = going_on;
            self.acted = acted;
            return;
        }
    }

    /// The first rule from `next` on that the branch's packets can match (by destination
    /// address, or by port when they are few), or past the end; `None` for a short chain.
    fn skip_to(&self, t: usize, c: usize, next: u32, branch: &Branch) -> Option<u32> {
        let chain = &self.ruleset().tables[t].chains[c];
        if chain.rules.len() < DISPATCH_MIN {
            return None;
        }
        let single;
        let ports = match branch.state.port {
            PortNow::Class => Some(&branch.ports),
            PortNow::To(p) => {
                single = PortSet::single(p);
                Some(&single)
            }
            PortNow::Unknown => None,
        };
        let mut dispatch = self.index.dispatch.borrow_mut();
        let index = dispatch
            .entry((t, c))
            .or_insert_with(|| Dispatch::new(&chain.rules));
        Some(index.next(next, self.class.family, branch.state.daddr, ports))
    }

    /// What one verdict (or NAT, or unreadable action) does with a branch.
    /// Terminal ones are recorded; a branch that goes on walking is returned.
    fn act(
        &mut self,
        mut piece: Branch,
        act: Act<'r>,
        here: Reason,
        t: usize,
        passed: &mut Vec<Branch>,
    ) -> Option<Branch> {
        let Reason::Rule { table, chain, rule } = here else {
            return None;
        };
        match act {
            Act::Drop | Act::Verdict(Verdict::Drop) => self.record(End::Drop, Some(here), piece),
            Act::Nat | Act::Verdict(Verdict::Accept) => {
                let ports = piece.ports.clone();
                piece.whys.prefer(&ports, here);
                passed.push(piece);
            }
            Act::Verdict(Verdict::Continue) => return Some(piece),
            Act::Verdict(Verdict::Return) => {
                if piece.stack.len() > 1 {
                    let popped = piece.stack.pop();
                    if let Some(Frame {
                        covered: Some(hash),
                        ..
                    }) = popped
                        && hash == piece.state.unpinned()
                    {
                        return None;
                    }
                } else if let Some(base) = piece.stack.last_mut() {
                    // `return` in a base chain: its policy, as at its end.
                    base.next = u32::MAX;
                }
                return Some(piece);
            }
            Act::Verdict(Verdict::Jump(target) | Verdict::Goto(target))
            | Act::Covered(Verdict::Jump(target) | Verdict::Goto(target), _) => {
                let covered = match act {
                    Act::Covered(_, hash) => Some(hash),
                    _ => None,
                };
                let Some(&to) = self.index.chains[t].get(target.as_str()) else {
                    self.give_up(piece, Reason::NoChain { table, chain, rule }, passed);
                    return None;
                };
                if piece.stack.len() >= MAX_DEPTH {
                    self.give_up(piece, Reason::Depth { table, chain, rule }, passed);
                    return None;
                }
                let frame = Frame {
                    table,
                    chain: to as u32,
                    next: 0,
                    covered,
                };
                let goto = matches!(
                    act,
                    Act::Verdict(Verdict::Goto(_)) | Act::Covered(Verdict::Goto(_), _)
                );
                if goto && piece.stack.len() > 1 {
                    if let Some(top) = piece.stack.last_mut() {
                        *top = frame;
                    }
                } else {
                    if goto && let Some(base) = piece.stack.last_mut() {
                        // goto from a base chain: its policy still applies after.
                        base.next = u32::MAX;
                    }
                    piece.stack.push(frame);
                }
                return Some(piece);
            }
            // Only jumps are made covered.
            Act::Covered(..) => {}
            Act::Verdict(Verdict::Queue { .. }) | Act::Opaque(_) => {
                // A program, or something unread, decides: dropped or let on, and in a NAT
                // chain rewritten any way.
                let reason = Reason::Rule { table, chain, rule };
                if let Act::Verdict(_) = act {
                    piece.doubt_all(Reason::Queue { table, chain, rule });
                }
                let kind = self.ruleset().tables[t].chains[piece.stack[0].chain as usize]
                    .base
                    .as_ref()
                    .map(|b| b.kind);
                let mut on = piece.clone();
                if let Act::Opaque(what) = act {
                    if kind == Some(ChainKind::Nat) {
                        let label =
                            render::label(self.ruleset(), t, chain as usize, Some(rule as usize));
                        on.state.rewrite.unknown = Some(format!("{label}: {what}").into());
                        on.state.daddr = None;
                        on.state.port = PortNow::Unknown;
                        on.state.local = None;
                        on.state.nat_done = true;
                    }
                    if matches!(self.hook, Hook::Prerouting | Hook::Output) {
                        on.state.mark = None;
                        on.state.rewrite.mark = Some(Mark::Unknown);
                    }
                }
                let ports = on.ports.clone();
                on.whys.prefer(&ports, reason);
                passed.push(on);
                self.record(End::Drop, Some(reason), piece);
            }
        }
        None
    }

    /// A branch at its end, kept for `finish` without its chain stack.
    fn record(&mut self, end: End, why: Option<Reason>, mut branch: Branch) {
        branch.stack = Vec::new();
        self.raw.push(RawFate { end, why, branch });
    }

    /// Neither way can be followed further: dropped or let on, both only possible.
    fn give_up(&mut self, mut branch: Branch, reason: Reason, passed: &mut Vec<Branch>) {
        branch.doubt_all(reason);
        let ports = branch.ports.clone();
        let mut on = branch.clone();
        on.whys.prefer(&ports, reason);
        passed.push(on);
        self.record(End::Drop, Some(reason), branch);
    }

    fn packet(&self, state: &State) -> Packet<'_> {
        Packet {
            hook: self.hook,
            family: self.class.family,
            protocol: self.class.protocol,
            iif: self.class.iif,
            oif: self.class.oif,
            daddr: state.daddr,
            // A NAT or a rule that could have changed the address leaves the class's
            // prefix behind.
            dnet: self.class.dnet.filter(|_| {
                state.daddr.is_none()
                    && state.rewrite.nat.is_none()
                    && state.rewrite.unknown.is_none()
            }),
            port: state.port,
            mark: state.mark,
            ct_mark: state.ct_mark,
            local: state.local,
            dnat: state.dnat,
            tracked: self.tracked,
        }
    }

    fn values(&self, t: usize, state: &State, key: &Key) -> Vec<Value> {
        let packet = self.packet(state);
        let family = self.ruleset().tables[t].family;
        key.parts.iter().map(|l| packet.load(family, l)).collect()
    }

    /// Run one rule on a branch: the branches that go on to the next rule (pushed to
    /// `going_on`), and the parts a verdict (or NAT, or something unread) acted on
    /// (pushed to `acted`).
    #[allow(clippy::too_many_arguments)]
    fn rule(
        &mut self,
        t: usize,
        c: usize,
        r: u32,
        rule: &'r Rule,
        mut on: Branch,
        going_on: &mut Vec<Branch>,
        acted: &mut Vec<(Branch, Act<'r>)>,
    ) {
        let step_reason = |step: usize, key_only: bool| Reason::Step {
            table: t as u32,
            chain: c as u32,
            rule: r,
            step: step as u32,
            key_only,
        };
        // Once a match pins the destination (the class not knowing it), the packets that
        // leave the rule after it are already going on unpinned (the match was a maybe),
        // unless a statement changed them since: they need not go on twice.
        let mut pinned_here = false;
        fn going(going_on: &mut Vec<Branch>, piece: Branch, pinned_here: bool) {
            if !pinned_here {
                going_on.push(piece);
            }
        }
        for (i, step) in rule.steps.iter().enumerate() {
            match step {
                Step::Match(m) => {
                    let (outcome, key_only, pin) = self.test(t, &on, m);
                    let reason = step_reason(i, key_only);
                    match outcome {
                        Outcome::All(Tri::Yes) => {}
                        Outcome::All(Tri::No) => {
                            going(going_on, on, pinned_here);
                            return;
                        }
                        Outcome::All(Tri::Maybe) => {
                            if !pinned_here {
                                going_on.push(on.clone().doubted(reason));
                            }
                            on.doubt_all(reason);
                        }
                        Outcome::Split { yes, maybe } => {
                            let passing = yes.union(&maybe);
                            let no = on.ports.subtract(&passing);
                            // (Not even built once pinned: see `pinned_here`.)
                            if !no.is_empty() && !pinned_here {
                                going_on.push(on.part(&no));
                            }
                            if !maybe.is_empty() && !pinned_here {
                                going_on.push(on.part(&maybe).doubted(reason));
                            }
                            on.restrict(&passing);
                            on.doubt(&maybe, reason);
                            if on.ports.is_empty() {
                                return;
                            }
                        }
                    }
                    if let Some(address) = pin {
                        on.state.daddr = Some(address);
                        on.state.pinned.get_or_insert(address);
                        pinned_here = true;
                    }
                }
                Step::Condition(_) => {
                    let reason = step_reason(i, false);
                    if !pinned_here {
                        going_on.push(on.clone().doubted(reason));
                    }
                    on.doubt_all(reason);
                }
                Step::Opaque(what) => {
                    let reason = step_reason(i, false);
                    on.doubt_all(reason);
                    if !pinned_here {
                        going_on.push(on.clone());
                    }
                    acted.push((on.clone(), Act::Opaque(what)));
                }
                Step::Statement(statement) => match statement {
                    Statement::Verdict(verdict) => {
                        let act = match verdict {
                            Verdict::Jump(_) if pinned_here => {
                                Act::Covered(verdict, on.state.unpinned())
                            }
                            _ => Act::Verdict(verdict),
                        };
                        acted.push((on, act));
                        return;
                    }
                    Statement::VerdictMap { key, map } => {
                        let reason = step_reason(i, false);
                        let lookups = self.lookup(t, &on, key, map, reason);
                        if !pinned_here {
                            going_on.extend(lookups.missed);
                        }
                        for (piece, data) in lookups.found {
                            let act = match data {
                                Some(Data::Verdict(v)) => Act::Verdict(v),
                                _ => Act::Opaque("a verdict map's data"),
                            };
                            acted.push((piece, act));
                        }
                        return;
                    }
                    Statement::Reject(_) => {
                        acted.push((on, Act::Drop));
                        return;
                    }
                    Statement::Nat(nat) => {
                        let nat: &'r Nat = nat;
                        let reason = step_reason(i, false);
                        let (done, missed) = self.nat(t, c, r, on, nat, reason);
                        if !pinned_here {
                            going_on.extend(missed);
                        }
                        acted.extend(done.into_iter().map(|b| (b, Act::Nat)));
                        return;
                    }
                    Statement::Tproxy(tproxy) => {
                        let Tproxy {
                            family,
                            address,
                            port,
                        } = &**tproxy;
                        if family.is_some_and(|f| !same_family(f, self.class.family)) {
                            going(going_on, on, pinned_here);
                            return;
                        }
                        // Without a transparent socket there the rule stops: both ways.
                        let reason = Reason::Tproxy {
                            table: t as u32,
                            chain: c as u32,
                            rule: r,
                        };
                        on.doubt_all(reason);
                        if !pinned_here {
                            going_on.push(on.clone());
                        }
                        pinned_here = false;
                        let const_of = |operand: &Option<Operand>| match operand {
                            Some(Operand::Const(bytes)) => Some(Some(bytes.clone())),
                            None => Some(None),
                            _ => None,
                        };
                        let tproxy = match (const_of(address), const_of(port)) {
                            (Some(address), Some(port)) => Some(TproxyTo {
                                address: address.and_then(|b| ip_of(&b)),
                                port: port
                                    .and_then(|b| <[u8; 2]>::try_from(&*b).ok())
                                    .map(u16::from_be_bytes),
                            }),
                            _ => None,
                        };
                        match tproxy {
                            Some(to) => on.state.rewrite.tproxy = Some(to),
                            None => {
                                on.state.rewrite.unknown =
                                    Some("tproxy to an address the model cannot read".into())
                            }
                        }
                    }
                    Statement::Set { field, value } => {
                        // A value looked up in a map: a key the map lacks ends the rule
                        // there (NFT_BREAK), which the packet's source may decide.
                        if let Operand::Map { .. } = &**value {
                            let reason = step_reason(i, false);
                            going(going_on, on.clone().doubted(reason), pinned_here);
                            on.doubt_all(reason);
                        }
                        self.set(t, &mut on, field, value);
                        pinned_here = false;
                    }
                    Statement::Effect(_) => {}
                },
            }
        }
        // Through every step without a verdict: on to the next rule.
        going(going_on, on, pinned_here);
    }

    /// `meta mark set`, `ct mark set`, a header field set.
    fn set(&self, t: usize, on: &mut Branch, field: &Field, value: &Operand) {
        let known = |this: &Self, on: &Branch| -> Option<u32> {
            let bytes = this.operand_value(t, &on.state, value)?;
            Some(u32::from_ne_bytes(<[u8; 4]>::try_from(&*bytes).ok()?))
        };
        match field {
            Field::Meta(MetaKey::Mark) => {
                let mark = known(self, on);
                on.state.mark = mark;
                on.state.rewrite.mark = Some(mark.map_or(Mark::Unknown, Mark::Set));
            }
            Field::Ct {
                key: CtKey::Mark, ..
            } => on.state.ct_mark = known(self, on),
            Field::Payload { base, offset } => {
                match (base, offset) {
                    (PayloadBase::Transport, 0..=3) => on.state.port = PortNow::Unknown,
                    (PayloadBase::Network, _) => {
                        on.state.daddr = None;
                        on.state.local = None;
                    }
                    _ => {}
                }
                on.state.rewrite.unknown = Some("a header field set by a rule".into());
            }
            _ => {}
        }
    }

    /// The bytes an operand gives, when all known (a constant, a loaded value known).
    fn operand_value(&self, t: usize, state: &State, operand: &Operand) -> Option<Box<[u8]>> {
        match operand {
            Operand::Const(bytes) => Some(bytes.clone()),
            Operand::Load(key) => {
                let values = self.values(t, state, key);
                match values.as_slice() {
                    [Value::Bits(bits)] => bits.value().map(Box::from),
                    _ => None,
                }
            }
            Operand::Map { .. } | Operand::Unknown(_) => None,
        }
    }

    /// A map lookup: the parts of the branch each element takes (with its data), and the
    /// parts no element takes (the rule stops there).
    fn lookup<'e>(
        &self,
        t: usize,
        on: &Branch,
        key: &Key,
        map: &'e Elements,
        reason: Reason,
    ) -> Lookups<'e>
    where
        'r: 'e,
    {
        let values = self.values(t, &on.state, key);
        let (elements, complete) = self.index.elements(t, map);
        let mut found = Vec::new();
        let mut taken = PortSet::empty();
        let mut maybe_taken = PortSet::empty();
        if !values.contains(&Value::Absent) {
            for element in elements {
                let hit = element_hit(&values, element);
                if hit.tri == Tri::No {
                    continue;
                }
                let (yes, maybe) = hit.split(&on.ports);
                let (yes, maybe) = if complete {
                    (yes, maybe)
                } else {
                    (PortSet::empty(), yes.union(&maybe))
                };
                if !yes.is_empty() {
                    found.push((on.part(&yes), element.data.as_ref()));
                    taken = taken.union(&yes);
                }
                if !maybe.is_empty() {
                    let mut piece = on.part(&maybe).doubted(reason);
                    if let Some(address) = hit.daddr {
                        piece.state.daddr = Some(address);
                        piece.state.pinned.get_or_insert(address);
                    }
                    found.push((piece, element.data.as_ref()));
                    maybe_taken = maybe_taken.union(&maybe);
                }
            }
        }
        let mut missed = Vec::new();
        let no = on.ports.subtract(&taken.union(&maybe_taken));
        if !no.is_empty() {
            missed.push(if complete {
                on.part(&no)
            } else {
                on.part(&no).doubted(reason)
            });
        }
        let maybe_missed = maybe_taken.subtract(&taken);
        if !maybe_missed.is_empty() {
            missed.push(on.part(&maybe_missed).doubted(reason));
        }
        Lookups { found, missed }
    }

    /// A match: where it holds among the branch's ports, whether nothing at all is known
    /// of its key, and the destination address it pins when the class did not know it.
    fn test(&self, t: usize, on: &Branch, m: &Match) -> (Outcome, bool, Option<IpAddr>) {
        let values = self.values(t, &on.state, &m.key);
        let key_only = values.iter().all(Value::opaque);
        if values.contains(&Value::Absent) {
            // The kernel could not load it: the rule stops, whatever the operator.
            return (Outcome::All(Tri::No), false, None);
        }
        match &m.test {
            Test::Equal { negate, value } => {
                let hit = match values.as_slice() {
                    [one] => one.equal(value),
                    _ => Hit {
                        tri: Tri::Maybe,
                        ports: None,
                        daddr: None,
                    },
                };
                let pin = hit.daddr.filter(|_| hit.tri == Tri::Maybe && !*negate);
                let mut result = outcome(&[hit], &on.ports);
                if *negate {
                    result = result.not(&on.ports);
                }
                (result, key_only, pin)
            }
            Test::Compare { op, value } => {
                let hit = match values.as_slice() {
                    [one] => one.order(*op, value),
                    _ => Hit {
                        tri: Tri::Maybe,
                        ports: None,
                        daddr: None,
                    },
                };
                (outcome(&[hit], &on.ports), key_only, None)
            }
            Test::Member { negate, elements } => {
                let (elements, complete) = self.index.elements(t, elements);
                let mut hits: Vec<Hit> = Vec::new();
                for element in elements {
                    let hit = element_hit(&values, element);
                    match (hit.tri, hit.ports) {
                        (Tri::No, _) => {}
                        (Tri::Yes, None) => {
                            hits.clear();
                            hits.push(hit);
                            break;
                        }
                        _ => hits.push(hit),
                    }
                }
                let mut result = outcome(&hits, &on.ports);
                if !complete {
                    // Its contents change from the packet path, or were not all read.
                    return (Outcome::All(Tri::Maybe), key_only, None);
                }
                let pin = match (&hits[..], *negate) {
                    ([one], false) if one.tri == Tri::Maybe => one.daddr,
                    _ => None,
                };
                if *negate {
                    result = result.not(&on.ports);
                }
                (result, key_only, pin)
            }
        }
    }

    /// A DNAT or redirect: the parts of the branch it maps (their state rewritten), and the
    /// parts a map in it has no element for (the rule stops there).
    fn nat(
        &mut self,
        t: usize,
        c: usize,
        r: u32,
        on: Branch,
        nat: &'r Nat,
        reason: Reason,
    ) -> (Vec<Branch>, Vec<Branch>) {
        let rule_label = self.index.label(t, c, r as usize);
        match nat.kind {
            NatKind::Snat | NatKind::Masquerade => return (vec![on], Vec::new()),
            NatKind::Dnat | NatKind::Redirect => {}
        }
        if let Some(family) = nat.family
            && !same_family(family, self.class.family)
        {
            // `dnat ip to` for an IPv6 packet in an inet table: the kernel's
            // nft_nat_inet_eval does nothing and sets no verdict, so the rule goes on and
            // the chain after it (a `dnat ip6 to` next applies; measured by the verdicts
            // differential: delivered at the ip6 rule's target).
            return (Vec::new(), vec![on]);
        }
        // Each operand may be a map: split the branch by its elements, address first.
        let mut missed = Vec::new();
        let mut done = Vec::new();
        for (piece, address) in self.range_operand(t, on, nat.address.as_ref(), reason, &mut missed)
        {
            for (mut piece, port) in
                self.range_operand(t, piece, nat.port.as_ref(), reason, &mut missed)
            {
                let address = match (nat.kind, address.clone()) {
                    (NatKind::Redirect, _) => NatAddress::Interface,
                    (_, Resolved::Absent) => NatAddress::Same,
                    (_, Resolved::Known(min, max)) => {
                        match (ip_of(&min), max.as_deref().map(ip_of)) {
                            (Some(a), None) => NatAddress::To(a, a),
                            (Some(a), Some(Some(b))) => NatAddress::To(a, b),
                            _ => NatAddress::Unknown("an address of an odd length".into()),
                        }
                    }
                    (_, Resolved::Unknown(what)) => NatAddress::Unknown(what),
                };
                let ports = match port {
                    Resolved::Absent => None,
                    Resolved::Known(min, max) => {
                        let p = |b: &[u8]| <[u8; 2]>::try_from(b).ok().map(u16::from_be_bytes);
                        match (p(&min), max.as_deref().map(p)) {
                            (Some(a), None) => Some(Some((a, a))),
                            (Some(a), Some(Some(b))) => Some(Some((a, b))),
                            _ => Some(None),
                        }
                    }
                    Resolved::Unknown(_) => Some(None),
                };
                let state = &mut piece.state;
                state.port = match ports {
                    None => state.port,
                    Some(Some((a, b))) if a == b => PortNow::To(a),
                    Some(_) => PortNow::Unknown,
                };
                match &address {
                    NatAddress::Interface => {
                        state.daddr = None;
                        state.local = Some(true);
                    }
                    NatAddress::Same => {}
                    NatAddress::To(a, b) if a == b => {
                        state.daddr = in_family(*a, self.class.family);
                        state.local = None;
                    }
                    _ => {
                        state.daddr = None;
                        state.local = None;
                    }
                }
                state.dnat = true;
                state.nat_done = true;
                state.rewrite.nat = Some(NatTo {
                    address,
                    ports: ports.flatten(),
                    rule: rule_label.clone(),
                });
                if ports == Some(None) {
                    state.rewrite.unknown =
                        Some(format!("{rule_label}: a NAT to ports the model cannot read").into());
                }
                done.push(piece);
            }
        }
        (done, missed)
    }

    /// An operand range of a NAT for a branch: per part of the branch, its bytes (min and
    /// max), absent, or not known.
    fn range_operand(
        &self,
        t: usize,
        on: Branch,
        operand: Option<&'r OperandRange>,
        reason: Reason,
        missed: &mut Vec<Branch>,
    ) -> Vec<(Branch, Resolved)> {
        let Some(range) = operand else {
            return vec![(on, Resolved::Absent)];
        };
        let max = range
            .max
            .as_ref()
            .map(|m| self.operand_value(t, &on.state, m));
        let resolved = |min: Option<Box<[u8]>>, what: &str| match (min, &max) {
            (Some(min), None) => Resolved::Known(min, None),
            (Some(min), Some(Some(max))) => Resolved::Known(min, Some(max.clone())),
            _ => Resolved::Unknown(format!("the dnat address is {what}").into()),
        };
        match &range.min {
            Operand::Map { key, map } => {
                let lookups = self.lookup(t, &on, key, map, reason);
                missed.extend(lookups.missed);
                lookups
                    .found
                    .into_iter()
                    .map(|(piece, data)| {
                        let value = match data {
                            Some(Data::Value(bytes)) => Some(bytes.clone()),
                            _ => None,
                        };
                        (piece, resolved(value, "a map's element"))
                    })
                    .collect()
            }
            Operand::Unknown(what) => vec![(on, Resolved::Unknown(what.as_str().into()))],
            other => {
                let value = self.operand_value(t, &on.state, other);
                vec![(on, resolved(value, "a value taken from the packet"))]
            }
        }
    }

    /// The fates, rendered: split by the reasons their ports carry, alike ones joined.
    fn finish(self) -> Vec<Fate> {
        let mut fates = Fates::default();
        let class_daddr = self.class.daddr;
        for raw in &self.raw {
            let branch = &raw.branch;
            if branch.ports.is_empty() {
                continue;
            }
            let whys: Vec<(PortSet, Reason)> = match raw.why {
                Some(reason) => vec![(branch.ports.clone(), reason)],
                None => {
                    let mut whys = branch.whys.clone();
                    // Every pass has its reason; should one be missing, the hook's.
                    whys.add(&branch.ports, Reason::Hook);
                    whys.0
                }
            };
            let daddr = branch.state.pinned.filter(|_| class_daddr.is_none());
            for (why_ports, why) in whys {
                let why_text = self.index.text(self.hook, why);
                let mut rest = why_ports.clone();
                for (doubt_ports, doubt) in &branch.doubts.0 {
                    let ports = why_ports.intersect(doubt_ports);
                    if ports.is_empty() {
                        continue;
                    }
                    rest = rest.subtract(&ports);
                    let doubt_text = self.index.text(self.hook, *doubt);
                    fates.push(Fate {
                        ports,
                        end: raw.end,
                        rewrite: branch.state.rewrite.clone(),
                        certain: false,
                        why: why_text.clone(),
                        doubt: Some(doubt_text),
                        doubt_kind: Some(match doubt {
                            Reason::Tproxy { .. } => DoubtKind::Tproxy,
                            _ => DoubtKind::Other,
                        }),
                        daddr,
                    });
                }
                if !rest.is_empty() {
                    fates.push(Fate {
                        ports: rest,
                        end: raw.end,
                        rewrite: branch.state.rewrite.clone(),
                        certain: daddr.is_none(),
                        why: why_text,
                        doubt: None,
                        doubt_kind: None,
                        daddr,
                    });
                }
            }
        }
        fates.list
    }
}

/// The fates, each joined to an alike one (all but the ports) as it comes. Found by a
/// hash of what makes them alike and compared in place: thousands of fates per class on a
/// Kubernetes node, and a copied key each (two texts, a rewrite) was a cost of its own.
#[derive(Default)]
struct Fates {
    list: Vec<Fate>,
    /// The first fate of each hash; `next` chains the others of that hash.
    first: FastMap<u64, usize>,
    next: Vec<Option<usize>>,
}

/// All but the ports alike.
fn alike(a: &Fate, b: &Fate) -> bool {
    a.end == b.end
        && a.certain == b.certain
        && a.why == b.why
        && a.doubt == b.doubt
        && a.doubt_kind == b.doubt_kind
        && a.daddr == b.daddr
        && a.rewrite == b.rewrite
}

impl Fates {
    fn push(&mut self, fate: Fate) {
        let hash = hash_of(&(
            fate.end,
            fate.certain,
            &*fate.why,
            fate.doubt.as_deref(),
            fate.doubt_kind,
            fate.daddr,
            &fate.rewrite,
        ));
        let mut at = self.first.get(&hash).copied();
        let mut last = None;
        while let Some(i) = at {
            if alike(&self.list[i], &fate) {
                let into = &mut self.list[i];
                into.ports = into.ports.union(&fate.ports);
                return;
            }
            last = Some(i);
            at = self.next[i];
        }
        let new = self.list.len();
        match last {
            Some(i) => self.next[i] = Some(new),
            None => {
                self.first.insert(hash, new);
            }
        }
        self.list.push(fate);
        self.next.push(None);
    }
}

fn render_reason(ruleset: &Ruleset, hook: Hook, reason: Reason) -> String {
    let label = |t: u32, c: u32, r: Option<u32>| {
        render::label(ruleset, t as usize, c as usize, r.map(|r| r as usize))
    };
    let rule =
        |t: u32, c: u32, r: u32| &ruleset.tables[t as usize].chains[c as usize].rules[r as usize];
    match reason {
        Reason::Rule {
            table,
            chain,
            rule: r,
        } => format!(
            "{}: {}",
            label(table, chain, Some(r)),
            render::rule(&ruleset.tables[table as usize], rule(table, chain, r))
        ),
        Reason::Policy { table, chain } => {
            let policy = ruleset.tables[table as usize].chains[chain as usize]
                .base
                .as_ref()
                .map_or(Policy::Accept, |b| b.policy);
            let policy = match policy {
                Policy::Accept => "accept",
                Policy::Drop => "drop",
            };
            format!("{}: policy {policy}", label(table, chain, None))
        }
        Reason::Step {
            table,
            chain,
            rule: r,
            step,
            key_only,
        } => format!(
            "{}: {} cannot be evaluated",
            label(table, chain, Some(r)),
            render::step(
                &ruleset.tables[table as usize],
                rule(table, chain, r),
                step as usize,
                key_only
            )
        ),
        Reason::Dormant { table } => {
            let t = &ruleset.tables[table as usize];
            let flags = match &t.dormant {
                Dormant::Unclear(flags) => flags.as_str(),
                _ => "",
            };
            format!(
                "table {} {} has flags portaudit cannot read ({flags}): it may be dormant",
                t.family.name(),
                t.name
            )
        }
        Reason::Device { table, chain } => format!(
            "{}: bound to devices, and the {} interface is not known",
            label(table, chain, None),
            if hook == Hook::Egress {
                "output"
            } else {
                "input"
            }
        ),
        Reason::Budget { table, chain } => format!(
            "{}: too many ways through the rules to evaluate",
            label(table, chain, None)
        ),
        Reason::Depth { table, chain, rule } => format!(
            "{}: jumps nest deeper than {MAX_DEPTH}",
            label(table, chain, Some(rule))
        ),
        Reason::NoChain { table, chain, rule } => format!(
            "{}: jumps to a chain that is not there",
            label(table, chain, Some(rule))
        ),
        Reason::Hook => format!("{} hook: nothing decided", hook.name()),
        Reason::Queue { table, chain, rule } => format!(
            "{}: queue, where a program decides",
            label(table, chain, Some(rule))
        ),
        Reason::Tproxy { table, chain, rule } => format!(
            "{}: tproxy, which goes on only where a transparent socket takes the packet",
            label(table, chain, Some(rule))
        ),
    }
}

/// Found elements of a map lookup (their data), and the parts no element takes.
struct Lookups<'e> {
    found: Vec<(Branch, Option<&'e Data>)>,
    missed: Vec<Branch>,
}

/// An operand as resolved for one part of a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolved {
    /// Not in the statement (the address or port is kept).
    Absent,
    Known(Box<[u8]>, Option<Box<[u8]>>),
    Unknown(Arc<str>),
}

/// A test's answer for a branch: the same for all its ports, or split by port.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    All(Tri),
    Split { yes: PortSet, maybe: PortSet },
}

impl Outcome {
    fn not(self, universe: &PortSet) -> Outcome {
        match self {
            Outcome::All(tri) => Outcome::All(tri.not()),
            Outcome::Split { yes, maybe } => Outcome::Split {
                yes: universe.subtract(&yes).subtract(&maybe),
                maybe,
            },
        }
    }
}

/// Any of the hits: yes where one is, maybe where one may be.
fn outcome(hits: &[Hit], universe: &PortSet) -> Outcome {
    let mut all = Tri::No;
    let (mut yes, mut maybe) = (Vec::new(), Vec::new());
    for hit in hits {
        match (hit.tri, hit.ports) {
            (Tri::No, _) => {}
            (Tri::Yes, None) => return Outcome::All(Tri::Yes),
            (Tri::Maybe, None) => all = Tri::Maybe,
            (Tri::Yes, Some(range)) => yes.push(range),
            (Tri::Maybe, Some(range)) => maybe.push(range),
        }
    }
    if yes.is_empty() && maybe.is_empty() {
        return Outcome::All(all);
    }
    let yes = PortSet::from_ranges(yes).intersect(universe);
    let maybe = if all == Tri::Maybe {
        universe.clone()
    } else {
        PortSet::from_ranges(maybe).intersect(universe)
    }
    .subtract(&yes);
    if yes == *universe {
        return Outcome::All(Tri::Yes);
    }
    if yes.is_empty() && maybe.is_empty() {
        return Outcome::All(Tri::No);
    }
    Outcome::Split { yes, maybe }
}

fn element_hit(values: &[Value], e: &Element) -> Hit {
    element(values, &e.key)
}

fn same_family(nat: NatFamily, family: Family) -> bool {
    matches!(
        (nat, family),
        (NatFamily::Ipv4, Family::Ipv4) | (NatFamily::Ipv6, Family::Ipv6)
    )
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// An address as a packet of `family` carries it: an IPv4 address in an IPv6 packet is
/// IPv4-mapped; an IPv6 one in an IPv4 packet only when it maps one.
fn in_family(address: IpAddr, family: Family) -> Option<IpAddr> {
    match (address, family) {
        (IpAddr::V4(_), Family::Ipv4) | (IpAddr::V6(_), Family::Ipv6) => Some(address),
        (IpAddr::V4(a), Family::Ipv6) => Some(IpAddr::V6(a.to_ipv6_mapped())),
        (IpAddr::V6(a), Family::Ipv4) => a.to_ipv4_mapped().map(IpAddr::V4),
    }
}
