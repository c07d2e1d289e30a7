//! A process's command line, read as a docker-proxy's.
//! What must hold is in `portaudit::fuzzing::proxy`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::proxy(data));
