//! Small pure helpers: randomness, forms, HTTP Basic client credentials, URI checks,
//! scopes and PKCE.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use url::Url;

/// `prefix` + 32 random bytes in base64url: an opaque, unguessable token that is also a
/// valid RFC 6750 `b64token`. `None` only when the OS has no randomness to give.
pub(crate) fn random_token(prefix: &str) -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    let mut out = String::with_capacity(prefix.len() + 43);
    out.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut out);
    Some(out)
}

/// Form parameters (`application/x-www-form-urlencoded`, as RFC 6749 §3.1 and §3.2
/// require for the authorization and token endpoints).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parse a query string or form body. Parameters without a value count as omitted
    /// (RFC 6749 §3.1). The second value is the name of the first parameter given twice,
    /// which the endpoints refuse ("Request and response parameters MUST NOT be included
    /// more than once"); the first occurrence is kept so the request can still be
    /// counted by its `grant_type`.
    pub fn parse(input: &[u8]) -> (Params, Option<String>) {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut duplicate = None;
        for (k, v) in url::form_urlencoded::parse(input) {
            if v.is_empty() {
                continue;
            }
            if out.iter().any(|(n, _)| *n == *k) {
                duplicate.get_or_insert_with(|| k.into_owned());
                continue;
            }
            out.push((k.into_owned(), v.into_owned()));
        }
        (Params(out), duplicate)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decode one `application/x-www-form-urlencoded` component (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Client id and secret from `Authorization: Basic …` (RFC 6749 §2.3.1: both are
/// form-urlencoded before being joined with `:` and base64-encoded).
///
/// `Ok(None)` when the header uses another scheme; `Err` with a reason when it is Basic
/// but malformed.
pub(crate) fn basic_credentials(value: &str) -> Result<Option<(String, String)>, &'static str> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let raw = STANDARD
        .decode(rest)
        .map_err(|_| "the Basic credentials are not valid base64")?;
    let text = String::from_utf8(raw).map_err(|_| "the Basic credentials are not UTF-8")?;
    let (id, secret) = text
        .split_once(':')
        .ok_or("the Basic credentials have no ':' between id and secret")?;
    let id = form_decode(id).ok_or("the Basic client id is not valid form-urlencoding")?;
    let secret =
        form_decode(secret).ok_or("the Basic client secret is not valid form-urlencoding")?;
    if id.is_empty() {
        return Err("the Basic credentials have an empty client id");
    }
    Ok(Some((id, secret)))
}

/// Compare secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether a redirect URI may be registered: absolute, no fragment (RFC 6749 §3.1.2),
/// and `https`, `http` on a loopback host (RFC 8252 §7.3; MCP requires localhost or
/// https), or a private-use scheme containing a `.` (RFC 8252 §7.1).
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not absolute: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} has a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?} uses http on a non-loopback host; use https or a loopback address"
        )),
        s if s.contains('.') => Ok(()),
        s => Err(format!(
            "redirect URI {uri:?} has scheme {s:?}; only https, loopback http and reverse-domain private schemes are allowed"
        )),
    }
}

/// Whether `requested` (from `/authorize`) matches `registered`: exactly, or as a
/// loopback `http` URI that differs only in its port (RFC 8252 §7.3, OAuth 2.1 §8.4.2).
pub(crate) fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    a.scheme() == "http"
        && b.scheme() == "http"
        && is_loopback_host(&a)
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment().is_none()
        && b.fragment().is_none()
        && a.username() == b.username()
        && a.password() == b.password()
}

/// Whether an RFC 8707 `resource` names this MCP server: its URL, or its origin, with
/// or without a trailing slash; scheme and host compare case-insensitively (MCP
/// 2025-11-25 "Canonical Server URI").
pub(crate) fn resource_matches(candidate: &str, mcp_url: &str) -> bool {
    let (Ok(c), Ok(m)) = (Url::parse(candidate), Url::parse(mcp_url)) else {
        return false;
    };
    if c.fragment().is_some() || c.query().is_some() || !c.username().is_empty() {
        return false;
    }
    if c.scheme() != m.scheme()
        || c.host() != m.host()
        || c.port_or_known_default() != m.port_or_known_default()
    {
        return false;
    }
    let path = c.path().trim_end_matches('/');
    path.is_empty() || path == m.path().trim_end_matches('/')
}

/// Split a `scope` value (RFC 6749 §3.3) into its tokens, dropping duplicates. Errors name
/// the first token with a character outside `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn parse_scope(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for tok in s.split(' ').filter(|t| !t.is_empty()) {
        if !tok
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        {
            return Err(format!(
                "scope token {tok:?} has a character scope tokens may not contain"
            ));
        }
        if !out.iter().any(|t| t == tok) {
            out.push(tok.to_string());
        }
    }
    Ok(out)
}

/// Whether `v` is a syntactically valid PKCE code verifier (RFC 7636 §4.1): 43 to 128
/// characters of `[A-Z a-z 0-9 - . _ ~]`.
pub(crate) fn is_valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `c` looks like an S256 challenge: base64url without padding of 32 bytes.
pub(crate) fn is_valid_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The current unix time in milliseconds.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_b64token_and_distinct() {
        let a = random_token("bfa_").unwrap();
        let b = random_token("bfa_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert!(bearerflow::challenge::parse_authorization_bearer(&format!("Bearer {a}")).is_ok());
    }

    #[test]
    fn params_reject_duplicates_and_drop_empty_values() {
        let (p, dup) = Params::parse(b"a=1&b=&c=x%20y+z");
        assert_eq!(dup, None);
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y z"));
        let (p, dup) = Params::parse(b"a=1&a=2&b=3&b=4");
        assert_eq!(dup.as_deref(), Some("a"));
        assert_eq!(p.get("a"), Some("1"));
        // An empty duplicate is "omitted", not a duplicate.
        assert_eq!(Params::parse(b"a=1&a=").1, None);
    }

    #[test]
    fn basic_credentials_decode_form_encoding() {
        // "my client:p@ss word" form-encoded is "my+client" / "p%40ss+word".
        let header = format!("Basic {}", STANDARD.encode("my+client:p%40ss+word"));
        assert_eq!(
            basic_credentials(&header).unwrap(),
            Some(("my client".into(), "p@ss word".into()))
        );
        assert_eq!(basic_credentials("Bearer abc").unwrap(), None);
        assert!(basic_credentials("Basic !!!").is_err());
        assert!(basic_credentials(&format!("basic {}", STANDARD.encode("nocolon"))).is_err());
        assert!(basic_credentials(&format!("Basic {}", STANDARD.encode(":x"))).is_err());
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8080/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://[::1]:9/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(check_redirect_uri("http://example.com/cb").is_err());
        assert!(check_redirect_uri("https://app.example.com/cb#frag").is_err());
        assert!(check_redirect_uri("/relative").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
    }

    #[test]
    fn loopback_redirects_match_on_any_port() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/cb"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:2/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:5555/other"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://[::1]:5555/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
        assert!(redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb"
        ));
    }

    #[test]
    fn resource_matching() {
        let mcp = "http://127.0.0.1:4000/mcp";
        assert!(resource_matches("http://127.0.0.1:4000/mcp", mcp));
        assert!(resource_matches("http://127.0.0.1:4000/mcp/", mcp));
        assert!(resource_matches("HTTP://127.0.0.1:4000/mcp", mcp));
        assert!(resource_matches("http://127.0.0.1:4000", mcp));
        assert!(resource_matches("http://127.0.0.1:4000/", mcp));
        assert!(!resource_matches("http://127.0.0.1:4001/mcp", mcp));
        assert!(!resource_matches("http://127.0.0.1:4000/other", mcp));
        assert!(!resource_matches("http://127.0.0.1:4000/mcp#x", mcp));
        assert!(!resource_matches("mcp", mcp));
    }

    #[test]
    fn scope_parsing() {
        assert_eq!(parse_scope("a  b a").unwrap(), vec!["a", "b"]);
        assert!(parse_scope("").unwrap().is_empty());
        assert!(parse_scope("a \"b\"").is_err());
        assert!(parse_scope("a\\b").is_err());
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_valid_verifier(verifier));
        let challenge = s256(verifier);
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(is_valid_s256_challenge(&challenge));
        assert!(!is_valid_verifier("short"));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(!is_valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="
        ));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let text = String::from_utf8_lossy(&bytes);
                let _ = Params::parse(&bytes);
                let _ = basic_credentials(&text);
                let _ = basic_credentials(&format!("Basic {text}"));
                let _ = check_redirect_uri(&text);
                let _ = redirect_uri_matches("http://127.0.0.1/cb", &text);
                let _ = resource_matches(&text, "http://127.0.0.1:1/mcp");
                let _ = parse_scope(&text);
                let _ = is_valid_verifier(&text);
                let _ = is_valid_s256_challenge(&text);
            }

            #[test]
            fn form_round_trip(pairs in proptest::collection::vec(("[a-z_]{1,8}", "\\PC{1,12}"), 0..6)) {
                let mut unique: Vec<(String, String)> = Vec::new();
                for (k, v) in pairs {
                    if !unique.iter().any(|(n, _)| *n == k) {
                        unique.push((k, v));
                    }
                }
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &unique {
                    ser.append_pair(k, v);
                }
                let (params, dup) = Params::parse(ser.finish().as_bytes());
                prop_assert_eq!(dup, None);
                for (k, v) in &unique {
                    prop_assert_eq!(params.get(k), Some(v.as_str()));
                }
            }

            #[test]
            fn basic_round_trip(id in "\\PC{1,16}", secret in "\\PC{0,16}") {
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
                prop_assert_eq!(basic_credentials(&header), Ok(Some((id, secret))));
            }

            #[test]
            fn valid_verifiers_give_valid_challenges(v in "[A-Za-z0-9._~-]{43,128}") {
                prop_assert!(is_valid_verifier(&v));
                prop_assert!(is_valid_s256_challenge(&s256(&v)));
            }
        }
    }
}
