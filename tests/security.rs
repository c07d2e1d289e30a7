//! Issue 19's attacks, each done as it was reported — a user (nobody, through setpriv)
//! and root in a temporary tree — and each refused: a clear one-line message, nothing
//! overwritten, no foreign policy loaded. Root only (the attacker is another user).
//!
//! 1. a textfile directory another user can write: symlinks planted for the next pids,
//!    and the directory above it (Debian's /var/lib/prometheus) swapping the textfile
//!    directory for a symlink during a loop of runs;
//! 2. `--save-baseline` into a directory another user can write, with the old temporary
//!    name planted as a symlink, and into a sticky directory (/tmp) with the final name
//!    planted;
//! 3. `--ruleset FILE` owned by nobody, which with `--trust-firewall` passed the gate;
//! 4. a policy reached through a symlink in a user's directory, flipped between root's
//!    policy and the user's during 300 runs;
//! 5. an `nft` in a user-writable directory on PATH, and the caller's environment.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::netns::{self, Child, Need};
use crate::util::{self, Run, TempDir, fixture, run_args};

const NOBODY: u32 = 65534;
const SECRET: &str = "root's secret\n";

/// Root, and setpriv to be another user.
const ATTACKER: [Need; 2] = [Need::Root, Need::Program("setpriv")];

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

/// `sh -c SCRIPT` as nobody: what the attacker does.
fn as_nobody(script: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        "sh",
        "-c",
        script,
    ]);
    cmd
}

fn nobody_does(script: &str) {
    let out = as_nobody(script).output().unwrap();
    assert!(out.status.success(), "as nobody, {script}: {out:?}");
}

/// A temporary tree: a root-owned 0755 directory, with a root file only root may read
/// (the target of every attack below).
struct Tree {
    dir: TempDir,
}

impl Tree {
    fn new(label: &str) -> Tree {
        let dir = TempDir::new(label);
        chmod(dir.path(), 0o755);
        let tree = Tree { dir };
        std::fs::write(tree.secret(), SECRET).unwrap();
        chmod(&tree.secret(), 0o600);
        tree
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn secret(&self) -> PathBuf {
        self.path("secret")
    }

    /// A directory owned by nobody (0755): theirs to fill.
    fn nobodys_dir(&self, relative: &str) -> PathBuf {
        let dir = self.path(relative);
        std::fs::create_dir_all(&dir).unwrap();
        chown(&dir, NOBODY);
        dir
    }

    /// The secret is as it was: its text, its owner, its mode.
    fn assert_secret_untouched(&self) {
        let meta = std::fs::symlink_metadata(self.secret()).unwrap();
        assert!(meta.is_file());
        assert_eq!(std::fs::read_to_string(self.secret()).unwrap(), SECRET);
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    }
}

fn one_line(run: &Run) -> &str {
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
    run.stderr.trim_end()
}

patest!(
    a_textfile_directory_another_user_can_change_is_refused,
    ATTACKER,
    |_| {
        let tree = Tree::new("attack-textfile");
        let secret = tree.secret();
        let proc_root = fixture("mixed").join("proc");
        let proc_root = proc_root.to_str().unwrap();

        // The user owns the textfile directory and plants symlinks to root's file: for the
        // old recipe's `.portaudit.prom.$$` (the next pids) and at the final name.
        let textfiles = tree.nobodys_dir("textfile");
        nobody_does(&format!(
            "cd {} && p=$$ && for i in $(seq 1 200); do ln -s {} .portaudit.prom.$((p + i)); done \
         && ln -s {} portaudit.prom",
            textfiles.display(),
            secret.display(),
            secret.display()
        ));
        let output = textfiles.join("portaudit.prom");
        let run = run_args(&[
            "--format",
            "prometheus",
            "--output",
            output.to_str().unwrap(),
            "--no-config",
            "--proc-root",
            proc_root,
        ]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            one_line(&run),
            format!(
                "portaudit: refusing to write {0}: its directory {1} is owned by another user than \
             root (owner nobody, mode 0755); run chown root {1}",
                output.display(),
                textfiles.display()
            )
        );
        assert_eq!(run.stdout, "");
        tree.assert_secret_untouched();
        assert!(std::fs::symlink_metadata(&output).unwrap().is_symlink());

        // Debian: /var/lib/prometheus is prometheus's, node-exporter below it root's. The user
        // swaps node-exporter for a symlink to a directory of root's, where a file of the same
        // name is root's secret, back and forth, while root writes the metrics again and
        // again.
        let prometheus = tree.nobodys_dir("prometheus");
        let node_exporter = prometheus.join("node-exporter");
        std::fs::create_dir(&node_exporter).unwrap();
        chmod(&node_exporter, 0o755);
        let roots = tree.path("roots");
        std::fs::create_dir(&roots).unwrap();
        chmod(&roots, 0o700);
        let target = roots.join("portaudit.prom");
        std::fs::write(&target, SECRET).unwrap();
        chmod(&target, 0o600);
        let _swapper = Child::spawn(&mut as_nobody(&format!(
            "cd {} && ln -s {} link && while :; do mv -T node-exporter real && mv -T link \
         node-exporter && mv -T node-exporter link && mv -T real node-exporter; done",
            prometheus.display(),
            roots.display()
        )));
        let output = node_exporter.join("portaudit.prom");
        let mut seen = [0; 3];
        for _ in 0..100 {
            let run = run_args(&[
                "--format",
                "prometheus",
                "--output",
                output.to_str().unwrap(),
                "--no-config",
                "--proc-root",
                proc_root,
            ]);
            // Written into the real directory, refused at the symlink, or nothing there
            // mid-swap: never through the symlink.
            let refused = format!(
                "portaudit: refusing to write {}: {} is a symlink in {}, which is owned by another \
             user than root",
                output.display(),
                node_exporter.display(),
                prometheus.display()
            );
            let missing = format!("portaudit: cannot write {}: ", output.display());
            match run.code {
                1 => seen[0] += 1,
                2 if run.stderr.starts_with(&refused) => seen[1] += 1,
                2 if run.stderr.starts_with(&missing) => seen[2] += 1,
                _ => panic!("{run:#?}"),
            }
        }
        drop(_swapper);
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(
            (
                std::fs::read_to_string(&target).unwrap().as_str(),
                meta.mode() & 0o7777
            ),
            (SECRET, 0o600),
            "root's file behind the swapped directory is untouched (runs written, refused, \
         missing: {seen:?})"
        );
        assert_eq!(std::fs::read_dir(&roots).unwrap().count(), 1, "{seen:?}");
    }
);

patest!(
    a_baseline_is_never_written_through_a_planted_symlink,
    ATTACKER,
    |_| {
        let tree = Tree::new("attack-baseline");
        let secret = tree.secret();
        let proc_root = fixture("clean").join("proc");
        let proc_root = proc_root.to_str().unwrap();
        let save = |baseline: &Path| {
            run_args(&[
                "--save-baseline",
                baseline.to_str().unwrap(),
                "--no-config",
                "--proc-root",
                proc_root,
            ])
        };

        // A directory the user can write: the old `.baseline.json.PID.tmp` for the next pids
        // is planted as symlinks to root's file. Refused before the audit runs.
        let shared = tree.nobodys_dir("shared");
        nobody_does(&format!(
            "cd {} && p=$$ && for i in $(seq 1 200); do ln -s {} .baseline.json.$((p + i)).tmp; \
         done",
            shared.display(),
            secret.display()
        ));
        let baseline = shared.join("baseline.json");
        let run = save(&baseline);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            one_line(&run),
            format!(
                "portaudit: refusing to write {0}: its directory {1} is owned by another user than \
             root (owner nobody, mode 0755); run chown root {1}",
                baseline.display(),
                shared.display()
            )
        );
        assert_eq!(run.stdout, "", "nothing audited: {run:#?}");
        tree.assert_secret_untouched();
        assert!(!baseline.exists());

        // The user's own baseline in their own directory is theirs (run as them).
        let (_bin_dir, bin) = util::binary_for_nobody();
        let mine = as_nobody(&format!(
            "{} --save-baseline {} --no-config --proc-root {proc_root}",
            bin.display(),
            baseline.display()
        ))
        .output()
        .unwrap();
        assert_eq!(mine.status.code(), Some(0), "{mine:?}");
        assert_eq!(std::fs::metadata(&baseline).unwrap().uid(), NOBODY);

        // A sticky directory (/tmp): accepted, since only an entry's owner may replace it.
        // The user plants the final name and the old temporary names; root's baseline
        // replaces the link, and the file it pointed to is untouched.
        let sticky = tree.path("sticky");
        std::fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        nobody_does(&format!(
            "cd {} && p=$$ && for i in $(seq 1 200); do ln -s {} .baseline.json.$((p + i)).tmp; \
         done && ln -s {} baseline.json",
            sticky.display(),
            secret.display(),
            secret.display()
        ));
        let baseline = sticky.join("baseline.json");
        let run = save(&baseline);
        assert_eq!(run.code, 0, "{run:#?}");
        tree.assert_secret_untouched();
        let meta = std::fs::symlink_metadata(&baseline).unwrap();
        assert!(meta.is_file(), "the planted link is replaced, not followed");
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
        let text = std::fs::read_to_string(&baseline).unwrap();
        assert!(text.contains("\"portaudit_baseline\": 1"), "{text}");
    }
);

patest!(
    a_ruleset_another_user_could_change_does_not_decide_the_gate,
    ATTACKER,
    |_| {
        let tree = Tree::new("attack-ruleset");
        // Everything but ssh dropped on input: trusted, memcached passes as filtered.
        let ruleset = tree.path("ruleset.json");
        std::fs::copy(fixture("nft").join("inet-basic.json"), &ruleset).unwrap();
        chmod(&ruleset, 0o644);
        let proc_root = fixture("memcached").join("proc");
        let audit = || {
            run_args(&[
                "--trust-firewall",
                "--ruleset",
                ruleset.to_str().unwrap(),
                "--no-config",
                "--proc-root",
                proc_root.to_str().unwrap(),
            ])
        };
        let trusted = audit();
        assert_eq!(trusted.code, 0, "root's ruleset decides: {trusted:#?}");

        // The same file, nobody's: it would pass the gate, so it is refused.
        chown(&ruleset, NOBODY);
        let run = audit();
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            one_line(&run),
            format!(
                "portaudit: refusing {0}: owned by another user than root (owner nobody, mode \
             0644); run chown root {0}",
                ruleset.display()
            )
        );
        assert_eq!(run.stdout, "");

        // Root's file, but in a directory nobody can write.
        chown(&ruleset, 0);
        chmod(tree.dir.path(), 0o777);
        let run = audit();
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(
            one_line(&run).contains(&format!(
                "its directory {} is writable by group and others",
                tree.dir.path().display()
            )),
            "{run:#?}"
        );
        chmod(tree.dir.path(), 0o755);
    }
);

patest!(
    a_policy_link_flipped_through_a_users_directory_never_loads_their_policy,
    ATTACKER,
    |_| {
        let tree = Tree::new("attack-policy");
        // Root's policy fails memcached; the user's allows it.
        let strict = tree.path("strict.toml");
        std::fs::write(&strict, "[[rule]]\naction = \"deny\"\nport = \"11211\"\n").unwrap();
        chmod(&strict, 0o644);
        let user = tree.nobodys_dir("user");
        let evil = user.join("evil.toml");
        nobody_does(&format!(
            "printf '[[rule]]\\naction = \"allow\"\\nport = \"1-65535\"\\n' > {}",
            evil.display()
        ));
        // /etc/portaudit/portaudit.toml -> the user's link -> root's policy: every name on
        // the way as given, and the file it ends at, are root's. The hop is not.
        nobody_does(&format!(
            "ln -s {} {}",
            strict.display(),
            user.join("link").display()
        ));
        let policy = tree.path("portaudit.toml");
        symlink(user.join("link"), &policy).unwrap();
        let proc_root = fixture("memcached").join("proc");
        let audit = || {
            run_args(&[
                "--config",
                policy.to_str().unwrap(),
                "--proc-root",
                proc_root.to_str().unwrap(),
            ])
        };
        let refused = format!(
            "portaudit: refusing {}: its directory {} (on the way through the symlink {}) is owned \
         by another user than root (owner nobody, mode 0755); run chown root {}",
            policy.display(),
            user.display(),
            policy.display(),
            user.display()
        );
        let run = audit();
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(one_line(&run), refused);

        // The user flips the link between root's policy and theirs, as fast as they can.
        let _flipper = Child::spawn(&mut as_nobody(&format!(
            "cd {} && while :; do ln -sfn {} next && mv -T next link && ln -sfn {} next && mv -T \
         next link; done",
            user.display(),
            evil.display(),
            strict.display()
        )));
        for i in 0..300 {
            let run = audit();
            assert_ne!(run.code, 0, "run {i} loaded the user's policy: {run:#?}");
            assert_eq!(run.code, 2, "run {i}: {run:#?}");
            assert_eq!(one_line(&run), refused, "run {i}");
        }
    }
);

patest!(
    nft_is_never_taken_from_path_nor_given_the_callers_environment,
    [
        Root,
        Program("setpriv"),
        Program("ip"),
        Program("unshare"),
        Nft
    ],
    |_| {
        let tree = Tree::new("attack-nft");
        // The user's nft, first on root's PATH: it would leave a mark and say "no rules".
        let bin = tree.nobodys_dir("bin");
        let mark = tree.path("ran");
        let theirs = bin.join("nft");
        std::fs::write(
            &theirs,
            format!(
                "#!/bin/sh\ntouch {}\necho '{{\"nftables\": []}}'\n",
                mark.display()
            ),
        )
        .unwrap();
        chmod(&theirs, 0o755);
        chown(&theirs, NOBODY);
        // The distribution's nft, replaced (in a mount namespace of the test's own) by one
        // that records its environment and arguments and prints an empty ruleset.
        let record = tree.path("record");
        std::fs::create_dir(&record).unwrap();
        let fake = tree.path("fake-nft");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\ncat /proc/$$/environ > {0}/env\nprintf '%s\\n' \"$@\" >> {0}/args\n\
             echo '{{\"nftables\": [{{\"metainfo\": {{\"json_schema_version\": 1}}}}]}}'\n",
                record.display()
            ),
        )
        .unwrap();
        chmod(&fake, 0o755);
        let place = netns::NFT_PLACES
            .iter()
            .find(|p| Path::new(p).is_file())
            .expect("the test requires Need::Nft");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // In a network namespace of the test's own, without CAP_NET_ADMIN: the kernel is not
        // asked directly, so nft is run.
        let ns = netns::NetNs::new();
        let script = format!(
            "mount --bind {} {place} && exec setpriv --bounding-set -net_admin -- \"$@\"",
            fake.display()
        );
        let run = util::run(
            ns.exec(
                "unshare",
                [
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    "sh",
                    "-c",
                    &script,
                    "sh",
                ],
            )
            .arg(util::bin())
            .args(["--json", "--no-config"])
            .env("PATH", &path)
            .env("NFT_SECRET", "the caller's")
            .env("LANG", "de_DE.UTF-8"),
        );
        assert!(run.code == 0 || run.code == 1, "{run:#?}");
        assert!(!mark.exists(), "the nft on PATH ran as root: {run:#?}");
        let env = std::fs::read(record.join("env")).expect("the distribution's nft ran");
        assert_eq!(env, b"LC_ALL=C\0", "{}", String::from_utf8_lossy(&env));
        let args = std::fs::read_to_string(record.join("args")).unwrap();
        assert!(args.starts_with("-j\nlist\nruleset\n"), "{args}");
    }
);

patest!(
    generated_files_go_only_where_root_alone_writes,
    ATTACKER,
    |_| {
        let tree = Tree::new("attack-generate");
        // The man tree's section directory planted as a symlink to root's directory.
        let man = tree.path("man");
        std::fs::create_dir(&man).unwrap();
        chmod(&man, 0o755);
        symlink(tree.dir.path(), man.join("man1")).unwrap();
        let run = run_args(&["--generate", "man", man.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert_eq!(
            one_line(&run),
            format!(
                "portaudit: refusing to write in {}: not a directory (a symlink is not followed \
             here)",
                man.join("man1").display()
            )
        );
        tree.assert_secret_untouched();
        assert!(!tree.path("portaudit.1").exists());

        // A man tree another user owns.
        let theirs = tree.nobodys_dir("theirs");
        let run = run_args(&["--generate", "man", theirs.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(
            one_line(&run).starts_with(&format!(
                "portaudit: refusing to write {0}: its directory {0} is owned by another user",
                theirs.display()
            )),
            "{run:#?}"
        );
        assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);

        // A completion with --output: root's directory, the file whole and 0644.
        let completion = tree.path("portaudit.bash");
        let run = run_args(&[
            "--generate",
            "bash",
            "--output",
            completion.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{run:#?}");
        assert_eq!(run.stdout, "");
        let text = std::fs::read_to_string(&completion).unwrap();
        assert!(text.contains("complete -F"), "{text}");
        let meta = std::fs::metadata(&completion).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
    }
);
