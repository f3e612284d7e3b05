//! The packet loop's own stalls: how late it woke for its timers.
//!
//! A loop that wakes late for a due timer was not running: on a busy or
//! throttled host the OS (or the hypervisor) did not schedule it. Every
//! transmission it owed meanwhile went out late, so a stall longer than a
//! peer's detection time takes that peer's session Down at the *peer*, which
//! is right: it did not hear us. The record kept here lets an operator (and
//! the false-Downs bench) tell such a Down from one the network caused: the
//! member that stalled says when and for how long.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A wake-up at least this late is recorded as a stall: the shortest
/// detection time orbit allows is 10 ms x 3, and a silence of a third of it
/// is worth knowing about.
pub const RECORDED_STALL: Duration = Duration::from_millis(10);
/// How many recent stalls the status keeps.
const KEPT: usize = 32;

/// One stall of the packet loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopStall {
    /// Wall-clock time the loop ran again, in Unix milliseconds (wall
    /// clock, not `Instant`: a helper process reports it to its owner).
    pub resumed_unix_ms: u64,
    /// How late it woke for the timer that was due: the loop was stopped at
    /// least from `resumed - late` to `resumed`.
    pub late: Duration,
}

/// The loop's lateness so far.
#[derive(Debug, Default)]
pub(super) struct StallRecord {
    longest: Duration,
    count: u64,
    recent: VecDeque<LoopStall>,
}

impl StallRecord {
    /// Notes one wake-up for a timer, `late` after it was due.
    pub fn woke(&mut self, late: Duration) {
        self.longest = self.longest.max(late);
        if late < RECORDED_STALL {
            return;
        }
        self.count += 1;
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        let resumed_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.recent.push_back(LoopStall {
            resumed_unix_ms,
            late,
        });
        tracing::debug!(late_ms = late.as_millis(), "bfd packet loop woke late");
    }

    pub fn longest(&self) -> Duration {
        self.longest
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The most recent stalls, oldest first.
    pub fn recent(&self) -> Vec<LoopStall> {
        self.recent.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_delays_count_toward_the_longest_only_and_the_record_is_bounded() {
        let mut r = StallRecord::default();
        r.woke(Duration::from_millis(3));
        assert_eq!(r.longest(), Duration::from_millis(3));
        assert_eq!(r.count(), 0);
        assert!(r.recent().is_empty());
        for ms in 10..(10 + KEPT as u64 + 5) {
            r.woke(Duration::from_millis(ms));
        }
        assert_eq!(r.count(), KEPT as u64 + 5);
        let recent = r.recent();
        assert_eq!(recent.len(), KEPT);
        assert_eq!(recent[0].late, Duration::from_millis(15), "oldest dropped");
        assert_eq!(
            recent[KEPT - 1].late,
            Duration::from_millis(10 + KEPT as u64 + 4)
        );
        assert!(recent[0].resumed_unix_ms > 1_600_000_000_000);
    }
}
