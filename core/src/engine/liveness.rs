//! Site liveness: which members are dead or gone, as the cluster sees them.
//! Every later rule (fencing, eligibility, placement) reads this first.

use super::eligibility::join;
use super::evaluate::Decisions;
use super::Engine;
use crate::decision::Change;

impl Engine {
    /// Rule: a member's own word about a planned departure (or its return)
    /// is reported at once. It needs no vote because only the member itself
    /// can say it, and it makes the member ineligible without counting it
    /// dead or toward any quorum.
    pub(super) fn announce_departures(&mut self, decisions: &mut Decisions) {
        for (site, left) in std::mem::take(&mut self.left_changes) {
            let reason = if left {
                format!(
                    "site {site} announced a planned departure: its services move as planned moves, \
                     it is not counted dead nor toward any quorum"
                )
            } else {
                format!("site {site} is back after a planned departure")
            };
            decisions.push(Change::SiteLeft { site, left }, reason, Vec::new());
        }
    }

    /// Rule: a site is dead when a quorum of the other members has reported
    /// it dead for `failover_hold`, and alive again as soon as fewer do (see
    /// `quorum.rs`). One detector or one partitioned member cannot take a
    /// site's services away: that is what prevents split brain. Each death
    /// is counted, cluster-wide, because failback waits from the last one.
    pub(super) fn settle_liveness(&mut self, decisions: &mut Decisions) {
        for change in self.view.settle(self.now, self.failover_hold, &self.local) {
            if change.dead {
                *self.deaths.entry(change.site.clone()).or_insert(0) += 1;
            }
            let causes = self.view.dead_vote_events(&change.site);
            let reason = if change.dead {
                format!(
                    "{} of {} required members report site {} dead ({})",
                    change.voters.len(),
                    self.view.quorum(),
                    change.site,
                    join(&change.voters)
                )
            } else {
                format!(
                    "site {} is alive again: only {} member(s) still report it dead, {} needed",
                    change.site,
                    change.voters.len(),
                    self.view.quorum()
                )
            };
            decisions.push(
                Change::SiteLiveness {
                    site: change.site,
                    dead: change.dead,
                },
                reason,
                causes,
            );
        }
    }
}
