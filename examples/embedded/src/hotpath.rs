//! The request hot path on the target: `begin_request` → `poll_action` (the `Send`) →
//! `headers(generation)` → `handle_resource_response(200)`, the whole life of a request
//! when the token is fresh (the same path as core's `session/fresh_request` bench).
//!
//! Two counters are tried. The DWT cycle counter (`CYCCNT`, ARMv7-M ARM §C1.8) is what
//! real silicon offers; QEMU does not model the DWT, so there it stays at zero and this
//! module says so. QEMU is run with `-icount shift=0` (one instruction per nanosecond of
//! virtual time), so SysTick on the 25 MHz processor clock advances once per 40
//! executed instructions; a calibration loop of known length checks that ratio at run
//! time, and the figure reported is **instructions** per request, not cycles (a
//! Cortex-M4 retires most instructions in one cycle; loads, branches and multiplies
//! take more).
//!
//! The path must allocate nothing (core's `tests/session_alloc.rs` checks it on the
//! host); here the allocator's counter checks it on the target.

use crate::heap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use bearerflow::secret::Secret;
use bearerflow::session::{Action, Config, Session, Verdict};
use bearerflow::time::Timestamp;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{DWT, SYST};

/// What the hot path cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    /// Requests run.
    pub requests: u32,
    /// Allocations during them (must be 0).
    pub allocations: usize,
    /// DWT cycles per request, when the counter counts (not in QEMU).
    pub cycles_per_request: Option<u64>,
    /// Executed instructions per request (SysTick under `-icount`, calibrated), when
    /// the calibration holds.
    pub instructions_per_request: Option<u64>,
    /// Instructions per SysTick tick the calibration measured (40 expected).
    pub instructions_per_tick: Option<u64>,
}

const SYST_MAX: u32 = 0x00FF_FFFF;

/// SysTick as a free-running 24-bit down-counter on the processor clock.
fn systick_start(syst: &mut SYST) -> u32 {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYST_MAX);
    syst.clear_current();
    syst.enable_counter();
    SYST::get_current()
}

fn systick_elapsed(start: u32) -> u32 {
    start.wrapping_sub(SYST::get_current()) & SYST_MAX
}

/// Run `iterations` of a two-instruction loop (`subs`, `bne`).
#[inline(never)]
fn known_loop(iterations: u32) {
    // SAFETY: a register-only countdown loop; touches no memory and no flags the
    // compiler relies on across the block (it is told nothing survives).
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        );
    }
}

/// Instructions per SysTick tick, from a loop of known length; `None` when the ratio is
/// not the one `-icount shift=0` gives (the run is then not instruction-counted).
fn calibrate(syst: &mut SYST) -> Option<u64> {
    const ITERATIONS: u32 = 1_000_000;
    let start = systick_start(syst);
    known_loop(ITERATIONS);
    let ticks = u64::from(systick_elapsed(start));
    if ticks == 0 {
        return None;
    }
    let per_tick = (2 * u64::from(ITERATIONS) + ticks / 2) / ticks;
    // 25 MHz SysTick at 1 instruction per ns: 40 per tick. Anything else means QEMU
    // runs without -icount (ticks follow the host's clock) or on other clocks.
    (per_tick == 40).then_some(per_tick)
}

/// Whether the DWT cycle counter advances.
fn dwt_counts(dcb: &mut cortex_m::peripheral::DCB, dwt: &mut DWT) -> bool {
    dcb.enable_trace();
    if !DWT::has_cycle_counter() {
        return false;
    }
    dwt.enable_cycle_counter();
    let before = DWT::cycle_count();
    known_loop(1000);
    DWT::cycle_count() != before
}

/// Run `n` hot-path requests on a session with fresh 43-byte tokens.
pub fn run(n: u32) -> Result<Cost, String> {
    // SAFETY: this single-threaded firmware has no other owner of the core peripherals
    // (no interrupt handlers use them); taking them here cannot race.
    let mut p = unsafe { cortex_m::Peripherals::steal() };
    let config = Config::from_json(crate::lifecycle::CONFIG_JSON.as_bytes())
        .map_err(|e| format!("Config::from_json: {e}"))?;
    let now = Timestamp(1_767_225_600_000);
    let mut s = Session::new(Arc::new(config), [7; 32], now);
    s.set_tokens(
        Secret::new("a".repeat(crate::lifecycle::TOKEN_LEN)),
        Some(Secret::new("r".repeat(crate::lifecycle::TOKEN_LEN))),
        Some(3600),
        Some(String::from("mcp:tools")),
        now,
    );
    while s.poll_action().is_some() {}

    let one_request = |s: &mut Session| -> Result<(), String> {
        let id = s.begin_request(now);
        let Some(Action::Send { generation, .. }) = s.poll_action() else {
            return Err(String::from("a fresh token did not give a Send"));
        };
        let headers = s.headers(generation).map_or(0, <[_]>::len);
        core::hint::black_box(headers);
        match s.handle_resource_response(id, 200, &[], now) {
            Verdict::Deliver => Ok(()),
            Verdict::Retry => Err(String::from("a 200 was retried")),
        }
    };
    // Warm up: queues reach their steady capacity.
    for _ in 0..8 {
        one_request(&mut s)?;
    }

    let arena = heap::current_arena();
    let allocations = heap::usage(arena).allocations;
    let counts = dwt_counts(&mut p.DCB, &mut p.DWT);
    let per_tick = calibrate(&mut p.SYST);
    let cycles0 = DWT::cycle_count();
    let ticks0 = systick_start(&mut p.SYST);
    for _ in 0..n {
        one_request(&mut s)?;
    }
    let ticks = u64::from(systick_elapsed(ticks0));
    let cycles = DWT::cycle_count().wrapping_sub(cycles0);
    let n64 = u64::from(n.max(1));
    Ok(Cost {
        requests: n,
        allocations: heap::usage(arena).allocations - allocations,
        cycles_per_request: counts.then(|| u64::from(cycles) / n64),
        instructions_per_request: per_tick.map(|k| ticks * k / n64),
        instructions_per_tick: per_tick,
    })
}
