//! The outcome of the last reload, named and meant as Prometheus' own
//! `prometheus_config_last_reload_successful` and
//! `prometheus_config_last_reload_success_timestamp_seconds`: the
//! timestamp is when the config in force was loaded (at start, or by the
//! last reload that succeeded). A refused reload sets `successful` to 0
//! and leaves the timestamp, so `time() - timestamp` stays the age of the
//! running config.

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Default)]
pub struct ReloadGauges {
    successful: Gauge,
    timestamp: Gauge<f64, AtomicU64>,
}

impl ReloadGauges {
    /// As after a successful load: the config read at start is in force.
    pub fn started() -> ReloadGauges {
        let gauges = ReloadGauges::default();
        gauges.set(true);
        gauges
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "config_last_reload_successful",
            "1 if the last reload (SIGHUP or orbitctl reload) took the new config, 0 if it \
             was refused and the previous config stays in force",
            self.successful.clone(),
        );
        registry.register(
            "config_last_reload_timestamp_seconds",
            "Unix time the config in force was loaded: at start or by the last successful \
             reload (a refused reload leaves it)",
            self.timestamp.clone(),
        );
    }

    pub fn set(&self, successful: bool) {
        self.successful.set(i64::from(successful));
        if successful {
            self.timestamp.set(super::unix_seconds(SystemTime::now()));
        }
    }
}
