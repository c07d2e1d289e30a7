//! The `--allow` parser on arbitrary text: parsed or refused, never a panic, and what it
//! accepts is a sane port range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaudit::fuzzing::parse_allow;
use portaudit::fuzzing::Services;

fuzz_target!(|spec: &str| {
    thread_local! {
        static SERVICES: Services = Services::parse(
            "ssh 22/tcp\ndomain 53/tcp dns\ndomain 53/udp dns\npostgresql 5432/tcp postgres\n",
            "fuzz services".into(),
        );
    }
    SERVICES.with(|services| {
        if let Ok(entries) = parse_allow(spec, services) {
            assert!(!entries.is_empty());
            for entry in entries {
                assert!(*entry.ports.start() >= 1 && entry.ports.start() <= entry.ports.end());
            }
        }
    });
});
