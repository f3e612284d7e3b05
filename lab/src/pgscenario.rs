//! The PostgreSQL disaster-recovery scenarios (issue 22): the BGP lab with
//! a primary at a, a replica at b (`pg.rs`), the service `db` moved with
//! the plan `pg` (promote at the new site before it takes the address,
//! stop the old primary), and a writer in the client's namespace
//! committing a numbered row every 10 ms through the service address.
//!
//! - `failure`: a's links are cut (router, orbitd and server unreachable);
//!   b must promote, then carry `db`; when a returns, its old primary must
//!   be stopped (fenced).
//! - `switchover`: `orbitctl switchover --service db --to b`, then a is
//!   re-seeded as b's replica (the DBA's part, done by the lab) and the
//!   service is switched back to a.
//! - `partition`: a and b lose each other (the witness sees both) and heal;
//!   nothing may move or be promoted.
//!
//! Measured from the writer's log and the servers' tables afterwards
//! (`pgmeasure.rs`): RTO, RPO (acknowledged writes lost), split brain
//! (rows the old primary committed after the promotion).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::lab::Lab;
use crate::orbitd::{Failback, Tuning};
use crate::pg::{Replication, Server};
use crate::pgmeasure::{self, Ack};
use crate::plan::Mode;
use crate::scenario::RunOptions;
use crate::sys::{now_us, Proc};

/// The writer commits one row this often.
pub const WRITE_EVERY: Duration = Duration::from_millis(10);
/// How long a move may take before the run fails.
const MOVE_LIMIT: Duration = Duration::from_secs(20);
/// How long a returning old primary may run before it must be fenced.
const FENCE_LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PgScenario {
    Failure,
    Switchover,
    Partition,
}

impl PgScenario {
    pub fn parse(s: &str) -> Option<PgScenario> {
        match s {
            "failure" => Some(PgScenario::Failure),
            "switchover" => Some(PgScenario::Switchover),
            "partition" => Some(PgScenario::Partition),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PgScenario::Failure => "failure",
            PgScenario::Switchover => "switchover",
            PgScenario::Partition => "partition",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            PgScenario::Failure => "hard failure of a, a returns",
            PgScenario::Switchover => "planned switchover a -> b and back",
            PgScenario::Partition => "partition a-b that heals",
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct PgRunResult {
    pub scenario: PgScenario,
    pub replication: Replication,
    pub run: u32,
    pub error: Option<String>,
    /// Writes the client saw acknowledged.
    pub acked: usize,
    /// Last ack by the old primary -> first by the new one (ms); in the
    /// switchover the move a -> b.
    pub rto_ms: Option<f64>,
    /// Switchover: the move back b -> a (ms).
    pub rto_back_ms: Option<f64>,
    /// Acknowledged writes the primary at the end does not hold.
    pub lost: Vec<u64>,
    /// Rows an old primary committed after the new one was promoted.
    pub split_brain: Vec<u64>,
    /// From the fault (failure) or the command (switchover) to b's
    /// promotion (its log): the part of the RTO before the traffic move.
    pub promoted_after_ms: Option<f64>,
    /// The moves the orchestrator was told of (`after_takeover`), as
    /// "from->to".
    pub notified: Vec<String>,
    /// From the fault to the orchestrator's first notification (ms).
    pub notified_after_ms: Option<f64>,
    /// The longest time without an acknowledged write from the fault on.
    pub stall_ms: Option<f64>,
    /// Failure: from a's return to its server being stopped (ms).
    pub fenced_after_ms: Option<f64>,
    pub violations: Vec<String>,
    pub dir: Option<String>,
}

impl PgRunResult {
    fn failed(
        sc: PgScenario,
        replication: Replication,
        run: u32,
        dir: &Path,
        e: &anyhow::Error,
    ) -> Self {
        PgRunResult {
            scenario: sc,
            replication,
            run,
            error: Some(format!("{e:#}")),
            acked: 0,
            rto_ms: None,
            rto_back_ms: None,
            lost: Vec::new(),
            split_brain: Vec::new(),
            fenced_after_ms: None,
            stall_ms: None,
            promoted_after_ms: None,
            notified: Vec::new(),
            notified_after_ms: None,
            violations: vec![format!("run failed: {e:#}")],
            dir: Some(dir.display().to_string()),
        }
    }
}

/// The lab's tuning for a PostgreSQL run: the BGP lab, the pair, and
/// manual failback (the old primary is fenced; nothing may move back to
/// it by itself).
pub fn tuning(base: Tuning, replication: Replication) -> Tuning {
    Tuning {
        pg: Some(replication),
        failback: Failback::Manual,
        ..base
    }
}

pub fn run(sc: PgScenario, replication: Replication, run: u32, opts: &RunOptions) -> PgRunResult {
    let dir = opts
        .root
        .join(format!("pg-{}-{}-r{run}", sc.name(), replication));
    let _ = std::fs::remove_dir_all(&dir);
    let prefix = format!(
        "{}p{}{}{run}",
        opts.prefix,
        &sc.name()[..1],
        &replication.to_string()[..1]
    );
    let mut r = match drive(sc, replication, run, &prefix, &dir, opts) {
        Ok(r) => r,
        Err(e) => PgRunResult::failed(sc, replication, run, &dir, &e),
    };
    if !opts.keep && r.violations.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        r.dir = Some(dir.display().to_string());
    }
    r
}

/// What the writer's log holds so far.
fn acks(log: &Path) -> Vec<Ack> {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| pgmeasure::parse_acks(&t).ok())
        .unwrap_or_default()
}

/// Waits until `site` acknowledged a write sent after `after_us` (the
/// writer flushes its log after every attempt).
fn wait_acked_by(log: &Path, site: &str, after_us: i64, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if acks(log)
            .iter()
            .any(|a| a.site == site && a.sent_us >= after_us)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no write acknowledged by site {site} within {limit:?}")
}

fn drive(
    sc: PgScenario,
    replication: Replication,
    run: u32,
    prefix: &str,
    dir: &Path,
    opts: &RunOptions,
) -> Result<PgRunResult> {
    let tuning = tuning(opts.tuning, replication);
    let lab = Lab::up(Mode::Bgp, prefix, dir, tuning, true, true)?;
    let notify_log = dir.join("notify.log");
    let sink_argv = vec![
        Lab::self_exe()?,
        "notify-sink".into(),
        "--listen".into(),
        format!("{}:{}", crate::plan::ctl_addr("w"), crate::notify::PORT),
        "--out".into(),
        notify_log.display().to_string(),
    ];
    let sink = Proc::spawn(
        "notify-sink",
        Some(&lab.ns("w")),
        &sink_argv,
        &[],
        &dir.join("notify-sink.stderr"),
        true,
    )?;
    let log = dir.join("writes.log");
    let argv = vec![
        Lab::self_exe()?,
        "pg-write".into(),
        "--every-ms".into(),
        WRITE_EVERY.as_millis().to_string(),
        "--out".into(),
        log.display().to_string(),
    ];
    let writer = Proc::spawn(
        "pg-write",
        Some(&lab.ns("client")),
        &argv,
        &[],
        &dir.join("pg-write.stderr"),
        true,
    )?;
    let start = now_us();
    wait_acked_by(&log, "a", start, Duration::from_secs(15))
        .context("the writer never reached the primary at a through the service address")?;
    std::thread::sleep(Duration::from_millis(1000));
    fn pair(lab: &Lab) -> Result<&crate::pg::Pair> {
        lab.pg.as_ref().context("the lab has no PostgreSQL pair")
    }
    let fault = now_us();
    let mut fenced_after_ms = None;
    let mut back = None;
    // The old primary's rows after a move (None: no move expected), read
    // before anything re-seeds it.
    let mut old_rows = None;
    let mut old_rows_back = None;
    match sc {
        PgScenario::Failure => {
            lab.cut_site("a")?;
            wait_acked_by(&log, "b", fault, MOVE_LIMIT)?;
            std::thread::sleep(Duration::from_millis(1000));
            let restored = lab.restore_site("a")?;
            let a = pair(&lab)?.a.clone();
            fenced_after_ms = wait_stopped(&a, FENCE_LIMIT).map(|t| (t - restored) as f64 / 1000.0);
            let _ =
                crate::sys::wait_for("a to rejoin", Duration::from_secs(10), || lab.rejoined("a"));
            std::thread::sleep(Duration::from_millis(1000));
        }
        PgScenario::Switchover => {
            lab.orbitctl("a", &["switchover", "--service", "db", "--to", "b"])?;
            wait_acked_by(&log, "b", fault, MOVE_LIMIT)?;
            std::thread::sleep(Duration::from_millis(1000));
            let p = pair(&lab)?;
            old_rows = Some(p.a.rows_offline()?);
            p.a.reseed_from(&p.b)?;
            p.replicate(&p.b)?;
            std::thread::sleep(Duration::from_millis(500));
            let t = now_us();
            back = Some(t);
            lab.orbitctl("b", &["switchover", "--service", "db", "--to", "a"])?;
            wait_acked_by(&log, "a", t, MOVE_LIMIT)?;
            std::thread::sleep(Duration::from_millis(1000));
            old_rows_back = Some(pair(&lab)?.b.rows_offline()?);
        }
        PgScenario::Partition => {
            lab.partition_ab(true)?;
            std::thread::sleep(Duration::from_millis(4000));
            lab.partition_ab(false)?;
            std::thread::sleep(Duration::from_millis(3000));
        }
    }
    writer.finish(Duration::from_secs(5))?;
    sink.finish(Duration::from_secs(5))?;
    let acks = acks(&log);
    let told = crate::notify::moves(&std::fs::read_to_string(&notify_log).unwrap_or_default());
    let p = pair(&lab)?;
    let mut r = PgRunResult {
        scenario: sc,
        replication,
        run,
        error: None,
        acked: acks.len(),
        rto_ms: None,
        rto_back_ms: None,
        lost: Vec::new(),
        split_brain: Vec::new(),
        fenced_after_ms,
        stall_ms: pgmeasure::longest_stall_ms(&acks, fault),
        promoted_after_ms: None,
        notified: told.iter().map(|(_, f, t)| format!("{f}->{t}")).collect(),
        notified_after_ms: told
            .iter()
            .find(|(t, _, _)| *t >= fault)
            .map(|(t, _, _)| (t - fault) as f64 / 1000.0),
        violations: Vec::new(),
        dir: None,
    };
    let promoted = |s: &Server| {
        std::fs::read_to_string(&s.log)
            .ok()
            .and_then(|l| pgmeasure::promoted_at(&l))
    };
    r.promoted_after_ms = promoted(&p.b)
        .filter(|t| *t >= fault)
        .map(|t| (t - fault) as f64 / 1000.0);
    match sc {
        PgScenario::Failure => {
            r.rto_ms = pgmeasure::rto_ms(&acks, "a", "b", fault);
            r.lost = pgmeasure::lost(&acks, "a", &p.b.ids()?);
            match promoted(&p.b) {
                Some(t) => r.split_brain = pgmeasure::split_brain(&p.a.rows_offline()?, t),
                None => r.violations.push("b's server was never promoted".into()),
            }
            match r.fenced_after_ms {
                None => r.violations.push(format!(
                    "a's old primary still ran {FENCE_LIMIT:?} after a returned (not fenced)"
                )),
                Some(_) if p.a.running() => r
                    .violations
                    .push("a's old primary runs again at the end".into()),
                Some(_) => {}
            }
        }
        PgScenario::Switchover => {
            r.rto_ms = pgmeasure::rto_ms(&acks, "a", "b", fault);
            r.rto_back_ms = back.and_then(|t| pgmeasure::rto_ms(&acks, "b", "a", t));
            let survivor = p.a.ids()?;
            r.lost = pgmeasure::lost(&acks, "a", &survivor);
            r.lost.extend(pgmeasure::lost(&acks, "b", &survivor));
            if let (Some(rows), Some(t)) = (&old_rows, promoted(&p.b)) {
                r.split_brain = pgmeasure::split_brain(rows, t);
            } else {
                r.violations.push("b's server was never promoted".into());
            }
            // a's log holds its own promotion after the re-seed.
            if let (Some(rows), Some(t)) = (&old_rows_back, promoted(&p.a)) {
                r.split_brain.extend(pgmeasure::split_brain(rows, t));
            } else {
                r.violations
                    .push("a's server was never promoted back".into());
            }
            if !r.lost.is_empty() {
                r.violations.push(format!(
                    "a planned switchover lost {} acknowledged writes",
                    r.lost.len()
                ));
            }
        }
        PgScenario::Partition => {
            r.lost = pgmeasure::lost(&acks, "a", &p.a.ids()?);
            if promoted(&p.b).is_some() {
                r.violations
                    .push("b was promoted during a partition that moved nothing".into());
            }
            if acks.iter().any(|a| a.site != "a") {
                r.violations
                    .push("writes were acknowledged by b: the service moved".into());
            }
        }
    }
    let want_told: &[&str] = match sc {
        PgScenario::Failure => &["a->b"],
        PgScenario::Switchover => &["a->b", "b->a"],
        PgScenario::Partition => &[],
    };
    if r.notified != want_told {
        r.violations.push(format!(
            "the orchestrator was told of the moves {:?}, not {want_told:?}",
            r.notified
        ));
    }
    if !r.split_brain.is_empty() {
        r.violations.push(format!(
            "split brain: {} rows committed by an old primary after the promotion",
            r.split_brain.len()
        ));
    }
    if replication == Replication::Sync && !r.lost.is_empty() {
        r.violations.push(format!(
            "synchronous replication lost {} acknowledged writes",
            r.lost.len()
        ));
    }
    if sc != PgScenario::Partition && r.rto_ms.is_none() {
        r.violations
            .push("no move seen by the writer (no RTO)".into());
    }
    drop(lab);
    Ok(r)
}

/// Polls until `server` is stopped; when (Unix µs), or None after `limit`.
fn wait_stopped(server: &Server, limit: Duration) -> Option<i64> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !server.running() {
            return Some(now_us());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// One row of the report per scenario and replication.
#[derive(Debug, Clone, Serialize)]
pub struct PgRow {
    pub scenario: PgScenario,
    pub replication: Replication,
    pub runs: usize,
    pub passed: usize,
    pub rto_p50_ms: Option<f64>,
    pub rto_max_ms: Option<f64>,
    pub rto_back_p50_ms: Option<f64>,
    pub acked: usize,
    /// Acknowledged writes lost, all runs together, and the worst run.
    pub lost: usize,
    pub lost_max: usize,
    pub split_brain: usize,
    pub fenced_after_p50_ms: Option<f64>,
    pub stall_max_ms: Option<f64>,
    pub promoted_after_p50_ms: Option<f64>,
    pub notified_after_p50_ms: Option<f64>,
}

pub fn rows(results: &[PgRunResult]) -> Vec<PgRow> {
    let mut keys: Vec<(PgScenario, Replication)> = results
        .iter()
        .map(|r| (r.scenario, r.replication))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(sc, rep)| {
            let rs: Vec<&PgRunResult> = results
                .iter()
                .filter(|r| r.scenario == sc && r.replication == rep && r.error.is_none())
                .collect();
            let all = results
                .iter()
                .filter(|r| r.scenario == sc && r.replication == rep);
            let vals = |f: &dyn Fn(&PgRunResult) -> Option<f64>| -> Vec<f64> {
                rs.iter().filter_map(|r| f(r)).collect()
            };
            let rto = vals(&|r| r.rto_ms);
            PgRow {
                scenario: sc,
                replication: rep,
                runs: all.clone().count(),
                passed: all.filter(|r| r.violations.is_empty()).count(),
                rto_p50_ms: crate::analysis::percentile(&rto, 50.0),
                rto_max_ms: rto.iter().copied().reduce(f64::max),
                rto_back_p50_ms: crate::analysis::percentile(&vals(&|r| r.rto_back_ms), 50.0),
                acked: rs.iter().map(|r| r.acked).sum(),
                lost: rs.iter().map(|r| r.lost.len()).sum(),
                lost_max: rs.iter().map(|r| r.lost.len()).max().unwrap_or(0),
                split_brain: rs.iter().map(|r| r.split_brain.len()).sum(),
                fenced_after_p50_ms: crate::analysis::percentile(
                    &vals(&|r| r.fenced_after_ms),
                    50.0,
                ),
                stall_max_ms: vals(&|r| r.stall_ms).into_iter().reduce(f64::max),
                promoted_after_p50_ms: crate::analysis::percentile(
                    &vals(&|r| r.promoted_after_ms),
                    50.0,
                ),
                notified_after_p50_ms: crate::analysis::percentile(
                    &vals(&|r| r.notified_after_ms),
                    50.0,
                ),
            }
        })
        .collect()
}

/// The PostgreSQL table (text and Markdown alike).
pub fn table(rows: &[PgRow]) -> String {
    let o = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let mut s = String::from(
        "| scenario | replication | runs ok | b promoted p50 (ms after the fault) | RTO p50 / max (ms) | RTO back p50 (ms) | writes acked | RPO: acked writes lost (total / worst run) | split brain (rows) | fenced after return p50 (ms) | longest write stall max (ms) | orchestrator told p50 (ms after the fault) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {}/{} | {} | {} / {} | {} | {} | {} / {} | {} | {} | {} | {} |\n",
            r.scenario.describe(),
            r.replication,
            r.passed,
            r.runs,
            o(r.promoted_after_p50_ms),
            o(r.rto_p50_ms),
            o(r.rto_max_ms),
            o(r.rto_back_p50_ms),
            r.acked,
            r.lost,
            r.lost_max,
            r.split_brain,
            o(r.fenced_after_p50_ms),
            o(r.stall_max_ms),
            o(r.notified_after_p50_ms),
        ));
    }
    s
}

pub fn progress(r: &PgRunResult) -> String {
    let o = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.0} ms"));
    let mut s = format!(
        "acked {}, b promoted {}, RTO {}, lost {}, split brain {}",
        r.acked,
        o(r.promoted_after_ms),
        o(r.rto_ms),
        r.lost.len(),
        r.split_brain.len()
    );
    if r.stall_ms.is_some() {
        s.push_str(&format!(", longest stall {}", o(r.stall_ms)));
    }
    if r.rto_back_ms.is_some() {
        s.push_str(&format!(", RTO back {}", o(r.rto_back_ms)));
    }
    if r.fenced_after_ms.is_some() {
        s.push_str(&format!(
            ", a fenced {} after its return",
            o(r.fenced_after_ms)
        ));
    }
    if let Some(t) = r.notified_after_ms {
        s.push_str(&format!(
            ", orchestrator told of {} {t:.0} ms after the fault",
            r.notified.join(" ")
        ));
    }
    if r.violations.is_empty() {
        s.push_str(" -- ok");
    } else {
        s.push_str(&format!(" -- FAILED: {}", r.violations.join("; ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(sc: PgScenario, rto: f64, lost: usize, ok: bool) -> PgRunResult {
        let mut r = PgRunResult::failed(
            sc,
            Replication::Async,
            1,
            Path::new("/x"),
            &anyhow::anyhow!("-"),
        );
        r.error = None;
        r.violations = if ok { Vec::new() } else { vec!["bad".into()] };
        r.rto_ms = Some(rto);
        r.acked = 100;
        r.lost = (0..lost as u64).collect();
        r
    }

    #[test]
    fn rows_sum_losses_and_count_passes() {
        let rs = vec![
            result(PgScenario::Failure, 100.0, 0, true),
            result(PgScenario::Failure, 300.0, 2, false),
            result(PgScenario::Failure, 200.0, 1, true),
        ];
        let rows = rows(&rs);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.runs, r.passed), (3, 2));
        assert_eq!((r.lost, r.lost_max, r.acked), (3, 2, 300));
        assert_eq!(r.rto_max_ms, Some(300.0));
        let t = table(&rows);
        assert!(
            t.contains("| hard failure of a, a returns | async | 2/3 | - | 200 / 300 |"),
            "{t}"
        );
        assert!(t.contains("| 300 | 3 / 2 | 0 |"), "{t}");
    }
}
