//! Site liveness: which members are dead or gone, as the cluster sees them.
//! Every later rule (fencing, eligibility, placement) reads this first.

use super::eligibility::join;
use super::evaluate::Decisions;
use super::Engine;
use crate::decision::Change;
use crate::ids::SiteId;

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
        let grouped = self.view.grouped();
        for change in self.view.settle(self.now, self.failover_hold, &self.local) {
            let site = self.view.site_of(&change.site).clone();
            if site != change.site || self.view.members_of(&site).count() > 1 {
                // A member of a site with several: its own death moves
                // nothing while another member of its site is there.
                let reason = if change.dead {
                    format!(
                        "members of {} of {} required sites report member {} of site {site} dead ({})",
                        self.view.sites_among(&change.voters),
                        self.view.quorum(),
                        change.site,
                        join(&change.voters)
                    )
                } else {
                    format!(
                        "member {} of site {site} is alive again: members of only {} site(s) still \
                         report it dead, {} needed",
                        change.site,
                        self.view.sites_among(&change.voters),
                        self.view.quorum()
                    )
                };
                let causes = self.view.dead_vote_events(&change.site);
                decisions.push(
                    Change::MemberLiveness {
                        member: change.site,
                        site,
                        dead: change.dead,
                    },
                    reason,
                    causes,
                );
                continue;
            }
            if change.dead {
                *self.deaths.entry(change.site.clone()).or_insert(0) += 1;
            }
            let causes = self.view.dead_vote_events(&change.site);
            let reason = if change.dead && grouped {
                format!(
                    "members of {} of {} required sites report site {} dead ({})",
                    self.view.sites_among(&change.voters),
                    self.view.quorum(),
                    change.site,
                    join(&change.voters)
                )
            } else if change.dead {
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
        if grouped {
            self.settle_grouped_sites(decisions);
        }
    }

    /// Rule: a site of several members is dead once every member is gone
    /// (declared dead, or left with at least one dead), and alive again as
    /// soon as one member is back. Only then does anything move: one
    /// router of a site dying is not a failure of the site.
    fn settle_grouped_sites(&mut self, decisions: &mut Decisions) {
        let mut sites: Vec<SiteId> = Vec::new();
        for (_, site) in self.view.membership() {
            if !sites.contains(&site) {
                sites.push(site);
            }
        }
        for site in sites {
            let members: Vec<SiteId> = self.view.members_of(&site).cloned().collect();
            if members.len() == 1 && members[0] == site {
                continue;
            }
            let dead = self.view.is_site_dead(&site);
            if dead == self.dead_sites.contains(&site) {
                continue;
            }
            let reason = if dead {
                *self.deaths.entry(site.clone()).or_insert(0) += 1;
                self.dead_sites.insert(site.clone());
                format!(
                    "every member of site {site} is gone ({}): the site is dead",
                    join(&members)
                )
            } else {
                self.dead_sites.remove(&site);
                format!("a member of site {site} is back: the site is alive again")
            };
            let causes = members
                .iter()
                .flat_map(|m| self.view.dead_vote_events(m))
                .collect();
            decisions.push(Change::SiteLiveness { site, dead }, reason, causes);
        }
    }
}
