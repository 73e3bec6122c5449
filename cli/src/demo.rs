//! `bearerflow demo`: the main job, with zero setup.
//!
//! Starts the loopback testbed (short-lived tokens, rotation), connects to it as an MCP
//! client the way a real one must (tokenless request → 401 → RFC 9728 / RFC 8414
//! discovery → RFC 7591 registration → PKCE authorization, followed headlessly → the
//! MCP wire negotiated as 2026-07-28 says (`server/discover` on the stateless wire, or
//! `initialize` when the server is legacy; `--wire`, `--server-wires`) → `tools/list`),
//! then makes tool calls for a while: a burst of
//! concurrent calls right after the first token expired, then a steady stream. It prints
//! the timeline the session went through and a summary; with `--json` the last line is
//! one JSON object. Exit status 0 only when no call failed.

use bearerflow::session::{Config, FetchPurpose, OAuthConfig, Verdict};
use bearerflow::token::Phase;
use bearerflow_async::mcp::{McpClient, McpError, WireChoice};
use bearerflow_async::{Client, Event, HeadlessFollow, MemoryStore};
use bearerflow_testbed::{Testbed, Wires};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const USAGE: &str = "usage: bearerflow demo [OPTIONS]
  --ttl DUR           access token lifetime (default 5s; e.g. 2, 5s, 1500ms)
  --burst N           concurrent calls right after the first expiry (default 32)
  --duration DUR      how long to make calls (default 30s)
  --interval DUR      pause between steady calls (default 500ms)
  --no-rotate         do not rotate refresh tokens
  --fail-refresh N    the next N token requests after connecting answer 500
  --invalid-grant     the first refresh is refused with invalid_grant (the demo
                      re-authorizes headlessly)
  --wire W            the client's MCP wire: auto (default; 2026-07-28 stateless,
                      falling back to the 2025-11-25 initialize handshake), modern
                      or legacy
  --server-wires W    what the testbed speaks: both (default), modern or legacy
  --json              end with one JSON line: calls_ok, calls_failed, refreshes,
                      expiries, unauthorized_seen, wire, ...";

/// Where the (headless) authorization comes back to; never contacted.
const REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";

use bearerflow_testbed::cli::parse_duration;

#[derive(Debug, Clone, PartialEq)]
struct Options {
    ttl: Duration,
    burst: usize,
    duration: Duration,
    interval: Duration,
    rotate: bool,
    fail_refresh: u32,
    invalid_grant: bool,
    wire: WireChoice,
    server_wires: Wires,
    json: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ttl: Duration::from_secs(5),
            burst: 32,
            duration: Duration::from_secs(30),
            interval: Duration::from_millis(500),
            rotate: true,
            fail_refresh: 0,
            invalid_grant: false,
            wire: WireChoice::Auto,
            server_wires: Wires::Both,
            json: false,
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let duration = |name: &str, v: String| {
            parse_duration(&v).ok_or_else(|| format!("{name}: bad duration {v:?}"))
        };
        match arg.as_str() {
            "--ttl" => o.ttl = duration("--ttl", value("--ttl")?)?,
            "--duration" => o.duration = duration("--duration", value("--duration")?)?,
            "--interval" => o.interval = duration("--interval", value("--interval")?)?,
            "--burst" => {
                let v = value("--burst")?;
                o.burst = v
                    .parse()
                    .map_err(|_| format!("--burst: {v:?} is not a count"))?;
            }
            "--fail-refresh" => {
                let v = value("--fail-refresh")?;
                o.fail_refresh = v
                    .parse()
                    .map_err(|_| format!("--fail-refresh: {v:?} is not a count"))?;
            }
            "--no-rotate" => o.rotate = false,
            "--invalid-grant" => o.invalid_grant = true,
            "--wire" => {
                let v = value("--wire")?;
                o.wire = WireChoice::parse(&v)
                    .ok_or_else(|| format!("--wire: expected auto, modern or legacy, got {v:?}"))?;
            }
            "--server-wires" => {
                let v = value("--server-wires")?;
                o.server_wires = Wires::parse(&v).ok_or_else(|| {
                    format!("--server-wires: expected both, modern or legacy, got {v:?}")
                })?;
            }
            "--json" => o.json = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if o.ttl < Duration::from_secs(1) {
        return Err("--ttl must be at least 1s (token responses count whole seconds)".into());
    }
    if o.burst > 10_000 {
        return Err("--burst is limited to 10000".into());
    }
    Ok(o)
}

/// `bearerflow demo ...`
pub fn run(args: &[String]) -> ExitCode {
    crate::command::run("demo", USAGE, args, parse_args, |rt, options| {
        match rt.block_on(demo(&options)) {
            Ok(summary) => {
                summary.print(&options);
                if summary.calls_failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("bearerflow demo: {}", crate::safe::line(&e));
                ExitCode::FAILURE
            }
        }
    })
}

/// What the event printer learns.
#[derive(Default)]
struct Tracker {
    /// Token generation → absolute expiry (unix ms), from `Persist` events.
    lifetimes: BTreeMap<u64, u64>,
    /// (from, to) → count.
    phases: BTreeMap<(&'static str, &'static str), u32>,
    /// 401 answers the session handled underneath (retried).
    retried_401s: u32,
}

fn lock(t: &Mutex<Tracker>) -> std::sync::MutexGuard<'_, Tracker> {
    match t.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A clock for the timeline: seconds since the demo started.
#[derive(Clone, Copy)]
struct Clock(u64);

impl Clock {
    fn rel(self, at_ms: u64) -> String {
        let d = at_ms.saturating_sub(self.0);
        format!("+{:>3}.{:03}s", d / 1000, d % 1000)
    }

    /// `+3.115s`, for inside a sentence.
    fn short(self, at_ms: u64) -> String {
        let d = at_ms.saturating_sub(self.0);
        format!("+{}.{:03}s", d / 1000, d % 1000)
    }

    fn now(self) -> String {
        self.rel(bearerflow_async::now().0)
    }

    fn line(self, what: &str, text: &str) {
        println!("{}  {what:<10} {}", self.now(), crate::safe::line(text));
    }
}

fn purpose_label(p: FetchPurpose) -> (&'static str, &'static str) {
    match p {
        FetchPurpose::Refresh => ("token", "refresh"),
        FetchPurpose::CodeExchange => ("token", "code exchange"),
        FetchPurpose::ClientCredentials => ("token", "client credentials"),
        FetchPurpose::ResourceMetadata => ("discovery", "protected resource metadata"),
        FetchPurpose::ServerMetadata => ("discovery", "authorization server metadata"),
        FetchPurpose::Registration => ("register", "dynamic client registration"),
    }
}

/// Print one event of the session's timeline (per-call sends are left to the caller's
/// own lines).
fn print_event(clock: Clock, e: &Event, tracker: &Mutex<Tracker>) {
    let at = clock.rel(e.at().0);
    let line = |what: &str, text: String| println!("{at}  {what:<10} {}", crate::safe::line(&text));
    match e {
        Event::Phase { from, to, .. } => {
            *lock(tracker)
                .phases
                .entry((from.as_str(), to.as_str()))
                .or_default() += 1;
            line("phase", format!("{from} → {to}"));
        }
        Event::Fetch { purpose, url, .. } => {
            let (what, label) = purpose_label(*purpose);
            line(what, format!("{label}: {url}"));
        }
        Event::FetchDone {
            purpose, outcome, ..
        } => {
            let (what, label) = purpose_label(*purpose);
            match outcome {
                Ok(status) => line(what, format!("{label} ← HTTP {status}")),
                Err(kind) => line(what, format!("{label} failed: {kind:?}")),
            }
        }
        Event::Persist {
            ok,
            generation,
            expires_at,
            ..
        } => {
            if let (Some(g), Some(e)) = (generation, expires_at) {
                lock(tracker).lifetimes.insert(*g, *e);
            }
            let what = match (generation, expires_at) {
                (Some(g), Some(e)) => {
                    format!("token set #{g} stored (expires at {})", clock.short(*e))
                }
                (Some(g), None) => format!("token set #{g} stored"),
                _ => "snapshot stored (no tokens)".to_string(),
            };
            let status = if *ok { "" } else { " — the store FAILED" };
            line("persist", format!("{what}{status}"));
        }
        Event::Authorize { .. } => line(
            "authorize",
            "PKCE authorization request, followed headlessly (the testbed approves)".into(),
        ),
        Event::Redirect { accepted, .. } => line(
            "authorize",
            if *accepted {
                "redirect accepted (state and iss checked)".into()
            } else {
                "redirect REJECTED".into()
            },
        ),
        Event::AuthorizeFailed { reason, .. } => line("authorize", format!("failed: {reason}")),
        Event::Response {
            id,
            status,
            verdict,
            ..
        } if *status == 401 || *status == 403 => {
            if *verdict == Verdict::Retry {
                lock(tracker).retried_401s += 1;
            }
            let then = match verdict {
                Verdict::Retry => "handled underneath, the call will be retried",
                Verdict::Deliver => "delivered to the caller",
            };
            line(
                "resource",
                format!("request {} ← HTTP {status}: {then}", id.0),
            );
        }
        Event::Fail {
            id, error, detail, ..
        } => line(
            "fail",
            format!(
                "request {}: {error}{}",
                id.0,
                detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        ),
        Event::HelperRun { .. } => line("helper", "running the header helper".into()),
        Event::HelperDone { error, .. } => line(
            "helper",
            error
                .as_ref()
                .map(|e| format!("failed: {e}"))
                .unwrap_or_else(|| "done".into()),
        ),
        Event::Credential {
            obtained: bearerflow_async::Obtained::AuthorizationCode,
            refresh_token: false,
            ..
        } => line(
            "authorize",
            "no refresh token issued: each expiry will need a new authorization".into(),
        ),
        _ => {}
    }
}

/// The outcome of one call, as the demo counts it.
enum CallOutcome {
    Ok,
    Unauthorized,
    Failed(String),
}

async fn call(mcp: &McpClient, a: u64, b: u64) -> CallOutcome {
    match mcp.call_tool("add", json!({"a": a, "b": b})).await {
        Ok(r) if r["content"][0]["text"] == (a + b).to_string().as_str() => CallOutcome::Ok,
        Ok(r) => CallOutcome::Failed(format!("unexpected result {r}")),
        Err(McpError::Status { status: 401, .. }) => CallOutcome::Unauthorized,
        Err(e) => CallOutcome::Failed(e.to_string()),
    }
}

#[derive(Debug, Default)]
struct Summary {
    calls_ok: u64,
    calls_failed: u64,
    unauthorized_seen: u64,
    burst_ok: u64,
    burst_failed: u64,
    burst_refreshes: u64,
    refreshes: u64,
    code_exchanges: u64,
    token_errors: u64,
    authorizations: u64,
    registrations: u64,
    expiries: u64,
    retried_401s: u32,
    phases: BTreeMap<(&'static str, &'static str), u32>,
    elapsed_ms: u64,
    first_error: Option<String>,
    /// The wire the client used (`modern` or `legacy`) and its protocol version.
    wire: String,
    protocol_version: String,
    /// Requests the testbed served on the modern wire, `initialize` handshakes, and
    /// modern requests it refused for their `_meta` or headers.
    modern_requests: u64,
    initializations: u64,
    wire_rejections: u64,
}

impl Summary {
    fn count(&mut self, outcome: &CallOutcome) {
        match outcome {
            CallOutcome::Ok => self.calls_ok += 1,
            CallOutcome::Unauthorized => {
                self.calls_failed += 1;
                self.unauthorized_seen += 1;
            }
            CallOutcome::Failed(e) => {
                self.calls_failed += 1;
                self.first_error.get_or_insert_with(|| e.clone());
            }
        }
    }

    fn print(&self, o: &Options) {
        let phase = |from: Phase, to: Phase| {
            self.phases
                .get(&(from.as_str(), to.as_str()))
                .copied()
                .unwrap_or(0)
        };
        println!();
        println!("summary ({:.1} s)", self.elapsed_ms as f64 / 1000.0);
        println!(
            "  wire             {} (MCP {}): {} stateless request(s), {} initialize handshake(s), {} refused for their _meta or headers",
            self.wire,
            self.protocol_version,
            self.modern_requests,
            self.initializations,
            self.wire_rejections
        );
        println!(
            "  calls            {} ok, {} failed (burst of {}: {} ok, {} failed)",
            self.calls_ok, self.calls_failed, o.burst, self.burst_ok, self.burst_failed
        );
        println!(
            "  token endpoint   {} refresh requests ({} for the burst), {} code exchange(s), {} error answer(s)",
            self.refreshes, self.burst_refreshes, self.code_exchanges, self.token_errors
        );
        println!(
            "  expiries         {} token lifetimes ended during the run",
            self.expiries
        );
        println!(
            "  401s             {} reached the caller; {} handled underneath",
            self.unauthorized_seen, self.retried_401s
        );
        println!(
            "  phases           fresh→expiring {}, expiring→refreshing {}, expired→refreshing {}, refreshing→fresh {}",
            phase(Phase::Fresh, Phase::Expiring),
            phase(Phase::Expiring, Phase::Refreshing),
            phase(Phase::Expired, Phase::Refreshing),
            phase(Phase::Refreshing, Phase::Fresh),
        );
        if let Some(e) = &self.first_error {
            println!("  first failure    {}", crate::safe::line(e));
        }
        println!(
            "  verdict          {}",
            if self.calls_failed == 0 {
                "every call succeeded"
            } else {
                "SOME CALLS FAILED"
            }
        );
        if o.json {
            let phases: serde_json::Map<String, serde_json::Value> = self
                .phases
                .iter()
                .map(|((f, t), n)| (format!("{f}->{t}"), json!(n)))
                .collect();
            println!(
                "{}",
                json!({
                    "calls_ok": self.calls_ok,
                    "calls_failed": self.calls_failed,
                    "refreshes": self.refreshes,
                    "expiries": self.expiries,
                    "unauthorized_seen": self.unauthorized_seen,
                    "unauthorized_handled": self.retried_401s,
                    "burst": o.burst,
                    "burst_ok": self.burst_ok,
                    "burst_failed": self.burst_failed,
                    "burst_refreshes": self.burst_refreshes,
                    "code_exchanges": self.code_exchanges,
                    "token_errors": self.token_errors,
                    "authorizations": self.authorizations,
                    "registrations": self.registrations,
                    "ttl_ms": u64::try_from(o.ttl.as_millis()).unwrap_or(u64::MAX),
                    "rotate": o.rotate,
                    "elapsed_ms": self.elapsed_ms,
                    "phases": phases,
                    "wire": self.wire,
                    "protocol_version": self.protocol_version,
                    "modern_requests": self.modern_requests,
                    "initializations": self.initializations,
                    "wire_rejections": self.wire_rejections,
                })
            );
        }
    }
}

async fn sleep_until_unix_ms(at: u64) {
    let now = bearerflow_async::now().0;
    if at > now {
        tokio::time::sleep(Duration::from_millis(at - now)).await;
    }
}

async fn demo(o: &Options) -> Result<Summary, String> {
    let clock = Clock(bearerflow_async::now().0);
    let tb = Testbed::start(bearerflow_testbed::Config {
        access_ttl: o.ttl,
        rotate_refresh_tokens: o.rotate,
        wires: o.server_wires,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("starting the testbed: {e}"))?;
    println!(
        "bearerflow demo: an MCP client kept authorized with {} ms tokens{} for {:.0} s",
        o.ttl.as_millis(),
        if o.rotate {
            " and refresh-token rotation"
        } else {
            ""
        },
        o.duration.as_secs_f64()
    );
    clock.line(
        "testbed",
        &format!(
            "MCP server at {} (wires: {})",
            tb.mcp_url(),
            o.server_wires.as_str()
        ),
    );
    clock.line("testbed", &format!("authorization server {}", tb.issuer()));

    let config = Config::oauth(
        tb.mcp_url(),
        OAuthConfig {
            redirect_uri: Some(REDIRECT_URI.into()),
            client_name: Some("bearerflow demo".into()),
            ..OAuthConfig::default()
        },
    );
    let client = Client::builder(config)
        .store(MemoryStore::new())
        .authorizer(HeadlessFollow::new().map_err(|e| e.to_string())?)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let mut events = client.subscribe();
    let printer = {
        let tracker = Arc::clone(&tracker);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    e = events.recv() => match e {
                        Ok(e) => print_event(clock, &e, &tracker),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            println!("           ({n} events skipped)");
                        }
                        Err(_) => break,
                    },
                    _ = &mut stopped => {
                        while let Ok(e) = events.try_recv() {
                            print_event(clock, &e, &tracker);
                        }
                        break;
                    }
                }
            }
        })
    };

    let mut summary = Summary::default();
    let mcp = Arc::new(McpClient::new(client.clone(), tb.mcp_url()).with_wire(o.wire));
    clock.line(
        "mcp",
        &format!(
            "connect, wire {} (no token yet: the server's 401 starts the OAuth flow)",
            o.wire.as_str()
        ),
    );
    let connected = mcp.connect().await.map_err(|e| format!("connect: {e}"))?;
    let info = connected.server_info.clone().unwrap_or_default();
    clock.line(
        "mcp",
        &format!(
            "connected: {} {}, {} wire ({}), protocol {}",
            info["name"].as_str().unwrap_or("?"),
            info["version"].as_str().unwrap_or(""),
            connected.wire,
            connected.wire.describe(),
            connected.protocol_version
        ),
    );
    summary.wire = connected.wire.as_str().to_string();
    summary.protocol_version = connected.protocol_version.clone();
    let tools = mcp
        .list_tools()
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    clock.line("mcp", &format!("tools/list: {}", names.join(", ")));

    if o.fail_refresh > 0 {
        tb.faults().fail_next_token_calls(o.fail_refresh);
        clock.line(
            "fault",
            &format!(
                "the next {} token request(s) will answer HTTP 500",
                o.fail_refresh
            ),
        );
    }
    if o.invalid_grant {
        tb.faults().invalid_grant_next_refresh_calls(1);
        clock.line(
            "fault",
            "the next refresh will be refused with invalid_grant",
        );
    }
    let end = clock.0 + u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX);

    // The burst, right after the first token's lifetime ends.
    let status = client.status().await.map_err(|e| e.to_string())?;
    if let (Some(expires_at), true) = (status.expires_at.map(|t| t.0), o.burst > 0) {
        if expires_at + 100 < end {
            clock.line(
                "wait",
                &format!(
                    "idle until the token expires at {}, then {} concurrent calls",
                    clock.short(expires_at),
                    o.burst
                ),
            );
            sleep_until_unix_ms(expires_at + 100).await;
            let refreshes_before = tb.counters().token_refresh;
            let started = bearerflow_async::now().0;
            clock.line("burst", &format!("{} calls at once", o.burst));
            let mut tasks = Vec::new();
            for i in 0..o.burst {
                let mcp = Arc::clone(&mcp);
                let i = i as u64;
                tasks.push(tokio::spawn(async move { call(&mcp, i, 1).await }));
            }
            for t in tasks {
                let outcome = match t.await {
                    Ok(o) => o,
                    Err(e) => CallOutcome::Failed(format!("task: {e}")),
                };
                match outcome {
                    CallOutcome::Ok => summary.burst_ok += 1,
                    _ => summary.burst_failed += 1,
                }
                summary.count(&outcome);
            }
            summary.burst_refreshes = tb.counters().token_refresh - refreshes_before;
            clock.line(
                "burst",
                &format!(
                    "{} ok, {} failed in {} ms, {} refresh request(s)",
                    summary.burst_ok,
                    summary.burst_failed,
                    bearerflow_async::now().0 - started,
                    summary.burst_refreshes
                ),
            );
        }
    }

    // A steady stream of calls for the rest of the run.
    let mut n = 0u64;
    while bearerflow_async::now().0 < end {
        n += 1;
        let started = bearerflow_async::now().0;
        let outcome = call(&mcp, n, n).await;
        let took = bearerflow_async::now().0 - started;
        match &outcome {
            CallOutcome::Ok => {
                clock.line("call", &format!("add({n}, {n}) = {} ({took} ms)", 2 * n))
            }
            CallOutcome::Unauthorized => clock.line("call", "FAILED: 401 reached the caller"),
            CallOutcome::Failed(e) => clock.line("call", &format!("FAILED: {e}")),
        }
        summary.count(&outcome);
        let left = end.saturating_sub(bearerflow_async::now().0);
        tokio::time::sleep(o.interval.min(Duration::from_millis(left))).await;
    }

    let finished = bearerflow_async::now().0;
    let _ = stop.send(());
    let _ = printer.await;
    let c = tb.counters();
    {
        let t = lock(&tracker);
        summary.expiries = t.lifetimes.values().filter(|e| **e <= finished).count() as u64;
        summary.retried_401s = t.retried_401s;
        summary.phases = t.phases.clone();
    }
    summary.refreshes = c.token_refresh;
    summary.code_exchanges = c.token_authorization_code;
    summary.token_errors = c.token_errors;
    summary.authorizations = c.authorizations;
    summary.registrations = c.registrations;
    summary.modern_requests = c.modern_requests;
    summary.initializations = c.initializations;
    summary.wire_rejections = c.wire_rejections;
    summary.elapsed_ms = finished - clock.0;
    tb.shutdown().await;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_args(&args(&[
            "--ttl",
            "2",
            "--burst",
            "8",
            "--duration",
            "10",
            "--no-rotate",
            "--fail-refresh",
            "2",
            "--invalid-grant",
            "--json",
        ]))
        .unwrap();
        assert_eq!(o.ttl, Duration::from_secs(2));
        assert_eq!(o.burst, 8);
        assert_eq!(o.duration, Duration::from_secs(10));
        assert!(!o.rotate && o.invalid_grant && o.json);
        assert_eq!(o.fail_refresh, 2);
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let o = parse_args(&args(&["--wire", "legacy", "--server-wires", "modern"])).unwrap();
        assert_eq!(
            (o.wire, o.server_wires),
            (WireChoice::Legacy, Wires::Modern)
        );
        assert!(parse_args(&args(&["--wire", "x"])).is_err());
        assert!(parse_args(&args(&["--server-wires", "x"])).is_err());
        assert!(parse_args(&args(&["--ttl", "500ms"])).is_err());
        assert!(parse_args(&args(&["--burst", "x"])).is_err());
        assert!(parse_args(&args(&["--burst"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }
}
