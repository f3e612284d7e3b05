//! Lifeguard-style local health (Dadgar et al., "Lifeguard: Local Health
//! Awareness for More Accurate Failure Detection", 2018, §IV-A).
//!
//! A member that is itself slow (a paused or overloaded daemon) misses
//! acks and then wrongly accuses healthy peers. Lifeguard keeps a local
//! health multiplier (LHM) that grows on evidence of local trouble and
//! shrinks with each healthy probe period; while it is above zero the member
//! probes and suspects more slowly, and here it also distrusts its own
//! suspicions: its Dead verdicts are reported as Suspect, so a member that
//! just woke up cannot push a failover on its own stale view.
//!
//! Evidence of local trouble we can see without trusting the network:
//! - our own event loop stalled (the periodic self-check ran late, or no
//!   input at all arrived for longer than two probe periods);
//! - the cluster declared *us* down (foca's `Defunct`).

use std::time::Duration;

/// The local health multiplier.
#[derive(Debug, Clone)]
pub struct SelfAwareness {
    score: u32,
    max: u32,
}

impl SelfAwareness {
    /// Lifeguard uses a saturation limit of 8.
    pub fn new(max: u32) -> Self {
        SelfAwareness { score: 0, max }
    }

    pub fn score(&self) -> u32 {
        self.score
    }

    /// Our loop ran `lateness` late for a job due every `period`.
    pub fn stalled(&mut self, lateness: Duration, period: Duration) {
        if lateness <= period {
            return;
        }
        let periods = (lateness.as_nanos() / period.as_nanos().max(1)).min(u128::from(self.max));
        let bump = u32::try_from(periods).unwrap_or(self.max).saturating_add(1);
        self.score = self.score.saturating_add(bump).min(self.max);
    }

    /// The cluster declared us down: our view was wrong for a while.
    pub fn declared_down(&mut self) {
        self.score = self.max;
    }

    /// One probe period passed without new trouble.
    pub fn healthy_period(&mut self) {
        self.score = self.score.saturating_sub(1);
    }

    /// Multiplier for our probe, indirect-probe and suspicion timers.
    pub fn scale(&self) -> u32 {
        1 + self.score
    }

    /// Whether our own Dead verdicts should be held back as Suspect.
    pub fn distrusts_own_suspicions(&self) -> bool {
        self.score > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_second_stall_saturates_and_decays_one_step_per_period() {
        let p = Duration::from_millis(100);
        let mut s = SelfAwareness::new(8);
        s.stalled(Duration::from_millis(50), p);
        assert_eq!(s.score(), 0, "jitter below a period is not a stall");
        s.stalled(Duration::from_secs(2), p);
        assert_eq!(s.score(), 8);
        assert!(s.distrusts_own_suspicions());
        assert_eq!(s.scale(), 9);
        for _ in 0..8 {
            s.healthy_period();
        }
        assert_eq!(s.score(), 0);
        assert!(!s.distrusts_own_suspicions());
    }

    #[test]
    fn being_declared_down_saturates() {
        let mut s = SelfAwareness::new(8);
        s.declared_down();
        assert_eq!(s.score(), 8);
    }
}
