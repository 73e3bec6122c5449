//! Logs and lifecycle events, on standard error only: standard output is the protocol
//! (MCP stdio transport: the server "MUST NOT write anything to its stdout that is not
//! a valid MCP message", and "MAY write UTF-8 strings to stderr for any logging
//! purposes").
//!
//! Text lines are `bearerflow proxy: LEVEL: message`. With `--json-events` every line
//! is a JSON object instead: log lines `{"log": LEVEL, "message": …}` and the session's
//! lifecycle events `{"event": KIND, "at": UNIX_MS, …}`. Server text in a message goes
//! through the CLI's one sanitizer ([`crate::safe`]). No event or line carries a token.

use bearerflow_async::{Event, Obtained};
use serde_json::{json, Value};
use std::fmt;
use std::io::Write;

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub(crate) fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" | "trace" => Some(Level::Debug),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Where the proxy says what it does. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Log {
    pub level: Level,
    pub json: bool,
}

impl Log {
    fn write_line(&self, line: &str) {
        // One write per line, so lines from several tasks do not interleave. A closed
        // stderr cannot be reported anywhere.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    pub(crate) fn at(&self, level: Level, message: fmt::Arguments<'_>) {
        if level > self.level {
            return;
        }
        let text = crate::safe::line(&message.to_string());
        if self.json {
            self.write_line(&crate::safe::json(
                &json!({"log": level.as_str(), "message": text}),
            ));
        } else {
            self.write_line(&format!("bearerflow proxy: {}: {text}", level.as_str()));
        }
    }

    pub(crate) fn error(&self, message: fmt::Arguments<'_>) {
        self.at(Level::Error, message)
    }

    pub(crate) fn warn(&self, message: fmt::Arguments<'_>) {
        self.at(Level::Warn, message)
    }

    pub(crate) fn info(&self, message: fmt::Arguments<'_>) {
        self.at(Level::Info, message)
    }

    pub(crate) fn debug(&self, message: fmt::Arguments<'_>) {
        self.at(Level::Debug, message)
    }

    /// One lifecycle event: a JSON line with `--json-events`, else a debug line.
    pub(crate) fn event(&self, event: &Event) {
        if let Some(note) = event_note(event) {
            self.warn(format_args!("{note}"));
        }
        let value = event_json(event);
        if self.json {
            self.write_line(&crate::safe::json(&value));
        } else if self.level >= Level::Debug {
            self.write_line(&format!(
                "bearerflow proxy: event: {}",
                crate::safe::json(&value)
            ));
        }
    }
}

/// What a user should hear about an event even without `--debug`: an authorization
/// that brought no refresh token (an OpenID Provider drops `offline_access` without
/// consent, or never issues one), so that each expiry needs a new authorization.
pub(crate) fn event_note(event: &Event) -> Option<&'static str> {
    match event {
        Event::Credential {
            obtained: Obtained::AuthorizationCode,
            refresh_token: false,
            ..
        } => Some("no refresh token issued: each expiry will need a new authorization"),
        _ => None,
    }
}

/// An event as one JSON object: `event` names the kind, `at` is unix ms.
pub(crate) fn event_json(event: &Event) -> Value {
    let at = event.at().0;
    match event {
        Event::Phase { from, to, .. } => {
            json!({"event": "phase", "at": at, "from": from.as_str(), "to": to.as_str()})
        }
        Event::Begin { id, .. } => json!({"event": "begin", "at": at, "request": id.0}),
        Event::Send { id, generation, .. } => {
            json!({"event": "send", "at": at, "request": id.0, "generation": generation.0})
        }
        Event::Response {
            id,
            status,
            verdict,
            ..
        } => json!({"event": "response", "at": at, "request": id.0, "status": status,
                    "verdict": verdict.as_str()}),
        Event::Fail {
            id, error, detail, ..
        } => json!({"event": "fail", "at": at, "request": id.0, "error": error.code(),
                    "detail": detail}),
        Event::Fetch {
            id, purpose, url, ..
        } => json!({"event": "fetch", "at": at, "fetch": id.0, "purpose": purpose.as_str(),
                    "url": url}),
        Event::FetchDone {
            id,
            purpose,
            outcome,
            ..
        } => {
            let mut v = json!({"event": "fetch_done", "at": at, "fetch": id.0,
                               "purpose": purpose.as_str()});
            match outcome {
                Ok(status) => v["status"] = json!(status),
                Err(kind) => v["error"] = json!(kind.code()),
            }
            v
        }
        Event::Persist {
            ok,
            generation,
            expires_at,
            ..
        } => json!({"event": "persist", "at": at, "ok": ok, "generation": generation,
                    "expires_at": expires_at}),
        Event::Authorize { .. } => json!({"event": "authorize", "at": at}),
        Event::Redirect { accepted, .. } => {
            json!({"event": "redirect", "at": at, "accepted": accepted})
        }
        Event::AuthorizeFailed { reason, .. } => {
            json!({"event": "authorize_failed", "at": at, "reason": reason})
        }
        Event::HelperRun { .. } => json!({"event": "helper_run", "at": at}),
        Event::Credential {
            obtained,
            generation,
            refreshes,
            authorizations,
            refresh_token,
            ..
        } => json!({"event": "credential", "at": at, "obtained": obtained.as_str(),
                    "generation": generation, "refreshes": refreshes,
                    "authorizations": authorizations, "refresh_token": refresh_token}),
        Event::HelperDone { error, .. } => {
            json!({"event": "helper_done", "at": at, "error": error})
        }
        _ => json!({"event": "other", "at": at}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bearerflow::time::Timestamp;
    use bearerflow::token::Phase;

    #[test]
    fn an_authorization_without_a_refresh_token_is_told() {
        let credential = |obtained, refresh_token| Event::Credential {
            at: Timestamp(1),
            obtained,
            generation: None,
            refreshes: 0,
            authorizations: 1,
            refresh_token,
        };
        assert_eq!(
            event_note(&credential(Obtained::AuthorizationCode, false)),
            Some("no refresh token issued: each expiry will need a new authorization")
        );
        assert_eq!(
            event_note(&credential(Obtained::AuthorizationCode, true)),
            None
        );
        assert_eq!(event_note(&credential(Obtained::Refresh, false)), None);
        let v = event_json(&credential(Obtained::AuthorizationCode, false));
        assert_eq!(v["event"], "credential");
        assert_eq!(v["refresh_token"], false);
    }

    #[test]
    fn levels_order_and_parse() {
        assert!(Level::Error < Level::Warn && Level::Info < Level::Debug);
        assert_eq!(Level::parse("WARN"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
    }

    #[test]
    fn events_are_plain_json() {
        let v = event_json(&Event::Phase {
            at: Timestamp(5),
            from: Phase::Fresh,
            to: Phase::Expiring,
        });
        assert_eq!(v["event"], "phase");
        assert_eq!(v["at"], 5);
        assert_eq!(v["to"], Phase::Expiring.as_str());
        let v = event_json(&Event::Authorize { at: Timestamp(1) });
        assert_eq!(v, json!({"event": "authorize", "at": 1}));
    }
}
