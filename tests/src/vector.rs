//! The binding-neutral session vector format: events in (with times), actions out.
//!
//! A vector is a JSON file (see `tests/vectors/README.md`): a [`Config`], a seed, an
//! optional snapshot to restore, and steps. Each step is one event applied at `at`
//! (unix ms) and the exact list of actions the session must emit right after it, in
//! order, as JSON. Core, the C ABI and WASM replay the same files; every action and
//! event has one JSON shape here.

use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, FetchId, HttpErrorKind, RequestId, Session, Snapshot, Stats,
};
use bearerflow::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One input to the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// `begin_request(now)`; the new id is checked against `id`.
    BeginRequest {
        /// The id the session must hand out.
        id: u64,
    },
    /// `handle_resource_response`.
    ResourceResponse {
        /// Request id.
        id: u64,
        /// Status.
        status: u16,
        /// `WWW-Authenticate` lines.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        www_authenticate: Vec<String>,
        /// The verdict the session must return: `deliver` or `retry`.
        verdict: String,
    },
    /// `handle_http_response`.
    HttpResponse {
        /// Fetch id.
        id: u64,
        /// Status.
        status: u16,
        /// Response headers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
        /// Body as UTF-8 text.
        #[serde(default)]
        body: String,
    },
    /// `handle_http_error`.
    HttpError {
        /// Fetch id.
        id: u64,
        /// `connect`, `io` or `timeout`.
        kind: String,
    },
    /// `handle_helper_stdout` with this text.
    HelperOutput {
        /// What the helper printed.
        stdout: String,
    },
    /// `handle_helper_failure`.
    HelperFailure {
        /// The exit status, or `null` when it did not exit (not started, killed).
        exit_code: Option<i32>,
    },
    /// `handle_redirect`; `ok` is whether it must be accepted.
    Redirect {
        /// The redirect URL.
        url: String,
        /// Whether `handle_redirect` returns `Ok`.
        ok: bool,
    },
    /// `handle_authorize_error`.
    AuthorizeError,
    /// `handle_persist_failed`.
    PersistFailed,
    /// `handle_timeout(now)`.
    Timeout,
    /// `cancel_request`.
    CancelRequest {
        /// Request id.
        id: u64,
    },
    /// `reauthorize(now)`.
    Reauthorize,
    /// `handle_lease(granted, now)`.
    Lease {
        /// Whether the host got the shared store's lease.
        granted: bool,
    },
    /// `handle_store_update(snapshot, now)`.
    StoreUpdate {
        /// What the shared store holds now.
        snapshot: Snapshot,
    },
    /// `handle_persist_conflict(snapshot, now)`.
    PersistConflict {
        /// What the shared store holds instead.
        snapshot: Snapshot,
    },
    /// `set_tokens(…, now)`.
    SetTokens {
        /// Access token.
        access_token: String,
        /// Refresh token.
        #[serde(default)]
        refresh_token: Option<String>,
        /// Lifetime in seconds.
        #[serde(default)]
        expires_in: Option<u64>,
        /// Granted scope.
        #[serde(default)]
        scope: Option<String>,
    },
}

/// One step: an event at a time, and what must follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `now`, unix ms.
    pub at: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// The actions drained right after, in order.
    pub expect: Vec<Value>,
    /// `poll_timeout()` after the actions are drained (unix ms, or `null`).
    pub timeout: Option<u64>,
    /// `phase(at)` after the actions are drained.
    pub phase: String,
}

/// A whole recorded session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// File name stem.
    pub name: String,
    /// What the vector shows.
    pub description: String,
    /// Session configuration.
    pub config: Config,
    /// 32-byte seed, hex.
    pub seed: String,
    /// `now` at creation.
    pub start: u64,
    /// A snapshot to restore at `start`, if any.
    #[serde(default)]
    pub snapshot: Option<Snapshot>,
    /// Actions emitted at creation (a helper session asks for its helper).
    #[serde(default)]
    pub initial: Vec<Value>,
    /// `poll_timeout()` after creation.
    pub initial_timeout: Option<u64>,
    /// `phase(start)` after creation.
    pub initial_phase: String,
    /// The steps.
    pub steps: Vec<Step>,
    /// `Session::stats()` after the last step.
    pub stats: Stats,
}

/// Hex of a seed.
pub fn seed_hex(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

/// A seed from hex.
pub fn seed_from_hex(hex: &str) -> Result<[u8; 32], String> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(format!("seed must be 64 hex digits, got {}", bytes.len()));
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|e| format!("seed: {e}"))?;
    }
    Ok(out)
}

/// The JSON form of an action: core's one shape ([`Action::to_json`]).
pub fn action_json(session: &Session, action: &Action) -> Value {
    serde_json::to_value(action.view(session)).unwrap_or(Value::Null)
}

/// Drain every queued action as JSON, together with the actions themselves.
pub fn drain(session: &mut Session) -> Vec<(Action, Value)> {
    let mut out = Vec::new();
    while let Some(a) = session.poll_action() {
        let v = action_json(session, &a);
        out.push((a, v));
    }
    out
}

/// What a vector step pins after the actions: the next deadline and the phase.
pub fn observe(session: &Session, now: Timestamp) -> (Option<u64>, String) {
    (
        session.poll_timeout().map(|t| t.0),
        session.phase(now).as_str().to_string(),
    )
}

/// Apply one event; errors describe a mismatch in what the event itself checks (the id
/// handed out, a verdict, a redirect's acceptance).
pub fn apply(session: &mut Session, event: &Event, now: Timestamp) -> Result<(), String> {
    match event {
        Event::BeginRequest { id } => {
            let got = session.begin_request(now);
            if got != RequestId(*id) {
                return Err(format!("begin_request gave {got:?}, vector says {id}"));
            }
        }
        Event::ResourceResponse {
            id,
            status,
            www_authenticate,
            verdict,
        } => {
            let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
            let v = session.handle_resource_response(RequestId(*id), *status, &lines, now);
            if v.as_str() != verdict {
                return Err(format!(
                    "verdict for request {id}: got {}, vector says {verdict}",
                    v.as_str()
                ));
            }
        }
        Event::HttpResponse {
            id,
            status,
            headers,
            body,
        } => {
            let hs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            session.handle_http_response(FetchId(*id), *status, &hs, body.as_bytes(), now);
        }
        Event::HttpError { id, kind } => {
            let kind = HttpErrorKind::from_code(kind)
                .ok_or_else(|| format!("unknown http error kind {kind:?}"))?;
            session.handle_http_error(FetchId(*id), kind, now);
        }
        Event::HelperOutput { stdout } => session.handle_helper_stdout(stdout.as_bytes(), now),
        Event::HelperFailure { exit_code } => session.handle_helper_failure(*exit_code, now),
        Event::Redirect { url, ok } => {
            let r = session.handle_redirect(url, now);
            if r.is_ok() != *ok {
                return Err(format!("redirect {url:?}: got {r:?}, vector says ok={ok}"));
            }
        }
        Event::AuthorizeError => session.handle_authorize_error(now),
        Event::PersistFailed => session.handle_persist_failed(now),
        Event::Timeout => session.handle_timeout(now),
        Event::CancelRequest { id } => session.cancel_request(RequestId(*id)),
        Event::Reauthorize => session.reauthorize(now),
        Event::Lease { granted } => session.handle_lease(*granted, now),
        Event::StoreUpdate { snapshot } => session.handle_store_update(snapshot.clone(), now),
        Event::PersistConflict { snapshot } => {
            session.handle_persist_conflict(snapshot.clone(), now)
        }
        Event::SetTokens {
            access_token,
            refresh_token,
            expires_in,
            scope,
        } => session.set_tokens(
            Secret::new(access_token.as_str()),
            refresh_token.as_deref().map(Secret::new),
            *expires_in,
            scope.clone(),
            now,
        ),
    }
    Ok(())
}

/// Replay a vector against core; the first difference is the error.
pub fn replay(v: &Vector) -> Result<(), String> {
    let seed = seed_from_hex(&v.seed)?;
    let start = Timestamp(v.start);
    let mut s = match &v.snapshot {
        Some(snap) => Session::restore(v.config.clone(), snap.clone(), seed, start),
        None => Session::new(v.config.clone(), seed, start),
    };
    let initial: Vec<Value> = drain(&mut s).into_iter().map(|(_, j)| j).collect();
    if initial != v.initial {
        return Err(format!(
            "{}: initial actions differ:\n got {initial:?}\nwant {:?}",
            v.name, v.initial
        ));
    }
    let seen = observe(&s, start);
    if seen != (v.initial_timeout, v.initial_phase.clone()) {
        return Err(format!(
            "{}: after creation: got timeout/phase {seen:?}, want {:?}",
            v.name,
            (v.initial_timeout, &v.initial_phase)
        ));
    }
    for (i, step) in v.steps.iter().enumerate() {
        let now = Timestamp(step.at);
        apply(&mut s, &step.event, now).map_err(|e| format!("{} step {i}: {e}", v.name))?;
        let got: Vec<Value> = drain(&mut s).into_iter().map(|(_, j)| j).collect();
        if got != step.expect {
            return Err(format!(
                "{} step {i} ({:?} at {}): actions differ:\n got {}\nwant {}",
                v.name,
                step.event,
                step.at,
                serde_json::to_string(&got).unwrap_or_default(),
                serde_json::to_string(&step.expect).unwrap_or_default()
            ));
        }
        let seen = observe(&s, now);
        if seen != (step.timeout, step.phase.clone()) {
            return Err(format!(
                "{} step {i} ({:?} at {}): got timeout/phase {seen:?}, want {:?}",
                v.name,
                step.event,
                step.at,
                (step.timeout, &step.phase)
            ));
        }
    }
    if s.stats() != v.stats {
        return Err(format!(
            "{}: stats differ: got {:?}, want {:?}",
            v.name,
            s.stats(),
            v.stats
        ));
    }
    Ok(())
}
