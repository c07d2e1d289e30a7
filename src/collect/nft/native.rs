//! Read the ruleset straight from the kernel (nfnetlink dumps of tables, chains, sets,
//! set elements and rules) and print it as `nft -j list ruleset` would.
//!
//! Starting nft costs milliseconds (exec, dynamic linking, libnftables); the dumps cost
//! well under one. The read is consistent: the ruleset's generation id is asked before
//! and after, and a read that straddles a change is done again.

use std::collections::HashMap;

use super::decode::{self, Dump, Names};
use crate::collect::netlink::{NetlinkError, Nftables};

// <linux/netfilter/nf_tables.h>
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_GETSET: u16 = 10;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_GETOBJ: u16 = 19;
const NFT_MSG_GETFLOWTABLE: u16 = 23;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;

/// A ruleset changing under every one of this many reads is left to nft.
const ATTEMPTS: usize = 3;

/// Where the messages come from: the kernel, or a test's script.
pub(super) trait Source {
    fn generation(&mut self) -> Result<u32, NetlinkError>;
    fn dump(
        &mut self,
        get: u16,
        family: u8,
        attrs: &[u8],
        what: &str,
    ) -> Result<Vec<Vec<u8>>, NetlinkError>;
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
    ) -> Result<Vec<Vec<u8>>, NetlinkError> {
        Nftables::dump(self, get, family, attrs, what)
    }
}

/// The ruleset as `nft -j list ruleset` prints it, or why nft must be asked instead
/// (netlink refused or failed, or the ruleset has something we do not print exactly).
pub fn read() -> Result<String, String> {
    let mut source = Nftables::open().map_err(|e| e.message().to_string())?;
    let names = Names {
        protocols: protocols(),
        interface: Box::new(interface_name),
    };
    read_from(&mut source, &names)
}

pub(super) fn read_from(source: &mut impl Source, names: &Names) -> Result<String, String> {
    for _ in 0..ATTEMPTS {
        let before = source.generation().map_err(|e| e.message().to_string())?;
        let dump = dump(source).map_err(|e| e.message().to_string())?;
        let after = source.generation().map_err(|e| e.message().to_string())?;
        if before == after {
            return decode::ruleset(&dump, names);
        }
    }
    Err(format!(
        "the ruleset changed during each of {ATTEMPTS} reads"
    ))
}

fn dump(source: &mut impl Source) -> Result<Dump, NetlinkError> {
    let tables = source.dump(NFT_MSG_GETTABLE, 0, &[], "the nftables tables")?;
    let chains = source.dump(NFT_MSG_GETCHAIN, 0, &[], "the nftables chains")?;
    let sets = source.dump(NFT_MSG_GETSET, 0, &[], "the nftables sets")?;
    let mut elements = Vec::with_capacity(sets.len());
    for set in &sets {
        let Ok(m) = decode::Message::new(set) else {
            // decode says what is wrong with it.
            elements.push(Vec::new());
            continue;
        };
        let (Some(table), Some(name)) = (m.get(NFTA_SET_TABLE), m.get(NFTA_SET_NAME)) else {
            elements.push(Vec::new());
            continue;
        };
        let mut attrs = attribute(NFTA_SET_ELEM_LIST_TABLE, table);
        attrs.extend(attribute(NFTA_SET_ELEM_LIST_SET, name));
        elements.push(source.dump(
            NFT_MSG_GETSETELEM,
            m.family,
            &attrs,
            "the nftables set elements",
        )?);
    }
    let rules = source.dump(NFT_MSG_GETRULE, 0, &[], "the nftables rules")?;
    let objects = source.dump(NFT_MSG_GETOBJ, 0, &[], "the nftables objects")?;
    let flowtables = source.dump(NFT_MSG_GETFLOWTABLE, 0, &[], "the nftables flowtables")?;
    Ok(Dump {
        tables,
        chains,
        sets,
        elements,
        rules,
        others: objects.len() + flowtables.len(),
    })
}

/// One netlink attribute, padded to 4 bytes.
pub(super) fn attribute(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut b = Vec::with_capacity(len + 3);
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(data);
    b.resize((len + 3) & !3, 0);
    b
}

/// /etc/protocols as getprotobynumber(3) reads it for nft: the first name of a number.
fn protocols() -> HashMap<u8, String> {
    let text = std::fs::read_to_string("/etc/protocols").unwrap_or_default();
    let mut names = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if let (Some(name), Some(number)) = (words.next(), words.next())
            && let Ok(number) = number.parse::<u8>()
        {
            names.entry(number).or_insert_with(|| name.to_string());
        }
    }
    names
}

/// if_indextoname(3) in the calling thread's network namespace, as nft prints `iif`.
fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    Some(decode::c_string(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn be32(v: u32) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }

    fn be64(v: u64) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }

    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attribute(kind, &parts.concat())
    }

    fn message(family: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        [vec![family, 0, 0, 0], attrs.concat()].concat()
    }

    /// One NFTA_LIST_ELEM: NFTA_EXPR_NAME and NFTA_EXPR_DATA.
    fn expression(name: &str, data: &[Vec<u8>]) -> Vec<u8> {
        let name = [name.as_bytes(), &[0]].concat();
        nested(1, &[attribute(1, &name), nested(2, data)])
    }

    /// `tcp dport 22 accept` in an inet table, as the kernel holds it.
    fn tcp_dport_22_accept() -> Vec<Vec<u8>> {
        // NFTA_CMP_DATA { NFTA_DATA_VALUE }
        let data = |bytes: &[u8]| nested(3, &[attribute(1, bytes)]);
        vec![
            expression("meta", &[attribute(1, &be32(1)), attribute(2, &be32(16))]),
            expression(
                "cmp",
                &[attribute(1, &be32(1)), attribute(2, &be32(0)), data(&[6])],
            ),
            expression(
                "payload",
                &[
                    attribute(1, &be32(1)),
                    attribute(2, &be32(2)),
                    attribute(3, &be32(2)),
                    attribute(4, &be32(2)),
                ],
            ),
            expression(
                "cmp",
                &[
                    attribute(1, &be32(1)),
                    attribute(2, &be32(0)),
                    data(&[0, 22]),
                ],
            ),
            expression(
                "immediate",
                &[
                    attribute(1, &be32(0)),
                    nested(2, &[nested(2, &[attribute(1, &be32(1))])]),
                ],
            ),
        ]
    }

    /// `table inet t { chain c { type filter hook input priority 0; policy drop; RULE } }`
    fn dump(rule: &[Vec<u8>], extra: &[Vec<u8>]) -> Dump {
        let t = b"t\0".to_vec();
        let hook = nested(4, &[attribute(1, &be32(1)), attribute(2, &be32(0))]);
        Dump {
            tables: vec![message(1, &[attribute(1, &t), attribute(4, &be64(1))])],
            chains: vec![message(
                1,
                &[
                    attribute(1, &t),
                    attribute(2, &be64(1)),
                    attribute(3, b"c\0"),
                    hook,
                    attribute(5, &be32(0)),
                    attribute(7, b"filter\0"),
                ],
            )],
            rules: vec![message(
                1,
                &[
                    [
                        attribute(1, &t),
                        attribute(2, b"c\0"),
                        attribute(3, &be64(2)),
                        nested(4, rule),
                    ]
                    .concat(),
                    extra.concat(),
                ],
            )],
            ..Dump::default()
        }
    }

    fn decode(dump: &Dump) -> Result<serde_json::Value, String> {
        decode::ruleset(dump, &Names::for_tests()).map(|text| parse(&text))
    }

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn a_rule_reads_as_nft_prints_it() {
        let document = decode(&dump(&tcp_dport_22_accept(), &[])).unwrap();
        let items = document["nftables"].as_array().unwrap();
        assert_eq!(items.len(), 4, "{document}");
        assert_eq!(items[2]["chain"]["policy"], "drop");
        assert_eq!(items[2]["chain"]["hook"], "input");
        assert_eq!(
            items[3]["rule"]["expr"],
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
                {"accept": null}
            ])
        );
    }

    #[test]
    fn what_we_cannot_print_exactly_is_left_to_nft() {
        let mut rule = tcp_dport_22_accept();
        rule.insert(4, expression("frobnicate", &[attribute(1, &be32(7))]));
        let why = decode(&dump(&rule, &[])).unwrap_err();
        assert!(why.contains("expression frobnicate"), "{why}");

        // iptables-nft: an xt match, and the rule's compat attribute.
        let mut rule = tcp_dport_22_accept();
        rule.insert(4, expression("match", &[attribute(1, b"addrtype\0")]));
        assert!(
            decode(&dump(&rule, &[]))
                .unwrap_err()
                .contains("expression match")
        );
        let compat = nested(5, &[attribute(1, &be32(6))]);
        let why = decode(&dump(&tcp_dport_22_accept(), &[compat])).unwrap_err();
        assert!(why.contains("iptables-nft"), "{why}");

        // Without a protocol match a transport header is `th`; after `meta l4proto sctp`
        // it is sctp's, which we do not print.
        let rule = tcp_dport_22_accept()[2..].to_vec();
        let document = decode(&dump(&rule, &[])).unwrap();
        assert_eq!(
            document["nftables"][3]["rule"]["expr"][0]["match"]["left"]["payload"]["protocol"],
            "th"
        );
        let mut rule = tcp_dport_22_accept();
        rule[1] = expression(
            "cmp",
            &[
                attribute(1, &be32(1)),
                attribute(2, &be32(0)),
                nested(3, &[attribute(1, &[132])]),
            ],
        );
        let why = decode(&dump(&rule, &[])).unwrap_err();
        assert!(why.contains("protocol Some(132)"), "{why}");

        // An unknown option on a known expression (a meta key we do not print).
        let mut rule = tcp_dport_22_accept();
        rule[0] = expression("meta", &[attribute(1, &be32(1)), attribute(2, &be32(99))]);
        assert!(
            decode(&dump(&rule, &[]))
                .unwrap_err()
                .contains("meta key 99")
        );

        // A family we do not print (arp), and stateful objects.
        let mut arp = dump(&tcp_dport_22_accept(), &[]);
        arp.tables[0][0] = 3;
        assert!(decode(&arp).is_err());
        let mut objects = dump(&tcp_dport_22_accept(), &[]);
        objects.others = 1;
        assert!(decode(&objects).is_err());
    }

    /// Replays a dump; the generation id moves as the script says.
    struct Script {
        generations: Vec<u32>,
        dump: Dump,
        table_dumps: usize,
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
            _: u8,
            _: &[u8],
            _: &str,
        ) -> Result<Vec<Vec<u8>>, NetlinkError> {
            Ok(match get {
                NFT_MSG_GETTABLE => {
                    self.table_dumps += 1;
                    self.dump.tables.clone()
                }
                NFT_MSG_GETCHAIN => self.dump.chains.clone(),
                NFT_MSG_GETRULE => self.dump.rules.clone(),
                _ => Vec::new(),
            })
        }
    }

    #[test]
    fn a_ruleset_changed_during_the_read_is_read_again() {
        let mut script = Script {
            // Before and after the first read differ; the second read is consistent.
            generations: vec![1, 2, 2, 2],
            dump: dump(&tcp_dport_22_accept(), &[]),
            table_dumps: 0,
        };
        let document = parse(&read_from(&mut script, &Names::for_tests()).unwrap());
        assert_eq!(script.table_dumps, 2);
        assert_eq!(document["nftables"].as_array().unwrap().len(), 4);

        let mut script = Script {
            generations: (1..=10).collect(),
            dump: dump(&tcp_dport_22_accept(), &[]),
            table_dumps: 0,
        };
        let why = read_from(&mut script, &Names::for_tests()).unwrap_err();
        assert!(why.contains("changed"), "{why}");
        assert_eq!(script.table_dumps, ATTEMPTS);
    }
}
