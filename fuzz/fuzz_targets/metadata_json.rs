//! Fuzz every JSON body parser in `oauth`: protected resource metadata (RFC 9728),
//! authorization server metadata (RFC 8414), registration responses (RFC 7591) and
//! error objects (RFC 6749 §5.2). No input may panic; every error must render; an
//! accepted document must keep the invariants its parser promises.
#![no_main]

use bearerflow::oauth::{
    parse_authorization_server_metadata, parse_error_response, parse_protected_resource_metadata,
    parse_registration_response, ClientAuthMethod, RegistrationError,
};

const ISSUER: &str = "https://as.example";

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match parse_protected_resource_metadata(data) {
        Ok(m) => {
            let _ = format!("{m:?}");
        }
        Err(e) => {
            let _ = format!("{e}");
        }
    }
    match parse_authorization_server_metadata(data, ISSUER) {
        Ok(m) => assert_eq!(m.issuer, ISSUER),
        Err(e) => {
            let _ = format!("{e}");
        }
    }
    for status in [200u16, 201, 400] {
        match parse_registration_response(status, data) {
            Ok(reg) => {
                assert!(!reg.client_id.is_empty());
                if reg.auth_method != ClientAuthMethod::None {
                    assert!(reg.client_secret.is_some());
                }
            }
            Err(RegistrationError::Malformed { body, .. }) => assert_eq!(body.len, data.len()),
            Err(e) => {
                let _ = format!("{e}");
            }
        }
    }
    if let Some(e) = parse_error_response(data) {
        assert!(!e.error.as_str().is_empty());
        let _ = format!("{e}");
    }
});
