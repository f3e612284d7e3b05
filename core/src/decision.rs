//! What the engine decided and why.

use serde::{Deserialize, Serialize};

use crate::event::{Command, Event};
use crate::ids::{PlanId, ServiceId, SiteId};
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
    /// `service`, which has a `[[plan]]`, is moving from `from` to `to`:
    /// `from` keeps it until a member of `to` ran the plan's steps before
    /// the takeover (docs/plans.md), then `ServiceMoved` follows.
    ServiceMoving {
        service: ServiceId,
        from: SiteId,
        to: SiteId,
        plan: PlanId,
    },
    /// The move of `service` to `to` was given up before `to` took it
    /// over: `from` keeps it (it can carry it again, and the plan held the
    /// move or had not started).
    MoveGivenUp {
        service: ServiceId,
        from: SiteId,
        to: SiteId,
    },
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
    /// A quorum declared `member`, one of several members of `site`, dead
    /// (or no longer does). The site stays alive while another member is:
    /// nothing moves (see `SiteLiveness` for the site).
    MemberLiveness {
        member: SiteId,
        site: SiteId,
        dead: bool,
    },
}

/// A change as flat, named text fields, for structured logs (`kind=...
/// service=web from=b to=a`) where a query must match a field, not parse a
/// debug string. Absent fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFields {
    pub service: Option<String>,
    pub site: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Change {
    /// Every value [`Change::kind`] returns: orbitd starts its
    /// `orbit_decisions_total{kind}` counters at zero from this list, so
    /// each series exists (and `rate()` and `absent()` work) before the
    /// first decision of its kind.
    pub const KINDS: [&'static str; 11] = [
        "service_moving",
        "move_given_up",
        "service_moved",
        "local_role",
        "site_liveness",
        "site_left",
        "fenced",
        "command_accepted",
        "command_superseded",
        "observer_mode",
        "member_liveness",
    ];

    /// The change's kind, as in the journal's JSON (`service_moved`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Change::ServiceMoving { .. } => "service_moving",
            Change::MoveGivenUp { .. } => "move_given_up",
            Change::ServiceMoved { .. } => "service_moved",
            Change::LocalRole { .. } => "local_role",
            Change::SiteLiveness { .. } => "site_liveness",
            Change::SiteLeft { .. } => "site_left",
            Change::Fenced { .. } => "fenced",
            Change::CommandAccepted { .. } => "command_accepted",
            Change::CommandSuperseded { .. } => "command_superseded",
            Change::ObserverMode { .. } => "observer_mode",
            Change::MemberLiveness { .. } => "member_liveness",
        }
    }

    /// The service the change is about, if it is about one.
    pub fn service(&self) -> Option<&ServiceId> {
        match self {
            Change::ServiceMoved { service, .. }
            | Change::ServiceMoving { service, .. }
            | Change::MoveGivenUp { service, .. }
            | Change::LocalRole { service, .. } => Some(service),
            _ => None,
        }
    }

    /// What the change is about and what it changed from and to, as text.
    pub fn fields(&self) -> ChangeFields {
        let name = |s: &SiteId| s.as_str().to_owned();
        let state = |on: bool, yes: &str, no: &str| Some(if on { yes } else { no }.to_owned());
        match self {
            Change::ServiceMoving {
                service, from, to, ..
            }
            | Change::MoveGivenUp { service, from, to } => ChangeFields {
                service: Some(service.to_string()),
                from: Some(name(from)),
                to: Some(name(to)),
                ..ChangeFields::default()
            },
            Change::ServiceMoved { service, from, to } => ChangeFields {
                service: Some(service.to_string()),
                from: Some(from.as_ref().map_or("nowhere".to_owned(), name)),
                to: Some(to.as_ref().map_or("nowhere".to_owned(), name)),
                ..ChangeFields::default()
            },
            Change::LocalRole { service, from, to } => ChangeFields {
                service: Some(service.to_string()),
                from: Some(from.to_string()),
                to: Some(to.to_string()),
                ..ChangeFields::default()
            },
            Change::SiteLiveness { site, dead } => ChangeFields {
                site: Some(name(site)),
                to: state(*dead, "dead", "alive"),
                ..ChangeFields::default()
            },
            Change::SiteLeft { site, left } => ChangeFields {
                site: Some(name(site)),
                to: state(*left, "left", "back"),
                ..ChangeFields::default()
            },
            Change::Fenced { fenced } => ChangeFields {
                to: state(*fenced, "fenced", "unfenced"),
                ..ChangeFields::default()
            },
            Change::CommandAccepted { order } => ChangeFields {
                to: Some(order.command.verb().to_owned()),
                ..ChangeFields::default()
            },
            Change::CommandSuperseded { site, .. } => ChangeFields {
                site: Some(name(site)),
                ..ChangeFields::default()
            },
            Change::ObserverMode { on, site } => ChangeFields {
                site: Some(name(site)),
                to: state(*on, "on", "off"),
                ..ChangeFields::default()
            },
            Change::MemberLiveness { member, site, dead } => ChangeFields {
                site: Some(name(site)),
                from: Some(name(member)),
                to: state(*dead, "dead", "alive"),
                ..ChangeFields::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lists_the_kind_of_every_change_once() {
        let site = || SiteId::new("a").unwrap();
        let service = || ServiceId::new("web").unwrap();
        let changes = [
            Change::ServiceMoving {
                service: service(),
                from: site(),
                to: site(),
                plan: PlanId::new("p").unwrap(),
            },
            Change::MoveGivenUp {
                service: service(),
                from: site(),
                to: site(),
            },
            Change::ServiceMoved {
                service: service(),
                from: None,
                to: Some(site()),
            },
            Change::LocalRole {
                service: service(),
                from: Role::Standby,
                to: Role::Active,
            },
            Change::SiteLiveness {
                site: site(),
                dead: true,
            },
            Change::SiteLeft {
                site: site(),
                left: true,
            },
            Change::Fenced { fenced: true },
            Change::CommandAccepted {
                order: Order::new(Command::Drain { site: site() }),
            },
            Change::CommandSuperseded {
                lost: None,
                by: None,
                site: site(),
                at: None,
            },
            Change::ObserverMode {
                on: true,
                site: site(),
            },
            Change::MemberLiveness {
                member: site(),
                site: site(),
                dead: true,
            },
        ];
        // Without a wildcard: a new variant fails to compile here until it
        // is added to `changes` above (and so to KINDS).
        let variant = |change: &Change| match change {
            Change::ServiceMoving { .. } => 0,
            Change::MoveGivenUp { .. } => 1,
            Change::ServiceMoved { .. } => 2,
            Change::LocalRole { .. } => 3,
            Change::SiteLiveness { .. } => 4,
            Change::SiteLeft { .. } => 5,
            Change::Fenced { .. } => 6,
            Change::CommandAccepted { .. } => 7,
            Change::CommandSuperseded { .. } => 8,
            Change::ObserverMode { .. } => 9,
            Change::MemberLiveness { .. } => 10,
        };
        let variants: Vec<usize> = changes.iter().map(variant).collect();
        assert_eq!(variants, (0..Change::KINDS.len()).collect::<Vec<_>>());
        let kinds: Vec<&str> = changes.iter().map(Change::kind).collect();
        assert_eq!(
            kinds,
            Change::KINDS,
            "one change of each variant, in KINDS's order"
        );
        // The journal's JSON carries the same name.
        for change in &changes {
            let json = serde_json::to_value(change).unwrap();
            assert_eq!(json["kind"], change.kind());
        }
    }
}
