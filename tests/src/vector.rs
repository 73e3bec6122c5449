//! The binding-neutral session vector format: events in (with times), actions out.
//!
//! A vector is a JSON file (see `tests/vectors/README.md`): a [`Config`], a seed, an
//! optional snapshot to restore, and steps. Each step is one event applied at `at`
//! (unix ms) and the exact list of actions the session must emit right after it, in
//! order, as JSON. Core, the C ABI and WASM replay the same files; every action and
//! event has one JSON shape here.

use bearerflow::http::Method;
use bearerflow::session::{
    parse_helper_output, Action, Config, FetchId, HttpErrorKind, RequestId, Session, Snapshot,
    Stats, Verdict,
};
use bearerflow::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One input to the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
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
    /// `handle_helper_output`; `stdout: null` means the helper failed.
    HelperOutput {
        /// What the helper printed.
        stdout: Option<String>,
    },
    /// `handle_redirect`; `ok` is whether it must be accepted.
    Redirect {
        /// The redirect URL.
        url: String,
        /// Whether `handle_redirect` returns `Ok`.
        ok: bool,
    },
    /// `handle_timeout(now)`.
    Timeout,
    /// `cancel_request`.
    CancelRequest {
        /// Request id.
        id: u64,
    },
}

/// One step: an event at a time, and the actions that must follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `now`, unix ms.
    pub at: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// The actions drained right after, in order.
    pub expect: Vec<Value>,
}

/// A whole recorded session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// The JSON form of an action. A `Send` carries the headers of its generation as the
/// session reports them at that moment.
pub fn action_json(session: &Session, action: &Action) -> Value {
    match action {
        Action::Send { id, generation } => {
            let headers: Vec<(String, String)> = session
                .headers(*generation)
                .map(|hs| {
                    hs.iter()
                        .map(|h| (h.name.clone(), h.value.expose().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            json!({"send": {"id": id.0, "generation": generation.0, "headers": headers}})
        }
        Action::Fetch {
            id,
            purpose,
            request,
        } => {
            let headers: Vec<(String, String)> = request
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.expose().to_string()))
                .collect();
            json!({"fetch": {
                "id": id.0,
                "purpose": purpose.as_str(),
                "method": match request.method { Method::Get => "GET", Method::Post => "POST" },
                "url": request.url,
                "headers": headers,
                "body": String::from_utf8_lossy(&request.body),
            }})
        }
        Action::RunHelper => json!({"run_helper": {}}),
        Action::Persist(s) => json!({"persist": serde_json::to_value(s).unwrap_or(Value::Null)}),
        Action::Fail { id, error } => json!({"fail": {"id": id.0, "error": error.code()}}),
        Action::Authorize { url } => json!({"authorize": {"url": url}}),
    }
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

fn http_error_kind(kind: &str) -> Result<HttpErrorKind, String> {
    match kind {
        "connect" => Ok(HttpErrorKind::Connect),
        "io" => Ok(HttpErrorKind::Io),
        "timeout" => Ok(HttpErrorKind::Timeout),
        other => Err(format!("unknown http error kind {other:?}")),
    }
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
            let got = match v {
                Verdict::Deliver => "deliver",
                Verdict::Retry => "retry",
            };
            if got != verdict {
                return Err(format!(
                    "verdict for request {id}: got {got}, vector says {verdict}"
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
            session.handle_http_error(FetchId(*id), http_error_kind(kind)?, now);
        }
        Event::HelperOutput { stdout } => {
            let result = match stdout {
                Some(s) => parse_helper_output(s.as_bytes()),
                None => Err(bearerflow::session::HelperOutputError::Empty),
            };
            session.handle_helper_output(result, now);
        }
        Event::Redirect { url, ok } => {
            let r = session.handle_redirect(url, now);
            if r.is_ok() != *ok {
                return Err(format!("redirect {url:?}: got {r:?}, vector says ok={ok}"));
            }
        }
        Event::Timeout => session.handle_timeout(now),
        Event::CancelRequest { id } => session.cancel_request(RequestId(*id)),
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
    for (i, step) in v.steps.iter().enumerate() {
        apply(&mut s, &step.event, Timestamp(step.at))
            .map_err(|e| format!("{} step {i}: {e}", v.name))?;
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
