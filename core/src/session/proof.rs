//! Signed things the session adds to requests: DPoP proofs (RFC 9449) and
//! `private_key_jwt` client assertions (RFC 7523 §2.2).
//!
//! The keys live in one boxed [`Signer`], present only when the configuration asks for
//! DPoP or a client assertion key, so a Bearer session pays one pointer for it and its
//! hot path does not change (see `core/tests/session_alloc.rs`).
//!
//! Nonces (RFC 9449 §8, §9) are kept per origin: one for each authorization server and
//! one for the resource, at most [`MAX_NONCE_ORIGINS`] in all (the oldest goes).

use super::Session;
use crate::dpop;
use crate::http::{Header, Request};
use crate::jose::SigningKey;
use crate::time::Timestamp;
use alloc::string::String;
use alloc::vec::Vec;

/// How many origins' nonces are kept.
pub(crate) const MAX_NONCE_ORIGINS: usize = 4;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2), form-encoded.
const ASSERTION_TYPE_FORM: &str =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// How long a client assertion is valid (RFC 7523 §3 `exp`): long enough for a slow
/// token endpoint, short enough that a captured one is soon useless.
const ASSERTION_LIFETIME_SECS: u64 = 300;

pub(crate) struct Signer {
    /// The DPoP key, when DPoP is on.
    pub(crate) dpop: Option<SigningKey>,
    /// The `private_key_jwt` key, when configured.
    pub(crate) client: Option<SigningKey>,
    /// `(origin, nonce)`, newest last.
    nonces: Vec<(String, String)>,
}

impl Signer {
    pub(crate) fn new(dpop: Option<SigningKey>, client: Option<SigningKey>) -> Option<Signer> {
        (dpop.is_some() || client.is_some()).then(|| Signer {
            dpop,
            client,
            nonces: Vec::new(),
        })
    }

    pub(crate) fn nonce_for(&self, url: &str) -> Option<&str> {
        let origin = crate::oauth::origin(url).ok()?;
        self.nonces
            .iter()
            .find(|(o, _)| *o == origin)
            .map(|(_, n)| n.as_str())
    }

    /// Keep `nonce` for `url`'s origin. Returns whether it differs from the one kept.
    pub(crate) fn store_nonce(&mut self, url: &str, nonce: &str) -> bool {
        let Ok(origin) = crate::oauth::origin(url) else {
            return false;
        };
        if let Some(i) = self.nonces.iter().position(|(o, _)| *o == origin) {
            let (_, old) = self.nonces.remove(i);
            let changed = old != nonce;
            self.nonces.push((origin, String::from(nonce)));
            return changed;
        }
        if self.nonces.len() >= MAX_NONCE_ORIGINS {
            self.nonces.remove(0);
        }
        self.nonces.push((origin, String::from(nonce)));
        true
    }
}

/// The `DPoP-Nonce` header among response headers, if one is valid.
pub(crate) fn nonce_header<'a>(headers: &[(&str, &'a str)]) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("dpop-nonce"))
        .and_then(|(_, v)| dpop::parse_nonce(v.as_bytes()).ok())
}

impl Session {
    /// A DPoP proof for `method` `url` at `now`, with the nonce kept for its origin and,
    /// for a resource request, `ath` of `access_token`. `None` without DPoP.
    pub(crate) fn dpop_proof(
        &mut self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        now: Timestamp,
    ) -> Option<String> {
        let jti = dpop::jti_from_entropy(&self.entropy.block());
        let signer = self.signer.as_deref()?;
        let key = signer.dpop.as_ref()?;
        let claims = dpop::ProofClaims {
            method,
            url,
            issued_at: now.0 / 1000,
            jti: &jti,
            nonce: signer.nonce_for(url),
            access_token,
        };
        Some(dpop::proof(key, &claims))
    }

    /// A `private_key_jwt` client assertion (RFC 7523 §3): `iss` and `sub` the client
    /// id, `aud` the authorization server's issuer (RFC 7523bis; the token endpoint
    /// when the issuer is unknown), `iat`, `exp`, a unique `jti`.
    fn client_assertion(&mut self, token_endpoint: &str, now: Timestamp) -> Option<String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
            jti: &'a str,
        }
        let jti = dpop::jti_from_entropy(&self.entropy.block());
        let client_id = String::from(self.client()?.client_id.as_str());
        let aud = self
            .server()
            .map(|s| String::from(s.issuer))
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| String::from(token_endpoint));
        let key = self.signer.as_deref()?.client.as_ref()?;
        let iat = now.0 / 1000;
        let claims = Claims {
            iss: &client_id,
            sub: &client_id,
            aud: &aud,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
            jti: &jti,
        };
        let payload = serde_json::to_vec(&claims).ok()?;
        Some(key.jws(br#"{"alg":"ES256","typ":"JWT"}"#, &payload))
    }

    /// Sign a token request: a client assertion in the body (replacing HTTP Basic) and
    /// a DPoP proof header, each new for every send (a retry after a nonce gets a new
    /// `jti`).
    pub(crate) fn sign_token_request(&mut self, request: &mut Request, now: Timestamp) {
        if self.signer.is_none() {
            return;
        }
        if let Some(assertion) = self.client_assertion(&request.url.clone(), now) {
            request
                .headers
                .retain(|h| !h.name.as_str().eq_ignore_ascii_case("authorization"));
            let has_client_id = request
                .body
                .split(|b| *b == b'&')
                .any(|p| p.starts_with(b"client_id="));
            if !has_client_id {
                if let Some(c) = self.client() {
                    let pair =
                        alloc::format!("&client_id={}", crate::oauth::form::encode(&c.client_id));
                    request.body.extend_from_slice(pair.as_bytes());
                }
            }
            request.body.extend_from_slice(b"&client_assertion_type=");
            request
                .body
                .extend_from_slice(ASSERTION_TYPE_FORM.as_bytes());
            request.body.extend_from_slice(b"&client_assertion=");
            request.body.extend_from_slice(assertion.as_bytes());
        }
        let method = request.method.as_str();
        let url = request.url.clone();
        if let Some(p) = self.dpop_proof(method, &url, None, now) {
            request.headers.push(Header::new("DPoP", p));
        }
    }
}
