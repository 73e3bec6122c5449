//! Scope strings (RFC 6749 §3.3): space-delimited, case-sensitive tokens whose order
//! does not matter.
//!
//! Step-up authorization (RFC 6750 §3.1 `insufficient_scope`, MCP authorization
//! "scope challenge handling") asks for the union of what was granted and what the
//! server now requires, so that the new token does not lose earlier permissions.

use alloc::string::String;
use alloc::vec::Vec;

/// Scope tokens of `s`, skipping empty ones (so repeated spaces are harmless).
pub fn scope_tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').filter(|t| !t.is_empty())
}

/// `a ∪ b`: the tokens of `a` then those of `b` not already present, each once, joined
/// by single spaces.
///
/// ```
/// use bearerflow::oauth::scope_union;
/// assert_eq!(scope_union("read write", "write admin read"), "read write admin");
/// assert_eq!(scope_union("", " a  a "), "a");
/// ```
pub fn scope_union(a: &str, b: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for t in scope_tokens(a).chain(scope_tokens(b)) {
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    seen.join(" ")
}

/// Whether every token of `required` is among the tokens of `granted`.
///
/// ```
/// use bearerflow::oauth::scope_covers;
/// assert!(scope_covers("a b c", "c a"));
/// assert!(!scope_covers("a b", "a B"));
/// assert!(scope_covers("a", ""));
/// ```
pub fn scope_covers(granted: &str, required: &str) -> bool {
    scope_tokens(required).all(|r| scope_tokens(granted).any(|g| g == r))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn union_examples() {
        assert_eq!(scope_union("", ""), "");
        assert_eq!(scope_union("a", ""), "a");
        assert_eq!(scope_union("", "b"), "b");
        assert_eq!(scope_union("a a b", "b c"), "a b c");
        assert_eq!(
            scope_union("mcp:read", "mcp:write mcp:read"),
            "mcp:read mcp:write"
        );
        // Case-sensitive (RFC 6749 §3.3).
        assert_eq!(scope_union("Read", "read"), "Read read");
    }

    proptest! {
        #[test]
        fn union_properties(a in "[a-c ]{0,12}", b in "[a-d ]{0,12}") {
            let u = scope_union(&a, &b);
            prop_assert!(scope_covers(&u, &a));
            prop_assert!(scope_covers(&u, &b));
            let toks: Vec<&str> = scope_tokens(&u).collect();
            for (i, t) in toks.iter().enumerate() {
                prop_assert!(!toks[i + 1..].contains(t), "duplicate {}", t);
            }
            prop_assert!(!u.starts_with(' ') && !u.ends_with(' ') && !u.contains("  "));
            // Order-preserving: the first token of `a` (if any) leads.
            if let Some(first) = scope_tokens(&a).next() {
                prop_assert_eq!(toks.first().copied(), Some(first));
            }
            // Idempotent.
            prop_assert_eq!(scope_union(&u, &b), u.clone());
        }
    }
}
