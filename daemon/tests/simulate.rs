//! `orbitctl simulate` and `--dry-run` against three real orbitd (sites a
//! and b, witness w; `orbit_tests::control::Cluster`), driven with the
//! real `orbitctl`:
//! - `simulate --dead a` at b prints the decisions b's engine would take
//!   and changes nothing; then a's orbitd is really killed and a cut off,
//!   and b's journal records the same decisions (change kinds, services,
//!   sites, from and to; not times);
//! - `drain b --dry-run` answers with the decisions and changes nothing
//!   (status and journal as before); once a is dead, the same dry run is
//!   refused with exit 1, naming the services it would strand.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use orbit_tests::control::{active, Cluster};
use serde_json::Value;

/// What a decision changed, without its time and reason: (kind, the
/// service or site, from, to) as the journal and `--json` spell them.
fn what(change: &Value) -> String {
    let field = |k: &str| change[k].to_string();
    let subject = if change["service"].is_null() {
        field("site")
    } else {
        field("service")
    };
    format!(
        "{} {subject} {} -> {} {}",
        change["kind"].as_str().unwrap(),
        field("from"),
        field("to"),
        field("dead")
    )
}

/// b's steering and engine state as the status shows them, and the last
/// journal sequence number: what a simulation must not change.
fn state(c: &Cluster) -> (Value, Value, u64) {
    let status = c.status("b").unwrap();
    let journal = c.journal("b");
    let last = journal.last().map_or(0, |e| e["seq"].as_u64().unwrap());
    let mut engine = status["engine"].clone();
    // How long a dead site has been dead grows by itself.
    for site in engine["sites"].as_array_mut().unwrap() {
        site["dead_for_ms"] = Value::Null;
    }
    (status["steering"].clone(), engine, last)
}

#[test]
fn simulate_dead_a_predicts_what_b_then_does_and_dry_runs_change_nothing() {
    let mut c = Cluster::start("sim", env!("CARGO_BIN_EXE_orbitd"));
    let before = state(&c);

    let (code, out, err, _) = c.orbitctl("b", &["--json", "simulate", "--dead", "a"]);
    assert_eq!(code, 0, "simulate: {out}{err}");
    let sim: Value = serde_json::from_str(&out).unwrap();
    let predicted: Vec<String> = sim["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(what)
        .collect();
    assert!(
        predicted.contains(&r#"service_moved "web" "a" -> "b" null"#.to_owned()),
        "{out}"
    );
    assert_eq!(sim["placement"]["web"]["before"], "a", "{out}");
    assert_eq!(sim["placement"]["web"]["active"], "b", "{out}");
    assert_eq!(sim["placement"]["db"]["active"], "b", "{out}");

    let (code, text, err, _) = c.orbitctl("b", &["simulate", "--dead", "a"]);
    assert_eq!(code, 0, "simulate: {text}{err}");
    for line in [
        "site a DEAD",
        "web: a -> b",
        "2 of 2 required members report site a dead (b, w)",
        "web      a    b (moved)",
        "nothing was applied",
    ] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    eprintln!("orbitctl simulate --dead a at b:\n{text}");

    let (code, text, err, _) = c.orbitctl("b", &["drain", "b", "--dry-run"]);
    assert_eq!(code, 0, "drain --dry-run while a lives: {text}{err}");
    assert!(
        text.contains("accepted: drain of site b") && text.contains("db: b -> a"),
        "{text}"
    );
    assert_eq!(
        state(&c),
        before,
        "neither the simulation nor the dry run changed b's state or journal"
    );
    assert_eq!(active(&c.status("a").unwrap(), "db"), Some("b"));
    assert!(
        !c.log("b").contains("declared dead"),
        "simulated decisions are not logged as decisions:\n{}",
        c.log("b")
    );

    // Now for real.
    let (_, _, since) = before;
    c.kill("a");
    c.mesh.link("a", "b", false);
    c.mesh.link("a", "w", false);
    c.eventually("b's journal to record what was predicted", |c| {
        taken(c, since).len() >= predicted.len()
    });
    assert_eq!(
        taken(&c, since),
        predicted,
        "b's journal after a died, against `simulate --dead a` before"
    );

    let before = state(&c);
    let (code, out, err, _) = c.orbitctl("b", &["drain", "b", "--dry-run"]);
    assert_eq!(
        code, 1,
        "a dry run that would strand is refused: {out}{err}"
    );
    assert!(
        err.contains("dry run, nothing applied")
            && err.contains("this would leave db, web without any site"),
        "{err}"
    );
    let (code, out, err, _) = c.orbitctl("b", &["drain", "b", "--dry-run", "--force"]);
    assert_eq!(code, 0, "forced: {out}{err}");
    assert!(out.contains("web: b -> nowhere"), "{out}");
    assert_eq!(
        state(&c),
        before,
        "refused or not, a dry run changes nothing"
    );
}

/// The decisions b's journal recorded after sequence number `since`.
fn taken(c: &Cluster, since: u64) -> Vec<String> {
    c.journal("b")
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() > since && e["kind"] == "decision")
        .map(|e| what(&e["decision"]["change"]))
        .collect()
}
