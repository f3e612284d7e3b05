//! What the journal counts, exported on `/metrics` as `orbit_journal_*`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What the journal counts, registered with orbitd's metrics.
#[derive(Debug, Clone, Default)]
pub struct JournalCounters {
    pub(super) write_errors: Counter,
    pub(super) skipped_lines: Counter,
    pub(super) unwritten: Gauge,
    pub(super) bytes: Gauge,
    pub(super) rotations: Counter,
    pub(super) rotation_errors: Counter,
}

impl JournalCounters {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "journal_write_errors",
            "Journal writes that failed (the entry waits in memory and is written later, in order)",
            self.write_errors.clone(),
        );
        registry.register(
            "journal_skipped_lines",
            "Journal lines skipped at start: torn, not UTF-8 or not an entry",
            self.skipped_lines.clone(),
        );
        registry.register(
            "journal_unwritten",
            "Journal entries waiting in memory until the journal file can be written",
            self.unwritten.clone(),
        );
        registry.register(
            "journal_bytes",
            "Size of the live journal file (journal.jsonl) in bytes",
            self.bytes.clone(),
        );
        registry.register(
            "journal_rotations",
            "Journal rotations done ([journal] max_bytes reached)",
            self.rotations.clone(),
        );
        registry.register(
            "journal_rotation_errors",
            "Journal rotations that failed (the journal kept appending to its current file)",
            self.rotation_errors.clone(),
        );
    }
}
