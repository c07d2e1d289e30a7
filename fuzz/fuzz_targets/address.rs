//! An RTM_NEWADDR reply datagram: interface addresses.
//! What must hold is in `portaudit::fuzzing::address`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::address(data));
