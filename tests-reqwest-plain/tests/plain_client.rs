//! A program that adds bearerflow-async and builds its own `reqwest::Client` the plain
//! way, with no setup, must not notice: Cargo unifies features across the program, and
//! bearerflow-async 0.1 turned on reqwest's `rustls-no-provider`, with which
//! `reqwest::Client::builder().build()` panics until a rustls provider is installed.
//!
//! One test function, so that nothing else in this process (a bearerflow client
//! built first, another test) can install a provider before the plain client is built.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback HTTP/1.1 server that answers every request on one connection with `200
/// hello`.
async fn hello_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind on loopback");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
                        if socket.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_with_bearerflow_async_builds_its_own_reqwest_client_without_setup() {
    // The program's own clients, built the plain way before anything else runs.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a plain reqwest client builds with bearerflow-async in the program");
    let default = reqwest::Client::new();

    // They work.
    let addr = hello_server().await;
    for client in [&plain, &default] {
        let response = client
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect("the plain client sends");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("a body"), "hello");
    }

    // And so does a bearerflow client beside them, still without any setup.
    let config = bearerflow_async::bearerflow::session::Config::oauth(
        format!("http://{addr}/mcp"),
        bearerflow_async::bearerflow::session::OAuthConfig::default(),
    );
    bearerflow_async::Client::builder(config)
        .authorizer(bearerflow_async::NoAuthorize)
        .build()
        .await
        .expect("a bearerflow client builds beside them");
    reqwest::Client::builder()
        .https_only(true)
        .build()
        .expect("a client for https only builds too");
}
