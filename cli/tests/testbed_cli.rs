//! `bearerflow testbed --ttl 2`: prints its URLs (last a JSON line) and serves until
//! killed; the MCP endpoint answers a tokenless request with a 401 challenge.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn testbed_prints_urls_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bearerflow"))
        .args(["testbed", "--ttl", "2", "--no-rotate"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().unwrap();
    let mut json = None;
    let mut text = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with('{') {
            json = Some(line);
            break;
        }
    }
    let info: serde_json::Value = serde_json::from_str(&json.expect("a JSON line")).unwrap();
    assert_eq!(info["access_ttl_ms"], 2000, "{text}");
    assert_eq!(info["rotate_refresh_tokens"], false, "{text}");
    let url = info["mcp_url"].as_str().unwrap();
    // A raw tokenless POST gets the 401 challenge.
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let _ = child.kill();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{response}"
    );
}
