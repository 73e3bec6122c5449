//! Memory footprint of a session: `size_of::<Session>()` and the heap a session holding
//! typical tokens keeps. Run by `cargo xtask bench`.

use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{Config, OAuthConfig, Session};
use bearerflow::time::Timestamp;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let region = Region::new(GLOBAL);
    let config = Config::oauth(
        "https://mcp.example.com/mcp",
        OAuthConfig {
            client: Some(ClientRegistration::public("client-1")),
            token_endpoint: Some("https://auth.example.com/token".into()),
            ..OAuthConfig::default()
        },
    );
    let session = {
        let mut s = Session::new(config, [7; 32], Timestamp(0));
        // A typical JWT access token (~800 bytes) and an opaque refresh token.
        s.set_tokens(
            Secret::new("a".repeat(800)),
            Some(Secret::new("r".repeat(64))),
            Some(3600),
            Some("mcp:tools offline_access".into()),
            Timestamp(0),
        );
        while s.poll_action().is_some() {}
        s
    };
    let change = region.change();
    let heap = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    let size = std::mem::size_of::<Session>();
    println!("footprint: size_of::<Session>() = {size} bytes");
    println!(
        "footprint: heap held by an idle session with an 800-byte access token = {heap} bytes"
    );
    println!(
        "footprint: total {} bytes; without the tokens' own bytes {} bytes (target ≤ 1024)",
        size as isize + heap,
        size as isize + heap - 800 - 64 - "Bearer ".len() as isize - 800
    );
    drop(session);
}
