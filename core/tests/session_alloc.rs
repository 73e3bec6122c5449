//! The hot path allocates nothing: a request with a fresh token, from `begin_request`
//! to its delivered response, touches no heap once the session is warm.

use bearerflow::session::{Action, Verdict};
use bearerflow::time::Timestamp;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[path = "support/fresh_session.rs"]
mod support;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn fresh_token_request_allocates_nothing() {
    let mut s = support::fresh_session(800, 1);
    let now = Timestamp(1_000);
    // Warm up: the action queue and the request list reach their steady capacity.
    for _ in 0..4 {
        let id = s.begin_request(now);
        let _ = s.poll_action();
        let _ = s.handle_resource_response(id, 200, &[], now);
    }
    let region = Region::new(GLOBAL);
    let mut sent = 0;
    for _ in 0..1_000 {
        let id = s.begin_request(now);
        match s.poll_action() {
            Some(Action::Send {
                id: sid,
                generation,
            }) => {
                assert_eq!(sid, id);
                assert!(s.headers(generation).is_some_and(|h| !h.is_empty()));
                sent += 1;
            }
            other => panic!("expected Send, got {other:?}"),
        }
        assert_eq!(
            s.handle_resource_response(id, 200, &[], now),
            Verdict::Deliver
        );
    }
    let change = region.change();
    assert_eq!(sent, 1_000);
    assert_eq!(
        change.allocations + change.reallocations,
        0,
        "heap allocations on the hot path"
    );
}
