//! orbitd's BFD toward a BGP peer across a crash of orbitd: the helper
//! process that runs the sessions outlives a `kill -9` for the graceful
//! restart time and the restarted orbitd adopts it, so bird2 (`bfd on`,
//! graceful restart) sees neither a BFD Down nor a hard BGP down and keeps
//! orbit's route while orbitd restarts (RFC 5880 §1: BFD is about the
//! forwarding path, which never stopped; RFC 4724 does the rest).
//!
//! Lab: `orbit_tests::bfd_lab` (orbitd and bird2 in two namespaces across
//! a veth, 10 ms × 3, hold 90 s), here with graceful restart on both sides.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use orbit_core::api::BfdState;
use orbit_tests::bfd_lab::{BfdLab, LabConfig, BIRD_PROTOCOL, PREFIX};
use orbit_tests::wait_until;

const HOLD_SECS: u32 = 90;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orbitd"))
}

fn poll(within: Duration, what: &str, ok: impl FnMut() -> bool) {
    wait_until(within, Duration::from_millis(10), what, ok);
}

fn lab(graceful_restart_secs: u32) -> BfdLab {
    BfdLab::start(
        exe(),
        LabConfig {
            // What is tested is that the helper keeps the session across a
            // restart, not how fast a loss is seen: a 300 ms detection time
            // rides out a busy test host's scheduling stalls, which at
            // 10 ms x 3 took bird's session down while nothing had failed.
            bfd: Some((50, 6)),
            hold_secs: HOLD_SECS,
            graceful_restart_secs,
        },
    )
}

/// Everything up: BFD on both sides, BGP, the route in bird's table.
fn wait_all_up(lab: &BfdLab, within: Duration) {
    poll(within, "bird's BFD session Up", || {
        lab.bird.bfd_state(&lab.orbit_addr()).as_deref() == Some("Up")
    });
    poll(within, "orbitd's BFD session Up", || {
        let sessions = lab.orbit_bfd();
        sessions.len() == 1 && sessions[0].state == BfdState::Up
    });
    poll(within, "bird to learn orbit's route", || {
        lab.bird.established(BIRD_PROTOCOL) && lab.bird.has_route(PREFIX)
    });
}

/// bird's "Since" of its BFD session toward orbitd: it changes with every
/// state change of the session. bird keeps it on its monotonic clock and
/// converts it to wall-clock time for each `show`, so two reads of an
/// unchanged session may differ by a millisecond or so.
fn bird_bfd_since(lab: &BfdLab) -> SystemTime {
    let row = lab
        .bird
        .bfd_session(&lab.orbit_addr())
        .unwrap_or_else(|| panic!("{}", lab.bird.birdc("show bfd sessions")));
    // address, interface, state, since…, interval, timeout
    let since = row[3..row.len() - 2].join(" ");
    humantime::parse_rfc3339_weak(&since).unwrap_or_else(|e| panic!("bird's since {since:?}: {e}"))
}

/// How far two reads of an unchanged "Since" may drift apart; a real state
/// change moves it by at least the half second orbitd stays dead.
const SINCE_JITTER: Duration = Duration::from_millis(50);

/// Polls bird every 10 ms from another thread: its BFD session toward
/// orbitd must stay Up and orbit's route in its table; every sample that
/// says otherwise is recorded.
struct Watch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u32, Vec<String>)>>,
}

impl Watch {
    fn start(lab: &BfdLab) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let bird = lab.bird.socket.clone();
        let orbit = lab.orbit_addr();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let birdc = |cmd: &str| {
                std::process::Command::new("birdc")
                    .arg("-s")
                    .arg(&bird)
                    .args(cmd.split_whitespace())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            };
            let addr = PREFIX.split('/').next().unwrap();
            let t0 = Instant::now();
            let (mut samples, mut bad) = (0, Vec::new());
            while !flag.load(Ordering::SeqCst) {
                let bfd = birdc("show bfd sessions");
                let state = bfd
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(orbit.as_str()))
                    .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned));
                if state.as_deref() != Some("Up") {
                    bad.push(format!("{:?}: bird's BFD {state:?}", t0.elapsed()));
                }
                let routes = birdc(&format!("show route for {PREFIX} table master4"));
                if !routes.lines().any(|l| l.starts_with(addr)) {
                    bad.push(format!("{:?}: no route in bird:\n{routes}", t0.elapsed()));
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            (samples, bad)
        });
        Watch {
            stop,
            thread: Some(thread),
        }
    }

    /// (samples taken, the bad ones).
    fn finish(mut self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// One request line to the helper's socket and its one answer line.
fn ask_helper(socket: &Path, line: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    writeln!(stream, "{line}").unwrap();
    let mut answer = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut answer)
        .unwrap();
    answer
}

#[test]
fn a_restart_within_graceful_restart_adopts_the_helper_and_bird_sees_nothing() {
    let mut lab = lab(30);
    wait_all_up(&lab, Duration::from_secs(30));
    let since = bird_bfd_since(&lab);
    let before = lab.orbit_bfd().remove(0);
    let helpers = lab.bfd_helpers();
    assert_eq!(helpers.len(), 1, "one BFD helper: {helpers:?}");

    // The helper listens for adoption (mode 0600) and, while owned,
    // refuses a second owner.
    let socket = lab.helper_socket();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", socket.display());
    let answer = ask_helper(&socket, r#"[0,{"Adopt":{"protocol":1}}]"#);
    assert!(answer.contains("Refused"), "{answer}");
    assert_eq!(
        lab.orbit_bfd()[0].local_discriminator,
        before.local_discriminator
    );

    let fib = lab.watch_fib();
    let watch = Watch::start(&lab);
    let killed = Instant::now();
    lab.kill_orbitd();
    // What orbitd left behind: the helper, alone, sessions still Up.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.bfd_helpers(), helpers, "the helper outlived orbitd");
    lab.restart_orbitd(exe(), "restarted");
    let restarted = killed.elapsed();
    poll(
        Duration::from_secs(20),
        "orbitd to report its BFD session Up",
        || {
            let sessions = lab.orbit_bfd();
            sessions.len() == 1 && sessions[0].state == BfdState::Up
        },
    );
    poll(Duration::from_secs(20), "bird to re-establish BGP", || {
        lab.bird.established(BIRD_PROTOCOL)
    });
    // Watch a little longer: End-of-RIB, stale routes swept.
    std::thread::sleep(Duration::from_secs(1));
    let (samples, bad) = watch.finish();
    eprintln!("restarted after {restarted:?}; {samples} samples of bird");
    assert!(samples >= 20, "only {samples} samples");
    assert!(
        bad.is_empty(),
        "bird saw the restart:\n{}\nbird's log:\n{}",
        bad.join("\n"),
        std::fs::read_to_string(&lab.bird.log).unwrap_or_default()
    );
    assert_eq!(
        fib.next(true, Duration::ZERO),
        None,
        "the route left bird's FIB"
    );

    // The same session on both sides: bird's never changed state, ours
    // kept its discriminators, in the same helper process.
    let since_after = bird_bfd_since(&lab);
    let moved = since_after
        .duration_since(since)
        .unwrap_or_else(|e| e.duration());
    assert!(
        moved <= SINCE_JITTER,
        "bird's BFD session changed state: since {} then {}",
        humantime::format_rfc3339_millis(since),
        humantime::format_rfc3339_millis(since_after)
    );
    let after = lab.orbit_bfd().remove(0);
    assert_eq!(after.local_discriminator, before.local_discriminator);
    assert_eq!(after.remote_discriminator, before.remote_discriminator);
    assert_eq!(after.state_changes, before.state_changes, "{after:?}");
    assert_eq!(lab.bfd_helpers(), helpers, "adopted, not replaced");
    let log = lab.orbitd().log_text();
    assert!(
        log.contains("adopted the BFD helper a previous orbitd left running"),
        "{log}"
    );
    // bird took it for a graceful restart, not a failure.
    let bird_log = std::fs::read_to_string(&lab.bird.log).unwrap();
    assert!(
        bird_log.contains("Neighbor graceful restart detected"),
        "{bird_log}"
    );
    assert!(!bird_log.contains("BFD session down"), "{bird_log}");
    assert!(lab.bird.has_route(PREFIX));

    // A graceful stop still ends the helper at once: AdminDown, goodbye.
    let stopped = Instant::now();
    let code = lab.orbitd.take().map(|o| o.stop());
    assert_eq!(code, Some(Some(0)), "orbitd exit code");
    poll(
        Duration::from_secs(2),
        "the helper to exit with orbitd",
        || lab.bfd_helpers().is_empty(),
    );
    eprintln!("helper gone {:?} after SIGTERM", stopped.elapsed());
    assert!(!socket.exists(), "the helper removed its socket");
    poll(Duration::from_secs(5), "bird's BFD to leave Up", || {
        lab.bird.bfd_state(&lab.orbit_addr()).as_deref() != Some("Up")
    });
}

#[test]
fn a_crash_without_restart_ends_the_helper_after_the_restart_time() {
    const GR_SECS: u64 = 3;
    let mut lab = lab(GR_SECS as u32);
    wait_all_up(&lab, Duration::from_secs(30));
    let helpers = lab.bfd_helpers();
    assert_eq!(helpers.len(), 1, "{helpers:?}");
    let killed = Instant::now();
    lab.kill_orbitd();
    // Within the restart time the sessions live on.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.bfd_helpers(), helpers);
    assert_eq!(lab.bird.bfd_state(&lab.orbit_addr()).as_deref(), Some("Up"));
    // Then the helper gives up: it exits, bird's session times out and
    // bird drops the route (the restart did not happen).
    poll(
        Duration::from_secs(GR_SECS + 5),
        "the orphaned helper to exit",
        || lab.bfd_helpers().is_empty(),
    );
    let gone = killed.elapsed();
    assert!(
        gone >= Duration::from_secs(GR_SECS),
        "the helper left after {gone:?}, before the restart time"
    );
    poll(Duration::from_secs(5), "bird's BFD session Down", || {
        lab.bird.bfd_state(&lab.orbit_addr()).as_deref() == Some("Down")
    });
    poll(Duration::from_secs(10), "bird to drop the route", || {
        !lab.bird.has_route(PREFIX)
    });
    assert!(
        !lab.helper_socket().exists(),
        "the helper removed its socket"
    );
    // The helper logs to the stderr it was started with: the killed
    // orbitd's log.
    let log = std::fs::read_to_string(lab.dir.0.join("orbitd.log")).unwrap();
    assert!(log.contains("nobody adopted the sessions in time"), "{log}");
}

#[test]
fn a_stale_helper_socket_is_removed_and_a_new_helper_started() {
    let mut lab = lab(30);
    wait_all_up(&lab, Duration::from_secs(30));
    let before = lab.orbit_bfd().remove(0);
    let helpers = lab.bfd_helpers();
    assert_eq!(helpers.len(), 1, "{helpers:?}");
    // orbitd and its helper both die: the socket file stays, unanswered.
    lab.kill_orbitd();
    for pid in &helpers {
        orbit_tests::sh(&["kill", "-9", &pid.to_string()]);
    }
    poll(Duration::from_secs(5), "the helper to be gone", || {
        lab.bfd_helpers().is_empty()
    });
    assert!(lab.helper_socket().exists(), "a stale socket is left");
    lab.restart_orbitd(exe(), "restarted");
    wait_all_up(&lab, Duration::from_secs(30));
    let after = lab.orbit_bfd().remove(0);
    let new_helpers = lab.bfd_helpers();
    assert_eq!(new_helpers.len(), 1, "{new_helpers:?}");
    assert_ne!(new_helpers, helpers, "a new helper");
    assert_ne!(after.local_discriminator, before.local_discriminator);
    let log = lab.orbitd().log_text();
    assert!(log.contains("removing a stale BFD helper socket"), "{log}");
    let code = lab.orbitd.take().map(|o| o.stop());
    assert_eq!(code, Some(Some(0)), "orbitd exit code");
}
