//! Service names for `--allow ssh`: /etc/services, and a built-in table for the names it
//! lacks (minimal containers often have no /etc/services, and it does not know `dns`,
//! `memcached` or `elasticsearch`). Every service name portaudit prints in advice is in
//! the built-in table, so `--allow` accepts whatever the report says. A name that is
//! nowhere gets the nearest known one suggested.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use crate::error::Error;
use crate::socket::Protocol;

pub const SYSTEM_FILE: &str = "/etc/services";

/// The common services, in /etc/services' own format so that one parser reads both.
const BUILTIN: &str = "\
ftp 21/tcp
ssh 22/tcp
telnet 23/tcp
smtp 25/tcp mail
domain 53/tcp dns
domain 53/udp dns
http 80/tcp www
kerberos 88/tcp kerberos5 krb5
kerberos 88/udp kerberos5 krb5
pop3 110/tcp
sunrpc 111/tcp portmapper rpcbind
sunrpc 111/udp portmapper rpcbind
ntp 123/udp
imap2 143/tcp imap
snmp 161/tcp
snmp 161/udp
bgp 179/tcp
ldap 389/tcp
ldap 389/udp
https 443/tcp
https 443/udp
microsoft-ds 445/tcp smb
submissions 465/tcp smtps
syslog 514/udp
submission 587/tcp
ldaps 636/tcp
rsync 873/tcp
imaps 993/tcp
pop3s 995/tcp
openvpn 1194/tcp
openvpn 1194/udp
nfs 2049/tcp
nfs 2049/udp
mysql 3306/tcp
ms-wbt-server 3389/tcp rdp
sip 5060/tcp
sip 5060/udp
mdns 5353/udp
postgresql 5432/tcp postgres
amqp 5672/tcp
rfb 5900/tcp vnc
redis 6379/tcp
http-alt 8080/tcp webcache
mongodb 27017/tcp
";

/// Service name (or alias) → the (port, protocol) pairs it names.
#[derive(Debug, Default)]
pub struct Services {
    by_name: HashMap<String, Vec<(u16, Protocol)>>,
    /// Where the names came from, for error messages.
    pub source: String,
}

impl Services {
    /// /etc/services when present; the built-in table when it does not exist.
    pub fn load() -> Result<Services, Error> {
        Self::load_from(Path::new(SYSTEM_FILE))
    }

    /// The file's names, and the built-in table's where the file lacks them.
    pub fn load_from(path: &Path) -> Result<Services, Error> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mut services = Self::parse(
                    &String::from_utf8_lossy(&bytes),
                    format!("{} or the built-in service table", path.display()),
                );
                for (name, ports) in Self::builtin().by_name {
                    services.by_name.entry(name).or_insert(ports);
                }
                Ok(services)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::builtin()),
            Err(e) => Err(Error::io("read", path, &e)),
        }
    }

    /// The common services, and every service advice names.
    pub fn builtin() -> Services {
        let mut text = BUILTIN.to_string();
        for (name, port, protocol) in super::advice::service_ports() {
            for p in [Protocol::Tcp, Protocol::Udp] {
                if protocol.is_none_or(|want| want == p) {
                    text.push_str(&format!("{name} {port}/{}\n", p.name()));
                }
            }
        }
        Self::parse(&text, "the built-in service table".to_string())
    }

    /// The known name nearest to `name`, when it is near enough to be a typo.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let limit = (name.chars().count() / 3).clamp(1, 3);
        self.by_name
            .keys()
            .map(|known| (distance(&name, known), known.as_str()))
            .filter(|&(d, _)| d <= limit)
            .min()
            .map(|(_, known)| known)
    }

    /// `name port/proto [alias ...] [# comment]`, one per line; other protocols (sctp, ddp) are skipped.
    pub fn parse(text: &str, source: String) -> Services {
        let mut by_name: HashMap<String, Vec<(u16, Protocol)>> = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let protocol = match proto {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => continue,
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            for alias in std::iter::once(name).chain(words) {
                let entry = by_name.entry(alias.to_ascii_lowercase()).or_default();
                if !entry.contains(&(port, protocol)) {
                    entry.push((port, protocol));
                }
            }
        }
        Services { by_name, source }
    }

    pub fn lookup(&self, name: &str) -> Option<&[(u16, Protocol)]> {
        self.by_name
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

/// Levenshtein distance: the fewest one-character edits from `a` to `b`.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_and_comments() {
        let services = Services::parse(
            "# comment\nssh\t\t22/tcp\t\t\t\t# SSH\ndomain 53/tcp\ndomain 53/udp\npostgresql 5432/tcp postgres # db\namqp 5672/sctp\nbroken\nbad 99999/tcp\n",
            "test".into(),
        );
        assert_eq!(services.lookup("ssh"), Some(&[(22, Protocol::Tcp)][..]));
        assert_eq!(services.lookup("SSH"), Some(&[(22, Protocol::Tcp)][..]));
        assert_eq!(
            services.lookup("domain"),
            Some(&[(53, Protocol::Tcp), (53, Protocol::Udp)][..])
        );
        assert_eq!(
            services.lookup("postgres"),
            Some(&[(5432, Protocol::Tcp)][..])
        );
        assert_eq!(services.lookup("amqp"), None);
        assert_eq!(services.lookup("bad"), None);
        assert_eq!(services.lookup("broken"), None);
    }

    #[test]
    fn builtin_table_knows_the_common_services() {
        let services = Services::builtin();
        assert_eq!(services.lookup("ssh"), Some(&[(22, Protocol::Tcp)][..]));
        assert_eq!(
            services.lookup("postgresql"),
            Some(&[(5432, Protocol::Tcp)][..])
        );
        assert_eq!(
            services.lookup("memcached"),
            Some(&[(11211, Protocol::Tcp), (11211, Protocol::Udp)][..])
        );
        assert_eq!(services.lookup("nonesuch"), None);
    }

    #[test]
    fn every_service_advice_names_is_known() {
        let system = Services::parse("ssh 22/tcp\n", "test".into());
        let builtin = Services::builtin();
        let dir = std::env::temp_dir().join(format!("portaudit-services-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("services");
        std::fs::write(&file, "ssh 22/tcp\nredis 6380/tcp\n").unwrap();
        let merged = Services::load_from(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for name in super::super::advice::service_names() {
            assert!(builtin.lookup(name).is_some(), "{name}");
            assert!(merged.lookup(name).is_some(), "{name}");
        }
        assert_eq!(system.lookup("dns"), None);
        assert_eq!(
            merged.lookup("dns"),
            Some(&[(53, Protocol::Tcp), (53, Protocol::Udp)][..])
        );
        // The file wins for the names it has.
        assert_eq!(merged.lookup("redis"), Some(&[(6380, Protocol::Tcp)][..]));
        assert!(merged.source.ends_with("or the built-in service table"));
    }

    #[test]
    fn a_typo_gets_the_nearest_name() {
        let services = Services::builtin();
        assert_eq!(services.suggest("memcache"), Some("memcached"));
        assert_eq!(services.suggest("elasticserach"), Some("elasticsearch"));
        assert_eq!(services.suggest("postgress"), Some("postgres"));
        assert_eq!(services.suggest("Rediss"), Some("redis"));
        assert_eq!(services.suggest("zzzzzzzz"), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "ab"), 2);
    }

    #[test]
    fn missing_file_falls_back_to_the_builtin_table() {
        let services = Services::load_from(Path::new("/nonexistent/services")).unwrap();
        assert_eq!(services.source, "the built-in service table");
        assert_eq!(
            services.lookup("https"),
            Some(&[(443, Protocol::Tcp), (443, Protocol::Udp)][..])
        );
    }
}
