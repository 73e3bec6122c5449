//! `cargo xtask bench`: run the criterion benches, then print side-by-side tables.
//!
//! Criterion writes `target/criterion/<group>/<function>/new/estimates.json`; benches
//! name their functions `<case>/bearerflow` and `<case>/<reference>` so that pairs can be
//! put side by side from one run. These machines are noisy: the report quotes medians
//! and ratios, never absolute pass/fail timings.

use crate::root;
use std::path::Path;
use std::process::Command;

pub fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    if args.first().is_some_and(|a| a == "driver") {
        return driver(quick);
    }
    let mut cmd = Command::new("cargo");
    cmd.args([
        "bench",
        "-p",
        "bearerflow",
        "--bench",
        "challenge",
        "--bench",
        "session",
    ]);
    if quick {
        cmd.args(["--", "--quick"]);
    }
    crate::run(&mut cmd)?;
    crate::run(Command::new("cargo").args([
        "run",
        "--release",
        "-p",
        "bearerflow",
        "--example",
        "footprint",
    ]))?;
    crate::c_abi::report_sizes()?;
    crate::embedded::bench_report()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    report(&target.join("criterion"))?;
    // What a browser downloads of the WebAssembly binding.
    crate::wasm::size_report()?;
    driver(quick)
}

/// The `driver` scenario: bare reqwest against bearerflow-async on one loopback server,
/// interleaved in one run (`bindings-async/benches/driver.rs` prints the table).
fn driver(quick: bool) -> Result<(), String> {
    let mut cmd = Command::new("cargo");
    cmd.args(["bench", "-p", "bearerflow-async", "--bench", "driver"]);
    if quick {
        cmd.env("BENCH_DRIVER_ROUNDS", "3")
            .env("BENCH_DRIVER_SLICE_MS", "150");
    }
    crate::run(&mut cmd)
}

/// The median point estimate, in nanoseconds, of one criterion benchmark folder.
fn median_ns(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("new").join("estimates.json")).ok()?;
    let key = "\"median\":";
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let pe = "\"point_estimate\":";
    let at = rest.find(pe)? + pe.len();
    let num: String = rest[at..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    num.parse().ok()
}

/// Every benchmark under `dir` with its median: the folder path relative to the
/// criterion root, separators flattened to `_` (criterion flattens `/` in ids too).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !path.is_dir() || e.file_name() == "report" {
            continue;
        }
        if let Some(ns) = median_ns(&path) {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("_");
            out.push((name, ns));
        } else {
            collect(root, &path, out);
        }
    }
}

/// Benchmarks are named `<case>_bearerflow` and `<case>_<reference>`: pair them.
fn report(criterion: &Path) -> Result<(), String> {
    let mut all = Vec::new();
    collect(criterion, criterion, &mut all);
    if all.is_empty() {
        return Err(format!("no criterion results in {}", criterion.display()));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    println!(
        "\n{:<40} {:>14} {:>12} {:>14} {:>8}",
        "case", "bearerflow", "reference", "ref median", "ratio"
    );
    for (name, ours) in &all {
        let Some(case) = name.strip_suffix("_bearerflow") else {
            continue;
        };
        let refs: Vec<&(String, f64)> = all
            .iter()
            .filter(|(n, _)| n != name && n.strip_prefix(case).is_some_and(|r| r.starts_with('_')))
            .collect();
        if refs.is_empty() {
            println!(
                "{case:<40} {ours:>12.1}ns {:>12} {:>14} {:>8}",
                "-", "-", "-"
            );
        }
        for (rname, theirs) in refs {
            let label = &rname[case.len() + 1..];
            println!(
                "{case:<40} {ours:>12.1}ns {label:>12} {theirs:>12.1}ns {:>8.3}",
                ours / theirs
            );
        }
    }
    println!("(medians from this run; ratio = bearerflow / reference, lower is better)");
    Ok(())
}
