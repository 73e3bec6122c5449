//! Helpers shared by the behaviour tests: an HTTP client that does not follow
//! redirects, PKCE, the authorization code flow step by step, and MCP requests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bearerflow::challenge::{parse, BearerChallenge, Mode};
use bearerflow_testbed::{Config, Testbed};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";

pub fn http() -> Client {
    // Err: a provider is already installed, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a plain HTTP client builds")
}

pub async fn start(config: Config) -> Testbed {
    Testbed::start(config).await.expect("testbed starts")
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("randomness");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub async fn post_form(http: &Client, url: &str, pairs: &[(&str, &str)]) -> Response {
    http.post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("request reaches the testbed")
}

pub async fn token(tb: &Testbed, http: &Client, pairs: &[(&str, &str)]) -> Response {
    post_form(http, &tb.token_endpoint(), pairs).await
}

/// Status and JSON body of a token endpoint answer.
pub async fn json_of(resp: Response) -> (StatusCode, HeaderMap, Value) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.expect("JSON body");
    (status, headers, body)
}

/// POST /register with this metadata; the client id from the 201.
pub async fn register(tb: &Testbed, http: &Client, metadata: Value) -> Value {
    let resp = http
        .post(tb.registration_endpoint())
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "registration accepted");
    resp.json().await.unwrap()
}

pub async fn register_public(tb: &Testbed, http: &Client) -> String {
    let reg = register(
        tb,
        http,
        json!({
            "client_name": "behaviour test",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    reg["client_id"].as_str().unwrap().to_string()
}

/// The redirect `/authorize` answered with, as a parsed URL (asserts a 302).
pub async fn authorize_raw(tb: &Testbed, http: &Client, pairs: &[(&str, &str)]) -> Url {
    let url = format!("{}?{}", tb.authorization_endpoint(), form(pairs));
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "authorize redirects");
    let location = resp.headers()[LOCATION].to_str().unwrap();
    Url::parse(location).unwrap()
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Run `/authorize` for a public client and return the code, checking `state` and
/// `iss` on the way back (RFC 9207).
pub async fn authorize(
    tb: &Testbed,
    http: &Client,
    client_id: &str,
    pkce: &Pkce,
    scope: Option<&str>,
) -> String {
    let mcp = tb.mcp_url();
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "st-123"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", mcp.as_str()),
    ];
    if let Some(s) = scope {
        pairs.push(("scope", s));
    }
    let back = authorize_raw(tb, http, &pairs).await;
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&back, "iss"), Some(tb.issuer()));
    assert_eq!(query_param(&back, "error"), None, "{back}");
    query_param(&back, "code").expect("a code")
}

pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub body: Value,
}

pub fn tokens_of(body: Value) -> Tokens {
    Tokens {
        access: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        refresh: body["refresh_token"].as_str().map(str::to_string),
        body,
    }
}

/// register → authorize → token, the whole flow over HTTP.
pub async fn full_flow(tb: &Testbed, http: &Client, scope: Option<&str>) -> (String, Tokens) {
    let client_id = register_public(tb, http).await;
    let p = pkce();
    let code = authorize(tb, http, &client_id, &p, scope).await;
    let mcp = tb.mcp_url();
    let (status, _, body) = json_of(
        token(
            tb,
            http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &client_id),
                ("code_verifier", &p.verifier),
                ("resource", &mcp),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (client_id, tokens_of(body))
}

pub async fn refresh(
    tb: &Testbed,
    http: &Client,
    client_id: &str,
    refresh_token: &str,
) -> Response {
    token(
        tb,
        http,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

/// POST a JSON-RPC message to /mcp.
pub async fn mcp_post(
    tb: &Testbed,
    http: &Client,
    token: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> Response {
    let mut req = http
        .post(tb.mcp_url())
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    req.send().await.unwrap()
}

pub fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "behaviour-test", "version": "0"},
        },
    })
}

/// initialize + notifications/initialized; the session id.
pub async fn initialize(tb: &Testbed, http: &Client, token: &str) -> String {
    let resp = mcp_post(tb, http, Some(token), None, initialize_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    let resp = mcp_post(
        tb,
        http,
        Some(token),
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    session
}

pub fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

/// The Bearer challenge of a 401/403, parsed strictly by bearerflow (so the rendering
/// is grammatical, not just accepted by a lenient reader).
pub fn bearer_challenge(resp: &Response) -> BearerChallenge {
    let lines: Vec<&str> = resp
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("ASCII challenge"))
        .collect();
    assert_eq!(lines.len(), 1, "one WWW-Authenticate line");
    let mut challenges = parse(lines[0], Mode::Strict);
    let first = challenges
        .next()
        .expect("a challenge")
        .expect("the challenge parses strictly");
    assert!(first.is_scheme("bearer"), "{}", lines[0]);
    assert!(challenges.next().is_none(), "only one challenge");
    BearerChallenge::from_challenge(&first).expect("a valid Bearer challenge")
}
