//! Reading an MCP server's answer out of a resource response, within the limits the
//! response carries (see [`limits`](crate::limits)), with every credential the request
//! carried removed from what is handed back.
//!
//! - JSON answers are read whole (`max_resource_body` bounds them).
//! - SSE answers (`text/event-stream`, MCP "Streamable HTTP") are read event by event
//!   (WHATWG HTML §9.2.6 "Interpreting an event stream") until the JSON-RPC response to
//!   the request arrives; the rest of the stream is not read. Memory holds one event.
//! - Error statuses quote a short, sanitized, redacted start of the body: for a JSON
//!   body, its JSON-RPC `error.message` when it has one.

use crate::mcp::McpError;
use crate::redact::SentCredentials;
use crate::Error;
use bearerflow::text::{sanitize, MAX_QUOTED};
use serde_json::Value;

/// The JSON-RPC message with `id` in `response`, credentials redacted. A non-success
/// status is [`McpError::Status`].
pub(crate) async fn answer(response: reqwest::Response, id: u64) -> Result<Value, McpError> {
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    let sent = SentCredentials::of(&response);
    let mut message = if is_event_stream(&response) {
        sse_answer(response, id).await?
    } else {
        let bytes = response.bytes().await.map_err(body_error)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| McpError::Malformed(format!("the response is not JSON: {e}")))?
    };
    sent.redact_json(&mut message);
    Ok(message)
}

/// [`McpError::Status`] for a response with an error status: reads at most
/// [`MAX_QUOTED`] bytes plus the longest credential (so a credential that starts in
/// the quoted part is whole, and found), never the whole body.
pub(crate) async fn status_error(mut response: reqwest::Response) -> McpError {
    let status = response.status().as_u16();
    let sent = SentCredentials::of(&response);
    let want = MAX_QUOTED + sent.longest();
    let mut head = Vec::new();
    let mut complete = false;
    while head.len() < want {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) => {
                complete = true;
                break;
            }
            Err(_) => break,
        }
    }
    // A whole JSON body is read as JSON: its message, or itself, decoded, so that an
    // escaped credential is whole again before it is looked for.
    let parsed = complete
        .then(|| serde_json::from_slice::<Value>(&head).ok())
        .flatten();
    if let Some(e) = parsed
        .as_ref()
        .and_then(|v| crate::mcp::wire::protocol_error(status, &v.to_string()))
    {
        // A 2026-07-28 protocol error (unsupported version, a missing header): typed, so
        // the wire negotiation can act on it.
        return McpError::Protocol(e);
    }
    let text = match parsed {
        Some(mut v) => {
            sent.redact_json(&mut v);
            match v.pointer("/error/message").and_then(Value::as_str) {
                Some(m) => m.to_string(),
                None => v.to_string(),
            }
        }
        None => {
            head.truncate(want);
            sent.redact(&String::from_utf8_lossy(&head))
        }
    };
    McpError::Status {
        status,
        body: sanitize(&text, MAX_QUOTED),
    }
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// A failed body read: a limit, or the transport.
fn body_error(e: reqwest::Error) -> McpError {
    match Error::from_reqwest(e) {
        e @ Error::Limit(_) => McpError::Transport(e),
        e => McpError::Body(e.to_string()),
    }
}

/// Read SSE events until the `message` event whose JSON-RPC `id` is `id`.
async fn sse_answer(mut response: reqwest::Response, id: u64) -> Result<Value, McpError> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(body_error)?;
        let Some(chunk) = chunk else {
            return Err(McpError::Malformed(format!(
                "the event stream ended without an answer to request {id}"
            )));
        };
        parser.feed(&chunk, &mut events);
        for event in events.drain(..) {
            if event.kind != "message" {
                continue;
            }
            let Ok(message) = serde_json::from_str::<Value>(&event.data) else {
                continue;
            };
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                return Ok(message);
            }
        }
    }
}

/// One dispatched SSE event.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseEvent {
    /// The `event` field, `message` by default.
    pub kind: String,
    /// The `data` lines joined by LF.
    pub data: String,
}

/// An incremental SSE parser (WHATWG HTML §9.2.6): lines end in CRLF, LF or CR; an
/// empty line dispatches the event; `:` starts a comment; `id` and `retry` are not
/// needed here. Holds at most one line and one event, which the response's
/// `max_stream_event` bounds.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    started: bool,
    kind: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feed bytes; push every event they complete onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        for &b in bytes {
            if b == b'\n' && self.after_cr {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, out);
                self.line = line;
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
    }

    fn line_done(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) {
        let mut line = String::from_utf8_lossy(raw);
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_string().into();
            }
        }
        if line.is_empty() {
            if self.has_data {
                let kind = match std::mem::take(&mut self.kind) {
                    k if k.is_empty() => "message".to_string(),
                    k => k,
                };
                out.push(SseEvent {
                    kind,
                    data: std::mem::take(&mut self.data),
                });
            }
            self.kind.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.kind = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn events_split_anywhere_and_every_line_end() {
        let all: &[u8] = b"\xef\xbb\xbfevent: message\r\nid: 1\r\ndata: {\"a\":\r\ndata:1}\r\n\r\n: comment\n\nevent: ping\rdata\r\rdata: x\n\n";
        let whole = events(&[all]);
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    kind: "message".into(),
                    data: "{\"a\":\n1}".into()
                },
                SseEvent {
                    kind: "ping".into(),
                    data: "".into()
                },
                SseEvent {
                    kind: "message".into(),
                    data: "x".into()
                },
            ]
        );
        // Byte by byte gives the same events (a CRLF split across chunks included).
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(events(&bytes), whole);
        // An unfinished event is not dispatched.
        assert!(events(&[b"data: x\n"]).is_empty());
    }
}
