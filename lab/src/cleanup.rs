//! Everything the lab creates outside its own memory (network namespaces,
//! child processes) is registered here, so that Ctrl-C, SIGTERM and panics
//! never leave a namespace or a daemon behind.
//!
//! The guards in `sys.rs` clean up on `Drop` (normal exit and panic
//! unwinding); a signal arrives on another thread, where the main thread's
//! guards cannot run, so the signal thread empties this registry itself and
//! exits.

use std::process::Command;
use std::sync::Mutex;

#[derive(Default)]
struct Registry {
    pids: Vec<u32>,
    netns: Vec<String>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: Vec::new(),
    netns: Vec::new(),
});

fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    // A panic while holding the lock poisons it; the data is still valid.
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

pub fn add_pid(pid: u32) {
    with(|r| r.pids.push(pid));
}

pub fn remove_pid(pid: u32) {
    with(|r| r.pids.retain(|p| *p != pid));
}

pub fn add_netns(name: &str) {
    with(|r| r.netns.push(name.to_owned()));
}

pub fn remove_netns(name: &str) {
    with(|r| r.netns.retain(|n| n != name));
}

/// Kills every process still inside namespace `ns`: the lab does not
/// start them all itself (an orbitd killed with `kill -9` leaves its BFD
/// helper running for the graceful-restart time, waiting to be adopted),
/// and `ip netns del` alone would leave them running in a namespace nobody
/// can reach.
pub fn kill_netns_pids(ns: &str) {
    let Ok(out) = Command::new("ip")
        .args(["netns", "pids", ns])
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let _ = Command::new("kill")
            .args(["-KILL", pid])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Kills every registered process, then deletes every registered namespace.
pub fn cleanup_all() {
    let (pids, netns) = with(|r| (std::mem::take(&mut r.pids), std::mem::take(&mut r.netns)));
    for pid in pids {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
    for ns in netns.iter().rev() {
        kill_netns_pids(ns);
        let _ = Command::new("ip")
            .args(["netns", "del", ns])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// SIGINT / SIGTERM: clean up everything registered and exit 130 / 143.
pub fn install_signal_handlers() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    eprintln!("orbit-lab: cannot install signal handlers");
                    return;
                };
                let code = tokio::select! {
                    _ = int.recv() => 130,
                    _ = term.recv() => 143,
                };
                eprintln!("orbit-lab: interrupted, removing namespaces and processes");
                cleanup_all();
                std::process::exit(code);
            });
        })?;
    Ok(())
}
