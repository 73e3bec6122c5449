//! Installing what the test command needs on a fresh machine, and skipping what is there.

use crate::run;
use std::process::{Command, Stdio};

/// Whether `cmd args` runs and exits 0 (quietly).
pub fn works(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn installed_targets() -> String {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// rustup targets, components and the cargo subcommands `cargo xtask ci` uses.
pub fn ensure_ci_tools(with_fuzz: bool) -> Result<(), String> {
    let have = installed_targets();
    for target in ["thumbv7em-none-eabihf"] {
        if !have.lines().any(|l| l.trim() == target) {
            run(Command::new("rustup").args(["target", "add", target]))?;
        }
    }
    if !works("cargo", &["fmt", "--version"]) {
        run(Command::new("rustup").args(["component", "add", "rustfmt"]))?;
    }
    if !works("cargo", &["clippy", "--version"]) {
        run(Command::new("rustup").args(["component", "add", "clippy"]))?;
    }
    if with_fuzz {
        ensure_fuzz_tools()?;
    }
    Ok(())
}

/// A nightly toolchain and cargo-fuzz.
pub fn ensure_fuzz_tools() -> Result<(), String> {
    if !works("cargo", &["+nightly", "--version"]) {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    if !works("cargo", &["fuzz", "--version"]) {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// Whether cargo-nextest is installed (it is on these machines; fall back to cargo test).
pub fn has_nextest() -> bool {
    works("cargo", &["nextest", "--version"])
}
