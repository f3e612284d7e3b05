//! The local site's role per service: what this site's backends do with
//! the placement (announce as the carrier, as standby, at lowest preference
//! while draining, or not at all).

use super::evaluate::Decisions;
use super::{Engine, ServicePlan};
use crate::decision::Change;
use crate::ids::SiteId;
use crate::steering::Role;

impl Engine {
    /// Rule: the local role follows from the placement, fencing, sync,
    /// drains and a planned stop (see [`Engine::local_role`]); a change is a
    /// decision, since it is what this site's data plane does next.
    pub(super) fn settle_role(
        &self,
        svc: &ServicePlan,
        old_role: Role,
        active: Option<&SiteId>,
        decisions: &mut Decisions,
    ) -> Role {
        let role = self.local_role(svc, active);
        if role != old_role {
            decisions.push(
                Change::LocalRole {
                    service: svc.id.clone(),
                    from: old_role,
                    to: role,
                },
                self.role_reason(svc, role),
                Vec::new(),
            );
        }
        role
    }

    /// Rule: an Active local site takes over with the takeover preference
    /// while another site of the service is declared dead, because the dead
    /// site's route may still be held upstream.
    pub(super) fn takeover(&self, svc: &ServicePlan, role: Role) -> bool {
        role == Role::Active
            && svc
                .sites
                .iter()
                .any(|s| s != &self.site && self.view.is_site_dead(s))
    }

    /// Fenced or not serving: withdrawn. Leaving: never more attractive
    /// than before. Carrier with authority: Active. Otherwise Draining
    /// after a planned move away, Standby while eligible, else Withdrawn.
    fn local_role(&self, svc: &ServicePlan, active: Option<&SiteId>) -> Role {
        if !svc.sites.contains(&self.site) || self.fenced {
            return Role::Withdrawn;
        }
        if self.leaving {
            return self.leaving_role(svc);
        }
        if self.sibling_serves_for_us(svc) {
            return Role::Withdrawn;
        }
        if active == Some(&self.site) && self.synced {
            return Role::Active;
        }
        let local_ok = self.eligible(&self.site, svc);
        let draining = self
            .draining_until
            .get(&svc.id)
            .is_some_and(|until| *until > self.now);
        let drained_but_serving = self.intent.drained.contains(&self.site)
            && (!svc.health_checked
                || self
                    .health
                    .get(&(self.local.clone(), svc.id.clone()))
                    .is_some_and(|r| r.healthy));
        if draining && (local_ok || drained_but_serving) {
            Role::Draining
        } else if local_ok && svc.plan.is_none() {
            Role::Standby
        } else {
            Role::Withdrawn
        }
    }

    /// In a site of several members: this member's own check of `svc`
    /// fails while another member of the site passes it. The site stays
    /// eligible (it is healthy where the other member carries it), but
    /// this member's own backends must not attract the traffic.
    fn sibling_serves_for_us(&self, svc: &ServicePlan) -> bool {
        svc.health_checked
            && self
                .health
                .get(&(self.local.clone(), svc.id.clone()))
                .is_some_and(|r| !r.healthy)
            && self.eligible(&self.site, svc)
    }

    fn role_reason(&self, svc: &ServicePlan, role: Role) -> String {
        let local = &self.site;
        if role == Role::Withdrawn
            && !self.fenced
            && !self.leaving
            && self.sibling_serves_for_us(svc)
        {
            return format!(
                "{} is unhealthy at member {} but healthy at another member of site {local}: \
                 withdrawn here only",
                svc.id, self.local
            );
        }
        match role {
            Role::Active => format!("site {local} carries {}", svc.id),
            Role::Standby if self.leaving => format!(
                "site {local} is stopping: {} stays standby as it was until withdrawn",
                svc.id
            ),
            Role::Standby => format!("site {local} is healthy standby for {}", svc.id),
            Role::Draining if self.leaving => format!(
                "site {local} is stopping: carrying {} at lowest preference until the new site \
                 confirms it or for at most {}",
                svc.id,
                humantime::format_duration(self.drain_grace)
            ),
            Role::Draining => format!(
                "{} moved away from site {local} on purpose: carrying it at lowest preference for {}",
                svc.id,
                humantime::format_duration(self.drain_grace)
            ),
            Role::Withdrawn if !svc.sites.contains(local) => {
                format!("site {local} does not serve {}", svc.id)
            }
            Role::Withdrawn if self.fenced => {
                format!("site {local} has no quorum: {} withdrawn", svc.id)
            }
            Role::Withdrawn if self.moving.get(&svc.id) == Some(local) => format!(
                "{} moves to site {local} once its plan's steps before the takeover succeeded: \
                 not announced here until then",
                svc.id
            ),
            Role::Withdrawn if svc.plan.is_some() && self.eligible(local, svc) => format!(
                "{} has a plan: only the site that ran it carries it, no standby announcement",
                svc.id
            ),
            Role::Withdrawn => match self.ineligible_reason(local, svc) {
                Some(reason) => format!("{}: {} withdrawn", reason.text(), svc.id),
                None => format!("{} withdrawn at site {local}", svc.id),
            },
        }
    }
}
