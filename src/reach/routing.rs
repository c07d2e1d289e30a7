//! The routing decision for a packet class arriving in a namespace: the policy rules in
//! priority order (selectors: from, to, iif, oif, fwmark, ip_proto, ports; not), each
//! rule's action (a table, goto, nop, blackhole…), the table's longest-prefix route with
//! its type (local, unicast, blackhole, throw…) and suppress_prefixlength, as the kernel's
//! fib_rules and fib lookup do it.
//!
//! A selector that cannot be decided for the class (a source address, an unknown mark,
//! a selector portaudit does not read) makes both branches possible: the decisions it
//! leads to are not certain. A rule on destination ports splits the class's ports.

use std::net::IpAddr;

use super::firewall::PortSet;
use crate::network::{Reading, Route, RouteKind, RouteRule, RuleAction};
use crate::socket::{Family, Protocol};

/// What is routed: the class as the routing decision sees it.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub family: Family,
    /// `None`: not known (any address).
    pub daddr: Option<IpAddr>,
    pub protocol: Protocol,
    pub ports: PortSet,
    /// The interface it arrived on (`lo` for what the namespace sends itself); `None`:
    /// not known.
    pub iif: Option<&'a str>,
    /// `None`: not known.
    pub mark: Option<u32>,
}

/// Where (part of) a class goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub ports: PortSet,
    pub outcome: Outcome,
    /// False: one possibility among several.
    pub certain: bool,
    /// The rule and route that decided: `rule 100 fwmark 0x1 → table 100: local
    /// 0.0.0.0/0`.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered to this namespace (a local, broadcast or anycast route).
    Local,
    /// Forwarded out of these interfaces (ifindex; several for a multipath route).
    Forward(Vec<u32>),
    /// Goes nowhere: blackhole, unreachable, prohibit, or no route.
    Unroutable,
    /// The routes could not be read, or a route portaudit does not know: anywhere.
    Unknown,
}

/// The kernel's rules when none could be read: local, main, default.
const DEFAULT_RULES: [(u32, u32); 3] = [(0, 255), (32766, 254), (32767, 253)];

/// The routing decisions for `query` in a namespace with these rules and routes.
pub fn decide(
    rules: &Reading<Vec<RouteRule>>,
    routes: &Reading<Vec<Route>>,
    query: &Query,
) -> Vec<Decision> {
    let Some(routes) = routes.as_ref() else {
        return vec![Decision {
            ports: query.ports.clone(),
            outcome: Outcome::Unknown,
            certain: false,
            why: "the routes could not be read".into(),
        }];
    };
    let defaults;
    let (rules, certain): (Vec<&RouteRule>, bool) = match rules.as_ref() {
        Some(read) => {
            let mut mine: Vec<&RouteRule> =
                read.iter().filter(|r| r.family == query.family).collect();
            mine.sort_by_key(|r| r.priority);
            (mine, true)
        }
        None => {
            defaults =
                DEFAULT_RULES.map(|(priority, table)| default_rule(query.family, priority, table));
            (defaults.iter().collect(), false)
        }
    };
    let mut walk = Walk {
        rules: &rules,
        routes,
        query,
        out: Vec::new(),
        steps: 0,
    };
    walk.from(0, query.ports.clone(), certain, String::new());
    walk.out
}

fn default_rule(family: Family, priority: u32, table: u32) -> RouteRule {
    RouteRule::any(family, priority, RuleAction::Table(table))
}

/// Rules visited at most, against a goto loop the kernel would not allow anyway.
const MAX_STEPS: usize = 10_000;

struct Walk<'a, 'q> {
    rules: &'a [&'a RouteRule],
    routes: &'a [Route],
    query: &'a Query<'q>,
    out: Vec<Decision>,
    steps: usize,
}

impl Walk<'_, '_> {
    /// Rules from `index` on, for `ports`; `trail` says which rules were passed by
    /// uncertainly (for the reason).
    fn from(&mut self, index: usize, ports: PortSet, certain: bool, trail: String) {
        if ports.is_empty() {
            return;
        }
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.out.push(Decision {
                ports,
                outcome: Outcome::Unknown,
                certain: false,
                why: "too many routing rules to follow".into(),
            });
            return;
        }
        let Some(rule) = self.rules.get(index) else {
            self.out.push(Decision {
                ports,
                outcome: Outcome::Unroutable,
                certain,
                why: format!("{trail}no routing rule matched"),
            });
            return;
        };
        let (yes, maybe, no) = select(rule, self.query, &ports);
        self.from(index + 1, no, certain, trail.clone());
        if !maybe.is_empty() {
            let passed = format!("{trail}rule {} may match; ", rule.priority);
            self.act(index, maybe.clone(), false, passed.clone());
            self.from(index + 1, maybe, false, passed);
        }
        self.act(index, yes, certain, trail);
    }

    fn act(&mut self, index: usize, ports: PortSet, certain: bool, trail: String) {
        if ports.is_empty() {
            return;
        }
        let rule = self.rules[index];
        let label = format!("rule {}", rule.priority);
        match rule.action {
            RuleAction::Table(table) => match lookup(self.routes, table, self.query) {
                Found::Routes(found) => {
                    let several = found.len() > 1;
                    for route in found {
                        let suppressed = rule
                            .suppress_prefixlen
                            .is_some_and(|n| u32::from(route.prefix_len) <= n);
                        if suppressed {
                            let trail =
                                format!("{trail}{label} suppresses /{}; ", route.prefix_len);
                            self.from(index + 1, ports.clone(), certain && !several, trail);
                            continue;
                        }
                        if route.kind == RouteKind::Throw {
                            let trail = format!("{trail}table {table} throws; ");
                            self.from(index + 1, ports.clone(), certain && !several, trail);
                            continue;
                        }
                        self.out.push(Decision {
                            ports: ports.clone(),
                            outcome: outcome(route),
                            certain: certain && !several,
                            why: format!(
                                "{trail}{label} → table {}: {}",
                                table_name(table),
                                describe(route)
                            ),
                        });
                    }
                }
                Found::Nothing => {
                    self.from(index + 1, ports, certain, trail);
                }
            },
            RuleAction::Goto(target) => {
                match self.rules.iter().position(|r| r.priority == target) {
                    Some(to) if to > index => self.from(to, ports, certain, trail),
                    // An unresolved goto is passed over, as the kernel does.
                    _ => self.from(index + 1, ports, certain, trail),
                }
            }
            RuleAction::Nop => self.from(index + 1, ports, certain, trail),
            RuleAction::Blackhole | RuleAction::Unreachable | RuleAction::Prohibit => {
                self.out.push(Decision {
                    ports,
                    outcome: Outcome::Unroutable,
                    certain,
                    why: format!("{trail}{label}: {:?}", rule.action).to_lowercase(),
                });
            }
            RuleAction::Other(n) => {
                self.out.push(Decision {
                    ports: ports.clone(),
                    outcome: Outcome::Unknown,
                    certain: false,
                    why: format!("{trail}{label}: action {n} portaudit does not know"),
                });
                self.from(index + 1, ports, false, trail);
            }
        }
    }
}

/// The ports of `ports` a rule's selectors match for certain, may match, and do not.
fn select(rule: &RouteRule, query: &Query, ports: &PortSet) -> (PortSet, PortSet, PortSet) {
    use Test::{Maybe, No, Yes};
    let mut test = Yes;
    let mut and = |t: Test| {
        test = match (test, t) {
            (No, _) | (_, No) => No,
            (Maybe, _) | (_, Maybe) => Maybe,
            _ => Yes,
        }
    };
    if let Some((network, len)) = rule.from
        && len > 0
        && !network.is_unspecified()
    {
        // Sources are anything.
        and(Maybe);
    }
    if let Some((network, len)) = rule.to
        && len > 0
    {
        and(match query.daddr {
            Some(daddr) => Test::of(contains(network, len, daddr)),
            None => Maybe,
        });
    }
    if let Some(iif) = &rule.iif {
        and(match query.iif {
            Some(name) => Test::of(name == iif),
            None => Maybe,
        });
    }
    if rule.oif.is_some() {
        // Only what the namespace sends has an output interface before routing.
        and(No);
    }
    if let Some((mark, mask)) = rule.fwmark {
        and(match query.mark {
            Some(m) => Test::of(m & mask == mark & mask),
            None => Maybe,
        });
    }
    if let Some(proto) = rule.ip_proto {
        let ours = match query.protocol {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        };
        and(Test::of(proto == ours));
    }
    if let Some(sport) = &rule.sport
        && !(*sport.start() == 0 && *sport.end() == u16::MAX)
    {
        and(Maybe);
    }
    if !rule.unknown.is_empty() {
        and(Maybe);
    }
    let in_range = match &rule.dport {
        Some(range) => ports.intersect(&PortSet::range(*range.start(), *range.end())),
        None => ports.clone(),
    };
    let out_of_range = ports.subtract(&in_range);
    let (mut yes, maybe, mut no) = match test {
        Yes => (in_range, PortSet::empty(), out_of_range),
        Maybe => (PortSet::empty(), in_range, out_of_range),
        No => (PortSet::empty(), PortSet::empty(), ports.clone()),
    };
    if rule.invert {
        // `not`: what matched does not, and the other way round.
        std::mem::swap(&mut yes, &mut no);
    }
    (yes, maybe, no)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Yes,
    Maybe,
    No,
}

impl Test {
    fn of(matches: bool) -> Test {
        if matches { Test::Yes } else { Test::No }
    }
}

enum Found<'a> {
    /// The route (several: equally long prefixes with the same metric, or any route when
    /// the address is not known).
    Routes(Vec<&'a Route>),
    Nothing,
}

/// The route of `table` for the query's address: the longest prefix, then the lowest
/// metric. A route for some sources or one TOS only (a packet from outside may be either)
/// that would win is a possibility beside it.
fn lookup<'a>(routes: &'a [Route], table: u32, query: &Query) -> Found<'a> {
    let candidates = routes.iter().filter(|r| {
        r.table == table
            && r.family == query.family
            && query
                .daddr
                .is_none_or(|daddr| contains(r.destination, r.prefix_len, daddr))
    });
    if query.daddr.is_none() {
        let all: Vec<&Route> = candidates.collect();
        return if all.is_empty() {
            Found::Nothing
        } else {
            Found::Routes(all)
        };
    }
    let conditional = |r: &Route| r.source.is_some_and(|(_, len)| len > 0) || r.tos != 0;
    let mut best: Vec<&Route> = Vec::new();
    let mut maybe: Vec<&Route> = Vec::new();
    for route in candidates {
        if conditional(route) {
            maybe.push(route);
            continue;
        }
        let rank = |r: &Route| (r.prefix_len, std::cmp::Reverse(r.priority));
        match best.first() {
            None => best.push(route),
            Some(b) if rank(route) > rank(b) => {
                best.clear();
                best.push(route);
            }
            Some(b) if rank(route) == rank(b) => best.push(route),
            Some(_) => {}
        }
    }
    let floor = best.first().map_or(0, |b| b.prefix_len);
    best.extend(maybe.into_iter().filter(|r| r.prefix_len >= floor));
    if best.is_empty() {
        Found::Nothing
    } else {
        Found::Routes(best)
    }
}

fn outcome(route: &Route) -> Outcome {
    match route.kind {
        RouteKind::Local | RouteKind::Broadcast | RouteKind::Anycast => Outcome::Local,
        RouteKind::Unicast => {
            let mut oifs: Vec<u32> = route
                .oif
                .into_iter()
                .chain(route.nexthops.iter().copied())
                .collect();
            oifs.sort_unstable();
            oifs.dedup();
            if oifs.is_empty() {
                Outcome::Unknown
            } else {
                Outcome::Forward(oifs)
            }
        }
        RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit => Outcome::Unroutable,
        // Multicast routes deliver to groups, never to a unicast listener's address.
        RouteKind::Multicast => Outcome::Unroutable,
        RouteKind::Throw | RouteKind::Other(_) => Outcome::Unknown,
    }
}

fn table_name(table: u32) -> String {
    match table {
        255 => "local".into(),
        254 => "main".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

/// `local 127.0.0.0/8`, `unicast 10.250.1.0/24 (if 3)`, `blackhole 0.0.0.0/0`.
fn describe(route: &Route) -> String {
    let kind = match route.kind {
        RouteKind::Unicast => "unicast".to_string(),
        RouteKind::Local => "local".into(),
        RouteKind::Broadcast => "broadcast".into(),
        RouteKind::Anycast => "anycast".into(),
        RouteKind::Multicast => "multicast".into(),
        RouteKind::Blackhole => "blackhole".into(),
        RouteKind::Unreachable => "unreachable".into(),
        RouteKind::Prohibit => "prohibit".into(),
        RouteKind::Throw => "throw".into(),
        RouteKind::Other(n) => format!("type {n}"),
    };
    format!("{kind} {}/{}", route.destination, route.prefix_len)
}

/// Whether `address` is in `network/len` (an IPv4-mapped address as its IPv4 one).
pub fn contains(network: IpAddr, len: u8, address: IpAddr) -> bool {
    match (network.to_canonical(), address.to_canonical()) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(table: u32, kind: RouteKind, network: &str, oif: Option<u32>) -> Route {
        let (destination, len) = network.split_once('/').unwrap();
        let destination: IpAddr = destination.parse().unwrap();
        Route {
            family: if destination.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
            table,
            kind,
            destination,
            prefix_len: len.parse().unwrap(),
            oif,
            nexthops: Vec::new(),
            gateway: None,
            priority: 0,
            source: None,
            tos: 0,
            nexthop_id: None,
        }
    }

    fn rule(priority: u32, action: RuleAction) -> RouteRule {
        RouteRule::any(Family::Ipv4, priority, action)
    }

    fn defaults() -> Vec<RouteRule> {
        DEFAULT_RULES
            .iter()
            .map(|&(p, t)| default_rule(Family::Ipv4, p, t))
            .collect()
    }

    /// A host: 10.0.0.5 on eth0 (2), a namespace behind vh0 (3) at 10.250.1.0/24, a
    /// default route out of eth0, and table 100 sending everything to lo (tproxy's).
    fn routes() -> Vec<Route> {
        vec![
            route(255, RouteKind::Local, "10.0.0.5/32", Some(2)),
            route(255, RouteKind::Local, "127.0.0.0/8", Some(1)),
            route(255, RouteKind::Broadcast, "10.0.0.255/32", Some(2)),
            route(254, RouteKind::Unicast, "0.0.0.0/0", Some(2)),
            route(254, RouteKind::Unicast, "10.0.0.0/24", Some(2)),
            route(254, RouteKind::Unicast, "10.250.1.0/24", Some(3)),
            route(100, RouteKind::Local, "0.0.0.0/0", Some(1)),
        ]
    }

    fn query(daddr: &str) -> Query<'static> {
        Query {
            family: Family::Ipv4,
            daddr: Some(daddr.parse().unwrap()),
            protocol: Protocol::Tcp,
            ports: PortSet::all(),
            iif: Some("eth0"),
            mark: Some(0),
        }
    }

    fn outcomes(rules: Vec<RouteRule>, query: &Query) -> Vec<(Outcome, bool, String)> {
        decide(&Reading::Done(rules), &Reading::Done(routes()), query)
            .into_iter()
            .map(|d| (d.outcome, d.certain, d.ports.to_string()))
            .collect()
    }

    const ALL: &str = "0-65535";

    #[test]
    fn the_default_rules_find_local_then_main() {
        let q = query("10.0.0.5");
        assert_eq!(
            outcomes(defaults(), &q),
            [(Outcome::Local, true, ALL.into())]
        );
        let q = query("10.250.1.2");
        assert_eq!(
            outcomes(defaults(), &q),
            [(Outcome::Forward(vec![3]), true, ALL.into())]
        );
        // The longest prefix wins over the default route.
        let q = query("10.0.0.9");
        assert_eq!(
            outcomes(defaults(), &q),
            [(Outcome::Forward(vec![2]), true, ALL.into())]
        );
        let q = query("10.0.0.255");
        assert_eq!(
            outcomes(defaults(), &q),
            [(Outcome::Local, true, ALL.into())]
        );
        let why = &decide(
            &Reading::Done(defaults()),
            &Reading::Done(routes()),
            &query("10.250.1.2"),
        )[0]
        .why;
        assert_eq!(why, "rule 32766 → table main: unicast 10.250.1.0/24");
    }

    #[test]
    fn a_fwmark_rule_sends_marked_packets_to_its_table() {
        let mut rules = defaults();
        let mut tproxy = rule(100, RuleAction::Table(100));
        tproxy.fwmark = Some((1, 1));
        rules.push(tproxy);
        let mut q = query("203.0.113.7");
        assert_eq!(
            outcomes(rules.clone(), &q),
            [(Outcome::Forward(vec![2]), true, ALL.into())]
        );
        q.mark = Some(1);
        assert_eq!(
            outcomes(rules.clone(), &q),
            [(Outcome::Local, true, ALL.into())]
        );
        // A mark an earlier stage may have set: both.
        q.mark = None;
        let mut both = outcomes(rules, &q);
        both.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(
            both,
            [
                (Outcome::Forward(vec![2]), false, ALL.into()),
                (Outcome::Local, false, ALL.into()),
            ]
        );
    }

    #[test]
    fn iif_and_port_selectors_split_the_class() {
        let mut rules = defaults();
        let mut r = rule(200, RuleAction::Blackhole);
        r.iif = Some("eth0".into());
        r.dport = Some(5000..=5999);
        rules.push(r);
        let q = query("10.0.0.5");
        let mut got = outcomes(rules.clone(), &q);
        got.sort_by_key(|o| o.2.clone());
        // Local first: rule 0 comes before rule 200.
        assert_eq!(got, [(Outcome::Local, true, ALL.into())]);
        let q = query("10.250.1.2");
        let mut got = outcomes(rules.clone(), &q);
        got.sort_by_key(|o| o.2.clone());
        assert_eq!(
            got,
            [
                (Outcome::Forward(vec![3]), true, "0-4999,6000-65535".into()),
                (Outcome::Unroutable, true, "5000-5999".into()),
            ]
        );
        // Another interface: not selected. `not`: the other way round.
        let mut q = query("10.250.1.2");
        q.iif = Some("eth1");
        assert_eq!(
            outcomes(rules.clone(), &q),
            [(Outcome::Forward(vec![3]), true, ALL.into())]
        );
        rules.last_mut().unwrap().invert = true;
        let got = outcomes(rules, &q);
        assert_eq!(got, [(Outcome::Unroutable, true, ALL.into())], "{got:?}");
    }

    #[test]
    fn throw_suppress_goto_and_unknown_selectors() {
        // Table 50 throws 10.250.0.0/16: the lookup goes on to main.
        let mut all = routes();
        all.push(route(50, RouteKind::Throw, "10.250.0.0/16", None));
        all.push(route(50, RouteKind::Blackhole, "0.0.0.0/0", None));
        let mut rules = defaults();
        rules.push(rule(10, RuleAction::Table(50)));
        let decide = |rules: &[RouteRule], daddr: &str| {
            decide(
                &Reading::Done(rules.to_vec()),
                &Reading::Done(all.clone()),
                &query(daddr),
            )
            .into_iter()
            .map(|d| (d.outcome, d.certain))
            .collect::<Vec<_>>()
        };
        assert_eq!(
            decide(&rules, "10.250.1.2"),
            [(Outcome::Forward(vec![3]), true)]
        );
        assert_eq!(decide(&rules, "203.0.113.7"), [(Outcome::Unroutable, true)]);
        // suppress_prefixlength 0 ignores the default route of table 50 (wireguard's).
        rules.last_mut().unwrap().suppress_prefixlen = Some(0);
        assert_eq!(
            decide(&rules, "203.0.113.7"),
            [(Outcome::Forward(vec![2]), true)]
        );
        // goto jumps over rule 20's blackhole.
        let mut rules = defaults();
        rules.push(rule(10, RuleAction::Goto(30)));
        rules.push(rule(20, RuleAction::Blackhole));
        rules.push(rule(30, RuleAction::Nop));
        assert_eq!(
            decide(&rules, "10.250.1.2"),
            [(Outcome::Forward(vec![3]), true)]
        );
        // A selector portaudit does not read: both ways, neither certain.
        let mut rules = defaults();
        let mut odd = rule(20, RuleAction::Blackhole);
        odd.unknown = vec!["uidrange 1000-2000".into()];
        rules.push(odd);
        let mut got = decide(&rules, "10.250.1.2");
        got.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(
            got,
            [
                (Outcome::Forward(vec![3]), false),
                (Outcome::Unroutable, false)
            ]
        );
        // No rule matching: unroutable.
        assert_eq!(decide(&[], "10.250.1.2"), [(Outcome::Unroutable, true)]);
    }

    #[test]
    fn a_route_for_some_sources_only_is_a_possibility() {
        let mut all = routes();
        let mut from = route(254, RouteKind::Blackhole, "10.250.1.0/24", None);
        from.source = Some(("192.0.2.0".parse().unwrap(), 24));
        all.push(from);
        let got: Vec<(Outcome, bool)> = decide(
            &Reading::Done(defaults()),
            &Reading::Done(all),
            &query("10.250.1.2"),
        )
        .into_iter()
        .map(|d| (d.outcome, d.certain))
        .collect();
        assert_eq!(
            got,
            [
                (Outcome::Forward(vec![3]), false),
                (Outcome::Unroutable, false)
            ]
        );
    }

    #[test]
    fn what_was_not_read_is_never_certain() {
        let q = query("10.0.0.5");
        let got = decide(
            &Reading::Unreadable("refused".into()),
            &Reading::Done(routes()),
            &q,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].outcome.clone(), got[0].certain),
            (Outcome::Local, false)
        );
        let got = decide(&Reading::Done(defaults()), &Reading::NotAsked, &q);
        assert_eq!(
            (got[0].outcome.clone(), got[0].certain),
            (Outcome::Unknown, false)
        );
    }

    #[test]
    fn prefixes_contain_their_addresses() {
        let c = |n: &str, len, a: &str| contains(n.parse().unwrap(), len, a.parse().unwrap());
        assert!(c("10.0.0.0", 8, "10.9.9.9"));
        assert!(!c("10.0.0.0", 8, "11.0.0.0"));
        assert!(c("0.0.0.0", 0, "203.0.113.1"));
        assert!(c("fd00::", 64, "fd00::5"));
        assert!(!c("fd00::", 64, "10.0.0.1"));
        assert!(c("10.0.0.0", 8, "::ffff:10.1.1.1"));
    }
}
