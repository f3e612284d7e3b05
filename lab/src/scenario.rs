//! The scenarios (1-8 of issue 8, 9 and 10 of issue 13, 11 and 12 of
//! issue 14, 13 and 14 of issue 21 on a three-site lab, 15 of issue 21 on
//! a lab where site a has two routers), each run on a freshly built lab,
//! and the numbers of one run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::analysis::{self, ProbeLog, StreamStats};
use crate::hog::{Hog, HogReport};
use crate::lab::{Forwarded, Lab};
use crate::orbitd::{self, Failback, Tuning, FAILBACK_AFTER_MS};
use crate::plan::Mode;
use crate::sys::{self, now_us, Proc};
use crate::transitions::{self, Move};

/// Scenario 9: how long a stays cut off after the failover, how long the
/// lab waits for it to rejoin, and how long it watches after that.
const HEAL_CUT_OFF_MS: u64 = 1500;
const REJOIN_LIMIT: Duration = Duration::from_secs(10);
const HEAL_WATCH_MS: u64 = 3000;

/// Scenario 10: a's control link flaps FLAPS x (down / up).
const FLAPS: usize = 5;
const FLAP_DOWN_MS: u64 = 350;
const FLAP_UP_MS: u64 = 1500;
/// Scenario 10's failback_after: longer than the whole flapping (5 x
/// 1.85 s), so whichever flaps the detectors catch, the rules allow one
/// move away and one deliberate move back, after the last flap. (With the
/// lab's 3 s, a failback would be due between two flaps that the
/// detectors happened to miss, and a next flap could move the traffic
/// away again: legal, but not the "at most once each way" of issue 13.)
const FLAP_FAILBACK_AFTER_MS: u64 = 10_000;

/// Scenario 11: how long a's orbitd may take to stop after SIGTERM (the
/// lab's `shutdown_grace` is 2 s, closing the backends up to 2 s more).
const STOP_LIMIT: Duration = Duration::from_secs(6);
/// Scenario 12: how long a's orbitd stays dead after `kill -9`, far within
/// the graceful-restart time it advertised (120 s by default).
const RESTART_AFTER_MS: u64 = 500;

/// Scenario 14: how long after a and b died the client may still be
/// answered (by c's pre-announced standby route, until c has fenced and
/// withdrawn it: `fence_after` is 200 ms in the lab's metro-fast profile).
const FENCED_SILENCE_AFTER_MS: i64 = 1500;

/// Scenario 15: how long after bird2 logged the end of a1's session its
/// route may still be in the kernel: bird flushes the session's routes and
/// its kernel protocol rewrites the multipath route after the state change
/// it logs. A UDP probe sent later than that and lost is a loss of orbit's
/// or of the lab's, not the edge's reconvergence.
const EDGE_FLUSH_US: i64 = 5_000;

/// The probe client's HTTP timeout (`probe.rs`): an HTTP failure is logged
/// up to this long after its request began.
const HTTP_TIMEOUT_US: i64 = 300_000;

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
            8 => "site dark, edge links up",
            9 => "heal after partition",
            10 => "flapping site (control link)",
            11 => "planned stop of the active orbitd (SIGTERM)",
            12 => "orbitd restart within GR (kill -9)",
            13 => "three sites: a dies",
            14 => "three sites: a and b die together",
            _ => "one of a's two routers dies",
        }
    }

    /// Must traffic move from a to b? (Scenario 10 may or may not: a
    /// 350 ms flap is about as long as detection takes.)
    pub fn expects_failover(self) -> bool {
        matches!(self.0, 1..=3 | 6 | 8 | 9 | 11 | 13)
    }

    /// Runs on the three-site lab (`--sites 3`), and only there.
    pub fn three_sites(self) -> bool {
        matches!(self.0, 13 | 14)
    }

    /// Runs on the lab where site a has two routers (`--routers 2`), and
    /// only there.
    pub fn two_routers(self) -> bool {
        self.0 == 15
    }

    /// The failback policy the scenario runs with. Scenario 9 runs with
    /// manual failback: any move after the failover is then a wrong one,
    /// whenever it comes.
    pub fn failback(self) -> Failback {
        match self.0 {
            9 => Failback::Manual,
            10 => Failback::After(FLAP_FAILBACK_AFTER_MS),
            _ => Failback::default(),
        }
    }

    pub fn must_not_fail_over(self) -> bool {
        matches!(self.0, 4 | 5 | 7 | 12 | 15)
    }

    /// Every probe must be answered: the planned moves, and a restart that
    /// graceful restart covers.
    pub fn lossless(self) -> bool {
        matches!(self.0, 1 | 11 | 12)
    }

    /// Scenario 11 runs with the standby announcing nothing (`[bgp]
    /// standby = "withdraw"`): the case where a stop that breaks before it
    /// makes leaves the upstream without any route.
    pub fn standby_withdraw(self) -> bool {
        self.0 == 11
    }
}

/// Everything measured in one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub mode: Mode,
    pub scenario: Scenario,
    pub run: u32,
    /// The run had the CPU hog (`--hog`) beside it.
    pub hog: bool,
    /// What the hog did (None without `--hog`).
    pub hog_stats: Option<HogReport>,
    /// The members' multihop BFD interval (ms, x 3) of the run; None: off.
    pub member_bfd_ms: Option<u32>,
    /// The members' BFD sessions Up at a and b (4: all) before the run's
    /// window; None where member BFD is off.
    pub member_bfd_up: Option<usize>,
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
    /// Scenarios 2, 8, 9 and 10: how long the `ip` / `nft` command that
    /// injected the failure took (the fault counts from its end).
    pub fault_command_ms: Option<f64>,
    /// Scenarios 9 and 10: every change of the site answering the primary
    /// stream.
    pub moves: Vec<Move>,
    /// Scenario 9: the longest time without an answer after the heal.
    pub heal_silence_ms: Option<f64>,
    /// Scenario 9: from the heal until a had rejoined (b sees it alive, a
    /// has authority).
    pub rejoin_ms: Option<f64>,
    /// Scenario 10: from the last Dead(a) declaration before it to the
    /// traffic's last return to a.
    pub failback_after_dead_ms: Option<f64>,
    /// Scenario 11: from SIGTERM until a's orbitd had exited.
    pub stop_ms: Option<f64>,
    /// Scenario 12: from `kill -9` until a's orbitd was started again.
    pub restart_ms: Option<f64>,
    /// Scenarios 13 and 14: every service's active site as c's orbitd
    /// steered it at the end, and whether c was fenced.
    pub placement_at_c: Option<BTreeMap<String, Option<String>>>,
    pub fenced_at_c: Option<bool>,
    /// Scenario 14: from the fault to the client's last answer (c's
    /// standby route served until c fenced).
    pub served_after_ms: Option<f64>,
    /// Scenario 15: what one of a's two routers dying did.
    pub router_death: Option<RouterDeath>,
    pub udp: StreamStats,
    pub keepalive: StreamStats,
    pub newconn: StreamStats,
    /// Violations of what the scenario must show (empty: passed).
    pub violations: Vec<String>,
    pub dir: Option<String>,
}

/// Scenario 15 (`--routers 2`): one of a's two routers dies (links cut,
/// orbitd killed), the other carries on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouterDeath {
    /// The router that died: the one the client's UDP stream went through
    /// (the edge spreads flows over a1 and a2 by their ports), so that the
    /// primary stream's losses are the dead router's; and the other one.
    pub died: String,
    pub survivor: String,
    /// Packets toward the service each router had forwarded before the
    /// fault (both above 0: the edge used both routers), and the
    /// survivor's after it.
    pub forwarded_before: BTreeMap<String, Forwarded>,
    pub survivor_after: Forwarded,
    /// From the start of the cut to bird2 ending the dead router's session
    /// (its route goes with it), and what bird logged about it just before
    /// (the cause).
    pub edge_reconvergence_ms: Option<f64>,
    pub edge_cause: Option<String>,
    /// Lost UDP probes sent outside the edge's window (from the start of
    /// the cut to 5 ms after its reconvergence), and HTTP failures
    /// (keep-alive and new connections) logged later than the HTTP timeout
    /// after that window: 0, or something besides the edge lost them.
    pub udp_lost_outside: u64,
    pub http_lost_outside: u64,
    /// HTTP failures in the whole window (keep-alive, new connections).
    pub http_lost: u64,
    /// From the fault to the first decision declaring the dead router dead
    /// as a member.
    pub member_dead_ms: Option<f64>,
    /// Where the survivor and b steer web at the end, and whether either is
    /// fenced.
    pub web_at_survivor: Option<String>,
    pub web_at_b: Option<String>,
    pub fenced: bool,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub prefix: String,
    pub root: std::path::PathBuf,
    /// The run's orbitd tuning before the scenario's own (failback,
    /// standby).
    pub tuning: Tuning,
    pub keep: bool,
    pub rate: u32,
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Builds a lab, runs the scenario (with the CPU hog beside it if `hog`),
/// tears the lab down, analyses.
pub fn run(mode: Mode, sc: Scenario, run: u32, hog: bool, opts: &RunOptions) -> RunResult {
    let label = crate::plan::mode_label(mode, hog);
    let dir = opts.root.join(format!("{label}-s{}-r{run}", sc.0));
    // A run starts from nothing: logs are appended (sys::Proc::spawn) and
    // orbitd would restore a state file an earlier run left in this
    // directory (same --out).
    let _ = std::fs::remove_dir_all(&dir);
    let prefix = format!(
        "{}{}{}{}{}",
        opts.prefix,
        mode.short(),
        if hog { "H" } else { "" },
        sc.0,
        run
    );
    let analysed = drive(mode, sc, hog, &prefix, &dir, opts).and_then(|t| {
        let journal = read_journals(mode, &dir, &opts.tuning)?;
        Ok(analyse(mode, sc, run, &dir, &t, &journal, opts.keep))
    });
    let mut r = analysed.unwrap_or_else(|e| failed(mode, sc, run, &dir, &e));
    r.hog = hog;
    r.member_bfd_ms = opts.tuning.member_bfd(mode);
    r
}

/// The members' journals, merged in time order (none in the ExaBGP
/// baseline, which runs no orbitd). One the lab cannot read fails the
/// run: read as empty it would report "no failover".
fn read_journals(mode: Mode, dir: &Path, tuning: &Tuning) -> Result<Vec<analysis::Entry>> {
    let mut journal = Vec::new();
    if mode.orbit() {
        for m in tuning.members() {
            journal.extend(crate::journal::read(
                m,
                &orbitd::member_paths(dir, m).journal,
            )?);
        }
    }
    journal.sort_by_key(|e| e.t);
    Ok(journal)
}

/// A run the lab could not build, drive or read.
fn failed(mode: Mode, sc: Scenario, run: u32, dir: &Path, e: &anyhow::Error) -> RunResult {
    RunResult {
        mode,
        scenario: sc,
        run,
        hog: false,
        hog_stats: None,
        member_bfd_ms: None,
        member_bfd_up: None,
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
        moves: Vec::new(),
        heal_silence_ms: None,
        rejoin_ms: None,
        failback_after_dead_ms: None,
        stop_ms: None,
        restart_ms: None,
        placement_at_c: None,
        fenced_at_c: None,
        served_after_ms: None,
        router_death: None,
        udp: StreamStats::default(),
        keepalive: StreamStats::default(),
        newconn: StreamStats::default(),
        violations: vec![format!("run failed: {e:#}")],
        dir: Some(dir.display().to_string()),
    }
}

/// A run that passed with nothing measured yet (report tests).
#[cfg(test)]
pub(crate) fn test_result(mode: Mode, sc: Scenario, run: u32, hog: bool) -> RunResult {
    let mut r = failed(
        mode,
        sc,
        run,
        Path::new("/nonexistent"),
        &anyhow::anyhow!("-"),
    );
    r.error = None;
    r.violations.clear();
    r.hog = hog;
    r
}

fn primary(mode: Mode) -> &'static str {
    if mode == Mode::Haproxy {
        "http-keepalive"
    } else {
        "udp"
    }
}

/// Times of one run, Unix µs, and what ran beside it.
#[derive(Debug)]
struct Timeline {
    hog: Option<HogReport>,
    member_bfd_up: Option<usize>,
    start: i64,
    fault: i64,
    fault_command_ms: Option<f64>,
    /// Scenario 6: when a came back.
    restore: Option<i64>,
    /// Scenarios 9 and 10: when a's links came back (each flap).
    heals: Vec<i64>,
    /// Scenario 9: when a had rejoined.
    rejoined: Option<i64>,
    /// Scenario 11: a's orbitd exit code and how long it took to stop (ms).
    stopped: Option<(Option<i32>, f64)>,
    /// Scenario 12: when a's orbitd was started again.
    restarted: Option<i64>,
    /// Scenarios 13 and 14: c's placement of every service, and whether
    /// c was fenced, at the end.
    placement_at_c: Option<(BTreeMap<String, Option<String>>, bool)>,
    /// Scenario 15: what a1 and a2 forwarded, and the survivor's and b's
    /// placement.
    routers: Option<RoutersSeen>,
    end: i64,
}

/// Scenario 15: which router died, what each had forwarded toward the
/// service before the fault, the survivor's after it, and where the
/// survivor and b steer every service at the end (and whether they are
/// fenced).
#[derive(Debug, Default)]
struct RoutersSeen {
    died: &'static str,
    survivor: &'static str,
    before: BTreeMap<String, Forwarded>,
    survivor_after: Forwarded,
    at_survivor: Option<(BTreeMap<String, Option<String>>, bool)>,
    at_b: Option<(BTreeMap<String, Option<String>>, bool)>,
}

fn drive(
    mode: Mode,
    sc: Scenario,
    hog: bool,
    prefix: &str,
    dir: &Path,
    opts: &RunOptions,
) -> Result<Timeline> {
    let _ = std::fs::remove_dir_all(dir);
    let tuning = Tuning {
        failback: sc.failback(),
        standby_withdraw: sc.standby_withdraw(),
        ..opts.tuning
    };
    let mut lab = Lab::up(mode, prefix, dir, tuning, true, true)?;
    // From the steady lab to the end of the probe stream: the fault, the
    // detectors' reaction and everything the client sees. (Dropped on any
    // error below, which kills it.)
    let hog = hog.then(|| Hog::start(prefix, dir)).transpose()?;
    let member_bfd_up = tuning
        .member_bfd(mode)
        .map(|_| lab.routers().iter().map(|s| lab.member_bfd_up(s)).sum());
    if tuning.two_routers {
        lab.count_forwarded()?;
    }
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
    let mut heals = Vec::new();
    let mut rejoined = None;
    let mut stopped = None;
    let mut restarted = None;
    let mut placement_at_c = None;
    let mut routers = None;
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
            wait_failover(&lab, sc)?;
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
        7 => {
            let pid = lab.proc("orbitd-a")?.pid();
            sys::run("kill", &["-STOP", &pid.to_string()])?;
            sleep_ms(2000);
            sys::run("kill", &["-CONT", &pid.to_string()])?;
            sleep_ms(3000);
        }
        9 => {
            lab.cut_site("a")?;
            fault = fault_applied(fault, &mut fault_command_ms);
            wait_failover(&lab, sc)?;
            sleep_ms(HEAL_CUT_OFF_MS);
            heals.push(lab.restore_site("a")?);
            if wait_until(Instant::now() + REJOIN_LIMIT, || lab.rejoined("a")) {
                rejoined = Some(now_us());
            }
            sleep_ms(HEAL_WATCH_MS);
        }
        10 => {
            for flap in 0..FLAPS {
                let started = now_us();
                lab.control_link("a", false)?;
                if flap == 0 {
                    fault = fault_applied(started, &mut fault_command_ms);
                }
                sleep_ms(FLAP_DOWN_MS);
                lab.control_link("a", true)?;
                heals.push(now_us());
                sleep_ms(FLAP_UP_MS);
            }
            // If the traffic moved away, the one deliberate failback: the
            // client on a and orbit at b steering web to a.
            let deadline = Instant::now() + Duration::from_millis(FLAP_FAILBACK_AFTER_MS + 8000);
            if wait_until(deadline, || {
                lab.ask().as_deref() == Some("a") && lab.steered_to("b").as_deref() == Some("a")
            }) {
                sleep_ms(1000);
            }
        }
        11 => {
            let mut orbitd = lab
                .procs
                .remove("orbitd-a")
                .ok_or_else(|| anyhow::anyhow!("orbitd-a is not running"))?;
            sys::run("kill", &["-TERM", &orbitd.pid().to_string()])?;
            let deadline = Instant::now() + STOP_LIMIT;
            let status = loop {
                if let Some(status) = orbitd.child.try_wait()? {
                    break status;
                }
                if Instant::now() >= deadline {
                    bail!("orbitd-a did not exit within {STOP_LIMIT:?} of SIGTERM");
                }
                sleep_ms(10);
            };
            stopped = Some((status.code(), analysis::ms(now_us() - fault)));
            sleep_ms(3000);
        }
        12 => {
            let pid = lab.proc("orbitd-a")?.pid();
            sys::run("kill", &["-KILL", &pid.to_string()])?;
            fault = fault_applied(fault, &mut fault_command_ms);
            drop(lab.procs.remove("orbitd-a"));
            sleep_ms(RESTART_AFTER_MS);
            restarted = Some(now_us());
            lab.start_orbitd("a")?;
            sleep_ms(5000);
        }
        13 => {
            lab.cut_site("a")?;
            fault = fault_applied(fault, &mut fault_command_ms);
            sleep_ms(4000);
            placement_at_c = lab.placement("c");
        }
        14 => {
            // Both sites at once: one `ip -batch` each, back to back.
            lab.cut_site("a")?;
            lab.cut_site("b")?;
            fault = fault_applied(fault, &mut fault_command_ms);
            sleep_ms(4000);
            placement_at_c = lab.placement("c");
        }
        15 => {
            let before: BTreeMap<String, Forwarded> = crate::plan::ROUTERS_A
                .iter()
                .map(|r| ((*r).to_owned(), lab.forwarded(r)))
                .collect();
            let [a1, a2] = crate::plan::ROUTERS_A;
            let (died, survivor) = if before[a2].udp > before[a1].udp {
                (a2, a1)
            } else {
                (a1, a2)
            };
            // The router dies: its links go (the edge's port loses its
            // carrier, as in scenario 2), and so does its orbitd, with
            // nothing left to send anything on.
            lab.cut_site(died)?;
            fault = fault_applied(fault, &mut fault_command_ms);
            let name = format!("orbitd-{died}");
            let pid = lab.proc(&name)?.pid();
            sys::run("kill", &["-KILL", &pid.to_string()])?;
            drop(lab.procs.remove(&name));
            let at_fault = lab.forwarded(survivor);
            sleep_ms(4000);
            let after = lab.forwarded(survivor);
            routers = Some(RoutersSeen {
                died,
                survivor,
                before,
                survivor_after: Forwarded {
                    all: after.all.saturating_sub(at_fault.all),
                    udp: after.udp.saturating_sub(at_fault.udp),
                },
                at_survivor: lab.placement(survivor),
                at_b: lab.placement("b"),
            });
        }
        n => bail!("unknown scenario {n}"),
    }
    let end = now_us();
    probe.finish(Duration::from_secs(5))?;
    let hog = hog.map(Hog::stop).transpose()?;
    for (name, p) in lab.procs.iter_mut() {
        if name.starts_with("orbitd") {
            p.check_alive()?;
        }
    }
    drop(lab);
    Ok(Timeline {
        hog,
        member_bfd_up,
        start,
        fault,
        fault_command_ms,
        restore,
        heals,
        rejoined,
        stopped,
        restarted,
        placement_at_c,
        routers,
        end,
    })
}

/// Waits for the failover after a's links were cut: the client on b and
/// orbit at b steering web to b. The edge moves the client by itself (bird
/// drops the route of a dead link, OVS's fast-failover group skips the
/// dead port) before orbit has decided anything; what comes after the cut
/// (a return, a heal) must start from orbit's failover, not the edge's.
fn wait_failover(lab: &Lab, sc: Scenario) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(8);
    let moved = wait_served(lab, "b", Duration::from_secs(8))
        && wait_until(deadline, || lab.steered_to("b").as_deref() == Some("b"));
    if !moved {
        bail!(
            "scenario {}: no failover to b (client and orbit at b) within 8 s of cutting a",
            sc.0
        );
    }
    Ok(())
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

fn analyse(
    mode: Mode,
    sc: Scenario,
    run: u32,
    dir: &Path,
    t: &Timeline,
    journal: &[analysis::Entry],
    keep: bool,
) -> RunResult {
    let log = ProbeLog::read(&dir.join("probe.log")).unwrap_or_default();
    // Scenario 6 measures the return b -> a after a came back.
    let (tf, from, to) = match (t.restore, sc.0) {
        (Some(r), _) => (r, "b", "a"),
        // The only site left is c (which must not keep serving).
        (None, 14) => (t.fault, "a", "c"),
        (None, _) => (t.fault, "a", "b"),
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
    let moves = analysis::moves_after(journal, t.fault);
    let mut r = RunResult {
        mode,
        scenario: sc,
        run,
        hog: t.hog.is_some(),
        hog_stats: t.hog.clone(),
        member_bfd_ms: None,
        member_bfd_up: t.member_bfd_up,
        error: None,
        primary: primary(mode),
        failover: main.switched,
        outage_ms: main.outage_ms,
        lost: main.lost,
        requests: main.requests,
        false_failover: sc.must_not_fail_over() && (main.served_to > 0 || moves > 0),
        both_active_ms: main.both_active_ms,
        // Detection only means something where a failure is injected.
        detection_ms: matches!(sc.0, 2 | 3 | 6 | 8 | 9 | 10 | 12 | 13 | 14)
            .then(|| analysis::detection_ms(journal, t.fault, "a"))
            .flatten(),
        // Measured at the site that takes the service over (it is the one
        // that must announce / write / program the new path).
        decision_to_confirmed_ms: analysis::decision_to_confirmed_ms(journal, tf, to, to)
            .or_else(|| analysis::decision_to_confirmed_ms(journal, tf, from, to)),
        failback_delay_ms: t.restore.and(main.first_to_ms),
        fault_command_ms: t.fault_command_ms,
        moves: Vec::new(),
        heal_silence_ms: None,
        rejoin_ms: None,
        failback_after_dead_ms: None,
        stop_ms: t.stopped.map(|(_, ms)| ms),
        restart_ms: t.restarted.map(|r| analysis::ms(r - t.fault)),
        placement_at_c: t.placement_at_c.as_ref().map(|(p, _)| p.clone()),
        fenced_at_c: t.placement_at_c.as_ref().map(|(_, f)| *f),
        served_after_ms: None,
        router_death: None,
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
    if sc.lossless() {
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
                "{} lost {lost} (udp {udp_lost}, keep-alive {ka_lost}, new-connection {})",
                sc.name(),
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
    if sc.0 == 11 {
        match t.stopped {
            Some((Some(0), _)) => {}
            Some((code, _)) => r.violations.push(format!(
                "a's orbitd exited with {code:?} after SIGTERM, not 0"
            )),
            None => r.violations.push("a's orbitd was not stopped".to_owned()),
        }
        r.violations
            .extend(transitions::majority_harmed(journal, t.start));
        if transitions::last_declared_dead(journal, "a", t.end).is_some() {
            r.violations
                .push("a quorum declared a dead: a planned stop is not a failure".to_owned());
        }
    }
    if sc.three_sites() {
        check_three_sites(&mut r, t, &log.udp_stream());
    }
    if sc.two_routers() {
        let bird = std::fs::read_to_string(dir.join("bird").join("bird.log")).unwrap_or_default();
        check_router_death(&mut r, t, &log, &bird, journal, t1);
    }
    if matches!(sc.0, 9 | 10) {
        let stream = if mode == Mode::Haproxy {
            log.keepalive.clone()
        } else {
            log.udp_stream()
        };
        check_transitions(&mut r, t, &stream, journal, t1);
    }
    if !keep && r.violations.is_empty() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        r.dir = Some(dir.display().to_string());
    }
    r
}

/// Scenarios 13 and 14: where c's orbitd placed every service, and (14)
/// that nobody serves once c has fenced.
fn check_three_sites(r: &mut RunResult, t: &Timeline, stream: &[analysis::Reply]) {
    let Some((placement, fenced)) = &t.placement_at_c else {
        r.violations
            .push("c's orbitd did not answer at the end".to_owned());
        return;
    };
    let at = |site: &str| Some(site.to_owned());
    if r.scenario.0 == 13 {
        // Each of a's services on its own next preference; b's and c's
        // where they were (crate::plan::SERVICES3).
        let want: BTreeMap<String, Option<String>> = [
            ("web", at("b")),
            ("api", at("c")),
            ("db", at("b")),
            ("mail", at("c")),
        ]
        .into_iter()
        .map(|(s, a)| (s.to_owned(), a))
        .collect();
        if *fenced || placement != &want {
            r.violations.push(format!(
                "after a died c places {placement:?} (fenced: {fenced}), not {want:?}"
            ));
        }
        return;
    }
    // 14: c and w are 2 of 4 members, below the quorum of 3.
    if !fenced {
        r.violations.push(format!(
            "c is not fenced after a and b died (2 of 4 members); it places {placement:?}"
        ));
    }
    let last = stream
        .iter()
        .filter(|x| x.t >= t.fault && x.site.is_some())
        .map(|x| x.t)
        .max();
    r.served_after_ms = last.map(|l| analysis::ms(l - t.fault));
    if let Some(l) = last.filter(|l| l - t.fault > FENCED_SILENCE_AFTER_MS * 1000) {
        r.violations.push(format!(
            "the client was still answered {:.0} ms after a and b died: c should have fenced and withdrawn",
            analysis::ms(l - t.fault)
        ));
    }
}

/// Scenario 15: one of a's routers died, and nothing but the edge's own
/// reconvergence may cost the client anything: both routers carried
/// traffic before, the survivor after; every probe lost was sent between
/// the start of the cut and bird2 dropping the dead router's session (plus
/// the route flush); the dead router was declared dead as a member, site a
/// never; the survivor and b still steer web to a, unfenced (b stays
/// standby). (No reply from b and no service moved in any journal:
/// `must_not_fail_over`.)
fn check_router_death(
    r: &mut RunResult,
    t: &Timeline,
    log: &ProbeLog,
    bird: &str,
    journal: &[analysis::Entry],
    t1: i64,
) {
    let Some(seen) = &t.routers else {
        r.violations.push("scenario 15 saw no routers".to_owned());
        return;
    };
    let from = t.fault - (t.fault_command_ms.unwrap_or(0.0) * 1000.0) as i64;
    let edge = analysis::edge_session_down(bird, &format!("site_{}", seen.died), from);
    let until = edge.as_ref().map_or(from, |(down, _)| down + EDGE_FLUSH_US);
    let http: Vec<analysis::Reply> = log.keepalive.iter().chain(&log.newconn).cloned().collect();
    let web = |at: &Option<(BTreeMap<String, Option<String>>, bool)>| {
        at.as_ref()
            .and_then(|(placement, _)| placement.get("web").cloned().flatten())
    };
    let d = RouterDeath {
        died: seen.died.to_owned(),
        survivor: seen.survivor.to_owned(),
        forwarded_before: seen.before.clone(),
        survivor_after: seen.survivor_after,
        edge_reconvergence_ms: edge.as_ref().map(|(down, _)| analysis::ms(down - from)),
        edge_cause: edge.as_ref().map(|(_, cause)| cause.clone()),
        udp_lost_outside: analysis::lost_outside(&log.udp_stream(), t.start, t1, from, until, 0),
        http_lost_outside: analysis::lost_outside(&http, t.start, t1, from, until, HTTP_TIMEOUT_US),
        http_lost: r.keepalive.lost + r.newconn.lost,
        member_dead_ms: analysis::member_dead_ms(journal, t.fault, seen.died),
        web_at_survivor: web(&seen.at_survivor),
        web_at_b: web(&seen.at_b),
        fenced: [&seen.at_survivor, &seen.at_b]
            .iter()
            .any(|at| at.as_ref().is_some_and(|(_, fenced)| *fenced)),
    };
    r.detection_ms = d.member_dead_ms;
    if d.forwarded_before.values().any(|f| f.all == 0) {
        r.violations.push(format!(
            "the edge did not use both of a's routers before the fault (forwarded: {:?})",
            d.forwarded_before
        ));
    }
    if d.survivor_after.all == 0 {
        r.violations.push(format!(
            "{} forwarded nothing after {} died",
            d.survivor, d.died
        ));
    }
    if edge.is_none() {
        r.violations.push(format!(
            "bird2 never ended {}'s session after the fault",
            d.died
        ));
    }
    if d.udp_lost_outside > 0 || d.http_lost_outside > 0 {
        r.violations.push(format!(
            "lost beyond the edge's own reconvergence: {} UDP probes, {} HTTP requests",
            d.udp_lost_outside, d.http_lost_outside
        ));
    }
    if d.member_dead_ms.is_none() {
        r.violations
            .push(format!("no member declared {} dead", d.died));
    }
    if transitions::last_declared_dead(journal, "a", t.end).is_some_and(|dead| dead >= t.start) {
        r.violations.push(format!(
            "a quorum declared site a dead while {} was alive",
            d.survivor
        ));
    }
    let a = Some("a".to_owned());
    if d.web_at_survivor != a || d.web_at_b != a || d.fenced {
        r.violations.push(format!(
            "after {} died web is at {:?} for {} and {:?} for b (fenced: {}), not a for both",
            d.died, d.web_at_survivor, d.survivor, d.web_at_b, d.fenced
        ));
    }
    r.router_death = Some(d);
}

/// Scenarios 9 and 10 (`transitions.rs`): the moves of the primary stream,
/// the silence after a heal, and what the journals say about b and w.
fn check_transitions(
    r: &mut RunResult,
    t: &Timeline,
    stream: &[analysis::Reply],
    journal: &[analysis::Entry],
    t1: i64,
) {
    r.moves = transitions::moves(stream, t.start, t1);
    let harmed = transitions::majority_harmed(journal, t.start);
    let allowed_moves = if r.scenario.0 == 9 { 1 } else { 2 };
    r.false_failover = !harmed.is_empty() || r.moves.len() > allowed_moves;
    r.violations.extend(harmed);
    if r.scenario.0 == 9 {
        let Some(heal) = t.heals.first().copied() else {
            r.violations
                .push("scenario 9: a was never healed".to_owned());
            return;
        };
        let silence = transitions::longest_silence_ms(stream, heal, t1);
        r.heal_silence_ms = Some(silence);
        r.rejoin_ms = t.rejoined.map(|j| analysis::ms(j - heal));
        if t.rejoined.is_none() {
            r.violations.push(format!(
                "a did not rejoin within {REJOIN_LIMIT:?} of the heal"
            ));
        }
        r.violations.extend(transitions::heal_violations(
            &r.moves, journal, t.fault, heal, silence,
        ));
    } else {
        r.failback_after_dead_ms = r
            .moves
            .iter()
            .rfind(|m| m.to == "a")
            .and_then(|back| {
                transitions::last_declared_dead(journal, "a", back.t).map(|d| back.t - d)
            })
            .map(analysis::ms);
        r.violations.extend(transitions::flap_violations(
            &r.moves,
            journal,
            FLAP_FAILBACK_AFTER_MS,
        ));
    }
}
