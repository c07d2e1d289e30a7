//! Run `nft -j list ruleset` (read-only), and notice legacy iptables tables that it
//! cannot show.
//!
//! Also `nft -a list ruleset` (text): nft's JSON names an iptables-nft `DNAT` target
//! without its address, and only the text listing shows it translated; see
//! `Ruleset::read_xt_from_text`.

mod decode;
mod expr;
// Wired into collect once the typed model replaces the JSON text reach reads.
#[allow(dead_code)]
mod native;
mod value;
mod xt;

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

pub use decode::Coverage;

use crate::ruleset::Ruleset;

/// A captured netlink dump (concatenated messages, as tests/fixtures/nft/netlink/dump.py
/// writes them) as the typed ruleset, and how much of it was decoded.
pub fn decode_dump(stream: &[u8]) -> Result<(Ruleset, Coverage), String> {
    decode::from_messages(stream)
}

/// The ruleset's JSON text, as `nft -j list ruleset` prints it, or one line saying why
/// there is none.
pub fn list_ruleset() -> Result<String, String> {
    run_nft(&["-j", "list", "ruleset"])
}

/// The ruleset as text with rule handles (`nft -a list ruleset`), or one line saying why
/// there is none.
pub fn list_ruleset_text() -> Result<String, String> {
    run_nft(&["-a", "list", "ruleset"])
}

fn run_nft(args: &[&str]) -> Result<String, String> {
    let command = format!("nft {}", args.join(" "));
    let output = Command::new("nft")
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                "nft not found: install nftables to see the firewall and DNAT rules".to_string()
            }
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
