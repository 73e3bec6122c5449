//! `cargo run -p bearerflow-server --example rmcp_server`: an rmcp MCP server guarded by
//! bearerflow-server, with a loopback authorization server (the testbed) issuing its
//! tokens and answering introspection. Connect with any MCP client that does OAuth, e.g.
//! `cargo run -p bearerflow-cli -- connect <the printed URL>`; press Enter to expire the
//! tool's upstream token and watch the next call get a 401 that the client recovers from.

mod app;

use bearerflow_server::{IntrospectionVerifier, ProtectedResource};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let resource_url = format!("http://{}/mcp", listener.local_addr()?);
    let auth = bearerflow_testbed::Testbed::start(bearerflow_testbed::Config {
        extra_resources: vec![resource_url.clone()],
        access_ttl: Duration::from_secs(300),
        ..Default::default()
    })
    .await?;
    let resource = ProtectedResource::new(resource_url.clone())?
        .authorization_server(auth.issuer())
        .scopes_supported(["mcp:tools"])
        .resource_name("bearerflow rmcp example");
    // With the rustls feature of bearerflow-async in the same build, reqwest needs a
    // crypto provider installed before any client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let verifier =
        IntrospectionVerifier::new(auth.introspection_endpoint(), reqwest::Client::new());
    let upstream = Arc::new(app::UpstreamApi::default());
    let refusals = Arc::new(AtomicU64::new(0));
    let app = app::router(
        resource,
        verifier,
        Arc::clone(&upstream),
        false,
        Arc::clone(&refusals),
    );
    println!("MCP server:           {resource_url}");
    println!("authorization server: {}", auth.issuer());
    println!("press Enter to expire the upstream token, Ctrl-C to stop");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::task::spawn_blocking(move || {
            let mut l = String::new();
            std::io::stdin().read_line(&mut l).map(|n| (n, l))
        })
        .await??;
        if read.0 == 0 {
            return Ok(());
        }
        upstream.expire_all();
        println!(
            "upstream tokens expired ({} upstream calls so far, {} refused; {} requests refused by the layer)",
            upstream.calls.load(Ordering::SeqCst),
            upstream.unauthorized.load(Ordering::SeqCst),
            refusals.load(Ordering::SeqCst)
        );
    }
}
