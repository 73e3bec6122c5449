//! Choosing the wire and connecting: `server/discover` on the modern wire, the
//! `initialize` handshake on the legacy one, and the fallback between them (MCP
//! 2026-07-28 "Versioning and Compatibility", Backward Compatibility with
//! Initialization-Based Versions; Streamable HTTP "Backward Compatibility").

use super::wire::{self, ProtocolError, Wire, WireChoice, LEGACY_VERSIONS, MODERN_VERSION};
use super::{set, McpClient, McpError, PROTOCOL_VERSION};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

/// What [`McpClient::connect`] learned about the server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Connected {
    /// The wire in use from now on.
    pub wire: Wire,
    /// The protocol version in use.
    pub protocol_version: String,
    /// The server's `serverInfo` (`name`, `version`, …), when it sent one.
    pub server_info: Option<Value>,
    /// The whole `DiscoverResult` (modern) or `InitializeResult` (legacy).
    pub result: Value,
}

impl Connected {
    /// The server's name from `serverInfo`.
    pub fn server_name(&self) -> Option<&str> {
        self.server_info
            .as_ref()
            .and_then(|i| i.get("name"))
            .and_then(Value::as_str)
    }
}

impl McpClient {
    /// The legacy wire's headers: the session id and the negotiated version.
    pub(super) fn legacy_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                h.insert(name, v);
            }
        };
        put("mcp-session-id", self.session_id());
        put("mcp-protocol-version", self.protocol_version());
        h
    }

    /// Choose the wire (2026-07-28 "Versioning and Compatibility") and learn who the
    /// server is:
    ///
    /// - [`WireChoice::Modern`]: `server/discover`, retried once with a version from the
    ///   server's `supported` list if it refuses ours (`-32022`);
    /// - [`WireChoice::Legacy`]: the `initialize` handshake ([`McpClient::initialize`]);
    /// - [`WireChoice::Auto`]: `server/discover`; a legacy server (a `400`/`404`/`405`
    ///   without a recognized modern error, or a JSON-RPC error for a method every
    ///   modern server implements) gets `initialize` instead, as does a modern server
    ///   whose `supported` list names only legacy versions this client speaks. The
    ///   choice holds for this client's lifetime ("cache the result … per origin").
    pub async fn connect(&self) -> Result<Connected, McpError> {
        self.timed(self.connect_untimed()).await
    }

    async fn connect_untimed(&self) -> Result<Connected, McpError> {
        let _guard = self.connecting.lock().await;
        self.connect_locked().await
    }

    pub(super) async fn ensure_wire(&self) -> Result<Wire, McpError> {
        if let Some(w) = self.wire() {
            return Ok(w);
        }
        let _guard = self.connecting.lock().await;
        if let Some(w) = self.wire() {
            return Ok(w);
        }
        self.connect_locked().await.map(|c| c.wire)
    }

    pub(super) async fn connect_locked(&self) -> Result<Connected, McpError> {
        match self.choice {
            WireChoice::Legacy => self.handshake(None).await,
            WireChoice::Modern => self.discover().await,
            WireChoice::Auto => match self.discover().await {
                Ok(c) => Ok(c),
                Err(e) => match legacy_fallback(&e) {
                    Some(version) => self.handshake(version).await,
                    None => Err(e),
                },
            },
        }
    }

    /// `server/discover` on the modern wire.
    pub(super) async fn discover(&self) -> Result<Connected, McpError> {
        set(&self.protocol_version, None);
        set(&self.session_id, None);
        let result = self.send_modern("server/discover", &json!({})).await?;
        let version = self
            .protocol_version()
            .unwrap_or_else(|| MODERN_VERSION.to_string());
        set(&self.protocol_version, Some(version.clone()));
        set(&self.wire, Some(Wire::Modern));
        Ok(Connected {
            wire: Wire::Modern,
            protocol_version: version,
            server_info: wire::server_info(&result),
            result,
        })
    }

    /// `initialize` asking for `version` (default [`PROTOCOL_VERSION`]). The server's
    /// answer must be a legacy version this client speaks ("Version Negotiation").
    pub(super) async fn handshake(&self, version: Option<String>) -> Result<Connected, McpError> {
        set(&self.session_id, None);
        set(&self.protocol_version, None);
        set(&self.wire, Some(Wire::Legacy));
        let requested = version.unwrap_or_else(|| PROTOCOL_VERSION.to_string());
        let params = json!({
            "protocolVersion": requested,
            "capabilities": self.capabilities(),
            "clientInfo": self.client_info,
        });
        let outcome = self.exchange("initialize", params, HeaderMap::new()).await;
        let (result, headers) = match outcome {
            Ok(r) => r,
            Err(e) => {
                set(&self.wire, None);
                return Err(e);
            }
        };
        let sid = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        set(&self.session_id, sid);
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !LEGACY_VERSIONS.contains(&version.as_str()) {
            set(&self.wire, None);
            return Err(McpError::Protocol(ProtocolError::UnsupportedVersion {
                supported: vec![wire::server_text(&version)],
                requested: Some(requested),
            }));
        }
        set(&self.protocol_version, Some(version.clone()));
        self.notify_untimed("notifications/initialized", json!({}))
            .await?;
        Ok(Connected {
            wire: Wire::Legacy,
            protocol_version: version,
            server_info: wire::server_info(&result),
            result,
        })
    }
}

/// Whether a failed modern `server/discover` shows a legacy server, and if so with
/// which version to `initialize` (`None`: the default). 2026-07-28 Streamable HTTP
/// "Backward Compatibility": a `400` (or `404`/`405`, as for the HTTP+SSE probe)
/// without a recognized modern error means legacy; a modern error means a modern
/// server, unless its `supported` list offers only legacy versions this client speaks.
/// A JSON-RPC error in a successful response means the server does not implement
/// `server/discover`, which every modern server MUST ("Versioning", Protocol Version
/// Negotiation).
fn legacy_fallback(e: &McpError) -> Option<Option<String>> {
    match e {
        McpError::Status {
            status: 400 | 404 | 405,
            ..
        } => Some(None),
        McpError::Rpc { .. } => Some(None),
        McpError::Protocol(ProtocolError::UnsupportedVersion { supported, .. }) => {
            match wire::choose_version(supported) {
                Some(wire::VersionChoice::Legacy(v)) => Some(Some(v)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn which_failures_mean_a_legacy_server() {
        let status = |s| McpError::Status {
            status: s,
            body: String::new(),
        };
        assert_eq!(legacy_fallback(&status(400)), Some(None));
        assert_eq!(legacy_fallback(&status(404)), Some(None));
        assert_eq!(legacy_fallback(&status(405)), Some(None));
        assert_eq!(legacy_fallback(&status(500)), None);
        assert_eq!(legacy_fallback(&status(401)), None);
        let rpc = McpError::Rpc {
            code: -32601,
            message: "Method not found".into(),
        };
        assert_eq!(legacy_fallback(&rpc), Some(None));
        let versions = |v: &[&str]| {
            McpError::Protocol(ProtocolError::UnsupportedVersion {
                supported: v.iter().map(|s| s.to_string()).collect(),
                requested: None,
            })
        };
        assert_eq!(
            legacy_fallback(&versions(&["2025-06-18"])),
            Some(Some("2025-06-18".into()))
        );
        assert_eq!(legacy_fallback(&versions(&["2099-01-01"])), None);
        assert_eq!(
            legacy_fallback(&McpError::Protocol(ProtocolError::HeaderMismatch {
                message: String::new()
            })),
            None
        );
        assert_eq!(legacy_fallback(&McpError::Malformed("x".into())), None);
    }
}
