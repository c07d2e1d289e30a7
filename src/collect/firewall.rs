//! The host's nftables ruleset, as text (`nft -j list ruleset`, or a saved one), read on
//! a thread of its own beside the sockets and owners: it needs nothing from them, and
//! on a small server it is a good part of the audit. Started first, the reader is in
//! portaudit's own namespace, whichever namespace the sockets are read in later.

use std::path::Path;
use std::thread::JoinHandle;

use super::{FirewallSource, Options, RulesetText, nft};
use crate::error::Error;

/// The reader's answer: the ruleset and whether legacy tables are loaded, and warnings.
pub type Answer = (Result<(RulesetText, bool), Error>, Vec<String>);

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
) -> Result<(RulesetText, bool), Error> {
    // A reader that panicked is a bug: its answer would be missing, so the panic goes on.
    let (read, trouble) = reader.join().unwrap();
    warnings.extend(trouble);
    read
}

/// The ruleset's text, from nft or a file, and whether legacy iptables tables are
/// loaded. An unreadable `--ruleset FILE` is an error; nft that cannot run is a warning.
fn read(
    source: &FirewallSource,
    proc_root: &Path,
    warnings: &mut Vec<String>,
) -> Result<(RulesetText, bool), Error> {
    match source {
        FirewallSource::Off => Ok((RulesetText::NotRead, false)),
        FirewallSource::File(path) => {
            // With --trust-firewall this file alone can pass a socket: trusted like the
            // policy (see `fsafe`).
            let ruleset = |why: String| Error::new(format!("--ruleset {}: {why}", path.display()));
            let bytes = crate::fsafe::read::trusted(path)
                .map_err(|e| e.into_error(path, |e| ruleset(crate::error::describe_io(e))))?;
            let json = String::from_utf8(bytes).map_err(|_| ruleset("not UTF-8 text".into()))?;
            let file = Some(path.clone());
            Ok((
                RulesetText::Read {
                    json,
                    listing: None,
                    file,
                },
                false,
            ))
        }
        FirewallSource::Nft => {
            let legacy = nft::legacy_tables(proc_root);
            let legacy_loaded = legacy.iter().any(|w| w.starts_with("legacy"));
            warnings.extend(legacy);
            match nft::list_ruleset() {
                Ok(json) => {
                    // iptables-nft's targets (Docker's DNAT) show no address in nft's
                    // JSON; its text listing translates them.
                    let listing = if json.contains("\"xt\"") {
                        match nft::list_ruleset_text() {
                            Ok(text) => Some(text),
                            Err(why) => {
                                warnings.push(why);
                                None
                            }
                        }
                    } else {
                        None
                    };
                    let text = RulesetText::Read {
                        json,
                        listing,
                        file: None,
                    };
                    Ok((text, legacy_loaded))
                }
                Err(why) => {
                    warnings.push(format!(
                        "{why}; the firewall column says unknown and ports published by DNAT \
                         rules are not seen"
                    ));
                    Ok((RulesetText::Unreadable, legacy_loaded))
                }
            }
        }
    }
}
