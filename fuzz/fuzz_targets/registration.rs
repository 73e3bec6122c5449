//! Fuzz the dynamic client registration response reader (RFC 7591 §3.2). The first two
//! input bytes choose the HTTP status; the rest is the body. No input may panic; an
//! accepted registration has a client id and a secret when its method needs one; the
//! client secret never shows in Debug; errors render without terminal controls.
#![no_main]

use bearerflow::oauth::{parse_registration_response, ClientAuthMethod, RegistrationError};
use bearerflow::text::is_unsafe_char;

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let (status, body) = match input {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (201, input),
    };
    match parse_registration_response(status, body) {
        Ok(reg) => {
            assert!((200..300).contains(&status));
            assert!(!reg.client_id.is_empty());
            if reg.auth_method != ClientAuthMethod::None {
                assert!(reg.client_secret.is_some());
            }
            if let Some(s) = &reg.client_secret {
                let s = s.expose();
                let shown = format!("{reg:?}");
                // A value in Debug is quoted; a secret that is also a field's name
                // ("client_sec") or another field's value is not a leak.
                let quoted = format!("{s:?}");
                let elsewhere = String::from_utf8_lossy(body).matches(s).count() > 1
                    || reg.client_id.contains(s);
                if s.len() >= 8 && !elsewhere {
                    assert!(!shown.contains(&quoted), "Debug shows the client secret");
                }
            }
        }
        Err(e) => {
            if let RegistrationError::Malformed { body: summary, .. } = &e {
                assert_eq!(summary.len, body.len());
            }
            let shown = e.to_string();
            assert!(
                !shown.chars().any(is_unsafe_char),
                "unsanitized server text: {shown:?}"
            );
            let _ = format!("{e:?}");
        }
    }
});
