//! The driver on an OS thread of its own, with its own current-thread tokio
//! runtime: the packet loop (receive tasks, timer wheel, transmissions)
//! never waits behind whatever else the process runs on its runtime (a
//! helper's line to its owner, JSON encoding of a status), and the thread
//! alone can be given real-time priority ([`crate::realtime`]).
//!
//! ```text
//!  caller's runtime                 thread "bfd-packets" (SCHED_FIFO if permitted)
//!  BfdHandle ──LoopInput channel──► Driver::run + receive tasks, one runtime
//!  events ◄────BfdEvent channel────
//! ```
//!
//! The thread ends with the loop: when the last handle is dropped (the
//! loop's task is aborted) or on release.

use std::io;

use tokio::sync::{mpsc, oneshot};

use super::{spawn_driver, BfdEvent, BfdHandle, DriverConfig};
use crate::realtime::Realtime;

/// Starts the driver on a thread of its own. With `realtime`, that thread
/// asks for SCHED_FIFO and the process's memory is locked; what is
/// refused is logged once and reported in
/// [`DriverStatus::realtime`](super::DriverStatus::realtime), and the
/// driver runs anyway. Callable from inside or outside a tokio runtime.
pub fn start_dedicated(
    cfg: DriverConfig,
    realtime: bool,
) -> io::Result<(BfdHandle, mpsc::UnboundedReceiver<BfdEvent>)> {
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("bfd-packets".into())
        .spawn(move || {
            let _span = span.entered();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(error) => {
                    let _ = started_tx.send(Err(error));
                    return;
                }
            };
            let granted = if realtime {
                Realtime::enter()
            } else {
                Realtime::default()
            };
            let (ended_tx, ended_rx) = oneshot::channel();
            let started = {
                let _entered = runtime.enter();
                spawn_driver(cfg, granted, Some(ended_tx))
            };
            if started_tx.send(Ok(started)).is_err() {
                return;
            }
            // Err: the loop's task ended or was aborted (last handle gone).
            let _ = runtime.block_on(ended_rx);
        })?;
    started_rx
        .recv()
        .map_err(|_| io::Error::other("the BFD packet thread ended before it started"))?
}
