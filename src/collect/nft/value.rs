//! nf_tables' data attributes as the model's values: constants, verdicts, and the
//! elements of sets and maps turned into inclusive spans per key component.
//!
//! The kernel keeps an interval set (rbtree) as start elements and end elements (an end
//! is the first value after the interval, flagged NFT_SET_ELEM_INTERVAL_END); a
//! concatenation with intervals (pipapo) as a key and an inclusive key end. Both become
//! [`Element`]s whose spans hold exactly the values a lookup finds.

use crate::collect::nlmsg::{Attrs, attributes, c_bytes};
use crate::ruleset::{Bytes, Data, Element, Span, Verdict};

const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

// Verdict codes: netfilter's (NF_*) and nf_tables' own (NFT_*, negative).
const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NF_QUEUE: i32 = 3;
const NF_VERDICT_MASK: i32 = 0xff;
const NF_VERDICT_FLAG_QUEUE_BYPASS: i32 = 0x8000;
const NFT_CONTINUE: i32 = -1;
const NFT_BREAK: i32 = -2;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
const NFT_RETURN: i32 = -5;

const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_OBJREF: u16 = 9;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFT_SET_ELEM_INTERVAL_END: u32 = 0x1;
const NFT_SET_ELEM_CATCHALL: u32 = 0x2;

/// The bytes of a nested NFTA_DATA_VALUE.
pub(super) fn value(nested: &[u8]) -> Result<&[u8], String> {
    attributes(nested)
        .find(|(k, _)| *k == NFTA_DATA_VALUE)
        .map(|(_, d)| d)
        .ok_or_else(|| "a data attribute without a value".to_string())
}

/// A nested NFTA_DATA_VERDICT.
pub(super) fn verdict(nested: &[u8]) -> Result<Verdict, String> {
    let inner = attributes(nested)
        .find(|(k, _)| *k == NFTA_DATA_VERDICT)
        .map(|(_, d)| d)
        .ok_or("data that is not a verdict")?;
    let a = Attrs::parse(inner);
    let code = a
        .be32(NFTA_VERDICT_CODE)
        .ok_or("a verdict without a code")? as i32;
    let chain = || {
        a.str(NFTA_VERDICT_CHAIN)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .ok_or_else(|| "a jump without a chain name".to_string())
    };
    Ok(match code {
        NFT_CONTINUE => Verdict::Continue,
        NFT_RETURN => Verdict::Return,
        NFT_JUMP => Verdict::Jump(chain()?),
        NFT_GOTO => Verdict::Goto(chain()?),
        NFT_BREAK => return Err("a break verdict".into()),
        code if code >= 0 => match code & NF_VERDICT_MASK {
            NF_DROP => Verdict::Drop,
            NF_ACCEPT => Verdict::Accept,
            NF_QUEUE => Verdict::Queue {
                bypass: code & NF_VERDICT_FLAG_QUEUE_BYPASS != 0,
            },
            other => return Err(format!("verdict {other}")),
        },
        other => return Err(format!("verdict {other}")),
    })
}

/// A nested data attribute: a value or a verdict.
pub(super) fn data(nested: &[u8]) -> Result<Data, String> {
    match value(nested) {
        Ok(bytes) => Ok(Data::Value(bytes.into())),
        Err(_) => verdict(nested).map(Data::Verdict),
    }
}

/// One element as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Raw {
    pub key: Option<Bytes>,
    /// A concatenation's interval (pipapo): the last value, inclusive.
    pub key_end: Option<Bytes>,
    /// An rbtree interval's end: the first value after it.
    pub end: bool,
    /// Matches every key (`* : verdict`).
    pub catchall: bool,
    pub data: Option<Data>,
}

/// One NFTA_LIST_ELEM of a NEWSETELEM message.
pub(super) fn raw(elem: &[u8]) -> Result<Raw, String> {
    let a = Attrs::parse(elem);
    let flags = a.be32(NFTA_SET_ELEM_FLAGS).unwrap_or(0);
    let key = match a.get(NFTA_SET_ELEM_KEY) {
        Some(k) => Some(value(k)?.into()),
        None => None,
    };
    let key_end = match a.get(NFTA_SET_ELEM_KEY_END) {
        Some(k) => Some(value(k)?.into()),
        None => None,
    };
    let data = match (a.get(NFTA_SET_ELEM_DATA), a.get(NFTA_SET_ELEM_OBJREF)) {
        (Some(d), _) => Some(data(d)?),
        // An object map: the object's name.
        (None, Some(name)) => Some(Data::Value(c_bytes(name).into())),
        (None, None) => None,
    };
    let catchall = flags & NFT_SET_ELEM_CATCHALL != 0;
    if key.is_none() && !catchall {
        return Err("an element without a key".into());
    }
    Ok(Raw {
        key,
        key_end,
        end: flags & NFT_SET_ELEM_INTERVAL_END != 0,
        catchall,
        data,
    })
}

/// The byte length of each key component (a concatenation's parts each start on a
/// 4-byte boundary of the key).
pub(super) fn split<'k>(key: &'k [u8], fields: &[usize]) -> Result<Vec<&'k [u8]>, String> {
    let mut parts = Vec::with_capacity(fields.len());
    let mut at = 0;
    for &len in fields {
        let part = key
            .get(at..at + len)
            .ok_or_else(|| format!("a key of {} bytes for fields {fields:?}", key.len()))?;
        parts.push(part);
        at += len.div_ceil(4) * 4;
    }
    Ok(parts)
}

/// Every value of each component: a catch-all element's key.
fn everything(fields: &[usize]) -> Vec<Span> {
    fields
        .iter()
        .map(|&len| Span {
            low: vec![0; len].into(),
            high: vec![0xff; len].into(),
        })
        .collect()
}

/// A set's elements as spans, sorted by their lowest key. `fields` are the key
/// components' lengths; `interval` says the set is an rbtree of starts and ends (one
/// component) or a pipapo of keys and key ends (several).
pub(super) fn elements(
    raw: Vec<Raw>,
    fields: &[usize],
    interval: bool,
) -> Result<Vec<Element>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let (catchalls, raw): (Vec<Raw>, Vec<Raw>) = raw.into_iter().partition(|r| r.catchall);
    for c in catchalls {
        out.push(Element {
            key: everything(fields),
            data: c.data,
        });
    }
    let rbtree = interval && fields.len() == 1 && raw.iter().all(|r| r.key_end.is_none());
    if rbtree {
        out.extend(intervals(raw, fields[0])?);
    } else {
        for r in raw {
            if r.end {
                continue;
            }
            let key = r.key.as_deref().unwrap_or_default();
            let low = split(key, fields)?;
            let high = match &r.key_end {
                Some(end) => split(end, fields)?,
                None => low.clone(),
            };
            let key = low
                .iter()
                .zip(high)
                .map(|(l, h)| Span {
                    low: (*l).into(),
                    high: h.into(),
                })
                .collect();
            out.push(Element { key, data: r.data });
        }
    }
    out.sort_by(|a, b| {
        a.key
            .iter()
            .map(|s| &s.low)
            .cmp(b.key.iter().map(|s| &s.low))
    });
    Ok(out)
}

/// An rbtree's starts and ends as inclusive spans. A value is in the set when the
/// greatest element at or below it is a start; at one value a start wins over an end.
fn intervals(mut raw: Vec<Raw>, len: usize) -> Result<Vec<Element>, String> {
    for r in &raw {
        if r.key.as_ref().is_none_or(|k| k.len() != len) {
            return Err(format!("an interval key that is not {len} bytes"));
        }
    }
    raw.sort_by(|a, b| a.key.cmp(&b.key).then(b.end.cmp(&a.end)));
    let mut out = Vec::new();
    let mut open: Option<Raw> = None;
    for r in raw {
        let key = r.key.clone().unwrap_or_default();
        if let Some(start) = open.take() {
            // This element, start or end, closes the open interval just below it.
            if let Some(high) = decrement(&key) {
                let low = start.key.unwrap_or_default();
                if low.as_ref() <= high.as_slice() {
                    out.push(Element {
                        key: vec![Span {
                            low,
                            high: high.into(),
                        }],
                        data: start.data,
                    });
                }
            }
        }
        if !r.end {
            open = Some(r);
        }
    }
    if let Some(start) = open {
        out.push(Element {
            key: vec![Span {
                low: start.key.unwrap_or_default(),
                high: vec![0xff; len].into(),
            }],
            data: start.data,
        });
    }
    Ok(out)
}

/// `key - 1`, big-endian; None below zero.
fn decrement(key: &[u8]) -> Option<Vec<u8>> {
    let mut key = key.to_vec();
    for byte in key.iter_mut().rev() {
        if *byte > 0 {
            *byte -= 1;
            return Some(key);
        }
        *byte = 0xff;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(key: &[u8]) -> Raw {
        Raw {
            key: Some(key.into()),
            key_end: None,
            end: false,
            catchall: false,
            data: None,
        }
    }

    fn end(key: &[u8]) -> Raw {
        Raw {
            end: true,
            ..start(key)
        }
    }

    fn span(low: &[u8], high: &[u8]) -> Vec<Span> {
        vec![Span {
            low: low.into(),
            high: high.into(),
        }]
    }

    #[test]
    fn rbtree_starts_and_ends_become_inclusive_spans() {
        // `{ 10.0.0.0/8, 192.168.1.1 }` as the kernel lists it, newest first, with the
        // end nft adds at zero.
        let raw = vec![
            end(&[192, 168, 1, 2]),
            start(&[192, 168, 1, 1]),
            end(&[11, 0, 0, 0]),
            start(&[10, 0, 0, 0]),
            end(&[0, 0, 0, 0]),
        ];
        let got = elements(raw, &[4], true).unwrap();
        let keys: Vec<_> = got.into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec![
                span(&[10, 0, 0, 0], &[10, 255, 255, 255]),
                span(&[192, 168, 1, 1], &[192, 168, 1, 1]),
            ]
        );
    }

    #[test]
    fn an_interval_without_an_end_runs_to_the_top_and_adjacent_ones_stay_apart() {
        let raw = vec![
            start(&[0, 1]),
            end(&[0, 6]),
            start(&[0, 6]),
            end(&[0, 10]),
            start(&[0xea, 0x60]),
        ];
        let keys: Vec<_> = elements(raw, &[2], true)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            vec![
                span(&[0, 1], &[0, 5]),
                span(&[0, 6], &[0, 9]),
                span(&[0xea, 0x60], &[0xff, 0xff]),
            ]
        );
    }

    #[test]
    fn concatenations_split_on_four_byte_boundaries() {
        // ipv4_addr . inet_proto . inet_service: 4 + 1 (padded to 4) + 2 bytes.
        let key = [10, 0, 0, 1, 6, 0, 0, 0, 0, 53];
        let mut r = start(&key);
        r.data = Some(Data::Verdict(Verdict::Accept));
        let got = elements(vec![r], &[4, 1, 2], false).unwrap();
        assert_eq!(got.len(), 1);
        let lows: Vec<&[u8]> = got[0].key.iter().map(|s| &*s.low).collect();
        assert_eq!(lows, vec![&[10, 0, 0, 1][..], &[6][..], &[0, 53][..]]);
        assert_eq!(got[0].data, Some(Data::Verdict(Verdict::Accept)));
        // Too short for its fields: an error, not a panic.
        assert!(elements(vec![start(&key[..6])], &[4, 1, 2], false).is_err());
    }

    #[test]
    fn pipapo_key_ends_and_catchall_elements() {
        let mut r = start(&[10, 0, 0, 0, 0, 80, 0, 0]);
        r.key_end = Some(vec![10, 0, 0, 255, 0, 90, 0, 0].into());
        let all = Raw {
            key: None,
            catchall: true,
            data: Some(Data::Verdict(Verdict::Drop)),
            ..start(&[])
        };
        let got = elements(vec![r, all], &[4, 2], true).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].key,
            vec![
                Span {
                    low: vec![0; 4].into(),
                    high: vec![0xff; 4].into()
                },
                Span {
                    low: vec![0; 2].into(),
                    high: vec![0xff; 2].into()
                },
            ]
        );
        assert_eq!(got[1].key[0].high.as_ref(), &[10, 0, 0, 255]);
        assert_eq!(got[1].key[1].high.as_ref(), &[0, 90]);
    }

    #[test]
    fn verdict_codes() {
        let nest = |code: i32, chain: Option<&str>| {
            let mut inner = attr(NFTA_VERDICT_CODE, &code.to_be_bytes());
            if let Some(c) = chain {
                inner.extend(attr(NFTA_VERDICT_CHAIN, &[c.as_bytes(), &[0]].concat()));
            }
            attr(NFTA_DATA_VERDICT, &inner)
        };
        assert_eq!(verdict(&nest(1, None)), Ok(Verdict::Accept));
        assert_eq!(verdict(&nest(0, None)), Ok(Verdict::Drop));
        assert_eq!(
            verdict(&nest(-3, Some("web"))),
            Ok(Verdict::Jump("web".into()))
        );
        assert_eq!(
            verdict(&nest(-4, Some("web"))),
            Ok(Verdict::Goto("web".into()))
        );
        assert_eq!(verdict(&nest(-5, None)), Ok(Verdict::Return));
        assert_eq!(verdict(&nest(-1, None)), Ok(Verdict::Continue));
        assert_eq!(
            verdict(&nest(0x8000 | 3 | (4 << 16), None)),
            Ok(Verdict::Queue { bypass: true })
        );
        assert!(verdict(&nest(-2, None)).is_err());
        assert!(verdict(&nest(-3, None)).is_err());
        assert!(verdict(&nest(2, None)).is_err());
        assert!(verdict(&attr(NFTA_DATA_VALUE, &[1])).is_err());
    }

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let len = 4 + data.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u16).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(data);
        b.resize(len.div_ceil(4) * 4, 0);
        b
    }
}
