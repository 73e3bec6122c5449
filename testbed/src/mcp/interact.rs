//! The `interact` tool ([`Config::interactive_tools`](crate::Config::interactive_tools)):
//! server-to-client traffic on both wires, for bridges and clients that must carry it.
//!
//! One call of `interact {text}` sends a `notifications/message` to the client, asks the
//! client to confirm with an `elicitation/create`, and returns what the client answered
//! (`confirmed: TEXT` or `not confirmed: TEXT`). How the question travels depends on the
//! wire:
//!
//! - **2025-11-25** (Streamable HTTP, "Sending Messages to the Server" and "Listening for
//!   Messages"): the response is an SSE stream carrying the notification, then the
//!   `elicitation/create` request with a server-chosen id; the client answers with a
//!   `POST` of the JSON-RPC response (`202`), and the stream then carries the result.
//! - **2026-07-28** (Streamable HTTP "Receiving Messages"; MRTR): the response stream
//!   carries the notification, then an `InputRequiredResult` whose `inputRequests`
//!   hold the elicitation and whose `requestState` names the text; the retry with
//!   `inputResponses` and the exact state gets the result.
//!
//! Client notifications (other than `notifications/initialized`) and client responses
//! are counted ([`Counters::client_notifications`](crate::Counters::client_notifications),
//! [`Counters::client_responses`](crate::Counters::client_responses)), so a test can see
//! that what a client sent reached the server.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::faults::bump;
use crate::server::{Reply, Shared};
use crate::util::random_token;

/// The tool's name.
pub(crate) const TOOL: &str = "interact";

/// How long a 2025-11-25 `interact` waits for the client's answer before it gives up
/// with an error result.
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);

/// Server-to-client requests waiting for the client's `POST` of their response, by id.
#[derive(Debug, Default)]
pub(crate) struct Pending(Mutex<HashMap<String, oneshot::Sender<Value>>>);

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Value>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand a client's response to the request waiting for it; `false` when no request
    /// has that id.
    fn answer(&self, id: &str, message: Value) -> bool {
        match self.lock().remove(id) {
            Some(tx) => tx.send(message).is_ok(),
            None => false,
        }
    }
}

/// The tool's `tools/list` entry.
pub(crate) fn tool() -> Value {
    json!({
        "name": TOOL,
        "description": "Sends a notifications/message, asks the client to confirm (elicitation/create: a server-to-client request on the 2025-11-25 wire, an input_required result on 2026-07-28), then returns the answer.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    })
}

fn notification(text: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": {"level": "info", "logger": "bearerflow-testbed", "data": format!("interact: asking to confirm {text:?}")},
    })
}

fn elicitation_params(text: &str) -> Value {
    json!({
        "mode": "form",
        "message": format!("Return {text:?}?"),
        "requestedSchema": {
            "type": "object",
            "properties": {"confirmed": {"type": "boolean"}},
            "required": ["confirmed"],
        },
    })
}

/// The tool's result for the client's answer to the elicitation (an `ElicitResult`, or
/// a JSON-RPC error response).
fn outcome(text: &str, answer: &Value) -> Value {
    let accepted = answer.get("action").and_then(Value::as_str) == Some("accept")
        && answer
            .get("content")
            .and_then(|c| c.get("confirmed"))
            .and_then(Value::as_bool)
            == Some(true);
    let line = if accepted {
        format!("confirmed: {text}")
    } else {
        format!("not confirmed: {text}")
    };
    super::text_result(line, false)
}

fn sse_event(message: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

/// A response body fed from a channel: one SSE event per message, ending when the
/// sender is dropped.
struct ChannelBody(mpsc::UnboundedReceiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}

fn event_stream(rx: mpsc::UnboundedReceiver<Bytes>) -> Response {
    Reply::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::new(ChannelBody(rx)))
        .finish()
}

fn text_arg(params: &Value) -> Option<String> {
    params
        .get("arguments")
        .and_then(|a| a.get("text"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A 2025-11-25 `tools/call interact`: notification, request, then (once the client
/// answered, or the deadline passed) the result, on one SSE stream.
pub(crate) fn legacy_call(shared: &Arc<Shared>, id: Value, params: &Value, sse: bool) -> Response {
    let Some(text) = text_arg(params) else {
        return super::respond(
            if sse {
                super::Framing::Sse
            } else {
                super::Framing::Json
            },
            &json!({"jsonrpc": "2.0", "id": id, "result": super::text_result("argument text must be a string".into(), true)}),
            None,
        );
    };
    if !sse {
        return super::respond(
            super::Framing::Json,
            &json!({"jsonrpc": "2.0", "id": id, "result": super::text_result(
                "interact sends messages before its result: accept text/event-stream".into(), true)}),
            None,
        );
    }
    let Some(request_id) = random_token("srv-") else {
        return super::jsonrpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            id,
            -32603,
            "no randomness",
        )
        .finish();
    };
    let (answer_tx, answer_rx) = oneshot::channel();
    shared.pending.lock().insert(request_id.clone(), answer_tx);
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let _ = tx.send(sse_event(&notification(&text)));
        bump(&shared.counters.server_notifications);
        let request = json!({
            "jsonrpc": "2.0", "id": request_id, "method": "elicitation/create",
            "params": elicitation_params(&text),
        });
        let _ = tx.send(sse_event(&request));
        bump(&shared.counters.server_requests);
        let result = match tokio::time::timeout(ANSWER_DEADLINE, answer_rx).await {
            Ok(Ok(answer)) => match answer.get("result") {
                Some(result) => outcome(&text, result),
                None => super::text_result(
                    format!("the client refused the elicitation: {}", answer["error"]),
                    true,
                ),
            },
            _ => {
                shared.pending.lock().remove(&request_id);
                super::text_result("the client did not answer the elicitation".into(), true)
            }
        };
        bump(&shared.counters.tool_calls);
        let _ = tx.send(sse_event(
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
        ));
    });
    event_stream(rx)
}

/// A JSON-RPC response a 2025-11-25 client posted: hand it to the request waiting for
/// it. Always `202` (2025-11-25 transports: a response the server accepts).
pub(crate) fn client_response(shared: &Shared, message: &serde_json::Map<String, Value>) {
    bump(&shared.counters.client_responses);
    if let Some(id) = message.get("id").and_then(Value::as_str) {
        shared.pending.answer(id, Value::Object(message.clone()));
    }
}

/// A notification a client posted (either wire).
pub(crate) fn client_notification(shared: &Shared, method: &str) {
    if method != "notifications/initialized" {
        bump(&shared.counters.client_notifications);
    }
}

/// The `requestState` for `text`: opaque to the client, checked on the retry.
fn state(text: &str) -> String {
    format!("interact/v1.{}", URL_SAFE_NO_PAD.encode(text.as_bytes()))
}

/// A 2026-07-28 `tools/call interact`. Without `inputResponses`: the notification,
/// then an `input_required` result (on an SSE stream when the client accepts one, else
/// the result alone). With them: the result. `Err` is a protocol error to send as is.
pub(crate) fn modern_call(
    shared: &Shared,
    id: &Value,
    params: &Value,
    sse: bool,
) -> Result<Response, Value> {
    let Some(text) = text_arg(params) else {
        let result = super::text_result("argument text must be a string".into(), true);
        return Ok(super::respond(
            super::Framing::Json,
            &json!({"jsonrpc": "2.0", "id": id, "result": with_complete(result)}),
            None,
        ));
    };
    if let Some(answer) = params.get("inputResponses").and_then(|r| r.get("confirm")) {
        bump(&shared.counters.client_responses);
        let result =
            if params.get("requestState").and_then(Value::as_str) == Some(state(&text).as_str()) {
                bump(&shared.counters.tool_calls);
                outcome(&text, answer)
            } else {
                super::text_result("requestState was not echoed exactly".into(), true)
            };
        let framing = if sse {
            super::Framing::Sse
        } else {
            super::Framing::Json
        };
        return Ok(super::respond(
            framing,
            &json!({"jsonrpc": "2.0", "id": id, "result": with_complete(result)}),
            None,
        ));
    }
    let declared = params
        .get("_meta")
        .and_then(|m| m.get(super::modern::META_CLIENT_CAPABILITIES))
        .and_then(|c| c.get("elicitation"))
        .is_some();
    if !declared {
        return Err(json!({"requiredCapabilities": {"elicitation": {}}}));
    }
    bump(&shared.counters.input_required);
    bump(&shared.counters.server_requests);
    let result = json!({
        "jsonrpc": "2.0", "id": id,
        "result": {
            "resultType": "input_required",
            "inputRequests": {"confirm": {"method": "elicitation/create", "params": elicitation_params(&text)}},
            "requestState": state(&text),
        },
    });
    if !sse {
        return Ok(super::respond(super::Framing::Json, &result, None));
    }
    bump(&shared.counters.server_notifications);
    let mut body = Vec::new();
    body.extend_from_slice(&sse_event(&notification(&text)));
    body.extend_from_slice(&sse_event(&result));
    Ok(Reply::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .finish())
}

fn with_complete(mut result: Value) -> Value {
    if let Value::Object(m) = &mut result {
        m.insert("resultType".into(), json!("complete"));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_confirmation_confirms() {
        let yes = json!({"action": "accept", "content": {"confirmed": true}});
        let no = json!({"action": "accept", "content": {"confirmed": false}});
        let declined = json!({"action": "decline"});
        assert_eq!(outcome("t", &yes)["content"][0]["text"], "confirmed: t");
        assert_eq!(outcome("t", &no)["content"][0]["text"], "not confirmed: t");
        assert_eq!(
            outcome("t", &declined)["content"][0]["text"],
            "not confirmed: t"
        );
    }

    #[test]
    fn pending_answers_reach_their_request_once() {
        let p = Pending::default();
        let (tx, mut rx) = oneshot::channel();
        p.lock().insert("a".into(), tx);
        assert!(!p.answer("b", json!({})));
        assert!(p.answer("a", json!({"id": "a"})));
        assert_eq!(rx.try_recv().unwrap()["id"], "a");
        assert!(!p.answer("a", json!({})));
    }
}
