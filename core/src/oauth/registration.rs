//! OAuth 2.0 Dynamic Client Registration (RFC 7591).
//!
//! An MCP client usually meets an authorization server it has never seen; when the
//! server has a `registration_endpoint`, the client registers itself there (MCP
//! 2025-11-25 "Dynamic Client Registration") and keeps the resulting
//! [`ClientRegistration`] for later sessions.
//!
//! MCP 2026-07-28 ("Client Registration", SEP-837) adds one field: clients **MUST**
//! send an appropriate `application_type` (OpenID Connect Dynamic Client Registration
//! 1.0 §2), because an OpenID provider that sees none assumes `web` and may then refuse
//! the loopback redirect URIs native clients use. [`ApplicationType`] says which.

use super::client::{ClientAuthMethod, ClientRegistration};
use super::error::{BodyProblem, BodySummary};
use super::json;
use crate::http::{Header, Method, Request};
use crate::text::Sanitized;
use alloc::string::String;
use core::fmt;

/// The client metadata sent at registration (RFC 7591 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationParams<'a> {
    /// `client_name`: shown to the user on the consent screen.
    pub client_name: &'a str,
    /// `redirect_uris`: where authorization responses may be sent (loopback for
    /// native clients, RFC 8252 §7.3).
    pub redirect_uris: &'a [String],
    /// `grant_types`, e.g. `["authorization_code", "refresh_token"]`.
    pub grant_types: &'a [&'a str],
    /// `token_endpoint_auth_method`: usually [`ClientAuthMethod::None`] for a native
    /// public client.
    pub token_endpoint_auth_method: ClientAuthMethod,
    /// `scope`: the scopes the client may ask for.
    pub scope: Option<&'a str>,
    /// `software_id`: a stable identifier of the client software.
    pub software_id: Option<&'a str>,
}

/// `application_type` (OpenID Connect Dynamic Client Registration 1.0 §2), which MCP
/// 2026-07-28 requires at registration (SEP-837; "Client Registration": native
/// applications, "desktop applications, mobile apps, CLI tools, and locally-hosted web
/// applications accessed via `localhost`", **SHOULD** say `native`; "remote
/// browser-based applications served from a non-local host" **SHOULD** say `web`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// `native`: a desktop or mobile app, a CLI, or a page served from `localhost`.
    Native,
    /// `web`: a browser-based application served from a non-local host.
    Web,
}

impl ApplicationType {
    /// The value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Native => "native",
            ApplicationType::Web => "web",
        }
    }

    /// The type a client with these redirect URIs is, by the rule of SEP-837:
    ///
    /// - no redirect URI at all (a CLI or daemon using the client-credentials grant) →
    ///   `native`;
    /// - every redirect URI is `http` to a loopback host (RFC 8252 §7.3) or a
    ///   private-use URI scheme, i.e. not `http`/`https` (RFC 8252 §7.1) → `native`;
    /// - otherwise (some redirect URI is served from a non-local host) → `web`.
    ///
    /// ```
    /// use bearerflow::oauth::ApplicationType;
    /// let uris = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    /// assert_eq!(ApplicationType::for_redirect_uris(&uris(&["http://127.0.0.1:33418/cb"])), ApplicationType::Native);
    /// assert_eq!(ApplicationType::for_redirect_uris(&uris(&["com.example.app:/oauth"])), ApplicationType::Native);
    /// assert_eq!(ApplicationType::for_redirect_uris(&[]), ApplicationType::Native);
    /// assert_eq!(ApplicationType::for_redirect_uris(&uris(&["https://app.example/cb"])), ApplicationType::Web);
    /// ```
    pub fn for_redirect_uris(redirect_uris: &[String]) -> ApplicationType {
        let native = |uri: &String| match super::url::Url::parse(uri) {
            Ok(u) => match u.scheme() {
                "http" | "https" => super::url::is_loopback_host(u.host()),
                // A private-use scheme only a native app can receive (RFC 8252 §7.1).
                _ => true,
            },
            // Not a URL at all: the server will refuse it whatever the type says;
            // nothing here suggests a web application.
            Err(_) => true,
        };
        if redirect_uris.iter().all(native) {
            ApplicationType::Native
        } else {
            ApplicationType::Web
        }
    }
}

impl fmt::Display for ApplicationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(serde::Serialize)]
struct RegistrationBody<'a> {
    client_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    application_type: Option<ApplicationType>,
    redirect_uris: &'a [String],
    grant_types: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_types: Option<[&'static str; 1]>,
    token_endpoint_auth_method: ClientAuthMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    software_id: Option<&'a str>,
}

/// A registration request: `POST` of the client metadata as JSON (RFC 7591 §3.1).
///
/// `response_types: ["code"]` is added when the grant types include
/// `authorization_code` (RFC 7591 §2.1 requires the two to be consistent); an empty
/// `scope` or `software_id` is omitted. No `application_type` is sent: MCP 2026-07-28
/// requires one (SEP-837), so new callers use [`registration_request_for`] with the
/// caller's [`ApplicationType`] (usually [`ApplicationType::for_redirect_uris`]).
///
/// ```
/// use bearerflow::oauth::{registration_request, ClientAuthMethod, RegistrationParams};
/// let uris = ["http://127.0.0.1:33418/callback".to_string()];
/// let req = registration_request("https://as.example/register", &RegistrationParams {
///     client_name: "bearerflow demo",
///     redirect_uris: &uris,
///     grant_types: &["authorization_code", "refresh_token"],
///     token_endpoint_auth_method: ClientAuthMethod::None,
///     scope: Some("mcp:tools"),
///     software_id: None,
/// });
/// let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
/// assert_eq!(body["token_endpoint_auth_method"], "none");
/// assert_eq!(body["response_types"][0], "code");
/// ```
pub fn registration_request(registration_endpoint: &str, params: &RegistrationParams) -> Request {
    build(registration_endpoint, params, None)
}

/// [`registration_request`] with `application_type` (OpenID Connect Dynamic Client
/// Registration 1.0 §2), which MCP 2026-07-28 clients MUST send (SEP-837). The type is
/// the caller's decision, a pure parameter here: a CLI or desktop client with loopback
/// redirect URIs passes [`ApplicationType::Native`] (what
/// [`ApplicationType::for_redirect_uris`] derives from such URIs).
///
/// ```
/// use bearerflow::oauth::{registration_request_for, ApplicationType, ClientAuthMethod, RegistrationParams};
/// let uris = ["https://app.example/callback".to_string()];
/// let params = RegistrationParams {
///     client_name: "a web app",
///     redirect_uris: &uris,
///     grant_types: &["authorization_code", "refresh_token"],
///     token_endpoint_auth_method: ClientAuthMethod::None,
///     scope: None,
///     software_id: None,
/// };
/// let req = registration_request_for("https://as.example/register", &params, ApplicationType::Web);
/// let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
/// assert_eq!(body["application_type"], "web");
/// ```
pub fn registration_request_for(
    registration_endpoint: &str,
    params: &RegistrationParams,
    application_type: ApplicationType,
) -> Request {
    build(registration_endpoint, params, Some(application_type))
}

fn build(
    registration_endpoint: &str,
    params: &RegistrationParams,
    application_type: Option<ApplicationType>,
) -> Request {
    fn non_empty(v: Option<&str>) -> Option<&str> {
        v.filter(|s| !s.is_empty())
    }
    let body = RegistrationBody {
        client_name: params.client_name,
        application_type,
        redirect_uris: params.redirect_uris,
        grant_types: params.grant_types,
        response_types: params
            .grant_types
            .contains(&"authorization_code")
            .then_some(["code"]),
        token_endpoint_auth_method: params.token_endpoint_auth_method,
        scope: non_empty(params.scope),
        software_id: non_empty(params.software_id),
    };
    // Serializing strings, string slices and a unit enum cannot fail (no floats, no
    // non-string map keys); the empty fallback is unreachable.
    let body = crate::json_out::to_vec(&body);
    Request {
        method: Method::Post,
        url: String::from(registration_endpoint),
        headers: alloc::vec![
            Header::new("Content-Type", "application/json"),
            Header::new("Accept", "application/json"),
        ],
        body,
    }
}

/// An RFC 7591 §3.2.2 registration error code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationErrorCode {
    /// `invalid_redirect_uri`: a redirect URI is not acceptable.
    InvalidRedirectUri,
    /// `invalid_client_metadata`: some other metadata value is not acceptable.
    InvalidClientMetadata,
    /// `invalid_software_statement`.
    InvalidSoftwareStatement,
    /// `unapproved_software_statement`.
    UnapprovedSoftwareStatement,
    /// Any other code (e.g. `invalid_request`), verbatim.
    Other(String),
}

impl RegistrationErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            RegistrationErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            RegistrationErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            RegistrationErrorCode::InvalidSoftwareStatement => "invalid_software_statement",
            RegistrationErrorCode::UnapprovedSoftwareStatement => "unapproved_software_statement",
            RegistrationErrorCode::Other(s) => s,
        }
    }
}

impl From<&str> for RegistrationErrorCode {
    fn from(s: &str) -> RegistrationErrorCode {
        match s {
            "invalid_redirect_uri" => RegistrationErrorCode::InvalidRedirectUri,
            "invalid_client_metadata" => RegistrationErrorCode::InvalidClientMetadata,
            "invalid_software_statement" => RegistrationErrorCode::InvalidSoftwareStatement,
            "unapproved_software_statement" => RegistrationErrorCode::UnapprovedSoftwareStatement,
            other => RegistrationErrorCode::Other(String::from(other)),
        }
    }
}

/// Sanitized: an [`RegistrationErrorCode::Other`] is server text.
impl fmt::Display for RegistrationErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Sanitized::quoted(self.as_str()))
    }
}

/// Why registration did not produce a usable client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationError {
    /// The server rejected the registration (RFC 7591 §3.2.2).
    Endpoint {
        /// HTTP status (normally 400).
        status: u16,
        /// The error code.
        error: RegistrationErrorCode,
        /// The server's explanation, if any.
        error_description: Option<String>,
    },
    /// The response could not be understood.
    Malformed {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        what: BodyProblem,
        /// The body's length and look. The body itself is never quoted: a registration
        /// response carries the client secret, however its key is written.
        body: BodySummary,
    },
    /// The server assigned a `token_endpoint_auth_method` this crate cannot perform
    /// (e.g. `private_key_jwt`).
    UnsupportedAuthMethod(String),
    /// The server assigned a secret-based method but sent no `client_secret`.
    MissingClientSecret {
        /// The method the server assigned.
        method: ClientAuthMethod,
    },
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationError::Endpoint {
                status,
                error,
                error_description,
            } => {
                write!(f, "client registration rejected (HTTP {status}): {error}")?;
                if let Some(d) = error_description {
                    write!(f, ": {}", Sanitized::quoted(d))?;
                }
                Ok(())
            }
            RegistrationError::Malformed { status, what, body } => write!(
                f,
                "malformed registration response (HTTP {status}): {what}; {body}"
            ),
            RegistrationError::UnsupportedAuthMethod(m) => write!(
                f,
                "registration assigned token endpoint auth method \"{}\", which is not supported",
                Sanitized::quoted(m)
            ),
            RegistrationError::MissingClientSecret { method } => {
                write!(f, "registration assigned {method} but no client_secret")
            }
        }
    }
}

impl core::error::Error for RegistrationError {}

/// Parse a registration response (RFC 7591 §3.2).
///
/// 201 (the specified status) and 200 (common in practice) with a JSON object carrying
/// `client_id` are accepted. `client_secret_expires_at` of `0` means "never" and
/// becomes `None`. When the server does not echo `token_endpoint_auth_method`, the
/// method is `client_secret_basic` if a secret was issued (the RFC 7591 §2 default) and
/// `none` otherwise. Error bodies (any status with an `error` member) become
/// [`RegistrationError::Endpoint`].
///
/// ```
/// use bearerflow::oauth::{parse_registration_response, ClientAuthMethod};
/// let reg = parse_registration_response(201, br#"{"client_id":"s6BhdRkqt3",
///     "client_secret":"cf136dc3c1fc93f31185e5885805d","client_secret_expires_at":1577858400,
///     "token_endpoint_auth_method":"client_secret_basic"}"#).unwrap();
/// assert_eq!(reg.client_id, "s6BhdRkqt3");
/// assert_eq!(reg.auth_method, ClientAuthMethod::ClientSecretBasic);
/// assert_eq!(reg.client_secret_expires_at, Some(1577858400));
/// ```
pub fn parse_registration_response(
    status: u16,
    body: &[u8],
) -> Result<ClientRegistration, RegistrationError> {
    let malformed = |what: BodyProblem| RegistrationError::Malformed {
        status,
        what,
        body: BodySummary::of(body),
    };
    let accepted = status == 200 || status == 201;
    let mut o = match json::parse_object(body) {
        Ok(o) => o,
        Err(p) => {
            return Err(malformed(if accepted {
                p
            } else {
                BodyProblem::UnexpectedStatus
            }));
        }
    };
    if let Some(serde_json::Value::String(code)) = o.get("error") {
        if !code.is_empty() {
            let error = RegistrationErrorCode::from(code.as_str());
            let error_description = json::take_string(&mut o, "error_description")
                .ok()
                .flatten();
            return Err(RegistrationError::Endpoint {
                status,
                error,
                error_description,
            });
        }
    }
    if !accepted {
        return Err(malformed(BodyProblem::UnexpectedStatus));
    }
    // Move the secret out first so it is zeroized whatever fails below.
    let client_secret = json::take_secret(&mut o, "client_secret")
        .map_err(malformed)?
        .filter(|s| !s.is_empty());
    let client_id = json::require_string(&mut o, "client_id").map_err(malformed)?;
    if client_id.is_empty() {
        return Err(malformed(BodyProblem::InvalidValue {
            field: "client_id",
            reason: "is empty",
        }));
    }
    let expires_at = json::take_non_negative(&mut o, "client_secret_expires_at", u64::MAX)
        .map_err(malformed)?
        .filter(|t| *t != 0);
    let auth_method =
        match json::take_string(&mut o, "token_endpoint_auth_method").map_err(malformed)? {
            Some(m) => m
                .parse::<ClientAuthMethod>()
                .map_err(|e| RegistrationError::UnsupportedAuthMethod(e.0))?,
            None if client_secret.is_some() => ClientAuthMethod::ClientSecretBasic,
            None => ClientAuthMethod::None,
        };
    if auth_method != ClientAuthMethod::None && client_secret.is_none() {
        return Err(RegistrationError::MissingClientSecret {
            method: auth_method,
        });
    }
    Ok(ClientRegistration {
        client_id,
        client_secret,
        auth_method,
        client_secret_expires_at: expires_at,
    })
}

/// The grant types a native MCP client registers for.
pub const DEFAULT_GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec::Vec;
    use proptest::prelude::*;
    use serde_json::Value;

    fn params<'a>(uris: &'a [String], grants: &'a [&'a str]) -> RegistrationParams<'a> {
        RegistrationParams {
            client_name: "My \"Client\"",
            redirect_uris: uris,
            grant_types: grants,
            token_endpoint_auth_method: ClientAuthMethod::None,
            scope: None,
            software_id: Some("4NRB1-0XZABZI9E6-5SM3R"),
        }
    }

    #[test]
    fn request_shape() {
        let uris = [
            "http://127.0.0.1:1234/cb".to_string(),
            "http://[::1]:1234/cb".to_string(),
        ];
        let r = registration_request("https://as/register", &params(&uris, &DEFAULT_GRANT_TYPES));
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.url, "https://as/register");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.header("Accept"), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["client_name"], "My \"Client\"");
        assert_eq!(v["redirect_uris"][1], "http://[::1]:1234/cb");
        assert_eq!(
            v["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(v["response_types"], serde_json::json!(["code"]));
        assert_eq!(v["token_endpoint_auth_method"], "none");
        assert_eq!(v["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
        assert!(v.get("scope").is_none());
        // Without an explicit type, none is sent (the pre-2026-07-28 body).
        assert!(v.get("application_type").is_none());
        let v: Value = serde_json::from_slice(
            &registration_request_for(
                "https://as/register",
                &params(&uris, &DEFAULT_GRANT_TYPES),
                ApplicationType::for_redirect_uris(&uris),
            )
            .body,
        )
        .unwrap();
        // SEP-837: loopback redirect URIs make a native client.
        assert_eq!(v["application_type"], "native");
        assert_eq!(v["client_name"], "My \"Client\"");
        assert_eq!(v["response_types"], serde_json::json!(["code"]));
    }

    #[test]
    fn application_type_follows_the_redirect_uris() {
        let of = |uris: &[&str]| {
            let uris: Vec<String> = uris.iter().map(|s| s.to_string()).collect();
            ApplicationType::for_redirect_uris(&uris)
        };
        use ApplicationType::{Native, Web};
        assert_eq!(of(&[]), Native, "a CLI without redirect URIs");
        assert_eq!(of(&["http://127.0.0.1:8976/callback"]), Native);
        assert_eq!(of(&["http://127.1.2.3/cb"]), Native);
        assert_eq!(of(&["http://[::1]:1/cb"]), Native);
        assert_eq!(of(&["http://LOCALHOST:3000/cb"]), Native);
        assert_eq!(of(&["https://localhost/cb"]), Native);
        assert_eq!(of(&["com.example.app:/oauth2redirect"]), Native);
        assert_eq!(of(&["https://app.example/cb"]), Web);
        assert_eq!(of(&["http://app.example/cb"]), Web);
        assert_eq!(of(&["http://127.0.0.1/cb", "https://app.example/cb"]), Web);
        assert_eq!(of(&["http://localhost.app.example/cb"]), Web);
        assert_eq!(Native.as_str(), "native");
        assert_eq!(Web.to_string(), "web");
    }

    #[test]
    fn explicit_application_type_wins() {
        let uris = ["http://127.0.0.1:1/cb".to_string()];
        let p = params(&uris, &DEFAULT_GRANT_TYPES);
        let v: Value = serde_json::from_slice(
            &registration_request_for("https://as/r", &p, ApplicationType::Web).body,
        )
        .unwrap();
        assert_eq!(v["application_type"], "web");
        let cc = params(&[], &["client_credentials"]);
        let v: Value = serde_json::from_slice(
            &registration_request_for("https://as/r", &cc, ApplicationType::for_redirect_uris(&[]))
                .body,
        )
        .unwrap();
        assert_eq!(v["application_type"], "native");
    }

    #[test]
    fn client_credentials_registration_has_no_response_types() {
        let mut p = params(&[], &["client_credentials"]);
        p.token_endpoint_auth_method = ClientAuthMethod::ClientSecretBasic;
        p.scope = Some("a b");
        p.software_id = Some("");
        let v: Value =
            serde_json::from_slice(&registration_request("https://as/r", &p).body).unwrap();
        assert!(v.get("response_types").is_none());
        assert!(v.get("software_id").is_none());
        assert_eq!(v["scope"], "a b");
        assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
    }

    #[test]
    fn rfc7591_success_example() {
        // RFC 7591 §3.2.1 example response.
        let body = br#"{
          "client_id": "s6BhdRkqt3",
          "client_secret": "cf136dc3c1fc93f31185e5885805d",
          "client_id_issued_at": 2893256800,
          "client_secret_expires_at": 2893276800,
          "redirect_uris": ["https://client.example.org/callback", "https://client.example.org/callback2"],
          "grant_types": ["authorization_code", "refresh_token"],
          "client_name": "My Example Client",
          "token_endpoint_auth_method": "client_secret_basic",
          "logo_uri": "https://client.example.org/logo.png",
          "jwks_uri": "https://client.example.org/my_public_keys.jwks",
          "example_extension_parameter": "example_value"
        }"#;
        let reg = parse_registration_response(201, body).unwrap();
        assert_eq!(reg.client_id, "s6BhdRkqt3");
        assert_eq!(
            reg.client_secret.as_ref().unwrap().expose(),
            "cf136dc3c1fc93f31185e5885805d"
        );
        assert_eq!(reg.client_secret_expires_at, Some(2893276800));
        assert_eq!(reg.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert!(!format!("{reg:?}").contains("cf136dc3"));
        // 200 is accepted too.
        assert!(parse_registration_response(200, body).is_ok());
    }

    #[test]
    fn public_client_and_defaults() {
        let reg = parse_registration_response(
            201,
            br#"{"client_id":"abc","token_endpoint_auth_method":"none"}"#,
        )
        .unwrap();
        assert_eq!(reg, ClientRegistration::public("abc"));
        let reg = parse_registration_response(201, br#"{"client_id":"abc"}"#).unwrap();
        assert_eq!(reg.auth_method, ClientAuthMethod::None);
        let reg = parse_registration_response(
            201,
            br#"{"client_id":"abc","client_secret":"s","client_secret_expires_at":0}"#,
        )
        .unwrap();
        assert_eq!(reg.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(reg.client_secret_expires_at, None);
    }

    #[test]
    fn rfc7591_error_example() {
        // RFC 7591 §3.2.2 examples.
        let e = parse_registration_response(
            400,
            br#"{"error": "invalid_redirect_uri", "error_description": "The redirection URI http://sketchy.example.com is not allowed by this server."}"#,
        )
        .unwrap_err();
        match &e {
            RegistrationError::Endpoint {
                status: 400,
                error: RegistrationErrorCode::InvalidRedirectUri,
                error_description: Some(d),
            } => {
                assert!(d.contains("sketchy"));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("invalid_redirect_uri"));
        let e = parse_registration_response(400, br#"{"error": "invalid_client_metadata"}"#)
            .unwrap_err();
        assert!(matches!(
            e,
            RegistrationError::Endpoint {
                error: RegistrationErrorCode::InvalidClientMetadata,
                ..
            }
        ));
        for code in [
            "invalid_software_statement",
            "unapproved_software_statement",
            "invalid_request",
        ] {
            assert_eq!(RegistrationErrorCode::from(code).as_str(), code);
        }
    }

    #[test]
    fn malformed_responses() {
        let e = parse_registration_response(404, b"<html>Not Found</html>").unwrap_err();
        assert!(
            matches!(e, RegistrationError::Malformed { status: 404, what: BodyProblem::UnexpectedStatus, body } if body.len == 22)
        );
        assert!(!e.to_string().contains("Not Found"), "{e}");
        let e = parse_registration_response(201, b"{}").unwrap_err();
        assert!(matches!(
            e,
            RegistrationError::Malformed {
                what: BodyProblem::MissingField("client_id"),
                ..
            }
        ));
        let e = parse_registration_response(201, br#"{"client_id":""}"#).unwrap_err();
        assert!(matches!(
            e,
            RegistrationError::Malformed {
                what: BodyProblem::InvalidValue {
                    field: "client_id",
                    ..
                },
                ..
            }
        ));
        let e = parse_registration_response(202, br#"{"client_id":"x"}"#).unwrap_err();
        assert!(matches!(
            e,
            RegistrationError::Malformed {
                what: BodyProblem::UnexpectedStatus,
                ..
            }
        ));
        let e = parse_registration_response(
            201,
            br#"{"client_id":"x","client_secret":"TOPSECRET","client_secret_expires_at":"later"}"#,
        )
        .unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("TOPSECRET"), "{shown}");
        // The same with the key written as a JSON escape: the parser reads it, so it
        // is the same response, and still nothing of the body is quoted.
        for body in [
            &br#"{"client_id":"x","client\u005fsecret":"TOPSECRET","client_secret_expires_at":"later"}"#[..],
            br#"{"client\u005fsecret":"TOPSECRET"}"#,
            b"<html>client_secret: TOPSECRET</html>",
        ] {
            for status in [200, 201, 400, 500] {
                let e = parse_registration_response(status, body).unwrap_err();
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains("TOPSECRET"), "HTTP {status}: {shown}");
            }
        }
        assert!(matches!(
            e,
            RegistrationError::Malformed {
                what: BodyProblem::InvalidValue {
                    field: "client_secret_expires_at",
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn auth_method_problems() {
        let e = parse_registration_response(
            201,
            br#"{"client_id":"x","token_endpoint_auth_method":"private_key_jwt"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            RegistrationError::UnsupportedAuthMethod("private_key_jwt".into())
        );
        let e = parse_registration_response(
            201,
            br#"{"client_id":"x","token_endpoint_auth_method":"client_secret_post"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            RegistrationError::MissingClientSecret {
                method: ClientAuthMethod::ClientSecretPost
            }
        );
    }

    proptest! {
        #[test]
        fn never_panics(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            match parse_registration_response(status, &body) {
                Ok(reg) => prop_assert!(!reg.client_id.is_empty()),
                Err(RegistrationError::Malformed { body: summary, .. }) => prop_assert_eq!(summary.len, body.len()),
                Err(_) => {}
            }
        }

        #[test]
        fn request_round_trips(name in ".{0,20}", uris in proptest::collection::vec("http://127\\.0\\.0\\.1:[0-9]{1,5}/[a-z]{0,6}", 0..3),
                               scope in proptest::option::of("[a-z:]{1,8}")) {
            let p = RegistrationParams {
                client_name: &name, redirect_uris: &uris, grant_types: &DEFAULT_GRANT_TYPES,
                token_endpoint_auth_method: ClientAuthMethod::None, scope: scope.as_deref(), software_id: None,
            };
            let v: Value = serde_json::from_slice(&registration_request("https://as/r", &p).body).unwrap();
            prop_assert_eq!(v["client_name"].as_str(), Some(name.as_str()));
            prop_assert_eq!(v["redirect_uris"].as_array().map(Vec::len), Some(uris.len()));
            prop_assert_eq!(v.get("scope").and_then(Value::as_str), scope.as_deref());
        }
    }
}
