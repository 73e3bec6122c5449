//! Replays `tests/vectors/challenge/*.json` against `bearerflow::challenge`.
//!
//! The format (see `tests/vectors/README.md`) matches the output of
//! `bearerflow challenge`, so the same files can check the CLI, the C ABI and WASM.

use bearerflow::challenge::{
    parse_bytes, parse_lines, BearerChallenge, Challenge, ChallengeError, Challenges, Mode,
};
use bearerflow_tests::vectors_dir;
use serde_json::{json, Map, Value};
use std::fs;

fn bearer_json(c: &Challenge<'_>) -> Value {
    match BearerChallenge::from_challenge(c) {
        Ok(b) => json!({
            "realm": b.realm,
            "error": b.error.as_ref().map(|e| e.as_str()),
            "error_description": b.error_description,
            "error_uri": b.error_uri,
            "scope": b.scope,
            "scopes": b.scopes().collect::<Vec<_>>(),
            "resource_metadata": b.resource_metadata,
        }),
        Err(e) => json!({ "error": e.kind.code() }),
    }
}

fn error_json(e: ChallengeError) -> Value {
    json!({ "ok": false, "offset": e.offset, "code": e.kind.code() })
}

/// The outcome in the vector shape. `want_bearer[i]` says whether challenge `i`
/// gets its typed Bearer view (only where the vector asks for one).
fn outcome(mut it: Challenges<'_>, want_bearer: &[bool]) -> Value {
    let mut challenges = Vec::new();
    for c in &mut it {
        let c = match c {
            Ok(c) => c,
            Err(e) => return error_json(e),
        };
        let params: Vec<Value> = c
            .params()
            .map(|p| json!([p.name(), p.to_string_value()]))
            .collect();
        let mut obj = Map::new();
        obj.insert("scheme".into(), json!(c.scheme()));
        obj.insert("token68".into(), json!(c.token68()));
        obj.insert("params".into(), Value::Array(params));
        if want_bearer.get(challenges.len()).copied().unwrap_or(false) {
            obj.insert("bearer".into(), bearer_json(&c));
        }
        challenges.push(Value::Object(obj));
    }
    let tolerated: Vec<&str> = it.tolerated().names().collect();
    json!({ "ok": true, "challenges": challenges, "tolerated": tolerated })
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().collect();
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect()
}

fn check(name: &str, vector: &Value) -> Result<(), String> {
    let mode = match vector["mode"].as_str() {
        Some("strict") => Mode::Strict,
        Some("lenient") => Mode::Lenient,
        other => return Err(format!("bad mode {other:?}")),
    };
    let expect = &vector["expect"];
    let want_bearer: Vec<bool> = expect["challenges"]
        .as_array()
        .map(|cs| cs.iter().map(|c| c.get("bearer").is_some()).collect())
        .unwrap_or_default();
    let got = if let Some(hexes) = vector.get("input_hex") {
        let [line] = hexes.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err("input_hex takes exactly one line".into());
        };
        let bytes = line.as_str().and_then(hex).ok_or("bad hex")?;
        match parse_bytes(&bytes, mode) {
            Ok(it) => outcome(it, &want_bearer),
            Err(e) => error_json(e),
        }
    } else {
        let lines: Vec<String> = serde_json::from_value(vector["input"].clone())
            .map_err(|e| format!("bad input: {e}"))?;
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let got = outcome(parse_lines(&refs, mode), &want_bearer);
        // The lines stand for their join by ", " (RFC 9110 §5.3).
        let joined = refs.join(", ");
        let one = [joined.as_str()];
        let again = outcome(parse_lines(&one, mode), &want_bearer);
        if again != got {
            return Err(format!("lines {got} differ from their join {again}"));
        }
        if let Some(offset) = got["offset"].as_u64() {
            if offset as usize > joined.len() {
                return Err(format!("offset {offset} past the end"));
            }
        }
        got
    };
    // Compare the keys the vector states ("tolerated" and "code" are optional).
    let mut wanted = got.clone();
    if let (Some(w), Some(e)) = (wanted.as_object_mut(), expect.as_object()) {
        w.retain(|k, _| e.contains_key(k));
    }
    if &wanted != expect {
        return Err(format!("{name}:\n  want {expect}\n  got  {got}"));
    }
    Ok(())
}

#[test]
fn challenge_vectors() {
    let dir = vectors_dir().join("challenge");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    let mut failures = Vec::new();
    let mut count = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let vectors: Vec<Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for vector in &vectors {
            count += 1;
            let name = format!(
                "{}: {}",
                file.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default(),
                vector["name"].as_str().unwrap_or("?")
            );
            if let Err(e) = check(&name, vector) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 100, "only {count} vectors");
}
