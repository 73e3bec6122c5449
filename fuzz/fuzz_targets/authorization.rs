//! Fuzz the resource side's `Authorization` reading (`Guard::token`, RFC 6750 §2.1,
//! §3). The input is split at `\n` into header lines; a line starting with `?` is the
//! query string instead. No input may panic; an accepted token is a `b64token` taken
//! from the one non-empty line; a refusal has an RFC 6750 §3.1 status and never
//! quotes the request (its challenge and body are built from the guard's settings).
#![no_main]

use bearerflow::challenge::parse_authorization_bearer;
use bearerflow::guard::Guard;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = Vec::new();
    let mut query = None;
    for l in text.split('\n') {
        match l.strip_prefix('?') {
            Some(q) if query.is_none() => query = Some(q),
            _ => lines.push(l),
        }
    }
    let Ok(guard) = Guard::new(RESOURCE).with_resource_metadata(METADATA) else {
        panic!("the guard's own settings are valid");
    };
    match guard.token(&lines, query) {
        Ok(token) => {
            assert!(!token.is_empty());
            assert!(token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)));
            let present: Vec<&&str> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(present.len(), 1);
            assert_eq!(parse_authorization_bearer(present[0]), Ok(token));
        }
        Err(r) => {
            assert!(matches!(r.status, 400 | 401 | 403), "{}", r.status);
            let shown = format!("{r:?}");
            // Tokens of 12 bytes or more that the request carried are never echoed.
            for l in &lines {
                if let Ok(t) = parse_authorization_bearer(l) {
                    if t.len() >= 12 && !RESOURCE.contains(t) && !METADATA.contains(t) {
                        assert!(!shown.contains(t), "refusal quotes the token: {shown}");
                    }
                }
            }
        }
    }
});
