//! orbitd's two threads: the daemon's loop on the main thread, every I/O
//! task (BGP sessions, API, detectors, backends) on one current-thread
//! runtime of its own.
//!
//! The loop journals and saves its state with blocking syncs. On the I/O
//! thread those would hold up every keepalive behind a slow disk, so the
//! loop runs here, on the main thread, polled by [`IoRuntime::block_on`]:
//! a plain park-and-wake executor inside the I/O runtime's context, so that
//! what the loop spawns, and the timers and sockets it makes, belong to the
//! I/O runtime, whose thread drives them.
//!
//! A multi-thread runtime with one worker does the same, but links tokio's
//! work-stealing scheduler, and with it libm (the scheduler's task-time
//! average calls `pow`): ~0.5 MiB more resident at 1k prefixes x 8 peers
//! (issue 21, docs/bgp.md).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The I/O runtime, on its thread until dropped; dropping it stops the
/// runtime and drops every task still on it.
#[derive(Debug)]
pub struct IoRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IoRuntime {
    pub fn start() -> std::io::Result<IoRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("orbitd-io".into())
            .spawn(move || {
                // An error only says the sender is gone: stop either way.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(IoRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `future` to completion on the calling thread, inside the I/O
    /// runtime's context.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _context = self.handle.enter();
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            // A wake before this park makes it return at once; a spurious
            // return only costs one more poll.
            thread::park();
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Wakes the thread that polls the loop.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_loop_awaits_tasks_and_timers_that_run_on_the_io_thread() {
        let io = IoRuntime::start().expect("runtime");
        let main = thread::current().id();
        let (names, sum) = io.block_on(async {
            let task = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                (thread::current().name().map(str::to_owned), 40)
            });
            tokio::time::sleep(Duration::from_millis(10)).await;
            let (name, n) = task.await.expect("task");
            assert_eq!(thread::current().id(), main, "the loop stays on its thread");
            (name, n + 2)
        });
        assert_eq!(names.as_deref(), Some("orbitd-io"));
        assert_eq!(sum, 42);
    }

    #[test]
    fn a_blocked_loop_does_not_hold_up_the_io_tasks() {
        let io = IoRuntime::start().expect("runtime");
        io.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = tx.send(());
            });
            // A blocking wait on this thread, as a journal sync is: the
            // task still runs and answers.
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the I/O task ran while the loop blocked");
        });
    }

    #[test]
    fn dropping_the_runtime_drops_its_tasks() {
        let io = IoRuntime::start().expect("runtime");
        let (tx, rx) = oneshot::channel::<()>();
        io.block_on(async move {
            tokio::spawn(async move {
                let _tx = tx;
                std::future::pending::<()>().await;
            });
        });
        drop(io);
        assert!(rx.blocking_recv().is_err(), "the pending task was dropped");
    }
}
