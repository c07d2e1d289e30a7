//! A small random grammar of nftables rulesets for the kernel-truth differential, over
//! the lab's world (its interfaces, addresses and ports, see `verdicts.rs`): tables of
//! the ip, ip6 and inet families, some dormant; filter chains on the input, forward and
//! prerouting hooks at several priorities with either policy; regular chains reached by
//! jump, goto and vmaps; nat prerouting chains with DNATs to the app namespace and
//! redirects. Rules match ports (single, ranges, negated, anonymous and named sets,
//! interval sets), layer 4 protocols, addresses of both families, interface names (exact,
//! wildcards, escaped `*` which is a literal), ct state, and end in accept, drop, the
//! reject types, jumps, gotos, returns and vmaps.
//!
//! Every rule carries the names of the features it uses (`tags`), so that a disagreement
//! reduced to a minimal ruleset says which feature it is about.
//!
//! Seeded: the same seed gives the same ruleset.

use std::fmt::Write;

/// splitmix64: small, seedable, and the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seed of ruleset `index` of the run seeded `seed`.
pub fn ruleset_seed(seed: u64, index: usize) -> u64 {
    Rng::new(seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d)).next_u64()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ip,
    Ip6,
    Inet,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
        }
    }

    fn v4(self) -> bool {
        self != Family::Ip6
    }

    fn v6(self) -> bool {
        self != Family::Ip
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
        }
    }
}

/// One rule line and the features it uses.
#[derive(Debug, Clone)]
pub struct Rule {
    pub text: String,
    pub tags: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Chain {
    pub name: String,
    /// `type filter hook input priority 0; policy drop;` for a base chain.
    pub head: Option<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub dormant: bool,
    /// Named sets and maps, as declared (rules refer to them; never removed).
    pub sets: Vec<String>,
    pub chains: Vec<Chain>,
}

#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub tables: Vec<Table>,
}

/// A part of a ruleset that the minimizer may take away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Table(usize),
    Dormant(usize),
    /// Every rule of a chain.
    Chain(usize, usize),
    Rule(usize, usize, usize),
}

impl Ruleset {
    /// nft's input: `flush ruleset`, then the tables.
    pub fn render(&self) -> String {
        let mut out = String::from("flush ruleset\n");
        for table in &self.tables {
            let _ = writeln!(out, "table {} {} {{", table.family.name(), table.name);
            if table.dormant {
                out.push_str("\tflags dormant\n");
            }
            for set in &table.sets {
                let _ = writeln!(out, "\t{set}");
            }
            for chain in &table.chains {
                let _ = writeln!(out, "\tchain {} {{", chain.name);
                if let Some(head) = &chain.head {
                    let _ = writeln!(out, "\t\t{head}");
                }
                for rule in &chain.rules {
                    let _ = writeln!(out, "\t\t{}", rule.text);
                }
                out.push_str("\t}\n");
            }
            out.push_str("}\n");
        }
        out
    }

    /// Every feature the ruleset uses.
    pub fn tags(&self) -> Vec<&'static str> {
        let mut tags: Vec<&'static str> = Vec::new();
        for table in &self.tables {
            if table.dormant {
                tags.push("dormant");
            }
            for chain in &table.chains {
                if chain.head.as_deref().is_some_and(|h| h.contains("drop;")) {
                    tags.push("policy-drop");
                }
                for rule in &chain.rules {
                    tags.extend(rule.tags.iter().copied());
                }
            }
        }
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// What the minimizer may try to take away, biggest first.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts: Vec<Part> = (0..self.tables.len()).map(Part::Table).collect();
        for (t, table) in self.tables.iter().enumerate() {
            if table.dormant {
                parts.push(Part::Dormant(t));
            }
            for (c, chain) in table.chains.iter().enumerate() {
                if chain.rules.len() > 1 {
                    parts.push(Part::Chain(t, c));
                }
            }
        }
        for (t, table) in self.tables.iter().enumerate() {
            for (c, chain) in table.chains.iter().enumerate() {
                parts.extend((0..chain.rules.len()).map(|r| Part::Rule(t, c, r)));
            }
        }
        parts
    }

    /// This ruleset without `part`.
    pub fn without(&self, part: Part) -> Ruleset {
        let mut copy = self.clone();
        match part {
            Part::Table(t) => {
                copy.tables.remove(t);
            }
            Part::Dormant(t) => copy.tables[t].dormant = false,
            Part::Chain(t, c) => copy.tables[t].chains[c].rules.clear(),
            Part::Rule(t, c, r) => {
                copy.tables[t].chains[c].rules.remove(r);
            }
        }
        copy
    }

    /// This ruleset without every rule that uses `tag` (for `dormant`: no table dormant).
    pub fn without_tag(&self, tag: &str) -> Ruleset {
        let mut copy = self.clone();
        for table in &mut copy.tables {
            if tag == "dormant" {
                table.dormant = false;
            }
            for chain in &mut table.chains {
                chain.rules.retain(|r| !r.tags.contains(&tag));
            }
        }
        copy
    }

    pub fn rule_count(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum()
    }
}

/// The lab's world, as the grammar sees it: what rules can name.
pub struct World {
    /// The host's interface facing the outside client, and the one facing the app.
    pub outside_if: &'static str,
    pub app_if: &'static str,
    /// Ports of the host's own listeners, of the app's, and the host ports DNAT-ed to
    /// the app's (`dnat_ports[i]` → `app_ports[i]`).
    pub host_ports: Vec<u16>,
    pub app_ports: Vec<u16>,
    pub dnat_ports: Vec<u16>,
    /// The host port redirected to `host_ports[0]`.
    pub redirect_port: u16,
    pub app_v4: &'static str,
    pub app_v6: &'static str,
    pub addresses_v4: &'static [&'static str],
    pub addresses_v6: &'static [&'static str],
    pub sources_v4: &'static [&'static str],
    pub sources_v6: &'static [&'static str],
    /// Rule lines from nftables' own tests (a family, a hook, the line), given a verdict
    /// here; empty unless a corpus was named.
    pub corpus: Vec<CorpusRule>,
}

#[derive(Debug, Clone)]
pub struct CorpusRule {
    pub family: Family,
    pub hook: Hook,
    pub text: String,
}

/// What the generator is building: for naming sets and chains uniquely.
struct Build<'a> {
    world: &'a World,
    rng: Rng,
    family: Family,
    sets: Vec<String>,
    set_names: usize,
    /// The rule being built matches IPv4 (true) or IPv6 (false) only.
    l3: Option<bool>,
    /// The priority of the base chain whose rules (or whose regular chains' rules) are
    /// being built.
    prio: i32,
}

/// A random ruleset from `seed`.
pub fn generate(world: &World, seed: u64) -> Ruleset {
    let mut rng = Rng::new(seed);
    let count = 1 + rng.below(3);
    let mut ruleset = Ruleset::default();
    for t in 0..count {
        let family = *rng.pick(&[Family::Ip, Family::Ip6, Family::Inet, Family::Inet]);
        let mut build = Build {
            world,
            rng: Rng::new(rng.next_u64()),
            family,
            sets: Vec::new(),
            set_names: 0,
            l3: None,
            prio: 0,
        };
        let table = build.table(&format!("t{t}"));
        ruleset.tables.push(table);
    }
    ruleset
}

impl Build<'_> {
    fn table(&mut self, name: &str) -> Table {
        let dormant = self.rng.chance(8);
        let mut chains = Vec::new();
        let hooks = 1 + self.rng.below(3);
        for b in 0..hooks {
            let hook = *self.rng.pick(&[
                Hook::Input,
                Hook::Input,
                Hook::Input,
                Hook::Forward,
                Hook::Forward,
                Hook::Prerouting,
            ]);
            let prio = *self
                .rng
                .pick(&[-300i32, -200, -150, -101, -99, -1, 0, 0, 0, 10, 100]);
            self.prio = prio;
            let policy = if self.rng.chance(35) {
                "drop"
            } else {
                "accept"
            };
            let base = format!("b{b}");
            // Regular chains this base chain reaches, named after it; a regular chain
            // reaches only later ones (nft refuses loops).
            let regular = self.rng.below(3);
            let targets: Vec<String> = (0..regular).map(|r| format!("{base}r{r}")).collect();
            let count = 1 + self.rng.below(6);
            let rules = self.rules(hook, count, &targets, false);
            chains.push(Chain {
                name: base.clone(),
                head: Some(format!(
                    "type filter hook {} priority {prio}; policy {policy};",
                    hook.name()
                )),
                rules,
            });
            for (r, name) in targets.iter().enumerate() {
                let count = 1 + self.rng.below(4);
                let rules = self.rules(hook, count, &targets[r + 1..], true);
                chains.push(Chain {
                    name: name.clone(),
                    head: None,
                    rules,
                });
            }
        }
        if self.rng.chance(55) {
            chains.push(self.nat_chain());
        }
        Table {
            family: self.family,
            name: name.into(),
            dormant,
            sets: std::mem::take(&mut self.sets),
            chains,
        }
    }

    /// `count` rules for a chain on `hook` that may jump to `targets`.
    fn rules(&mut self, hook: Hook, count: usize, targets: &[String], regular: bool) -> Vec<Rule> {
        let mut rules = Vec::new();
        for _ in 0..count {
            if !self.world.corpus.is_empty()
                && self.rng.chance(30)
                && let Some(rule) = self.corpus_rule(hook)
            {
                rules.push(rule);
                continue;
            }
            rules.push(self.rule(hook, targets, regular));
        }
        rules
    }

    /// A rule line of nftables' own tests for this family and hook, given a verdict.
    fn corpus_rule(&mut self, hook: Hook) -> Option<Rule> {
        let family = self.family;
        let fitting: Vec<&CorpusRule> = self
            .world
            .corpus
            .iter()
            .filter(|c| c.family == family && c.hook == hook)
            .collect();
        if fitting.is_empty() {
            return None;
        }
        let line = fitting[self.rng.below(fitting.len())].text.clone();
        let verdict = self.verdict(&[], false, &mut Vec::new());
        let text = if ends_in_verdict(&line) {
            line
        } else {
            format!("{line} {verdict}")
        };
        let mut tags = vec!["corpus"];
        tags.extend(text_tags(&text, family, self.prio));
        Some(Rule { text, tags })
    }

    fn rule(&mut self, hook: Hook, targets: &[String], regular: bool) -> Rule {
        let mut tags = Vec::new();
        let mut parts: Vec<String> = Vec::new();
        // The layer 4 protocol the matches so far imply (for `reject with tcp reset`);
        // `th` when they allow either.
        let mut l4: Option<&'static str> = None;
        self.l3 = None;
        let matches = self.rng.below(4);
        for _ in 0..matches {
            let (text, implied) = self.matcher(hook, l4, &mut tags);
            if implied.is_some() {
                l4 = implied;
            }
            parts.push(text);
        }
        // A vmap ends the rule itself.
        if self.rng.chance(10) {
            parts.push(self.vmap(targets, l4, &mut tags));
        } else {
            // nft refuses a reset after a match that allows UDP as well.
            let tcp_ok = l4 != Some("udp") && l4 != Some("th");
            let verdict = self.verdict(targets, tcp_ok, &mut tags);
            if verdict == "reject with tcp reset" && l4.is_none() && self.rng.chance(50) {
                // Without a protocol match nft adds `meta l4proto tcp` itself and hides it
                // in its listing; with `th dport` it lists `tcp dport`.
                let port = self.port();
                parts.push(format!("th dport {port}"));
                tags.push("port");
            }
            if self.family == Family::Inet
                && self.l3.is_some()
                && verdict.starts_with("reject")
                && !verdict.contains("icmpx")
                && !verdict.contains("tcp reset")
            {
                // A reject of one family: nft lists its ICMP type and hides the
                // `meta nfproto` that makes it apply to that family only.
                tags.push("reject-implies-family");
            }
            if regular && self.rng.chance(15) {
                parts.push("return".into());
                tags.push("return");
            } else {
                if self.rng.chance(15) {
                    parts.push("counter".into());
                }
                parts.push(verdict);
            }
        }
        Rule {
            text: parts.join(" "),
            tags,
        }
    }

    /// One match: its text and the layer 4 protocol it implies, if any.
    fn matcher(
        &mut self,
        hook: Hook,
        l4: Option<&'static str>,
        tags: &mut Vec<&'static str>,
    ) -> (String, Option<&'static str>) {
        let family = self.family;
        loop {
            match self.rng.below(9) {
                0..=2 => {
                    let proto = match l4 {
                        Some(p) => p,
                        None => *self.rng.pick(&["tcp", "udp", "th"]),
                    };
                    let ports = self.ports(tags);
                    tags.push("port");
                    let implied = (proto != "th" || l4.is_some()).then_some(proto);
                    return (format!("{proto} dport {ports}"), implied);
                }
                3 => {
                    tags.push("l4proto");
                    let (text, implied) = *self.rng.pick(&[
                        ("meta l4proto tcp", Some("tcp")),
                        ("meta l4proto udp", Some("udp")),
                        // Either protocol: later port matches are `th`.
                        ("meta l4proto { tcp, udp }", Some("th")),
                        ("meta l4proto != tcp", Some("th")),
                        ("meta l4proto != udp", Some("th")),
                    ]);
                    if l4.is_some() && implied.is_some() && implied != l4 {
                        continue;
                    }
                    return (text.into(), implied);
                }
                4 => {
                    let (interface, tag) = self.interface(hook);
                    tags.push(tag);
                    return (interface, None);
                }
                5 => {
                    tags.push("ct-state");
                    if self.prio <= -200 {
                        // Conntrack runs at -200: a chain before it (or registered
                        // before it at -200) sees no connection state yet.
                        tags.push("ct-state-before-conntrack");
                    }
                    let state = *self.rng.pick(&[
                        "ct state new",
                        "ct state established,related",
                        "ct state invalid",
                        "ct state != established",
                        "ct state { new, untracked }",
                        "ct state != new",
                    ]);
                    return (state.into(), None);
                }
                6 | 7 => {
                    let v4 = match family {
                        Family::Ip => true,
                        Family::Ip6 => false,
                        Family::Inet => self.l3.unwrap_or_else(|| self.rng.chance(50)),
                    };
                    self.l3 = Some(v4);
                    return (self.address(v4, tags), None);
                }
                _ => {
                    if family == Family::Inet {
                        tags.push("nfproto");
                        let v4 = self.l3.unwrap_or_else(|| self.rng.chance(50));
                        self.l3 = Some(v4);
                        let text = if v4 {
                            "meta nfproto ipv4"
                        } else {
                            "meta nfproto ipv6"
                        };
                        return (text.into(), None);
                    }
                    if family == Family::Ip && l4.is_none() {
                        tags.push("l4proto");
                        let (text, implied) = *self.rng.pick(&[
                            ("ip protocol tcp", Some("tcp")),
                            ("ip protocol udp", Some("udp")),
                            ("ip protocol != tcp", Some("th")),
                        ]);
                        return (text.into(), implied);
                    }
                    if family == Family::Ip6 && l4.is_none() {
                        tags.push("l4proto");
                        let (text, implied) = *self.rng.pick(&[
                            ("meta l4proto tcp", Some("tcp")),
                            ("ip6 nexthdr udp", Some("udp")),
                        ]);
                        return (text.into(), implied);
                    }
                }
            }
        }
    }

    fn port(&mut self) -> u16 {
        let w = self.world;
        match self.rng.below(10) {
            0..=4 => *self.rng.pick(&w.host_ports),
            5 | 6 => *self.rng.pick(&w.app_ports),
            7 | 8 => *self.rng.pick(&w.dnat_ports),
            _ => *self.rng.pick(&[22, 80, w.redirect_port]),
        }
    }

    /// A port expression: one, a range, a set, negated, or a named (interval) set.
    fn ports(&mut self, tags: &mut Vec<&'static str>) -> String {
        let negate = if self.rng.chance(20) {
            tags.push("negation");
            "!= "
        } else {
            ""
        };
        match self.rng.below(8) {
            0..=3 => format!("{negate}{}", self.port()),
            4 => {
                tags.push("range");
                let a = self.port();
                let b = a + self.rng.below(4) as u16;
                format!("{negate}{a}-{b}")
            }
            5 | 6 => {
                tags.push("anonymous-set");
                format!("{negate}{{ {} }}", self.port_elements(tags).join(", "))
            }
            _ => {
                let interval = self.rng.chance(50);
                let elements = self.port_elements(tags);
                tags.push(if interval {
                    "interval-set"
                } else {
                    "named-set"
                });
                let name = self.set_name();
                let flags = if interval { " flags interval;" } else { "" };
                let elements: Vec<String> = if interval {
                    elements
                } else {
                    elements
                        .into_iter()
                        .map(|e| e.split('-').next().unwrap().to_string())
                        .collect()
                };
                let mut unique = elements.clone();
                unique.sort();
                unique.dedup();
                self.sets.push(format!(
                    "set {name} {{ type inet_service;{flags} elements = {{ {} }} }}",
                    unique.join(", ")
                ));
                format!("{negate}@{name}")
            }
        }
    }

    /// Elements of a port set: ports and ranges that do not overlap.
    fn port_elements(&mut self, tags: &mut Vec<&'static str>) -> Vec<String> {
        let count = 1 + self.rng.below(3);
        let mut taken: Vec<(u16, u16)> = Vec::new();
        let mut elements = Vec::new();
        for _ in 0..count {
            let a = self.port();
            let b = if self.rng.chance(30) {
                a + 1 + self.rng.below(3) as u16
            } else {
                a
            };
            if taken.iter().any(|&(x, y)| a <= y && x <= b) {
                continue;
            }
            taken.push((a, b));
            if b > a {
                tags.push("range");
                elements.push(format!("{a}-{b}"));
            } else {
                elements.push(a.to_string());
            }
        }
        elements
    }

    fn set_name(&mut self) -> String {
        self.set_names += 1;
        format!("s{}", self.set_names)
    }

    /// An interface match valid on `hook`, and its tag.
    fn interface(&mut self, hook: Hook) -> (String, &'static str) {
        let w = self.world;
        let out = w.outside_if;
        let app = w.app_if;
        let oif = hook == Hook::Forward && self.rng.chance(35);
        let key = if oif { "oifname" } else { "iifname" };
        let negate = if self.rng.chance(20) { "!= " } else { "" };
        match self.rng.below(9) {
            0 => (format!("{key} {negate}\"{out}\""), "ifname"),
            1 => (format!("{key} {negate}\"{app}\""), "ifname"),
            2 => (
                format!("{key} {negate}\"{}*\"", &out[..out.len() - 1]),
                "ifname-wildcard",
            ),
            3 => (
                format!("{key} {negate}\"{}*\"", &out[..1]),
                "ifname-wildcard",
            ),
            // An escaped `*` is a literal star: no interface here has one.
            4 => (
                format!("{key} {negate}\"{}\\*\"", &out[..out.len() - 1]),
                "ifname-escape",
            ),
            5 => (format!("{key} {negate}\"{out}\\*\""), "ifname-escape"),
            6 => (
                format!("{key} {negate}{{ \"{app}\", \"lo\" }}"),
                "ifname-set",
            ),
            7 => {
                let name = *self.rng.pick(&[out, app, "lo"]);
                let key = if oif { "oif" } else { "iif" };
                (format!("{key} {negate}\"{name}\""), "ifindex")
            }
            _ => (format!("{key} {negate}\"eth0\""), "ifname"),
        }
    }

    /// An address match of one family.
    fn address(&mut self, v4: bool, tags: &mut Vec<&'static str>) -> String {
        let w = self.world;
        let (key, daddrs, saddrs) = if v4 {
            ("ip", w.addresses_v4, w.sources_v4)
        } else {
            ("ip6", w.addresses_v6, w.sources_v6)
        };
        let negate = if self.rng.chance(25) {
            tags.push("negation");
            "!= "
        } else {
            ""
        };
        tags.push("address");
        if self.rng.chance(70) {
            let address = *self.rng.pick(daddrs);
            if address.starts_with("::") {
                tags.push("ipv4-compatible");
            }
            if self.rng.chance(15) {
                tags.push("anonymous-set");
                let other = *self.rng.pick(daddrs);
                if other != address && !other.contains('/') && !address.contains('/') {
                    return format!("{key} daddr {negate}{{ {address}, {other} }}");
                }
            }
            format!("{key} daddr {negate}{address}")
        } else {
            format!("{key} saddr {negate}{}", self.rng.pick(saddrs))
        }
    }

    /// A verdict (a reset only when `tcp_ok`).
    fn verdict(
        &mut self,
        targets: &[String],
        tcp_ok: bool,
        tags: &mut Vec<&'static str>,
    ) -> String {
        let family = self.family;
        loop {
            match self.rng.below(12) {
                0..=2 => return "accept".into(),
                3..=5 => return "drop".into(),
                6 => {
                    tags.push("reject");
                    return "reject".into();
                }
                7 => {
                    tags.push("reject");
                    let options: &[&str] = match family {
                        Family::Ip => &[
                            "reject with icmp type port-unreachable",
                            "reject with icmp type admin-prohibited",
                        ],
                        Family::Ip6 => &["reject with icmpv6 type admin-prohibited"],
                        Family::Inet => &[
                            "reject with icmpx type port-unreachable",
                            "reject with icmpx type admin-prohibited",
                        ],
                    };
                    return (*self.rng.pick(options)).into();
                }
                8 if tcp_ok => {
                    tags.push("reject-tcp-reset");
                    return "reject with tcp reset".into();
                }
                9 | 10 if !targets.is_empty() => {
                    let target = self.rng.pick(targets).clone();
                    if self.rng.chance(70) {
                        tags.push("jump");
                        return format!("jump {target}");
                    }
                    tags.push("goto");
                    return format!("goto {target}");
                }
                11 => {
                    tags.push("continue");
                    return "continue".into();
                }
                _ => {}
            }
        }
    }

    /// A verdict map on the port or the protocol, named or anonymous.
    fn vmap(
        &mut self,
        targets: &[String],
        l4: Option<&'static str>,
        tags: &mut Vec<&'static str>,
    ) -> String {
        tags.push("vmap");
        let mut verdicts: Vec<String> = vec!["accept".into(), "drop".into()];
        verdicts.extend(targets.iter().map(|t| format!("jump {t}")));
        if l4.is_none() && self.rng.chance(30) {
            let a = *self.rng.pick(&["accept", "drop"]);
            let b = if a == "accept" { "drop" } else { "accept" };
            return format!("meta l4proto vmap {{ tcp : {a}, udp : {b} }}");
        }
        let mut elements = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let port = self.port();
            if seen.contains(&port) {
                continue;
            }
            seen.push(port);
            let verdict = self.rng.pick(&verdicts).clone();
            elements.push(format!("{port} : {verdict}"));
        }
        let proto = match l4 {
            Some(proto) => proto,
            None => *self.rng.pick(&["tcp", "udp", "th"]),
        };
        if self.rng.chance(30) {
            tags.push("named-set");
            let name = self.set_name();
            self.sets.push(format!(
                "map {name} {{ type inet_service : verdict; elements = {{ {} }} }}",
                elements.join(", ")
            ));
            return format!("{proto} dport vmap @{name}");
        }
        format!("{proto} dport vmap {{ {} }}", elements.join(", "))
    }

    /// A nat prerouting chain: DNATs from the host ports to the app's, and a redirect.
    fn nat_chain(&mut self) -> Chain {
        let w = self.world;
        let mut rules = Vec::new();
        for (i, &front) in w.dnat_ports.iter().enumerate() {
            if !self.rng.chance(60) {
                continue;
            }
            let back = w.app_ports[i];
            let mut families = Vec::new();
            if self.family.v4() {
                families.push(true);
            }
            if self.family.v6() {
                families.push(false);
            }
            for v4 in families {
                if self.family == Family::Inet && self.rng.chance(30) {
                    continue;
                }
                let mut tags = vec!["dnat"];
                let mut parts = Vec::new();
                if self.rng.chance(25) {
                    let (interface, tag) = self.interface(Hook::Prerouting);
                    tags.push(tag);
                    parts.push(interface);
                }
                if self.rng.chance(20) {
                    let address = if v4 {
                        self.rng.pick(w.addresses_v4)
                    } else {
                        self.rng.pick(w.addresses_v6)
                    };
                    if !address.contains('/') && !address.starts_with("::") {
                        tags.push("address");
                        let key = if v4 { "ip" } else { "ip6" };
                        parts.push(format!("{key} daddr {address}"));
                    }
                }
                let proto = *self.rng.pick(&["tcp", "udp", "both"]);
                if proto == "both" {
                    parts.push(format!("meta l4proto {{ tcp, udp }} th dport {front}"));
                } else {
                    parts.push(format!("{proto} dport {front}"));
                }
                let to = match (self.family, v4) {
                    (Family::Inet, true) => "dnat ip to",
                    (Family::Inet, false) => "dnat ip6 to",
                    _ => "dnat to",
                };
                if v4 {
                    parts.push(format!("{to} {}:{back}", w.app_v4));
                } else {
                    parts.push(format!("{to} [{}]:{back}", w.app_v6));
                }
                rules.push(Rule {
                    text: parts.join(" "),
                    tags,
                });
            }
        }
        if self.rng.chance(20) {
            let proto = *self.rng.pick(&["tcp", "udp"]);
            rules.push(Rule {
                text: format!(
                    "{proto} dport {} redirect to :{}",
                    w.redirect_port, w.host_ports[0]
                ),
                tags: vec!["redirect"],
            });
        }
        Chain {
            name: "nat".into(),
            head: Some(format!(
                "type nat hook prerouting priority {}; policy accept;",
                self.rng.pick(&[-100, -100, -110, -90])
            )),
            rules,
        }
    }
}

/// The features of a rule line written elsewhere (nftables' tests), read from its text:
/// those whose meaning depends on what nft leaves implied.
fn text_tags(text: &str, family: Family, prio: i32) -> Vec<&'static str> {
    let mut tags = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    if text.contains("tcp reset") {
        tags.push("reject-tcp-reset");
    }
    if text.contains("\\*") {
        tags.push("ifname-escape");
    }
    if prio <= -200 && text.contains("ct ") {
        tags.push("ct-state-before-conntrack");
    }
    if family == Family::Inet {
        let plain_reject =
            words.contains(&"reject") && !text.contains("icmpx") && !text.contains("tcp reset");
        if text.contains("reject with icmp ")
            || text.contains("reject with icmpv6")
            || (plain_reject && text.contains("nfproto"))
        {
            tags.push("reject-implies-family");
        }
        if words
            .iter()
            .any(|w| matches!(*w, "ip" | "ip6" | "icmp" | "icmpv6"))
        {
            tags.push("implied-family");
        }
    }
    tags
}

/// Whether a corpus line already decides (ends in a verdict statement or a nat one).
fn ends_in_verdict(line: &str) -> bool {
    let words = [
        "accept",
        "drop",
        "reject",
        "return",
        "jump",
        "goto",
        "queue",
        "vmap",
        "dnat",
        "snat",
        "redirect",
        "masquerade",
        "tproxy",
        "continue",
    ];
    line.split_whitespace().any(|w| words.contains(&w))
}
