//! Read the nftables ruleset (read-only) into the model the kernel runs
//! (`crate::ruleset`), and notice legacy iptables tables that nft cannot show.
//!
//! The kernel is asked over netlink (`native`), else `nft -j list ruleset`; either way the
//! JSON goes through the typed builder (`json`). Where nft's JSON hides what iptables-nft
//! rules do (a `DNAT` target's address, a conntrack match's states), its text listing
//! (`nft -a list ruleset`) fills them in (`listing`).

mod decode;
mod expr;
pub(crate) mod json;
mod listing;
mod native;
#[cfg(test)]
mod oracle;
mod value;

use crate::ruleset::Ruleset;

/// What an iptables-nft `DNAT` target maps to, as nft's JSON shows it: nothing.
pub(crate) const XT_DNAT: &str =
    "an iptables-nft DNAT target, whose address nft's JSON does not show";

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

/// The ruleset's JSON text, as `nft -j list ruleset` prints it, or one line saying why
/// there is none.
///
/// Starting nft costs milliseconds, most of an audit on a small host, so the kernel is
/// asked first, over netlink (`native`), and its answer printed as nft would print it.
/// Whatever that reader does not print exactly as nft does (iptables-nft rules,
/// expressions it does not know, other families) and any refusal (no CAP_NET_ADMIN, no
/// nf_tables, a sandbox) leave the answer to nft, as before: the firewall stage sees
/// what nft shows, or nft's own error.
///
/// Only where nft could run: without it the answer stays "nft not found", as it always
/// was, so that every ruleset the reader leaves aside still has nft to read it.
pub fn list_ruleset() -> Result<String, String> {
    if nft_installed()
        && let Ok(json) = native::read()
    {
        return Ok(json);
    }
    run_nft(&["-j", "list", "ruleset"])
}

/// The ruleset as text with rule handles (`nft -a list ruleset`), or one line saying why
/// there is none.
fn list_ruleset_text() -> Result<String, String> {
    run_nft(&["-a", "list", "ruleset"])
}

/// The live ruleset of portaudit's own namespace, as the model; one line saying why not.
/// What nft's JSON hides of iptables-nft rules is filled in from its text listing, when
/// there are such rules (a failure there is a warning: those rules stay unknown).
pub fn read_ruleset(warnings: &mut Vec<String>) -> Result<Ruleset, String> {
    let json = list_ruleset()?;
    let mut ruleset = json::parse(&json, &interface_index)?;
    if listing::wanted(&ruleset) {
        match list_ruleset_text() {
            Ok(text) => listing::read_xt(&mut ruleset, &text),
            Err(why) => warnings.push(why),
        }
    }
    Ok(ruleset)
}

/// A saved `nft -j list ruleset` (`--ruleset FILE`): interface names other than loopback
/// cannot be resolved to the indexes of the host it came from.
pub fn parse_saved(json: &str) -> Result<Ruleset, String> {
    json::parse(json, &|name| (name == "lo").then_some(1))
}

/// An interface's index in portaudit's own namespace (if_nametoindex).
fn interface_index(name: &str) -> Option<u32> {
    if name == "lo" {
        return Some(1);
    }
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a NUL-terminated string; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Where the distributions install nft (Debian and Fedora: /usr/sbin, Arch: /usr/bin; /sbin
/// and /bin for systems whose /usr is not merged). Never the caller's PATH: a root shell
/// or cron job with a user-writable directory on it would run that user's `nft` as root.
const NFT: [&str; 4] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"];

/// The first of [`NFT`] that is a file.
fn nft_path() -> Option<&'static str> {
    NFT.into_iter().find(|path| Path::new(path).is_file())
}

/// Whether nft is installed where the distributions put it.
fn nft_installed() -> bool {
    nft_path().is_some()
}

fn run_nft(args: &[&str]) -> Result<String, String> {
    let command = format!("nft {}", args.join(" "));
    let not_found = || "nft not found: install nftables to see the firewall and DNAT rules";
    let nft = nft_path().ok_or_else(|| not_found().to_string())?;
    // Nothing of the caller's environment: no PATH, no NFT_*, no locale but C's.
    let output = Command::new(nft)
        .args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => not_found().to_string(),
            _ => format!("cannot run {command}: {e}"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let status = output.status.code().map_or_else(
            || "killed by a signal".to_string(),
            |c| format!("exit status {c}"),
        );
        return Err(failure(&command, &stderr, &status));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("{command} printed text that is not UTF-8"))
}

/// One line for a failed nft run, from what it printed on stderr.
fn failure(command: &str, stderr: &str, status: &str) -> String {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("permission denied") || lower.contains("operation not permitted") {
        return "listing the nftables ruleset needs root (CAP_NET_ADMIN)".into();
    }
    let first = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        });
    match first {
        Some(line) => format!("{command} failed: {line}"),
        None => format!("{command} failed: {status}"),
    }
}

/// Legacy (x_tables) iptables tables in use, which `nft` cannot list: a warning each.
pub fn legacy_tables(proc_root: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    for (family, file) in [("ip", "ip_tables_names"), ("ip6", "ip6_tables_names")] {
        let path = proc_root.join("net").join(file);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            // No x_tables module loaded: no legacy tables.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            // Root only (0440): without root nft cannot list the ruleset either, and that
            // warning says so.
            Err(e) if e.kind() == ErrorKind::PermissionDenied => continue,
            Err(e) => {
                warnings.push(format!(
                    "cannot read {}: {e}; legacy iptables rules, if any, are not seen",
                    path.display()
                ));
                continue;
            }
        };
        let names: Vec<String> = text
            .lines()
            .map(|l| {
                l.trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .collect::<String>()
            })
            .filter(|l| !l.is_empty())
            .collect();
        if !names.is_empty() {
            warnings.push(format!(
                "legacy iptables tables are loaded ({family}: {}): nft cannot show their \
                 rules, so the firewall answers may be wrong and their DNATs are not seen",
                names.join(", ")
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        let cmd = "nft -j list ruleset";
        assert_eq!(
            failure(
                cmd,
                "Error: cache initialization failed: Operation not permitted\n",
                "exit status 1"
            ),
            "listing the nftables ruleset needs root (CAP_NET_ADMIN)"
        );
        assert_eq!(
            failure(cmd, "netlink: Error: Permission denied", "exit status 1"),
            "listing the nftables ruleset needs root (CAP_NET_ADMIN)"
        );
        assert_eq!(
            failure(
                cmd,
                "\nError: Protocol not supported\nmore\n",
                "exit status 1"
            ),
            "nft -j list ruleset failed: Error: Protocol not supported"
        );
        assert_eq!(
            failure(cmd, "", "exit status 3"),
            "nft -j list ruleset failed: exit status 3"
        );
    }

    #[test]
    fn legacy_tables_are_warned_about() {
        let root =
            std::env::temp_dir().join(format!("portaudit-nft-legacy-{}", std::process::id()));
        let net = root.join("net");
        std::fs::create_dir_all(&net).unwrap();
        assert_eq!(legacy_tables(&root), Vec::<String>::new());
        std::fs::write(net.join("ip_tables_names"), "nat\nfilter\n").unwrap();
        std::fs::write(net.join("ip6_tables_names"), "").unwrap();
        let warnings = legacy_tables(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "legacy iptables tables are loaded (ip: nat, filter): nft cannot show"
            )
        );
    }

    #[test]
    fn the_empty_ruleset_is_what_nft_prints_without_tables() {
        let json = decode::ruleset(&decode::Dump::default(), &decode::Names::for_tests())
            .unwrap()
            .to_string();
        let ruleset = parse_saved(&json).unwrap();
        let nft = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}"#;
        assert_eq!(ruleset, parse_saved(nft).unwrap());
        assert_eq!(ruleset, Ruleset::default());
    }

    /// Runs the real nft when it is installed; it lists, it never changes anything.
    #[test]
    fn lists_the_live_ruleset_or_says_why_not() {
        match list_ruleset() {
            Ok(json) => {
                assert!(json.contains("nftables"), "{json}");
            }
            Err(line) => assert!(!line.contains('\n') && line.contains("nft"), "{line}"),
        }
    }
}
