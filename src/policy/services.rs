//! Service names for `--allow ssh`: /etc/services, or a built-in table where that file
//! is missing (minimal containers often have no /etc/services).

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
memcache 11211/tcp memcached
memcache 11211/udp memcached
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

    pub fn load_from(path: &Path) -> Result<Services, Error> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Self::parse(
                &String::from_utf8_lossy(&bytes),
                path.display().to_string(),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::builtin()),
            Err(e) => Err(Error::io("read", path, &e)),
        }
    }

    pub fn builtin() -> Services {
        Self::parse(BUILTIN, "the built-in service table".to_string())
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
    fn missing_file_falls_back_to_the_builtin_table() {
        let services = Services::load_from(Path::new("/nonexistent/services")).unwrap();
        assert_eq!(services.source, "the built-in service table");
        assert_eq!(
            services.lookup("https"),
            Some(&[(443, Protocol::Tcp), (443, Protocol::Udp)][..])
        );
    }
}
