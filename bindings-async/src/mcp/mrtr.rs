//! Multi round-trip requests (MCP 2026-07-28 "Multi Round-Trip Requests", SEP-2322).
//!
//! On the modern wire a server that needs input from the client (an elicitation, a
//! sampling completion, the roots) does not send a request of its own: it answers
//! `tools/call`, `prompts/get` or `resources/read` with `resultType: "input_required"`,
//! `inputRequests` (a map of request objects) and/or an opaque `requestState`. The
//! client gathers the answers through an [`InputHandler`] and retries the original
//! request as a new JSON-RPC request (new `id`) with `inputResponses` under the same
//! keys and `requestState` echoed byte for byte (or absent when the server sent none).
//! Neither ever goes on any other request.

use serde_json::{Map, Value};
use std::fmt;

/// At most this many `input_required` answers per call before giving up, so a server
/// that keeps asking cannot keep a call alive forever.
pub const MAX_INPUT_ROUNDS: usize = 8;

/// Answers the input requests a server embeds in an `InputRequiredResult`.
///
/// The capabilities it returns are declared on every modern request
/// (`io.modelcontextprotocol/clientCapabilities`), and a server must not ask for input
/// the client did not declare ("Server Requirements", MRTR).
#[async_trait::async_trait]
pub trait InputHandler: Send + Sync + 'static {
    /// The client capabilities this handler provides, e.g. `{"elicitation": {}}`.
    fn capabilities(&self) -> Value;

    /// The result for one input request (`elicitation/create`, `sampling/createMessage`,
    /// `roots/list`): an `ElicitResult`, `CreateMessageResult` or `ListRootsResult`.
    /// `Err` gives up the whole call with that reason.
    async fn answer(&self, method: &str, params: &Value) -> Result<Value, String>;
}

/// What a `result` is ("Base Protocol", ResultType).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResultKind {
    /// Final (`"complete"`, or no `resultType` at all, as from earlier servers).
    Complete,
    /// `"input_required"`: the requests to answer and the state to echo.
    InputRequired {
        requests: Vec<(String, String, Value)>,
        state: Option<String>,
    },
}

/// Why a result cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadResult(pub String);

impl fmt::Display for BadResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Methods on which a server may answer `input_required` ("Supported Requests").
pub(crate) fn may_require_input(method: &str) -> bool {
    matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// Read `result.resultType` (absent means complete; an unknown value is invalid).
pub(crate) fn result_kind(result: &Value) -> Result<ResultKind, BadResult> {
    match result.get("resultType") {
        None => Ok(ResultKind::Complete),
        Some(Value::String(s)) if s == "complete" => Ok(ResultKind::Complete),
        Some(Value::String(s)) if s == "input_required" => {
            let mut requests = Vec::new();
            match result.get("inputRequests") {
                None | Some(Value::Null) => {}
                Some(Value::Object(map)) => {
                    for (key, request) in map {
                        let method =
                            request
                                .get("method")
                                .and_then(Value::as_str)
                                .ok_or_else(|| {
                                    BadResult(format!(
                                        "input request {:?} has no method",
                                        super::wire::server_text(key)
                                    ))
                                })?;
                        let params = request.get("params").cloned().unwrap_or(Value::Null);
                        requests.push((key.clone(), method.to_string(), params));
                    }
                }
                Some(_) => return Err(BadResult("inputRequests is not an object".into())),
            }
            let state = match result.get("requestState") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(BadResult("requestState is not a string".into())),
            };
            if requests.is_empty() && state.is_none() {
                return Err(BadResult(
                    "an input_required result with neither inputRequests nor requestState".into(),
                ));
            }
            Ok(ResultKind::InputRequired { requests, state })
        }
        Some(other) => Err(BadResult(format!(
            "unrecognized resultType {}",
            super::wire::server_text(&other.to_string())
        ))),
    }
}

/// The retry's params: the original ones plus `inputResponses` (when there were
/// requests) and `requestState` (exactly when the server sent one).
pub(crate) fn retry_params(
    original: &Value,
    responses: Map<String, Value>,
    state: Option<String>,
) -> Value {
    let mut params = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    params.remove("inputResponses");
    params.remove("requestState");
    if !responses.is_empty() {
        params.insert("inputResponses".into(), Value::Object(responses));
    }
    if let Some(s) = state {
        params.insert("requestState".into(), Value::String(s));
    }
    Value::Object(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_types() {
        assert_eq!(
            result_kind(&json!({"content": []})).unwrap(),
            ResultKind::Complete
        );
        assert_eq!(
            result_kind(&json!({"resultType": "complete"})).unwrap(),
            ResultKind::Complete
        );
        let r = result_kind(&json!({
            "resultType": "input_required",
            "inputRequests": {"confirm": {"method": "elicitation/create", "params": {"message": "ok?"}}},
            "requestState": "{\"nonce\": 1}"
        }))
        .unwrap();
        assert_eq!(
            r,
            ResultKind::InputRequired {
                requests: vec![(
                    "confirm".into(),
                    "elicitation/create".into(),
                    json!({"message": "ok?"})
                )],
                state: Some("{\"nonce\": 1}".into())
            }
        );
        assert!(result_kind(&json!({"resultType": "task"})).is_err());
        assert!(result_kind(&json!({"resultType": 1})).is_err());
        assert!(result_kind(&json!({"resultType": "input_required"})).is_err());
        assert!(
            result_kind(&json!({"resultType": "input_required", "inputRequests": []})).is_err()
        );
        assert!(result_kind(
            &json!({"resultType": "input_required", "inputRequests": {"k": {"params": {}}}})
        )
        .is_err());
        assert!(result_kind(&json!({"resultType": "input_required", "requestState": 5})).is_err());
    }

    #[test]
    fn retry_carries_responses_and_exact_state_only() {
        let original = json!({"name": "t", "arguments": {"a": 1}});
        let mut responses = Map::new();
        responses.insert("k".into(), json!({"action": "accept"}));
        let p = retry_params(&original, responses, Some(" exact\u{0}state ".into()));
        assert_eq!(p["name"], "t");
        assert_eq!(p["inputResponses"]["k"]["action"], "accept");
        assert_eq!(p["requestState"], " exact\u{0}state ");
        let p = retry_params(&p, Map::new(), None);
        assert!(p.get("requestState").is_none() && p.get("inputResponses").is_none());
    }

    #[test]
    fn only_three_methods_may_ask_for_input() {
        assert!(may_require_input("tools/call"));
        assert!(may_require_input("prompts/get"));
        assert!(may_require_input("resources/read"));
        assert!(!may_require_input("tools/list"));
    }
}
