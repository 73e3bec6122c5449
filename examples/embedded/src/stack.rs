//! Stack high-water by painting: fill the free stack below the current frame with a
//! pattern, run the work, then find the lowest word that no longer holds the pattern.
//!
//! cortex-m-rt places the stack at the top of RAM, growing down to `_stack_end` (the
//! end of `.bss`); nothing else lives in between, so that memory is ours to paint.

const PAINT: u32 = 0x5EED_F10F;
/// How far below the current frame to paint (and so the deepest use it can see).
const DEPTH: usize = 128 * 1024;
/// Left alone right below the current frame: `paint`'s own frame lives there.
const GUARD: usize = 256;

extern "C" {
    static _stack_end: u32;
}

/// A painted stack region.
pub struct Painted {
    low: usize,
    high: usize,
}

fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

/// Paint from just below the current frame down to at most `DEPTH` bytes (never below
/// the end of `.bss`).
#[inline(never)]
pub fn paint() -> Painted {
    let high = (stack_pointer() - GUARD) & !3;
    // Only the address of the linker symbol is taken.
    let floor = core::ptr::addr_of!(_stack_end) as usize;
    let low = high.saturating_sub(DEPTH).max(floor + 4) & !3;
    let mut at = low;
    while at < high {
        // SAFETY: `[low, high)` lies between the end of `.bss` and the live stack
        // (below this function's frame by GUARD bytes), memory nothing else uses;
        // aligned word writes.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
    Painted { low, high }
}

impl Painted {
    /// Bytes of stack used below the painting frame since [`paint`] (plus the guard):
    /// how deep the work between the two calls went.
    #[inline(never)]
    pub fn used(&self) -> usize {
        let mut at = self.low;
        while at < self.high {
            // SAFETY: the same region `paint` wrote; aligned word reads.
            if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
                break;
            }
            at += 4;
        }
        self.high - at + GUARD
    }

    /// Whether the work reached the bottom of the painted region (the figure is then
    /// a lower bound).
    pub fn overflowed(&self) -> bool {
        // SAFETY: `low` is inside the painted region.
        unsafe { core::ptr::read_volatile(self.low as *const u32) != PAINT }
    }
}
