//! `WWW-Authenticate` parsing: bearerflow against the `http-auth` crate.
//!
//! Both sides do the same work: iterate every challenge and every parameter, and
//! read each value unescaped into a buffer that is reused across iterations
//! (bearerflow: a `heapless::String` via `Param::append_to`, always copied, never
//! borrowed; http-auth: a
//! `String` cleared per value, via `append_unescaped`). http-auth has no token68
//! support, so the cases avoid token68. Groups are named
//! `challenge/<case>/bearerflow` and `challenge/<case>/http-auth`.
//!
//! Run: `cargo bench -p bearerflow --bench challenge -- --quick`.

use bearerflow::challenge::{parse, Mode};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const CASES: &[(&str, &str)] = &[
    (
        "bearer_expired",
        r#"Bearer error="invalid_token", error_description="The access token expired", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#,
    ),
    (
        "bearer_scope",
        r#"Bearer realm="example", scope="files:read files:write", error="insufficient_scope""#,
    ),
    (
        "basic_and_bearer",
        r#"Basic realm="x", Bearer realm="y", error="invalid_token""#,
    ),
    (
        "ten_params",
        r#"Newauth realm="apps", type=1, title="Login to \"apps\"", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41", algorithm=SHA-256, qop="auth", charset=UTF-8, userhash=true, stale=false"#,
    ),
    ("bare_bearer", "Bearer"),
];

fn bearerflow_all(value: &str, buf: &mut heapless::String<256>) -> usize {
    let mut total = 0;
    for challenge in parse(value, Mode::Strict) {
        let Ok(challenge) = challenge else {
            return usize::MAX;
        };
        total += black_box(challenge.scheme()).len();
        for p in challenge.params() {
            total += black_box(p.name()).len();
            buf.clear();
            if p.append_to(buf).is_err() {
                return usize::MAX;
            }
            total += black_box(buf.as_str()).len();
        }
    }
    total
}

fn http_auth_all(value: &str, buf: &mut String) -> usize {
    let mut total = 0;
    for challenge in http_auth::parser::ChallengeParser::new(value) {
        let Ok(challenge) = challenge else {
            return usize::MAX;
        };
        total += black_box(challenge.scheme).len();
        for (name, value) in &challenge.params {
            total += black_box(*name).len();
            buf.clear();
            value.append_unescaped(buf);
            total += black_box(buf.as_str()).len();
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let mut buf = String::with_capacity(256);
    let mut hbuf = heapless::String::<256>::new();
    for (name, value) in CASES {
        // Same work on both sides: the same number of bytes read.
        assert_eq!(
            bearerflow_all(value, &mut hbuf),
            http_auth_all(value, &mut buf),
            "{name}"
        );
        c.bench_function(&format!("challenge/{name}/bearerflow"), |b| {
            b.iter(|| bearerflow_all(black_box(value), &mut hbuf))
        });
        c.bench_function(&format!("challenge/{name}/http-auth"), |b| {
            b.iter(|| http_auth_all(black_box(value), &mut buf))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
