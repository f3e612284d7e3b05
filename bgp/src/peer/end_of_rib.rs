//! End-of-RIB timing (RFC 4724 §4.1) for one peer's sessions.

use std::time::{Duration, Instant};

/// When End-of-RIB may go out on the current session (RFC 4724 §4.1:
/// "once the initial update has been completed"). Pure: the peer task
/// asks it after each sync and when its deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndOfRib {
    /// Our advertised restart time: how long a peer keeps our routes as
    /// stale; `None` without graceful restart (no deadline then).
    restart_time: Option<Duration>,
    state: EorState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EorState {
    NoSession,
    Waiting { deadline: Option<Instant> },
    Sent,
}

impl EndOfRib {
    pub(crate) fn new(restart_time: Option<Duration>) -> EndOfRib {
        EndOfRib {
            restart_time,
            state: EorState::NoSession,
        }
    }

    /// A session became Established at `now`.
    pub(crate) fn established(&mut self, now: Instant) {
        // RFC 4724 §4.2: the peer keeps our stale routes for our restart
        // time after the session went down; the end of it comes a little
        // later than `now + restart_time`. Release End-of-RIB a margin
        // before, so that the peer flushes what we no longer announce on
        // our word rather than on its timer.
        let deadline = self.restart_time.map(|t| now + t - Self::margin(t));
        self.state = EorState::Waiting { deadline };
    }

    /// min(5 s, restart_time / 4).
    fn margin(restart_time: Duration) -> Duration {
        (restart_time / 4).min(Duration::from_secs(5))
    }

    pub(crate) fn down(&mut self) {
        self.state = EorState::NoSession;
    }

    /// Whether End-of-RIB is due now: the routes of a final (not
    /// provisional) steering were just synced on this session, or the
    /// deadline passed.
    pub(crate) fn due(&self, now: Instant, final_synced: bool) -> bool {
        match self.state {
            EorState::Waiting { deadline } => final_synced || deadline.is_some_and(|d| d <= now),
            EorState::NoSession | EorState::Sent => false,
        }
    }

    pub(crate) fn sent(&mut self) {
        if self.state != EorState::NoSession {
            self.state = EorState::Sent;
        }
    }

    pub(crate) fn is_sent(&self) -> bool {
        self.state == EorState::Sent
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            EorState::Waiting { deadline } => deadline,
            _ => None,
        }
    }
}
