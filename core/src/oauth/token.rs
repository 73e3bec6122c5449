//! The token endpoint: request builders for the three grants a bearer client uses, and
//! the response parser.
//!
//! - Authorization code with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.5, OAuth 2.1 §4.1.3).
//! - Refresh (RFC 6749 §6).
//! - Client credentials (RFC 6749 §4.4), for machine-to-machine clients.
//!
//! Every request is a form POST (RFC 6749 Appendix B) with `Accept: application/json`,
//! the client's authentication (see [`ClientRegistration`]) and, when given, the RFC 8707
//! `resource` parameter that binds the token to one protected resource (MCP requires
//! it). Bodies are built into one exactly sized buffer, which [`Request`] zeroizes on
//! drop.

use super::client::ClientRegistration;
use super::error::{error_from_object, BodyProblem, BodySummary, ErrorResponse};
use super::{form, json};
use crate::http::{Header, Method, Request};
use crate::secret::Secret;
use crate::text::Sanitized;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// `expires_in` values above this (one year, in seconds) are clamped to it.
///
/// A server that claims a token lives for centuries is either wrong or means
/// "forever"; refreshing once a year is harmless, while arithmetic on a huge value is
/// not.
pub const MAX_EXPIRES_IN_SECS: u64 = 365 * 24 * 60 * 60;

/// Longest `token_type` value kept in [`TokenError::UnsupportedTokenType`].
const MAX_TOKEN_TYPE_LEN: usize = 64;

fn token_request<'a>(
    token_endpoint: &str,
    client: &'a ClientRegistration,
    mut pairs: Vec<(&'a str, &'a str)>,
) -> Request {
    let auth = client.authentication();
    pairs.extend(auth.pairs.iter().copied());
    let body = form::encode_pairs(&pairs);
    let mut headers = alloc::vec![
        Header::new("Content-Type", "application/x-www-form-urlencoded"),
        Header::new("Accept", "application/json"),
    ];
    if let Some(h) = auth.header {
        headers.push(h);
    }
    Request {
        method: Method::Post,
        url: String::from(token_endpoint),
        headers,
        body: body.into_bytes(),
    }
}

fn push_optional<'a>(pairs: &mut Vec<(&'a str, &'a str)>, name: &'a str, value: Option<&'a str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        pairs.push((name, v));
    }
}

/// A refresh-token grant (RFC 6749 §6).
///
/// Body: `grant_type=refresh_token`, `refresh_token`, `scope` (only when given and
/// non-empty: omitting it keeps the originally granted scope), `resource` (RFC 8707
/// §2.2, when given), then the client's credentials.
///
/// ```
/// use bearerflow::oauth::{refresh_request, ClientRegistration};
/// use bearerflow::secret::Secret;
/// let client = ClientRegistration::public("app");
/// let req = refresh_request("https://as.example/token", &client, &Secret::new("rt"),
///     Some("https://mcp.example/mcp"), None);
/// assert_eq!(
///     req.body,
///     b"grant_type=refresh_token&refresh_token=rt&resource=https%3A%2F%2Fmcp.example%2Fmcp&client_id=app"
/// );
/// assert_eq!(req.header("Content-Type"), Some("application/x-www-form-urlencoded"));
/// ```
pub fn refresh_request(
    token_endpoint: &str,
    client: &ClientRegistration,
    refresh_token: &Secret,
    resource: Option<&str>,
    scope: Option<&str>,
) -> Request {
    let mut pairs = alloc::vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    push_optional(&mut pairs, "scope", scope);
    push_optional(&mut pairs, "resource", resource);
    token_request(token_endpoint, client, pairs)
}

/// An authorization-code grant with the PKCE verifier (RFC 6749 §4.1.3, RFC 7636 §4.5).
///
/// Body: `grant_type=authorization_code`, `code`, `redirect_uri` (must equal the one in
/// the authorization request), `code_verifier`, `resource` (RFC 8707 §2.2, when given),
/// then the client's credentials.
pub fn authorization_code_request(
    token_endpoint: &str,
    client: &ClientRegistration,
    code: &Secret,
    code_verifier: &Secret,
    redirect_uri: &str,
    resource: Option<&str>,
) -> Request {
    let mut pairs = alloc::vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier.expose()),
    ];
    push_optional(&mut pairs, "resource", resource);
    token_request(token_endpoint, client, pairs)
}

/// A JWT-bearer authorization grant (RFC 7523 §2.1): `grant_type`
/// `urn:ietf:params:oauth:grant-type:jwt-bearer`, the JWT as `assertion`, `scope` and
/// `resource` when given, then the client's credentials (RFC 7523 §3.1: client
/// authentication is separate from the grant).
pub fn jwt_bearer_request(
    token_endpoint: &str,
    client: &ClientRegistration,
    assertion: &Secret,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Request {
    let mut pairs = alloc::vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.expose()),
    ];
    push_optional(&mut pairs, "scope", scope);
    push_optional(&mut pairs, "resource", resource);
    token_request(token_endpoint, client, pairs)
}

/// A client-credentials grant (RFC 6749 §4.4.2).
///
/// Body: `grant_type=client_credentials`, `scope` (when given and non-empty),
/// `resource` (when given), then the client's credentials.
pub fn client_credentials_request(
    token_endpoint: &str,
    client: &ClientRegistration,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Request {
    let mut pairs = alloc::vec![("grant_type", "client_credentials")];
    push_optional(&mut pairs, "scope", scope);
    push_optional(&mut pairs, "resource", resource);
    token_request(token_endpoint, client, pairs)
}

/// A successful token response (RFC 6749 §5.1) whose `token_type` is `Bearer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token (RFC 6750 §2.1 `b64token` in practice; checked to be visible
    /// ASCII so that it can go into an `Authorization` header).
    pub access_token: Secret,
    /// Lifetime in seconds from the moment the response was received, clamped to
    /// [`MAX_EXPIRES_IN_SECS`]. `None` when the server did not say.
    pub expires_in: Option<u64>,
    /// A new refresh token. When present after a refresh it replaces the old one
    /// (rotation, OAuth 2.1 §4.3.1); when absent the old one stays valid.
    pub refresh_token: Option<Secret>,
    /// The granted scope, when the server says it differs from the requested one
    /// (RFC 6749 §5.1).
    pub scope: Option<String>,
}

/// Why a token endpoint response was not a usable bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The server answered with an RFC 6749 §5.2 error object.
    Endpoint(ErrorResponse),
    /// The token is not a bearer token (e.g. `DPoP` or `mac`); the `token_type` value,
    /// cut to 64 bytes.
    UnsupportedTokenType(String),
    /// The response could not be understood.
    Malformed {
        /// HTTP status of the response.
        status: u16,
        /// What was wrong.
        what: BodyProblem,
        /// The body's length and look. The body itself is never quoted: whatever its
        /// shape (escaped JSON keys, form encoding, an HTML page), it may hold a token.
        body: BodySummary,
    },
}

impl TokenError {
    /// The RFC 6749 §5.2 error, if the server sent one.
    pub fn endpoint_error(&self) -> Option<&ErrorResponse> {
        match self {
            TokenError::Endpoint(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Endpoint(e) => write!(f, "token endpoint error: {e}"),
            TokenError::UnsupportedTokenType(t) => write!(
                f,
                "token endpoint issued token_type \"{}\", not Bearer",
                Sanitized::quoted(t)
            ),
            TokenError::Malformed { status, what, body } => write!(
                f,
                "malformed token endpoint response (HTTP {status}): {what}; {body}"
            ),
        }
    }
}

impl core::error::Error for TokenError {}

fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn truncate_on_char_boundary(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Parse a token endpoint response (RFC 6749 §5.1 success, §5.2 error).
///
/// - Any status whose body is a JSON object with a string `error` member is
///   [`TokenError::Endpoint`] (some servers send errors with 200).
/// - A 2xx body must be a JSON object with a non-empty `access_token` string and a
///   `token_type` equal to `Bearer`, compared case-insensitively (RFC 6749 §5.1;
///   anything else is [`TokenError::UnsupportedTokenType`]). `expires_in` may be a
///   number or a numeric string; negative or non-numeric values are rejected, fractions
///   truncated, and large values clamped to [`MAX_EXPIRES_IN_SECS`]. `null` members
///   count as absent, an empty `refresh_token` as no refresh token, unknown members are
///   ignored.
/// - Anything else (HTML error pages, non-2xx without an error object) is
///   [`TokenError::Malformed`].
///
/// ```
/// use bearerflow::oauth::parse_token_response;
/// // RFC 6749 §5.1 example, with token_type in upper case.
/// let body = br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer",
///     "expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}"#;
/// let t = parse_token_response(200, body).unwrap();
/// assert_eq!(t.access_token.expose(), "2YotnFZFEjr1zCsicMWpAA");
/// assert_eq!(t.expires_in, Some(3600));
/// ```
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, TokenError> {
    parse_typed(status, body, false).map(|(t, _)| t)
}

/// [`parse_token_response`] for a client that sent a DPoP proof (RFC 9449 §5): a
/// `token_type` of `DPoP` (any case) is accepted too, and the `bool` says whether the
/// token is DPoP-bound. A server without DPoP support answers `Bearer` (RFC 9449 §5),
/// and the token is then sent as a bearer token.
pub fn parse_token_response_dpop(
    status: u16,
    body: &[u8],
) -> Result<(TokenResponse, bool), TokenError> {
    parse_typed(status, body, true)
}

fn parse_typed(
    status: u16,
    body: &[u8],
    accept_dpop: bool,
) -> Result<(TokenResponse, bool), TokenError> {
    let malformed = |what: BodyProblem| TokenError::Malformed {
        status,
        what,
        body: BodySummary::of(body),
    };
    let success = (200..300).contains(&status);
    let mut obj = match json::parse_object(body) {
        Ok(obj) => obj,
        Err(p) => {
            return Err(malformed(if success {
                p
            } else {
                BodyProblem::UnexpectedStatus
            }))
        }
    };
    if let Some(e) = error_from_object(&mut obj) {
        return Err(TokenError::Endpoint(e));
    }
    if !success {
        return Err(malformed(BodyProblem::UnexpectedStatus));
    }
    // Move the secrets out of the JSON tree first, so that they end up in a `Secret`
    // (zeroized on drop) whichever check below fails.
    let access_token = json::take_secret(&mut obj, "access_token");
    let refresh_token = json::take_secret(&mut obj, "refresh_token");
    let access_token = access_token
        .and_then(|t| t.ok_or(BodyProblem::MissingField("access_token")))
        .map_err(malformed)?;
    let refresh_token = refresh_token.map_err(malformed)?;
    if access_token.is_empty() {
        return Err(malformed(BodyProblem::InvalidValue {
            field: "access_token",
            reason: "is empty",
        }));
    }
    if !is_visible_ascii(access_token.expose()) {
        return Err(malformed(BodyProblem::InvalidValue {
            field: "access_token",
            reason: "contains characters not allowed in an Authorization header",
        }));
    }
    let token_type = json::require_string(&mut obj, "token_type").map_err(malformed)?;
    let dpop = accept_dpop && token_type.eq_ignore_ascii_case("dpop");
    if !dpop && !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::UnsupportedTokenType(truncate_on_char_boundary(
            token_type,
            MAX_TOKEN_TYPE_LEN,
        )));
    }
    let expires_in =
        json::take_non_negative(&mut obj, "expires_in", MAX_EXPIRES_IN_SECS).map_err(malformed)?;
    let scope = json::take_string(&mut obj, "scope").map_err(malformed)?;
    Ok((
        TokenResponse {
            access_token,
            expires_in,
            refresh_token: refresh_token.filter(|r| !r.is_empty()),
            scope,
        },
        dpop,
    ))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::oauth::client::ClientAuthMethod;
    use crate::oauth::error::ErrorCode;
    use alloc::format;
    use alloc::string::ToString;
    use proptest::prelude::*;

    fn body(r: &Request) -> &str {
        core::str::from_utf8(&r.body).unwrap()
    }

    fn confidential(m: ClientAuthMethod) -> ClientRegistration {
        ClientRegistration::confidential("s6BhdRkqt3", Secret::new("gX1fBat3bV"), m)
    }

    #[test]
    fn refresh_public_client() {
        let r = refresh_request(
            "https://as/token",
            &ClientRegistration::public("cid"),
            &Secret::new("tGzv3JOkF0XG5Qx2TlKWIA"),
            None,
            Some("read write"),
        );
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "https://as/token");
        assert_eq!(
            body(&r),
            "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&scope=read+write&client_id=cid"
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.header("accept"), Some("application/json"));
        assert_eq!(r.header("authorization"), None);
    }

    #[test]
    fn refresh_basic_client_rfc6749_example() {
        let r = refresh_request(
            "https://server.example.com/token",
            &confidential(ClientAuthMethod::ClientSecretBasic),
            &Secret::new("tGzv3JOkF0XG5Qx2TlKWIA"),
            None,
            None,
        );
        // RFC 6749 §6 example request.
        assert_eq!(
            body(&r),
            "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA"
        );
        assert_eq!(
            r.header("Authorization"),
            Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")
        );
        assert_eq!(
            r.body.capacity(),
            r.body.len(),
            "body must be allocated once (no stray copies of the refresh token)"
        );
    }

    #[test]
    fn refresh_post_client_and_empty_scope() {
        let r = refresh_request(
            "https://as/token",
            &confidential(ClientAuthMethod::ClientSecretPost),
            &Secret::new("r t"),
            Some("https://mcp.example.com/mcp"),
            Some(""),
        );
        assert_eq!(
            body(&r),
            "grant_type=refresh_token&refresh_token=r+t&resource=https%3A%2F%2Fmcp.example.com%2Fmcp\
             &client_id=s6BhdRkqt3&client_secret=gX1fBat3bV"
        );
        assert_eq!(r.header("Authorization"), None);
    }

    #[test]
    fn authorization_code_request_rfc6749_4_1_3() {
        let r = authorization_code_request(
            "https://server.example.com/token",
            &confidential(ClientAuthMethod::ClientSecretBasic),
            &Secret::new("SplxlOBeZQQYbYS6WxSbIA"),
            &Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "https://client.example.com/cb",
            Some("https://mcp.example.com"),
        );
        assert_eq!(
            body(&r),
            "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA\
             &redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb\
             &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\
             &resource=https%3A%2F%2Fmcp.example.com"
        );
        assert_eq!(
            r.header("Authorization"),
            Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")
        );
        let pairs = form::parse_pairs(body(&r)).unwrap();
        assert_eq!(pairs.len(), 5);
    }

    #[test]
    fn client_credentials() {
        let r = client_credentials_request(
            "https://as/token",
            &confidential(ClientAuthMethod::ClientSecretBasic),
            Some("mcp:tools"),
            None,
        );
        assert_eq!(body(&r), "grant_type=client_credentials&scope=mcp%3Atools");
        assert!(r.header("Authorization").is_some());
        let r = client_credentials_request(
            "https://as/token",
            &confidential(ClientAuthMethod::ClientSecretPost),
            None,
            Some("https://r"),
        );
        assert_eq!(
            body(&r),
            "grant_type=client_credentials&resource=https%3A%2F%2Fr&client_id=s6BhdRkqt3&client_secret=gX1fBat3bV"
        );
    }

    #[test]
    fn request_debug_hides_secrets() {
        let r = refresh_request(
            "https://as/token",
            &confidential(ClientAuthMethod::ClientSecretBasic),
            &Secret::new("very-secret-refresh"),
            None,
            None,
        );
        let d = format!("{r:?}");
        assert!(
            !d.contains("very-secret-refresh") && !d.contains("czZCaGRSa3F0"),
            "{d}"
        );
    }

    #[test]
    fn success_rfc6749_5_1() {
        let t = parse_token_response(
            200,
            br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example","expires_in":3600}"#,
        );
        assert_eq!(t, Err(TokenError::UnsupportedTokenType("example".into())));
        let t = parse_token_response(
            200,
            br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"bearer","expires_in":3600,
                "refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","scope":"a b","example_parameter":"example_value"}"#,
        )
        .unwrap();
        assert_eq!(t.access_token.expose(), "2YotnFZFEjr1zCsicMWpAA");
        assert_eq!(
            t.refresh_token.as_ref().map(Secret::expose),
            Some("tGzv3JOkF0XG5Qx2TlKWIA")
        );
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scope.as_deref(), Some("a b"));
        assert!(!format!("{t:?}").contains("2YotnFZFEjr1zCsicMWpAA"));
    }

    #[test]
    fn token_type_is_case_insensitive_and_required() {
        for tt in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let b = format!(r#"{{"access_token":"a","token_type":"{tt}"}}"#);
            assert!(parse_token_response(200, b.as_bytes()).is_ok(), "{tt}");
        }
        let e = parse_token_response(200, br#"{"access_token":"a"}"#).unwrap_err();
        assert!(matches!(
            e,
            TokenError::Malformed {
                status: 200,
                what: BodyProblem::MissingField("token_type"),
                ..
            }
        ));
        let e = parse_token_response(200, br#"{"access_token":"a","token_type":"DPoP"}"#);
        assert_eq!(e, Err(TokenError::UnsupportedTokenType("DPoP".into())));
        let long = format!(
            r#"{{"access_token":"a","token_type":"{}"}}"#,
            "é".repeat(100)
        );
        match parse_token_response(200, long.as_bytes()) {
            Err(TokenError::UnsupportedTokenType(t)) => assert!(t.len() <= 64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expires_in_forms() {
        let parse = |v: &str| {
            let b = format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{v}}}"#);
            parse_token_response(200, b.as_bytes())
        };
        assert_eq!(parse("\"3600\"").unwrap().expires_in, Some(3600));
        assert_eq!(parse("0").unwrap().expires_in, Some(0));
        assert_eq!(parse("null").unwrap().expires_in, None);
        assert_eq!(
            parse("99999999999999999999").unwrap().expires_in,
            Some(MAX_EXPIRES_IN_SECS)
        );
        assert_eq!(
            parse("\"18446744073709551616\"").unwrap().expires_in,
            Some(MAX_EXPIRES_IN_SECS)
        );
        assert_eq!(parse("59.9").unwrap().expires_in, Some(59));
        for bad in ["-1", "\"-1\"", "\"soon\"", "\"\"", "-0.5"] {
            assert!(
                matches!(
                    parse(bad),
                    Err(TokenError::Malformed {
                        what: BodyProblem::InvalidValue {
                            field: "expires_in",
                            ..
                        },
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("[1]"),
            Err(TokenError::Malformed {
                what: BodyProblem::WrongType {
                    field: "expires_in",
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn access_token_checks() {
        let e =
            parse_token_response(200, br#"{"access_token":"","token_type":"Bearer"}"#).unwrap_err();
        assert!(matches!(
            e,
            TokenError::Malformed {
                what: BodyProblem::InvalidValue {
                    field: "access_token",
                    ..
                },
                ..
            }
        ));
        let e = parse_token_response(
            200,
            b"{\"access_token\":\"a\\r\\nX-Evil: 1\",\"token_type\":\"Bearer\"}",
        )
        .unwrap_err();
        assert!(matches!(
            e,
            TokenError::Malformed {
                what: BodyProblem::InvalidValue {
                    field: "access_token",
                    ..
                },
                ..
            }
        ));
        let e =
            parse_token_response(200, br#"{"access_token":7,"token_type":"Bearer"}"#).unwrap_err();
        assert!(matches!(
            e,
            TokenError::Malformed {
                what: BodyProblem::WrongType {
                    field: "access_token",
                    ..
                },
                ..
            }
        ));
        let e = parse_token_response(200, br#"{"token_type":"Bearer"}"#).unwrap_err();
        assert!(matches!(
            e,
            TokenError::Malformed {
                what: BodyProblem::MissingField("access_token"),
                ..
            }
        ));
    }

    #[test]
    fn refresh_token_empty_or_null_is_absent() {
        for rt in ["\"\"", "null"] {
            let b = format!(r#"{{"access_token":"a","token_type":"Bearer","refresh_token":{rt}}}"#);
            assert_eq!(
                parse_token_response(200, b.as_bytes())
                    .unwrap()
                    .refresh_token,
                None
            );
        }
    }

    #[test]
    fn error_bodies() {
        let e = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#,
        )
        .unwrap_err();
        let er = e.endpoint_error().unwrap();
        assert_eq!(er.error, ErrorCode::InvalidGrant);
        assert!(e.to_string().contains("invalid_grant"));
        // 401 invalid_client, and an error object on 200 (seen in the wild).
        assert!(matches!(
            parse_token_response(401, br#"{"error":"invalid_client"}"#),
            Err(TokenError::Endpoint(ErrorResponse {
                error: ErrorCode::InvalidClient,
                ..
            }))
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"error":"slow_down"}"#),
            Err(TokenError::Endpoint(ErrorResponse {
                error: ErrorCode::Other(_),
                ..
            }))
        ));
    }

    #[test]
    fn html_and_garbage_are_malformed_and_summarized() {
        let html = b"<html><body>502 Bad Gateway</body></html>";
        match parse_token_response(502, html) {
            Err(TokenError::Malformed {
                status: 502,
                what: BodyProblem::UnexpectedStatus,
                body,
            }) => {
                assert_eq!(body.len, html.len());
                assert_eq!(body.kind, crate::oauth::BodyKind::Markup);
            }
            other => panic!("{other:?}"),
        }
        let big = [b'x'; 1000];
        match parse_token_response(200, &big) {
            Err(
                e @ TokenError::Malformed {
                    what: BodyProblem::NotJson { offset: 0 },
                    ..
                },
            ) => {
                assert!(e.to_string().contains("1000 bytes of text"), "{e}");
                assert!(!e.to_string().contains("xxx"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // JSON without an error on a 500: unexpected status.
        assert!(matches!(
            parse_token_response(500, b"{}"),
            Err(TokenError::Malformed {
                what: BodyProblem::UnexpectedStatus,
                ..
            })
        ));
        // A valid token on a non-2xx status is not accepted.
        assert!(
            parse_token_response(302, br#"{"access_token":"a","token_type":"Bearer"}"#).is_err()
        );
        assert!(matches!(
            parse_token_response(200, b"[]"),
            Err(TokenError::Malformed {
                what: BodyProblem::NotObject,
                ..
            })
        ));
    }

    #[test]
    fn tokens_never_reach_errors() {
        // A form-encoded success body (GitHub style) is not JSON: it is not quoted.
        let e =
            parse_token_response(200, b"access_token=gho_SECRET123&token_type=bearer").unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("SECRET123"), "{shown}");
        // A wrong token_type after a valid access token: the token stays out.
        let e = parse_token_response(
            200,
            br#"{"access_token":"SECRET456","token_type":"mac","refresh_token":"SECRET789"}"#,
        )
        .unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let e = parse_token_response(200, br#"{"access_token":"SECRET456","token_type":5}"#)
            .unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn escaped_keys_html_and_form_bodies_are_never_quoted() {
        // The key is `access_token`, written with a JSON escape: a byte search for the
        // name misses it, the parser does not. The bad `expires_in` fails the parse
        // after the token was read.
        let bodies: [&[u8]; 6] = [
            br#"{"access\u005ftoken":"SECRET-1","token_type":"Bearer","expires_in":"abc"}"#,
            br#"{"\u0061ccess_token":"SECRET-1","token_type":5}"#,
            br#"{"refresh\u005Ftoken":"SECRET-1"}"#,
            b"<html><body>your token is SECRET-1</body></html>",
            b"access_token=SECRET-1&token_type=bearer",
            b"\xffSECRET-1",
        ];
        for (i, b) in bodies.iter().enumerate() {
            for status in [200, 400, 502] {
                let e = parse_token_response(status, b).unwrap_err();
                let shown = format!("{e} {e:?}");
                assert!(
                    !shown.contains("SECRET"),
                    "body {i}, HTTP {status}: {shown}"
                );
                assert!(crate::text::is_safe(&shown), "{shown}");
            }
        }
        // token_type is a known-safe member: quoted, sanitized.
        let e = parse_token_response(
            200,
            br#"{"access_token":"SECRET","token_type":"m\u001bac"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "token endpoint issued token_type \"m\\u{1b}ac\", not Bearer"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            match parse_token_response(status, &body) {
                Ok(t) => {
                    prop_assert!((200..300).contains(&status));
                    prop_assert!(!t.access_token.is_empty());
                }
                Err(TokenError::Malformed { body: summary, .. }) => prop_assert_eq!(summary.len, body.len()),
                Err(_) => {}
            }
        }

        #[test]
        fn parse_structured_never_panics(
            status in prop_oneof![Just(200u16), Just(400u16), any::<u16>()],
            at in proptest::option::of("[ -~]{0,20}"),
            tt in proptest::option::of(prop_oneof![Just("Bearer".to_string()), "[ -~]{0,8}"]),
            exp in proptest::option::of(prop_oneof![any::<i64>().prop_map(|n| n.to_string()),
                                                     "\"[0-9a-z-]{0,25}\"", Just("1e400".to_string())]),
        ) {
            let mut fields = Vec::new();
            if let Some(a) = &at { fields.push(format!("\"access_token\":{}", serde_json::to_string(a).unwrap())); }
            if let Some(t) = &tt { fields.push(format!("\"token_type\":{}", serde_json::to_string(t).unwrap())); }
            if let Some(e) = &exp { fields.push(format!("\"expires_in\":{e}")); }
            let body = format!("{{{}}}", fields.join(","));
            if let Ok(t) = parse_token_response(status, body.as_bytes()) {
                prop_assert!(t.expires_in.unwrap_or(0) <= MAX_EXPIRES_IN_SECS);
            }
        }

        #[test]
        fn refresh_body_round_trips(rt in ".{1,40}", scope in proptest::option::of("[a-z:]{1,10}( [a-z:]{1,10}){0,3}"),
                                    resource in proptest::option::of("https://[a-z]{1,10}/[a-z/]{0,10}")) {
            let r = refresh_request("https://as/token", &ClientRegistration::public("c i"),
                                    &Secret::new(rt.clone()), resource.as_deref(), scope.as_deref());
            let pairs = form::parse_pairs(body(&r)).unwrap();
            let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            prop_assert_eq!(get("grant_type"), Some("refresh_token".to_string()));
            prop_assert_eq!(get("refresh_token"), Some(rt));
            prop_assert_eq!(get("scope"), scope);
            prop_assert_eq!(get("resource"), resource);
            prop_assert_eq!(get("client_id"), Some("c i".to_string()));
        }
    }
}
