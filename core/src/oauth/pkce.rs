//! Proof Key for Code Exchange (RFC 7636), `S256` only, and the `state` value.
//!
//! OAuth 2.1 requires PKCE for every authorization-code flow; `plain` is not offered
//! because it protects nothing once the authorization request leaks. Randomness is an
//! input: the host passes entropy bytes from its own CSPRNG, so the same code runs on a
//! microcontroller, in a browser and under tokio.

use crate::secret::Secret;
use alloc::string::String;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The only `code_challenge_method` this crate sends (RFC 7636 §4.2).
pub const CODE_CHALLENGE_METHOD: &str = "S256";

/// A PKCE verifier and its S256 challenge.
///
/// The verifier goes to the token endpoint with the code (RFC 7636 §4.5) and is a
/// [`Secret`]; the challenge goes in the authorization URL (§4.3) and is public.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkce {
    /// `code_verifier`: 43 characters of base64url (RFC 7636 §4.1).
    pub verifier: Secret,
    /// `code_challenge` = BASE64URL(SHA256(verifier)) (RFC 7636 §4.2).
    pub challenge: String,
}

impl Pkce {
    /// Build a verifier from 32 bytes of host entropy: the base64url encoding, without
    /// padding, of the bytes (43 characters, 256 bits; RFC 7636 §4.1 recommends
    /// exactly this), and its S256 challenge.
    ///
    /// ```
    /// use bearerflow::oauth::Pkce;
    /// // RFC 7636 Appendix B.
    /// let octets = [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187,
    ///     186, 22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121];
    /// let pkce = Pkce::from_entropy(&octets);
    /// assert_eq!(pkce.verifier.expose(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    /// assert_eq!(pkce.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /// ```
    pub fn from_entropy(entropy: &[u8; 32]) -> Pkce {
        // 32 bytes encode to exactly 43 characters: one allocation, never reallocated.
        let mut verifier = String::with_capacity(43);
        URL_SAFE_NO_PAD.encode_string(entropy, &mut verifier);
        let challenge = s256_challenge(&verifier);
        Pkce {
            verifier: Secret::from(verifier),
            challenge,
        }
    }
}

/// The S256 `code_challenge` for `verifier`: BASE64URL-ENCODE(SHA256(ASCII(verifier)))
/// (RFC 7636 §4.2).
///
/// ```
/// use bearerflow::oauth::s256_challenge;
/// assert_eq!(
///     s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
///     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
/// );
/// ```
pub fn s256_challenge(verifier: &str) -> String {
    let digest = Sha256::digest(verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_slice())
}

/// An opaque `state` value (RFC 6749 §10.12) from 16 bytes of host entropy: 22
/// base64url characters, 128 bits, safe in a URL without escaping.
///
/// ```
/// use bearerflow::oauth::state_from_entropy;
/// assert_eq!(state_from_entropy(&[0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
/// ```
pub fn state_from_entropy(entropy: &[u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(entropy)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use proptest::prelude::*;

    #[test]
    fn debug_hides_verifier() {
        let p = Pkce::from_entropy(&[7u8; 32]);
        assert!(!format!("{p:?}").contains(p.verifier.expose()));
        assert!(format!("{p:?}").contains(&p.challenge));
    }

    #[test]
    fn distinct_entropy_distinct_values() {
        let a = Pkce::from_entropy(&[1u8; 32]);
        let b = Pkce::from_entropy(&[2u8; 32]);
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.challenge, b.challenge);
        assert_ne!(
            state_from_entropy(&[1u8; 16]),
            state_from_entropy(&[2u8; 16])
        );
    }

    fn is_unreserved(c: char) -> bool {
        // RFC 7636 §4.1: [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
        c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
    }

    proptest! {
        #[test]
        fn verifier_shape(entropy in any::<[u8; 32]>()) {
            let p = Pkce::from_entropy(&entropy);
            prop_assert_eq!(p.verifier.len(), 43);
            prop_assert!(p.verifier.expose().chars().all(is_unreserved));
            prop_assert_eq!(p.challenge.len(), 43);
            prop_assert!(p.challenge.chars().all(is_unreserved));
            prop_assert_eq!(&p.challenge, &s256_challenge(p.verifier.expose()));
            let decoded = URL_SAFE_NO_PAD.decode(p.verifier.expose()).unwrap();
            prop_assert_eq!(decoded.as_slice(), entropy.as_slice());
        }

        #[test]
        fn state_shape(entropy in any::<[u8; 16]>()) {
            let s = state_from_entropy(&entropy);
            prop_assert_eq!(s.len(), 22);
            prop_assert!(s.chars().all(is_unreserved));
        }
    }
}
