//! Fuzz the URL-facing functions: redirect parsing (RFC 6749 §4.1.2), discovery URL
//! construction (RFC 9728 §3.1, RFC 8414 §3.1), origin/loopback/resource rules and
//! `Retry-After`. No input may panic; error offsets must point inside the input.
#![no_main]

use bearerflow::oauth::{
    authorization_server_metadata_urls, canonical_resource, check_endpoint, origin, parse_redirect,
    protected_resource_metadata_urls, resource_matches, retry_after, AuthorizeError,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_redirect(s) {
        Ok(p) => {
            let _ = format!("{p:?}");
            let _ = p.verify("state", "https://as.example", true);
        }
        Err(AuthorizeError::Encoding(e)) => assert!(e.offset() <= s.len()),
        Err(AuthorizeError::DuplicateParameter { offset, .. }) => assert!(offset < s.len()),
        Err(e) => panic!("parse_redirect returned a non-parse error: {e:?}"),
    }
    if let Ok(urls) = protected_resource_metadata_urls(s) {
        assert!(!urls.is_empty() && urls.len() <= 2);
    }
    if let Ok(urls) = authorization_server_metadata_urls(s) {
        assert!(urls.len() == 2 || urls.len() == 3);
    }
    if let Ok(c) = canonical_resource(s) {
        assert_eq!(canonical_resource(&c).ok().as_deref(), Some(c.as_str()));
        assert!(resource_matches(&c, s));
    }
    let _ = origin(s);
    let _ = check_endpoint(s);
    let _ = retry_after(s);
    if let Some((a, b)) = s.split_once('\n') {
        let _ = resource_matches(a, b);
    }
});
