//! When the journal rotates: before a line or a synced batch would take
//! the live file past `max_bytes`, never with nothing in it; what a
//! failure does (counted, logged once, tried again as the file grows); and
//! the rotated files beyond `keep`. How a rotation renames the files is
//! `files.rs`.

use orbit_config::JournalConfig;

use super::{files, Journal};

/// After a failed rotation, the next is tried once the live file has grown
/// by `max_bytes` / this (1 MiB of the default 64 MiB).
const RETRY_ROTATION_FRACTION: u64 = 64;

impl Journal {
    /// New limits (a reload): they count from the next entry; rotated
    /// files beyond a lower `keep` go now.
    pub fn set_limits(&mut self, limits: JournalConfig) {
        if limits != self.limits {
            self.limits = limits;
            self.prune_pending = true;
            self.prune();
        }
    }

    /// Rotates if `bytes` more would take the live file past `max_bytes`
    /// and it holds anything. A failed rotation is counted and logged
    /// (once until one succeeds); the entries go to the current file.
    pub(super) fn make_room(&mut self, bytes: u64) {
        let max = self.limits.max_bytes.get();
        if self.end == 0
            || self.end.saturating_add(bytes) <= max
            || self.end < self.retry_rotation_at
        {
            return;
        }
        // The rotated file ends with a whole line; if the torn tail cannot
        // be cut, neither can the next line be written: not now.
        if self.cut_torn_tail().is_err() {
            return;
        }
        let slots = self.limits.keep.max(1);
        match files::rotate(&self.dir, slots, &self.file) {
            Ok(fresh) => {
                self.file = fresh;
                self.end = 0;
                self.rotations += 1;
                self.retry_rotation_at = 0;
                self.counters.rotations.inc();
                self.count_bytes();
                self.prune_pending = true;
                self.prune();
                if let Err(error) = files::sync_dir(&self.dir) {
                    self.counters.rotation_errors.inc();
                    tracing::warn!(
                        dir = %self.dir.display(),
                        %error,
                        "journal rotated, but the directory could not be synced: a crash may undo \
                         the renames (the entries stay in seq order)"
                    );
                }
                if std::mem::take(&mut self.rotation_failing) {
                    tracing::info!(path = %self.path.display(), "journal rotated again");
                }
                tracing::debug!(path = %self.path.display(), next_seq = self.next_seq, "journal rotated");
            }
            Err(error) => {
                self.counters.rotation_errors.inc();
                self.retry_rotation_at = self.end + max / RETRY_ROTATION_FRACTION;
                if !self.rotation_failing {
                    self.rotation_failing = true;
                    tracing::error!(
                        path = %self.path.display(),
                        %error,
                        "journal rotation failed; the journal grows past [journal] max_bytes \
                         until a rotation succeeds (tried again as the file grows)"
                    );
                }
            }
        }
    }

    /// Deletes rotated files beyond `keep` if any may be left.
    pub(super) fn prune(&mut self) {
        if !self.prune_pending {
            return;
        }
        let live_has_entries = self.end > 0;
        match files::prune(&self.dir, self.limits.keep, live_has_entries) {
            Ok(()) => self.prune_pending = self.limits.keep == 0 && !live_has_entries,
            Err(error) => {
                self.prune_pending = false;
                tracing::warn!(dir = %self.dir.display(), %error, "old journal files not deleted");
            }
        }
    }
}
