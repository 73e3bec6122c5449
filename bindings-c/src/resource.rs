//! The server half on its own: core's guard (`bearerflow::guard`) for native resource
//! servers. Given a request's `Authorization` lines and query, and the host's
//! verification of the token, it says whether to serve the request or what to answer:
//! the status, the exact `WWW-Authenticate` value (RFC 6750 §3, RFC 9728 §5.1) and a
//! JSON body, written into the caller's buffer.
//!
//! These functions keep no state: any thread may call them at any time. The settings
//! ([`bf_guard`]) are read during each call only.

use crate::args::{self, write_text, Out, OutArray};
use crate::guard::{guard, Failure};
use crate::types::{absent_str, bf_status, bf_str, borrow_str};
use bearerflow::guard::{
    self as core_guard, Guard, GuardError, Refusal, RefusalKind, Verification,
};
use core::ffi::c_char;

/// A protected resource's settings: the canonical URI tokens must name as their
/// audience (RFC 8707), and what every challenge names. A `ptr` of NULL means absent.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_guard {
    /// The resource's canonical URI (the MCP server's URL). Required.
    pub resource: bf_str,
    /// The protected resource metadata URL every challenge names (RFC 9728 §5.1);
    /// NULL `ptr`: none.
    pub resource_metadata: bf_str,
    /// The `realm` every challenge names (RFC 9110 §11.5); NULL `ptr`: none.
    pub realm: bf_str,
}

/// How the host's verification of a token came out (core's `Verification`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_verification_kind {
    /// Genuine and unexpired: `scope` and `audiences` say what it grants.
    Valid = 0,
    /// Genuine but expired.
    Expired = 1,
    /// Not genuine, revoked, or unknown to the authorization server.
    Invalid = 2,
    /// The request was fine, but the upstream token a tool derived from it expired.
    UpstreamExpired = 3,
    /// Bound to a key (RFC 9449 DPoP); not verified by this guard.
    ProofOfPossession = 4,
}

/// A verification outcome, for `bf_guard_decide`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_verification {
    /// A `bf_verification_kind` value.
    pub kind: u32,
    /// `BF_VERIFICATION_KIND_VALID`: the granted scope, space separated.
    pub scope: bf_str,
    /// `BF_VERIFICATION_KIND_VALID`: the token's audiences (JWT `aud`, RFC 7662 `aud`).
    pub audiences: *const bf_str,
    /// How many audiences.
    pub n_audiences: usize,
}

/// Why a request is refused (core's `RefusalKind`; `kind_code` is the stable form).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_refusal_kind {
    /// Not refused: serve the request.
    None = 0,
    /// `missing_token`: no `Authorization` header (401, no error code).
    MissingToken = 1,
    /// `malformed_authorization`: not `Bearer <b64token>` (400 `invalid_request`).
    MalformedAuthorization = 2,
    /// `multiple_tokens`: more than one credential (400).
    MultipleTokens = 3,
    /// `token_in_query`: an `access_token` in the query string (400).
    TokenInQuery = 4,
    /// `invalid_token`: not genuine, revoked or unknown (401).
    InvalidToken = 5,
    /// `expired_token` (401 `invalid_token`).
    ExpiredToken = 6,
    /// `missing_audience` (401 `invalid_token`).
    MissingAudience = 7,
    /// `wrong_audience` (401 `invalid_token`).
    WrongAudience = 8,
    /// `insufficient_scope` (403, with `scope`).
    InsufficientScope = 9,
    /// `upstream_token_expired` (401 `invalid_token`).
    UpstreamTokenExpired = 10,
    /// `proof_of_possession_not_supported` (400).
    ProofOfPossessionNotSupported = 11,
    /// A kind newer than this header: read `kind_code`.
    Other = 255,
}

const KINDS: [(RefusalKind, bf_refusal_kind); 11] = [
    (RefusalKind::MissingToken, bf_refusal_kind::MissingToken),
    (
        RefusalKind::MalformedAuthorization,
        bf_refusal_kind::MalformedAuthorization,
    ),
    (RefusalKind::MultipleTokens, bf_refusal_kind::MultipleTokens),
    (RefusalKind::TokenInQuery, bf_refusal_kind::TokenInQuery),
    (RefusalKind::InvalidToken, bf_refusal_kind::InvalidToken),
    (RefusalKind::ExpiredToken, bf_refusal_kind::ExpiredToken),
    (
        RefusalKind::MissingAudience,
        bf_refusal_kind::MissingAudience,
    ),
    (RefusalKind::WrongAudience, bf_refusal_kind::WrongAudience),
    (
        RefusalKind::InsufficientScope,
        bf_refusal_kind::InsufficientScope,
    ),
    (
        RefusalKind::UpstreamTokenExpired,
        bf_refusal_kind::UpstreamTokenExpired,
    ),
    (
        RefusalKind::ProofOfPossessionNotSupported,
        bf_refusal_kind::ProofOfPossessionNotSupported,
    ),
];

fn kind_out(kind: RefusalKind) -> bf_refusal_kind {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(bf_refusal_kind::Other, |(_, c)| *c)
}

/// What to answer: `status` 0 means serve the request; otherwise the status, the kind,
/// and the header value and body, NUL-terminated, in the caller's `buf`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_refusal {
    /// 0 (serve the request), or the HTTP status: 400, 401 or 403.
    pub status: u16,
    /// Why (`BF_REFUSAL_KIND_NONE` when serving).
    pub kind: bf_refusal_kind,
    /// Core's stable code for the kind (`expired_token`, …); static, not NUL-terminated;
    /// empty when serving.
    pub kind_code: bf_str,
    /// The `WWW-Authenticate` value, in `buf`; empty when serving.
    pub www_authenticate: bf_str,
    /// The JSON body (`{"error": …, "error_description": …}`), in `buf`; empty when
    /// serving.
    pub body: bf_str,
    /// Bytes of `buf` used (on `BF_STATUS_BUFFER_TOO_SMALL`: the bytes needed).
    pub buf_len: usize,
}

fn serve() -> bf_refusal {
    bf_refusal {
        status: 0,
        kind: bf_refusal_kind::None,
        kind_code: borrow_str(""),
        www_authenticate: borrow_str(""),
        body: borrow_str(""),
        buf_len: 0,
    }
}

/// Write `r` into `out`, its texts into `buf`.
fn refusal_out(r: &Refusal, buf: &OutArray<u8>, out: &Out<bf_refusal>) -> Result<(), Failure> {
    let header = r.www_authenticate.as_bytes();
    let body = r.body.as_bytes();
    let needed = header.len() + 1 + body.len() + 1;
    let fits = needed <= buf.cap()
        && buf.copy_at(0, header)
        && buf.copy_at(header.len(), &[0])
        && buf.copy_at(header.len() + 1, body)
        && buf.copy_at(needed - 1, &[0]);
    let text = |at: usize, len: usize| {
        if fits {
            bf_str {
                ptr: buf.at(at).cast(),
                len,
            }
        } else {
            borrow_str("")
        }
    };
    out.write(bf_refusal {
        status: r.status,
        kind: kind_out(r.kind),
        kind_code: borrow_str(r.kind.code()),
        www_authenticate: text(0, header.len()),
        body: text(header.len() + 1, body.len()),
        buf_len: needed,
    });
    if fits {
        Ok(())
    } else {
        Err(Failure::too_small("buf", needed, "bytes"))
    }
}

fn setting_failure(e: GuardError) -> Failure {
    Failure::core(
        bf_status::Guard,
        crate::header::render_code(e.reason.kind).0,
        &e,
    )
}

/// Read the settings and hand core's guard over them to `f`.
///
/// # Safety
/// `settings` is NULL or points at a readable `bf_guard` whose strings are readable.
unsafe fn with_guard<R>(
    settings: *const bf_guard,
    f: impl FnOnce(Guard<'_>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    if settings.is_null() {
        return Err(Failure::null("guard"));
    }
    if !settings.is_aligned() {
        return Err(Failure::invalid("guard", "misaligned pointer"));
    }
    // SAFETY: non-NULL, aligned, and the header requires a readable `bf_guard` (three
    // pointer-and-length pairs: every bit pattern is valid).
    let s = unsafe { settings.read() };
    // SAFETY: the header requires readable strings for the call.
    let resource = unsafe { args::str_arg(s.resource, "guard.resource") }?;
    let optional = |v: bf_str, what: &str| -> Result<Option<&str>, Failure> {
        if v.ptr.is_null() {
            Ok(None)
        } else {
            // SAFETY: as above, for a non-NULL field.
            unsafe { args::str_arg(v, what) }.map(Some)
        }
    };
    let mut g = Guard::new(resource);
    if let Some(m) = optional(s.resource_metadata, "guard.resource_metadata")? {
        g = g.with_resource_metadata(m).map_err(setting_failure)?;
    }
    if let Some(r) = optional(s.realm, "guard.realm")? {
        g = g.with_realm(r).map_err(setting_failure)?;
    }
    f(g)
}

/// The bearer token of a request: from all its `Authorization` lines
/// (`lines[0..n_lines]`) and its raw query string (`query`, may be NULL: none), by
/// core's rules (RFC 6750 §2; MCP: never in the query string). Served: `*token` borrows
/// the line it came from and `refusal->status` is 0. Refused: `*token` is absent (NULL)
/// and `*refusal` says what to answer (no header: 401; malformed, two credentials, DPoP,
/// `access_token` in the query: 400), its texts in `buf` (`buf_cap` bytes; too small:
/// `BF_STATUS_BUFFER_TOO_SMALL` with `refusal->buf_len` the bytes needed, 512 always
/// suffice for settings under 256 bytes). A setting that cannot go into a header is
/// `BF_STATUS_GUARD` (codes `control_character`, `non_ascii`).
#[no_mangle]
pub unsafe extern "C" fn bf_guard_token(
    settings: *const bf_guard,
    lines: *const bf_str,
    n_lines: usize,
    query: *const bf_str,
    token: *mut bf_str,
    buf: *mut c_char,
    buf_cap: usize,
    refusal: *mut bf_refusal,
) -> bf_status {
    guard(|| {
        let token = Out::new(token, "token")?;
        let refusal = Out::new(refusal, "refusal")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        token.write(absent_str());
        refusal.write(serve());
        // SAFETY: the header requires a readable `bf_str` (or NULL) for the call.
        let query = unsafe { args::opt_str_arg(query, "query") }?;
        // SAFETY: the header requires readable settings and lines for the call.
        unsafe {
            with_guard(settings, |g| {
                args::with_lines(lines, n_lines, "lines", |ls| match g.token(ls, query) {
                    Ok(t) => {
                        token.write(borrow_str(t));
                        Ok(())
                    }
                    Err(r) => refusal_out(&r, &buf, &refusal),
                })
            })
        }
    })
}

/// The answer once the host has verified the token (`*verification`): serve
/// (`refusal->status` 0) or refuse (a wrong or missing audience, expiry, an untrusted or
/// key-bound token, an upstream expiry: 401 `invalid_token` or 400; a valid token
/// without `required_scope`: 403 `insufficient_scope` naming it). Buffers and errors as
/// `bf_guard_token`; an unknown `verification->kind` is `BF_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn bf_guard_decide(
    settings: *const bf_guard,
    verification: *const bf_verification,
    required_scope: bf_str,
    buf: *mut c_char,
    buf_cap: usize,
    refusal: *mut bf_refusal,
) -> bf_status {
    guard(|| {
        let refusal = Out::new(refusal, "refusal")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        refusal.write(serve());
        if verification.is_null() {
            return Err(Failure::null("verification"));
        }
        if !verification.is_aligned() {
            return Err(Failure::invalid("verification", "misaligned pointer"));
        }
        // SAFETY: non-NULL, aligned, and the header requires a readable
        // `bf_verification` (integers, pointers and lengths: every bit pattern is valid).
        let v = unsafe { verification.read() };
        // SAFETY: the header requires readable input for the call.
        let required = unsafe { args::str_arg(required_scope, "required_scope") }?;
        let kind = match v.kind {
            k if k == bf_verification_kind::Valid as u32 => bf_verification_kind::Valid,
            k if k == bf_verification_kind::Expired as u32 => bf_verification_kind::Expired,
            k if k == bf_verification_kind::Invalid as u32 => bf_verification_kind::Invalid,
            k if k == bf_verification_kind::UpstreamExpired as u32 => {
                bf_verification_kind::UpstreamExpired
            }
            k if k == bf_verification_kind::ProofOfPossession as u32 => {
                bf_verification_kind::ProofOfPossession
            }
            other => {
                return Err(Failure::invalid(
                    "verification.kind",
                    &format!("{other} is not a bf_verification_kind"),
                ))
            }
        };
        // SAFETY: the header requires readable settings, scope and audiences.
        unsafe {
            with_guard(settings, |g| {
                let decide = |verification: Verification<'_>| match g.decide(verification, required)
                {
                    Ok(()) => Ok(()),
                    Err(r) => refusal_out(&r, &buf, &refusal),
                };
                match kind {
                    bf_verification_kind::Valid => {
                        let scope = args::str_arg(v.scope, "verification.scope")?;
                        args::with_lines(
                            v.audiences,
                            v.n_audiences,
                            "verification.audiences",
                            |audiences| decide(Verification::Valid { scope, audiences }),
                        )
                    }
                    bf_verification_kind::Expired => decide(Verification::Expired),
                    bf_verification_kind::Invalid => decide(Verification::Invalid),
                    bf_verification_kind::UpstreamExpired => decide(Verification::UpstreamExpired),
                    bf_verification_kind::ProofOfPossession => {
                        decide(Verification::ProofOfPossession)
                    }
                }
            })
        }
    })
}

/// The refusal of `kind` (a `bf_refusal_kind` other than `NONE` and `OTHER`), with
/// `scope` (may be NULL) for `BF_REFUSAL_KIND_INSUFFICIENT_SCOPE`: what a handler
/// answers when it finds out late (an upstream token expired, a tool needs more scope).
/// Buffers and errors as `bf_guard_token`.
#[no_mangle]
pub unsafe extern "C" fn bf_guard_refuse(
    settings: *const bf_guard,
    kind: u32,
    scope: *const bf_str,
    buf: *mut c_char,
    buf_cap: usize,
    refusal: *mut bf_refusal,
) -> bf_status {
    guard(|| {
        let refusal = Out::new(refusal, "refusal")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        refusal.write(serve());
        let core_kind = KINDS
            .iter()
            .find(|(_, c)| *c as u32 == kind)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                Failure::invalid(
                    "kind",
                    &format!("{kind} is not a bf_refusal_kind to refuse with"),
                )
            })?;
        // SAFETY: the header requires a readable `bf_str` (or NULL) for the call.
        let scope = unsafe { args::opt_str_arg(scope, "scope") }?;
        // SAFETY: the header requires readable settings for the call.
        unsafe {
            with_guard(settings, |g| {
                refusal_out(&g.refuse(core_kind, scope), &buf, &refusal)
            })
        }
    })
}

/// The protected resource metadata document (RFC 9728 §2) for `resource`, as JSON,
/// NUL-terminated into `buf` (`buf_cap` bytes; `*len` its length without the NUL; too
/// small: `BF_STATUS_BUFFER_TOO_SMALL` with `*len` set). `authorization_servers` and
/// `scopes_supported` are arrays (may be NULL when empty); `resource_name` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn bf_guard_resource_metadata(
    resource: bf_str,
    authorization_servers: *const bf_str,
    n_authorization_servers: usize,
    scopes_supported: *const bf_str,
    n_scopes_supported: usize,
    resource_name: *const bf_str,
    buf: *mut c_char,
    buf_cap: usize,
    len: *mut usize,
) -> bf_status {
    guard(|| {
        let len = Out::new(len, "len")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        // SAFETY: the header requires readable input for the call.
        let resource = unsafe { args::str_arg(resource, "resource") }?;
        // SAFETY: as above.
        let name = unsafe { args::opt_str_arg(resource_name, "resource_name") }?;
        // SAFETY: as above.
        let doc = unsafe {
            args::with_lines(
                authorization_servers,
                n_authorization_servers,
                "authorization_servers",
                |servers| {
                    args::with_lines(
                        scopes_supported,
                        n_scopes_supported,
                        "scopes_supported",
                        |scopes| {
                            Ok(core_guard::protected_resource_metadata(
                                resource, servers, scopes, name,
                            ))
                        },
                    )
                },
            )
        }?;
        write_text(&buf, &len, doc.as_bytes(), "buf")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::MaybeUninit;

    fn text(s: bf_str) -> String {
        // SAFETY: test-only; `s` points into a live buffer or static data.
        let b = unsafe { core::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[test]
    fn an_expired_token_gets_cores_exact_answer() {
        let settings = bf_guard {
            resource: borrow_str("https://mcp.example.com/mcp"),
            resource_metadata: borrow_str(
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            realm: absent_str(),
        };
        let v = bf_verification {
            kind: bf_verification_kind::Expired as u32,
            scope: borrow_str(""),
            audiences: core::ptr::null(),
            n_audiences: 0,
        };
        let mut buf = [0 as c_char; 512];
        let mut r = MaybeUninit::<bf_refusal>::uninit();
        // SAFETY: valid pointers and capacities.
        let status = unsafe {
            bf_guard_decide(
                &settings,
                &v,
                borrow_str(""),
                buf.as_mut_ptr(),
                buf.len(),
                r.as_mut_ptr(),
            )
        };
        assert_eq!(status, bf_status::Ok);
        // SAFETY: written by the call.
        let r = unsafe { r.assume_init() };
        assert_eq!((r.status, r.kind), (401, bf_refusal_kind::ExpiredToken));
        assert_eq!(
            text(r.www_authenticate),
            r#"Bearer error="invalid_token", error_description="the access token expired", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
        );
        assert_eq!(text(r.kind_code), "expired_token");
        // Too small: the size needed, nothing written past the buffer.
        let mut small = [0 as c_char; 8];
        let mut r2 = MaybeUninit::<bf_refusal>::uninit();
        // SAFETY: valid pointers and capacities.
        let status = unsafe {
            bf_guard_decide(
                &settings,
                &v,
                borrow_str(""),
                small.as_mut_ptr(),
                small.len(),
                r2.as_mut_ptr(),
            )
        };
        assert_eq!(status, bf_status::BufferTooSmall);
        // SAFETY: written by the call.
        assert_eq!(unsafe { r2.assume_init() }.buf_len, r.buf_len);
    }
}
