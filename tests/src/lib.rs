//! Shared scaffolding for orbit's tests and benches against real peers:
//! network namespaces and veth links, a three-member mesh, bird2, FRR,
//! HAProxy, headless Chromium, a running orbitd, and the BGP + BFD lab (orbitd and bird2 across a veth) that the
//! daemon's BFD test and route-removal benchmark share.
//!
//! Every name is unique per process and call, and everything is removed in
//! `Drop`, also on panic. These helpers need root (CI runs as root). A
//! failed setup step panics with the command's output: the failure report.

pub mod bfd_lab;
pub mod bird;
pub mod chromium;
pub mod cluster;
pub mod control;
pub mod follower;
pub mod frr;
pub mod haproxy;
pub mod mesh;
pub mod netns;
pub mod notify;
pub mod orbitd;
pub mod schema;
pub mod throwaway_root;

use std::time::{Duration, Instant};

/// Runs a command and returns its stdout; panics with its output if it
/// fails.
pub use netns::run as sh;

/// Panics unless this process runs as root, saying that `what` needs it.
pub fn assert_root(what: &str) {
    assert!(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n")),
        "{what} need root; CI runs them as root"
    );
}

/// Waits until `child` exits and returns how; panics after `within` with
/// `context()` (its log, say).
pub fn wait_exit(
    child: &mut std::process::Child,
    within: Duration,
    context: impl Fn() -> String,
) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        assert!(
            t0.elapsed() < within,
            "still running after {within:?}:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills (and reaps) `children` and removes `dir`, unless `ORBIT_KEEP` is
/// set (then it says where `dir` is kept): for the `Drop` of a test's
/// daemons.
pub fn kill_and_clean_up<'a>(
    children: impl IntoIterator<Item = &'a mut std::process::Child>,
    dir: &std::path::Path,
) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    if std::env::var_os("ORBIT_KEEP").is_some() {
        eprintln!("ORBIT_KEEP: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Polls `ok` every `every` until it holds; panics naming `what` after
/// `within`.
pub fn wait_until(within: Duration, every: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(
            t0.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(every);
    }
}

/// Asks `probe` every `every` until `ok` holds for its answer, and returns
/// that answer; panics naming `what` and the last answer after `within`.
/// For an async test that waits for a state to show up in a status
/// instead of sleeping a guessed time before reading it once.
pub async fn eventually<T, F>(
    within: Duration,
    every: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
    ok: impl Fn(&T) -> bool,
) -> T
where
    T: std::fmt::Debug,
    F: std::future::Future<Output = T>,
{
    let t0 = Instant::now();
    loop {
        let answer = probe().await;
        if ok(&answer) {
            return answer;
        }
        assert!(
            t0.elapsed() < within,
            "timed out after {within:?} waiting for {what}; last: {answer:?}"
        );
        tokio::time::sleep(every).await;
    }
}
