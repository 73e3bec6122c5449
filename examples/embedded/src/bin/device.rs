//! A device that keeps one session alive and nothing else: 1,000 refreshes with
//! rotating refresh tokens over `http::blocking`, in an 8 KiB heap. `cargo xtask
//! bench` compares its flash with `baseline` (the same runtime without bearerflow) to
//! give bearerflow's share, and reads its heap and stack figures.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use bearerflow_embedded::heap;
use bearerflow_embedded::report::{measure, Report};
use bearerflow_embedded::{lifecycle, stack};
use core::mem::MaybeUninit;
use cortex_m_rt::entry;

const HEAP: usize = 8 * 1024;
/// The harness arena is not used here; `heap::init` wants one.
const UNUSED: usize = 64;

static mut HEAP_ARENA: [MaybeUninit<u8>; HEAP] = [MaybeUninit::uninit(); HEAP];
static mut UNUSED_ARENA: [MaybeUninit<u8>; UNUSED] = [MaybeUninit::uninit(); UNUSED];

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and these are the only references ever taken to the
    // arenas; from here on the allocator owns them.
    let (unused, arena) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(UNUSED_ARENA),
            &mut *core::ptr::addr_of_mut!(HEAP_ARENA),
        )
    };
    heap::init(unused, arena);
    heap::use_small_arena();
    let painted = stack::paint();
    let result = lifecycle::run(1000);
    let stack_used = painted.used();
    let mut report = Report::new();
    match result {
        Ok(f) => {
            measure("device_idle_session_heap", f.idle_session_heap, "bytes");
            measure("device_config_heap", f.config_heap, "bytes");
            measure(
                "device_refresh_heap_high_water",
                f.refresh_used_peak,
                "bytes",
            );
            measure("device_stack_high_water", stack_used, "bytes");
            report.check("device::one_session_thousand_refreshes", Ok(()));
            report.check(
                "device::heap_high_water_flat_after_the_first_refreshes",
                f.growth.map_or(Ok(()), |g| Err(format!("{g}"))),
            );
        }
        Err(e) => report.check("device::one_session_thousand_refreshes", Err(e)),
    }
    report.finish()
}
