//! Signatures: ES256 keys and JWS compact serialization, for DPoP proofs (RFC 9449) and
//! client assertions (RFC 7523).
//!
//! - **ES256** (RFC 7518 §3.4): ECDSA on P-256 with SHA-256, from the `p256` crate.
//!   Signatures are deterministic (RFC 6979 §3.2), so signing needs no randomness: the
//!   only randomness the machine uses is the host's seed (see the session's entropy).
//!   The signature is `r ‖ s`, 64 bytes, as RFC 7518 §3.4 requires (not DER).
//! - **Keys** come from host entropy ([`SigningKey::from_seed`]), a PKCS#8 PEM
//!   ([`SigningKey::from_pkcs8_pem`]) or a JWK with its private part `d`
//!   ([`SigningKey::from_jwk`]). The secret scalar zeroizes on drop (the `p256` key does)
//!   and never appears in `Debug`; only the public JWK ([`SigningKey::public_jwk`]) is
//!   ever rendered.
//! - **JWS compact** (RFC 7515 §7.1): `base64url(header) . base64url(payload) .
//!   base64url(signature)`, no padding (RFC 7515 §2).

use alloc::string::String;
use alloc::vec::Vec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use core::fmt;
use p256::ecdsa::signature::Signer;
use zeroize::Zeroizing;

/// Why a key handed in by the host could not be used. Never quotes the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text is not a PKCS#8 P-256 private key.
    Pkcs8,
    /// The JWK is not JSON, or lacks `kty` `EC`, `crv` `P-256`, or `d`.
    JwkShape,
    /// A JWK member is not valid base64url, or `d` is not a valid P-256 scalar.
    JwkValue,
    /// The JWK's `x`/`y` are not the public key of its `d`.
    JwkMismatch,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Pkcs8 => "not a PKCS#8 PEM P-256 private key",
            KeyError::JwkShape => "not a JWK with kty EC, crv P-256 and a private part d",
            KeyError::JwkValue => "a JWK member is not base64url or not a valid P-256 value",
            KeyError::JwkMismatch => "the JWK's x and y are not the public key of its d",
        })
    }
}

impl core::error::Error for KeyError {}

impl KeyError {
    /// A stable snake_case code.
    pub const fn code(self) -> &'static str {
        match self {
            KeyError::Pkcs8 => "pkcs8",
            KeyError::JwkShape => "jwk_shape",
            KeyError::JwkValue => "jwk_value",
            KeyError::JwkMismatch => "jwk_mismatch",
        }
    }
}

/// An ES256 private key. Its scalar is zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(ES256, [redacted])")
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &SigningKey) -> bool {
        // Public keys identify private ones; comparing them leaks nothing secret.
        self.inner.verifying_key() == other.inner.verifying_key()
    }
}

impl Eq for SigningKey {}

/// The public half of an ES256 key as JWK members (RFC 7518 §6.2.1), base64url.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PublicJwk {
    /// Always `EC`.
    pub kty: &'static str,
    /// Always `P-256`.
    pub crv: &'static str,
    /// The x coordinate, 32 bytes, base64url.
    pub x: String,
    /// The y coordinate, 32 bytes, base64url.
    pub y: String,
}

impl SigningKey {
    /// A key derived from 32 bytes of host entropy per call of `next_block` (a block
    /// that is not a valid scalar, with probability about 2⁻³², is skipped). `None` only
    /// if eight blocks in a row are invalid, which a working generator never yields.
    pub fn from_seed(mut next_block: impl FnMut() -> [u8; 32]) -> Option<SigningKey> {
        for _ in 0..8 {
            let block = Zeroizing::new(next_block());
            if let Ok(inner) = p256::ecdsa::SigningKey::from_slice(&block[..]) {
                return Some(SigningKey { inner });
            }
        }
        None
    }

    /// A key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, RFC 5958), as a host
    /// configures one for private_key_jwt.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        use p256::pkcs8::DecodePrivateKey;
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(|inner| SigningKey { inner })
            .map_err(|_| KeyError::Pkcs8)
    }

    /// A key from a private JWK (RFC 7517, RFC 7518 §6.2.2): `kty` `EC`, `crv` `P-256`,
    /// `d`; `x` and `y`, when present, must match the public key of `d`.
    pub fn from_jwk(jwk: &str) -> Result<SigningKey, KeyError> {
        #[derive(serde::Deserialize)]
        struct Jwk {
            kty: String,
            crv: String,
            d: crate::secret::Secret,
            x: Option<String>,
            y: Option<String>,
        }
        let jwk: Jwk = serde_json::from_str(jwk).map_err(|_| KeyError::JwkShape)?;
        if jwk.kty != "EC" || jwk.crv != "P-256" {
            return Err(KeyError::JwkShape);
        }
        let d = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(jwk.d.expose().as_bytes())
                .map_err(|_| KeyError::JwkValue)?,
        );
        if d.len() != 32 {
            return Err(KeyError::JwkValue);
        }
        let inner = p256::ecdsa::SigningKey::from_slice(&d).map_err(|_| KeyError::JwkValue)?;
        let key = SigningKey { inner };
        let public = key.public_jwk();
        let matches =
            |given: &Option<String>, ours: &str| given.as_deref().is_none_or(|g| g == ours);
        if !matches(&jwk.x, &public.x) || !matches(&jwk.y, &public.y) {
            return Err(KeyError::JwkMismatch);
        }
        Ok(key)
    }

    /// The private key as a JWK, for a host that asked to keep the key (a snapshot that
    /// carries the DPoP key). The text is a secret: it is zeroized when dropped.
    pub fn to_private_jwk(&self) -> Zeroizing<String> {
        let public = self.public_jwk();
        let d = Zeroizing::new(self.inner.to_bytes());
        let d = Zeroizing::new(URL_SAFE_NO_PAD.encode(&d[..]));
        Zeroizing::new(alloc::format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","d":"{}"}}"#,
            public.x,
            public.y,
            d.as_str()
        ))
    }

    /// The public key as JWK members, for a DPoP proof's `jwk` header (RFC 9449 §4.2).
    pub fn public_jwk(&self) -> PublicJwk {
        let point = self.inner.verifying_key().to_sec1_point(false);
        let coord = |c: Option<&[u8]>| URL_SAFE_NO_PAD.encode(c.unwrap_or(&[]));
        PublicJwk {
            kty: "EC",
            crv: "P-256",
            x: coord(point.x().map(|a| a.as_slice())),
            y: coord(point.y().map(|a| a.as_slice())),
        }
    }

    /// The uncompressed SEC1 public key (`0x04 ‖ x ‖ y`), for verifiers.
    pub fn public_sec1(&self) -> Vec<u8> {
        self.inner
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    /// The ES256 signature of `message`: `r ‖ s`, 64 bytes (RFC 7518 §3.4), RFC 6979
    /// deterministic.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let sig: p256::ecdsa::Signature = self.inner.sign(message);
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        out
    }

    /// A JWS in compact serialization (RFC 7515 §7.1) over the JSON `header` and
    /// `payload`, signed with this key. The caller puts `"alg":"ES256"` in the header.
    pub fn jws(&self, header: &[u8], payload: &[u8]) -> String {
        let mut out = signing_input(header, payload);
        let sig = self.sign(out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut out);
        out
    }
}

/// `base64url(header) . base64url(payload)`: the JWS signing input (RFC 7515 §5.1), the
/// bytes a host-held key signs.
pub fn signing_input(header: &[u8], payload: &[u8]) -> String {
    let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 90);
    URL_SAFE_NO_PAD.encode_string(header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    out
}

/// Check an ES256 JWS compact serialization against an uncompressed SEC1 public key and
/// return its decoded header and payload. For tests and servers (the testbed); a client
/// never verifies its own proofs.
pub fn verify_es256(jws: &str, public_sec1: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    use p256::ecdsa::signature::Verifier;
    let mut parts = jws.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_sec1).ok()?;
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    let sig = p256::ecdsa::Signature::from_slice(&sig).ok()?;
    let input_len = h.len() + 1 + p.len();
    let input = jws.get(..input_len)?;
    key.verify(input.as_bytes(), &sig).ok()?;
    Some((
        URL_SAFE_NO_PAD.decode(h).ok()?,
        URL_SAFE_NO_PAD.decode(p).ok()?,
    ))
}

/// The uncompressed SEC1 public key named by a JWK's `x` and `y` (base64url), for a
/// verifier reading a DPoP proof's `jwk` header.
pub fn sec1_from_jwk_coordinates(x: &str, y: &str) -> Option<Vec<u8>> {
    let x = URL_SAFE_NO_PAD.decode(x).ok()?;
    let y = URL_SAFE_NO_PAD.decode(y).ok()?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut out = Vec::with_capacity(65);
    out.push(4);
    out.extend_from_slice(&x);
    out.extend_from_slice(&y);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let mut n = 0u8;
        SigningKey::from_seed(|| {
            n += 1;
            [n; 32]
        })
        .unwrap()
    }

    #[test]
    fn signatures_verify_and_are_deterministic() {
        let k = key();
        let jws = k.jws(br#"{"alg":"ES256"}"#, br#"{"a":1}"#);
        assert_eq!(jws, k.jws(br#"{"alg":"ES256"}"#, br#"{"a":1}"#), "RFC 6979");
        let (h, p) = verify_es256(&jws, &k.public_sec1()).unwrap();
        assert_eq!(h, br#"{"alg":"ES256"}"#);
        assert_eq!(p, br#"{"a":1}"#);
        let mut tampered = jws.clone();
        tampered.insert(jws.find('.').unwrap() + 1, 'A');
        assert!(verify_es256(&tampered, &k.public_sec1()).is_none());
    }

    #[test]
    fn jwk_round_trip_and_checks() {
        let k = key();
        let jwk = k.to_private_jwk();
        assert_eq!(SigningKey::from_jwk(&jwk).unwrap(), k);
        let other = SigningKey::from_seed(|| [9; 32]).unwrap();
        let x = k.public_jwk().x;
        let forged = jwk.replace(&x, &other.public_jwk().x);
        assert_eq!(SigningKey::from_jwk(&forged), Err(KeyError::JwkMismatch));
        assert_eq!(SigningKey::from_jwk("{}"), Err(KeyError::JwkShape));
        assert_eq!(
            SigningKey::from_jwk(r#"{"kty":"EC","crv":"P-256","d":"!!"}"#),
            Err(KeyError::JwkValue)
        );
        assert_eq!(SigningKey::from_pkcs8_pem("nope"), Err(KeyError::Pkcs8));
        let pk = k.public_jwk();
        assert_eq!(
            sec1_from_jwk_coordinates(&pk.x, &pk.y).unwrap(),
            k.public_sec1()
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let k = key();
        let d = URL_SAFE_NO_PAD.encode(k.inner.to_bytes());
        let shown = alloc::format!("{k:?}");
        assert!(!shown.contains(&d));
        assert!(shown.contains("redacted"));
    }
}
