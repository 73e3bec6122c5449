//! How the layer learns what a token is worth: a [`Verifier`] (a JWT library, RFC 7662
//! introspection, a database) turns the token into a [`TokenStatus`]; core's guard turns
//! that into an answer.

use bearerflow::guard::Verification;
use core::fmt;
use std::future::Future;
use std::sync::Arc;

/// What a verified, unexpired token carries.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TokenClaims {
    /// The granted scope, space separated (RFC 6749 §3.3).
    pub scope: String,
    /// The resources the token was issued for (the JWT `aud` claim, RFC 7662 §2.2 `aud`).
    pub audiences: Vec<String>,
    /// Whom the token is about (`sub`), when the verifier knows.
    pub subject: Option<String>,
    /// The client it was issued to (`client_id`), when the verifier knows.
    pub client_id: Option<String>,
    /// When it expires, unix seconds (`exp`), when the verifier knows.
    pub expires_at: Option<u64>,
}

impl fmt::Debug for TokenClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Claims are not secrets, but subjects can be personal data: keep them out of
        // logs that print requests.
        f.debug_struct("TokenClaims")
            .field("scope", &self.scope)
            .field("audiences", &self.audiences)
            .field("subject", &self.subject.as_ref().map(|_| "…"))
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What a verifier found out about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenStatus {
    /// Genuine and unexpired; the guard still checks the audience and the scope.
    Valid(TokenClaims),
    /// Genuine but expired.
    Expired,
    /// Not genuine, revoked, or unknown to the authorization server.
    Invalid,
    /// Bound to a key (RFC 9449 DPoP, a `cnf` claim); not verified here.
    ProofOfPossession,
}

impl TokenStatus {
    /// Core's view of it, borrowing the claims.
    pub fn as_verification<'a>(&'a self, audiences: &'a [&'a str]) -> Verification<'a> {
        match self {
            TokenStatus::Valid(c) => Verification::Valid {
                scope: &c.scope,
                audiences,
            },
            TokenStatus::Expired => Verification::Expired,
            TokenStatus::Invalid => Verification::Invalid,
            TokenStatus::ProofOfPossession => Verification::ProofOfPossession,
        }
    }
}

/// The verifier could not tell (the introspection endpoint is down, answered garbage).
/// The layer answers `503 Service Unavailable` without a challenge: the token may be
/// fine, so the client must not be told to renew it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    message: String,
}

impl VerifyError {
    /// An error with this text. It must not quote the token.
    pub fn new(message: impl Into<String>) -> VerifyError {
        VerifyError {
            message: message.into(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token verification failed: {}", self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Verifies access tokens for the layer. Implement it over a JWT library, a database,
/// or use [`IntrospectionVerifier`](crate::IntrospectionVerifier).
pub trait Verifier: Send + Sync + 'static {
    /// What `token` is worth. Called once per request that presents a well-formed
    /// `Authorization: Bearer` header.
    fn verify(&self, token: &str) -> impl Future<Output = Result<TokenStatus, VerifyError>> + Send;
}

impl<V: Verifier> Verifier for Arc<V> {
    fn verify(&self, token: &str) -> impl Future<Output = Result<TokenStatus, VerifyError>> + Send {
        (**self).verify(token)
    }
}

/// A verifier from an async closure that takes the token (owned).
///
/// ```
/// use bearerflow_server::{verifier_fn, TokenClaims, TokenStatus};
/// let v = verifier_fn(|token: String| async move {
///     Ok(if token == "let-me-in" {
///         TokenStatus::Valid(TokenClaims {
///             audiences: vec!["https://mcp.example.com/mcp".into()],
///             ..TokenClaims::default()
///         })
///     } else {
///         TokenStatus::Invalid
///     })
/// });
/// # let _ = v;
/// ```
pub fn verifier_fn<F, Fut>(f: F) -> FnVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TokenStatus, VerifyError>> + Send + 'static,
{
    FnVerifier(f)
}

/// See [`verifier_fn`].
#[derive(Clone)]
pub struct FnVerifier<F>(F);

impl<F> fmt::Debug for FnVerifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnVerifier")
    }
}

impl<F, Fut> Verifier for FnVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<TokenStatus, VerifyError>> + Send + 'static,
{
    // The concrete future type rather than an opaque one: an opaque type here trips
    // rustc's "higher-ranked lifetime error" when the layer's service is spawned.
    #[allow(refining_impl_trait)]
    fn verify(&self, token: &str) -> Fut {
        (self.0)(token.to_string())
    }
}
