//! portaudit: what is listening on this host, on which addresses, owned by which
//! process — and is anything reachable from outside that should not be?
//!
//! The pipeline, one stage per module, called in order by [`run`]: cli (flags → checked
//! config) → collect (the kernel's socket tables, owners, namespaces, each namespace's
//! network, the ruleset's text) → reach (the ways in from outside, and the firewall's
//! answer on each) → policy (a verdict per socket) → baseline (drift) → audit (the one
//! outcome) → report (table, JSON, Prometheus). The records they pass along live in
//! `socket`, `network`, `ruleset` and `audit`.
//!
//! The binary is `src/main.rs`; the library exists so that the fuzz targets (`fuzz/`)
//! can drive the parsers that read untrusted text ([`fuzzing`]).

mod audit;
mod baseline;
mod classify;
pub mod cli;
mod collect;
mod error;
pub mod exit;
mod fsafe;
pub mod fuzzing;
mod man;
mod network;
mod policy;
mod reach;
mod report;
mod ruleset;
mod socket;
mod watch;

use cli::Cli;
use error::Error;
use exit::Outcome;

/// One audit, start to end: check the flags, then each stage once, in order (or, with
/// `--watch`, again every interval).
pub fn run(cli: Cli) -> Result<Outcome, Error> {
    // Opened first: a failed audit still says so in the Prometheus textfile.
    let output = cli.output()?;
    if let Some(what) = cli.generate() {
        return cli::generate(what, output.as_ref());
    }
    let prometheus = cli.prometheus();
    let result = run_audit(cli, output.as_ref());
    if let (Err(_), Some(target), true) = (&result, &output, prometheus) {
        // Else node_exporter would go on serving the last audit as if it were this one.
        let failure = report::prometheus_failure(std::time::SystemTime::now());
        if let Err(e) = target.replace(0o644, |out| out.write_all(failure.as_bytes())) {
            report::warn(&e.to_string());
        }
    }
    result
}

fn run_audit(cli: Cli, output: Option<&fsafe::write::Target>) -> Result<Outcome, Error> {
    let config = cli.into_config()?;
    if let Some(every) = config.watch {
        return watch::watch(every, config.format, |owners| audit(&config, owners));
    }
    let audit = audit(&config, &mut collect::KnownOwners::once())?;
    let saved = match &config.save_baseline {
        Some(target) => Some((target.path(), baseline::save(&audit, target)?)),
        None => None,
    };
    let (format, color, width) = (config.format, config.color, config.width);
    let reported = match output {
        Some(target) => target
            .replace(0o644, |out| {
                report::write(&audit, format, color, width, out)
            })
            .map(|()| report::print_warnings(&audit)),
        None => report::print(&audit, format, color, width),
    };
    // Said last, under the table: the exit code is the audit's, so this line is how an
    // operator knows the baseline was written (even when the report could not be).
    if let Some((path, listeners)) = saved {
        report::baseline_saved(path, listeners);
    }
    reported?;
    Ok(audit.outcome)
}

/// The stages in order: collect → reach → judge → drift → outcome. `owners` holds what
/// an earlier poll of `--watch` found, so only new sockets are looked up.
fn audit(config: &cli::Config, owners: &mut collect::KnownOwners) -> Result<audit::Audit, Error> {
    let collect::Collection { listeners, seen } = collect::collect(&config.collect, owners)?;
    let reach = reach::resolve(listeners, &seen)?;
    let mut judged = config.policy.judge(reach.subjects);
    let selected = (!config.selection.is_empty()).then(|| config.selection.apply(&mut judged));
    let drift = config.baseline.as_ref().map(|(path, keys)| {
        let ephemeral = &config.policy.ephemeral_ports.range;
        let mut drift = baseline::compare(&judged.findings, keys, path, ephemeral);
        drift.removed.retain(|key| config.selection.keeps(key));
        drift
    });
    let mut warnings = seen.warnings;
    warnings.extend(reach.warnings.into_iter().map(socket::Warning::from));
    let context = audit::Context {
        warnings,
        incomplete: seen.incomplete,
        collector: seen.collector,
        namespaces: seen.namespaces,
        firewall_read: reach.firewall_read,
        ephemeral_ports: config.policy.ephemeral_ports.clone(),
        policy_file: config.policy.file.clone(),
        selection: selected,
    };
    Ok(audit::conclude(
        judged,
        drift,
        config.policy.mode(),
        context,
    ))
}
