//! Rise/fall hysteresis shared by health checks and data-plane probes.

/// Turns a stream of pass/fail results into a debounced state: `rise`
/// consecutive passes make it healthy, `fall` consecutive failures make it
/// unhealthy. It starts unknown, so nothing is claimed before the first
/// full verdict.
#[derive(Debug, Clone)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    state: Option<bool>,
    passes: u32,
    failures: u32,
}

impl RiseFall {
    pub fn new(rise: u32, fall: u32) -> Self {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            state: None,
            passes: 0,
            failures: 0,
        }
    }

    pub fn state(&self) -> Option<bool> {
        self.state
    }

    /// The latest results disagree with the state (or no state yet): the
    /// moment to check again sooner.
    pub fn in_transition(&self) -> bool {
        match self.state {
            None => self.passes > 0 || self.failures > 0,
            Some(true) => self.failures > 0,
            Some(false) => self.passes > 0,
        }
    }

    /// Records one result; returns the new state when it changed.
    pub fn observe(&mut self, passed: bool) -> Option<bool> {
        if passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
            if self.passes >= self.rise && self.state != Some(true) {
                self.state = Some(true);
                return Some(true);
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
            if self.failures >= self.fall && self.state != Some(false) {
                self.state = Some(false);
                return Some(false);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_rise_passes_and_fall_failures_in_a_row() {
        let mut r = RiseFall::new(2, 3);
        assert_eq!(r.observe(true), None);
        assert_eq!(r.observe(true), Some(true));
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(true), None, "a pass resets the failure streak");
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), None);
        assert_eq!(r.observe(false), Some(false));
        assert_eq!(r.observe(false), None);
        assert_eq!(r.state(), Some(false));
    }

    #[test]
    fn starts_unknown_and_can_go_straight_to_unhealthy() {
        let mut r = RiseFall::new(3, 1);
        assert_eq!(r.state(), None);
        assert_eq!(r.observe(false), Some(false));
    }

    #[test]
    fn in_transition_while_the_latest_results_disagree_with_the_state() {
        let mut r = RiseFall::new(2, 2);
        assert!(!r.in_transition(), "nothing seen yet");
        r.observe(true);
        assert!(r.in_transition(), "one pass, not yet risen");
        r.observe(true);
        assert!(!r.in_transition(), "healthy and passing");
        r.observe(false);
        assert!(r.in_transition(), "healthy, one failure");
        r.observe(false);
        assert!(!r.in_transition(), "unhealthy and failing");
        r.observe(true);
        assert!(r.in_transition(), "unhealthy, one pass");
    }
}
