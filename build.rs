//! Writes the man pages (gzipped) and the shell completions at build time, from the
//! same clap definition and policy key list the program uses, for the Debian package
//! (`cargo deb`, see Cargo.toml's `[package.metadata.deb]`).
//!
//! They land in `target/<profile>/assets/`, beside the binary, where cargo-deb's asset
//! list finds them (it resolves `target/release/` to the profile it builds). OUT_DIR is
//! not used for them: its name carries a hash, and a stale one from an older build
//! would match a glob just as well.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use flate2::{Compression, GzBuilder};

// The flags (clap and std only) and the policy keys (std only), as modules of this
// script; `policy` mirrors the crate's path so that man.rs compiles unchanged here.
#[allow(dead_code)]
#[path = "src/cli/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "src/man.rs"]
mod man;
#[path = "src/policy/reference.rs"]
mod reference;
mod policy {
    pub(crate) use super::reference;
}

fn main() -> io::Result<()> {
    for input in [
        "build.rs",
        "src/cli/args.rs",
        "src/man.rs",
        "src/policy/reference.rs",
        "examples/portaudit.toml",
    ] {
        println!("cargo::rerun-if-changed={input}");
    }
    let dir = assets_dir()?;
    std::fs::create_dir_all(&dir)?;

    gzip(
        &dir.join("portaudit.1.gz"),
        &man::command_page(args::Cli::command()),
    )?;
    gzip(&dir.join("portaudit.toml.5.gz"), &man::policy_page())?;

    let mut command = args::Cli::command();
    for (shell, name) in [
        (clap_complete::Shell::Bash, "portaudit.bash"),
        (clap_complete::Shell::Zsh, "_portaudit"),
        (clap_complete::Shell::Fish, "portaudit.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "portaudit", &mut script);
        write_if_changed(&dir.join(name), &script)?;
    }
    Ok(())
}

/// `target/<profile>/assets`: OUT_DIR is `target/<profile>/build/portaudit-HASH/out`.
fn assets_dir() -> io::Result<PathBuf> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    out_dir
        .ancestors()
        .nth(3)
        .map(|profile| profile.join("assets"))
        .ok_or_else(|| io::Error::other(format!("unexpected OUT_DIR {}", out_dir.display())))
}

/// Gzip with no timestamp or name in the header, so the package is reproducible.
fn gzip(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut compressed = Vec::new();
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(&mut compressed, Compression::best());
    encoder.write_all(data)?;
    encoder.finish()?;
    write_if_changed(path, &compressed)
}

fn write_if_changed(path: &Path, data: &[u8]) -> io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == data) {
        return Ok(());
    }
    File::create(path)?.write_all(data)
}
