use super::*;

/// The PostgreSQL plan of docs/plans.md, shortened: fence the old primary,
/// promote the replica, notify the orchestrator.
fn plan(extra: &str) -> Plan {
    toml::from_str(&format!(
        r#"
id = "pg"
{extra}
[[fence_old]]
name = "stop-old"
kind = "exec"
command = ["/bin/true"]
idempotent = true
[[before_takeover]]
name = "promote"
kind = "exec"
command = ["/bin/true"]
[[after_takeover]]
name = "notify"
kind = "http"
url = "http://192.0.2.50/"
"#
    ))
    .expect("plan parses")
}

fn id<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn run(plan: &Plan, old_reachable: bool) -> PlanRun {
    PlanRun::new(
        id("db"),
        plan,
        Some(id("a")),
        id("b"),
        7,
        old_reachable,
        Millis(1_000),
    )
}

fn names(run: &PlanRun) -> Vec<&str> {
    run.steps.iter().map(|s| s.name.as_str()).collect()
}

/// Runs the due step with `result` and says which it was.
fn step(run: &mut PlanRun, now: u64, result: Result<(), &str>) -> String {
    let i = run.due().expect("a step is due");
    run.start(i, Millis(now));
    run.finish(i, result.map_err(str::to_owned), Millis(now + 10));
    run.steps[i].name.clone()
}

#[test]
fn a_planned_switchover_fences_then_promotes_then_moves_then_notifies() {
    let mut run = run(&plan(""), true);
    assert_eq!(names(&run), ["stop-old", "promote", "notify"]);
    assert_eq!(run.takeover(Millis(1_000)), Takeover::Waiting);
    assert_eq!(step(&mut run, 1_000, Ok(())), "stop-old");
    assert_eq!(run.takeover(Millis(1_010)), Takeover::Waiting);
    assert_eq!(step(&mut run, 1_020, Ok(())), "promote");
    assert_eq!(run.takeover(Millis(1_030)), Takeover::Ready);
    // The notification waits for the traffic.
    assert_eq!(run.due(), None);
    assert!(!run.finished());
    run.traffic_moved();
    assert_eq!(step(&mut run, 1_040, Ok(())), "notify");
    assert!(run.finished());
}

#[test]
fn a_failover_promotes_at_once_and_fences_the_old_site_when_it_returns() {
    let mut run = run(&plan(""), false);
    assert_eq!(run.steps[0].state, StepState::Deferred);
    assert_eq!(step(&mut run, 1_000, Ok(())), "promote");
    assert_eq!(run.takeover(Millis(1_010)), Takeover::Ready);
    run.traffic_moved();
    assert_eq!(step(&mut run, 1_020, Ok(())), "notify");
    assert!(
        run.finished(),
        "deferred fencing does not keep the run open"
    );
    assert!(!run.old_fenced(), "the old site may not carry anything yet");
    run.old_returned();
    assert_eq!(step(&mut run, 5_000, Ok(())), "stop-old");
    assert!(run.old_fenced());
}

#[test]
fn a_failing_promotion_holds_the_move_and_nothing_runs_after_it() {
    let mut run = run(&plan(""), false);
    assert_eq!(step(&mut run, 1_000, Err("exit status 1")), "promote");
    let held = Takeover::Held {
        step: "promote".to_owned(),
    };
    assert_eq!(run.takeover(Millis(1_010)), held);
    assert_eq!(run.takeover(Millis(10_000_000)), held, "hold has no end");
    assert_eq!(run.deadline(Millis(1_010)), None);
    run.traffic_moved();
    assert_eq!(run.due(), None, "no notification of a move that is held");
}

#[test]
fn a_failing_promotion_with_proceed_after_moves_once_the_time_is_up() {
    let mut run = run(&plan("proceed_after = \"30s\""), false);
    assert_eq!(step(&mut run, 1_000, Err("exit status 1")), "promote");
    // Failed at 1_010 ms: the move goes ahead at 31_010 ms.
    let wait = Takeover::ProceedAt {
        step: "promote".to_owned(),
        at: Millis(31_010),
    };
    assert_eq!(run.takeover(Millis(1_010)), wait);
    assert_eq!(run.deadline(Millis(1_010)), Some(Millis(31_010)));
    assert_eq!(run.takeover(Millis(31_009)), wait);
    assert_eq!(run.takeover(Millis(31_010)), Takeover::Ready);
    assert_eq!(run.deadline(Millis(31_010)), None);
}

#[test]
fn a_restart_reruns_only_an_idempotent_step_that_was_running() {
    let mut run = run(&plan(""), true);
    // stop-old (idempotent) was running when orbitd stopped.
    let i = run.due().unwrap();
    run.start(i, Millis(1_000));
    let mut resumed: PlanRun = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
    assert_eq!(resumed, run, "a run survives its journal entry");
    resumed.resume(Millis(9_000));
    assert_eq!(resumed.due(), Some(i), "stop-old runs again");
    assert_eq!(step(&mut resumed, 9_000, Ok(())), "stop-old");
    // promote (not idempotent) was running when orbitd stopped.
    let i = resumed.due().unwrap();
    resumed.start(i, Millis(9_100));
    resumed.resume(Millis(20_000));
    assert!(
        matches!(&resumed.steps[i].state, StepState::Failed { detail, .. } if detail.contains("not idempotent")),
        "{:?}",
        resumed.steps[i].state
    );
    assert_eq!(
        resumed.takeover(Millis(20_000)),
        Takeover::Held {
            step: "promote".to_owned()
        }
    );
}

#[test]
fn a_service_carried_nowhere_has_no_old_primary_to_fence() {
    let run = PlanRun::new(id("db"), &plan(""), None, id("b"), 1, false, Millis(0));
    assert_eq!(names(&run), ["promote", "notify"]);
}
