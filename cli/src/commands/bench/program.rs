//! `paywire bench program`: compute units per model-vault instruction, from the program suite
//! run against the SBF build (`PAYWIRE_SBF=1`). The runtime's own log lines say what each
//! top-level call of the program consumed, CPIs included; figures from the shared toolchain
//! are estimates that run high, good for comparing two builds of it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;

/// Compute units per model-vault instruction, from the program suite run against the SBF
/// build: calls, then min, median and max over the successful calls, and the max over every
/// call (a refusal must fit the budget too). Build the .so first with ../shared/sbf/build.sh;
/// run from the workspace. The shared toolchain's figures are estimates that run high.
#[derive(Args, Debug)]
pub struct BenchProgramArgs {
    /// The directory holding model_vault.so
    #[arg(long, env = "SBF_OUT_DIR", default_value = "target/deploy")]
    so_dir: PathBuf,
    /// Print one JSON object: instruction → {calls, ok_calls, ok_min, ok_median, ok_max, max}
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchProgramArgs) -> anyhow::Result<()> {
    let units = measure(&args.so_dir)?;
    if args.json {
        println!("{}", serde_json::to_string(&units)?);
        return Ok(());
    }
    println!("compute units per call, CPIs included (SBF build, shared toolchain: estimates)");
    println!("instruction              calls     ok   ok min  ok median   ok max   max (all)");
    for (name, u) in &units {
        println!(
            "{name:<22} {:>7} {:>6} {:>8} {:>10} {:>8} {:>11}",
            u.calls, u.ok_calls, u.ok_min, u.ok_median, u.ok_max, u.max
        );
    }
    Ok(())
}

/// One instruction's figures over the suite's calls.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct InstructionUnits {
    pub calls: usize,
    pub ok_calls: usize,
    /// Over the successful calls.
    pub ok_min: u64,
    pub ok_median: u64,
    pub ok_max: u64,
    /// Over every call, refused ones included (a refusal must fit the budget too).
    pub max: u64,
}

/// Runs the program suite against `<so_dir>/model_vault.so` and reads its log.
fn measure(so_dir: &Path) -> anyhow::Result<BTreeMap<String, InstructionUnits>> {
    let so = so_dir.join("model_vault.so");
    if !so.is_file() {
        bail!(
            "{} does not exist: build it with ../shared/sbf/build.sh (see README, Tests)",
            so.display()
        );
    }
    // The suite runs in its own crate's directory: hand it an absolute path.
    let so_dir = so_dir.canonicalize()?;
    eprintln!("  … the program suite against {} (a minute)", so.display());
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "-p", "model-vault-tests", "--", "--test-threads=1"])
        .env("PAYWIRE_SBF", "1")
        .env("SBF_OUT_DIR", &so_dir)
        .env(
            "RUST_LOG",
            "solana_runtime::message_processor::stable_log=debug",
        )
        .output()
        .context("running cargo test -p model-vault-tests (run this from the workspace)")?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "the program suite failed against the SBF build:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let units = read_log(&log, &model_vault_client::PROGRAM_ID.to_string());
    if units.is_empty() {
        bail!("the suite's log names no compute units of the program: did it run the .so?");
    }
    Ok(units)
}

/// Per instruction name, from the runtime's log: `Program <id> invoke [1]`, then the
/// program's `Instruction: <Name>` line, then `Program <id> consumed N of M compute units`
/// and `Program <id> success|failed`. Calls the program makes to others (CPIs) sit between
/// and are part of N.
pub fn read_log(log: &str, program: &str) -> BTreeMap<String, InstructionUnits> {
    let invoke = format!("Program {program} invoke [1]");
    let consumed = format!("Program {program} consumed ");
    let success = format!("Program {program} success");
    let failed = format!("Program {program} failed");
    let mut calls: BTreeMap<String, Vec<(u64, bool)>> = BTreeMap::new();
    let (mut name, mut units): (Option<String>, Option<u64>) = (None, None);
    for line in log.lines() {
        if line.contains(&invoke) {
            (name, units) = (None, None);
        } else if let Some(rest) = line.split("Program log: Instruction: ").nth(1) {
            name.get_or_insert_with(|| rest.trim().to_string());
        } else if let Some(rest) = line.split(consumed.as_str()).nth(1) {
            units = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if line.contains(&success) || line.contains(&failed) {
            if let (Some(name), Some(units)) = (name.take(), units.take()) {
                calls
                    .entry(name)
                    .or_default()
                    .push((units, line.contains(&success)));
            }
        }
    }
    calls
        .into_iter()
        .map(|(name, calls)| {
            let mut ok: Vec<u64> = calls.iter().filter(|c| c.1).map(|c| c.0).collect();
            ok.sort_unstable();
            let figures = InstructionUnits {
                calls: calls.len(),
                ok_calls: ok.len(),
                ok_min: ok.first().copied().unwrap_or(0),
                ok_median: ok.get(ok.len() / 2).copied().unwrap_or(0),
                ok_max: ok.last().copied().unwrap_or(0),
                max: calls.iter().map(|c| c.0).max().unwrap_or(0),
            };
            (name, figures)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as solana-program-test's runtime logs them (prefixes trimmed to what matters).
    const LOG: &str = "\
[DEBUG stable_log] Program P invoke [1]
[DEBUG stable_log] Program log: Instruction: BuybackAndBurn
[DEBUG stable_log] Program T invoke [2]
[DEBUG stable_log] Program log: Instruction: TransferChecked
[DEBUG stable_log] Program T consumed 6200 of 150000 compute units
[DEBUG stable_log] Program T success
[DEBUG stable_log] Program P consumed 60000 of 200000 compute units
[DEBUG stable_log] Program P success
[DEBUG stable_log] Program P invoke [1]
[DEBUG stable_log] Program log: Instruction: BuybackAndBurn
[DEBUG stable_log] Program P consumed 90000 of 200000 compute units
[DEBUG stable_log] Program P success
[DEBUG stable_log] Program P invoke [1]
[DEBUG stable_log] Program log: Instruction: BuybackAndBurn
[DEBUG stable_log] Program P consumed 120000 of 200000 compute units
[DEBUG stable_log] Program P failed: custom program error: 0x1776
";

    #[test]
    fn a_call_counts_its_cpis_and_refusals_count_apart() {
        let units = read_log(LOG, "P");
        assert_eq!(units.len(), 1, "the CPI's own line is not a call of P");
        assert_eq!(
            units["BuybackAndBurn"],
            InstructionUnits {
                calls: 3,
                ok_calls: 2,
                ok_min: 60_000,
                ok_median: 90_000,
                ok_max: 90_000,
                max: 120_000,
            }
        );
    }
}
