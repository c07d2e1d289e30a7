//! An RTM_NEWLINK reply datagram: interfaces, link kinds, and the tunnels' UDP ports.
//! What must hold is in `portaudit::fuzzing::link`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::link(data));
