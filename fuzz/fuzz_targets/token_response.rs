//! Fuzz the token endpoint response parser (RFC 6749 §5.1/§5.2). The first two input
//! bytes choose the HTTP status; the rest is the body. No input may panic, an accepted
//! response must be a usable bearer token, and no error may quote the access token.
#![no_main]

use bearerflow::oauth::{parse_token_response, TokenError, MAX_EXPIRES_IN_SECS};

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let (status, body) = match input {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (200, input),
    };
    match parse_token_response(status, body) {
        Ok(t) => {
            assert!((200..300).contains(&status));
            let at = t.access_token.expose();
            assert!(!at.is_empty());
            assert!(at.bytes().all(|b| (0x21..=0x7e).contains(&b)));
            assert!(t.expires_in.unwrap_or(0) <= MAX_EXPIRES_IN_SECS);
            assert!(!format!("{t:?}").contains(at) || at.len() < 4);
        }
        Err(e) => {
            if let TokenError::Malformed { body: summary, .. } = &e {
                assert_eq!(summary.len, body.len());
            }
            let _ = format!("{e} {e:?}");
        }
    }
});
