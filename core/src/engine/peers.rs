//! Peers' shared state: what this engine gossips, and what it takes from
//! what the others gossip, so that every engine converges on one carrier
//! per service and one operator intent.

use super::evaluate::Decisions;
use super::{Engine, ServicePlan};
use crate::decision::Change;
use crate::event::Liveness;
use crate::ids::SiteId;
use crate::shared::{Intent, Placement, SharedState};

impl Engine {
    /// What this daemon gossips to its peers.
    pub fn shared_state(&self) -> SharedState {
        SharedState {
            placements: self
                .steering
                .services
                .iter()
                .map(|(id, s)| {
                    let placement = Placement {
                        active: s.active.clone(),
                        epoch: s.epoch,
                        planned: self.planned.get(id).copied().unwrap_or(false),
                        moving_to: self.moving.get(id).cloned(),
                    };
                    (id.clone(), placement)
                })
                .collect(),
            intent: self.intent.clone(),
            deaths: self.deaths.clone(),
            leaving: self.leaving,
            carried: self.carried.clone(),
            // orbitd adds its config's fingerprint: not the engine's business.
            config: None,
            plan_runs: self.runs.clone(),
            step_reports: self.reports.clone(),
        }
    }

    /// Adopts a newer intent at once, and remembers placements from `from`
    /// that are newer than ours for the next evaluation.
    pub(super) fn merge_peer(&mut self, from: &SiteId, theirs: &SharedState) {
        // Only a peer that places some of our services tells us where they
        // are now (a witness places nothing), and only a state it made while
        // it could hear us: a state from while we were cut off (its verdict
        // about us, which travels with it and arrives first, says so) may
        // still be in flight when we heal. Until such a peer has spoken, a
        // stale placement of ours must not be claimed.
        let made_while_hearing_us = matches!(
            self.view.report(from, &self.local),
            Some(Liveness::Alive | Liveness::Suspect)
        );
        let places_ours = self
            .services
            .iter()
            .any(|s| theirs.placements.contains_key(&s.id));
        if self.services.is_empty() || (places_ours && made_while_hearing_us) {
            self.fresh_peer = true;
        }
        // The member's own word: a leaving flag can only come from the
        // member itself (each origin publishes its own state), so it needs
        // no vote. A restarted member publishes without it.
        if self.view.set_left(from, theirs.leaving) {
            tracing::info!(%from, left = theirs.leaving, "member announced its planned departure or its return");
            self.left_changes.push((from.clone(), theirs.leaving));
        }
        self.peer_carried
            .insert(from.clone(), theirs.carried.clone());
        self.peer_runs
            .insert(from.clone(), theirs.plan_runs.clone());
        self.take_reports(from, &theirs.step_reports);
        for (site, count) in &theirs.deaths {
            if !self.view.is_site(site) || self.deaths.get(site) >= Some(count) {
                continue;
            }
            // The cluster declared `site` dead once more than we knew (we may
            // be that site, back from a cut too short for our own detectors):
            // its failback clock restarts now.
            tracing::info!(%from, %site, count, "learnt of a newer death of a site");
            self.deaths.insert(site.clone(), *count);
            let now = self.now;
            for ((s, _), since) in self.eligible_since.iter_mut() {
                if s == site {
                    *since = now;
                }
            }
        }
        if theirs.intent.newer_than(&self.intent) {
            tracing::info!(%from, epoch = theirs.intent.epoch, "adopting newer operator intent");
            if self.intent.loses_commands_of(&self.local, &theirs.intent) {
                self.note_superseded(from, &theirs.intent);
            }
            // Moves of our commands the newer intent includes are everyone's
            // now; those it does not include were lost with their command.
            let kept = theirs
                .intent
                .includes
                .get(&self.local)
                .copied()
                .unwrap_or(0);
            for (id, moved) in std::mem::take(&mut self.command_moves) {
                if moved.intent_epoch > kept {
                    self.lost_moves.insert(id, moved);
                }
            }
            let observing = self.observer_mode();
            self.intent = theirs.intent.clone();
            if self.observer_mode() != observing {
                let site = theirs.intent.origin.clone().unwrap_or_else(|| from.clone());
                self.observer_adopted = Some((!observing, site));
            }
        }
        let services = std::sync::Arc::clone(&self.services);
        for svc in services.iter() {
            let Some(their) = theirs.placements.get(&svc.id) else {
                continue;
            };
            let mine = self
                .adopted
                .get(&svc.id)
                .map(|(p, _)| p.clone())
                .or_else(|| {
                    self.steering.services.get(&svc.id).map(|s| Placement {
                        active: s.active.clone(),
                        epoch: s.epoch,
                        planned: false,
                        moving_to: None,
                    })
                })
                .unwrap_or(Placement {
                    active: None,
                    epoch: 0,
                    planned: false,
                    moving_to: None,
                });
            if newer(svc, their, &mine) {
                self.adopted
                    .insert(svc.id.clone(), (their.clone(), from.clone()));
            }
        }
    }

    /// Our own command is in the intent `newer` replaces but not in `newer`:
    /// two operators at two sites issued commands concurrently and the other
    /// one won. Nothing can merge two intents safely (a drain here, a
    /// switchover there), so the loser is told instead of silently undone.
    fn note_superseded(&mut self, from: &SiteId, newer: &Intent) {
        let lost = self
            .intent
            .last
            .as_ref()
            .filter(|_| self.intent.origin.as_ref() == Some(&self.local))
            .map(|c| c.command.clone());
        let site = newer.origin.clone().unwrap_or_else(|| from.clone());
        tracing::warn!(%site, lost = lost.as_ref().map(ToString::to_string), "an operator command of this site was superseded by a concurrent one");
        self.superseded.push(Change::CommandSuperseded {
            lost,
            by: newer.last.as_ref().map(|c| c.command.clone()),
            site,
            at: newer.last.as_ref().and_then(|c| c.at.clone()),
        });
    }

    /// Rule: an operator command of this site that a concurrent one from
    /// another site superseded is reported, with what won, where and when;
    /// so is observer mode that a peer's operator turned on or off.
    pub(super) fn announce_intent_news(&mut self, decisions: &mut Decisions) {
        for change in std::mem::take(&mut self.superseded) {
            let Change::CommandSuperseded { lost, by, site, at } = &change else {
                continue;
            };
            let lost = lost
                .as_ref()
                .map_or("an operator command issued here".to_owned(), |c| {
                    format!("the operator command issued here ({c})")
                });
            let by = by
                .as_ref()
                .map_or("a newer operator command".to_owned(), ToString::to_string);
            let at = at
                .as_deref()
                .map_or(String::new(), |at| format!(" at {}", clock_time(at)));
            let reason = format!(
                "{lost} was superseded by {by} issued at site {site}{at}: the two were issued \
                 concurrently and the newer intent replaces this one whole; reissue it if it is \
                 still wanted"
            );
            decisions.push(change, reason, Vec::new());
        }
        if let Some((on, site)) = self.observer_adopted.take() {
            let reason = if on {
                format!(
                    "observer mode on for every member, set by an operator at site {site}: \
                     decisions are reported, nothing is applied"
                )
            } else {
                format!(
                    "observer mode off for every member, set by an operator at site {site}: \
                     decisions are applied again"
                )
            };
            decisions.push(Change::ObserverMode { on, site }, reason, Vec::new());
        }
    }

    /// Rule: a move made by a local command that a concurrent intent
    /// superseded is undone, if nothing moved the service since: the service
    /// goes where the winning intent and the policy put it, as a planned
    /// move. Otherwise the lost command would stay half in force (told
    /// "lost", yet its service where it put it), and with manual failback
    /// for good. Every engine then adopts the new, higher epoch.
    pub(super) fn undo_lost_move(
        &mut self,
        svc: &ServicePlan,
        active: Option<&SiteId>,
        epoch: u64,
    ) {
        let Some(lost) = self.lost_moves.remove(&svc.id) else {
            return;
        };
        if (lost.active.as_ref(), lost.epoch) != (active, epoch) {
            return;
        }
        let Some(best) = self.best(svc).filter(|b| Some(b) != active) else {
            return;
        };
        let reason = format!(
            "the operator command that put {} at {} was superseded by a concurrent one: \
             moving it to site {best}, where the winning intent puts it",
            svc.id,
            active.map_or("no site".to_owned(), |a| format!("site {a}")),
        );
        self.force(&svc.id, &best, reason);
    }

    /// Rule: a newer placement heard from a peer wins (the total order of
    /// [`newer`], the same in every engine), so that engines agree on one
    /// carrier per service. Adopting a peer's planned move away from the
    /// local site drains it as our own planned move would; adopting a
    /// failover away from a site restarts that site's failback clock.
    /// Returns the carrier and epoch the evaluation goes on from.
    pub(super) fn adopt_peer_placement(
        &mut self,
        svc: &ServicePlan,
        old_active: Option<SiteId>,
        epoch: u64,
        decisions: &mut Decisions,
    ) -> (Option<SiteId>, u64) {
        let Some((placement, from)) = self.adopted.remove(&svc.id) else {
            return (old_active, epoch);
        };
        let moving = match (&placement.moving_to, &placement.active) {
            (Some(to), Some(carrier)) if svc.plan.is_some() => Some((to.clone(), carrier.clone())),
            _ => None,
        };
        match moving {
            Some((to, carrier)) => {
                if self.moving.get(&svc.id) != Some(&to) {
                    decisions.push(
                        Change::ServiceMoving {
                            service: svc.id.clone(),
                            from: carrier,
                            to: to.clone(),
                            plan: svc.plan.clone().expect("checked above"),
                        },
                        format!(
                            "adopted the newer placement of {} from site {from} (epoch {} over {epoch}): moving to site {to} once its plan allows",
                            svc.id, placement.epoch
                        ),
                        Vec::new(),
                    );
                }
                self.moving.insert(svc.id.clone(), to);
            }
            None => self.end_move(&svc.id),
        }
        if placement.active != old_active {
            decisions.push(
                Change::ServiceMoved {
                    service: svc.id.clone(),
                    from: old_active.clone(),
                    to: placement.active.clone(),
                },
                format!(
                    "adopted the newer placement of {} from site {from} (epoch {} over {epoch})",
                    svc.id, placement.epoch
                ),
                Vec::new(),
            );
        }
        if placement.planned
            && old_active.as_ref() == Some(&self.site)
            && placement.active.as_ref() != Some(&self.site)
        {
            self.draining_until
                .insert(svc.id.clone(), self.now.after(self.drain_grace));
        }
        self.planned.insert(svc.id.clone(), placement.planned);
        if let Some(old) = old_active.as_ref().filter(|_| !placement.planned) {
            if placement.active.as_ref() != Some(old) {
                // A peer failed the service over away from `old`: in the
                // majority's view `old` was not eligible, even if this
                // engine (perhaps `old` itself, briefly cut off) never
                // noticed. Its failback clock restarts now.
                let key = (old.clone(), svc.id.clone());
                if self.eligible_since.contains_key(&key) {
                    self.eligible_since.insert(key, self.now);
                }
            }
        }
        (placement.active, placement.epoch)
    }
}

/// Total order on placements, the same in every engine: higher epoch wins;
/// on a tie the site earlier in the configured priority wins, and any site
/// wins over none.
fn newer(svc: &ServicePlan, theirs: &Placement, mine: &Placement) -> bool {
    let rank = |p: &Placement| match &p.active {
        None => usize::MAX,
        Some(site) => svc
            .sites
            .iter()
            .position(|s| s == site)
            .unwrap_or(usize::MAX - 1),
    };
    (theirs.epoch, std::cmp::Reverse(rank(theirs))) > (mine.epoch, std::cmp::Reverse(rank(mine)))
}

/// "18:31:20 UTC" from an RFC 3339 time such as "2026-12-05T18:31:20.123Z":
/// an operator comparing two commands of one incident needs the time of
/// day; anything else is shown as it is.
fn clock_time(rfc3339: &str) -> String {
    let Some((_, time)) = rfc3339.split_once('T') else {
        return rfc3339.to_owned();
    };
    match (time.get(..8), time.ends_with('Z')) {
        (Some(hms), true) => format!("{hms} UTC"),
        _ => rfc3339.to_owned(),
    }
}
