//! The runtime every binary here shares (cortex-m-rt, the counting heap, semihosting
//! output and exit, the panic and fault handlers) without bearerflow: `cargo xtask
//! bench` subtracts its flash from `device`'s.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use bearerflow_embedded::heap;
use bearerflow_embedded::report::{measure, Report};
use core::mem::MaybeUninit;
use cortex_m_rt::entry;

static mut ARENA: [MaybeUninit<u8>; 1024] = [MaybeUninit::uninit(); 1024];
static mut UNUSED_ARENA: [MaybeUninit<u8>; 64] = [MaybeUninit::uninit(); 64];

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and these are the only references ever taken to the
    // arenas; from here on the allocator owns them.
    let (unused, arena) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(UNUSED_ARENA),
            &mut *core::ptr::addr_of_mut!(ARENA),
        )
    };
    heap::init(unused, arena);
    heap::use_small_arena();
    let squares: Vec<u32> = (1..=4u32).map(|x| x * x).collect();
    let mut report = Report::new();
    measure(
        "baseline_heap",
        heap::usage(heap::Arena::Small).in_use,
        "bytes",
    );
    report.check(
        "baseline::runtime",
        if squares.iter().sum::<u32>() == 30 {
            Ok(())
        } else {
            Err(String::from("arithmetic on the heap went wrong"))
        },
    );
    report.finish()
}
