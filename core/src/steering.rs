//! The desired state every backend converges to.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ids::{ServiceId, SiteId};
use crate::redirect::BackendKind;

/// What the local site does for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The local site carries the service.
    Active,
    /// Another site carries it; the local site is healthy and ready (BGP:
    /// pre-announced at lower preference).
    Standby,
    /// The service is being moved away from the local site on purpose; keep
    /// carrying it at the lowest preference (BGP: graceful-shutdown community,
    /// RFC 8326) until the new site has taken over.
    Draining,
    /// The local site must not attract the service's traffic at all.
    Withdrawn,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Active => "active",
            Role::Standby => "standby",
            Role::Draining => "draining",
            Role::Withdrawn => "withdrawn",
        })
    }
}

/// The steering of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSteering {
    pub prefixes: Vec<IpNet>,
    /// The site that carries the service, or `None` if no site may.
    pub active: Option<SiteId>,
    /// Placement epoch of `active` (see [`crate::Placement`]).
    pub epoch: u64,
    pub local_role: Role,
    /// The local site is active while another site of this service is
    /// declared dead: its route may still be held upstream, so announce with
    /// the takeover preference.
    pub takeover: bool,
}

/// The whole desired state, as handed to `Redirector::apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steering {
    /// Increases with every change; backends echo it in their results.
    pub generation: u64,
    pub local_site: SiteId,
    /// The local daemon has no authority: it cannot reach a quorum, or it has
    /// not yet synced placements with its peers after starting or after being
    /// fenced. It claims nothing, its placement is frozen (possibly stale),
    /// and backends that steer for everyone (HAProxy, SDN) must not write.
    pub fenced: bool,
    /// Observer mode: decisions are reported, nothing is applied.
    pub observe_only: bool,
    pub services: BTreeMap<ServiceId, ServiceSteering>,
}

impl Steering {
    /// The steering with generation and observer flag ignored; two steerings
    /// with the same placement compare equal here.
    pub fn same_placement(&self, other: &Steering) -> bool {
        self.local_site == other.local_site
            && self.fenced == other.fenced
            && self.services == other.services
    }
}

/// What this member may write to the data plane under a steering. The one
/// place the observer/fenced rule is written; every backend, the runner and
/// the daemon ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteGate {
    /// Observer mode: decisions are reported, nothing is written.
    Closed,
    /// No authority (no quorum, or not synced yet): this site may withdraw
    /// its own claims, but a backend that steers for everyone must not
    /// override the majority's choice.
    OwnClaimsOnly,
    /// Authority: every backend writes.
    Open,
}

impl WriteGate {
    /// Why `kind` must not write now, or `None` if it may.
    pub fn blocks(self, kind: BackendKind) -> Option<&'static str> {
        match self {
            WriteGate::Closed => Some("observer mode"),
            WriteGate::OwnClaimsOnly if kind.steers_for_everyone() => Some("fenced (no quorum)"),
            WriteGate::OwnClaimsOnly | WriteGate::Open => None,
        }
    }
}

impl Steering {
    /// What this member may write under this steering.
    pub fn write_gate(&self) -> WriteGate {
        if self.observe_only {
            WriteGate::Closed
        } else if self.fenced {
            WriteGate::OwnClaimsOnly
        } else {
            WriteGate::Open
        }
    }

    /// This member may write for every site: it is neither observing nor
    /// without authority.
    pub fn writes_for_everyone(&self) -> bool {
        self.write_gate() == WriteGate::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_gate_holds_back_what_each_backend_may_not_write() {
        let steering = |fenced, observe_only| Steering {
            generation: 1,
            local_site: "a".parse().unwrap(),
            fenced,
            observe_only,
            services: BTreeMap::new(),
        };
        let kinds = [
            BackendKind::Bgp,
            BackendKind::Sdn,
            BackendKind::Haproxy,
            BackendKind::Hook,
        ];
        let blocked = |s: &Steering| -> Vec<BackendKind> {
            kinds
                .into_iter()
                .filter(|k| s.write_gate().blocks(*k).is_some())
                .collect()
        };
        let open = steering(false, false);
        assert!(open.writes_for_everyone());
        assert!(blocked(&open).is_empty());
        // Without authority BGP may still withdraw and the hook is told.
        let fenced = steering(true, false);
        assert!(!fenced.writes_for_everyone());
        assert_eq!(blocked(&fenced), [BackendKind::Sdn, BackendKind::Haproxy]);
        assert_eq!(
            fenced.write_gate().blocks(BackendKind::Haproxy),
            Some("fenced (no quorum)")
        );
        // An observer writes nothing, fenced or not.
        for observer in [steering(false, true), steering(true, true)] {
            assert_eq!(blocked(&observer), kinds);
            assert_eq!(
                observer.write_gate().blocks(BackendKind::Bgp),
                Some("observer mode")
            );
        }
    }
}
