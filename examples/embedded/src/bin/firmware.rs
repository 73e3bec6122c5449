//! Every check on the target, counted libtest-style for `cargo xtask embedded`:
//!
//! 1. `vectors::NAME`: each session vector replayed through the public API;
//! 2. `wire::NAME`: each vector again, its recorded HTTP answers carried over a
//!    simulated socket by `http::blocking` (request bytes checked, responses parsed
//!    on the target in four framings and four read sizes);
//! 3. `lifecycle::…`: one session through 1,000 refreshes with rotating refresh tokens,
//!    in an 8 KiB heap arena, its high-water mark flat after the first few;
//! 4. `hotpath::…`: a fresh-token request allocates nothing; its cost.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use bearerflow_embedded::heap::{self, Arena};
use bearerflow_embedded::report::{measure, note, Report};
use bearerflow_embedded::vectors::{self, Transport, WireCount, SESSION_VECTORS};
use bearerflow_embedded::{hotpath, lifecycle, stack};
use core::mem::MaybeUninit;
use cortex_m_rt::entry;

/// Room for the harness (a parsed vector is a few hundred KiB of `serde_json::Value`).
const LARGE: usize = 2 * 1024 * 1024;
/// The heap a device gives bearerflow: the target of issue 21.
const SMALL: usize = 8 * 1024;
const REFRESHES: u32 = 1000;
const HOT_REQUESTS: u32 = 1000;

static mut LARGE_ARENA: [MaybeUninit<u8>; LARGE] = [MaybeUninit::uninit(); LARGE];
static mut SMALL_ARENA: [MaybeUninit<u8>; SMALL] = [MaybeUninit::uninit(); SMALL];

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and these are the only references ever taken to the
    // arenas; from here on the allocator owns them.
    let (large, small) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(LARGE_ARENA),
            &mut *core::ptr::addr_of_mut!(SMALL_ARENA),
        )
    };
    heap::init(large, small);
    let mut report = Report::new();
    note(format_args!(
        "bearerflow {} on a Cortex-M4F (QEMU mps2-an386), {} session vectors",
        bearerflow::VERSION,
        SESSION_VECTORS.len()
    ));

    report.check(
        "vectors::embedded",
        if SESSION_VECTORS.is_empty() {
            Err(String::from("no session vector was embedded at build time"))
        } else {
            Ok(())
        },
    );
    for (name, text) in SESSION_VECTORS {
        let mut unused = WireCount::default();
        let result = vectors::replay(text, Transport::Direct, &mut unused);
        report.check(&format!("vectors::{name}"), result);
    }

    report.check(
        "vectors::replay_refuses_changed_expectations",
        tamper_check(),
    );

    let mut wire = WireCount::default();
    for (name, text) in SESSION_VECTORS {
        let result = vectors::replay(text, Transport::Wire, &mut wire);
        report.check(&format!("wire::{name}"), result);
    }
    report.check(
        "wire::exchanges_went_over_the_socket",
        if wire.exchanges > 0 && wire.resets > 0 {
            Ok(())
        } else {
            Err(format!("{wire:?}: nothing went over the simulated socket"))
        },
    );
    report.check(
        "wire::request_check_refuses_altered_bytes",
        wire_check_refuses_alterations(),
    );
    measure("wire_exchanges", wire.exchanges, "exchanges");
    measure("wire_resets", wire.resets, "exchanges");
    measure("wire_direct", wire.direct, "answers without HTTP bytes");

    // The lifecycle runs in the device-sized arena: an allocation it cannot serve
    // fails the run (a panic), however much room the harness has.
    heap::use_arena(Arena::Small);
    let painted = stack::paint();
    let result = lifecycle::run(REFRESHES);
    let stack_used = painted.used();
    heap::use_arena(Arena::Large);
    match result {
        Ok(f) => {
            report.check(
                "lifecycle::thousand_refreshes_rotating_in_an_8_KiB_heap",
                Ok(()),
            );
            report.check(
                "lifecycle::heap_high_water_flat_after_the_first_refreshes",
                f.growth.map_or(Ok(()), |g| Err(format!("{g}"))),
            );
            lifecycle_measures(&f, stack_used, painted.overflowed());
        }
        Err(e) => report.check(
            "lifecycle::thousand_refreshes_rotating_in_an_8_KiB_heap",
            Err(e),
        ),
    }

    match hotpath::run(HOT_REQUESTS) {
        Ok(cost) => {
            report.check(
                "hotpath::fresh_request_allocates_nothing",
                if cost.allocations == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{} allocations in {} requests",
                        cost.allocations, cost.requests
                    ))
                },
            );
            match cost.cycles_per_request {
                Some(c) => measure("hotpath_cycles_per_request", c, "cycles"),
                None => note("DWT CYCCNT does not count under QEMU: no cycle figure"),
            }
            match (cost.instructions_per_request, cost.instructions_per_tick) {
                (Some(i), Some(k)) => {
                    measure("hotpath_instructions_per_request", i, "instructions");
                    measure("icount_instructions_per_systick", k, "instructions");
                }
                _ => note("SysTick calibration failed (QEMU without -icount shift=0?): no instruction count"),
            }
        }
        Err(e) => report.check("hotpath::fresh_request_allocates_nothing", Err(e)),
    }
    let large = heap::usage(Arena::Large);
    measure("harness_heap_high_water", large.used_peak, "bytes");
    report.finish()
}

/// Every vector with one expectation changed must fail to replay.
fn tamper_check() -> Result<(), String> {
    let mut refused = 0;
    for (name, text) in SESSION_VECTORS {
        for (what, changed) in vectors::tampered(text)? {
            let mut unused = WireCount::default();
            if vectors::replay_value(&changed, Transport::Direct, &mut unused).is_ok() {
                return Err(format!("{name} with {what} changed still replays"));
            }
            refused += 1;
        }
    }
    if refused == 0 {
        return Err(String::from("no tampered copy was made"));
    }
    Ok(())
}

/// The request-bytes check accepts what `http::blocking` wrote and refuses the same
/// bytes with one header value, the body or the request line altered.
fn wire_check_refuses_alterations() -> Result<(), String> {
    use bearerflow::http::{blocking, Header, Method, Request};
    use bearerflow_embedded::wire::{check_request, SimSocket};
    let request = Request {
        method: Method::Post,
        url: String::from("https://auth.example.com/token?x=1#frag"),
        headers: alloc::vec![
            Header::new("Content-Type", "application/x-www-form-urlencoded"),
            Header::new("Accept", "application/json"),
        ],
        body: b"grant_type=refresh_token&refresh_token=abc".to_vec(),
    };
    let reply = b"HTTP/1.1 204 No Content\r\n\r\n";
    let mut written = [0u8; 1024];
    let mut socket = SimSocket::new(reply, 5, &mut written);
    let mut scratch = [0u8; 32];
    let response = blocking::exchange(&mut socket, &request, &mut scratch)
        .map_err(|e| format!("exchange failed: {e:?}"))?;
    if response.status != 204 {
        return Err(format!("status {} parsed from a 204", response.status));
    }
    let bytes = socket.written().to_vec();
    check_request(&bytes, &request).map_err(|e| format!("the driver's own bytes: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| String::from("request is not UTF-8"))?;
    for (what, from, to) in [
        ("a header value", "application/json", "application/jsox"),
        ("the body", "refresh_token=abc", "refresh_token=abd"),
        ("the request target", "/token?x=1 ", "/token?x=2 "),
        (
            "the Host",
            "Host: auth.example.com",
            "Host: auth.example.org",
        ),
    ] {
        let altered = text.replacen(from, to, 1);
        if altered == text {
            return Err(format!("{what}: {from:?} not found in the request bytes"));
        }
        if check_request(altered.as_bytes(), &request).is_ok() {
            return Err(format!(
                "the check accepted the request with {what} altered"
            ));
        }
    }
    Ok(())
}

fn lifecycle_measures(f: &lifecycle::Figures, stack_used: usize, overflowed: bool) {
    measure("lifecycle_refreshes", f.refreshes, "refreshes");
    measure("lifecycle_proactive_refreshes", f.proactive, "refreshes");
    measure("lifecycle_requests", f.requests, "requests");
    measure("session_inline", f.session_inline, "bytes");
    measure("config_heap", f.config_heap, "bytes");
    measure("idle_session_heap", f.idle_session_heap, "bytes");
    measure("idle_heap_used", f.idle_used, "bytes");
    measure("setup_heap_high_water", f.setup_used_peak, "bytes");
    measure("refresh_heap_high_water", f.refresh_used_peak, "bytes");
    measure("refresh_heap_high_water_requested", f.refresh_peak, "bytes");
    measure(
        "heap_high_water_after_first_refresh",
        f.used_peak_after_first,
        "bytes",
    );
    measure(
        "heap_high_water_after_warmup",
        f.used_peak_after_warmup,
        "bytes",
    );
    measure("snapshot_json", f.snapshot_json, "bytes");
    measure("heap_arena", f.arena, "bytes");
    measure("lifecycle_stack_high_water", stack_used, "bytes");
    if overflowed {
        note("the stack went below the painted region: the stack figure is a lower bound");
    }
}
