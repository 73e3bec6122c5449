//! The zero-copy challenge iterator (RFC 9110 §11.6.1 `WWW-Authenticate`, §11.2
//! `challenge`, §5.6.1 lists).
//!
//! [`Challenges`] validates one challenge per `next()`, recording where its
//! parameters start and how many there are; [`Challenge::params`] re-reads them from
//! there on demand. Nothing is copied or allocated: names and raw values borrow the
//! header value, and quoted-strings unescape only when asked ([`Param`]).

use super::error::{ChallengeError, ChallengeErrorKind};
use super::lexer::{is, Cursor, CTL, LOOSE, OWS, T68, TCHAR};
use alloc::string::String;
use core::fmt;

/// How strictly to read a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Any deviation from the RFC 9110 grammar is a [`ChallengeError`].
    Strict,
    /// Also accept what real servers send and real clients must understand (see
    /// [`Leniency`]); each tolerance used is reported on the challenge.
    Lenient,
}

/// The deviations from the grammar that [`Mode::Lenient`] tolerated: a small set of
/// flags on each [`Challenge`] (and, united, on [`Challenges`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Leniency(u8);

impl Leniency {
    /// Nothing tolerated.
    pub const NONE: Leniency = Leniency(0);
    /// Two parameters were not separated by a comma, as in
    /// `Bearer resource_metadata="…" scope="mcp:x"`.
    pub const MISSING_COMMA: Leniency = Leniency(1);
    /// An unquoted value holds characters outside `tchar`, as in `scope=read:data`
    /// or `resource_metadata=https://…`; it runs to the next space or comma.
    pub const UNQUOTED_NON_TOKEN: Leniency = Leniency(2);
    /// A parameter name occurs twice in one challenge; the first occurrence is the
    /// one [`Challenge::param`] returns.
    pub const DUPLICATE_PARAM: Leniency = Leniency(4);
    /// A tab, not a space, separates the scheme from its parameters.
    pub const TAB_AFTER_SCHEME: Leniency = Leniency(8);

    const ALL: [(Leniency, &'static str); 4] = [
        (Leniency::MISSING_COMMA, "missing_comma"),
        (Leniency::UNQUOTED_NON_TOKEN, "unquoted_non_token"),
        (Leniency::DUPLICATE_PARAM, "duplicate_param"),
        (Leniency::TAB_AFTER_SCHEME, "tab_after_scheme"),
    ];

    /// Whether every flag of `other` is set here.
    pub const fn contains(self, other: Leniency) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether nothing was tolerated.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Set the flags of `other`.
    pub fn insert(&mut self, other: Leniency) {
        self.0 |= other.0;
    }

    /// The union of both sets.
    pub const fn union(self, other: Leniency) -> Leniency {
        Leniency(self.0 | other.0)
    }

    /// Stable snake_case names of the flags that are set (used by the CLI and the
    /// test vectors), in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Leniency::ALL
            .into_iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| name)
    }
}

impl fmt::Debug for Leniency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Parse a `WWW-Authenticate` field value into its challenges.
///
/// The iterator yields each challenge in order, or one error and then nothing. It
/// never allocates.
///
/// ```
/// use bearerflow::challenge::{parse, Mode};
///
/// let value = r#"Basic realm="a, b", Bearer error="invalid_token""#;
/// let mut it = parse(value, Mode::Strict);
/// let basic = it.next().unwrap().unwrap();
/// assert!(basic.is_scheme("basic"));
/// assert_eq!(basic.param("REALM").unwrap().raw_value(), "a, b");
/// let bearer = it.next().unwrap().unwrap();
/// assert_eq!(bearer.param("error").unwrap().as_str(), Some("invalid_token"));
/// assert!(it.next().is_none());
/// ```
pub fn parse(value: &str, mode: Mode) -> Challenges<'_> {
    Challenges::new(Cursor::new(value, &[]), mode)
}

/// Parse several `WWW-Authenticate` field lines as the single value they stand for,
/// joined by `", "` (RFC 9110 §5.3), without joining them.
///
/// A challenge may continue on the next line (its parameters then follow as the
/// joined value would have them). One deliberate difference from parsing the joined
/// string: a quoted-string cannot run across a line break; it is an
/// [`UnterminatedQuotedString`](ChallengeErrorKind::UnterminatedQuotedString) error.
/// Error offsets count bytes in the joined value.
///
/// ```
/// use bearerflow::challenge::{parse_lines, Mode};
///
/// let lines = ["Basic realm=\"x\"", "Bearer error=\"invalid_token\""];
/// let schemes: Vec<_> = parse_lines(&lines, Mode::Strict)
///     .map(|c| c.unwrap().scheme())
///     .collect();
/// assert_eq!(schemes, ["Basic", "Bearer"]);
/// ```
pub fn parse_lines<'a>(lines: &'a [&'a str], mode: Mode) -> Challenges<'a> {
    let cursor = match lines.split_first() {
        Some((first, rest)) => Cursor::new(first, rest),
        None => Cursor::new("", &[]),
    };
    Challenges::new(cursor, mode)
}

/// Parse a field value given as raw bytes, as it arrives off the wire.
///
/// The bytes must be UTF-8: obs-text (bytes above 0x7F, RFC 9110 §5.5) is accepted
/// inside quoted-strings, and in lenient unquoted values, only as UTF-8 so that every
/// value can be handed out as `&str`. Anything else fails here with
/// [`ChallengeErrorKind::InvalidUtf8`] at the offset of the first bad byte.
///
/// ```
/// use bearerflow::challenge::{parse_bytes, ChallengeErrorKind, Mode};
///
/// let err = parse_bytes(b"Basic realm=\"caf\xE9\"", Mode::Lenient).err().unwrap();
/// assert_eq!((err.kind, err.offset), (ChallengeErrorKind::InvalidUtf8, 16));
/// ```
pub fn parse_bytes(value: &[u8], mode: Mode) -> Result<Challenges<'_>, ChallengeError> {
    match core::str::from_utf8(value) {
        Ok(s) => Ok(parse(s, mode)),
        Err(e) => Err(ChallengeError::new(
            ChallengeErrorKind::InvalidUtf8,
            e.valid_up_to(),
        )),
    }
}

/// Iterator over the challenges of a `WWW-Authenticate` value; see [`parse`].
///
/// After an error it yields nothing more (it is fused).
#[derive(Clone)]
pub struct Challenges<'a> {
    cur: Cursor<'a>,
    mode: Mode,
    done: bool,
    tolerated: Leniency,
}

/// The most auth-params one challenge may carry; a challenge with more is a
/// [`TooManyParams`](ChallengeErrorKind::TooManyParams) error in both modes.
///
/// RFC 9110 §11.2 sets no number. The schemes in use carry a handful (RFC 6750 §3
/// Bearer: `realm`, `scope`, `error`, `error_description`, `error_uri`, plus RFC 9728
/// `resource_metadata`; RFC 7616 Digest: about ten), so 64 leaves ample room. The cap
/// bounds the duplicate check's table, which lives on the stack, and the work any one
/// challenge can cost.
pub const MAX_PARAMS: usize = 64;

/// Slots in the duplicate check's open-addressing table: a power of two, at least
/// twice [`MAX_PARAMS`], so the table is at most half full and probes stay short.
const NAME_SLOTS: usize = 2 * MAX_PARAMS;

/// The parameter names seen so far in one challenge, for the duplicate check
/// (RFC 9110 §11.2: "each parameter name MUST only occur once per challenge"),
/// compared ASCII case-insensitively.
///
/// The first [`SMALL_NAMES`] names are kept in a short array and compared one by one
/// (at most `SMALL_NAMES` comparisons each, and most comparisons stop at the length):
/// what every real challenge needs, at no set-up cost. From there on the names move
/// into an open-addressing hash table (FNV-1a over the lower-cased name, linear
/// probing), built only then, on the stack: checking a name costs its length plus the
/// probes, so a whole challenge is read in time linear in its length. Names hashed to
/// collide on purpose can lengthen probes to at most [`MAX_PARAMS`] comparisons each,
/// a constant.
struct NameSet<'a> {
    small: [&'a str; SMALL_NAMES],
    len: usize,
    table: Option<NameTable<'a>>,
}

/// Names compared one by one before [`NameSet`] switches to its hash table.
const SMALL_NAMES: usize = 16;

impl<'a> NameSet<'a> {
    fn new() -> NameSet<'a> {
        NameSet {
            small: [""; SMALL_NAMES],
            len: 0,
            table: None,
        }
    }

    /// Add `name`; `true` when it was already there. The caller adds at most
    /// [`MAX_PARAMS`] names.
    #[inline]
    fn insert(&mut self, name: &'a str) -> bool {
        if let Some(table) = &mut self.table {
            return table.insert(name);
        }
        if self
            .small
            .iter()
            .take(self.len)
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            return true;
        }
        if let Some(slot) = self.small.get_mut(self.len) {
            *slot = name;
            self.len += 1;
            return false;
        }
        // The array is full: move to the table (the names in it are distinct).
        let mut table = NameTable::new();
        for n in self.small {
            table.insert(n);
        }
        let dup = table.insert(name);
        self.table = Some(table);
        dup
    }
}

/// The hash table behind [`NameSet`] past its first [`SMALL_NAMES`] names.
struct NameTable<'a> {
    names: [&'a str; MAX_PARAMS],
    /// 0 = empty; otherwise 1 + an index into `names`.
    slots: [u8; NAME_SLOTS],
    len: usize,
}

impl<'a> NameTable<'a> {
    fn new() -> NameTable<'a> {
        NameTable {
            names: [""; MAX_PARAMS],
            slots: [0; NAME_SLOTS],
            len: 0,
        }
    }

    fn hash(name: &str) -> usize {
        let mut h: u32 = 0x811c_9dc5;
        for b in name.bytes() {
            h ^= u32::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0100_0193);
        }
        h as usize
    }

    /// Add `name`; `true` when it was already there. A name that finds the table
    /// full (more than [`MAX_PARAMS`], which the parser never adds) is not kept.
    fn insert(&mut self, name: &'a str) -> bool {
        let mut i = NameTable::hash(name) % NAME_SLOTS;
        // At most `len` slots are taken, fewer than NAME_SLOTS, so an empty slot is
        // found within NAME_SLOTS probes; the bound only guards the loop.
        for _ in 0..NAME_SLOTS {
            match self.slots.get(i).copied() {
                Some(0) => {
                    if let (Some(slot), Some(entry), Ok(tag)) = (
                        self.slots.get_mut(i),
                        self.names.get_mut(self.len),
                        u8::try_from(self.len + 1),
                    ) {
                        *slot = tag;
                        *entry = name;
                        self.len += 1;
                    }
                    return false;
                }
                Some(tag) => {
                    let seen = self.names.get(usize::from(tag) - 1).copied();
                    if seen.is_some_and(|n| n.eq_ignore_ascii_case(name)) {
                        return true;
                    }
                }
                None => return false,
            }
            i = (i + 1) % NAME_SLOTS;
        }
        false
    }
}

impl<'a> Challenges<'a> {
    fn new(cur: Cursor<'a>, mode: Mode) -> Challenges<'a> {
        Challenges {
            cur,
            mode,
            done: false,
            tolerated: Leniency::NONE,
        }
    }

    /// The union of what lenient mode tolerated in the challenges yielded so far.
    pub fn tolerated(&self) -> Leniency {
        self.tolerated
    }

    fn next_challenge(&mut self) -> Result<Option<Challenge<'a>>, ChallengeError> {
        let mode = self.mode;
        let cur = &mut self.cur;
        // Empty list elements and OWS before the challenge (RFC 9110 §5.6.1.2).
        loop {
            cur.skip_ows();
            match cur.peek() {
                Some(b',') => cur.bump(),
                Some(_) => break,
                None => {
                    if !cur.next_line() {
                        return Ok(None);
                    }
                }
            }
        }
        let offset = cur.offset();
        let scheme = cur.run(TCHAR);
        if scheme.is_empty() {
            return Err(cur.unexpected());
        }
        let mut ch = Challenge {
            scheme,
            token68: None,
            body: *cur,
            count: 0,
            mode,
            notes: Leniency::NONE,
            offset,
        };
        // `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`
        let ws = cur.run(OWS);
        let space_first = ws.as_bytes().first() == Some(&b' ');
        match cur.peek() {
            // A bare scheme, then list OWS.
            None | Some(b',') if !space_first => return Ok(Some(ch)),
            // After `1*SP` the parameter list may begin with empty elements.
            None | Some(b',') => {}
            Some(b'=') => {
                return Err(ChallengeError::new(
                    ChallengeErrorKind::ParamOutsideChallenge,
                    offset,
                ))
            }
            Some(_) if ws.is_empty() => return Err(cur.unexpected()),
            Some(_) => {
                if let Some(tab) = ws.bytes().position(|b| b == b'\t') {
                    if mode == Mode::Strict {
                        return Err(ChallengeError::new(
                            ChallengeErrorKind::UnexpectedByte(b'\t'),
                            ch.body.offset().saturating_add(tab),
                        ));
                    }
                    ch.notes.insert(Leniency::TAB_AFTER_SCHEME);
                }
            }
        }
        // token68: `1*( ALPHA / DIGIT / "-._~+/" ) *"="`, alone in its element.
        if matches!(cur.peek(), Some(b) if is(b, T68)) {
            let save = *cur;
            let start = cur.pos();
            cur.run(T68);
            cur.skip_padding();
            let token68 = cur.since(start);
            cur.skip_ows();
            if matches!(cur.peek(), None | Some(b',')) {
                ch.token68 = Some(token68);
                return Ok(Some(ch));
            }
            *cur = save;
        }
        ch.body = *cur;
        let mut names = NameSet::new();
        let mut first = true;
        while let Some(p) = next_param(cur, mode, first, &mut ch.notes)? {
            first = false;
            if ch.count == MAX_PARAMS {
                return Err(ChallengeError::new(
                    ChallengeErrorKind::TooManyParams,
                    p.name_offset,
                ));
            }
            if names.insert(p.name) {
                if mode == Mode::Strict {
                    return Err(ChallengeError::new(
                        ChallengeErrorKind::DuplicateParam,
                        p.name_offset,
                    ));
                }
                ch.notes.insert(Leniency::DUPLICATE_PARAM);
            }
            ch.count += 1;
        }
        Ok(Some(ch))
    }
}

impl<'a> Iterator for Challenges<'a> {
    type Item = Result<Challenge<'a>, ChallengeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_challenge() {
            Ok(Some(c)) => {
                self.tolerated.insert(c.notes);
                Some(Ok(c))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Challenges<'_> {}

/// Read the next `auth-param` of the challenge whose parameter list the cursor is in.
///
/// `first` is true right after the scheme's `1*SP`, where no comma is needed.
/// Returns `Ok(None)` when the challenge ends: at the end of the value, or at a
/// list element that is not an `auth-param` (the next challenge), where the cursor
/// is left. A line break counts as `", "`.
#[inline]
fn next_param<'a>(
    cur: &mut Cursor<'a>,
    mode: Mode,
    first: bool,
    notes: &mut Leniency,
) -> Result<Option<Param<'a>>, ChallengeError> {
    let mut separated = false;
    loop {
        cur.skip_ows();
        match cur.peek() {
            Some(b',') => {
                cur.bump();
                separated = true;
            }
            Some(_) => break,
            None => {
                if !cur.next_line() {
                    return Ok(None);
                }
                separated = true;
            }
        }
    }
    let start = *cur;
    let name_offset = cur.offset();
    let name = cur.run(TCHAR);
    if name.is_empty() {
        return Err(cur.unexpected());
    }
    cur.skip_ows(); // BWS
    if cur.peek() != Some(b'=') {
        if separated {
            // A new challenge starts here.
            *cur = start;
            return Ok(None);
        }
        if first {
            return Err(cur.error(ChallengeErrorKind::ExpectedEquals));
        }
        return Err(start.error(ChallengeErrorKind::ExpectedComma));
    }
    if !separated && !first {
        if mode == Mode::Strict {
            return Err(start.error(ChallengeErrorKind::ExpectedComma));
        }
        notes.insert(Leniency::MISSING_COMMA);
    }
    cur.bump();
    cur.skip_ows(); // BWS
    let value_offset = cur.offset();
    let (raw, quoted, escaped) = match cur.peek() {
        Some(b'"') => {
            let (raw, escaped) = cur.quoted()?;
            (raw, true, escaped)
        }
        Some(b) if mode == Mode::Strict && is(b, TCHAR) => (cur.run(TCHAR), false, false),
        Some(b) if mode == Mode::Lenient && is(b, LOOSE) => {
            let raw = cur.run(LOOSE);
            if !raw.bytes().all(|b| is(b, TCHAR)) {
                notes.insert(Leniency::UNQUOTED_NON_TOKEN);
            }
            (raw, false, false)
        }
        Some(b) if is(b, CTL) => return Err(cur.unexpected()),
        _ => return Err(cur.error(ChallengeErrorKind::ExpectedValue)),
    };
    Ok(Some(Param {
        name,
        raw,
        quoted,
        escaped,
        name_offset,
        value_offset,
    }))
}

/// One challenge: a scheme with a token68, auth-params, or nothing
/// (RFC 9110 §11.1, §11.2). It borrows the header value.
#[derive(Clone)]
pub struct Challenge<'a> {
    scheme: &'a str,
    token68: Option<&'a str>,
    body: Cursor<'a>,
    count: usize,
    mode: Mode,
    notes: Leniency,
    offset: usize,
}

impl<'a> Challenge<'a> {
    /// The auth-scheme as written (compare with [`Challenge::is_scheme`]).
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }

    /// Whether the scheme is `scheme`, compared case-insensitively (RFC 9110 §11.1).
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The token68, for challenges of the form `Negotiate abc==`.
    pub fn token68(&self) -> Option<&'a str> {
        self.token68
    }

    /// The auth-params, in order, as written (names keep their case).
    pub fn params(&self) -> Params<'a> {
        Params {
            cur: self.body,
            remaining: self.count,
            first: true,
            mode: self.mode,
        }
    }

    /// The first parameter named `name` (compared case-insensitively, RFC 9110 §11.2).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// How many auth-params the challenge has.
    pub fn param_count(&self) -> usize {
        self.count
    }

    /// What lenient mode tolerated in this challenge.
    pub fn tolerated(&self) -> Leniency {
        self.notes
    }

    /// Byte offset of the scheme in the header value.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Debug for Challenge<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct List<'b, 'a>(&'b Challenge<'a>);
        impl fmt::Debug for List<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.params()).finish()
            }
        }
        f.debug_struct("Challenge")
            .field("scheme", &self.scheme)
            .field("token68", &self.token68)
            .field("params", &List(self))
            .field("tolerated", &self.notes)
            .finish()
    }
}

/// Iterator over the auth-params of a [`Challenge`], re-read from the header value.
#[derive(Clone)]
pub struct Params<'a> {
    cur: Cursor<'a>,
    remaining: usize,
    first: bool,
    mode: Mode,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    #[inline]
    fn next(&mut self) -> Option<Param<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let mut notes = Leniency::NONE;
        match next_param(&mut self.cur, self.mode, self.first, &mut notes) {
            Ok(Some(p)) => {
                self.first = false;
                self.remaining -= 1;
                Some(p)
            }
            // The challenge was validated when it was yielded, so this does not
            // happen; stop rather than panic if it ever did.
            _ => {
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl core::iter::FusedIterator for Params<'_> {}

/// One `auth-param`: a name and a token or quoted-string value (RFC 9110 §11.2).
///
/// The value is kept as written; quoted-strings unescape (RFC 9110 §5.6.4) only
/// when read: without copying when they hold no escape ([`Param::as_str`]), into a
/// caller buffer ([`Param::unescape_into`]), a `heapless::String`
/// ([`Param::value_into`]) or a `String` ([`Param::to_string_value`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    name: &'a str,
    raw: &'a str,
    quoted: bool,
    escaped: bool,
    name_offset: usize,
    value_offset: usize,
}

impl<'a> Param<'a> {
    /// The parameter name as written (compare with [`Param::is_named`]).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Whether the name is `name`, compared case-insensitively.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value as written, without the quotes of a quoted-string but with its
    /// backslash escapes.
    pub fn raw_value(&self) -> &'a str {
        self.raw
    }

    /// Whether the value was a quoted-string.
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// Whether the value contains `quoted-pair` escapes.
    pub fn has_escapes(&self) -> bool {
        self.escaped
    }

    /// The value, when it needs no unescaping (the common case): zero-copy.
    pub fn as_str(&self) -> Option<&'a str> {
        if self.escaped {
            None
        } else {
            Some(self.raw)
        }
    }

    /// The unescaped value as consecutive borrowed pieces, for writing it anywhere
    /// without a buffer.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks {
            rest: self.raw,
            escaped: self.escaped,
            literal_first: false,
        }
    }

    /// Length in bytes of the unescaped value.
    pub fn unescaped_len(&self) -> usize {
        if self.escaped {
            self.chunks().map(str::len).sum()
        } else {
            self.raw.len()
        }
    }

    /// The unescaped value in `buf` (or, when nothing needs unescaping, borrowed from
    /// the header itself, leaving `buf` untouched).
    ///
    /// Fails with [`ChallengeErrorKind::BufferTooSmall`] when `buf` is too short.
    ///
    /// ```
    /// use bearerflow::challenge::{parse, Mode};
    ///
    /// let c = parse(r#"Basic realm="say \"hi\"""#, Mode::Strict).next().unwrap().unwrap();
    /// let mut buf = [0u8; 32];
    /// assert_eq!(c.param("realm").unwrap().unescape_into(&mut buf), Ok(r#"say "hi""#));
    /// ```
    pub fn unescape_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, ChallengeError>
    where
        'a: 'b,
    {
        if !self.escaped {
            return Ok(self.raw);
        }
        let mut len = 0;
        for chunk in self.chunks() {
            let end = len + chunk.len();
            match buf.get_mut(len..end) {
                Some(dst) => dst.copy_from_slice(chunk.as_bytes()),
                None => return Err(self.too_small()),
            }
            len = end;
        }
        // The pieces are `&str`s cut at ASCII backslashes, so their concatenation is
        // UTF-8; the check is cheap and keeps this free of `unsafe`.
        let out = buf.get(..len).unwrap_or(&[]);
        core::str::from_utf8(out)
            .map_err(|_| ChallengeError::new(ChallengeErrorKind::InvalidUtf8, self.value_offset))
    }

    /// The unescaped value in a fixed-capacity `heapless::String` (no heap needed).
    ///
    /// ```
    /// use bearerflow::challenge::{parse, Mode};
    ///
    /// let c = parse(r#"Bearer scope="a b""#, Mode::Strict).next().unwrap().unwrap();
    /// let scope = c.param("scope").unwrap().value_into::<16>().unwrap();
    /// assert_eq!(scope.as_str(), "a b");
    /// ```
    pub fn value_into<const N: usize>(&self) -> Result<heapless::String<N>, ChallengeError> {
        let mut out = heapless::String::new();
        self.append_to(&mut out)?;
        Ok(out)
    }

    /// Append the unescaped value to a `heapless::String` the caller keeps (and
    /// reuses), so nothing is moved around. On error `out` is left unchanged.
    ///
    /// ```
    /// use bearerflow::challenge::{parse, Mode};
    ///
    /// let c = parse(r#"Basic realm="a\\b \"c\"""#, Mode::Strict).next().unwrap().unwrap();
    /// let mut out = heapless::String::<16>::new();
    /// c.param("realm").unwrap().append_to(&mut out).unwrap();
    /// assert_eq!(out.as_str(), r#"a\b "c""#);
    /// ```
    pub fn append_to<const N: usize>(
        &self,
        out: &mut heapless::String<N>,
    ) -> Result<(), ChallengeError> {
        if out.capacity() - out.len() < self.unescaped_len() {
            return Err(self.too_small());
        }
        for chunk in self.chunks() {
            if out.push_str(chunk).is_err() {
                return Err(self.too_small());
            }
        }
        Ok(())
    }

    /// The unescaped value as an owned `String`.
    pub fn to_string_value(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        for chunk in self.chunks() {
            out.push_str(chunk);
        }
        out
    }

    /// Byte offset of the name in the header value.
    pub fn offset(&self) -> usize {
        self.name_offset
    }

    /// Byte offset of the value (of its opening quote, if quoted).
    pub fn value_offset(&self) -> usize {
        self.value_offset
    }

    #[cold]
    fn too_small(&self) -> ChallengeError {
        ChallengeError::new(
            ChallengeErrorKind::BufferTooSmall {
                needed: self.unescaped_len(),
            },
            self.value_offset,
        )
    }
}

impl fmt::Debug for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            write!(f, "{}=\"{}\"", self.name, self.raw)
        } else {
            write!(f, "{}={}", self.name, self.raw)
        }
    }
}

/// The unescaped value of a [`Param`] as borrowed pieces; see [`Param::chunks`].
#[derive(Clone)]
pub struct Chunks<'a> {
    rest: &'a str,
    escaped: bool,
    /// The first byte of `rest` is the character an escape stood for, so it is
    /// literal even if it is a backslash.
    literal_first: bool,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            if !self.escaped {
                return Some(core::mem::take(&mut self.rest));
            }
            let skip = usize::from(self.literal_first);
            let bytes = self.rest.as_bytes();
            let Some(i) = bytes.iter().skip(skip).position(|&b| b == b'\\') else {
                return Some(core::mem::take(&mut self.rest));
            };
            let split = i + skip;
            // `split` is the index of an ASCII backslash: a character boundary.
            let (piece, rest) = self.rest.split_at_checked(split).unwrap_or((self.rest, ""));
            // Drop the escaping backslash; the escaped character starts the next piece.
            self.rest = rest.get(1..).unwrap_or("");
            self.literal_first = true;
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }
}

impl core::iter::FusedIterator for Chunks<'_> {}
