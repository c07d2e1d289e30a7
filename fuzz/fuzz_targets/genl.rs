//! A generic netlink reply datagram: the family list, fou's ports, WireGuard's listen port.
//! What must hold is in `portaudit::fuzzing::genl`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::genl(data));
