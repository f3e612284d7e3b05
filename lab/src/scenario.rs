//! The seven scenarios of issue 8, each run on a freshly built lab, and the
//! numbers of one run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::analysis::{self, ProbeLog, StreamStats};
use crate::lab::Lab;
use crate::orbitd::{self, Caps, FAILBACK_AFTER_MS};
use crate::plan::Mode;
use crate::sys::{self, now_us, Proc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Scenario(pub u8);

impl Scenario {
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "planned switchover (orbitctl)",
            2 => "hard site failure (links cut)",
            3 => "gray failure (service killed)",
            4 => "partition a-b only",
            5 => "10% loss on control links",
            6 => "recovery and failback",
            7 => "orbitd on a frozen 2 s",
            _ => "site dark, edge links up",
        }
    }

    /// Must traffic move from a to b?
    pub fn expects_failover(self) -> bool {
        matches!(self.0, 1..=3 | 6 | 8)
    }

    pub fn must_not_fail_over(self) -> bool {
        matches!(self.0, 4 | 5 | 7)
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub mode: Mode,
    pub scenario: Scenario,
    pub run: u32,
    /// The lab could not be built or the scenario not driven.
    pub error: Option<String>,
    /// The stream the outage is read from (udp for bgp/sdn, http keep-alive
    /// for haproxy, which proxies no UDP).
    pub primary: &'static str,
    pub failover: bool,
    pub outage_ms: Option<f64>,
    pub lost: u64,
    pub requests: u64,
    pub false_failover: bool,
    pub both_active_ms: f64,
    pub detection_ms: Option<f64>,
    pub decision_to_confirmed_ms: Option<f64>,
    /// Scenario 6: from A's return to the first reply from A.
    pub failback_delay_ms: Option<f64>,
    /// Scenarios 2 and 8: how long the `ip` / `nft` command that injected
    /// the failure took (the fault counts from its end).
    pub fault_command_ms: Option<f64>,
    pub udp: StreamStats,
    pub keepalive: StreamStats,
    pub newconn: StreamStats,
    /// Violations of what the scenario must show (empty: passed).
    pub violations: Vec<String>,
    pub dir: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub prefix: String,
    pub root: std::path::PathBuf,
    pub caps: Caps,
    pub bfd_ms: u32,
    pub keep: bool,
    pub rate: u32,
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Builds a lab, runs the scenario, tears the lab down, analyses.
pub fn run(mode: Mode, sc: Scenario, run: u32, opts: &RunOptions) -> RunResult {
    let dir = opts.root.join(format!("{mode}-s{}-r{run}", sc.0));
    let prefix = format!("{}{}{}{}", opts.prefix, mode.short(), sc.0, run);
    match drive(mode, sc, &prefix, &dir, opts) {
        Ok(t) => analyse(mode, sc, run, &dir, &t, opts.keep),
        Err(e) => RunResult {
            mode,
            scenario: sc,
            run,
            error: Some(format!("{e:#}")),
            primary: primary(mode),
            failover: false,
            outage_ms: None,
            lost: 0,
            requests: 0,
            false_failover: false,
            both_active_ms: 0.0,
            detection_ms: None,
            decision_to_confirmed_ms: None,
            failback_delay_ms: None,
            fault_command_ms: None,
            udp: StreamStats::default(),
            keepalive: StreamStats::default(),
            newconn: StreamStats::default(),
            violations: vec![format!("run failed: {e:#}")],
            dir: Some(dir.display().to_string()),
        },
    }
}

fn primary(mode: Mode) -> &'static str {
    if mode == Mode::Haproxy {
        "http-keepalive"
    } else {
        "udp"
    }
}

/// Times of one run, Unix µs.
#[derive(Debug)]
struct Timeline {
    start: i64,
    fault: i64,
    fault_command_ms: Option<f64>,
    /// Scenario 6: when a came back.
    restore: Option<i64>,
    end: i64,
}

fn drive(
    mode: Mode,
    sc: Scenario,
    prefix: &str,
    dir: &Path,
    opts: &RunOptions,
) -> Result<Timeline> {
    let _ = std::fs::remove_dir_all(dir);
    let mut lab = Lab::up(mode, prefix, dir, opts.caps, opts.bfd_ms, true, true)?;
    let exe = Lab::self_exe()?;
    let probe_log = dir.join("probe.log");
    let argv = vec![
        exe,
        "probe".into(),
        "--rate".into(),
        opts.rate.to_string(),
        "--out".into(),
        probe_log.display().to_string(),
    ];
    let probe = Proc::spawn(
        "probe",
        Some(&lab.ns("client")),
        &argv,
        &[],
        &dir.join("probe.stderr"),
        true,
    )?;
    let start = now_us();
    sleep_ms(1500);
    let mut fault = now_us();
    // How long the command that injects a hard failure took; the fault
    // counts from its end (below).
    let mut fault_command_ms = None;
    let mut restore = None;
    match sc.0 {
        1 => {
            lab.orbitctl("a", &["switchover", "--service", "web", "--to", "b"])?;
            sleep_ms(3000);
        }
        2 => {
            lab.cut_site("a")?;
            fault = fault_applied(fault, &mut fault_command_ms);
            // Serf's LAN profile needs several seconds to declare a member
            // failed; watch long enough to measure its detection.
            sleep_ms(if mode == Mode::Serf { 12_000 } else { 4000 });
        }
        3 => {
            // The service process dies; a's router and orbitd stay up.
            drop(lab.procs.remove("serve-a"));
            sleep_ms(4000);
        }
        4 => {
            lab.partition_ab(true)?;
            sleep_ms(4000);
            lab.partition_ab(false)?;
            sleep_ms(2000);
        }
        5 => {
            lab.control_loss(10)?;
            sleep_ms(8000);
            lab.control_loss(0)?;
            sleep_ms(1000);
        }
        6 => {
            lab.cut_site("a")?;
            // The edge moves the client by itself (bird drops the route of
            // a dead link, OVS's fast-failover group skips the dead port),
            // before orbit has decided anything; a return before orbit's
            // decision would be the edge's, not a failback. So wait for
            // orbit at b to steer web to b too.
            let deadline = Instant::now() + Duration::from_secs(8);
            let moved = wait_served(&lab, "b", Duration::from_secs(8))
                && wait_until(deadline, || lab.steered_to("b").as_deref() == Some("b"));
            if !moved {
                bail!("scenario 6: no failover to b (client and orbit at b) within 8 s of cutting a, so failback cannot be measured");
            }
            sleep_ms(500);
            restore = Some(lab.restore_site("a")?);
            let back = wait_served(&lab, "a", Duration::from_millis(FAILBACK_AFTER_MS + 8000));
            if back {
                sleep_ms(1000);
            }
        }
        8 => {
            lab.dark_site("a", true)?;
            fault = fault_applied(fault, &mut fault_command_ms);
            // Without BFD nothing at the edge notices: ExaBGP's route goes
            // with bird's hold timer (9 s), Serf's verdict takes seconds.
            sleep_ms(if matches!(mode, Mode::Serf | Mode::Exabgp) {
                12_000
            } else {
                4000
            });
        }
        _ => {
            let pid = lab.proc("orbitd-a")?.pid();
            sys::run("kill", &["-STOP", &pid.to_string()])?;
            sleep_ms(2000);
            sys::run("kill", &["-CONT", &pid.to_string()])?;
            sleep_ms(3000);
        }
    }
    let end = now_us();
    probe.finish(Duration::from_secs(5))?;
    for (name, p) in lab.procs.iter_mut() {
        if name.starts_with("orbitd") {
            p.check_alive()?;
        }
    }
    drop(lab);
    Ok(Timeline {
        start,
        fault,
        fault_command_ms,
        restore,
        end,
    })
}

/// A link cut (`ip -batch`) or a blackhole (`nft -f`) takes effect when
/// the command commits its change, near its end: nft's start-up alone once
/// took 0.8 s on this shared machine. So the fault counts from the end of
/// the command (a lower bound for the detection time), and the command's
/// duration is reported.
fn fault_applied(started: i64, took: &mut Option<f64>) -> i64 {
    let end = now_us();
    *took = Some(analysis::ms(end - started));
    end
}

fn wait_until(deadline: Instant, mut f: impl FnMut() -> bool) -> bool {
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        sleep_ms(20);
    }
    false
}

fn wait_served(lab: &Lab, site: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if lab.ask().as_deref() == Some(site) {
            return true;
        }
        sleep_ms(20);
    }
    false
}

fn analyse(mode: Mode, sc: Scenario, run: u32, dir: &Path, t: &Timeline, keep: bool) -> RunResult {
    let log = ProbeLog::read(&dir.join("probe.log")).unwrap_or_default();
    let mut journal = Vec::new();
    for m in ["a", "b", "w"] {
        journal.extend(analysis::read_journal(
            m,
            &orbitd::member_paths(dir, m).journal,
        ));
    }
    journal.sort_by_key(|e| e.t);
    // Scenario 6 measures the return b -> a after a came back.
    let (tf, from, to) = match t.restore {
        Some(r) => (r, "b", "a"),
        None => (t.fault, "a", "b"),
    };
    // Probes still in flight at the end are not losses.
    let t1 = t.end - 300_000;
    let udp = analysis::stream_stats(&log.udp_stream(), t.start, tf, t1, from, to);
    let keepalive = analysis::stream_stats(&log.keepalive, t.start, tf, t1, from, to);
    let newconn = analysis::stream_stats(&log.newconn, t.start, tf, t1, from, to);
    let main = if mode == Mode::Haproxy {
        &keepalive
    } else {
        &udp
    };
    let moves = analysis::moves_after(&journal, t.fault);
    let mut r = RunResult {
        mode,
        scenario: sc,
        run,
        error: None,
        primary: primary(mode),
        failover: main.switched,
        outage_ms: main.outage_ms,
        lost: main.lost,
        requests: main.requests,
        false_failover: sc.must_not_fail_over() && (main.served_to > 0 || moves > 0),
        both_active_ms: main.both_active_ms,
        // Detection only means something where a failure is injected.
        detection_ms: matches!(sc.0, 2 | 3 | 6 | 8)
            .then(|| analysis::detection_ms(&journal, t.fault, "a"))
            .flatten(),
        // Measured at the site that takes the service over (it is the one
        // that must announce / write / program the new path).
        decision_to_confirmed_ms: analysis::decision_to_confirmed_ms(&journal, tf, to, to)
            .or_else(|| analysis::decision_to_confirmed_ms(&journal, tf, from, to)),
        failback_delay_ms: t.restore.and(main.first_to_ms),
        fault_command_ms: t.fault_command_ms,
        udp: udp.clone(),
        keepalive: keepalive.clone(),
        newconn: newconn.clone(),
        violations: Vec::new(),
        dir: keep.then(|| dir.display().to_string()),
    };
    if main.requests == 0 {
        r.violations
            .push(format!("the {} stream logged nothing", r.primary));
    }
    if sc.expects_failover() && !r.failover {
        r.violations
            .push(format!("traffic did not move {from} -> {to}"));
    }
    if r.false_failover {
        r.violations.push(format!(
            "false failover: {} replies from b, {moves} service moves in the journals{}",
            main.served_to,
            if moves == 0 {
                " (the edge moved the traffic without an orbit decision)"
            } else {
                ""
            }
        ));
    }
    if sc.0 == 1 {
        // Every stream must be lossless, except HTTP keep-alive in the L3
        // modes: a TCP connection set up with site a is reset when its
        // packets reach b (no shared connection state); that reset is
        // reported in `keepalive`, not counted as switchover loss. HAProxy
        // keeps the client's connection and switches per request.
        let udp_lost = if mode == Mode::Haproxy { 0 } else { udp.lost };
        let ka_lost = if mode == Mode::Haproxy {
            keepalive.lost
        } else {
            0
        };
        let lost = udp_lost + ka_lost + newconn.lost;
        if lost > 0 {
            r.violations.push(format!(
                "planned switchover lost {lost} (udp {udp_lost}, keep-alive {ka_lost}, new-connection {})",
                newconn.lost
            ));
        }
    }
    if sc.0 == 6 {
        if let Some(d) = r.failback_delay_ms {
            if d < FAILBACK_AFTER_MS as f64 {
                r.violations.push(format!(
                    "failback after {d:.0} ms, before the {FAILBACK_AFTER_MS} ms hold-down"
                ));
            }
        }
    }
    if !keep && r.violations.is_empty() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        r.dir = Some(dir.display().to_string());
    }
    r
}
