//! Advice for a failing, reachable socket: which service it is, why that matters, and
//! the fix — the file to edit and the command that applies it, for the unit found. The
//! knowledge is data ([`super::known`]); this module recognises the service and fills
//! in the row's templates.
//!
//! The service is named by who holds the socket first (the systemd unit, the
//! executable, the process name) and by the port only when no owner says anything
//! (none known, or an interpreter such as `java`). A program we know nothing about on a
//! well-known port is not given that port's service: the advice says whose port it
//! usually is. The fix never asks for what the socket already does: a socket on a
//! private address (failing under `--strict`) is told to bind to loopback or be
//! allowed, not to "bind to a private address".
//!
//! Where the address comes from decides what to change: a listen flag in the unit's
//! `ExecStart=` is changed with `systemctl edit` (not in a config file that does not
//! set it), one on the command line of a program no service runs is changed where it
//! was started; otherwise the row's file.
//!
//! Pure: the policy stage calls [`advise`] with plain values.

use crate::audit::{Advice, Basis};
use crate::classify::Exposure;
use crate::socket::{ExecStart, Listener, Process, Protocol};

pub use super::known::Service;
use super::known::{Command, Fix, SERVICES, When};

/// Who holds the socket, as far as advice needs to know.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner<'a> {
    /// The executable's path (`/usr/bin/memcached`), when it could be read.
    pub exe: Option<&'a str>,
    /// The process name (`comm`).
    pub comm: Option<&'a str>,
    /// The systemd unit the socket belongs to (`memcached.service`, `ssh.socket`).
    pub unit: Option<&'a str>,
    /// The command line it runs with (empty when not read).
    pub args: &'a [String],
    /// The unit's `ExecStart=`, when its unit files could be read.
    pub exec_start: Option<&'a ExecStart>,
}

impl<'a> Owner<'a> {
    /// The first owning process of `listener` that has a name, and the socket's unit.
    pub fn of(listener: &'a Listener, unit: Option<&'a str>) -> Owner<'a> {
        let process = listener.processes.first();
        Owner {
            exe: process.and_then(|p| p.exe.as_deref()?.to_str()),
            comm: process.and_then(|p| std::str::from_utf8(&p.comm).ok()),
            unit,
            args: process.and_then(|p| p.args.as_deref()).unwrap_or_default(),
            exec_start: listener.unit_exec.as_deref(),
        }
    }
}

/// The services with advice, as `service =` and `--allow` name them.
#[cfg(test)]
pub fn service_names() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().map(|k| k.name)
}

/// The service names with the ports they usually use, for the built-in service table.
pub fn service_ports() -> impl Iterator<Item = (&'static str, u16, Option<Protocol>)> {
    SERVICES
        .iter()
        .flat_map(|k| k.ports.iter().map(move |&(port, p)| (k.name, port, p)))
}

/// The service called `name` (or one of its aliases).
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|k| k.name == name || k.aliases.contains(&name))
}

/// Every name `service =` accepts.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    SERVICES
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
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
pub enum Identity<'a> {
    /// A service we know.
    Known(&'static Service, Basis),
    /// A program we know nothing about.
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

/// The kernel keeps 15 bytes of a name: `prometheus-node-exporter` runs as
/// `prometheus-node`.
pub const COMM_MAX: usize = 15;

/// Whether a process name (comm) is `program`, cut as the kernel cuts it.
fn comm_is(comm: &str, program: &str) -> bool {
    comm == program
        || (program.len() > COMM_MAX && program.as_bytes().get(..COMM_MAX) == Some(comm.as_bytes()))
}

/// The service a unit is, if any.
fn by_unit(unit: &str) -> Option<&'static Service> {
    let base = unit_base(unit);
    SERVICES.iter().find(|k| k.units.contains(&base))
}

/// The service an executable's path is, if any.
fn by_exe(exe: &str) -> Option<&'static Service> {
    let name = exe.rsplit('/').next().unwrap_or(exe);
    SERVICES
        .iter()
        .find(|k| k.programs.contains(&name) || k.paths.iter().any(|p| exe.contains(p)))
}

/// The service a process name is, if any.
fn by_comm(comm: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|k| k.programs.iter().any(|p| comm_is(comm, p)))
}

pub fn identify<'a>(owner: &Owner<'a>) -> Identity<'a> {
    let exe_name = owner.exe.and_then(|e| e.rsplit('/').next());
    // The unit first: it is what a person manages, and what runs an interpreter.
    if let Some(known) = owner.unit.and_then(by_unit) {
        return Identity::Known(known, Basis::Unit);
    }
    if let Some(known) = owner.exe.and_then(by_exe) {
        return Identity::Known(known, Basis::Executable);
    }
    if let Some(known) = owner.comm.and_then(by_comm) {
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

/// What one process says about whether it is `service`: `Some(true)` or `Some(false)`
/// by its executable (else its name), `None` when it says nothing (an interpreter, or
/// nothing readable).
pub fn process_is(service: &Service, p: &Process) -> Option<bool> {
    let exe = p.exe.as_deref().and_then(|e| e.to_str());
    let comm = std::str::from_utf8(&p.comm).ok().filter(|c| !c.is_empty());
    // As `identify` does: the executable, then the name, name a service we know.
    if let Some(known) = exe.and_then(by_exe).or_else(|| comm.and_then(by_comm)) {
        return Some(std::ptr::eq(known, service));
    }
    // Neither does: another program, unless all we have is an interpreter's name.
    let exe_name = exe.map(|e| e.rsplit('/').next().unwrap_or(e));
    let says_something = |name: Option<&str>| name.is_some_and(|n| !is_interpreter(n));
    (says_something(exe_name) || says_something(comm)).then_some(false)
}

/// Whether a unit is `service`; `None` when it names none we know.
pub fn unit_is(service: &Service, unit: &str) -> Option<bool> {
    by_unit(unit).map(|k| std::ptr::eq(k, service))
}

/// Whether `service` usually listens on this port.
pub fn usual_port(service: &Service, protocol: Protocol, port: u16) -> bool {
    service
        .ports
        .iter()
        .any(|&(p, proto)| p == port && proto.is_none_or(|want| want == protocol))
}

/// The service whose port this usually is.
fn usual(protocol: Protocol, port: u16) -> Option<&'static Service> {
    SERVICES.iter().find(|k| usual_port(k, protocol, port))
}

/// What to do about a failing socket reachable with `exposure` (never `None`).
pub fn advise(protocol: Protocol, port: u16, exposure: Exposure, owner: &Owner) -> Option<Advice> {
    let at = Socket {
        protocol,
        port,
        exposure,
        unit: owner.unit,
        program: owner.exe.and_then(|e| e.rsplit('/').next()).or(owner.comm),
        args: owner.args,
        exec_start: owner.exec_start,
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
    args: &'a [String],
    exec_start: Option<&'a ExecStart>,
}

impl Socket<'_> {
    fn spec(&self) -> String {
        format!("{}/{}", self.port, self.protocol.name())
    }

    fn holds(&self, when: &When) -> bool {
        match when {
            When::Any => true,
            When::Protocol(p) => self.protocol == *p,
            When::Port(port) => self.port == *port,
            When::Server(names) => {
                self.unit.is_some_and(|u| names.contains(&unit_base(u)))
                    || self.program.is_some_and(|p| names.contains(&p))
            }
            When::SocketUnit => self.unit.is_some_and(|u| u.ends_with(".socket")),
            When::Instance(template) => self
                .unit
                .and_then(|u| u.strip_prefix(template))
                .is_some_and(|rest| rest.starts_with('@')),
            When::Option(option) => {
                self.args.iter().skip(1).any(|a| {
                    a == option || a.strip_prefix(option).is_some_and(|r| r.starts_with('='))
                })
            }
            When::All(all) => all.iter().all(|w| self.holds(w)),
        }
    }

    /// What `--allow` takes for this socket: the service's name on its own port, else
    /// the port itself.
    fn allow_spec(&self, known: &Service) -> String {
        if usual_port(known, self.protocol, self.port) {
            format!("{}/{}", known.name, self.protocol.name())
        } else {
            self.spec()
        }
    }

    /// The unit to restart: the one found (a `.service` keeps only its name), else the
    /// row's (with the RHEL family's name when it differs). The command, and how the
    /// text says it.
    fn restart(&self, known: &Service, fallback: Option<&str>) -> Option<(String, String)> {
        if let Some(unit) = self.managed_unit().filter(|_| self.its_own_unit(known)) {
            let unit = unit.strip_suffix(".service").unwrap_or(unit);
            let command = format!("systemctl restart {unit}");
            return Some((command.clone(), command));
        }
        let (debian, rhel) = match fallback {
            Some(unit) => (unit, None),
            None => known.unit?,
        };
        let command = format!("systemctl restart {debian}");
        let text = match rhel {
            Some(rhel) => format!("{command} ({rhel} on the RHEL family)"),
            None => command.clone(),
        };
        Some((command, text))
    }

    /// The unit found, when it is one a person restarts or edits: a service or socket,
    /// but not a user's service manager (`user@1000.service`) or a session's scope.
    fn managed_unit(&self) -> Option<&str> {
        self.unit.filter(|u| {
            (u.ends_with(".service") || u.ends_with(".socket")) && !u.starts_with("user@")
        })
    }

    /// Whether the unit found runs the service itself, rather than a shell or a runner
    /// that started it: the unit is one of the service's, or its command names the
    /// program (or cannot be read, and then it is taken at its word).
    fn its_own_unit(&self, known: &Service) -> bool {
        let Some(unit) = self.unit else { return false };
        by_unit(unit).is_some_and(|k| std::ptr::eq(k, known))
            || self.exec_start.is_none_or(|exec| {
                self.program
                    .is_none_or(|program| exec.command.contains(program))
            })
    }

    /// Fill in a template (see known.rs).
    fn render(&self, template: &str, known: &Service) -> String {
        self.render_for(template, known, None)
    }

    /// Fill in a template whose `{restart}` falls back to `unit`.
    fn render_for(&self, template: &str, known: &Service, unit: Option<&str>) -> String {
        let public = self.exposure == Exposure::Public;
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let inner = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            let (name, argument) = inner.split_once(':').unwrap_or((inner, ""));
            match name {
                "bind" if public => {
                    out.push_str(argument);
                    out.push_str(" (or a private address)");
                }
                "bind" => out.push_str(argument),
                "public" => {
                    let (this, other) = argument.split_once('|').unwrap_or((argument, ""));
                    out.push_str(if public { this } else { other });
                }
                "restart" => match self.restart(known, unit) {
                    Some((_, text)) => out.push_str(&text),
                    None => out.push_str("restart it"),
                },
                "or_allow" if public => {}
                "or_allow" | "allow" => {
                    let lead = if name == "allow" {
                        "; if they may reach it, allow it"
                    } else {
                        "; or, if this network may reach it, allow it"
                    };
                    out.push_str(&format!("{lead}: --allow {}", self.allow_spec(known)));
                }
                "unit" => out.push_str(self.unit.unwrap_or(known.name)),
                "port" => out.push_str(&self.port.to_string()),
                "cluster" => out.push_str(&self.cluster().unwrap_or_default()),
                // A brace that is not a placeholder is text.
                _ => {
                    out.push('{');
                    out.push_str(inner);
                    out.push('}');
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// `postgresql@15-main.service` → `15/main`.
    fn cluster(&self) -> Option<String> {
        let instance = self.unit?.strip_prefix("postgresql@")?;
        let instance = instance.strip_suffix(".service").unwrap_or(instance);
        let (version, name) = instance.split_once('-')?;
        Some(format!("{version}/{name}"))
    }
}

/// The first of `args` (after the program) that sets a listen flag: the flag, and its
/// value (`-l 0.0.0.0`, `-l0.0.0.0`, `--listen=0.0.0.0`).
fn listen_flag<'a>(args: &[&'a str], flags: &[&'a str]) -> Option<(&'a str, &'a str)> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        for flag in flags {
            if arg == flag {
                return Some((flag, args.next().copied().unwrap_or("")));
            }
            if let Some(value) = arg.strip_prefix(flag) {
                let long = flag.starts_with("--");
                match value.strip_prefix('=') {
                    Some(value) if long => return Some((flag, value)),
                    _ if !long && !value.is_empty() => return Some((flag, value)),
                    _ => {}
                }
            }
        }
    }
    None
}

/// When the address comes from a command line rather than the row's file: a listen
/// flag in the unit's `ExecStart=`, or on the command line of a program its unit did
/// not start (no unit, a login session, or a unit whose command is another program: a
/// shell, a CI runner). The fix, file and command for that.
fn from_command_line(known: &Service, at: &Socket) -> Option<Advised> {
    let listen = known.listen?;
    let or_allow = at.render("{or_allow}", known);
    let mut loopback = at.render(&format!("{{bind:{}}}", listen.loopback), known);
    if let Some((_, also)) = listen.with.filter(|(when, _)| at.holds(when)) {
        loopback.push_str(" and ");
        loopback.push_str(also);
    }
    let service_unit = at.managed_unit().filter(|u| u.ends_with(".service"));
    let program = at.program.unwrap_or(known.name);
    // The unit starts this program (or a wrapper named after it, as Debian's memcached).
    let its_own = |exec: &ExecStart| exec.command.contains(program);
    if let (Some(unit), Some(exec)) = (service_unit, at.exec_start) {
        let words: Vec<&str> = exec.command.split_whitespace().collect();
        if let Some((flag, value)) = listen_flag(&words, listen.flags).filter(|_| its_own(exec)) {
            let name = unit.strip_suffix(".service").unwrap_or(unit);
            return Some(Advised {
                fix: format!(
                    "{flag} {value} is set by ExecStart= of {unit} (in {}), not by a \
                     configuration file: systemctl edit {name}, and under [Service] write an \
                     empty ExecStart= then the same command with {flag} {loopback}; then \
                     systemctl restart {name}{or_allow}",
                    exec.file.display()
                ),
                file: Some(format!("/etc/systemd/system/{unit}.d/override.conf")),
                command: Some(format!("systemctl restart {name}")),
            });
        }
    }
    let by_its_unit = service_unit.is_some() && at.exec_start.is_none_or(its_own);
    if by_its_unit {
        return None;
    }
    let args: Vec<&str> = at.args.iter().map(String::as_str).collect();
    let (flag, value) = listen_flag(&args, listen.flags)?;
    let started = match service_unit {
        Some(unit) => format!("by a process of {unit}, not by that unit's ExecStart="),
        None => "not by a systemd service".to_string(),
    };
    Some(Advised {
        fix: format!(
            "{program} was started with {flag} {value} on its command line, {started}: start \
             it with {flag} {loopback} instead{or_allow}"
        ),
        file: None,
        command: None,
    })
}

/// A fix, rendered.
struct Advised {
    fix: String,
    file: Option<String>,
    command: Option<String>,
}

/// The advice for a known service on this socket.
fn advice(known: &Service, at: &Socket, basis: Basis) -> Advice {
    // The last risk and fix of every row hold always (tested).
    let risk = known
        .risks
        .iter()
        .find(|r| at.holds(&r.when))
        .unwrap_or(&known.risks[known.risks.len() - 1]);
    let advised = from_command_line(known, at).unwrap_or_else(|| {
        let fix: &Fix = known
            .fixes
            .iter()
            .find(|f| at.holds(&f.when))
            .unwrap_or(&known.fixes[known.fixes.len() - 1]);
        let unit = match fix.command {
            Command::RestartUnit(unit) => Some(unit),
            _ => None,
        };
        let command = match fix.command {
            Command::Restart | Command::RestartUnit(_) => {
                at.restart(known, unit).map(|(command, _)| command)
            }
            Command::Run(text) => Some(at.render(text, known)),
            Command::None => None,
        };
        Advised {
            fix: at.render_for(fix.fix, known, unit),
            file: fix.file.map(|f| at.render(f, known)),
            command,
        }
    });
    Advice {
        service: known.name.to_string(),
        severity: risk.severity,
        why: risk.why.to_string(),
        fix: advised.fix,
        file: advised.file,
        command: advised.command,
        identified_by: basis,
    }
}

/// A program we have no advice for, on a port a known service usually uses.
fn someone_else(known: &Service, name: &str, basis: Basis, at: &Socket) -> Advice {
    let spec = at.spec();
    let bind = at.render("{bind:127.0.0.1}", known);
    Advice {
        service: name.to_string(),
        severity: crate::audit::Severity::Medium,
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
    use crate::audit::Severity;

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
            ..Owner::default()
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

    /// What each row of the table must say for one socket: (service, protocol, port,
    /// owner's program, unit, severity, file, command, words of the fix).
    type Expected = (
        &'static str,
        Protocol,
        u16,
        &'static str,
        Option<&'static str>,
        Severity,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    const EVERY_ROW: &[Expected] = &[
        (
            "memcached",
            Protocol::Udp,
            11211,
            "memcached",
            None,
            Severity::Critical,
            Some("/etc/memcached.conf"),
            Some("systemctl restart memcached"),
            "-U 0 and -l 127.0.0.1",
        ),
        (
            "redis",
            Protocol::Tcp,
            6379,
            "redis-server",
            None,
            Severity::Critical,
            Some("/etc/redis/redis.conf"),
            Some("systemctl restart redis-server"),
            "protected-mode yes",
        ),
        (
            "mongodb",
            Protocol::Tcp,
            27017,
            "mongod",
            None,
            Severity::Critical,
            Some("/etc/mongod.conf"),
            Some("systemctl restart mongod"),
            "security.authorization: enabled",
        ),
        (
            "elasticsearch",
            Protocol::Tcp,
            9300,
            "elasticsearch",
            None,
            Severity::High,
            Some("/etc/elasticsearch/elasticsearch.yml"),
            Some("systemctl restart elasticsearch"),
            "transport.host on a private address",
        ),
        (
            "docker",
            Protocol::Tcp,
            2375,
            "dockerd",
            None,
            Severity::Critical,
            Some("/etc/docker/daemon.json"),
            Some("systemctl restart docker"),
            "remove the tcp:// entry",
        ),
        (
            "etcd",
            Protocol::Tcp,
            2380,
            "etcd",
            None,
            Severity::High,
            Some("/etc/default/etcd"),
            Some("systemctl restart etcd"),
            "--peer-client-cert-auth",
        ),
        (
            "kubelet",
            Protocol::Tcp,
            10250,
            "kubelet",
            None,
            Severity::Critical,
            Some("/var/lib/kubelet/config.yaml"),
            Some("systemctl restart kubelet"),
            "authentication.anonymous.enabled: false",
        ),
        (
            "mysql",
            Protocol::Tcp,
            3306,
            "mariadbd",
            None,
            Severity::High,
            Some("/etc/mysql/mariadb.conf.d/50-server.cnf"),
            Some("systemctl restart mariadb"),
            "systemctl restart mariadb (mariadb or mysqld on the RHEL family)",
        ),
        (
            "postgres",
            Protocol::Tcp,
            5432,
            "postgres",
            Some("postgresql@16-main.service"),
            Severity::High,
            Some("/etc/postgresql/16/main/postgresql.conf"),
            Some("systemctl restart postgresql@16-main"),
            "listen_addresses = 'localhost'",
        ),
        (
            "rpcbind",
            Protocol::Udp,
            111,
            "rpcbind",
            None,
            Severity::High,
            None,
            Some("systemctl disable --now rpcbind.socket rpcbind.service"),
            "if NFSv3 is not used",
        ),
        (
            "nfs",
            Protocol::Tcp,
            2049,
            "",
            Some("nfs-server.service"),
            Severity::High,
            Some("/etc/exports"),
            Some("exportfs -ra"),
            "sec=krb5",
        ),
        (
            "smb",
            Protocol::Tcp,
            445,
            "smbd",
            None,
            Severity::Critical,
            Some("/etc/samba/smb.conf"),
            Some("systemctl restart smbd"),
            "bind interfaces only = yes",
        ),
        (
            "rdp",
            Protocol::Tcp,
            3389,
            "xrdp",
            None,
            Severity::High,
            None,
            None,
            "VPN or bastion",
        ),
        (
            "vnc",
            Protocol::Tcp,
            5900,
            "Xtigervnc",
            None,
            Severity::Critical,
            None,
            None,
            "-localhost",
        ),
        (
            "ntp",
            Protocol::Udp,
            123,
            "chronyd",
            Some("chrony.service"),
            Severity::Medium,
            Some("/etc/chrony/chrony.conf"),
            Some("systemctl restart chrony"),
            "remove the allow lines",
        ),
        (
            "dns",
            Protocol::Udp,
            53,
            "named",
            Some("named.service"),
            Severity::Medium,
            Some("/etc/bind/named.conf.options"),
            Some("systemctl restart named"),
            "allow-recursion { localnets; }",
        ),
        (
            "ssdp",
            Protocol::Udp,
            1900,
            "minidlnad",
            None,
            Severity::High,
            None,
            None,
            "network_interface=",
        ),
        (
            "ldap",
            Protocol::Udp,
            389,
            "slapd",
            None,
            Severity::High,
            Some("/etc/default/slapd"),
            Some("systemctl restart slapd"),
            "SLAPD_SERVICES",
        ),
        (
            "node-exporter",
            Protocol::Tcp,
            9100,
            "prometheus-node",
            None,
            Severity::Medium,
            Some("/etc/default/prometheus-node-exporter"),
            Some("systemctl restart prometheus-node-exporter"),
            "--web.listen-address=127.0.0.1:9100",
        ),
        (
            "ssh",
            Protocol::Tcp,
            22,
            "sshd",
            None,
            Severity::Medium,
            Some("/etc/ssh/sshd_config"),
            Some("systemctl restart ssh"),
            "ListenAddress ADDRESS",
        ),
    ];

    #[test]
    fn every_row_advises_as_written() {
        for row in SERVICES {
            let tested = EVERY_ROW.iter().filter(|e| e.0 == row.name).count();
            assert_eq!(tested, 1, "{}: one expectation in EVERY_ROW", row.name);
            // The last risk and fix hold whatever the socket.
            assert!(
                matches!(row.risks.last().map(|r| r.when), Some(When::Any)),
                "{}",
                row.name
            );
            assert!(
                matches!(row.fixes.last().map(|f| f.when), Some(When::Any)),
                "{}",
                row.name
            );
        }
        for &(name, protocol, port, program, unit, severity, file, command, words) in EVERY_ROW {
            let owner = Owner {
                comm: Some(program).filter(|p| !p.is_empty()),
                unit,
                ..Owner::default()
            };
            let advice = public(protocol, port, &owner);
            assert_eq!(advice.service, name, "{advice:?}");
            assert_eq!(advice.severity, severity, "{name}: {advice:?}");
            assert_eq!(advice.file.as_deref(), file, "{name}: {advice:?}");
            assert_eq!(advice.command.as_deref(), command, "{name}: {advice:?}");
            assert!(advice.fix.contains(words), "{name}: {advice:?}");
            for placeholder in [
                "{bind",
                "{public",
                "{restart}",
                "{allow}",
                "{or_allow}",
                "{unit}",
            ] {
                assert!(
                    !advice.fix.contains(placeholder),
                    "left unfilled: {advice:?}"
                );
            }
            assert_ne!(advice.identified_by, Basis::Port, "{name}: {advice:?}");
        }
    }

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_listen_flag_in_the_units_exec_start_is_changed_with_systemctl_edit() {
        let exec = ExecStart {
            command: "/usr/bin/memcached -m 64 -p 11211 -u memcache -l 0.0.0.0 -U 0".into(),
            file: "/etc/systemd/system/memcached.service.d/override.conf".into(),
        };
        let running = args("/usr/bin/memcached -m 64 -p 11211 -u memcache -l 0.0.0.0 -U 0");
        let owner = Owner {
            comm: Some("memcached"),
            unit: Some("memcached.service"),
            args: &running,
            exec_start: Some(&exec),
            ..Owner::default()
        };
        let advice = public(Protocol::Tcp, 11211, &owner);
        assert!(
            advice.fix.starts_with(
                "-l 0.0.0.0 is set by ExecStart= of memcached.service (in \
                 /etc/systemd/system/memcached.service.d/override.conf), not by a configuration \
                 file: systemctl edit memcached, and under [Service] write an empty ExecStart= \
                 then the same command with -l 127.0.0.1 (or a private address); then systemctl \
                 restart memcached"
            ),
            "{advice:?}"
        );
        assert!(!advice.fix.contains("/etc/memcached.conf"), "{advice:?}");
        assert_eq!(
            advice.file.as_deref(),
            Some("/etc/systemd/system/memcached.service.d/override.conf")
        );
        assert_eq!(
            advice.command.as_deref(),
            Some("systemctl restart memcached")
        );

        // Debian's unit starts a wrapper that reads /etc/memcached.conf: the flag on the
        // command line comes from that file, which is what to edit.
        let wrapper = ExecStart {
            command: "/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf"
                .into(),
            file: "/lib/systemd/system/memcached.service".into(),
        };
        let from_file = Owner {
            exec_start: Some(&wrapper),
            ..owner
        };
        let advice = public(Protocol::Tcp, 11211, &from_file);
        assert!(
            advice.fix.starts_with("bind to loopback: -l 127.0.0.1"),
            "{advice:?}"
        );
        assert_eq!(advice.file.as_deref(), Some("/etc/memcached.conf"));
    }

    #[test]
    fn a_listen_flag_of_a_program_started_by_hand_is_the_flag_to_change() {
        for (line, flag) in [
            ("memcached -u nobody -l 0.0.0.0 -p 11211", "-l 0.0.0.0"),
            ("memcached -l0.0.0.0", "-l 0.0.0.0"),
            ("memcached --listen=0.0.0.0", "--listen 0.0.0.0"),
        ] {
            let running = args(line);
            let owner = Owner {
                comm: Some("memcached"),
                unit: Some("session-4.scope"),
                args: &running,
                ..Owner::default()
            };
            let advice = public(Protocol::Tcp, 11211, &owner);
            let (name, _) = flag.split_once(' ').unwrap();
            assert_eq!(
                advice.fix,
                format!(
                    "memcached was started with {flag} on its command line, not by a systemd \
                     service: start it with {name} 127.0.0.1 (or a private address) instead"
                ),
                "{line}"
            );
            assert_eq!((advice.file, advice.command), (None, None), "{line}");
        }
        // Over UDP, memcached is told to drop UDP too.
        let running = args("memcached -u nobody -l 0.0.0.0");
        let owner = Owner {
            comm: Some("memcached"),
            args: &running,
            ..Owner::default()
        };
        assert!(
            public(Protocol::Udp, 11211, &owner)
                .fix
                .contains("start it with -l 127.0.0.1 (or a private address) and -U 0 (no UDP)")
        );
        // A flag that is not the listen flag says nothing.
        let running = args("memcached -p 11211 -lv");
        let owner = Owner {
            comm: Some("memcached"),
            args: &running,
            ..Owner::default()
        };
        assert!(
            public(Protocol::Tcp, 11211, &owner)
                .fix
                .contains("started with -l v")
        );
        let running = args("memcached -p 11211");
        let owner = Owner {
            comm: Some("memcached"),
            args: &running,
            ..Owner::default()
        };
        assert!(
            public(Protocol::Tcp, 11211, &owner)
                .fix
                .starts_with("bind to loopback")
        );
    }

    #[test]
    fn dnsmasq_with_local_service_is_not_an_open_resolver() {
        let running =
            args("/usr/sbin/dnsmasq -x /run/dnsmasq/dnsmasq.pid -u dnsmasq --local-service");
        let owner = Owner {
            comm: Some("dnsmasq"),
            unit: Some("dnsmasq.service"),
            args: &running,
            ..Owner::default()
        };
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            let advice = public(protocol, 53, &owner);
            assert_eq!(advice.severity, Severity::Medium, "{advice:?}");
            assert!(advice.why.contains("not an open resolver"), "{advice:?}");
            assert!(!advice.why.contains("amplification"), "{advice:?}");
            assert!(advice.fix.contains("allow it: --allow dns/"), "{advice:?}");
        }
        let running = args("/usr/sbin/dnsmasq --local-service=net");
        let owner = Owner {
            args: &running,
            ..owner
        };
        assert!(
            public(Protocol::Udp, 53, &owner)
                .why
                .contains("not an open resolver")
        );
        // Without it, an open resolver.
        let plain = public(Protocol::Udp, 53, &owner_named("dnsmasq"));
        assert!(plain.why.contains("amplification vector"), "{plain:?}");
        // unbound and named answer only their own networks unless told otherwise.
        for server in ["unbound", "named"] {
            let advice = public(Protocol::Udp, 53, &owner_named(server));
            assert!(
                advice.why.contains("an open resolver only if"),
                "{advice:?}"
            );
        }
    }

    fn owner_named(comm: &str) -> Owner<'_> {
        owner(comm)
    }

    #[test]
    fn a_service_off_its_port_is_allowed_by_its_port() {
        let advice = advise(
            Protocol::Tcp,
            6380,
            Exposure::Internal,
            &owner("redis-server"),
        )
        .unwrap();
        assert!(
            advice.fix.ends_with("allow it: --allow 6380/tcp"),
            "{advice:?}"
        );
        let advice = advise(
            Protocol::Tcp,
            6379,
            Exposure::Internal,
            &owner("redis-server"),
        )
        .unwrap();
        assert!(
            advice.fix.ends_with("allow it: --allow redis/tcp"),
            "{advice:?}"
        );
    }

    #[test]
    fn debians_node_exporter_is_known_by_its_cut_name() {
        let advice = public(Protocol::Tcp, 9100, &owner("prometheus-node"));
        assert_eq!(advice.service, "node-exporter");
        assert_eq!(advice.identified_by, Basis::Process);
        let upstream = public(Protocol::Tcp, 9100, &owner("node_exporter"));
        assert_eq!(upstream.service, "node-exporter");
        // A 15-byte name that only starts like it is not it.
        assert!(!comm_is("prometheus-nod", "prometheus-node-exporter"));
    }

    #[test]
    fn a_program_started_inside_another_programs_unit_was_started_by_hand() {
        let runner = ExecStart {
            command: "/opt/runner/bin/Runner.Listener run --startuptype service".into(),
            file: "/etc/systemd/system/actions.runner.service".into(),
        };
        let running = args("memcached -l 0.0.0.0 -p 11211");
        let owner = Owner {
            comm: Some("memcached"),
            unit: Some("actions.runner.service"),
            args: &running,
            exec_start: Some(&runner),
            ..Owner::default()
        };
        let advice = public(Protocol::Tcp, 11211, &owner);
        assert!(
            advice.fix.starts_with(
                "memcached was started with -l 0.0.0.0 on its command line, by a process of \
                 actions.runner.service, not by that unit's ExecStart=: start it with -l \
                 127.0.0.1 (or a private address) instead"
            ),
            "{advice:?}"
        );
        // Without the flag: the file, and not the runner's unit to restart.
        let plain = args("memcached -p 11211");
        let owner = Owner {
            args: &plain,
            ..owner
        };
        let advice = public(Protocol::Tcp, 11211, &owner);
        assert_eq!(
            advice.command.as_deref(),
            Some("systemctl restart memcached")
        );
    }

    #[test]
    fn a_process_is_a_service_as_identify_says() {
        let redis = service("redis").unwrap();
        let process = |comm: &str, exe: Option<&str>| Process {
            comm: comm.as_bytes().to_vec(),
            exe: exe.map(std::path::PathBuf::from),
            ..Process::default()
        };
        // Debian's redis-server is a link to redis-check-rdb, which /proc/PID/exe names.
        assert_eq!(
            process_is(
                redis,
                &process("redis-server", Some("/usr/bin/redis-check-rdb"))
            ),
            Some(true)
        );
        // An executable of an unknown name, under a known name: the name says it.
        assert_eq!(
            process_is(redis, &process("redis-server", Some("/opt/x/srv"))),
            Some(true)
        );
        assert_eq!(
            process_is(redis, &process("nc", Some("/usr/bin/nc"))),
            Some(false)
        );
        assert_eq!(process_is(redis, &process("memcached", None)), Some(false));
        // An interpreter says nothing; nor does nothing.
        assert_eq!(
            process_is(redis, &process("python3", Some("/usr/bin/python3.11"))),
            None
        );
        assert_eq!(process_is(redis, &process("", None)), None);
    }

    #[test]
    fn a_users_service_manager_is_not_the_unit_to_restart() {
        let owner = Owner {
            comm: Some("memcached"),
            unit: Some("user@1000.service"),
            ..Owner::default()
        };
        let advice = public(Protocol::Udp, 11211, &owner);
        assert_eq!(
            advice.command.as_deref(),
            Some("systemctl restart memcached")
        );
    }
}
