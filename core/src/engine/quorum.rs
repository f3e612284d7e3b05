//! Site liveness as a quorum of observers sees it.
//!
//! A site is declared dead only when at least `quorum` members other than the
//! site itself report it dead, and have done so for the failover hold-down.
//! Reports from a member that is itself declared dead are stale and ignored,
//! and so are the dead votes of a member that, by its own reports, reaches
//! fewer than a quorum: a site cut off from the others believes everyone
//! else dead, and when it heals those beliefs arrive before it has revised
//! them. Only an observer that is part of a quorum speaks for the cluster.
//! The local site fences itself when it cannot reach a quorum of members
//! (itself included): in a partition only the majority side keeps claiming.
//!
//! A member that announced a planned departure (it says so itself in its
//! shared state, see `SharedState::leaving`) is *left*: it is never
//! declared dead, its votes no longer count, and it is nobody's partner
//! for a quorum. The quorum itself stays a majority of the *configured*
//! members. So with sites a and b and a witness w (quorum 2), a planned
//! stop of any one member leaves the other two a quorum: the survivors are
//! not fenced. The quorum is deliberately not lowered to a majority of the
//! members still there: a left member may restart on the other side of a
//! partition and count toward a quorum there, so lowering it would let two
//! sides claim at once. (With two members and `quorum = 2` the survivor
//! fences on any absence, planned or not: the config check asks for a
//! witness for that reason.)
//!
//! The quorum counts *sites*, not members. A site may have several members
//! (two border routers, each with its orbitd); a member's reports speak for
//! its site, so a site counts once however many of its members agree, and
//! a site is reached when any of its members is. The members of a site do
//! not vote on one another: a member is declared dead when members of at
//! least `quorum` other sites report it dead. A site is dead only when all
//! its members are gone (declared dead, or left with at least one dead):
//! losing one router of a site moves nothing. Counting sites keeps the
//! rule of a single-member cluster: a minority of sites never fails a
//! healthy site over, however many routers the minority has (two routers
//! of one site cut off together are one site, not a majority of a 2+1+w
//! cluster), and the sites left after a whole site dies still make a
//! quorum (with members counted, b and w alone would be 2 of 4 in a
//! 2+1+w layout, and fenced).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::event::{Event, Liveness};
use crate::ids::SiteId;
use crate::time::Millis;

#[derive(Debug, Clone)]
struct Report {
    liveness: Liveness,
    event: Event,
}

/// Every observer's latest report about one subject.
#[derive(Debug, Clone, Default)]
struct Reports {
    by: BTreeMap<SiteId, Report>,
    /// How many of them say Dead: `settle` asks for every subject after
    /// every event, and counting them each time cost N^2 per event.
    dead: usize,
}

impl Reports {
    fn insert(&mut self, observer: SiteId, report: Report) {
        let now_dead = report.liveness == Liveness::Dead;
        let was_dead = self
            .by
            .insert(observer, report)
            .is_some_and(|r| r.liveness == Liveness::Dead);
        match (was_dead, now_dead) {
            (false, true) => self.dead += 1,
            (true, false) => self.dead -= 1,
            _ => {}
        }
    }
}

/// A change of a site's declared liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LivenessChange {
    pub(crate) site: SiteId,
    pub(crate) dead: bool,
    pub(crate) voters: Vec<SiteId>,
}

#[derive(Debug, Clone)]
pub(crate) struct QuorumView {
    members: Vec<SiteId>,
    /// The site of each member (itself for a site of one).
    site_of: BTreeMap<SiteId, SiteId>,
    /// The quorum, in sites.
    quorum: usize,
    /// Subject -> observer -> the observer's latest report about it:
    /// looked up by reference, and one subject's reports are one small map
    /// (`settle` runs after every event, over every member).
    reports: BTreeMap<SiteId, Reports>,
    /// When a quorum started agreeing that the site is dead.
    dead_pending: BTreeMap<SiteId, Millis>,
    declared_dead: BTreeSet<SiteId>,
    /// Members that announced a planned departure and have not come back.
    left: BTreeSet<SiteId>,
    /// `reachable_from` of every observer that reported anything, kept as
    /// its reports change: `fenced` is asked for every voter of every
    /// subject after every event, and counting each time cost N^2 lookups
    /// per event at 100 members. An observer with no reports reaches its
    /// own site only.
    reach: BTreeMap<SiteId, usize>,
}

impl QuorumView {
    /// `members` with the site each belongs to; `quorum` counts sites.
    pub(crate) fn new(members: Vec<(SiteId, SiteId)>, quorum: usize) -> Self {
        QuorumView {
            site_of: members.iter().cloned().collect(),
            members: members.into_iter().map(|(m, _)| m).collect(),
            quorum,
            reports: BTreeMap::new(),
            dead_pending: BTreeMap::new(),
            declared_dead: BTreeSet::new(),
            left: BTreeSet::new(),
            reach: BTreeMap::new(),
        }
    }

    pub(crate) fn members(&self) -> &[SiteId] {
        &self.members
    }

    /// Each member with its site.
    pub(crate) fn membership(&self) -> Vec<(SiteId, SiteId)> {
        self.members
            .iter()
            .map(|m| (m.clone(), self.site_of(m).clone()))
            .collect()
    }

    /// The site of `member` (a non-member is taken as a site of its own).
    pub(crate) fn site_of<'a>(&'a self, member: &'a SiteId) -> &'a SiteId {
        self.site_of.get(member).unwrap_or(member)
    }

    /// Whether `site` is the site of some member.
    pub(crate) fn is_site(&self, site: &SiteId) -> bool {
        self.site_of.values().any(|s| s == site)
    }

    /// The members of `site`.
    pub(crate) fn members_of<'a>(&'a self, site: &'a SiteId) -> impl Iterator<Item = &'a SiteId> {
        self.members.iter().filter(move |m| self.site_of(m) == site)
    }

    /// Whether some site has more than one member.
    pub(crate) fn grouped(&self) -> bool {
        self.site_of.iter().any(|(m, s)| m != s)
    }

    /// The number of distinct sites among `members`.
    pub(crate) fn sites_among(&self, members: &[SiteId]) -> usize {
        members
            .iter()
            .map(|m| self.site_of(m))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Site `site` is dead: every member is declared dead or left, and at
    /// least one is declared dead. (With one member: that member is dead.)
    pub(crate) fn is_site_dead(&self, site: &SiteId) -> bool {
        let mut any_dead = false;
        for m in self.members_of(site) {
            if self.declared_dead.contains(m) {
                any_dead = true;
            } else if !self.left.contains(m) {
                return false;
            }
        }
        any_dead
    }

    /// Site `site` is stopping: every member announced a planned departure.
    pub(crate) fn is_site_left(&self, site: &SiteId) -> bool {
        let mut members = self.members_of(site).peekable();
        members.peek().is_some() && members.all(|m| self.left.contains(m))
    }

    /// The members voting site `site` dead: those voting any of its
    /// declared-dead members dead.
    pub(crate) fn site_dead_voters(&self, site: &SiteId) -> Vec<SiteId> {
        let mut voters: Vec<SiteId> = Vec::new();
        for m in self.members_of(site) {
            for v in self.dead_voters(m) {
                if !voters.contains(&v) {
                    voters.push(v);
                }
            }
        }
        voters
    }

    pub(crate) fn quorum(&self) -> usize {
        self.quorum
    }

    pub(crate) fn is_member(&self, site: &SiteId) -> bool {
        self.members.contains(site)
    }

    /// Takes over the reports, pending and declared deaths of `old` that
    /// concern members of this view (config reload).
    pub(crate) fn carry_over(&mut self, old: &QuorumView) {
        let members = self.members.clone();
        let known = |s: &SiteId| members.contains(s);
        self.reports = old
            .reports
            .iter()
            .filter(|(s, _)| known(s))
            .map(|(s, old)| {
                let mut reports = Reports::default();
                for (o, r) in old.by.iter().filter(|(o, _)| known(o)) {
                    reports.insert(o.clone(), r.clone());
                }
                (s.clone(), reports)
            })
            .collect();
        self.dead_pending = old
            .dead_pending
            .iter()
            .filter(|(s, _)| known(s))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.declared_dead = old
            .declared_dead
            .iter()
            .filter(|s| known(s))
            .cloned()
            .collect();
        self.left = old.left.iter().filter(|s| known(s)).cloned().collect();
        self.count_all_reach();
    }

    /// Marks `site` as left (planned departure) or back; whether it changed.
    pub(crate) fn set_left(&mut self, site: &SiteId, left: bool) -> bool {
        let changed = if left {
            self.left.insert(site.clone())
        } else {
            self.left.remove(site)
        };
        if changed {
            self.count_all_reach();
        }
        changed
    }

    pub(crate) fn is_left(&self, site: &SiteId) -> bool {
        self.left.contains(site)
    }

    pub(crate) fn record(
        &mut self,
        observer: SiteId,
        subject: SiteId,
        liveness: Liveness,
        event: Event,
    ) {
        let heard = self.hears(&observer, &subject);
        self.reports
            .entry(subject.clone())
            .or_default()
            .insert(observer.clone(), Report { liveness, event });
        if heard != self.hears(&observer, &subject) || !self.reach.contains_key(&observer) {
            let n = self.count_reachable(&observer);
            self.reach.insert(observer, n);
        }
    }

    pub(crate) fn is_dead(&self, site: &SiteId) -> bool {
        self.declared_dead.contains(site)
    }

    /// For a site declared dead: when a quorum started agreeing that it is.
    pub(crate) fn dead_since(&self, site: &SiteId) -> Option<Millis> {
        self.declared_dead
            .contains(site)
            .then(|| self.dead_pending.get(site).copied())
            .flatten()
    }

    pub(crate) fn report(&self, observer: &SiteId, subject: &SiteId) -> Option<Liveness> {
        self.reports
            .get(subject)
            .and_then(|r| r.by.get(observer))
            .map(|r| r.liveness)
    }

    /// Members (not declared dead, not left, not of `subject`'s site, not
    /// cut off from a quorum by their own account) that report `subject`
    /// dead. Nobody votes a left member dead: its silence was announced.
    pub(crate) fn dead_voters(&self, subject: &SiteId) -> Vec<SiteId> {
        if self.left.contains(subject) {
            return Vec::new();
        }
        let site = self.site_of(subject);
        self.members
            .iter()
            .filter(|o| self.site_of(o) != site && !self.declared_dead.contains(*o))
            .filter(|o| !self.left.contains(*o))
            .filter(|o| self.report(o, subject) == Some(Liveness::Dead))
            .filter(|o| !self.fenced(o))
            .cloned()
            .collect()
    }

    /// The report events behind the current dead votes against `subject`.
    pub(crate) fn dead_vote_events(&self, subject: &SiteId) -> Vec<Event> {
        self.dead_voters(subject)
            .into_iter()
            .filter_map(|o| self.reports.get(subject).and_then(|r| r.by.get(&o)))
            .map(|r| r.event.clone())
            .collect()
    }

    /// How many observers (any, counted or not) report `subject` dead.
    fn dead_reports(&self, subject: &SiteId) -> usize {
        self.reports.get(subject).map_or(0, |r| r.dead)
    }

    /// Whether `observer` hears `subject` directly (alive or merely
    /// suspected).
    pub(crate) fn hears(&self, observer: &SiteId, subject: &SiteId) -> bool {
        matches!(
            self.report(observer, subject),
            Some(Liveness::Alive | Liveness::Suspect)
        )
    }

    /// Sites `local` can reach by its own detectors (its reports), its own
    /// included: a site is reached when one of its members is. A member it
    /// has no report about yet is not counted: a daemon that starts alone
    /// must not claim anything. `Silent` does not count: hearing from a
    /// member only second hand is not being part of a quorum. A left
    /// member does not count either, even while it still answers during
    /// its drain: it is about to go.
    pub(crate) fn reachable_from(&self, local: &SiteId) -> usize {
        self.reach.get(local).copied().unwrap_or(1)
    }

    /// Recounts every observer's reach: after the members that count
    /// changed (a departure, a reload).
    fn count_all_reach(&mut self) {
        let observers: BTreeSet<SiteId> = self
            .reports
            .values()
            .flat_map(|r| r.by.keys().cloned())
            .collect();
        self.reach = observers
            .into_iter()
            .map(|o| {
                let n = self.count_reachable(&o);
                (o, n)
            })
            .collect();
    }

    fn count_reachable(&self, local: &SiteId) -> usize {
        let own = self.site_of(local);
        1 + self
            .members
            .iter()
            .filter(|m| self.site_of(m) != own && !self.left.contains(*m))
            .filter(|m| self.hears(local, m))
            .map(|m| self.site_of(m))
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub(crate) fn fenced(&self, local: &SiteId) -> bool {
        self.reachable_from(local) < self.quorum
    }

    /// Re-derives declared liveness at `now`; returns what changed. Iterates
    /// because declaring a site dead discounts its own votes.
    ///
    /// `local` is never declared dead in its own view: a site learns that
    /// the majority wrote it off from their placements and death counts
    /// (`SharedState`). Counting the votes about itself would only echo,
    /// when it returns from a cut, verdicts that its return is refuting.
    pub(crate) fn settle(
        &mut self,
        now: Millis,
        hold: Duration,
        local: &SiteId,
    ) -> Vec<LivenessChange> {
        let mut changes = Vec::new();
        for _ in 0..=self.members.len() {
            let mut changed = false;
            for i in 0..self.members.len() {
                let site = &self.members[i];
                // A left member said goodbye: its silence afterwards is
                // expected, not a failure (status shows it as left).
                if site == local || self.left.contains(site) {
                    self.dead_pending.remove(site);
                    continue;
                }
                // Voters are a subset of the Dead reports, and a quorum of
                // sites needs at least as many voters: with fewer Dead
                // reports than that there is nothing to weigh (the common
                // case; weighing is O(members) per subject).
                let voters = (self.dead_reports(site) >= self.quorum)
                    .then(|| self.dead_voters(site))
                    .filter(|v| self.sites_among(v) >= self.quorum);
                if let Some(voters) = voters {
                    let since = *self.dead_pending.entry(site.clone()).or_insert(now);
                    if !self.declared_dead.contains(site) && now.since(since) >= hold {
                        self.declared_dead.insert(site.clone());
                        changes.push(LivenessChange {
                            site: site.clone(),
                            dead: true,
                            voters,
                        });
                        changed = true;
                    }
                } else {
                    self.dead_pending.remove(site);
                    if self.declared_dead.remove(site) {
                        changes.push(LivenessChange {
                            site: site.clone(),
                            dead: false,
                            voters: self.dead_voters(site),
                        });
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        changes
    }

    /// When a pending dead declaration matures.
    pub(crate) fn next_deadline(&self, hold: Duration) -> Option<Millis> {
        self.deadlines(hold).min()
    }

    /// When each pending dead declaration matures.
    pub(crate) fn deadlines(&self, hold: Duration) -> impl Iterator<Item = Millis> + '_ {
        self.dead_pending
            .iter()
            .filter(|(site, _)| !self.declared_dead.contains(*site))
            .map(move |(_, since)| since.after(hold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SiteId {
        s.parse().expect("site id")
    }

    /// The reach kept as reports arrive is the reach counted from scratch,
    /// through every kind of change: reports, departures, a reload.
    #[test]
    fn the_kept_reach_is_the_counted_reach() {
        // Sites a (two members), b, c and witness w.
        let members: Vec<(SiteId, SiteId)> =
            [("a1", "a"), ("a2", "a"), ("b", "b"), ("c", "c"), ("w", "w")]
                .iter()
                .map(|(m, s)| (id(m), id(s)))
                .collect();
        let names: Vec<SiteId> = members.iter().map(|(m, _)| m.clone()).collect();
        let mut view = QuorumView::new(members.clone(), 3);
        let all = [
            Liveness::Alive,
            Liveness::Suspect,
            Liveness::Silent,
            Liveness::Dead,
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for step in 0..2_000 {
            let observer = names[next(names.len())].clone();
            let subject = names[next(names.len())].clone();
            match next(20) {
                0 => {
                    view.set_left(&subject, next(2) == 0);
                }
                1 => {
                    let mut reloaded = QuorumView::new(members.clone(), 3);
                    reloaded.carry_over(&view);
                    view = reloaded;
                }
                _ => {
                    let liveness = all[next(all.len())];
                    let event = Event::Verdict {
                        observer: observer.clone(),
                        subject: subject.clone(),
                        liveness,
                    };
                    view.record(observer, subject, liveness, event);
                }
            }
            for m in &names {
                assert_eq!(
                    view.reachable_from(m),
                    view.count_reachable(m),
                    "reach of {m} after step {step}"
                );
            }
        }
        // The reports left some member reaching another site.
        assert!(names.iter().any(|m| view.reachable_from(m) > 1));
    }
}
