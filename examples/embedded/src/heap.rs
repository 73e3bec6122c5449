//! The global allocator: `embedded-alloc`'s linked-list first-fit heap, in two arenas,
//! with byte counts.
//!
//! The test harness (parsed vectors, expected actions) needs room; a device keeps one
//! session in a few KiB. So allocations go to the **large** arena until
//! [`use_small_arena`] switches new ones to the **small** arena, a separate `LlffHeap`
//! of the size a device would give bearerflow. Frees go back to whichever arena owns
//! the address. A program that runs in the small arena therefore proves it fits there,
//! fragmentation included: an allocation the small arena cannot serve fails (and the
//! run panics) even when the large arena has room.
//!
//! Each arena counts the bytes requested and in use, and the high-water mark of both
//! the requested bytes and of the allocator's own `used()` (which includes its
//! rounding to 8-byte blocks, the memory really taken).

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use embedded_alloc::LlffHeap;

/// Byte counts of one arena.
pub struct ArenaStats {
    in_use: AtomicUsize,
    peak: AtomicUsize,
    used_peak: AtomicUsize,
    allocations: AtomicUsize,
}

impl ArenaStats {
    const fn new() -> ArenaStats {
        ArenaStats {
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            used_peak: AtomicUsize::new(0),
            allocations: AtomicUsize::new(0),
        }
    }
}

/// What an arena holds now and at most since the last [`reset_peaks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes requested and not yet freed.
    pub in_use: usize,
    /// Most bytes requested at once.
    pub peak: usize,
    /// The allocator's `used()` now (block rounding included).
    pub used: usize,
    /// Most the allocator's `used()` reached.
    pub used_peak: usize,
    /// Allocations served (a count, not bytes).
    pub allocations: usize,
    /// The arena's size.
    pub size: usize,
}

/// Which arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arena {
    /// The test harness's room.
    Large,
    /// A device-sized heap.
    Small,
}

/// The two-arena counting heap (see the module docs).
pub struct TwoArenaHeap {
    large: LlffHeap,
    small: LlffHeap,
    small_start: AtomicUsize,
    small_end: AtomicUsize,
    large_size: AtomicUsize,
    use_small: AtomicBool,
    stats: [ArenaStats; 2],
}

impl TwoArenaHeap {
    const fn new() -> TwoArenaHeap {
        TwoArenaHeap {
            large: LlffHeap::empty(),
            small: LlffHeap::empty(),
            small_start: AtomicUsize::new(0),
            small_end: AtomicUsize::new(0),
            large_size: AtomicUsize::new(0),
            use_small: AtomicBool::new(false),
            stats: [ArenaStats::new(), ArenaStats::new()],
        }
    }

    fn owner(&self, ptr: *mut u8) -> Arena {
        let addr = ptr as usize;
        if addr >= self.small_start.load(Relaxed) && addr < self.small_end.load(Relaxed) {
            Arena::Small
        } else {
            Arena::Large
        }
    }

    fn parts(&self, arena: Arena) -> (&LlffHeap, &ArenaStats) {
        match arena {
            Arena::Large => (&self.large, &self.stats[0]),
            Arena::Small => (&self.small, &self.stats[1]),
        }
    }
}

// SAFETY: every allocation is served by one of two `LlffHeap`s (each a sound
// `GlobalAlloc` over memory it was given in `init`), and every free goes back to the
// heap whose arena contains the pointer; the arenas do not overlap. The counters are
// plain atomics and do not touch the memory.
unsafe impl GlobalAlloc for TwoArenaHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let arena = if self.use_small.load(Relaxed) {
            Arena::Small
        } else {
            Arena::Large
        };
        let (heap, stats) = self.parts(arena);
        let ptr = unsafe { heap.alloc(layout) };
        if !ptr.is_null() {
            let now = stats.in_use.fetch_add(layout.size(), Relaxed) + layout.size();
            stats.peak.fetch_max(now, Relaxed);
            stats.used_peak.fetch_max(heap.used(), Relaxed);
            stats.allocations.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (heap, stats) = self.parts(self.owner(ptr));
        unsafe { heap.dealloc(ptr, layout) };
        stats.in_use.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static HEAP: TwoArenaHeap = TwoArenaHeap::new();

/// Hand the heap its two arenas. Call once, first thing in `main`, before anything
/// allocates.
///
/// # Panics
/// On a second call (`LlffHeap::init` refuses it) or an empty arena.
pub fn init(large: &'static mut [MaybeUninit<u8>], small: &'static mut [MaybeUninit<u8>]) {
    let small_start = small.as_mut_ptr() as usize;
    HEAP.small_start.store(small_start, Relaxed);
    HEAP.small_end.store(small_start + small.len(), Relaxed);
    HEAP.large_size.store(large.len(), Relaxed);
    // SAFETY: both slices are `'static` memory that nothing else uses from now on (we
    // hold the only `&mut`), and `LlffHeap::init` panics on a second call.
    unsafe {
        HEAP.large.init(large.as_mut_ptr() as usize, large.len());
        HEAP.small.init(small_start, small.len());
    }
}

/// Serve new allocations from `arena`. Frees always go to the arena that owns them.
pub fn use_arena(arena: Arena) {
    HEAP.use_small.store(arena == Arena::Small, Relaxed);
}

/// Serve new allocations from the small arena.
pub fn use_small_arena() {
    use_arena(Arena::Small);
}

/// The arena that serves new allocations.
pub fn current_arena() -> Arena {
    if HEAP.use_small.load(Relaxed) {
        Arena::Small
    } else {
        Arena::Large
    }
}

/// Start the high-water marks of `arena` over from what it holds now.
pub fn reset_peaks(arena: Arena) {
    let (heap, stats) = HEAP.parts(arena);
    stats.peak.store(stats.in_use.load(Relaxed), Relaxed);
    stats.used_peak.store(heap.used(), Relaxed);
}

/// What `arena` holds now and at most since its last [`reset_peaks`].
pub fn usage(arena: Arena) -> Usage {
    let (heap, stats) = HEAP.parts(arena);
    let size = match arena {
        Arena::Large => HEAP.large_size.load(Relaxed),
        Arena::Small => HEAP.small_end.load(Relaxed) - HEAP.small_start.load(Relaxed),
    };
    Usage {
        in_use: stats.in_use.load(Relaxed),
        peak: stats.peak.load(Relaxed),
        used: heap.used(),
        used_peak: stats.used_peak.load(Relaxed),
        allocations: stats.allocations.load(Relaxed),
        size,
    }
}
