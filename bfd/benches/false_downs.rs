//! False BFD Downs on a busy host (not a test; run with `cargo bench`).
//!
//! Three network namespaces joined in a triangle of veth links, one
//! multihop session (RFC 5883, as between orbit's members) on each link at
//! 10 ms × 3 (`--interval`), run by real helper processes: this binary started again as
//! `--helper`, which runs `orbit_bfd::driver::helper::serve`, the code
//! orbitd's `bfd-helper` runs, through the same `helper::spawn` API. Two
//! variants run side by side on the same links (so both see the same
//! host): the helpers of "realtime" ask for SCHED_FIFO and locked memory,
//! those of "normal" do not (another BFD port). Nothing ever cuts a link,
//! so a Down means that a session end did not hear its peer for the
//! detection time although the network carried everything: either the
//! peer's helper did not run (the host stopped it: it did not send), or
//! the detecting end misjudged. Each helper records its own stalls
//! (`DriverStatus::recent_stalls`); a Down whose peer had stalled for the
//! detection time less one interval right before it is a true detection
//! of a peer that went silent, reported in its own column. The others are
//! the false Downs. Phases, one after the other:
//! with a CPU hog (`stress-ng --cpu 2`, one worker per core of this box)
//! for `--minutes` (default 10), then without it for half as long (the
//! baseline). Fresh helpers per phase.
//!
//! ```sh
//! cargo bench -p orbit-bfd --bench false_downs                 # 10 + 5 minutes
//! cargo bench -p orbit-bfd --bench false_downs -- --minutes 30 # 30 + 15
//! cargo bench -p orbit-bfd --bench false_downs -- --quick      # 20 s + 10 s smoke run
//! cargo bench -p orbit-bfd --bench false_downs -- --interval 50 # 50 ms x 3 instead of 10
//! cargo bench -p orbit-bfd --bench false_downs -- --pin-cpu 0   # every helper on CPU 0
//! ```
//!
//! `--pin-cpu N` runs every helper on CPU N only (`taskset`): a stall of
//! one CPU then stops all three "routers" together, as a stall of a whole
//! host stops one router, instead of stopping some of them while the
//! others, on the other CPU, see them fall silent.
//!
//! Needs root and `stress-ng`. Namespaces, helpers and the hog are removed
//! on exit, on panic (`Drop`) and on Ctrl-C.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orbit_bfd::{BfdEvent, BfdHandle, DriverConfig, Hop, PeerConfig, SessionKey, Timing};
use orbit_tests::netns::{Netns, Veth};
use tokio::sync::mpsc;

const NAMESPACES: [&str; 3] = ["a", "b", "c"];
/// The links of the triangle: (from, to, /30).
const LINKS: [(usize, usize, &str); 3] = [
    (0, 1, "10.81.0.0"),
    (1, 2, "10.81.0.4"),
    (0, 2, "10.81.0.8"),
];
/// Two ends of one session that go Down within this of each other are
/// one false Down (the one that detected it tells the other).
const SAME_INCIDENT: Duration = Duration::from_secs(1);
/// How long the hog's start-up is given before the steady state counts.
const HOG_START: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    Realtime,
    Normal,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Realtime => "realtime (SCHED_FIFO, mlockall)",
            Variant::Normal => "normal (SCHED_OTHER)",
        }
    }

    /// Each variant on its own multihop port, so both run on the same links.
    fn port(self) -> u16 {
        match self {
            Variant::Realtime => orbit_bfd::MULTI_HOP_PORT,
            Variant::Normal => 14_784,
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if args.iter().any(|a| a == "--helper") {
        return runtime.block_on(helper(&args));
    }
    let (hog, baseline) = if args.iter().any(|a| a == "--quick") {
        (Duration::from_secs(20), Duration::from_secs(10))
    } else {
        let minutes: f64 = args
            .iter()
            .position(|a| a == "--minutes")
            .and_then(|i| args.get(i + 1))
            .map_or(10.0, |m| m.parse().expect("--minutes N: a number"));
        let d = Duration::from_secs_f64(minutes * 60.0);
        (d, d / 2)
    };
    let interval = args
        .iter()
        .position(|a| a == "--interval")
        .and_then(|i| args.get(i + 1))
        .map_or(10, |ms| ms.parse().expect("--interval MS: milliseconds"));
    let pin_cpu: Option<usize> = args
        .iter()
        .position(|a| a == "--pin-cpu")
        .and_then(|i| args.get(i + 1))
        .map(|c| c.parse().expect("--pin-cpu N: a CPU number"));
    orbit_tests::assert_root("the false_downs bench");
    which("stress-ng");
    runtime.block_on(bench(
        hog,
        baseline,
        Duration::from_millis(interval),
        pin_cpu,
    ))
}

/// `--helper [--multi-hop-port P] [--no-realtime]`: what `orbitd
/// bfd-helper` does, for this bench's own binary.
async fn helper(args: &[String]) -> std::process::ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    // Like orbitd's helper: a Ctrl-C for the whole group must not end the
    // sessions under the bench; it exits when the bench closes its stdin.
    let _ignored: Vec<_> = [SignalKind::interrupt(), SignalKind::terminate()]
        .into_iter()
        .map(|k| signal(k).expect("signal handler"))
        .collect();
    let port = args
        .iter()
        .position(|a| a == "--multi-hop-port")
        .and_then(|i| args.get(i + 1))
        .map_or(orbit_bfd::MULTI_HOP_PORT, |p| p.parse().expect("port"));
    let config = DriverConfig {
        multi_hop_port: port,
        ..DriverConfig::default()
    };
    let realtime = !args.iter().any(|a| a == "--no-realtime");
    match orbit_bfd::driver::helper::serve(config, realtime).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("false_downs helper: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn which(program: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{program} is not installed (Debian package {program}; scripts/install-deps.sh)"
    );
}

struct Lab {
    namespaces: Vec<Netns>,
    /// `--pin-cpu`: the one CPU every helper runs on.
    pin_cpu: Option<usize>,
    /// (from, to, from's address, to's address) per link.
    links: Vec<(usize, usize, IpAddr, IpAddr)>,
}

impl Lab {
    fn new(pin_cpu: Option<usize>) -> Lab {
        let namespaces: Vec<Netns> = NAMESPACES.iter().map(|n| Netns::new(n)).collect();
        let links = LINKS
            .iter()
            .map(|(x, y, net)| {
                let v = Veth::new(&namespaces[*x], &namespaces[*y], net.parse().expect("net"));
                (*x, *y, IpAddr::V4(v.a_addr), IpAddr::V4(v.b_addr))
            })
            .collect();
        Lab {
            namespaces,
            pin_cpu,
            links,
        }
    }

    fn session_name(&self, i: usize) -> String {
        let (x, y, ..) = self.links[i];
        format!("{}-{}", NAMESPACES[x], NAMESPACES[y])
    }
}

/// `stress-ng --cpu 2`, stopped on drop; its own `--timeout` ends it
/// should this process be killed outright.
struct Hog(Child);

impl Hog {
    fn start(for_at_most: Duration) -> Hog {
        let timeout = format!("{}s", for_at_most.as_secs() + 60);
        let child = Command::new("stress-ng")
            .args(["--cpu", "2", "--timeout", &timeout, "--quiet"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start stress-ng");
        Hog(child)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        // SIGTERM: stress-ng stops its workers and exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// One variant's helpers, one per namespace.
struct Helpers {
    variant: Variant,
    handles: Vec<BfdHandle>,
}

/// What one phase measured for one variant.
struct Row {
    variant: Variant,
    hog: bool,
    ran: Duration,
    /// Per session: its Downs ([`Incidents`]) and when they came.
    sessions: Vec<(Incidents, Vec<Duration>)>,
    gaps: Vec<Option<Duration>>,
    granted: Vec<orbit_bfd::Realtime>,
    /// The helpers' loops' worst lateness waking for a timer.
    late_wakes: Vec<Duration>,
    /// Detection expiries held over a stall of the loop itself
    /// (`Counters::stall_holds`), all session ends together.
    stall_holds: u64,
    /// False Downs while the hog started (not in `sessions`).
    startup_downs: usize,
    /// The host's CPU while measuring: busy, softirq, steal (%).
    cpu: (f64, f64, f64),
}

impl Row {
    fn downs(&self) -> usize {
        self.sessions.iter().map(|(n, _)| n.all).sum()
    }

    fn peer_stalled(&self) -> usize {
        self.sessions.iter().map(|(n, _)| n.peer_stalled).sum()
    }

    fn false_downs(&self) -> usize {
        self.downs() - self.peer_stalled()
    }

    fn session_minutes(&self) -> f64 {
        self.sessions.len() as f64 * self.ran.as_secs_f64() / 60.0
    }
}

async fn start_helpers(
    lab: &Lab,
    variant: Variant,
    interval: Duration,
    events: &mpsc::UnboundedSender<(Variant, usize, BfdEvent)>,
) -> Helpers {
    let exe = std::env::current_exe().expect("own binary");
    let exe = exe.to_str().expect("utf-8 path");
    let port = variant.port().to_string();
    let cpu = lab.pin_cpu.map(|c| c.to_string());
    let mut handles = Vec::new();
    for (i, ns) in lab.namespaces.iter().enumerate() {
        let mut args = vec!["netns", "exec", &ns.name];
        if let Some(cpu) = &cpu {
            args.extend(["taskset", "-c", cpu]);
        }
        args.extend([exe, "--helper", "--multi-hop-port", &port]);
        if variant == Variant::Normal {
            args.push("--no-realtime");
        }
        let (handle, mut rx) = orbit_bfd::driver::helper::spawn("ip", &args).expect("helper");
        let tx = events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if tx.send((variant, i, ev)).is_err() {
                    return;
                }
            }
        });
        handles.push(handle);
    }
    let timing = Timing::new(interval, interval, 3);
    for &(x, y, x_addr, y_addr) in &lab.links {
        for (from, local, peer) in [(x, x_addr, y_addr), (y, y_addr, x_addr)] {
            handles[from]
                .add_session(PeerConfig {
                    peer,
                    local,
                    hop: Hop::Multi { min_ttl: None },
                    timing,
                    auth: None,
                    control_plane_independent: false,
                })
                .await
                .expect("add session");
        }
    }
    Helpers { variant, handles }
}

/// Which session (index into `Lab::links`) an event at `ns` is about.
fn session_of(lab: &Lab, ns: usize, key: SessionKey) -> usize {
    lab.links
        .iter()
        .position(|&(x, y, xa, ya)| {
            (ns == x && key.local == xa && key.peer == ya)
                || (ns == y && key.local == ya && key.peer == xa)
        })
        .expect("a session of the lab")
}

/// Every session end's state, as its events said.
type Ends = BTreeMap<(Variant, usize, usize), bool>;

/// Takes events for at least `at_least` and then until every end of every
/// session of both variants is Up; the Downs meanwhile, per variant and
/// session (the hog's start-up, reported apart from the steady state).
async fn settle(
    lab: &Lab,
    events: &mut mpsc::UnboundedReceiver<(Variant, usize, BfdEvent)>,
    up: &mut Ends,
    at_least: Duration,
) -> BTreeMap<(Variant, usize), Vec<Instant>> {
    let ends = 2 * 2 * lab.links.len();
    let mut downs: BTreeMap<(Variant, usize), Vec<Instant>> = BTreeMap::new();
    let started = Instant::now();
    let limit = at_least + Duration::from_secs(60);
    while started.elapsed() < at_least || up.values().filter(|u| **u).count() < ends {
        let left = limit.saturating_sub(started.elapsed());
        let wait = left.min(
            at_least
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(100)),
        );
        match tokio::time::timeout(wait, events.recv()).await {
            Ok(Some((variant, ns, ev))) => {
                let session = session_of(lab, ns, ev.key());
                let is_up = matches!(ev, BfdEvent::Up { .. });
                if !is_up {
                    downs
                        .entry((variant, session))
                        .or_default()
                        .push(Instant::now());
                }
                up.insert((variant, ns, session), is_up);
            }
            Ok(None) => panic!("the helpers' events ended"),
            Err(_) => assert!(left > wait, "sessions not Up within {limit:?}: {up:?}"),
        }
    }
    downs
}

/// One phase: fresh helpers of both variants, all Up, then `length` of
/// counting Downs (with the hog if `hog`). `None`: interrupted (Ctrl-C).
async fn phase(
    lab: &Lab,
    interval: Duration,
    hog: bool,
    length: Duration,
    interrupt: &mut tokio::signal::unix::Signal,
) -> Option<Vec<Row>> {
    let (tx, mut events) = mpsc::unbounded_channel();
    let mut variants = Vec::new();
    for variant in [Variant::Realtime, Variant::Normal] {
        variants.push(start_helpers(lab, variant, interval, &tx).await);
    }
    let mut up = Ends::new();
    settle(lab, &mut events, &mut up, Duration::ZERO).await;
    let _hog = hog.then(|| Hog::start(length + HOG_START));
    // stress-ng's start takes sessions of both variants Down on this box
    // (a stall of ~100 ms for every thread, SCHED_FIFO ones too): counted
    // apart, and the steady state measured after it.
    let startup = if hog {
        settle(lab, &mut events, &mut up, HOG_START).await
    } else {
        BTreeMap::new()
    };
    eprintln!(
        "false_downs: every session end Up; measuring {:?} {} the hog",
        length,
        if hog { "with" } else { "without" }
    );
    let started = Instant::now();
    let ticks = cpu_ticks();
    let mut downs: BTreeMap<(Variant, usize), Vec<(Instant, bool)>> = BTreeMap::new();
    // Downs waiting for their peer's stall record (asked for a little
    // later, once the peer runs again and has written it).
    let mut unjudged: Vec<Unjudged> = Vec::new();
    let mut judge = tokio::time::interval(Duration::from_millis(100));
    let end = tokio::time::sleep(length);
    tokio::pin!(end);
    loop {
        tokio::select! {
            () = &mut end => break,
            _ = interrupt.recv() => {
                eprintln!("false_downs: interrupted, cleaning up");
                return None;
            }
            Some((variant, ns, ev)) = events.recv() => {
                if let BfdEvent::Down { .. } = ev {
                    let session = session_of(lab, ns, ev.key());
                    eprintln!(
                        "false_downs: {} {} Down at {:.1} s: {ev:?}",
                        variant.name(),
                        lab.session_name(session),
                        started.elapsed().as_secs_f64()
                    );
                    unjudged.push(Unjudged::new(lab, variant, ns, session));
                }
            }
            _ = judge.tick() => {
                judge_due(&variants, interval, &mut unjudged, &mut downs, false).await;
            }
        }
    }
    judge_due(&variants, interval, &mut unjudged, &mut downs, true).await;
    let ran = started.elapsed();
    let cpu = cpu_shares(&ticks, &cpu_ticks());
    let mut rows = Vec::new();
    for helpers in &variants {
        let mut gaps = vec![None; lab.links.len()];
        let mut granted = Vec::new();
        let mut late_wakes = Vec::new();
        let mut stall_holds = 0;
        for (ns, handle) in helpers.handles.iter().enumerate() {
            let status = handle.status().await.expect("status");
            granted.push(status.realtime);
            late_wakes.push(status.longest_late_wake);
            for s in &status.sessions {
                stall_holds += s.counters.stall_holds;
                let i = session_of(lab, ns, s.key);
                gaps[i] = gaps[i].max(s.longest_rx_gap);
            }
        }
        let sessions = (0..lab.links.len())
            .map(|i| {
                let mut at = downs
                    .get(&(helpers.variant, i))
                    .cloned()
                    .unwrap_or_default();
                at.sort();
                (
                    incidents(&at),
                    at.iter().map(|(t, _)| *t - started).collect(),
                )
            })
            .collect();
        let startup_downs = (0..lab.links.len())
            .map(|i| {
                startup.get(&(helpers.variant, i)).map_or(0, |at| {
                    let at: Vec<(Instant, bool)> = at.iter().map(|t| (*t, false)).collect();
                    incidents(&at).all
                })
            })
            .sum();
        rows.push(Row {
            variant: helpers.variant,
            hog,
            ran,
            sessions,
            gaps,
            granted,
            late_wakes,
            stall_holds,
            startup_downs,
            cpu,
        });
    }
    Some(rows)
}

/// A session's Downs, the two ends' Downs close together counted once.
#[derive(Debug, Clone, Copy, Default)]
struct Incidents {
    all: usize,
    /// Those where a helper at the other end of a Down had itself stalled
    /// long enough to fall silent for the detection time, by its own
    /// record ([`orbit_bfd::LoopStall`]): true detections of a peer that
    /// did not run, not false ones.
    peer_stalled: usize,
}

/// Groups Downs (time, peer stalled) sorted by time into incidents.
fn incidents(sorted: &[(Instant, bool)]) -> Incidents {
    let mut n = Incidents::default();
    let mut last: Option<Instant> = None;
    let mut explained = false;
    for &(t, peer_stalled) in sorted {
        if last.is_none_or(|l| t - l > SAME_INCIDENT) {
            n.peer_stalled += usize::from(explained);
            n.all += 1;
            explained = false;
        }
        explained |= peer_stalled;
        last = Some(t);
    }
    n.peer_stalled += usize::from(explained);
    n
}

/// A Down whose peer has not been asked yet whether it had stalled.
struct Unjudged {
    variant: Variant,
    session: usize,
    /// The helper at the other end of the session.
    peer: usize,
    at: Instant,
    /// Wall-clock time the bench saw it, Unix ms (stall records use it).
    seen_unix_ms: u64,
}

impl Unjudged {
    fn new(lab: &Lab, variant: Variant, ns: usize, session: usize) -> Unjudged {
        let (x, y, ..) = lab.links[session];
        Unjudged {
            variant,
            session,
            peer: if ns == x { y } else { x },
            at: Instant::now(),
            seen_unix_ms: unix_ms(),
        }
    }
}

/// After this, a peer that had stalled has run again and recorded it.
const PEER_RECORD_DELAY: Duration = Duration::from_millis(300);

/// Asks the peers of the Downs older than [`PEER_RECORD_DELAY`] (all of
/// them with `all`) for their stall records and files each Down, with
/// whether its peer had stalled: stopped for at least the detection time
/// less one interval (its last packet before the stop left up to an
/// interval earlier), ending at most a second before the Down was seen
/// and starting before it.
async fn judge_due(
    variants: &[Helpers],
    interval: Duration,
    unjudged: &mut Vec<Unjudged>,
    downs: &mut BTreeMap<(Variant, usize), Vec<(Instant, bool)>>,
    all: bool,
) {
    let silent_for = interval * 2;
    let due: Vec<Unjudged>;
    (due, *unjudged) = std::mem::take(unjudged)
        .into_iter()
        .partition(|d| all || d.at.elapsed() >= PEER_RECORD_DELAY);
    for d in due {
        let helpers = variants
            .iter()
            .find(|h| h.variant == d.variant)
            .expect("a variant's helpers");
        let stalls = helpers.handles[d.peer]
            .status()
            .await
            .map(|s| s.recent_stalls)
            .unwrap_or_default();
        let peer_stalled = stalls.iter().any(|s| {
            let late_ms = u64::try_from(s.late.as_millis()).unwrap_or(u64::MAX);
            s.late >= silent_for
                && s.resumed_unix_ms + 1_000 >= d.seen_unix_ms
                && s.resumed_unix_ms.saturating_sub(late_ms) <= d.seen_unix_ms
        });
        downs
            .entry((d.variant, d.session))
            .or_default()
            .push((d.at, peer_stalled));
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The host's CPU time so far (`cpu` line of /proc/stat: user nice system
/// idle iowait irq softirq steal ...), in ticks.
fn cpu_ticks() -> Vec<u64> {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Shares of the time between two [`cpu_ticks`]: (busy, softirq, steal) in %.
fn cpu_shares(before: &[u64], after: &[u64]) -> (f64, f64, f64) {
    let d: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(*b) as f64)
        .collect();
    let total: f64 = d.iter().take(8).sum::<f64>().max(1.0);
    let at = |i: usize| d.get(i).copied().unwrap_or(0.0) * 100.0 / total;
    (100.0 - at(3) - at(4), at(6), at(7))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn bench(
    hog: Duration,
    baseline: Duration,
    interval: Duration,
    pin_cpu: Option<usize>,
) -> std::process::ExitCode {
    // Before anything is created: from here on Ctrl-C ends the
    // measurement and the namespaces, helpers and hog are dropped.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .expect("SIGINT handler");
    let lab = Lab::new(pin_cpu);
    let mut rows = Vec::new();
    for (with_hog, length) in [(true, hog), (false, baseline)] {
        eprintln!(
            "false_downs: load average before the phase {}",
            load_average()
        );
        match phase(&lab, interval, with_hog, length, &mut interrupt).await {
            Some(r) => rows.extend(r),
            None => return std::process::ExitCode::FAILURE,
        }
        eprintln!(
            "false_downs: load average after the phase {}",
            load_average()
        );
    }
    let names: Vec<String> = (0..lab.links.len()).map(|i| lab.session_name(i)).collect();
    println!(
        "\n3 multihop sessions at {} ms x 3 per variant, namespaces a, b, c in a veth triangle{}\n",
        interval.as_millis(),
        pin_cpu.map_or(String::new(), |c| format!(", every helper on CPU {c}"))
    );
    println!(
        "| variant | hog | ran | session-minutes | Downs | of them a peer stalled | false Downs | false per hour | longest rx gap {} | latest loop wake-up | held over own stall | Downs at the hog's start |",
        names.join(" / ")
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        let per_hour = r.false_downs() as f64 / (r.session_minutes() / 60.0);
        let gaps: Vec<String> = r
            .gaps
            .iter()
            .map(|g| g.map_or("-".into(), |g| format!("{:.1}", g.as_secs_f64() * 1e3)))
            .collect();
        println!(
            "| {} | {} | {:.1} min | {:.1} | {} | {} | {} | {:.1} | {} ms | {:.1} ms | {} | {} |",
            r.variant.name(),
            if r.hog { "yes" } else { "no" },
            r.ran.as_secs_f64() / 60.0,
            r.session_minutes(),
            r.downs(),
            r.peer_stalled(),
            r.false_downs(),
            per_hour,
            gaps.join(" / "),
            r.late_wakes
                .iter()
                .max()
                .unwrap_or(&Duration::ZERO)
                .as_secs_f64()
                * 1e3,
            r.stall_holds,
            if r.hog {
                r.startup_downs.to_string()
            } else {
                "-".into()
            }
        );
    }
    println!();
    for r in &rows {
        let fifo = r.granted.iter().filter(|g| g.fifo).count();
        let locked = r.granted.iter().filter(|g| g.memory_locked).count();
        println!(
            "{} (hog {}): helpers at SCHED_FIFO {fifo}/3, memory locked {locked}/3; \
             latest timer wake-up per helper {:?}; host CPU busy {:.0} %, softirq {:.1} %, \
             steal {:.1} %; Downs at {:?}",
            r.variant.name(),
            if r.hog { "yes" } else { "no" },
            r.late_wakes,
            r.cpu.0,
            r.cpu.1,
            r.cpu.2,
            r.sessions.iter().map(|(_, at)| at).collect::<Vec<_>>()
        );
    }
    std::process::ExitCode::SUCCESS
}
