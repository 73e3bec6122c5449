//! Which MCP wire a request goes out on, and what that wire puts on it.
//!
//! MCP 2026-07-28 calls the two shapes *modern* and *legacy* ("Versioning and
//! Compatibility", Terminology):
//!
//! - **Modern** (2026-07-28): stateless. No `initialize`, no `Mcp-Session-Id`. Every
//!   request carries `io.modelcontextprotocol/protocolVersion` and
//!   `io.modelcontextprotocol/clientCapabilities` (and, SHOULD, `clientInfo`) in
//!   `params._meta` ("Base Protocol", `_meta`, per-request protocol fields), a matching
//!   `MCP-Protocol-Version` header, `Mcp-Method`, and for `tools/call`, `resources/read`
//!   and `prompts/get` an `Mcp-Name` header; tool parameters a tool's `inputSchema` marks
//!   with `x-mcp-header` are mirrored into `Mcp-Param-{Name}` headers (Streamable HTTP,
//!   "Request Metadata", SEP-2243).
//! - **Legacy** (2025-11-25 and earlier): the `initialize` handshake, the session id
//!   the server assigns, and the negotiated `MCP-Protocol-Version` on later requests
//!   (2025-11-25 "Lifecycle" and "Transports").
//!
//! Choosing between them follows 2026-07-28 "Versioning and Compatibility" (Protocol
//! Version Negotiation; Backward Compatibility with Initialization-Based Versions) and
//! Streamable HTTP "Backward Compatibility": attempt a modern request; a recognized
//! modern JSON-RPC error ([`ProtocolError`]) means a modern server (retry with a version
//! from its `supported` list, or correct the request); any other `400`/`404`/`405`, or
//! a server that does not know `server/discover` (which every modern server MUST
//! implement), means a legacy server: fall back to `initialize`. The answer is a
//! property of the server, so [`McpClient`](super::McpClient) keeps it for its lifetime.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use std::fmt;

/// The modern protocol revision this client speaks.
pub const MODERN_VERSION: &str = "2026-07-28";
/// Modern revisions this client speaks, most preferred first.
pub const MODERN_VERSIONS: [&str; 1] = [MODERN_VERSION];
/// Legacy (handshake) revisions this client speaks over Streamable HTTP, most preferred
/// first. 2024-11-05 used the older HTTP+SSE transport, which this client does not.
pub const LEGACY_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// `_meta` key: the protocol version of this request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client's capabilities relevant to this request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// Result `_meta` key: the server's name and version.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `UnsupportedProtocolVersionError` ("Base Protocol", Error Codes).
pub const CODE_UNSUPPORTED_VERSION: i64 = -32022;
/// `MissingRequiredClientCapabilityError`.
pub const CODE_MISSING_CAPABILITY: i64 = -32021;
/// `HeaderMismatch` (Streamable HTTP, "Server Validation").
pub const CODE_HEADER_MISMATCH: i64 = -32020;

/// The wire an [`McpClient`](super::McpClient) speaks to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wire {
    /// MCP 2026-07-28 and later: stateless, per-request `_meta` and headers.
    Modern,
    /// MCP 2025-11-25 and earlier: the `initialize` handshake and a session.
    Legacy,
}

impl Wire {
    /// A short name: `modern` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Modern => "modern",
            Wire::Legacy => "legacy",
        }
    }

    /// What the wire is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Wire::Modern => "stateless requests with per-request _meta (MCP 2026-07-28)",
            Wire::Legacy => "initialize handshake and session (MCP 2025-11-25)",
        }
    }
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which wire to use ([`McpClient::with_wire`](super::McpClient::with_wire)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum WireChoice {
    /// Try modern first and fall back to legacy the way 2026-07-28 "Backward
    /// Compatibility" describes (a dual-era client). The default.
    #[default]
    Auto,
    /// Modern only: a legacy server is an error.
    Modern,
    /// Legacy only: `initialize` first, as a 2025-11-25 client does.
    Legacy,
}

impl WireChoice {
    /// Parse `auto`, `modern` (or `2026-07-28`) and `legacy` (or `2025-11-25`).
    pub fn parse(s: &str) -> Option<WireChoice> {
        match s {
            "auto" => Some(WireChoice::Auto),
            "modern" | "stateless" | "2026-07-28" => Some(WireChoice::Modern),
            "legacy" | "initialize" | "2025-11-25" => Some(WireChoice::Legacy),
            _ => None,
        }
    }

    /// `auto`, `modern` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            WireChoice::Auto => "auto",
            WireChoice::Modern => "modern",
            WireChoice::Legacy => "legacy",
        }
    }
}

/// A modern server refused a request with one of the JSON-RPC errors 2026-07-28
/// defines for that (sent with `400 Bad Request`). Such an answer identifies a modern
/// server, whatever else it means.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// `-32022`: the server does not implement the requested protocol version.
    UnsupportedVersion {
        /// The versions the server lists in `data.supported` (only values shaped like
        /// a version are kept).
        supported: Vec<String>,
        /// The version the client asked for, as the server echoed it.
        requested: Option<String>,
    },
    /// `-32021`: the request needs a client capability the client did not declare.
    MissingClientCapability {
        /// The capability names from `data.requiredCapabilities`.
        required: Vec<String>,
    },
    /// `-32020`: headers missing, malformed or not matching the body.
    HeaderMismatch {
        /// The server's explanation.
        message: String,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnsupportedVersion {
                supported,
                requested,
            } => {
                write!(f, "the server does not support protocol version ")?;
                match requested {
                    Some(v) => write!(f, "{v}")?,
                    None => f.write_str("(not echoed)")?,
                }
                write!(
                    f,
                    "; it supports [{}], this client speaks [{}]",
                    supported.join(", "),
                    MODERN_VERSIONS
                        .iter()
                        .chain(LEGACY_VERSIONS.iter())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            ProtocolError::MissingClientCapability { required } => write!(
                f,
                "the server needs client capabilities this client did not declare: {}",
                required.join(", ")
            ),
            ProtocolError::HeaderMismatch { message } => write!(
                f,
                "the server says the request headers do not match its body: {}",
                server_text(message)
            ),
        }
    }
}

/// At most 200 characters of text a server sent, with control characters escaped, for
/// an error message.
pub(crate) fn server_text(s: &str) -> String {
    let mut out: String = s.chars().take(200).flat_map(char::escape_debug).collect();
    if s.chars().nth(200).is_some() {
        out.push('…');
    }
    out
}

/// A version string as the spec writes them (`2026-07-28`), or something close enough
/// to show and compare: 1–32 characters of `[0-9A-Za-z._-]`.
fn looks_like_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The modern protocol error in a `4xx` response body, if it is one (2026-07-28
/// Streamable HTTP "Backward Compatibility": "inspect the response body before falling
/// back").
pub fn protocol_error(status: u16, body: &str) -> Option<ProtocolError> {
    if !(400..500).contains(&status) {
        return None;
    }
    let message: Value = serde_json::from_str(body.trim()).ok()?;
    let error = message.get("error")?;
    let code = error.get("code")?.as_i64()?;
    let data = error.get("data");
    let strings = |key: &str| -> Vec<String> {
        data.and_then(|d| d.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| looks_like_version(s))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    match code {
        CODE_UNSUPPORTED_VERSION => Some(ProtocolError::UnsupportedVersion {
            supported: strings("supported"),
            requested: data
                .and_then(|d| d.get("requested"))
                .and_then(Value::as_str)
                .filter(|s| looks_like_version(s))
                .map(str::to_string),
        }),
        CODE_MISSING_CAPABILITY => Some(ProtocolError::MissingClientCapability {
            required: match data.and_then(|d| d.get("requiredCapabilities")) {
                // The schema gives a ClientCapabilities object; its keys are the names.
                Some(Value::Object(m)) => m.keys().map(|k| server_text(k)).collect(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(server_text)
                    .collect(),
                _ => Vec::new(),
            },
        }),
        CODE_HEADER_MISMATCH => Some(ProtocolError::HeaderMismatch {
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }),
        _ => None,
    }
}

/// A version to retry with, picked from a server's `supported` list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionChoice {
    /// A modern version both sides speak: retry the request with it.
    Modern(String),
    /// Only a legacy version is shared: `initialize` with it.
    Legacy(String),
}

/// The most preferred version of ours the server supports, modern before legacy
/// ("Protocol Version Negotiation": select a mutually supported version from
/// `supported` and retry).
pub fn choose_version(supported: &[String]) -> Option<VersionChoice> {
    let has = |v: &str| supported.iter().any(|s| s == v);
    if let Some(v) = MODERN_VERSIONS.iter().find(|v| has(v)) {
        return Some(VersionChoice::Modern((*v).to_string()));
    }
    LEGACY_VERSIONS
        .iter()
        .find(|v| has(v))
        .map(|v| VersionChoice::Legacy((*v).to_string()))
}

/// `params` with the per-request protocol fields added to its `_meta` ("Base Protocol",
/// `_meta`): `protocolVersion` and `clientCapabilities` (required), `clientInfo`
/// (SHOULD). Keys already in `_meta` other than these are kept; a `params` that is not
/// an object becomes one.
pub fn with_meta(params: Value, version: &str, capabilities: &Value, client_info: &Value) -> Value {
    let mut params = match params {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut meta = match params.remove("_meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.insert(META_PROTOCOL_VERSION.into(), Value::String(version.into()));
    meta.insert(META_CLIENT_CAPABILITIES.into(), capabilities.clone());
    meta.insert(META_CLIENT_INFO.into(), client_info.clone());
    params.insert("_meta".into(), Value::Object(meta));
    Value::Object(params)
}

/// A header value as Streamable HTTP "Value Encoding" wants it: the text itself when it
/// is plain visible ASCII with inner spaces only, else `=?base64?<UTF-8 as Base64>?=`
/// (also for plain text that looks like that sentinel, to keep it unambiguous).
///
/// ```
/// use bearerflow_async::mcp::encode_header_value;
/// assert_eq!(encode_header_value("us-west1"), "us-west1");
/// assert_eq!(encode_header_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
/// assert_eq!(encode_header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
/// assert_eq!(encode_header_value("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
/// assert_eq!(encode_header_value("=?base64?literal?="), "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
/// ```
pub fn encode_header_value(value: &str) -> String {
    use base64::Engine as _;
    let sentinel = value.starts_with("=?base64?") && value.ends_with("?=");
    let edges_plain = !value.starts_with(' ') && !value.ends_with(' ');
    let chars_plain = value
        .bytes()
        .all(|b| b == b' ' || (0x21..=0x7e).contains(&b));
    let plain = edges_plain && chars_plain && !sentinel;
    if plain {
        value.to_string()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// The body field `Mcp-Name` mirrors for `method` ("Standard Request Headers").
fn name_source(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// A header the request cannot carry (a method name with characters a header value may
/// not have). Says which header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsendableHeader(pub &'static str);

/// The headers of a modern POST: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` where
/// the method has one, and `params` mirrored into `Mcp-Param-*` as `param_headers` say.
pub fn modern_headers(
    version: &str,
    method: &str,
    params: &Value,
    param_headers: &[ParamHeader],
) -> Result<HeaderMap, UnsendableHeader> {
    let mut h = HeaderMap::new();
    let value = |s: &str, which: &'static str| {
        HeaderValue::from_str(s).map_err(|_| UnsendableHeader(which))
    };
    h.insert(
        "mcp-protocol-version",
        value(version, "MCP-Protocol-Version")?,
    );
    h.insert("mcp-method", value(method, "Mcp-Method")?);
    if let Some(field) = name_source(method) {
        if let Some(name) = params.get(field).and_then(Value::as_str) {
            h.insert("mcp-name", value(&encode_header_value(name), "Mcp-Name")?);
        }
    }
    if method == "tools/call" {
        let args = params.get("arguments").unwrap_or(&Value::Null);
        for (name, text) in mirrored(args, param_headers) {
            let header = HeaderName::from_bytes(format!("mcp-param-{name}").as_bytes())
                .map_err(|_| UnsendableHeader("Mcp-Param-*"))?;
            h.insert(header, value(&text, "Mcp-Param-*")?);
        }
    }
    Ok(h)
}

/// One `x-mcp-header` annotation of a tool: the header's name part and the chain of
/// `properties` keys leading to the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    pub(crate) name: String,
    pub(crate) path: Vec<String>,
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `x-mcp-header` annotations of a tool's `inputSchema`, or why the tool must be
/// rejected (Streamable HTTP "Custom Headers from Tool Parameters", Schema Extension:
/// non-empty; an RFC 9110 token; case-insensitively unique; only on `string`, `integer`
/// or `boolean` properties; only on properties reachable from the root through
/// `properties` keys alone).
pub fn param_headers(input_schema: &Value) -> Result<Vec<ParamHeader>, String> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(input_schema, &mut path, true, &mut out)?;
    for (i, a) in out.iter().enumerate() {
        if let Some(b) = out
            .iter()
            .skip(i + 1)
            .find(|b| b.name.eq_ignore_ascii_case(&a.name))
        {
            return Err(format!(
                "x-mcp-header {:?} is used twice (again as {:?}); names must be unique ignoring case",
                server_text(&a.name),
                server_text(&b.name)
            ));
        }
    }
    Ok(out)
}

fn walk(
    node: &Value,
    path: &mut Vec<String>,
    reachable: bool,
    out: &mut Vec<ParamHeader>,
) -> Result<(), String> {
    match node {
        Value::Object(map) => {
            if let Some(annotation) = map.get("x-mcp-header") {
                let where_ = if path.is_empty() {
                    "the schema root".to_string()
                } else {
                    format!("property {}", server_text(&path.join(".")))
                };
                if !reachable || path.is_empty() {
                    return Err(format!(
                        "x-mcp-header on {where_} is not on a property reachable through `properties` alone"
                    ));
                }
                let Value::String(name) = annotation else {
                    return Err(format!("x-mcp-header on {where_} is not a string"));
                };
                if name.is_empty() {
                    return Err(format!("x-mcp-header on {where_} is empty"));
                }
                if !name.bytes().all(is_tchar) {
                    return Err(format!(
                        "x-mcp-header {:?} on {where_} is not an HTTP field-name token",
                        server_text(name)
                    ));
                }
                match map.get("type").and_then(Value::as_str) {
                    Some("string" | "integer" | "boolean") => {}
                    other => {
                        return Err(format!(
                            "x-mcp-header {:?} is on {where_} of type {}; only string, integer and boolean parameters may be mirrored",
                            server_text(name),
                            other.map(server_text).unwrap_or_else(|| "(none)".into())
                        ))
                    }
                }
                out.push(ParamHeader {
                    name: name.clone(),
                    path: path.clone(),
                });
            }
            for (key, value) in map {
                match key.as_str() {
                    "x-mcp-header" => {}
                    // Instance values, not subschemas: an `x-mcp-header` key in a default
                    // value is data.
                    "const" | "enum" | "default" | "examples" => {}
                    "properties" => match value {
                        Value::Object(props) => {
                            for (name, sub) in props {
                                path.push(name.clone());
                                let r = walk(sub, path, reachable, out);
                                path.pop();
                                r?;
                            }
                        }
                        other => walk(other, path, false, out)?,
                    },
                    _ => walk(value, path, false, out)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                walk(item, path, false, out)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `(name, encoded value)` for each annotated parameter that has a value in `args`
/// ("Client Behavior": a `null` or absent value omits the header). Strings go as they
/// are, integers in decimal, booleans as `true`/`false`, each through
/// [`encode_header_value`].
pub(crate) fn mirrored(args: &Value, headers: &[ParamHeader]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    'each: for h in headers {
        let mut v = args;
        for key in &h.path {
            match v.get(key) {
                Some(next) => v = next,
                None => continue 'each,
            }
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (_, Some(u), _) => u.to_string(),
                // An integral float (`42.0`) is the integer 42.
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                    format!("{f:.0}")
                }
                _ => n.to_string(),
            },
            // `null`, objects and arrays have no header form.
            _ => continue,
        };
        out.push((h.name.clone(), encode_header_value(&text)));
    }
    out
}

/// The server's self-description in a `server/discover` result (result `_meta`, or a
/// `serverInfo` member from servers written before that moved) or an `InitializeResult`.
pub fn server_info(result: &Value) -> Option<Value> {
    result
        .get("_meta")
        .and_then(|m| m.get(META_SERVER_INFO))
        .or_else(|| result.get("serverInfo"))
        .filter(|v| v.is_object())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meta_is_added_and_other_keys_kept() {
        let caps = json!({"elicitation": {}});
        let info = json!({"name": "c", "version": "1"});
        let p = with_meta(
            json!({"name": "t", "_meta": {"progressToken": 7, META_PROTOCOL_VERSION: "old"}}),
            MODERN_VERSION,
            &caps,
            &info,
        );
        assert_eq!(p["name"], "t");
        assert_eq!(p["_meta"]["progressToken"], 7);
        assert_eq!(p["_meta"][META_PROTOCOL_VERSION], MODERN_VERSION);
        assert_eq!(p["_meta"][META_CLIENT_CAPABILITIES], caps);
        assert_eq!(p["_meta"][META_CLIENT_INFO], info);
        let p = with_meta(Value::Null, "v", &json!({}), &info);
        assert_eq!(p["_meta"][META_PROTOCOL_VERSION], "v");
    }

    #[test]
    fn headers_mirror_method_name_and_version() {
        let h = modern_headers(
            MODERN_VERSION,
            "tools/call",
            &json!({"name": "get weather", "arguments": {}}),
            &[],
        )
        .unwrap();
        assert_eq!(h["mcp-protocol-version"], MODERN_VERSION);
        assert_eq!(h["mcp-method"], "tools/call");
        assert_eq!(h["mcp-name"], "get weather");
        let h = modern_headers("v", "resources/read", &json!({"uri": "file:///ü"}), &[]).unwrap();
        assert_eq!(h["mcp-name"], "=?base64?ZmlsZTovLy/DvA==?=");
        let h = modern_headers("v", "tools/list", &json!({}), &[]).unwrap();
        assert!(h.get("mcp-name").is_none());
        assert_eq!(
            modern_headers("v", "bad\nmethod", &json!({}), &[]).unwrap_err(),
            UnsendableHeader("Mcp-Method")
        );
    }

    #[test]
    fn value_encoding_follows_the_spec_table() {
        assert_eq!(encode_header_value(""), "");
        assert_eq!(encode_header_value("us west 1"), "us west 1");
        assert_eq!(encode_header_value("\tindented"), "=?base64?CWluZGVudGVk?=");
        assert_eq!(encode_header_value("a\tb"), "=?base64?YQli?=");
        assert_eq!(encode_header_value("x "), "=?base64?eCA=?=");
        assert_eq!(encode_header_value("\u{7f}"), "=?base64?fw==?=");
        assert_eq!(encode_header_value("=?base64?"), "=?base64?");
    }

    fn schema_with(prop: Value) -> Value {
        json!({"type": "object", "properties": {"p": prop}})
    }

    #[test]
    fn valid_annotations_are_found_with_their_paths() {
        let s = json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "n": {"type": "integer", "x-mcp-header": "N"},
                "flag": {"type": "boolean", "x-mcp-header": "Flag"},
                "where": {"type": "object", "properties": {
                    "zone": {"type": "string", "x-mcp-header": "Zone"}
                }},
                "plain": {"type": "number", "default": {"x-mcp-header": "NotAnAnnotation"}},
            }
        });
        let mut got = param_headers(&s).unwrap();
        got.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<(&str, String)> = got
            .iter()
            .map(|h| (h.name.as_str(), h.path.join(".")))
            .collect();
        assert_eq!(
            names,
            [
                ("Flag", "flag".to_string()),
                ("N", "n".to_string()),
                ("Region", "region".to_string()),
                ("Zone", "where.zone".to_string())
            ]
        );
        assert!(param_headers(&json!({"type": "object"}))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn invalid_annotations_reject_the_tool() {
        let bad = [
            schema_with(json!({"type": "string", "x-mcp-header": ""})),
            schema_with(json!({"type": "object", "x-mcp-header": "Data"})),
            schema_with(
                json!({"type": "array", "items": {"type": "string"}, "x-mcp-header": "Items"}),
            ),
            schema_with(json!({"type": "null", "x-mcp-header": "Nil"})),
            schema_with(json!({"type": "number", "x-mcp-header": "Score"})),
            schema_with(json!({"x-mcp-header": "Untyped"})),
            schema_with(json!({"type": "string", "x-mcp-header": "My Region"})),
            schema_with(json!({"type": "string", "x-mcp-header": "Region:Primary"})),
            schema_with(json!({"type": "string", "x-mcp-header": "Région"})),
            schema_with(json!({"type": "string", "x-mcp-header": "Region\t1"})),
            schema_with(json!({"type": "string", "x-mcp-header": 5})),
            json!({"type": "object", "properties": {
                "a": {"type": "string", "x-mcp-header": "MyField"},
                "b": {"type": "string", "x-mcp-header": "myfield"}}}),
            json!({"type": "object", "x-mcp-header": "Root"}),
            json!({"type": "array", "items": {"type": "object", "properties": {
                "a": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"anyOf": [{"type": "object", "properties": {
                "a": {"type": "string", "x-mcp-header": "A"}}}]}),
            json!({"$defs": {"x": {"type": "string", "x-mcp-header": "X"}}}),
        ];
        for s in bad {
            assert!(param_headers(&s).is_err(), "accepted {s}");
        }
    }

    #[test]
    fn values_are_mirrored_when_present() {
        let headers = param_headers(&json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "priority": {"type": "integer", "x-mcp-header": "Priority"},
            "verbose": {"type": "boolean", "x-mcp-header": "Verbose"},
            "text": {"type": "string", "x-mcp-header": "Text"},
            "nested": {"type": "object", "properties": {"z": {"type": "string", "x-mcp-header": "Z"}}},
        }}))
        .unwrap();
        let mut got = mirrored(
            &json!({"region": "us-west1", "priority": 42, "verbose": null,
                    "text": "Hello, 世界", "nested": {"z": "ok"}}),
            &headers,
        );
        got.sort();
        assert_eq!(
            got,
            [
                ("Priority".to_string(), "42".to_string()),
                ("Region".to_string(), "us-west1".to_string()),
                (
                    "Text".to_string(),
                    "=?base64?SGVsbG8sIOS4lueVjA==?=".to_string()
                ),
                ("Z".to_string(), "ok".to_string()),
            ]
        );
        let got = mirrored(&json!({"priority": 42.0, "verbose": false}), &headers);
        assert!(got.contains(&("Priority".into(), "42".into())));
        assert!(got.contains(&("Verbose".into(), "false".into())));
        assert!(mirrored(&Value::Null, &headers).is_empty());
    }

    #[test]
    fn modern_errors_are_recognized_and_others_are_not() {
        let e = protocol_error(
            400,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version",
                "data":{"supported":["2026-07-28","2025-11-25","bad value!"],"requested":"1900-01-01"}}}"#,
        );
        assert_eq!(
            e,
            Some(ProtocolError::UnsupportedVersion {
                supported: vec!["2026-07-28".into(), "2025-11-25".into()],
                requested: Some("1900-01-01".into())
            })
        );
        let e = protocol_error(
            400,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32021,"message":"m","data":{"requiredCapabilities":{"sampling":{}}}}}"#,
        );
        assert_eq!(
            e,
            Some(ProtocolError::MissingClientCapability {
                required: vec!["sampling".into()]
            })
        );
        assert!(matches!(
            protocol_error(
                400,
                r#"{"error":{"code":-32020,"message":"Mcp-Name mismatch"}}"#
            ),
            Some(ProtocolError::HeaderMismatch { .. })
        ));
        // What a 2025-11-25 server (the TypeScript SDK) answers a modern request with.
        assert_eq!(
            protocol_error(
                400,
                r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: Unsupported protocol version"},"id":null}"#
            ),
            None
        );
        assert_eq!(protocol_error(400, ""), None);
        assert_eq!(protocol_error(400, "<html>"), None);
        assert_eq!(
            protocol_error(500, r#"{"error":{"code":-32022,"message":"x"}}"#),
            None
        );
    }

    #[test]
    fn version_choice_prefers_modern_then_legacy() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            choose_version(&v(&["2025-11-25", "2026-07-28"])),
            Some(VersionChoice::Modern("2026-07-28".into()))
        );
        assert_eq!(
            choose_version(&v(&["2025-06-18", "2025-11-25"])),
            Some(VersionChoice::Legacy("2025-11-25".into()))
        );
        assert_eq!(choose_version(&v(&["2099-01-01"])), None);
        assert_eq!(choose_version(&[]), None);
    }

    #[test]
    fn server_text_is_bounded_and_escaped() {
        assert_eq!(server_text("a\nb\u{1b}"), "a\\nb\\u{1b}");
        assert_eq!(server_text(&"x".repeat(500)).chars().count(), 201);
    }

    #[test]
    fn server_info_from_either_place() {
        assert_eq!(
            server_info(&json!({"_meta": {META_SERVER_INFO: {"name": "a"}}})).unwrap()["name"],
            "a"
        );
        assert_eq!(
            server_info(&json!({"serverInfo": {"name": "b"}})).unwrap()["name"],
            "b"
        );
        assert!(server_info(&json!({})).is_none());
    }

    #[test]
    fn wire_choice_parses() {
        assert_eq!(WireChoice::parse("2026-07-28"), Some(WireChoice::Modern));
        assert_eq!(WireChoice::parse("legacy"), Some(WireChoice::Legacy));
        assert_eq!(WireChoice::parse("auto"), Some(WireChoice::Auto));
        assert_eq!(WireChoice::parse("x"), None);
        assert_eq!(WireChoice::default().as_str(), "auto");
    }
}
