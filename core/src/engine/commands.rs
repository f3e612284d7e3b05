//! Operator commands. Each is checked completely before anything changes:
//! `Engine::command` carries it out on a copy of the engine, so a refusal
//! leaves no trace, and the copy's placement tells whether the command
//! would leave a service without any site (refused unless forced).

use super::{CommandMove, Engine, ForcedMove, ServicePlan};
use crate::decision::{Change, Decision};
use crate::error::CommandError;
use crate::event::{Command, Event};
use crate::ids::{join_names, ServiceId, SiteId};
use crate::order::Order;
use crate::shared::IntentCommand;
use crate::time::Millis;

impl Engine {
    /// Applies an operator order at `now`. On refusal nothing changes and
    /// the error says why.
    ///
    /// The order is carried out on a copy of the engine with the same rules
    /// as any event, so the placement it would lead to is known before it
    /// is accepted: one that would leave a service that has a site without
    /// any is refused unless the order is forced.
    pub fn command(&mut self, now: Millis, order: Order) -> Result<Vec<Decision>, CommandError> {
        self.advance(now);
        if let Command::Drain { site } = &order.command {
            // A member that places no service (a witness) cannot tell what
            // a drain leaves behind at the sites, which all adopt it.
            if self.services.is_empty() && !order.force {
                return Err(CommandError::CannotJudge {
                    here: self.local.clone(),
                    site: site.clone(),
                });
            }
        }
        let mut next = self.clone();
        let mut note = next.apply_command(&order.command)?;
        // Every command is shared, observer mode included: a command issued
        // at a member that observes must not be carried out by the others.
        next.intent.epoch += 1;
        next.intent.origin = Some(next.local.clone());
        next.intent
            .includes
            .insert(next.local.clone(), next.intent.epoch);
        next.intent.last = Some(Box::new(IntentCommand {
            command: order.command.clone(),
            at: order.origin.as_ref().map(|o| o.at.clone()),
        }));
        let event = Event::Command {
            order: order.clone(),
        };
        let generation = next.steering.generation;
        let evaluated = next.evaluate(&event);
        next.remember_command_moves(&self.steering);
        let stranded = self.stranded_by(&next);
        if !stranded.is_empty() {
            if !order.force {
                return Err(CommandError::WouldStrand(stranded));
            }
            note.push_str(&format!(
                "; forced: {} left without any site",
                join_names(&stranded)
            ));
        }
        *self = next;
        let accepted = Decision {
            at: now,
            change: Change::CommandAccepted { order },
            reason: note,
            causes: vec![event],
            generation: evaluated.last().map_or(generation, |d| d.generation),
        };
        let mut decisions = vec![accepted];
        decisions.extend(evaluated);
        Ok(decisions)
    }

    /// Notes what the command just evaluated moved (relative to `before`),
    /// so that the moves can be undone if a concurrent intent supersedes it.
    fn remember_command_moves(&mut self, before: &crate::steering::Steering) {
        for (id, s) in &self.steering.services {
            let moved = before
                .services
                .get(id)
                .is_none_or(|b| (&b.active, b.epoch) != (&s.active, s.epoch));
            if moved {
                let entry = CommandMove {
                    active: s.active.clone(),
                    epoch: s.epoch,
                    intent_epoch: self.intent.epoch,
                };
                self.command_moves.insert(id.clone(), entry);
            }
        }
    }

    /// The services some site carries now that nobody carries in `next`.
    pub(super) fn stranded_by(&self, next: &Engine) -> Vec<ServiceId> {
        next.steering
            .services
            .iter()
            .filter(|(id, s)| {
                s.active.is_none()
                    && self
                        .steering
                        .services
                        .get(*id)
                        .is_some_and(|before| before.active.is_some())
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Applies `command` to the engine's intent (pins, drains, forced moves)
    /// and returns the sentence that explains it.
    pub(super) fn apply_command(&mut self, command: &Command) -> Result<String, CommandError> {
        if !matches!(command, Command::ObserverMode { .. }) {
            self.ready_to_steer()?;
        }
        match command {
            Command::Switchover { service, to } => self.switchover(service.as_ref(), to),
            Command::Drain { site } => {
                self.known_carrier(site)?;
                self.intent.drained.insert(site.clone());
                Ok(format!(
                    "operator drained site {site}: its services move away now and stay away until failback"
                ))
            }
            Command::Failback { site } => self.failback(site.as_ref()),
            Command::Pin { service, site } => {
                let svc = self.known_service(service)?.clone();
                self.serving(site, &svc)?;
                self.intent.pins.insert(svc.id.clone(), site.clone());
                self.intent.placed.remove(&svc.id);
                let reason = format!("operator pinned {} to site {site}", svc.id);
                match self.ineligible_reason(site, &svc) {
                    None => {
                        self.force(&svc.id, site, reason.clone());
                        Ok(reason)
                    }
                    Some(why) => Ok(format!(
                        "{reason}; {} now, so it moves there once eligible (failback policy applies)",
                        why.text()
                    )),
                }
            }
            Command::Unpin { service } => {
                let svc = self.known_service(service)?.clone();
                let Some(site) = self.intent.pins.remove(&svc.id) else {
                    return Err(CommandError::NotPinned(svc.id.clone()));
                };
                // "Stays where it is": remember the current carrier so that
                // automatic failback does not move it right after an unpin.
                if let Some(active) = self
                    .steering
                    .services
                    .get(&svc.id)
                    .and_then(|s| s.active.clone())
                {
                    self.intent.placed.insert(svc.id.clone(), active);
                }
                Ok(format!(
                    "operator unpinned {} from site {site}; it stays where it is",
                    svc.id
                ))
            }
            Command::ObserverMode { on } => {
                self.intent.observer = Some(*on);
                Ok(if *on {
                    "observer mode on for every member: decisions are reported, nothing is applied"
                        .to_owned()
                } else {
                    "observer mode off for every member: decisions are applied again".to_owned()
                })
            }
        }
    }

    fn switchover(
        &mut self,
        service: Option<&ServiceId>,
        to: &SiteId,
    ) -> Result<String, CommandError> {
        self.known_carrier(to)?;
        let targets: Vec<ServicePlan> = match service {
            Some(id) => {
                let svc = self.known_service(id)?.clone();
                self.serving(to, &svc)?;
                if let Some(pin) = self.intent.pins.get(&svc.id) {
                    if pin != to {
                        return Err(CommandError::Pinned {
                            service: svc.id.clone(),
                            site: pin.clone(),
                        });
                    }
                }
                vec![svc]
            }
            None => self
                .services
                .iter()
                .filter(|s| s.sites.contains(to))
                .filter(|s| self.intent.pins.get(&s.id).is_none_or(|p| p == to))
                .cloned()
                .collect(),
        };
        if targets.is_empty() {
            return Err(CommandError::NothingToMove(to.clone()));
        }
        for svc in &targets {
            if let Some(why) = self.ineligible_reason(to, svc) {
                return Err(CommandError::NotEligible {
                    site: to.clone(),
                    service: svc.id.clone(),
                    why: why.text().to_owned(),
                });
            }
        }
        let reason = format!("operator switchover to site {to}");
        for svc in &targets {
            self.intent.placed.insert(svc.id.clone(), to.clone());
            self.force(&svc.id, to, reason.clone());
        }
        let names: Vec<&str> = targets.iter().map(|s| s.id.as_str()).collect();
        Ok(format!("{reason} of {}", names.join(", ")))
    }

    fn failback(&mut self, site: Option<&SiteId>) -> Result<String, CommandError> {
        if let Some(site) = site {
            self.known_carrier(site)?;
            self.intent.drained.remove(site);
        } else {
            self.intent.drained.clear();
        }
        let mut moved = Vec::new();
        let services = std::sync::Arc::clone(&self.services);
        for svc in services.iter() {
            if site.is_some_and(|s| !svc.sites.contains(s)) {
                continue;
            }
            let placed = self.intent.placed.remove(&svc.id);
            let best = self.best(svc);
            let wanted = match site {
                Some(site) => best.as_ref() == Some(site),
                None => best.is_some(),
            };
            if !wanted {
                // Not this site's service to take back: keep the operator's placement.
                if let Some(p) = placed {
                    self.intent.placed.insert(svc.id.clone(), p);
                }
                continue;
            }
            if let Some(best) = best {
                self.force(
                    &svc.id,
                    &best,
                    format!("operator failback of {} to site {best}", svc.id),
                );
                moved.push(svc.id.to_string());
            }
        }
        let scope = site.map_or("every site".to_owned(), |s| format!("site {s}"));
        Ok(format!(
            "operator failback of {scope}: undrained; preferred placement restored for {}",
            if moved.is_empty() {
                "no service".to_owned()
            } else {
                moved.join(", ")
            }
        ))
    }

    /// A fenced or not yet synced engine cannot move anything, so it must not
    /// accept a command that promises to.
    pub(super) fn ready_to_steer(&self) -> Result<(), CommandError> {
        let why = if self.fenced {
            format!(
                "it reaches fewer than the {} members a quorum needs (fenced)",
                self.view.quorum()
            )
        } else if !self.synced {
            "it has not yet heard the other sites' placements; retry in a moment".to_owned()
        } else {
            return Ok(());
        };
        Err(CommandError::NotReady {
            site: self.local.clone(),
            why,
        })
    }

    pub(super) fn force(&mut self, service: &ServiceId, to: &SiteId, reason: String) {
        self.forced.insert(
            service.clone(),
            ForcedMove {
                to: to.clone(),
                reason,
            },
        );
    }

    pub(super) fn known_service(&self, id: &ServiceId) -> Result<&ServicePlan, CommandError> {
        self.service(id)
            .ok_or_else(|| CommandError::UnknownService(id.to_string()))
    }

    /// A configured site that is not a witness.
    fn known_carrier(&self, site: &SiteId) -> Result<(), CommandError> {
        if !self.view.is_site(site) {
            return Err(CommandError::UnknownSite(site.to_string()));
        }
        if self.is_witness(site) {
            return Err(CommandError::Witness(site.clone()));
        }
        Ok(())
    }

    pub(super) fn serving(&self, site: &SiteId, svc: &ServicePlan) -> Result<(), CommandError> {
        self.known_carrier(site)?;
        if !svc.sites.contains(site) {
            return Err(CommandError::SiteNotServing {
                site: site.clone(),
                service: svc.id.clone(),
                sites: svc
                    .sites
                    .iter()
                    .map(SiteId::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(())
    }
}
