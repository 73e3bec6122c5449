//! Time as plain data: the machine never reads a clock.
//!
//! Every call that can change state takes `now` as a [`Timestamp`] (unix milliseconds).
//! Like smoltcp's `Instant`, these types are tiny `u64` wrappers so that no_std, WASM
//! and C hosts all share one representation.

use core::fmt;
use core::ops::{Add, Sub};

/// A point in time: milliseconds since the unix epoch, as the host's clock reads it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

/// A span of time in milliseconds.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Timestamp {
    /// Unix milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at `u64::MAX` instead of wrapping.
    pub const fn saturating_add(self, d: Millis) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// `self - d`, saturating at zero.
    pub const fn saturating_sub(self, d: Millis) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// The span from `earlier` to `self`, zero when `earlier` is later.
    pub const fn since(self, earlier: Timestamp) -> Millis {
        Millis(self.0.saturating_sub(earlier.0))
    }
}

impl Millis {
    /// Whole seconds, as OAuth's `expires_in` counts them.
    pub const fn from_secs(secs: u64) -> Millis {
        Millis(secs.saturating_mul(1000))
    }

    /// Milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

impl Add<Millis> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Millis) -> Timestamp {
        self.saturating_add(rhs)
    }
}

impl Sub<Millis> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Millis) -> Timestamp {
        self.saturating_sub(rhs)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}ms", self.0)
    }
}

impl fmt::Debug for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
