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
    pub services: BTreeMap<ServiceId, Option<SiteId>>,
    /// Backend-specific detail (peer states, map version, flow count...).
    pub detail: String,
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
/// twice changes nothing the second time. After a reconnect the backend
/// re-applies the last steering on its own (reconcile).
#[async_trait::async_trait]
pub trait Redirector: Send {
    fn kind(&self) -> BackendKind;

    /// Brings the data plane to `steering`; returns once it is confirmed.
    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError>;

    /// Reads back what the data plane holds now.
    async fn observe(&mut self) -> Result<Observed, RedirectError>;

    /// Closes connections gracefully when orbitd stops, after the departing
    /// steering was applied (BGP: Cease with an RFC 8203 message).
    async fn close(&mut self, reason: &str) {
        let _ = reason;
    }
}
