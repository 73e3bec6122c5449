//! `cargo xtask embedded`: bearerflow on a Cortex-M4F, for real.
//!
//! Builds `examples/embedded/` (its own crate and lockfile, outside the workspace) for
//! `thumbv7em-none-eabihf`, boots its `firmware` and `device` binaries in QEMU's
//! `mps2-an386` machine with a time limit, and fails on a non-zero exit, a panic or
//! fault, or any failed check (a session vector that replays differently is one).
//! Each binary prints libtest lines; they are counted and the run ends with
//! `embedded: N passed, M failed`. Installs what is missing: the rustup target, and
//! Debian's `qemu-system-arm`.
//!
//! `cargo xtask bench` calls [`bench_report`]: flash and static RAM read from the ELF
//! section headers (the `object` crate), bearerflow's share of the flash (the `device`
//! binary against `baseline`, the same runtime without bearerflow) and a per-crate
//! split by symbol, and the heap, stack and hot-path figures the binaries print.

use crate::{root, tools, Tally};
use object::{Object, ObjectSection, ObjectSymbol};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGET: &str = "thumbv7em-none-eabihf";
/// The binaries `cargo xtask embedded` runs (`baseline` is only measured).
const RUN: [&str; 2] = ["firmware", "device"];
/// A generous limit: the whole firmware takes a few seconds of QEMU time here.
const TIME_LIMIT: Duration = Duration::from_secs(300);
/// The machine and how it is run; `examples/embedded/.cargo/config.toml` has the same
/// runner for `cargo run`. `-icount shift=0` makes SysTick count executed instructions
/// (see `examples/embedded/src/hotpath.rs`).
const QEMU_ARGS: [&str; 13] = [
    "-machine",
    "mps2-an386",
    "-cpu",
    "cortex-m4",
    "-nographic",
    "-monitor",
    "none",
    "-serial",
    "none",
    "-icount",
    "shift=0",
    "-semihosting-config",
    "enable=on,target=native",
];

fn crate_dir() -> PathBuf {
    root().join("examples").join("embedded")
}

fn target_dir() -> PathBuf {
    crate_dir().join("target")
}

fn elf(bin: &str) -> PathBuf {
    target_dir().join(TARGET).join("release").join(bin)
}

/// The rustup target and QEMU, installed when missing.
fn ensure_tools() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == TARGET) {
        crate::run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    if tools::works("qemu-system-arm", &["--version"]) {
        return Ok(());
    }
    let install = || {
        crate::run(Command::new("apt-get").args([
            "install",
            "-y",
            "--no-install-recommends",
            "qemu-system-arm",
        ]))
    };
    if install().is_err() {
        // A fresh machine may have no package lists yet.
        crate::run(Command::new("apt-get").arg("update"))?;
        install()?;
    }
    if tools::works("qemu-system-arm", &["--version"]) {
        Ok(())
    } else {
        Err("qemu-system-arm is still missing after apt-get install".into())
    }
}

/// `cargo SUBCOMMAND --release --bins` for the target in the firmware crate, in its own
/// target folder.
///
/// Not `--locked`: the crate's own lockfile follows core's dependencies, which change
/// on main (an updated lockfile is committed with such a change).
fn cargo_firmware(subcommand: &str, extra: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("cargo");
    cmd.args([
        subcommand,
        "--release",
        "--bins",
        "--target",
        TARGET,
        "--target-dir",
    ])
    .arg(target_dir())
    .args(extra)
    // The workspace's settings must not leak into the firmware build.
    .env_remove("CARGO_TARGET_DIR")
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_ENCODED_RUSTFLAGS");
    crate::run_in(&mut cmd, &crate_dir())
}

/// Build every binary of the firmware crate (release: what a device ships).
fn build() -> Result<(), String> {
    cargo_firmware("build", &[])
}

/// The firmware crate is outside the workspace, so the workspace's fmt and clippy do
/// not see it: check it here.
fn lint() -> Result<(), String> {
    crate::run_in(
        Command::new("cargo").args(["fmt", "--", "--check"]),
        &crate_dir(),
    )?;
    cargo_firmware("clippy", &["--", "-D", "warnings"])
}

/// What one QEMU run printed.
struct Boot {
    tally: Tally,
    measures: Vec<(String, String)>,
    summaries: u32,
    fault: Option<String>,
}

/// Boot `bin` in QEMU, echo its output, count its test lines, and kill it at the
/// time limit.
fn boot(bin: &str) -> Result<Boot, String> {
    let path = elf(bin);
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args(QEMU_ARGS).arg("-kernel").arg(&path);
    let shown = format!("{cmd:?}");
    eprintln!("\n==> {shown}");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let out = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut boot = Boot {
            tally: Tally::default(),
            measures: Vec::new(),
            summaries: 0,
            fault: None,
        };
        if let Some(out) = out {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{line}");
                boot.read(&line);
            }
        }
        boot
    });
    let err = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        if let Some(err) = err {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
            }
        }
    });
    let status = loop {
        match child.try_wait().map_err(|e| format!("{shown}: {e}"))? {
            Some(status) => break status,
            None if started.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{bin}: still running after {}s under QEMU (killed)",
                    TIME_LIMIT.as_secs()
                ));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let boot = reader
        .join()
        .map_err(|_| String::from("output reader panicked"))?;
    let _ = err_reader.join();
    eprintln!("<== {:.1}s", started.elapsed().as_secs_f64());
    if let Some(fault) = &boot.fault {
        return Err(format!("{bin}: {fault}"));
    }
    if !status.success() {
        return Err(format!("{bin}: QEMU exited with {status}"));
    }
    if boot.summaries == 0 || boot.tally.passed == 0 {
        return Err(format!("{bin}: exited 0 without a test result line"));
    }
    if boot.tally.failed > 0 {
        return Err(format!("{bin}: {} checks failed", boot.tally.failed));
    }
    Ok(boot)
}

impl Boot {
    fn read(&mut self, line: &str) {
        self.tally.read(line);
        if line.starts_with("test result:") {
            self.summaries += 1;
        }
        if line.starts_with("panicked") || line.starts_with("hard fault") {
            self.fault.get_or_insert_with(|| line.to_string());
        }
        if let Some(rest) = line.strip_prefix("measure: ") {
            if let Some((key, value)) = rest.split_once(" = ") {
                self.measures.push((key.to_string(), value.to_string()));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.measures
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `cargo xtask embedded`: install, build, boot each binary; the tally of checks.
/// `--measure` prints the figures `cargo xtask bench` prints instead.
pub fn run(args: &[String]) -> Result<Tally, String> {
    if args.iter().any(|a| a == "--measure") {
        return bench_report().map(|()| Tally::default());
    }
    ensure_tools()?;
    lint()?;
    build()?;
    let mut tally = Tally::default();
    for bin in RUN {
        let boot = boot(bin)?;
        tally.passed += boot.tally.passed;
        tally.failed += boot.tally.failed;
    }
    println!("embedded: {} passed, {} failed", tally.passed, tally.failed);
    Ok(tally)
}

/// Sizes read from one ELF.
#[derive(Default, Debug, Clone)]
struct Sizes {
    text: u64,
    rodata: u64,
    vector_table: u64,
    data: u64,
    bss: u64,
    /// `.bss` taken by heap arenas (statics named `*ARENA*`).
    arenas: u64,
    /// `.text` + `.rodata` bytes of symbols, by crate.
    by_crate: BTreeMap<String, u64>,
}

impl Sizes {
    fn flash(&self) -> u64 {
        self.text + self.rodata
    }
}

/// The crate a demangled symbol belongs to: the first path segment, or for a trait
/// impl `<T as Trait>::f` the crate of `T` (as cargo-bloat attributes them). Symbols
/// that are not Rust paths (`memcpy`, `__aeabi_*`, the vector table) go to `[C/asm]`,
/// local constants to `[anonymous constants]`.
fn crate_of(demangled: &str) -> String {
    if demangled.starts_with(".L") {
        // Local constants (`.Lanon.<hash>.N`): after LTO nothing says whose they are.
        return "[anonymous constants]".to_string();
    }
    let mut name = demangled;
    while let Some(rest) = name.strip_prefix('<') {
        name = rest;
    }
    let name = name
        .trim_start_matches('&')
        .trim_start_matches("mut ")
        .trim_start_matches("dyn ")
        .trim_start_matches('[');
    match name.split_once("::") {
        Some((krate, _))
            if !krate.is_empty()
                && krate.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            krate.to_string()
        }
        _ => "[C/asm]".to_string(),
    }
}

fn sizes(path: &Path) -> Result<Sizes, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut s = Sizes::default();
    let mut flash_sections = Vec::new();
    let mut bss_section = None;
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        let size = section.size();
        match name {
            ".text" => s.text += size,
            ".rodata" => s.rodata += size,
            ".vector_table" => s.vector_table += size,
            ".data" => s.data += size,
            ".bss" | ".uninit" => s.bss += size,
            _ => continue,
        }
        if matches!(name, ".text" | ".rodata") {
            flash_sections.push(section.index());
        }
        if name == ".bss" {
            bss_section = Some(section.index());
        }
    }
    for symbol in file.symbols() {
        let Some(index) = symbol.section_index() else {
            continue;
        };
        let name = symbol.name().unwrap_or("");
        if Some(index) == bss_section && name.contains("ARENA") {
            s.arenas += symbol.size();
        }
        if !flash_sections.contains(&index) || symbol.size() == 0 {
            continue;
        }
        let demangled = format!("{:#}", rustc_demangle::demangle(name));
        *s.by_crate.entry(crate_of(&demangled)).or_default() += symbol.size();
    }
    Ok(s)
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// The bytes of the session vectors the firmware embeds.
fn vector_bytes() -> u64 {
    let dir = root().join("tests").join("vectors").join("session");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Flash, RAM, heap, stack and hot-path figures for `cargo xtask bench`.
pub fn bench_report() -> Result<(), String> {
    ensure_tools()?;
    build()?;
    let firmware = boot("firmware")?;
    let device = boot("device")?;
    let fw = sizes(&elf("firmware"))?;
    let dev = sizes(&elf("device"))?;
    let base = sizes(&elf("baseline"))?;
    let bearerflow = dev.flash().saturating_sub(base.flash());

    println!("\nembedded (thumbv7em-none-eabihf, opt-level \"s\", fat LTO; QEMU mps2-an386):");
    println!(
        "embedded: flash (.text + .rodata): firmware {} (of which ~{} the embedded session vectors), device {}, baseline {}",
        kib(fw.flash()),
        kib(vector_bytes()),
        kib(dev.flash()),
        kib(base.flash())
    );
    println!(
        "embedded: bearerflow's flash = device - baseline = {} (.text {} + .rodata {}); target < 256 KiB: {}",
        kib(bearerflow),
        kib(dev.text.saturating_sub(base.text)),
        kib(dev.rodata.saturating_sub(base.rodata)),
        if bearerflow < 256 * 1024 { "met" } else { "NOT met" }
    );
    let mut crates: Vec<(&String, &u64)> = dev.by_crate.iter().collect();
    crates.sort_by(|a, b| b.1.cmp(a.1));
    let attributed: u64 = dev.by_crate.values().sum();
    let split: Vec<String> = crates
        .iter()
        .filter(|(_, v)| **v >= 512)
        .map(|(k, v)| format!("{k} {}", kib(**v)))
        .collect();
    println!(
        "embedded: device flash by symbol's crate (symbols cover {} of {}; generic code counts where it is instantiated): {}",
        kib(attributed),
        kib(dev.flash()),
        split.join(", ")
    );
    println!(
        "embedded: static RAM (.data + .bss) excluding heap arenas: device {} B, baseline {} B, firmware {} B; device heap arena {} B",
        dev.data + dev.bss - dev.arenas,
        base.data + base.bss - base.arenas,
        fw.data + fw.bss - fw.arenas,
        dev.arenas
    );
    let m = |b: &Boot, k: &str| b.get(k).unwrap_or("(not measured)").to_string();
    println!(
        "embedded: heap, one session with 43-byte tokens: idle {} (+ config {}, + {} inline); high-water during 1,000 refreshes {} (after the first refresh {}, after 4 {}), in an {} arena; target < 8 KiB",
        m(&device, "device_idle_session_heap"),
        m(&device, "device_config_heap"),
        m(&firmware, "session_inline"),
        m(&device, "device_refresh_heap_high_water"),
        m(&firmware, "heap_high_water_after_first_refresh"),
        m(&firmware, "heap_high_water_after_warmup"),
        m(&firmware, "heap_arena"),
    );
    println!(
        "embedded: stack high-water during the refreshes (device, harness buffers included): {}",
        m(&device, "device_stack_high_water")
    );
    match firmware.get("hotpath_cycles_per_request") {
        Some(c) => println!("embedded: hot path: {c} per request (DWT CYCCNT)"),
        None => println!(
            "embedded: hot path: {} per fresh-token request (QEMU -icount, SysTick calibrated at {} per tick); DWT CYCCNT does not count under QEMU, so no cycle figure",
            m(&firmware, "hotpath_instructions_per_request"),
            m(&firmware, "icount_instructions_per_systick"),
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::crate_of;

    #[test]
    fn symbols_are_attributed_to_their_crate() {
        assert_eq!(crate_of("bearerflow::session::Session::new"), "bearerflow");
        assert_eq!(
            crate_of("<bearerflow::http::Request as serde::ser::Serialize>::serialize"),
            "bearerflow"
        );
        assert_eq!(
            crate_of("<&mut serde_json::de::Deserializer<R> as x>::f"),
            "serde_json"
        );
        assert_eq!(crate_of("memcpy"), "[C/asm]");
        assert_eq!(crate_of("__aeabi_memcpy4"), "[C/asm]");
        assert_eq!(crate_of(".Lanon.88b94e73.184"), "[anonymous constants]");
    }
}
