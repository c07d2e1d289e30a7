//! The policy file (TOML): settings and `[[rule]]` tables, checked once into [`Rule`]s.
//!
//! Every mistake is reported as `FILE:LINE: what is wrong`, so that a policy kept in git
//! and rolled out to many hosts fails loudly and precisely (exit 2), never half-applied.
//!
//! Every key is documented in [`super::reference`] (portaudit.toml(5) is written from it);
//! a test fails when the keys here and there differ.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::advice;
use super::rules::{Action, Cidr, Rule, UserMatch};
use super::services::Services;
use super::{parse_allow, parse_protocol};
use crate::classify::Exposure;
use crate::error::Error;

/// Where a policy file is looked for when `--config` is not given.
pub const SYSTEM_FILE: &str = "/etc/portaudit/portaudit.toml";

/// What a listener on a wildcard address and an ephemeral UDP port gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EphemeralUdp {
    /// Allowed by a built-in rule after the file's own rules (the default).
    #[default]
    Allow,
    /// Judged like any other socket.
    Judge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Enforce,
    Advisory,
}

/// A checked policy file.
#[derive(Debug, Default)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub advisory: Option<bool>,
    pub strict: Option<bool>,
    pub default_allow: Option<bool>,
    pub ephemeral_udp: Option<EphemeralUdp>,
    /// Let a socket the host firewall drops on every way in pass (`filtered`).
    pub trust_firewall: Option<bool>,
    pub rules: Vec<Rule>,
    /// Rules that allow everything or can never match: `FILE:LINE: …`, not errors.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    mode: Option<Mode>,
    strict: Option<bool>,
    default_allow: Option<bool>,
    ephemeral_udp: Option<EphemeralUdp>,
    trust_firewall: Option<bool>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    action: Spanned<String>,
    protocol: Option<Spanned<String>>,
    port: Option<Spanned<OneOrMany<PortValue>>>,
    exposure: Option<Spanned<OneOrMany<String>>>,
    address: Option<Spanned<OneOrMany<String>>>,
    process: Option<Spanned<OneOrMany<String>>>,
    exe: Option<Spanned<OneOrMany<String>>>,
    service: Option<Spanned<OneOrMany<String>>>,
    user: Option<Spanned<OneOrMany<PortValue>>>,
    ephemeral: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// A port (or uid) as a number, or text: `"8000-8100"`, `"postgresql"`, `"nobody"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum PortValue {
    Number(i64),
    Text(String),
}

impl PortValue {
    fn text(&self) -> String {
        match self {
            PortValue::Number(n) => n.to_string(),
            PortValue::Text(t) => t.clone(),
        }
    }
}

/// The file to use: `--config`, else the system file when it exists, unless `--no-config`.
pub fn discover(config: Option<&Path>, no_config: bool, system: &Path) -> Option<PathBuf> {
    match config {
        Some(path) => Some(path.to_path_buf()),
        None if no_config => None,
        None => system.exists().then(|| system.to_path_buf()),
    }
}

/// Read (as root: only a file root alone could have put there, see `fsafe`) and check.
pub fn load(path: &Path, services: &Services) -> Result<PolicyFile, Error> {
    let bytes = crate::fsafe::read::trusted(path)
        .map_err(|e| e.into_error(path, |e| Error::io("read", path, e)))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::new(format!("{}: not UTF-8 text", path.display())))?;
    parse(&text, path, services)
}

pub fn parse(text: &str, path: &Path, services: &Services) -> Result<PolicyFile, Error> {
    let at = |span: Option<Range<usize>>, what: &str| {
        let line = span.map_or(String::new(), |s| format!(":{}", line_of(text, s.start)));
        Error::new(format!("{}{line}: {what}", path.display()))
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| match one_rule_table(text) {
        // `[rule]` is a table, where rules are an array of tables: serde's "invalid type:
        // map, expected a sequence" says so only to those who know TOML's grammar.
        Some(offset) if e.message().contains("expected a sequence") => at(
            Some(offset..offset),
            "[rule] makes one table, but the rules are a list: write [[rule]] (two brackets) \
             above each rule",
        ),
        _ => at(e.span(), e.message().trim()),
    })?;
    let mut rules = Vec::new();
    let mut warnings = Vec::new();
    for (i, spanned) in raw.rule.into_iter().enumerate() {
        let span = spanned.span();
        let raw = spanned.into_inner();
        let label = raw
            .name
            .clone()
            .unwrap_or_else(|| format!("rule {}", i + 1));
        let mut rule = check_rule(raw, label, services).map_err(|(span2, why)| {
            at(
                Some(span2.unwrap_or(span.clone())),
                &format!("[[rule]] {}: {why}", i + 1),
            )
        })?;
        let here = format!(
            "{}:{}: [[rule]] {}",
            path.display(),
            line_of(text, span.start),
            i + 1
        );
        rule.origin = Some(here.clone());
        if rule.allows_everything() {
            warnings.push(format!(
                "{here}: allows every socket (no condition limits it): the rules after it are \
                 never used"
            ));
        }
        if let Some(why) = rule.never_matches() {
            warnings.push(format!("{here}: can never match: {why}"));
        }
        rules.push(rule);
    }
    Ok(PolicyFile {
        path: path.to_path_buf(),
        advisory: raw.mode.map(|m| m == Mode::Advisory),
        strict: raw.strict,
        default_allow: raw.default_allow,
        ephemeral_udp: raw.ephemeral_udp,
        trust_firewall: raw.trust_firewall,
        rules,
        warnings,
    })
}

type RuleError = (Option<Range<usize>>, String);

/// Check every field of one `[[rule]]`; an error carries the span of the field at fault.
fn check_rule(raw: RawRule, label: String, services: &Services) -> Result<Rule, RuleError> {
    let action = match raw.action.get_ref().as_str() {
        "allow" => Action::Allow,
        "deny" => Action::Deny,
        other => {
            return Err((
                Some(raw.action.span()),
                format!("action {other:?}: expected \"allow\" or \"deny\""),
            ));
        }
    };
    let mut rule = Rule::new(label, action);
    rule.ephemeral = raw.ephemeral;
    if let Some(protocol) = raw.protocol {
        rule.protocol =
            Some(parse_protocol(protocol.get_ref()).map_err(|why| (Some(protocol.span()), why))?);
    }
    for_each(raw.port, |value| {
        let spec = value.text();
        let entries =
            parse_allow(&spec, services).map_err(|why| format!("port {spec:?}: {why}"))?;
        rule.ports.extend(entries);
        // A name means its port number; remember it when it is a service we recognise,
        // to warn when that service listens elsewhere.
        let name = spec.split('/').next().unwrap_or_default().trim();
        if let (PortValue::Text(_), Some(service)) = (&value, advice::service(name)) {
            rule.port_names.push((name.to_string(), service));
        }
        Ok(())
    })?;
    for_each(raw.exposure, |value| {
        let exposure = match value.as_str() {
            "none" => Exposure::None,
            "internal" => Exposure::Internal,
            "public" => Exposure::Public,
            other => {
                return Err(format!(
                    "exposure {other:?}: expected \"none\" (loopback), \"internal\" or \"public\""
                ));
            }
        };
        rule.exposures.push(exposure);
        Ok(())
    })?;
    for_each(raw.address, |value| {
        let cidr = Cidr::parse(&value).map_err(|why| format!("address {value:?}: {why}"))?;
        rule.addresses.push(cidr);
        Ok(())
    })?;
    for_each(raw.process, |value| {
        if value.is_empty() {
            return Err("process \"\": a process name (comm) is 1 to 15 bytes".into());
        }
        if value.len() > advice::COMM_MAX {
            return Err(too_long(&value));
        }
        rule.processes.push(value.into_bytes());
        Ok(())
    })?;
    for_each(raw.service, |value| {
        let service =
            advice::service(&value).ok_or_else(|| match suggest(&value, advice::all_names()) {
                Some(near) => format!(
                    "service {value:?}: not one portaudit knows (did you mean \
                                       {near:?}?)"
                ),
                None => format!(
                    "service {value:?}: not one portaudit knows ({}); for another program, \
                     use exe or process",
                    advice::all_names()
                        .filter(|n| !n.contains('_'))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        rule.services.push(service);
        Ok(())
    })?;
    for_each(raw.exe, |value| {
        if !value.starts_with('/') {
            return Err(format!("exe {value:?}: expected an absolute path"));
        }
        rule.exes.push(PathBuf::from(value));
        Ok(())
    })?;
    for_each(raw.user, |value| {
        let user = match value {
            PortValue::Number(n) => {
                UserMatch::Uid(u32::try_from(n).map_err(|_| format!("user {n}: not a uid"))?)
            }
            PortValue::Text(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                UserMatch::Uid(t.parse().map_err(|_| format!("user {t:?}: not a uid"))?)
            }
            PortValue::Text(t) if t.is_empty() => return Err("user \"\": empty name".into()),
            PortValue::Text(t) => UserMatch::Name(t),
        };
        rule.users.push(user);
        Ok(())
    })?;
    Ok(rule)
}

/// A `process` value the kernel would cut: say what it shows, and what matches the
/// program instead.
fn too_long(value: &str) -> String {
    let mut cut = advice::COMM_MAX;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let shown = &value[..cut];
    let program = value.rsplit('/').next().unwrap_or(value);
    let service = advice::service(program)
        .map(|s| format!(", or service = {:?}", s.name))
        .unwrap_or_default();
    format!(
        "process {value:?}: the kernel keeps 15 bytes of a process name (it shows this one as \
         {shown:?}); match the program by its executable instead: exe = \"/usr/bin/{program}\" \
         (its path is `readlink /proc/PID/exe`){service}"
    )
}

/// The nearest of `names` to `name`, when near enough to be a typo.
fn suggest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    names
        .map(|n| (super::services::distance(name, n), n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The offset of a `[rule]` header, when the file has one (a table where `[[rule]]`, an
/// array of tables, was meant).
fn one_rule_table(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.split('#').next().unwrap_or_default().trim();
        if bare
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .map(str::trim)
            == Some("rule")
            && !bare.starts_with("[[")
        {
            return Some(offset + (line.len() - line.trim_start().len()));
        }
        offset += line.len();
    }
    None
}

/// Check each item of a one-or-many field; an error points at the field.
fn for_each<T>(
    field: Option<Spanned<OneOrMany<T>>>,
    mut check: impl FnMut(T) -> Result<(), String>,
) -> Result<(), RuleError> {
    let Some(field) = field else { return Ok(()) };
    let span = field.span();
    let values = field.into_inner().into_vec();
    if values.is_empty() {
        return Err((
            Some(span),
            "an empty list matches nothing; leave the key out to match any".into(),
        ));
    }
    for value in values {
        check(value).map_err(|why| (Some(span.clone()), why))?;
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> Services {
        Services::parse(
            "postgresql 5432/tcp postgres\ndomain 53/tcp\ndomain 53/udp\n",
            "test".into(),
        )
    }

    fn parse_text(text: &str) -> Result<PolicyFile, String> {
        parse(text, Path::new("p.toml"), &services()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_file() {
        let file = parse_text(
            r#"
mode = "advisory"
strict = true
default_allow = false
ephemeral_udp = "judge"

[[rule]]
name = "postgres on 10/8"
port = "postgresql"
address = ["10.0.0.0/8"]
action = "allow"

[[rule]]
protocol = "udp"
exposure = "public"
port = [53, "60000-61000"]
process = ["unbound"]
exe = "/usr/sbin/unbound"
user = ["unbound", 0]
ephemeral = false
action = "deny"
"#,
        )
        .unwrap();
        assert_eq!(file.advisory, Some(true));
        assert_eq!(file.strict, Some(true));
        assert_eq!(file.default_allow, Some(false));
        assert_eq!(file.ephemeral_udp, Some(EphemeralUdp::Judge));
        assert_eq!(file.rules.len(), 2);
        assert_eq!(file.rules[0].label, "postgres on 10/8");
        assert_eq!(file.rules[0].action, Action::Allow);
        assert_eq!(file.rules[0].ports.len(), 1);
        assert_eq!(file.rules[1].label, "rule 2");
        assert_eq!(file.rules[1].ports.len(), 2, "port 53 and a range");
        assert_eq!(
            file.rules[1].users,
            [UserMatch::Name("unbound".into()), UserMatch::Uid(0)]
        );
    }

    #[test]
    fn an_empty_file_is_the_default_policy() {
        let file = parse_text("").unwrap();
        assert!(file.rules.is_empty());
        assert_eq!(file.advisory, None);
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        for (text, says) in [
            ("mode = \"loud\"\n", "p.toml:1: unknown variant `loud`"),
            ("strict = yes\n", "p.toml:1: "),
            ("colour = 1\n", "p.toml:1: unknown field `colour`"),
            (
                "\n[[rule]]\nport = 22\n",
                "p.toml:2: missing field `action`",
            ),
            (
                "[[rule]]\naction = \"allow\"\nports = 22\n",
                "p.toml:3: unknown field `ports`",
            ),
            (
                "[[rule]]\naction = \"permit\"\n",
                "p.toml:2: [[rule]] 1: action \"permit\": expected",
            ),
            (
                "[[rule]]\naction = \"allow\"\n\nport = 70000\n",
                "p.toml:4: [[rule]] 1: port \"70000\": port 70000 is out of range",
            ),
            (
                "[[rule]]\naction = \"allow\"\nport = \"nonesuch\"\n",
                "p.toml:3: [[rule]] 1: port \"nonesuch\": unknown service \"nonesuch\"",
            ),
            (
                "[[rule]]\naction = \"allow\"\naddress = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
                "p.toml:3: [[rule]] 1: address \"10.0.0.0/33\": prefix length",
            ),
            (
                "[[rule]]\naction = \"allow\"\nexposure = \"loopback\"\n",
                "p.toml:3: [[rule]] 1: exposure \"loopback\"",
            ),
            (
                "[[rule]]\naction = \"allow\"\nprotocol = \"sctp\"\n",
                "p.toml:3: [[rule]] 1: unknown protocol",
            ),
            (
                "[[rule]]\naction = \"allow\"\nexe = \"node\"\n",
                "p.toml:3: [[rule]] 1: exe \"node\": expected an absolute path",
            ),
            (
                "[[rule]]\naction = \"allow\"\nprocess = \"a-very-long-process-name\"\n",
                "p.toml:3: [[rule]] 1: process",
            ),
            (
                "[[rule]]\naction = \"allow\"\nuser = -1\n",
                "p.toml:3: [[rule]] 1: user -1: not a uid",
            ),
            (
                "[[rule]]\naction = \"allow\"\naddress = []\n",
                "p.toml:3: [[rule]] 1: an empty list",
            ),
            ("[[rule]\n", "p.toml:1: "),
            (
                "strict = true\n\n[rule]\nname = \"x\"\naction = \"allow\"\n",
                "p.toml:3: [rule] makes one table, but the rules are a list: write [[rule]] \
                 (two brackets) above each rule",
            ),
            (
                "[[rule]]\naction = \"allow\"\nservice = \"rediss\"\n",
                "p.toml:3: [[rule]] 1: service \"rediss\": not one portaudit knows (did you \
                 mean \"redis\"?)",
            ),
            (
                "[[rule]]\naction = \"allow\"\nservice = \"apache\"\n",
                "p.toml:3: [[rule]] 1: service \"apache\": not one portaudit knows (memcached, \
                 memcache, redis,",
            ),
            (
                "[[rule]]\naction = \"allow\"\nprocess = \"prometheus-node-exporter\"\n",
                "p.toml:3: [[rule]] 1: process \"prometheus-node-exporter\": the kernel keeps \
                 15 bytes of a process name (it shows this one as \"prometheus-node\"); match \
                 the program by its executable instead: exe = \
                 \"/usr/bin/prometheus-node-exporter\" (its path is `readlink /proc/PID/exe`), \
                 or service = \"node-exporter\"",
            ),
        ] {
            let err = parse_text(text).unwrap_err();
            assert!(err.starts_with(says), "{text:?} gave {err:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    /// The fields a `Deserialize` struct accepts, as serde's derive passes them to
    /// `deserialize_struct`.
    fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
        use serde::de::{Error as _, Visitor, value::Error};
        struct Recorder(Option<&'static [&'static str]>);
        impl<'de> serde::Deserializer<'de> for &mut Recorder {
            type Error = Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
                Err(Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Error> {
                self.0 = Some(fields);
                Err(Error::custom("recorded"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                enum identifier ignored_any
            }
        }
        let mut recorder = Recorder(None);
        let _ = T::deserialize(&mut recorder);
        let mut fields = recorder.0.expect("a struct").to_vec();
        fields.sort_unstable();
        fields
    }

    fn names(keys: &[super::super::reference::Key]) -> Vec<&'static str> {
        let mut names: Vec<_> = keys.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn every_key_the_parser_takes_is_documented_and_no_other() {
        use super::super::reference::{RULE, RULE_TABLE, SETTINGS};
        let mut documented = names(SETTINGS);
        documented.push(RULE_TABLE);
        documented.sort_unstable();
        assert_eq!(
            fields_of::<RawFile>(),
            documented,
            "top-level keys: document each in src/policy/reference.rs (SETTINGS)"
        );
        assert_eq!(
            fields_of::<RawRule>(),
            names(RULE),
            "[[rule]] keys: document each in src/policy/reference.rs (RULE)"
        );
    }

    #[test]
    fn every_documented_example_parses() {
        use super::super::reference::{RULE, SETTINGS};
        for key in SETTINGS {
            let file = parse_text(key.example);
            assert!(file.is_ok(), "{}: {:?}", key.example, file.err());
        }
        for key in RULE {
            let action = if key.name == "action" {
                ""
            } else {
                "action = \"allow\"\n"
            };
            let text = format!("[[rule]]\n{action}{}\n", key.example);
            let file = parse_text(&text);
            assert!(file.is_ok(), "{text}: {:?}", file.err());
        }
    }

    #[test]
    fn discovery() {
        let system = Path::new("/nonexistent/portaudit.toml");
        assert_eq!(discover(None, false, system), None);
        let here = Path::new("Cargo.toml");
        assert_eq!(discover(None, false, here), Some(here.to_path_buf()));
        assert_eq!(discover(None, true, here), None);
        let given = Path::new("x.toml");
        assert_eq!(
            discover(Some(given), false, here),
            Some(given.to_path_buf())
        );
    }
}
