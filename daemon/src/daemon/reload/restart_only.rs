//! What a reload cannot change: the parts of the config orbitd takes only
//! at start. A new config that changes one is refused whole, naming each
//! such setting, rather than taken in part and reported as applied.

use orbit_config::{Config, Problem};
use orbit_core::config::ConfigChange;

/// Every setting `new` changes that only a restart can, with its TOML
/// path; `changes` is `old.diff(new)`.
pub(crate) fn problems(old: &Config, new: &Config, changes: &[ConfigChange]) -> Vec<Problem> {
    let mut found = Vec::new();
    for change in changes {
        let key = change.key.as_deref();
        let why = match change.subject.as_str() {
            "node" => {
                "[node] is read only at start (who this daemon is, its API sockets, its state \
                 directory); restart orbitd to change it"
            }
            "api" => "the API listeners keep the limits they started with; restart orbitd to change [api]",
            "detect" => {
                "the failure detectors (gossip, probes, link watch) start with orbitd; restart \
                 orbitd to change [detect]"
            }
            subject if subject.starts_with("site ") => {
                "gossip starts with the members and their addresses; restart orbitd (on every \
                 member) to change [[site]]"
            }
            _ => continue,
        };
        let path = match change.subject.split_once(' ') {
            Some((_, id)) => site_path(new, id),
            None => change.subject.clone(),
        };
        found.push(Problem {
            path: match key {
                Some(key) => format!("{path}.{key}"),
                None => path,
            },
            message: why.to_owned(),
        });
    }
    found.extend(health_checks(old, new));
    found
}

/// `site[i]` of the site `id` in the new config; `site` for one it
/// removes (the list is what changed).
fn site_path(new: &Config, id: &str) -> String {
    match new.sites.iter().position(|s| s.id.as_str() == id) {
        Some(i) => format!("site[{i}]"),
        None => "site".to_owned(),
    }
}

/// A service whose health check is added, changed or removed: the checks
/// run in the detectors, which start with orbitd, so the engine would wait
/// for results that never come (or take stale ones). A removed service
/// may take its check with it.
fn health_checks(old: &Config, new: &Config) -> Vec<Problem> {
    // A witness runs no checks (`Config::health_checks`).
    if new.is_witness(&new.node.site) {
        return Vec::new();
    }
    new.services
        .iter()
        .enumerate()
        .filter(|(_, service)| {
            let before = old.services.iter().find(|s| s.id == service.id);
            before.map(|s| &s.health) != Some(&service.health)
                && (before.is_some() || service.health.is_some())
        })
        .map(|(i, _)| Problem {
            path: format!("service[{i}].health"),
            message: "health checks start with orbitd; restart orbitd to add, change or remove \
                      one"
            .to_owned(),
        })
        .collect()
}
