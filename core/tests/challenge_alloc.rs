//! The zero-copy challenge API allocates nothing: parsing a header, iterating every
//! challenge and parameter, and unescaping each value into a `heapless::String` or a
//! caller buffer makes zero heap allocations. Checked with a counting global
//! allocator that counts only on the thread under test.

use bearerflow::challenge::{parse, parse_bytes, parse_lines, Mode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    // `const` and `Copy` contents: reading these never allocates or registers a
    // destructor, so the allocator may use them.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the only extra
// work is bumping a thread-local counter, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made on this thread while running `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (COUNT.with(Cell::get), r)
}

const FIRST: &str = r#"Bearer error="invalid_token", error_description="The access token expired", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#;

/// Read everything: schemes, names, unescaped values (heapless and caller buffer).
fn read_all(it: bearerflow::challenge::Challenges<'_>) -> usize {
    let mut buf = [0u8; 128];
    let mut total = 0;
    for c in it {
        let Ok(c) = c else { return usize::MAX };
        total += c.scheme().len() + c.token68().map_or(0, str::len);
        for p in c.params() {
            total += p.name().len();
            match (p.value_into::<128>(), p.unescape_into(&mut buf)) {
                (Ok(a), Ok(b)) if a.as_str() == b => total += a.len(),
                _ => return usize::MAX,
            }
        }
        let _ = c.param("resource_metadata").and_then(|p| p.as_str());
    }
    total
}

#[test]
fn the_counter_sees_allocations() {
    let (n, v) = allocations(|| vec![1u8; 32]);
    assert!(
        n >= 1 && v.len() == 32,
        "counting allocator is not counting ({n})"
    );
}

#[test]
fn parsing_the_first_header_allocates_nothing() {
    for mode in [Mode::Strict, Mode::Lenient] {
        let (n, total) = allocations(|| read_all(parse(FIRST, mode)));
        assert_ne!(total, usize::MAX, "parse failed");
        assert_eq!(total, 142, "not everything was read");
        assert_eq!(n, 0, "{mode:?}: {n} allocations");
    }
}

#[test]
fn lines_bytes_escapes_and_errors_allocate_nothing() {
    let lines = [
        r#"Basic realm="a \"quoted\" realm""#,
        FIRST,
        "Negotiate abc==",
    ];
    let (n, total) = allocations(|| read_all(parse_lines(&lines, Mode::Lenient)));
    assert!(total > 0 && total != usize::MAX);
    assert_eq!(n, 0, "parse_lines: {n} allocations");

    let (n, ok) = allocations(|| parse_bytes(FIRST.as_bytes(), Mode::Strict).map(read_all));
    assert_eq!(ok.ok(), Some(142));
    assert_eq!(n, 0, "parse_bytes: {n} allocations");

    let (n, err) = allocations(|| {
        parse(
            r#"Bearer error="x", error="y", realm="unterminated"#,
            Mode::Strict,
        )
        .find_map(Result::err)
        .map(|e| e.offset)
    });
    assert_eq!(err, Some(18));
    assert_eq!(n, 0, "errors: {n} allocations");
}
