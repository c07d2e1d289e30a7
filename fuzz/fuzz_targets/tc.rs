//! A netlink datagram of RTM_NEWQDISC or RTM_NEWTFILTER: a device's ingress hook and its
//! filters. What must hold is in `portaudit::fuzzing::tc`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::tc(data));
