//! `cargo xtask`: the one place that knows how to build and test everything.
//!
//! - `cargo xtask ci`: the test command. Installs what it needs when missing, then runs
//!   fmt, clippy, the no_std builds, every test, the doc tests and a fuzz smoke run, and
//!   ends with one line `ci: N passed, M failed`.
//! - `cargo xtask bench`: criterion benches, then a side-by-side ratio table, then the
//!   `driver` scenario (`cargo xtask bench driver` alone): bare reqwest against
//!   bearerflow-async on one loopback server, throughput ratios and p50/p99 latencies.
//! - `cargo xtask fuzz [SECONDS | --minutes N]`: every fuzz target for SECONDS (or N
//!   minutes) each (default 60 s), then a table of executions per target.
//! - `cargo xtask wasm-package`: the npm package (see `wasm.rs`).
//! - `cargo xtask embedded`: the Cortex-M4F firmware under QEMU (`examples/embedded/`).
//! - `cargo xtask proxy-sdk`: `bearerflow proxy` under the official MCP SDKs' stdio
//!   clients (see `proxy.rs`); also part of `ci`.
//! - `cargo xtask conformance`: the official MCP conformance runner's client `auth/*`
//!   scenarios against `bearerflow conformance-client` (see `conformance/NOTES.md`).
//! - `cargo xtask mutants`: cargo-mutants over the session machine; every survivor is
//!   caught by a test or explained in `mutants/equivalent.txt` (not part of `ci`).
//! - `cargo xtask interop`: bearerflow against a certified OpenID Provider
//!   (`oidc-provider`) and the official TypeScript SDK's `requireBearerAuth` (see
//!   `interop.rs`).

mod bench;
mod c_abi;
mod conformance;
mod embedded;
mod interop;
mod mutants;
mod proxy;
mod schema;
mod tools;
mod verdict;
mod wasm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Fuzz targets, one per parser or event surface (see `fuzz/Cargo.toml`).
const FUZZ_TARGETS: &[&str] = &[
    "challenge",
    "metadata_json",
    "token_response",
    "redirect_url",
    "http_response",
    "url",
    "dpop_nonce",
    "authorization",
    "oauth_error",
    "registration",
    "config_json",
    "snapshot_json",
    "helper_output",
    "session_events",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("conformance") => conformance::run(&args[1..]).map(|_| ()),
        Some("interop") => interop::run(&args[1..]).map(|_| ()),
        Some("c-package") => c_abi::package_cmd(&args[1..]),
        Some("c-abi") => {
            c_abi::ci().map(|t| println!("c-abi: {} passed, {} failed", t.passed, t.failed))
        }
        Some("wasm-package") => wasm::package_cmd(),
        Some("embedded") => embedded::run(&args[1..]).map(|_| ()),
        Some("mutants") => mutants::run_mutants(&args[1..]),
        Some("proxy-sdk") => {
            proxy::ci().map(|t| println!("proxy-sdk: {} passed, {} failed", t.passed, t.failed))
        }
        Some("fuzz") => fuzz_seconds(&args[1..]).and_then(fuzz),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci [--no-fuzz] [--no-conformance] [--no-interop] | bench [driver] [--quick] | fuzz [SECONDS | --minutes N] | conformance [--scenario NAME]... | interop [--case NAME]... | c-package [--prefix DIR] | c-abi | proxy-sdk | wasm-package | embedded [--measure] | mutants [--list] [--jobs N] [--skip-test NAME]...>\n\
                 ci           the full test run CI does (installs missing tools)\n\
                 bench        criterion benches and the comparison report; `bench driver`:\n\
                              bare reqwest against bearerflow-async on a loopback server\n\
                 fuzz         every fuzz target for SECONDS (or N minutes) each, then executions per target\n\
                 conformance  the official MCP conformance suite (client auth scenarios)\n\
                 interop      against a certified OpenID Provider (oidc-provider) and the SDK's requireBearerAuth\n\
                 c-package    the C library's install tree [--prefix DIR] (pkg-config, CMake)\n\
                 c-abi        only the C ABI checks of ci (header, harness, C++, ctypes, example)\n\
                 proxy-sdk    only the proxy's runs with the official TypeScript and Python SDKs\n\
                 wasm-package the npm package in target/npm/bearerflow, and what a browser downloads\n\
                 embedded     the Cortex-M4F firmware under QEMU (installs qemu-system-arm)\n\
                 mutants      cargo-mutants over the session machine (slow; not in ci)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Tally of tests seen in runner output.
#[derive(Default, Debug, Clone, Copy)]
pub struct Tally {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl Tally {
    /// Read one runner line: nextest's `Summary [..] N tests run: P passed, F failed, S skipped`
    /// (`1 test run` for one) or libtest's `test result: ok. P passed; F failed; I ignored; ...`.
    /// Only an unindented libtest line counts: nextest repeats a failed test's own
    /// output indented, and that test is already in nextest's summary.
    fn read(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("test result:") {
            self.passed += number_before(rest, " passed");
            self.failed += number_before(rest, " failed");
            self.skipped += number_before(rest, " ignored");
            return;
        }
        let line = line.trim();
        if line.starts_with("Summary [")
            && (line.contains(" tests run:") || line.contains(" test run:"))
        {
            self.passed += number_before(line, " passed");
            self.failed += number_before(line, " failed");
            self.skipped += number_before(line, " skipped");
        }
    }
}

/// The integer right before `label` in `text` (0 when absent).
fn number_before(text: &str, label: &str) -> u64 {
    let Some(end) = text.find(label) else {
        return 0;
    };
    let head = &text[..end];
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
}

/// Run a command, streaming its output, and fail on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    run_tally(cmd).map(|_| ())
}

/// Run a command, stream stdout and stderr through, and count test results in them.
pub fn run_tally(cmd: &mut Command) -> Result<Tally, String> {
    run_tally_keeping(cmd).map_err(|(e, _)| e)
}

/// A test suite: like [`run_tally`], but a failing run is counted instead of ending
/// `ci`, so that every suite runs and the summary line says what failed. A run that
/// failed without a failed test (it did not build, or could not start) counts as one
/// failure.
fn run_suite(cmd: &mut Command) -> Tally {
    let (failed_run, mut tally) = match run_tally_keeping(cmd) {
        Ok(t) => (false, t),
        Err((e, t)) => {
            eprintln!("xtask: {e}");
            (true, t)
        }
    };
    if failed_run && tally.failed == 0 {
        tally.failed = 1;
    }
    tally
}

/// [`run_tally`] that keeps the counts of a failed run.
fn run_tally_keeping(cmd: &mut Command) -> Result<Tally, (String, Tally)> {
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    cmd.current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| (format!("cannot start {shown}: {e}"), Tally::default()))?;
    let t_out = echo_and_tally(child.stdout.take(), |l| println!("{l}"));
    let t_err = echo_and_tally(child.stderr.take(), |l| eprintln!("{l}"));
    let status = child.wait();
    let a = t_out.join().unwrap_or_default();
    let b = t_err.join().unwrap_or_default();
    eprintln!("<== {:.1}s", started.elapsed().as_secs_f64());
    let tally = Tally {
        passed: a.passed + b.passed,
        failed: a.failed + b.failed,
        skipped: a.skipped + b.skipped,
    };
    match status {
        Ok(s) if s.success() => Ok(tally),
        Ok(s) => Err((format!("{shown} failed ({s})"), tally)),
        Err(e) => Err((format!("{shown}: {e}"), tally)),
    }
}

/// A thread that echoes each line of `pipe` with `echo` and counts test results in it.
fn echo_and_tally<R: std::io::Read + Send + 'static>(
    pipe: Option<R>,
    echo: fn(&str),
) -> std::thread::JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut tally = Tally::default();
        if let Some(pipe) = pipe {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                echo(&line);
                tally.read(&line);
            }
        }
        tally
    })
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn ci(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let with_fuzz = !args.iter().any(|a| a == "--no-fuzz");
    let with_conformance = !args.iter().any(|a| a == "--no-conformance");
    let with_interop = !args.iter().any(|a| a == "--no-interop");
    tools::ensure_ci_tools(with_fuzz)?;
    eprintln!("\nci: {}", disk_report());

    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Docs build without broken links (doc tests run with the tests below).
    run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--no-deps",
        "--all-features",
        "--locked",
    ]))?;
    // Supply chain (`deny.toml`): licenses, bans, sources. Advisories need the RustSec
    // database from GitHub, which CI machines cannot reach.
    tools::ensure_deny()?;
    run(cargo().args(["deny", "check", "licenses", "bans", "sources"]))?;
    // The no_std proof: core, with and without the socket driver, for a Cortex-M4F.
    run(cargo().args([
        "build",
        "--locked",
        "-p",
        "bearerflow",
        "--target",
        "thumbv7em-none-eabihf",
    ]))?;
    run(cargo().args([
        "build",
        "--locked",
        "-p",
        "bearerflow",
        "--features",
        "embedded-io",
        "--target",
        "thumbv7em-none-eabihf",
    ]))?;

    let mut tally = Tally::default();
    let mut add = |t: Tally| {
        tally.passed += t.passed;
        tally.failed += t.failed;
        tally.skipped += t.skipped;
    };
    if tools::has_nextest() {
        add(run_suite(cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
        ])));
    } else {
        add(run_suite(cargo().args([
            "test",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
            "--lib",
            "--bins",
            "--tests",
        ])));
    }
    add(run_suite(cargo().args([
        "test",
        "--workspace",
        "--all-features",
        "--locked",
        "--doc",
    ])));
    add(schema::check()?);
    add(embedded::run(&[])?);

    // The C ABI: header, C harness (valgrind, ASan/UBSan), C++, ctypes, libcurl example.
    add(c_abi::ci()?);

    // The WebAssembly binding in Node and Chromium, and the npm package's JS tests.
    add(wasm::ci()?);

    // `bearerflow proxy` under the official TypeScript and Python SDKs' stdio clients.
    add(proxy::ci()?);
    tally = interop_tests(tally)?;

    if with_conformance {
        let c = conformance::run(&[])?;
        tally.passed += c.passed;
        tally.skipped += c.expected;
    }

    if with_interop {
        let i = interop::run(&[])?;
        tally.passed += i.passed;
        tally.skipped += i.expected;
    }

    if with_fuzz {
        // Issue 18: at least 30 s per target in CI.
        fuzz(30)?;
    }

    println!(
        "\nci finished in {:.0}s ({} skipped); {}",
        started.elapsed().as_secs_f64(),
        tally.skipped,
        disk_report()
    );
    println!("ci: {} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        return Err("tests failed".into());
    }
    Ok(())
}

/// What the build directories hold and what the disk has left, from `du` and `df`: a
/// CI run once ended with "No space left on device", and this line says how close the
/// next one comes. Either figure is "?" where the tool is missing.
fn disk_report() -> String {
    let kib = |cmd: &mut Command, column: usize| -> String {
        cmd.output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let line = text.lines().last()?.to_owned();
                line.split_whitespace().nth(column)?.parse::<u64>().ok()
            })
            .map_or_else(
                || "?".into(),
                |k| format!("{:.1} GiB", k as f64 / 1048576.0),
            )
    };
    let root = root();
    let dirs = [root.join("target"), root.join("fuzz/target")];
    let used = kib(
        Command::new("du")
            .arg("-skc")
            .args(dirs.iter().filter(|d| d.exists())),
        0,
    );
    let free = kib(Command::new("df").arg("-Pk").arg(&root), 3);
    format!("disk: target/ {used}, free {free}")
}

/// The tests that drive a Node.js peer are `#[ignore]`d, so the run above counted them
/// as skipped. Run them now when `npm` is here (with a `node` it installs if needed);
/// each one that runs moves from skipped to passed or failed. Without `npm` they stay
/// skipped, and this says why.
fn interop_tests(mut tally: Tally) -> Result<Tally, String> {
    const TESTS: &[(&str, &str)] = &[("bearerflow-async", "node_sdk_interop")];
    let Some(node) = tools::interop_node()? else {
        eprintln!(
            "\n==> skipped (npm is not installed, so neither Node nor the peer's packages \
             can be): {}",
            TESTS
                .iter()
                .map(|(p, t)| format!("{p} --test {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(tally);
    };
    for (package, test) in TESTS {
        let mut cmd = cargo();
        cmd.env("BEARERFLOW_NODE", &node);
        if tools::has_nextest() {
            cmd.args([
                "nextest",
                "run",
                "--locked",
                "--no-fail-fast",
                "-p",
                package,
            ])
            .args(["--test", test, "--run-ignored", "only"]);
        } else {
            cmd.args(["test", "--all-features", "--locked", "--no-fail-fast"])
                .args(["-p", package])
                .args(["--test", test, "--", "--ignored"]);
        }
        let t = run_suite(&mut cmd);
        // The tests that ran (or the one failure of a run that did not build) were
        // counted as skipped by the main run.
        let ran = (t.passed + t.failed).max(1);
        tally.passed += t.passed;
        tally.failed += t.failed.max(u64::from(t.passed == 0));
        tally.skipped = tally.skipped.saturating_sub(ran);
    }
    Ok(tally)
}

/// How long `cargo xtask fuzz` runs each target: `SECONDS`, `--minutes N`, or 60 s.
fn fuzz_seconds(args: &[String]) -> Result<u64, String> {
    match args {
        [] => Ok(60),
        [flag, n] if flag == "--minutes" => n
            .parse::<u64>()
            .ok()
            .and_then(|m| m.checked_mul(60))
            .ok_or_else(|| format!("--minutes wants a whole number, not {n:?}")),
        [secs] => secs
            .parse()
            .map_err(|_| format!("fuzz wants SECONDS or --minutes N, not {secs:?}")),
        _ => Err(format!("fuzz wants SECONDS or --minutes N, not {args:?}")),
    }
}

/// What one libFuzzer run reported with `-print_final_stats=1`.
#[derive(Debug, Default, PartialEq, Eq)]
struct FuzzStats {
    executions: Option<u64>,
    per_second: Option<u64>,
    peak_rss_mb: Option<u64>,
}

impl FuzzStats {
    /// Read one stderr line (`stat::number_of_executed_units: 123`).
    fn read(&mut self, line: &str) {
        // The name holds `::` itself: the value is after the last colon.
        let Some((name, value)) = line.trim().rsplit_once(':') else {
            return;
        };
        let value = value.trim().parse().ok();
        match name.trim() {
            "stat::number_of_executed_units" => self.executions = value,
            "stat::average_exec_per_sec" => self.per_second = value,
            "stat::peak_rss_mb" => self.peak_rss_mb = value,
            _ => {}
        }
    }
}

fn fuzz(seconds: u64) -> Result<(), String> {
    tools::ensure_fuzz_tools()?;
    let fuzz_dir = root().join("fuzz");
    run_in(
        Command::new("cargo").args(["+nightly", "fuzz", "build"]),
        &fuzz_dir,
    )?;
    let mut results = Vec::new();
    for target in FUZZ_TARGETS {
        results.push((*target, fuzz_one(&fuzz_dir, target, seconds)));
    }
    println!("\nfuzz: {seconds} s per target");
    println!(
        "{:<16} {:>14} {:>10} {:>8}  result",
        "target", "executions", "exec/s", "rss MB"
    );
    let show = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    let mut failed = Vec::new();
    for (target, (stats, outcome)) in &results {
        let result = match outcome {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                failed.push(*target);
                e.clone()
            }
        };
        println!(
            "{:<16} {:>14} {:>10} {:>8}  {result}",
            target,
            show(stats.executions),
            show(stats.per_second),
            show(stats.peak_rss_mb)
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {}", failed.join(", ")))
    }
}

/// One target for `seconds`, its stderr passed through and its final stats kept. The
/// runs write new inputs to `target/fuzz-corpus/<target>` and read the committed seeds
/// in `fuzz/corpus/<target>` without changing them.
fn fuzz_one(fuzz_dir: &Path, target: &str, seconds: u64) -> (FuzzStats, Result<(), String>) {
    let mut stats = FuzzStats::default();
    let work = root().join("target").join("fuzz-corpus").join(target);
    if let Err(e) = std::fs::create_dir_all(&work) {
        return (stats, Err(format!("cannot create {}: {e}", work.display())));
    }
    let seeds = fuzz_dir.join("corpus").join(target);
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "fuzz", "run", target])
        .arg(&work)
        .args(seeds.is_dir().then_some(&seeds))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .current_dir(fuzz_dir)
        .stderr(Stdio::piped());
    eprintln!("\n==> {cmd:?}");
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                stats,
                Err(format!("cannot start cargo fuzz run {target}: {e}")),
            )
        }
    };
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("{line}");
            stats.read(&line);
        }
    }
    let outcome = match child.wait() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("crashed or failed ({s})")),
        Err(e) => Err(format!("cannot wait for cargo fuzz run {target}: {e}")),
    };
    (stats, outcome)
}

/// Like [`run`], in a given folder (the fuzz crate is outside the workspace).
fn run_in(cmd: &mut Command, dir: &Path) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let status = cmd
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_reads_seconds_minutes_and_final_stats() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(fuzz_seconds(&args(&[])), Ok(60));
        assert_eq!(fuzz_seconds(&args(&["45"])), Ok(45));
        assert_eq!(fuzz_seconds(&args(&["--minutes", "3"])), Ok(180));
        assert!(fuzz_seconds(&args(&["--minutes"])).is_err());
        assert!(fuzz_seconds(&args(&["--minutes", "x"])).is_err());
        let mut stats = FuzzStats::default();
        stats.read("stat::number_of_executed_units: 1234567");
        stats.read("stat::average_exec_per_sec:     41152");
        stats.read("stat::peak_rss_mb:              512");
        stats.read("#2048\tpulse  cov: 12 ft: 14 corp: 3/9b exec/s: 1024 rss: 40Mb");
        assert_eq!(
            stats,
            FuzzStats {
                executions: Some(1_234_567),
                per_second: Some(41_152),
                peak_rss_mb: Some(512),
            }
        );
    }

    #[test]
    fn tally_reads_nextest_and_libtest() {
        let mut t = Tally::default();
        t.read("     Summary [  12.345s] 120 tests run: 118 passed, 2 failed, 3 skipped");
        t.read("test result: ok. 7 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out");
        assert_eq!((t.passed, t.failed, t.skipped), (125, 2, 4));
        // One test: nextest says "1 test run".
        t.read("     Summary [  13.977s] 1 test run: 1 passed, 0 skipped");
        assert_eq!((t.passed, t.failed, t.skipped), (126, 2, 4));
        // A failed test's own libtest line, repeated indented by nextest: not again.
        t.read("    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured");
        assert_eq!((t.passed, t.failed, t.skipped), (126, 2, 4));
    }

    #[test]
    fn number_before_absent_is_zero() {
        assert_eq!(number_before("nothing here", " passed"), 0);
        assert_eq!(number_before("x passed", " passed"), 0);
    }
}
