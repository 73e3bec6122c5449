//! bearerflow on a Cortex-M4F (QEMU `mps2-an386`): what the firmware binaries share.
//!
//! - [`heap`]: the global allocator, an `embedded-alloc` linked-list heap in two arenas
//!   (a large one for the test harness, a small one that a device-sized program runs
//!   in), counting bytes in use and the high-water mark of each.
//! - [`report`]: libtest-style lines over semihosting (`test NAME ... ok`, `test
//!   result: ok. N passed; M failed; …`), `measure:` lines for `cargo xtask bench`,
//!   and the exit status.
//! - [`vectors`]: the session vectors of `tests/vectors/session/`, embedded at build
//!   time, replayed through bearerflow's public API exactly as
//!   `tests/vectors/README.md` describes, directly and over a simulated socket.
//! - [`wire`]: the simulated socket (`embedded-io` `Read + Write`) that serves recorded
//!   HTTP/1.1 responses and checks the request bytes `http::blocking` wrote.
//! - [`lifecycle`]: one session through a thousand and more refreshes with rotating
//!   refresh tokens, every token request over the wire, heap measured.
//! - [`hotpath`]: cost of a request with a fresh token, counted on the target.
//! - [`stack`]: stack high-water by painting.
//!
//! A panic or a fault ends the run with a non-zero exit status (see the handlers here).
#![no_std]

extern crate alloc;

pub mod heap;
pub mod hotpath;
pub mod lifecycle;
pub mod report;
pub mod stack;
pub mod vectors;
pub mod wire;

use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};

/// A panic is a failed run: say where, then exit non-zero (QEMU reports semihosting's
/// `RunTimeErrorUnknown` as exit status 1). Prints without allocating: the panic may be
/// an allocation failure.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panicked: {}", info);
    hprintln!("test result: FAILED. firmware panicked");
    exit_failure()
}

/// A fault (bad memory access, undefined instruction) is a failed run too; without this
/// handler cortex-m-rt would spin forever and only the time limit would end it.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("hard fault at pc {:#010x}", frame.pc());
    hprintln!("test result: FAILED. hard fault");
    exit_failure()
}

/// An interrupt nobody enabled fired: a failed run.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    hprintln!("unexpected exception {}", irqn);
    exit_failure()
}

/// Ends the run with exit status 1.
pub fn exit_failure() -> ! {
    loop {
        debug::exit(debug::EXIT_FAILURE);
    }
}

/// Ends the run with exit status 0.
pub fn exit_success() -> ! {
    loop {
        debug::exit(debug::EXIT_SUCCESS);
    }
}
