//! Reading what C hands in: every pointer is checked for NULL and alignment, every
//! length for the `isize::MAX` limit of Rust slices, every string for UTF-8, before a
//! call changes anything.

use crate::guard::Failure;
use crate::types::{bf_header, bf_str};
use core::ffi::c_char;
use core::mem::size_of;

/// The largest number of bytes a Rust slice may span.
const MAX_BYTES: usize = isize::MAX as usize;

/// `len` bytes at `ptr`, borrowed for the call. NULL is accepted only with `len == 0`.
///
/// # Safety
/// When `len > 0`, `ptr` must point at `len` readable bytes that stay valid and
/// unmodified for `'a` (the header states this for every input).
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    if len > MAX_BYTES {
        return Err(Failure::length(what, "longer than PTRDIFF_MAX"));
    }
    // SAFETY: non-NULL, `len` fits a slice, and the caller guarantees `len` readable
    // bytes for `'a` (u8 has no alignment or validity requirement).
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// `len` bytes at `ptr` as UTF-8 text.
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn text<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(ptr.cast(), len, what) }?;
    core::str::from_utf8(b).map_err(|e| Failure::utf8(what, e.valid_up_to()))
}

/// A `bf_str` as UTF-8 text.
///
/// # Safety
/// As [`bytes`], for `s.ptr` and `s.len`.
pub(crate) unsafe fn str_arg<'a>(s: bf_str, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    unsafe { text(s.ptr, s.len, what) }
}

/// An optional `bf_str` given by pointer: NULL means absent.
///
/// # Safety
/// `s` is NULL or points at a readable `bf_str` whose bytes satisfy [`bytes`].
pub(crate) unsafe fn opt_str_arg<'a>(
    s: *const bf_str,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    if s.is_null() {
        return Ok(None);
    }
    if !s.is_aligned() {
        return Err(Failure::invalid(what, "misaligned pointer"));
    }
    // SAFETY: non-NULL, aligned, and the caller guarantees a readable `bf_str` (a
    // pointer and a length: every bit pattern is valid).
    let s = unsafe { s.read() };
    // SAFETY: forwarded contract.
    unsafe { str_arg(s, what) }.map(Some)
}

/// `n` elements at `ptr`, borrowed for the call. NULL is accepted only with `n == 0`.
///
/// # Safety
/// When `n > 0`, `ptr` must point at `n` initialized `T`s that stay valid for `'a`;
/// `T` must be a plain C struct for which every bit pattern is valid.
pub(crate) unsafe fn array<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    if !ptr.is_aligned() {
        return Err(Failure::invalid(what, "misaligned pointer"));
    }
    if n > MAX_BYTES / size_of::<T>().max(1) {
        return Err(Failure::length(what, "more elements than fit in memory"));
    }
    // SAFETY: non-NULL, aligned, the span fits a slice, and the caller guarantees `n`
    // initialized elements for `'a`.
    Ok(unsafe { core::slice::from_raw_parts(ptr, n) })
}

/// Lines handed in as `bf_str`s, checked as UTF-8 and given to `f` as `&[&str]`
/// without allocating for up to [`STACK_LINES`] lines.
///
/// # Safety
/// As [`array`] for the `bf_str`s, and [`bytes`] for each one's bytes.
pub(crate) unsafe fn with_lines<R>(
    lines: *const bf_str,
    n: usize,
    what: &str,
    f: impl FnOnce(&[&str]) -> Result<R, Failure>,
) -> Result<R, Failure> {
    // SAFETY: forwarded contract.
    let raw = unsafe { array(lines, n, what) }?;
    let mut on_stack = [""; STACK_LINES];
    let mut on_heap = Vec::new();
    let slots: &mut [&str] = if raw.len() <= STACK_LINES {
        &mut on_stack[..raw.len()]
    } else {
        on_heap.resize(raw.len(), "");
        &mut on_heap
    };
    for (slot, line) in slots.iter_mut().zip(raw) {
        // SAFETY: forwarded contract, one line at a time.
        *slot = unsafe { str_arg(*line, what) }?;
    }
    f(slots)
}

/// How many lines [`with_lines`] converts without allocating.
pub(crate) const STACK_LINES: usize = 16;

/// Headers handed in, checked as UTF-8.
///
/// # Safety
/// As [`array`] for the `bf_header`s, and [`bytes`] for every name and value.
pub(crate) unsafe fn header_pairs<'a>(
    headers: *const bf_header,
    n: usize,
    what: &str,
) -> Result<Vec<(&'a str, &'a str)>, Failure> {
    // SAFETY: forwarded contract.
    let raw = unsafe { array(headers, n, what) }?;
    raw.iter()
        .map(|h| {
            // SAFETY: forwarded contract, one header at a time.
            let name = unsafe { str_arg(h.name, "header name") }?;
            // SAFETY: as above.
            let value = unsafe { str_arg(h.value, "header value") }?;
            Ok((name, value))
        })
        .collect()
}

/// A place to write one `T`, checked for NULL and alignment before anything happens.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Check `ptr`.
    pub(crate) fn new(ptr: *mut T, what: &str) -> Result<Out<T>, Failure> {
        if ptr.is_null() {
            return Err(Failure::null(what));
        }
        if !ptr.is_aligned() {
            return Err(Failure::invalid(what, "misaligned pointer"));
        }
        Ok(Out(ptr))
    }

    /// An optional place: NULL means the caller does not want the value.
    pub(crate) fn optional(ptr: *mut T, what: &str) -> Result<Option<Out<T>>, Failure> {
        if ptr.is_null() {
            Ok(None)
        } else {
            Out::new(ptr, what).map(Some)
        }
    }

    /// Write the value (the memory may be uninitialized: nothing is read or dropped).
    pub(crate) fn write(&self, value: T) {
        // SAFETY: non-NULL and aligned (checked in `new`); the header requires every
        // out pointer to point at writable memory for one `T`.
        unsafe { self.0.write(value) }
    }
}

/// A caller-provided array of `cap` elements to fill, possibly uninitialized.
pub(crate) struct OutArray<T> {
    ptr: *mut T,
    cap: usize,
}

impl<T> OutArray<T> {
    /// Check `ptr` (NULL only with `cap == 0`).
    pub(crate) fn new(ptr: *mut T, cap: usize, what: &str) -> Result<OutArray<T>, Failure> {
        if cap == 0 {
            return Ok(OutArray {
                ptr: core::ptr::null_mut(),
                cap: 0,
            });
        }
        if ptr.is_null() {
            return Err(Failure::null(what));
        }
        if !ptr.is_aligned() {
            return Err(Failure::invalid(what, "misaligned pointer"));
        }
        if cap > MAX_BYTES / size_of::<T>().max(1) {
            return Err(Failure::length(what, "more elements than fit in memory"));
        }
        Ok(OutArray { ptr, cap })
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Write element `i` if it fits; returns whether it did.
    pub(crate) fn put(&self, i: usize, value: T) -> bool {
        if i >= self.cap {
            return false;
        }
        // SAFETY: `i < cap`, and the header requires `cap` writable elements at the
        // non-NULL, aligned `ptr` (checked in `new`).
        unsafe { self.ptr.add(i).write(value) };
        true
    }

    /// A pointer to element `i` (for handing out pointers into the caller's array).
    pub(crate) fn at(&self, i: usize) -> *const T {
        self.ptr.wrapping_add(i)
    }
}

impl OutArray<u8> {
    /// Copy `src` to elements `at..at + src.len()` if they fit; returns whether they did.
    pub(crate) fn copy_at(&self, at: usize, src: &[u8]) -> bool {
        match at.checked_add(src.len()) {
            Some(end) if end <= self.cap => {
                if !src.is_empty() {
                    // SAFETY: `end <= cap` writable bytes at `ptr` (checked in `new`);
                    // `src` is a Rust slice, which cannot overlap the caller's output
                    // buffer unless the caller passed the same memory as input and
                    // output, which the header forbids.
                    unsafe {
                        core::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(at), src.len())
                    };
                }
                true
            }
            _ => false,
        }
    }
}

/// Write `text` and a NUL into a caller buffer of `cap` bytes, and its length (without
/// the NUL) to `len`. Too small: `BF_STATUS_BUFFER_TOO_SMALL` with `len` set to the
/// length, so the caller retries with `len + 1` bytes.
pub(crate) fn write_text(
    buf: &OutArray<u8>,
    len: &Out<usize>,
    text: &[u8],
    what: &str,
) -> Result<(), Failure> {
    len.write(text.len());
    if buf.cap() <= text.len() {
        return Err(Failure::too_small(what, text.len() + 1, "bytes"));
    }
    buf.copy_at(0, text);
    buf.copy_at(text.len(), &[0]);
    Ok(())
}
