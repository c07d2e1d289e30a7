//! What portaudit knows about services, as data: one row per service with how it is
//! recognised (its units, programs and usual ports), the flags that set where it
//! listens, what is at risk when it is reachable, and the fix — file, command and
//! words — for each case. [`super::advice`] picks the row and the cases and fills in
//! the templates; the policy's `service =` uses the same recognition.
//!
//! Templates (in `fix`, `file` and `command`):
//! - `{bind:TEXT}`: TEXT, and ` (or a private address)` for a public socket (a socket
//!   already on a private address is not told to bind to one);
//! - `{public:THIS|OTHER}`: THIS for a public socket, OTHER for one that is not;
//! - `{restart}`: `systemctl restart UNIT`, the unit found holding the socket, else the
//!   fix's (`RestartUnit`) or the row's `unit` (and the RHEL family's name when it
//!   differs);
//! - `{or_allow}`: for a socket that is not public, `; or, if this network may reach it,
//!   allow it: --allow NAME/PROTO` (`PORT/PROTO` when it is not on the service's port);
//! - `{allow}`: always that offer, for a service that is meant to be reached by some;
//! - `{unit}`: the unit found; `{port}`: the port; `{cluster}`: for a
//!   `postgresql@15-main` unit, `15/main`.
//!
//! Cases are tried in order: the first whose `when` holds is used. Every row is tested
//! (advice.rs, `every_row_advises_as_written`).

use crate::audit::Severity::{self, Critical, High, Medium};
use crate::socket::Protocol;

const TCP: Option<Protocol> = Some(Protocol::Tcp);
const UDP: Option<Protocol> = Some(Protocol::Udp);
const BOTH: Option<Protocol> = None;

/// One service portaudit can name and advise on.
pub struct Service {
    /// What the report prints as `service`, and what `service =` and `--allow` accept.
    pub name: &'static str,
    /// Other names `service =` accepts for it (`postgresql`, `domain`).
    pub aliases: &'static [&'static str],
    /// Its executables' file names; a process name (comm) matches their first 15 bytes.
    pub programs: &'static [&'static str],
    /// Parts of an executable's path that name it when its file name does not (a
    /// bundled java).
    pub paths: &'static [&'static str],
    /// Its systemd units, without `.service`/`.socket` and `@instance`.
    pub units: &'static [&'static str],
    /// The ports it usually listens on: the last resort when no owner names a program.
    pub ports: &'static [(u16, Option<Protocol>)],
    /// Command-line flags that set the address it listens on (`-l`, `--listen`), and
    /// the loopback value to give them instead.
    pub listen: Option<Listen>,
    /// The unit to restart when none was found: Debian's name, and the RHEL family's
    /// when it differs.
    pub unit: Option<(&'static str, Option<&'static str>)>,
    /// What is at risk: the first that holds.
    pub risks: &'static [Risk],
    /// What to do: the first that holds.
    pub fixes: &'static [Fix],
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service {:?}", self.name)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Listen {
    pub flags: &'static [&'static str],
    pub loopback: &'static str,
    /// What else to change with it, and when (memcached over UDP: `-U 0` too).
    pub with: Option<(When, &'static str)>,
}

pub struct Risk {
    pub when: When,
    pub severity: Severity,
    pub why: &'static str,
}

pub struct Fix {
    pub when: When,
    pub fix: &'static str,
    pub file: Option<&'static str>,
    pub command: Command,
}

/// How the fix is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `systemctl restart` the unit (see `{restart}`).
    Restart,
    /// The same, with this unit when none was found (a fix for one server of several).
    RestartUnit(&'static str),
    /// This command.
    Run(&'static str),
    None,
}

/// When a risk or fix applies to a socket.
#[derive(Debug, Clone, Copy)]
pub enum When {
    Any,
    Protocol(Protocol),
    Port(u16),
    /// The unit (without suffix and instance) or the program is one of these.
    Server(&'static [&'static str]),
    /// A `.socket` unit holds it (systemd listens for the service).
    SocketUnit,
    /// The unit is an instance of this template (`postgresql`).
    Instance(&'static str),
    /// The command line carries this option (`--local-service`, `--local-service=net`).
    Option(&'static str),
    All(&'static [When]),
}

const DNSMASQ: When = When::Server(&["dnsmasq"]);

/// Every service with advice. Names are unique and usual ports do not overlap (tested).
pub const SERVICES: &[Service] = &[
    Service {
        name: "memcached",
        aliases: &["memcache"],
        programs: &["memcached"],
        paths: &[],
        units: &["memcached"],
        ports: &[(11211, BOTH)],
        listen: Some(Listen {
            flags: &["-l", "--listen"],
            loopback: "127.0.0.1",
            with: Some((When::Protocol(Protocol::Udp), "-U 0 (no UDP)")),
        }),
        unit: Some(("memcached", None)),
        risks: &[
            Risk {
                when: When::Protocol(Protocol::Udp),
                severity: Critical,
                why: "UDP memcached answers spoofed requests with replies up to 50000 times \
                      larger: a DDoS amplifier",
            },
            Risk {
                when: When::Any,
                severity: High,
                why: "no authentication: anyone who connects can read, change and flush the \
                      cache",
            },
        ],
        fixes: &[
            Fix {
                when: When::Protocol(Protocol::Udp),
                fix: "disable UDP and bind to loopback: -U 0 and -l 127.0.0.1 in \
                      /etc/memcached.conf (Debian, Ubuntu) or in OPTIONS in \
                      /etc/sysconfig/memcached (RHEL family), then {restart}",
                file: Some("/etc/memcached.conf"),
                command: Command::Restart,
            },
            Fix {
                when: When::Any,
                fix: "bind to loopback: {bind:-l 127.0.0.1} in /etc/memcached.conf (Debian, \
                      Ubuntu) or in OPTIONS in /etc/sysconfig/memcached (RHEL family) (add -U 0 \
                      too unless UDP is used), then {restart}{or_allow}",
                file: Some("/etc/memcached.conf"),
                command: Command::Restart,
            },
        ],
    },
    Service {
        name: "redis",
        aliases: &["redis-server"],
        // Debian's redis-server is a link to redis-check-rdb, which /proc/PID/exe names.
        programs: &["redis-server", "redis-check-rdb"],
        paths: &[],
        units: &["redis-server", "redis"],
        ports: &[(6379, TCP)],
        listen: Some(Listen {
            flags: &["--bind"],
            loopback: "127.0.0.1 -::1",
            with: None,
        }),
        unit: Some(("redis-server", Some("redis"))),
        risks: &[Risk {
            when: When::Any,
            severity: Critical,
            why: "no authentication by default; CONFIG SET lets a client write files and take \
                  over the host",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "{bind:bind 127.0.0.1 -::1} and protected-mode yes in /etc/redis/redis.conf, \
                  and set requirepass or ACLs; then {restart}{or_allow}",
            file: Some("/etc/redis/redis.conf"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "mongodb",
        aliases: &["mongod"],
        programs: &["mongod"],
        paths: &[],
        units: &["mongod", "mongodb"],
        ports: &[(27017, TCP)],
        listen: Some(Listen {
            flags: &["--bind_ip"],
            loopback: "127.0.0.1",
            with: None,
        }),
        unit: Some(("mongod", None)),
        risks: &[Risk {
            when: When::Any,
            severity: Critical,
            why: "databases left open without authentication are wiped and ransomed by bots \
                  within hours",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "{bind:net.bindIp: 127.0.0.1} and security.authorization: enabled in \
                  /etc/mongod.conf, then {restart}{or_allow}",
            file: Some("/etc/mongod.conf"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "elasticsearch",
        aliases: &[],
        programs: &["elasticsearch"],
        // It runs its own bundled java.
        paths: &["/elasticsearch/"],
        units: &["elasticsearch"],
        ports: &[(9200, TCP), (9300, TCP)],
        listen: None,
        unit: Some(("elasticsearch", None)),
        risks: &[
            Risk {
                when: When::Port(9300),
                severity: High,
                why: "the transport port lets a node join the cluster",
            },
            Risk {
                when: When::Any,
                severity: Critical,
                why: "the REST API reads and deletes every index; older versions have no \
                      authentication",
            },
        ],
        fixes: &[
            Fix {
                when: When::Port(9300),
                fix: "transport.host on a private address and transport TLS \
                      (xpack.security.transport.ssl) in /etc/elasticsearch/elasticsearch.yml, \
                      then {restart}",
                file: Some("/etc/elasticsearch/elasticsearch.yml"),
                command: Command::Restart,
            },
            Fix {
                when: When::Any,
                fix: "{bind:network.host: 127.0.0.1} and xpack.security.enabled: true in \
                      /etc/elasticsearch/elasticsearch.yml, then {restart}{or_allow}",
                file: Some("/etc/elasticsearch/elasticsearch.yml"),
                command: Command::Restart,
            },
        ],
    },
    Service {
        name: "docker",
        aliases: &["dockerd"],
        programs: &["dockerd"],
        paths: &[],
        units: &["docker"],
        ports: &[(2375, TCP), (2376, TCP)],
        listen: None,
        unit: Some(("docker", None)),
        risks: &[
            Risk {
                when: When::Port(2376),
                severity: High,
                why: "the Docker API is root on the host; TLS is only as safe as its \
                      client-certificate check",
            },
            Risk {
                when: When::Any,
                severity: Critical,
                why: "the Docker API without TLS is root on the host for anyone who connects",
            },
        ],
        fixes: &[
            Fix {
                when: When::Port(2376),
                fix: "tlsverify with client certificates in /etc/docker/daemon.json, and a \
                      firewall that lets only admin hosts in; then {restart}",
                file: Some("/etc/docker/daemon.json"),
                command: Command::Restart,
            },
            Fix {
                when: When::Any,
                fix: "remove the tcp:// entry from \"hosts\" in /etc/docker/daemon.json (or -H \
                      tcp://… from dockerd's ExecStart: systemctl edit docker.service); use the \
                      unix socket or ssh://; then {restart}",
                file: Some("/etc/docker/daemon.json"),
                command: Command::Restart,
            },
        ],
    },
    Service {
        name: "etcd",
        aliases: &[],
        programs: &["etcd"],
        paths: &[],
        units: &["etcd"],
        ports: &[(2379, TCP), (2380, TCP)],
        listen: None,
        unit: Some(("etcd", None)),
        risks: &[
            Risk {
                when: When::Port(2380),
                severity: High,
                why: "the etcd peer port lets a host join the cluster",
            },
            Risk {
                when: When::Any,
                severity: Critical,
                why: "etcd holds a cluster's secrets; without client-cert auth anyone can read \
                      them",
            },
        ],
        fixes: &[
            Fix {
                when: When::Port(2380),
                fix: "--listen-peer-urls on a private address with --peer-client-cert-auth \
                      (ETCD_LISTEN_PEER_URLS, ETCD_PEER_CLIENT_CERT_AUTH in /etc/default/etcd), \
                      then {restart}",
                file: Some("/etc/default/etcd"),
                command: Command::Restart,
            },
            Fix {
                when: When::Any,
                fix: "--listen-client-urls on a private address with --client-cert-auth \
                      (ETCD_LISTEN_CLIENT_URLS, ETCD_CLIENT_CERT_AUTH in /etc/default/etcd), \
                      then {restart}",
                file: Some("/etc/default/etcd"),
                command: Command::Restart,
            },
        ],
    },
    Service {
        name: "kubelet",
        aliases: &[],
        programs: &["kubelet"],
        paths: &[],
        units: &["kubelet"],
        ports: &[(10250, TCP)],
        listen: None,
        unit: Some(("kubelet", None)),
        risks: &[Risk {
            when: When::Any,
            severity: Critical,
            why: "the kubelet API runs commands in any pod on the node when anonymous auth is \
                  on",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "authentication.anonymous.enabled: false and authorization.mode: Webhook in \
                  /var/lib/kubelet/config.yaml, then {restart}; firewall it to the control plane",
            file: Some("/var/lib/kubelet/config.yaml"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "mysql",
        aliases: &["mariadb", "mysqld"],
        programs: &["mysqld", "mariadbd"],
        paths: &[],
        units: &["mysql", "mysqld", "mariadb"],
        ports: &[(3306, TCP)],
        listen: Some(Listen {
            flags: &["--bind-address"],
            loopback: "127.0.0.1",
            with: None,
        }),
        unit: Some(("mariadb", Some("mariadb or mysqld"))),
        risks: &[Risk {
            when: When::Any,
            severity: High,
            why: "database logins are brute-forced, and old servers have pre-auth bugs",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "{bind:bind-address = 127.0.0.1} in the [mysqld] section of \
                  /etc/mysql/mariadb.conf.d/50-server.cnf (Debian, MariaDB), \
                  /etc/mysql/mysql.conf.d/mysqld.cnf (Debian, MySQL) or /etc/my.cnf.d/ (RHEL \
                  family); then {restart}{or_allow}",
            file: Some("/etc/mysql/mariadb.conf.d/50-server.cnf"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "postgres",
        aliases: &["postgresql"],
        programs: &["postgres", "postmaster"],
        paths: &[],
        units: &["postgresql"],
        ports: &[(5432, TCP)],
        listen: Some(Listen {
            flags: &["-h"],
            loopback: "localhost",
            with: None,
        }),
        unit: Some(("postgresql", None)),
        risks: &[Risk {
            when: When::Any,
            severity: High,
            why: "database logins are brute-forced; a trust line in pg_hba.conf is game over",
        }],
        fixes: &[
            // postgresql@15-main.service is Debian's cluster 15/main.
            Fix {
                when: When::Instance("postgresql"),
                fix: "{bind:listen_addresses = 'localhost'} in \
                      /etc/postgresql/{cluster}/postgresql.conf, then {restart}{or_allow}",
                file: Some("/etc/postgresql/{cluster}/postgresql.conf"),
                command: Command::Restart,
            },
            Fix {
                when: When::Any,
                fix: "{bind:listen_addresses = 'localhost'} in postgresql.conf \
                      (/etc/postgresql/VERSION/main/ on Debian, /var/lib/pgsql/data/ on the RHEL \
                      family), then {restart}{or_allow}",
                file: None,
                command: Command::Restart,
            },
        ],
    },
    Service {
        name: "rpcbind",
        aliases: &["portmapper", "sunrpc"],
        programs: &["rpcbind"],
        paths: &[],
        units: &["rpcbind"],
        ports: &[(111, BOTH)],
        listen: None,
        unit: None,
        risks: &[Risk {
            when: When::Any,
            severity: High,
            why: "lists the host's RPC services and amplifies UDP traffic",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "stop rpcbind if NFSv3 is not used: systemctl disable --now rpcbind.socket \
                  rpcbind.service",
            file: None,
            command: Command::Run("systemctl disable --now rpcbind.socket rpcbind.service"),
        }],
    },
    Service {
        name: "nfs",
        aliases: &[],
        programs: &[],
        paths: &[],
        units: &["nfs-server", "nfs-kernel-server"],
        ports: &[(2049, BOTH)],
        listen: None,
        unit: None,
        risks: &[Risk {
            when: When::Any,
            severity: High,
            why: "exports are protected only by client addresses, which are easy to spoof",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "export only to client networks with sec=krb5 where possible in /etc/exports, \
                  then exportfs -ra; firewall NFS to those networks",
            file: Some("/etc/exports"),
            command: Command::Run("exportfs -ra"),
        }],
    },
    Service {
        name: "smb",
        aliases: &["samba", "microsoft-ds"],
        programs: &["smbd"],
        paths: &[],
        units: &["smbd", "smb", "samba"],
        ports: &[(445, TCP)],
        listen: None,
        unit: Some(("smbd", Some("smb"))),
        risks: &[Risk {
            when: When::Any,
            severity: Critical,
            why: "SMB is the worm vector of EternalBlue and WannaCry",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "interfaces = lo and the LAN interface, and bind interfaces only = yes, in the \
                  [global] section of /etc/samba/smb.conf, then {restart}; never expose SMB to \
                  the internet",
            file: Some("/etc/samba/smb.conf"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "rdp",
        aliases: &["xrdp", "ms-wbt-server"],
        programs: &["xrdp"],
        paths: &[],
        units: &["xrdp"],
        ports: &[(3389, TCP)],
        listen: None,
        unit: None,
        risks: &[Risk {
            when: When::Any,
            severity: High,
            why: "RDP is brute-forced constantly and had pre-auth worms (BlueKeep)",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "reach it through a VPN or bastion; firewall it to admin networks",
            file: None,
            command: Command::None,
        }],
    },
    Service {
        name: "vnc",
        aliases: &["rfb"],
        programs: &["Xvnc", "Xtigervnc", "x11vnc", "vncserver"],
        paths: &[],
        units: &[],
        ports: &[(5900, TCP)],
        listen: None,
        unit: None,
        risks: &[Risk {
            when: When::Any,
            severity: Critical,
            why: "VNC often has a weak or no password and shows the whole desktop",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "start the server with -localhost and tunnel it over ssh",
            file: None,
            command: Command::None,
        }],
    },
    Service {
        name: "ntp",
        aliases: &["chrony", "ntpd"],
        programs: &["ntpd", "chronyd"],
        paths: &[],
        units: &["ntp", "ntpsec", "ntpd", "chrony", "chronyd"],
        ports: &[(123, UDP)],
        listen: None,
        unit: Some(("ntpsec", None)),
        risks: &[Risk {
            when: When::Any,
            severity: Medium,
            why: "NTP servers with monlist enabled amplify spoofed traffic up to 500 times",
        }],
        fixes: &[
            Fix {
                when: When::Server(&["chrony", "chronyd"]),
                fix: "remove the allow lines (or set port 0 for a client only) in \
                      /etc/chrony/chrony.conf (/etc/chrony.conf on the RHEL family), then \
                      {restart}",
                file: Some("/etc/chrony/chrony.conf"),
                command: Command::RestartUnit("chrony"),
            },
            Fix {
                when: When::Any,
                fix: "restrict default noquery in /etc/ntpsec/ntp.conf (/etc/ntp.conf on older \
                      systems), then {restart}; or run chrony as a client only (port 0)",
                file: Some("/etc/ntpsec/ntp.conf"),
                command: Command::Restart,
            },
        ],
    },
    Service {
        name: "dns",
        aliases: &["domain"],
        programs: &["dnsmasq", "named", "unbound", "pdns_recursor", "coredns"],
        paths: &[],
        units: &[
            "dnsmasq",
            "named",
            "bind9",
            "unbound",
            "pdns-recursor",
            "coredns",
        ],
        ports: &[(53, BOTH)],
        listen: Some(Listen {
            flags: &["--listen-address", "-a"],
            loopback: "127.0.0.1",
            with: None,
        }),
        unit: None,
        risks: &[
            // What the server was told narrows who it answers: not an open resolver.
            Risk {
                when: When::All(&[DNSMASQ, When::Option("--local-service")]),
                severity: Medium,
                why: "dnsmasq runs with --local-service: it answers only hosts on the networks \
                      of its own interfaces, so it is not an open resolver, but every host on \
                      those networks can query it",
            },
            Risk {
                when: When::Server(&["unbound"]),
                severity: Medium,
                why: "unbound answers only the networks its access-control lines allow \
                      (localhost alone by default): an open resolver only if one of them lets \
                      everyone in",
            },
            Risk {
                when: When::Server(&["named", "bind9"]),
                severity: Medium,
                why: "named recurses only for allow-recursion (localnets and localhost by \
                      default): an open resolver only if allow-recursion lets everyone in",
            },
            Risk {
                when: When::Protocol(Protocol::Udp),
                severity: High,
                why: "DNS over UDP is an amplification vector: an open resolver answers \
                      spoofed queries with replies many times larger, flooding whoever was \
                      spoofed",
            },
            Risk {
                when: When::Any,
                severity: Medium,
                why: "an open resolver answers anyone: cache snooping and poisoning, and zone \
                      transfers (AXFR) where they are allowed",
            },
        ],
        fixes: &[
            Fix {
                when: When::All(&[DNSMASQ, When::Option("--local-service")]),
                fix: "if only this host uses it, {bind:listen-address=127.0.0.1} and \
                      bind-interfaces in /etc/dnsmasq.conf, then {restart}{allow}",
                file: Some("/etc/dnsmasq.conf"),
                command: Command::RestartUnit("dnsmasq"),
            },
            Fix {
                when: DNSMASQ,
                fix: "{bind:listen-address=127.0.0.1} and bind-interfaces in /etc/dnsmasq.conf, \
                      then {restart}{or_allow}",
                file: Some("/etc/dnsmasq.conf"),
                command: Command::RestartUnit("dnsmasq"),
            },
            Fix {
                when: When::Server(&["named", "bind9"]),
                fix: "allow-recursion { localnets; }; and listen-on { the addresses to serve; }; \
                      in /etc/bind/named.conf.options (/etc/named.conf on the RHEL family), then \
                      {restart}{or_allow}",
                file: Some("/etc/bind/named.conf.options"),
                command: Command::RestartUnit("named"),
            },
            Fix {
                when: When::Server(&["unbound"]),
                fix: "interface: the addresses to serve, and access-control: only your own \
                      networks, in /etc/unbound/unbound.conf, then {restart}{or_allow}",
                file: Some("/etc/unbound/unbound.conf"),
                command: Command::RestartUnit("unbound"),
            },
            Fix {
                when: When::Any,
                fix: "answer recursive queries only for your own networks (allow-recursion, \
                      access-control), and bind the server to the addresses it serves{or_allow}",
                file: None,
                command: Command::None,
            },
        ],
    },
    Service {
        name: "ssdp",
        aliases: &["upnp"],
        programs: &["minidlnad", "miniupnpd"],
        paths: &[],
        units: &["minidlna", "miniupnpd"],
        ports: &[(1900, UDP)],
        listen: None,
        unit: None,
        risks: &[Risk {
            when: When::Any,
            severity: High,
            why: "SSDP/UPnP replies amplify spoofed traffic about 30 times",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "disable UPnP/SSDP on servers (minidlna, miniupnpd), or bind it to the LAN \
                  interface (network_interface= in /etc/minidlna.conf)",
            file: None,
            command: Command::None,
        }],
    },
    Service {
        name: "ldap",
        aliases: &["slapd"],
        programs: &["slapd"],
        paths: &[],
        units: &["slapd"],
        ports: &[(389, BOTH)],
        listen: None,
        unit: Some(("slapd", None)),
        risks: &[
            Risk {
                when: When::Protocol(Protocol::Udp),
                severity: High,
                why: "connectionless LDAP (CLDAP, UDP 389) amplifies spoofed traffic up to 70 \
                      times",
            },
            Risk {
                when: When::Any,
                severity: High,
                why: "directory data and password hashes leak to anyone who can bind",
            },
        ],
        fixes: &[Fix {
            when: When::Any,
            fix: "list only the addresses to serve in SLAPD_SERVICES (ldap://127.0.0.1/ \
                  ldapi:///) in /etc/default/slapd (/etc/sysconfig/slapd on the RHEL family), \
                  then {restart}{or_allow}",
            file: Some("/etc/default/slapd"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "node-exporter",
        aliases: &["node_exporter", "prometheus-node-exporter"],
        // Debian's is prometheus-node-exporter (comm `prometheus-node`), upstream's and
        // the RHEL family's node_exporter.
        programs: &["prometheus-node-exporter", "node_exporter"],
        paths: &[],
        units: &["prometheus-node-exporter", "node_exporter", "node-exporter"],
        ports: &[(9100, TCP)],
        listen: Some(Listen {
            flags: &["--web.listen-address"],
            loopback: "127.0.0.1:9100",
            with: None,
        }),
        unit: Some(("prometheus-node-exporter", Some("node_exporter"))),
        risks: &[Risk {
            when: When::Any,
            severity: Medium,
            why: "host metrics tell anyone who asks what runs here: versions, mounts, \
                  interfaces, and with some collectors the users logged in",
        }],
        fixes: &[Fix {
            when: When::Any,
            fix: "bind it to loopback{public:, or to the private address Prometheus scrapes|}: \
                  ARGS=\"--web.listen-address=127.0.0.1:9100\" in \
                  /etc/default/prometheus-node-exporter (OPTIONS in /etc/sysconfig/node_exporter \
                  on the RHEL family), then {restart}{allow}",
            file: Some("/etc/default/prometheus-node-exporter"),
            command: Command::Restart,
        }],
    },
    Service {
        name: "ssh",
        aliases: &["sshd"],
        programs: &["sshd"],
        paths: &[],
        units: &["ssh", "sshd"],
        ports: &[(22, TCP)],
        listen: None,
        unit: Some(("ssh", Some("sshd"))),
        risks: &[Risk {
            when: When::Any,
            severity: Medium,
            why: "ssh is probed and brute-forced from everywhere: it is only as safe as its \
                  weakest password or key",
        }],
        fixes: &[
            // ssh.socket: systemd listens, ListenAddress is not read.
            Fix {
                when: When::SocketUnit,
                fix: "{unit} is socket-activated: systemctl edit {unit}, and under [Socket] \
                      write an empty ListenStream= then ListenStream=ADDRESS:{port}, with \
                      ADDRESS {public:a private address of this host (or 127.0.0.1)|127.0.0.1}; \
                      then systemctl restart {unit}{or_allow}",
                file: Some("/etc/systemd/system/{unit}.d/override.conf"),
                command: Command::Run("systemctl restart {unit}"),
            },
            Fix {
                when: When::Any,
                fix: "ListenAddress ADDRESS in /etc/ssh/sshd_config, with ADDRESS \
                      {public:a private address of this host (or 127.0.0.1)|127.0.0.1}; then \
                      {restart}{or_allow}",
                file: Some("/etc/ssh/sshd_config"),
                command: Command::Restart,
            },
        ],
    },
];
