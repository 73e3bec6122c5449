//! DPoP (RFC 9449): proofs of possession of a key, sent with token requests and with
//! requests carrying a DPoP-bound access token.
//!
//! A proof is a JWS (RFC 9449 §4.2) with header `typ` `dpop+jwt`, `alg` `ES256` and the
//! public key as `jwk`, and claims `jti` (unique per proof), `htm` (the method), `htu`
//! (the target URI without query and fragment), `iat`, and, when the server asked for
//! one, `nonce` (§8); a proof for a resource request also has `ath`, the base64url
//! SHA-256 of the access token (§4.2, §7.1).
//!
//! Servers hand out nonces in a `DPoP-Nonce` header (§8.1: `1*NQCHAR`);
//! [`parse_nonce`] reads one without panicking on any input.

use crate::jose::SigningKey;
use alloc::string::String;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use core::fmt;
use sha2::{Digest, Sha256};

/// `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";

/// The longest nonce kept: a server's nonce is opaque but short in practice; a longer
/// one is refused rather than stored and echoed in every proof.
pub const MAX_NONCE_LEN: usize = 512;

/// What one proof asserts.
#[derive(Clone, Copy, Debug)]
pub struct ProofClaims<'a> {
    /// The HTTP method (`htm`), e.g. `POST`.
    pub method: &'a str,
    /// The request URL; query and fragment are dropped for `htu` ([`htu`]).
    pub url: &'a str,
    /// Seconds since the epoch (`iat`).
    pub issued_at: u64,
    /// The unique id (`jti`), at least 96 bits of entropy (RFC 9449 §4.2 via RFC 7519).
    pub jti: &'a str,
    /// The server's nonce (`nonce`), when it gave one.
    pub nonce: Option<&'a str>,
    /// The access token this proof goes with (resource requests): `ath` is its hash.
    pub access_token: Option<&'a str>,
}

/// The target URI without query and fragment (RFC 9449 §4.2 `htu`).
pub fn htu(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// A `jti` from 16 bytes of entropy (128 bits, base64url: 22 characters).
pub fn jti_from_entropy(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(&bytes[..16])
}

/// The header and claims of a proof as JSON, the JWS signing input's parts.
pub fn proof_parts(key: &SigningKey, claims: &ProofClaims<'_>) -> (String, String) {
    #[derive(serde::Serialize)]
    struct Header<'a> {
        typ: &'static str,
        alg: &'static str,
        jwk: &'a crate::jose::PublicJwk,
    }
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        jti: &'a str,
        htm: &'a str,
        htu: &'a str,
        iat: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        ath: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<&'a str>,
    }
    let jwk = key.public_jwk();
    let header = Header {
        typ: PROOF_TYPE,
        alg: "ES256",
        jwk: &jwk,
    };
    let body = Claims {
        jti: claims.jti,
        htm: claims.method,
        htu: htu(claims.url),
        iat: claims.issued_at,
        ath: claims.access_token.map(access_token_hash),
        nonce: claims.nonce,
    };
    // Serializing these plain structs cannot fail (no maps with non-string keys, no
    // custom serializers that error).
    let h = serde_json::to_string(&header).unwrap_or_default();
    let c = serde_json::to_string(&body).unwrap_or_default();
    (h, c)
}

/// A signed proof, ready for the `DPoP` header.
pub fn proof(key: &SigningKey, claims: &ProofClaims<'_>) -> String {
    let (h, c) = proof_parts(key, claims);
    key.jws(h.as_bytes(), c.as_bytes())
}

/// A `DPoP-Nonce` header value that is not a nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NonceError {
    /// Empty (after trimming spaces and tabs).
    Empty,
    /// Longer than [`MAX_NONCE_LEN`].
    TooLong,
    /// A character outside NQCHAR (`%x21 / %x23-5B / %x5D-7E`), at this byte offset.
    BadChar(usize),
}

impl fmt::Display for NonceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonceError::Empty => f.write_str("DPoP-Nonce is empty"),
            NonceError::TooLong => write!(f, "DPoP-Nonce is longer than {MAX_NONCE_LEN} bytes"),
            NonceError::BadChar(at) => {
                write!(f, "DPoP-Nonce has a character outside NQCHAR at byte {at}")
            }
        }
    }
}

impl core::error::Error for NonceError {}

/// Read a `DPoP-Nonce` header value (RFC 9449 §8.1: `nonce = 1*NQCHAR`), with the
/// optional whitespace around a field value (RFC 9110 §5.5) trimmed. Total on any
/// bytes: a fuzz target runs it.
pub fn parse_nonce(value: &[u8]) -> Result<&str, NonceError> {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    let v = value.get(start..end).unwrap_or(&[]);
    if v.is_empty() {
        return Err(NonceError::Empty);
    }
    if v.len() > MAX_NONCE_LEN {
        return Err(NonceError::TooLong);
    }
    if let Some(at) = v
        .iter()
        .position(|&b| !(b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)))
    {
        return Err(NonceError::BadChar(start + at));
    }
    // All bytes are ASCII, checked just above.
    core::str::from_utf8(v).map_err(|_| NonceError::BadChar(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_drops_query_and_fragment() {
        assert_eq!(
            htu("https://rs.example/mcp?x=1#f"),
            "https://rs.example/mcp"
        );
        assert_eq!(htu("https://rs.example/mcp#f?x"), "https://rs.example/mcp");
        assert_eq!(htu("https://rs.example/mcp"), "https://rs.example/mcp");
    }

    #[test]
    fn ath_is_rfc_9449_example() {
        // RFC 9449 §7.1: the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
        // hashes to "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo".
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn nonces() {
        assert_eq!(
            parse_nonce(b" eyJ7S_zG.eyJH0-Z.HX4w-7v \t"),
            Ok("eyJ7S_zG.eyJH0-Z.HX4w-7v")
        );
        assert_eq!(parse_nonce(b""), Err(NonceError::Empty));
        assert_eq!(parse_nonce(b"  "), Err(NonceError::Empty));
        assert_eq!(parse_nonce(b"a\"b"), Err(NonceError::BadChar(1)));
        assert_eq!(parse_nonce(b"a\\b"), Err(NonceError::BadChar(1)));
        assert_eq!(parse_nonce(b"a b"), Err(NonceError::BadChar(1)));
        assert_eq!(parse_nonce(&[b'a', 0xff]), Err(NonceError::BadChar(1)));
        assert_eq!(
            parse_nonce(&[b'a'; MAX_NONCE_LEN + 1]),
            Err(NonceError::TooLong)
        );
    }
}
