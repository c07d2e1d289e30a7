//! /proc/self/mountinfo (the cgroup2 mount, hidepid) and /proc/self/uid_map.
//! What must hold is in `portaudit::fuzzing::mountinfo`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::mountinfo(data));
