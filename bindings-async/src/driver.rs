//! The driver task: owns the [`Session`] and runs exactly the run loop of
//! `bearerflow`'s crate docs. Mutate (a message from a caller, a finished fetch, the
//! clock), drain `poll_action`, then sleep until `poll_timeout` or the next message.
//!
//! Slow work (fetches, the browser, the helper) runs in spawned tasks that report back
//! as messages; only `Persist` is awaited in place, because nothing may run before the
//! snapshot is stored.

use crate::authorize::Authorizer;
use crate::events::Event;
use crate::helper::{HelperError, HelperRunner};
use crate::store::Store;
use bearerflow::http::{Header, Method, Request};
use bearerflow::session::{
    Action, FetchId, FetchPurpose, HttpErrorKind, RequestError, RequestId, Session, SessionError,
    Stats, Verdict,
};
use bearerflow::time::Timestamp;
use bearerflow::token::{Generation, Phase};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// The session's state as a host may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// `Session::phase(now)`.
    pub phase: Phase,
    /// `Session::stats()`.
    pub stats: Stats,
    /// Requests begun and not finished.
    pub pending: usize,
    /// `Session::last_error()`, as text.
    pub last_error: Option<String>,
    /// The current token set's generation, if any.
    pub generation: Option<Generation>,
    /// The current token set's absolute expiry, if known.
    pub expires_at: Option<Timestamp>,
}

/// What a caller's request hears from the driver.
pub(crate) enum ToCall {
    /// Send now with these headers.
    Send { headers: Vec<Header> },
    /// The session failed the request.
    Fail {
        error: RequestError,
        detail: Option<String>,
    },
}

type FetchResult = Result<(u16, Vec<(String, String)>, Vec<u8>), HttpErrorKind>;

/// Messages into the driver.
pub(crate) enum Msg {
    Begin {
        tx: mpsc::UnboundedSender<ToCall>,
        reply: oneshot::Sender<RequestId>,
    },
    Report {
        id: RequestId,
        status: u16,
        www_authenticate: Vec<String>,
        reply: oneshot::Sender<Verdict>,
    },
    Cancel {
        id: RequestId,
    },
    FetchDone {
        id: FetchId,
        result: FetchResult,
    },
    HelperDone {
        result: Result<Vec<u8>, HelperError>,
    },
    Redirect {
        url: String,
    },
    AuthorizeFailed {
        reason: String,
    },
    Query {
        reply: oneshot::Sender<Status>,
    },
    Reauthorize,
}

pub(crate) struct Driver {
    session: Session,
    rx: mpsc::UnboundedReceiver<Msg>,
    weak: mpsc::WeakUnboundedSender<Msg>,
    calls: HashMap<RequestId, mpsc::UnboundedSender<ToCall>>,
    fetches: HashMap<FetchId, FetchPurpose>,
    store: Arc<dyn Store>,
    authorizer: Arc<dyn Authorizer>,
    helper: Option<Arc<dyn HelperRunner>>,
    http: reqwest::Client,
    events: broadcast::Sender<Event>,
    phase: Phase,
    /// The host-side cause of the last helper failure, for `Fail` details.
    helper_failure: Option<String>,
    /// Why the authorizer could not complete the last authorization, for `Fail`
    /// details (core only knows that it could not).
    authorize_failure: Option<String>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        session: Session,
        rx: mpsc::UnboundedReceiver<Msg>,
        weak: mpsc::WeakUnboundedSender<Msg>,
        store: Arc<dyn Store>,
        authorizer: Arc<dyn Authorizer>,
        helper: Option<Arc<dyn HelperRunner>>,
        http: reqwest::Client,
        events: broadcast::Sender<Event>,
    ) -> Driver {
        let phase = session.phase(crate::now());
        Driver {
            session,
            rx,
            weak,
            calls: HashMap::new(),
            fetches: HashMap::new(),
            store,
            authorizer,
            helper,
            http,
            events,
            phase,
            helper_failure: None,
            authorize_failure: None,
        }
    }

    fn emit(&self, event: Event) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Note a phase change (time alone moves Fresh → Expiring → Expired).
    fn observe_phase(&mut self, at: Timestamp) {
        let phase = self.session.phase(at);
        if phase != self.phase {
            self.emit(Event::Phase {
                at,
                from: self.phase,
                to: phase,
            });
            self.phase = phase;
        }
    }

    /// The run loop.
    pub(crate) async fn run(mut self) {
        // A header-helper session asks for its first run at construction.
        self.drain().await;
        self.observe_phase(crate::now());
        loop {
            let msg = match self.session.poll_timeout() {
                Some(deadline) => {
                    let wait = deadline.0.saturating_sub(crate::now().0);
                    tokio::select! {
                        m = self.rx.recv() => m,
                        _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                            let at = crate::now();
                            self.observe_phase(at);
                            self.session.handle_timeout(at);
                            self.observe_phase(at);
                            self.drain().await;
                            self.observe_phase(at);
                            continue;
                        }
                    }
                }
                None => self.rx.recv().await,
            };
            let Some(msg) = msg else {
                // Every handle and every request in progress is gone.
                break;
            };
            let at = crate::now();
            self.observe_phase(at);
            self.handle(msg, at);
            self.observe_phase(at);
            self.drain().await;
            self.observe_phase(crate::now());
        }
    }

    fn cancel(&mut self, id: RequestId) {
        self.calls.remove(&id);
        self.session.cancel_request(id);
    }

    fn handle(&mut self, msg: Msg, now: Timestamp) {
        match msg {
            Msg::Begin { tx, reply } => {
                let id = self.session.begin_request(now);
                self.calls.insert(id, tx);
                self.emit(Event::Begin { at: now, id });
                if reply.send(id).is_err() {
                    self.cancel(id);
                }
            }
            Msg::Report {
                id,
                status,
                www_authenticate,
                reply,
            } => {
                let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
                let verdict = self
                    .session
                    .handle_resource_response(id, status, &lines, now);
                self.emit(Event::Response {
                    at: now,
                    id,
                    status,
                    verdict,
                });
                if verdict == Verdict::Deliver {
                    self.calls.remove(&id);
                }
                if reply.send(verdict).is_err() && verdict == Verdict::Retry {
                    self.cancel(id);
                }
            }
            Msg::Cancel { id } => self.cancel(id),
            Msg::FetchDone { id, result } => {
                let Some(purpose) = self.fetches.remove(&id) else {
                    // Not a fetch this driver started: nothing to report.
                    return;
                };
                self.emit(Event::FetchDone {
                    at: now,
                    id,
                    purpose,
                    outcome: result.as_ref().map(|r| r.0).map_err(|k| *k),
                });
                match result {
                    Ok((status, headers, body)) => {
                        let headers: Vec<(&str, &str)> = headers
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_str()))
                            .collect();
                        self.session
                            .handle_http_response(id, status, &headers, &body, now);
                    }
                    Err(kind) => self.session.handle_http_error(id, kind, now),
                }
            }
            Msg::HelperDone { result } => {
                self.emit(Event::HelperDone {
                    at: now,
                    error: result.as_ref().err().map(|e| e.to_string()),
                });
                match result {
                    Ok(stdout) => {
                        self.helper_failure = None;
                        self.session.handle_helper_stdout(&stdout, now);
                    }
                    Err(e) => {
                        self.helper_failure = Some(e.to_string());
                        self.session.handle_helper_failure(e.exit_code(), now);
                    }
                }
            }
            Msg::Redirect { url } => {
                let accepted = self.session.handle_redirect(&url, now).is_ok();
                self.emit(Event::Redirect { at: now, accepted });
            }
            Msg::AuthorizeFailed { reason } => {
                self.emit(Event::AuthorizeFailed {
                    at: now,
                    reason: reason.clone(),
                });
                self.authorize_failure = Some(reason);
                self.session.handle_authorize_error(now);
            }
            Msg::Query { reply } => {
                let tokens = self.session.tokens();
                let _ = reply.send(Status {
                    phase: self.session.phase(now),
                    stats: self.session.stats(),
                    pending: self.session.pending_requests(),
                    last_error: self.session.last_error().map(|e| e.to_string()),
                    generation: tokens.map(|t| t.generation()),
                    expires_at: tokens.and_then(|t| t.expires_at()),
                });
            }
            Msg::Reauthorize => self.session.reauthorize(now),
        }
    }

    /// Drain `poll_action` until empty, performing each action.
    async fn drain(&mut self) {
        while let Some(action) = self.session.poll_action() {
            let at = crate::now();
            match action {
                Action::Send { id, generation } => {
                    // Read the headers now: they are only guaranteed until the next
                    // handle_* call (core requeues a Send whose credential changed, so a
                    // drained Send always has them).
                    let headers = self
                        .session
                        .headers(generation)
                        .map(<[Header]>::to_vec)
                        .unwrap_or_default();
                    self.emit(Event::Send { at, id, generation });
                    let msg = ToCall::Send { headers };
                    let delivered = self.calls.get(&id).is_some_and(|tx| tx.send(msg).is_ok());
                    if !delivered {
                        self.cancel(id);
                    }
                }
                Action::Fetch {
                    id,
                    purpose,
                    request,
                } => {
                    self.fetches.insert(id, purpose);
                    self.emit(Event::Fetch {
                        at,
                        id,
                        purpose,
                        url: request.url.clone(),
                    });
                    if let Some(tx) = self.weak.upgrade() {
                        let http = self.http.clone();
                        let limit = self.session.config().policy.max_response_body as usize;
                        tokio::spawn(async move {
                            let result = perform(&http, &request, limit).await;
                            let _ = tx.send(Msg::FetchDone { id, result });
                        });
                    }
                }
                Action::Persist(snapshot) => {
                    let ok = self.store.save(&snapshot).await.is_ok();
                    let tokens = snapshot.tokens.as_ref();
                    let done = crate::now();
                    self.emit(Event::Persist {
                        at: done,
                        ok,
                        generation: tokens.map(|t| t.generation),
                        expires_at: tokens.and_then(|t| t.expires_at),
                    });
                    if !ok {
                        // Core keeps the tokens and asks again after a backoff.
                        self.session.handle_persist_failed(done);
                    }
                }
                Action::Authorize { url } => {
                    self.emit(Event::Authorize { at });
                    if let Some(tx) = self.weak.upgrade() {
                        let authorizer = Arc::clone(&self.authorizer);
                        tokio::spawn(async move {
                            let msg = match authorizer.authorize(&url).await {
                                Ok(url) => Msg::Redirect { url },
                                Err(e) => Msg::AuthorizeFailed {
                                    reason: e.to_string(),
                                },
                            };
                            let _ = tx.send(msg);
                        });
                    }
                }
                Action::RunHelper => {
                    self.emit(Event::HelperRun { at });
                    // The builder refuses a helper credential without a runner; a
                    // closed channel means the driver is stopping.
                    if let (Some(helper), Some(tx)) = (&self.helper, self.weak.upgrade()) {
                        let helper = Arc::clone(helper);
                        let max_output = self.session.config().policy.max_helper_output as usize;
                        tokio::spawn(async move {
                            let result = helper.run(max_output).await;
                            let _ = tx.send(Msg::HelperDone { result });
                        });
                    }
                }
                // The shared-store lease (`Policy::shared_store`): this driver's stores
                // are single-process, so the lease is always this process's.
                Action::AcquireLease { .. } => self.session.handle_lease(true, at),
                Action::ReleaseLease => {}
                Action::Fail { id, error, cause } => {
                    let unavailable = matches!(
                        cause.as_deref(),
                        Some(SessionError::AuthorizationUnavailable)
                    );
                    let detail = match (error, &self.helper_failure, &self.authorize_failure) {
                        (RequestError::HelperFailed, Some(h), _) => Some(h.clone()),
                        (RequestError::AuthorizationFailed, _, Some(a)) if unavailable => {
                            Some(format!("{}: {a}", SessionError::AuthorizationUnavailable))
                        }
                        _ => cause.map(|e| e.to_string()),
                    };
                    self.emit(Event::Fail {
                        at,
                        id,
                        error,
                        detail: detail.clone(),
                    });
                    if let Some(tx) = self.calls.remove(&id) {
                        let _ = tx.send(ToCall::Fail { error, detail });
                    }
                }
            }
        }
    }
}

fn error_kind(e: &reqwest::Error) -> HttpErrorKind {
    if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_connect() {
        HttpErrorKind::Connect
    } else {
        HttpErrorKind::Io
    }
}

/// Perform one exchange the session asked for (no redirects: the client is built so).
/// Reads at most `limit + 1` body bytes: the session refuses a body over its limit.
async fn perform(http: &reqwest::Client, request: &Request, limit: usize) -> FetchResult {
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
    };
    let mut builder = http.request(method, request.url.as_str());
    for h in &request.headers {
        let mut value = reqwest::header::HeaderValue::from_bytes(h.value.expose().as_bytes())
            .map_err(|_| HttpErrorKind::Io)?;
        value.set_sensitive(true);
        builder = builder.header(h.name.as_str(), value);
    }
    if !request.body.is_empty() {
        builder = builder.body(request.body.clone());
    }
    let mut response = builder.send().await.map_err(|e| error_kind(&e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_kind(&e))? {
        let room = (limit + 1).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() > limit {
            break;
        }
    }
    Ok((status, headers, body))
}
