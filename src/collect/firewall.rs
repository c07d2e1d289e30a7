//! The host's nftables ruleset (from the kernel, nft, or a saved `nft -j list ruleset`), read on
//! a thread of its own beside the sockets and owners: it needs nothing from them, and
//! on a small server it is a good part of the audit. Started first, the reader is in
//! portaudit's own namespace, whichever namespace the sockets are read in later.

use std::path::Path;
use std::thread::JoinHandle;

use super::{FirewallSource, Options, RulesetRead, nft};
use crate::error::Error;

/// The reader's answer: the ruleset and whether legacy tables are loaded, and warnings.
pub type Answer = (Result<(RulesetRead, bool), Error>, Vec<String>);

/// Start reading the ruleset `options` asks for.
pub fn start(options: &Options) -> JoinHandle<Answer> {
    let (source, proc_root) = (options.firewall.clone(), options.proc_root.clone());
    std::thread::spawn(move || {
        let mut warnings = Vec::new();
        let read = read(&source, &proc_root, &mut warnings);
        (read, warnings)
    })
}

/// Its answer, its warnings added to `warnings`.
pub fn finish(
    reader: JoinHandle<Answer>,
    warnings: &mut Vec<String>,
) -> Result<(RulesetRead, bool), Error> {
    // A reader that panicked is a bug: its answer would be missing, so the panic goes on.
    let (read, trouble) = reader.join().unwrap();
    warnings.extend(trouble);
    read
}

/// The ruleset, from the kernel (or nft) or a file, and whether legacy iptables tables are
/// loaded. A `--ruleset FILE` that cannot be read or is not a ruleset is an error naming
/// it; a live ruleset that cannot be read is a warning.
fn read(
    source: &FirewallSource,
    proc_root: &Path,
    warnings: &mut Vec<String>,
) -> Result<(RulesetRead, bool), Error> {
    match source {
        FirewallSource::Off => Ok((RulesetRead::NotRead, false)),
        FirewallSource::File(path) => {
            let named = |why: &str| Error::new(format!("--ruleset {}: {why}", path.display()));
            // With --trust-firewall this file alone can pass a socket: trusted like the
            // policy (see `fsafe`).
            let bytes = crate::fsafe::read::trusted(path)
                .map_err(|e| e.into_error(path, |e| named(&crate::error::describe_io(e))))?;
            let json = String::from_utf8(bytes).map_err(|_| named("not UTF-8 text"))?;
            let ruleset = nft::parse_saved(&json).map_err(|why| named(&why))?;
            Ok((RulesetRead::Read(Box::new(ruleset)), false))
        }
        FirewallSource::Nft => {
            let legacy = nft::legacy_tables(proc_root);
            let legacy_loaded = legacy.iter().any(|w| w.starts_with("legacy"));
            warnings.extend(legacy);
            match nft::read_ruleset(warnings) {
                Ok(ruleset) => Ok((RulesetRead::Read(Box::new(ruleset)), legacy_loaded)),
                Err(why) => {
                    warnings.push(format!(
                        "{why}; the firewall column says unknown and ports published by DNAT \
                         rules are not seen"
                    ));
                    Ok((RulesetRead::Unreadable, legacy_loaded))
                }
            }
        }
    }
}
