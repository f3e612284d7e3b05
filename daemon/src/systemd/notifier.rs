//! What to tell systemd and when, sans-IO: [`Notifier`] gets the time and
//! the event loop's readiness and state, and returns [`Note`]s.

use std::time::{Duration, Instant};

use super::Systemd;

/// `STATUS=` is sent at most this often: a flapping state must not flood
/// the manager (or `systemctl status` readers).
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// One line of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Ready,
    Reloading,
    /// `MONOTONIC_USEC=` now, sent with `RELOADING=1`.
    MonotonicNow,
    Stopping,
    Watchdog,
    Status(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before `READY=1`, which is due at `ready_by` whatever the readiness.
    Starting {
        ready_by: Instant,
    },
    Ready,
    Reloading,
    Stopping,
}

/// What to tell systemd, and when: `READY=1` once, `STATUS=` on change
/// (at most every [`STATUS_EVERY`]), `WATCHDOG=1` every half of
/// `WATCHDOG_USEC`, and the reload and stop notes.
#[derive(Debug)]
pub struct Notifier {
    systemd: Systemd,
    phase: Phase,
    ready_timeout: Duration,
    /// Half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)` advises.
    pet_every: Option<Duration>,
    next_pet: Instant,
    status: Option<String>,
    next_status: Instant,
}

/// Says nothing: a stand-in while the loop asks itself what to say.
impl Default for Notifier {
    fn default() -> Notifier {
        Notifier::new(Systemd::default(), Instant::now(), Duration::ZERO)
    }
}

impl Notifier {
    pub fn new(systemd: Systemd, now: Instant, ready_timeout: Duration) -> Notifier {
        let pet_every = systemd.watchdog.map(|d| d / 2);
        Notifier {
            systemd,
            phase: Phase::Starting {
                ready_by: now + ready_timeout,
            },
            ready_timeout,
            pet_every,
            next_pet: now,
            status: None,
            next_status: now,
        }
    }

    /// Whether anything is listening: without a socket the loop need not
    /// compute what to say.
    fn active(&self) -> bool {
        self.systemd.socket.is_some()
    }

    /// When [`Notifier::update`] next has something to do without a new
    /// input: pet the watchdog, give up waiting for readiness, or send a
    /// status that changed.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.active() {
            return None;
        }
        let mut next = self.pet_every.map(|_| self.next_pet);
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        match self.phase {
            Phase::Starting { ready_by } => at(ready_by.min(self.next_status)),
            Phase::Ready => at(self.next_status),
            Phase::Reloading | Phase::Stopping => {}
        }
        next
    }

    /// After each input of the event loop and at [`Notifier::deadline`]:
    /// `readiness` is the loop's judgement (`Err` says what is missing),
    /// `state` describes the current state for `STATUS=` (asked for at
    /// most every [`STATUS_EVERY`]).
    pub fn update(
        &mut self,
        now: Instant,
        readiness: impl FnOnce() -> Result<(), String>,
        state: impl FnOnce() -> String,
    ) -> Vec<Note> {
        let mut notes = Vec::new();
        if !self.active() {
            return notes;
        }
        if let Some(every) = self.pet_every {
            if now >= self.next_pet {
                notes.push(Note::Watchdog);
                self.next_pet = now + every;
            }
        }
        match self.phase {
            Phase::Starting { ready_by } => match readiness() {
                Ok(()) => {
                    self.phase = Phase::Ready;
                    notes.push(Note::Ready);
                    self.force_status(now, state(), &mut notes);
                }
                Err(why) if now >= ready_by => {
                    self.phase = Phase::Ready;
                    notes.push(Note::Ready);
                    let text = format!(
                        "ready after waiting {}, though {why}",
                        humantime::format_duration(self.ready_timeout)
                    );
                    self.force_status(now, text, &mut notes);
                }
                Err(why) => self.status_if_due(now, || format!("waiting: {why}"), &mut notes),
            },
            Phase::Ready => self.status_if_due(now, state, &mut notes),
            Phase::Reloading | Phase::Stopping => {}
        }
        notes
    }

    /// SIGHUP (or a reload through the API) starts reading the config.
    /// Before `READY=1` systemd is not told (it knows no reload then).
    pub fn reloading(&mut self, now: Instant) -> Vec<Note> {
        let mut notes = Vec::new();
        if !self.active() || self.phase != Phase::Ready {
            return notes;
        }
        self.phase = Phase::Reloading;
        notes.extend([Note::Reloading, Note::MonotonicNow]);
        self.force_status(now, "reloading the config".to_owned(), &mut notes);
        notes
    }

    /// The reload is over, `outcome` says how (applied or refused): ready
    /// again either way, the running config in force.
    pub fn reloaded(&mut self, now: Instant, outcome: String) -> Vec<Note> {
        let mut notes = Vec::new();
        if self.phase != Phase::Reloading {
            return notes;
        }
        self.phase = Phase::Ready;
        notes.push(Note::Ready);
        self.force_status(now, outcome, &mut notes);
        notes
    }

    /// SIGTERM: the planned stop begins; nothing but `STATUS=` follows.
    pub fn stopping(&mut self, now: Instant) -> Vec<Note> {
        let mut notes = Vec::new();
        if !self.active() {
            return notes;
        }
        self.phase = Phase::Stopping;
        notes.push(Note::Stopping);
        self.force_status(
            now,
            "stopping: handing the services over, then withdrawing".to_owned(),
            &mut notes,
        );
        notes
    }

    /// Sends what the notes say.
    pub fn send(&self, notes: &[Note]) {
        self.systemd.send(notes);
    }

    fn status_if_due(
        &mut self,
        now: Instant,
        text: impl FnOnce() -> String,
        notes: &mut Vec<Note>,
    ) {
        if now < self.next_status {
            return;
        }
        let text = text();
        if self.status.as_ref() != Some(&text) {
            self.force_status(now, text, notes);
        } else {
            self.next_status = now + STATUS_EVERY;
        }
    }

    fn force_status(&mut self, now: Instant, text: String, notes: &mut Vec<Note>) {
        notes.push(Note::Status(text.clone()));
        self.status = Some(text);
        self.next_status = now + STATUS_EVERY;
    }
}

#[cfg(test)]
mod tests;
