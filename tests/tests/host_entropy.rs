//! Host entropy mixed in with `Session::add_entropy` changes what the session draws
//! from then on (PKCE verifiers, `state`, refresh jitter), and deterministically so.
//!
//! Twins: sessions with the same seed that have drawn the same number of blocks, so
//! that only the reseed can tell them apart. The draw compared is the refresh-window
//! jitter of a one-hour token (up to a fifth of a 5-minute window: 60 000 possible
//! values), which the snapshot records as `refresh_at`.

use bearerflow::secret::Secret;
use bearerflow::session::Session;
use bearerflow::time::Timestamp;
use bearerflow_tests::scenarios::{refresh_only_config, SEED};

fn refresh_at_after(entropy: Option<&[u8]>) -> u64 {
    let now = Timestamp(1_000);
    let mut s = Session::new(refresh_only_config(), SEED, now);
    if let Some(bytes) = entropy {
        s.add_entropy(bytes);
    }
    s.set_tokens(
        Secret::new("at"),
        Some(Secret::new("rt")),
        Some(3_600),
        None,
        now,
    );
    s.snapshot()
        .tokens
        .and_then(|t| t.refresh_at)
        .expect("a token with a lifetime has a refresh window")
}

#[test]
fn add_entropy_changes_later_draws_and_is_deterministic() {
    let plain = refresh_at_after(None);
    let reseeded = refresh_at_after(Some(b"more host entropy"));
    assert_ne!(
        plain, reseeded,
        "add_entropy did not change the draw of a twin session"
    );
    assert_eq!(reseeded, refresh_at_after(Some(b"more host entropy")));
    assert_ne!(reseeded, refresh_at_after(Some(b"other host entropy")));
}
