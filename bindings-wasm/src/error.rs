//! Errors as JavaScript sees them: an `Error` whose `code` is core's stable snake_case
//! code and whose message is core's `Display` text (which never quotes a secret).

use core::fmt::Display;
use wasm_bindgen::JsValue;

/// What every fallible method returns; the error is thrown in JavaScript.
pub type Result<T> = core::result::Result<T, JsValue>;

/// `new Error(message)` with `error.code = code`.
pub fn coded(code: &str, message: impl Display) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    // Setting a property on a fresh `Error` object cannot fail (it is extensible and
    // has no setter for `code`); if it ever did, the error still carries its message.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}
