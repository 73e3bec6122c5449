//! Fuzz the `DPoP-Nonce` header reader (RFC 9449 §8.1). No input may panic; an accepted
//! nonce is 1..=MAX_NONCE_LEN bytes of NQCHAR, a trimmed part of the input, and reading
//! it again gives the same nonce.
#![no_main]

use bearerflow::dpop::{parse_nonce, MAX_NONCE_LEN};

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    if let Ok(n) = parse_nonce(input) {
        assert!(!n.is_empty() && n.len() <= MAX_NONCE_LEN);
        assert!(n
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)));
        assert!(input.windows(n.len()).any(|w| w == n.as_bytes()));
        assert_eq!(parse_nonce(n.as_bytes()), Ok(n));
    }
});
