//! The contract between the engine's decisions and the data plane.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ServiceId, SiteId};
use crate::steering::Steering;

/// Which data plane a backend drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    Bgp,
    Sdn,
    Haproxy,
    Hook,
}

impl BackendKind {
    /// Whether this backend writes the steering of every site (one HAProxy
    /// map, one switch's flows), not only the local site's own claims (BGP
    /// announces only what this site carries; a hook gets the `fenced` flag
    /// and decides). Such a backend must not write without authority
    /// ([`crate::WriteGate::OwnClaimsOnly`]).
    pub fn steers_for_everyone(self) -> bool {
        matches!(self, BackendKind::Sdn | BackendKind::Haproxy)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Bgp => "bgp",
            BackendKind::Sdn => "sdn",
            BackendKind::Haproxy => "haproxy",
            BackendKind::Hook => "hook",
        })
    }
}

/// What a successful `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub generation: u64,
    /// How many data-plane changes were needed (0: it already matched).
    pub changes: usize,
    /// Backend-specific, human-readable summary ("2 UPDATEs to 1 peer").
    pub detail: String,
}

/// What the data plane holds now, as far as the backend can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Service -> the site the data plane sends it to (`None`: nowhere).
    /// Only the services the backend can see: one it cannot read back (BGP
    /// cannot read a peer's choice among the sites) is left out, and left
    /// out of the drift check.
    pub services: BTreeMap<ServiceId, Option<SiteId>>,
    /// Backend-specific detail (peer states, map version, flow count...).
    pub detail: String,
}

impl Observed {
    /// Where the data plane differs from `steering`: every observed service
    /// whose site is not the one the steering makes active. Services the
    /// steering does not have are someone else's and not compared.
    pub fn drift(&self, steering: &Steering) -> Vec<ServiceDrift> {
        self.services
            .iter()
            .filter_map(|(id, found)| {
                let expected = &steering.services.get(id)?.active;
                (expected != found).then(|| ServiceDrift {
                    service: id.clone(),
                    expected: expected.clone(),
                    found: found.clone(),
                })
            })
            .collect()
    }
}

/// One service whose data plane does not hold what the steering says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDrift {
    pub service: ServiceId,
    /// The site the steering makes active (`None`: no site).
    pub expected: Option<SiteId>,
    /// The site the data plane sends it to (`None`: nowhere).
    pub found: Option<SiteId>,
}

impl fmt::Display for ServiceDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let site =
            |s: &Option<SiteId>| s.as_ref().map_or("no site".to_owned(), ToString::to_string);
        write!(
            f,
            "{} found at {}, steering says {}",
            self.service,
            site(&self.found),
            site(&self.expected)
        )
    }
}

/// Why a backend could not apply or observe. The previous data-plane state
/// stays in force whenever one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RedirectError {
    /// The component (router, switch, proxy, hook endpoint) cannot be reached.
    #[error("{component} is unreachable: {detail}")]
    Unreachable { component: String, detail: String },
    /// The component answered but refused or garbled the change.
    #[error("{component} rejected the change: {detail}")]
    Rejected { component: String, detail: String },
    /// No confirmation arrived in time.
    #[error("{component} did not confirm within {timeout_ms} ms")]
    Timeout { component: String, timeout_ms: u64 },
    /// The steering asks for something this backend's config cannot express.
    #[error("{0}")]
    Config(String),
}

/// What a backend did with its reloaded config section. Each backend
/// takes its own typed section (e.g. `orbit_bgp::Speaker::reconfigure`);
/// only orbitd, which knows every concrete backend, hands them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconfiguration {
    /// Taken in place, touching only what changed; the text says what did
    /// (for the journal).
    InPlace(String),
    /// This backend cannot take a new configuration in place: the daemon
    /// builds a new one and drops this one.
    RebuildNeeded,
}

/// A data-plane backend.
///
/// `apply` is declarative and idempotent: it gets the whole desired state,
/// diffs it against what the data plane holds, applies the difference and
/// returns only once the data plane confirmed it. Applying the same steering
/// twice changes nothing the second time.
///
/// Confirmation has one owner, orbitd's backend runner: it decides when a
/// backend may write (observer mode, fencing: [`crate::WriteGate`]), retries
/// failures, and every few seconds compares what `observe` reads back with
/// the steering it last confirmed; a difference is drift, which it reports
/// and repairs with `reconcile`. A backend therefore never repairs on its
/// own inside `observe`.
#[async_trait::async_trait]
pub trait Redirector: Send {
    fn kind(&self) -> BackendKind;

    /// Brings the data plane to `steering`; returns once it is confirmed.
    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError>;

    /// Reads back what the data plane holds now. A pure read: it writes
    /// nothing, even when what it finds is wrong.
    async fn observe(&mut self) -> Result<Observed, RedirectError>;

    /// Repairs drift: brings the data plane back to `steering`, the last one
    /// this backend confirmed, after `observe` found it elsewhere (a
    /// restarted proxy that loaded an old map, a hand-made change). The
    /// default applies it again, which diffs and rewrites what differs.
    async fn reconcile(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        self.apply(steering).await
    }

    /// Closes connections gracefully when orbitd stops, after the departing
    /// steering was applied (BGP: Cease with an RFC 8203 message).
    async fn close(&mut self, reason: &str) {
        let _ = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steering::{Role, ServiceSteering};

    fn site(s: &str) -> SiteId {
        s.parse().unwrap()
    }

    fn service(s: &str) -> ServiceId {
        s.parse().unwrap()
    }

    #[test]
    fn drift_compares_only_what_was_observed_and_steered() {
        let steered = |active: Option<&str>| ServiceSteering {
            prefixes: Vec::new(),
            active: active.map(site),
            epoch: 1,
            local_role: Role::Standby,
            takeover: false,
        };
        let steering = Steering {
            generation: 3,
            local_site: site("a"),
            fenced: false,
            observe_only: false,
            services: [
                (service("web"), steered(Some("b"))),
                (service("db"), steered(None)),
                (service("mail"), steered(Some("a"))),
            ]
            .into(),
        };
        let observed = Observed {
            // mail is not seen (left out), api is not steered (someone else's).
            services: [
                (service("web"), Some(site("a"))),
                (service("db"), None),
                (service("api"), Some(site("a"))),
            ]
            .into(),
            detail: String::new(),
        };
        let drift = observed.drift(&steering);
        let text: Vec<String> = drift.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["web found at a, steering says b"]);
        let gone = Observed {
            services: [(service("web"), None)].into(),
            detail: String::new(),
        };
        assert_eq!(
            gone.drift(&steering)[0].to_string(),
            "web found at no site, steering says b"
        );
    }
}
