//! The BFD helper (`orbitd bfd-helper`, started through the same driver
//! API orbitd uses) runs its packet loop on a thread at SCHED_FIFO with its
//! memory locked when it may, and without CAP_SYS_NICE / CAP_IPC_LOCK it
//! runs anyway, with one warning per missing capability. Two helpers in two
//! namespaces across a veth, one multihop session between them at
//! 10 ms × 3: one helper keeps root's capabilities, the other has both
//! dropped (setpriv). Needs root (CI runs as root).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use orbit_bfd::{BfdEvent, BfdHandle, Hop, PeerConfig, Realtime, Timing};
use orbit_tests::netns::{Netns, Veth};

/// `SCHED_FIFO` in `<sched.h>`, as /proc/<pid>/task/<tid>/stat shows it.
const SCHED_FIFO: u32 = 1;

/// (thread name, policy, rt_priority) of every thread of `pid`, from
/// /proc/<pid>/task/<tid>/stat (fields 2, 41 and 40).
fn threads(pid: &str) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        let (head, tail) = stat.rsplit_once(')').unwrap();
        let name = head.split_once('(').unwrap().1.to_owned();
        // Fields after the name start at field 3 (state).
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let field = |n: usize| fields[n - 3].parse::<u32>().unwrap();
        out.push((name, field(41), field(40)));
    }
    out
}

/// The pid of the BFD helper running in `ns`.
fn helper_pid(ns: &Netns) -> String {
    let pids = orbit_tests::sh(&["ip", "netns", "pids", &ns.name]);
    pids.split_whitespace()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"bfd-helper"))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no bfd-helper in {}: {pids}", ns.name))
}

/// Starts `orbitd bfd-helper` in `ns` (through `wrapper`, e.g. setpriv),
/// its stderr appended to `log`.
fn helper(
    ns: &Netns,
    wrapper: &str,
    log: &Path,
) -> (BfdHandle, tokio::sync::mpsc::UnboundedReceiver<BfdEvent>) {
    let script = format!(
        "exec ip netns exec {} {wrapper} {} bfd-helper 2>>{}",
        ns.name,
        env!("CARGO_BIN_EXE_orbitd"),
        log.display()
    );
    orbit_bfd::driver::helper::spawn("sh", &["-c", &script]).unwrap()
}

fn session(local: IpAddr, peer: IpAddr) -> PeerConfig {
    let ms = Duration::from_millis;
    PeerConfig {
        peer,
        local,
        hop: Hop::Multi { min_ttl: None },
        timing: Timing::new(ms(10), ms(10), 3),
        auth: None,
        control_plane_independent: false,
    }
}

async fn wait_up(events: &mut tokio::sync::mpsc::UnboundedReceiver<BfdEvent>, who: &str) {
    // Generous: slow start alone takes a second or two, and the host is busy.
    let deadline = Duration::from_secs(30);
    let up = tokio::time::timeout(deadline, async {
        while let Some(ev) = events.recv().await {
            if matches!(ev, BfdEvent::Up { .. }) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(up, Ok(true), "{who}'s session did not come up");
}

#[tokio::test]
async fn the_packet_loop_runs_at_sched_fifo_and_without_the_capabilities_still_runs() {
    let (rt, plain) = (Netns::new("rt"), Netns::new("nort"));
    let veth = Veth::new(&rt, &plain, "10.77.0.0".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (rt_log, plain_log) = (dir.path().join("rt.log"), dir.path().join("plain.log"));

    let (rt_bfd, mut rt_events) = helper(&rt, "", &rt_log);
    let drop_caps = "setpriv --inh-caps=-sys_nice,-ipc_lock --bounding-set=-sys_nice,-ipc_lock";
    let (plain_bfd, mut plain_events) = helper(&plain, drop_caps, &plain_log);
    let (a, b) = (IpAddr::V4(veth.a_addr), IpAddr::V4(veth.b_addr));
    rt_bfd.add_session(session(a, b)).await.unwrap();
    plain_bfd.add_session(session(b, a)).await.unwrap();

    // With root's capabilities: one thread (the packet loop) at SCHED_FIFO
    // with the documented priority, the others (the line to the owner)
    // normal, and the memory locked.
    let rt_pid = helper_pid(&rt);
    let rt_threads = threads(&rt_pid);
    let fifo: Vec<_> = rt_threads
        .iter()
        .filter(|(_, policy, _)| *policy == SCHED_FIFO)
        .collect();
    assert_eq!(
        fifo.len(),
        1,
        "one thread of the helper at SCHED_FIFO: {rt_threads:?}"
    );
    assert_eq!(fifo[0].0, "bfd-packets", "{rt_threads:?}");
    assert_eq!(
        fifo[0].2,
        u32::try_from(orbit_bfd::realtime::FIFO_PRIORITY).unwrap()
    );
    assert!(
        rt_threads
            .iter()
            .any(|(_, policy, _)| *policy != SCHED_FIFO),
        "the owner's line stays off the real-time thread: {rt_threads:?}"
    );
    let locked = std::fs::read_to_string(format!("/proc/{rt_pid}/status")).unwrap();
    let vm_lck = locked.lines().find(|l| l.starts_with("VmLck:")).unwrap();
    assert_ne!(vm_lck.split_whitespace().nth(1), Some("0"), "{vm_lck}");
    let granted = Realtime {
        fifo: true,
        memory_locked: true,
    };
    assert_eq!(rt_bfd.status().await.unwrap().realtime, granted);

    // Without CAP_SYS_NICE and CAP_IPC_LOCK: normal scheduling, reported,
    // one warning naming each capability; the session still comes Up.
    let plain_threads = threads(&helper_pid(&plain));
    assert!(
        plain_threads
            .iter()
            .all(|(_, policy, _)| *policy != SCHED_FIFO),
        "{plain_threads:?}"
    );
    assert_eq!(
        plain_bfd.status().await.unwrap().realtime,
        Realtime::default()
    );
    wait_up(&mut rt_events, "the real-time helper").await;
    wait_up(&mut plain_events, "the helper without capabilities").await;

    let warnings = std::fs::read_to_string(&plain_log).unwrap();
    for cap in ["CAP_SYS_NICE", "CAP_IPC_LOCK"] {
        let lines = warnings.lines().filter(|l| l.contains(cap)).count();
        assert_eq!(lines, 1, "one warning naming {cap}:\n{warnings}");
    }
    let quiet = std::fs::read_to_string(&rt_log).unwrap();
    assert!(
        !quiet.contains("CAP_SYS_NICE") && !quiet.contains("CAP_IPC_LOCK"),
        "{quiet}"
    );
}

/// Whether an event reached `events` within `d`.
async fn any_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<BfdEvent>,
    d: Duration,
) -> Option<BfdEvent> {
    tokio::time::timeout(d, events.recv()).await.ok().flatten()
}

#[tokio::test]
async fn both_helpers_stopped_together_resume_without_a_false_down() {
    // What a host stall looks like to two helpers on it (a throttled
    // container, a descheduled virtual machine): neither sends nor
    // receives for 200 ms, far past the 30 ms detection time. Each wakes
    // late, and waits one packet interval for the other before judging.
    let (x, y) = (Netns::new("stx"), Netns::new("sty"));
    let veth = Veth::new(&x, &y, "10.77.0.4".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (x_bfd, mut x_events) = helper(&x, "", &dir.path().join("x.log"));
    let (y_bfd, mut y_events) = helper(&y, "", &dir.path().join("y.log"));
    let (a, b) = (IpAddr::V4(veth.a_addr), IpAddr::V4(veth.b_addr));
    x_bfd.add_session(session(a, b)).await.unwrap();
    y_bfd.add_session(session(b, a)).await.unwrap();
    wait_up(&mut x_events, "x").await;
    wait_up(&mut y_events, "y").await;
    // Past slow start (RFC 5880 §6.8.3): both at 10 ms.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(any_event(&mut x_events, Duration::ZERO).await, None);

    let pids = [helper_pid(&x), helper_pid(&y)];
    let before_stops = unix_ms();
    for round in 0..3 {
        orbit_tests::sh(&["kill", "-STOP", &pids[0], &pids[1]]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        orbit_tests::sh(&["kill", "-CONT", &pids[0], &pids[1]]);
        for (who, events) in [("x", &mut x_events), ("y", &mut y_events)] {
            let ev = any_event(events, Duration::from_millis(300)).await;
            assert_eq!(ev, None, "{who} after stall {round}");
        }
    }
    for (who, bfd) in [("x", &x_bfd), ("y", &y_bfd)] {
        let status = bfd.status().await.unwrap();
        let s = &status.sessions[0];
        assert_eq!(s.state, orbit_bfd::State::Up, "{who}: {s:?}");
        assert!(s.counters.stall_holds >= 1, "{who}: {s:?}");
        assert_eq!(s.counters.detection_expiries, 0, "{who}: {s:?}");
        // Each helper knows it was stopped, when and for how long: what
        // tells an operator (and the false-Downs bench) that a peer's Down
        // of this end was this end's silence.
        let stops: Vec<_> = status
            .recent_stalls
            .iter()
            .filter(|st| {
                st.resumed_unix_ms >= before_stops && st.late >= Duration::from_millis(150)
            })
            .collect();
        assert_eq!(stops.len(), 3, "{who}: {:?}", status.recent_stalls);
        assert!(status.loop_stalls >= 3, "{who}: {status:?}");
        assert!(
            stops
                .iter()
                .all(|st| st.late < Duration::from_millis(1_000)),
            "{who}: {stops:?}"
        );
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
