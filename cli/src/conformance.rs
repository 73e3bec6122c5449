//! `bearerflow conformance-client [--verbose] <server-url>`: the MCP client the official
//! conformance runner (npm `@modelcontextprotocol/conformance`) drives.
//!
//! The runner starts a scenario's servers, then runs this command with the MCP server
//! URL as the last argument, `MCP_CONFORMANCE_SCENARIO` set to the scenario name and,
//! for some scenarios, `MCP_CONFORMANCE_CONTEXT` set to a JSON object (a client id and
//! secret). It judges the run by what its servers saw and by the exit status.
//!
//! What this command does is an ordinary bearerflow host: it maps the context to a
//! [`Config`], builds a `bearerflow_async::Client` with the [`HeadlessFollow`]
//! authorizer (the runner's authorization endpoint redirects at once, with no user),
//! connects with [`McpClient::connect`] (the wire as `--wire` says, by default the
//! 2026-07-28 negotiation: modern first, legacy `initialize` for a legacy server), lists
//! the tools and calls them: the calls the context's `toolCalls` names (name and
//! arguments), or else every listed tool with arguments made from its input schema.
//! Input a modern server asks for in the middle of a call (MRTR) is answered by a
//! headless host: elicitations accepted with values made from the requested schema, no
//! roots, no sampling. Every authorization and wire decision is the library's; nothing
//! here knows what a scenario checks.
//!
//! Exit status: 0 when every exchange completed, 1 when one could not (connecting,
//! listing, or a call that failed in transport, authorization or protocol; the message
//! says which and why), 2 for bad usage or context. A tool the server runs and reports
//! as failed (a JSON-RPC error or `isError`) is the server's answer, printed but not an
//! exit-1 failure: the client calls tools it knows nothing about.

use bearerflow::oauth::{ClientAuthMethod, ClientRegistration};
use bearerflow::secret::Secret;
use bearerflow::session::{Config, Grant, OAuthConfig};
use bearerflow_async::mcp::{InputHandler, McpClient, McpError, WireChoice};
use bearerflow_async::{Client, HeadlessFollow};
use serde_json::{json, Map, Value};
use std::process::ExitCode;
use std::time::Duration;

/// The client ID metadata document URL every conformance client uses (the runner's
/// `auth/basic-cimd` expects exactly this `client_id`; no context carries it).
pub const CONFORMANCE_CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";
/// Where the authorization server redirects to. Nothing listens there: the headless
/// authorizer reads the redirect from the `Location` header (RFC 8252 §7.3 loopback).
pub const REDIRECT_URI: &str = "http://127.0.0.1:33418/callback";
/// The runner kills the client after 30 s; give up a little before, with a message.
const OVERALL_TIMEOUT: Duration = Duration::from_secs(25);

const USAGE: &str =
    "usage: bearerflow conformance-client [--verbose] [--wire auto|modern|legacy] <server-url>
  --wire                        which MCP wire (default auto: 2026-07-28 stateless, falling
                                back to the 2025-11-25 initialize handshake for legacy servers)
  env MCP_CONFORMANCE_SCENARIO  the scenario name (set by the conformance runner)
  env MCP_CONFORMANCE_CONTEXT   JSON: client_id, client_secret (pre-registered or client
                                credentials), client_id_metadata_url (optional),
                                toolCalls (optional: [{name, arguments}] to call)";

/// Entry point for `bearerflow conformance-client ARGS...`.
pub fn run(args: &[String]) -> ExitCode {
    let mut verbose = false;
    let mut url = None;
    let mut wire = WireChoice::Auto;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--verbose" | "-v" => verbose = true,
            "--wire" => match it.next().and_then(|w| WireChoice::parse(w)) {
                Some(w) => wire = w,
                None => {
                    eprintln!("conformance-client: --wire needs auto, modern or legacy\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("conformance-client: unknown option {s:?}\n{USAGE}");
                return ExitCode::from(2);
            }
            s => url = Some(s.to_string()),
        }
    }
    let Some(url) = url else {
        eprintln!("conformance-client: missing <server-url>\n{USAGE}");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context = std::env::var("MCP_CONFORMANCE_CONTEXT").ok();
    let oauth = match oauth_config(&scenario, context.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("conformance-client: {e}");
            return ExitCode::from(2);
        }
    };
    let tool_calls = match tool_calls(context.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("conformance-client: {e}");
            return ExitCode::from(2);
        }
    };
    let config = Config::oauth(url.clone(), oauth);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance-client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let run = session(config, &url, wire, tool_calls, verbose);
        match tokio::time::timeout(OVERALL_TIMEOUT, run).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "gave up after {}s without finishing",
                OVERALL_TIMEOUT.as_secs()
            )),
        }
    });
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("conformance-client: {}", crate::safe::line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Map the scenario name and the runner's context to OAuth settings.
///
/// - `client_id` (+ `client_secret`): a pre-registered client
///   (`client_secret_basic`, the method every server must support, RFC 6749 §2.3.1);
/// - scenarios named `auth/client-credentials-*`: the client-credentials grant (RFC 6749
///   §4.4) with that client. The context alone cannot say which grant is meant (the
///   pre-registration scenario sends the same shape), so the name does;
/// - otherwise the authorization-code grant with PKCE, redirected to [`REDIRECT_URI`];
/// - always a client ID metadata document URL ([`CONFORMANCE_CIMD_URL`] unless the
///   context names one), used only when the server advertises support.
///
/// A context asking for what bearerflow does not implement (`private_key_jwt` client
/// assertions, RFC 7523 §2.2; the SEP-990 token exchange) is an error that says so.
pub fn oauth_config(scenario: &str, context: Option<&str>) -> Result<OAuthConfig, String> {
    let ctx: Map<String, Value> = match context.map(str::trim).filter(|c| !c.is_empty()) {
        None => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("MCP_CONFORMANCE_CONTEXT is not a JSON object".into()),
            Err(e) => return Err(format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}")),
        },
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match ctx.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("MCP_CONFORMANCE_CONTEXT: {key} is not a string")),
        }
    };
    if ctx.contains_key("private_key_pem") {
        return Err(
            "the context asks for private_key_jwt client authentication (RFC 7523 §2.2), \
             which bearerflow does not implement"
                .into(),
        );
    }
    if ctx.contains_key("idp_id_token") {
        return Err(
            "the context asks for an identity-assertion token exchange (RFC 8693, SEP-990), \
             which bearerflow does not implement"
                .into(),
        );
    }
    let client = match (text("client_id")?, text("client_secret")?) {
        (Some(id), Some(secret)) => Some(ClientRegistration::confidential(
            id,
            Secret::from(secret),
            ClientAuthMethod::ClientSecretBasic,
        )),
        (Some(id), None) => Some(ClientRegistration::public(id)),
        (None, Some(_)) => {
            return Err("MCP_CONFORMANCE_CONTEXT has client_secret without client_id".into())
        }
        (None, None) => None,
    };
    let client_credentials = scenario.starts_with("auth/client-credentials");
    if client_credentials && client.is_none() {
        return Err(format!(
            "{scenario} needs client_id and client_secret in MCP_CONFORMANCE_CONTEXT"
        ));
    }
    Ok(OAuthConfig {
        client,
        grant: if client_credentials {
            Grant::ClientCredentials
        } else {
            Grant::AuthorizationCode
        },
        redirect_uri: Some(REDIRECT_URI.to_string()),
        client_name: Some("bearerflow conformance client".to_string()),
        client_id_metadata_url: Some(
            text("client_id_metadata_url")?.unwrap_or_else(|| CONFORMANCE_CIMD_URL.to_string()),
        ),
        ..OAuthConfig::default()
    })
}

/// The calls the context asks for (`toolCalls: [{name, arguments}]`), if it names any.
pub fn tool_calls(context: Option<&str>) -> Result<Option<Vec<(String, Value)>>, String> {
    let Some(text) = context.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let Ok(Value::Object(ctx)) = serde_json::from_str::<Value>(text) else {
        // oauth_config reports a context that is not a JSON object.
        return Ok(None);
    };
    let Some(calls) = ctx.get("toolCalls") else {
        return Ok(None);
    };
    let Value::Array(calls) = calls else {
        return Err("MCP_CONFORMANCE_CONTEXT: toolCalls is not an array".into());
    };
    calls
        .iter()
        .map(
            |c| match (c.get("name").and_then(Value::as_str), c.get("arguments")) {
                (Some(name), args) => {
                    Ok((name.to_string(), args.cloned().unwrap_or_else(|| json!({}))))
                }
                (None, _) => Err("MCP_CONFORMANCE_CONTEXT: a toolCalls entry has no name".into()),
            },
        )
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

/// A host with no user: accepts every elicitation with values made from the requested
/// schema (defaults first), offers no roots, and cannot sample.
#[derive(Debug)]
pub struct HeadlessInput;

#[bearerflow_async::mcp::async_trait]
impl InputHandler for HeadlessInput {
    fn capabilities(&self) -> Value {
        json!({"elicitation": {}, "roots": {}})
    }

    async fn answer(&self, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "elicitation/create" => Ok(json!({
                "action": "accept",
                "content": elicitation_content(params.get("requestedSchema")),
            })),
            "roots/list" => Ok(json!({"roots": []})),
            other => Err(format!("this headless client cannot answer {other}")),
        }
    }
}

/// Content for an elicitation form: each property's `default`, else a value of its
/// type (as [`arguments_for`] makes them), for every property, required or not.
pub fn elicitation_content(schema: Option<&Value>) -> Value {
    let mut content = Map::new();
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Value::Object(content);
    };
    let mut n = 2;
    for (name, prop) in props {
        let value = match prop.get("default") {
            Some(d) => d.clone(),
            None => value_of_type(
                prop.get("type").and_then(Value::as_str).unwrap_or("string"),
                &mut n,
            ),
        };
        content.insert(name.clone(), value);
    }
    Value::Object(content)
}

fn value_of_type(kind: &str, n: &mut i64) -> Value {
    match kind {
        "number" | "integer" => {
            *n += 1;
            json!(*n - 1)
        }
        "boolean" => json!(true),
        "array" => json!([]),
        "object" => json!({}),
        "null" => Value::Null,
        _ => json!("test"),
    }
}

/// Connect, `tools/list`, and the tool calls, through bearerflow.
async fn session(
    config: Config,
    url: &str,
    wire: WireChoice,
    tool_calls: Option<Vec<(String, Value)>>,
    verbose: bool,
) -> Result<String, String> {
    let authorizer =
        HeadlessFollow::with_policy(&config.policy).map_err(|e| format!("authorizer: {e}"))?;
    let client = Client::builder(config)
        .authorizer(authorizer)
        .build()
        .await
        .map_err(|e| format!("cannot start the bearerflow client: {e}"))?;
    if verbose {
        let mut events = client.subscribe();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                eprintln!("event: {e:?}");
            }
        });
    }
    let mcp = McpClient::new(client, url)
        .with_wire(wire)
        .with_client_info("bearerflow-conformance-client", env!("CARGO_PKG_VERSION"))
        .with_input_handler(HeadlessInput);
    let connected = mcp
        .connect()
        .await
        .map_err(|e| format!("connect failed ({} wire): {e}", wire.as_str()))?;
    let server = connected.server_name().unwrap_or("?").to_string();
    eprintln!(
        "connect: ok ({} wire, protocol {}, server {})",
        connected.wire,
        crate::safe::text(&connected.protocol_version),
        crate::safe::text(&server)
    );
    let tools = mcp
        .list_tools()
        .await
        .map_err(|e| format!("tools/list failed: {e}"))?;
    let listed: Vec<Value> = tools
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = listed
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    eprintln!(
        "tools/list: ok ({} tools: {})",
        names.len(),
        crate::safe::line(&names.join(", "))
    );
    let rejected = mcp.rejected_tools();
    for (tool, why) in &rejected {
        eprintln!(
            "tools/list: left out {}: {}",
            crate::safe::text(tool),
            crate::safe::text(why)
        );
    }
    let calls: Vec<(String, Value)> = match tool_calls {
        Some(calls) => calls,
        None => listed
            .iter()
            .filter_map(|t| {
                let name = t.get("name").and_then(Value::as_str)?;
                Some((name.to_string(), arguments_for(t.get("inputSchema"))))
            })
            .collect(),
    };
    let mut called = Vec::new();
    for (name, args) in calls {
        let outcome = match mcp.call_tool(&name, args.clone()).await {
            Ok(result) if result.get("isError").and_then(Value::as_bool) == Some(true) => {
                eprintln!(
                    "tools/call {}: the tool reported an error: {}",
                    crate::safe::text(&name),
                    crate::safe::text(&result.to_string())
                );
                "tool_error"
            }
            Ok(_) => {
                eprintln!("tools/call {}: ok", crate::safe::text(&name));
                "ok"
            }
            Err(McpError::Rpc { code, message }) => {
                eprintln!(
                    "tools/call {}: the server refused it: JSON-RPC error {code}: {}",
                    crate::safe::text(&name),
                    crate::safe::text(&message)
                );
                "refused"
            }
            Err(e) => return Err(format!("tools/call {name} failed: {e}")),
        };
        called.push(json!({"name": name, "arguments": args, "outcome": outcome}));
    }
    Ok(crate::safe::json(&json!({
        "ok": true,
        "wire": connected.wire.as_str(),
        "protocol_version": connected.protocol_version,
        "server": server,
        "tools": names,
        "left_out": rejected.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        "called": called,
    })))
}

/// Arguments for a tool from its JSON Schema: every required property gets a simple
/// value of its type (numbers count up from 2, so `{a, b}` becomes `{a: 2, b: 3}`).
pub fn arguments_for(schema: Option<&Value>) -> Value {
    let mut args = Map::new();
    let Some(schema) = schema else {
        return Value::Object(args);
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut n = 2;
    for name in required {
        let kind = props
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = match kind {
            "number" | "integer" => {
                n += 1;
                json!(n - 1)
            }
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            "null" => Value::Null,
            _ => json!("test"),
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_context_is_a_public_authorization_code_client_with_cimd() {
        let o = oauth_config("auth/basic-cimd", None).unwrap();
        assert_eq!(o.grant, Grant::AuthorizationCode);
        assert!(o.client.is_none());
        assert_eq!(o.redirect_uri.as_deref(), Some(REDIRECT_URI));
        assert_eq!(
            o.client_id_metadata_url.as_deref(),
            Some(CONFORMANCE_CIMD_URL)
        );
    }

    #[test]
    fn pre_registered_client_from_context() {
        let ctx = r#"{"name":"auth/pre-registration","client_id":"pre-registered-client","client_secret":"pre-registered-secret"}"#;
        let o = oauth_config("auth/pre-registration", Some(ctx)).unwrap();
        assert_eq!(o.grant, Grant::AuthorizationCode);
        let c = o.client.unwrap();
        assert_eq!(c.client_id, "pre-registered-client");
        assert_eq!(c.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(
            c.client_secret.as_ref().map(Secret::expose),
            Some("pre-registered-secret")
        );
    }

    #[test]
    fn client_credentials_by_scenario_name() {
        let ctx = r#"{"client_id":"conformance-test-client","client_secret":"s"}"#;
        let o = oauth_config("auth/client-credentials-basic", Some(ctx)).unwrap();
        assert_eq!(o.grant, Grant::ClientCredentials);
        assert!(oauth_config("auth/client-credentials-basic", None)
            .unwrap_err()
            .contains("client_id"));
    }

    #[test]
    fn unsupported_or_bad_contexts_say_why() {
        let jwt = r#"{"client_id":"c","private_key_pem":"-----BEGIN","signing_algorithm":"ES256"}"#;
        assert!(oauth_config("auth/client-credentials-jwt", Some(jwt))
            .unwrap_err()
            .contains("private_key_jwt"));
        let xaa = r#"{"client_id":"c","client_secret":"s","idp_id_token":"x"}"#;
        assert!(
            oauth_config("auth/cross-app-access-complete-flow", Some(xaa))
                .unwrap_err()
                .contains("RFC 8693")
        );
        assert!(oauth_config("x", Some("[1]"))
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(oauth_config("x", Some("{"))
            .unwrap_err()
            .contains("not JSON"));
        assert!(oauth_config("x", Some(r#"{"client_id":5}"#))
            .unwrap_err()
            .contains("client_id is not a string"));
        assert!(oauth_config("x", Some(r#"{"client_secret":"s"}"#)).is_err());
        // The secret never shows in an error.
        let e = oauth_config("x", Some(r#"{"client_secret":"hunter2"}"#)).unwrap_err();
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn cimd_url_from_context_wins() {
        let o = oauth_config(
            "x",
            Some(r#"{"client_id_metadata_url":"https://app.example/cimd.json"}"#),
        )
        .unwrap();
        assert_eq!(
            o.client_id_metadata_url.as_deref(),
            Some("https://app.example/cimd.json")
        );
    }

    #[test]
    fn tool_calls_from_context() {
        assert_eq!(tool_calls(None).unwrap(), None);
        assert_eq!(tool_calls(Some(r#"{"client_id":"x"}"#)).unwrap(), None);
        let calls = tool_calls(Some(
            r#"{"toolCalls":[{"name":"a","arguments":{"x":null,"y":"é"}},{"name":"b"}]}"#,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(calls[0], ("a".to_string(), json!({"x": null, "y": "é"})));
        assert_eq!(calls[1], ("b".to_string(), json!({})));
        assert!(tool_calls(Some(r#"{"toolCalls":{}}"#)).is_err());
        assert!(tool_calls(Some(r#"{"toolCalls":[{"arguments":{}}]}"#)).is_err());
    }

    #[test]
    fn elicitations_are_filled_from_the_schema() {
        let schema = json!({"type": "object", "properties": {
            "confirmed": {"type": "boolean"},
            "name": {"type": "string", "default": "John"},
            "age": {"type": "integer"},
        }});
        assert_eq!(
            elicitation_content(Some(&schema)),
            json!({"confirmed": true, "name": "John", "age": 2})
        );
        assert_eq!(elicitation_content(None), json!({}));
    }

    #[test]
    fn arguments_follow_the_schema() {
        let add = json!({"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]});
        assert_eq!(arguments_for(Some(&add)), json!({"a": 2, "b": 3}));
        let mixed = json!({"type":"object","properties":{"s":{"type":"string"},"f":{"type":"boolean"},"i":{"type":"integer"}},"required":["s","f","i","x"]});
        assert_eq!(
            arguments_for(Some(&mixed)),
            json!({"s": "test", "f": true, "i": 2, "x": "test"})
        );
        assert_eq!(arguments_for(Some(&json!({"type": "object"}))), json!({}));
        assert_eq!(arguments_for(None), json!({}));
    }
}
