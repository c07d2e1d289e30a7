//! A stream of nf_tables dump messages (tables, chains, sets, elements, rules) to the
//! ruleset decoder. What must hold is in `portaudit::fuzzing::nft_netlink`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::nft_netlink(data));
