//! The sections the decision engine runs on, and the [`Scope`] each other
//! section's validation checks its references against.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::duration::HumanDuration;
use crate::ids::{PlanId, ServiceId, SiteId};

/// `[[site]]`: one orbitd, a member of the cluster. Usually a member is a
/// site of its own; a site with two border routers has two members, each
/// naming the site it belongs to in `site`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The member's id, unique among members (`a1`, `a2`). Gossip, verdicts
    /// and the operator intent's origin name members.
    pub id: SiteId,
    /// Where this member's orbitd gossips.
    pub gossip: SocketAddr,
    /// A witness votes but carries no services.
    #[serde(default)]
    pub witness: bool,
    /// The site this member belongs to (services, placements, drains and
    /// pins name sites); default: the member's own id, a site of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
}

impl Site {
    /// The site this member belongs to.
    pub fn site_id(&self) -> &SiteId {
        self.site.as_ref().unwrap_or(&self.id)
    }
}

/// `[policy]`: when traffic moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// How long a quorum must agree that a site is dead (or a service must
    /// stay unhealthy) before its services move.
    #[serde(default = "default_failover_hold")]
    pub failover_hold: HumanDuration,
    #[serde(default)]
    pub failback: Failback,
    /// With `failback = "after"`: how long a recovered site must stay
    /// healthy before its services return.
    #[serde(default = "default_failback_after")]
    pub failback_after: HumanDuration,
    /// How long a site keeps carrying a service at the lowest preference
    /// after a planned move away from it (make before break). On SIGTERM
    /// the drain ends earlier once the new site confirms it carries the
    /// service, and lasts at most half of `shutdown_grace`.
    #[serde(default = "default_drain_grace")]
    pub drain_grace: HumanDuration,
    /// After start or after fencing, how long to wait for a peer's placement
    /// table before deciding alone. Until then the local site claims nothing.
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout: HumanDuration,
    /// Sites that must agree; default: a majority of all sites (the
    /// distinct sites of the `[[site]]` members, witnesses included).
    pub quorum: Option<usize>,
    /// Start in observer mode: decide and report, apply nothing.
    #[serde(default)]
    pub observer: bool,
    /// The bound on a whole planned stop (SIGTERM): drain (see
    /// `drain_grace`), withdraw, exit. The drain gets at most half of it,
    /// the withdrawal the rest.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
}

fn default_failover_hold() -> HumanDuration {
    HumanDuration::from_millis(0)
}
fn default_failback_after() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_drain_grace() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_sync_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}
fn default_shutdown_grace() -> HumanDuration {
    HumanDuration::from_secs(10)
}

impl Policy {
    /// How many of `sites` (voting sites) must agree: the configured
    /// quorum or a majority.
    pub fn quorum(&self, sites: usize) -> usize {
        self.quorum.unwrap_or_else(|| majority(sites))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failover_hold: default_failover_hold(),
            failback: Failback::default(),
            failback_after: default_failback_after(),
            drain_grace: default_drain_grace(),
            sync_timeout: default_sync_timeout(),
            quorum: None,
            observer: false,
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failback {
    /// Return after the recovered site stayed healthy for `failback_after`.
    #[default]
    After,
    /// Only on `orbitctl failback`.
    Manual,
}

/// A `[[service]]` as the engine and the backends see it: something
/// steered between sites. (Its health check is the detectors' business.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    /// Service addresses: /32 and /128 for anycast, wider prefixes allowed.
    pub prefixes: Vec<IpNet>,
    /// The sites that can carry it, most preferred first.
    pub sites: Vec<SiteId>,
    /// Whether the local site checks its health: the engine then waits for
    /// a passing check before the local site may carry it.
    #[serde(default)]
    pub health_checked: bool,
    /// The `[[plan]]` that runs with every move of this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanId>,
}

/// A `[[service]]` as written: the service and, in `health`, how the
/// local site checks it. The check is the detectors' type (`H`), which
/// this crate does not know; a reader that only needs to know whether
/// there is one can use `serde::de::IgnoredAny`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry<H> {
    pub id: ServiceId,
    /// Service addresses: /32 and /128 for anycast, wider prefixes allowed.
    pub prefixes: Vec<IpNet>,
    /// The sites that can carry it, most preferred first.
    pub sites: Vec<SiteId>,
    pub health: Option<H>,
    /// The `[[plan]]` that runs with every move of this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanId>,
}

impl<H> ServiceEntry<H> {
    /// The service as the engine and the backends see it.
    pub fn service(&self) -> Service {
        Service {
            id: self.id.clone(),
            prefixes: self.prefixes.clone(),
            sites: self.sites.clone(),
            health_checked: self.health.is_some(),
            plan: self.plan.clone(),
        }
    }
}

/// What a section's validation may check its references against: the
/// local member, every member, every service. Never the whole file, so a
/// section's checks say in their signature what they depend on.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `[node] site`.
    pub node: &'a SiteId,
    pub sites: &'a [Site],
    pub services: &'a [Service],
}

impl Scope<'_> {
    /// The member `id`.
    pub fn site(&self, id: &SiteId) -> Option<&Site> {
        self.sites.iter().find(|s| &s.id == id)
    }

    /// Whether `id` is a site: the site of some member (services, ports,
    /// placements name sites).
    pub fn is_site(&self, id: &SiteId) -> bool {
        self.sites.iter().any(|s| s.site_id() == id)
    }

    /// The members of site `id` (none: no such site).
    pub fn members_of<'s>(&'s self, id: &'s SiteId) -> impl Iterator<Item = &'s Site> + 's {
        self.sites.iter().filter(move |s| s.site_id() == id)
    }
}

/// The distinct sites of `members`, in the order they first appear.
pub fn site_ids(members: &[Site]) -> Vec<SiteId> {
    let mut out: Vec<SiteId> = Vec::new();
    for m in members {
        if !out.contains(m.site_id()) {
            out.push(m.site_id().clone());
        }
    }
    out
}

/// The smallest number of members that no other disjoint group can match.
pub fn majority(members: usize) -> usize {
    members / 2 + 1
}
