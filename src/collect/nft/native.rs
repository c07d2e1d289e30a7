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
    read_from(&mut source, &names).map(|document| document.to_string())
}

pub(super) fn read_from(
    source: &mut impl Source,
    names: &Names,
) -> Result<serde_json::Value, String> {
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
fn attribute(kind: u16, data: &[u8]) -> Vec<u8> {
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
        if let (Some(name), Some(number)) = (words.next(), words.next()) {
            if let Ok(number) = number.parse::<u8>() {
                names.entry(number).or_insert_with(|| name.to_string());
            }
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
