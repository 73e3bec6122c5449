//! Memory footprint of idle sessions, as a gateway holding many users' sessions of one
//! server sees it (one shared `Config`, each session with its own tokens):
//!
//! 1. `size_of::<Session>()` and the heap one idle session keeps, with the bytes of the
//!    tokens themselves shown apart (their size is the server's choice);
//! 2. the resident memory of a process holding 1,000,000 such sessions (pass
//!    `--sessions N` for another count, `--skip-million` to skip it).
//!
//! Run by `cargo xtask bench`; prints `footprint:` lines the bench report quotes.

use bearerflow::session::Session;
use bearerflow::time::Timestamp;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::sync::Arc;

#[path = "../tests/support/fresh_session.rs"]
mod support;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A token of `len` bytes that differs for each `n` (43 bytes: a base64url 256-bit
/// opaque token, the common case).
fn token(prefix: char, n: usize, len: usize) -> String {
    let mut t = format!("{prefix}{n:x}-");
    while t.len() < len {
        t.push('Q');
    }
    t.truncate(len);
    t
}

/// Heap bytes held by one idle session of `config` with tokens of these sizes.
fn idle_session_heap(
    config: &Arc<bearerflow::session::Config>,
    access: usize,
    refresh: usize,
) -> isize {
    let region = Region::new(GLOBAL);
    let mut s = support::session_with(
        config,
        token('a', 1, access),
        token('r', 1, refresh),
        [7; 32],
    );
    // One request through, so the queues hold their steady capacity.
    let id = s.begin_request(Timestamp(1));
    while s.poll_action().is_some() {}
    let _ = s.handle_resource_response(id, 200, &[], Timestamp(1));
    let change = region.change();
    let held = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    drop(s);
    held
}

/// Resident set size of this process, in bytes (Linux; `None` elsewhere).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args
        .iter()
        .position(|a| a == "--sessions")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let config = support::shared_config();
    let size = std::mem::size_of::<Session>() as isize;
    println!("footprint: size_of::<Session>() = {size} bytes");
    for (what, access, refresh) in [
        ("opaque 43-byte tokens", 43, 43),
        ("800-byte JWT access token", 800, 64),
    ] {
        let heap = idle_session_heap(&config, access, refresh);
        let tokens = (access + refresh) as isize;
        println!(
            "footprint: {what}: {} bytes per idle session ({size} inline + {heap} heap, of which the tokens are {tokens}); overhead beyond the tokens {} bytes",
            size + heap,
            size + heap - tokens
        );
    }
    if args.iter().any(|a| a == "--skip-million") {
        return;
    }
    let before = rss().unwrap_or(0);
    let mut sessions = Vec::with_capacity(count);
    for n in 0..count {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(n as u64).to_le_bytes());
        let mut s = support::session_with(&config, token('a', n, 43), token('r', n, 43), seed);
        let id = s.begin_request(Timestamp(1));
        while s.poll_action().is_some() {}
        let _ = s.handle_resource_response(id, 200, &[], Timestamp(1));
        sessions.push(s);
    }
    let after = rss().unwrap_or(0);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "footprint: {count} idle sessions (43-byte tokens, one shared config): resident {:.0} MiB for the process, {:.0} MiB for the sessions ({} bytes each)",
        mib(after),
        mib(after.saturating_sub(before)),
        after.saturating_sub(before) / count.max(1) as u64
    );
    drop(sessions);
}
