//! Connection collisions (RFC 4271 §6.8) with an Established session never
//! read as a peer restart (RFC 4724 §4.2) unless the Established connection
//! is dead.
//!
//! The peer is scripted here, over raw TCP in the lab's peer namespace, so
//! that each case happens every time: the speaker connects to it and the
//! session comes up (conn 1, graceful restart on both sides); then the peer
//! opens a second connection to the speaker's listener (conn 2) and sends a
//! GR-capable OPEN there, and
//! - keeps conn 1 alive: conn 2 gets Cease / Connection Collision
//!   Resolution, the session never goes down;
//! - resolves the collision itself (Cease on conn 2): nothing happens;
//! - is a restarted host whose conn 1 is gone: the speaker's probe on conn 1
//!   gets a RST, and conn 2 becomes the session, routes re-sent, then
//!   End-of-RIB.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use orbit_bgp::fsm::State;
use orbit_bgp::wire::{
    self, DecodeContext, Family, GracefulRestartParams, Inbound, Notification, OpenParams,
};
use orbit_bgp::{Direction, Speaker};
use orbit_core::{Redirector, Role};

const SVC: &str = "192.0.2.10/32";
const CTX: DecodeContext = DecodeContext {
    four_octet_as: true,
};

/// One connection of the scripted peer (blocking I/O).
struct Wire {
    stream: TcpStream,
    rx: Vec<u8>,
}

impl Wire {
    fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            rx: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("peer write");
    }

    /// The next message within `within`; `None` on EOF, reset or timeout.
    fn recv(&mut self, within: Duration) -> Option<Inbound> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(len)) = wire::frame_len(&self.rx) {
                if self.rx.len() >= len {
                    let frame: Vec<u8> = self.rx.drain(..len).collect();
                    return Some(wire::decode(&frame, CTX).expect("speaker sends valid messages"));
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// Drops the connection with a RST (SO_LINGER 0), like a host that
    /// rebooted and no longer knows it.
    fn reset(self) {
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        nix::sys::socket::setsockopt(&self.stream, nix::sys::socket::sockopt::Linger, &linger)
            .expect("SO_LINGER");
        drop(self.stream);
    }
}

fn peer_open(lab: &Lab, restarting: bool) -> bytes::Bytes {
    wire::encode_open(&OpenParams {
        asn: 65002,
        hold_secs: 9,
        router_id: lab.v4_peer,
        families: vec![Family::Ipv4],
        graceful_restart: Some(GracefulRestartParams {
            restart_time: 40,
            restarting,
        }),
    })
    .expect("open")
}

fn kind(m: &Inbound) -> &'static str {
    match m {
        Inbound::Open(_) => "OPEN",
        Inbound::Update(u) if u.end_of_rib.is_some() => "EOR",
        Inbound::Update(_) => "UPDATE",
        Inbound::Keepalive => "KEEPALIVE",
        Inbound::Notification(_) => "NOTIFICATION",
        Inbound::RouteRefresh => "ROUTE-REFRESH",
    }
}

/// Reads conn 1 on a thread: records what arrives, answers with a
/// KEEPALIVE every second, and (when `reset_on_probe` is armed) resets the
/// connection on the first KEEPALIVE after the arming instant.
struct Keeper {
    seen: Arc<Mutex<Vec<(Instant, &'static str)>>>,
    arm: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<bool>>,
}

impl Keeper {
    fn start(mut conn: Wire, reset: bool) -> Keeper {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let arm: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, arm, stop) = (seen.clone(), arm.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last_ka = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    if last_ka.elapsed() >= Duration::from_secs(1) {
                        conn.send(&wire::encode_keepalive());
                        last_ka = Instant::now();
                    }
                    let Some(m) = conn.recv(Duration::from_millis(50)) else {
                        if conn.stream.peer_addr().is_err() {
                            return false;
                        }
                        continue;
                    };
                    let now = Instant::now();
                    seen.lock().expect("seen").push((now, kind(&m)));
                    if let Inbound::Notification(_) = m {
                        return false;
                    }
                    let armed = *arm.lock().expect("arm");
                    if reset && m == Inbound::Keepalive && armed.is_some_and(|a| now >= a) {
                        conn.reset();
                        return false;
                    }
                }
                // Still open when told to stop.
                true
            })
        };
        Keeper {
            seen,
            arm,
            stop,
            thread: Some(thread),
        }
    }

    fn arm(&self, at: Instant) {
        *self.arm.lock().expect("arm") = Some(at);
    }

    fn seen(&self) -> Vec<(Instant, &'static str)> {
        self.seen.lock().expect("seen").clone()
    }

    /// Stops the thread; whether conn 1 was still open.
    fn finish(mut self) -> bool {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("keeper"))
            .unwrap_or(false)
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// conn 1 stays alive: the speaker closes conn 2.
    LiveEstablished,
    /// The peer closes conn 2 itself (Cease / Collision).
    PeerYields,
    /// conn 1 is dead (RST on the probe): conn 2 becomes the session.
    DeadEstablished,
}

async fn status(speaker: &Speaker) -> orbit_bgp::PeerStatus {
    speaker.peers().await.expect("peers").remove(0)
}

fn collide(case: Case) {
    let lab = Lab::new();
    let cfg = listening_speaker(&lab, "100ms");
    lab.run(async {
        let listener = {
            let _peer_ns = lab.enter_peer();
            TcpListener::bind(SocketAddr::new(lab.v4_peer.into(), 179)).expect("peer listener")
        };
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        // conn 1: the speaker connects to the peer.
        let (s1, _) = tokio::task::block_in_place(|| listener.accept()).expect("accept");
        let mut c1 = Wire::new(s1);
        let m = c1.recv(Duration::from_secs(5)).expect("our OPEN");
        assert!(matches!(m, Inbound::Open(_)), "{m:?}");
        c1.send(&peer_open(&lab, false));
        c1.send(&wire::encode_keepalive());
        assert_eq!(c1.recv(Duration::from_secs(5)), Some(Inbound::Keepalive));
        wait_for_async(5, "Established", || {
            block(status(&speaker)).state == State::Established
        })
        .await;
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        let first: Vec<&str> = (0..2)
            .filter_map(|_| c1.recv(Duration::from_secs(5)).map(|m| kind(&m)))
            .collect();
        assert_eq!(first, ["UPDATE", "EOR"]);
        let keeper = Keeper::start(c1, case == Case::DeadEstablished);
        let up_since = Instant::now();
        // Scenario: conn 1 has been up a while when conn 2 arrives.
        tokio::time::sleep(Duration::from_millis(300)).await;

        // conn 2: the peer connects to the speaker's listener.
        let s2 = {
            let _peer_ns = lab.enter_peer();
            TcpStream::connect(SocketAddr::new(lab.v4_speaker.into(), 179)).expect("connect")
        };
        let mut c2 = Wire::new(s2);
        let m = tokio::task::block_in_place(|| c2.recv(Duration::from_secs(5)));
        assert!(
            matches!(m, Some(Inbound::Open(_))),
            "an inbound connection gets our OPEN: {m:?}"
        );
        let opened = Instant::now();
        keeper.arm(opened);
        c2.send(&peer_open(&lab, case == Case::DeadEstablished));

        match case {
            Case::LiveEstablished => {
                let m = tokio::task::block_in_place(|| c2.recv(Duration::from_secs(3)));
                let Some(Inbound::Notification(n)) = m else {
                    panic!("expected Cease on conn 2, got {m:?}")
                };
                assert_eq!((n.code, n.subcode), (6, 7), "{}", n.describe());
                let closed_after = opened.elapsed();
                assert_eq!(
                    tokio::task::block_in_place(|| c2.recv(Duration::from_secs(2))),
                    None
                );
                // The probe window: about 1 s, never much longer.
                assert!(
                    closed_after >= Duration::from_millis(900)
                        && closed_after < Duration::from_millis(2_500),
                    "{closed_after:?}"
                );
            }
            Case::PeerYields => {
                // Scenario: the peer yields a moment after its OPEN.
                tokio::time::sleep(Duration::from_millis(100)).await;
                c2.send(&wire::encode_notification(&Notification::new(
                    6,
                    7,
                    bytes::Bytes::new(),
                )));
                drop(c2);
                // The point: past the probe window, for conn 1 to be wrongly closed.
                tokio::time::sleep(Duration::from_millis(1_500)).await;
            }
            Case::DeadEstablished => {
                // The probe met a RST: conn 2 is answered, comes up, and
                // gets the routes, then End-of-RIB.
                let got: Vec<&str> = tokio::task::block_in_place(|| {
                    let mut got = Vec::new();
                    while let Some(m) = c2.recv(Duration::from_secs(3)) {
                        got.push(kind(&m));
                        if m == Inbound::Keepalive && got.len() == 1 {
                            c2.send(&wire::encode_keepalive());
                        }
                        if got.last() == Some(&"EOR") {
                            break;
                        }
                    }
                    got
                });
                assert_eq!(got, ["KEEPALIVE", "UPDATE", "EOR"], "on conn 2");
                assert!(
                    opened.elapsed() < Duration::from_secs(1),
                    "{:?}",
                    opened.elapsed()
                );
            }
        }

        // The probe: one KEEPALIVE on conn 1 right after conn 2's OPEN.
        let probe = keeper
            .seen()
            .into_iter()
            .find(|(t, k)| *t >= opened && *k == "KEEPALIVE")
            .map(|(t, _)| t - opened);
        assert!(
            probe.is_some_and(|d| d < Duration::from_millis(200)),
            "no probe on conn 1: {probe:?}"
        );
        // Taken before the status: its established_for is measured later.
        let up_for = up_since.elapsed();
        let p = status(&speaker).await;
        assert_eq!(p.state, State::Established, "{p:?}");
        assert_eq!(p.prefixes_sent, 1);
        assert!(p.eor_sent);
        match case {
            Case::LiveEstablished | Case::PeerYields => {
                assert_eq!(p.counters.established, 1, "the session went down: {p:?}");
                assert!(p.established_for.is_some_and(|d| d >= up_for), "{p:?}");
                assert_eq!(p.last_error, None, "{p:?}");
                let sent = if case == Case::LiveEstablished { 1 } else { 0 };
                assert_eq!(
                    p.counters
                        .notifications
                        .get(&(Direction::Sent, 6, 7))
                        .copied()
                        .unwrap_or(0),
                    sent,
                    "{p:?}"
                );
                if case == Case::LiveEstablished {
                    let n = p.last_notification.clone().expect("recorded");
                    assert_eq!(n.direction, Direction::Sent);
                    assert_eq!(n.text, "Cease/Connection Collision Resolution");
                }
                // conn 1 carried on: a KEEPALIVE came after the window.
                tokio::time::sleep(Duration::from_millis(1_200)).await;
                assert!(keeper.finish(), "conn 1 was closed");
            }
            Case::DeadEstablished => {
                assert_eq!(p.counters.established, 2, "{p:?}");
                assert!(!keeper.finish());
            }
        }
        speaker.shutdown("collision test done").await;
    });
}

/// Runs a future from a sync closure inside the multi-thread runtime.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[test]
fn collision_with_a_live_established_session_closes_the_new_connection() {
    collide(Case::LiveEstablished);
}

#[test]
fn collision_resolved_by_the_peer_changes_nothing() {
    collide(Case::PeerYields);
}

#[test]
fn collision_with_a_dead_established_connection_is_a_restart() {
    collide(Case::DeadEstablished);
}

/// Both sides active against FRR's bgpd (graceful restart on both, FRR
/// retrying every second, the speaker every 100 ms and listening), set up
/// again and again: whatever collides while the session comes up, once it
/// is Established it stays so (FRR counts one connection established and
/// none dropped per set-up; the speaker one Established, no error).
#[test]
fn frr_both_active_sessions_never_drop_once_established() {
    const SETUPS: usize = 5;
    let lab = Lab::new();
    let speaker_ip: std::net::IpAddr = lab.v4_speaker.into();
    let frr = start_active_frr(&lab);
    let cfg = listening_speaker(&lab, "100ms");
    let counter = |k: &str| frr.neighbor(speaker_ip)[k].as_u64().unwrap_or(0);
    let mut collisions = 0;
    lab.run(async {
        for setup in 0..SETUPS {
            let (est0, drop0) = (
                counter("connectionsEstablished"),
                counter("connectionsDropped"),
            );
            let speaker = Speaker::start(&cfg, &services(&[SVC]))
                .await
                .expect("start");
            wait_for_async(10, "Established", || {
                frr.established(speaker_ip) && block(status(&speaker)).state == State::Established
            })
            .await;
            // Longer than the collision probe window and FRR's retry.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let p = status(&speaker).await;
            assert_eq!(p.state, State::Established, "set-up {setup}: {p:?}");
            assert_eq!(p.counters.established, 1, "set-up {setup}: {p:?}");
            collisions += p
                .counters
                .notifications
                .get(&(Direction::Sent, 6, 7))
                .copied()
                .unwrap_or(0)
                + p.counters
                    .notifications
                    .get(&(Direction::Received, 6, 7))
                    .copied()
                    .unwrap_or(0);
            assert_eq!(
                (
                    counter("connectionsEstablished") - est0,
                    counter("connectionsDropped") - drop0
                ),
                (1, 0),
                "set-up {setup}: FRR saw the session drop:\n{}",
                frr.log_text()
            );
            // Planned: FRR flushes, goes back to connecting every second.
            speaker.shutdown("collision set-up done").await;
            wait_for_async(5, "FRR sees the shutdown", || !frr.established(speaker_ip)).await;
        }
    });
    eprintln!("{SETUPS} set-ups, {collisions} collision NOTIFICATIONs");
}

/// The collision that dropped sessions with FRR: the peer's connection
/// comes up first while our own connect is still under way. FRR (8.4, with
/// graceful restart) drops its Established session as soon as it *accepts*
/// another connection from us, before any OPEN. nftables in the speaker's
/// namespace drops our SYNs until FRR's connection is Established; then the
/// kernel's next SYN retransmission (1 s, 3 s) would complete our connect.
/// The speaker abandons the attempt when the session comes up, so FRR never
/// sees a second connection and keeps its session.
#[test]
fn frr_session_survives_our_connect_completing_while_established() {
    let lab = Lab::new();
    let speaker_ip: std::net::IpAddr = lab.v4_speaker.into();
    let frr = start_active_frr(&lab);
    // Long enough for the SYN retransmissions (1 s, 3 s) to complete the
    // connect instead of the ConnectRetryTimer abandoning it.
    let cfg = listening_speaker(&lab, "5s");
    let syns = HeldSyns::hold(&lab);
    lab.run(async {
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(10, "FRR's connection Established", || {
            block(status(&speaker)).state == State::Established
        })
        .await;
        syns.assert_some_held();
        let log_from = frr.log_text().len();
        syns.release();
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        // Past both SYN retransmissions (1 s and 3 s after the connect).
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let log = frr.log_text()[log_from..].to_string();
        assert!(
            !log.contains(&format!("connection from host {speaker_ip}")),
            "our abandoned connect reached FRR:\n{log}"
        );
        let p = status(&speaker).await;
        assert_eq!(p.state, State::Established, "{p:?}");
        assert_eq!(p.counters.established, 1, "{p:?}");
        assert_eq!(p.last_error, None, "{p:?}");
        let n = frr.neighbor(speaker_ip);
        assert_eq!(n["bgpState"], "Established");
        assert_eq!(
            (
                n["connectionsEstablished"].as_u64(),
                n["connectionsDropped"].as_u64()
            ),
            (Some(1), Some(0)),
            "FRR dropped the session:\n{log}"
        );
        speaker.shutdown("done").await;
    });
}

/// The same against bird2: bird connects (active, graceful restart), our
/// SYNs are held until bird's connection is Established, then released.
/// bird must never see a second connection from us, and its session must
/// stay up the whole time (the "since" time of its protocol unchanged).
#[test]
fn bird_session_survives_our_connect_completing_while_established() {
    let lab = Lab::new();
    let bird = Bird::start(
        &lab,
        &format!(
            r#"
log stderr all;
protocol bgp orbit {{
  local {peer} as 65002;
  neighbor {speaker} as 65001;
  hold time 9;
  connect delay time 1;
  connect retry time 1;
  graceful restart on;
  graceful restart time 40;
  debug {{ states, events }};
  ipv4 {{ import all; export none; }};
}}
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        ),
    );
    let cfg = listening_speaker(&lab, "5s");
    let syns = HeldSyns::hold(&lab);
    lab.run(async {
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "bird's connection Established", || {
            block(status(&speaker)).state == State::Established && bird.established("orbit")
        })
        .await;
        syns.assert_some_held();
        let row = bird
            .cmd(&["show", "protocols", "orbit"])
            .unwrap_or_default();
        let log_from = lab.log("bird.log").len();
        syns.release();
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        // Past both SYN retransmissions (1 s and 3 s after the connect).
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let log = lab.log("bird.log")[log_from..].to_string();
        assert!(
            !log.contains("Incoming connection"),
            "our abandoned connect reached bird:\n{log}"
        );
        assert_eq!(
            bird.cmd(&["show", "protocols", "orbit"])
                .unwrap_or_default(),
            row,
            "bird's session restarted (its Since time changed):\n{log}"
        );
        assert!(!bird.route(SVC).is_empty(), "the route reached bird");
        let p = status(&speaker).await;
        assert_eq!(p.state, State::Established, "{p:?}");
        assert_eq!(p.counters.established, 1, "{p:?}");
        assert_eq!(p.last_error, None, "{p:?}");
        speaker.shutdown("done").await;
    });
}

/// FRR's bgpd, graceful-restart capable (40 s), connecting to the speaker
/// every second (both sides active: collisions are possible).
fn start_active_frr(lab: &Lab) -> Frr {
    Frr::start(
        lab,
        &format!(
            r#"
debug bgp neighbor-events
router bgp 65002
 bgp router-id {peer}
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp graceful-restart restart-time 40
 neighbor {speaker} remote-as 65001
 neighbor {speaker} timers 3 9
 neighbor {speaker} timers connect 1
!
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        ),
    )
}

/// The speaker's config toward FRR: active and listening, graceful restart.
fn listening_speaker(lab: &Lab, connect_retry: &str) -> orbit_bgp::Config {
    bgp_config(&format!(
        r#"
asn = 65001
router_id = "192.0.2.1"
next_hop_v4 = "{spare}"
connect_retry = "{connect_retry}"
graceful_restart_time = "40s"
listen = true
[[peer]]
address = "{peer}"
asn = 65002
hold = "9s"
families = ["ipv4"]
"#,
        spare = lab.v4_spare,
        peer = lab.v4_peer
    ))
}

/// nftables in the speaker's namespace dropping our outgoing SYNs to the
/// peer's BGP port: our connect stays under way (the kernel retransmits the
/// SYN after 1 s and 3 s) while the peer's own connection comes up.
struct HeldSyns<'a> {
    lab: &'a Lab,
}

impl<'a> HeldSyns<'a> {
    fn hold(lab: &'a Lab) -> HeldSyns<'a> {
        lab.speaker_exec(&[
            "nft",
            &format!(
                "add table inet orbit_test; \
                 add chain inet orbit_test out {{ type filter hook output priority 0; }}; \
                 add rule inet orbit_test out ip daddr {} tcp dport 179 tcp flags & (syn | ack) == syn counter drop",
                lab.v4_peer
            ),
        ]);
        HeldSyns { lab }
    }

    /// The set-up did hold back at least one SYN of ours.
    fn assert_some_held(&self) {
        let dropped = self
            .lab
            .speaker_exec(&["nft", "list table inet orbit_test"]);
        assert!(
            !dropped.contains("packets 0 "),
            "no SYN of ours was held: {dropped}"
        );
    }

    /// Lets the next retransmission of our SYN through.
    fn release(&self) {
        self.lab
            .speaker_exec(&["nft", "delete table inet orbit_test"]);
    }
}
