//! `cargo xtask mutants`: mutation testing of the session machine with cargo-mutants.
//!
//! Each mutant is a small deliberate bug (a branch negated, a return value replaced, an
//! operator swapped) in `core/src/session`, `core/src/policy.rs` or `core/src/token.rs`;
//! the core's own tests and the workspace scenario tests (`bearerflow-tests`: the
//! simulated world, the rule properties, the vectors) run against it. A mutant the tests
//! do not catch is either a missing test or a change that cannot be observed (an
//! equivalent mutant). The second kind is listed, with the reason, in
//! `mutants/equivalent.txt`; any other survivor fails the command.
//!
//! 1. Installs cargo-mutants when missing (`cargo install cargo-mutants --locked`).
//! 2. Runs it (nextest when present) with the `mutants` profile (little optimization:
//!    each mutant is a rebuild) and `PROPTEST_CASES` lowered to 256 unless set (each
//!    property still sees hundreds of histories per mutant).
//! 3. Reads `target/mutants/mutants.out/{caught,missed,unviable,timeout}.txt`, prints
//!    the counts and every survivor, and compares the survivors with
//!    `mutants/equivalent.txt`.
//!
//! Too slow for `ci` (hours on two cores); run it before and after touching the
//! machine. `cargo xtask mutants --list` only lists the mutants; `--jobs N` builds N at
//! once; `--skip-test NAME` leaves a test out (a test that fails without any mutant
//! stops cargo-mutants at its baseline run); `--file GLOB` narrows the files.

use crate::{root, run, tools};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The files whose mutants must all be caught or explained (relative to the root).
const FILES: &[&str] = &[
    "core/src/session/**/*.rs",
    "core/src/policy.rs",
    "core/src/token.rs",
];
/// The packages whose tests judge each mutant.
const TEST_PACKAGES: &[&str] = &["bearerflow", "bearerflow-tests"];
/// The explained survivors, relative to the root.
const EQUIVALENT: &str = "mutants/equivalent.txt";
/// Where cargo-mutants writes `mutants.out/`, relative to the root.
const OUTPUT: &str = "target/mutants";

struct Options {
    list: bool,
    jobs: usize,
    skip_tests: Vec<String>,
    files: Vec<String>,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        list: false,
        jobs: 1,
        skip_tests: Vec::new(),
        files: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => o.list = true,
            "--jobs" | "-j" => {
                o.jobs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--jobs needs a positive number")?;
            }
            "--skip-test" => o
                .skip_tests
                .push(it.next().ok_or("--skip-test needs a test name")?.clone()),
            "--file" => o
                .files
                .push(it.next().ok_or("--file needs a glob")?.clone()),
            other => {
                return Err(format!(
                    "mutants: unknown option {other:?} (usage: cargo xtask mutants [--list] \
                     [--jobs N] [--skip-test NAME]... [--file GLOB]...)"
                ))
            }
        }
    }
    Ok(o)
}

/// `cargo xtask mutants [--list] [--jobs N] [--skip-test NAME]... [--file GLOB]...`.
pub fn run_mutants(args: &[String]) -> Result<(), String> {
    let o = parse_options(args)?;
    let started = Instant::now();
    ensure_cargo_mutants()?;
    let files: Vec<String> = if o.files.is_empty() {
        FILES.iter().map(|f| f.to_string()).collect()
    } else {
        o.files.clone()
    };

    let mut cmd = Command::new("cargo");
    cmd.arg("mutants")
        .args(["--package", "bearerflow"])
        .args(["--output", OUTPUT])
        .args(["--profile", "mutants"])
        // Names without line and column on the console; the outcome files keep them,
        // and `without_line_col` strips them, so that `equivalent.txt` survives edits
        // elsewhere in a file.
        .arg("--line-col=false")
        .arg("--no-shuffle")
        // cargo-mutants times its baseline on the mutated package's tests only (the
        // core's, a few seconds) and derives the test timeout from that; the scenario
        // tests take longer, more so on a busy machine. A generous floor keeps slow runs
        // from passing as hangs; a real hang still ends there.
        .args(["--minimum-test-timeout", "300"])
        .args(["--jobs", &o.jobs.to_string()]);
    for f in &files {
        cmd.args(["--file", f]);
    }
    for p in TEST_PACKAGES {
        cmd.args(["--test-package", p]);
    }
    if o.list {
        cmd.arg("--list");
        return run(&mut cmd);
    }
    if tools::has_nextest() {
        cmd.args(["--test-tool", "nextest"]);
    }
    if !o.skip_tests.is_empty() {
        // After cargo-mutants' `--` come the test tool's arguments; `cargo test` and
        // `cargo nextest run` both take libtest's `--skip` after another `--`.
        cmd.args(["--", "--"]);
        for t in &o.skip_tests {
            cmd.args(["--skip", t]);
        }
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        cmd.env("PROPTEST_CASES", "256");
    }
    // cargo-mutants exits non-zero when a mutant survives or times out; the verdict
    // below is ours (survivors against the explained list), so only a run that wrote
    // no results is an error here.
    let status = run(&mut cmd);
    let out = root().join(OUTPUT).join("mutants.out");
    if !out.join("outcomes.json").is_file() && !out.join("caught.txt").is_file() {
        return status.and(Err(format!(
            "cargo mutants wrote no results in {}",
            out.display()
        )));
    }
    let report = Report::read(&out)?;
    let equivalent = Equivalent::load(&root().join(EQUIVALENT))?;
    report.print(&equivalent, started);
    report.verdict(&equivalent, status.err())
}

fn ensure_cargo_mutants() -> Result<(), String> {
    if tools::works("cargo", &["mutants", "--version"]) {
        return Ok(());
    }
    run(Command::new("cargo").args(["install", "cargo-mutants", "--locked"]))
}

/// The outcome lists cargo-mutants wrote.
struct Report {
    caught: Vec<String>,
    missed: Vec<String>,
    unviable: Vec<String>,
    timeout: Vec<String>,
}

impl Report {
    fn read(out: &Path) -> Result<Report, String> {
        let list = |name: &str| -> Result<Vec<String>, String> {
            let path = out.join(name);
            match fs::read_to_string(&path) {
                Ok(text) => Ok(text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(without_line_col)
                    .collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            }
        };
        Ok(Report {
            caught: list("caught.txt")?,
            missed: list("missed.txt")?,
            unviable: list("unviable.txt")?,
            timeout: list("timeout.txt")?,
        })
    }

    fn unexplained<'a>(&'a self, equivalent: &Equivalent) -> Vec<&'a String> {
        self.missed
            .iter()
            .filter(|m| !equivalent.entries.contains(*m))
            .collect()
    }

    fn print(&self, equivalent: &Equivalent, started: Instant) {
        println!(
            "\nmutants: {} caught, {} missed, {} unviable, {} timeout ({} tested in {:.0} min)",
            self.caught.len(),
            self.missed.len(),
            self.unviable.len(),
            self.timeout.len(),
            self.caught.len() + self.missed.len() + self.unviable.len() + self.timeout.len(),
            started.elapsed().as_secs_f64() / 60.0
        );
        if !self.missed.is_empty() {
            println!("\nsurvivors (missed):");
            for m in &self.missed {
                let mark = if equivalent.entries.contains(m) {
                    "equivalent"
                } else {
                    "UNEXPLAINED"
                };
                println!("  [{mark}] {m}");
            }
        }
        if !self.timeout.is_empty() {
            println!("\ntimeouts (the tests hung: caught, but look at them):");
            for m in &self.timeout {
                println!("  {m}");
            }
        }
        let stale: Vec<&String> = equivalent
            .entries
            .iter()
            .filter(|e| !self.missed.contains(e))
            .collect();
        if !stale.is_empty() {
            println!("\n{EQUIVALENT} entries that no longer survive (remove them):");
            for e in stale {
                println!("  {e}");
            }
        }
    }

    fn verdict(&self, equivalent: &Equivalent, run_error: Option<String>) -> Result<(), String> {
        let unexplained = self.unexplained(equivalent);
        if !unexplained.is_empty() {
            return Err(format!(
                "{} surviving mutant(s) neither caught by a test nor explained in {EQUIVALENT}",
                unexplained.len()
            ));
        }
        if let Some(e) = run_error.filter(|_| self.caught.is_empty() && self.missed.is_empty()) {
            return Err(e);
        }
        Ok(())
    }
}

/// A mutant's name without the line and column cargo-mutants writes into its outcome
/// files (`core/src/policy.rs:155:35: replace …` → `core/src/policy.rs: replace …`),
/// so that names stay the same when code above them moves.
fn without_line_col(name: &str) -> String {
    let Some((file, rest)) = name.split_once(": ") else {
        return name.to_string();
    };
    let mut parts = file.rsplitn(3, ':');
    let (col, line, path) = (parts.next(), parts.next(), parts.next());
    match (path, line, col) {
        (Some(path), Some(line), Some(col))
            if line.bytes().all(|b| b.is_ascii_digit())
                && col.bytes().all(|b| b.is_ascii_digit())
                && !line.is_empty()
                && !col.is_empty() =>
        {
            format!("{path}: {rest}")
        }
        _ => name.to_string(),
    }
}

/// `mutants/equivalent.txt`: one survivor per line, as cargo-mutants names it (without
/// line and column), then ` # ` and why no test can catch it. `#` starts a comment line.
struct Equivalent {
    entries: BTreeSet<String>,
}

impl Equivalent {
    fn load(path: &PathBuf) -> Result<Equivalent, String> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Equivalent::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Equivalent, String> {
        let mut entries = BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((mutant, reason)) = line.rsplit_once(" # ") else {
                return Err(format!(
                    "line {}: no reason (write `MUTANT # why no test can catch it`)",
                    i + 1
                ));
            };
            if reason.trim().is_empty() {
                return Err(format!("line {}: empty reason", i + 1));
            }
            entries.insert(without_line_col(mutant.trim()));
        }
        Ok(Equivalent { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_entries_need_a_reason() {
        let e = Equivalent::parse(
            "# header\n\ncore/src/token.rs: replace Phase::as_str -> &str with \"xyzzy\" # only logs\n",
        )
        .unwrap();
        assert!(e
            .entries
            .contains("core/src/token.rs: replace Phase::as_str -> &str with \"xyzzy\""));
        assert!(Equivalent::parse("core/src/token.rs: replace x").is_err());
        assert!(Equivalent::parse("core/src/token.rs: replace x #  ").is_err());
    }

    #[test]
    fn names_lose_line_and_column() {
        assert_eq!(
            without_line_col("core/src/policy.rs:155:35: replace / with % in Policy::backoff"),
            "core/src/policy.rs: replace / with % in Policy::backoff"
        );
        let same = "core/src/policy.rs: replace / with % in Policy::backoff";
        assert_eq!(without_line_col(same), same);
        assert_eq!(without_line_col("a:b:c: d"), "a:b:c: d");
    }

    #[test]
    fn only_unexplained_survivors_fail() {
        let report = Report {
            caught: vec!["a".into()],
            missed: vec!["b".into(), "c".into()],
            unviable: vec![],
            timeout: vec![],
        };
        let eq = Equivalent::parse("b # cannot be observed").unwrap();
        assert_eq!(report.unexplained(&eq), vec!["c"]);
        assert!(report.verdict(&eq, None).is_err());
        let eq = Equivalent::parse("b # x\nc # y").unwrap();
        assert!(report.verdict(&eq, None).is_ok());
    }

    #[test]
    fn options() {
        let o = parse_options(&[
            "--jobs".into(),
            "2".into(),
            "--skip-test".into(),
            "t".into(),
        ])
        .unwrap();
        assert_eq!((o.jobs, o.skip_tests), (2, vec!["t".to_string()]));
        assert!(parse_options(&["--jobs".into(), "0".into()]).is_err());
        assert!(parse_options(&["--bogus".into()]).is_err());
    }
}
