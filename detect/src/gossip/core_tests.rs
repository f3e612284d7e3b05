//! The external detector's source (`Source::External`) in one member's
//! core: its lease, and that it leaves the other sources alone.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::Duration;

use orbit_core::config::Config;
use orbit_core::{Liveness, SiteId};

use super::{GossipCore, GossipSettings, GossipTimer, Input, Source};
use crate::auth::AuthKey;

const TTL: Duration = Duration::from_secs(10);

/// Member a of a, b and witness w, with a short external lease.
fn member_a() -> GossipCore {
    let text = r#"
[node]
site = "a"
[[site]]
id = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "b"
gossip = "10.0.0.2:7946"
[[site]]
id = "w"
gossip = "10.0.0.3:7946"
witness = true
[detect]
key_file = "/nonexistent"
[[service]]
id = "web"
prefixes = ["203.0.113.10/32"]
sites = ["a", "b"]
"#;
    let config = Config::parse_valid(text, "a.toml").unwrap();
    let mut settings = GossipSettings::from_config(&config, 1).unwrap();
    settings.external_ttl = TTL;
    let mut core = GossipCore::new(
        settings,
        AuthKey::new(b"unit test key, 32 bytes long!!!!".to_vec()),
    );
    core.process(Duration::ZERO, Input::Start);
    core
}

fn b() -> SiteId {
    "b".parse().unwrap()
}

fn says(core: &mut GossipCore, at: Duration, source: Source, liveness: Option<Liveness>) {
    core.process(
        at,
        Input::Source {
            source,
            site: b(),
            liveness,
        },
    );
}

/// What `source` says about b now, after a self-check at `at`.
fn view_at(core: &mut GossipCore, at: Duration, source: Source) -> Option<Liveness> {
    core.process(at, Input::Timer(GossipTimer::SelfCheck));
    core.status()
        .sources
        .get(&b())
        .and_then(|s| s.get(&source))
        .copied()
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn an_external_verdict_holds_for_its_lease_and_a_repeat_renews_it() {
    let mut a = member_a();
    says(&mut a, s(1), Source::External, Some(Liveness::Dead));
    assert_eq!(
        view_at(&mut a, s(10), Source::External),
        Some(Liveness::Dead)
    );
    // The feeder repeats it just before the lease runs out.
    says(&mut a, s(10), Source::External, Some(Liveness::Dead));
    assert_eq!(
        view_at(&mut a, s(19), Source::External),
        Some(Liveness::Dead)
    );
    // Then it falls silent: the verdict goes once its lease ran out.
    assert_eq!(view_at(&mut a, s(20), Source::External), None);
}

#[test]
fn only_the_external_source_expires() {
    let mut a = member_a();
    says(&mut a, s(1), Source::Serf, Some(Liveness::Dead));
    says(&mut a, s(1), Source::External, Some(Liveness::Suspect));
    assert_eq!(view_at(&mut a, s(60), Source::External), None);
    assert_eq!(view_at(&mut a, s(60), Source::Serf), Some(Liveness::Dead));
}

#[test]
fn a_withdrawn_external_verdict_leaves_no_lease_behind() {
    let mut a = member_a();
    says(&mut a, s(1), Source::External, Some(Liveness::Dead));
    says(&mut a, s(2), Source::External, None);
    assert_eq!(view_at(&mut a, s(3), Source::External), None);
    // A new verdict starts a new lease, not the withdrawn one's.
    says(&mut a, s(9), Source::External, Some(Liveness::Dead));
    assert_eq!(
        view_at(&mut a, s(12), Source::External),
        Some(Liveness::Dead)
    );
    assert_eq!(view_at(&mut a, s(19), Source::External), None);
}
