//! Real-time scheduling and locked memory for the packet loop of a helper
//! process. The only `unsafe` in the crate: two libc calls nix does not
//! wrap with the flags needed.
//!
//! At 10 ms × 3 a session is declared Down when its loop misses 30 ms.
//! On a busy host a SCHED_OTHER thread can wait longer than that for a
//! CPU (the lab saw 3 false Downs in ~50 runs beside compilers), and a
//! page fault on a cold page can add milliseconds more. BIRD and FRR run
//! BFD in a thread of its own for the same reason. SCHED_FIFO puts the
//! loop ahead of every ordinary thread whenever it is runnable; it sleeps
//! between packets, so it takes almost nothing from them, and the kernel's
//! RT throttling (`kernel.sched_rt_runtime_us`) still bounds a runaway.
#![allow(unsafe_code)]

use std::io;

/// SCHED_FIFO priority of the packet loop: above every SCHED_OTHER thread,
/// well below the kernel's threaded interrupt handlers (50) that deliver
/// the packets it waits for, and the watchdog / migration threads (99).
pub const FIFO_PRIORITY: i32 = 10;

/// `CAP_IPC_LOCK` in `<linux/capability.h>`.
const CAP_IPC_LOCK: u32 = 14;

/// What the packet loop got, reported in [`crate::DriverStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Realtime {
    /// The packet loop's thread runs at SCHED_FIFO ([`FIFO_PRIORITY`]).
    pub fifo: bool,
    /// The process's memory is locked (`mlockall`): no page fault stalls
    /// the loop.
    pub memory_locked: bool,
}

impl Realtime {
    /// Asks for both for the calling thread and process; what is refused
    /// is logged once, with the capability that is missing, and the loop
    /// runs with normal scheduling.
    pub fn enter() -> Realtime {
        let fifo = match set_fifo(FIFO_PRIORITY) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "bfd: the packet loop runs without real-time priority (SCHED_FIFO needs \
                     CAP_SYS_NICE or RLIMIT_RTPRIO >= {FIFO_PRIORITY}, and no \
                     RestrictRealtime=): a busy host can delay it past the detection time"
                );
                false
            }
        };
        let memory_locked = match lock_memory() {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "bfd: the helper's memory is not locked (mlockall needs CAP_IPC_LOCK): \
                     a page fault can delay the packet loop"
                );
                false
            }
        };
        if fifo && memory_locked {
            tracing::info!(
                priority = FIFO_PRIORITY,
                "bfd: the packet loop runs at SCHED_FIFO with its memory locked"
            );
        }
        Realtime {
            fifo,
            memory_locked,
        }
    }
}

/// Puts the calling thread (not the process: Linux schedules threads) on
/// SCHED_FIFO at `priority`.
fn set_fifo(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid, initialised
    // sched_param that outlives the call, which only reads it.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Locks every page of the process, now and later. Only with
/// CAP_IPC_LOCK: without it `mlockall(MCL_FUTURE)` can succeed under
/// RLIMIT_MEMLOCK and then make a later allocation fail once the locked
/// total reaches the limit, which would be worse than a page fault.
fn lock_memory() -> io::Result<()> {
    if !has_effective_capability(CAP_IPC_LOCK) {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    // SAFETY: mlockall takes only flags and touches no memory of ours.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `cap` is in this process's effective set (`CapEff` in
/// `/proc/self/status`).
fn has_effective_capability(cap: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << cap) != 0)
}
