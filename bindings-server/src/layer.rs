//! The tower [`Layer`]: every request to the guarded service shows a bearer token the
//! verifier accepts, or gets core's refusal (status, `WWW-Authenticate`, JSON body);
//! a handler's signal turns a 200 it had begun into that refusal (see [`crate::signal`]
//! for the rule on when that is still possible).

use crate::body::GuardedBody;
use crate::resource::ProtectedResource;
use crate::signal::{has_marker, AuthSignal, Shared, Wanted};
use crate::sse;
use crate::verify::{TokenClaims, TokenStatus, Verifier};
use bearerflow::guard::{Refusal, RefusalKind, Verification};
use bearerflow::secret::Secret;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// At most this many bytes of a response are held while the layer waits for its first
/// message; past it, the response is released.
pub const MAX_HELD_BYTES: usize = 64 * 1024;

/// Called with every refusal the layer sends (to count or log them; it cannot change
/// them: the answer is core's).
type RefusalObserver = Arc<dyn Fn(&Refusal) + Send + Sync>;

/// What a request that the layer let through carries in its extensions: the token's
/// claims and the token itself (for a token exchange or a delegated call upstream).
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// What the verifier found.
    pub claims: TokenClaims,
    /// The bearer token the request presented (redacted in `Debug`).
    pub token: Secret,
}

/// Guards a service with core's bearer-token answers. Build it from a
/// [`ProtectedResource`] and a [`Verifier`]; serve the metadata with
/// [`MetadataService`](crate::MetadataService).
///
/// ```no_run
/// use axum::{routing::post, Router};
/// use bearerflow_server::{BearerLayer, IntrospectionVerifier, MetadataService, ProtectedResource};
///
/// # fn build() -> Result<Router, bearerflow_server::SettingsError> {
/// let resource = ProtectedResource::new("https://mcp.example.com/mcp")?
///     .authorization_server("https://auth.example.com");
/// let verifier = IntrospectionVerifier::new("https://auth.example.com/introspect", reqwest::Client::new());
/// let app = Router::new()
///     .route("/mcp", post(|| async { "{}" }))
///     .layer(BearerLayer::new(resource.clone(), verifier))
///     .route_service(resource.metadata_path(), MetadataService::new(&resource));
/// # Ok(app) }
/// ```
pub struct BearerLayer<V> {
    resource: Arc<ProtectedResource>,
    verifier: Arc<V>,
    on_refusal: Option<RefusalObserver>,
}

impl<V> Clone for BearerLayer<V> {
    fn clone(&self) -> Self {
        BearerLayer {
            resource: Arc::clone(&self.resource),
            verifier: Arc::clone(&self.verifier),
            on_refusal: self.on_refusal.clone(),
        }
    }
}

impl<V> fmt::Debug for BearerLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer")
            .field("resource", &self.resource.resource())
            .finish_non_exhaustive()
    }
}

impl<V: Verifier> BearerLayer<V> {
    /// Guard with `resource`'s settings, verifying tokens with `verifier`.
    pub fn new(resource: ProtectedResource, verifier: V) -> BearerLayer<V> {
        BearerLayer {
            resource: Arc::new(resource),
            verifier: Arc::new(verifier),
            on_refusal: None,
        }
    }

    /// Also call `observe` with every refusal sent (for metrics and logs).
    pub fn on_refusal(mut self, observe: impl Fn(&Refusal) + Send + Sync + 'static) -> Self {
        self.on_refusal = Some(Arc::new(observe));
        self
    }
}

impl<S, V> Layer<S> for BearerLayer<V> {
    type Service = BearerService<S, V>;

    fn layer(&self, inner: S) -> BearerService<S, V> {
        BearerService {
            inner,
            layer: BearerLayer {
                resource: Arc::clone(&self.resource),
                verifier: Arc::clone(&self.verifier),
                on_refusal: self.on_refusal.clone(),
            },
        }
    }
}

/// The service [`BearerLayer`] wraps around another.
pub struct BearerService<S, V> {
    inner: S,
    layer: BearerLayer<V>,
}

impl<S: Clone, V> Clone for BearerService<S, V> {
    fn clone(&self) -> Self {
        BearerService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, V> fmt::Debug for BearerService<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerService")
            .field("resource", &self.layer.resource.resource())
            .finish_non_exhaustive()
    }
}

/// The future a [`BearerService`] returns.
pub type ResponseFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<GuardedBody<B>>, E>> + Send>>;

impl<S, V, ReqBody, ResBody> Service<Request<ReqBody>> for BearerService<S, V>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    V: Verifier,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Send,
{
    type Response = Response<GuardedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready handles this request; its clone waits for
        // the next one (tower's usual pattern for services that call inner later).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        if is_cors_preflight(&request) {
            // Browsers never send credentials on a CORS preflight (Fetch standard,
            // "CORS-preflight request"): refusing it would make every browser client
            // fail before its real, authorized request.
            return Box::pin(async move {
                let response = inner.call(request).await?;
                Ok(response.map(|b| GuardedBody::passed(VecDeque::new(), None, Some(Box::pin(b)))))
            });
        }
        // Header values that are not visible ASCII are handed to core as they read
        // (lossily): core refuses them as malformed, like any other bad value.
        let lines: Vec<String> = request
            .headers()
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let query = request.uri().query().map(str::to_string);
        Box::pin(async move {
            let authenticated = match layer.authenticate::<ResBody>(lines, query).await {
                Ok(a) => a,
                Err(answer) => return Ok(answer),
            };
            let shared = Shared::new();
            let is_post = request.method() == Method::POST;
            request.extensions_mut().insert(AuthSignal::new(&shared));
            request.extensions_mut().insert(authenticated);
            let response = inner.call(request).await?;
            Ok(layer.finish(response, &shared, is_post).await)
        })
    }
}

impl<V: Verifier> BearerLayer<V> {
    /// What the request's token is, or the answer to send instead of calling the service.
    async fn authenticate<R>(
        &self,
        lines: Vec<String>,
        query: Option<String>,
    ) -> Result<Authenticated, Response<GuardedBody<R>>>
    where
        R: Body<Data = Bytes>,
    {
        let guard = self.resource.guard();
        let token = {
            let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            match guard.token(&line_refs, query.as_deref()) {
                Ok(t) => Secret::new(t),
                Err(refusal) => return Err(self.refuse(&refusal)),
            }
        };
        let status = match V::verify(&self.verifier, token.expose()).await {
            Ok(s) => s,
            Err(_) => return Err(unavailable()),
        };
        let audiences: Vec<&str> = match &status {
            TokenStatus::Valid(c) => c.audiences.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        if let Err(refusal) =
            guard.decide(status.as_verification(&audiences), self.resource.required())
        {
            return Err(self.refuse(&refusal));
        }
        drop(audiences);
        let claims = match status {
            TokenStatus::Valid(c) => c,
            // `decide` accepts only a valid token.
            _ => TokenClaims::default(),
        };
        Ok(Authenticated { claims, token })
    }

    /// The handler's response, or the refusal a handler signalled (see
    /// [`crate::signal`]).
    async fn finish<R>(
        &self,
        response: Response<R>,
        shared: &Arc<Shared>,
        hold: bool,
    ) -> Response<GuardedBody<R>>
    where
        R: Body<Data = Bytes> + Send + 'static,
    {
        if has_marker(&response) {
            // The handler returned `UpstreamTokenExpired`: nothing of it was sent.
            let _ = shared.release();
            return self.signalled(&Wanted::UpstreamExpired);
        }
        let held = hold && response.status().is_success();
        if !held {
            return match shared.release() {
                Some(w) => self.signalled(&w),
                None => {
                    response.map(|b| GuardedBody::passed(VecDeque::new(), None, Some(Box::pin(b))))
                }
            };
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
            });
        let (parts, body) = response.into_parts();
        let mut body = Box::pin(body);
        let mut frames: VecDeque<Frame<Bytes>> = VecDeque::new();
        let mut seen: Vec<u8> = Vec::new();
        let mut held_bytes = 0usize;
        let mut failed = None;
        let mut ended = false;
        loop {
            let mut changed = pin!(shared.changed.notified());
            changed.as_mut().enable();
            if shared.wanted().is_some() || shared.abandoned() {
                break;
            }
            let event = std::future::poll_fn(|cx| {
                if changed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                body.as_mut().poll_frame(cx).map(Some)
            })
            .await;
            match event {
                // A signal, or the last copy of it dropped: look again.
                None => continue,
                Some(None) => {
                    ended = true;
                    break;
                }
                Some(Some(Err(e))) => {
                    failed = Some(e);
                    break;
                }
                Some(Some(Ok(frame))) => {
                    let mut message = false;
                    if let Some(data) = frame.data_ref() {
                        held_bytes += data.len();
                        if is_sse {
                            seen.extend_from_slice(data);
                            message = sse::has_message(&seen);
                        } else {
                            message = !data.is_empty();
                        }
                    }
                    frames.push_back(frame);
                    if message || held_bytes > MAX_HELD_BYTES {
                        break;
                    }
                }
            }
        }
        match shared.release() {
            // The held body is dropped unsent: the stream is cancelled upstream.
            Some(w) => self.signalled(&w),
            None => {
                let rest = if ended || failed.is_some() {
                    None
                } else {
                    Some(body)
                };
                Response::from_parts(parts, GuardedBody::passed(frames, failed, rest))
            }
        }
    }

    /// The refusal for what a handler signalled.
    fn signalled<R: Body<Data = Bytes>>(&self, wanted: &Wanted) -> Response<GuardedBody<R>> {
        let guard = self.resource.guard();
        let refusal = match wanted {
            // Core answers every upstream expiry with a refusal; the refusal by kind is
            // the same answer, should `decide` ever not refuse.
            Wanted::UpstreamExpired => guard
                .decide(Verification::UpstreamExpired, "")
                .err()
                .unwrap_or_else(|| guard.refuse(RefusalKind::UpstreamTokenExpired, None)),
            Wanted::InsufficientScope(scope) => {
                guard.refuse(RefusalKind::InsufficientScope, Some(scope))
            }
        };
        self.refuse(&refusal)
    }

    /// Core's refusal as a response.
    fn refuse<R: Body<Data = Bytes>>(&self, refusal: &Refusal) -> Response<GuardedBody<R>> {
        if let Some(observe) = &self.on_refusal {
            observe(refusal);
        }
        refusal_response(refusal)
    }
}

/// An `OPTIONS` request with `Access-Control-Request-Method`.
fn is_cors_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// A [`Refusal`] as an HTTP response: its status, its `WWW-Authenticate` and its JSON
/// body, exactly as core rendered them.
pub fn refusal_response<R: Body<Data = Bytes>>(refusal: &Refusal) -> Response<GuardedBody<R>> {
    let mut response = Response::new(GuardedBody::full(refusal.body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNAUTHORIZED);
    // Core renders visible ASCII only (checked settings, fixed text), so this always
    // parses; were it not to, the bare scheme is still a valid challenge.
    let challenge = HeaderValue::from_str(&refusal.www_authenticate)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    let headers = response.headers_mut();
    headers.insert(WWW_AUTHENTICATE, challenge);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The verifier could not tell: `503` with `Retry-After`, and no challenge, since the
/// token may well be fine (a challenge would make the client drop it).
fn unavailable<R: Body<Data = Bytes>>() -> Response<GuardedBody<R>> {
    let mut response = Response::new(GuardedBody::full(
        r#"{"error":"temporarily_unavailable","error_description":"the access token could not be verified now; retry later"}"#,
    ));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
