//! Memory footprint of an idle session: `size_of::<Session>()` and the heap it keeps,
//! with the bytes of the tokens themselves counted apart (they are the user's data and
//! their size is the server's choice). Run by `cargo xtask bench`.

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{Config, OAuthConfig, Session};
use bearerflow::time::Timestamp;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes held by an idle session holding tokens of these sizes.
fn idle_session_heap(access_len: usize, refresh_len: usize) -> isize {
    let region = Region::new(GLOBAL);
    let config = Config::oauth(
        "https://mcp.example.com/mcp",
        OAuthConfig {
            client: Some(ClientRegistration::public("client-1")),
            token_endpoint: Some("https://auth.example.com/token".into()),
            ..OAuthConfig::default()
        },
    );
    let mut s = Session::new(config, [7; 32], Timestamp(0));
    s.set_tokens(
        Secret::new("a".repeat(access_len)),
        Some(Secret::new("r".repeat(refresh_len))),
        Some(3600),
        Some("mcp:tools offline_access".into()),
        Timestamp(0),
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
