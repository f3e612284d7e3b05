//! `Engine::simulate`: what-if questions answered on a copy of the engine.
//!
//! The engine is site b of sites a and b and witness w (web prefers a, db
//! prefers b), settled as the golden scenarios settle it; each test asks
//! what would happen and checks the answer against what the engine really
//! does when the same facts arrive the way the detectors deliver them.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use orbit_core::{
    Change, Command, Decision, Engine, Event, Hypothesis, Liveness, Millis, Order, Role, Scenario,
    ServiceAt, SimulationError, SiteId,
};

/// The `[policy]` failback lines of the tests' config.
const FAILBACK: &str = "failback = \"after\"\nfailback_after = \"60s\"";

/// The health check line of db in `common::three_members`.
const DB_HEALTH: &str = r#"health = { tcp = "198.51.100.20:5432", interval = "100ms" }"#;

/// When the tests ask: the engine has settled long before.
const NOW: Millis = Millis(10_000);

fn site(s: &str) -> SiteId {
    s.parse().unwrap()
}

/// Site b's engine with every member alive, web at a and db at b.
fn settled() -> Engine {
    settled_from(&common::three_members("b", FAILBACK))
}

fn settled_from(config: &str) -> Engine {
    let mut engine = common::engine(config);
    for (observer, subject) in [
        ("a", "b"),
        ("a", "w"),
        ("b", "a"),
        ("b", "w"),
        ("w", "a"),
        ("w", "b"),
    ] {
        engine.handle(Millis(0), verdict(observer, subject, Liveness::Alive));
    }
    for (at, service) in [("a", "web"), ("b", "web"), ("a", "db"), ("b", "db")] {
        let health = Event::Health {
            site: site(at),
            service: service.parse().unwrap(),
            healthy: true,
        };
        engine.handle(Millis(0), health);
    }
    tick_until(&mut engine, NOW);
    assert_eq!(active(&engine, "web"), Some(site("a")));
    assert_eq!(active(&engine, "db"), Some(site("b")));
    engine
}

fn verdict(observer: &str, subject: &str, liveness: Liveness) -> Event {
    Event::Verdict {
        observer: site(observer),
        subject: site(subject),
        liveness,
    }
}

fn active(engine: &Engine, service: &str) -> Option<SiteId> {
    engine.steering().services[&service.parse().unwrap()]
        .active
        .clone()
}

/// Timer ticks as the daemon sends them, up to `until`.
fn tick_until(engine: &mut Engine, until: Millis) -> Vec<Decision> {
    let mut decisions = Vec::new();
    while let Some(at) = engine.next_deadline().filter(|at| *at <= until) {
        decisions.extend(engine.handle(at, Event::Tick));
    }
    decisions
}

fn facts(scenario: Scenario) -> Hypothesis {
    Hypothesis::Facts(scenario)
}

fn dead(sites: &[&str]) -> Scenario {
    Scenario {
        dead: sites.iter().map(|s| site(s)).collect(),
        ..Scenario::default()
    }
}

fn cut(pairs: &[(&str, &str)]) -> Scenario {
    Scenario {
        cut: pairs.iter().map(|(x, y)| [site(x), site(y)]).collect(),
        ..Scenario::default()
    }
}

/// (kind, what) of each change, for comparisons that ignore reasons.
fn changes<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Vec<String> {
    changes
        .into_iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect()
}

fn assert_note(sim: &orbit_core::Simulation, start: &str) {
    assert!(
        sim.notes.iter().any(|n| n.starts_with(start)),
        "no note starts with {start:?}: {:?}",
        sim.notes
    );
}

#[test]
fn a_dead_site_fails_over_after_the_hold_as_the_engine_then_really_does() {
    let engine = settled();
    let steering = engine.steering().clone();
    let shared = engine.shared_state();
    let status = format!("{:?}", engine.status());

    let sim = engine.simulate(NOW, &facts(dead(&["a"]))).unwrap();

    // The live engine did not move.
    assert_eq!(engine.steering(), &steering);
    assert_eq!(engine.shared_state(), shared);
    assert_eq!(format!("{:?}", engine.status()), status);

    let web = "web".parse().unwrap();
    assert_eq!(sim.placement[&web].before, Some(site("a")));
    assert_eq!(sim.placement[&web].active, Some(site("b")));
    assert_eq!(sim.placement[&web].local_role, Role::Active);
    let liveness = sim
        .decisions
        .iter()
        .find(|d| matches!(d.change, Change::SiteLiveness { dead: true, .. }))
        .expect("a declared dead");
    assert_eq!(liveness.offset_ms, 1000, "after failover_hold");
    assert!(
        liveness.reason.contains("report site a dead (b, w)"),
        "{}",
        liveness.reason
    );

    // The same verdicts, delivered for real: the same decisions, same reasons.
    let mut real = engine.clone();
    let mut taken = real.handle(NOW, verdict("b", "a", Liveness::Dead));
    taken.extend(real.handle(NOW, verdict("w", "a", Liveness::Dead)));
    taken.extend(tick_until(&mut real, Millis(NOW.0 + 120_000)));
    assert_eq!(
        changes(sim.decisions.iter().map(|d| &d.change)),
        changes(taken.iter().map(|d| &d.change))
    );
    let reasons = |r: Vec<&String>| r.into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        reasons(sim.decisions.iter().map(|d| &d.reason).collect()),
        reasons(taken.iter().map(|d| &d.reason).collect())
    );
    assert_eq!(active(&real, "web"), Some(site("b")));
}

#[test]
fn a_cut_with_a_third_member_in_between_moves_nothing() {
    let engine = settled();
    let sim = engine.simulate(NOW, &facts(cut(&[("a", "b")]))).unwrap();
    assert!(sim.decisions.is_empty(), "{:?}", sim.decisions);
    assert!(sim
        .placement
        .values()
        .all(|p| p.before == p.active && p.active.is_some()));
}

#[test]
fn a_site_cut_off_from_everyone_is_failed_over_like_a_dead_one() {
    let engine = settled();
    let sim = engine
        .simulate(NOW, &facts(cut(&[("a", "b"), ("w", "a")])))
        .unwrap();
    let dead = engine.simulate(NOW, &facts(dead(&["a"]))).unwrap();
    assert_eq!(
        changes(sim.decisions.iter().map(|d| &d.change)),
        changes(dead.decisions.iter().map(|d| &d.change))
    );
}

#[test]
fn the_local_site_cut_off_from_everyone_fences() {
    let engine = settled();
    let sim = engine
        .simulate(NOW, &facts(cut(&[("b", "a"), ("b", "w")])))
        .unwrap();
    assert!(
        sim.decisions
            .iter()
            .any(|d| d.change == Change::Fenced { fenced: true }),
        "{:?}",
        sim.decisions
    );
    let db = "db".parse().unwrap();
    assert_ne!(sim.placement[&db].local_role, Role::Active);
}

#[test]
fn an_unhealthy_service_moves_after_the_hold_and_others_stay() {
    let engine = settled();
    let scenario = Scenario {
        unhealthy: vec![ServiceAt {
            service: "web".parse().unwrap(),
            site: site("a"),
        }],
        ..Scenario::default()
    };
    let sim = engine.simulate(NOW, &facts(scenario)).unwrap();
    let moved: Vec<_> = sim
        .decisions
        .iter()
        .filter(|d| matches!(d.change, Change::ServiceMoved { .. }))
        .collect();
    assert_eq!(moved.len(), 1, "{:?}", sim.decisions);
    assert_eq!(moved[0].offset_ms, 1000);
    assert_eq!(
        moved[0].change,
        Change::ServiceMoved {
            service: "web".parse().unwrap(),
            from: Some(site("a")),
            to: Some(site("b")),
        }
    );
    assert_eq!(
        sim.placement[&"db".parse().unwrap()].active,
        Some(site("b"))
    );
}

#[test]
fn a_drain_that_strands_is_shown_forced_with_a_note() {
    let engine = settled();
    let scenario = Scenario {
        drain: vec![site("b")],
        ..dead(&["a"])
    };
    let sim = engine.simulate(NOW, &facts(scenario)).unwrap();
    assert_note(
        &sim,
        "drain of site b: this would leave db, web without any site",
    );
    let web = "web".parse().unwrap();
    assert_eq!(sim.placement[&web].active, None);
}

#[test]
fn a_dry_run_is_refused_as_the_command_would_be_and_accepted_otherwise() {
    let mut engine = settled();
    tick_until(&mut engine, NOW);
    let mut after_a_died = engine.clone();
    after_a_died.handle(NOW, verdict("b", "a", Liveness::Dead));
    after_a_died.handle(NOW, verdict("w", "a", Liveness::Dead));
    let later = Millis(NOW.0 + 5_000);
    tick_until(&mut after_a_died, later);
    let before = after_a_died.steering().clone();

    let drain = Order::new(Command::Drain { site: site("b") });
    let refused = after_a_died
        .simulate(later, &Hypothesis::Command(drain.clone()))
        .unwrap_err();
    assert!(
        matches!(&refused, SimulationError::Refused(e) if e.to_string().starts_with("this would leave db, web without any site")),
        "{refused}"
    );
    let forced = Order {
        force: true,
        ..drain.clone()
    };
    let sim = after_a_died
        .simulate(later, &Hypothesis::Command(forced))
        .unwrap();
    assert!(matches!(
        sim.decisions[0].change,
        Change::CommandAccepted { .. }
    ));
    assert!(sim.placement.values().all(|p| p.active.is_none()));
    assert_eq!(
        after_a_died.steering(),
        &before,
        "a dry run changes nothing"
    );

    // With a alive, draining b moves db to a at once; b drains for the grace.
    let sim = engine.simulate(NOW, &Hypothesis::Command(drain)).unwrap();
    let db = "db".parse().unwrap();
    assert_eq!(sim.placement[&db].active, Some(site("a")));
    assert!(sim.decisions.iter().any(|d| d.offset_ms == 5000
        && matches!(
            d.change,
            Change::LocalRole {
                from: Role::Draining,
                ..
            }
        )));
}

#[test]
fn bad_questions_are_refused_with_what_is_wrong() {
    let engine = settled();
    let err = |h: Hypothesis| engine.simulate(NOW, &h).unwrap_err().to_string();
    assert_eq!(
        err(facts(Scenario::default())),
        "nothing to simulate: name at least one of --dead, --unhealthy, --drain, --cut"
    );
    assert!(err(facts(dead(&["b"]))).starts_with("site b is this daemon's own site"));
    assert_eq!(err(facts(dead(&["x"]))), "unknown site \"x\"");
    assert_eq!(
        err(facts(cut(&[("a", "a")]))),
        "a cut is between two members; a-a names one twice"
    );
    let unhealthy = |service: &str, at: &str| {
        facts(Scenario {
            unhealthy: vec![ServiceAt {
                service: service.parse().unwrap(),
                site: site(at),
            }],
            ..Scenario::default()
        })
    };
    let unchecked = common::three_members("b", FAILBACK).replace(DB_HEALTH, "");
    let error = settled_from(&unchecked)
        .simulate(NOW, &unhealthy("db", "a"))
        .unwrap_err();
    assert!(
        error.to_string().starts_with("db has no health check"),
        "{error}"
    );
    assert_eq!(err(unhealthy("mail", "a")), "unknown service \"mail\"");
    assert!(err(unhealthy("web", "w")).contains("witness"));
}

#[test]
fn the_answer_has_a_stable_json_shape() {
    let engine = settled();
    let sim = engine.simulate(NOW, &facts(dead(&["a"]))).unwrap();
    let json = serde_json::to_value(&sim).unwrap();
    let moved = json["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "service_moved")
        .unwrap();
    assert_eq!(moved["service"], "web");
    assert_eq!(moved["from"], "a");
    assert_eq!(moved["to"], "b");
    assert_eq!(moved["offset_ms"], 1000);
    assert!(moved["reason"].is_string());
    assert_eq!(json["placement"]["web"]["active"], "b");
    assert_eq!(json["placement"]["web"]["before"], "a");
    assert_eq!(json["placement"]["web"]["local_role"], "active");
    let back: orbit_core::Simulation = serde_json::from_value(json).unwrap();
    assert_eq!(back, sim);
}

#[test]
fn a_fact_said_many_times_counts_once() {
    let engine = settled();
    let once = engine
        .simulate(
            NOW,
            &facts(Scenario {
                drain: vec![site("a")],
                ..Scenario::default()
            }),
        )
        .unwrap();
    let many = engine
        .simulate(
            NOW,
            &facts(Scenario {
                drain: vec![site("a"); 5000],
                ..Scenario::default()
            }),
        )
        .unwrap();
    assert_eq!(once, many);
}

#[test]
fn an_engine_without_authority_says_so_beside_its_empty_answer() {
    let fresh = common::engine(&common::three_members("b", FAILBACK));
    let sim = fresh.simulate(NOW, &facts(dead(&["a"]))).unwrap();
    assert_note(&sim, "site b cannot steer traffic now (");
    let settled = settled().simulate(NOW, &facts(dead(&["a"]))).unwrap();
    assert!(settled.notes.is_empty(), "{:?}", settled.notes);
}

/// A service with a plan: the simulated failover names the plan's steps in
/// their order and where each runs, and the placement shows the carrier
/// keeping the service (the steps have not run).
#[test]
fn a_simulated_failover_of_a_service_with_a_plan_lists_its_steps() {
    let config = common::three_members("b", FAILBACK).replacen(
        "sites = [\"a\", \"b\"]",
        "sites = [\"a\", \"b\"]\nplan = \"pg\"",
        1,
    ) + r#"
[[plan]]
id = "pg"
[[plan.fence_old]]
name = "stop"
kind = "exec"
command = ["/bin/true"]
[[plan.before_takeover]]
name = "promote"
kind = "exec"
command = ["/bin/true"]
[[plan.after_takeover]]
name = "notify"
kind = "exec"
at = "any"
command = ["/bin/true"]
"#;
    let engine = settled_from(&config);
    let sim = engine.simulate(NOW, &facts(dead(&["a"]))).unwrap();
    let kinds: Vec<String> = sim
        .decisions
        .iter()
        .map(|d| d.change.kind().to_owned())
        .collect();
    assert!(kinds.contains(&"service_moving".to_owned()), "{kinds:?}");
    assert_eq!(
        sim.placement[&"web".parse().unwrap()].active,
        Some(site("a"))
    );
    let note = sim
        .notes
        .iter()
        .find(|n| n.starts_with("web moves"))
        .unwrap_or_else(|| panic!("{:?}", sim.notes));
    assert_eq!(
        note,
        "web moves from site a to site b only after plan pg: first promote at b; then the \
         traffic moves; then notify at b; stop at a when site a is back, before it may carry \
         web again"
    );
}
