//! A testbed on its own thread, for callers without a tokio runtime.

use std::io::{Read, Write};
use std::net::TcpStream;

use bearerflow_testbed::{Config, Testbed};

fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn background_testbed_serves_without_a_runtime_and_stops_on_drop() {
    let tb = Testbed::start_in_background(Config::default()).unwrap();
    let addr = tb.addr();
    assert!(addr.ip().is_loopback());
    let resp = raw_get(addr, "/.well-known/oauth-protected-resource/mcp");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(&tb.mcp_url()));
    let handle = tb.handle();
    assert_eq!(handle.counters().resource_metadata_fetches, 1);
    drop(tb);
    assert!(TcpStream::connect(addr).is_err(), "the listener is closed");
    // The handle outlives the server.
    assert_eq!(handle.counters().resource_metadata_fetches, 1);
}
