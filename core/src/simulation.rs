//! What-if questions to the engine and its answers (`orbitctl simulate`,
//! `--dry-run`; `POST /v1/simulate`).
//!
//! A [`Scenario`] names hypothetical facts (sites dead, links cut, services
//! unhealthy, sites drained); [`crate::Engine::simulate`] plays them on a
//! copy of the engine and answers with a [`Simulation`]: the decisions the
//! engine would take, in order, each at its offset from now, and the
//! placement they lead to. Plain data, serialized as the API's stable JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::decision::Change;
use crate::ids::{ServiceId, SiteId};
use crate::order::Order;
use crate::steering::Role;

/// Hypothetical facts, all at once, from the engine's current state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Sites (or the witness) whose daemon and data plane are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dead: Vec<SiteId>,
    /// Services whose health checks fail at a site.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy: Vec<ServiceAt>,
    /// Sites an operator drains (forced: what it would strand is shown,
    /// with a note that it needs `--force`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drain: Vec<SiteId>,
    /// Links cut between two members: neither hears the other directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<[SiteId; 2]>,
}

impl Scenario {
    pub fn is_empty(&self) -> bool {
        self == &Scenario::default()
    }
}

/// A service at a site.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAt {
    pub service: ServiceId,
    pub site: SiteId,
}

/// What to play on the copy of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hypothesis {
    /// `orbitctl simulate`.
    Facts(Scenario),
    /// An operator command's `--dry-run`: refused exactly as the command
    /// would be (its `force` included).
    Command(Order),
}

/// The answer: the decisions and the placement they lead to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulation {
    /// In the order the engine would take them.
    pub decisions: Vec<SimulatedDecision>,
    /// Every service after the last decision.
    pub placement: BTreeMap<ServiceId, SimulatedPlacement>,
    /// What the decisions alone do not say (a drain that needs `--force`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How far simulated time ran: timers due later are not played.
    pub horizon_ms: u64,
    /// The first timer still pending past the horizon, as an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_after_ms: Option<u64>,
}

/// One decision the engine would take, `offset_ms` after now: its change
/// (`kind` and its fields, as in the journal) and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedDecision {
    pub offset_ms: u64,
    #[serde(flatten)]
    pub change: Change,
    pub reason: String,
}

/// Where a service would be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedPlacement {
    /// The site that carries it now.
    pub before: Option<SiteId>,
    /// The site that would carry it.
    pub active: Option<SiteId>,
    /// The local site's role for it, then.
    pub local_role: Role,
}
