//! `[haproxy]` of `orbit.toml`: the HAProxy map backend's section, and
//! its checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use orbit_core::config::{HumanDuration, Problems, Scope};
use orbit_core::{ServiceId, SiteId};
use serde::{Deserialize, Serialize};

/// `[haproxy]`: the HAProxy map backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Runtime API: a unix socket path, or `tcp:HOST:PORT`.
    pub socket: String,
    /// The map file HAProxy loads; written before every runtime change.
    pub map: PathBuf,
    #[serde(default = "default_haproxy_timeout")]
    pub timeout: HumanDuration,
    /// On a move, close sessions on the old site's servers (TCP services), so
    /// long-lived connections reconnect to the new site.
    #[serde(default)]
    pub shutdown_sessions: bool,
    /// On a move, put the old site's servers in `drain` (and the new site's
    /// in `ready`): existing sessions finish on their own, nothing new
    /// reaches the old servers, not even by cookie persistence.
    #[serde(default)]
    pub drain: bool,
    /// Backend a service is sent to while no site may carry it; without it
    /// the service's key is removed from the map and the frontend's default
    /// (`map(FILE,DEFAULT)`, `default_backend`) applies.
    #[serde(default)]
    pub no_site_backend: Option<String>,
    /// service -> site -> HAProxy backend name.
    pub backends: BTreeMap<ServiceId, BTreeMap<SiteId, String>>,
    /// service -> map key (default: the service id).
    #[serde(default)]
    pub keys: BTreeMap<ServiceId, String>,
}

fn default_haproxy_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}

impl Config {
    /// The problems of `[haproxy]`: its own, and the services and sites
    /// it maps checked against `scope`.
    pub fn validate(&self, scope: &Scope<'_>, r: &mut Problems) {
        let h = self;
        if h.socket.trim().is_empty() {
            r.add("haproxy.socket", "must name the runtime API socket");
        }
        if h.backends.is_empty() {
            r.add(
                "haproxy.backends",
                "no service is mapped to HAProxy backends",
            );
        }
        for (svc_id, per_site) in &h.backends {
            let base = format!("haproxy.backends.{svc_id}");
            let Some(svc) = scope.services.iter().find(|s| &s.id == svc_id) else {
                r.add(&base, format!("unknown service {:?}", svc_id.as_str()));
                continue;
            };
            for (site, backend) in per_site {
                if !svc.sites.contains(site) {
                    r.add(
                        format!("{base}.{site}"),
                        format!(
                            "site {:?} does not serve {:?}",
                            site.as_str(),
                            svc_id.as_str()
                        ),
                    );
                }
                if !is_haproxy_name(backend) {
                    r.add(
                        format!("{base}.{site}"),
                        format!("{backend:?} is not a valid HAProxy backend name"),
                    );
                }
            }
            for site in &svc.sites {
                if !per_site.contains_key(site) {
                    r.add(&base, format!("no backend for site {:?}", site.as_str()));
                }
            }
        }
        for (svc_id, key) in &h.keys {
            if !h.backends.contains_key(svc_id) {
                r.add(
                    format!("haproxy.keys.{svc_id}"),
                    "service has no haproxy.backends entry",
                );
            }
            // The runtime API splits commands on ';' and reads a leading '#'
            // as an entry reference; the map file reads it as a comment.
            if key.is_empty()
                || key.starts_with('#')
                || key
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '\\'))
            {
                r.add(
                    format!("haproxy.keys.{svc_id}"),
                    "a map key must be non-empty, not start with '#', and hold no spaces, ';' or '\\'",
                );
            }
        }
        let mut seen_keys = BTreeMap::new();
        for svc_id in h.backends.keys() {
            let key = h.keys.get(svc_id).map_or(svc_id.as_str(), String::as_str);
            if let Some(other) = seen_keys.insert(key, svc_id) {
                r.add(
                    format!("haproxy.keys.{svc_id}"),
                    format!(
                        "map key {key:?} is already used by service {:?}",
                        other.as_str()
                    ),
                );
            }
        }
        if let Some(backend) = &h.no_site_backend {
            if !is_haproxy_name(backend) {
                r.add(
                    "haproxy.no_site_backend",
                    format!("{backend:?} is not a valid HAProxy backend name"),
                );
            }
        }
        if h.timeout.get().is_zero() {
            r.add("haproxy.timeout", "must be above 0");
        }
        if h.map.as_os_str().is_empty() || h.map.file_name().is_none() {
            r.add("haproxy.map", "must name the map file HAProxy loads");
        }
    }
}

fn is_haproxy_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}
