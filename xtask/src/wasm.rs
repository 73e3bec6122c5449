//! The WebAssembly binding and its npm package (`bindings-wasm/`).
//!
//! - `cargo xtask wasm-package`: builds `target/npm/bearerflow/` (wasm-bindgen output for
//!   web and Node, `wasm-opt -Oz` from the npm package `binaryen`, the JavaScript layer
//!   bundled by esbuild, `.d.ts` from tsc, a `package.json` with `exports`) and prints
//!   what a browser downloads.
//! - [`ci`]: the wasm-bindgen tests in Node and in headless Chromium (every vector),
//!   `tsc --noEmit` on the typed usage and server examples, the Node integration tests and the
//!   browser test against the testbed. Every JavaScript test result is printed as a
//!   libtest `test result:` line, so `cargo xtask ci` counts it.
//! - [`size_report`]: part of `cargo xtask bench`.
//!
//! Tools are installed when missing (the wasm32 target, the wasm-bindgen CLI of the
//! version in `Cargo.lock`, Debian's `chromium` and `chromium-driver`, and the npm
//! packages of `bindings-wasm/js/tools/` into `target/js-tools/`) and skipped when present.

use crate::tools::works;
use crate::{cargo, root, run, run_tally, Tally};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn js_dir() -> PathBuf {
    root().join("bindings-wasm").join("js")
}

fn tools_dir() -> PathBuf {
    target_dir().join("js-tools")
}

/// The npm package folder.
pub fn package_dir() -> PathBuf {
    target_dir().join("npm").join("bearerflow")
}

fn bin(name: &str) -> PathBuf {
    tools_dir().join("node_modules").join(".bin").join(name)
}

/// The wasm-bindgen version pinned in `Cargo.lock` (the CLI must match it exactly).
fn wasm_bindgen_version() -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_string());
            }
        }
    }
    Err("wasm-bindgen is not in Cargo.lock".into())
}

/// The wasm32 target, the wasm-bindgen CLI and the npm tools.
fn ensure_build_tools() -> Result<(), String> {
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !targets.lines().any(|l| l.trim() == TARGET) {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    let version = wasm_bindgen_version()?;
    let installed = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !installed.split_whitespace().any(|w| w == version) {
        // Without --locked: the CLI's own lockfile names a crate version the registry
        // lacks (TOOLCHAIN.md).
        run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &version]))?;
    }
    ensure_npm_tools()
}

/// `bindings-wasm/js/tools/package.json` installed into `target/js-tools/` (reinstalled
/// when the lockfile changes), linked as `bindings-wasm/js/node_modules`, with the built
/// package linked in as `bearerflow` for the tests and the typed example.
fn ensure_npm_tools() -> Result<(), String> {
    let src = js_dir().join("tools");
    let dir = tools_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = std::fs::read(src.join("package-lock.json"))
        .map_err(|e| format!("package-lock.json: {e}"))?;
    let stamp = dir.join(".installed-lock");
    let current = std::fs::read(&stamp).unwrap_or_default();
    if current != lock || !dir.join("node_modules").is_dir() {
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(src.join(f), dir.join(f)).map_err(|e| format!("{f}: {e}"))?;
        }
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir))?;
        std::fs::write(&stamp, &lock).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    link(&dir.join("node_modules"), &js_dir().join("node_modules"))?;
    link(&package_dir(), &dir.join("node_modules").join("bearerflow"))
}

/// A symlink `at` → `to` (replacing an old one).
fn link(to: &Path, at: &Path) -> Result<(), String> {
    if std::fs::read_link(at).is_ok_and(|p| p == to) {
        return Ok(());
    }
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(to, at).map_err(|e| format!("{}: {e}", at.display()))
}

/// Debian's Chromium and its driver (TOOLCHAIN.md), for the browser tests.
fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMEDRIVER).exists() && works("chromium", &["--version"]) {
        return Ok(());
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "chromium", "chromium-driver"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get").args(["install", "-y", "chromium", "chromium-driver"]))?;
    }
    Ok(())
}

/// What `wasm-package` built, for the size report.
pub struct Built {
    /// The web `.wasm` after wasm-opt.
    pub web_wasm: PathBuf,
    /// The web entry: the JavaScript layer and the wasm-bindgen glue, bundled and minified.
    pub web_js: PathBuf,
    /// The wasm-bindgen web glue alone (before bundling).
    pub web_glue: PathBuf,
    /// The web `.wasm` before wasm-opt, with its name section (for twiggy).
    pub named_wasm: PathBuf,
}

/// Build `target/npm/bearerflow/`.
pub fn package() -> Result<Built, String> {
    ensure_build_tools()?;
    run(cargo().args([
        "build",
        "--locked",
        "-p",
        "bearerflow-wasm",
        "--target",
        TARGET,
        "--profile",
        PROFILE,
    ]))?;
    let input = target_dir()
        .join(TARGET)
        .join(PROFILE)
        .join("bearerflow_wasm.wasm");
    let glue_root = target_dir().join("wasm-bindgen");
    let pkg = package_dir();
    let _ = std::fs::remove_dir_all(&pkg);
    for (target, dir) in [("web", "web"), ("nodejs", "node")] {
        let out = glue_root.join(dir);
        let _ = std::fs::remove_dir_all(&out);
        run(Command::new("wasm-bindgen")
            .args(["--target", target, "--out-dir"])
            .arg(&out)
            .arg(&input))?;
        let dest = pkg.join(dir);
        std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        run(Command::new(bin("wasm-opt"))
            .arg("-Oz")
            .arg(out.join("bearerflow_wasm_bg.wasm"))
            .arg("-o")
            .arg(dest.join("bearerflow_wasm_bg.wasm")))?;
    }
    let js = js_dir();
    let esbuild = |entry: &str, glue: &Path, args: &[&str], out: &Path| {
        run(Command::new(bin("esbuild"))
            .arg(js.join("src").join(entry))
            .args(["--bundle", "--log-level=warning", "--legal-comments=none"])
            .arg(format!("--alias:bearerflow-wasm-glue={}", glue.display()))
            .args(args)
            .arg(format!("--outfile={}", out.display())))
    };
    esbuild(
        "node.ts",
        &glue_root.join("node").join("bearerflow_wasm.js"),
        &["--platform=node", "--format=cjs", "--target=node20"],
        &pkg.join("node").join("index.cjs"),
    )?;
    esbuild(
        "browser.ts",
        &glue_root.join("web").join("bearerflow_wasm.js"),
        &[
            "--platform=browser",
            "--format=esm",
            "--target=es2022",
            "--minify",
        ],
        &pkg.join("web").join("index.mjs"),
    )?;
    write(&pkg.join("node").join("index.mjs"), &node_esm_wrapper()?)?;
    // Declarations of the layer (tsconfig.json writes them into the package).
    run(Command::new(bin("tsc"))
        .arg("-p")
        .arg(js.join("tsconfig.json")))?;
    // The generated glue must match the types the layer was written against.
    check_glue_types(&glue_root)?;
    write(&pkg.join("package.json"), PACKAGE_JSON)?;
    write(&pkg.join("README.md"), PACKAGE_README)?;
    let built = Built {
        web_wasm: pkg.join("web").join("bearerflow_wasm_bg.wasm"),
        web_js: pkg.join("web").join("index.mjs"),
        web_glue: glue_root.join("web").join("bearerflow_wasm.js"),
        named_wasm: glue_root.join("web").join("bearerflow_wasm_bg.wasm"),
    };
    println!("npm package: {}", pkg.display());
    Ok(built)
}

/// `cargo xtask wasm-package`.
pub fn package_cmd() -> Result<(), String> {
    let built = package()?;
    report_sizes(&built)
}

/// The ESM entry for Node: the same module instance as `require` (one session state,
/// no dual-package hazard), its names re-exported.
fn node_esm_wrapper() -> Result<String, String> {
    let out = Command::new("node")
        .arg("-e")
        .arg("process.stdout.write(Object.keys(require(process.argv[1])).join(' '))")
        .arg(package_dir().join("node").join("index.cjs"))
        .output()
        .map_err(|e| format!("node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "node could not load the package: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !names.iter().any(|n| n == "createAuthFetch") {
        return Err("the Node bundle does not export createAuthFetch".into());
    }
    Ok(format!(
        "// The ESM face of index.cjs: one module instance for `import` and `require`.\n\
         import m from \"./index.cjs\";\n\
         export const {{ {} }} = m;\n\
         export default m;\n",
        names.join(", ")
    ))
}

/// `tsc --noEmit` on a file that assigns the generated glue to the layer's `Glue` type.
fn check_glue_types(glue_root: &Path) -> Result<(), String> {
    let dir = target_dir().join("wasm-typecheck");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let check = dir.join("glue-check.ts");
    let mut text = format!(
        "import type {{ WasmGuard, WasmSession }} from {:?};\n\
         // Every method the layer calls, with the parameters it passes; what they return is\n\
         // the Rust side's business (the generated types are wider: string for a phase).\n\
         type Shape<T> = {{ [K in keyof T]: T[K] extends (...a: infer A) => unknown ? (...a: A) => unknown : T[K] }};\n",
        js_dir().join("src").join("wasm.ts").display().to_string(),
    );
    for target in ["web", "node"] {
        text.push_str(&format!(
            "import * as {target} from {:?};\n\
             declare const {target}Session: InstanceType<typeof {target}.Session>;\n\
             export const {target}S: Shape<WasmSession> = {target}Session;\n\
             export const {target}New: new (c: string, s: Uint8Array, n: number) => unknown = {target}.Session;\n\
             export const {target}Restore: (c: string, t: string, s: Uint8Array, n: number) => unknown = {target}.Session.restore;\n\
             export const {target}Parse: (l: string[], m?: \"strict\" | \"lenient\") => unknown = {target}.parseChallenges;\n\
             export const {target}Bytes: (b: Uint8Array, m?: \"strict\" | \"lenient\") => unknown = {target}.parseChallengeBytes;\n\
             export const {target}Render: (c: unknown) => string = {target}.renderChallenge;\n\
             declare const {target}GuardI: InstanceType<typeof {target}.Guard>;\n\
             export const {target}G: Shape<WasmGuard> = {target}GuardI;\n\
             export const {target}GuardNew: new (r: string, m: string | undefined, realm: string | undefined) => unknown = {target}.Guard;\n\
             export const {target}Prm: (r: string, a: string[], s: string[], n: string | undefined) => string = {target}.protectedResourceMetadata;\n\
             export const {target}PrmUrl: (r: string) => string = {target}.protectedResourceMetadataUrl;\n",
            glue_root.join(target).join("bearerflow_wasm.js").display().to_string(),
        ));
    }
    write(&check, &text)?;
    run(Command::new(bin("tsc"))
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--allowImportingTsExtensions",
            "--target",
            "ES2022",
            "--module",
            "ESNext",
            "--moduleResolution",
            "Bundler",
            "--lib",
            "ES2022,DOM",
            "--types",
            "node",
            "--typeRoots",
        ])
        .arg(tools_dir().join("node_modules").join("@types"))
        .arg(&check))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn gzip_len(bytes: &[u8]) -> Result<usize, String> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).map_err(|e| e.to_string())?;
    enc.finish().map(|v| v.len()).map_err(|e| e.to_string())
}

fn sizes(path: &Path) -> Result<(usize, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((bytes.len(), gzip_len(&bytes)?))
}

/// What a browser downloads, raw and gzipped (gzip -9), against the 38 KiB target.
pub fn report_sizes(built: &Built) -> Result<(), String> {
    const TARGET_GZIP: usize = 38 * 1024;
    let wasm = sizes(&built.web_wasm)?;
    let js = sizes(&built.web_js)?;
    let glue = sizes(&built.web_glue)?;
    let kib = |n: usize| n as f64 / 1024.0;
    println!("\nwhat a browser downloads (web build, after wasm-opt -Oz; gzip -9):");
    println!("{:<52} {:>11} {:>11}", "file", "raw", "gzipped");
    println!(
        "{:<52} {:>8.1}KiB {:>8.1}KiB",
        "web/bearerflow_wasm_bg.wasm",
        kib(wasm.0),
        kib(wasm.1)
    );
    println!(
        "{:<52} {:>8.1}KiB {:>8.1}KiB",
        "web/index.mjs (JS layer + wasm-bindgen glue, minified)",
        kib(js.0),
        kib(js.1)
    );
    println!(
        "{:<52} {:>8.1}KiB {:>8.1}KiB",
        "  of which the wasm-bindgen glue (unminified, alone)",
        kib(glue.0),
        kib(glue.1)
    );
    let total = (wasm.0 + js.0, wasm.1 + js.1);
    println!(
        "{:<52} {:>8.1}KiB {:>8.1}KiB",
        "total",
        kib(total.0),
        kib(total.1)
    );
    println!(
        "target: at most {} KiB gzipped: {}",
        TARGET_GZIP / 1024,
        if total.1 <= TARGET_GZIP {
            "met"
        } else {
            "NOT met"
        }
    );
    if works("twiggy", &["--version"]) {
        println!("\ntwiggy top 25 (web .wasm before wasm-opt, with names):");
        run(Command::new("twiggy")
            .args(["top", "-n", "25"])
            .arg(&built.named_wasm))?;
    } else {
        println!("(twiggy not installed: `cargo install twiggy --locked` lists what weighs)");
    }
    Ok(())
}

/// Part of `cargo xtask bench`.
pub fn size_report() -> Result<(), String> {
    let built = package()?;
    report_sizes(&built)
}

/// The wasm and JavaScript tests; their results as one tally.
pub fn ci() -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut add = |t: Tally| {
        tally.passed += t.passed;
        tally.failed += t.failed;
        tally.skipped += t.skipped;
    };
    package()?;
    ensure_chromium()?;
    // Every vector through the Session class, in Node, then in headless Chromium.
    add(run_tally(cargo().args([
        "test",
        "--locked",
        "-p",
        "bearerflow-wasm",
        "--target",
        TARGET,
    ]))?);
    add(run_tally(
        cargo()
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("WASM_BINDGEN_USE_BROWSER", "1")
            .env("WASM_BINDGEN_TEST_TIMEOUT", "300")
            .args([
                "test",
                "--locked",
                "-p",
                "bearerflow-wasm",
                "--target",
                TARGET,
            ]),
    )?);
    // The typed usage and server examples against the package's declarations.
    run(Command::new(bin("tsc"))
        .arg("-p")
        .arg(js_dir().join("examples").join("tsconfig.json")))?;
    add(Tally {
        passed: 1,
        ..Tally::default()
    });
    // Node integration and browser tests against the testbed binary.
    run(cargo().args(["build", "--locked", "-p", "bearerflow-testbed"]))?;
    let testbed = target_dir().join("debug").join("bearerflow-testbed");
    let js = js_dir();
    let mut files: Vec<PathBuf> = Vec::new();
    for folder in ["node", "browser"] {
        let dir = js.join("test").join(folder);
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
            .collect();
        found.sort();
        files.extend(found);
    }
    add(run_tally(
        Command::new("node")
            .env("BEARERFLOW_TESTBED", &testbed)
            .env("BEARERFLOW_PACKAGE", package_dir())
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-reporter=spec",
                "--test-reporter-destination=stdout",
            ])
            .arg(format!(
                "--test-reporter={}",
                js.join("test").join("libtest-summary.mjs").display()
            ))
            .arg("--test-reporter-destination=stdout")
            .args(&files),
    )?);
    Ok(tally)
}

const PACKAGE_JSON: &str = r#"{
  "name": "bearerflow",
  "version": "0.1.0",
  "description": "Keeps an MCP client authorized: a fetch (and an auth provider) that refreshes, retries and authorizes, for the official MCP TypeScript SDK, in browsers and Node.",
  "license": "MIT OR Apache-2.0",
  "keywords": ["mcp", "oauth", "fetch", "refresh-token", "webassembly"],
  "engines": { "node": ">=20" },
  "main": "./node/index.cjs",
  "module": "./web/index.mjs",
  "types": "./types/node.d.ts",
  "exports": {
    ".": {
      "browser": {
        "types": "./types/browser.d.ts",
        "default": "./web/index.mjs"
      },
      "node": {
        "types": "./types/node.d.ts",
        "import": "./node/index.mjs",
        "require": "./node/index.cjs"
      },
      "types": "./types/node.d.ts",
      "import": "./web/index.mjs",
      "require": "./node/index.cjs"
    },
    "./package.json": "./package.json"
  },
  "files": ["node", "web", "types", "README.md"]
}
"#;

const PACKAGE_README: &str = "# bearerflow\n\n\
Keeps an MCP client authorized for the whole life of a session: hand the official MCP \
TypeScript SDK `createAuthFetch(options)` as the transport's `fetch` (or, with 2.x, \
`createAuthProvider(options)` as its `authProvider`, or `authMiddleware(options)` in \
`applyMiddlewares`). Refresh, retry, authorization, single flight across concurrent calls \
and across tabs are the bearerflow session machine's, compiled to WebAssembly.\n";
