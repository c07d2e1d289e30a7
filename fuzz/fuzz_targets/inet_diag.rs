//! A sock_diag (inet_diag) reply datagram: framed, then each message as a TCP and a UDP socket record.
//! What must hold is in `portaudit::fuzzing::inet_diag`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::inet_diag(data));
