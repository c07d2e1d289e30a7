//! nft's JSON (`--ruleset FILE`) into the ruleset model, evaluated at every hook.
//! What must hold is in `portaudit::fuzzing::nft_json`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::nft_json(data));
