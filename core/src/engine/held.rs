//! Why each service is where it is, for `orbitctl status` (HELD BY): the
//! same preference order and eligibility rules placement follows (see
//! `placement.rs`), read without changing anything.

use serde::{Deserialize, Serialize};

use super::eligibility::Ineligible;
use super::{Engine, ServicePlan};
use crate::ids::SiteId;
use crate::time::Millis;

/// What holds a service at its carrier (or nowhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeldBy {
    /// No site carries it: none can, or placement is waiting (for health
    /// results, or for authority).
    Nowhere,
    /// At its most preferred configured site.
    Preferred,
    /// An operator pinned it to this site.
    Pinned,
    /// An operator switched it over to this site.
    Switchover,
    /// A site preferred over the carrier is drained or stopping (planned):
    /// it stays here until that site is failed back.
    Drained { site: SiteId },
    /// A site preferred over the carrier cannot carry it: `cause` says
    /// what keeps it out, `reason` in words.
    Failover {
        site: SiteId,
        cause: FailoverCause,
        reason: String,
    },
    /// A site preferred over the carrier is eligible again: automatic
    /// failback moves the service there in `remaining_ms`.
    FailbackTimer { site: SiteId, remaining_ms: u64 },
    /// A site preferred over the carrier is eligible again, and failback is
    /// manual (`policy.failback = "manual"`): `orbitctl failback` moves it.
    FailbackManual { site: SiteId },
}

/// What keeps a preferred site from carrying a service after a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverCause {
    /// Declared dead by a quorum.
    Dead,
    /// Its health check fails there.
    Unhealthy,
    /// No health result from there yet.
    HealthUnknown,
}

impl FailoverCause {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverCause::Dead => "dead",
            FailoverCause::Unhealthy => "unhealthy",
            FailoverCause::HealthUnknown => "health unknown",
        }
    }
}

impl Engine {
    /// Why `svc` is at `active`, timers counted up to `now`.
    pub(super) fn held_by(
        &self,
        svc: &ServicePlan,
        active: Option<&SiteId>,
        now: Millis,
    ) -> HeldBy {
        let Some(active) = active else {
            return HeldBy::Nowhere;
        };
        if self.intent.pins.get(&svc.id) == Some(active) {
            return HeldBy::Pinned;
        }
        if self.intent.placed.get(&svc.id) == Some(active) {
            return HeldBy::Switchover;
        }
        // The most preferred site ahead of the carrier decides: it is
        // either kept out (why) or waiting to take the service back.
        let preference = self.preference(svc);
        let Some(ahead) = preference.iter().take_while(|s| *s != active).next() else {
            return HeldBy::Preferred;
        };
        match self.ineligible_reason(ahead, svc) {
            Some(Ineligible::Drained(_) | Ineligible::Left(_)) => HeldBy::Drained {
                site: ahead.clone(),
            },
            Some(why) => HeldBy::Failover {
                site: ahead.clone(),
                cause: match why {
                    Ineligible::Dead(_) => FailoverCause::Dead,
                    Ineligible::Unhealthy(..) => FailoverCause::Unhealthy,
                    _ => FailoverCause::HealthUnknown,
                },
                reason: why.text().to_owned(),
            },
            None => match self.failback_after {
                None => HeldBy::FailbackManual {
                    site: ahead.clone(),
                },
                Some(after) => {
                    let since = self
                        .eligible_since
                        .get(&(ahead.clone(), svc.id.clone()))
                        .copied()
                        .unwrap_or(now);
                    let left = after.saturating_sub(now.since(since));
                    HeldBy::FailbackTimer {
                        site: ahead.clone(),
                        remaining_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
                    }
                }
            },
        }
    }
}
