//! URL rules shared by discovery and authorization: origins, loopback, the RFC 8707
//! resource identifier, and which endpoints may be contacted at all.
//!
//! Parsing uses the `url` crate (WHATWG URL Standard), so scheme and host come back
//! lower-cased, default ports are dropped, and IPv6 hosts are bracketed.

use super::discovery::DiscoveryError;
use ::url::{Host, Url};
use alloc::format;
use alloc::string::String;

/// Parse `s` as an absolute `http` or `https` URL with a host. `what` names the URL
/// in errors ("server URL", "issuer", ...).
pub(crate) fn parse_http_url(s: &str, what: &'static str) -> Result<Url, DiscoveryError> {
    let u = Url::parse(s).map_err(|reason| DiscoveryError::InvalidUrl { what, reason })?;
    if u.scheme() != "https" && u.scheme() != "http" {
        return Err(DiscoveryError::UnsupportedScheme {
            what,
            scheme: String::from(u.scheme()),
        });
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(DiscoveryError::MissingHost { what });
    }
    Ok(u)
}

/// `scheme://host[:port]` of a parsed http(s) URL (default port omitted).
pub(crate) fn origin_of(u: &Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{}://{}:{}", u.scheme(), host, p),
        None => format!("{}://{}", u.scheme(), host),
    }
}

/// Whether a parsed host is loopback: `127.0.0.0/8`, `[::1]` or `localhost`
/// (RFC 8252 §7.3, RFC 6761 §6.3).
pub(crate) fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(a)) => a.is_loopback(),
        Some(Host::Ipv6(a)) => a.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The origin (RFC 6454 §4) of an `http`/`https` URL as `scheme://host[:port]`, lower
/// case, default port omitted, no trailing slash.
///
/// ```
/// use bearerflow::oauth::origin;
/// assert_eq!(origin("HTTPS://MCP.Example.com:443/mcp?x#y").unwrap(), "https://mcp.example.com");
/// assert_eq!(origin("http://127.0.0.1:8080/a").unwrap(), "http://127.0.0.1:8080");
/// assert!(origin("ftp://example.com/").is_err());
/// ```
pub fn origin(url: &str) -> Result<String, DiscoveryError> {
    Ok(origin_of(&parse_http_url(url, "URL")?))
}

/// Whether two URLs have the same origin (scheme, host, port; RFC 6454 §5). Unparseable
/// URLs are never the same origin as anything.
///
/// ```
/// use bearerflow::oauth::same_origin;
/// assert!(same_origin("https://a.example/x", "https://A.example:443/y"));
/// assert!(!same_origin("https://a.example", "http://a.example"));
/// assert!(!same_origin("https://a.example", "https://a.example:8443"));
/// ```
pub fn same_origin(a: &str, b: &str) -> bool {
    match (parse_http_url(a, "URL"), parse_http_url(b, "URL")) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host() == b.host()
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

/// Whether `url` is an `http`/`https` URL whose host is loopback (`127.0.0.0/8`,
/// `[::1]`, `localhost`).
pub fn is_loopback(url: &str) -> bool {
    parse_http_url(url, "URL").is_ok_and(|u| is_loopback_host(u.host()))
}

/// Check that an endpoint may be contacted: an absolute `https` URL without a fragment
/// (RFC 6749 §3.1, §3.2; OAuth 2.1 §1.5 requires TLS), or `http` to a loopback host
/// (`127.0.0.0/8`, `[::1]`, `localhost`), which never leaves the machine.
///
/// Apply it to every metadata URL and endpoint before sending anything there: a token
/// or a client secret must never travel in clear over a network.
///
/// ```
/// use bearerflow::oauth::{check_endpoint, DiscoveryError};
/// assert!(check_endpoint("https://as.example.com/token").is_ok());
/// assert!(check_endpoint("http://127.0.0.1:9000/token").is_ok());
/// assert!(check_endpoint("http://localhost/token").is_ok());
/// assert!(matches!(check_endpoint("http://as.example.com/token"), Err(DiscoveryError::Insecure { .. })));
/// ```
pub fn check_endpoint(url: &str) -> Result<(), DiscoveryError> {
    const WHAT: &str = "endpoint";
    let u = parse_http_url(url, WHAT)?;
    if u.fragment().is_some() {
        return Err(DiscoveryError::FragmentNotAllowed { what: WHAT });
    }
    if u.scheme() == "http" && !is_loopback_host(u.host()) {
        return Err(DiscoveryError::Insecure {
            host: String::from(u.host_str().unwrap_or("")),
        });
    }
    Ok(())
}

/// The canonical resource identifier of an MCP server URL, for the RFC 8707 `resource`
/// parameter (MCP authorization, "Canonical Server URI").
///
/// Choices, following RFC 8707 §2 and the MCP specification:
/// - scheme and host lower case, default port dropped (the `url` crate normalizes);
/// - no fragment (RFC 8707 §2: MUST NOT) and no user info;
/// - the path is kept as given, including a trailing slash on a non-root path (it can
///   be significant to the server); a bare root path is dropped, giving
///   `https://host` rather than `https://host/` (MCP prefers the form without the
///   slash);
/// - the query is kept: RFC 8707 discourages but allows it, and when a server URL
///   carries one it is part of what identifies the resource.
///
/// Prefer the `resource` value from the server's protected resource metadata when it
/// passed [`resource_matches`]; this function is the fallback.
///
/// ```
/// use bearerflow::oauth::canonical_resource;
/// assert_eq!(canonical_resource("HTTPS://MCP.Example.com:443/mcp#x").unwrap(), "https://mcp.example.com/mcp");
/// assert_eq!(canonical_resource("https://mcp.example.com/").unwrap(), "https://mcp.example.com");
/// assert_eq!(canonical_resource("http://127.0.0.1:8080/server/mcp/").unwrap(), "http://127.0.0.1:8080/server/mcp/");
/// ```
pub fn canonical_resource(server_url: &str) -> Result<String, DiscoveryError> {
    let mut u = parse_http_url(server_url, "server URL")?;
    u.set_fragment(None);
    // Both setters only fail for URLs without a host, which parse_http_url rejected;
    // ignoring the result is therefore safe.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if u.path() == "/" && u.query().is_none() {
        return Ok(origin_of(&u));
    }
    Ok(u.into())
}

/// Path with trailing slashes removed ("" for the root).
fn trim_path(p: &str) -> &str {
    p.trim_end_matches('/')
}

/// Whether the `resource` of protected resource metadata covers `server_url` (RFC 9728
/// §3.3, relaxed as MCP clients do and as draft-mcguinness-oauth-rfc9728bis proposes):
/// same scheme, host and port, and the metadata path is a prefix of the server path on
/// a segment boundary, ignoring trailing slashes. If the metadata resource has a query,
/// the server URL must have the same query.
///
/// ```
/// use bearerflow::oauth::resource_matches;
/// assert!(resource_matches("https://h/api", "https://h/api/v1"));
/// assert!(resource_matches("https://h/mcp/", "https://h/mcp"));
/// assert!(resource_matches("https://h", "https://h/anything"));
/// assert!(!resource_matches("https://h/mcp", "https://h/mcpxxxx"));
/// assert!(!resource_matches("https://h:8443/mcp", "https://h/mcp"));
/// ```
pub fn resource_matches(metadata_resource: &str, server_url: &str) -> bool {
    let (Ok(m), Ok(s)) = (
        parse_http_url(metadata_resource, "resource"),
        parse_http_url(server_url, "server URL"),
    ) else {
        return false;
    };
    if m.scheme() != s.scheme()
        || m.host() != s.host()
        || m.port_or_known_default() != s.port_or_known_default()
    {
        return false;
    }
    if m.query().is_some() && m.query() != s.query() {
        return false;
    }
    let mp = trim_path(m.path());
    let sp = trim_path(s.path());
    match sp.strip_prefix(mp) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn origin_rules() {
        assert_eq!(
            origin("https://example.com").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            origin("https://user:pw@example.com:8443/").unwrap(),
            "https://example.com:8443"
        );
        assert_eq!(origin("http://[::1]:3000/x").unwrap(), "http://[::1]:3000");
        assert_eq!(
            origin("http://example.com:80/").unwrap(),
            "http://example.com"
        );
        assert!(matches!(
            origin("not a url"),
            Err(DiscoveryError::InvalidUrl { .. })
        ));
        assert!(matches!(
            origin("mailto:a@b"),
            Err(DiscoveryError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn loopback_hosts() {
        for u in [
            "http://127.0.0.1/",
            "http://127.255.0.9:1/",
            "http://[::1]:8080/",
            "http://localhost/",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback(u), "{u}");
            assert!(check_endpoint(u).is_ok(), "{u}");
        }
        for u in [
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://10.0.0.1/",
            "http://example.com/",
        ] {
            assert!(!is_loopback(u), "{u}");
            assert!(
                matches!(check_endpoint(u), Err(DiscoveryError::Insecure { .. })),
                "{u}"
            );
        }
    }

    #[test]
    fn check_endpoint_rules() {
        assert!(check_endpoint("https://as.example.com/oauth/token?x=1").is_ok());
        assert!(matches!(
            check_endpoint("https://as.example.com/token#frag"),
            Err(DiscoveryError::FragmentNotAllowed { .. })
        ));
        assert!(matches!(
            check_endpoint("ftp://as.example.com/"),
            Err(DiscoveryError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            check_endpoint("/token"),
            Err(DiscoveryError::InvalidUrl { .. })
        ));
        assert!(matches!(
            check_endpoint(""),
            Err(DiscoveryError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn canonical_resource_rules() {
        assert_eq!(
            canonical_resource("https://mcp.example.com").unwrap(),
            "https://mcp.example.com"
        );
        assert_eq!(
            canonical_resource("https://u:p@h.example/mcp").unwrap(),
            "https://h.example/mcp"
        );
        assert_eq!(
            canonical_resource("https://h.example:8443/mcp?tenant=a").unwrap(),
            "https://h.example:8443/mcp?tenant=a"
        );
        assert_eq!(
            canonical_resource("https://h.example/?a=1").unwrap(),
            "https://h.example/?a=1"
        );
        assert_eq!(
            canonical_resource("http://[::1]:9/").unwrap(),
            "http://[::1]:9"
        );
        assert!(canonical_resource("urn:x:y").is_err());
    }

    #[test]
    fn resource_matching() {
        assert!(resource_matches("https://h/mcp", "https://h/mcp"));
        assert!(resource_matches("https://h/mcp", "https://h/mcp/"));
        assert!(resource_matches("https://h/", "https://h/mcp"));
        assert!(resource_matches("https://H:443/api", "https://h/api/v1/x"));
        assert!(!resource_matches("https://h/api/v1", "https://h/api"));
        assert!(!resource_matches("https://h/mcp", "https://h/mcpxxxx"));
        assert!(!resource_matches("https://h/mcp", "http://h/mcp"));
        assert!(!resource_matches("https://h/mcp", "https://g/mcp"));
        assert!(!resource_matches("https://h/mcp", "https://h:444/mcp"));
        assert!(!resource_matches("https://h/mcp?t=1", "https://h/mcp?t=2"));
        assert!(resource_matches("https://h/mcp?t=1", "https://h/mcp?t=1"));
        assert!(resource_matches("https://h/mcp", "https://h/mcp?t=1"));
        assert!(!resource_matches("garbage", "https://h/mcp"));
        assert!(!resource_matches("https://h/mcp", ""));
    }

    proptest! {
        #[test]
        fn helpers_never_panic(a in any::<std::string::String>(), b in "https?://[a-zA-Z0-9.:/?#%@\\[\\]-]{0,40}") {
            let _ = origin(&a);
            let _ = origin(&b);
            let _ = same_origin(&a, &b);
            let _ = check_endpoint(&b);
            let _ = canonical_resource(&b);
            let _ = resource_matches(&a, &b);
            let _ = resource_matches(&b, &b);
        }

        #[test]
        fn canonical_is_idempotent_and_matches(host in "[a-z]{1,10}(\\.[a-z]{1,5})?", port in proptest::option::of(1u16..),
                                               path in "(/[a-zA-Z0-9_-]{1,8}){0,3}/?") {
            let url = match port { Some(p) => std::format!("https://{host}:{p}{path}"), None => std::format!("https://{host}{path}") };
            let c = canonical_resource(&url).unwrap();
            prop_assert_eq!(canonical_resource(&c).unwrap(), c.clone());
            prop_assert!(resource_matches(&c, &url));
            prop_assert!(same_origin(&c, &url));
        }
    }
}
