//! Fuzz the RFC 3986 reader (`bearerflow::oauth::url::Url`) that replaced the `url`
//! crate in core. No input may panic; error offsets point inside the input; what it
//! accepts it writes as ASCII without userinfo and reads back to the same URL; the
//! components it reports are the pieces of that text.
#![no_main]

use bearerflow::oauth::url::{Host, Url, UrlError};
use bearerflow::oauth::{is_loopback, same_origin};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let u = match Url::parse(s) {
        Ok(u) => u,
        Err(
            UrlError::InvalidCharacter { offset }
            | UrlError::InvalidPercentEncoding { offset }
            | UrlError::InvalidHost { offset },
        ) => {
            assert!(offset < s.len(), "offset {offset} outside {s:?}");
            return;
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let text = u.as_str();
    assert!(text.is_ascii(), "{text:?}");
    assert!(text.starts_with(u.scheme()) && text[u.scheme().len()..].starts_with(':'));
    assert!(u
        .scheme()
        .bytes()
        .all(|c| !c.is_ascii_uppercase() && c.is_ascii_graphic()));
    let again = Url::parse(text).expect("our own output parses");
    assert_eq!(again.as_str(), text);
    assert!(!again.has_userinfo());
    assert_eq!(again.host(), u.host());
    assert_eq!(again.port(), u.port());
    assert_eq!(again.path(), u.path());
    assert_eq!(again.query(), u.query());
    assert_eq!(again.fragment(), u.fragment());
    // The pieces put back together are the text.
    let mut joined = String::from(u.without_query());
    if let Some(q) = u.query() {
        joined.push('?');
        joined.push_str(q);
    }
    if let Some(f) = u.fragment() {
        joined.push('#');
        joined.push_str(f);
    }
    assert_eq!(joined, text);
    assert!(u.without_fragment().len() <= text.len());
    match u.host() {
        Some(Host::Domain(d)) => assert!(!d.bytes().any(|c| c.is_ascii_uppercase())),
        Some(Host::Ipv6(_)) => assert!(u.host_str().is_some_and(|h| h.starts_with('['))),
        Some(Host::Ipv4(a)) => assert_eq!(u.host_str(), Some(a.to_string().as_str())),
        None => assert!(!text[u.scheme().len()..].starts_with("://")),
    }
    if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) {
        assert!(u.path().starts_with('/'));
        assert!(same_origin(s, text));
        assert_eq!(is_loopback(s), is_loopback(text));
        assert!(text.starts_with(u.origin_str()));
        let default = if u.scheme() == "http" { 80 } else { 443 };
        assert_ne!(u.port(), Some(default));
    }
});
