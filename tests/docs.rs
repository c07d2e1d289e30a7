//! The documentation, tested: README.md and every page under docs/ (docs/testing.md,
//! "Tested documentation", is the guide for whoever writes them).
//!
//! What a fenced block's info string asks for:
//!
//! - ```` ```console test ````: the `$ ` lines are commands, run in order by one bash in a
//!   copy of the repository's root (its entries linked, so files a command writes stay
//!   in the copy), with the `portaudit` just built first on PATH; the other lines are what
//!   they print (stdout and stderr), compared line by line. A line `...` stands for any
//!   number of lines, `[..]` inside a line for any text. `$ echo $?` shows an exit code.
//! - ```` ```LANG file=PATH ````: the block is the file PATH, as it is.
//! - `toml` blocks are policy files the binary must accept; `json` blocks parse (as one
//!   document, or one per line); `sh` blocks pass `bash -n`.
//!
//! And: relative links reach a file (and a heading, for `#anchor`); docs/dependencies.md
//! names every crate in Cargo.toml; README.md stays short.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns;
use crate::util::{self, TempDir};

/// README.md's length the documentation aims for: the rest belongs under docs/.
const README_MAX_LINES: usize = 300;

/// How long one tested block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and docs/*.md, as paths relative to the repository's root.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| path.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn read(page: &Path) -> String {
    std::fs::read_to_string(root().join(page)).unwrap_or_else(|e| panic!("{}: {e}", page.display()))
}

/// A fenced code block of a page.
#[derive(Debug)]
struct Block {
    /// `docs/policy.md:12`, the line of the opening fence.
    place: String,
    lang: String,
    tags: Vec<String>,
    text: String,
}

impl Block {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    fn tag_value(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
    }
}

/// The fenced blocks of `text` (``` or longer fences; ~~~ is not used here).
fn blocks_of(page: &Path, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
        if fence_len < 3 {
            continue;
        }
        let mut info = trimmed[fence_len..].split_whitespace();
        let lang = info.next().unwrap_or("").to_string();
        let tags = info.map(str::to_string).collect();
        let mut body = String::new();
        let mut closed = false;
        for (_, line) in lines.by_ref() {
            let t = line.trim();
            if t.len() >= fence_len && t.chars().all(|c| c == '`') {
                closed = true;
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        let place = format!("{}:{}", page.display(), n + 1);
        assert!(closed, "{place}: a code block that is never closed");
        blocks.push(Block {
            place,
            lang,
            tags,
            text: body,
        });
    }
    blocks
}

fn all_blocks() -> Vec<Block> {
    pages()
        .iter()
        .flat_map(|page| blocks_of(page, &read(page)))
        .collect()
}

/// Fail once, listing every problem found.
fn assert_none(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n\n{}", problems.join("\n\n"));
}

#[test]
fn readme_is_short_and_the_details_are_under_docs() {
    let lines = read(Path::new("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: put the details in a page \
         under docs/ and link it"
    );
}

#[test]
fn a_block_naming_a_file_shows_it_as_it_is() {
    let mut problems = Vec::new();
    let mut shown = 0;
    for block in all_blocks() {
        let Some(file) = block.tag_value("file") else {
            continue;
        };
        shown += 1;
        match std::fs::read_to_string(root().join(file)) {
            Ok(text) if text == block.text => {}
            Ok(_) => problems.push(format!(
                "{}: the block is not {file} as it is (copy the file into it)",
                block.place
            )),
            Err(e) => problems.push(format!("{}: {file}: {e}", block.place)),
        }
    }
    assert_none("blocks that are not the file they name", &problems);
    assert!(
        shown > 0,
        "no block names a file: is the tag still `file=`?"
    );
}

/// Whether `actual` is `expected` (`...`: any lines; `[..]`: any text within a line).
fn lines_match(expected: &[&str], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..])),
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && lines_match(rest, more)),
    }
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let (expected, actual) = (expected.trim_end(), actual.trim_end());
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    if !actual.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn the_line_matcher_takes_dots_for_lines_and_brackets_for_text() {
    assert!(lines_match(&["a", "...", "z"], &["a", "b", "c", "z"]));
    assert!(lines_match(&["a", "...", "z"], &["a", "z"]));
    assert!(!lines_match(&["a", "...", "z"], &["a", "b"]));
    assert!(!lines_match(&["a"], &["a", "b"]));
    assert!(lines_match(&["t [..] s"], &["t 17 s  "]));
    assert!(lines_match(&["[..]x[..]"], &["axb"]));
    assert!(!lines_match(&["a[..]a"], &["a"]));
    assert!(!lines_match(&["t [..] s"], &["t 17 x"]));
}

/// A `console test` block split into the script to run and the lines it must print.
fn script_and_expected(block: &Block) -> (String, Vec<String>) {
    let mut script = String::new();
    let mut expected = Vec::new();
    let mut continued = false;
    for line in block.text.lines() {
        if continued {
            script.push_str(line);
            script.push('\n');
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            script.push_str(command);
            script.push('\n');
            continued = command.ends_with('\\');
        } else {
            expected.push(line.to_string());
        }
    }
    (script, expected)
}

/// A directory that looks like the repository's root (its entries linked, target/ and
/// .git left out), and a bin/ whose `portaudit` is the one just built, with --no-config
/// added unless the command names a policy: the docs never read this machine's
/// /etc/portaudit.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = TempDir::new("docs");
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        for entry in std::fs::read_dir(root()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "target" || name == ".git" {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), work.join(&name)).unwrap();
        }
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let wrapper = bin.join("portaudit");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n\
                 for a; do case $a in --config|--config=*|--no-config) exec '{0}' \"$@\";; esac; done\n\
                 exec '{0}' --no-config \"$@\"\n",
                util::bin()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Sandbox { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Run `script` with bash; its stdout and stderr, together, or a timeout.
    fn run(&self, script: &str) -> Result<(i32, String), String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.dir.path().join("bin")];
        dirs.extend(std::env::split_paths(&path));
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!("exec 2>&1\n{script}"))
            .current_dir(self.work())
            .env("PATH", std::env::join_paths(dirs).unwrap())
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("cannot run bash");
        // Read on a thread, so that a block that never ends can be stopped.
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
            out
        });
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > BLOCK_TIMEOUT {
                // The block's whole process group, by its id (bash's pid).
                let pgid = i32::try_from(child.id()).unwrap();
                // SAFETY: kill(2) on a process group we created.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                return Err(format!("still running after {BLOCK_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = reader.join().unwrap();
        Ok((
            status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out).into_owned(),
        ))
    }
}

// The examples run for real; jq is in several of them.
patest!(
    console_blocks_print_what_the_docs_show,
    [Program("bash"), Program("jq")],
    |_| {
        let sandbox = Sandbox::new();
        let mut problems = Vec::new();
        let mut ran = 0;
        for block in all_blocks() {
            if !(block.lang == "console" && block.has("test")) {
                continue;
            }
            ran += 1;
            let (script, expected) = script_and_expected(&block);
            assert!(
                !script.is_empty(),
                "{}: a tested block with no `$ ` command",
                block.place
            );
            match sandbox.run(&script) {
                Err(e) => problems.push(format!("{}: {e}\n{script}", block.place)),
                Ok((_, out)) => {
                    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
                    let actual: Vec<&str> = out.lines().collect();
                    if !lines_match(&expected, &actual) {
                        let mut problem = format!(
                            "{}: the commands print something else.\n--- the docs show:\n",
                            block.place
                        );
                        for line in &expected {
                            let _ = writeln!(problem, "{line}");
                        }
                        let _ = writeln!(problem, "--- they print (after the commands):");
                        let _ = write!(problem, "{script}{out}");
                        problems.push(problem);
                    }
                }
            }
        }
        assert_none(
            "console blocks whose output is not what they show",
            &problems,
        );
        assert!(ran > 0, "no `console test` block: is the tag still `test`?");
    }
);

#[test]
fn policy_blocks_are_policies_the_binary_accepts() {
    let dir = TempDir::new("docs-policy");
    let proc_root = util::fixture("clean").join("proc");
    let mut problems = Vec::new();
    for (n, block) in all_blocks().iter().enumerate() {
        if block.lang != "toml" {
            continue;
        }
        let file = dir.path().join(format!("policy-{n}.toml"));
        std::fs::write(&file, &block.text).unwrap();
        let run = util::run(util::portaudit().args([
            "--config".as_ref(),
            file.as_os_str(),
            "--proc-root".as_ref(),
            proc_root.as_os_str(),
            "--json".as_ref(),
        ]));
        if !matches!(run.code, 0 | 1) {
            problems.push(format!(
                "{}: not a policy (exit {}): {}",
                block.place,
                run.code,
                run.stderr.trim()
            ));
        }
    }
    assert_none("toml blocks portaudit refuses", &problems);
}

#[test]
fn json_blocks_are_json() {
    let mut problems = Vec::new();
    for block in all_blocks() {
        if block.lang != "json" {
            continue;
        }
        let whole = serde_json::from_str::<serde_json::Value>(&block.text);
        let lines = block
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .try_for_each(|l| serde_json::from_str::<serde_json::Value>(l).map(drop));
        if let (Err(e), Err(_)) = (whole, lines) {
            problems.push(format!("{}: {e}", block.place));
        }
    }
    assert_none("json blocks that do not parse", &problems);
}

patest!(shell_blocks_are_valid_shell, [Program("bash")], |_| {
    let mut problems = Vec::new();
    for block in all_blocks() {
        if !matches!(block.lang.as_str(), "sh" | "bash" | "shell") {
            continue;
        }
        let out = Command::new("bash")
            .args(["-n", "-c", &block.text])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            problems.push(format!(
                "{}: {}",
                block.place,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert_none("sh blocks bash cannot parse", &problems);
});

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.push(anchor(line.trim_start_matches('#')));
        }
    }
    anchors
}

/// The targets of the inline links `[text](target)` in `text`, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Inline code spans can hold `](`: drop them first.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn relative_links_reach_a_file_and_a_heading() {
    let mut problems = Vec::new();
    for page in pages() {
        let text = read(&page);
        let dir = page.parent().unwrap_or(Path::new(""));
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            let Ok(linked) = std::fs::metadata(root().join(&path)) else {
                problems.push(format!("{}: ({target}): no such file", page.display()));
                continue;
            };
            if let Some(fragment) = fragment {
                let headings = if linked.is_file() {
                    anchors(&std::fs::read_to_string(root().join(&path)).unwrap_or_default())
                } else {
                    Vec::new()
                };
                if !headings.iter().any(|a| a == fragment) {
                    problems.push(format!(
                        "{}: ({target}): no heading #{fragment} in {}",
                        page.display(),
                        path.display()
                    ));
                }
            }
        }
    }
    assert_none("links that lead nowhere", &problems);
}

#[test]
fn the_link_reader_finds_targets_and_anchors() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x-y) and `[b](no)` [c](../c.md)"),
        ["docs/a.md#x-y", "../c.md"]
    );
    assert_eq!(
        anchors("# Top\n```\n# not a heading\n```\n## `--allow` syntax\n### One, two: three"),
        ["top", "--allow-syntax", "one-two-three"]
    );
}

/// Crate names from Cargo.toml's dependency tables, read as lines: `name = …` under a
/// `[…dependencies]` header.
fn cargo_dependencies() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line.trim_end_matches(']').ends_with("dependencies");
        } else if in_dependencies
            && let Some((name, _)) = line.split_once('=')
            && !line.starts_with('#')
        {
            let name = name.trim().to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn every_crate_we_depend_on_is_explained() {
    let dependencies = cargo_dependencies();
    assert!(dependencies.len() >= 5, "{dependencies:?}");
    let page = read(Path::new("docs/dependencies.md"));
    let missing: Vec<&String> = dependencies
        .iter()
        .filter(|name| !page.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/dependencies.md does not say why we depend on {missing:?}"
    );
}

// The sandbox links the repository's entries: a tested command that writes a file writes
// it in the sandbox, never in the repository; and `portaudit` is the one just built.
patest!(
    a_tested_block_runs_the_built_binary_in_a_sandbox,
    [Program("bash")],
    |_| {
        let sandbox = Sandbox::new();
        let script = "touch written-by-docs-test && ls -d written-by-docs-test \
                      && ls -d examples && portaudit --version";
        let (code, out) = sandbox.run(script).unwrap();
        assert_eq!(code, 0, "{out}");
        let version = format!("portaudit {}", env!("CARGO_PKG_VERSION"));
        assert_eq!(out, format!("written-by-docs-test\nexamples\n{version}\n"));
        assert!(!root().join("written-by-docs-test").exists());
        assert!(sandbox.work().join("written-by-docs-test").exists());
    }
);

/// Every object key in `value`, at any depth.
fn json_keys(value: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                keys.insert(key.clone());
                json_keys(value, keys);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_keys(v, keys)),
        _ => {}
    }
}

/// The words inside the `code spans` of `text`: `.processes[].name` gives `processes`
/// and `name`.
fn code_words(text: &str) -> std::collections::BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| span.split(|c: char| !(c.is_alphanumeric() || c == '_')))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_json_field_is_in_the_json_reference() {
    // A report with as much in it as a captured tree can give: a policy (rule), a
    // ruleset with DNATs (published, firewall), a baseline (drift, baseline.removed).
    let dir = TempDir::new("docs-json");
    let baseline = dir.path().join("baseline.json");
    let baseline = baseline.to_str().unwrap();
    let clean = util::fixture("clean").join("proc");
    let saved = util::run_args(&[
        "--no-config",
        "--proc-root",
        clean.to_str().unwrap(),
        "--save-baseline",
        baseline,
    ]);
    assert_eq!(saved.code, 0, "{saved:#?}");
    let mixed = util::fixture("mixed").join("proc");
    let ruleset = util::fixture("nft").join("nft-dnat.json");
    let policy = root().join("examples/portaudit.toml");
    let run = util::run_args(&[
        "--json",
        "--proc-root",
        mixed.to_str().unwrap(),
        "--ruleset",
        ruleset.to_str().unwrap(),
        "--config",
        policy.to_str().unwrap(),
        "--baseline",
        baseline,
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
    let mut keys = std::collections::BTreeSet::new();
    json_keys(&report, &mut keys);
    for key in ["published", "advice", "removed", "ways_in"] {
        assert!(keys.contains(key), "no {key} in this report: {run:#?}");
    }
    let documented = code_words(&read(Path::new("docs/json.md")));
    let missing: Vec<&String> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "docs/json.md does not name these fields of the JSON document: {missing:?}"
    );
}
