//! Time as an input.
//!
//! The engine never reads a clock. Callers pass a monotonic [`Millis`] (the
//! daemon: milliseconds since it started; tests: whatever they like), so a
//! recorded event log replays to the same decisions.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point on a monotonic millisecond clock chosen by the caller.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    /// `self + d`, saturating instead of overflowing.
    pub fn after(self, d: Duration) -> Millis {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Millis(self.0.saturating_add(ms))
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
