//! The Ansible example (examples/ansible/portaudit.yml), run for real with ansible-core
//! against localhost (`connection: local`): the play passes on a clean host and fails,
//! showing the findings, on an exposed one. Hosts are captured trees (`--proc-root`), so
//! the result does not depend on what the test machine listens on; files go to a
//! temporary directory, never to /usr/local or /etc.

use std::path::Path;
use std::process::Command;

use crate::netns;
use crate::util::{self, TempDir, fixture};

/// `ansible-playbook` on the example, against localhost, with these proc tree and dirs.
fn play(scenario: &str, dir: &Path) -> util::Run {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let extra = format!(
        "portaudit_binary={} portaudit_bin_dir={dir}/bin portaudit_config_dir={dir}/etc \
         portaudit_extra_args='--proc-root {}'",
        util::bin(),
        fixture(scenario).join("proc").display(),
        dir = dir.display(),
    );
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    let mut cmd = Command::new("ansible-playbook");
    cmd.arg("-i")
        .arg("localhost,")
        .args([
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter={{ ansible_playbook_python }}",
        ])
        .args(["-e", "ansible_become=false"])
        .args(["-e", &extra])
        .arg(root.join("examples/ansible/portaudit.yml"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-local"))
        .env("ANSIBLE_REMOTE_TEMP", dir.join("ansible-remote"))
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0");
    util::run(&mut cmd)
}

patest!(
    ansible_example_passes_a_clean_host_and_fails_an_exposed_one,
    [Program("ansible-playbook")],
    |_| {
        let dir = TempDir::new("ansible-clean");
        let clean = play("clean", dir.path());
        assert_eq!(clean.code, 0, "{clean:#?}");
        assert!(
            clean.stdout.contains("4 listening, 0 exposed"),
            "{}",
            clean.stdout
        );
        assert!(dir.path().join("bin/portaudit").is_file());
        assert!(dir.path().join("etc/portaudit.toml").is_file());

        let dir = TempDir::new("ansible-mixed");
        let mixed = play("mixed", dir.path());
        assert_eq!(mixed.code, 2, "ansible-playbook fails the play: {mixed:#?}");
        assert!(
            mixed.stdout.contains("Fail on exposed listeners"),
            "{}",
            mixed.stdout
        );
        // The findings are in the output: the memcached row and the summary. The node
        // exporter of this tree is denied: its owner (and so its executable) is not known
        // on [fd00::10]:9100, and the example allows it by executable only.
        assert!(mixed.stdout.contains("11211"), "{}", mixed.stdout);
        assert!(
            mixed.stdout.contains(
                "3 denied: 5353/udp avahi-daemon, 9100/tcp node_exporter, 11211/udp memcached"
            ),
            "{}",
            mixed.stdout
        );
    }
);
