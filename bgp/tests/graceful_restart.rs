//! Graceful restart (RFC 4724) across a crash of the speaker, against real
//! bird2 and FRR: the route is never withdrawn, and End-of-RIB reaches the
//! peer only after the UPDATE that re-announces it.
//!
//! Each trial drops the `Speaker` without a NOTIFICATION (its `Drop` aborts
//! the tasks: the sockets close with a FIN, like `kill -9` of orbitd),
//! starts a new one, applies a *fenced* (provisional) steering, waits 1 s,
//! then applies the final Active one. Both sides use a restart time of 40 s.
//!
//! How it is observed:
//! - presence: a thread polls the peer every 10 ms for the whole test
//!   (`birdc show route for P table master4`; `show bgp ipv4 unicast P
//!   json` on bgpd's vty socket, the protocol vtysh speaks) and every sample
//!   must hold the route (stale is fine): zero gap;
//! - order: both peers log what they receive, in order (bird: `debug all`,
//!   "orbit.ipv4 > added/ignored P" and "Got END-OF-RIB"; FRR: `debug bgp
//!   updates in`, "rcvd P IPv4 unicast" and "rcvd End-of-RIB for IPv4
//!   Unicast"). Per trial, the log from the restart on must show the
//!   peer's graceful-restart handling, no End-of-RIB during the provisional
//!   second, and the route's UPDATE before the End-of-RIB;
//! - FRR also flags retained routes `"stale": true`: the route stays stale
//!   through the provisional second and turns fresh only after the final
//!   steering.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use orbit_bgp::fsm::State;
use orbit_bgp::Speaker;
use orbit_core::{Redirector, Role};

const SVC: &str = "192.0.2.10/32";
const TRIALS: usize = 20;
const PROVISIONAL: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(10);

/// What one poll of the peer saw (`None` fields: the query failed).
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    present: Option<bool>,
    /// FRR only.
    stale: Option<bool>,
}

/// The peer under test, as the trials see it.
struct GrPeer {
    name: &'static str,
    /// One poll; runs on the poller thread.
    sample: Arc<dyn Fn() -> Sample + Send + Sync>,
    log: Box<dyn Fn() -> String>,
    /// Log lines: the peer noticed our restart and keeps our routes; it
    /// received End-of-RIB.
    restart_mark: &'static str,
    eor_mark: &'static str,
    /// A log line saying the peer received the UPDATE for `SVC`.
    is_update: fn(&str) -> bool,
}

/// Polls every `POLL` on a thread until dropped.
struct Poller {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(sample: Arc<dyn Fn() -> Sample + Send + Sync>) -> Poller {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let s = sample();
                    samples.lock().expect("samples").push(s);
                    std::thread::sleep(POLL.saturating_sub(t.elapsed()));
                }
            })
        };
        Poller {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn speaker_config(lab: &Lab) -> String {
    format!(
        r#"
asn = 65001
router_id = "192.0.2.1"
next_hop_v4 = "{spare}"
connect_retry = "100ms"
graceful_restart_time = "40s"
[[peer]]
address = "{peer}"
asn = 65002
hold = "9s"
families = ["ipv4"]
"#,
        spare = lab.v4_spare,
        peer = lab.v4_peer
    )
}

async fn peer_status(speaker: &Speaker) -> orbit_bgp::PeerStatus {
    speaker.peers().await.expect("peers").remove(0)
}

async fn wait_established(speaker: &Speaker, within: Duration) {
    let t0 = Instant::now();
    loop {
        let p = peer_status(speaker).await;
        if p.state == State::Established {
            return;
        }
        assert!(t0.elapsed() < within, "not Established: {p:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `log()[from..]` contains `mark`; its text from `from` on.
async fn wait_log(peer: &GrPeer, from: usize, mark: &str, within: Duration) -> String {
    let t0 = Instant::now();
    loop {
        let log = (peer.log)();
        let seg = log.get(from..).unwrap_or_default().to_string();
        if seg.contains(mark) {
            return seg;
        }
        assert!(
            t0.elapsed() < within,
            "{}: no {mark:?} in the log within {within:?}:\n{seg}",
            peer.name
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The trials against one peer; see the module doc.
async fn trials(lab: &Lab, peer: &GrPeer) {
    let cfg = bgp_config(&speaker_config(lab));
    let svcs = services(&[SVC]);
    let active = |g| steering(g, &[SVC], Role::Active, false);
    let mut speaker = Speaker::start(&cfg, &svcs).await.expect("start");
    wait_established(&speaker, Duration::from_secs(15)).await;
    speaker.apply(&active(1)).await.expect("first apply");
    let t0 = Instant::now();
    while (peer.sample)().present != Some(true) {
        assert!(t0.elapsed() < Duration::from_secs(5), "route never arrived");
        tokio::time::sleep(POLL).await;
    }
    // The first session's End-of-RIB follows its UPDATE: wait until the
    // peer has taken it too, or a peer that reads it only when the crash
    // closes the socket logs it inside trial 0's provisional window.
    wait_log(peer, 0, peer.eor_mark, Duration::from_secs(5)).await;
    let poller = Poller::start(peer.sample.clone());
    let mut windows = Vec::new();
    for trial in 0..TRIALS {
        let from = (peer.log)().len();
        let start = Instant::now();
        // The crash: no NOTIFICATION, sockets closed by the kernel.
        drop(speaker);
        wait_log(peer, from, peer.restart_mark, Duration::from_secs(5)).await;
        speaker = Speaker::start(&cfg, &svcs).await.expect("restart");
        wait_established(&speaker, Duration::from_secs(10)).await;

        // Not yet synced with the cluster: fenced, provisional.
        let mut fenced = active(2);
        fenced.fenced = true;
        let applied = speaker.apply(&fenced).await.expect("fenced apply");
        assert_eq!(applied.changes, 0, "trial {trial}: {applied:?}");
        let p = peer_status(&speaker).await;
        assert!(
            p.steering_provisional && !p.eor_sent,
            "trial {trial}: {p:?}"
        );
        let provisional_from = Instant::now();
        tokio::time::sleep(PROVISIONAL).await;
        let provisional_to = Instant::now();
        let seg = (peer.log)().get(from..).unwrap_or_default().to_string();
        assert!(
            !seg.contains(peer.eor_mark),
            "{} trial {trial}: End-of-RIB while provisional:\n{seg}",
            peer.name
        );
        assert!(!peer_status(&speaker).await.eor_sent);

        // The final steering: the UPDATE, then End-of-RIB.
        let applied = speaker.apply(&active(3)).await.expect("final apply");
        assert_eq!(applied.changes, 1, "trial {trial}: {applied:?}");
        let seg = wait_log(peer, from, peer.eor_mark, Duration::from_secs(5)).await;
        let update = seg.lines().position(peer.is_update);
        let eor = seg.lines().position(|l| l.contains(peer.eor_mark));
        assert!(
            update.is_some() && update < eor,
            "{} trial {trial}: End-of-RIB not after the UPDATE:\n{seg}",
            peer.name
        );
        let p = peer_status(&speaker).await;
        assert!(p.eor_sent && !p.steering_provisional, "{p:?}");
        assert_eq!(p.prefixes_sent, 1);
        assert_eq!(p.counters.established, 1, "{p:?}");
        assert_eq!(p.counters.updates_sent, 2, "one UPDATE, one End-of-RIB");
        windows.push((start, provisional_from, provisional_to, Instant::now()));
    }
    speaker.shutdown("graceful restart test done").await;
    let samples = poller.finish();
    let failed = samples.iter().filter(|s| s.present.is_none()).count();
    assert!(
        failed * 20 <= samples.len(),
        "{}: {failed} of {} polls failed",
        peer.name,
        samples.len()
    );
    let last = windows.last().map(|w| w.3).expect("trials");
    let gaps: Vec<Instant> = samples
        .iter()
        .filter(|s| s.at < last && s.present == Some(false))
        .map(|s| s.at)
        .collect();
    let when: Vec<String> = gaps
        .iter()
        .map(|g| {
            let (trial, w) = windows
                .iter()
                .enumerate()
                .rfind(|(_, w)| w.0 <= *g)
                .expect("a trial");
            format!(
                "trial {trial} at +{:?} (provisional +{:?}..+{:?}, end +{:?})",
                *g - w.0,
                w.1 - w.0,
                w.2 - w.0,
                w.3 - w.0
            )
        })
        .collect();
    assert!(
        gaps.is_empty(),
        "{}: the route was missing in {} of {} samples: {when:?}",
        peer.name,
        gaps.len(),
        samples.len()
    );
    for (trial, (start, pfrom, pto, end)) in windows.iter().enumerate() {
        let n = samples
            .iter()
            .filter(|s| s.at >= *start && s.at < *end)
            .count();
        assert!(n >= 20, "{} trial {trial}: only {n} samples", peer.name);
        // Where the peer flags stale routes: stale all through the
        // provisional second (End-of-RIB and the UPDATE still to come).
        let fresh_early = samples
            .iter()
            .filter(|s| s.at >= *pfrom && s.at < *pto && s.stale == Some(false))
            .count();
        assert_eq!(
            fresh_early, 0,
            "{} trial {trial}: not stale while provisional",
            peer.name
        );
    }
    eprintln!(
        "{}: {TRIALS} trials, {} samples, {failed} failed polls, no gap",
        peer.name,
        samples.len()
    );
}

#[test]
fn bird_keeps_the_route_and_gets_end_of_rib_after_the_update() {
    let lab = Lab::new();
    let bird = start_gr_bird(&lab, 40);
    let sock = bird.sock.clone();
    let sample = move || {
        let at = Instant::now();
        let out = std::process::Command::new("birdc")
            .args(["-s", &sock, "show", "route", "for", SVC, "table", "master4"])
            .output();
        let present = match out {
            Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).contains(SVC)),
            _ => None,
        };
        Sample {
            at,
            present,
            stale: None,
        }
    };
    let log_path = lab.dir.join("bird.log");
    let peer = GrPeer {
        name: "bird",
        sample: Arc::new(sample),
        log: Box::new(move || std::fs::read_to_string(&log_path).unwrap_or_default()),
        restart_mark: "Neighbor graceful restart detected",
        // "orbit.ipv4 > added 192.0.2.10/32 ..." (or "ignored": the same
        // attributes as the stale copy; "removed" would be the flush).
        is_update: |l| {
            l.contains(SVC)
                && (l.contains("orbit.ipv4 > added") || l.contains("orbit.ipv4 > ignored"))
        },
        eor_mark: "Got END-OF-RIB",
    };
    lab.run(trials(&lab, &peer));
}

#[test]
fn frr_keeps_the_route_and_gets_end_of_rib_after_the_update() {
    let lab = Lab::new();
    let frr = Frr::start(
        &lab,
        &format!(
            r#"
debug bgp updates in
debug bgp graceful-restart
debug bgp neighbor-events
router bgp 65002
 bgp router-id {peer}
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp graceful-restart restart-time 40
 neighbor {speaker} remote-as 65001
 neighbor {speaker} passive
 neighbor {speaker} timers 3 9
!
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        ),
    );
    let vty = Mutex::new(frr.vty().expect("bgpd vty"));
    let sample = move || {
        let at = Instant::now();
        let out = vty
            .lock()
            .expect("vty")
            .cmd(&format!("show bgp ipv4 unicast {SVC} json"));
        let Some(v) = out.and_then(|o| serde_json::from_str::<serde_json::Value>(&o).ok()) else {
            return Sample {
                at,
                present: None,
                stale: None,
            };
        };
        let paths = v["paths"].as_array().cloned().unwrap_or_default();
        Sample {
            at,
            present: Some(!paths.is_empty()),
            stale: paths.first().map(|p| p["stale"] == true),
        }
    };
    let log_path = frr.log.clone();
    let peer = GrPeer {
        name: "frr",
        sample: Arc::new(sample),
        log: Box::new(move || std::fs::read_to_string(&log_path).unwrap_or_default()),
        restart_mark: "graceful restart timer started",
        // "rcvd 192.0.2.10/32 IPv4 unicast" (and "...duplicate ignored").
        is_update: |l| l.contains(&format!("rcvd {SVC} IPv4 unicast")),
        eor_mark: "rcvd End-of-RIB for IPv4 Unicast",
    };
    lab.run(trials(&lab, &peer));
}

/// No final steering comes after the restart (the daemon stays fenced):
/// End-of-RIB still goes out, a margin (min(5 s, restart / 4) = 2 s) before
/// our 8 s restart time, and the peer then flushes the stale route on our
/// word. Until then the route stays.
#[test]
fn bird_gets_end_of_rib_before_our_restart_time_when_no_final_steering_comes() {
    let lab = Lab::new();
    let bird = start_gr_bird(&lab, 8);
    let cfg = bgp_config(&speaker_config(&lab).replace("\"40s\"", "\"8s\""));
    let svcs = services(&[SVC]);
    let log = || lab.log("bird.log");
    lab.run(async {
        let mut speaker = Speaker::start(&cfg, &svcs).await.expect("start");
        wait_established(&speaker, Duration::from_secs(15)).await;
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "route", || !bird.route(SVC).is_empty()).await;
        let from = log().len();
        drop(speaker);
        wait_for_async(5, "bird notices the restart", || {
            log()[from..].contains("Neighbor graceful restart detected")
        })
        .await;
        let mut speaker = Speaker::start(&cfg, &svcs).await.expect("restart");
        wait_established(&speaker, Duration::from_secs(10)).await;
        let up = Instant::now();
        let mut fenced = steering(2, &[SVC], Role::Active, false);
        fenced.fenced = true;
        speaker.apply(&fenced).await.expect("fenced apply");
        // Held stale, no End-of-RIB, until the deadline (6 s).
        while up.elapsed() < Duration::from_millis(5_500) {
            assert!(!bird.route(SVC).is_empty(), "route lost before End-of-RIB");
            assert!(
                !log()[from..].contains("Got END-OF-RIB"),
                "End-of-RIB after {:?}",
                up.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_for_async(3, "End-of-RIB from the timer", || {
            log()[from..].contains("Got END-OF-RIB")
        })
        .await;
        let eor_after = up.elapsed();
        assert!(eor_after < Duration::from_millis(7_500), "{eor_after:?}");
        // Nothing of ours is final: the peer flushes the stale route now.
        wait_for_async(2, "stale route flushed", || bird.route(SVC).is_empty()).await;
        let p = peer_status(&speaker).await;
        assert!(p.eor_sent && p.steering_provisional, "{p:?}");
        assert_eq!(p.counters.established, 1);
        eprintln!("End-of-RIB {eor_after:?} after Established");
    });
}

/// bird2, passive, graceful restart with `restart_secs`, logging every
/// message (the tests read the End-of-RIB order from the log).
fn start_gr_bird(lab: &Lab, restart_secs: u32) -> Bird {
    Bird::start(
        lab,
        &format!(
            r#"
log stderr all;
protocol bgp orbit {{
  local {peer} as 65002;
  neighbor {speaker} as 65001;
  passive on;
  hold time 9;
  graceful restart on;
  graceful restart time {restart_secs};
  debug all;
  ipv4 {{ import all; export none; }};
}}
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        ),
    )
}
