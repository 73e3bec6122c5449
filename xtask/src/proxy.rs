//! `bearerflow proxy` with the official MCP SDKs as its local clients: the TypeScript
//! SDK's `Client` with `StdioClientTransport` (npm `@modelcontextprotocol/sdk`) and the
//! Python SDK's stdio client (PyPI `mcp`), each launching the proxy against the
//! testbed (`cli/tests/proxy_sdk/`). Installs what is missing (Node and npm, Python's
//! venv module, then the pinned SDKs under `target/proxy-sdk/`), skips what is there,
//! and counts both runs in the tally (each ends with libtest's summary line).

use crate::tools::works;
use crate::{cargo, root, run, run_tally, Tally};
use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn sdk_dir() -> PathBuf {
    target_dir().join("proxy-sdk")
}

fn tests_dir() -> PathBuf {
    root().join("cli").join("tests").join("proxy_sdk")
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages))
}

/// Node and npm, from Debian when missing.
fn ensure_node() -> Result<(), String> {
    if works("node", &["--version"]) && works("npm", &["--version"]) {
        return Ok(());
    }
    apt_install(&["nodejs", "npm"])
}

/// Python 3 with its venv module, from Debian when missing.
fn ensure_python() -> Result<(), String> {
    if works("python3", &["-m", "venv", "--help"])
        && works("python3", &["-m", "ensurepip", "--version"])
    {
        return Ok(());
    }
    apt_install(&["python3", "python3-venv"])
}

/// Copy `files` from `from` into `to`, returning whether any changed.
fn sync(from: &Path, to: &Path, files: &[&str]) -> Result<bool, String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let mut changed = false;
    for f in files {
        let src = std::fs::read(from.join(f)).map_err(|e| format!("{f}: {e}"))?;
        let dst = to.join(f);
        if std::fs::read(&dst).ok().as_deref() != Some(&src[..]) {
            std::fs::write(&dst, &src).map_err(|e| format!("{}: {e}", dst.display()))?;
            changed = true;
        }
    }
    Ok(changed)
}

/// The Node test folder with the pinned SDK installed.
fn node_env() -> Result<PathBuf, String> {
    ensure_node()?;
    let dir = sdk_dir().join("node");
    let changed = sync(
        &tests_dir().join("node"),
        &dir,
        &["package.json", "proxy.test.mjs"],
    )?;
    let installed = dir
        .join("node_modules")
        .join("@modelcontextprotocol")
        .join("sdk")
        .join("package.json");
    if changed || !installed.exists() {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir))?;
    }
    Ok(dir)
}

/// The venv's python with the pinned SDK installed.
fn python_env() -> Result<PathBuf, String> {
    ensure_python()?;
    let venv = sdk_dir().join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let requirements = tests_dir().join("python").join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let stamp = venv.join("installed-requirements.txt");
    let have = std::fs::read_to_string(&stamp).unwrap_or_default();
    if have != wanted {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements))?;
        std::fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    Ok(python)
}

/// Both SDK runs; their results as one tally.
pub fn ci() -> Result<Tally, String> {
    run(cargo().args(["build", "--locked", "-p", "bearerflow-cli"]))?;
    let bearerflow = target_dir().join("debug").join("bearerflow");
    let mut tally = Tally::default();
    let mut add = |t: Tally| {
        tally.passed += t.passed;
        tally.failed += t.failed;
        tally.skipped += t.skipped;
    };
    let node_dir = node_env()?;
    let reporter = root()
        .join("bindings-wasm")
        .join("js")
        .join("test")
        .join("libtest-summary.mjs");
    add(run_tally(
        Command::new("node")
            .env("BEARERFLOW_BIN", &bearerflow)
            .args([
                "--test",
                "--test-reporter=spec",
                "--test-reporter-destination=stdout",
            ])
            .arg(format!("--test-reporter={}", reporter.display()))
            .arg("--test-reporter-destination=stdout")
            .arg(node_dir.join("proxy.test.mjs")),
    )?);
    let python = python_env()?;
    add(run_tally(
        Command::new(python)
            .env("BEARERFLOW_BIN", &bearerflow)
            .arg(tests_dir().join("python").join("test_proxy.py")),
    )?);
    Ok(tally)
}
