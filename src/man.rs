//! The man pages, in roff: portaudit(1) from the clap definition, portaudit.toml(5)
//! from the policy file's key list ([`crate::policy::reference`]), so that neither can
//! fall behind what the program accepts.
//!
//! build.rs includes this file (with the key list and the flags) to write the pages at
//! build time for the Debian package; it uses only clap, clap_mangen, roff and std.

use roff::{Roff, bold, italic, roman};

use crate::policy::reference::{self, Key};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The example policy, shown verbatim in portaudit.toml(5).
const EXAMPLE_POLICY: &str = include_str!("../examples/portaudit.toml");

/// The files portaudit reads or that belong to it, for FILES.
const FILES: &[(&str, &str)] = &[
    (
        "/etc/portaudit/portaudit.toml",
        "The policy file, read whenever it exists unless --config or --no-config says \
         otherwise; see portaudit.toml(5). The package installs none, so that installing \
         it changes no verdict.",
    ),
    (
        "/usr/share/doc/portaudit/examples/portaudit.toml",
        "An example policy, to copy to /etc/portaudit/portaudit.toml and edit.",
    ),
    (
        "/var/lib/portaudit/baseline.json",
        "The usual place for a baseline: written by --save-baseline FILE, compared \
         against by --baseline FILE (there is no default; the path is the one given).",
    ),
    (
        "/etc/services",
        "Service names for --allow and the policy's port key (with a built-in table for \
         names it lacks).",
    ),
    (
        "/run/netns",
        "Named network namespaces (ip netns), for --netns NAME and --all-netns.",
    ),
    (
        "/var/lib/prometheus/node-exporter/portaudit.prom",
        "Written by portaudit-textfile.service (run by portaudit-textfile.timer, installed \
         disabled) for node_exporter's textfile collector: portaudit --format prometheus \
         --output FILE.",
    ),
];

/// Where each page goes in a man tree, and its file name.
pub const COMMAND_PAGE: &str = "man1/portaudit.1";
pub const POLICY_PAGE: &str = "man5/portaudit.toml.5";

/// portaudit(1): NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS, FILES, ENVIRONMENT,
/// EXAMPLES, SEE ALSO, VERSION. The examples and exit codes are the ones `--help`
/// prints after the flags (clap's `after_help`), kept line for line.
pub fn command_page(mut command: clap::Command) -> Vec<u8> {
    // Settles every argument's defaults (how many values it takes) for the synopsis.
    command.build();
    let after_help = command
        .get_after_help()
        .map(|text| text.to_string())
        .unwrap_or_default();
    let blocks = Blocks::parse(&after_help);
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    man.render_title(&mut out).expect("write to a Vec");
    man.render_name_section(&mut out).expect("write to a Vec");

    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]);
    roff.text(synopsis(&command));
    roff.control("SH", ["DESCRIPTION"]);
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        roff.text([roman(about.to_string())]);
    }
    for paragraph in &blocks.paragraphs {
        roff.control("PP", []);
        roff.text([roman(paragraph.as_str())]);
    }
    roff.control("PP", []);
    roff.text([
        roman("The policy file, "),
        bold("/etc/portaudit/portaudit.toml"),
        roman(", is described in "),
        bold("portaudit.toml"),
        roman("(5)."),
    ]);
    roff.to_writer(&mut out).expect("write to a Vec");
    out.extend_from_slice(options_section(&man, &command).as_bytes());

    let mut roff = Roff::new();
    if let Some(exit) = blocks.section("Exit status") {
        roff.control("SH", ["EXIT STATUS"]);
        for (code, text) in exit_codes(exit) {
            roff.control("TP", []);
            roff.text([bold(code)]);
            roff.text([roman(text)]);
        }
    }
    roff.control("SH", ["FILES"]);
    for (path, what) in FILES {
        roff.control("TP", []);
        roff.text([italic(*path)]);
        roff.text([roman(*what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold("NO_COLOR")]);
    roff.text([roman(
        "When set and not empty, the table is not coloured unless --color always asks \
         for it (see https://no-color.org).",
    )]);
    if let Some(examples) = blocks.section("Examples") {
        roff.control("SH", ["EXAMPLES"]);
        verbatim(&mut roff, examples);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("portaudit.toml"),
        roman("(5), "),
        bold("ss"),
        roman("(8), "),
        bold("nft"),
        roman("(8), "),
        bold("ip-netns"),
        roman("(8), "),
        bold("systemd.timer"),
        roman("(5)"),
    ]);
    roff.control("SH", ["VERSION"]);
    roff.text([roman(format!("portaudit {VERSION}"))]);
    roff.to_writer(&mut out).expect("write to a Vec");
    out
}

/// portaudit.toml(5): the policy file, every key from [`reference`], and the example
/// policy verbatim.
pub fn policy_page() -> Vec<u8> {
    let mut roff = Roff::new();
    let source = format!("portaudit {VERSION}");
    roff.control(
        "TH",
        ["PORTAUDIT.TOML", "5", "", source.as_str(), "File Formats"],
    );
    roff.control("SH", ["NAME"]);
    roff.text([roman("portaudit.toml - the policy file of portaudit(1)")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([bold("/etc/portaudit/portaudit.toml")]);
    roff.control("br", []);
    roff.text([bold("portaudit --config "), italic("FILE")]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(
        "A TOML file that decides which listening sockets may be reachable: a few \
         settings, then [[rule]] tables that allow or deny sockets. portaudit reads \
         /etc/portaudit/portaudit.toml whenever it exists, or the file given with \
         --config FILE; --no-config ignores it.",
    )]);
    roff.control("PP", []);
    roff.text([roman(
        "Rules are tried in order and the first that matches a socket decides: first \
         the --allow flags (the command line wins over the file), then the file's \
         [[rule]] tables from top to bottom, then the built-ins: loopback is fine \
         (\"default loopback\"), wildcard UDP on an ephemeral port is a client's \
         (\"default ephemeral-udp\", unless ephemeral_udp = \"judge\"), and the default \
         allowlist (\"default 22/tcp\", \"default 80/tcp\", \"default 443/tcp\"). A \
         socket no rule matches is \"exposed\" when public and \"internal\" when \
         internal.",
    )]);
    roff.control("PP", []);
    roff.text([roman(
        "A bad file stops the run with exit status 2 and one line naming the file, the \
         line and the problem. Unknown keys are errors too, so a typo never silently \
         weakens a rule.",
    )]);
    roff.control("SH", ["SETTINGS"]);
    roff.text([roman("Top-level keys, all optional:")]);
    keys(&mut roff, reference::SETTINGS);
    roff.control("SH", ["RULES"]);
    roff.text([roman(format!(
        "Each [[{}]] table has an action and any of the conditions below. A rule matches \
         a socket when every condition it names holds; a list holds when any of its items \
         does; a condition left out matches anything, and an empty list is an error.",
        reference::RULE_TABLE
    ))]);
    keys(&mut roff, reference::RULE);
    roff.control("SS", ["Rules on owners"]);
    roff.text([roman(
        "A socket can be held by several processes, or by none that portaudit can see \
         (without root, a kernel socket, another PID namespace). An allow rule on process \
         or exe matches only when every known owner fits; a deny rule when any owner \
         fits. When no owner is known the rule cannot tell: it is skipped and the next \
         rule decides, and a warning says how many sockets that happened to. Run as \
         root for full attribution.",
    )]);
    roff.control("SH", ["EXAMPLES"]);
    roff.text([roman(
        "The example policy, installed as \
         /usr/share/doc/portaudit/examples/portaudit.toml:",
    )]);
    verbatim(&mut roff, EXAMPLE_POLICY.trim_end());
    roff.control("SH", ["SEE ALSO"]);
    roff.text([bold("portaudit"), roman("(1), https://toml.io")]);
    roff.render().into_bytes()
}

/// Both pages, each with its place in a man tree (`man1/portaudit.1`,
/// `man5/portaudit.toml.5`), for `--generate man DIR`.
pub fn pages(command: clap::Command) -> [(&'static str, Vec<u8>); 2] {
    [
        (COMMAND_PAGE, command_page(command)),
        (POLICY_PAGE, policy_page()),
    ]
}

/// `portaudit [--allow SPEC]... [--json] …`: every visible flag with its value names,
/// which clap_mangen's synopsis leaves out.
fn synopsis(command: &clap::Command) -> Vec<roff::Inline> {
    let name = command.get_name().to_string();
    let mut line = vec![bold(name)];
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => format!("-{short}|--{long}"),
            (None, Some(long)) => format!("--{long}"),
            (Some(short), None) => format!("-{short}"),
            (None, None) => continue,
        };
        line.push(roman(" ["));
        line.push(bold(flag));
        if let Some((names, required)) = value_names(arg) {
            for (i, value) in names.iter().enumerate() {
                line.push(roman(if i < required { " " } else { " [" }));
                line.push(italic(value.as_str()));
                if i >= required {
                    line.push(roman("]"));
                }
            }
        }
        line.push(roman("]"));
        let one_value = arg.get_num_args().is_some_and(|n| n.max_values() == 1);
        if matches!(arg.get_action(), clap::ArgAction::Append) && one_value {
            line.push(roman("..."));
        }
    }
    line
}

/// The names of the values a flag takes (`["WHAT", "DIR"]`) and how many of them are
/// required; None for a flag that takes none.
fn value_names(arg: &clap::Arg) -> Option<(Vec<String>, usize)> {
    let range = arg.get_num_args()?;
    if !range.takes_values() {
        return None;
    }
    let names = arg
        .get_value_names()
        .map(|names| names.iter().map(|n| n.to_string()).collect())
        .unwrap_or_else(|| vec![arg.get_id().as_str().to_uppercase()]);
    Some((names, range.min_values()))
}

/// clap_mangen's OPTIONS section, with the values of each flag written as `--help` writes
/// them: clap_mangen shows every value as required (`--generate <WHAT> <DIR>`), where
/// the flag takes `<WHAT> [DIR]`.
fn options_section(man: &clap_mangen::Man, command: &clap::Command) -> String {
    let mut section = Vec::new();
    man.render_options_section(&mut section)
        .expect("write to a Vec");
    let mut text = String::from_utf8(section).expect("roff from UTF-8 is UTF-8");
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let (Some(long), Some((names, required))) = (arg.get_long(), value_names(arg)) else {
            continue;
        };
        if required >= names.len() {
            continue;
        }
        // One text line, rendered as roff renders it (escapes and all).
        let line = |inlines: Vec<roff::Inline>| {
            let mut roff = Roff::new();
            roff.text(inlines);
            roff.to_roff().trim_end().to_string()
        };
        let mut theirs = vec![bold(format!("--{long}")), roman(" ")];
        let mut ours = vec![bold(format!("--{long}"))];
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                theirs.push(italic(" "));
            }
            theirs.push(italic(format!("<{name}>")));
            if i < required {
                ours.push(roman(" "));
                ours.push(italic(format!("<{name}>")));
            } else {
                ours.push(roman(" ["));
                ours.push(italic(name.as_str()));
                ours.push(roman("]"));
            }
        }
        let (theirs, ours) = (line(theirs), line(ours));
        assert_eq!(
            text.matches(&theirs).count(),
            1,
            "clap_mangen no longer writes --{long} as {theirs:?}:\n{text}"
        );
        text = text.replacen(&theirs, &ours, 1);
    }
    text
}

/// `.TP` per key: its name in bold, then its values and what it does.
fn keys(roff: &mut Roff, keys: &[Key]) {
    for key in keys {
        roff.control("TP", []);
        roff.text([bold(key.name), roman(" = "), italic(key.values)]);
        roff.text([roman(key.description)]);
        roff.control("br", []);
        roff.text([roman("Example: "), bold(key.example)]);
    }
}

/// Lines kept as written: no filling, no adjusting.
fn verbatim(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.control("nf", []);
    roff.control("RS", ["4"]);
    for line in text.lines() {
        roff.text([roman(line)]);
    }
    roff.control("RE", []);
    roff.control("fi", []);
}

/// `--help`'s text after the flags, cut into headed sections (`Examples:` and its
/// indented lines) and plain paragraphs.
struct Blocks {
    sections: Vec<(String, String)>,
    paragraphs: Vec<String>,
}

impl Blocks {
    fn parse(text: &str) -> Self {
        let mut sections = Vec::new();
        let mut paragraphs = Vec::new();
        for block in text
            .split("\n\n")
            .map(str::trim_end)
            .filter(|b| !b.is_empty())
        {
            let (first, rest) = block.split_once('\n').unwrap_or((block, ""));
            match first.strip_suffix(':') {
                Some(heading) if !first.starts_with(' ') && rest.starts_with("  ") => {
                    let body: Vec<&str> = rest
                        .lines()
                        .map(|line| line.strip_prefix("  ").unwrap_or(line))
                        .collect();
                    sections.push((heading.to_string(), body.join("\n")));
                }
                _ => paragraphs.push(block.split_whitespace().collect::<Vec<_>>().join(" ")),
            }
        }
        Blocks {
            sections,
            paragraphs,
        }
    }

    fn section(&self, heading: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(h, _)| h == heading)
            .map(|(_, body)| body.as_str())
    }
}

/// `0  text` lines, with continuation lines indented under the text, into (code, text).
fn exit_codes(body: &str) -> Vec<(String, String)> {
    let mut codes: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        let trimmed = line.trim();
        match trimmed.split_once(char::is_whitespace) {
            Some((code, text))
                if !line.starts_with(' ') && code.bytes().all(|b| b.is_ascii_digit()) =>
            {
                codes.push((code.to_string(), text.trim().to_string()));
            }
            _ => match codes.last_mut() {
                Some((_, text)) => {
                    text.push(' ');
                    text.push_str(trimmed);
                }
                None => codes.push((String::new(), trimmed.to_string())),
            },
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn command_text() -> String {
        String::from_utf8(command_page(crate::cli::Cli::command())).unwrap()
    }

    /// A line of text as roff writes it: backslashes, dashes and apostrophes escaped.
    fn escaped(line: &str) -> String {
        line.replace('\\', r"\\")
            .replace('-', r"\-")
            .replace('\'', r"\*(Aq")
    }

    /// The section names, in order.
    fn sections(page: &str) -> Vec<&str> {
        page.lines()
            .filter_map(|l| l.strip_prefix(".SH "))
            .map(|s| s.trim_matches('"'))
            .collect()
    }

    #[test]
    fn the_command_page_has_every_section_in_order() {
        let page = command_text();
        assert_eq!(
            sections(&page),
            [
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "EXIT STATUS",
                "FILES",
                "ENVIRONMENT",
                "EXAMPLES",
                "SEE ALSO",
                "VERSION"
            ],
            "{page}"
        );
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains(".TH portaudit 1"), "{page}");
    }

    #[test]
    fn the_synopsis_shows_the_arguments() {
        let page = command_text();
        let synopsis = page
            .split(".SH SYNOPSIS\n")
            .nth(1)
            .and_then(|s| s.split("\n.SH").next())
            .unwrap();
        for shown in [
            r"[\fB\-\-allow\fR \fISPEC\fR]...",
            r"[\fB\-\-config\fR \fIFILE\fR]",
            r"[\fB\-\-json\fR]",
            r"[\fB\-\-generate\fR \fIWHAT\fR [\fIDIR\fR]]",
            r"[\fB\-\-netns\fR \fINAME|PATH|PID\fR]",
        ] {
            assert!(synopsis.contains(shown), "{shown} in {synopsis}");
        }
    }

    #[test]
    fn examples_are_kept_as_written() {
        let page = command_text();
        let examples = page.split(".SH EXAMPLES\n").nth(1).unwrap();
        let examples = examples.split(".fi").next().unwrap();
        assert!(examples.contains(".nf\n"), "no filling: {examples}");
        // The --help lines, one roff line each, with their spacing.
        let help = crate::cli::Cli::command()
            .get_after_help()
            .unwrap()
            .to_string();
        let wanted = help
            .split("Examples:\n")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        for line in wanted.lines() {
            let roff = escaped(&line[2..]);
            assert!(
                examples.lines().any(|l| l == roff),
                "{line:?} as {roff:?} in {examples}"
            );
        }
    }

    #[test]
    fn exit_status_files_and_environment() {
        let page = command_text();
        let exit = page.split(".SH \"EXIT STATUS\"\n").nth(1).unwrap();
        let exit = exit.split(".SH").next().unwrap();
        for code in ["0", "1", "2"] {
            assert!(exit.contains(&format!(".TP\n\\fB{code}\\fR\n")), "{exit}");
        }
        assert!(exit.contains("usage error"), "{exit}");
        assert!(
            exit.contains("incomplete"),
            "continuation lines kept: {exit}"
        );
        let files = page.split(".SH FILES\n").nth(1).unwrap();
        let system = crate::policy::file::SYSTEM_FILE.replace('-', r"\-");
        assert!(files.contains(&format!("\\fI{system}\\fR")), "{files}");
        assert!(files.contains("baseline"), "{files}");
        assert!(
            page.contains(".SH ENVIRONMENT\n.TP\n\\fBNO_COLOR\\fR"),
            "{page}"
        );
    }

    #[test]
    fn the_policy_page_documents_every_key() {
        let page = String::from_utf8(policy_page()).unwrap();
        assert_eq!(
            sections(&page),
            [
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "SETTINGS",
                "RULES",
                "EXAMPLES",
                "SEE ALSO"
            ]
        );
        assert!(page.contains(".TH PORTAUDIT.TOML 5"), "{page}");
        for key in reference::SETTINGS.iter().chain(reference::RULE) {
            let name = key.name.replace('-', r"\-");
            assert!(
                page.contains(&format!(".TP\n\\fB{name}\\fR = ")),
                "{} in {page}",
                key.name
            );
        }
        let examples = page.split(".SH EXAMPLES\n").nth(1).unwrap();
        assert!(examples.contains(".nf\n"), "{examples}");
        for line in EXAMPLE_POLICY.lines() {
            let roff = escaped(line);
            assert!(
                examples.lines().any(|l| l == roff),
                "the example policy verbatim: {line:?} as {roff:?} in {examples}"
            );
        }
    }

    #[test]
    fn help_text_cuts_into_sections_and_paragraphs() {
        let blocks = Blocks::parse(
            "Examples:\n  a  b\n     c\n\nExit status:\n  0  fine\n  1  not\n     at all\n\nSome\nprose.",
        );
        assert_eq!(blocks.section("Examples"), Some("a  b\n   c"));
        assert_eq!(
            exit_codes(blocks.section("Exit status").unwrap()),
            [
                ("0".to_string(), "fine".to_string()),
                ("1".to_string(), "not at all".to_string())
            ]
        );
        assert_eq!(blocks.paragraphs, ["Some prose."]);
    }
}
