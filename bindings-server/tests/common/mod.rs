//! What the layer tests share: a resource, a verifier with a fixed table of tokens, and
//! a way to send one request through a service and read the whole answer.
#![allow(dead_code)]

use axum::body::Body;
use bearerflow_server::{
    BearerLayer, ProtectedResource, TokenClaims, TokenStatus, Verifier, VerifyError,
};
use http::{Request, Response};
use http_body_util::BodyExt;
use std::future::Future;

pub const RES: &str = "https://mcp.example.com/mcp";
pub const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

pub fn resource() -> ProtectedResource {
    ProtectedResource::new(RES)
        .unwrap()
        .with_realm("mcp")
        .unwrap()
        .authorization_server("https://auth.example.com")
}

/// Tokens by name: `good` (audience this resource, scope `mcp:tools`), `other-aud`,
/// `no-aud`, `narrow` (no scope), `expired`, `forged` (untrusted), `dpop-bound`, `down`
/// (the verifier fails).
#[derive(Clone, Copy, Debug)]
pub struct TableVerifier;

impl Verifier for TableVerifier {
    fn verify(&self, token: &str) -> impl Future<Output = Result<TokenStatus, VerifyError>> + Send {
        let valid = |aud: &[&str], scope: &str| {
            TokenStatus::Valid(TokenClaims {
                scope: scope.into(),
                audiences: aud.iter().map(|a| a.to_string()).collect(),
                subject: Some("user-1".into()),
                ..TokenClaims::default()
            })
        };
        let answer = match token {
            "good" => Ok(valid(&["https://other.example/", RES], "mcp:tools")),
            "other-aud" => Ok(valid(&["https://other.example/mcp"], "mcp:tools")),
            "no-aud" => Ok(valid(&[], "mcp:tools")),
            "narrow" => Ok(valid(&[RES], "")),
            "expired" => Ok(TokenStatus::Expired),
            "dpop-bound" => Ok(TokenStatus::ProofOfPossession),
            "down" => Err(VerifyError::new("the authorization server is down")),
            _ => Ok(TokenStatus::Invalid),
        };
        std::future::ready(answer)
    }
}

pub fn verifier() -> TableVerifier {
    TableVerifier
}

pub fn layer() -> BearerLayer<TableVerifier> {
    BearerLayer::new(resource(), verifier())
}

/// A POST to `/mcp` with these `Authorization` values and query.
pub fn post(authorization: &[&str], query: Option<&str>) -> Request<Body> {
    let uri = match query {
        Some(q) => format!("/mcp?{q}"),
        None => "/mcp".to_string(),
    };
    let mut b = Request::post(uri).header("content-type", "application/json");
    for a in authorization {
        b = b.header("authorization", *a);
    }
    b.body(Body::from("{}")).unwrap()
}

/// Status, `WWW-Authenticate` (joined) and body text.
pub async fn read<B>(response: Response<B>) -> (u16, Option<String>, String)
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}
