//! DPoP (RFC 9449) and private_key_jwt (RFC 7523 §2.2), driven through `Session`:
//! every proof is decoded and its ES256 signature checked against the `jwk` it carries.
//!
//! - token requests carry a proof (`htm` POST, `htu` the token endpoint, no `ath`);
//! - a `use_dpop_nonce` refusal is retried once with the nonce, a second one ends the
//!   flow (no loop);
//! - resource requests carry `Authorization: DPoP` and a proof with `ath`, `htu`
//!   without query and fragment, a new `jti` every time;
//! - the resource's `use_dpop_nonce` 401 is retried once with its nonce;
//! - without DPoP configured, nothing changes (no proof, DPoP tokens refused);
//! - a client assertion is signed by the configured key with `aud` the issuer.

use bearerflow::dpop::access_token_hash;
use bearerflow::http::Request;
use bearerflow::jose::{sec1_from_jwk_coordinates, verify_es256, SigningKey};
use bearerflow::oauth::ClientRegistration;
use bearerflow::secret::Secret;
use bearerflow::session::{
    Action, Config, FetchId, Grant, OAuthConfig, RequestId, Session, Verdict,
};
use bearerflow::time::Timestamp;
use bearerflow::token::Generation;
use bearerflow_tests::scenarios::SEED;
use bearerflow_tests::sim::{ISSUER, RESOURCE, TOKEN_ENDPOINT};
use serde_json::Value;
use std::collections::HashSet;

fn config(dpop: bool, key: Option<&str>) -> Config {
    Config::oauth(
        RESOURCE,
        OAuthConfig {
            client: Some(ClientRegistration::public("client-1")),
            token_endpoint: Some(TOKEN_ENDPOINT.into()),
            issuer: Some(ISSUER.into()),
            grant: Grant::ClientCredentials,
            dpop,
            client_assertion_key: key.map(Secret::new),
            ..OAuthConfig::default()
        },
    )
}

/// Verify a proof with the key in its own header; return (header, claims).
fn open_proof(proof: &str) -> (Value, Value) {
    let header_b64 = proof.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&base64_url_decode(header_b64)).unwrap();
    let jwk = &header["jwk"];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert!(jwk.get("d").is_none(), "the private part never leaves");
    let sec1 =
        sec1_from_jwk_coordinates(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap();
    let (h, c) = verify_es256(proof, &sec1).expect("the proof's signature verifies");
    (
        serde_json::from_slice(&h).unwrap(),
        serde_json::from_slice(&c).unwrap(),
    )
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn header<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.expose())
}

fn next_fetch(s: &mut Session) -> (FetchId, Request) {
    while let Some(a) = s.poll_action() {
        if let Action::Fetch { id, request, .. } = a {
            return (id, *request);
        }
    }
    panic!("expected a Fetch");
}

fn next_send(s: &mut Session, want: RequestId) -> Generation {
    while let Some(a) = s.poll_action() {
        match a {
            Action::Send { id, generation } if id == want => return generation,
            Action::Fail { .. } => panic!("unexpected {a:?}"),
            _ => {}
        }
    }
    panic!("expected a Send");
}

const NOW: Timestamp = Timestamp(1_700_000_000_000);

#[test]
fn token_request_carries_a_verified_proof_and_nonce_is_retried_once() {
    let mut s = Session::new(config(true, None), SEED, NOW);
    let id = s.begin_request(NOW);
    let (f1, r1) = next_fetch(&mut s);
    let (h, c) = open_proof(header(&r1, "DPoP").expect("a DPoP header"));
    assert_eq!(h["typ"], "dpop+jwt");
    assert_eq!(h["alg"], "ES256");
    assert_eq!(c["htm"], "POST");
    assert_eq!(c["htu"], TOKEN_ENDPOINT);
    assert_eq!(c["iat"], NOW.0 / 1000);
    assert!(c.get("ath").is_none(), "no ath at the token endpoint");
    assert!(c.get("nonce").is_none());
    let jti1 = c["jti"].as_str().unwrap().to_owned();

    // RFC 9449 §8: the server wants a nonce.
    let refusal = br#"{"error":"use_dpop_nonce","error_description":"nonce required"}"#;
    s.handle_http_response(f1, 400, &[("DPoP-Nonce", "n-1")], refusal, NOW);
    let (f2, r2) = next_fetch(&mut s);
    assert_ne!(f1, f2);
    let (_, c2) = open_proof(header(&r2, "DPoP").unwrap());
    assert_eq!(c2["nonce"], "n-1");
    assert_ne!(c2["jti"].as_str().unwrap(), jti1, "a retry is a new proof");
    assert_eq!(r2.body, r1.body, "the same grant, sent again");

    // A stale nonce again: not retried a second time; the request fails.
    s.handle_http_response(f2, 400, &[("DPoP-Nonce", "n-2")], refusal, NOW);
    let mut failed = false;
    while let Some(a) = s.poll_action() {
        assert!(!matches!(a, Action::Fetch { .. }), "no loop: {a:?}");
        failed |= matches!(a, Action::Fail { id: i, .. } if i == id);
    }
    assert!(failed, "the waiting request fails");
}

#[test]
fn resource_requests_carry_dpop_token_and_proof_with_ath() {
    let mut s = Session::new(config(true, None), SEED, NOW);
    let id = s.begin_request(NOW);
    let (f, _) = next_fetch(&mut s);
    let body = br#"{"access_token":"tok-1","token_type":"DPoP","expires_in":3600}"#;
    s.handle_http_response(f, 200, &[("DPoP-Nonce", "as-nonce")], body, NOW);
    let g = next_send(&mut s, id);
    assert_eq!(s.tokens().unwrap().access_token(), "tok-1");

    let url = format!("{RESOURCE}?session=1#frag");
    let mut jtis = HashSet::new();
    for _ in 0..3 {
        let headers = s.headers_for(g, "POST", &url, NOW).unwrap().into_owned();
        let auth = headers
            .iter()
            .find(|h| h.name.as_str() == "Authorization")
            .unwrap();
        assert_eq!(auth.value.expose(), "DPoP tok-1");
        let proof = headers.iter().find(|h| h.name.as_str() == "DPoP").unwrap();
        let (_, c) = open_proof(proof.value.expose());
        assert_eq!(c["htu"], RESOURCE, "query and fragment are not part of htu");
        assert_eq!(c["htm"], "POST");
        assert_eq!(c["ath"], access_token_hash("tok-1"));
        assert!(
            c.get("nonce").is_none(),
            "the AS's nonce is not the resource's"
        );
        assert!(
            jtis.insert(c["jti"].as_str().unwrap().to_owned()),
            "jti repeated"
        );
    }

    // The resource wants a nonce: one retry with it.
    let challenge = r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#;
    let v = s.handle_resource_response_dpop(id, 401, &[challenge], Some("rs-1"), NOW);
    assert_eq!(v, Verdict::Retry);
    let g2 = next_send(&mut s, id);
    assert_eq!(g2, g);
    let headers = s.headers_for(g2, "POST", &url, NOW).unwrap().into_owned();
    let (_, c) = open_proof(headers[1].value.expose());
    assert_eq!(c["nonce"], "rs-1");

    // Asked again: no second nonce retry for this request; the usual 401 path runs
    // (here: a new client-credentials grant), never another nonce loop.
    let v = s.handle_resource_response_dpop(id, 401, &[challenge], Some("rs-2"), NOW);
    assert_eq!(v, Verdict::Retry);
    assert!(matches!(s.poll_action(), Some(Action::Fetch { .. })));
    assert_eq!(s.stats().unauthorized_seen, 1);
}

#[test]
fn bearer_sessions_are_unchanged() {
    let mut s = Session::new(config(false, None), SEED, NOW);
    let id = s.begin_request(NOW);
    let (f, r) = next_fetch(&mut s);
    assert!(header(&r, "DPoP").is_none());
    let body = br#"{"access_token":"tok-1","token_type":"DPoP"}"#;
    s.handle_http_response(f, 200, &[("DPoP-Nonce", "x")], body, NOW);
    let mut failed = false;
    while let Some(a) = s.poll_action() {
        failed |= matches!(a, Action::Fail { id: i, .. } if i == id);
    }
    assert!(failed, "a DPoP token is refused without DPoP configured");

    let mut s = Session::new(config(false, None), SEED, NOW);
    let id = s.begin_request(NOW);
    let (f, _) = next_fetch(&mut s);
    s.handle_http_response(
        f,
        200,
        &[],
        br#"{"access_token":"tok-1","token_type":"Bearer"}"#,
        NOW,
    );
    let g = next_send(&mut s, id);
    let h = s.headers_for(g, "GET", RESOURCE, NOW).unwrap();
    assert!(
        matches!(h, std::borrow::Cow::Borrowed(_)),
        "Bearer headers are borrowed"
    );
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].value.expose(), "Bearer tok-1");
}

#[test]
fn a_bearer_answer_to_a_dpop_client_is_sent_as_bearer() {
    let mut s = Session::new(config(true, None), SEED, NOW);
    let id = s.begin_request(NOW);
    let (f, _) = next_fetch(&mut s);
    s.handle_http_response(
        f,
        200,
        &[],
        br#"{"access_token":"tok-1","token_type":"bearer"}"#,
        NOW,
    );
    let g = next_send(&mut s, id);
    let h = s.headers_for(g, "GET", RESOURCE, NOW).unwrap();
    assert_eq!(h.len(), 1, "no proof for a bearer token");
    assert_eq!(h[0].value.expose(), "Bearer tok-1");
}

#[test]
fn private_key_jwt_assertion_is_signed_for_the_issuer() {
    let mut n = 0u8;
    let key = SigningKey::from_seed(|| {
        n += 1;
        [n; 32]
    })
    .unwrap();
    let jwk = key.to_private_jwk();
    let mut s = Session::new(config(false, Some(&jwk)), SEED, NOW);
    let _ = s.begin_request(NOW);
    let (_, r) = next_fetch(&mut s);
    assert!(header(&r, "Authorization").is_none());
    let body = String::from_utf8(r.body.clone()).unwrap();
    let pairs: Vec<(String, String)> = bearerflow::oauth::form::parse_pairs(&body).unwrap();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("grant_type"), Some("client_credentials"));
    assert_eq!(get("client_id"), Some("client-1"));
    assert_eq!(
        get("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = get("client_assertion").unwrap();
    let (h, c) = verify_es256(assertion, &key.public_sec1()).expect("signed by the key");
    let h: Value = serde_json::from_slice(&h).unwrap();
    let c: Value = serde_json::from_slice(&c).unwrap();
    assert_eq!(h["alg"], "ES256");
    assert_eq!(c["iss"], "client-1");
    assert_eq!(c["sub"], "client-1");
    assert_eq!(c["aud"], ISSUER);
    assert_eq!(c["iat"], NOW.0 / 1000);
    assert!(c["exp"].as_u64().unwrap() > NOW.0 / 1000);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert!(!format!("{s:?}").contains(jwk.as_str()));
}

/// Workload identity (RFC 7523 §2.1): the host's JWT is the grant; with DPoP on, the
/// grant request carries a proof too.
#[test]
fn jwt_bearer_grant_presents_the_host_assertion() {
    let mut c = config(true, None);
    if let bearerflow::session::Credential::OAuth(o) = &mut c.credential {
        o.grant = Grant::JwtBearer;
        o.assertion = Some(Secret::new(
            "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2ln",
        ));
    }
    let mut s = Session::new(c, SEED, NOW);
    let id = s.begin_request(NOW);
    let (f, r) = next_fetch(&mut s);
    let body = String::from_utf8(r.body.clone()).unwrap();
    let pairs = bearerflow::oauth::form::parse_pairs(&body).unwrap();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        get("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(
        get("assertion"),
        Some("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2ln")
    );
    let (_, claims) = open_proof(header(&r, "DPoP").unwrap());
    assert_eq!(claims["htu"], TOKEN_ENDPOINT);
    s.handle_http_response(
        f,
        200,
        &[],
        br#"{"access_token":"wif-1","token_type":"DPoP"}"#,
        NOW,
    );
    let g = next_send(&mut s, id);
    assert_eq!(s.headers_for(g, "GET", RESOURCE, NOW).unwrap().len(), 2);
    assert!(
        !format!("{s:?}").contains("c2ln"),
        "the assertion stays out of Debug"
    );
}
