//! Fuzz the RFC 6749 §5.2 error object reader on its own. No input may panic; an
//! accepted object has a non-empty code, and its Display (what error messages and log
//! lines quote) holds no terminal control or bidirectional override (the `text`
//! sanitizer's promise: a server cannot rewrite the user's terminal).
#![no_main]

use bearerflow::oauth::parse_error_response;
use bearerflow::text::is_unsafe_char;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(e) = parse_error_response(data) {
        assert!(!e.error.as_str().is_empty());
        let shown = e.to_string();
        assert!(
            !shown.chars().any(is_unsafe_char),
            "unsanitized server text: {shown:?}"
        );
        let _ = format!("{e:?}");
    }
});
