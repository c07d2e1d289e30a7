//! An RTM_NEWROUTE reply datagram: the main table's unicast routes.
//! What must hold is in `portaudit::fuzzing::route`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::route(data));
