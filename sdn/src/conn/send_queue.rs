//! What orbit has written to the switch and the switch has not read yet.
//!
//! The driver never waits on the socket: it queues bytes here and a select
//! branch writes them as the switch reads, so echo answers, keepalive
//! ticks and replies keep flowing while a large batch drains. A switch that
//! stops reading would make that queue grow without end (each retried
//! apply adds its batch), so it is bounded: once [`SEND_QUEUE_LIMIT`] bytes
//! wait, the switch counts as dead and the connection is dropped; the
//! reconnect and reconcile put the rules back once it reads again.
//!
//! Why not backpressure (make the callers wait)? The driver would stop
//! reading while it waits, a switch blocked on its own writes to orbit
//! would then never read either (a deadlock), and nothing would ever
//! notice the dead peer. A switch that holds megabytes unread is not
//! applying orbit's rules anyway.

use crate::error::Error;

/// Bytes the switch may leave unread before it counts as dead. A batch is
/// queued whole as long as less than this waits, so the memory held is at
/// most this plus the largest batch (a full reconcile: about 3 MB for
/// 10,000 services).
pub const SEND_QUEUE_LIMIT: usize = 16 << 20;

#[derive(Debug)]
pub(crate) struct SendQueue {
    endpoint: String,
    buf: Vec<u8>,
    /// How much of `buf` the socket has taken.
    sent: usize,
}

impl SendQueue {
    pub(crate) fn new(endpoint: &str) -> SendQueue {
        SendQueue {
            endpoint: endpoint.to_owned(),
            buf: Vec::new(),
            sent: 0,
        }
    }

    /// Bytes waiting for the switch.
    pub(crate) fn queued(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Queues `bytes`, unless the switch already left the limit unread.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.queued() >= SEND_QUEUE_LIMIT {
            return Err(Error::SendQueueFull {
                endpoint: self.endpoint.clone(),
                queued: self.queued(),
                limit: SEND_QUEUE_LIMIT,
            });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// What to write next (empty when nothing waits).
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    /// The socket took `n` bytes of [`SendQueue::pending`].
    pub(crate) fn written(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.buf.len());
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        } else if self.sent > self.buf.len() / 2 {
            // Compact now and then, so partial writes cost O(1) each on
            // average instead of moving the whole queue every time.
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_taken_whole_below_the_limit_and_refused_at_it() {
        let mut q = SendQueue::new("unix:/x");
        q.push(&vec![1; SEND_QUEUE_LIMIT - 1]).expect("below");
        q.push(&[2; 10]).expect("still below before it");
        assert_eq!(q.queued(), SEND_QUEUE_LIMIT + 9);
        let err = q.push(&[3]).expect_err("full").to_string();
        assert!(err.contains("unix:/x") && err.contains(&SEND_QUEUE_LIMIT.to_string()));
        q.written(SEND_QUEUE_LIMIT);
        assert_eq!(q.pending(), &[2; 9]);
        q.push(&[3]).expect("drained");
        q.written(10);
        assert_eq!(q.queued(), 0);
        assert!(q.pending().is_empty());
    }
}
