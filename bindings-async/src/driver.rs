//! The session, shared: a short `std::sync::Mutex` around the [`Session`] for the
//! bookkeeping, and tasks only for what truly waits.
//!
//! quinn guards quinn-proto's `Connection` the same way. Every step is the run loop of
//! `bearerflow`'s crate docs, run by whichever task has input: mutate (begin a request,
//! report a response, a finished fetch, the clock), drain `poll_action`, note the next
//! deadline. A caller begins its request, takes its `Send` and reports the response
//! itself, each a call of well under a microsecond under the lock, so a request with a
//! usable credential never leaves the caller's task. The lock is never held across I/O
//! or an `.await`: what a step must do outside it (deliver a `Send` or `Fail` to a
//! waiting caller, start a fetch) is collected and done after unlocking.
//!
//! What truly waits runs in tasks:
//! - token, discovery and registration fetches, the authorizer and the header helper:
//!   one spawned task each, which reports back by taking the lock itself;
//! - the timer task: sleeps until `poll_timeout` (woken when a step brings the deadline
//!   forward, or when the last handle goes) and calls `handle_timeout`;
//! - the persist task: stores each `Persist` (see below).
//!
//! # Persist before use
//!
//! Core emits a `Persist` before the first `Send` that uses the tokens it stores
//! (with rotating refresh tokens the old refresh token is spent already: OAuth 2.1
//! §4.3.1, RFC 9700 §4.14.2). A store is async and cannot be awaited under a std mutex,
//! so a step that drains a `Persist` does not perform what follows it: from that
//! `Persist` on, every action drained (by this step and by any later step, on any task)
//! is queued behind it, in order, with the `Send` headers read at drain time. The
//! persist task awaits the store, then performs the queue in order, and only when the
//! queue is empty do steps perform their actions directly again. A caller whose own
//! `Send` was queued waits for it like any other waiting request. So no request leaves
//! with a new credential before the snapshot holding it is stored (or the store has
//! failed and core asked for it again later), whichever task drained it.
//!
//! The timer task and every spawned task end by themselves once the last [`Client`]
//! handle and request are gone (a `Persist` still queued is stored first).
//!
//! [`Client`]: crate::Client

use crate::authorize::{AuthorizeError, Authorizer};
use crate::error::Error;
use crate::events::{Event, Obtained};
use crate::helper::{HelperError, HelperRunner};
use crate::redact::SentCredentials;
use crate::shared_store::{Refresh, RefreshLock, Swap, TokenStore};
use crate::store::Store;
use bearerflow::http::{Header, Method, Request};
use bearerflow::oauth::TokenResponse;
use bearerflow::session::{
    Action, FetchId, FetchPurpose, HttpErrorKind, RequestError, RequestId, Session, SessionError,
    Snapshot, Stats, Verdict,
};
use bearerflow::time::Timestamp;
use bearerflow::token::{Generation, Phase};
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot, Notify};

/// The session's state as a host may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// `Session::phase(now)`.
    pub phase: Phase,
    /// `Session::stats()`: what the machine asked for and saw.
    pub stats: Stats,
    /// Requests begun and not finished.
    pub pending: usize,
    /// `Session::last_error()`, as text.
    pub last_error: Option<String>,
    /// The current token set's generation, if any.
    pub generation: Option<Generation>,
    /// The current token set's absolute expiry, if known.
    pub expires_at: Option<Timestamp>,
    /// New token sets obtained with a refresh token (RFC 6749 §6): refreshes that
    /// succeeded, where `stats.refresh_requests` counts the requests made.
    pub refreshes: u32,
    /// New token sets obtained by authorizing: an authorization-code exchange (RFC 6749
    /// §4.1.3, after the user authorized) or a client-credentials grant (§4.4).
    pub authorizations: u32,
}

/// The credential headers of one generation, converted once for every request that
/// carries them, with the values to redact from what their responses quote.
pub(crate) struct Credentials {
    generation: Generation,
    /// The headers, or the name of one that cannot go on a request.
    headers: Result<Vec<(HeaderName, HeaderValue)>, String>,
    sent: SentCredentials,
}

impl Credentials {
    fn of(generation: Generation, headers: &[Header]) -> Credentials {
        let converted = headers
            .iter()
            .map(|h| {
                let name =
                    HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| h.name.to_string())?;
                let mut value = HeaderValue::from_bytes(h.value.expose().as_bytes())
                    .map_err(|_| h.name.to_string())?;
                // Kept out of reqwest's and http's `Debug`.
                value.set_sensitive(true);
                Ok((name, value))
            })
            .collect();
        Credentials {
            generation,
            headers: converted,
            sent: SentCredentials::from_headers(headers),
        }
    }

    /// Put the headers on `request`, replacing same-named ones.
    pub(crate) fn apply(&self, request: &mut reqwest::Request) -> Result<(), Error> {
        match &self.headers {
            Ok(headers) => {
                for (name, value) in headers {
                    request.headers_mut().insert(name.clone(), value.clone());
                }
                Ok(())
            }
            Err(name) => Err(Error::InvalidHeader { name: name.clone() }),
        }
    }

    /// The credential values the request carries.
    pub(crate) fn sent(&self) -> &SentCredentials {
        &self.sent
    }
}

/// What the session decided for one request.
pub(crate) enum ToCall {
    /// Send now with these headers.
    Send(Arc<Credentials>),
    /// The session failed the request.
    Fail {
        error: RequestError,
        detail: Option<String>,
    },
}

/// What a caller does next after a step that named its request.
pub(crate) enum Next {
    /// The session decided at once.
    Ready(ToCall),
    /// The decision comes later (a credential is on its way, or a `Persist` is being
    /// stored first).
    Wait(oneshot::Receiver<ToCall>),
    /// The caller sent the request: the session waits for its report.
    Sent,
    /// Nothing more will come (the request is finished).
    Finished,
}

type FetchResult = Result<(u16, Vec<(String, String)>, Vec<u8>), HttpErrorKind>;

/// Slow work an action asks for, performed in a spawned task.
enum Job {
    Fetch {
        id: FetchId,
        request: Box<Request>,
    },
    Authorize {
        url: String,
    },
    RunHelper,
    /// Take the shared store's refresh lease (or the host's lock).
    Lease {
        ttl: Duration,
    },
    /// Give it back.
    Release,
}

/// An action drained behind a `Persist`, waiting for it to be stored.
enum Deferred {
    Persist(Box<Snapshot>),
    Deliver(RequestId, ToCall),
    Job(Job),
}

/// What a step does after unlocking.
#[derive(Default)]
struct After {
    /// The outcome for the request the step is about, if it came out.
    mine: Option<ToCall>,
    /// Outcomes for other waiting requests.
    deliveries: Vec<(RequestId, oneshot::Sender<ToCall>, ToCall)>,
    jobs: Vec<Job>,
    start_persister: bool,
    wake_timer: bool,
}

impl After {
    /// Anything to do after unlocking (on the request path: nothing).
    fn has_work(&self) -> bool {
        !self.deliveries.is_empty()
            || !self.jobs.is_empty()
            || self.start_persister
            || self.wake_timer
    }
}

/// The session's clock: unix milliseconds, derived from the monotonic clock read that
/// a step makes anyway, and anchored to the system clock again every
/// [`SessionClock::REANCHOR`] of monotonic time. A request then costs no system-clock
/// read, and the session never runs more than that far from the wall clock (a system
/// clock step, or time the machine spent suspended, which the monotonic clock does not
/// count, is caught up with at the next anchoring).
struct SessionClock {
    anchor: std::time::Instant,
    anchor_ms: u64,
}

impl SessionClock {
    const REANCHOR: Duration = Duration::from_millis(100);

    fn new() -> SessionClock {
        SessionClock {
            anchor: std::time::Instant::now(),
            anchor_ms: crate::now().0,
        }
    }

    /// The session's time at `instant` (a monotonic reading taken just now).
    fn at(&mut self, instant: std::time::Instant) -> Timestamp {
        match instant.checked_duration_since(self.anchor) {
            Some(since) if since < Self::REANCHOR => {
                Timestamp(self.anchor_ms.saturating_add(since.as_millis() as u64))
            }
            _ => {
                self.anchor = instant;
                self.anchor_ms = crate::now().0;
                Timestamp(self.anchor_ms)
            }
        }
    }
}

struct State {
    session: Session,
    clock: SessionClock,
    /// Requests waiting for their next `Send` or `Fail`, and where it goes.
    waiting: HashMap<RequestId, oneshot::Sender<ToCall>>,
    /// Exchanges in flight, for their events.
    fetches: HashMap<FetchId, FetchPurpose>,
    /// The phase last reported in an event, and when it was computed: the phase is a
    /// function of the state and the time, and only steps change the state, so a step
    /// in the same millisecond need not compute it before its mutation.
    phase: Phase,
    phase_at: Timestamp,
    /// The host-side cause of the last helper failure, for `Fail` details.
    helper_failure: Option<String>,
    /// Why the authorizer could not complete the last authorization, for `Fail`
    /// details (core only knows that it could not).
    authorize_failure: Option<String>,
    /// The deadline the timer task sleeps until.
    armed: Option<Timestamp>,
    /// A `Persist` is queued or being stored: every action drained now goes behind it.
    persisting: bool,
    /// The queue behind the `Persist` (which is its first item until taken).
    behind: VecDeque<Deferred>,
    /// The current generation's headers, converted.
    credentials: Option<Arc<Credentials>>,
    refreshes: u32,
    authorizations: u32,
    /// With a [`RefreshLock`]: ends the refresh the host's lock runs.
    lease_release: Option<oneshot::Sender<()>>,
}

/// The session and everything its steps need. Shared by the handles, the calls and the
/// tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the timer task: an earlier deadline, or the last handle gone.
    timer: Notify,
    closed: AtomicBool,
    /// Someone subscribed to events at least once.
    observed: AtomicBool,
    /// This value itself, for the tasks it spawns.
    me: Weak<Shared>,
    store: Arc<dyn Store>,
    token_store: Option<Arc<dyn TokenStore>>,
    refresh_lock: Option<Arc<dyn RefreshLock>>,
    /// Wakes the store watcher when the last handle goes.
    closing: Notify,
    authorizer: Arc<dyn Authorizer>,
    helper: Option<Arc<dyn HelperRunner>>,
    fetch_http: reqwest::Client,
    events: broadcast::Sender<Event>,
    runtime: tokio::runtime::Handle,
    max_response_body: usize,
    max_helper_output: usize,
}

/// What [`Shared::new`] needs besides the session.
pub(crate) struct Parts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) token_store: Option<Arc<dyn TokenStore>>,
    pub(crate) refresh_lock: Option<Arc<dyn RefreshLock>>,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) helper: Option<Arc<dyn HelperRunner>>,
    pub(crate) fetch_http: reqwest::Client,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl Shared {
    /// Share `session`, perform what it asks for at once (a header-helper session asks
    /// for its first run), and start the timer task on `parts.runtime`.
    pub(crate) fn start(session: Session, parts: Parts) -> Arc<Shared> {
        let policy = &session.config().policy;
        let max_response_body = usize::try_from(policy.max_response_body).unwrap_or(usize::MAX);
        let max_helper_output = usize::try_from(policy.max_helper_output).unwrap_or(usize::MAX);
        let phase = session.phase(crate::now());
        let shared = Arc::new_cyclic(|me| Shared {
            state: Mutex::new(State {
                session,
                clock: SessionClock::new(),
                waiting: HashMap::new(),
                fetches: HashMap::new(),
                phase,
                phase_at: Timestamp(0),
                helper_failure: None,
                authorize_failure: None,
                armed: None,
                persisting: false,
                behind: VecDeque::new(),
                credentials: None,
                refreshes: 0,
                authorizations: 0,
                lease_release: None,
            }),
            timer: Notify::new(),
            closed: AtomicBool::new(false),
            observed: AtomicBool::new(false),
            me: me.clone(),
            store: parts.store,
            token_store: parts.token_store,
            refresh_lock: parts.refresh_lock,
            closing: Notify::new(),
            authorizer: parts.authorizer,
            helper: parts.helper,
            fetch_http: parts.fetch_http,
            events: parts.events,
            runtime: parts.runtime,
            max_response_body,
            max_helper_output,
        });
        shared.step(|_, _, _| ((), None));
        shared.runtime.spawn(run_timer(Arc::clone(&shared)));
        if let Some(store) = shared.token_store.clone() {
            shared
                .runtime
                .spawn(run_watcher(Arc::clone(&shared), store));
        }
        shared
    }

    /// The state. A panic while it was held (a bug: nothing in a step panics on input)
    /// leaves the session as consistent as core left it, so the lock is taken anyway.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Send an event to the subscribers; nothing is built while nobody ever
    /// subscribed (the request path then pays one atomic load per event).
    fn emit(&self, event: impl FnOnce() -> Event) {
        if self.observed.load(Ordering::Relaxed) {
            // No subscriber left is fine.
            let _ = self.events.send(event());
        }
    }

    /// A subscriber arrived: events are built and sent from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        let receiver = self.events.subscribe();
        self.observed.store(true, Ordering::Relaxed);
        receiver
    }

    /// One step of the run loop on the calling task: mutate with `f`, drain the
    /// actions, note the phase and the next deadline; then, unlocked, do what the step
    /// asked for. `f` returns its result and the request the step is about, if any:
    /// that request's outcome comes back as [`Next`] (a request that must wait is
    /// registered in the same critical section, so nothing for it can be missed).
    fn step<R>(
        &self,
        f: impl FnOnce(&mut State, &Shared, Timestamp) -> (R, Option<RequestId>),
    ) -> (R, Next) {
        self.step_at(std::time::Instant::now(), f)
    }

    /// [`Shared::step`] at `instant`, a monotonic reading the caller took just now.
    fn step_at<R>(
        &self,
        instant: std::time::Instant,
        f: impl FnOnce(&mut State, &Shared, Timestamp) -> (R, Option<RequestId>),
    ) -> (R, Next) {
        let mut after = After::default();
        let (result, next) = {
            let mut st = self.lock();
            let at = st.clock.at(instant);
            if st.phase_at != at {
                st.observe_phase(self, at);
            }
            let (result, me) = f(&mut st, self, at);
            st.drain(self, me, at, &mut after);
            st.observe_phase(self, at);
            st.rearm(&mut after);
            let next = match (me, after.mine.take()) {
                (None, _) => Next::Finished,
                (Some(_), Some(call)) => Next::Ready(call),
                (Some(id), None) => {
                    let (tx, rx) = oneshot::channel();
                    st.waiting.insert(id, tx);
                    Next::Wait(rx)
                }
            };
            (result, next)
        };
        if after.has_work() {
            self.finish(after);
        }
        (result, next)
    }

    /// The unlocked half of a step.
    fn finish(&self, after: After) {
        for (id, tx, call) in after.deliveries {
            if tx.send(call).is_err() {
                // The caller went away between the step and now.
                self.cancel(id);
            }
        }
        for job in after.jobs {
            self.spawn(job);
        }
        if after.start_persister {
            if let Some(shared) = self.me.upgrade() {
                self.runtime.spawn(run_persister(shared));
            }
        }
        if after.wake_timer {
            self.timer.notify_one();
        }
    }

    /// A caller begins a request at `instant` (a monotonic reading taken just now).
    pub(crate) fn begin(&self, instant: std::time::Instant) -> (RequestId, Next) {
        self.step_at(instant, |st, sh, at| {
            let id = st.session.begin_request(at);
            sh.emit(|| Event::Begin { at, id });
            (id, Some(id))
        })
    }

    /// A caller reports the resource's answer to request `id`, at `instant` (a monotonic
    /// reading taken just now).
    pub(crate) fn report(
        &self,
        instant: std::time::Instant,
        id: RequestId,
        status: u16,
        www_authenticate: &[String],
    ) -> (Verdict, Next) {
        self.step_at(instant, |st, sh, at| {
            let lines: Vec<&str> = www_authenticate.iter().map(String::as_str).collect();
            let verdict = st.session.handle_resource_response(id, status, &lines, at);
            sh.emit(|| Event::Response {
                at,
                id,
                status,
                verdict,
            });
            (verdict, (verdict == Verdict::Retry).then_some(id))
        })
    }

    /// A caller gave up on request `id`.
    pub(crate) fn cancel(&self, id: RequestId) {
        self.step(|st, _, _| {
            st.waiting.remove(&id);
            st.session.cancel_request(id);
            ((), None)
        });
    }

    /// Tokens the host obtained elsewhere (`Session::set_tokens`).
    pub(crate) fn set_tokens(&self, tokens: TokenResponse) {
        self.step(|st, sh, at| {
            let before = st.session.stats().credentials_installed;
            st.session.set_tokens(
                tokens.access_token,
                tokens.refresh_token,
                tokens.expires_in,
                tokens.scope,
                at,
            );
            st.note_credential(sh, at, before, Obtained::Host);
            ((), None)
        });
    }

    /// `Session::reauthorize`.
    pub(crate) fn reauthorize(&self) {
        self.step(|st, _, at| {
            st.session.reauthorize(at);
            ((), None)
        });
    }

    /// The session's state now.
    pub(crate) fn status(&self) -> Status {
        let instant = std::time::Instant::now();
        let mut st = self.lock();
        let now = st.clock.at(instant);
        let tokens = st.session.tokens();
        Status {
            phase: st.session.phase(now),
            stats: st.session.stats(),
            pending: st.session.pending_requests(),
            last_error: st.session.last_error().map(|e| e.to_string()),
            generation: tokens.map(|t| t.generation()),
            expires_at: tokens.and_then(|t| t.expires_at()),
            refreshes: st.refreshes,
            authorizations: st.authorizations,
        }
    }

    /// The last handle is gone: the timer task ends. Work in flight still reports,
    /// and a `Persist` it brings is still stored.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.timer.notify_one();
        self.closing.notify_waiters();
    }

    fn fetch_done(&self, id: FetchId, result: FetchResult) {
        self.step(|st, sh, at| {
            let Some(purpose) = st.fetches.remove(&id) else {
                // Not a fetch this driver started: nothing to report.
                return ((), None);
            };
            sh.emit(|| Event::FetchDone {
                at,
                id,
                purpose,
                outcome: result.as_ref().map(|r| r.0).map_err(|k| *k),
            });
            let before = st.session.stats().credentials_installed;
            match result {
                Ok((status, headers, body)) => {
                    let headers: Vec<(&str, &str)> = headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    st.session
                        .handle_http_response(id, status, &headers, &body, at);
                }
                Err(kind) => st.session.handle_http_error(id, kind, at),
            }
            let obtained = match purpose {
                FetchPurpose::Refresh => Some(Obtained::Refresh),
                FetchPurpose::CodeExchange => Some(Obtained::AuthorizationCode),
                FetchPurpose::ClientCredentials => Some(Obtained::ClientCredentials),
                _ => None,
            };
            if let Some(obtained) = obtained {
                st.note_credential(sh, at, before, obtained);
            }
            ((), None)
        });
    }

    fn helper_done(&self, result: Result<Vec<u8>, HelperError>) {
        self.step(|st, sh, at| {
            sh.emit(|| Event::HelperDone {
                at,
                error: result.as_ref().err().map(|e| e.to_string()),
            });
            let before = st.session.stats().credentials_installed;
            match result {
                Ok(stdout) => {
                    st.helper_failure = None;
                    st.session.handle_helper_stdout(&stdout, at);
                }
                Err(e) => {
                    st.helper_failure = Some(e.to_string());
                    st.session.handle_helper_failure(e.exit_code(), at);
                }
            }
            st.note_credential(sh, at, before, Obtained::Helper);
            ((), None)
        });
    }

    fn authorize_done(&self, result: Result<String, AuthorizeError>) {
        self.step(|st, sh, at| {
            match result {
                Ok(url) => {
                    let accepted = st.session.handle_redirect(&url, at).is_ok();
                    sh.emit(|| Event::Redirect { at, accepted });
                }
                Err(e) => {
                    let reason = e.to_string();
                    sh.emit(|| Event::AuthorizeFailed {
                        at,
                        reason: reason.clone(),
                    });
                    st.authorize_failure = Some(reason);
                    st.session.handle_authorize_error(at);
                }
            }
            ((), None)
        });
    }

    /// Start `job` in a task of its own; it reports back with a step.
    fn spawn(&self, job: Job) {
        let Some(shared) = self.me.upgrade() else {
            return;
        };
        match job {
            Job::Fetch { id, request } => {
                let http = self.fetch_http.clone();
                let limit = self.max_response_body;
                self.runtime.spawn(async move {
                    let result = perform(&http, &request, limit).await;
                    shared.fetch_done(id, result);
                });
            }
            Job::Authorize { url } => {
                self.runtime.spawn(async move {
                    let result = shared.authorizer.authorize(&url).await;
                    shared.authorize_done(result);
                });
            }
            Job::RunHelper => {
                // The builder refuses a helper credential without a runner.
                let Some(helper) = self.helper.clone() else {
                    return;
                };
                let max_output = self.max_helper_output;
                self.runtime.spawn(async move {
                    let result = helper.run(max_output).await;
                    shared.helper_done(result);
                });
            }
            Job::Lease { ttl } => {
                if let Some(lock) = self.refresh_lock.clone() {
                    self.runtime.spawn(async move {
                        let ran = Arc::new(AtomicBool::new(false));
                        let (tx, rx) = oneshot::channel();
                        let refresh = {
                            let shared = Arc::clone(&shared);
                            let ran = Arc::clone(&ran);
                            Refresh {
                                run: Box::pin(async move {
                                    ran.store(true, Ordering::Release);
                                    if shared.lease_granted(Some(tx)).await {
                                        // Ends at `ReleaseLease` (or if the session goes).
                                        let _ = rx.await;
                                    }
                                }),
                            }
                        };
                        let result = lock.with_lease(ttl, refresh).await;
                        if !ran.load(Ordering::Acquire) {
                            let _ = result;
                            shared.lease_refused();
                        }
                    });
                } else if let Some(store) = self.token_store.clone() {
                    self.runtime.spawn(async move {
                        match store.acquire_lease(ttl).await {
                            Ok(true) => {
                                if !shared.lease_granted(None).await {
                                    let _ = store.release_lease().await;
                                }
                            }
                            Ok(false) | Err(_) => shared.lease_refused(),
                        }
                    });
                }
            }
            Job::Release => {
                if self.refresh_lock.is_some() {
                    if let Some(tx) = self.lock().lease_release.take() {
                        let _ = tx.send(());
                    }
                } else if let Some(store) = self.token_store.clone() {
                    // A failure leaves the lease to run out by itself.
                    self.runtime.spawn(async move {
                        let _ = store.release_lease().await;
                    });
                }
            }
        }
    }

    /// What the store holds now (the token store's, else the plain store's).
    async fn load_current(&self) -> Result<Option<Snapshot>, crate::StoreError> {
        match &self.token_store {
            Some(t) => t.load().await,
            None => self.store.load().await,
        }
    }

    /// The lease (or the host's lock) is this process's. First the store's content goes
    /// to core (tokens another process stored before this one heard of them), then the
    /// grant: core refreshes with it, or hands it straight back (`ReleaseLease`) when it
    /// no longer needs it, so the lease is core's to release. True when core has it;
    /// false only when the store could not be read (the caller gives the lease back,
    /// and core is told "no lease" and asks again: refreshing without knowing what is
    /// stored could present a spent refresh token).
    async fn lease_granted(&self, release: Option<oneshot::Sender<()>>) -> bool {
        let current = self.load_current().await;
        let (taken, _) = self.step(|st, sh, at| {
            let current = match current {
                Ok(c) => c,
                Err(_) => {
                    // Newer tokens may be stored: refreshing could present a spent
                    // refresh token. Taken as "no lease"; core asks again.
                    st.session.handle_lease(false, at);
                    return (false, None);
                }
            };
            if let Some(s) = current {
                // Core ignores a snapshot that is not newer than its own.
                let before = st.session.stats().credentials_installed;
                st.session.handle_store_update(s, at);
                st.note_credential(sh, at, before, Obtained::Store);
            }
            st.lease_release = release;
            st.session.handle_lease(true, at);
            (true, None)
        });
        taken
    }

    /// No lease (another process holds it, or the store failed).
    fn lease_refused(&self) {
        self.step(|st, _, at| {
            st.session.handle_lease(false, at);
            ((), None)
        });
    }
}

impl State {
    /// Note a phase change (time alone moves Fresh → Expiring → Expired).
    fn observe_phase(&mut self, sh: &Shared, at: Timestamp) {
        let phase = self.session.phase(at);
        self.phase_at = at;
        if phase != self.phase {
            sh.emit(|| Event::Phase {
                at,
                from: self.phase,
                to: phase,
            });
            self.phase = phase;
        }
    }

    /// Wake the timer task if the next deadline is now earlier than the one it sleeps
    /// until (a later one only makes it wake early, which `handle_timeout` ignores).
    fn rearm(&mut self, after: &mut After) {
        let next = self.session.poll_timeout();
        let earlier = match (next, self.armed) {
            (Some(n), Some(a)) => n < a,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            self.armed = next;
            after.wake_timer = true;
        }
    }

    /// A credential arrived if core's count of installed credentials moved.
    fn note_credential(&mut self, sh: &Shared, at: Timestamp, before: u32, obtained: Obtained) {
        if self.session.stats().credentials_installed == before {
            return;
        }
        match obtained {
            Obtained::Refresh => self.refreshes += 1,
            Obtained::AuthorizationCode | Obtained::ClientCredentials => self.authorizations += 1,
            Obtained::Helper | Obtained::Host | Obtained::Store => {}
        }
        sh.emit(|| Event::Credential {
            at,
            obtained,
            generation: self.session.tokens().map(|t| t.generation()),
            refreshes: self.refreshes,
            authorizations: self.authorizations,
            refresh_token: self
                .session
                .tokens()
                .is_some_and(|t| t.refresh_token().is_some()),
        });
    }

    /// The converted headers of `generation` (read now: they are only guaranteed until
    /// the next `handle_*` call; core puts back a `Send` whose credential changed before
    /// it was drained, so a drained `Send` always has them).
    fn credentials(&mut self, generation: Generation) -> Arc<Credentials> {
        if let Some(c) = &self.credentials {
            if c.generation == generation {
                return Arc::clone(c);
            }
        }
        match self.session.headers(generation) {
            Some(headers) => {
                let c = Arc::new(Credentials::of(generation, headers));
                self.credentials = Some(Arc::clone(&c));
                c
            }
            None => Arc::new(Credentials::of(generation, &[])),
        }
    }

    /// Drain `poll_action`: perform each action, or queue it behind a `Persist`.
    fn drain(&mut self, sh: &Shared, me: Option<RequestId>, at: Timestamp, after: &mut After) {
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Send { id, generation } => {
                    let credentials = self.credentials(generation);
                    sh.emit(|| Event::Send { at, id, generation });
                    self.route(id, ToCall::Send(credentials), me, after);
                }
                Action::Fail { id, error, cause } => {
                    let detail = self.fail_detail(error, cause.as_deref());
                    sh.emit(|| Event::Fail {
                        at,
                        id,
                        error,
                        detail: detail.clone(),
                    });
                    self.route(id, ToCall::Fail { error, detail }, me, after);
                }
                Action::Fetch {
                    id,
                    purpose,
                    request,
                } => {
                    self.fetches.insert(id, purpose);
                    sh.emit(|| Event::Fetch {
                        at,
                        id,
                        purpose,
                        url: request.url.clone(),
                    });
                    self.job(Job::Fetch { id, request }, after);
                }
                Action::Persist(snapshot) => {
                    if !self.persisting {
                        self.persisting = true;
                        after.start_persister = true;
                    }
                    self.behind.push_back(Deferred::Persist(snapshot));
                }
                Action::Authorize { url } => {
                    sh.emit(|| Event::Authorize { at });
                    self.job(Job::Authorize { url }, after);
                }
                Action::RunHelper => {
                    sh.emit(|| Event::HelperRun { at });
                    self.job(Job::RunHelper, after);
                }
                // The shared-store lease (`Policy::shared_store`): the host's lock or
                // the token store's lease; with neither, the store is this process's
                // alone and so is the lease.
                Action::AcquireLease { ttl } => {
                    if sh.refresh_lock.is_some() || sh.token_store.is_some() {
                        let ttl = Duration::from_millis(ttl.0);
                        self.job(Job::Lease { ttl }, after);
                    } else {
                        self.session.handle_lease(true, at);
                    }
                }
                // Behind any `Persist` drained before it: the lease is given back only
                // once the rotated tokens are stored.
                Action::ReleaseLease => self.job(Job::Release, after),
            }
        }
    }

    /// What a `Fail` tells its caller: core's cause, or what the host saw underneath.
    fn fail_detail(&self, error: RequestError, cause: Option<&SessionError>) -> Option<String> {
        let unavailable = matches!(cause, Some(SessionError::AuthorizationUnavailable));
        match (error, &self.helper_failure, &self.authorize_failure) {
            (RequestError::HelperFailed, Some(h), _) => Some(h.clone()),
            (RequestError::AuthorizationFailed, _, Some(a)) if unavailable => {
                Some(format!("{}: {a}", SessionError::AuthorizationUnavailable))
            }
            _ => cause.map(|e| e.to_string()),
        }
    }

    fn route(&mut self, id: RequestId, call: ToCall, me: Option<RequestId>, after: &mut After) {
        if self.persisting {
            self.behind.push_back(Deferred::Deliver(id, call));
        } else if me == Some(id) {
            after.mine = Some(call);
        } else {
            self.deliver(id, call, after);
        }
    }

    fn deliver(&mut self, id: RequestId, call: ToCall, after: &mut After) {
        match self.waiting.remove(&id) {
            Some(tx) => after.deliveries.push((id, tx, call)),
            // Nobody waits for it any more: its caller went away. End it in the
            // session (a no-op for a request the session already ended).
            None => self.session.cancel_request(id),
        }
    }

    fn job(&mut self, job: Job, after: &mut After) {
        if self.persisting {
            self.behind.push_back(Deferred::Job(job));
        } else {
            after.jobs.push(job);
        }
    }
}

/// The timer task: `handle_timeout` at each deadline `poll_timeout` reports. Core's
/// timers keep themselves (a deadline is reported only when acting on it changes
/// something, and after `handle_timeout(t)` every deadline left is later than `t`), so
/// this loop needs no guard of its own.
async fn run_timer(shared: Arc<Shared>) {
    loop {
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        // The wait is measured on the session's own clock, so that `handle_timeout` after
        // it sees the deadline reached.
        let deadline = {
            let instant = std::time::Instant::now();
            let mut st = shared.lock();
            st.armed = st.session.poll_timeout();
            st.armed.map(|d| d.0.saturating_sub(st.clock.at(instant).0))
        };
        // A wake between here and the `select!` is kept as a permit: not lost.
        let woken = shared.timer.notified();
        match deadline {
            Some(wait) => {
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {
                        shared.step(|st, _, at| {
                            st.session.handle_timeout(at);
                            ((), None)
                        });
                    }
                }
            }
            None => woken.await,
        }
    }
}

/// The store watcher (a [`TokenStore`] only): tokens another process stored reach the
/// session with `handle_store_update`, until the last handle goes.
async fn run_watcher(shared: Arc<Shared>, store: Arc<dyn TokenStore>) {
    loop {
        let closing = shared.closing.notified();
        tokio::pin!(closing);
        closing.as_mut().enable();
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let seen = shared.lock().session.snapshot().revision;
        tokio::select! {
            _ = &mut closing => return,
            changed = store.changed(seen) => match changed {
                Ok(snapshot) => {
                    shared.step(|st, sh, at| {
                        let before = st.session.stats().credentials_installed;
                        st.session.handle_store_update(snapshot, at);
                        st.note_credential(sh, at, before, Obtained::Store);
                        ((), None)
                    });
                }
                Err(_) => {
                    // The store is away (a restart): look again in a moment.
                    tokio::select! {
                        _ = &mut closing => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            },
        }
    }
}

/// The persist task: store the queued `Persist`, then perform what was drained behind
/// it, in order, until the queue is empty. One runs while `persisting` is set.
async fn run_persister(shared: Arc<Shared>) {
    loop {
        let item = {
            let mut st = shared.lock();
            match st.behind.pop_front() {
                Some(item) => item,
                None => {
                    st.persisting = false;
                    return;
                }
            }
        };
        match item {
            Deferred::Persist(snapshot) => {
                let outcome = match &shared.token_store {
                    Some(t) => t.swap(&snapshot).await,
                    None => shared.store.save(&snapshot).await.map(|()| Swap::Stored),
                };
                let ok = matches!(outcome, Ok(Swap::Stored));
                let tokens = snapshot.tokens.as_ref();
                let (generation, expires_at) = (
                    tokens.map(|t| t.generation),
                    tokens.and_then(|t| t.expires_at),
                );
                drop(snapshot);
                shared.step(|st, sh, at| {
                    sh.emit(|| Event::Persist {
                        at,
                        ok,
                        generation,
                        expires_at,
                    });
                    match outcome {
                        Ok(Swap::Stored) => {}
                        // Another process wrote first: take on what it stored.
                        Ok(Swap::Conflict(current)) => {
                            let before = st.session.stats().credentials_installed;
                            st.session.handle_persist_conflict(*current, at);
                            st.note_credential(sh, at, before, Obtained::Store);
                        }
                        // Core keeps the tokens in use and asks again after a backoff;
                        // what this step drains queues behind the queue's rest.
                        Err(_) => st.session.handle_persist_failed(at),
                    }
                    ((), None)
                });
            }
            Deferred::Deliver(id, call) => {
                let mut after = After::default();
                shared.lock().deliver(id, call, &mut after);
                shared.finish(after);
            }
            Deferred::Job(job) => shared.spawn(job),
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
        let room = limit.saturating_add(1).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() > limit {
            break;
        }
    }
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_replace_headers_and_are_sensitive() {
        let mut req = reqwest::Request::new(
            reqwest::Method::GET,
            "http://127.0.0.1/".parse().expect("a valid URL"),
        );
        req.headers_mut()
            .insert("authorization", HeaderValue::from_static("Bearer old"));
        Credentials::of(Generation(1), &[Header::new("Authorization", "Bearer new")])
            .apply(&mut req)
            .unwrap();
        let all: Vec<_> = req.headers().get_all("authorization").iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0], "Bearer new");
        assert!(all[0].is_sensitive());
        assert!(matches!(
            Credentials::of(Generation(2), &[Header::new("Bad Name", "x")]).apply(&mut req),
            Err(Error::InvalidHeader { .. })
        ));
        assert!(matches!(
            Credentials::of(Generation(3), &[Header::new("X", "a\nb")]).apply(&mut req),
            Err(Error::InvalidHeader { .. })
        ));
    }
}
