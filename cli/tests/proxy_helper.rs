//! `bearerflow proxy --headers-helper CMD`: the helper's headers on every request, the
//! helper re-run when the server refuses them (`401`) or when `--helper-ttl` passes,
//! and never an OAuth discovery request (the header-helper seed case: a client that
//! falls into discovery against a server that has none).
//!
//! The helper is a small Python program that gets a token from the testbed's token
//! endpoint with the client-credentials grant of a pre-registered confidential client
//! and prints `{"Authorization": "Bearer …"}`: a stand-in for a company's credential
//! command. The tokens live 5 seconds.

mod proxy_common;

use bearerflow_testbed::{AuthMethod, ClientSpec, GrantType, Wires};
use proxy_common::{temp_dir, testbed, Proxy};

const HELPER: &str = r#"
import json, os, urllib.parse, urllib.request
form = urllib.parse.urlencode({
    "grant_type": "client_credentials",
    "client_id": os.environ["HELPER_CLIENT_ID"],
    "client_secret": os.environ["HELPER_CLIENT_SECRET"],
    "resource": os.environ["HELPER_RESOURCE"],
}).encode()
with urllib.request.urlopen(os.environ["HELPER_TOKEN_URL"], data=form) as r:
    token = json.load(r)["access_token"]
print(json.dumps({"Authorization": "Bearer " + token}))
"#;

async fn across_three_lifetimes(ttl: Option<&str>) {
    let tb = testbed(Wires::Both).await;
    let client = tb
        .register_client_for_test(ClientSpec {
            redirect_uris: vec![],
            auth_method: AuthMethod::ClientSecretPost,
            grant_types: vec![GrantType::ClientCredentials],
        })
        .expect("a confidential client");
    let dir = temp_dir("proxy-helper");
    let script = dir.join("helper.py");
    std::fs::write(&script, HELPER).unwrap();
    let command = format!("python3 {}", script.display());
    let secret = client.client_secret.as_ref().unwrap().expose().to_string();
    let url = tb.mcp_url();
    let token_url = tb.token_endpoint();
    let mut args = vec![url.as_str(), "--headers-helper", command.as_str()];
    if let Some(ttl) = ttl {
        args.extend(["--helper-ttl", ttl]);
    }
    let mut p = Proxy::start_with_env(
        &args,
        &[
            ("HELPER_CLIENT_ID", client.client_id.as_str()),
            ("HELPER_CLIENT_SECRET", secret.as_str()),
            ("HELPER_RESOURCE", url.as_str()),
            ("HELPER_TOKEN_URL", token_url.as_str()),
        ],
    );
    p.initialize().await;
    // Sequential calls until the helper has produced four tokens (the first and one
    // for each of three expiries), every call answered.
    let mut calls = 0u64;
    while tb.counters().token_client_credentials < 4 {
        calls += 1;
        let text = format!("call-{calls}");
        let got = p.echo(calls, &text).await;
        assert_eq!(got.as_deref(), Ok(text.as_str()), "call {calls} failed");
        assert!(calls < 100_000, "the helper was never re-run");
    }
    let c = tb.counters();
    assert_eq!(
        c.as_metadata_fetches, 0,
        "no authorization server discovery"
    );
    assert_eq!(
        c.resource_metadata_fetches, 0,
        "no protected resource discovery"
    );
    assert_eq!(c.registrations, 0);
    assert_eq!(c.authorizations, 0);
    assert_eq!(c.token_authorization_code + c.token_refresh, 0);
    match ttl {
        // Without a TTL, each new token comes after the server refused the old one.
        None => assert!(c.unauthorized >= 3, "{c:?}"),
        // With a TTL under the token's lifetime, no request meets an expired token.
        Some(_) => assert_eq!(c.unauthorized, 0, "{c:?}"),
    }
    assert!(p.finish().await.success());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_is_rerun_on_401_across_three_lifetimes_without_discovery() {
    across_three_lifetimes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_is_rerun_on_its_ttl_across_three_lifetimes() {
    across_three_lifetimes(Some("3s")).await;
}
