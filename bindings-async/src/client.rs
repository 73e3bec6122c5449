//! The cloneable [`Client`] handle, its builder, and one request's bookkeeping
//! ([`Call`]).

use crate::authorize::{Authorizer, LoopbackBrowser};
use crate::driver::{Credentials, Next, Parts, Shared, Status, ToCall};
use crate::error::{Error, RedirectRefused};
use crate::events::Event;
use crate::helper::HelperRunner;
use crate::limits::ResourceLimits;
use crate::shared_store::{RefreshLock, TokenStore};
use crate::store::{MemoryStore, Store, StoreError};
use bearerflow::oauth::TokenResponse;
use bearerflow::session::{Config, Credential, RequestId, Session, Verdict};
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// Redirects in a row the resource client follows (reqwest's own default), each on the
/// request's origin.
pub const MAX_RESOURCE_REDIRECTS: usize = 10;

/// The redirect policy for resource requests: follow a redirect only to the request's
/// own origin (scheme, host and port, RFC 6454), at most [`MAX_RESOURCE_REDIRECTS`] in
/// a row; refuse anything else with a [`RedirectRefused`] in the error chain
/// ([`Error::from_reqwest`] turns it into [`Error::Redirect`]).
///
/// A resource request carries the session's credential, which is for that resource
/// only (RFC 6750 §5.3, RFC 8707): following a redirect to another host would hand it
/// over, and following one from `https` to `http` would send it in clear. The default
/// resource client uses this policy; give it to a `reqwest::Client` you pass to
/// [`ClientBuilder::http_client`] or put under [`BearerflowMiddleware`](crate::BearerflowMiddleware).
pub fn resource_redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        let (from, to) = (first.origin(), attempt.url().origin());
        if from != to {
            let refused = RedirectRefused::CrossOrigin {
                from: from.ascii_serialization(),
                to: to.ascii_serialization(),
            };
            return attempt.error(refused);
        }
        if attempt.previous().len() > MAX_RESOURCE_REDIRECTS {
            return attempt.error(RedirectRefused::TooMany {
                max: MAX_RESOURCE_REDIRECTS,
            });
        }
        attempt.follow()
    })
}

/// A [`Client`] could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The store could not load the snapshot.
    Store(StoreError),
    /// An HTTP client could not be built (TLS backend).
    Http(reqwest::Error),
    /// The credential is a header helper and no [`HelperRunner`] was given.
    NoHelperRunner,
    /// The operating system provided no randomness for the session seed.
    NoEntropy,
    /// Not called from inside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Store(e) => write!(f, "loading the snapshot: {e}"),
            BuildError::Http(e) => write!(f, "building the HTTP client: {e}"),
            BuildError::NoHelperRunner => {
                f.write_str("the credential is a header helper but no helper runner was given")
            }
            BuildError::NoEntropy => f.write_str("the operating system provided no randomness"),
            BuildError::NoRuntime => f.write_str("Client::build must run inside a tokio runtime"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Store(e) => Some(e),
            BuildError::Http(e) => Some(e),
            _ => None,
        }
    }
}

/// Sets up a [`Client`]: the session configuration plus how this host stores
/// snapshots, authorizes and runs the header helper.
pub struct ClientBuilder {
    config: Config,
    store: Arc<dyn Store>,
    token_store: Option<Arc<dyn TokenStore>>,
    refresh_lock: Option<Arc<dyn RefreshLock>>,
    authorizer: Arc<dyn Authorizer>,
    helper: Option<Arc<dyn HelperRunner>>,
    http: Option<reqwest::Client>,
    fetch_http: Option<reqwest::Client>,
    seed: Option<[u8; 32]>,
    event_capacity: usize,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("resource_url", &self.config.resource_url)
            .field("has_helper", &self.helper.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Where snapshots go (default: a [`MemoryStore`]). The stored snapshot, if any, is
    /// restored when the client is built.
    pub fn store(mut self, store: impl Store) -> ClientBuilder {
        self.store = Arc::new(store);
        self
    }

    /// [`ClientBuilder::store`] with a shared store the caller keeps a handle to.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> ClientBuilder {
        self.store = store;
        self
    }

    /// A store shared with other processes ([`FileTokenStore`](crate::FileTokenStore),
    /// `RedisTokenStore`, your own: see [`crate::shared_store`]). It replaces
    /// [`ClientBuilder::store`]: the snapshot is loaded from it, saved to it by
    /// compare-and-swap, refreshes take its lease, and what other processes store is
    /// adopted. Turns on [`Policy::shared_store`](bearerflow::policy::Policy::shared_store).
    pub fn token_store(self, store: impl TokenStore) -> ClientBuilder {
        self.shared_token_store(Arc::new(store))
    }

    /// [`ClientBuilder::token_store`] with a store the caller keeps a handle to.
    pub fn shared_token_store(mut self, store: Arc<dyn TokenStore>) -> ClientBuilder {
        self.token_store = Some(store);
        self
    }

    /// The host's own lock for refreshes ([`RefreshLock`]): every refresh runs inside
    /// one `with_lease` call, and the store's lease, if any, is not used. Turns on
    /// [`Policy::shared_store`](bearerflow::policy::Policy::shared_store).
    pub fn refresh_lock(mut self, lock: impl RefreshLock) -> ClientBuilder {
        self.refresh_lock = Some(Arc::new(lock));
        self
    }

    /// How authorization URLs are opened (default: [`LoopbackBrowser::new`], which
    /// prints the URL and captures the redirect on the loopback port).
    pub fn authorizer(mut self, authorizer: impl Authorizer) -> ClientBuilder {
        self.authorizer = Arc::new(authorizer);
        self
    }

    /// How the header helper runs (required for a header-helper credential).
    pub fn helper(mut self, helper: impl HelperRunner) -> ClientBuilder {
        self.helper = Some(Arc::new(helper));
        self
    }

    /// The HTTP client for resource requests (default: reqwest's defaults with
    /// [`resource_redirect_policy`]). The policy's resource limits
    /// (`resource_deadline`, `max_resource_body`, `max_stream_event`,
    /// `stream_idle_timeout`) apply whichever client is given: [`Client::send`]
    /// enforces them itself. Its redirect policy is the given client's own: build it
    /// with [`resource_redirect_policy`].
    pub fn http_client(mut self, http: reqwest::Client) -> ClientBuilder {
        self.http = Some(http);
        self
    }

    /// The HTTP client for the session's own exchanges: token endpoint, metadata,
    /// registration. It must not follow redirects (default: no redirects, the policy's
    /// fetch deadline as timeout).
    pub fn fetch_client(mut self, http: reqwest::Client) -> ClientBuilder {
        self.fetch_http = Some(http);
        self
    }

    /// A fixed 32-byte seed instead of the OS RNG (reproducible tests only: the seed
    /// makes PKCE verifiers and `state` predictable).
    pub fn seed(mut self, seed: [u8; 32]) -> ClientBuilder {
        self.seed = Some(seed);
        self
    }

    /// How many [`Event`]s a slow subscriber may lag behind (default 4096).
    pub fn event_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Load the snapshot, share the session, start its timer task on the current tokio
    /// runtime, and return the handle.
    pub async fn build(self) -> Result<Client, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        if matches!(self.config.credential, Credential::HeaderHelper(_)) && self.helper.is_none() {
            return Err(BuildError::NoHelperRunner);
        }
        let limits = ResourceLimits::from_policy(&self.config.policy);
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .redirect(resource_redirect_policy())
                .build()
                .map_err(BuildError::Http)?,
        };
        let fetch_http = match self.fetch_http {
            Some(h) => h,
            None => {
                let deadline = self.config.policy.fetch_deadline.0.max(1_000);
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_millis(deadline))
                    .build()
                    .map_err(BuildError::Http)?
            }
        };
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(|_| BuildError::NoEntropy)?;
                s
            }
        };
        let mut config = self.config;
        if self.token_store.is_some() || self.refresh_lock.is_some() {
            config.policy.shared_store = true;
        }
        let snapshot = match &self.token_store {
            Some(t) => t.load().await,
            None => self.store.load().await,
        }
        .map_err(BuildError::Store)?;
        let now = crate::now();
        let session = match snapshot {
            Some(s) => Session::restore(config, s, seed, now),
            None => Session::new(config, seed, now),
        };
        let (events, _) = broadcast::channel(self.event_capacity);
        let shared = Shared::start(
            session,
            Parts {
                store: self.store,
                token_store: self.token_store,
                refresh_lock: self.refresh_lock,
                authorizer: self.authorizer,
                helper: self.helper,
                fetch_http,
                events,
                runtime,
            },
        );
        Ok(Client {
            inner: Arc::new(Inner {
                shared,
                http,
                limits,
            }),
        })
    }
}

struct Inner {
    shared: Arc<Shared>,
    http: reqwest::Client,
    limits: ResourceLimits,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// A handle to one bearerflow session. Cheap to clone; every clone shares the same
/// session, so concurrent sends share one refresh.
///
/// Resource requests run in the caller's task, concurrently, and so does the session's
/// bookkeeping for them (begin, take the credential, report the response): a short
/// lock around the session, never held across I/O. Only what waits (token requests,
/// discovery, the browser, the helper, timers, the store) runs in tasks of its own,
/// which end once the last handle and the last request in progress are dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// Start building a client for `config`.
    pub fn builder(config: Config) -> ClientBuilder {
        ClientBuilder {
            config,
            store: Arc::new(MemoryStore::new()),
            token_store: None,
            refresh_lock: None,
            authorizer: Arc::new(LoopbackBrowser::new()),
            helper: None,
            http: None,
            fetch_http: None,
            seed: None,
            event_capacity: 4096,
        }
    }

    /// The HTTP client resource requests go out on (to build requests with).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// A `POST` to `url`, to finish with `.build()` and hand to [`Client::send`].
    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.inner.http.post(url)
    }

    /// A `GET` of `url`, to finish with `.build()` and hand to [`Client::send`].
    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.inner.http.get(url)
    }

    /// Send `request` to the protected resource with the session's credential, and
    /// return the response the session delivers.
    ///
    /// The request waits while a credential is obtained (refresh, authorization, helper
    /// run); a `401` is reported to the session, which retries once with a new
    /// credential or fails the request. The body is buffered so the request can be sent
    /// again: a streaming body gives [`Error::BodyNotReplayable`]. Dropping the future
    /// cancels the request in the session.
    ///
    /// With a usable credential nothing here waits but the request itself: the
    /// session's bookkeeping runs on this task.
    ///
    /// The policy's resource limits hold whatever the server does (see the
    /// `limits` module docs): the headers must come within `resource_deadline`
    /// ([`Error::Limit`] otherwise), and the returned response's body stops with a
    /// `reqwest::Error` wrapping a [`LimitExceeded`](crate::LimitExceeded) at the first
    /// byte over `max_resource_body` (or `max_stream_event` for one event of a
    /// `text/event-stream`), or when it runs out of time.
    pub async fn send(&self, request: reqwest::Request) -> Result<reqwest::Response, Error> {
        let mut call = Call::begin(self, request)?;
        let limits = self.inner.limits;
        loop {
            let request = call.next().await?;
            let started = call.released();
            let response = limits
                .headers_by_deadline(started, self.inner.http.execute(request))
                .await
                .map_err(|_| Error::Limit(limits.headers_late(call.url())))?
                .map_err(Error::from_reqwest)?;
            match call.report(&response)? {
                Verdict::Deliver => return Ok(call.deliver(response, &limits, started)),
                Verdict::Retry => continue,
            }
        }
    }

    /// The resource limits of this client's policy.
    pub(crate) fn limits(&self) -> ResourceLimits {
        self.inner.limits
    }

    /// Subscribe to the session's [`Event`]s from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.shared.subscribe()
    }

    /// The session's phase, counters and last error now (see [`Client::status_now`]).
    pub async fn status(&self) -> Result<Status, Error> {
        Ok(self.status_now())
    }

    /// The session's phase, counters (including how many refreshes and authorizations
    /// obtained tokens) and last error now.
    pub fn status_now(&self) -> Status {
        self.inner.shared.status()
    }

    /// Hand the session tokens obtained elsewhere: a token response of the host's own
    /// (RFC 6749 §5.1; `expires_in` counts from now), a static token, a test fixture.
    /// They replace the current credential and are stored (`Store::save`) before any
    /// request goes out with them; requests waiting for a credential are released.
    ///
    /// To start a client from tokens already held, this or
    /// [`Snapshot::from_token_response`](bearerflow::session::Snapshot::from_token_response)
    /// in a [`MemoryStore::with`] both work; without the authorization server in the
    /// snapshot the session discovers it before the first refresh.
    pub fn set_tokens(&self, tokens: TokenResponse) {
        self.inner.shared.set_tokens(tokens);
    }

    /// Leave `Failed` and start authorization again (`Session::reauthorize`), e.g.
    /// after the user asked to sign in again.
    pub fn reauthorize(&self) -> Result<(), Error> {
        self.inner.shared.reauthorize();
        Ok(())
    }
}

/// Every `WWW-Authenticate` line of a response, for `handle_resource_response`.
pub(crate) fn www_authenticate_lines(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// A copy of `template` for another attempt: method, URL, headers, version, timeout
/// and body (a buffered body is copied). `reqwest::Request::try_clone` also copies the
/// request's extensions (only reachable through a conversion from `http::Request`,
/// and private to reqwest), at the price of an extension map on every call; so a retry
/// after a `401` goes out without such extensions, where the first attempt, the
/// caller's own request, carries them.
fn copy_request(template: &reqwest::Request) -> Result<reqwest::Request, Error> {
    let body = match template.body() {
        Some(body) => {
            let bytes = body.as_bytes().ok_or(Error::BodyNotReplayable)?;
            Some(reqwest::Body::from(bytes::Bytes::copy_from_slice(bytes)))
        }
        None => None,
    };
    let mut request = reqwest::Request::new(template.method().clone(), template.url().clone());
    if let Some(timeout) = template.timeout() {
        *request.timeout_mut() = Some(*timeout);
    }
    if !template.headers().is_empty() {
        *request.headers_mut() = template.headers().clone();
    }
    *request.version_mut() = template.version();
    *request.body_mut() = body;
    Ok(request)
}

/// One request's bookkeeping, on the caller's task: begin, take the `Send` (or wait for
/// it), report the response, repeat on `Retry`. Dropping an unfinished call cancels the
/// request in the session.
pub(crate) struct Call<'c> {
    client: &'c Client,
    id: RequestId,
    next: Next,
    /// The request as the caller gave it, until its first attempt goes out; then a
    /// copy of it, for a retry.
    template: reqwest::Request,
    /// The first attempt went out.
    attempted: bool,
    /// When the session released the request `next` returns: its deadline counts from
    /// there (the monotonic reading the step took, so that no other is needed).
    released: std::time::Instant,
    /// The credential on the last request sent, whose values are redacted from what its
    /// response quotes.
    sent: Option<Arc<Credentials>>,
}

impl<'c> Call<'c> {
    /// Begin a request in the session.
    pub(crate) fn begin(client: &'c Client, request: reqwest::Request) -> Result<Call<'c>, Error> {
        if request.body().is_some_and(|b| b.as_bytes().is_none()) {
            return Err(Error::BodyNotReplayable);
        }
        let released = std::time::Instant::now();
        let (id, next) = client.inner.shared.begin(released);
        Ok(Call {
            client,
            id,
            next,
            template: request,
            attempted: false,
            released,
            sent: None,
        })
    }

    /// The request's URL.
    pub(crate) fn url(&self) -> &reqwest::Url {
        self.template.url()
    }

    /// When the session released the request `next` returned.
    pub(crate) fn released(&self) -> Instant {
        Instant::from_std(self.released)
    }

    /// The request with the credential's headers, once the session releases it, or
    /// the session's failure.
    pub(crate) async fn next(&mut self) -> Result<reqwest::Request, Error> {
        let call = match &mut self.next {
            // Awaited in place: a caller that drops the future here leaves the call
            // waiting, and `Drop` cancels it.
            Next::Wait(rx) => {
                let received = rx.await;
                self.next = Next::Finished;
                self.released = std::time::Instant::now();
                // A closed channel cannot happen while the session lives: every begun
                // request ends in a `Send` or a `Fail`.
                received.map_err(|_| Error::DriverGone)?
            }
            _ => match std::mem::replace(&mut self.next, Next::Finished) {
                Next::Ready(call) => call,
                _ => return Err(Error::DriverGone),
            },
        };
        match call {
            ToCall::Send(credentials) => {
                // The first attempt sends the caller's request itself (with everything
                // it carries), keeping a copy for a retry; a retry sends a copy of that.
                let copy = copy_request(&self.template)?;
                let mut request = if self.attempted {
                    copy
                } else {
                    self.attempted = true;
                    std::mem::replace(&mut self.template, copy)
                };
                credentials.apply(&mut request)?;
                self.sent = Some(credentials);
                // Sent: the session now waits for this call's report.
                self.next = Next::Sent;
                Ok(request)
            }
            ToCall::Fail { error, detail } => Err(Error::Auth { error, detail }),
        }
    }

    /// Report the resource's answer; the session decides whether the caller gets it.
    pub(crate) fn report(&mut self, response: &reqwest::Response) -> Result<Verdict, Error> {
        let lines = www_authenticate_lines(response.headers());
        let instant = std::time::Instant::now();
        let (verdict, next) =
            self.client
                .inner
                .shared
                .report(instant, self.id, response.status().as_u16(), &lines);
        self.released = instant;
        self.next = next;
        Ok(verdict)
    }

    /// The response the session delivered, as the caller gets it: its body held to
    /// the resource limits (from `started`, when the request went out), and the
    /// credentials it was requested with kept for redacting quoted text.
    pub(crate) fn deliver(
        &self,
        response: reqwest::Response,
        limits: &ResourceLimits,
        started: Instant,
    ) -> reqwest::Response {
        let mut response = limits.guard(response, started);
        if let Some(credentials) = &self.sent {
            credentials.sent().clone().attach(&mut response);
        }
        response
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        match self.next {
            // Still the session's: waiting, or sent and not yet reported.
            Next::Wait(_) | Next::Sent | Next::Ready(ToCall::Send(_)) => {
                self.client.inner.shared.cancel(self.id)
            }
            Next::Ready(ToCall::Fail { .. }) | Next::Finished => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn every_www_authenticate_line_is_kept() {
        let mut h = HeaderMap::new();
        h.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"x\""),
        );
        h.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        assert_eq!(www_authenticate_lines(&h).len(), 2);
    }
}
