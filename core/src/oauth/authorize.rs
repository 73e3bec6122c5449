//! The authorization request URL and the redirect that answers it.
//!
//! - The request (RFC 6749 §4.1.1) always uses `response_type=code` with a PKCE S256
//!   challenge (RFC 7636 §4.3, required by OAuth 2.1), a `state` for CSRF protection
//!   (RFC 6749 §10.12) and, for MCP, the RFC 8707 `resource` indicator.
//! - The response arrives as a redirect to the client's `redirect_uri` with `code` and
//!   `state` (§4.1.2), or `error` (§4.1.2.1), and `iss` when the server supports RFC
//!   9207 (mix-up attack defence).

use super::discovery::DiscoveryError;
use super::form::{self, FormError};
use super::pkce::CODE_CHALLENGE_METHOD;
use super::url::parse_http_url;
use crate::secret::Secret;
use crate::text::Sanitized;
use alloc::collections::BTreeSet;
use alloc::string::String;
use core::fmt;

/// What goes into an authorization URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest<'a> {
    /// The server's `authorization_endpoint`; any query it already has is kept (RFC 6749
    /// §3.1).
    pub authorization_endpoint: &'a str,
    /// `client_id`.
    pub client_id: &'a str,
    /// `redirect_uri`: where the user agent comes back to.
    pub redirect_uri: &'a str,
    /// `code_challenge` from [`Pkce`](super::Pkce).
    pub code_challenge: &'a str,
    /// `state`, e.g. from [`state_from_entropy`](super::state_from_entropy).
    pub state: &'a str,
    /// `scope`, omitted when `None` or empty.
    pub scope: Option<&'a str>,
    /// `resource` (RFC 8707 §2.1), omitted when `None` or empty.
    pub resource: Option<&'a str>,
    /// `prompt` (OpenID Connect Core 1.0 §3.1.2.1), omitted when `None`: `consent`
    /// when `offline_access` is asked of an OpenID Provider, which otherwise ignores it
    /// (§11) and issues no refresh token.
    pub prompt: Option<&'a str>,
}

/// Why an authorization URL could not be built, or a redirect was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The authorization endpoint is not a usable http(s) URL.
    InvalidEndpoint(DiscoveryError),
    /// A required request parameter is empty.
    EmptyParameter(&'static str),
    /// The endpoint's own query already sets a parameter this request sets (RFC 6749
    /// §3.1: parameters MUST NOT be repeated).
    ReservedParameter(&'static str),
    /// The redirect's query is not valid form encoding (offset into the redirect URL).
    Encoding(FormError),
    /// A parameter appears twice in the redirect (RFC 6749 §3.1).
    DuplicateParameter {
        /// The repeated name (cut to 64 bytes).
        name: String,
        /// Byte offset of the second occurrence in the redirect URL.
        offset: usize,
    },
    /// The authorization server refused (RFC 6749 §4.1.2.1), e.g. `access_denied`.
    Denied {
        /// The `error` code.
        error: String,
        /// The `error_description`, if any.
        error_description: Option<String>,
    },
    /// Neither `code` nor `error` in the redirect (or an empty `code`).
    MissingCode,
    /// No `state` in the redirect.
    MissingState,
    /// `state` differs from the one sent: a forged or stale response (RFC 6749 §10.12).
    StateMismatch,
    /// The server advertises RFC 9207 but the redirect carries no `iss`.
    MissingIssuer,
    /// `iss` names another authorization server: a mix-up attack (RFC 9207 §2.4).
    IssuerMismatch {
        /// The issuer the request was sent to.
        expected: String,
        /// The `iss` received (cut to 200 bytes).
        found: String,
    },
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorizeError::InvalidEndpoint(e) => write!(f, "authorization endpoint: {e}"),
            AuthorizeError::EmptyParameter(p) => {
                write!(f, "authorization request parameter `{p}` is empty")
            }
            AuthorizeError::ReservedParameter(p) => write!(
                f,
                "authorization endpoint URL already has a `{p}` query parameter"
            ),
            AuthorizeError::Encoding(e) => write!(f, "redirect URL: {e}"),
            AuthorizeError::DuplicateParameter { name, offset } => write!(
                f,
                "redirect URL repeats parameter `{}` at byte {offset}",
                Sanitized::quoted(name)
            ),
            AuthorizeError::Denied {
                error,
                error_description,
            } => {
                write!(f, "authorization denied: {}", Sanitized::quoted(error))?;
                if let Some(d) = error_description {
                    write!(f, ": {}", Sanitized::quoted(d))?;
                }
                Ok(())
            }
            AuthorizeError::MissingCode => {
                f.write_str("redirect carries neither `code` nor `error`")
            }
            AuthorizeError::MissingState => f.write_str("redirect carries no `state`"),
            AuthorizeError::StateMismatch => {
                f.write_str("redirect `state` does not match the request (possible CSRF)")
            }
            AuthorizeError::MissingIssuer => f.write_str(
                "redirect carries no `iss` although the server advertises RFC 9207 support",
            ),
            AuthorizeError::IssuerMismatch { expected, found } => write!(
                f,
                "redirect `iss` is \"{}\", expected \"{}\" (possible mix-up attack)",
                Sanitized::quoted(found),
                Sanitized::quoted(expected)
            ),
        }
    }
}

impl core::error::Error for AuthorizeError {}

/// Names this crate sets on the authorization URL.
const REQUEST_PARAMS: [&str; 9] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "scope",
    "resource",
    "prompt",
];

/// Build the URL to open in the user's browser (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC
/// 8707 §2.1): `response_type=code`, `client_id`, `redirect_uri`, `code_challenge`,
/// `code_challenge_method=S256`, `state`, then `scope` and `resource` when given,
/// form-encoded and appended to any query the endpoint already has.
///
/// ```
/// use bearerflow::oauth::{authorization_url, AuthorizationRequest};
/// let url = authorization_url(&AuthorizationRequest {
///     authorization_endpoint: "https://auth.example.com/authorize",
///     client_id: "app",
///     redirect_uri: "http://127.0.0.1:8765/callback",
///     code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
///     state: "xyz",
///     scope: Some("mcp:tools mcp:resources"),
///     resource: Some("https://mcp.example.com/mcp"),
///     prompt: None,
/// }).unwrap();
/// assert_eq!(url, "https://auth.example.com/authorize?response_type=code&client_id=app\
///     &redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback\
///     &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
///     &state=xyz&scope=mcp%3Atools+mcp%3Aresources&resource=https%3A%2F%2Fmcp.example.com%2Fmcp");
/// ```
pub fn authorization_url(req: &AuthorizationRequest) -> Result<String, AuthorizeError> {
    const WHAT: &str = "authorization endpoint";
    let u = parse_http_url(req.authorization_endpoint, WHAT)
        .map_err(AuthorizeError::InvalidEndpoint)?;
    if u.fragment().is_some() {
        return Err(AuthorizeError::InvalidEndpoint(
            DiscoveryError::FragmentNotAllowed { what: WHAT },
        ));
    }
    for (name, value) in [
        ("client_id", req.client_id),
        ("redirect_uri", req.redirect_uri),
        ("code_challenge", req.code_challenge),
        ("state", req.state),
    ] {
        if value.is_empty() {
            return Err(AuthorizeError::EmptyParameter(name));
        }
    }
    let existing = u.query().unwrap_or("");
    for segment in existing.split('&') {
        let name = segment.split_once('=').map_or(segment, |(n, _)| n);
        if let Some(p) = REQUEST_PARAMS.iter().find(|p| **p == name) {
            return Err(AuthorizeError::ReservedParameter(p));
        }
    }
    let mut pairs = alloc::vec![
        ("response_type", "code"),
        ("client_id", req.client_id),
        ("redirect_uri", req.redirect_uri),
        ("code_challenge", req.code_challenge),
        ("code_challenge_method", CODE_CHALLENGE_METHOD),
        ("state", req.state),
    ];
    if let Some(s) = req.scope.filter(|s| !s.is_empty()) {
        pairs.push(("scope", s));
    }
    if let Some(r) = req.resource.filter(|r| !r.is_empty()) {
        pairs.push(("resource", r));
    }
    if let Some(p) = req.prompt.filter(|p| !p.is_empty()) {
        pairs.push(("prompt", p));
    }
    let ours = form::encode_pairs(&pairs);
    let base = u.without_query();
    let mut url = String::with_capacity(base.len() + existing.len() + ours.len() + 2);
    url.push_str(base);
    url.push('?');
    if !existing.is_empty() {
        url.push_str(existing);
        url.push('&');
    }
    url.push_str(&ours);
    Ok(url)
}

/// The parameters of an authorization response redirect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectParams {
    /// `code`: the authorization code (a secret until exchanged).
    pub code: Option<Secret>,
    /// `state`, to compare with the one sent.
    pub state: Option<String>,
    /// `iss` (RFC 9207 §2).
    pub iss: Option<String>,
    /// `error` (RFC 6749 §4.1.2.1), e.g. `access_denied`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

/// The byte range of the query in `input`, if it has one: after the first `?` and
/// before the first `#`. Without a `?`, an absolute URL or a path has no query, and
/// anything else is taken as a bare query string (`code=...&state=...`).
fn query_range(input: &str) -> Option<(usize, usize)> {
    let hash = input.find('#').unwrap_or(input.len());
    let before = input.get(..hash).unwrap_or(input);
    match before.find('?') {
        Some(q) => Some((q + 1, hash)),
        None if before.contains("://") || before.starts_with('/') => None,
        None => Some((0, hash)),
    }
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

/// Read the authorization response from the redirect the browser followed (RFC 6749
/// §4.1.2): a full URL (`http://127.0.0.1:8765/callback?code=..&state=..`), a path with
/// a query (`/callback?code=..`), or a bare query (`?code=..` or `code=..`).
///
/// Parameters are form-decoded; unknown ones are ignored; any parameter given twice is
/// [`AuthorizeError::DuplicateParameter`] (RFC 6749 §3.1); bad percent-encoding is
/// [`AuthorizeError::Encoding`] with the byte offset in `url`. The fragment is ignored.
/// This only parses: check the result with [`RedirectParams::verify`].
///
/// ```
/// use bearerflow::oauth::parse_redirect;
/// let p = parse_redirect("http://127.0.0.1:8765/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz&iss=https%3A%2F%2Fas.example").unwrap();
/// assert_eq!(p.code.unwrap().expose(), "SplxlOBeZQQYbYS6WxSbIA");
/// assert_eq!(p.state.as_deref(), Some("xyz"));
/// assert_eq!(p.iss.as_deref(), Some("https://as.example"));
/// assert!(parse_redirect("?code=a&code=b").is_err());
/// ```
pub fn parse_redirect(url: &str) -> Result<RedirectParams, AuthorizeError> {
    let mut out = RedirectParams::default();
    let Some((start, end)) = query_range(url) else {
        return Ok(out);
    };
    let query = url.get(start..end).unwrap_or("");
    let pairs = form::parse_pairs_with_offsets(query)
        .map_err(|e| AuthorizeError::Encoding(e.shifted(start)))?;
    let mut seen = BTreeSet::new();
    for (offset, name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(AuthorizeError::DuplicateParameter {
                name: cut(name.clone(), 64),
                offset: offset + start,
            });
        }
    }
    for (_, name, value) in pairs {
        match name.as_str() {
            "code" => out.code = Some(Secret::from(value)),
            "state" => out.state = Some(value),
            "iss" => out.iss = Some(value),
            "error" => out.error = Some(value),
            "error_description" => out.error_description = Some(value),
            _ => {}
        }
    }
    Ok(out)
}

/// Compare two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl RedirectParams {
    /// Check the response against the request and return the authorization code.
    ///
    /// In order: the RFC 9207 `iss` (compared exactly with `expected_issuer` whenever
    /// present, and required when `iss_required`, i.e. when the server's metadata has
    /// `authorization_response_iss_parameter_supported`); `state` (required, compared in
    /// constant time, RFC 6749 §10.12); then an `error` becomes
    /// [`AuthorizeError::Denied`]; finally a non-empty `code` must be present.
    ///
    /// ```
    /// use bearerflow::oauth::{parse_redirect, AuthorizeError};
    /// let p = parse_redirect("?code=abc&state=s1&iss=https%3A%2F%2Fas").unwrap();
    /// assert_eq!(p.verify("s1", "https://as", true).unwrap().expose(), "abc");
    /// assert_eq!(p.verify("s2", "https://as", true), Err(AuthorizeError::StateMismatch));
    /// ```
    pub fn verify(
        &self,
        expected_state: &str,
        expected_issuer: &str,
        iss_required: bool,
    ) -> Result<&Secret, AuthorizeError> {
        match &self.iss {
            Some(iss) if iss != expected_issuer => {
                return Err(AuthorizeError::IssuerMismatch {
                    expected: String::from(expected_issuer),
                    found: cut(iss.clone(), 200),
                })
            }
            None if iss_required => return Err(AuthorizeError::MissingIssuer),
            _ => {}
        }
        let state = self.state.as_deref().ok_or(AuthorizeError::MissingState)?;
        if !constant_time_eq(state.as_bytes(), expected_state.as_bytes()) {
            return Err(AuthorizeError::StateMismatch);
        }
        if let Some(error) = &self.error {
            return Err(AuthorizeError::Denied {
                error: cut(error.clone(), 200),
                error_description: self.error_description.clone().map(|d| cut(d, 500)),
            });
        }
        match &self.code {
            Some(code) if !code.is_empty() => Ok(code),
            _ => Err(AuthorizeError::MissingCode),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn req<'a>() -> AuthorizationRequest<'a> {
        AuthorizationRequest {
            authorization_endpoint: "https://server.example.com/authorize",
            client_id: "s6BhdRkqt3",
            redirect_uri: "https://client.example.com/cb",
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            state: "xyz",
            scope: None,
            resource: None,
            prompt: None,
        }
    }

    #[test]
    fn rfc6749_4_1_1_example_plus_pkce() {
        let url = authorization_url(&req()).unwrap();
        assert_eq!(
            url,
            "https://server.example.com/authorize?response_type=code&client_id=s6BhdRkqt3\
             &redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=xyz"
        );
    }

    #[test]
    fn keeps_existing_query_and_rejects_clashes() {
        let mut r = req();
        r.authorization_endpoint = "https://as.example/authorize?tenant=a%20b";
        let url = authorization_url(&r).unwrap();
        assert!(
            url.starts_with("https://as.example/authorize?tenant=a%20b&response_type=code&"),
            "{url}"
        );
        r.authorization_endpoint = "https://as.example/authorize?state=1";
        assert_eq!(
            authorization_url(&r),
            Err(AuthorizeError::ReservedParameter("state"))
        );
        r.authorization_endpoint = "https://as.example/authorize#x";
        assert!(matches!(
            authorization_url(&r),
            Err(AuthorizeError::InvalidEndpoint(
                DiscoveryError::FragmentNotAllowed { .. }
            ))
        ));
        r.authorization_endpoint = "not a url";
        assert!(matches!(
            authorization_url(&r),
            Err(AuthorizeError::InvalidEndpoint(
                DiscoveryError::InvalidUrl { .. }
            ))
        ));
    }

    #[test]
    fn empty_required_parameters() {
        for (i, name) in ["client_id", "redirect_uri", "code_challenge", "state"]
            .into_iter()
            .enumerate()
        {
            let mut r = req();
            match i {
                0 => r.client_id = "",
                1 => r.redirect_uri = "",
                2 => r.code_challenge = "",
                _ => r.state = "",
            }
            assert_eq!(
                authorization_url(&r),
                Err(AuthorizeError::EmptyParameter(name))
            );
        }
        let mut r = req();
        r.scope = Some("");
        r.resource = Some("");
        assert!(!authorization_url(&r).unwrap().contains("scope"));
    }

    #[test]
    fn redirect_forms() {
        for input in [
            "https://client.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
            "/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
            "?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
            "code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
            "http://127.0.0.1:1/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz#ignored=1&code=x",
        ] {
            let p = parse_redirect(input).unwrap();
            assert_eq!(
                p.code.as_ref().map(Secret::expose),
                Some("SplxlOBeZQQYbYS6WxSbIA"),
                "{input}"
            );
            assert_eq!(p.state.as_deref(), Some("xyz"), "{input}");
        }
        assert_eq!(
            parse_redirect("http://127.0.0.1/cb").unwrap(),
            RedirectParams::default()
        );
        assert_eq!(
            parse_redirect("/cb#code=x").unwrap(),
            RedirectParams::default()
        );
        assert_eq!(parse_redirect("").unwrap(), RedirectParams::default());
        assert_eq!(
            parse_redirect("/cb#a?code=x").unwrap(),
            RedirectParams::default()
        );
        let p = parse_redirect("code=abc&state=s#frag=1").unwrap();
        assert_eq!(p.code.as_ref().map(Secret::expose), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("s"));
    }

    #[test]
    fn redirect_error_response_rfc6749_4_1_2_1() {
        let p = parse_redirect("https://client.example.com/cb?error=access_denied&error_description=The+user+said+no&state=xyz").unwrap();
        assert_eq!(p.error.as_deref(), Some("access_denied"));
        assert_eq!(p.error_description.as_deref(), Some("The user said no"));
        let e = p.verify("xyz", "https://as", false).unwrap_err();
        assert_eq!(
            e,
            AuthorizeError::Denied {
                error: "access_denied".into(),
                error_description: Some("The user said no".into())
            }
        );
        assert!(e.to_string().contains("access_denied"));
    }

    #[test]
    fn duplicates_and_bad_encoding_have_offsets() {
        let input = "http://h/cb?code=a&state=s&code=b";
        match parse_redirect(input) {
            Err(AuthorizeError::DuplicateParameter { name, offset }) => {
                assert_eq!(name, "code");
                assert_eq!(&input[offset..], "code=b");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_redirect("?foo=1&foo=2"),
            Err(AuthorizeError::DuplicateParameter { .. })
        ));
        let input = "http://h/cb?code=a%zz";
        assert_eq!(
            parse_redirect(input),
            Err(AuthorizeError::Encoding(FormError::BadPercentEscape {
                offset: input.find('%').unwrap()
            }))
        );
        assert!(matches!(
            parse_redirect("?state=%FF"),
            Err(AuthorizeError::Encoding(FormError::InvalidUtf8 {
                offset: 7
            }))
        ));
    }

    #[test]
    fn code_never_in_errors_or_debug() {
        let p = parse_redirect("?code=TOPSECRETCODE&state=s&state=t").unwrap_err();
        assert!(!format!("{p} {p:?}").contains("TOPSECRETCODE"));
        let p = parse_redirect("?code=TOPSECRETCODE&state=s").unwrap();
        assert!(!format!("{p:?}").contains("TOPSECRETCODE"));
        for e in [
            p.verify("x", "i", false).unwrap_err(),
            p.verify("s", "i", true).unwrap_err(),
        ] {
            assert!(!format!("{e} {e:?}").contains("TOPSECRETCODE"));
        }
    }

    #[test]
    fn verify_rfc9207() {
        let p = parse_redirect("?code=c&state=s&iss=https%3A%2F%2Fevil.example").unwrap();
        assert_eq!(
            p.verify("s", "https://as.example", false),
            Err(AuthorizeError::IssuerMismatch {
                expected: "https://as.example".into(),
                found: "https://evil.example".into()
            })
        );
        let p = parse_redirect("?code=c&state=s").unwrap();
        assert_eq!(
            p.verify("s", "https://as.example", true),
            Err(AuthorizeError::MissingIssuer)
        );
        assert_eq!(
            p.verify("s", "https://as.example", false).unwrap().expose(),
            "c"
        );
        let p = parse_redirect("?code=c").unwrap();
        assert_eq!(p.verify("s", "i", false), Err(AuthorizeError::MissingState));
        let p = parse_redirect("?state=s").unwrap();
        assert_eq!(p.verify("s", "i", false), Err(AuthorizeError::MissingCode));
        let p = parse_redirect("?state=s&code=").unwrap();
        assert_eq!(p.verify("s", "i", false), Err(AuthorizeError::MissingCode));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    proptest! {
        #[test]
        fn parse_redirect_never_panics(s in any::<std::string::String>()) {
            match parse_redirect(&s) {
                Ok(_) => {}
                Err(AuthorizeError::Encoding(e)) => prop_assert!(e.offset() <= s.len()),
                Err(AuthorizeError::DuplicateParameter { offset, .. }) => prop_assert!(offset < s.len()),
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
        }

        #[test]
        fn parse_redirect_query_like_never_panics(s in "[a-z_=&%+?#/:0-9A-F]{0,60}") {
            let _ = parse_redirect(&s);
        }

        #[test]
        fn url_round_trips(client_id in ".{1,20}", redirect in "http://127\\.0\\.0\\.1:[0-9]{2,5}/[a-z ]{0,8}",
                           challenge in "[A-Za-z0-9_-]{43}", state in ".{1,30}",
                           scope in proptest::option::of("[a-z:]{1,8}( [a-z:]{1,8}){0,2}"),
                           resource in proptest::option::of("https://[a-z]{1,8}\\.example/[a-z/?=&]{0,10}")) {
            let r = AuthorizationRequest {
                authorization_endpoint: "https://as.example/oauth/authorize",
                client_id: &client_id, redirect_uri: &redirect, code_challenge: &challenge,
                state: &state, scope: scope.as_deref(), resource: resource.as_deref(),
                prompt: None,
            };
            let url = authorization_url(&r).unwrap();
            let q = url.split_once('?').unwrap().1;
            let pairs: Vec<(std::string::String, std::string::String)> = form::parse_pairs(q).unwrap();
            let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            prop_assert_eq!(get("response_type"), Some("code".to_string()));
            prop_assert_eq!(get("code_challenge_method"), Some("S256".to_string()));
            prop_assert_eq!(get("client_id"), Some(client_id.clone()));
            prop_assert_eq!(get("redirect_uri"), Some(redirect.clone()));
            prop_assert_eq!(get("code_challenge"), Some(challenge.clone()));
            prop_assert_eq!(get("state"), Some(state.clone()));
            prop_assert_eq!(get("scope"), scope.clone());
            prop_assert_eq!(get("resource"), resource.clone());
            prop_assert_eq!(pairs.len(), 6 + usize::from(scope.is_some()) + usize::from(resource.is_some()));
            // The same query also parses as a redirect (state survives).
            let p = parse_redirect(&url).unwrap();
            prop_assert_eq!(p.state, Some(state.clone()));
            prop_assert!(url.chars().all(|c| c.is_ascii_graphic()), "{}", url);
        }
    }
}
