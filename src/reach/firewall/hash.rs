//! A fast hasher for the evaluator's own maps (branches by place, fates by kind, rules by
//! destination): the multiply-rotate hash rustc uses (FxHash). The keys come from the
//! ruleset and the walk, not from the network, so SipHash's resistance to chosen keys buys
//! nothing here, and its cost was a tenth of an evaluation at Kubernetes scale.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// One value's hash.
pub fn hash_of(value: &(impl std::hash::Hash + ?Sized)) -> u64 {
    let mut hasher = FastHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_hash_alike_and_near_ones_apart() {
        assert_eq!(hash_of(&("tcp", 80u16)), hash_of(&("tcp", 80u16)));
        assert_ne!(hash_of(&("tcp", 80u16)), hash_of(&("tcp", 81u16)));
        // The length of a tail counts: a string is not its zero-padded self.
        assert_ne!(hash_of(&b"ab"[..]), hash_of(&b"ab\0"[..]));
        let mut map: FastMap<&str, u32> = FastMap::default();
        for (i, name) in ["KUBE-SERVICES", "KUBE-SVC-A", "KUBE-SEP-B"]
            .iter()
            .enumerate()
        {
            map.insert(name, i as u32);
        }
        assert_eq!(map.get("KUBE-SVC-A"), Some(&1));
        assert_eq!(map.len(), 3);
    }
}
