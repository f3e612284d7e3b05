//! systemd's notify protocol (`sd_notify(3)`) for `Type=notify`: when
//! orbitd is ready, what it is doing (`STATUS=`), that its event loop still
//! turns (`WATCHDOG=1`), and its reloads and its stop.
//!
//! [`Notifier`] is sans-IO: the event loop hands it the time, its readiness
//! (the judgement `GET /ready` gives) and a way to describe the current
//! state, and gets back the [`Note`]s to send; [`Systemd`] sends them. With
//! no `NOTIFY_SOCKET` nothing is sent and the notifier asks for no wake-up.
//!
//! The watchdog is petted by the event loop itself (the notifier's
//! deadline is one of the loop's timers), so a loop that stalls stops
//! petting and systemd restarts orbitd; the BFD helper is a process of its
//! own and keeps its sessions up meanwhile.

mod notifier;

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use sd_notify::NotifyState;

pub use notifier::{Note, Notifier};

/// The variables systemd passes; taken out of the environment so that no
/// child (a hook, a health check, the BFD helper) can speak for orbitd.
const VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Where notifications go, if anywhere, and the watchdog systemd expects.
#[derive(Debug, Default)]
pub struct Systemd {
    socket: Option<OsString>,
    watchdog: Option<Duration>,
}

impl Systemd {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (for this process:
    /// `WATCHDOG_PID`, when set, must be ours) and removes them from the
    /// environment. Call it before any thread starts: changing the
    /// environment is sound only while nothing else reads it.
    ///
    /// The socket path is kept here rather than in the environment, where
    /// `sd_notify::notify` would look for it, because every process orbitd
    /// starts would inherit it too.
    pub fn from_env() -> Systemd {
        let watchdog = sd_notify::watchdog_enabled().filter(|d| !d.is_zero());
        let socket = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty());
        for name in VARIABLES {
            std::env::remove_var(name);
        }
        Systemd { socket, watchdog }
    }

    /// Sends `notes` in one datagram, as `sd_notify` does; a failure is
    /// logged and otherwise ignored (systemd's watchdog or start timeout
    /// notices what is missing).
    pub fn send(&self, notes: &[Note]) {
        let Some(socket) = &self.socket else { return };
        if notes.is_empty() {
            return;
        }
        let mut message = String::new();
        for note in notes {
            let state = match note {
                Note::Ready => NotifyState::Ready,
                Note::Reloading => NotifyState::Reloading,
                Note::Stopping => NotifyState::Stopping,
                Note::Watchdog => NotifyState::Watchdog,
                Note::Status(text) => NotifyState::Status(text),
                // systemd ≥ 253 (`Type=notify-reload`) pairs RELOADING=1
                // with the time it was sent; older ones ignore it.
                Note::MonotonicNow => match NotifyState::monotonic_usec_now() {
                    Ok(state) => state,
                    Err(_) => continue,
                },
            };
            message.push_str(&state.to_string());
            message.push('\n');
        }
        if let Err(error) = send_datagram(socket, message.as_bytes()) {
            tracing::warn!(socket = ?socket, %error, "systemd notification not sent");
        }
    }
}

/// One datagram to the manager's socket; a leading `@` names an abstract
/// socket (as systemd allows).
fn send_datagram(socket: &OsString, message: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::SocketAddr;

    let bytes = socket.as_bytes();
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(socket)?,
    };
    UnixDatagram::unbound()?.send_to_addr(message, &address)?;
    Ok(())
}
