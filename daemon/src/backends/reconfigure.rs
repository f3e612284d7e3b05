//! A reload reaching a backend: each backend crate takes only its own typed
//! section (`orbit_bgp::Speaker::reconfigure(&orbit_bgp::Config, ..)`);
//! orbitd, the one place that knows every concrete backend and the whole
//! file, hands each its part. The runner holds backends as
//! `Box<dyn Backend>`, so it stays generic over them (and testable with a
//! fake).

use orbit_config::Config;
use orbit_core::{Reconfiguration, RedirectError, Redirector};

use crate::backends::hook::HookBackend;

/// A [`Redirector`] that orbitd can hand a reloaded config.
#[async_trait::async_trait]
pub trait Backend: Redirector {
    /// A reload (SIGHUP) with `config`: take this backend's section in
    /// place, keeping every connection the change does not concern, or say
    /// that a rebuild is needed (the default). An `Err` refuses the new
    /// configuration and leaves the backend exactly as it was; the daemon
    /// then keeps the running configuration for every part of it.
    async fn reconfigure(&mut self, config: &Config) -> Result<Reconfiguration, RedirectError> {
        let _ = config;
        Ok(Reconfiguration::RebuildNeeded)
    }
}

/// In place ([`orbit_bgp::Speaker::reconfigure`]) while `[bgp]` stays
/// configured.
#[async_trait::async_trait]
impl Backend for orbit_bgp::Speaker {
    async fn reconfigure(&mut self, config: &Config) -> Result<Reconfiguration, RedirectError> {
        let Some(bgp) = &config.bgp else {
            return Ok(Reconfiguration::RebuildNeeded);
        };
        let done = orbit_bgp::Speaker::reconfigure(self, bgp, &config.services()).await?;
        Ok(Reconfiguration::InPlace(done.to_string()))
    }
}

impl Backend for orbit_sdn::Switch {}
impl Backend for orbit_haproxy::Runtime {}
impl Backend for HookBackend {}
