//! The nftables netlink decoder on arbitrary bytes, seeded with the captured dumps of
//! tests/fixtures/nft/netlink/: a stream of messages is decoded or refused, never a panic,
//! and every rule it reads is in the model it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaudit::fuzzing::decode_nftables_dump;

fuzz_target!(|data: &[u8]| {
    if let Ok((ruleset, coverage)) = decode_nftables_dump(data) {
        let rules: usize = ruleset
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum();
        assert_eq!(rules, coverage.rules);
        assert!(coverage.undecoded <= coverage.rules);
    }
});
