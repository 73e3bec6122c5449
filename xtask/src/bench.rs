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
    let mut cmd = Command::new("cargo");
    cmd.args(["bench", "-p", "bearerflow", "--benches"]);
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
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    report(&target.join("criterion"))
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

fn report(criterion: &Path) -> Result<(), String> {
    let Ok(groups) = std::fs::read_dir(criterion) else {
        return Err(format!("no criterion results in {}", criterion.display()));
    };
    let mut rows = Vec::new();
    for group in groups.flatten() {
        let gpath = group.path();
        let Ok(cases) = std::fs::read_dir(&gpath) else {
            continue;
        };
        for case in cases.flatten() {
            let cpath = case.path();
            let ours = cpath.join("bearerflow");
            let Some(ours_ns) = median_ns(&ours) else {
                continue;
            };
            let Ok(impls) = std::fs::read_dir(&cpath) else {
                continue;
            };
            let mut any = false;
            for imp in impls.flatten() {
                let name = imp.file_name().to_string_lossy().into_owned();
                if name == "bearerflow" || name == "report" {
                    continue;
                }
                if let Some(theirs) = median_ns(&imp.path()) {
                    any = true;
                    rows.push((
                        group.file_name().to_string_lossy().into_owned(),
                        case.file_name().to_string_lossy().into_owned(),
                        ours_ns,
                        name,
                        Some(theirs),
                    ));
                }
            }
            if !any {
                rows.push((
                    group.file_name().to_string_lossy().into_owned(),
                    case.file_name().to_string_lossy().into_owned(),
                    ours_ns,
                    String::from("-"),
                    None,
                ));
            }
        }
    }
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    println!(
        "\n{:<12} {:<28} {:>14} {:>12} {:>14} {:>8}",
        "group", "case", "bearerflow", "reference", "ref median", "ratio"
    );
    for (group, case, ours, refname, theirs) in rows {
        match theirs {
            Some(t) => println!(
                "{group:<12} {case:<28} {:>12.1}ns {refname:>12} {:>12.1}ns {:>8.3}",
                ours,
                t,
                ours / t
            ),
            None => println!(
                "{group:<12} {case:<28} {:>12.1}ns {:>12} {:>14} {:>8}",
                ours, "-", "-", "-"
            ),
        }
    }
    println!("(ratio = bearerflow median / reference median; lower is better)");
    Ok(())
}
