//! Eligibility: which sites may carry a service now, and in which order
//! they are wanted. Every placement rule reads these answers, so they are
//! derived in one place.

use super::{Engine, ServicePlan};
use crate::ids::SiteId;
use crate::time::Millis;

impl Engine {
    /// Whether the cluster may still be starting: a service that was never
    /// placed waits this long for a better site whose service is still
    /// coming up, instead of detouring through a worse one.
    pub(super) fn cold_start(&self) -> bool {
        self.started_at
            .is_some_and(|t| self.now.since(t) < self.sync_timeout)
    }

    /// Why `site` cannot carry `service` now, or `None` if it can.
    pub(super) fn ineligible_reason(&self, site: &SiteId, svc: &ServicePlan) -> Option<Ineligible> {
        if self.view.is_site_dead(site) {
            let voters = self.view.site_dead_voters(site);
            return Some(Ineligible::Dead(format!(
                "site {site} is declared dead by a quorum ({})",
                join(&voters)
            )));
        }
        if self.view.is_site_left(site) {
            return Some(Ineligible::Left(format!(
                "site {site} is stopping (planned departure)"
            )));
        }
        if self.intent.drained.contains(site) {
            return Some(Ineligible::Drained(format!(
                "site {site} is drained by an operator"
            )));
        }
        if let Some(why) = self.unfenced(site, svc) {
            return Some(Ineligible::Unfenced(why));
        }
        if !svc.health_checked {
            return None;
        }
        match self.site_health(site, svc) {
            Some((true, _)) => None,
            Some((false, since)) => Some(Ineligible::Unhealthy(
                since,
                format!("{} is unhealthy at site {site}", svc.id),
            )),
            None => Some(Ineligible::HealthUnknown(format!(
                "the health of {} at site {site} is not known yet",
                svc.id
            ))),
        }
    }

    /// The health of `svc` at `site` from its members' checks: healthy when
    /// any member still there (not declared dead, not left) passes it;
    /// otherwise unhealthy since the last of them failed; `None` while no
    /// such member has reported. With one member: that member's record.
    pub(super) fn site_health(&self, site: &SiteId, svc: &ServicePlan) -> Option<(bool, Millis)> {
        let mut unhealthy_since: Option<Millis> = None;
        let several = self.view.members_of(site).nth(1).is_some();
        for member in self.view.members_of(site) {
            if several && (self.view.is_dead(member) || self.view.is_left(member)) {
                continue;
            }
            match self.health.get(&(member.clone(), svc.id.clone())) {
                Some(r) if r.healthy => return Some((true, r.since)),
                Some(r) => unhealthy_since = unhealthy_since.max(Some(r.since)),
                None => {}
            }
        }
        unhealthy_since.map(|since| (false, since))
    }

    pub(super) fn eligible(&self, site: &SiteId, svc: &ServicePlan) -> bool {
        self.ineligible_reason(site, svc).is_none()
    }

    /// Pin, then switchover target, then configured priority; no repeats.
    pub(super) fn preference(&self, svc: &ServicePlan) -> Vec<SiteId> {
        let mut order: Vec<SiteId> = Vec::new();
        let first = [
            self.intent.pins.get(&svc.id),
            self.intent.placed.get(&svc.id),
        ];
        for site in first.into_iter().flatten().chain(svc.sites.iter()) {
            if !order.contains(site) {
                order.push(site.clone());
            }
        }
        order
    }

    /// The most preferred site that can carry `svc` now.
    pub(super) fn best(&self, svc: &ServicePlan) -> Option<SiteId> {
        self.preference(svc)
            .into_iter()
            .find(|s| self.eligible(s, svc))
    }

    /// Rule: a site's failback clock for a service runs while the site is
    /// eligible for it and restarts whenever it is not. Automatic failback
    /// waits `failback_after` on this clock, so that a flapping site does
    /// not pull services back and forth.
    pub(super) fn refresh_eligible_since(&mut self) {
        let services = std::sync::Arc::clone(&self.services);
        for svc in services.iter() {
            self.refresh_eligible_since_of(svc);
        }
    }

    /// [`Engine::refresh_eligible_since`] for one service.
    pub(super) fn refresh_eligible_since_of(&mut self, svc: &ServicePlan) {
        let now = self.now;
        for site in &svc.sites {
            let key = (site.clone(), svc.id.clone());
            if self.eligible(site, svc) {
                self.eligible_since.entry(key).or_insert(now);
            } else {
                self.eligible_since.remove(&key);
            }
        }
    }
}

/// Why a site cannot carry a service; the kind decides how placement
/// reacts (at once, after `failover_hold`, or not at all), the text is the
/// reason the operator reads.
#[derive(Debug, Clone)]
pub(super) enum Ineligible {
    Dead(String),
    /// Planned departure: a planned move, at once.
    Left(String),
    Drained(String),
    Unhealthy(Millis, String),
    /// No health report yet for a health-checked service.
    HealthUnknown(String),
    /// A move away from the site ran a plan whose `fence_old` steps have
    /// not all succeeded (docs/plans.md).
    Unfenced(String),
}

impl Ineligible {
    pub(super) fn text(&self) -> &str {
        match self {
            Ineligible::Dead(t)
            | Ineligible::Left(t)
            | Ineligible::Drained(t)
            | Ineligible::HealthUnknown(t)
            | Ineligible::Unfenced(t)
            | Ineligible::Unhealthy(_, t) => t,
        }
    }
}

/// Sites as a sentence fragment ("a, b" or "none"), for reasons.
pub(super) fn join(sites: &[SiteId]) -> String {
    if sites.is_empty() {
        return "none".to_owned();
    }
    sites
        .iter()
        .map(SiteId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
