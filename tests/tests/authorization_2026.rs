//! The authorization rules of MCP 2026-07-28 (basic/authorization) and of real
//! authorization servers, each against a small world driven by hand so the test reads
//! every request the session makes:
//!
//! - "Client Registration" → "Application Type" (SEP-837): `application_type` in
//!   dynamic registration;
//! - "Canonical Server URI": the `resource` sent is the one the protected resource
//!   metadata published;
//! - "Authorization Server Binding" (SEP-2352): a 401 re-reads the metadata; on a new
//!   issuer the old registration and tokens are never presented, a new registration is
//!   made, a pre-registered client is an error, a metadata-document client id travels;
//! - "Step-Up Authorization Flow" (SEP-2350): previously requested ∪ challenged;
//! - "Refresh Tokens" (SEP-2207) and OpenID Connect Core §11: `offline_access` (not for
//!   client credentials) with `prompt=consent`;
//! - re-authorization keeps the scope whatever path leads to it, and tokens without a
//!   refresh token are renewed ahead of expiry.

use bearerflow::oauth::{form, ClientRegistration};
use bearerflow::session::{
    Action, Config, FetchPurpose, Grant, OAuthConfig, RequestError, Session, SessionError,
};
use bearerflow::time::Timestamp;
use bearerflow_tests::scenarios::SEED;
use serde_json::{json, Value};
use std::collections::HashMap;

const RESOURCE: &str = "https://mcp.example.com/mcp";
const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const AS1: &str = "https://as1.example.com";
const AS2: &str = "https://as2.example.com";
const REDIRECT: &str = "http://127.0.0.1:8976/callback";

/// One recorded request the session made.
#[derive(Clone, Debug)]
struct Seen {
    purpose: FetchPurpose,
    url: String,
    body: String,
}

impl Seen {
    fn form(&self) -> HashMap<String, String> {
        form::parse_pairs(&self.body)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
}

/// A resource and its authorization servers, answering what the session asks.
struct World {
    /// Which issuer the protected resource metadata names.
    issuer: &'static str,
    /// The `resource` the metadata publishes.
    prm_resource: &'static str,
    /// `scopes_supported` of the metadata.
    prm_scopes: Vec<&'static str>,
    /// Whether the AS lists `offline_access` in `scopes_supported`.
    offline: bool,
    /// Whether token responses carry a refresh token.
    refresh_tokens: bool,
    /// Whether token responses echo the granted `scope`.
    echo_scope: bool,
    /// Access token lifetime, seconds.
    ttl: u64,
    seen: Vec<Seen>,
    authorize_urls: Vec<String>,
    counter: u32,
}

impl World {
    fn new() -> World {
        World {
            issuer: AS1,
            prm_resource: RESOURCE,
            prm_scopes: vec!["mcp:tools"],
            offline: true,
            refresh_tokens: true,
            echo_scope: true,
            ttl: 3600,
            seen: Vec::new(),
            authorize_urls: Vec::new(),
            counter: 0,
        }
    }

    fn metadata(&self, issuer: &str) -> Value {
        let mut scopes = vec!["mcp:tools", "mcp:admin"];
        if self.offline {
            scopes.push("offline_access");
        }
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "registration_endpoint": format!("{issuer}/register"),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": scopes,
            "authorization_response_iss_parameter_supported": true,
        })
    }

    fn answer(&mut self, seen: &Seen) -> (u16, String) {
        self.counter += 1;
        let n = self.counter;
        if seen.url == PRM {
            return (
                200,
                json!({"resource": self.prm_resource, "authorization_servers": [self.issuer],
                       "scopes_supported": self.prm_scopes})
                .to_string(),
            );
        }
        for issuer in [AS1, AS2] {
            if seen.url == format!("{issuer}/.well-known/oauth-authorization-server") {
                return (200, self.metadata(issuer).to_string());
            }
            if seen.url == format!("{issuer}/register") {
                let id = format!("{}-client-{n}", &issuer[8..11]);
                return (
                    201,
                    json!({"client_id": id, "token_endpoint_auth_method": "none",
                           "redirect_uris": [REDIRECT]})
                    .to_string(),
                );
            }
            if seen.url == format!("{issuer}/token") {
                let mut v = json!({"access_token": format!("at-{n}"), "token_type": "Bearer",
                                   "expires_in": self.ttl});
                if self.refresh_tokens
                    && seen.form().get("grant_type").map(String::as_str)
                        != Some("client_credentials")
                {
                    v["refresh_token"] = json!(format!("rt-{n}"));
                }
                if self.echo_scope {
                    if let Some(s) = seen.form().get("scope") {
                        v["scope"] = json!(s);
                    }
                }
                return (200, v.to_string());
            }
        }
        (404, String::new())
    }

    /// Drain and answer everything the session asks until it is quiet; Sends are
    /// returned (answered by the test).
    fn drive(&mut self, s: &mut Session, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        for _ in 0..100 {
            let Some(a) = s.poll_action() else {
                return out;
            };
            match &a {
                Action::Fetch {
                    id,
                    purpose,
                    request,
                } => {
                    let seen = Seen {
                        purpose: *purpose,
                        url: request.url.clone(),
                        body: String::from_utf8_lossy(&request.body).into_owned(),
                    };
                    let (status, body) = self.answer(&seen);
                    self.seen.push(seen);
                    s.handle_http_response(*id, status, &[], body.as_bytes(), Timestamp(now));
                }
                Action::Authorize { url } => {
                    self.authorize_urls.push(url.clone());
                    let q: HashMap<String, String> =
                        form::parse_pairs(url.split_once('?').unwrap().1)
                            .unwrap()
                            .into_iter()
                            .collect();
                    let issuer = if url.starts_with(AS2) { AS2 } else { AS1 };
                    let back = format!(
                        "{REDIRECT}?code=c{}&state={}&iss={}",
                        self.counter,
                        q["state"],
                        form::encode(issuer)
                    );
                    s.handle_redirect(&back, Timestamp(now))
                        .expect("redirect accepted");
                }
                _ => out.push(a),
            }
        }
        panic!("no quiescence");
    }

    fn requests_to(&self, host: &str) -> Vec<&Seen> {
        self.seen
            .iter()
            .filter(|s| s.url.starts_with(host))
            .collect()
    }
}

fn config(client: Option<ClientRegistration>) -> Config {
    Config::oauth(
        RESOURCE,
        OAuthConfig {
            redirect_uri: Some(REDIRECT.into()),
            client,
            ..OAuthConfig::default()
        },
    )
}

fn challenge(scope: Option<&str>) -> String {
    match scope {
        Some(s) => {
            format!(r#"Bearer error="invalid_token", scope="{s}", resource_metadata="{PRM}""#)
        }
        None => format!(r#"Bearer error="invalid_token", resource_metadata="{PRM}""#),
    }
}

/// A session authorized from nothing (probe → 401 → discovery → registration → PKCE).
fn authorized(w: &mut World, config: Config) -> Session {
    let mut s = Session::new(config, SEED, Timestamp(0));
    let probe = s.begin_request(Timestamp(0));
    let _ = w.drive(&mut s, 0);
    let _ = s.handle_resource_response(probe, 401, &[&challenge(None)], Timestamp(1));
    let sends = w.drive(&mut s, 1);
    assert!(
        sends
            .iter()
            .any(|a| matches!(a, Action::Send { id, .. } if *id == probe)),
        "authorized: {sends:?}"
    );
    let _ = s.handle_resource_response(probe, 200, &[], Timestamp(2));
    s
}

fn authorize_query(url: &str) -> HashMap<String, String> {
    form::parse_pairs(url.split_once('?').unwrap().1)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn registration_sends_application_type_native_for_a_loopback_redirect() {
    let mut w = World::new();
    let _ = authorized(&mut w, config(None));
    let reg = w
        .seen
        .iter()
        .find(|s| s.purpose == FetchPurpose::Registration)
        .expect("a registration");
    let body: Value = serde_json::from_str(&reg.body).unwrap();
    assert_eq!(body["application_type"], "native");
}

#[test]
fn the_resource_parameter_is_the_one_the_metadata_published() {
    // MCP authorization "Canonical Server URI"; conformance auth/metadata-var2: the
    // metadata names the server's root, the client talks to /mcp.
    let mut w = World::new();
    w.prm_resource = "https://mcp.example.com";
    let mut s = authorized(&mut w, config(None));
    let q = authorize_query(&w.authorize_urls[0]);
    assert_eq!(q["resource"], "https://mcp.example.com");
    let exchange = w
        .seen
        .iter()
        .find(|s| s.purpose == FetchPurpose::CodeExchange)
        .unwrap();
    assert_eq!(exchange.form()["resource"], "https://mcp.example.com");
    // And after a restart, the refresh sends it too.
    let snap = s.snapshot();
    assert_eq!(
        snap.server.as_ref().and_then(|sv| sv.resource.as_deref()),
        Some("https://mcp.example.com")
    );
    let mut s2 = Session::restore(config(None), snap, SEED, Timestamp(4_000_000));
    s2.begin_request(Timestamp(4_000_000));
    let _ = w.drive(&mut s2, 4_000_000);
    let refresh = w
        .seen
        .iter()
        .rev()
        .find(|s| s.purpose == FetchPurpose::Refresh)
        .unwrap();
    assert_eq!(refresh.form()["resource"], "https://mcp.example.com");
    // The same session refreshes with it as well.
    s.begin_request(Timestamp(4_000_000));
    let _ = w.drive(&mut s, 4_000_000);
    let refresh = w
        .seen
        .iter()
        .rev()
        .find(|s| s.purpose == FetchPurpose::Refresh)
        .unwrap();
    assert_eq!(refresh.form()["resource"], "https://mcp.example.com");
}

#[test]
fn a_resource_that_moves_to_another_authorization_server_gets_a_new_registration() {
    // SEP-2352, conformance auth/authorization-server-migration.
    let mut w = World::new();
    let mut s = authorized(&mut w, config(None));
    let as1_client = s.snapshot().client.unwrap().client_id;
    assert_eq!(s.snapshot().client_issuer.as_deref(), Some(AS1));
    // The resource now names AS2 and refuses AS1's token.
    w.issuer = AS2;
    let call = s.begin_request(Timestamp(10));
    let _ = w.drive(&mut s, 10);
    let _ = s.handle_resource_response(call, 401, &[&challenge(None)], Timestamp(11));
    let sends = w.drive(&mut s, 11);
    assert!(sends
        .iter()
        .any(|a| matches!(a, Action::Send { id, .. } if *id == call)));
    // A registration at AS2, and AS1's client id never seen there.
    let at_as2 = w.requests_to(AS2);
    assert!(at_as2
        .iter()
        .any(|r| r.purpose == FetchPurpose::Registration));
    for r in &at_as2 {
        assert!(!r.body.contains(&as1_client), "AS1's client at AS2: {r:?}");
    }
    let as2_authorize = w
        .authorize_urls
        .iter()
        .find(|u| u.starts_with(AS2))
        .unwrap();
    assert_ne!(authorize_query(as2_authorize)["client_id"], as1_client);
    // Nothing of AS1's was refreshed at AS1 after the move.
    assert_eq!(
        w.requests_to(AS1)
            .iter()
            .filter(|r| r.purpose == FetchPurpose::Refresh)
            .count(),
        0
    );
    let snap = s.snapshot();
    assert_eq!(snap.client_issuer.as_deref(), Some(AS2));
    assert_eq!(snap.tokens.unwrap().issuer.as_deref(), Some(AS2));
}

#[test]
fn a_401_with_the_same_authorization_server_rereads_the_metadata_then_refreshes() {
    let mut w = World::new();
    let mut s = authorized(&mut w, config(None));
    let before = w.seen.len();
    let call = s.begin_request(Timestamp(10));
    let _ = w.drive(&mut s, 10);
    let _ = s.handle_resource_response(call, 401, &[&challenge(None)], Timestamp(11));
    let _ = w.drive(&mut s, 11);
    let purposes: Vec<FetchPurpose> = w.seen[before..].iter().map(|s| s.purpose).collect();
    assert_eq!(
        purposes,
        [FetchPurpose::ResourceMetadata, FetchPurpose::Refresh]
    );
    assert_eq!(w.authorize_urls.len(), 1, "no new authorization");
}

#[test]
fn a_pre_registered_client_is_not_taken_to_another_authorization_server() {
    let mut w = World::new();
    let mut cfg = config(Some(ClientRegistration::public("pre-registered")));
    if let bearerflow::session::Credential::OAuth(o) = &mut cfg.credential {
        o.issuer = Some(AS1.into());
    }
    let mut s = authorized(&mut w, cfg);
    w.issuer = AS2;
    let call = s.begin_request(Timestamp(10));
    let _ = w.drive(&mut s, 10);
    let _ = s.handle_resource_response(call, 401, &[&challenge(None)], Timestamp(11));
    let acts = w.drive(&mut s, 11);
    assert!(
        acts.iter().any(|a| matches!(a, Action::Fail { id, error: RequestError::AuthorizationFailed, cause: Some(c) }
            if *id == call && **c == SessionError::ClientIssuerMismatch)),
        "{acts:?}"
    );
    assert!(w
        .requests_to(AS2)
        .iter()
        .all(|r| !r.body.contains("pre-registered")));
    assert!(!w.authorize_urls.iter().any(|u| u.starts_with(AS2)));
}

#[test]
fn a_metadata_document_client_id_travels_to_the_new_authorization_server() {
    let mut w = World::new();
    let cimd = "https://client.example.com/client.json";
    let mut cfg = config(None);
    if let bearerflow::session::Credential::OAuth(o) = &mut cfg.credential {
        o.client_id_metadata_url = Some(cimd.into());
    }
    let mut s = Session::new(cfg, SEED, Timestamp(0));
    // Drive by hand: both servers advertise Client ID Metadata Document support.
    struct Cimd<'a>(&'a mut World);
    impl Cimd<'_> {
        fn run(&mut self, s: &mut Session, now: u64) -> Vec<Action> {
            let mut out = Vec::new();
            while let Some(a) = s.poll_action() {
                match &a {
                    Action::Fetch {
                        id,
                        purpose,
                        request,
                    } => {
                        let seen = Seen {
                            purpose: *purpose,
                            url: request.url.clone(),
                            body: String::from_utf8_lossy(&request.body).into_owned(),
                        };
                        let (status, mut body) = self.0.answer(&seen);
                        if seen.purpose == FetchPurpose::ServerMetadata {
                            let mut v: Value = serde_json::from_str(&body).unwrap();
                            v["client_id_metadata_document_supported"] = json!(true);
                            body = v.to_string();
                        }
                        self.0.seen.push(seen);
                        s.handle_http_response(*id, status, &[], body.as_bytes(), Timestamp(now));
                    }
                    Action::Authorize { url } => {
                        self.0.authorize_urls.push(url.clone());
                        let q = authorize_query(url);
                        let issuer = if url.starts_with(AS2) { AS2 } else { AS1 };
                        let back = format!(
                            "{REDIRECT}?code=c&state={}&iss={}",
                            q["state"],
                            form::encode(issuer)
                        );
                        s.handle_redirect(&back, Timestamp(now)).unwrap();
                    }
                    _ => out.push(a),
                }
            }
            out
        }
    }
    let probe = s.begin_request(Timestamp(0));
    let _ = Cimd(&mut w).run(&mut s, 0);
    let _ = s.handle_resource_response(probe, 401, &[&challenge(None)], Timestamp(1));
    let _ = Cimd(&mut w).run(&mut s, 1);
    w.issuer = AS2;
    let call = s.begin_request(Timestamp(10));
    let _ = Cimd(&mut w).run(&mut s, 10);
    let _ = s.handle_resource_response(call, 401, &[&challenge(None)], Timestamp(11));
    let sends = Cimd(&mut w).run(&mut s, 11);
    assert!(sends
        .iter()
        .any(|a| matches!(a, Action::Send { id, .. } if *id == call)));
    let as2 = w
        .authorize_urls
        .iter()
        .find(|u| u.starts_with(AS2))
        .unwrap();
    assert_eq!(authorize_query(as2)["client_id"], cimd);
    assert!(w
        .seen
        .iter()
        .all(|r| r.purpose != FetchPurpose::Registration));
}

#[test]
fn step_up_asks_for_what_was_requested_before_and_what_is_challenged() {
    // SEP-2350: a server that does not echo `scope` in token responses (RFC 6749 §5.1
    // allows it): the earlier scope is kept from what was requested.
    let mut w = World::new();
    w.echo_scope = false;
    w.prm_scopes = vec!["mcp:basic"];
    let mut s = authorized(&mut w, config(None));
    let call = s.begin_request(Timestamp(10));
    let _ = w.drive(&mut s, 10);
    let line = r#"Bearer error="insufficient_scope", scope="mcp:write""#;
    let _ = s.handle_resource_response(call, 403, &[line], Timestamp(11));
    let _ = w.drive(&mut s, 11);
    let q = authorize_query(w.authorize_urls.last().unwrap());
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    for want in ["mcp:basic", "mcp:write", "offline_access"] {
        assert!(scopes.contains(&want), "{scopes:?}");
    }
}

#[test]
fn offline_access_comes_with_prompt_consent_and_not_for_client_credentials() {
    let mut w = World::new();
    let _ = authorized(&mut w, config(None));
    let q = authorize_query(&w.authorize_urls[0]);
    assert!(q["scope"].split(' ').any(|s| s == "offline_access"));
    assert_eq!(q.get("prompt").map(String::as_str), Some("consent"));
    // Without offline_access listed: neither.
    let mut w = World::new();
    w.offline = false;
    let _ = authorized(&mut w, config(None));
    let q = authorize_query(&w.authorize_urls[0]);
    assert!(!q["scope"].split(' ').any(|s| s == "offline_access"));
    assert!(!q.contains_key("prompt"));
    // Client credentials never ask for offline_access.
    let mut w = World::new();
    let cc = Config::oauth(
        RESOURCE,
        OAuthConfig {
            client: Some(ClientRegistration::public("machine")),
            grant: Grant::ClientCredentials,
            ..OAuthConfig::default()
        },
    );
    let mut s = Session::new(cc, SEED, Timestamp(0));
    let probe = s.begin_request(Timestamp(0));
    let _ = w.drive(&mut s, 0);
    let _ = s.handle_resource_response(probe, 401, &[&challenge(None)], Timestamp(1));
    let _ = w.drive(&mut s, 1);
    let grant = w
        .seen
        .iter()
        .find(|r| r.purpose == FetchPurpose::ClientCredentials)
        .expect("a client-credentials grant");
    let scope = grant.form().get("scope").cloned().unwrap_or_default();
    assert!(!scope.split(' ').any(|s| s == "offline_access"), "{scope}");
}

#[test]
fn re_authorization_after_a_refused_refresh_keeps_the_scope() {
    // Issue "Real authorization servers" (1): after invalid_grant the session knows the
    // server, skips discovery, and must still ask for what it asked before.
    let mut w = World::new();
    w.prm_scopes = vec!["mcp:tools"];
    let mut s = authorized(&mut w, config(None));
    let first = authorize_query(&w.authorize_urls[0])["scope"].clone();
    // The grant is revoked: the next refresh is refused.
    let call = s.begin_request(Timestamp(4_000_000));
    let acts: Vec<Action> = std::iter::from_fn(|| s.poll_action()).collect();
    let Some(Action::Fetch { id, .. }) = acts.first() else {
        panic!("expected a refresh: {acts:?}")
    };
    s.handle_http_response(
        *id,
        400,
        &[],
        br#"{"error":"invalid_grant"}"#,
        Timestamp(4_000_010),
    );
    let sends = w.drive(&mut s, 4_000_010);
    assert!(sends
        .iter()
        .any(|a| matches!(a, Action::Send { id, .. } if *id == call)));
    let again = authorize_query(w.authorize_urls.last().unwrap())["scope"].clone();
    assert_eq!(w.authorize_urls.len(), 2);
    for s in first.split(' ') {
        assert!(again.split(' ').any(|x| x == s), "{first} ⊄ {again}");
    }
}

#[test]
fn tokens_without_a_refresh_token_are_reported_and_renewed_ahead_of_expiry() {
    // Issue "Real authorization servers" (2): an OpenID Provider that issues no refresh
    // token; the session counts it and authorizes again in the refresh window, while
    // requests still go out with the current token.
    let mut w = World::new();
    w.refresh_tokens = false;
    w.ttl = 60;
    let mut s = authorized(&mut w, config(None));
    assert_eq!(s.stats().grants_without_refresh_token, 1);
    assert_eq!(w.authorize_urls.len(), 1);
    // In the refresh window (60 s token: window 6 s, skew 5 s ⇒ from about 49 s on).
    let call = s.begin_request(Timestamp(52_000));
    let acts = w.drive(&mut s, 52_000);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Send { id, .. } if *id == call)),
        "the call goes out at once with the current token: {acts:?}"
    );
    assert_eq!(
        w.authorize_urls.len(),
        2,
        "a new authorization ahead of expiry"
    );
}
