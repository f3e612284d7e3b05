//! What the engine decided and why.

use serde::{Deserialize, Serialize};

use crate::event::{Command, Event};
use crate::ids::{ServiceId, SiteId};
use crate::order::Order;
use crate::steering::Role;
use crate::time::Millis;

/// One decision of the engine, with its reason and the events behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub at: Millis,
    pub change: Change,
    /// A sentence for the operator: what happened and why.
    pub reason: String,
    /// The events that caused it (the triggering event first).
    pub causes: Vec<Event>,
    /// The steering generation after this decision.
    pub generation: u64,
}

/// The kinds of change a decision makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The site that carries `service` changed.
    ServiceMoved {
        service: ServiceId,
        from: Option<SiteId>,
        to: Option<SiteId>,
    },
    /// The local site's role for `service` changed.
    LocalRole {
        service: ServiceId,
        from: Role,
        to: Role,
    },
    /// A quorum of observers declared `site` dead, or no longer does.
    SiteLiveness { site: SiteId, dead: bool },
    /// A member announced a planned departure (`left: true`), or came back
    /// after one (`left: false`).
    SiteLeft { site: SiteId, left: bool },
    /// The local site lost (or regained) a quorum of reachable members.
    Fenced { fenced: bool },
    /// An operator command was accepted (its `force` and origin beside it).
    CommandAccepted {
        #[serde(flatten)]
        order: Order,
    },
    /// The operator intent this site's command made was replaced by a
    /// concurrent one from `site` that did not include it (the newer intent
    /// wins wholesale): what the local operator asked for is lost.
    CommandSuperseded {
        /// The local command that lost, when still known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lost: Option<Command>,
        /// The winning command and where and when it was issued.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Command>,
        site: SiteId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// Observer mode changed here because the shared intent from another
    /// member, where an operator set it, says so for every member.
    ObserverMode { on: bool, site: SiteId },
}
