//! Run `nft -j list ruleset` (read-only), and notice legacy iptables tables that it
//! cannot show.

use std::path::Path;

/// The ruleset's JSON text, or one line saying why there is none.
pub fn list_ruleset() -> Result<String, String> {
    Err("nft: not implemented".into())
}

/// Legacy (x_tables) iptables tables in use, which `nft` cannot list: a warning each.
pub fn legacy_tables(_proc_root: &Path) -> Vec<String> {
    Vec::new()
}
