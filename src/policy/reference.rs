//! The policy file's keys and what each means: the one list that portaudit.toml(5) is
//! written from, and that the parser (file.rs) is checked against by a unit test, so a
//! key cannot be added to the parser without being documented, nor documented without
//! being parsed.
//!
//! std only: build.rs includes this file to write the man page at build time.

/// One key of the policy file, at the top level or in a `[[rule]]` table.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    /// The values it takes, as written in the file.
    pub values: &'static str,
    /// What it does, in a sentence or two.
    pub description: &'static str,
    /// One line of TOML using the key, that the parser must accept (in a `[[rule]]`
    /// with `action = "allow"` for a rule key).
    pub example: &'static str,
}

/// The settings: top-level keys, all optional.
pub const SETTINGS: &[Key] = &[
    Key {
        name: "mode",
        values: r#""enforce" (default) or "advisory""#,
        description: "advisory: report the findings, but exit 0 on them (an audit that could \
                      not be done still exits 2); for rolling a policy out before enforcing \
                      it. As --advisory.",
        example: r#"mode = "advisory""#,
    },
    Key {
        name: "strict",
        values: "false (default) or true",
        description: "true: internal findings that no rule allows fail too (exit 1). As \
                      --strict.",
        example: "strict = true",
    },
    Key {
        name: "default_allow",
        values: "true (default) or false",
        description: "false drops the built-in allowlist of ssh, http and https (22, 80 and \
                      443/tcp). As --no-default-allow.",
        example: "default_allow = false",
    },
    Key {
        name: "ephemeral_udp",
        values: r#""allow" (default) or "judge""#,
        description: "What a UDP socket on a wildcard address and an ephemeral port (inside \
                      net.ipv4.ip_local_port_range) gets: allowed by the built-in rule \
                      \"default ephemeral-udp\", since it is usually a client's, or judged \
                      like any other socket.",
        example: r#"ephemeral_udp = "judge""#,
    },
    Key {
        name: "trust_firewall",
        values: "false (default) or true",
        description: "true: an exposed or internal socket that the host firewall drops on \
                      every way in passes, with the verdict \"filtered\". As \
                      --trust-firewall.",
        example: "trust_firewall = true",
    },
];

/// The top-level key that holds the rules, `[[rule]]`.
pub const RULE_TABLE: &str = "rule";

/// The keys of a `[[rule]]` table. `action` is required; every other key is a condition,
/// and a rule matches a socket when every condition it names holds.
pub const RULE: &[Key] = &[
    Key {
        name: "action",
        values: r#""allow" or "deny" (required)"#,
        description: "allow makes a matching reachable socket \"allowed\" (a loopback one \
                      stays \"local\"); deny makes it \"denied\", which fails the audit \
                      whatever its exposure.",
        example: r#"action = "deny""#,
    },
    Key {
        name: "name",
        values: "a string",
        description: "Not a condition: what the report shows as the rule that decided \
                      (default \"rule N\").",
        example: r#"name = "postgres on 10.0.0.0/8""#,
    },
    Key {
        name: "protocol",
        values: r#""tcp" or "udp""#,
        description: "The socket's protocol.",
        example: r#"protocol = "udp""#,
    },
    Key {
        name: "port",
        values: r#"5432, "5432/tcp", "8000-8100", "postgresql", or a list of them"#,
        description: "The port, in the --allow syntax: a port, a range, with or without a \
                      protocol, or a service name from /etc/services, which means that \
                      service's port number only: port = \"redis\" is 6379/tcp, and a \
                      redis-server on 6380 does not match it (a warning says so when one \
                      listens elsewhere). To match a service wherever it listens, use \
                      service.",
        example: r#"port = [5432, "8000-8100/tcp", "postgresql"]"#,
    },
    Key {
        name: "exposure",
        values: r#""none" (loopback), "internal", "public", or a list"#,
        description: "How far the bind address reaches.",
        example: r#"exposure = ["internal", "public"]"#,
    },
    Key {
        name: "address",
        values: r#""10.0.0.0/8", "192.0.2.10", "fd00::/8", or a list"#,
        description: "The bind address is in the network (::ffff:a.b.c.d is matched as \
                      a.b.c.d; a wildcard 0.0.0.0 is only in networks that contain 0.0.0.0).",
        example: r#"address = ["10.0.0.0/8", "fd00::/8"]"#,
    },
    Key {
        name: "process",
        values: r#""node_exporter", or a list"#,
        description: "The owning processes' names (comm: the kernel keeps 15 bytes, so \
                      prometheus-node-exporter runs as prometheus-node; a longer value is \
                      refused: use exe). An allow rule matches only when every known owner \
                      fits, a deny rule when any does; with no owner known the rule is \
                      skipped, and a warning names the rule and the sockets.",
        example: r#"process = "node_exporter""#,
    },
    Key {
        name: "exe",
        values: r#""/usr/bin/node_exporter", or a list"#,
        description: "The owning processes' executables, as absolute paths; owners are \
                      matched as for process.",
        example: r#"exe = "/usr/bin/node_exporter""#,
    },
    Key {
        name: "service",
        values: r#""redis", "memcached", "dns", "node-exporter", ..., or a list"#,
        description: "The service holding the socket, on any port, recognised as the advice \
                      recognises it: by the socket's systemd unit, then each owner's \
                      executable, then its name (redis-server.service, /usr/bin/redis-server, \
                      redis-server are all redis). An allow rule matches when no owner is \
                      known to be another program, a deny rule when the unit or any owner is \
                      the service. When no owner says who it is (none seen, or only an \
                      interpreter such as java), the service's usual port decides, and a \
                      warning says so. The names are those advice prints: memcached, redis, \
                      mongodb, elasticsearch, docker, etcd, kubelet, mysql, postgres, \
                      rpcbind, nfs, smb, rdp, vnc, ntp, dns, ssdp, ldap, node-exporter, ssh \
                      (and aliases such as postgresql, domain, mariadb).",
        example: r#"service = ["redis", "memcached"]"#,
    },
    Key {
        name: "user",
        values: r#""postgres", 0, or a list"#,
        description: "The socket's user, by name or uid.",
        example: r#"user = ["postgres", 0]"#,
    },
    Key {
        name: "ephemeral",
        values: "true or false",
        description: "Whether the socket is a wildcard UDP socket on an ephemeral port.",
        example: "ephemeral = false",
    },
];
