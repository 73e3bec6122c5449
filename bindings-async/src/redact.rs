//! The credentials a request carried, kept beside its response so that no text quoted
//! from that response can show them.
//!
//! A resource server or a proxy in front of it may echo the request into an error
//! body ("invalid header Authorization: Bearer …"), a JSON-RPC error message or a tool
//! result. A pattern cannot recognize a token reliably, but the driver knows exactly
//! which values it sent: every value is replaced wherever it appears in decoded text
//! (after JSON unescaping, so `\/` and `\u0041` spellings are caught too).

use bearerflow::http::Header;
use bearerflow::secret::Secret;
use serde_json::Value;
use std::sync::Arc;

/// What replaces a credential in quoted text.
pub(crate) const REDACTED: &str = "[redacted]";

/// Pieces shorter than this are not searched for: a credential that short protects
/// nothing, and replacing every `ab` would garble the message.
const MIN_PIECE: usize = 4;

/// The credential values the session put on one request. Kept in the response's
/// extensions (a private type: only this crate reads it; `http::Extensions`' `Debug`
/// shows no contents, and [`Secret`]'s shows none either).
#[derive(Clone, Default)]
pub(crate) struct SentCredentials(Arc<Vec<Secret>>);

impl SentCredentials {
    /// The values of `headers`, and of each value with an auth scheme (`Bearer abc`)
    /// the part after the scheme as well.
    pub(crate) fn from_headers(headers: &[Header]) -> SentCredentials {
        let mut pieces = Vec::new();
        for h in headers {
            let value = h.value.expose().trim();
            if value.len() >= MIN_PIECE {
                pieces.push(Secret::new(value));
            }
            if let Some((_, rest)) = value.split_once(' ') {
                let rest = rest.trim();
                if rest.len() >= MIN_PIECE {
                    pieces.push(Secret::new(rest));
                }
            }
        }
        // Longest first, so that a whole value is replaced before a piece of it.
        pieces.sort_by_key(|p| std::cmp::Reverse(p.len()));
        SentCredentials(Arc::new(pieces))
    }

    /// Put these credentials on `response` for later redaction.
    pub(crate) fn attach(self, response: &mut reqwest::Response) {
        response.extensions_mut().insert(self);
    }

    /// The credentials `response` was requested with (none when it did not go through
    /// a bearerflow client).
    pub(crate) fn of(response: &reqwest::Response) -> SentCredentials {
        response
            .extensions()
            .get::<SentCredentials>()
            .cloned()
            .unwrap_or_default()
    }

    /// Length of the longest credential, in bytes (0 with none).
    pub(crate) fn longest(&self) -> usize {
        self.0.first().map_or(0, Secret::len)
    }

    /// `text` with every credential replaced by [`REDACTED`].
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for piece in self.0.iter() {
            if out.contains(piece.expose()) {
                out = out.replace(piece.expose(), REDACTED);
            }
        }
        out
    }

    /// Every string in `value` (keys too) with every credential replaced.
    pub(crate) fn redact_json(&self, value: &mut Value) {
        if self.0.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if self.0.iter().any(|p| s.contains(p.expose())) {
                    *s = self.redact(s);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let tainted: Vec<String> = map
                    .keys()
                    .filter(|k| self.0.iter().any(|p| k.contains(p.expose())))
                    .cloned()
                    .collect();
                for key in tainted {
                    if let Some(v) = map.remove(&key) {
                        map.insert(self.redact(&key), v);
                    }
                }
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The credentials a [`Client::send`](crate::Client::send) put on a request, taken from
/// its response, to remove from text forwarded out of that response (a proxy relaying
/// a server's messages: a server echoing the request must not hand the bearer token
/// to the local client). Holds nothing for a response that did not come through a
/// bearerflow client. `Debug` shows no credential.
#[derive(Clone, Default)]
pub struct Redactor(SentCredentials);

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("credentials", &self.0 .0.len())
            .finish()
    }
}

impl Redactor {
    /// The credentials `response` was requested with.
    pub fn of(response: &reqwest::Response) -> Redactor {
        Redactor(SentCredentials::of(response))
    }

    /// `text` with every credential replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        self.0.redact(text)
    }

    /// Every string in `value` (keys too) with every credential replaced, after JSON
    /// decoding (so escaped spellings are caught).
    pub fn redact_json(&self, value: &mut Value) {
        self.0.redact_json(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sent_value_is_redacted_wherever_it_appears() {
        let sent = SentCredentials::from_headers(&[
            Header::new("Authorization", "Bearer tok-SECRET-123"),
            Header::new("X-Short", "ab"),
        ]);
        assert_eq!(
            sent.redact("echo: Authorization: Bearer tok-SECRET-123; again tok-SECRET-123 ab"),
            "echo: Authorization: [redacted]; again [redacted] ab"
        );
        // Escaped in JSON, the token is whole again once decoded.
        let mut v: Value = serde_json::from_str(
            r#"{"error":{"message":"bad tok\u002dSECRET\u002d123"},"tok-SECRET-123":[1,"tok-SECRET-123"]}"#,
        )
        .expect("JSON");
        sent.redact_json(&mut v);
        assert_eq!(
            v,
            json!({"error": {"message": "bad [redacted]"}, "[redacted]": [1, "[redacted]"]})
        );
        let none = SentCredentials::default();
        assert_eq!(none.redact("tok-SECRET-123"), "tok-SECRET-123");
    }
}
