//! Byte classes (RFC 9110 §5.6) and a cursor over one or more header lines.
//!
//! The cursor treats the end of one field line followed by another as the list
//! separator `", "` (RFC 9110 §5.3: field lines with the same name combine into one
//! value joined by commas), so the parser never copies lines together, and byte
//! offsets are reported in the coordinates of that joined value.

use super::error::{ChallengeError, ChallengeErrorKind};

/// `tchar` (RFC 9110 §5.6.2): the bytes of a token.
pub(crate) const TCHAR: u8 = 1;
/// The bytes of `token68` before its `=` padding (RFC 9110 §11.2).
pub(crate) const T68: u8 = 2;
/// `qdtext` (RFC 9110 §5.6.4): HTAB, SP, VCHAR except `"` and `\`, obs-text.
pub(crate) const QDTEXT: u8 = 4;
/// What may follow a backslash in a `quoted-pair`: HTAB, SP, VCHAR, obs-text.
pub(crate) const ESCAPABLE: u8 = 8;
/// Lenient unquoted values: VCHAR except `,` and `"`, plus obs-text.
pub(crate) const LOOSE: u8 = 16;
/// Control characters: everything below SP except HTAB, and DEL.
pub(crate) const CTL: u8 = 32;
/// `OWS` (RFC 9110 §5.6.3): SP and HTAB.
pub(crate) const OWS: u8 = 64;

const fn classify(b: u8) -> u8 {
    let mut c = 0;
    let alnum = b.is_ascii_alphanumeric();
    if alnum
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
    {
        c |= TCHAR;
    }
    if alnum || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/') {
        c |= T68;
    }
    let vchar = b >= 0x21 && b <= 0x7e;
    let obs_text = b >= 0x80;
    if b == b'\t' || b == b' ' || obs_text || (vchar && b != b'"' && b != b'\\') {
        c |= QDTEXT;
    }
    if b == b'\t' || b == b' ' || vchar || obs_text {
        c |= ESCAPABLE;
    }
    if obs_text || (vchar && b != b',' && b != b'"') {
        c |= LOOSE;
    }
    if (b < 0x20 && b != b'\t') || b == 0x7f {
        c |= CTL;
    }
    if b == b' ' || b == b'\t' {
        c |= OWS;
    }
    c
}

const fn build_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        // Evaluated at compile time, with i < 256: cannot fail at run time.
        table[i] = classify(i as u8);
        i += 1;
    }
    table
}

static CLASS: [u8; 256] = build_table();

/// Whether byte `b` belongs to `class`.
#[inline(always)]
pub(crate) fn is(b: u8, class: u8) -> bool {
    // A u8 always indexes a 256-entry table: this cannot panic.
    CLASS[b as usize] & class != 0
}

/// Length of the longest prefix of `bytes` made of `class` bytes.
#[inline(always)]
pub(crate) fn run_len(bytes: &[u8], class: u8) -> usize {
    bytes
        .iter()
        .position(|&b| !is(b, class))
        .unwrap_or(bytes.len())
}

/// Length of the longest prefix of `bytes` that holds no `"`, `\\` or control
/// character: nearly always the whole `qdtext` run of a quoted-string (it also stops
/// at HTAB, which the caller steps over). Eight bytes at a time, in a `u64`.
#[inline(always)]
fn quoted_run_len(bytes: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte of `x` that is below `n` (n <= 0x80); the lowest flagged
    // byte is always a true match (a borrow only flows upwards from a match).
    #[inline(always)]
    fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(LO.wrapping_mul(u64::from(n))) & !x & HI
    }
    #[inline(always)]
    fn equal(x: u64, n: u8) -> u64 {
        below(x ^ LO.wrapping_mul(u64::from(n)), 1)
    }
    let mut done = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        let hits = below(x, 0x20) | equal(x, b'"') | equal(x, b'\\') | equal(x, 0x7f);
        if hits != 0 {
            return done + (hits.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + run_len(chunks.remainder(), QDTEXT)
}

/// A position in one header line, with the lines still to come.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
    /// Offset of `line` in the joined value.
    base: usize,
    rest: &'a [&'a str],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `first`, followed by the lines in `rest`.
    pub(crate) fn new(first: &'a str, rest: &'a [&'a str]) -> Cursor<'a> {
        Cursor {
            line: first,
            pos: 0,
            base: 0,
            rest,
        }
    }

    /// The byte under the cursor, or `None` at the end of the line.
    #[inline(always)]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    /// The byte after the one under the cursor.
    #[inline(always)]
    fn peek2(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos.wrapping_add(1)).copied()
    }

    /// Step over the byte under the cursor (call only after `peek` returned `Some`).
    #[inline(always)]
    pub(crate) fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    /// Offset of the cursor in the joined value.
    #[inline(always)]
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    /// Move to the start of the next line, as if `", "` had been crossed. Returns
    /// `false` (and stays put) when this was the last line.
    #[inline]
    pub(crate) fn next_line(&mut self) -> bool {
        match self.rest.split_first() {
            Some((next, rest)) => {
                self.base = self.base.saturating_add(self.line.len()).saturating_add(2);
                self.line = next;
                self.rest = rest;
                self.pos = 0;
                true
            }
            None => false,
        }
    }

    #[inline(always)]
    fn tail(&self) -> &'a [u8] {
        self.line.as_bytes().get(self.pos..).unwrap_or(&[])
    }

    /// Text of the current line between `start` and the cursor. Both are ASCII
    /// boundaries by construction; an impossible slice gives `""` rather than a panic.
    #[inline(always)]
    pub(crate) fn since(&self, start: usize) -> &'a str {
        self.line.get(start..self.pos).unwrap_or("")
    }

    /// Position within the current line (to pair with [`Cursor::since`]).
    #[inline(always)]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Consume the longest run of `class` bytes and return it. Every class that
    /// admits bytes above 0x7F ends its run on an ASCII byte or at the end of the
    /// line, so the slice always falls on character boundaries.
    #[inline(always)]
    pub(crate) fn run(&mut self, class: u8) -> &'a str {
        let start = self.pos;
        self.pos = start.saturating_add(run_len(self.tail(), class));
        self.since(start)
    }

    /// Skip optional whitespace (SP, HTAB) within the current line.
    #[inline(always)]
    pub(crate) fn skip_ows(&mut self) {
        self.pos = self.pos.saturating_add(run_len(self.tail(), OWS));
    }

    /// Skip a run of `=` (token68 padding).
    #[inline(always)]
    pub(crate) fn skip_padding(&mut self) {
        while self.peek() == Some(b'=') {
            self.bump();
        }
    }

    /// An error at the cursor.
    #[inline]
    pub(crate) fn error(&self, kind: ChallengeErrorKind) -> ChallengeError {
        ChallengeError::new(kind, self.offset())
    }

    /// The error for a byte that is not allowed where the cursor stands.
    #[cold]
    pub(crate) fn unexpected(&self) -> ChallengeError {
        match self.peek() {
            Some(b) if is(b, CTL) => self.error(ChallengeErrorKind::ControlCharacter(b)),
            Some(b) => self.error(ChallengeErrorKind::UnexpectedByte(b)),
            None => self.error(ChallengeErrorKind::UnexpectedEnd),
        }
    }

    /// Consume a `quoted-string` (RFC 9110 §5.6.4); the cursor is on its opening
    /// quote. Returns the text between the quotes, escapes intact, and whether it
    /// contains any `quoted-pair`.
    ///
    /// A quoted-string never continues onto the next field line: reaching the end of
    /// the line first is an [`ChallengeErrorKind::UnterminatedQuotedString`] error.
    #[inline]
    pub(crate) fn quoted(&mut self) -> Result<(&'a str, bool), ChallengeError> {
        let open = *self;
        self.bump();
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = self.pos.saturating_add(quoted_run_len(self.tail()));
            match self.peek() {
                Some(b) if is(b, QDTEXT) => self.bump(),
                Some(b'"') => {
                    let inner = self.since(start);
                    self.bump();
                    return Ok((inner, escaped));
                }
                Some(b'\\') => match self.peek2() {
                    Some(e) if is(e, ESCAPABLE) => {
                        escaped = true;
                        // Step over the backslash and the first byte of the escaped
                        // character; its continuation bytes (if any) are qdtext.
                        self.pos = self.pos.saturating_add(2);
                    }
                    Some(_) => {
                        self.bump();
                        return Err(self.error(ChallengeErrorKind::InvalidEscape));
                    }
                    None => return Err(self.error(ChallengeErrorKind::TrailingBackslash)),
                },
                Some(_) => return Err(self.unexpected()),
                None => return Err(open.error(ChallengeErrorKind::UnterminatedQuotedString)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn word_scan_stops_where_the_byte_scan_does(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'\\'), Just(b'\t'), Just(0x7f_u8), Just(0_u8), any::<u8>(), 0x20_u8..0x7f, 0x20_u8..0x7f],
                0..40,
            )
        ) {
            let n = quoted_run_len(&bytes);
            prop_assert!(n <= bytes.len());
            prop_assert!(bytes.iter().take(n).all(|&b| is(b, QDTEXT)));
            if let Some(&b) = bytes.get(n) {
                prop_assert!(!is(b, QDTEXT) || b == b'\t', "stopped at {b:#x}");
            }
            // It only stops early at a tab.
            let exact = run_len(&bytes, QDTEXT);
            prop_assert!(n == exact || bytes.get(n) == Some(&b'\t'));
        }
    }

    #[test]
    fn classes_follow_rfc_9110() {
        for b in b"!#$%&'*+-.^_`|~09azAZ" {
            assert!(is(*b, TCHAR), "{b}");
        }
        for b in b"\"(),/:;<=>?@[\\]{} \t" {
            assert!(!is(*b, TCHAR), "{b}");
        }
        assert!(is(b'/', T68) && !is(b'=', T68) && !is(b'!', T68));
        assert!(is(b'\t', QDTEXT) && is(0x80, QDTEXT) && !is(b'"', QDTEXT));
        assert!(!is(b'\\', QDTEXT) && !is(0x7f, QDTEXT) && !is(b'\n', QDTEXT));
        assert!(is(b'"', ESCAPABLE) && !is(0, ESCAPABLE));
        assert!(is(b':', LOOSE) && !is(b',', LOOSE) && !is(b' ', LOOSE));
        assert!(is(0x7f, CTL) && is(0, CTL) && !is(b'\t', CTL));
    }

    #[test]
    fn cursor_crosses_lines_as_comma_space() {
        let rest = ["bc"];
        let mut c = Cursor::new("a", &rest);
        assert_eq!(c.run(TCHAR), "a");
        assert_eq!(c.peek(), None);
        assert!(c.next_line());
        assert_eq!(c.offset(), 3); // "a, " precedes "bc"
        assert_eq!(c.run(TCHAR), "bc");
        assert!(!c.next_line());
    }

    #[test]
    fn quoted_string_edges() {
        let mut c = Cursor::new(r#""a\"b" x"#, &[]);
        assert_eq!(c.quoted().ok(), Some((r#"a\"b"#, true)));
        let mut c = Cursor::new(r#""abc\"#, &[]);
        let e = c.quoted().err().map(|e| (e.kind, e.offset));
        assert_eq!(e, Some((ChallengeErrorKind::TrailingBackslash, 4)));
        let mut c = Cursor::new(r#""abc\""#, &[]);
        let e = c.quoted().err().map(|e| (e.kind, e.offset));
        assert_eq!(e, Some((ChallengeErrorKind::UnterminatedQuotedString, 0)));
        let mut c = Cursor::new("\"a\nb\"", &[]);
        let e = c.quoted().err().map(|e| (e.kind, e.offset));
        assert_eq!(e, Some((ChallengeErrorKind::ControlCharacter(b'\n'), 2)));
        let mut c = Cursor::new("\"a\\\u{1}\"", &[]);
        let e = c.quoted().err().map(|e| (e.kind, e.offset));
        assert_eq!(e, Some((ChallengeErrorKind::InvalidEscape, 3)));
        let mut c = Cursor::new("\"caf\\é\"", &[]);
        assert_eq!(c.quoted().ok(), Some(("caf\\é", true)));
    }
}
