//! The daemon itself as status reports it: which config file, loaded
//! when, up since when.

use orbit_core::api::DaemonReport;

use super::Daemon;

impl Daemon {
    pub(super) fn about(&self) -> DaemonReport {
        let rfc3339 = |t| humantime::format_rfc3339_seconds(t).to_string();
        DaemonReport {
            config_file: self.config_path.display().to_string(),
            config_loaded: rfc3339(self.config_loaded),
            started: rfc3339(self.started_wall),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            pid: std::process::id(),
        }
    }
}
