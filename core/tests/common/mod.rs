//! An engine from an `orbit.toml` text, for the engine's own tests.
//!
//! orbit-core cannot use `orbit-config` (which composes every crate's
//! section), so this reads the parts the engine runs on: `[node] site`,
//! `[[site]]`, `[[service]]` (with or without `health`) and `[policy]`.
//! `[detect]` may only set what these tests need, so the engine's resync
//! quiet time (the fencing margin) is known without the detectors' rules.

use std::time::Duration;

use orbit_core::config::{HumanDuration, Plan, Policy, Service, ServiceEntry, Site};
use orbit_core::{Engine, SiteId};
use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    node: Node,
    site: Vec<Site>,
    #[serde(default)]
    detect: Detect,
    #[serde(default)]
    policy: Policy,
    #[serde(default)]
    service: Vec<ServiceEntry<IgnoredAny>>,
    #[serde(default)]
    plan: Vec<Plan>,
}

/// `[node]`: only the site matters to the engine.
#[derive(Deserialize)]
struct Node {
    site: SiteId,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Detect {
    fence_margin: Option<HumanDuration>,
    /// Required by orbitd with gossip; unused here.
    #[allow(dead_code)]
    key_file: Option<toml::Value>,
}

/// The fencing margin's default: the `metro-fast` probe interval.
const DEFAULT_MARGIN: Duration = Duration::from_millis(100);

/// The engine orbitd would build from `text`.
pub fn engine(text: &str) -> Engine {
    let file: File = toml::from_str(text).unwrap_or_else(|e| panic!("test config: {e}"));
    let services: Vec<Service> = file.service.iter().map(ServiceEntry::service).collect();
    let margin = file.detect.fence_margin.map_or(DEFAULT_MARGIN, |m| m.get());
    Engine::new(&file.node.site, &file.site, &services, &file.policy, margin).with_plans(&file.plan)
}

/// Sites a and b and witness w, `local` among them: `web` prefers a, `db`
/// prefers b, both health-checked; failover hold 1 s, drain grace 5 s,
/// sync timeout 2 s, and `failback` (the `[policy]` lines for it).
#[allow(dead_code)] // not every test binary uses it
pub fn three_members(local: &str, failback: &str) -> String {
    let role = if local == "w" { "witness" } else { "site" };
    format!(
        r#"
[node]
site = "{local}"
role = "{role}"
[[site]]
id = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "b"
gossip = "10.0.1.1:7946"
[[site]]
id = "w"
gossip = "10.0.2.1:7946"
witness = true
[detect]
fence_margin = "10ms"
key_file = "/etc/orbit/gossip.key"
[policy]
failover_hold = "1s"
{failback}
drain_grace = "5s"
sync_timeout = "2s"
[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
health = {{ tcp = "198.51.100.10:80", interval = "100ms" }}
[[service]]
id = "db"
prefixes = ["198.51.100.20/32"]
sites = ["b", "a"]
health = {{ tcp = "198.51.100.20:5432", interval = "100ms" }}
"#
    )
}
