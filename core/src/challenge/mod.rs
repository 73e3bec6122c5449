//! `WWW-Authenticate` and `Authorization` headers (RFC 9110 §11.6.1, RFC 6750 §3,
//! RFC 9728 §5.1).
//!
//! A 401 or 403 tells the client what to do next in its `WWW-Authenticate` field:
//! refresh (`error="invalid_token"`), step up (`error="insufficient_scope"`,
//! `scope="…"`), or start discovery at `resource_metadata`. This module reads those
//! fields without allocating, gives the Bearer attributes a typed view, and, for
//! servers, renders challenges and reads `Authorization: Bearer` request headers.
//!
//! # Reading
//!
//! [`parse`] (one field value), [`parse_lines`] (several field lines, as if joined
//! by `", "`) and [`parse_bytes`] (raw bytes) return [`Challenges`], an iterator of
//! [`Challenge`]s. Each challenge borrows the header: its scheme, its token68 or its
//! [`Param`]s. Quoted-strings are unescaped only when read, without copying when
//! they hold no escape, into a caller buffer, a `heapless::String` or a `String`.
//!
//! ```
//! use bearerflow::challenge::{parse, Mode};
//!
//! let value = r#"Basic realm="a", Bearer error="invalid_token", error_description="expired""#;
//! let mut buf = [0u8; 64];
//! for challenge in parse(value, Mode::Strict) {
//!     let challenge = challenge?;
//!     for p in challenge.params() {
//!         let v = p.unescape_into(&mut buf)?;
//!         println!("{} {}={}", challenge.scheme(), p.name(), v);
//!     }
//! }
//! # Ok::<(), bearerflow::challenge::ChallengeError>(())
//! ```
//!
//! The grammar (RFC 9110 §11.6.1, §11.2, §5.6):
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param  = token BWS "=" BWS ( token / quoted-string )
//! token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! How the hard cases read:
//!
//! - A list element that is a token followed by `=` is a parameter of the current
//!   challenge; any other element starts a new challenge. So
//!   `Basic realm="a", Bearer error="invalid_token"` holds two challenges, and a
//!   `,` or `=` inside a quoted-string is just text.
//! - Empty list elements are skipped (RFC 9110 §5.6.1.2): `Basic , realm="x"` is
//!   `Basic` with `realm`. But a comma right after the scheme ends the challenge:
//!   in `Basic, realm="x"` the `realm` belongs to no challenge, an
//!   [`ParamOutsideChallenge`](ChallengeErrorKind::ParamOutsideChallenge) error.
//! - Scheme and parameter names compare case-insensitively; a name given twice in
//!   one challenge is an error (RFC 9110 §11.2), which lenient mode tolerates.
//! - A challenge carries at most [`MAX_PARAMS`] (64) auth-params; more is a
//!   [`TooManyParams`](ChallengeErrorKind::TooManyParams) error in both modes. With
//!   that cap and a hash set for the duplicate check, parsing takes time linear in
//!   the header's length whatever it holds.
//! - **obs-text.** Bytes above 0x7F are accepted inside quoted-strings (RFC 9110
//!   §5.6.4 `qdtext` includes `obs-text`) as long as they form UTF-8, so that every
//!   value is a `&str`. [`parse_bytes`] reports other bytes as
//!   [`InvalidUtf8`](ChallengeErrorKind::InvalidUtf8) at their offset. Outside
//!   quoted-strings they are an [`UnexpectedByte`](ChallengeErrorKind::UnexpectedByte)
//!   (except inside lenient unquoted values). Rendering never produces them.
//! - Control characters anywhere, a backslash ending the value inside quotes, or a
//!   backslash escaping a control character are errors with the byte offset.
//!
//! # Modes
//!
//! [`Mode::Strict`] turns every deviation from the grammar into a [`ChallengeError`]
//! carrying the byte offset. [`Mode::Lenient`], which the session machine uses,
//! also accepts what real servers send, and reports each tolerance in
//! [`Challenge::tolerated`] ([`Leniency`]): parameters without a comma between them
//! (`Bearer resource_metadata="…" scope="mcp:x"`), unquoted values with characters
//! outside `tchar` (`scope=read:data`, unquoted URLs), a repeated parameter (the
//! first wins), and a tab after the scheme.
//!
//! # Bearer
//!
//! [`BearerChallenge`] is the typed view of RFC 6750 §3 and RFC 9728 §5.1 attributes;
//! [`find_bearer`] finds it in a response's header lines.
//!
//! # Writing (servers)
//!
//! [`render`], [`render_token68`] and [`BearerChallenge::render`] produce challenge
//! values with correct quoting and refuse what a header cannot carry.
//! [`parse_authorization_bearer`] and [`render_authorization_bearer`] handle the
//! request side (RFC 6750 §2.1).

mod authorization;
mod bearer;
mod error;
mod lexer;
mod parse;
mod render;

pub use authorization::{parse_authorization_bearer, render_authorization_bearer};
pub use bearer::{find_bearer, BearerChallenge, BearerError};
pub use error::{
    AuthorizationError, AuthorizationErrorKind, ChallengeError, ChallengeErrorKind, RenderError,
    RenderErrorKind,
};
pub use parse::{
    parse, parse_bytes, parse_lines, Challenge, Challenges, Chunks, Leniency, Mode, Param, Params,
    MAX_PARAMS,
};
pub use render::{render, render_token68};

#[cfg(test)]
mod tests;
