//! Traffic control on a device's receive path: which devices have an `ingress` or
//! `clsact` qdisc (RTM_GETQDISC, one dump for the namespace), and the filters on their
//! ingress hook (RTM_GETTFILTER, one dump per such device). A BPF filter (cls_bpf,
//! `direct-action`) may redirect a packet or assign it a socket; a classic filter's
//! actions (mirred) may redirect it too: each is a program that may deliver.

use crate::collect::netlink::{attributes, u32_at};

const TCMSG_LEN: usize = 20;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_ID: u16 = 11;
/// TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS): the ingress hook of a clsact qdisc, which
/// an `ingress` qdisc answers to as well.
pub const INGRESS_PARENT: u32 = 0xFFFF_FFF2;

/// The ifindex of a device with a receive-side qdisc, from one RTM_NEWQDISC payload.
pub fn parse_qdisc(payload: &[u8]) -> Result<Option<u32>, String> {
    if payload.len() < TCMSG_LEN {
        return Err(format!("qdisc record of {} bytes", payload.len()));
    }
    let ifindex = u32_at(payload, 4);
    let kind = attributes(&payload[TCMSG_LEN..]).find(|(k, _)| *k == TCA_KIND);
    Ok(match kind {
        Some((_, kind)) if matches!(name(kind).as_str(), "ingress" | "clsact") => Some(ifindex),
        _ => None,
    })
}

/// One filter on a device's ingress hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub ifindex: u32,
    /// The classifier: `bpf`, `u32`, `flower`, `matchall`, …
    pub kind: String,
    /// A cls_bpf filter's program id and name.
    pub program: Option<(u32, String)>,
}

/// One RTM_NEWTFILTER payload; `None` for the message that only announces a
/// classifier at a priority (no options of its own).
pub fn parse_filter(payload: &[u8]) -> Result<Option<Filter>, String> {
    if payload.len() < TCMSG_LEN {
        return Err(format!("filter record of {} bytes", payload.len()));
    }
    let ifindex = u32_at(payload, 4);
    let mut kind = None;
    let mut options = None;
    for (attribute, data) in attributes(&payload[TCMSG_LEN..]) {
        match attribute {
            TCA_KIND => kind = Some(name(data)),
            TCA_OPTIONS => options = Some(data),
            _ => {}
        }
    }
    let (Some(kind), Some(options)) = (kind, options) else {
        return Ok(None);
    };
    let program = (kind == "bpf").then(|| {
        let mut id = 0;
        let mut program = String::new();
        for (attribute, data) in attributes(options) {
            match attribute {
                TCA_BPF_ID if data.len() == 4 => id = u32_at(data, 0),
                TCA_BPF_NAME => program = name(data),
                _ => {}
            }
        }
        (id, program)
    });
    Ok(Some(Filter {
        ifindex,
        kind,
        program,
    }))
}

fn name(data: &[u8]) -> String {
    let name = data.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}
