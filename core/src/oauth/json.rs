//! Field-by-field extraction from JSON response bodies, so that every parser can say
//! which field was missing or had the wrong type (instead of serde's generic message),
//! and so that secret strings are moved, never copied, into a [`Secret`].

use super::error::BodyProblem;
use crate::secret::Secret;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::{Map, Value};

/// A parsed JSON object.
pub(crate) type Object = Map<String, Value>;

/// Byte offset in `body` that a serde_json error points at (serde_json reports a
/// one-based line and a column counted in bytes from the start of that line).
fn error_offset(body: &[u8], err: &serde_json::Error) -> usize {
    let mut line_start = 0usize;
    let mut line = 1usize;
    if err.line() > 1 {
        for (i, &b) in body.iter().enumerate() {
            if b == b'\n' {
                line += 1;
                line_start = i + 1;
                if line == err.line() {
                    break;
                }
            }
        }
    }
    line_start
        .saturating_add(err.column().saturating_sub(1))
        .min(body.len())
}

/// Parse `body` as a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Object, BodyProblem> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyProblem::NotObject),
        Err(e) => Err(BodyProblem::NotJson {
            offset: error_offset(body, &e),
        }),
    }
}

/// Remove `field`; `null` counts as absent. A non-string value is a typed error.
pub(crate) fn take_string(
    obj: &mut Object,
    field: &'static str,
) -> Result<Option<String>, BodyProblem> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(BodyProblem::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// Like [`take_string`] but the field must be present.
pub(crate) fn require_string(obj: &mut Object, field: &'static str) -> Result<String, BodyProblem> {
    take_string(obj, field)?.ok_or(BodyProblem::MissingField(field))
}

/// Remove a string field straight into a [`Secret`] (the heap buffer is moved, so the
/// only copy is zeroized when the secret drops).
pub(crate) fn take_secret(
    obj: &mut Object,
    field: &'static str,
) -> Result<Option<Secret>, BodyProblem> {
    Ok(take_string(obj, field)?.map(Secret::from))
}

/// Remove an array-of-strings field; `null` counts as absent.
pub(crate) fn take_string_array(
    obj: &mut Object,
    field: &'static str,
) -> Result<Option<Vec<String>>, BodyProblem> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s),
                    _ => {
                        return Err(BodyProblem::WrongType {
                            field,
                            expected: "an array of strings",
                        })
                    }
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(BodyProblem::WrongType {
            field,
            expected: "an array of strings",
        }),
    }
}

/// Remove a boolean field; `null` counts as absent.
pub(crate) fn take_bool(
    obj: &mut Object,
    field: &'static str,
) -> Result<Option<bool>, BodyProblem> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(BodyProblem::WrongType {
            field,
            expected: "a boolean",
        }),
    }
}

/// Remove a non-negative integer field given as a JSON number or a numeric string
/// (servers send both for `expires_in`). Fractions are truncated; values above `max`
/// are clamped to `max`; negative or non-numeric values are typed errors.
pub(crate) fn take_non_negative(
    obj: &mut Object,
    field: &'static str,
    max: u64,
) -> Result<Option<u64>, BodyProblem> {
    let bad = BodyProblem::InvalidValue {
        field,
        reason: "must be a non-negative number of seconds",
    };
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                Ok(Some(u.min(max)))
            } else if n.as_i64().is_some() {
                Err(bad)
            } else {
                match n.as_f64() {
                    // `as` saturates for f64 -> u64; the value is finite and >= 0 here.
                    Some(f) if f.is_finite() && f >= 0.0 => Ok(Some((f as u64).min(max))),
                    _ => Err(bad),
                }
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad);
            }
            // All digits: the only possible failure is overflow, which clamps.
            Ok(Some(t.parse::<u64>().unwrap_or(u64::MAX).min(max)))
        }
        Some(_) => Err(BodyProblem::WrongType {
            field,
            expected: "a number",
        }),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        match v {
            Value::Object(m) => m,
            _ => Object::new(),
        }
    }

    #[test]
    fn not_json_offset_points_at_bad_byte() {
        assert_eq!(
            parse_object(b"{\"a\": x}"),
            Err(BodyProblem::NotJson { offset: 6 })
        );
        assert_eq!(
            parse_object(b"{\n  \"a\": 1,\n  oops}"),
            Err(BodyProblem::NotJson { offset: 14 })
        );
        assert_eq!(parse_object(b"[1]"), Err(BodyProblem::NotObject));
        assert!(matches!(
            parse_object(b""),
            Err(BodyProblem::NotJson { offset: 0 })
        ));
    }

    #[test]
    fn typed_field_errors_name_the_field() {
        let mut o = obj(json!({"s": 1, "a": ["x", 2], "b": "yes", "n": null}));
        assert_eq!(
            take_string(&mut o, "s"),
            Err(BodyProblem::WrongType {
                field: "s",
                expected: "a string"
            })
        );
        assert_eq!(
            take_string_array(&mut o, "a"),
            Err(BodyProblem::WrongType {
                field: "a",
                expected: "an array of strings"
            })
        );
        assert_eq!(
            take_bool(&mut o, "b"),
            Err(BodyProblem::WrongType {
                field: "b",
                expected: "a boolean"
            })
        );
        assert_eq!(take_string(&mut o, "n"), Ok(None));
        assert_eq!(
            require_string(&mut o, "gone"),
            Err(BodyProblem::MissingField("gone"))
        );
    }

    #[test]
    fn non_negative_numbers() {
        let mut o = obj(json!({
            "a": 3600, "b": "120", "c": -1, "d": "-5", "e": "12s", "f": 1e300,
            "g": "99999999999999999999999", "h": 1.9, "i": true, "j": ""
        }));
        assert_eq!(take_non_negative(&mut o, "a", 1000), Ok(Some(1000)));
        assert_eq!(take_non_negative(&mut o, "b", 1000), Ok(Some(120)));
        assert!(matches!(
            take_non_negative(&mut o, "c", 9),
            Err(BodyProblem::InvalidValue { field: "c", .. })
        ));
        assert!(matches!(
            take_non_negative(&mut o, "d", 9),
            Err(BodyProblem::InvalidValue { .. })
        ));
        assert!(matches!(
            take_non_negative(&mut o, "e", 9),
            Err(BodyProblem::InvalidValue { .. })
        ));
        assert_eq!(take_non_negative(&mut o, "f", 77), Ok(Some(77)));
        assert_eq!(take_non_negative(&mut o, "g", 77), Ok(Some(77)));
        assert_eq!(take_non_negative(&mut o, "h", 77), Ok(Some(1)));
        assert!(matches!(
            take_non_negative(&mut o, "i", 9),
            Err(BodyProblem::WrongType { field: "i", .. })
        ));
        assert!(matches!(
            take_non_negative(&mut o, "j", 9),
            Err(BodyProblem::InvalidValue { .. })
        ));
        assert_eq!(take_non_negative(&mut o, "missing", 9), Ok(None));
    }

    proptest! {
        #[test]
        fn parse_object_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(BodyProblem::NotJson { offset }) = parse_object(&body) {
                prop_assert!(offset <= body.len());
            }
        }
    }
}
