//! The backends: building them from the config ([`build`], [`build_one`])
//! and running each one ([`runner`], the one owner of confirmation).

pub mod bgp_status;
pub mod hook;
pub mod reconfigure;
mod runner;

use orbit_config::Config;
use orbit_core::{BackendKind, RedirectError};

use crate::backends::hook::HookBackend;
pub use crate::backends::reconfigure::Backend;
pub use runner::{spawn, BackendHandle, BackendResult, DriftReport};

/// The backends of a config, and the BGP peers' control handle (for BFD).
pub struct Built {
    pub redirectors: Vec<Box<dyn Backend>>,
    pub bgp_control: Option<orbit_bgp::PeerControl>,
}

/// Builds every backend the config names. A backend that cannot be built is
/// a startup error (before anything is applied).
pub async fn build(config: &Config) -> Result<Built, RedirectError> {
    let mut out = Built {
        redirectors: Vec::new(),
        bgp_control: None,
    };
    for kind in KINDS {
        if let Some(r) = build_one(config, kind, &mut out.bgp_control).await? {
            out.redirectors.push(r);
        }
    }
    Ok(out)
}

/// Every backend kind, in the order the runners are started.
pub const KINDS: [BackendKind; 4] = [
    BackendKind::Bgp,
    BackendKind::Sdn,
    BackendKind::Haproxy,
    BackendKind::Hook,
];

/// Whether the parts of the config `kind` is built from differ.
pub fn section_changed(kind: BackendKind, old: &Config, new: &Config) -> bool {
    match kind {
        BackendKind::Bgp => old.bgp != new.bgp || old.services != new.services,
        BackendKind::Sdn => old.sdn != new.sdn || old.services != new.services,
        BackendKind::Haproxy => old.haproxy != new.haproxy,
        BackendKind::Hook => old.hook != new.hook,
    }
}

/// Builds the backend of `kind`, if the config names one; a BGP speaker's
/// control handle goes to `bgp_control`.
pub async fn build_one(
    config: &Config,
    kind: BackendKind,
    bgp_control: &mut Option<orbit_bgp::PeerControl>,
) -> Result<Option<Box<dyn Backend>>, RedirectError> {
    Ok(match kind {
        BackendKind::Bgp => match &config.bgp {
            Some(bgp) => {
                let speaker = orbit_bgp::Speaker::start(bgp, &config.services())
                    .await
                    .map_err(|e| RedirectError::Config(format!("bgp: {e}")))?;
                *bgp_control = Some(speaker.control());
                Some(Box::new(speaker))
            }
            None => None,
        },
        BackendKind::Sdn => match &config.sdn {
            // Checks over OVSDB that the configured bridge exists: a missing
            // bridge stops orbitd at start with the bridges that do exist.
            Some(sdn) => Some(Box::new(
                orbit_sdn::Switch::start(sdn, &config.services())
                    .await
                    .map_err(|e| RedirectError::Config(format!("sdn: {e}")))?,
            )),
            None => None,
        },
        BackendKind::Haproxy => match &config.haproxy {
            // No I/O here: a HAProxy that is down at start is reconciled by
            // the runner's retries once it is up.
            Some(haproxy) => Some(Box::new(
                orbit_haproxy::Runtime::new(haproxy)
                    .map_err(|e| RedirectError::Config(format!("haproxy: {e}")))?,
            )),
            None => None,
        },
        BackendKind::Hook => match &config.hook {
            Some(hook) => Some(Box::new(HookBackend::new(hook)?)),
            None => None,
        },
    })
}
