//! Completing `Action::Authorize`: open the authorization URL (RFC 6749 §4.1.1) and
//! bring back the redirect (RFC 6749 §4.1.2), which the driver hands to
//! `Session::handle_redirect`. The session checks `state`, `iss` and the code; an
//! authorizer only transports.
//!
//! - [`LoopbackBrowser`]: prints the URL (and opens a browser if asked), then captures
//!   the redirect on a 127.0.0.1 listener (RFC 8252 §7.3, loopback redirection).
//! - [`HeadlessFollow`]: GETs the URL without following redirects and hands over the
//!   `Location` of the `3xx` (for tests and machines against an auto-approving server).
//! - [`NoAuthorize`]: for hosts that cannot authorize. Such hosts should also leave
//!   `OAuthConfig::redirect_uri` unset, so that the session itself knows it cannot
//!   authorize and fails waiting requests at once with `ReauthorizationRequired`.

use async_trait::async_trait;
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

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
    /// The authorization endpoint did not answer with a redirect.
    NoRedirect {
        /// The status it answered with.
        status: u16,
    },
    /// The authorization endpoint could not be reached.
    Http(String),
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
            AuthorizeError::NoRedirect { status } => write!(
                f,
                "the authorization endpoint answered HTTP {status}, not a redirect"
            ),
            AuthorizeError::Http(e) => write!(f, "authorization endpoint: {e}"),
        }
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
#[derive(Debug)]
pub struct LoopbackBrowser {
    open_browser: bool,
    timeout: Duration,
    prebound: tokio::sync::Mutex<Option<TcpListener>>,
    redirect_uri: Option<String>,
}

impl Default for LoopbackBrowser {
    fn default() -> LoopbackBrowser {
        LoopbackBrowser::new()
    }
}

impl LoopbackBrowser {
    /// Print only (no browser is started), bind when authorization starts, wait up to
    /// five minutes.
    pub fn new() -> LoopbackBrowser {
        LoopbackBrowser {
            open_browser: false,
            timeout: Duration::from_secs(300),
            prebound: tokio::sync::Mutex::new(None),
            redirect_uri: None,
        }
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

    async fn capture(listener: &TcpListener, redirect: &Url) -> Result<String, AuthorizeError> {
        let want_path = redirect.path().to_string();
        loop {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| AuthorizeError::Listener(e.to_string()))?;
            let head =
                match tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await {
                    Ok(Some(h)) => h,
                    _ => continue,
                };
            let target = request_target(&head);
            let path = target.as_deref().map(|t| t.split('?').next().unwrap_or(""));
            if path != Some(want_path.as_str()) {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{CLOSE_PAGE}",
                CLOSE_PAGE.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            let origin = redirect.origin().ascii_serialization();
            return Ok(format!("{origin}{}", target.unwrap_or_default()));
        }
    }
}

/// Read an HTTP request head (up to 16 KiB).
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
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
        if buf.len() > 16 * 1024 {
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
        let result = tokio::time::timeout(self.timeout, Self::capture(&listener, &redirect))
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
/// of the `3xx` that points at the redirect URI (following at most four intermediate
/// redirects on the authorization server). For tests and unattended machines against an
/// authorization server that approves without a user (the testbed does).
#[derive(Debug, Clone)]
pub struct HeadlessFollow {
    http: reqwest::Client,
}

impl HeadlessFollow {
    /// A follower with its own HTTP client (no redirects, 30-second timeout).
    pub fn new() -> Result<HeadlessFollow, AuthorizeError> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AuthorizeError::Http(e.to_string()))?;
        Ok(HeadlessFollow { http })
    }
}

#[async_trait]
impl Authorizer for HeadlessFollow {
    async fn authorize(&self, url: &str) -> Result<String, AuthorizeError> {
        let redirect = redirect_uri_of(url)?;
        let mut current =
            Url::parse(url).map_err(|e| AuthorizeError::BadAuthorizationUrl(e.to_string()))?;
        for _ in 0..5 {
            let resp = self
                .http
                .get(current.clone())
                .send()
                .await
                .map_err(|e| AuthorizeError::Http(e.without_url().to_string()))?;
            let status = resp.status();
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                return Err(AuthorizeError::NoRedirect {
                    status: status.as_u16(),
                });
            };
            let next = current
                .join(&location)
                .map_err(|e| AuthorizeError::Http(format!("bad Location: {e}")))?;
            let same_target = next.origin() == redirect.origin() && next.path() == redirect.path();
            if same_target || next.scheme() != "http" && next.scheme() != "https" {
                return Ok(next.to_string());
            }
            current = next;
        }
        Err(AuthorizeError::Http("too many redirects".into()))
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
        let browser = LoopbackBrowser::bind("/callback").await.unwrap();
        let redirect = browser.redirect_uri().unwrap().to_string();
        let auth = format!(
            "https://as.example.com/authorize?redirect_uri={}",
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
        let r = http
            .get(format!("{redirect}?code=abc&state=xyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("close this tab"));
        let got = task.await.unwrap().unwrap();
        assert_eq!(got, format!("{redirect}?code=abc&state=xyz"));
    }

    #[tokio::test]
    async fn no_authorize_fails() {
        assert_eq!(
            NoAuthorize.authorize("https://x/").await,
            Err(AuthorizeError::Unsupported)
        );
    }
}
