//! The service manager's end of systemd's notify protocol: a unix datagram
//! socket a test owns and hands to orbitd as `NOTIFY_SOCKET`, recording
//! each datagram (one `KEY=VALUE` per line) with the time it arrived.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One notification: its lines and when it arrived.
#[derive(Debug, Clone)]
pub struct Notification {
    pub at: Instant,
    pub lines: Vec<String>,
}

impl Notification {
    pub fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l == line)
    }

    /// The value of `STATUS=`, if the notification has one.
    pub fn status(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l.strip_prefix("STATUS="))
    }
}

/// Everything received so far is kept in `received`, in order.
#[derive(Debug)]
pub struct NotifyListener {
    socket: UnixDatagram,
    path: PathBuf,
    pub received: Vec<Notification>,
}

impl Drop for NotifyListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl NotifyListener {
    /// Binds `dir/notify.sock`.
    pub fn bind(dir: &Path) -> NotifyListener {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifyListener {
            socket,
            path,
            received: Vec::new(),
        }
    }

    /// For `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives for `within`, or until a notification satisfies `until`;
    /// returns that one's index in `received`.
    pub fn receive(
        &mut self,
        within: Duration,
        mut until: impl FnMut(&Notification) -> bool,
    ) -> Option<usize> {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket
                .set_read_timeout(Some(left))
                .expect("read timeout");
            let Ok(n) = self.socket.recv(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]);
            let note = Notification {
                at: Instant::now(),
                lines: text.lines().map(str::to_owned).collect(),
            };
            let hit = until(&note);
            self.received.push(note);
            if hit {
                return Some(self.received.len() - 1);
            }
        }
    }

    /// Receives until a notification has `line`; panics naming `what`
    /// and listing what came instead after `within`.
    pub fn expect_line(&mut self, line: &str, within: Duration, what: &str) -> Notification {
        let start = self.received.len();
        match self.receive(within, |n| n.has(line)) {
            Some(i) => self.received[i].clone(),
            None => panic!(
                "no {line} within {within:?} ({what}); received meanwhile: {:?}",
                self.received[start..]
                    .iter()
                    .map(|n| n.lines.join(" | "))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Receives for `within` and returns what came.
    pub fn collect(&mut self, within: Duration) -> Vec<Notification> {
        let start = self.received.len();
        self.receive(within, |_| false);
        self.received[start..].to_vec()
    }
}
