//! The session vectors of `tests/vectors/session/`, embedded at build time (see
//! `build.rs`) and replayed on the target through bearerflow's public API, exactly as
//! `tests/vectors/README.md` ("The replay loop a binding implements") says: the
//! configuration through `Config::from_json`, a snapshot through `Snapshot::from_json`,
//! every drained action rendered with `Action::to_json` and compared as a JSON value,
//! then `poll_timeout()` and `phase(at)` after each step, and `stats()` at the end.
//!
//! [`Transport::Wire`] replays the same file with every recorded token-endpoint,
//! discovery and registration answer carried over a simulated socket by
//! `bearerflow::http::blocking::fetch`: the fetch action's request is written by the
//! driver (and its bytes checked), the recorded response is rendered as HTTP/1.1 bytes
//! and parsed back on the target. The session must then do exactly what the vector
//! pins, as it does when the host hands it the response directly.

use crate::wire::{self, Framing, SimSocket};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use bearerflow::http::blocking::{self, ExchangeError};
use bearerflow::http::Request;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, FetchId, HttpErrorKind, RequestId, Session, Snapshot, Stats,
};
use bearerflow::time::Timestamp;
use embedded_io::ErrorKind;
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/vectors.rs"));

/// How HTTP answers reach the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `handle_http_response` / `handle_http_error` with the recorded values.
    Direct,
    /// `http::blocking::fetch` over a [`SimSocket`] serving the recorded response.
    Wire,
}

/// What went over the simulated socket in [`Transport::Wire`] replays.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireCount {
    /// Exchanges that wrote a request and parsed a response.
    pub exchanges: u32,
    /// Exchanges whose peer reset the connection (a recorded `io` error).
    pub resets: u32,
    /// Recorded answers that have no final HTTP/1.1 response to render (status 0 or
    /// 1xx, a `connect` or `timeout` error), handed to the session directly as any
    /// host would.
    pub direct: u32,
}

/// Bytes the driver may write per exchange (the largest recorded request is a
/// registration of well under 1 KiB).
const WRITE_CAPACITY: usize = 8 * 1024;
/// The driver's I/O buffer: small, as on a device.
const SCRATCH: usize = 256;
/// Read sizes the socket rotates through: byte by byte, odd, small, an Ethernet MSS.
const READ_SIZES: [usize; 4] = [1, 7, 64, 1460];

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing field {key:?}"))
}

fn u64_of(v: &Value, key: &str) -> Result<u64, String> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("{key:?} is not an unsigned integer"))
}

fn u16_of(v: &Value, key: &str) -> Result<u16, String> {
    u16::try_from(u64_of(v, key)?).map_err(|_| format!("{key:?} does not fit in u16"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| format!("{key:?} is not a string"))
}

/// An optional field: absent or `null` is `None`.
/// The step's `snapshot`, through the public `Snapshot::from_json` as a host reads one.
fn snapshot_of(step: &Value) -> Result<Snapshot, String> {
    let json =
        serde_json::to_vec(field(step, "snapshot")?).map_err(|e| format!("snapshot: {e}"))?;
    Snapshot::from_json(&json).map_err(|e| format!("Snapshot::from_json: {e}"))
}

fn opt<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn opt_str(v: &Value, key: &str) -> Result<Option<String>, String> {
    opt(v, key)
        .map(|x| {
            x.as_str()
                .map(String::from)
                .ok_or_else(|| format!("{key:?} is not a string"))
        })
        .transpose()
}

fn seed_from_hex(hex: &str) -> Result<[u8; 32], String> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(format!("seed must be 64 hex digits, got {}", bytes.len()));
    }
    let mut seed = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let pair = core::str::from_utf8(pair).map_err(|_| String::from("seed is not ASCII"))?;
        seed[i] = u8::from_str_radix(pair, 16).map_err(|e| format!("seed: {e}"))?;
    }
    Ok(seed)
}

/// `[[name, value], …]` as pairs of `&str`.
fn pairs(v: Option<&Value>) -> Result<Vec<(&str, &str)>, String> {
    let Some(list) = v else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or("headers is not an array")?;
    list.iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::String(v)]) => Ok((n.as_str(), v.as_str())),
            _ => Err(String::from(
                "a header is not a [name, value] pair of strings",
            )),
        })
        .collect()
}

fn strings(v: Option<&Value>) -> Result<Vec<&str>, String> {
    let Some(list) = v else {
        return Ok(Vec::new());
    };
    list.as_array()
        .ok_or("not an array")?
        .iter()
        .map(|s| s.as_str().ok_or_else(|| String::from("not a string")))
        .collect()
}

/// Shortened JSON for a mismatch message.
fn shown(v: &[Value]) -> String {
    let mut text = serde_json::to_string(v).unwrap_or_default();
    if text.len() > 1200 {
        let mut cut = 1200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The replay state of one vector.
struct Replay {
    session: Session,
    transport: Transport,
    /// The requests of drained `fetch` actions, by fetch id, for the wire.
    fetches: Vec<(u64, Box<Request>)>,
}

impl Replay {
    /// Drain every action, each rendered in core's JSON shape right after it is drained
    /// (a `send`'s headers are read then).
    fn drain(&mut self) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        while let Some(action) = self.session.poll_action() {
            let text = action.to_json(&self.session);
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| format!("Action::to_json gave text that is not JSON: {e}"))?;
            out.push(value);
            if let Action::Fetch { id, request, .. } = action {
                self.fetches.retain(|(i, _)| *i != id.0);
                self.fetches.push((id.0, request));
            }
        }
        Ok(out)
    }

    fn observe(&self, now: Timestamp) -> (Option<u64>, &'static str) {
        (
            self.session.poll_timeout().map(|t| t.0),
            self.session.phase(now).as_str(),
        )
    }

    fn take_request(&mut self, id: u64) -> Option<Box<Request>> {
        let at = self.fetches.iter().position(|(i, _)| *i == id)?;
        Some(self.fetches.swap_remove(at).1)
    }

    /// Apply one step's event at `now` (the table in `tests/vectors/README.md`).
    fn apply(&mut self, step: &Value, now: Timestamp, wire: &mut WireCount) -> Result<(), String> {
        let s = &mut self.session;
        match str_of(step, "do")? {
            "begin_request" => {
                let want = u64_of(step, "id")?;
                let got = s.begin_request(now);
                if got != RequestId(want) {
                    return Err(format!("begin_request gave {}, vector says {want}", got.0));
                }
            }
            "resource_response" => {
                let id = RequestId(u64_of(step, "id")?);
                let lines = strings(step.get("www_authenticate"))?;
                let want = str_of(step, "verdict")?;
                let got = s.handle_resource_response(id, u16_of(step, "status")?, &lines, now);
                if got.as_str() != want {
                    return Err(format!(
                        "verdict for request {}: got {}, vector says {want}",
                        id.0,
                        got.as_str()
                    ));
                }
            }
            "http_response" => {
                let id = u64_of(step, "id")?;
                let status = u16_of(step, "status")?;
                let headers = pairs(step.get("headers"))?;
                let body = match opt(step, "body") {
                    Some(b) => b.as_str().ok_or("body is not a string")?,
                    None => "",
                };
                let on_the_wire =
                    self.transport == Transport::Wire && (200..=999).contains(&status);
                match on_the_wire.then(|| self.take_request(id)).flatten() {
                    Some(request) => exchange(
                        &mut self.session,
                        id,
                        &request,
                        status,
                        &headers,
                        body,
                        now,
                        wire,
                    )?,
                    None => {
                        if self.transport == Transport::Wire {
                            wire.direct += 1;
                        }
                        let s = &mut self.session;
                        s.handle_http_response(FetchId(id), status, &headers, body.as_bytes(), now)
                    }
                }
            }
            "http_error" => {
                let id = u64_of(step, "id")?;
                let code = str_of(step, "kind")?;
                let kind = HttpErrorKind::from_code(code)
                    .ok_or_else(|| format!("unknown http error kind {code:?}"))?;
                let reset = self.transport == Transport::Wire && kind == HttpErrorKind::Io;
                match reset.then(|| self.take_request(id)).flatten() {
                    Some(request) => reset_by_peer(&mut self.session, id, &request, now, wire)?,
                    None => {
                        if self.transport == Transport::Wire {
                            wire.direct += 1;
                        }
                        self.session.handle_http_error(FetchId(id), kind, now)
                    }
                }
            }
            "helper_output" => s.handle_helper_stdout(str_of(step, "stdout")?.as_bytes(), now),
            "helper_failure" => {
                let code = match opt(step, "exit_code") {
                    None => None,
                    Some(c) => Some(
                        c.as_i64()
                            .and_then(|c| i32::try_from(c).ok())
                            .ok_or("exit_code is not an i32")?,
                    ),
                };
                s.handle_helper_failure(code, now)
            }
            "redirect" => {
                let url = str_of(step, "url")?;
                let want = field(step, "ok")?.as_bool().ok_or("ok is not a boolean")?;
                let got = s.handle_redirect(url, now);
                if got.is_ok() != want {
                    return Err(format!(
                        "redirect {url:?}: got {got:?}, vector says ok={want}"
                    ));
                }
            }
            "authorize_error" => s.handle_authorize_error(now),
            "persist_failed" => s.handle_persist_failed(now),
            "lease" => {
                let granted = field(step, "granted")?
                    .as_bool()
                    .ok_or("granted is not a boolean")?;
                s.handle_lease(granted, now)
            }
            "store_update" => s.handle_store_update(snapshot_of(step)?, now),
            "persist_conflict" => s.handle_persist_conflict(snapshot_of(step)?, now),
            "timeout" => s.handle_timeout(now),
            "cancel_request" => s.cancel_request(RequestId(u64_of(step, "id")?)),
            "reauthorize" => s.reauthorize(now),
            "set_tokens" => {
                let access = str_of(step, "access_token")?;
                let refresh = opt_str(step, "refresh_token")?;
                let expires_in = opt(step, "expires_in")
                    .map(|x| x.as_u64().ok_or("expires_in is not an unsigned integer"))
                    .transpose()?;
                let scope = opt_str(step, "scope")?;
                s.set_tokens(
                    Secret::new(access),
                    refresh.map(Secret::new),
                    expires_in,
                    scope,
                    now,
                )
            }
            other => return Err(format!("unknown event {other:?}")),
        }
        Ok(())
    }
}

/// One exchange over the simulated socket: the driver writes `request`, the socket
/// answers with the recorded response (framing and read size rotating), the driver
/// feeds the session.
#[allow(clippy::too_many_arguments)]
fn exchange(
    session: &mut Session,
    id: u64,
    request: &Request,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
    now: Timestamp,
    wire: &mut WireCount,
) -> Result<(), String> {
    let n = wire.exchanges as usize;
    let framing = Framing::ALL[n % Framing::ALL.len()];
    let read_size = READ_SIZES[(n / Framing::ALL.len()) % READ_SIZES.len()];
    let mut reply = Vec::new();
    wire::render_response(&mut reply, status, headers, body.as_bytes(), framing)
        .map_err(|_| String::from("rendering into a Vec cannot run out of room"))?;
    let mut written = vec![0u8; WRITE_CAPACITY];
    let mut socket = SimSocket::new(&reply, read_size, &mut written);
    let mut scratch = [0u8; SCRATCH];
    blocking::fetch(
        session,
        FetchId(id),
        request,
        &mut socket,
        &mut scratch,
        now,
    )
    .map_err(|e| format!("exchange {n} ({framing:?}, reads of {read_size}) failed: {e:?}"))?;
    wire::check_request(socket.written(), request)
        .map_err(|e| format!("request bytes of fetch {id}: {e}"))?;
    if !socket.reply_consumed() {
        return Err(format!(
            "fetch {id}: the driver left part of the response unread"
        ));
    }
    wire.exchanges += 1;
    Ok(())
}

/// A recorded network error, as a peer that resets the connection after the request.
fn reset_by_peer(
    session: &mut Session,
    id: u64,
    request: &Request,
    now: Timestamp,
    wire: &mut WireCount,
) -> Result<(), String> {
    let mut written = vec![0u8; WRITE_CAPACITY];
    let mut socket = SimSocket::reset_by_peer(&mut written);
    let mut scratch = [0u8; SCRATCH];
    match blocking::fetch(
        session,
        FetchId(id),
        request,
        &mut socket,
        &mut scratch,
        now,
    ) {
        Err(ExchangeError::Io(ErrorKind::ConnectionReset)) => {}
        other => return Err(format!("fetch {id} on a reset socket gave {other:?}")),
    }
    wire::check_request(socket.written(), request)?;
    wire.resets += 1;
    Ok(())
}

/// Replay one vector (its JSON text) through bearerflow's public API; the first
/// difference is the error.
pub fn replay(text: &str, transport: Transport, wire: &mut WireCount) -> Result<(), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("vector is not JSON: {e}"))?;
    replay_value(&v, transport, wire)
}

/// Copies of a vector, each with one expectation changed, that a sound replay must
/// refuse: the phase, the deadline or the actions after a step, or the final counters.
/// Shows that a passing replay is not a vacuous one.
pub fn tampered(text: &str) -> Result<Vec<(&'static str, Value)>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("vector is not JSON: {e}"))?;
    let mut out = Vec::new();
    let steps = v["steps"].as_array().map_or(0, Vec::len);
    if steps > 0 {
        let last = steps - 1;
        let mut t = v.clone();
        let phase = if t["steps"][last]["phase"] == "failed" {
            "fresh"
        } else {
            "failed"
        };
        t["steps"][last]["phase"] = Value::from(phase);
        out.push(("the last phase", t));

        let mut t = v.clone();
        let timeout = t["steps"][0]["timeout"].as_u64().map_or(1, |x| x + 1);
        t["steps"][0]["timeout"] = Value::from(timeout);
        out.push(("the first deadline", t));

        let with_actions = v["steps"].as_array().and_then(|s| {
            s.iter()
                .position(|st| st["expect"].as_array().is_some_and(|a| !a.is_empty()))
        });
        if let Some(i) = with_actions {
            let mut t = v.clone();
            if let Some(list) = t["steps"][i]["expect"].as_array_mut() {
                list.pop();
            }
            out.push(("one expected action dropped", t));
        }
    }
    let mut t = v.clone();
    let sends = t["stats"]["sends"].as_u64().unwrap_or(0);
    t["stats"]["sends"] = Value::from(sends + 1);
    out.push(("the send count", t));
    Ok(out)
}

/// [`replay`] of a parsed vector.
pub fn replay_value(v: &Value, transport: Transport, wire: &mut WireCount) -> Result<(), String> {
    let config_json = serde_json::to_vec(field(v, "config")?).map_err(|e| e.to_string())?;
    let config = Config::from_json(&config_json).map_err(|e| format!("Config::from_json: {e}"))?;
    let seed = seed_from_hex(str_of(v, "seed")?)?;
    let start = Timestamp(u64_of(v, "start")?);
    let session = match opt(v, "snapshot") {
        None => Session::new(config, seed, start),
        Some(snap) => {
            let json = serde_json::to_vec(snap).map_err(|e| e.to_string())?;
            let snap =
                Snapshot::from_json(&json).map_err(|e| format!("Snapshot::from_json: {e}"))?;
            Session::restore(config, snap, seed, start)
        }
    };
    let mut r = Replay {
        session,
        transport,
        fetches: Vec::new(),
    };

    let got = r.drain()?;
    let want = match opt(v, "initial") {
        Some(list) => list.as_array().ok_or("initial is not an array")?.as_slice(),
        None => &[],
    };
    if got.as_slice() != want {
        return Err(format!(
            "initial actions differ:\n     got {}\n    want {}",
            shown(&got),
            shown(want)
        ));
    }
    let want_timeout = opt(v, "initial_timeout").and_then(Value::as_u64);
    let want_phase = str_of(v, "initial_phase")?;
    let seen = r.observe(start);
    if seen != (want_timeout, want_phase) {
        return Err(format!(
            "after creation: timeout/phase {seen:?}, want {:?}",
            (want_timeout, want_phase)
        ));
    }

    let steps = field(v, "steps")?
        .as_array()
        .ok_or("steps is not an array")?;
    for (i, step) in steps.iter().enumerate() {
        let at = u64_of(step, "at")?;
        let now = Timestamp(at);
        let what = str_of(step, "do")?;
        r.apply(step, now, wire)
            .map_err(|e| format!("step {i} ({what} at {at}): {e}"))?;
        let got = r.drain()?;
        let want = field(step, "expect")?
            .as_array()
            .ok_or("expect is not an array")?;
        if &got != want {
            return Err(format!(
                "step {i} ({what} at {at}): actions differ:\n     got {}\n    want {}",
                shown(&got),
                shown(want)
            ));
        }
        let want_timeout = opt(step, "timeout").and_then(Value::as_u64);
        let want_phase = str_of(step, "phase")?;
        let seen = r.observe(now);
        if seen != (want_timeout, want_phase) {
            return Err(format!(
                "step {i} ({what} at {at}): timeout/phase {seen:?}, want {:?}",
                (want_timeout, want_phase)
            ));
        }
    }

    let want: Stats =
        serde_json::from_value(field(v, "stats")?.clone()).map_err(|e| format!("stats: {e}"))?;
    let got = r.session.stats();
    if got != want {
        return Err(format!("stats differ: got {got:?}, want {want:?}"));
    }
    Ok(())
}
