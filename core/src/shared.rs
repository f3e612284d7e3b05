//! State the daemons share by gossip so that their engines converge.
//!
//! Each engine decides alone from its own view, and views differ for a
//! while: one side of a healed partition, a restarted daemon, an operator
//! command accepted by one daemon. Two things travel between daemons so that
//! they end up with the same answer:
//! - the placement of every service with an epoch that every change bumps
//!   (a newer placement is adopted);
//! - the operator intent (drains, pins, switchover targets, observer mode)
//!   with its own epoch (a newer intent replaces the older one wholesale).
//!
//! Ties are broken the same way everywhere, so every engine picks the same
//! winner.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::engine::{PlanRun, StepReport};
use crate::event::Command;
use crate::fingerprint::ConfigFingerprint;
use crate::ids::{ServiceId, SiteId};

/// Which site carries a service, and how recent that decision is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub active: Option<SiteId>,
    pub epoch: u64,
    /// The change was planned (operator command, failback): the old site
    /// drains (make before break) instead of dropping the service at once.
    #[serde(default)]
    pub planned: bool,
    /// A move under way for a service with a `[[plan]]` (docs/plans.md):
    /// the site that takes the service over once the plan's steps before
    /// the takeover succeeded. Meanwhile `active` keeps it; a member of
    /// that site runs the plan and publishes the move itself. Absent from
    /// older builds, which refuse configs with plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_to: Option<SiteId>,
}

/// What operators asked for, cluster-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Bumped by every accepted operator command.
    pub epoch: u64,
    /// The daemon that accepted the latest command (tie-break).
    pub origin: Option<SiteId>,
    pub drained: BTreeSet<SiteId>,
    pub pins: BTreeMap<ServiceId, SiteId>,
    /// Where a switchover (or an unpin) put a service; cleared when that
    /// site fails or on failback.
    pub placed: BTreeMap<ServiceId, SiteId>,
    /// The command that made this intent (at `origin`), so that a member
    /// whose own command it replaced can say by what. Absent from older
    /// builds (they ignore it: the state message's fields are named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Box<IntentCommand>>,
    /// Per site, the epoch of the newest command of that site this intent
    /// includes (a version vector): an intent built on top of another
    /// carries its commands, a concurrent one does not, and only the
    /// latter makes a command lost.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub includes: BTreeMap<SiteId, u64>,
    /// Observer mode as an operator last set it, for the whole cluster:
    /// every member decides and reports, none applies. Shared, because a
    /// command issued at a member that observes must not be carried out by
    /// the others. `None`: as each member's config says (`policy.observer`,
    /// which must agree across members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer: Option<bool>,
}

/// The operator command behind an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentCommand {
    pub command: Command,
    /// Wall-clock time its site took it, RFC 3339 (absent in replays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl Intent {
    /// Whether `self` supersedes `other`.
    pub fn newer_than(&self, other: &Intent) -> bool {
        (self.epoch, &self.origin) > (other.epoch, &other.origin)
    }

    /// Whether adopting `newer` in place of `self` loses commands of
    /// `site` that `self` includes.
    pub fn loses_commands_of(&self, site: &SiteId, newer: &Intent) -> bool {
        self.includes.get(site).copied().unwrap_or(0)
            > newer.includes.get(site).copied().unwrap_or(0)
    }
}

/// What a daemon gossips to its peers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedState {
    pub placements: BTreeMap<ServiceId, Placement>,
    pub intent: Intent,
    /// How many times each site has been declared dead by a quorum, the
    /// highest count any engine has seen. A rising count restarts that
    /// site's failback clock in every engine, including the engine of the
    /// site itself, which never sees its own death while cut off: so
    /// `failback_after` runs from the last time the cluster declared the
    /// site dead, whichever engine computes the failback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deaths: BTreeMap<SiteId, u64>,
    /// The member is stopping on purpose (SIGTERM). It says so itself, so
    /// nobody has to detect it: the others treat it as ineligible at once
    /// and move its services as planned moves (it drains, they take over),
    /// without a quorum vote or a failover hold. A restarted member
    /// publishes a state without it, under a new generation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
    /// Per service the member is Active for: the placement epoch at which
    /// every one of its backends confirmed a steering that makes it Active.
    /// A departing site withdraws once the new carrier says so here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub carried: BTreeMap<ServiceId, u64>,
    /// The fingerprint of the member's cluster-wide config, so that every
    /// member can tell when configs differ. Set by orbitd for gossip only
    /// (the engine never reads it); absent from older members. Boxed: it
    /// is as big as the rest of the state's inline part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Box<ConfigFingerprint>>,
    /// The plan runs this member coordinates, as the member of a move's
    /// new site that runs its plan (docs/plans.md): per service, the last
    /// one. The old site learns here which of its steps is due.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plan_runs: BTreeMap<ServiceId, PlanRun>,
    /// What this member did for a step due at its site as the old site of
    /// a peer's run, per service: the coordinator takes the result from
    /// here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub step_reports: BTreeMap<ServiceId, StepReport>,
}

impl SharedState {
    /// The part of this state that explains a decision about `service`:
    /// its placement and carried entry, the intent with only its pin and
    /// switchover target, and the site-level fields (deaths, leaving).
    /// A decision's causes hold this instead of the whole state, which with
    /// thousands of services would be copied once per decision (and written
    /// once per journal line). The config fingerprint, which the engine
    /// never reads, is left out.
    pub fn concerning(&self, service: &ServiceId) -> SharedState {
        let one = |m: &BTreeMap<ServiceId, SiteId>| {
            m.get_key_value(service)
                .map(|(k, v)| (k.clone(), v.clone()))
                .into_iter()
                .collect()
        };
        SharedState {
            placements: self
                .placements
                .get_key_value(service)
                .map(|(k, v)| (k.clone(), v.clone()))
                .into_iter()
                .collect(),
            intent: Intent {
                epoch: self.intent.epoch,
                origin: self.intent.origin.clone(),
                drained: self.intent.drained.clone(),
                pins: one(&self.intent.pins),
                placed: one(&self.intent.placed),
                last: self.intent.last.clone(),
                includes: self.intent.includes.clone(),
                observer: self.intent.observer,
            },
            deaths: self.deaths.clone(),
            leaving: self.leaving,
            carried: self
                .carried
                .get_key_value(service)
                .map(|(k, v)| (k.clone(), *v))
                .into_iter()
                .collect(),
            config: None,
            plan_runs: one_of(&self.plan_runs, service),
            step_reports: one_of(&self.step_reports, service),
        }
    }
}

/// The entry of `service` in `map`, alone.
fn one_of<T: Clone>(map: &BTreeMap<ServiceId, T>, service: &ServiceId) -> BTreeMap<ServiceId, T> {
    map.get_key_value(service)
        .map(|(k, v)| (k.clone(), v.clone()))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    #[test]
    fn a_state_concerning_one_service_keeps_only_its_entries() {
        let site = |s: &str| s.parse::<SiteId>().unwrap();
        let service = |s: &str| s.parse::<ServiceId>().unwrap();
        let mut state = SharedState::default();
        for name in ["web", "db", "mail"] {
            state.placements.insert(
                service(name),
                Placement {
                    active: Some(site("b")),
                    epoch: 3,
                    planned: true,
                    moving_to: None,
                },
            );
            state.carried.insert(service(name), 3);
            state.intent.pins.insert(service(name), site("a"));
            state.intent.placed.insert(service(name), site("b"));
        }
        state.intent.epoch = 7;
        state.intent.drained.insert(site("c"));
        state.deaths.insert(site("c"), 2);
        state.leaving = true;
        let web = state.concerning(&service("web"));
        assert_eq!(web.placements.keys().collect::<Vec<_>>(), [&service("web")]);
        assert_eq!(web.carried.keys().collect::<Vec<_>>(), [&service("web")]);
        assert_eq!(
            web.intent.pins.keys().collect::<Vec<_>>(),
            [&service("web")]
        );
        assert_eq!(
            web.intent.placed.keys().collect::<Vec<_>>(),
            [&service("web")]
        );
        assert_eq!(web.intent.epoch, 7);
        assert_eq!(web.intent.drained, state.intent.drained);
        assert_eq!(web.deaths, state.deaths);
        assert!(web.leaving);
        assert!(state.concerning(&service("none")).placements.is_empty());
    }
}
