//! What we know about services that are dangerous when reachable: for an exposed finding
//! on one of these ports, why it matters and the usual fix. Shown in the table's footer
//! and as `advice` in the JSON.
//!
//! Keyed on the port alone (plus protocol): a port says what is *probably* listening,
//! which is what an operator needs to look at first; the process column says the rest.

use crate::audit::{Advice, Severity};
use crate::socket::Protocol;

const TCP: Option<Protocol> = Some(Protocol::Tcp);
const UDP: Option<Protocol> = Some(Protocol::Udp);
const BOTH: Option<Protocol> = None;

macro_rules! advice {
    ($port:expr, $proto:expr, $service:expr, $severity:ident, $why:expr, $fix:expr) => {
        Advice {
            port: $port,
            protocol: $proto,
            service: $service,
            severity: Severity::$severity,
            why: $why,
            fix: $fix,
        }
    };
}

/// Dangerous when reachable. One line of why, one of the usual fix.
pub const TABLE: &[Advice] = &[
    advice!(
        11211,
        UDP,
        "memcached",
        Critical,
        "UDP memcached answers spoofed requests with replies up to 50000 times larger: a DDoS amplifier",
        "disable UDP and bind to loopback: memcached -U 0 -l 127.0.0.1"
    ),
    advice!(
        11211,
        TCP,
        "memcached",
        High,
        "no authentication: anyone can read, change and flush the cache",
        "bind to loopback or a private address: memcached -l 127.0.0.1"
    ),
    advice!(
        6379,
        TCP,
        "redis",
        Critical,
        "no authentication by default; CONFIG SET lets a client write files and take over the host",
        "bind 127.0.0.1 and protected-mode yes in redis.conf; set requirepass or ACLs"
    ),
    advice!(
        27017,
        TCP,
        "mongodb",
        Critical,
        "databases left open without authentication are wiped and ransomed by bots within hours",
        "net.bindIp: 127.0.0.1 and security.authorization: enabled in mongod.conf"
    ),
    advice!(
        9200,
        TCP,
        "elasticsearch",
        Critical,
        "the REST API reads and deletes every index; older versions have no authentication",
        "network.host: 127.0.0.1 (or a private address) and xpack.security.enabled: true"
    ),
    advice!(
        9300,
        TCP,
        "elasticsearch",
        High,
        "the transport port joins nodes to the cluster",
        "bind transport.host to a private address and enable transport TLS"
    ),
    advice!(
        2375,
        TCP,
        "docker",
        Critical,
        "the Docker API without TLS is root on the host for anyone who connects",
        "remove -H tcp://0.0.0.0:2375 from dockerd; use the unix socket or ssh://"
    ),
    advice!(
        2376,
        TCP,
        "docker",
        High,
        "the Docker API is root on the host; TLS is only as safe as its client-certificate check",
        "use --tlsverify with client certificates, and firewall it to admin hosts"
    ),
    advice!(
        2379,
        TCP,
        "etcd",
        Critical,
        "etcd holds a cluster's secrets; without client-cert auth anyone can read them",
        "--listen-client-urls on a private address with --client-cert-auth"
    ),
    advice!(
        2380,
        TCP,
        "etcd",
        High,
        "the etcd peer port lets a host join the cluster",
        "--listen-peer-urls on a private address with --peer-client-cert-auth"
    ),
    advice!(
        10250,
        TCP,
        "kubelet",
        Critical,
        "the kubelet API runs commands in any pod on the node when anonymous auth is on",
        "--anonymous-auth=false --authorization-mode=Webhook; firewall it to the control plane"
    ),
    advice!(
        3306,
        TCP,
        "mysql",
        High,
        "database logins are brute-forced, and old servers have pre-auth bugs",
        "bind-address = 127.0.0.1 (or a private address) in my.cnf"
    ),
    advice!(
        5432,
        TCP,
        "postgres",
        High,
        "database logins are brute-forced; a trust line in pg_hba.conf is game over",
        "listen_addresses = 'localhost' (or a private address) in postgresql.conf"
    ),
    advice!(
        111,
        BOTH,
        "rpcbind",
        High,
        "lists the host's RPC services and amplifies UDP traffic",
        "stop rpcbind if NFSv3 is not used (systemctl disable --now rpcbind.socket)"
    ),
    advice!(
        2049,
        BOTH,
        "nfs",
        High,
        "exports are protected only by client addresses, which are easy to spoof",
        "firewall NFS to client networks; export with sec=krb5 where possible"
    ),
    advice!(
        445,
        TCP,
        "smb",
        Critical,
        "SMB is the worm vector of EternalBlue and WannaCry",
        "never expose SMB to the internet; bind Samba to private interfaces (interfaces = lo eth1, bind interfaces only = yes)"
    ),
    advice!(
        3389,
        TCP,
        "rdp",
        High,
        "RDP is brute-forced constantly and had pre-auth worms (BlueKeep)",
        "reach it through a VPN or bastion; firewall it to admin networks"
    ),
    advice!(
        5900,
        TCP,
        "vnc",
        Critical,
        "VNC often has a weak or no password and shows the whole desktop",
        "bind to localhost (-localhost) and tunnel it over ssh"
    ),
    advice!(
        123,
        UDP,
        "ntp",
        Medium,
        "NTP servers with monlist enabled amplify spoofed traffic up to 500 times",
        "serve time only to your networks: restrict default noquery; or run chrony as a client only (port 0)"
    ),
    advice!(
        53,
        BOTH,
        "dns",
        Medium,
        "an open resolver amplifies spoofed traffic and serves cache poisoning",
        "allow recursion only for your own networks (allow-recursion / access-control)"
    ),
    advice!(
        1900,
        UDP,
        "ssdp",
        High,
        "SSDP/UPnP replies amplify spoofed traffic about 30 times",
        "disable UPnP/SSDP on servers (minidlna, miniupnpd) or bind it to the LAN"
    ),
    advice!(
        389,
        BOTH,
        "ldap",
        High,
        "CLDAP (UDP 389) amplifies spoofed traffic up to 70 times; directory data leaks over TCP",
        "firewall LDAP to clients; disable connectionless LDAP on UDP 389"
    ),
];

/// What we know about a reachable `protocol`/`port`, if it is in the table.
pub fn lookup(protocol: Protocol, port: u16) -> Option<&'static Advice> {
    TABLE
        .iter()
        .find(|a| a.port == port && a.protocol.is_none_or(|p| p == protocol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_covers_the_services_the_issue_names() {
        for (port, protocol) in [
            (11211, Protocol::Tcp),
            (11211, Protocol::Udp),
            (6379, Protocol::Tcp),
            (27017, Protocol::Tcp),
            (9200, Protocol::Tcp),
            (9300, Protocol::Tcp),
            (2375, Protocol::Tcp),
            (2376, Protocol::Tcp),
            (2379, Protocol::Tcp),
            (2380, Protocol::Tcp),
            (10250, Protocol::Tcp),
            (3306, Protocol::Tcp),
            (5432, Protocol::Tcp),
            (111, Protocol::Udp),
            (2049, Protocol::Tcp),
            (445, Protocol::Tcp),
            (3389, Protocol::Tcp),
            (5900, Protocol::Tcp),
            (123, Protocol::Udp),
            (53, Protocol::Udp),
            (1900, Protocol::Udp),
            (389, Protocol::Udp),
        ] {
            let advice = lookup(protocol, port).unwrap_or_else(|| panic!("{port}/{protocol:?}"));
            assert!(!advice.why.is_empty() && !advice.fix.is_empty());
        }
        assert_eq!(lookup(Protocol::Tcp, 22), None);
        assert_eq!(lookup(Protocol::Udp, 6379), None);
    }

    #[test]
    fn memcached_udp_says_disable_udp() {
        let advice = lookup(Protocol::Udp, 11211).unwrap();
        assert_eq!(advice.severity, Severity::Critical);
        assert!(advice.fix.contains("-U 0") && advice.fix.contains("-l 127.0.0.1"));
    }

    #[test]
    fn entries_are_unique() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                let overlap = a.port == b.port
                    && (a.protocol.is_none() || b.protocol.is_none() || a.protocol == b.protocol);
                assert!(!overlap, "{a:?} and {b:?} overlap");
            }
        }
    }
}
