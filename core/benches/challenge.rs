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
//! The `challenge_hostile/*` group measures what a hostile server can make one `401`
//! cost (issue 20): the most parameters a challenge may carry ([`MAX_PARAMS`]), 45,000
//! parameters in one challenge (about 310 KB, once 20 s of quadratic duplicate
//! checking; now refused at parameter 65), and 10,000 small challenges, which are all
//! read. Each reports bytes per second, so linear time shows as a flat throughput.
//!
//! Run: `cargo bench -p bearerflow --bench challenge -- --quick`.

use bearerflow::challenge::{parse, Mode, MAX_PARAMS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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

/// A challenge with `n` distinct params, each `pNNNNN="value"`.
fn many_params(n: usize) -> String {
    let mut v = String::from("Newauth ");
    for i in 0..n {
        if i > 0 {
            v.push_str(", ");
        }
        v.push_str(&format!("p{i:05}=\"value\""));
    }
    v
}

fn bench_hostile(c: &mut Criterion) {
    let mut hbuf = heapless::String::<256>::new();
    let mut buf = String::with_capacity(256);
    let at_cap = many_params(MAX_PARAMS);
    assert_eq!(
        bearerflow_all(&at_cap, &mut hbuf),
        http_auth_all(&at_cap, &mut buf)
    );
    let huge = many_params(45_000);
    assert_eq!(bearerflow_all(&huge, &mut hbuf), usize::MAX, "refused");
    let mut challenges = String::new();
    for i in 0..10_000 {
        if i > 0 {
            challenges.push_str(", ");
        }
        challenges.push_str(&format!("S{i} realm=\"r\", error=\"e\""));
    }
    let mut group = c.benchmark_group("challenge_hostile");
    for (name, value) in [
        ("max_params", &at_cap),
        ("45000_params", &huge),
        ("10000_challenges", &challenges),
    ] {
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function(format!("{name}/bearerflow"), |b| {
            b.iter(|| bearerflow_all(black_box(value), &mut hbuf))
        });
    }
    group.throughput(Throughput::Bytes(at_cap.len() as u64));
    group.bench_function("max_params/http-auth", |b| {
        b.iter(|| http_auth_all(black_box(&at_cap), &mut buf))
    });
    group.finish();
}

criterion_group!(benches, bench, bench_hostile);
criterion_main!(benches);
