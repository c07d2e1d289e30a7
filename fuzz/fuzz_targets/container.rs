//! A container's cgroup path, Docker's config.v2.json, podman's containers.json.
//! What must hold is in `portaudit::fuzzing::container`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| portaudit::fuzzing::container(data));
