//! Read the nftables ruleset (read-only) into the model the kernel runs
//! (`crate::ruleset`), and notice legacy iptables tables that nft cannot show.
//!
//! The kernel is asked over netlink (`native`): its expressions, iptables-nft's compat
//! matches and targets included, are decoded into the model directly (`decode`, `expr`,
//! `xt`, `value`). `nft -j list ruleset`, through the typed builder (`json`), is asked only
//! when that read fails for a reason nft may not share, and reads `--ruleset FILE`.

mod decode;
mod expr;
pub(crate) mod json;
mod native;
#[cfg(test)]
mod oracle;
mod value;
mod xt;

/// What an iptables-nft `DNAT` target maps to, as nft's JSON shows it: nothing.
pub(crate) const XT_DNAT: &str =
    "an iptables-nft DNAT target, whose address nft's JSON does not show";
/// An iptables-nft `REJECT` target, whose reject type nft's JSON does not show.
pub(crate) const XT_REJECT: &str = "xt target REJECT";

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

pub use decode::Coverage;

use crate::collect::netlink::NetlinkError;
use crate::ruleset::Ruleset;

/// A captured netlink dump (concatenated messages, as tests/fixtures/nft/netlink/dump.py
/// writes them) as the typed ruleset, and how much of it was decoded.
pub fn decode_dump(stream: &[u8]) -> Result<(Ruleset, Coverage), String> {
    decode::from_messages(stream)
}

/// The live ruleset of portaudit's own namespace, as the model; one line saying why not.
///
/// Read over netlink. When that fails, nft is asked: refused (no CAP_NET_ADMIN), nft may
/// still read it where it was given the capability; failed otherwise (a reply that could
/// not be placed, a ruleset that kept changing), nft reads with its own code. nft's JSON
/// names iptables-nft's matches and targets without their arguments: those rules are then
/// unknown, and after a failure (not a refusal, the common case without root) a warning
/// says the ruleset was read that way.
pub fn read_ruleset(warnings: &mut Vec<String>) -> Result<Ruleset, String> {
    let failure = match native::read() {
        Ok((ruleset, _)) => return Ok(ruleset),
        Err(failure) => failure,
    };
    match (run_nft(&["-j", "list", "ruleset"]), failure) {
        (Ok(json), NetlinkError::Refused(_)) => json::parse(&json, &interface_index),
        (Ok(json), NetlinkError::Failed(why)) => {
            warnings.push(format!(
                "{why}; the ruleset was read from nft's JSON instead, where iptables-nft \
                 rules are unknown"
            ));
            json::parse(&json, &interface_index)
        }
        (Err(_), NetlinkError::Refused(why)) => Err(refusal(&why)),
        (Err(nft), NetlinkError::Failed(why)) => Err(format!("{why}; {nft}")),
    }
}

/// One line for a netlink refusal.
fn refusal(why: &str) -> String {
    let lower = why.to_ascii_lowercase();
    if lower.contains("permission denied") || lower.contains("operation not permitted") {
        return "reading the nftables ruleset needs root (CAP_NET_ADMIN)".into();
    }
    format!("cannot read the nftables ruleset: {why}")
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

    /// Reads the real ruleset (root: over netlink); it never changes anything.
    #[test]
    fn reads_the_live_ruleset_or_says_why_not() {
        let mut warnings = Vec::new();
        match read_ruleset(&mut warnings) {
            Ok(_) => assert!(warnings.is_empty(), "{warnings:?}"),
            Err(line) => assert!(!line.contains('\n') && line.contains("nftables"), "{line}"),
        }
    }

    #[test]
    fn a_refusal_says_what_is_needed() {
        assert_eq!(
            refusal("netlink nfnetlink refused the nftables tables: Operation not permitted"),
            "reading the nftables ruleset needs root (CAP_NET_ADMIN)"
        );
        assert_eq!(
            refusal("cannot open a netlink nfnetlink socket: Protocol not supported"),
            "cannot read the nftables ruleset: cannot open a netlink nfnetlink socket: \
             Protocol not supported"
        );
    }
}
