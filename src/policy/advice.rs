//! Advice for a failing, reachable socket: which service it is, why that matters, and
//! the fix — the file to edit and the command that applies it, for the unit found.
//!
//! The service is named by who holds the socket first (the systemd unit, the
//! executable, the process name) and by the port only when no owner says anything
//! (none known, or an interpreter such as `java`). A program we know nothing about on a
//! well-known port is not given that port's service: the advice says whose port it
//! usually is. The fix never asks for what the socket already does: a socket on a
//! private address (failing under `--strict`) is told to bind to loopback or be
//! allowed, not to "bind to a private address".
//!
//! Pure: the policy stage calls [`advise`] with plain values.

use crate::audit::{Advice, Basis, Severity};
use crate::classify::Exposure;
use crate::socket::{Listener, Protocol};

const TCP: Option<Protocol> = Some(Protocol::Tcp);
const UDP: Option<Protocol> = Some(Protocol::Udp);
const BOTH: Option<Protocol> = None;

/// Who holds the socket, as far as advice needs to know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner<'a> {
    /// The executable's path (`/usr/bin/memcached`), when it could be read.
    pub exe: Option<&'a str>,
    /// The process name (`comm`).
    pub comm: Option<&'a str>,
    /// The systemd unit the socket belongs to (`memcached.service`, `ssh.socket`).
    pub unit: Option<&'a str>,
}

impl<'a> Owner<'a> {
    /// The first owning process of `listener` that has a name, and the socket's unit.
    pub fn of(listener: &'a Listener, unit: Option<&'a str>) -> Owner<'a> {
        let process = listener.processes.first();
        Owner {
            exe: process.and_then(|p| p.exe.as_deref()?.to_str()),
            comm: process.and_then(|p| std::str::from_utf8(&p.comm).ok()),
            unit,
        }
    }
}

/// The services we have advice for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Memcached,
    Redis,
    Mongodb,
    Elasticsearch,
    Docker,
    Etcd,
    Kubelet,
    Mysql,
    Postgres,
    Rpcbind,
    Nfs,
    Smb,
    Rdp,
    Vnc,
    Ntp,
    Dns,
    Ssdp,
    Ldap,
    Ssh,
}

/// A service: the name portaudit prints (and `--allow` accepts), the programs and
/// units that are it, and the ports it usually listens on.
struct Known {
    service: Service,
    name: &'static str,
    programs: &'static [&'static str],
    /// Unit names without `.service`/`.socket` and without an `@instance`.
    units: &'static [&'static str],
    ports: &'static [(u16, Option<Protocol>)],
}

/// Every service with advice. `name` is what the report prints as `service`.
const KNOWN: &[Known] = &[
    Known {
        service: Service::Memcached,
        name: "memcached",
        programs: &["memcached"],
        units: &["memcached"],
        ports: &[(11211, BOTH)],
    },
    Known {
        service: Service::Redis,
        name: "redis",
        programs: &["redis-server"],
        units: &["redis-server", "redis"],
        ports: &[(6379, TCP)],
    },
    Known {
        service: Service::Mongodb,
        name: "mongodb",
        programs: &["mongod"],
        units: &["mongod", "mongodb"],
        ports: &[(27017, TCP)],
    },
    Known {
        service: Service::Elasticsearch,
        name: "elasticsearch",
        programs: &["elasticsearch"],
        units: &["elasticsearch"],
        ports: &[(9200, TCP), (9300, TCP)],
    },
    Known {
        service: Service::Docker,
        name: "docker",
        programs: &["dockerd"],
        units: &["docker"],
        ports: &[(2375, TCP), (2376, TCP)],
    },
    Known {
        service: Service::Etcd,
        name: "etcd",
        programs: &["etcd"],
        units: &["etcd"],
        ports: &[(2379, TCP), (2380, TCP)],
    },
    Known {
        service: Service::Kubelet,
        name: "kubelet",
        programs: &["kubelet"],
        units: &["kubelet"],
        ports: &[(10250, TCP)],
    },
    Known {
        service: Service::Mysql,
        name: "mysql",
        programs: &["mysqld", "mariadbd"],
        units: &["mysql", "mysqld", "mariadb"],
        ports: &[(3306, TCP)],
    },
    Known {
        service: Service::Postgres,
        name: "postgres",
        programs: &["postgres", "postmaster"],
        units: &["postgresql"],
        ports: &[(5432, TCP)],
    },
    Known {
        service: Service::Rpcbind,
        name: "rpcbind",
        programs: &["rpcbind"],
        units: &["rpcbind"],
        ports: &[(111, BOTH)],
    },
    Known {
        service: Service::Nfs,
        name: "nfs",
        programs: &[],
        units: &["nfs-server", "nfs-kernel-server"],
        ports: &[(2049, BOTH)],
    },
    Known {
        service: Service::Smb,
        name: "smb",
        programs: &["smbd"],
        units: &["smbd", "smb", "samba"],
        ports: &[(445, TCP)],
    },
    Known {
        service: Service::Rdp,
        name: "rdp",
        programs: &["xrdp"],
        units: &["xrdp"],
        ports: &[(3389, TCP)],
    },
    Known {
        service: Service::Vnc,
        name: "vnc",
        programs: &["Xvnc", "Xtigervnc", "x11vnc", "vncserver"],
        units: &[],
        ports: &[(5900, TCP)],
    },
    Known {
        service: Service::Ntp,
        name: "ntp",
        programs: &["ntpd", "chronyd"],
        units: &["ntp", "ntpsec", "ntpd", "chrony", "chronyd"],
        ports: &[(123, UDP)],
    },
    Known {
        service: Service::Dns,
        name: "dns",
        programs: &["dnsmasq", "named", "unbound", "pdns_recursor", "coredns"],
        units: &[
            "dnsmasq",
            "named",
            "bind9",
            "unbound",
            "pdns-recursor",
            "coredns",
        ],
        ports: &[(53, BOTH)],
    },
    Known {
        service: Service::Ssdp,
        name: "ssdp",
        programs: &["minidlnad", "miniupnpd"],
        units: &["minidlna", "miniupnpd"],
        ports: &[(1900, UDP)],
    },
    Known {
        service: Service::Ldap,
        name: "ldap",
        programs: &["slapd"],
        units: &["slapd"],
        ports: &[(389, BOTH)],
    },
    Known {
        service: Service::Ssh,
        name: "ssh",
        programs: &["sshd"],
        units: &["ssh", "sshd"],
        ports: &[(22, TCP)],
    },
];

/// The service names portaudit prints in advice: `--allow` must accept every one.
#[cfg(test)]
pub fn service_names() -> impl Iterator<Item = &'static str> {
    KNOWN.iter().map(|k| k.name)
}

/// The service names with the ports they usually use, for the built-in service table.
pub fn service_ports() -> impl Iterator<Item = (&'static str, u16, Option<Protocol>)> {
    KNOWN
        .iter()
        .flat_map(|k| k.ports.iter().map(move |&(port, p)| (k.name, port, p)))
}

/// Programs whose name says nothing about the service: interpreters, which run other
/// programs, and socket activators, which hold sockets for them (systemd, inetd).
fn is_interpreter(name: &str) -> bool {
    const INTERPRETERS: &[&str] = &[
        "java", "node", "nodejs", "ruby", "perl", "php", "sh", "bash", "dash", "dotnet", "mono",
        "beam.smp", "erl", "lua", "deno", "bun", "systemd", "init", "inetd", "xinetd",
    ];
    INTERPRETERS.contains(&name) || name.starts_with("python")
}

/// Who holds the socket, as far as we can name it.
enum Identity<'a> {
    /// A service we have advice for.
    Known(&'static Known, Basis),
    /// A program we have no advice for.
    Other(&'a str, Basis),
    /// Nobody we can name: no owner seen, or only an interpreter.
    Unknown,
}

/// `memcached.service` → `memcached`; `postgresql@15-main.service` → `postgresql`.
fn unit_base(unit: &str) -> &str {
    let stem = unit
        .strip_suffix(".service")
        .or_else(|| unit.strip_suffix(".socket"))
        .unwrap_or(unit);
    stem.split('@').next().unwrap_or(stem)
}

fn identify<'a>(owner: &Owner<'a>) -> Identity<'a> {
    let by_program = |name: &str| KNOWN.iter().find(|k| k.programs.contains(&name));
    let exe_name = owner.exe.and_then(|e| e.rsplit('/').next());
    // The unit first: it is what a person manages, and what runs an interpreter.
    if let Some(unit) = owner.unit {
        let base = unit_base(unit);
        if let Some(known) = KNOWN.iter().find(|k| k.units.contains(&base)) {
            return Identity::Known(known, Basis::Unit);
        }
    }
    if let Some(exe) = owner.exe {
        if let Some(known) = exe_name.and_then(by_program) {
            return Identity::Known(known, Basis::Executable);
        }
        // Elasticsearch runs its own bundled java.
        if exe.contains("/elasticsearch/") {
            return Identity::Known(&KNOWN[3], Basis::Executable);
        }
    }
    if let Some(known) = owner.comm.and_then(by_program) {
        return Identity::Known(known, Basis::Process);
    }
    // A unit that is not a service we know: a person's own service (`myapp.service`),
    // but not the scopes and slices every process is in.
    if let Some(unit) = owner
        .unit
        .filter(|u| u.ends_with(".service") || u.ends_with(".socket"))
    {
        return Identity::Other(unit, Basis::Unit);
    }
    match (exe_name, owner.comm) {
        (Some(exe), _) if !is_interpreter(exe) => Identity::Other(exe, Basis::Executable),
        (_, Some(comm)) if !is_interpreter(comm) && !comm.is_empty() => {
            Identity::Other(comm, Basis::Process)
        }
        _ => Identity::Unknown,
    }
}

/// The service whose port this usually is.
fn usual(protocol: Protocol, port: u16) -> Option<&'static Known> {
    KNOWN.iter().find(|k| {
        k.ports
            .iter()
            .any(|&(p, proto)| p == port && proto.is_none_or(|want| want == protocol))
    })
}

/// What to do about a failing socket reachable with `exposure` (never `None`).
pub fn advise(protocol: Protocol, port: u16, exposure: Exposure, owner: &Owner) -> Option<Advice> {
    let at = Socket {
        protocol,
        port,
        exposure,
        unit: owner.unit,
        program: owner.exe.and_then(|e| e.rsplit('/').next()).or(owner.comm),
    };
    match identify(owner) {
        Identity::Known(known, basis) => Some(advice(known, &at, basis)),
        Identity::Other(name, basis) => {
            let known = usual(protocol, port)?;
            Some(someone_else(known, name, basis, &at))
        }
        Identity::Unknown => {
            let known = usual(protocol, port)?;
            let mut advice = advice(known, &at, Basis::Port);
            advice.why = format!(
                "port usually used by {}, and no owner says otherwise: {}",
                known.name, advice.why
            );
            Some(advice)
        }
    }
}

/// The socket the advice is for.
struct Socket<'a> {
    protocol: Protocol,
    port: u16,
    exposure: Exposure,
    unit: Option<&'a str>,
    /// The owner's executable file name, else its process name.
    program: Option<&'a str>,
}

impl Socket<'_> {
    fn spec(&self) -> String {
        format!("{}/{}", self.port, self.protocol.name())
    }

    /// Where to bind instead: a private address is offered only to a public socket.
    fn loopback_or_private(&self, loopback: &str) -> String {
        match self.exposure {
            Exposure::Public => format!("{loopback} (or a private address)"),
            _ => loopback.to_string(),
        }
    }

    /// For a socket already on a private address, the other way out: allowing it.
    fn or_allow(&self, name: &str) -> String {
        match self.exposure {
            Exposure::Public => String::new(),
            _ => format!("; or, if this network may reach it, allow it: --allow {name}"),
        }
    }

    /// The unit to restart: the one found, else `default` (with the RHEL family's name
    /// when it differs).
    fn restart(&self, debian: &str, rhel: Option<&str>) -> (String, String) {
        match self.unit {
            Some(unit) => {
                let unit = unit.strip_suffix(".service").unwrap_or(unit);
                let command = format!("systemctl restart {unit}");
                (command.clone(), command)
            }
            None => {
                let command = format!("systemctl restart {debian}");
                let text = match rhel {
                    Some(rhel) => format!("{command} ({rhel} on the RHEL family)"),
                    None => command.clone(),
                };
                (command, text)
            }
        }
    }
}

fn make(
    known: &Known,
    severity: Severity,
    why: &str,
    fix: String,
    file: Option<&str>,
    command: Option<String>,
    basis: Basis,
) -> Advice {
    Advice {
        service: known.name.to_string(),
        severity,
        why: why.to_string(),
        fix,
        file: file.map(str::to_string),
        command,
        identified_by: basis,
    }
}

/// The advice for a known service on this socket.
fn advice(known: &Known, at: &Socket, basis: Basis) -> Advice {
    use Severity::{Critical, High, Medium};
    let name = known.name;
    let udp = at.protocol == Protocol::Udp;
    let or_allow = at.or_allow(&format!("{name}/{}", at.protocol.name()));
    match known.service {
        Service::Memcached => {
            let (command, restart) = at.restart("memcached", None);
            let files = "in /etc/memcached.conf (Debian, Ubuntu) or in OPTIONS in \
                         /etc/sysconfig/memcached (RHEL family)";
            if udp {
                make(
                    known,
                    Critical,
                    "UDP memcached answers spoofed requests with replies up to 50000 times \
                     larger: a DDoS amplifier",
                    format!(
                        "disable UDP and bind to loopback: -U 0 and -l 127.0.0.1 {files}, \
                         then {restart}"
                    ),
                    Some("/etc/memcached.conf"),
                    Some(command),
                    basis,
                )
            } else {
                let bind = at.loopback_or_private("-l 127.0.0.1");
                make(
                    known,
                    High,
                    "no authentication: anyone who connects can read, change and flush the cache",
                    format!(
                        "bind to loopback: {bind} {files} (add -U 0 too unless UDP is used), \
                         then {restart}{or_allow}"
                    ),
                    Some("/etc/memcached.conf"),
                    Some(command),
                    basis,
                )
            }
        }
        Service::Redis => {
            let (command, restart) = at.restart("redis-server", Some("redis"));
            let bind = at.loopback_or_private("bind 127.0.0.1 -::1");
            make(
                known,
                Critical,
                "no authentication by default; CONFIG SET lets a client write files and take \
                 over the host",
                format!(
                    "{bind} and protected-mode yes in /etc/redis/redis.conf, and set \
                     requirepass or ACLs; then {restart}{or_allow}"
                ),
                Some("/etc/redis/redis.conf"),
                Some(command),
                basis,
            )
        }
        Service::Mongodb => {
            let (command, restart) = at.restart("mongod", None);
            let bind = at.loopback_or_private("net.bindIp: 127.0.0.1");
            make(
                known,
                Critical,
                "databases left open without authentication are wiped and ransomed by bots \
                 within hours",
                format!(
                    "{bind} and security.authorization: enabled in /etc/mongod.conf, then \
                     {restart}{or_allow}"
                ),
                Some("/etc/mongod.conf"),
                Some(command),
                basis,
            )
        }
        Service::Elasticsearch => {
            let (command, restart) = at.restart("elasticsearch", None);
            let file = "/etc/elasticsearch/elasticsearch.yml";
            if at.port == 9300 {
                make(
                    known,
                    High,
                    "the transport port lets a node join the cluster",
                    format!(
                        "transport.host on a private address and transport TLS \
                         (xpack.security.transport.ssl) in {file}, then {restart}"
                    ),
                    Some(file),
                    Some(command),
                    basis,
                )
            } else {
                let bind = at.loopback_or_private("network.host: 127.0.0.1");
                make(
                    known,
                    Critical,
                    "the REST API reads and deletes every index; older versions have no \
                     authentication",
                    format!(
                        "{bind} and xpack.security.enabled: true in {file}, then \
                         {restart}{or_allow}"
                    ),
                    Some(file),
                    Some(command),
                    basis,
                )
            }
        }
        Service::Docker => {
            let (command, restart) = at.restart("docker", None);
            if at.port == 2376 {
                make(
                    known,
                    High,
                    "the Docker API is root on the host; TLS is only as safe as its \
                     client-certificate check",
                    format!(
                        "tlsverify with client certificates in /etc/docker/daemon.json, and a \
                         firewall that lets only admin hosts in; then {restart}"
                    ),
                    Some("/etc/docker/daemon.json"),
                    Some(command),
                    basis,
                )
            } else {
                make(
                    known,
                    Critical,
                    "the Docker API without TLS is root on the host for anyone who connects",
                    format!(
                        "remove the tcp:// entry from \"hosts\" in /etc/docker/daemon.json (or \
                         -H tcp://… from dockerd's ExecStart: systemctl edit docker.service); \
                         use the unix socket or ssh://; then {restart}"
                    ),
                    Some("/etc/docker/daemon.json"),
                    Some(command),
                    basis,
                )
            }
        }
        Service::Etcd => {
            let (command, restart) = at.restart("etcd", None);
            let (severity, why, fix) = if at.port == 2380 {
                (
                    High,
                    "the etcd peer port lets a host join the cluster",
                    "--listen-peer-urls on a private address with --peer-client-cert-auth \
                     (ETCD_LISTEN_PEER_URLS, ETCD_PEER_CLIENT_CERT_AUTH in /etc/default/etcd)",
                )
            } else {
                (
                    Critical,
                    "etcd holds a cluster's secrets; without client-cert auth anyone can \
                     read them",
                    "--listen-client-urls on a private address with --client-cert-auth \
                     (ETCD_LISTEN_CLIENT_URLS, ETCD_CLIENT_CERT_AUTH in /etc/default/etcd)",
                )
            };
            make(
                known,
                severity,
                why,
                format!("{fix}, then {restart}"),
                Some("/etc/default/etcd"),
                Some(command),
                basis,
            )
        }
        Service::Kubelet => {
            let (command, restart) = at.restart("kubelet", None);
            make(
                known,
                Critical,
                "the kubelet API runs commands in any pod on the node when anonymous auth \
                 is on",
                format!(
                    "authentication.anonymous.enabled: false and authorization.mode: Webhook \
                     in /var/lib/kubelet/config.yaml, then {restart}; firewall it to the \
                     control plane"
                ),
                Some("/var/lib/kubelet/config.yaml"),
                Some(command),
                basis,
            )
        }
        Service::Mysql => {
            let (command, restart) = at.restart("mariadb", Some("mariadb or mysqld"));
            let bind = at.loopback_or_private("bind-address = 127.0.0.1");
            make(
                known,
                High,
                "database logins are brute-forced, and old servers have pre-auth bugs",
                format!(
                    "{bind} in the [mysqld] section of \
                     /etc/mysql/mariadb.conf.d/50-server.cnf (Debian, MariaDB), \
                     /etc/mysql/mysql.conf.d/mysqld.cnf (Debian, MySQL) or /etc/my.cnf.d/ \
                     (RHEL family); then {restart}{or_allow}"
                ),
                Some("/etc/mysql/mariadb.conf.d/50-server.cnf"),
                Some(command),
                basis,
            )
        }
        Service::Postgres => {
            let (command, restart) = at.restart("postgresql", None);
            // postgresql@15-main.service is Debian's cluster 15/main.
            let file = at
                .unit
                .and_then(|u| u.strip_prefix("postgresql@"))
                .and_then(|u| u.strip_suffix(".service"))
                .and_then(|cluster| cluster.split_once('-'))
                .map(|(version, name)| format!("/etc/postgresql/{version}/{name}/postgresql.conf"));
            let bind = at.loopback_or_private("listen_addresses = 'localhost'");
            let fix = match &file {
                Some(file) => format!("{bind} in {file}, then {restart}{or_allow}"),
                None => format!(
                    "{bind} in postgresql.conf (/etc/postgresql/VERSION/main/ on Debian, \
                     /var/lib/pgsql/data/ on the RHEL family), then {restart}{or_allow}"
                ),
            };
            make(
                known,
                High,
                "database logins are brute-forced; a trust line in pg_hba.conf is game over",
                fix,
                file.as_deref(),
                Some(command),
                basis,
            )
        }
        Service::Rpcbind => make(
            known,
            High,
            "lists the host's RPC services and amplifies UDP traffic",
            "stop rpcbind if NFSv3 is not used: systemctl disable --now rpcbind.socket \
             rpcbind.service"
                .into(),
            None,
            Some("systemctl disable --now rpcbind.socket rpcbind.service".into()),
            basis,
        ),
        Service::Nfs => make(
            known,
            High,
            "exports are protected only by client addresses, which are easy to spoof",
            "export only to client networks with sec=krb5 where possible in /etc/exports, \
             then exportfs -ra; firewall NFS to those networks"
                .into(),
            Some("/etc/exports"),
            Some("exportfs -ra".into()),
            basis,
        ),
        Service::Smb => {
            let (command, restart) = at.restart("smbd", Some("smb"));
            make(
                known,
                Critical,
                "SMB is the worm vector of EternalBlue and WannaCry",
                format!(
                    "interfaces = lo and the LAN interface, and bind interfaces only = yes, in \
                     the [global] section of /etc/samba/smb.conf, then {restart}; never expose \
                     SMB to the internet"
                ),
                Some("/etc/samba/smb.conf"),
                Some(command),
                basis,
            )
        }
        Service::Rdp => make(
            known,
            High,
            "RDP is brute-forced constantly and had pre-auth worms (BlueKeep)",
            "reach it through a VPN or bastion; firewall it to admin networks".into(),
            None,
            None,
            basis,
        ),
        Service::Vnc => make(
            known,
            Critical,
            "VNC often has a weak or no password and shows the whole desktop",
            "start the server with -localhost and tunnel it over ssh".into(),
            None,
            None,
            basis,
        ),
        Service::Ntp => {
            let chrony = at.unit.is_some_and(|u| u.starts_with("chrony"));
            let (command, restart) = at.restart(if chrony { "chrony" } else { "ntpsec" }, None);
            let (file, fix) = if chrony {
                (
                    "/etc/chrony/chrony.conf",
                    format!(
                        "remove the allow lines (or set port 0 for a client only) in \
                         /etc/chrony/chrony.conf (/etc/chrony.conf on the RHEL family), then \
                         {restart}"
                    ),
                )
            } else {
                (
                    "/etc/ntpsec/ntp.conf",
                    format!(
                        "restrict default noquery in /etc/ntpsec/ntp.conf (/etc/ntp.conf on older \
                         systems), then {restart}; or run chrony as a client only (port 0)"
                    ),
                )
            };
            make(
                known,
                Medium,
                "NTP servers with monlist enabled amplify spoofed traffic up to 500 times",
                fix,
                Some(file),
                Some(command),
                basis,
            )
        }
        Service::Dns => dns(known, at, basis, &or_allow),
        Service::Ssdp => make(
            known,
            High,
            "SSDP/UPnP replies amplify spoofed traffic about 30 times",
            "disable UPnP/SSDP on servers (minidlna, miniupnpd), or bind it to the LAN \
             interface (network_interface= in /etc/minidlna.conf)"
                .into(),
            None,
            None,
            basis,
        ),
        Service::Ldap => {
            let (command, restart) = at.restart("slapd", None);
            let (severity, why) = if udp {
                (
                    High,
                    "connectionless LDAP (CLDAP, UDP 389) amplifies spoofed traffic up to 70 \
                     times",
                )
            } else {
                (
                    High,
                    "directory data and password hashes leak to anyone who can bind",
                )
            };
            make(
                known,
                severity,
                why,
                format!(
                    "list only the addresses to serve in SLAPD_SERVICES (ldap://127.0.0.1/ \
                     ldapi:///) in /etc/default/slapd (/etc/sysconfig/slapd on the RHEL \
                     family), then {restart}{or_allow}"
                ),
                Some("/etc/default/slapd"),
                Some(command),
                basis,
            )
        }
        Service::Ssh => ssh(known, at, basis),
    }
}

/// DNS: UDP is the amplification vector; which server decides the file.
fn dns(known: &Known, at: &Socket, basis: Basis, or_allow: &str) -> Advice {
    let why = if at.protocol == Protocol::Udp {
        "DNS over UDP is an amplification vector: an open resolver answers spoofed queries \
         with replies many times larger, flooding whoever was spoofed"
    } else {
        "an open resolver answers anyone: cache snooping and poisoning, and zone transfers \
         (AXFR) where they are allowed"
    };
    let severity = if at.protocol == Protocol::Udp {
        Severity::High
    } else {
        Severity::Medium
    };
    let server = match at.unit.map(unit_base).or(at.program) {
        Some("dnsmasq") => "dnsmasq",
        Some("named" | "bind9") => "named",
        Some("unbound") => "unbound",
        _ => "",
    };
    let (file, command, fix) = match server {
        "dnsmasq" => {
            let (command, restart) = at.restart("dnsmasq", None);
            let listen = at.loopback_or_private("listen-address=127.0.0.1");
            (
                Some("/etc/dnsmasq.conf"),
                Some(command),
                format!("{listen} and bind-interfaces in /etc/dnsmasq.conf, then {restart}"),
            )
        }
        "named" => {
            let (command, restart) = at.restart("named", None);
            (
                Some("/etc/bind/named.conf.options"),
                Some(command),
                format!(
                    "allow-recursion {{ localnets; }}; and listen-on {{ the addresses to serve; \
                     }}; in /etc/bind/named.conf.options (/etc/named.conf on the RHEL family), \
                     then {restart}"
                ),
            )
        }
        "unbound" => {
            let (command, restart) = at.restart("unbound", None);
            (
                Some("/etc/unbound/unbound.conf"),
                Some(command),
                format!(
                    "interface: the addresses to serve, and access-control: only your own \
                     networks, in /etc/unbound/unbound.conf, then {restart}"
                ),
            )
        }
        _ => (
            None,
            None,
            "answer recursive queries only for your own networks (allow-recursion, \
             access-control), and bind the server to the addresses it serves"
                .to_string(),
        ),
    };
    make(
        known,
        severity,
        why,
        format!("{fix}{or_allow}"),
        file,
        command,
        basis,
    )
}

/// ssh: ListenAddress, or for a socket-activated ssh.socket, its ListenStream.
fn ssh(known: &Known, at: &Socket, basis: Basis) -> Advice {
    let why = "ssh is probed and brute-forced from everywhere: it is only as safe as its \
               weakest password or key";
    let address = match at.exposure {
        Exposure::Public => "a private address of this host (or 127.0.0.1)",
        _ => "127.0.0.1",
    };
    let or_allow = at.or_allow(&format!("{}/tcp", at.port));
    if let Some(unit) = at.unit.filter(|u| u.ends_with(".socket")) {
        let fix = format!(
            "{unit} is socket-activated: systemctl edit {unit}, and under [Socket] write an \
             empty ListenStream= then ListenStream=ADDRESS:{port}, with ADDRESS {address}; \
             then systemctl restart {unit}{or_allow}",
            port = at.port
        );
        return make(
            known,
            Severity::Medium,
            why,
            fix,
            Some(&format!("/etc/systemd/system/{unit}.d/override.conf")),
            Some(format!("systemctl restart {unit}")),
            basis,
        );
    }
    let (command, restart) = at.restart("ssh", Some("sshd"));
    make(
        known,
        Severity::Medium,
        why,
        format!(
            "ListenAddress ADDRESS in /etc/ssh/sshd_config, with ADDRESS {address}; then \
             {restart}{or_allow}"
        ),
        Some("/etc/ssh/sshd_config"),
        Some(command),
        basis,
    )
}

/// A program we have no advice for, on a port a known service usually uses.
fn someone_else(known: &Known, name: &str, basis: Basis, at: &Socket) -> Advice {
    let spec = at.spec();
    let bind = at.loopback_or_private("127.0.0.1");
    Advice {
        service: name.to_string(),
        severity: Severity::Medium,
        why: format!(
            "{spec} is the port usually used by {}, but {name} holds it here; portaudit has no \
             advice for {name}",
            known.name
        ),
        fix: format!(
            "if {name} is not meant to be reachable, bind it to {bind}; if it is, allow it: \
             --allow {spec}"
        ),
        file: None,
        command: None,
        identified_by: basis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(comm: &str) -> Owner<'_> {
        Owner {
            comm: Some(comm),
            ..Owner::default()
        }
    }

    fn public(protocol: Protocol, port: u16, owner: &Owner) -> Advice {
        advise(protocol, port, Exposure::Public, owner)
            .unwrap_or_else(|| panic!("advice for {port}/{protocol:?} {owner:?}"))
    }

    #[test]
    fn every_usual_port_has_advice_with_nobody_known() {
        for (name, port, protocol) in service_ports() {
            for p in [Protocol::Tcp, Protocol::Udp] {
                if protocol.is_some_and(|want| want != p) {
                    continue;
                }
                let advice = public(p, port, &Owner::default());
                assert_eq!(advice.service, name);
                assert_eq!(advice.identified_by, Basis::Port);
                assert!(
                    advice
                        .why
                        .starts_with(&format!("port usually used by {name}")),
                    "{advice:?}"
                );
                assert!(!advice.fix.is_empty());
            }
        }
        assert_eq!(
            advise(Protocol::Tcp, 8080, Exposure::Public, &Owner::default()),
            None
        );
        assert_eq!(
            advise(Protocol::Udp, 6379, Exposure::Public, &Owner::default()),
            None
        );
    }

    #[test]
    fn memcached_udp_and_tcp_get_different_advice() {
        let udp = public(Protocol::Udp, 11211, &owner("memcached"));
        assert_eq!(udp.severity, Severity::Critical);
        assert_eq!(udp.identified_by, Basis::Process);
        assert!(udp.why.contains("amplifier"), "{udp:?}");
        assert!(udp.fix.starts_with("disable UDP"), "{udp:?}");
        assert!(udp.fix.contains("-U 0") && udp.fix.contains("-l 127.0.0.1"));
        assert!(udp.fix.contains("/etc/memcached.conf"));
        assert!(udp.fix.contains("OPTIONS in /etc/sysconfig/memcached"));
        assert!(
            udp.fix.ends_with("then systemctl restart memcached"),
            "{udp:?}"
        );
        assert_eq!(udp.file.as_deref(), Some("/etc/memcached.conf"));
        assert_eq!(udp.command.as_deref(), Some("systemctl restart memcached"));

        let tcp = public(Protocol::Tcp, 11211, &owner("memcached"));
        assert_eq!(tcp.severity, Severity::High);
        assert!(tcp.why.contains("no authentication"), "{tcp:?}");
        assert!(!tcp.fix.starts_with("disable UDP"), "{tcp:?}");
        assert!(tcp.fix.contains("-l 127.0.0.1 (or a private address)"));
        assert_ne!(udp.why, tcp.why);
    }

    #[test]
    fn the_unit_found_is_the_one_restarted() {
        let by_unit = Owner {
            comm: Some("memcached"),
            unit: Some("memcached@cache2.service"),
            ..Owner::default()
        };
        let advice = public(Protocol::Udp, 11211, &by_unit);
        assert_eq!(advice.identified_by, Basis::Unit);
        assert_eq!(
            advice.command.as_deref(),
            Some("systemctl restart memcached@cache2")
        );
        assert!(advice.fix.ends_with("systemctl restart memcached@cache2"));
        // A unit that is not a service we know still names whose socket it is.
        let app = Owner {
            comm: Some("python3"),
            unit: Some("webhook.service"),
            ..Owner::default()
        };
        let advice = public(Protocol::Tcp, 9200, &app);
        assert_eq!(advice.service, "webhook.service");
        assert_eq!(advice.identified_by, Basis::Unit);
    }

    #[test]
    fn dns_udp_is_the_amplification_vector() {
        let udp = public(Protocol::Udp, 53, &Owner::default());
        let tcp = public(Protocol::Tcp, 53, &Owner::default());
        assert_eq!(udp.service, "dns");
        assert!(udp.why.contains("amplification vector"), "{udp:?}");
        assert!(!tcp.why.contains("amplification"), "{tcp:?}");
        assert!(udp.severity < tcp.severity, "UDP is the more severe");
    }

    #[test]
    fn dnsmasq_names_its_file() {
        let dnsmasq = public(Protocol::Udp, 53, &owner("dnsmasq"));
        assert_eq!(dnsmasq.service, "dns");
        assert_eq!(dnsmasq.identified_by, Basis::Process);
        assert!(
            dnsmasq.fix.contains(
                "listen-address=127.0.0.1 (or a private address) and bind-interfaces in \
                 /etc/dnsmasq.conf, then systemctl restart dnsmasq"
            ),
            "{dnsmasq:?}"
        );
        assert_eq!(dnsmasq.file.as_deref(), Some("/etc/dnsmasq.conf"));
        assert!(dnsmasq.why.contains("amplification vector"));
    }

    #[test]
    fn a_port_held_by_another_program_is_not_called_its_usual_service() {
        let advice = public(Protocol::Tcp, 9200, &owner("minio"));
        assert_eq!(advice.service, "minio");
        assert!(!advice.fix.contains("elasticsearch"), "{advice:?}");
        assert!(
            advice
                .why
                .contains("9200/tcp is the port usually used by elasticsearch, but minio holds it"),
            "{advice:?}"
        );
        assert!(advice.fix.contains("--allow 9200/tcp"));
        // The real thing, by its executable (it runs a bundled java).
        let es = Owner {
            exe: Some("/usr/share/elasticsearch/jdk/bin/java"),
            comm: Some("java"),
            unit: None,
        };
        let advice = public(Protocol::Tcp, 9200, &es);
        assert_eq!(advice.service, "elasticsearch");
        assert_eq!(advice.identified_by, Basis::Executable);
        assert!(advice.fix.contains("/etc/elasticsearch/elasticsearch.yml"));
        // An interpreter says nothing: the port decides, and says it is only the port.
        let advice = public(Protocol::Tcp, 9200, &owner("java"));
        assert_eq!(advice.identified_by, Basis::Port);
        assert!(advice.why.starts_with("port usually used by elasticsearch"));
        // A program we know nothing about on a port nobody is known for: nothing to say.
        assert_eq!(
            advise(Protocol::Tcp, 9000, Exposure::Public, &owner("minio")),
            None
        );
    }

    #[test]
    fn a_known_service_on_another_port_still_gets_its_advice() {
        let advice = public(Protocol::Tcp, 7000, &owner("redis-server"));
        assert_eq!(advice.service, "redis");
        assert!(advice.fix.contains("/etc/redis/redis.conf"));
    }

    #[test]
    fn redis_binds_and_protected_mode() {
        let advice = public(Protocol::Tcp, 6379, &owner("redis-server"));
        assert_eq!(advice.severity, Severity::Critical);
        assert!(
            advice.fix.starts_with(
                "bind 127.0.0.1 -::1 (or a private address) and protected-mode yes in \
                 /etc/redis/redis.conf"
            ),
            "{advice:?}"
        );
        assert!(
            advice
                .fix
                .contains("systemctl restart redis-server (redis on the RHEL family)"),
            "{advice:?}"
        );
        let by_unit = Owner {
            unit: Some("redis.service"),
            ..owner("redis-server")
        };
        let advice = public(Protocol::Tcp, 6379, &by_unit);
        assert_eq!(advice.command.as_deref(), Some("systemctl restart redis"));
        assert!(!advice.fix.contains("RHEL"), "{advice:?}");
    }

    #[test]
    fn sshd_and_a_socket_activated_ssh() {
        let sshd = public(Protocol::Tcp, 22, &owner("sshd"));
        assert_eq!(sshd.service, "ssh");
        assert!(
            sshd.fix
                .starts_with("ListenAddress ADDRESS in /etc/ssh/sshd_config"),
            "{sshd:?}"
        );
        assert!(
            sshd.fix
                .contains("systemctl restart ssh (sshd on the RHEL family)")
        );
        assert_eq!(sshd.file.as_deref(), Some("/etc/ssh/sshd_config"));

        let socket = Owner {
            comm: Some("systemd"),
            unit: Some("ssh.socket"),
            ..Owner::default()
        };
        // Without the unit, pid 1 holding the socket says nothing: the port decides.
        let pid1 = Owner {
            unit: None,
            ..socket
        };
        assert_eq!(public(Protocol::Tcp, 22, &pid1).identified_by, Basis::Port);
        let activated = public(Protocol::Tcp, 22, &socket);
        assert_eq!(activated.service, "ssh");
        assert_eq!(activated.identified_by, Basis::Unit);
        assert!(
            activated.fix.contains(
                "systemctl edit ssh.socket, and under [Socket] write an empty ListenStream= \
                 then ListenStream=ADDRESS:22"
            ),
            "{activated:?}"
        );
        assert!(!activated.fix.contains("ListenAddress"));
        assert_eq!(
            activated.command.as_deref(),
            Some("systemctl restart ssh.socket")
        );
        assert_eq!(
            activated.file.as_deref(),
            Some("/etc/systemd/system/ssh.socket.d/override.conf")
        );
    }

    #[test]
    fn a_private_address_is_not_told_to_bind_to_a_private_address() {
        for (protocol, port, comm) in [
            (Protocol::Tcp, 11211, "memcached"),
            (Protocol::Udp, 11211, "memcached"),
            (Protocol::Tcp, 6379, "redis-server"),
            (Protocol::Udp, 53, "dnsmasq"),
            (Protocol::Tcp, 22, "sshd"),
            (Protocol::Tcp, 5432, "postgres"),
            (Protocol::Tcp, 3306, "mysqld"),
            (Protocol::Tcp, 27017, "mongod"),
            (Protocol::Tcp, 9200, "elasticsearch"),
            (Protocol::Tcp, 9200, "minio"),
        ] {
            let advice = advise(protocol, port, Exposure::Internal, &owner(comm)).unwrap();
            let text = format!("{} {}", advice.why, advice.fix);
            assert!(!text.contains("private address"), "{comm}: {advice:?}");
            assert!(!text.contains("a private"), "{comm}: {advice:?}");
        }
        let internal = advise(
            Protocol::Tcp,
            11211,
            Exposure::Internal,
            &owner("memcached"),
        );
        assert!(
            internal
                .unwrap()
                .fix
                .contains("allow it: --allow memcached/tcp")
        );
    }

    #[test]
    fn postgres_cluster_units_name_their_file() {
        let cluster = Owner {
            unit: Some("postgresql@15-main.service"),
            ..owner("postgres")
        };
        let advice = public(Protocol::Tcp, 5432, &cluster);
        assert_eq!(
            advice.file.as_deref(),
            Some("/etc/postgresql/15/main/postgresql.conf")
        );
        assert_eq!(
            advice.command.as_deref(),
            Some("systemctl restart postgresql@15-main")
        );
    }

    #[test]
    fn service_names_are_unique_and_ports_do_not_overlap() {
        let names: Vec<_> = service_names().collect();
        for (i, a) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(a), "{a}");
        }
        let ports: Vec<_> = service_ports().collect();
        for (i, (na, pa, qa)) in ports.iter().enumerate() {
            for (nb, pb, qb) in &ports[i + 1..] {
                let overlap = pa == pb && (qa.is_none() || qb.is_none() || qa == qb);
                assert!(!overlap, "{na} and {nb} on {pa}");
            }
        }
    }

    #[test]
    fn unit_names() {
        assert_eq!(unit_base("memcached.service"), "memcached");
        assert_eq!(unit_base("postgresql@15-main.service"), "postgresql");
        assert_eq!(unit_base("ssh.socket"), "ssh");
    }
}
