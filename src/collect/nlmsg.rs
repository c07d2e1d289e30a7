//! Netlink's wire format, read: messages, attributes, the byte orders of their values,
//! and the netfilter family numbers. Pure functions over bytes, shared by every netlink
//! reader (sock_diag, rtnetlink, nfnetlink) and by the tests that replay captured dumps.
//!
//! It imports nothing of portaudit, so the readers built on it (`netlink`,
//! `nft::decode`, `nft::expr`, …) depend on it and never on each other.

/// A message header's length (struct nlmsghdr).
pub const NLMSG_HDRLEN: usize = 16;

// Address families as nfgenmsg and the nf_tables attributes give them (NFPROTO_*).
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_ARP: u8 = 3;
pub const NFPROTO_NETDEV: u8 = 5;
pub const NFPROTO_BRIDGE: u8 = 7;
pub const NFPROTO_IPV6: u8 = 10;

/// `n` rounded up to netlink's 4-byte alignment.
pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes (type, data) in `b`, in order; stops at the first malformed one. The
/// type has NLA_F_NESTED and NLA_F_NET_BYTEORDER (its top bits) cleared.
pub fn attributes(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        if len < 4 || len > b.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        let data = &b[4..len];
        b = &b[align4(len).min(b.len())..];
        Some((kind, data))
    })
}

/// The attributes of one message or nest, by type: the first of each type below
/// [`Attrs::MAX`] (every nf_tables attribute set is smaller), found without a search.
#[derive(Clone, Copy)]
pub struct Attrs<'a> {
    by_kind: [Option<&'a [u8]>; Attrs::MAX],
}

impl<'a> Attrs<'a> {
    pub const MAX: usize = 32;

    pub fn parse(b: &'a [u8]) -> Attrs<'a> {
        let mut by_kind = [None; Attrs::MAX];
        for (kind, data) in attributes(b) {
            if let Some(slot) = by_kind.get_mut(usize::from(kind))
                && slot.is_none()
            {
                *slot = Some(data);
            }
        }
        Attrs { by_kind }
    }

    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.by_kind.get(usize::from(kind)).copied().flatten()
    }

    pub fn has(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }

    /// A big-endian u32 attribute (nf_tables sends every number in network order).
    pub fn be32(&self, kind: u16) -> Option<u32> {
        self.get(kind).and_then(be32)
    }

    pub fn be64(&self, kind: u16) -> Option<u64> {
        self.get(kind).and_then(be64)
    }

    /// A NUL-terminated string attribute's bytes, without the NUL.
    pub fn str(&self, kind: u16) -> Option<&'a [u8]> {
        self.get(kind).map(c_bytes)
    }
}

/// One message of a netlink datagram: its header's type, flags and sequence number, and
/// what follows the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// A header whose length is shorter than a header or runs past the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The messages of one datagram (or of a captured stream of them) as the kernel sent it,
/// in order; after a malformed header, that error and nothing more. Bytes too few for a
/// header at the end are left.
pub fn messages(datagram: &[u8]) -> impl Iterator<Item = Result<Message<'_>, Malformed>> {
    let mut at = 0;
    let mut broken = false;
    std::iter::from_fn(move || {
        if broken || at + NLMSG_HDRLEN > datagram.len() {
            return None;
        }
        let b = &datagram[at..];
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            broken = true;
            return Some(Err(Malformed));
        }
        at += align4(len);
        Some(Ok(Message {
            kind: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            payload: &b[NLMSG_HDRLEN..len],
        }))
    })
}

pub fn be32(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

pub fn be64(data: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(..8)?.try_into().ok()?))
}

/// A NUL-terminated value's bytes, up to the first NUL (all of them without one).
pub fn c_bytes(data: &[u8]) -> &[u8] {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    &data[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let len = 4 + data.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u16).to_ne_bytes());
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(data);
        b.resize(align4(len), 0);
        b
    }

    #[test]
    fn attributes_are_read_in_order_with_their_flag_bits_cleared() {
        let mut b = attr(1, b"ab");
        b.extend(attr(0x8000 | 2, &[1, 2, 3, 4]));
        let found: Vec<_> = attributes(&b).collect();
        assert_eq!(found, vec![(1, &b"ab"[..]), (2, &[1, 2, 3, 4][..])]);
    }

    #[test]
    fn a_malformed_attribute_ends_the_list() {
        let mut b = attr(1, b"x");
        b.extend_from_slice(&[200, 0, 2, 0, 9]);
        assert_eq!(attributes(&b).count(), 1);
        assert_eq!(attributes(&[3, 0, 1, 0]).count(), 0);
        assert_eq!(attributes(&[]).count(), 0);
    }

    #[test]
    fn attrs_keep_the_first_of_each_type_and_ignore_unknown_high_types() {
        let mut b = attr(3, &7u32.to_be_bytes());
        b.extend(attr(3, &8u32.to_be_bytes()));
        b.extend(attr(40, b"far"));
        b.extend(attr(5, b"eth0\0"));
        let a = Attrs::parse(&b);
        assert_eq!(a.be32(3), Some(7));
        assert_eq!(a.str(5), Some(&b"eth0"[..]));
        assert_eq!(a.get(40), None);
    }

    #[test]
    fn messages_split_a_stream() {
        let mut stream = Vec::new();
        for (kind, payload) in [(0x0a00u16, &b"abcde"[..]), (0x0a03, &b""[..])] {
            let len = (NLMSG_HDRLEN + payload.len()) as u32;
            stream.extend_from_slice(&len.to_ne_bytes());
            stream.extend_from_slice(&kind.to_ne_bytes());
            stream.extend_from_slice(&2u16.to_ne_bytes());
            stream.extend_from_slice(&[0; 8]);
            stream.extend_from_slice(payload);
            stream.resize(align4(stream.len()), 0);
        }
        let found: Vec<_> = messages(&stream).map(Result::unwrap).collect();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].kind, found[0].payload), (0x0a00, &b"abcde"[..]));
        assert_eq!((found[1].kind, found[1].flags), (0x0a03, 2));
        // A header that claims more than there is ends the stream, with an error.
        let cut: Vec<_> = messages(&stream[..NLMSG_HDRLEN + 2]).collect();
        assert_eq!(cut, vec![Err(Malformed)]);
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(be32(&[0, 0, 1]), None);
        assert_eq!(be64(&[0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(c_bytes(b"lo\0\0junk"), b"lo");
        assert_eq!(c_bytes(b"no-nul"), b"no-nul");
    }
}
