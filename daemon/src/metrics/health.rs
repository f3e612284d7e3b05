//! `orbit_health_check_duration_seconds{service,result}`: how long each
//! local health check took, passed (`ok`) or not (`fail`). A check
//! creeping toward its timeout shows here before it starts failing.

use std::sync::Arc;
use std::time::Duration;

use orbit_core::ServiceId;
use orbit_detect::health::CheckObserver;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Labels;

/// 1 ms to ~16 s: from a local TCP connect to an exec check near a
/// generous timeout.
fn check_histogram() -> Histogram {
    Histogram::new(super::doubling_buckets(0.001, 15))
}

#[derive(Debug, Clone)]
pub struct HealthCheckMetrics {
    seconds: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for HealthCheckMetrics {
    fn default() -> Self {
        HealthCheckMetrics {
            seconds: Family::new_with_constructor(check_histogram),
        }
    }
}

impl HealthCheckMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "health_check_duration_seconds",
            "Duration of each local health check, by service and result (ok or fail)",
            self.seconds.clone(),
        );
    }

    /// What the health checks report each check to.
    pub fn observer(&self) -> CheckObserver {
        let seconds = self.seconds.clone();
        Arc::new(move |service: &ServiceId, took: Duration, ok: bool| {
            let result = if ok { "ok" } else { "fail" };
            seconds
                .get_or_create(&super::labels(&[
                    ("service", service.as_str()),
                    ("result", result),
                ]))
                .observe(took.as_secs_f64());
        })
    }
}
