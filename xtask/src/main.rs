//! `cargo xtask`: the one place that knows how to build and test everything.
//!
//! - `cargo xtask ci`: the test command. Installs what it needs when missing, then runs
//!   fmt, clippy, the no_std builds, every test, the doc tests and a fuzz smoke run, and
//!   ends with one line `ci: N passed, M failed`.
//! - `cargo xtask bench`: criterion benches, then a side-by-side ratio table.
//! - `cargo xtask fuzz [SECONDS]`: every fuzz target for SECONDS each (default 60).
//! - `cargo xtask wasm-package`: the npm package (see `wasm.rs`).
//! - `cargo xtask conformance`: the official MCP conformance runner's client `auth/*`
//!   scenarios against `bearerflow conformance-client` (see `conformance/NOTES.md`).
//! - `cargo xtask interop`: bearerflow against a certified OpenID Provider
//!   (`oidc-provider`) and the official TypeScript SDK's `requireBearerAuth` (see
//!   `interop.rs`).

mod bench;
mod c_abi;
mod conformance;
mod interop;
mod schema;
mod tools;
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
        Some("fuzz") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            fuzz(secs)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci [--no-fuzz] [--no-conformance] [--no-interop] | bench | fuzz [SECONDS] | conformance [--scenario NAME]... | interop [--case NAME]... | c-package [--prefix DIR] | c-abi | wasm-package>\n\
                 ci           the full test run CI does (installs missing tools)\n\
                 bench        criterion benches and the comparison report\n\
                 fuzz         every fuzz target for SECONDS each\n\
                 conformance  the official MCP conformance suite (client auth scenarios)\n\
                 interop      against a certified OpenID Provider (oidc-provider) and the SDK's requireBearerAuth\n\
                 c-package    the C library's install tree [--prefix DIR] (pkg-config, CMake)\n\
                 c-abi        only the C ABI checks of ci (header, harness, C++, ctypes, example)\n\
                 wasm-package the npm package in target/npm/bearerflow, and what a browser downloads"
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
    /// or libtest's `test result: ok. P passed; F failed; I ignored; ...`.
    fn read(&mut self, line: &str) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("test result:") {
            self.passed += number_before(rest, " passed");
            self.failed += number_before(rest, " failed");
            self.skipped += number_before(rest, " ignored");
        } else if line.starts_with("Summary [") && line.contains("tests run:") {
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
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    cmd.current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let t_out = echo_and_tally(child.stdout.take(), |l| println!("{l}"));
    let t_err = echo_and_tally(child.stderr.take(), |l| eprintln!("{l}"));
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    let a = t_out.join().unwrap_or_default();
    let b = t_err.join().unwrap_or_default();
    eprintln!("<== {:.1}s", started.elapsed().as_secs_f64());
    let tally = Tally {
        passed: a.passed + b.passed,
        failed: a.failed + b.failed,
        skipped: a.skipped + b.skipped,
    };
    if status.success() {
        Ok(tally)
    } else {
        Err(format!("{shown} failed ({status})"))
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
        add(run_tally(cargo().args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
        ]))?);
    } else {
        add(run_tally(cargo().args([
            "test",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
            "--lib",
            "--bins",
            "--tests",
        ]))?);
    }
    add(run_tally(cargo().args([
        "test",
        "--workspace",
        "--all-features",
        "--locked",
        "--doc",
    ]))?);
    add(schema::check()?);

    // The C ABI: header, C harness (valgrind, ASan/UBSan), C++, ctypes, libcurl example.
    add(c_abi::ci()?);

    // The WebAssembly binding in Node and Chromium, and the npm package's JS tests.
    add(wasm::ci()?);

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
        fuzz(20)?;
    }

    println!(
        "\nci finished in {:.0}s ({} skipped)",
        started.elapsed().as_secs_f64(),
        tally.skipped
    );
    println!("ci: {} passed, {} failed", tally.passed, tally.failed);
    if tally.failed > 0 {
        return Err("tests failed".into());
    }
    Ok(())
}

fn fuzz(seconds: u64) -> Result<(), String> {
    tools::ensure_fuzz_tools()?;
    let fuzz_dir = root().join("fuzz");
    run_in(
        Command::new("cargo").args(["+nightly", "fuzz", "build"]),
        &fuzz_dir,
    )?;
    for target in FUZZ_TARGETS {
        let max_time = format!("-max_total_time={seconds}");
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "fuzz", "run", target, "--", &max_time])
            .arg("-print_final_stats=1")
            .current_dir(&fuzz_dir);
        run_in(&mut cmd, &fuzz_dir)?;
    }
    Ok(())
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
    fn tally_reads_nextest_and_libtest() {
        let mut t = Tally::default();
        t.read("     Summary [  12.345s] 120 tests run: 118 passed, 2 failed, 3 skipped");
        t.read("test result: ok. 7 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out");
        assert_eq!((t.passed, t.failed, t.skipped), (125, 2, 4));
    }

    #[test]
    fn number_before_absent_is_zero() {
        assert_eq!(number_before("nothing here", " passed"), 0);
        assert_eq!(number_before("x passed", " passed"), 0);
    }
}
