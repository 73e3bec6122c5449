//! `parseChallenges`, `parseChallengeBytes` and `renderChallenge`: core's
//! `WWW-Authenticate` parser and renderer (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728
//! §5.1) for JavaScript, in the shape of `tests/vectors/challenge/` (the shape
//! `bearerflow challenge` prints).

use crate::error::{coded, Result};
use crate::to_js;
use bearerflow::challenge::{
    parse_bytes, parse_lines, render, render_token68, BearerChallenge, Challenge, ChallengeError,
    Challenges, Mode, RenderErrorKind,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// Parse `WWW-Authenticate` field lines (read as if joined by `", "`, RFC 9110 §5.3).
/// `mode` is `"lenient"` (the default, what the session machine uses) or `"strict"`.
///
/// Returns `{ok: true, challenges: [{scheme, token68, params: [[name, value]], bearer?}],
/// tolerated: [...]}` (`bearer`, the typed RFC 6750 view, on each `Bearer` challenge),
/// or `{ok: false, offset, code, message}` for input that does not parse. Throws only
/// for an unknown `mode`.
#[wasm_bindgen(js_name = parseChallenges)]
pub fn parse_challenges(lines: Vec<String>, mode: Option<String>) -> Result<JsValue> {
    let mode = read_mode(mode.as_deref())?;
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    to_js(&outcome(parse_lines(&lines, mode)))
}

/// [`parse_challenges`] for one field value as raw bytes (a header that may not be
/// UTF-8): bytes outside quoted-strings and invalid UTF-8 are errors with their offset.
#[wasm_bindgen(js_name = parseChallengeBytes)]
pub fn parse_challenge_bytes(bytes: &[u8], mode: Option<String>) -> Result<JsValue> {
    let mode = read_mode(mode.as_deref())?;
    match parse_bytes(bytes, mode) {
        Ok(it) => to_js(&outcome(it)),
        Err(e) => to_js(&Outcome::Failed(Failure::from(e))),
    }
}

/// Render a challenge: `{scheme, params: [[name, value], …]}` (values always quoted,
/// RFC 9110 §11.2) or `{scheme, token68}`. Throws an error with a code
/// (`invalid_scheme`, `invalid_param_name`, `duplicate_param`, `control_character`,
/// `non_ascii`, `invalid_token68`, or `invalid_challenge` for an object of another shape).
#[wasm_bindgen(js_name = renderChallenge)]
pub fn render_challenge(challenge: JsValue) -> Result<String> {
    let text = js_sys::JSON::stringify(&challenge)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| coded("invalid_challenge", "challenge must be a plain object"))?;
    let spec: RenderSpec = serde_json::from_str(&text).map_err(|_| {
        coded(
            "invalid_challenge",
            "challenge must be {scheme, params: [[name, value]]} or {scheme, token68}",
        )
    })?;
    let rendered = match (&spec.token68, &spec.params) {
        (Some(t), None) => render_token68(&spec.scheme, t),
        (None, params) => {
            let params: Vec<(&str, &str)> = params
                .iter()
                .flatten()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            render(&spec.scheme, &params)
        }
        (Some(_), Some(_)) => {
            return Err(coded(
                "invalid_challenge",
                "a challenge has params or a token68, not both",
            ))
        }
    };
    rendered.map_err(|e| coded(render_code(e.kind), e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderSpec {
    scheme: String,
    #[serde(default)]
    params: Option<Vec<(String, String)>>,
    #[serde(default)]
    token68: Option<String>,
}

/// Core's stable code of a render error kind.
pub(crate) fn render_code(kind: RenderErrorKind) -> &'static str {
    kind.code()
}

fn read_mode(mode: Option<&str>) -> Result<Mode> {
    match mode {
        None | Some("lenient") => Ok(Mode::Lenient),
        Some("strict") => Ok(Mode::Strict),
        Some(_) => Err(coded("invalid_mode", "mode must be strict or lenient")),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Outcome<'a> {
    Parsed {
        ok: bool,
        challenges: Vec<Parsed<'a>>,
        tolerated: Vec<&'static str>,
    },
    Failed(Failure),
}

#[derive(Serialize)]
struct Failure {
    ok: bool,
    offset: usize,
    code: &'static str,
    message: String,
}

impl From<ChallengeError> for Failure {
    fn from(e: ChallengeError) -> Failure {
        Failure {
            ok: false,
            offset: e.offset,
            code: e.kind.code(),
            message: e.to_string(),
        }
    }
}

#[derive(Serialize)]
struct Parsed<'a> {
    scheme: &'a str,
    token68: Option<&'a str>,
    params: Vec<(&'a str, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bearer: Option<Bearer>,
}

/// The typed Bearer view, or the code of why a `Bearer` challenge has none.
#[derive(Serialize)]
#[serde(untagged)]
enum Bearer {
    View {
        realm: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
        error_uri: Option<String>,
        scope: Option<String>,
        scopes: Vec<String>,
        resource_metadata: Option<String>,
    },
    Unusable {
        error: &'static str,
    },
}

fn bearer(c: &Challenge<'_>) -> Option<Bearer> {
    if !c.is_scheme("bearer") {
        return None;
    }
    Some(match BearerChallenge::from_challenge(c) {
        Ok(b) => Bearer::View {
            scopes: b.scopes().map(String::from).collect(),
            error: b.error.as_ref().map(|e| e.as_str().into()),
            realm: b.realm,
            error_description: b.error_description,
            error_uri: b.error_uri,
            scope: b.scope,
            resource_metadata: b.resource_metadata,
        },
        Err(e) => Bearer::Unusable {
            error: e.kind.code(),
        },
    })
}

fn outcome(mut it: Challenges<'_>) -> Outcome<'_> {
    let mut challenges = Vec::new();
    for c in &mut it {
        let c = match c {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(Failure::from(e)),
        };
        challenges.push(Parsed {
            scheme: c.scheme(),
            token68: c.token68(),
            params: c
                .params()
                .map(|p| (p.name(), p.to_string_value()))
                .collect(),
            bearer: bearer(&c),
        });
    }
    Outcome::Parsed {
        ok: true,
        challenges,
        tolerated: it.tolerated().names().collect(),
    }
}
