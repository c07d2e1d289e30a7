//! A policy file (TOML): checked, or one line naming what is wrong where.
//! What must hold is in `portaudit::fuzzing::policy`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::policy(data));
