//! Every file of `tests/vectors/` replayed through the binding's own public API (the
//! `Session` class and `parseChallenges` as JavaScript calls them), in Node and in
//! headless Chromium: the loop of `tests/vectors/README.md`, with each action compared
//! as the plain JavaScript object the host receives.
#![cfg(target_arch = "wasm32")]

use bearerflow_wasm::{parse_challenge_bytes, parse_challenges, Session};
use serde_json::Value;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

/// The generated per-file tests and the file list (see `build.rs`).
mod files {
    include!(concat!(env!("OUT_DIR"), "/vectors.rs"));
}

/// A JavaScript value as JSON data (what `JSON.stringify` makes of it).
fn json(v: &JsValue) -> Value {
    if v.is_undefined() {
        return Value::Null;
    }
    let text = js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn err(e: JsValue) -> String {
    let code = js_sys::Reflect::get(&e, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default();
    let message = js_sys::Reflect::get(&e, &"message".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default();
    format!("threw {code}: {message}")
}

fn seed(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn drain(s: &mut Session) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    loop {
        let a = s.poll_action().map_err(err)?;
        if a.is_undefined() {
            return Ok(out);
        }
        out.push(json(&a));
    }
}

fn observe(s: &Session, now: f64) -> Result<(Value, String), String> {
    let timeout = s
        .poll_timeout()
        .map_or(Value::Null, |t| Value::from(t as u64));
    Ok((timeout, s.phase(now).map_err(err)?))
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// Apply one step's event through the class, checking what the event itself pins.
fn apply(s: &mut Session, step: &Value, now: f64) -> Result<(), String> {
    let id = num(step, "id");
    match step["do"].as_str().unwrap_or_default() {
        "begin_request" => {
            let got = s.begin_request(now).map_err(err)?;
            if got != id {
                return Err(format!("begin_request gave {got}, vector says {id}"));
            }
        }
        "resource_response" => {
            let lines: Vec<String> =
                serde_json::from_value(step["www_authenticate"].clone()).unwrap_or_default();
            let status = step["status"].as_u64().unwrap_or(0) as u16;
            let verdict = s
                .handle_resource_response(id, status, lines, now)
                .map_err(err)?;
            if verdict != text(step, "verdict") {
                return Err(format!(
                    "verdict {verdict}, vector says {}",
                    step["verdict"]
                ));
            }
        }
        "http_response" => {
            let pairs: Vec<(String, String)> =
                serde_json::from_value(step["headers"].clone()).unwrap_or_default();
            let flat: Vec<String> = pairs.into_iter().flat_map(|(n, v)| [n, v]).collect();
            let status = step["status"].as_u64().unwrap_or(0) as u16;
            s.handle_http_response(id, status, flat, text(step, "body").as_bytes(), now)
                .map_err(err)?;
        }
        "http_error" => s
            .handle_http_error(id, &text(step, "kind"), now)
            .map_err(err)?,
        "helper_output" => s
            .handle_helper_stdout(text(step, "stdout").as_bytes(), now)
            .map_err(err)?,
        "helper_failure" => {
            let code = step["exit_code"].as_i64().map(|c| c as i32);
            s.handle_helper_failure(code, now).map_err(err)?
        }
        "redirect" => {
            let ok = s.handle_redirect(&text(step, "url"), now).is_ok();
            if Some(ok) != step["ok"].as_bool() {
                return Err(format!(
                    "redirect accepted={ok}, vector says {}",
                    step["ok"]
                ));
            }
        }
        "authorize_error" => s.handle_authorize_error(now).map_err(err)?,
        "persist_failed" => s.handle_persist_failed(now).map_err(err)?,
        "timeout" => s.handle_timeout(now).map_err(err)?,
        "cancel_request" => s.cancel_request(id).map_err(err)?,
        "reauthorize" => s.reauthorize(now).map_err(err)?,
        "set_tokens" => s
            .set_tokens(
                &text(step, "access_token"),
                step["refresh_token"].as_str().map(String::from),
                step["expires_in"].as_f64(),
                step["scope"].as_str().map(String::from),
                now,
            )
            .map_err(err)?,
        other => return Err(format!("unknown event {other:?}")),
    }
    Ok(())
}

fn replay(v: &Value) -> Result<usize, String> {
    let config = v["config"].to_string();
    let seed = seed(&text(v, "seed"));
    let start = num(v, "start");
    let mut s = match &v["snapshot"] {
        Value::Null => Session::new(&config, &seed, start),
        snap => Session::restore(&config, &snap.to_string(), &seed, start),
    }
    .map_err(err)?;
    let initial = drain(&mut s)?;
    if Value::from(initial.clone()) != v["initial"] {
        return Err(format!(
            "initial actions: got {initial:?}, want {}",
            v["initial"]
        ));
    }
    let want = (v["initial_timeout"].clone(), text(v, "initial_phase"));
    let got = observe(&s, start)?;
    if got != want {
        return Err(format!("after creation: got {got:?}, want {want:?}"));
    }
    let steps = v["steps"].as_array().cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let at = num(step, "at");
        apply(&mut s, step, at).map_err(|e| format!("step {i}: {e}"))?;
        let got = drain(&mut s)?;
        if Value::from(got.clone()) != step["expect"] {
            return Err(format!(
                "step {i} ({} at {at}): actions\n got {}\nwant {}",
                step["do"],
                Value::from(got),
                step["expect"]
            ));
        }
        let want = (step["timeout"].clone(), text(step, "phase"));
        let seen = observe(&s, at)?;
        if seen != want {
            return Err(format!(
                "step {i}: got timeout/phase {seen:?}, want {want:?}"
            ));
        }
    }
    let stats = json(&s.stats().map_err(err)?);
    if stats != v["stats"] {
        return Err(format!("stats: got {stats}, want {}", v["stats"]));
    }
    Ok(steps.len())
}

/// One session vector file, replayed (called by the generated per-file tests).
fn check_session_file(name: &str, text: &str) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match replay(&v) {
        Ok(steps) => assert!(steps > 0, "{name}: no steps"),
        Err(e) => panic!("{name}: {e}"),
    }
}

#[wasm_bindgen_test]
fn every_vector_file_has_a_test() {
    assert!(
        files::SESSION.len() >= 19,
        "only {} session vectors",
        files::SESSION.len()
    );
    assert!(
        files::CHALLENGE.len() >= 6,
        "only {} challenge files",
        files::CHALLENGE.len()
    );
}

fn unhex(s: &str) -> Vec<u8> {
    seed(s)
}

/// One challenge vector: the outcome, keeping only the keys the vector states
/// (`tolerated` and a failure's `message` are optional there, `bearer` is asked per
/// challenge).
fn check_challenge(vector: &Value) -> Result<(), String> {
    let mode = vector["mode"].as_str().map(String::from);
    let got = match vector.get("input_hex") {
        Some(lines) => {
            let line = lines[0].as_str().unwrap_or_default();
            parse_challenge_bytes(&unhex(line), mode).map_err(err)?
        }
        None => {
            let lines: Vec<String> =
                serde_json::from_value(vector["input"].clone()).unwrap_or_default();
            parse_challenges(lines, mode).map_err(err)?
        }
    };
    let mut got = json(&got);
    let expect = &vector["expect"];
    if let (Some(g), Some(e)) = (got.as_object_mut(), expect.as_object()) {
        g.retain(|k, _| e.contains_key(k));
    }
    if let (Some(gs), Some(es)) = (
        got.get_mut("challenges").and_then(Value::as_array_mut),
        expect["challenges"].as_array(),
    ) {
        for (g, e) in gs.iter_mut().zip(es) {
            if e.get("bearer").is_none() {
                if let Some(g) = g.as_object_mut() {
                    g.remove("bearer");
                }
            }
        }
    }
    if &got != expect {
        return Err(format!("got {got}, want {expect}"));
    }
    Ok(())
}

/// One challenge vector file: every vector in it (called by the generated per-file tests).
fn check_challenge_file(file: &str, text: &str) {
    let vectors: Vec<Value> = serde_json::from_str(text).unwrap_or_default();
    assert!(!vectors.is_empty(), "{file}: no vectors");
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| {
            check_challenge(v)
                .err()
                .map(|e| format!("{}: {e}", v["name"]))
        })
        .collect();
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}
