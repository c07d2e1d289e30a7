//! A netlink datagram of the routing decision: RTM_NEWROUTE (every table and type),
//! RTM_NEWRULE, RTM_NEWNETCONF. What must hold is in `portaudit::fuzzing::route`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::route(data));
