//! `/mcp` behind bearerflow-server's [`BearerLayer`] ([`Config::bearer_layer`]): the
//! layer checks every request's bearer token against this server's own store and
//! answers with core's refusals; a tool signals it when its upstream token expired.
//!
//! [`Config::bearer_layer`]: crate::Config::bearer_layer

use std::future::{ready, Future};
use std::sync::{Arc, OnceLock, Weak};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bearerflow::guard::Refusal;
use bearerflow_server::{
    AuthSignal, BearerLayer, ProtectedResource, TokenClaims, TokenStatus, Verifier, VerifyError,
};
use tower::{Layer, ServiceExt};

use crate::faults::bump;
use crate::server::Shared;
use crate::store::AccessProblem;

/// Verifies tokens against the testbed's own store (what `/introspect` would say).
#[derive(Debug, Clone)]
pub(crate) struct StoreVerifier(Weak<Shared>);

impl Verifier for StoreVerifier {
    fn verify(&self, token: &str) -> impl Future<Output = Result<TokenStatus, VerifyError>> + Send {
        let answer = match self.0.upgrade() {
            None => Err(VerifyError::new("the testbed stopped")),
            Some(shared) => {
                let checked =
                    shared
                        .store()
                        .check_access(token, shared.now(), shared.faults.generation());
                Ok(match checked {
                    Ok(info) => TokenStatus::Valid(TokenClaims {
                        scope: info.scope.join(" "),
                        audiences: vec![info.resource],
                        subject: Some("testbed-user".into()),
                        client_id: Some(info.client_id),
                        expires_at: Some(info.expires_at / 1000),
                    }),
                    Err(AccessProblem::Expired) => TokenStatus::Expired,
                    Err(AccessProblem::Unknown | AccessProblem::Revoked) => TokenStatus::Invalid,
                })
            }
        };
        ready(answer)
    }
}

/// The layer, built once per testbed.
#[derive(Debug, Default)]
pub(crate) struct Guarded(OnceLock<BearerLayer<StoreVerifier>>);

impl Guarded {
    /// Build the layer for `shared` (its URLs and the config's challenge settings).
    pub(crate) fn install(shared: &Arc<Shared>) -> std::io::Result<()> {
        let invalid = |e: bearerflow_server::SettingsError| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
        };
        let resource = ProtectedResource::new(shared.mcp_url.clone())
            .and_then(|r| r.with_metadata_url(shared.prm_url.clone()))
            .map_err(invalid)?
            .metadata_in_challenges(shared.config.resource_metadata_in_challenge)
            .authorization_server(shared.issuer.clone())
            .scopes_supported(shared.config.scopes_supported.clone())
            .resource_name("bearerflow testbed MCP server");
        let counters = Arc::downgrade(shared);
        let layer = BearerLayer::new(resource, StoreVerifier(Arc::downgrade(shared))).on_refusal(
            move |refusal: &Refusal| {
                if let Some(shared) = counters.upgrade() {
                    bump(&shared.counters.mcp_requests);
                    match refusal.status {
                        401 => bump(&shared.counters.unauthorized),
                        403 => bump(&shared.counters.forbidden),
                        _ => {}
                    }
                }
            },
        );
        let _ = shared.guarded.0.set(layer);
        Ok(())
    }
}

/// Serve one `/mcp` request through the layer.
pub(crate) async fn serve(shared: &Arc<Shared>, request: Request) -> Option<Response> {
    let layer = shared.guarded.0.get()?;
    let inner_shared = Arc::clone(shared);
    let inner = tower::service_fn(move |request: Request| {
        let shared = Arc::clone(&inner_shared);
        async move {
            let signal = request.extensions().get::<AuthSignal>().cloned();
            let (parts, body) = request.into_parts();
            let body = match axum::body::to_bytes(body, crate::server::BODY_LIMIT).await {
                Ok(b) => b,
                Err(_) => return Ok::<_, std::convert::Infallible>(crate::server::too_large()),
            };
            Ok(crate::mcp::handle(
                &shared,
                &parts.method,
                &parts.headers,
                body,
                signal.as_ref(),
            )
            .await)
        }
    });
    let response = layer.layer(inner).oneshot(request).await;
    Some(match response {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    })
}
