//! `patest!`: an integration test that writes its name once and declares what it needs of
//! the machine, in the manner of ripgrep's `rgtest!`.
//!
//! ```ignore
//! patest!(a_dnat_rule_publishes_the_port, [Root, Program("ip"), Nft], |t| {
//!     let ns = NetNs::new();
//!     // … `t` is the `netns::Test`: `t.name()`, and `t.skip(why)` for a need found
//!     // only while running (then `return`).
//! });
//! ```
//!
//! expands to `#[test] fn a_dnat_rule_publishes_the_port()` which checks the needs in
//! order (`netns::Need`: `Root`, `Program(name)`, `Nft`, `IptablesNft`, `Cgroup2`) and,
//! at the first the machine lacks, prints `SKIPPED <name>: <why>` straight to the
//! terminal and returns; under `CI` it panics instead. The needs are any expression that
//! borrows as `&[Need]`: a list (`[]` for none), or a file's constant when all its tests
//! share one (`LAB`). The variants are in scope inside the list without an import.
//!
//! The file names `netns` (`use crate::netns;`): the macro finds `Test` and `Need` there,
//! which lets src/collect/nft/oracle.rs, which includes tests/netns.rs as a module of its
//! own, use it too. A test that needs nothing and never skips stays a plain `#[test] fn`.

macro_rules! patest {
    ($name:ident, $needs:expr, |$test:tt| $body:block) => {
        #[test]
        fn $name() {
            let test = netns::Test::new(stringify!($name));
            let needs: &[netns::Need] = {
                #[allow(unused_imports)]
                use netns::Need::*;
                &$needs
            };
            if !test.requires(needs) {
                return;
            }
            let $test = &test;
            $body
        }
    };
}
