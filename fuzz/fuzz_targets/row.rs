//! The /proc/net row and table parsers on arbitrary bytes: a row is parsed or refused,
//! never a panic, and every line of a table is accounted for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaudit::fuzzing::Family;
use portaudit::fuzzing::{parse_row, parse_table};

fuzz_target!(|data: &[u8]| {
    for family in [Family::Ipv4, Family::Ipv6] {
        if let Ok(line) = std::str::from_utf8(data) {
            let _ = parse_row(line, family);
        }
        if let Ok(parsed) = parse_table(data, family) {
            let lines = data
                .split(|&b| b == b'\n')
                .skip(1)
                .filter(|l| !l.trim_ascii().is_empty())
                .count();
            assert_eq!(parsed.rows.len() + parsed.bad.len(), lines);
        }
    }
});
