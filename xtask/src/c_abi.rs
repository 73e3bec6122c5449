//! The C ABI (`bindings-c/`): `cargo xtask c-package` and its part of `cargo xtask ci`.
//!
//! - `cargo xtask c-package [--prefix DIR]` builds the library with the `c-release`
//!   profile and writes an install tree (default `target/c-package`): `include/`,
//!   `lib/libbearerflow.{a,so}`, `lib/pkgconfig/bearerflow.pc` (its `Libs.private` is
//!   rustc's `--print native-static-libs`) and `lib/cmake/bearerflow/` (so that
//!   `find_package(bearerflow)` works). Both files are relocatable: they find the tree
//!   from their own location.
//! - In `ci`: regenerate the header with cbindgen and compare it with the committed one;
//!   check that the `.so` exports only `bf_` symbols; build the C harness (`gcc -std=c11 -Wall -Wextra -Werror -pedantic`) and run it
//!   under valgrind (0 leaks, 0 errors) and built with `-fsanitize=address,undefined`;
//!   compile the header as C++17; run the Python ctypes smoke test; build the libcurl
//!   example once through pkg-config and once through CMake and run each against
//!   `bearerflow testbed --ttl 5`. Every result is a line the tally counts.
//! - `sizes()` for `cargo xtask bench`: the stripped `.so` and the `.a`.

use crate::tools::works;
use crate::{cargo, root, run, run_tally, Tally};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cbindgen release the committed header was generated with: another release may
/// format it differently, so CI uses exactly this one.
const CBINDGEN_VERSION: &str = "0.29.4";

/// Debian packages the C checks need, each with the command that shows it is there
/// (`None`: a library, asked of dpkg). Installed when missing.
const APT_PACKAGES: &[(&str, Option<&str>)] = &[
    ("libcurl4-openssl-dev", None), // the libcurl example host
    ("libcjson-dev", None),         // the C harness's JSON reader
    ("valgrind", Some("valgrind")), // leak and memory-error checks
    ("cmake", Some("cmake")),       // the example's CMake build
    ("pkg-config", Some("pkg-config")),
    ("gcc", Some("gcc")),
    ("g++", Some("g++")),         // the C++ header check
    ("python3", Some("python3")), // the ctypes smoke test
];

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Where the C checks put what they build.
fn work_dir() -> PathBuf {
    target_dir().join("c-abi")
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Install the Debian packages that are missing (refreshing the package lists once if
/// the first attempt fails, as on a fresh machine).
fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .filter(|(package, command)| {
            !(command.is_some_and(|c| works(c, &["--version"])) || dpkg_installed(package))
        })
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = |missing: &[&str]| {
        run(Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y"])
            .args(missing))
    };
    if install(&missing).is_err() {
        run(Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=600", "update"]))?;
        install(&missing)?;
    }
    Ok(())
}

/// The cbindgen to use: the one on PATH if it is the pinned release, else the pinned
/// release installed under `target/tools`.
fn cbindgen() -> Result<PathBuf, String> {
    let version_of = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let wanted = format!("cbindgen {CBINDGEN_VERSION}");
    let on_path = PathBuf::from("cbindgen");
    if version_of(&on_path).as_deref() == Some(wanted.as_str()) {
        return Ok(on_path);
    }
    let tools = target_dir().join("tools");
    let pinned = tools.join("bin").join("cbindgen");
    if version_of(&pinned).as_deref() != Some(wanted.as_str()) {
        run(cargo()
            .args([
                "install",
                "cbindgen",
                "--locked",
                "--version",
                CBINDGEN_VERSION,
            ])
            .arg("--root")
            .arg(&tools))?;
    }
    Ok(pinned)
}

/// An install tree.
pub struct Package {
    pub prefix: PathBuf,
    pub so: PathBuf,
    pub a: PathBuf,
}

/// `cargo xtask c-package [--prefix DIR]`.
pub fn package_cmd(args: &[String]) -> Result<(), String> {
    let prefix = match args {
        [] => target_dir().join("c-package"),
        [flag, dir] if flag == "--prefix" => PathBuf::from(dir),
        _ => return Err("usage: cargo xtask c-package [--prefix DIR]".into()),
    };
    let p = package(&prefix)?;
    println!("C package in {}", p.prefix.display());
    println!(
        "  build against it: PKG_CONFIG_PATH={}/lib/pkgconfig pkg-config --cflags --libs bearerflow",
        p.prefix.display()
    );
    println!(
        "  or: cmake -DCMAKE_PREFIX_PATH={} … with find_package(bearerflow)",
        p.prefix.display()
    );
    Ok(())
}

fn package_version() -> Result<String, String> {
    let manifest = root().join("bindings-c").join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("{}: no version", manifest.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Build the `c-release` library and write the install tree at `prefix`.
pub fn package(prefix: &Path) -> Result<Package, String> {
    let native_file = work_dir().join("native-static-libs.txt");
    std::fs::create_dir_all(work_dir()).map_err(|e| format!("{}: {e}", work_dir().display()))?;
    // One build gives both libraries and the static link line.
    run(cargo()
        .args([
            "rustc",
            "-p",
            "bearerflow-c",
            "--profile",
            "c-release",
            "--locked",
            "--",
        ])
        .arg(format!(
            "--print=native-static-libs={}",
            native_file.display()
        )))?;
    let native = std::fs::read_to_string(&native_file)
        .map_err(|e| format!("{}: {e}", native_file.display()))?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let built = target_dir().join("c-release");
    let include = prefix.join("include");
    let lib = prefix.join("lib");
    for dir in [&include, &lib] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let so = lib.join("libbearerflow.so");
    let a = lib.join("libbearerflow.a");
    copy(&built.join("libbearerflow_c.so"), &so)?;
    copy(&built.join("libbearerflow_c.a"), &a)?;
    copy(
        &root().join("bindings-c/include/bearerflow.h"),
        &include.join("bearerflow.h"),
    )?;
    let version = package_version()?;
    write(
        &lib.join("pkgconfig/bearerflow.pc"),
        &format!(
            "# bearerflow's C ABI (cargo xtask c-package). Relocatable: paths are relative to\n\
             # this file. Static linking: pkg-config --static --libs bearerflow.\n\
             prefix=${{pcfiledir}}/../..\n\
             libdir=${{prefix}}/lib\n\
             includedir=${{prefix}}/include\n\n\
             Name: bearerflow\n\
             Description: OAuth 2.1 bearer-token session machine for MCP clients (C ABI)\n\
             Version: {version}\n\
             Cflags: -I${{includedir}}\n\
             Libs: -L${{libdir}} -lbearerflow\n\
             Libs.private: {native}\n"
        ),
    )?;
    let cmake_libs = native
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("-l"))
        .collect::<Vec<_>>()
        .join(";");
    write(
        &lib.join("cmake/bearerflow/bearerflowConfig.cmake"),
        &format!(
            "# find_package(bearerflow) for bearerflow's C ABI (cargo xtask c-package).\n\
             # Targets: bearerflow::bearerflow (shared) and bearerflow::bearerflow_static.\n\
             get_filename_component(_bearerflow_prefix \"${{CMAKE_CURRENT_LIST_DIR}}/../../..\" ABSOLUTE)\n\
             if(NOT TARGET bearerflow::bearerflow)\n\
             \x20 add_library(bearerflow::bearerflow SHARED IMPORTED)\n\
             \x20 set_target_properties(bearerflow::bearerflow PROPERTIES\n\
             \x20   IMPORTED_LOCATION \"${{_bearerflow_prefix}}/lib/libbearerflow.so\"\n\
             \x20   IMPORTED_SONAME \"libbearerflow.so\"\n\
             \x20   INTERFACE_INCLUDE_DIRECTORIES \"${{_bearerflow_prefix}}/include\")\n\
             \x20 add_library(bearerflow::bearerflow_static STATIC IMPORTED)\n\
             \x20 set_target_properties(bearerflow::bearerflow_static PROPERTIES\n\
             \x20   IMPORTED_LOCATION \"${{_bearerflow_prefix}}/lib/libbearerflow.a\"\n\
             \x20   INTERFACE_INCLUDE_DIRECTORIES \"${{_bearerflow_prefix}}/include\"\n\
             \x20   INTERFACE_LINK_LIBRARIES \"{cmake_libs}\")\n\
             endif()\n\
             unset(_bearerflow_prefix)\n"
        ),
    )?;
    write(
        &lib.join("cmake/bearerflow/bearerflowConfigVersion.cmake"),
        &format!(
            "set(PACKAGE_VERSION \"{version}\")\n\
             if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)\n\
             \x20 set(PACKAGE_VERSION_COMPATIBLE FALSE)\n\
             else()\n\
             \x20 set(PACKAGE_VERSION_COMPATIBLE TRUE)\n\
             \x20 if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)\n\
             \x20   set(PACKAGE_VERSION_EXACT TRUE)\n\
             \x20 endif()\n\
             endif()\n"
        ),
    )?;
    Ok(Package {
        prefix: prefix.to_path_buf(),
        so,
        a,
    })
}

/// The stripped size of the shared library and the size of the static one, in bytes,
/// from a fresh `c-release` package.
pub fn sizes() -> Result<(u64, u64), String> {
    let p = package(&work_dir().join("install"))?;
    let stripped = work_dir().join("libbearerflow.stripped.so");
    copy(&p.so, &stripped)?;
    run(Command::new("strip").arg("--strip-all").arg(&stripped))?;
    let len = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    Ok((len(&stripped)?, len(&p.a)?))
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Result<Vec<String>, String> {
    let out = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .args(args)
        .output()
        .map_err(|e| format!("pkg-config: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pkg-config {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// One passed test, for a check that is not a test runner itself.
fn one_passed() -> Tally {
    Tally {
        passed: 1,
        ..Tally::default()
    }
}

fn add(total: &mut Tally, t: Tally) {
    total.passed += t.passed;
    total.failed += t.failed;
    total.skipped += t.skipped;
}

/// The C ABI's part of `cargo xtask ci`.
pub fn ci() -> Result<Tally, String> {
    ensure_packages()?;
    let cbindgen = cbindgen()?;
    let work = work_dir();
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut tally = Tally::default();

    // The committed header is what cbindgen makes of the sources.
    let fresh = work.join("bearerflow.h");
    run(Command::new(&cbindgen)
        .args([
            "--config",
            "bindings-c/cbindgen.toml",
            "--crate",
            "bearerflow-c",
            "--quiet",
        ])
        .arg("--output")
        .arg(&fresh))?;
    let committed = root().join("bindings-c/include/bearerflow.h");
    let same = std::fs::read(&fresh).ok() == std::fs::read(&committed).ok();
    if !same {
        let _ = run(Command::new("diff").arg("-u").arg(&committed).arg(&fresh));
        return Err(format!(
            "{} is out of date: regenerate it with `cbindgen --config bindings-c/cbindgen.toml --crate bearerflow-c --output bindings-c/include/bearerflow.h` (cbindgen {CBINDGEN_VERSION})",
            committed.display()
        ));
    }
    eprintln!("header: bindings-c/include/bearerflow.h matches cbindgen's output");
    add(&mut tally, one_passed());

    let pkg = package(&work.join("install"))?;
    let include = pkg.prefix.join("include");
    let lib = pkg.prefix.join("lib");

    // The shared library exports the C API and nothing else.
    let exported = exported_symbols(&pkg.so)?;
    let stray: Vec<&String> = exported.iter().filter(|s| !s.starts_with("bf_")).collect();
    if !stray.is_empty() || exported.is_empty() {
        return Err(format!(
            "{} exports symbols without the bf_ prefix: {stray:?}",
            pkg.so.display()
        ));
    }
    eprintln!(
        "symbols: libbearerflow.so exports {} symbols, all bf_",
        exported.len()
    );
    add(&mut tally, one_passed());
    let sources: Vec<PathBuf> = [
        "harness.c",
        "util.c",
        "session_vectors.c",
        "challenge_vectors.c",
        "bad_input.c",
        "guard.c",
        "host_api.c",
    ]
    .iter()
    .map(|f| root().join("bindings-c/tests/c").join(f))
    .collect();
    let strict = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];
    let vectors = root().join("tests/vectors");

    // The harness on the shared library, under valgrind.
    let harness = work.join("harness");
    run(Command::new("gcc")
        .args(strict)
        .arg("-I")
        .arg(&include)
        .args(&sources)
        .arg("-o")
        .arg(&harness)
        .arg("-L")
        .arg(&lib)
        .args(["-lbearerflow", "-lcjson"])
        .arg(format!("-Wl,-rpath,{}", lib.display())))?;
    add(
        &mut tally,
        run_tally(
            Command::new("valgrind")
                .args([
                    "-q",
                    "--leak-check=full",
                    "--show-leak-kinds=all",
                    "--errors-for-leak-kinds=all",
                    "--error-exitcode=99",
                ])
                .arg(&harness)
                .arg(&vectors),
        )?,
    );

    // The harness on the static library (linked with the .pc's Libs.private), under
    // AddressSanitizer and UndefinedBehaviorSanitizer.
    let asan = work.join("harness-asan");
    let static_libs: Vec<String> = pkg_config(&pkg.prefix, &["--static", "--libs", "bearerflow"])?
        .into_iter()
        .map(|f| {
            if f == "-lbearerflow" {
                pkg.a.display().to_string()
            } else {
                f
            }
        })
        .collect();
    run(Command::new("gcc")
        .args(strict)
        .args([
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ])
        .arg("-I")
        .arg(&include)
        .args(&sources)
        .arg("-o")
        .arg(&asan)
        .args(&static_libs)
        .arg("-lcjson"))?;
    add(
        &mut tally,
        run_tally(
            Command::new(&asan)
                .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
                .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
                .arg(&vectors),
        )?,
    );

    // The header as C++17.
    run(Command::new("g++")
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-c",
        ])
        .arg("-I")
        .arg(&include)
        .arg(root().join("bindings-c/tests/cpp/header_check.cpp"))
        .arg("-o")
        .arg(work.join("header_check.o")))?;
    eprintln!("header: compiles as C++17");
    add(&mut tally, one_passed());

    // Python drives one refresh through the shared library.
    add(
        &mut tally,
        run_tally(
            Command::new("python3")
                .arg(root().join("bindings-c/tests/python/smoke.py"))
                .arg(&pkg.so),
        )?,
    );

    add(&mut tally, example(&pkg)?);
    Ok(tally)
}

/// The dynamic symbols a shared library defines.
fn exported_symbols(so: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(so)
        .output()
        .map_err(|e| format!("nm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nm {}: {}",
            so.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// A testbed process, killed when dropped.
struct Testbed {
    child: Child,
    mcp_url: String,
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `"key": "value"` in one JSON line (the testbed's line has plain URLs).
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = line[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn start_testbed(bin: &Path) -> Result<Testbed, String> {
    let mut child = Command::new(bin)
        .args(["testbed", "--ttl", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let stdout = child.stdout.take();
    let mut line = String::new();
    if let Some(out) = stdout {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let mut testbed = Testbed {
        child,
        mcp_url: String::new(),
    };
    match json_string_field(&line, "mcp_url") {
        Some(mcp_url) => {
            testbed.mcp_url = mcp_url;
            Ok(testbed)
        }
        // Dropping `testbed` stops the process.
        None => Err(format!("the testbed printed no mcp_url: {line:?}")),
    }
}

/// Build the libcurl example through pkg-config and through CMake, and run each against
/// `bearerflow testbed --ttl 5`.
fn example(pkg: &Package) -> Result<Tally, String> {
    let work = work_dir();
    let source = root().join("examples/c");
    run(cargo().args(["build", "-p", "bearerflow-cli", "--locked"]))?;
    let bin = target_dir().join("debug").join("bearerflow");

    // pkg-config, against the shared library.
    let by_pkg_config = work.join("mcp_client-pkg-config");
    let flags = pkg_config(
        &pkg.prefix,
        &["--cflags", "--libs", "bearerflow", "libcurl"],
    )?;
    run(Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"])
        .arg(source.join("mcp_client.c"))
        .arg("-o")
        .arg(&by_pkg_config)
        .args(&flags)
        .arg(format!("-Wl,-rpath,{}", pkg.prefix.join("lib").display())))?;

    // CMake, against the static library.
    let build = work.join("cmake-build");
    run(Command::new("cmake")
        .arg("-S")
        .arg(&source)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", pkg.prefix.display()))
        .arg("-DCMAKE_BUILD_TYPE=Release"))?;
    run(Command::new("cmake").arg("--build").arg(&build))?;
    let by_cmake = build.join("mcp_client");

    let mut tally = Tally::default();
    for (how, client) in [("pkg-config", &by_pkg_config), ("CMake", &by_cmake)] {
        let testbed = start_testbed(&bin)?;
        let started = Instant::now();
        run_limited(
            Command::new(client).arg(&testbed.mcp_url),
            Duration::from_secs(300),
        )
        .map_err(|e| format!("the example built with {how}: {e}"))?;
        eprintln!(
            "example ({how}): 0 failed calls, at most one refresh per expiry ({:.0}s)",
            started.elapsed().as_secs_f64()
        );
        add(&mut tally, one_passed());
    }
    Ok(tally)
}

/// Run a command with its output shown, killing it if it runs longer than `limit`.
fn run_limited(cmd: &mut Command, limit: Duration) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let mut child = cmd
        .current_dir(root())
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{shown} failed ({status})")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} ran longer than {}s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    }
}

/// `cargo xtask bench`'s line for the C library: the stripped `.so` (target: at most
/// 400 KiB) and the `.a`.
pub fn report_sizes() -> Result<(), String> {
    if !works("strip", &["--version"]) {
        return Err("strip (binutils) is needed to measure the C library".into());
    }
    let (so, a) = sizes()?;
    let kib = |n: u64| n as f64 / 1024.0;
    println!(
        "\nC library (profile c-release: opt-level z, LTO, codegen-units 1, panic unwind):\n\
         \x20 libbearerflow.so stripped  {:>8.1} KiB  (target at most 400 KiB)\n\
         \x20 libbearerflow.a            {:>8.1} KiB",
        kib(so),
        kib(a)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_testbed_line() {
        let line = r#"{"issuer":"http://127.0.0.1:4000","mcp_url":"http://127.0.0.1:4000/mcp","access_ttl_ms":5000}"#;
        assert_eq!(
            json_string_field(line, "mcp_url").as_deref(),
            Some("http://127.0.0.1:4000/mcp")
        );
        assert_eq!(json_string_field(line, "nope"), None);
    }
}
