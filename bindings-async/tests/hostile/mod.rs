//! Small hostile servers for the tests of issue 20: an HTTP/1.1 server on 127.0.0.1
//! whose every answer a test scripts (stall, endless body, forged redirect, terminal
//! escapes, planted secrets), and a minimal OAuth authorization server + MCP resource
//! built from it. Each runs on its own thread and runtime, so sync tests (the CLI's,
//! which include this file by path) and async tests use it alike.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// How the server answers one request.
pub enum Reply {
    /// A complete response (`Content-Length` added).
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Read the request, then never answer (the connection stays open).
    Stall,
    /// Headers, then `chunk` again and again with chunked encoding, forever.
    Endless {
        headers: Vec<(String, String)>,
        chunk: Vec<u8>,
    },
    /// Headers (no length), then `bytes` one at a time, `every` apart, then silence.
    Trickle {
        headers: Vec<(String, String)>,
        bytes: Vec<u8>,
        every: Duration,
    },
    /// These exact bytes, then close.
    Raw(Vec<u8>),
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply::Full {
            status: 302,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

type Handler = dyn Fn(&Seen, &str) -> Reply + Send + Sync;

/// A running hostile server. Stops when dropped.
pub struct Hostile {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Hostile {
    /// Serve `handler(request, base_url)` on 127.0.0.1, one request per connection.
    pub fn start(handler: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static) -> Hostile {
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the hostile server");
            rt.block_on(async move {
                let listener = TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .expect("bind 127.0.0.1");
                let addr = listener.local_addr().expect("an address");
                let _ = addr_tx.send(addr);
                let base = format!("http://{addr}");
                let serve = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let handler = Arc::clone(&handler);
                        let log = Arc::clone(&log);
                        let base = base.clone();
                        tokio::spawn(async move {
                            let _ = serve(stream, &*handler, &log, &base).await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the hostile server starts");
        Hostile {
            addr,
            seen,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn head(status: u16, headers: &[(String, String)], extra: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Hostile\r\nConnection: close\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(extra);
    out.push_str("\r\n");
    out.into_bytes()
}

async fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<Seen>>,
    base: &str,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await else {
        return Ok(());
    };
    if let Ok(mut g) = log.lock() {
        g.push(request.clone());
    }
    match handler(&request, base) {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut out = head(
                status,
                &headers,
                &format!("Content-Length: {}\r\n", body.len()),
            );
            out.extend_from_slice(&body);
            stream.write_all(&out).await?;
            stream.shutdown().await?;
        }
        Reply::Stall => {
            // Keep the connection open until the client goes away.
            let mut sink = [0u8; 64];
            while stream.read(&mut sink).await? > 0 {}
        }
        Reply::Endless { headers, chunk } => {
            stream
                .write_all(&head(200, &headers, "Transfer-Encoding: chunked\r\n"))
                .await?;
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            loop {
                stream.write_all(&framed).await?;
            }
        }
        Reply::Trickle {
            headers,
            bytes,
            every,
        } => {
            stream.write_all(&head(200, &headers, "")).await?;
            for b in bytes {
                stream.write_all(&[b]).await?;
                tokio::time::sleep(every).await;
            }
            let mut sink = [0u8; 64];
            while stream.read(&mut sink).await? > 0 {}
        }
        Reply::Raw(bytes) => {
            stream.write_all(&bytes).await?;
            stream.shutdown().await?;
        }
    }
    Ok(())
}

/// Peak resident memory of this process so far (`VmHWM` in `/proc/self/status`), in
/// bytes; `None` where the platform does not say.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether `text` holds a character a terminal would act on (line feeds aside, which
/// the test outputs use between lines).
pub fn has_raw_control(text: &str) -> bool {
    text.chars()
        .any(|c| c != '\n' && bearerflow::text::is_unsafe_char(c))
}

/// How the authorization server's `/authorize` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorize {
    /// Redirect to the redirect URI with a code and the request's state.
    Approve,
    /// Redirect to the redirect URI with a code and another state.
    ForgedState,
}

/// The answers of a minimal OAuth 2.1 authorization server + MCP resource on one
/// origin: `/mcp` says 401 with `resource_metadata` until it gets a token, then asks
/// `mcp(request)`; discovery documents point at this origin; `/register` and `/token`
/// answer what the test says.
pub struct OAuthServer {
    pub register: Box<dyn Fn(&Seen) -> Reply + Send + Sync>,
    pub token: Box<dyn Fn(&Seen) -> Reply + Send + Sync>,
    pub authorize: Authorize,
    pub mcp: Box<dyn Fn(&Seen) -> Reply + Send + Sync>,
}

impl OAuthServer {
    /// A server that works: registration, approval, a token `at`, and an MCP server
    /// named `name` with one tool described by `description`.
    pub fn honest(at: &'static str) -> OAuthServer {
        OAuthServer {
            register: Box::new(|_| Reply::json(201, serde_json::json!({"client_id": "c-1"}))),
            token: Box::new(move |_| {
                Reply::json(
                    200,
                    serde_json::json!({"access_token": at, "token_type": "Bearer", "expires_in": 3600}),
                )
            }),
            authorize: Authorize::Approve,
            mcp: Box::new(|r| mcp_answer(r, "hostile-test", "a tool")),
        }
    }

    pub fn start(self) -> Hostile {
        Hostile::start(move |r, base| self.answer(r, base))
    }

    fn answer(&self, r: &Seen, base: &str) -> Reply {
        let path = r.path();
        if path == "/mcp" {
            if r.header("authorization").is_none() {
                return Reply::Full {
                    status: 401,
                    headers: vec![(
                        "WWW-Authenticate".into(),
                        format!(
                            "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
                        ),
                    )],
                    body: Vec::new(),
                };
            }
            return (self.mcp)(r);
        }
        if path.starts_with("/.well-known/oauth-protected-resource") {
            return Reply::json(
                200,
                serde_json::json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]}),
            );
        }
        if path.starts_with("/.well-known/oauth-authorization-server")
            || path.starts_with("/.well-known/openid-configuration")
        {
            return Reply::json(
                200,
                serde_json::json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "registration_endpoint": format!("{base}/register"),
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                }),
            );
        }
        match path {
            "/register" => (self.register)(r),
            "/token" => (self.token)(r),
            "/authorize" => {
                let redirect = r.query("redirect_uri").unwrap_or_default();
                let state = match self.authorize {
                    Authorize::Approve => r.query("state").unwrap_or_default(),
                    Authorize::ForgedState => "forged-by-someone-else".into(),
                };
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("code", "the-code")
                    .append_pair("state", &state)
                    .finish();
                Reply::redirect(&format!("{redirect}?{q}"))
            }
            _ => Reply::text(404, "text/plain", "not here"),
        }
    }
}

/// An MCP 2025-11-25 server's JSON answer to `r`: `initialize` (named `name`),
/// `tools/list` (one tool `t` with `description`), `server/discover` "method not found"
/// (so a dual-era client falls back to `initialize`), anything else an empty result;
/// notifications 202.
pub fn mcp_answer(r: &Seen, name: &str, description: &str) -> Reply {
    let m = r.json();
    let Some(id) = m.get("id").cloned() else {
        return Reply::Full {
            status: 202,
            headers: Vec::new(),
            body: Vec::new(),
        };
    };
    if m["method"] == "server/discover" {
        return Reply::json(
            200,
            serde_json::json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found"}}),
        );
    }
    let result = match m["method"].as_str() {
        Some("initialize") => serde_json::json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": name, "version": "1.0"},
        }),
        Some("tools/list") => serde_json::json!({
            "tools": [{"name": "t", "description": description, "inputSchema": {"type": "object"}}],
        }),
        _ => serde_json::json!({}),
    };
    Reply::json(
        200,
        serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}
