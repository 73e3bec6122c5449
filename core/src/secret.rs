//! Secrets: access and refresh tokens, client secrets, PKCE verifiers.
//!
//! A [`Secret`] never shows its contents in `Debug` or `Display`, and its bytes are
//! zeroized when it is dropped. Reading it is explicit: [`Secret::expose`].

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use zeroize::Zeroize;

/// A string that must not leak into logs, errors or `Debug` output.
///
/// Held as an exactly sized `Box<str>`: no spare capacity to hold stale copies, and two
/// words instead of three in every session that keeps tokens.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret::from(value.into())
    }

    /// The secret text. Call this only where the value must go on the wire or to storage.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(mut s: String) -> Secret {
        if s.len() == s.capacity() {
            return Secret(s.into_boxed_str());
        }
        // Shrinking would reallocate and free the old buffer unzeroized: copy, then
        // zeroize the original.
        let exact = Box::from(s.as_str());
        s.zeroize();
        Secret(exact)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(Box::from(s))
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("tok-very-secret");
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(!format!("{s}").contains("very-secret"));
        assert_eq!(s.expose(), "tok-very-secret");
    }
}
