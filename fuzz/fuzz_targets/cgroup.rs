//! /proc/PID/cgroup (unit or container of a process) and a unit file's [Socket] section.
//! What must hold is in `portaudit::fuzzing::cgroup`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::cgroup(data));
