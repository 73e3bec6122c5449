//! The hot path: a request with a fresh token. `begin_request` → `poll_action` (the
//! `Send`) → `handle_resource_response(200)`, the whole life of a request when nothing
//! needs refreshing. Compare with `challenge` benches for scale; `cargo xtask bench`
//! prints the medians.

use bearerflow::session::{Session, Verdict};
use bearerflow::time::Timestamp;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

#[path = "../tests/support/fresh_session.rs"]
mod support;

fn fresh_session() -> Session {
    support::fresh_session(800, 64)
}

fn hot_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("session");
    let mut s = fresh_session();
    let now = Timestamp(1_000);
    g.bench_function("fresh_request/bearerflow", |b| {
        b.iter(|| {
            let id = s.begin_request(black_box(now));
            let a = s.poll_action();
            black_box(&a);
            let v = s.handle_resource_response(id, 200, &[], now);
            debug_assert_eq!(v, Verdict::Deliver);
            black_box(v)
        })
    });
    let mut s = fresh_session();
    g.bench_function("begin_and_poll/bearerflow", |b| {
        b.iter_batched_ref(
            || (),
            |_| {
                let id = s.begin_request(black_box(now));
                let a = s.poll_action();
                black_box(&a);
                s.cancel_request(id);
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
