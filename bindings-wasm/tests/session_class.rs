//! The `Session` class and the challenge functions as JavaScript sees them: typed
//! errors with core's codes, numbers (not `BigInt`) for times and ids, plain objects
//! for actions.
#![cfg(target_arch = "wasm32")]

use bearerflow_wasm::{parse_challenges, render_challenge, Session};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const CONFIG: &str = r#"{"resource_url": "https://mcp.example.com/mcp",
    "credential": {"kind": "oauth", "redirect_uri": "http://127.0.0.1:8976/callback"}}"#;
const SEED: [u8; 32] = [7; 32];

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn code(e: JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error: {e:?}");
    get(&e, "code").as_string().unwrap_or_default()
}

fn session_error(config: &str, seed: &[u8], now: f64) -> String {
    match Session::new(config, seed, now) {
        Ok(_) => panic!("accepted {config}"),
        Err(e) => code(e),
    }
}

#[wasm_bindgen_test]
fn bad_input_throws_typed_errors() {
    assert_eq!(session_error("{", &SEED, 0.0), "config_malformed");
    let typo = CONFIG.replace("redirect_uri", "redirect_url");
    assert_eq!(session_error(&typo, &SEED, 0.0), "config_malformed");
    let relative = CONFIG.replace("https://mcp.example.com/mcp", "/mcp");
    assert_eq!(session_error(&relative, &SEED, 0.0), "config_invalid");
    assert_eq!(session_error(CONFIG, &[1, 2, 3], 0.0), "invalid_seed");
    assert_eq!(session_error(CONFIG, &SEED, f64::NAN), "invalid_number");
    assert_eq!(session_error(CONFIG, &SEED, -1.0), "invalid_number");

    let mut s = Session::new(CONFIG, &SEED, 1_000.0).expect("valid config");
    assert_eq!(
        code(s.handle_http_error(1.0, "dns", 1.0).unwrap_err()),
        "invalid_http_error_kind"
    );
    assert_eq!(
        code(
            s.handle_redirect("http://127.0.0.1:8976/callback?code=x&state=y", 2.0)
                .unwrap_err()
        ),
        "not_authorizing"
    );
    assert_eq!(
        code(
            s.handle_http_response(1.0, 200, vec!["retry-after".into()], b"", 2.0)
                .unwrap_err()
        ),
        "invalid_headers"
    );
    match Session::restore(CONFIG, r#"{"version": 99}"#, &SEED, 0.0) {
        Ok(_) => panic!("restored a newer snapshot"),
        Err(e) => assert_eq!(code(e), "snapshot_unsupported_version"),
    }
    match Session::restore(CONFIG, r#"{"version": 1, "tokens": 5}"#, &SEED, 0.0) {
        Ok(_) => panic!("restored a malformed snapshot"),
        Err(e) => assert_eq!(code(e), "snapshot_malformed"),
    }
}

#[wasm_bindgen_test]
fn errors_never_quote_secrets() {
    let config = CONFIG.replace(
        r#""kind": "oauth","#,
        r#""kind": "oauth", "client": {"client_id": "c", "client_secret": 12, "x": "SECRET-1"},"#,
    );
    let e = Session::new(&config, &SEED, 0.0).err().expect("refused");
    let message = get(&e, "message").as_string().unwrap_or_default();
    assert!(!message.contains("SECRET"), "{message}");
}

#[wasm_bindgen_test]
fn actions_are_plain_objects_with_numbers() {
    let mut s = Session::new(CONFIG, &SEED, 1_000.0).expect("valid config");
    let id = s.begin_request(1_000.0).expect("a time");
    assert_eq!(id, 1.0);
    // A session with nothing probes: the first request goes out without a token.
    let action = s.poll_action().expect("an action");
    let send = get(&action, "send");
    assert_eq!(get(&send, "id").as_f64(), Some(1.0));
    assert_eq!(get(&send, "generation").as_f64(), Some(0.0));
    assert!(js_sys::Array::is_array(&get(&send, "headers")));
    assert!(s.poll_action().expect("drained").is_undefined());
    assert_eq!(s.phase(1_000.0).expect("a time"), "unauthorized");
    let challenge = r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#;
    let verdict = s
        .handle_resource_response(id, 401, vec![challenge.into()], 1_001.0)
        .expect("a response");
    assert_eq!(verdict, "retry");
    let fetch = get(&s.poll_action().expect("an action"), "fetch");
    assert_eq!(
        get(&fetch, "purpose").as_string().as_deref(),
        Some("resource_metadata")
    );
    assert_eq!(get(&fetch, "method").as_string().as_deref(), Some("GET"));
    assert!(s.poll_timeout().is_some_and(|t| t > 1_001.0));
    let stats = s.stats().expect("stats");
    assert_eq!(get(&stats, "unauthorized_seen").as_f64(), Some(1.0));
    let policy = s.policy().expect("policy");
    assert!(get(&policy, "max_response_body")
        .as_f64()
        .is_some_and(|n| n > 0.0));
}

#[wasm_bindgen_test]
fn challenges_parse_and_render() {
    let parsed = parse_challenges(
        vec![r#"Bearer error="invalid_token", scope="a b""#.into()],
        None,
    )
    .expect("a mode");
    assert_eq!(get(&parsed, "ok").as_bool(), Some(true));
    let first = js_sys::Array::from(&get(&parsed, "challenges")).get(0);
    let bearer = get(&first, "bearer");
    assert_eq!(
        get(&bearer, "error").as_string().as_deref(),
        Some("invalid_token")
    );
    assert_eq!(js_sys::Array::from(&get(&bearer, "scopes")).length(), 2);

    let bad =
        parse_challenges(vec![r#"Bearer realm="x"#.into()], Some("strict".into())).expect("a mode");
    assert_eq!(get(&bad, "ok").as_bool(), Some(false));
    assert!(get(&bad, "code").as_string().is_some());
    assert!(get(&bad, "offset").as_f64().is_some());
    assert_eq!(
        code(parse_challenges(vec![], Some("loose".into())).unwrap_err()),
        "invalid_mode"
    );

    let spec = js_sys::JSON::parse(r#"{"scheme": "Bearer", "params": [["error", "invalid_token"], ["error_description", "say \"hi\""]]}"#)
        .expect("JSON");
    assert_eq!(
        render_challenge(spec).expect("renders"),
        r#"Bearer error="invalid_token", error_description="say \"hi\"""#
    );
    let token68 =
        js_sys::JSON::parse(r#"{"scheme": "Negotiate", "token68": "a=b"}"#).expect("JSON");
    assert_eq!(
        code(render_challenge(token68).unwrap_err()),
        "invalid_token68"
    );
    let control = js_sys::JSON::parse(r#"{"scheme": "Bearer", "params": [["realm", "a\nb"]]}"#)
        .expect("JSON");
    assert_eq!(
        code(render_challenge(control).unwrap_err()),
        "control_character"
    );
    assert_eq!(
        code(render_challenge(JsValue::from(5)).unwrap_err()),
        "invalid_challenge"
    );
}
