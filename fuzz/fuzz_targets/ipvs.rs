//! /proc/net/ip_vs: the IPVS services. What must hold is in `portaudit::fuzzing::ipvs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::ipvs(data));
