//! Memory footprint of an idle session: `size_of::<Session>()` and the heap it keeps,
//! with the bytes of the tokens themselves counted apart (they are the user's data and
//! their size is the server's choice). Run by `cargo xtask bench`.

use bearerflow::session::Session;
use bearerflow::time::Timestamp;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[path = "../tests/support/fresh_session.rs"]
mod support;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes held by an idle session holding tokens of these sizes.
fn idle_session_heap(access_len: usize, refresh_len: usize) -> isize {
    let region = Region::new(GLOBAL);
    let mut s = support::fresh_session(access_len, refresh_len);
    // One request through, so the queues hold their steady capacity.
    let id = s.begin_request(Timestamp(1));
    while s.poll_action().is_some() {}
    let _ = s.handle_resource_response(id, 200, &[], Timestamp(1));
    let change = region.change();
    let held = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    drop(s);
    held
}

fn main() {
    let size = std::mem::size_of::<Session>() as isize;
    println!("footprint: size_of::<Session>() = {size} bytes");
    for (what, access, refresh) in [
        ("opaque 43-byte tokens", 43, 43),
        ("800-byte JWT access token", 800, 64),
    ] {
        let heap = idle_session_heap(access, refresh);
        let tokens = (access + refresh) as isize;
        println!(
            "footprint: {what}: heap {heap} bytes, of which tokens {tokens}; session overhead {} bytes heap + {size} inline = {} bytes",
            heap - tokens,
            heap - tokens + size
        );
    }
}
