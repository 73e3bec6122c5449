//! The header layer on its own, for clients and servers that only need headers: parse
//! `WWW-Authenticate` into caller-provided arrays (core's zero-copy parser; nothing is
//! allocated for up to 16 field lines), the typed Bearer view, rendering challenges,
//! and `Authorization: Bearer` (RFC 9110 §11.6.1, RFC 6750 §2.1 and §3, RFC 9728 §5.1).
//!
//! These functions keep no state: any thread may call them at any time.

use crate::args::{self, write_text, Out, OutArray};
use crate::guard::{guard, Failure};
use crate::types::{absent_str, bf_header, bf_parse_mode, bf_status, bf_str, borrow_str};
use bearerflow::challenge::{
    self, AuthorizationError, AuthorizationErrorKind, BearerChallenge, BearerError, ChallengeError,
    ChallengeErrorKind, Leniency, Mode, RenderError, RenderErrorKind,
};
use core::ffi::c_char;
use zeroize::Zeroizing;

/// `bf_challenge.tolerated` / `bf_challenge_list.tolerated` bit: two parameters were not
/// separated by a comma (lenient mode).
pub const BF_TOLERATED_MISSING_COMMA: u32 = 1;
/// Bit: an unquoted value holds characters outside `tchar` (lenient mode).
pub const BF_TOLERATED_UNQUOTED_NON_TOKEN: u32 = 2;
/// Bit: a parameter name occurs twice in one challenge; the first wins (lenient mode).
pub const BF_TOLERATED_DUPLICATE_PARAM: u32 = 4;
/// Bit: a tab, not a space, follows the scheme (lenient mode).
pub const BF_TOLERATED_TAB_AFTER_SCHEME: u32 = 8;

fn tolerated_bits(l: Leniency) -> u32 {
    [
        (Leniency::MISSING_COMMA, BF_TOLERATED_MISSING_COMMA),
        (
            Leniency::UNQUOTED_NON_TOKEN,
            BF_TOLERATED_UNQUOTED_NON_TOKEN,
        ),
        (Leniency::DUPLICATE_PARAM, BF_TOLERATED_DUPLICATE_PARAM),
        (Leniency::TAB_AFTER_SCHEME, BF_TOLERATED_TAB_AFTER_SCHEME),
    ]
    .into_iter()
    .filter(|(flag, _)| l.contains(*flag))
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// One challenge of a `WWW-Authenticate` value. Strings borrow the caller's input
/// lines (or, for unescaped values, the caller's `values` buffer).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_challenge {
    /// The auth-scheme as written (compare case-insensitively).
    pub scheme: bf_str,
    /// The token68 (`Negotiate abc==`); `ptr` is NULL when the challenge has none.
    pub token68: bf_str,
    /// Index of its first parameter in the caller's `params` array.
    pub params_index: usize,
    /// How many parameters it has.
    pub params_len: usize,
    /// Byte offset of the scheme in the value (lines joined by ", ").
    pub offset: usize,
    /// What lenient mode tolerated in it (`BF_TOLERATED_*` bits).
    pub tolerated: u32,
}

/// One auth-param (RFC 9110 §11.2).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_param {
    /// The name as written (compare case-insensitively).
    pub name: bf_str,
    /// The value, unescaped: borrowed from the input when it had no escapes, else from
    /// the caller's `values` buffer.
    pub value: bf_str,
    /// The value as written (without the quotes of a quoted-string, with its escapes).
    pub raw_value: bf_str,
    /// Whether the value was a quoted-string.
    pub quoted: bool,
    /// Byte offset of the name in the value (lines joined by ", ").
    pub offset: usize,
}

/// The outcome of `bf_challenge_parse`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_challenge_list {
    /// Challenges found (on `BF_STATUS_BUFFER_TOO_SMALL`: the array length needed).
    pub challenges_len: usize,
    /// Parameters found (on `BF_STATUS_BUFFER_TOO_SMALL`: the array length needed).
    pub params_len: usize,
    /// Bytes of `values` used (on `BF_STATUS_BUFFER_TOO_SMALL`: the bytes needed).
    pub values_len: usize,
    /// The union of what lenient mode tolerated (`BF_TOLERATED_*` bits).
    pub tolerated: u32,
    /// On `BF_STATUS_CHALLENGE`: byte offset of the problem (lines joined by ", ").
    pub error_offset: usize,
    /// On `BF_STATUS_CHALLENGE`: core's stable code (`unterminated_quoted_string`,
    /// `invalid_utf8`, …); static, not NUL-terminated. Empty otherwise.
    pub error_code: bf_str,
}

fn mode_arg(mode: u32) -> Result<Mode, Failure> {
    match mode {
        m if m == bf_parse_mode::Strict as u32 => Ok(Mode::Strict),
        m if m == bf_parse_mode::Lenient as u32 => Ok(Mode::Lenient),
        _ => Err(Failure::invalid(
            "mode",
            &format!("{mode} is not a bf_parse_mode"),
        )),
    }
}

fn challenge_failure(e: ChallengeError) -> Failure {
    Failure::core(bf_status::Challenge, e.kind.code(), &e)
}

/// The lines as text. A line that is not UTF-8 is core's `invalid_utf8` challenge
/// error at its offset in the joined value (RFC 9110 §5.3: lines stand for their join
/// by ", "), as core's `parse_bytes` reports it for one line.
///
/// # Safety
/// As `args::with_lines`.
unsafe fn with_challenge_lines<R>(
    lines: *const bf_str,
    n_lines: usize,
    f: impl FnOnce(&[&str]) -> Result<R, Failure>,
) -> Result<R, ChallengeOrFailure> {
    // SAFETY: forwarded contract.
    let raw =
        unsafe { args::array(lines, n_lines, "lines") }.map_err(ChallengeOrFailure::Failure)?;
    let mut joined_offset = 0usize;
    for line in raw {
        // SAFETY: forwarded contract.
        let bytes = unsafe { args::bytes(line.ptr.cast(), line.len, "lines") }
            .map_err(ChallengeOrFailure::Failure)?;
        if let Err(e) = core::str::from_utf8(bytes) {
            return Err(ChallengeOrFailure::Challenge(ChallengeError::new(
                ChallengeErrorKind::InvalidUtf8,
                joined_offset + e.valid_up_to(),
            )));
        }
        joined_offset += bytes.len() + 2;
    }
    // SAFETY: forwarded contract; every line was just checked.
    unsafe { args::with_lines(lines, n_lines, "lines", f) }.map_err(ChallengeOrFailure::Failure)
}

enum ChallengeOrFailure {
    Challenge(ChallengeError),
    Failure(Failure),
}

/// Parse the `WWW-Authenticate` field lines `lines[0..n_lines]` (read as their join by
/// ", ", RFC 9110 §5.3) in `mode` (a `bf_parse_mode` value) into the caller's arrays:
/// `challenges` (`challenges_cap` elements), `params` (`params_cap`) and `values`
/// (`values_cap` bytes, for the values that need unescaping). Nothing is allocated for
/// up to 16 lines.
///
/// Every string in the results borrows the caller's input lines or `values`: keep them
/// alive and unchanged while you read the results. `*list` always says how many of each
/// were found; with `BF_STATUS_BUFFER_TOO_SMALL` it says how many are needed (call again
/// with arrays that large; the arrays' contents are then unspecified). A malformed value
/// is `BF_STATUS_CHALLENGE` with `list->error_offset` and `list->error_code` (also the
/// thread's last error); a line that is not UTF-8 is the code `invalid_utf8` at its
/// offset. Any array may be NULL when its capacity is 0.
#[no_mangle]
pub unsafe extern "C" fn bf_challenge_parse(
    lines: *const bf_str,
    n_lines: usize,
    mode: u32,
    challenges: *mut bf_challenge,
    challenges_cap: usize,
    params: *mut bf_param,
    params_cap: usize,
    values: *mut c_char,
    values_cap: usize,
    list: *mut bf_challenge_list,
) -> bf_status {
    guard(|| {
        let list = Out::new(list, "list")?;
        let challenges = OutArray::new(challenges, challenges_cap, "challenges")?;
        let params = OutArray::new(params, params_cap, "params")?;
        let values = OutArray::new(values.cast::<u8>(), values_cap, "values")?;
        let mode = mode_arg(mode)?;
        let mut out = bf_challenge_list {
            challenges_len: 0,
            params_len: 0,
            values_len: 0,
            tolerated: 0,
            error_offset: 0,
            error_code: borrow_str(""),
        };
        list.write(out);
        // SAFETY: the header requires `n_lines` readable lines for the call.
        let parsed = unsafe {
            with_challenge_lines(lines, n_lines, |ls| {
                Ok(fill_challenges(
                    ls,
                    mode,
                    &challenges,
                    &params,
                    &values,
                    &mut out,
                ))
            })
        };
        let result = match parsed {
            Ok(r) => r,
            Err(ChallengeOrFailure::Failure(f)) => return Err(f),
            Err(ChallengeOrFailure::Challenge(e)) => Err(e),
        };
        match result {
            Err(e) => {
                out.error_offset = e.offset;
                out.error_code = borrow_str(e.kind.code());
                list.write(out);
                Err(challenge_failure(e))
            }
            Ok(()) => {
                list.write(out);
                if out.challenges_len > challenges.cap()
                    || out.params_len > params.cap()
                    || out.values_len > values.cap()
                {
                    return Err(Failure::new(
                        bf_status::BufferTooSmall,
                        "buffer_too_small",
                        format!(
                            "the arrays are too small: {} challenges, {} params and {} value bytes needed",
                            out.challenges_len, out.params_len, out.values_len
                        ),
                    ));
                }
                Ok(())
            }
        }
    })
}

/// Walk every challenge, writing what fits and counting what is needed.
fn fill_challenges(
    lines: &[&str],
    mode: Mode,
    challenges: &OutArray<bf_challenge>,
    params: &OutArray<bf_param>,
    values: &OutArray<u8>,
    out: &mut bf_challenge_list,
) -> Result<(), ChallengeError> {
    let mut it = challenge::parse_lines(lines, mode);
    for c in &mut it {
        let c = c?;
        let params_index = out.params_len;
        for p in c.params() {
            let value = match p.as_str() {
                Some(v) => borrow_str(v),
                None => {
                    let start = out.values_len;
                    let mut at = start;
                    let mut fits = true;
                    for chunk in p.chunks() {
                        fits &= values.copy_at(at, chunk.as_bytes());
                        at += chunk.len();
                    }
                    out.values_len = at;
                    if fits && at > start {
                        bf_str {
                            ptr: values.at(start).cast(),
                            len: at - start,
                        }
                    } else {
                        borrow_str("")
                    }
                }
            };
            params.put(
                out.params_len,
                bf_param {
                    name: borrow_str(p.name()),
                    value,
                    raw_value: borrow_str(p.raw_value()),
                    quoted: p.is_quoted(),
                    offset: p.offset(),
                },
            );
            out.params_len += 1;
        }
        challenges.put(
            out.challenges_len,
            bf_challenge {
                scheme: borrow_str(c.scheme()),
                token68: c.token68().map_or_else(absent_str, borrow_str),
                params_index,
                params_len: out.params_len - params_index,
                offset: c.offset(),
                tolerated: tolerated_bits(c.tolerated()),
            },
        );
        out.challenges_len += 1;
    }
    out.tolerated = tolerated_bits(it.tolerated());
    Ok(())
}

/// The typed view of a Bearer challenge (RFC 6750 §3, RFC 9728 §5.1). As output, the
/// strings borrow the caller's `buf` and `scopes` arrays; `ptr` NULL means absent. As
/// input (`bf_bearer_challenge_render`), the same: NULL is absent, `scopes` is ignored.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_bearer {
    /// `realm`.
    pub realm: bf_str,
    /// `error` as written (`invalid_token`, `insufficient_scope`, `invalid_request`, or
    /// another code).
    pub error: bf_str,
    /// `error_description`.
    pub error_description: bf_str,
    /// `error_uri`.
    pub error_uri: bf_str,
    /// `scope`, space-delimited.
    pub scope: bf_str,
    /// `resource_metadata`: where OAuth discovery starts.
    pub resource_metadata: bf_str,
    /// `scope` split on spaces (RFC 6749 §3.3): the caller's `scopes` array.
    pub scopes: *const bf_str,
    /// How many scopes (on `BF_STATUS_BUFFER_TOO_SMALL`: the array length needed).
    pub scopes_len: usize,
    /// Bytes of `buf` used (on `BF_STATUS_BUFFER_TOO_SMALL`: the bytes needed).
    pub buf_len: usize,
}

fn empty_bearer() -> bf_bearer {
    bf_bearer {
        realm: absent_str(),
        error: absent_str(),
        error_description: absent_str(),
        error_uri: absent_str(),
        scope: absent_str(),
        resource_metadata: absent_str(),
        scopes: core::ptr::null(),
        scopes_len: 0,
        buf_len: 0,
    }
}

/// Copy `b`'s fields into the caller's `buf` (NUL-terminated each) and its scopes into
/// `scopes`, counting what is needed.
fn fill_bearer(b: &BearerChallenge, buf: &OutArray<u8>, scopes: &OutArray<bf_str>) -> bf_bearer {
    let mut out = empty_bearer();
    let mut used = 0usize;
    let mut put = |s: Option<&str>| -> (bf_str, usize) {
        let Some(s) = s else {
            return (absent_str(), 0);
        };
        let start = used;
        used += s.len() + 1;
        if buf.copy_at(start, s.as_bytes()) && buf.copy_at(start + s.len(), &[0]) {
            (
                bf_str {
                    ptr: buf.at(start).cast(),
                    len: s.len(),
                },
                start,
            )
        } else {
            (borrow_str(""), start)
        }
    };
    out.realm = put(b.realm.as_deref()).0;
    out.error = put(b.error.as_ref().map(BearerError::as_str)).0;
    out.error_description = put(b.error_description.as_deref()).0;
    out.error_uri = put(b.error_uri.as_deref()).0;
    let (scope, scope_start) = put(b.scope.as_deref());
    out.scope = scope;
    out.resource_metadata = put(b.resource_metadata.as_deref()).0;
    out.buf_len = used;
    let scope_copied = used <= buf.cap();
    let base = b.scope.as_deref().map_or(0, |s| s.as_ptr() as usize);
    for (i, s) in b.scopes().enumerate() {
        // Each scope is a slice of `b.scope`: its offset there is its offset in the copy.
        let within = s.as_ptr() as usize - base;
        let view = if scope_copied {
            bf_str {
                ptr: buf.at(scope_start + within).cast(),
                len: s.len(),
            }
        } else {
            borrow_str("")
        };
        scopes.put(i, view);
        out.scopes_len = i + 1;
    }
    out.scopes = scopes.at(0).cast();
    if scopes.cap() == 0 {
        out.scopes = core::ptr::null();
    }
    out
}

fn bearer_out(
    found: Option<BearerChallenge>,
    buf: &OutArray<u8>,
    scopes: &OutArray<bf_str>,
    out: &Out<bf_bearer>,
    found_out: &Out<bool>,
) -> Result<(), Failure> {
    let Some(b) = found else {
        found_out.write(false);
        out.write(empty_bearer());
        return Ok(());
    };
    found_out.write(true);
    let view = fill_bearer(&b, buf, scopes);
    out.write(view);
    if view.buf_len > buf.cap() || view.scopes_len > scopes.cap() {
        return Err(Failure::new(
            bf_status::BufferTooSmall,
            "buffer_too_small",
            format!(
                "buf or scopes is too small: {} bytes and {} scopes needed",
                view.buf_len, view.scopes_len
            ),
        ));
    }
    Ok(())
}

/// The typed Bearer view of challenge number `index` (from 0) of the field lines, read
/// in `mode` (core's `BearerChallenge::from_challenge`). `*found` is false when there
/// are fewer challenges. The fields are copied, NUL-terminated, into the caller's `buf`
/// (`buf_cap` bytes) and the scopes listed in `scopes` (`scopes_cap` elements); too
/// small is `BF_STATUS_BUFFER_TOO_SMALL` with `out->buf_len` and `out->scopes_len`
/// giving the sizes needed. A challenge that is not Bearer, or a malformed value, is
/// `BF_STATUS_CHALLENGE` (codes `not_bearer`, `token68_not_allowed`, or a parse
/// error's).
#[no_mangle]
pub unsafe extern "C" fn bf_bearer_challenge_parse(
    lines: *const bf_str,
    n_lines: usize,
    mode: u32,
    index: usize,
    buf: *mut c_char,
    buf_cap: usize,
    scopes: *mut bf_str,
    scopes_cap: usize,
    out: *mut bf_bearer,
    found: *mut bool,
) -> bf_status {
    guard(|| {
        let out = Out::new(out, "out")?;
        let found = Out::new(found, "found")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        let scopes = OutArray::new(scopes, scopes_cap, "scopes")?;
        let mode = mode_arg(mode)?;
        found.write(false);
        out.write(empty_bearer());
        // SAFETY: the header requires `n_lines` readable lines for the call.
        let r = unsafe {
            with_challenge_lines(lines, n_lines, |ls| {
                Ok(match challenge::parse_lines(ls, mode).nth(index) {
                    None => Ok(None),
                    Some(Err(e)) => Err(e),
                    Some(Ok(c)) => BearerChallenge::from_challenge(&c).map(Some),
                })
            })
        };
        let b = match r {
            Ok(Ok(b)) => b,
            Ok(Err(e)) | Err(ChallengeOrFailure::Challenge(e)) => return Err(challenge_failure(e)),
            Err(ChallengeOrFailure::Failure(f)) => return Err(f),
        };
        bearer_out(b, &buf, &scopes, &out, &found)
    })
}

/// The first Bearer challenge in a response's `WWW-Authenticate` lines, read leniently
/// (core's `find_bearer`: what the session acts on). `*found` is false when there is
/// none before the first malformed part. Buffers as `bf_bearer_challenge_parse`.
#[no_mangle]
pub unsafe extern "C" fn bf_bearer_challenge_find(
    lines: *const bf_str,
    n_lines: usize,
    buf: *mut c_char,
    buf_cap: usize,
    scopes: *mut bf_str,
    scopes_cap: usize,
    out: *mut bf_bearer,
    found: *mut bool,
) -> bf_status {
    guard(|| {
        let out = Out::new(out, "out")?;
        let found = Out::new(found, "found")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        let scopes = OutArray::new(scopes, scopes_cap, "scopes")?;
        found.write(false);
        out.write(empty_bearer());
        // SAFETY: the header requires `n_lines` readable lines for the call.
        let b = unsafe {
            args::with_lines(lines, n_lines, "lines", |ls| Ok(challenge::find_bearer(ls)))
        }?;
        bearer_out(b, &buf, &scopes, &out, &found)
    })
}

/// Why a challenge could not be rendered (core's `RenderErrorKind`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bf_render_error_kind {
    /// The scheme is empty or not a token (code `invalid_scheme`).
    InvalidScheme = 0,
    /// A parameter name is empty or not a token (code `invalid_param_name`).
    InvalidParamName = 1,
    /// A parameter name repeats an earlier one (code `duplicate_param`).
    DuplicateParam = 2,
    /// A value holds a control character (code `control_character`).
    ControlCharacter = 3,
    /// A value holds a non-ASCII character (code `non_ascii`).
    NonAscii = 4,
    /// The token68 is empty or not a token68 (code `invalid_token68`).
    InvalidToken68 = 5,
    /// A kind newer than this header (code as reported).
    Other = 255,
}

/// Where rendering failed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bf_render_error {
    /// What was wrong.
    pub kind: bf_render_error_kind,
    /// Index of the parameter at fault; `SIZE_MAX` for the scheme or the token68. For
    /// `bf_bearer_challenge_render`, the index among the fields that are set, in the
    /// order realm, scope, error, error_description, error_uri, resource_metadata.
    pub param_index: usize,
    /// Byte offset within the faulty name, value, scheme or token68.
    pub offset: usize,
}

/// Core's stable code of a render error kind, and the C enum value for it.
pub(crate) fn render_code(kind: RenderErrorKind) -> (&'static str, bf_render_error_kind) {
    let c = match kind {
        RenderErrorKind::InvalidScheme => bf_render_error_kind::InvalidScheme,
        RenderErrorKind::InvalidParamName => bf_render_error_kind::InvalidParamName,
        RenderErrorKind::DuplicateParam => bf_render_error_kind::DuplicateParam,
        RenderErrorKind::ControlCharacter => bf_render_error_kind::ControlCharacter,
        RenderErrorKind::NonAscii => bf_render_error_kind::NonAscii,
        RenderErrorKind::InvalidToken68 => bf_render_error_kind::InvalidToken68,
        _ => bf_render_error_kind::Other,
    };
    (kind.code(), c)
}

fn render_result(
    r: Result<String, RenderError>,
    buf: &OutArray<u8>,
    len: &Out<usize>,
    error: Option<Out<bf_render_error>>,
) -> Result<(), Failure> {
    match r {
        Ok(text) => write_text(buf, len, text.as_bytes(), "buf"),
        Err(e) => {
            let (code, kind) = render_code(e.kind);
            if let Some(out) = error {
                out.write(bf_render_error {
                    kind,
                    param_index: e.param.unwrap_or(usize::MAX),
                    offset: e.offset,
                });
            }
            len.write(0);
            Err(Failure::core(bf_status::Render, code, &e))
        }
    }
}

/// Render a challenge with auth-params, `Scheme name="value", …` (every value quoted,
/// `"` and `\` escaped; core's `challenge::render`), NUL-terminated into the caller's
/// `buf` (`buf_cap` bytes); `*len` is its length without the NUL. Too small:
/// `BF_STATUS_BUFFER_TOO_SMALL` with `*len` set, so call again with `*len + 1` bytes.
/// `params` are (name, value) pairs. What a header cannot carry is `BF_STATUS_RENDER`
/// with `*error` (may be NULL) saying where.
#[no_mangle]
pub unsafe extern "C" fn bf_challenge_render(
    scheme: bf_str,
    params: *const bf_header,
    n_params: usize,
    buf: *mut c_char,
    buf_cap: usize,
    len: *mut usize,
    error: *mut bf_render_error,
) -> bf_status {
    guard(|| {
        let len = Out::new(len, "len")?;
        let error = Out::optional(error, "error")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        // SAFETY: the header requires readable input for the call.
        let scheme = unsafe { args::str_arg(scheme, "scheme") }?;
        // SAFETY: as above.
        let pairs = unsafe { args::header_pairs(params, n_params, "params") }?;
        render_result(challenge::render(scheme, &pairs), &buf, &len, error)
    })
}

/// Render a challenge carrying a token68, `Scheme token68` (core's `render_token68`).
/// Buffers and errors as `bf_challenge_render`.
#[no_mangle]
pub unsafe extern "C" fn bf_challenge_render_token68(
    scheme: bf_str,
    token68: bf_str,
    buf: *mut c_char,
    buf_cap: usize,
    len: *mut usize,
    error: *mut bf_render_error,
) -> bf_status {
    guard(|| {
        let len = Out::new(len, "len")?;
        let error = Out::optional(error, "error")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        // SAFETY: the header requires readable input for the call.
        let scheme = unsafe { args::str_arg(scheme, "scheme") }?;
        // SAFETY: as above.
        let token68 = unsafe { args::str_arg(token68, "token68") }?;
        render_result(
            challenge::render_token68(scheme, token68),
            &buf,
            &len,
            error,
        )
    })
}

/// Render a Bearer challenge from its typed fields (NULL `ptr` = absent; `scopes`
/// ignored), attributes in the order realm, scope, error, error_description,
/// error_uri, resource_metadata (core's `BearerChallenge::render`): what a server sends
/// with a 401 or 403. Buffers and errors as `bf_challenge_render`.
#[no_mangle]
pub unsafe extern "C" fn bf_bearer_challenge_render(
    challenge: *const bf_bearer,
    buf: *mut c_char,
    buf_cap: usize,
    len: *mut usize,
    error: *mut bf_render_error,
) -> bf_status {
    guard(|| {
        let len = Out::new(len, "len")?;
        let error = Out::optional(error, "error")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        if challenge.is_null() {
            return Err(Failure::null("challenge"));
        }
        if !challenge.is_aligned() {
            return Err(Failure::invalid("challenge", "misaligned pointer"));
        }
        // SAFETY: non-NULL, aligned, and the header requires a readable `bf_bearer`
        // (pointers, lengths: every bit pattern is valid).
        let c = unsafe { challenge.read() };
        let field = |s: bf_str, what: &str| -> Result<Option<String>, Failure> {
            if s.ptr.is_null() {
                return Ok(None);
            }
            // SAFETY: the header requires readable bytes for every non-NULL field.
            unsafe { args::str_arg(s, what) }.map(|t| Some(t.to_owned()))
        };
        let b = BearerChallenge {
            realm: field(c.realm, "realm")?,
            error: field(c.error, "error")?.map(|e| BearerError::from_code(&e)),
            error_description: field(c.error_description, "error_description")?,
            error_uri: field(c.error_uri, "error_uri")?,
            scope: field(c.scope, "scope")?,
            resource_metadata: field(c.resource_metadata, "resource_metadata")?,
        };
        render_result(b.render(), &buf, &len, error)
    })
}

/// Core's stable code of an `Authorization` error kind.
fn authorization_code(kind: AuthorizationErrorKind) -> &'static str {
    kind.code()
}

fn authorization_failure(e: AuthorizationError) -> Failure {
    Failure::core(bf_status::Authorization, authorization_code(e.kind), &e)
}

/// The token of an `Authorization: Bearer <b64token>` request header value (RFC 6750
/// §2.1; core's `parse_authorization_bearer`), for servers. `*token` borrows `value`
/// (keep it alive while you use the token). Malformed: `BF_STATUS_AUTHORIZATION`
/// (codes `not_bearer`, `missing_space`, `empty_token`, `invalid_token_byte`) with
/// `*error_offset` (may be NULL) the byte offset; messages never quote the token.
#[no_mangle]
pub unsafe extern "C" fn bf_authorization_bearer_parse(
    value: bf_str,
    token: *mut bf_str,
    error_offset: *mut usize,
) -> bf_status {
    guard(|| {
        let token = Out::new(token, "token")?;
        let offset = Out::optional(error_offset, "error_offset")?;
        // SAFETY: the header requires readable input for the call.
        let value = unsafe { args::str_arg(value, "value") }?;
        match challenge::parse_authorization_bearer(value) {
            Ok(t) => {
                token.write(borrow_str(t));
                Ok(())
            }
            Err(e) => {
                token.write(absent_str());
                if let Some(o) = offset {
                    o.write(e.offset);
                }
                Err(authorization_failure(e))
            }
        }
    })
}

/// `Bearer <token>` for an `Authorization` request header (core's
/// `render_authorization_bearer`), NUL-terminated into `buf` (`buf_cap` bytes; `*len`
/// its length without the NUL; too small: `BF_STATUS_BUFFER_TOO_SMALL` with `*len`
/// set). A token outside the b64token alphabet is `BF_STATUS_AUTHORIZATION` with
/// `*error_offset` (may be NULL). The library's temporary copy is zeroized; `buf` is
/// the caller's to clear.
#[no_mangle]
pub unsafe extern "C" fn bf_authorization_bearer_render(
    token: bf_str,
    buf: *mut c_char,
    buf_cap: usize,
    len: *mut usize,
    error_offset: *mut usize,
) -> bf_status {
    guard(|| {
        let len = Out::new(len, "len")?;
        let offset = Out::optional(error_offset, "error_offset")?;
        let buf = OutArray::new(buf.cast::<u8>(), buf_cap, "buf")?;
        // SAFETY: the header requires readable input for the call.
        let token = unsafe { args::str_arg(token, "token") }?;
        match challenge::render_authorization_bearer(token) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                write_text(&buf, &len, text.as_bytes(), "buf")
            }
            Err(e) => {
                len.write(0);
                if let Some(o) = offset {
                    o.write(e.offset);
                }
                Err(authorization_failure(e))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc_probe::allocations_during;
    use core::mem::MaybeUninit;

    #[test]
    fn parsing_into_caller_arrays_allocates_nothing() {
        let lines = [
            borrow_str(
                r#"Basic realm="a", Bearer error="invalid_token", error_description="say \"hi\"""#,
            ),
            borrow_str(
                r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#,
            ),
        ];
        let mut challenges = [MaybeUninit::<bf_challenge>::uninit(); 4];
        let mut params = [MaybeUninit::<bf_param>::uninit(); 8];
        let mut values = [0u8; 64];
        let mut list = MaybeUninit::<bf_challenge_list>::uninit();
        let mut status = bf_status::Panic;
        let n = allocations_during(|| {
            // SAFETY: arrays of the given capacities, lines valid for the call.
            status = unsafe {
                bf_challenge_parse(
                    lines.as_ptr(),
                    lines.len(),
                    bf_parse_mode::Lenient as u32,
                    challenges.as_mut_ptr().cast(),
                    challenges.len(),
                    params.as_mut_ptr().cast(),
                    params.len(),
                    values.as_mut_ptr().cast(),
                    values.len(),
                    list.as_mut_ptr(),
                )
            };
        });
        assert_eq!(status, bf_status::Ok);
        // SAFETY: written by the call.
        let list = unsafe { list.assume_init() };
        assert_eq!((list.challenges_len, list.params_len), (3, 4));
        // SAFETY: the first four params were written.
        let escaped = unsafe { params[2].assume_init() };
        // SAFETY: points into `values`, alive here.
        let text = unsafe {
            core::slice::from_raw_parts(escaped.value.ptr.cast::<u8>(), escaped.value.len)
        };
        assert_eq!(text, br#"say "hi""#);
        assert_eq!(n, 0, "bf_challenge_parse allocated {n} times");
    }
}
