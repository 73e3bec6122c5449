//! Completing `Action::Authorize`: open the authorization URL (RFC 6749 §4.1.1) and
//! bring back the redirect (RFC 6749 §4.1.2), which the driver hands to
//! `Session::handle_redirect`. The session checks `state`, `iss` and the code; an
//! authorizer only transports.
//!
//! - [`LoopbackBrowser`]: prints the URL (and opens a browser if asked), then captures
//!   the redirect on a 127.0.0.1 listener (RFC 8252 §7.3, loopback redirection). A
//!   redirect whose `state` is not the request's (RFC 6749 §10.12: forged by any local
//!   process, or stale) is answered with an error page and reported at once, and the
//!   listener keeps waiting for the genuine one until its deadline.
//! - [`HeadlessFollow`]: GETs the URL without following redirects and hands over the
//!   `Location` of the `3xx` that reaches the redirect URI (for tests and machines
//!   against an auto-approving server, such as an OpenID Provider whose login and
//!   consent pages approve at once). Each hop is checked as the first request was
//!   (https unless loopback, same origin as the authorization endpoint), at most
//!   [`HeadlessFollow::max_redirects`] of them; cookies the server sets are kept for
//!   the later hops of the same authorization only; a redirect with the wrong `state`
//!   fails at once; a failure names its hop, that hop's origin and the status.
//!
//! Both read the `state` of the redirect and of the authorization request with core's
//! parser and compare them with core's check ([`RedirectParams::verify`]), so that a
//! forged redirect never reaches, and never ends, the session's flow.
//! - [`NoAuthorize`]: for hosts that cannot authorize. Such hosts should also leave
//!   `OAuthConfig::redirect_uri` unset, so that the session itself knows it cannot
//!   authorize and fails waiting requests at once with `ReauthorizationRequired`.

use async_trait::async_trait;
use bearerflow::oauth::{self, RedirectParams};
use bearerflow::policy::Policy;
use bearerflow::text::Sanitized;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

/// Redirects on the authorization server [`HeadlessFollow`] follows by default after
/// the authorization URL, before the one to the redirect URI
/// ([`HeadlessFollow::max_redirects`] changes it).
///
/// A real OpenID Provider's login and consent take four: `oidc-provider` goes from
/// the authorization endpoint to its login page, back to the endpoint to resume, to
/// its consent page and back again (each page a separate interaction, each tied to a
/// cookie), then to the redirect URI. Ten leaves room for an account chooser or a
/// second factor, and matches the resource client's [`MAX_RESOURCE_REDIRECTS`]
/// (reqwest's own default).
///
/// [`MAX_RESOURCE_REDIRECTS`]: crate::MAX_RESOURCE_REDIRECTS
pub const MAX_AUTHORIZATION_REDIRECTS: usize = 10;

/// The most of an answer that is not a redirect [`HeadlessFollow`] reads, to say what
/// the server said ([`AuthorizeError::NoRedirect`]'s `detail`).
const MAX_DETAIL_BODY: usize = 8 * 1024;

/// The longest `detail` kept from such an answer.
const MAX_DETAIL: usize = 200;

/// Connections the loopback listener serves at once; more wait in the accept queue.
/// A local process that opens connections and sends nothing cannot hold the genuine
/// redirect out for longer than the head-read timeout.
const LISTENER_CONNECTIONS: usize = 16;

/// How long one connection to the loopback listener has to send its request head.
const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest request head the loopback listener reads.
const MAX_HEAD: usize = 16 * 1024;
/// An authorizer could not bring back a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// This host cannot authorize ([`NoAuthorize`]).
    Unsupported,
    /// The authorization URL is not a URL, or has no `redirect_uri` parameter.
    BadAuthorizationUrl(String),
    /// The redirect URI is not a loopback `http` URL this host can listen on.
    UnsupportedRedirectUri(String),
    /// The loopback listener could not be bound or failed.
    Listener(String),
    /// Nobody came back to the redirect URI in time.
    Timeout(Duration),
    /// The HTTP client could not be built (TLS backend).
    Client(String),
    /// A hop on the authorization server answered with something other than a
    /// redirect (a login page that wants a person, an error page).
    NoRedirect {
        /// Which request of this authorization (1: the authorization URL).
        hop: usize,
        /// The origin that request went to.
        origin: String,
        /// The status it answered with.
        status: u16,
        /// What the answer said, when it says it in a few words: an RFC 6749 §5.2
        /// JSON error, or the start of a text or HTML page (sanitized when shown).
        detail: Option<String>,
    },
    /// A hop on the authorization server could not be reached (the cause, from the
    /// whole error chain, without the URL).
    Http {
        /// Which request of this authorization (1: the authorization URL).
        hop: usize,
        /// The origin that request went to.
        origin: String,
        /// What failed.
        cause: String,
    },
    /// A hop on the authorization server did not answer within the deadline.
    EndpointTimeout {
        /// Which request of this authorization (1: the authorization URL).
        hop: usize,
        /// The origin that request went to.
        origin: String,
        /// The deadline.
        after: Duration,
    },
    /// The redirect's `state` is missing or not the authorization request's: a forged
    /// or stale redirect (RFC 6749 §10.12). It was not handed to the session.
    StateMismatch,
    /// The redirect URL's query cannot be read (bad encoding, a repeated parameter).
    MalformedRedirect(String),
    /// A redirect leads to plain `http` on a host that is not loopback (OAuth 2.1
    /// §1.5): the same rule as for every endpoint, re-checked on each hop.
    InsecureRedirect {
        /// Which request answered with the redirect.
        hop: usize,
        /// The redirect's status.
        status: u16,
        /// The origin it led to.
        to: String,
    },
    /// A redirect leads away from the authorization server, and not to the redirect
    /// URI: an unattended follower has no business there.
    OffsiteRedirect {
        /// Which request answered with the redirect.
        hop: usize,
        /// The redirect's status.
        status: u16,
        /// The origin it led to.
        to: String,
    },
    /// The authorization server redirected more than the follower's limit
    /// ([`HeadlessFollow::max_redirects`]) without reaching the redirect URI.
    TooManyRedirects {
        /// How many redirects were followed.
        max: usize,
        /// The origin of the last request.
        origin: String,
        /// The status of its redirect, the one not followed.
        status: u16,
    },
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorizeError::Unsupported => f.write_str("this host cannot run authorization"),
            AuthorizeError::BadAuthorizationUrl(w) => {
                write!(f, "the authorization URL is unusable: {w}")
            }
            AuthorizeError::UnsupportedRedirectUri(w) => {
                write!(f, "cannot listen on the redirect URI: {w}")
            }
            AuthorizeError::Listener(e) => write!(f, "loopback listener: {e}"),
            AuthorizeError::Timeout(d) => {
                write!(f, "no redirect came back within {} s", d.as_secs())
            }
            AuthorizeError::Client(e) => {
                write!(f, "cannot build the HTTP client: {}", Sanitized::quoted(e))
            }
            AuthorizeError::NoRedirect {
                hop,
                origin,
                status,
                detail,
            } => {
                write!(
                    f,
                    "hop {hop} ({}) answered HTTP {status}, not a redirect",
                    Sanitized::quoted(origin)
                )?;
                match detail {
                    Some(d) => write!(f, ": {}", Sanitized::quoted(d)),
                    None => Ok(()),
                }
            }
            AuthorizeError::Http { hop, origin, cause } => write!(
                f,
                "hop {hop} ({}) could not be reached: {}",
                Sanitized::quoted(origin),
                Sanitized::quoted(cause)
            ),
            AuthorizeError::EndpointTimeout { hop, origin, after } => write!(
                f,
                "hop {hop} ({}) did not answer within {} ms",
                Sanitized::quoted(origin),
                after.as_millis()
            ),
            AuthorizeError::StateMismatch => f.write_str(
                "a redirect came back with a state that is not the request's (forged or stale, RFC 6749 §10.12)",
            ),
            AuthorizeError::MalformedRedirect(e) => {
                write!(f, "the redirect URL cannot be read: {}", Sanitized::quoted(e))
            }
            AuthorizeError::InsecureRedirect { hop, status, to } => write!(
                f,
                "hop {hop} answered HTTP {status} with a redirect to plain http on {}, refused: only loopback hosts may be reached without TLS",
                Sanitized::quoted(to)
            ),
            AuthorizeError::OffsiteRedirect { hop, status, to } => write!(
                f,
                "hop {hop} answered HTTP {status} with a redirect to {}, refused: it is neither the authorization server nor the redirect URI",
                Sanitized::quoted(to)
            ),
            AuthorizeError::TooManyRedirects {
                max,
                origin,
                status,
            } => write!(
                f,
                "the authorization server redirected more than {max} times without reaching the redirect URI (hop {} on {} answered HTTP {status} with yet another redirect)",
                max + 1,
                Sanitized::quoted(origin)
            ),
        }
    }
}

impl AuthorizeError {
    /// A stable snake_case code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            AuthorizeError::Unsupported => "unsupported",
            AuthorizeError::BadAuthorizationUrl(_) => "bad_authorization_url",
            AuthorizeError::UnsupportedRedirectUri(_) => "unsupported_redirect_uri",
            AuthorizeError::Listener(_) => "listener",
            AuthorizeError::Timeout(_) => "timeout",
            AuthorizeError::Client(_) => "client",
            AuthorizeError::NoRedirect { .. } => "no_redirect",
            AuthorizeError::Http { .. } => "http",
            AuthorizeError::EndpointTimeout { .. } => "endpoint_timeout",
            AuthorizeError::StateMismatch => "state_mismatch",
            AuthorizeError::MalformedRedirect(_) => "malformed_redirect",
            AuthorizeError::InsecureRedirect { .. } => "insecure_redirect",
            AuthorizeError::OffsiteRedirect { .. } => "offsite_redirect",
            AuthorizeError::TooManyRedirects { .. } => "too_many_redirects",
        }
    }
}

/// The cause of a `reqwest` failure, from the whole chain (reqwest's own message,
/// "error sending request", hides it), without the URL.
pub(crate) fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut next = std::error::Error::source(&e);
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Whether the redirect `callback` answers the authorization request
/// `authorization_url`: its `state` is the one core put in the request.
///
/// Both URLs are read with core's [`oauth::parse_redirect`], and the comparison is
/// core's own ([`RedirectParams::verify`], constant time), so this is the session's
/// rule, applied before the redirect is handed over: a forged redirect must neither
/// end nor disturb the real flow. Only the `state` is judged here (the `iss` is passed
/// as expected, and `error`/`code` are the session's business).
pub(crate) fn check_state(authorization_url: &str, callback: &str) -> Result<(), AuthorizeError> {
    let got = oauth::parse_redirect(callback)
        .map_err(|e| AuthorizeError::MalformedRedirect(e.to_string()))?;
    let Some(expected) = oauth::parse_redirect(authorization_url)
        .ok()
        .and_then(|p: RedirectParams| p.state)
    else {
        // A request without a state (not one core builds): nothing to compare.
        return Ok(());
    };
    let iss = got.iss.clone().unwrap_or_default();
    match got.verify(&expected, &iss, false) {
        Err(oauth::AuthorizeError::StateMismatch | oauth::AuthorizeError::MissingState) => {
            Err(AuthorizeError::StateMismatch)
        }
        _ => Ok(()),
    }
}

impl std::error::Error for AuthorizeError {}

/// Opens an authorization URL and returns the full redirect URL the browser came back
/// with.
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// Authorize at `url`; return the redirect URL (with `code`/`error`, `state`, `iss`).
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError>;
}

/// The `redirect_uri` parameter of an authorization URL.
fn redirect_uri_of(authorization_url: &str) -> Result<Url, AuthorizeError> {
    let url = Url::parse(authorization_url)
        .map_err(|e| AuthorizeError::BadAuthorizationUrl(e.to_string()))?;
    let raw = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| AuthorizeError::BadAuthorizationUrl("no redirect_uri parameter".into()))?;
    Url::parse(&raw).map_err(|e| AuthorizeError::UnsupportedRedirectUri(format!("{raw}: {e}")))
}

/// Host and port to listen on for a loopback redirect URI (RFC 8252 §7.3).
fn loopback_target(redirect: &Url) -> Result<(String, u16), AuthorizeError> {
    if redirect.scheme() != "http" {
        return Err(AuthorizeError::UnsupportedRedirectUri(format!(
            "{redirect}: only http loopback redirect URIs can be captured"
        )));
    }
    let host = match redirect.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.to_string(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => ip.to_string(),
        Some(url::Host::Domain("localhost")) => "127.0.0.1".to_string(),
        _ => {
            return Err(AuthorizeError::UnsupportedRedirectUri(format!(
                "{redirect}: not a loopback host"
            )))
        }
    };
    let port = redirect.port_or_known_default().unwrap_or(80);
    Ok((host, port))
}

const CLOSE_PAGE: &str =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>bearerflow</title></head>\
<body style=\"font-family: sans-serif\"><h1>Authorization received</h1>\
<p>You can close this tab and return to the application.</p></body></html>";

/// Prints the authorization URL (and, if asked, opens the system browser), then waits
/// for the browser on a loopback listener at the redirect URI's port and path, answers it
/// with a small "you can close this tab" page, and returns the full redirect URL.
///
/// Either let it bind the port named by the authorization request's `redirect_uri` when
/// authorization starts ([`LoopbackBrowser::new`]), or bind a free port up front with
/// [`LoopbackBrowser::bind`] and configure the session with
/// [`redirect_uri`](LoopbackBrowser::redirect_uri).
pub struct LoopbackBrowser {
    open_browser: bool,
    timeout: Duration,
    prebound: tokio::sync::Mutex<Option<TcpListener>>,
    redirect_uri: Option<String>,
    on_rejected: Arc<dyn Fn(&AuthorizeError) + Send + Sync>,
}

impl fmt::Debug for LoopbackBrowser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackBrowser")
            .field("open_browser", &self.open_browser)
            .field("timeout", &self.timeout)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The default report of a rejected redirect: one sanitized line on standard error.
fn report_rejected(e: &AuthorizeError) {
    eprintln!("bearerflow: ignored a redirect: {e}; still waiting for the genuine one");
}

impl Default for LoopbackBrowser {
    fn default() -> LoopbackBrowser {
        LoopbackBrowser::new()
    }
}

impl LoopbackBrowser {
    /// Print only (no browser is started), bind when authorization starts, wait as
    /// long as the default policy's `authorization_deadline` (five minutes).
    pub fn new() -> LoopbackBrowser {
        LoopbackBrowser {
            open_browser: false,
            timeout: Duration::from_millis(Policy::default().authorization_deadline.0),
            prebound: tokio::sync::Mutex::new(None),
            redirect_uri: None,
            on_rejected: Arc::new(report_rejected),
        }
    }

    /// Called, at once, for each redirect the listener turns away because its `state`
    /// is not the request's ([`AuthorizeError::StateMismatch`]) or its query cannot be
    /// read ([`AuthorizeError::MalformedRedirect`]); the listener goes on waiting.
    /// The default prints one line on standard error.
    pub fn on_rejected(
        mut self,
        report: impl Fn(&AuthorizeError) + Send + Sync + 'static,
    ) -> LoopbackBrowser {
        self.on_rejected = Arc::new(report);
        self
    }

    /// Bind 127.0.0.1 on a free port now; the redirect URI is
    /// `http://127.0.0.1:PORT{path}` (see [`redirect_uri`](LoopbackBrowser::redirect_uri)).
    pub async fn bind(path: &str) -> std::io::Result<LoopbackBrowser> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(LoopbackBrowser {
            redirect_uri: Some(format!("http://127.0.0.1:{port}{path}")),
            prebound: tokio::sync::Mutex::new(Some(listener)),
            ..LoopbackBrowser::new()
        })
    }

    /// The redirect URI of a listener bound with [`LoopbackBrowser::bind`].
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// Also try to open the URL in the system browser (`xdg-open`, `open`, `start`).
    pub fn open_browser(mut self, open: bool) -> LoopbackBrowser {
        self.open_browser = open;
        self
    }

    /// How long to wait for the browser to come back.
    pub fn timeout(mut self, timeout: Duration) -> LoopbackBrowser {
        self.timeout = timeout;
        self
    }

    fn launch(url: &str) {
        let mut cmd = if cfg!(target_os = "macos") {
            std::process::Command::new("open")
        } else if cfg!(windows) {
            let mut c = std::process::Command::new("cmd");
            c.args(["/C", "start", ""]);
            c
        } else {
            std::process::Command::new("xdg-open")
        };
        cmd.arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if cmd.spawn().is_err() {
            eprintln!("(could not start a browser; open the URL yourself)");
        }
    }

    /// Serve the listener until a redirect to the redirect URI's path carries the
    /// request's `state`. Connections are served concurrently (up to
    /// [`LISTENER_CONNECTIONS`]), so a silent one cannot hold the genuine redirect out.
    async fn capture(
        &self,
        listener: &TcpListener,
        redirect: &Url,
        authorization_url: &str,
    ) -> Result<String, AuthorizeError> {
        let want_path: Arc<str> = redirect.path().into();
        let origin: Arc<str> = redirect.origin().ascii_serialization().into();
        let authorization_url: Arc<str> = authorization_url.into();
        let mut serving = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept(), if serving.len() < LISTENER_CONNECTIONS => {
                    let (stream, _) =
                        accepted.map_err(|e| AuthorizeError::Listener(e.to_string()))?;
                    serving.spawn(serve_callback(
                        stream,
                        Arc::clone(&want_path),
                        Arc::clone(&origin),
                        Arc::clone(&authorization_url),
                    ));
                }
                Some(done) = serving.join_next() => match done {
                    Ok(Callback::Accepted(url)) => return Ok(url),
                    Ok(Callback::Rejected(e)) => (self.on_rejected)(&e),
                    Ok(Callback::Ignored) | Err(_) => {}
                },
            }
        }
    }
}

/// What one connection to the loopback listener came to.
enum Callback {
    /// The redirect for this request (full URL).
    Accepted(String),
    /// A redirect to the right path that is not this request's.
    Rejected(AuthorizeError),
    /// Anything else (another path, not HTTP, silence).
    Ignored,
}

const REJECTED_PAGE: &str =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>bearerflow</title></head>\
<body style=\"font-family: sans-serif\"><h1>This redirect was not accepted</h1>\
<p>It does not answer the authorization request in progress (its state does not match). \
The application is still waiting for the genuine one.</p></body></html>";

async fn respond(stream: &mut TcpStream, status: &str, page: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serve one connection to the loopback listener.
async fn serve_callback(
    mut stream: TcpStream,
    want_path: Arc<str>,
    origin: Arc<str>,
    authorization_url: Arc<str>,
) -> Callback {
    let head = match tokio::time::timeout(HEAD_READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Some(h)) => h,
        _ => return Callback::Ignored,
    };
    let target = request_target(&head);
    let path = target.as_deref().map(|t| t.split('?').next().unwrap_or(""));
    if path != Some(&*want_path) {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return Callback::Ignored;
    }
    let url = format!("{origin}{}", target.unwrap_or_default());
    match check_state(&authorization_url, &url) {
        Ok(()) => {
            respond(&mut stream, "200 OK", CLOSE_PAGE).await;
            Callback::Accepted(url)
        }
        Err(e) => {
            respond(&mut stream, "400 Bad Request", REJECTED_PAGE).await;
            Callback::Rejected(e)
        }
    }
}

/// Read an HTTP request head (up to [`MAX_HEAD`] bytes).
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(buf);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

/// The request target of `GET <target> HTTP/1.x` (origin form only).
fn request_target(head: &[u8]) -> Option<String> {
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(head.get(..line_end)?).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if method != "GET" || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    Some(target.to_string())
}

#[async_trait]
impl Authorizer for LoopbackBrowser {
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError> {
        let redirect = redirect_uri_of(url)?;
        let (host, port) = loopback_target(&redirect)?;
        let mut slot = self.prebound.lock().await;
        let listener = match slot.take() {
            Some(l) if l.local_addr().is_ok_and(|a| a.port() == port) => l,
            other => {
                *slot = other;
                TcpListener::bind((host.as_str(), port))
                    .await
                    .map_err(|e| AuthorizeError::Listener(format!("{host}:{port}: {e}")))?
            }
        };
        eprintln!("Open this URL in your browser to authorize:\n\n  {url}\n");
        if self.open_browser {
            LoopbackBrowser::launch(url);
        }
        let result = tokio::time::timeout(self.timeout, self.capture(&listener, &redirect, url))
            .await
            .unwrap_or(Err(AuthorizeError::Timeout(self.timeout)));
        if slot.is_none() && self.redirect_uri.is_some() {
            // Keep a pre-bound port for a later reauthorization.
            *slot = Some(listener);
        }
        result
    }
}

/// GETs the authorization URL without following redirects and returns the `Location`
/// of the `3xx` that points at the redirect URI, following at most
/// [`max_redirects`](HeadlessFollow::max_redirects) redirects on the authorization
/// server before it. For tests and unattended machines against an authorization server
/// that approves without a user (the testbed does; so does an OpenID Provider whose
/// login and consent routes approve at once, as `cargo xtask interop` sets one up).
///
/// Every hop is held to the rules the first request passed: `https`, or `http` to a
/// loopback host ([`oauth::check_endpoint`]), and the authorization endpoint's origin;
/// each request has the policy's `fetch_deadline`. The redirect to the redirect URI
/// must carry the request's `state` ([`AuthorizeError::StateMismatch`] at once
/// otherwise). Each failure is its own [`AuthorizeError`], naming the hop (1 is the
/// authorization URL), that hop's origin and the status that stopped it.
///
/// # Cookies
///
/// A real provider ties the steps of one authorization together with cookies: its
/// login and consent pages are separate interactions, each found again through a
/// cookie set on the redirect that led there (`oidc-provider` answers a hop without it
/// with `invalid_request: interaction session id cookie not found`). So each
/// authorization has a cookie jar of its own (RFC 6265 rules: domain, path, expiry),
/// filled from every hop's `Set-Cookie` and read for the next hop's `Cookie`. It
/// starts empty and is dropped when the authorization ends: nothing carries over to
/// the next authorization, and the jar can only ever send cookies to the one origin
/// the hops are held to, the authorization server's. Login pages on another origin
/// (a federated identity provider) are out of reach by design, since following them
/// unattended would take the follower to hosts the session never checked.
#[derive(Debug, Clone)]
pub struct HeadlessFollow {
    http: reqwest::Client,
    deadline: Duration,
    max_redirects: usize,
}

impl HeadlessFollow {
    /// A follower with its own HTTP client (no redirects; the default policy's
    /// `fetch_deadline` per request).
    pub fn new() -> Result<HeadlessFollow, AuthorizeError> {
        HeadlessFollow::with_policy(&Policy::default())
    }

    /// A follower whose requests have `policy.fetch_deadline`.
    pub fn with_policy(policy: &Policy) -> Result<HeadlessFollow, AuthorizeError> {
        crate::install_crypto_provider();
        let deadline = Duration::from_millis(policy.fetch_deadline.0);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(deadline)
            .build()
            .map_err(|e| AuthorizeError::Client(error_chain(e)))?;
        Ok(HeadlessFollow {
            http,
            deadline,
            max_redirects: MAX_AUTHORIZATION_REDIRECTS,
        })
    }

    /// Follow at most `max` redirects on the authorization server after the
    /// authorization URL (default [`MAX_AUTHORIZATION_REDIRECTS`]); the redirect to the
    /// redirect URI is not counted. More gives [`AuthorizeError::TooManyRedirects`].
    pub fn max_redirects(mut self, max: usize) -> HeadlessFollow {
        self.max_redirects = max;
        self
    }

    /// GET `url` with the jar's cookies for it, and keep the cookies it sets.
    async fn hop(
        &self,
        number: usize,
        url: &Url,
        jar: &mut cookie_store::CookieStore,
    ) -> Result<reqwest::Response, AuthorizeError> {
        let origin = || url.origin().ascii_serialization();
        let mut request = self.http.get(url.clone());
        let cookies: Vec<String> = jar
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if !cookies.is_empty() {
            // RFC 6265 §5.4: one Cookie header, pairs joined by "; ".
            if let Ok(mut value) = reqwest::header::HeaderValue::from_str(&cookies.join("; ")) {
                value.set_sensitive(true);
                request = request.header(reqwest::header::COOKIE, value);
            }
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                AuthorizeError::EndpointTimeout {
                    hop: number,
                    origin: origin(),
                    after: self.deadline,
                }
            } else {
                AuthorizeError::Http {
                    hop: number,
                    origin: origin(),
                    cause: error_chain(e),
                }
            }
        })?;
        for set_cookie in response.headers().get_all(reqwest::header::SET_COOKIE) {
            // A cookie that cannot be read or that RFC 6265 §5.3 refuses for this URL
            // (another domain, a bad path) is dropped, as a browser drops it.
            if let Ok(text) = set_cookie.to_str() {
                let _ = jar.parse(text, url);
            }
        }
        Ok(response)
    }
}

/// What an answer that is not a redirect says, in a few words: an RFC 6749 §5.2 JSON
/// error (`error: error_description`), or the start of a text or HTML page's text.
async fn answer_detail(response: reqwest::Response) -> Option<String> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    let mut response = response;
    while body.len() < MAX_DETAIL_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            // What came so far is still worth showing.
            Err(_) => break,
        }
    }
    body.truncate(MAX_DETAIL_BODY);
    detail_of(&content_type, &body)
}

/// [`answer_detail`] on a body already read.
fn detail_of(content_type: &str, body: &[u8]) -> Option<String> {
    if content_type.contains("json") {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error")?.as_str()?;
        return Some(
            match value.get("error_description").and_then(|d| d.as_str()) {
                Some(description) => format!("{error}: {description}"),
                None => error.to_string(),
            },
        );
    }
    let text = String::from_utf8_lossy(body);
    let text = if content_type.contains("html") {
        html_text(&text)
    } else if content_type.starts_with("text/") || content_type.is_empty() {
        text.into_owned()
    } else {
        return None;
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for word in words {
        if out.len() + word.len() + 1 > MAX_DETAIL {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

/// The visible text of the start of an HTML page: markup, `<head>`, `<script>` and
/// `<style>` left out (enough to show an error page's message, not an HTML parser).
fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        let tag = &rest[open + 1..];
        let name: String = tag
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(name.as_str(), "head" | "script" | "style") {
            // Lowercasing ASCII keeps byte offsets, so `end` indexes `tag` too.
            let close = format!("</{name}");
            rest = match tag.to_ascii_lowercase().find(&close) {
                Some(end) => &tag[end + close.len()..],
                None => "",
            };
        } else {
            rest = tag;
        }
        rest = match rest.find('>') {
            Some(end) => &rest[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Whether `url` is the redirect URI (scheme, host, port and path; the query is the
/// answer).
fn is_redirect_target(url: &Url, redirect: &Url) -> bool {
    url.scheme() == redirect.scheme()
        && url.host_str() == redirect.host_str()
        && url.port_or_known_default() == redirect.port_or_known_default()
        && url.path() == redirect.path()
}

#[async_trait]
impl Authorizer for HeadlessFollow {
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError> {
        let redirect = redirect_uri_of(url)?;
        let mut current =
            Url::parse(url).map_err(|e| AuthorizeError::BadAuthorizationUrl(e.to_string()))?;
        oauth::check_endpoint(current.as_str())
            .map_err(|e| AuthorizeError::BadAuthorizationUrl(e.to_string()))?;
        let server = current.origin();
        // This authorization's cookies, and nobody else's.
        let mut jar = cookie_store::CookieStore::new();
        let mut hop = 0;
        loop {
            hop += 1;
            let response = self.hop(hop, &current, &mut jar).await?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                return Err(AuthorizeError::NoRedirect {
                    hop,
                    origin: current.origin().ascii_serialization(),
                    status: status.as_u16(),
                    detail: answer_detail(response).await,
                });
            };
            // A redirect's body is not read: only the status and `Location` matter.
            drop(response);
            let status = status.as_u16();
            let next = current.join(&location).map_err(|e| {
                AuthorizeError::MalformedRedirect(format!(
                    "hop {hop} ({}) answered HTTP {status} with an unusable Location: {e}",
                    current.origin().ascii_serialization()
                ))
            })?;
            if is_redirect_target(&next, &redirect) {
                check_state(url, next.as_str())?;
                return Ok(next.to_string());
            }
            let to = next.origin().ascii_serialization();
            if let Err(e) = oauth::check_endpoint(next.as_str()) {
                return Err(match e {
                    oauth::DiscoveryError::Insecure { .. } => {
                        AuthorizeError::InsecureRedirect { hop, status, to }
                    }
                    other => AuthorizeError::MalformedRedirect(format!(
                        "hop {hop} answered HTTP {status} with a redirect to {to}: {other}"
                    )),
                });
            }
            if next.origin() != server {
                return Err(AuthorizeError::OffsiteRedirect { hop, status, to });
            }
            if hop > self.max_redirects {
                return Err(AuthorizeError::TooManyRedirects {
                    max: self.max_redirects,
                    origin: current.origin().ascii_serialization(),
                    status,
                });
            }
            current = next;
        }
    }
}

/// For hosts that cannot authorize: always fails. Configure the session without a
/// `redirect_uri` as well, so it fails waiting requests with `ReauthorizationRequired`
/// instead of waiting for a redirect that never comes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuthorize;

#[async_trait]
impl Authorizer for NoAuthorize {
    async fn authorize(&self, _url: &str) -> Result<String, AuthorizeError> {
        Err(AuthorizeError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets() {
        assert_eq!(
            request_target(b"GET /callback?code=1&state=2 HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(),
            Some("/callback?code=1&state=2")
        );
        assert_eq!(request_target(b"POST /callback HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_target(b"GET http://x/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_target(b"GET\r\n\r\n"), None);
        assert_eq!(request_target(&[0xff, b'\r']), None);
    }

    #[test]
    fn redirect_uri_must_be_loopback_http() {
        let auth = |r: &str| {
            format!(
                "https://as.example.com/authorize?client_id=c&redirect_uri={}",
                url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
            )
        };
        let r = redirect_uri_of(&auth("http://127.0.0.1:8976/callback")).unwrap();
        assert_eq!(loopback_target(&r).unwrap(), ("127.0.0.1".into(), 8976));
        let r = redirect_uri_of(&auth("http://localhost:1/cb")).unwrap();
        assert_eq!(loopback_target(&r).unwrap().1, 1);
        let r = redirect_uri_of(&auth("https://app.example.com/cb")).unwrap();
        assert!(loopback_target(&r).is_err());
        let r = redirect_uri_of(&auth("http://10.0.0.1/cb")).unwrap();
        assert!(loopback_target(&r).is_err());
        assert!(matches!(
            redirect_uri_of("https://as.example.com/authorize?client_id=c"),
            Err(AuthorizeError::BadAuthorizationUrl(_))
        ));
        assert!(redirect_uri_of("not a url").is_err());
    }

    #[tokio::test]
    async fn loopback_captures_the_redirect_and_answers_the_browser() {
        let rejected = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&rejected);
        let browser = LoopbackBrowser::bind("/callback")
            .await
            .unwrap()
            .on_rejected(move |e| seen.lock().unwrap().push(e.clone()));
        let redirect = browser.redirect_uri().unwrap().to_string();
        let auth = format!(
            "https://as.example.com/authorize?state=good-state&redirect_uri={}",
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        );
        let task = tokio::spawn(async move { browser.authorize(&auth).await });
        crate::install_crypto_provider();
        let http = reqwest::Client::new();
        // Wrong path first: 404, and the listener keeps waiting.
        let base = redirect.trim_end_matches("/callback").to_string();
        let r = http
            .get(format!("{base}/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        // A forged redirect (any local process can send one): refused at once, and
        // the listener keeps waiting; so does one without a state, or unreadable.
        for forged in [
            "code=evil&state=bad",
            "code=evil",
            "state=good-state&state=x",
        ] {
            let r = http
                .get(format!("{redirect}?{forged}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{forged}");
            assert!(r.text().await.unwrap().contains("not accepted"));
        }
        let r = http
            .get(format!("{redirect}?code=abc&state=good-state"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("close this tab"));
        let got = task.await.unwrap().unwrap();
        assert_eq!(got, format!("{redirect}?code=abc&state=good-state"));
        let rejected = rejected.lock().unwrap().clone();
        assert_eq!(rejected.len(), 3, "{rejected:?}");
        assert_eq!(rejected[0], AuthorizeError::StateMismatch);
        assert_eq!(rejected[1], AuthorizeError::StateMismatch);
        assert!(matches!(rejected[2], AuthorizeError::MalformedRedirect(_)));
    }

    #[test]
    fn state_is_checked_by_core() {
        let auth = "https://as/authorize?client_id=c&state=s%201&redirect_uri=x";
        assert_eq!(
            check_state(auth, "http://127.0.0.1/cb?code=a&state=s+1"),
            Ok(())
        );
        // An error with the right state is the session's to judge.
        assert_eq!(
            check_state(
                auth,
                "http://127.0.0.1/cb?error=access_denied&state=s%201&iss=z"
            ),
            Ok(())
        );
        assert_eq!(
            check_state(auth, "http://127.0.0.1/cb?code=a&state=s2"),
            Err(AuthorizeError::StateMismatch)
        );
        assert_eq!(
            check_state(auth, "http://127.0.0.1/cb?code=a"),
            Err(AuthorizeError::StateMismatch)
        );
        assert!(matches!(
            check_state(auth, "http://127.0.0.1/cb?code=%zz"),
            Err(AuthorizeError::MalformedRedirect(_))
        ));
    }

    #[test]
    fn what_an_answer_that_is_not_a_redirect_says() {
        // oidc-provider's error, as JSON and as its default HTML page.
        assert_eq!(
            detail_of(
                "application/json; charset=utf-8",
                br#"{"error":"invalid_request","error_description":"interaction session id cookie not found"}"#
            )
            .as_deref(),
            Some("invalid_request: interaction session id cookie not found")
        );
        assert_eq!(
            detail_of("application/json", br#"{"error":"server_error"}"#).as_deref(),
            Some("server_error")
        );
        assert_eq!(detail_of("application/json", b"{\"ok\":true}"), None);
        assert_eq!(detail_of("application/json", b"not json"), None);
        let page =
            b"<!DOCTYPE html><html><HEAD><title>oops</title><style>h1{color:red}</style></head>\
<body><script>var x = '<b>';</script><header>Example</header><h1>invalid_request</h1>\
<p>interaction  session id\ncookie not found</p></body></html>";
        assert_eq!(
            detail_of("text/html; charset=utf-8", page).as_deref(),
            Some("Example invalid_request interaction session id cookie not found")
        );
        assert_eq!(
            detail_of("text/plain", b"  access_denied:\tno  ").as_deref(),
            Some("access_denied: no")
        );
        assert_eq!(detail_of("text/plain", b"   "), None);
        assert_eq!(detail_of("image/png", b"\x89PNG"), None);
        // Long text is cut at a word, and marked.
        let long = "word ".repeat(200);
        let cut = detail_of("text/plain", long.as_bytes()).unwrap();
        assert!(cut.len() <= MAX_DETAIL + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.ends_with("word…"), "{cut}");
        // Markup that never closes ends the text; nothing panics.
        assert_eq!(html_text("a <b"), "a  ");
        assert_eq!(html_text("a <script>never closed").trim(), "a");
        assert_eq!(
            html_text("é<p>ü</p>")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["é", "ü"]
        );
    }

    #[tokio::test]
    async fn no_authorize_fails() {
        assert_eq!(
            NoAuthorize.authorize("https://x/").await,
            Err(AuthorizeError::Unsupported)
        );
    }
}
