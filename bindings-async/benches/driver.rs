//! `cargo xtask bench driver`: what bearerflow-async costs per request, side by side
//! with bare reqwest, in the same run.
//!
//! One loopback server (axum on hyper) checks `Authorization: Bearer <token>` and
//! answers `200` at once. Three clients send `GET`s to it and read each body to the
//! end: bare reqwest with the token as a static default header, bearerflow-async's
//! `Client::send` (restored from a snapshot holding the same token, so nothing but the
//! per-request bookkeeping differs), and a `reqwest-middleware` stack with
//! `BearerflowMiddleware`. At each concurrency (1, 16, 64, 256 tasks sending in a
//! loop) the clients take turns in short slices, round after round, the order rotating
//! each round, so that whatever else the machine does falls on all of them alike.
//!
//! Throughput is requests completed over time spent; latencies are percentiles of
//! every request's time from `send` to the last body byte; allocations per request
//! count every allocation of the process during the variant's slices (server and bench
//! included, which are the same for all variants: the difference is the client's). Each row prints the ratio of
//! the variant's throughput to bare reqwest's over all rounds, and the median of the
//! per-round ratios (each round's slices are next to each other in time, so that one
//! is the least disturbed by load that comes and goes). The machine is shared and
//! noisy: quote medians of several runs, never a single figure.
//!
//! Knobs (environment): `BENCH_DRIVER_ROUNDS` (default 15), `BENCH_DRIVER_SLICE_MS`
//! (default 100), `BENCH_DRIVER_CONCURRENCY` (comma-separated, default `1,16,64,256`),
//! `BENCH_DRIVER_WORKERS` (client runtime worker threads, default 2),
//! `BENCH_DRIVER_ONLY` (`bare`, `send` or `middleware`: run that variant alone, to
//! profile it or count its context switches with `perf stat`; no ratios then).

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use bearerflow::oauth::TokenResponse;
use bearerflow::secret::Secret;
use bearerflow::session::{Config, OAuthConfig, Snapshot};
use bearerflow_async::{BearerflowMiddleware, Client, MemoryStore, NoAuthorize};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TOKEN: &str = "bench-access-token-0123456789abcdef";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare,
    Bearerflow,
    Middleware,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Bare, Variant::Bearerflow, Variant::Middleware];

    fn key(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::Bearerflow => "send",
            Variant::Middleware => "middleware",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare reqwest",
            Variant::Bearerflow => "Client::send",
            Variant::Middleware => "middleware",
        }
    }
}

/// The three clients, sending to one URL.
#[derive(Clone)]
struct Clients {
    url: Arc<str>,
    bare: reqwest::Client,
    bearerflow: Client,
    middleware: reqwest_middleware::ClientWithMiddleware,
}

impl Clients {
    async fn one(&self, variant: Variant) -> Result<(), String> {
        let response = match variant {
            Variant::Bare => self
                .bare
                .get(&*self.url)
                .send()
                .await
                .map_err(|e| e.to_string())?,
            Variant::Bearerflow => {
                let request = self
                    .bearerflow
                    .get(&*self.url)
                    .build()
                    .map_err(|e| e.to_string())?;
                self.bearerflow
                    .send(request)
                    .await
                    .map_err(|e| e.to_string())?
            }
            Variant::Middleware => self
                .middleware
                .get(&*self.url)
                .send()
                .await
                .map_err(|e| e.to_string())?,
        };
        if response.status() != 200 {
            return Err(format!("status {}", response.status()));
        }
        response.bytes().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// What one variant did at one concurrency, over all its slices.
#[derive(Default)]
struct Tally {
    requests: u64,
    allocations: u64,
    busy: Duration,
    latencies_ns: Vec<u64>,
}

impl Tally {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.busy.as_secs_f64().max(1e-9)
    }

    fn percentile_us(&mut self, p: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return f64::NAN;
        }
        self.latencies_ns.sort_unstable();
        let at = ((self.latencies_ns.len() - 1) as f64 * p).round() as usize;
        self.latencies_ns[at] as f64 / 1_000.0
    }
}

/// `concurrency` tasks send through `variant` in a loop for `slice`.
async fn run_slice(
    clients: &Clients,
    variant: Variant,
    concurrency: usize,
    slice: Duration,
    tally: &mut Tally,
) {
    let region = Region::new(GLOBAL);
    let start = Instant::now();
    let end = start + slice;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                if let Err(e) = clients.one(variant).await {
                    panic!("{}: {e}", variant.name());
                }
                latencies.push(t0.elapsed().as_nanos() as u64);
            }
            latencies
        }));
    }
    for t in tasks {
        let latencies = t.await.expect("a sender task panicked");
        tally.requests += latencies.len() as u64;
        tally.latencies_ns.extend(latencies);
    }
    tally.busy += start.elapsed();
    tally.allocations += region.change().allocations as u64;
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The loopback server: `200` for the bearer token, `401` with a challenge otherwise.
fn start_server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server runtime starts");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind on loopback");
            tx.send(listener.local_addr().expect("a bound address"))
                .expect("the bench waits for the address");
            let expected = format!("Bearer {TOKEN}");
            let app = axum::Router::new().route(
                "/mcp",
                axum::routing::get(move |headers: HeaderMap| {
                    let ok = headers
                        .get(axum::http::header::AUTHORIZATION)
                        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
                    async move {
                        if ok {
                            (StatusCode::OK, "ok").into_response()
                        } else {
                            (
                                StatusCode::UNAUTHORIZED,
                                [("www-authenticate", "Bearer error=\"invalid_token\"")],
                            )
                                .into_response()
                        }
                    }
                }),
            );
            axum::serve(listener, app).await.expect("the server runs");
        });
    });
    rx.recv().expect("the server reports its address")
}

async fn clients(url: String) -> Clients {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}"))
            .expect("a valid header value"),
    );
    let bare = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("reqwest builds");
    let snapshot = Snapshot::from_token_response(
        TokenResponse {
            access_token: Secret::new(TOKEN),
            expires_in: Some(24 * 3600),
            refresh_token: None,
            scope: None,
        },
        bearerflow_async::now(),
    );
    let config = Config::oauth(url.clone(), OAuthConfig::default());
    let bearerflow = Client::builder(config)
        .store(MemoryStore::with(snapshot))
        .authorizer(NoAuthorize)
        .build()
        .await
        .expect("the bearerflow client builds");
    let middleware = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder()
            .redirect(bearerflow_async::resource_redirect_policy())
            .build()
            .expect("reqwest builds"),
    )
    .with(BearerflowMiddleware::new(bearerflow.clone()))
    .build();
    Clients {
        url: url.into(),
        bare,
        bearerflow,
        middleware,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let rounds: usize = env_or("BENCH_DRIVER_ROUNDS", 15);
    let slice = Duration::from_millis(env_or("BENCH_DRIVER_SLICE_MS", 100));
    let workers: usize = env_or("BENCH_DRIVER_WORKERS", 2);
    let levels: Vec<usize> = std::env::var("BENCH_DRIVER_CONCURRENCY")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 16, 64, 256]);

    let only = std::env::var("BENCH_DRIVER_ONLY").ok();
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| only.as_deref().is_none_or(|o| o == v.key()))
        .collect();
    if variants.is_empty() {
        eprintln!("BENCH_DRIVER_ONLY must be bare, send or middleware");
        std::process::exit(2);
    }

    let addr = start_server();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .expect("the client runtime starts");
    rt.block_on(async move {
        let clients = clients(format!("http://{addr}/mcp")).await;
        println!(
            "driver: one loopback axum server (bearer check, 200), GET + whole body; \
             {rounds} rounds x {} ms per variant and concurrency, interleaved; \
             client runtime {workers} workers, server on its own thread",
            slice.as_millis()
        );
        println!(
            "{:>5} {:>13} {:>11} {:>9} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11}",
            "conc",
            "variant",
            "req/s",
            "ratio",
            "p50 µs",
            "p99 µs",
            "+p50 µs",
            "+p99 µs",
            "round ratio",
            "allocs/req"
        );
        for &concurrency in &levels {
            // Warm up: connections opened, pools full, caches hot.
            for &v in &variants {
                run_slice(&clients, v, concurrency, slice / 2, &mut Tally::default()).await;
            }
            let mut tallies: Vec<Tally> = variants.iter().map(|_| Tally::default()).collect();
            let mut round_ratios: Vec<Vec<f64>> = variants.iter().map(|_| Vec::new()).collect();
            for round in 0..rounds {
                let mut this_round: Vec<f64> = vec![0.0; variants.len()];
                for k in 0..variants.len() {
                    let i = (k + round) % variants.len();
                    let mut t = Tally::default();
                    run_slice(&clients, variants[i], concurrency, slice, &mut t).await;
                    this_round[i] = t.throughput();
                    tallies[i].requests += t.requests;
                    tallies[i].busy += t.busy;
                    tallies[i].allocations += t.allocations;
                    tallies[i].latencies_ns.extend(t.latencies_ns);
                }
                for i in 0..variants.len() {
                    round_ratios[i].push(this_round[i] / this_round[0]);
                }
            }
            let base_throughput = tallies[0].throughput();
            let base_p50 = tallies[0].percentile_us(0.50);
            let base_p99 = tallies[0].percentile_us(0.99);
            for (i, v) in variants.iter().enumerate() {
                let t = &mut tallies[i];
                let (p50, p99) = (t.percentile_us(0.50), t.percentile_us(0.99));
                let mut rr = round_ratios[i].clone();
                rr.sort_by(f64::total_cmp);
                let median_round = rr.get(rr.len() / 2).copied().unwrap_or(f64::NAN);
                println!(
                    "{:>5} {:>13} {:>11.0} {:>9.3} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>11.3} {:>11.1}",
                    concurrency,
                    v.name(),
                    t.throughput(),
                    t.throughput() / base_throughput,
                    p50,
                    p99,
                    p50 - base_p50,
                    p99 - base_p99,
                    median_round,
                    t.allocations as f64 / t.requests.max(1) as f64,
                );
            }
        }
        println!(
            "(ratio = throughput / bare reqwest's over all rounds; round ratio = median of the \
             per-round ratios; +p50/+p99 = latency added over bare reqwest; targets: ratio \
             >= 0.95 at every concurrency, +p50 <= 5 µs at concurrency 1)"
        );
    });
}
