//! `Guard` and `protectedResourceMetadata`: core's server half (`bearerflow::guard`) for
//! JavaScript servers. The npm package's Node middleware (`bearerGuard`) is built on it:
//! every answer (status, `WWW-Authenticate` text and escaping, JSON body, audience and
//! scope checks, tokens refused in the query string) is core's.
//!
//! A refusal comes out as `{status, kind, www_authenticate, body}`: the HTTP status, a
//! stable snake_case code, the header value and the JSON body text, exactly as core
//! rendered them.

use crate::challenge::render_code;
use crate::error::{coded, Result};
use crate::to_js;
use bearerflow::guard::{self, Guard as CoreGuard, GuardError, Refusal, RefusalKind, Verification};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// One protected resource's answers (core's `Guard`, with owned settings).
#[wasm_bindgen]
pub struct Guard {
    resource: String,
    resource_metadata: Option<String>,
    realm: Option<String>,
}

fn setting_error(e: GuardError) -> JsValue {
    coded(render_code(e.reason.kind), e)
}

#[derive(Serialize)]
struct RefusalJs<'a> {
    status: u16,
    kind: &'static str,
    www_authenticate: &'a str,
    body: &'a str,
}

impl<'a> RefusalJs<'a> {
    fn of(r: &'a Refusal) -> RefusalJs<'a> {
        RefusalJs {
            status: r.status,
            kind: r.kind.code(),
            www_authenticate: &r.www_authenticate,
            body: &r.body,
        }
    }
}

fn refusal_js(r: &Refusal) -> Result<JsValue> {
    to_js(&RefusalJs::of(r))
}

/// What `token()` gives: `{ok: true, token}` or `{ok: false, refusal}`.
#[derive(Serialize)]
struct TokenOutcome<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<RefusalJs<'a>>,
}

/// What the host's verification found (`{"valid": {scope, audiences}}`, `"expired"`,
/// `"invalid"`, `"upstream_expired"` or `"proof_of_possession"`).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum VerificationJs {
    Valid {
        #[serde(default)]
        scope: String,
        #[serde(default)]
        audiences: Vec<String>,
    },
    Expired,
    Invalid,
    UpstreamExpired,
    ProofOfPossession,
}

/// Core's `RefusalKind` from its stable code (core has `code()` but no reverse yet).
fn kind_from_code(code: &str) -> Option<RefusalKind> {
    [
        RefusalKind::MissingToken,
        RefusalKind::MalformedAuthorization,
        RefusalKind::MultipleTokens,
        RefusalKind::TokenInQuery,
        RefusalKind::InvalidToken,
        RefusalKind::ExpiredToken,
        RefusalKind::MissingAudience,
        RefusalKind::WrongAudience,
        RefusalKind::InsufficientScope,
        RefusalKind::UpstreamTokenExpired,
        RefusalKind::ProofOfPossessionNotSupported,
    ]
    .into_iter()
    .find(|k| k.code() == code)
}

impl Guard {
    fn core(&self) -> CoreGuard<'_> {
        let guard = CoreGuard::new(&self.resource);
        // Both settings were checked by the same calls in the constructor, so these
        // cannot fail; the fallback keeps the guard usable rather than panicking.
        let guard = match &self.resource_metadata {
            Some(m) => guard.with_resource_metadata(m).unwrap_or(guard),
            None => guard,
        };
        match &self.realm {
            Some(r) => guard.with_realm(r).unwrap_or(guard),
            None => guard,
        }
    }
}

#[wasm_bindgen]
impl Guard {
    /// A guard for `resource` (the canonical URI tokens must name as their audience),
    /// naming `resourceMetadata` (RFC 9728 §5.1) and `realm` in every challenge when
    /// given. A value that cannot go into a header (a control character, non-ASCII)
    /// throws with core's render code (`control_character`, `non_ascii`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        resource: String,
        resource_metadata: Option<String>,
        realm: Option<String>,
    ) -> Result<Guard> {
        // Core checks each setting once here; `core()` rebuilds the guard per call from
        // the owned strings (core's guard borrows them).
        let g = CoreGuard::new(&resource);
        if let Some(m) = &resource_metadata {
            g.with_resource_metadata(m).map_err(setting_error)?;
        }
        if let Some(r) = &realm {
            g.with_realm(r).map_err(setting_error)?;
        }
        Ok(Guard {
            resource,
            resource_metadata,
            realm,
        })
    }

    /// The bearer token of a request, from all its `Authorization` lines and its raw
    /// query string: `{ok: true, token}`, or `{ok: false, refusal}` (no header: 401;
    /// malformed, two credentials, DPoP, `access_token` in the query: 400).
    pub fn token(&self, authorization: Vec<String>, query: Option<String>) -> Result<JsValue> {
        let lines: Vec<&str> = authorization.iter().map(String::as_str).collect();
        match self.core().token(&lines, query.as_deref()) {
            Ok(token) => to_js(&TokenOutcome {
                ok: true,
                token: Some(token),
                refusal: None,
            }),
            Err(r) => to_js(&TokenOutcome {
                ok: false,
                token: None,
                refusal: Some(RefusalJs::of(&r)),
            }),
        }
    }

    /// The answer once the host verified the token: `undefined` to serve the request, or
    /// the refusal. `verification` is `{valid: {scope, audiences}}`, `"expired"`,
    /// `"invalid"`, `"upstream_expired"` or `"proof_of_possession"`; `requiredScope` is
    /// what the request needs (space separated).
    pub fn decide(&self, verification: JsValue, required_scope: Option<String>) -> Result<JsValue> {
        let text = js_sys::JSON::stringify(&verification)
            .ok()
            .and_then(|s| s.as_string())
            .ok_or_else(|| coded("invalid_verification", "verification must be JSON"))?;
        let v: VerificationJs = serde_json::from_str(&text).map_err(|_| {
            coded(
                "invalid_verification",
                "verification must be {valid: {scope, audiences}}, \"expired\", \"invalid\", \"upstream_expired\" or \"proof_of_possession\"",
            )
        })?;
        let audiences: Vec<&str> = match &v {
            VerificationJs::Valid { audiences, .. } => {
                audiences.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        };
        let verification = match &v {
            VerificationJs::Valid { scope, .. } => Verification::Valid {
                scope,
                audiences: &audiences,
            },
            VerificationJs::Expired => Verification::Expired,
            VerificationJs::Invalid => Verification::Invalid,
            VerificationJs::UpstreamExpired => Verification::UpstreamExpired,
            VerificationJs::ProofOfPossession => Verification::ProofOfPossession,
        };
        match self
            .core()
            .decide(verification, required_scope.as_deref().unwrap_or(""))
        {
            Ok(()) => Ok(JsValue::UNDEFINED),
            Err(r) => refusal_js(&r),
        }
    }

    /// The refusal of `kind` (a stable code: `upstream_token_expired`,
    /// `insufficient_scope` with `scope`, …); throws `invalid_refusal_kind` for an
    /// unknown code.
    pub fn refuse(&self, kind: &str, scope: Option<String>) -> Result<JsValue> {
        let kind = kind_from_code(kind)
            .ok_or_else(|| coded("invalid_refusal_kind", "unknown refusal kind"))?;
        refusal_js(&self.core().refuse(kind, scope.as_deref()))
    }
}

/// The protected resource metadata document (RFC 9728 §2) as JSON text (core's
/// rendering; `bearer_methods_supported` is always `["header"]`).
#[wasm_bindgen(js_name = protectedResourceMetadata)]
pub fn protected_resource_metadata(
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
) -> String {
    let servers: Vec<&str> = authorization_servers.iter().map(String::as_str).collect();
    let scopes: Vec<&str> = scopes_supported.iter().map(String::as_str).collect();
    guard::protected_resource_metadata(&resource, &servers, &scopes, resource_name.as_deref())
}

/// Where a resource's metadata lives (RFC 9728 §3.1: the well-known suffix between the
/// host and the path; core's `protected_resource_metadata_urls`, first choice). Throws
/// with core's discovery error code for a resource that is not an http(s) URL.
#[wasm_bindgen(js_name = protectedResourceMetadataUrl)]
pub fn protected_resource_metadata_url(resource: String) -> Result<String> {
    bearerflow::oauth::protected_resource_metadata_urls(&resource)
        .map_err(|e| coded("invalid_resource", e))?
        .into_iter()
        .next()
        .ok_or_else(|| coded("invalid_resource", "no metadata URL"))
}
