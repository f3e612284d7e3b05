//! The checks of `[detect]` and of a service's `health`, each problem with
//! its TOML path.

use std::time::Duration;

use orbit_core::config::{HumanDuration, Problems, Scope};

use super::{Config, HealthCheck};

/// Gossip and health timers below this are not meaningful on a real network.
const MIN_TIMER: Duration = Duration::from_millis(10);

impl Config {
    /// The problems of `[detect]`: its own, and the sites it names checked
    /// against `scope`. `bfd_detect` as for [`Config::fence_timers`].
    pub fn validate(&self, scope: &Scope<'_>, bfd_detect: Option<Duration>, r: &mut Problems) {
        let d = self;
        // Gossip starts, and reads the key, even when this is the only
        // [[site]]: without one, orbitd would pass this check and then
        // fail to start.
        if d.gossip && d.key_file.is_none() {
            r.add(
                "detect.key_file",
                "required with gossip: every gossip packet is authenticated with this shared key \
                 (or set gossip = false and feed liveness from Serf or POST /v1/events)",
            );
        }
        if d.gossip && scope.services.len() > crate::wire_v2::MAX_SERVICES {
            r.add(
                "service",
                format!(
                    "{} services: gossip carries the state of at most {} services per member \
                     (docs/detect.md, \"State dissemination\"); split the services across \
                     clusters",
                    scope.services.len(),
                    crate::wire_v2::MAX_SERVICES
                ),
            );
        }
        if !d.gossip && !d.links.is_empty() {
            r.add(
                "detect.links",
                "the link watch reports through gossip; set gossip = true",
            );
        }
        let t = self.timers();
        if t.probe_interval.get() < MIN_TIMER {
            r.add(
                "detect.probe_interval",
                format!("{} is below the minimum of 10ms", t.probe_interval),
            );
        }
        if t.probe_timeout.get() < MIN_TIMER {
            r.add(
                "detect.probe_timeout",
                format!("{} is below the minimum of 10ms", t.probe_timeout),
            );
        }
        if t.probe_timeout >= t.probe_interval {
            r.add(
                "detect.probe_timeout",
                format!(
                    "{} must be shorter than probe_interval ({})",
                    t.probe_timeout, t.probe_interval
                ),
            );
        }
        if t.suspect_after < t.probe_timeout {
            r.add(
                "detect.suspect_after",
                format!(
                    "{} is shorter than probe_timeout ({}): every slow ack would be a suspicion",
                    t.suspect_after, t.probe_timeout
                ),
            );
        }
        if t.indirect_probes > 16 {
            r.add("detect.indirect_probes", "at most 16");
        }
        self.check_fencing(bfd_detect, r);
        for (iface, sites) in &self.links {
            let path = format!("detect.links.{iface}");
            // IFNAMSIZ is 16 with the NUL.
            if iface.is_empty() || iface.len() > 15 || iface.contains('/') {
                r.add(
                    path.clone(),
                    "not a Linux interface name (1-15 characters, no '/')",
                );
            }
            if sites.is_empty() {
                r.add(path.clone(), "lists no site");
            }
            for site in sites {
                if scope.site(site).is_none() {
                    r.add(path.clone(), format!("no [[site]] with id {site:?}"));
                } else if site == scope.node {
                    r.add(path.clone(), "lists the local site");
                }
            }
        }
        for site in self.probe.keys() {
            match scope.site(site) {
                None => r.add(
                    format!("detect.probe.{site}"),
                    format!("no [[site]] with id {site:?}"),
                ),
                Some(s) if s.witness => r.add(
                    format!("detect.probe.{site}"),
                    "a witness has no data plane to probe",
                ),
                Some(_) => {}
            }
        }
    }

    /// The fence-before-takeover timing (see `FenceTimers`).
    fn check_fencing(&self, bfd_detect: Option<Duration>, r: &mut Problems) {
        let t = self.timers();
        let f = self.fence_timers(bfd_detect);
        // The shortest silence that is not just lost packets: two probe
        // intervals of gossip, or one BFD detection time.
        let floor = f
            .bfd_detect
            .unwrap_or(t.probe_interval.get() * 2)
            .max(MIN_TIMER);
        // Derived defaults are as sane as the timers they come from, which
        // are checked on their own: only values an operator set are judged.
        if self.fence_after.is_some() && f.fence_after.get() < floor {
            r.add(
                "detect.fence_after",
                format!(
                    "{} is shorter than {} ({}): a member would fence itself over a few lost packets",
                    f.fence_after,
                    if f.bfd_detect.is_some() {
                        "the member BFD detection time"
                    } else {
                        "two probe intervals"
                    },
                    HumanDuration(floor)
                ),
            );
        }
        if self.fence_margin.is_some() && f.margin.get() < MIN_TIMER {
            r.add(
                "detect.fence_margin",
                format!(
                    "{} is below the minimum of 10ms: a cut-off site might still claim its \
                     services when the majority takes them over",
                    f.margin
                ),
            );
        }
        if f.dead_after() > Duration::from_secs(600) {
            r.add(
                "detect.fence_after",
                "fence_after + fence_margin must be at most 10m",
            );
        }
    }
}

impl HealthCheck {
    /// The problems of this check, with paths relative to it (`interval`;
    /// an empty path for the check as a whole): the composing config puts
    /// them under `service[N].health` ([`Problems::extend_under`]).
    pub fn validate(&self, r: &mut Problems) {
        let h = self;
        let kinds = [h.tcp.is_some(), h.http.is_some(), h.exec.is_some()]
            .iter()
            .filter(|k| **k)
            .count();
        if kinds != 1 {
            r.add("", "exactly one of tcp, http or exec is required");
        }
        if let Some(url) = &h.http {
            if !url.starts_with("http://") {
                r.add("http", format!("{url:?} must be an http:// URL"));
            }
        }
        if h.http.is_none() && (h.http_status.is_some() || h.http_body.is_some()) {
            r.add("", "http_status and http_body only apply to an http check");
        }
        if let Some(code) = h.http_status {
            if !(100..=599).contains(&code) {
                r.add(
                    "http_status",
                    format!("{code} is not an HTTP status (100-599)"),
                );
            }
        }
        if let Some(argv) = &h.exec {
            if argv.first().is_none_or(|a| a.is_empty()) {
                r.add("exec", "needs a program to run");
            }
        }
        if h.interval.get() < MIN_TIMER {
            r.add(
                "interval",
                format!("{} is below the minimum of 10ms", h.interval),
            );
        }
        if let Some(t) = h.timeout {
            if t > h.interval {
                r.add(
                    "timeout",
                    format!(
                        "{t} is longer than the interval ({}): checks would overlap",
                        h.interval
                    ),
                );
            }
        }
        if let Some(f) = h.fast_interval {
            if f.get() < MIN_TIMER {
                r.add("fast_interval", format!("{f} is below the minimum of 10ms"));
            } else if f > h.interval {
                r.add(
                    "fast_interval",
                    format!("{f} is longer than the interval ({})", h.interval),
                );
            }
        }
        for (v, name) in [(h.rise, "rise"), (h.fall, "fall")] {
            if v == 0 || v > 100 {
                r.add(name, format!("{v} must be between 1 and 100"));
            }
        }
    }
}
