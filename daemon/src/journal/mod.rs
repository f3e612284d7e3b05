//! The decision journal: append-only JSON lines in the state directory
//! (`journal.jsonl`, rotated by size into `journal.1.jsonl` ...: when in
//! `rotate.rs`, how in `files.rs`), and the most recent entries in memory
//! for `GET /v1/journal` (older ones are read from the files: `read.rs`).
//! Its metrics are `counters.rs`.
//!
//! Whatever the disk does, the files' seqs have no gap and no line is
//! glued to a torn one:
//! - each entry is one `write` of one whole line. A write that fails or
//!   comes back short may leave part of a line at the end (a torn tail):
//!   the file is cut back to the end of its last whole line before anything
//!   else is written (or rotated), and so is a torn tail found at open (a
//!   crash);
//! - an entry whose write failed keeps its seq and waits in memory; the
//!   waiting entries are written, oldest first, before anything newer. At
//!   most [`MAX_UNWRITTEN`] wait: records beyond them get no seq (they go
//!   to the log only) and a line saying how many were lost follows the
//!   late ones;
//! - an operator command's entries are written with
//!   [`Journal::append_synced`] (all of them on disk, or none) and taken
//!   back if the state file cannot be saved after them: their seqs are
//!   reused.
//!
//! Rotation: before a line (or a synced batch, whole) would take the live
//! file past `[journal] max_bytes`, the file is rotated, so a command's
//! entries are always in one file and [`Journal::take_back`] only ever
//! cuts the live file: nothing rotates between `append_synced` and
//! `take_back` (the [`Written`] names the file it wrote to). A live file
//! holding no entry is never rotated, so a single entry larger than the
//! limit still gets written. A rotation that fails is counted, logged once
//! until one succeeds, and the journal keeps appending to the file it
//! has: it never drops an entry for want of rotating.
//!
//! At open, lines that cannot be read (torn, not UTF-8, not an entry) are
//! skipped and counted; numbering continues after the highest seq read,
//! in the live file or, when it holds none (just rotated), in the newest
//! rotated file that does. Rotated files are read at start only as far as
//! needed to fill the in-memory window.

mod counters;
mod files;
mod read;
mod rotate;

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use orbit_config::JournalConfig;
use orbit_core::api::{JournalEntry, JournalRecord};

pub use counters::JournalCounters;
pub use read::JournalPage;

/// Entries kept in memory for the API; older ones are read from the files.
const RECENT: usize = 10_000;
/// Entries that may wait in memory for the file to be writable again.
const MAX_UNWRITTEN: usize = 10_000;
/// Line numbers of skipped lines named in the log at open.
const SKIPPED_NAMED: usize = 10;

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Where the file's last whole line ends.
    end: u64,
    /// The file may hold part of a line after `end`.
    torn: bool,
    next_seq: u64,
    /// Numbered lines whose write failed, oldest first.
    unwritten: VecDeque<Vec<u8>>,
    /// Records that got no seq because too many lines were waiting.
    lost: u64,
    recent: VecDeque<JournalEntry>,
    /// How many entries `recent` keeps ([`RECENT`]; fewer in tests).
    window: usize,
    counters: JournalCounters,
    /// The last write failed (logged once per outage, not per line).
    failing: bool,
    limits: JournalConfig,
    /// Rotations done since open: names the live file a [`Written`] is in.
    rotations: u64,
    /// The last rotation failed (logged once until one succeeds).
    rotation_failing: bool,
    /// After a failed rotation, the next is tried once the live file
    /// reaches this size: not before every entry (each try syncs the file).
    retry_rotation_at: u64,
    /// Rotated files beyond `keep` may remain (`keep = 0` keeps the newest
    /// until the live file holds an entry).
    prune_pending: bool,
}

/// Entries [`Journal::append_synced`] wrote, for [`Journal::take_back`].
#[derive(Debug)]
#[must_use = "entries written for a command are taken back if the command cannot be saved"]
pub struct Written {
    /// The live file they went to (see [`Journal::rotations`]).
    file: u64,
    end: u64,
    next_seq: u64,
    count: usize,
}

impl Journal {
    /// Opens (or creates) `state_dir/journal.jsonl`, continuing the
    /// numbering of it or of the newest rotated file.
    pub fn open(
        state_dir: &Path,
        limits: JournalConfig,
        counters: JournalCounters,
    ) -> Result<Journal> {
        Journal::open_with_window(state_dir, limits, counters, RECENT)
    }

    /// [`Journal::open`] keeping `window` entries in memory.
    fn open_with_window(
        state_dir: &Path,
        limits: JournalConfig,
        counters: JournalCounters,
        window: usize,
    ) -> Result<Journal> {
        let path = files::live_path(state_dir);
        files::remove_next(state_dir).with_context(|| {
            format!("removing an unfinished rotation in {}", state_dir.display())
        })?;
        let file = files::open_live(&path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        let read = read::read_entries(&file, window)
            .with_context(|| format!("reading {}", path.display()))?;
        if !read.skipped.is_empty() {
            counters.skipped_lines.inc_by(read.skipped.len() as u64);
            let named: Vec<String> = read
                .skipped
                .iter()
                .take(SKIPPED_NAMED)
                .map(u64::to_string)
                .collect();
            tracing::warn!(
                path = %path.display(),
                count = read.skipped.len(),
                lines = %named.join(", "),
                "journal lines skipped: torn, not UTF-8 or not an entry"
            );
        }
        let older = older_entries(state_dir, window.saturating_sub(read.entries.len()))?;
        // The live file's highest seq, or (just rotated) the newest
        // rotated file's last.
        let last_seq = read.last_seq.max(older.last().map_or(0, |e| e.seq));
        let mut journal = Journal {
            dir: state_dir.to_owned(),
            path,
            file,
            end: read.end,
            // A torn tail (crash mid-write) is cut before the first append.
            torn: read.torn,
            next_seq: last_seq + 1,
            unwritten: VecDeque::new(),
            lost: 0,
            recent: VecDeque::new(),
            window,
            counters,
            failing: false,
            limits,
            rotations: 0,
            rotation_failing: false,
            retry_rotation_at: 0,
            prune_pending: true,
        };
        for entry in older.into_iter().chain(read.entries) {
            journal.remember(entry);
        }
        journal.prune();
        journal.count_bytes();
        Ok(journal)
    }

    /// Numbers and records `record`. If the file cannot be written now, the
    /// entry waits in memory and is written, in order, with a later one.
    pub fn append(&mut self, record: JournalRecord) {
        self.prune();
        if self.flush().is_err() && self.unwritten.len() >= MAX_UNWRITTEN {
            self.lost += 1;
            tracing::error!(
                ?record,
                "journal entry lost: too many entries wait to be written"
            );
            return;
        }
        let Some((entry, line)) = self.number(record) else {
            return;
        };
        self.remember(entry);
        if !self.unwritten.is_empty() || self.write_rotating(&line).is_err() {
            self.unwritten.push_back(line);
        }
        self.count_unwritten();
    }

    /// Writes the entries that wait, if the file can be written again.
    pub fn retry_unwritten(&mut self) {
        self.prune();
        if !self.unwritten.is_empty() || self.lost > 0 {
            let _ = self.flush();
        }
    }

    /// Writes `records` (after any waiting entries) and syncs them to disk;
    /// on error nothing of them stays, in the file or in memory. They all
    /// go to one file: rotated before them if they would not fit.
    pub fn append_synced(
        &mut self,
        records: impl IntoIterator<Item = JournalRecord>,
    ) -> Result<Written> {
        self.prune();
        self.flush()?;
        let next_seq = self.next_seq;
        let numbered: Vec<(JournalEntry, Vec<u8>)> =
            records.into_iter().filter_map(|r| self.number(r)).collect();
        let bytes = numbered.iter().map(|(_, line)| line.len() as u64).sum();
        self.make_room(bytes);
        let mut written = Written {
            file: self.rotations,
            end: self.end,
            next_seq,
            count: 0,
        };
        for (entry, line) in numbered {
            if let Err(error) = self.write_line(&line) {
                self.take_back(written);
                return Err(error);
            }
            self.remember(entry);
            written.count += 1;
        }
        if let Err(error) = self.file.sync_data() {
            self.take_back(written);
            return Err(error).with_context(|| format!("syncing journal {}", self.path.display()));
        }
        Ok(written)
    }

    /// Removes what [`Journal::append_synced`] wrote: a later step of the
    /// same command failed. Their seqs are reused.
    pub fn take_back(&mut self, written: Written) {
        if written.file != self.rotations {
            // Cannot happen: only append and append_synced rotate, and the
            // daemon takes back before it journals anything else.
            tracing::error!(
                path = %self.path.display(),
                "journal entries not taken back: the journal rotated since they were written"
            );
            return;
        }
        self.next_seq = written.next_seq;
        for _ in 0..written.count {
            self.recent.pop_back();
        }
        self.end = written.end;
        self.torn = true;
        // Cut now if possible; otherwise before the next write.
        let _ = self.cut_torn_tail();
        self.count_bytes();
    }

    /// `GET /v1/journal`: entries after `since` (the oldest first), or the
    /// last ones; at most `limit`. Entries older than the in-memory window
    /// are read from the files when the page is read.
    pub fn page(&self, since: Option<u64>, limit: usize) -> JournalPage {
        let Some(since) = since else {
            return JournalPage {
                disk: None,
                memory: self.tail(limit),
                since: 0,
                limit,
                last_seq: self.last_seq(),
            };
        };
        let oldest_in_memory = self.recent.front().map_or(self.next_seq, |e| e.seq);
        let disk = (since + 1 < oldest_in_memory).then(|| read::DiskRead {
            files: read::open_all(&self.dir, &self.file),
            until: oldest_in_memory,
        });
        JournalPage {
            disk,
            memory: self
                .recent
                .iter()
                .filter(|e| e.seq > since)
                .take(limit)
                .cloned()
                .collect(),
            since,
            limit,
            last_seq: self.last_seq(),
        }
    }

    /// The last `limit` entries.
    pub fn tail(&self, limit: usize) -> Vec<JournalEntry> {
        let skip = self.recent.len().saturating_sub(limit);
        self.recent.iter().skip(skip).cloned().collect()
    }

    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The next entry and its line. A record that cannot be encoded is
    /// logged and takes no seq.
    fn number(&mut self, record: JournalRecord) -> Option<(JournalEntry, Vec<u8>)> {
        // The daemon's own lifecycle (start, SIGTERM and each step of the
        // stop, backend notes) also goes to stderr: journald and a log
        // shipper see it without reading the journal file.
        if let JournalRecord::Lifecycle { message } = &record {
            tracing::info!(kind = %"lifecycle", seq = self.next_seq, "{message}");
        }
        let entry = JournalEntry {
            seq: self.next_seq,
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            record,
        };
        match serde_json::to_vec(&entry) {
            Ok(mut line) => {
                line.push(b'\n');
                self.next_seq += 1;
                Some((entry, line))
            }
            Err(error) => {
                tracing::error!(%error, ?entry, "journal entry not serializable");
                None
            }
        }
    }

    fn remember(&mut self, entry: JournalEntry) {
        self.recent.push_back(entry);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
    }

    /// Writes the waiting lines, oldest first, then the note on lost
    /// records; stops at the first failure.
    fn flush(&mut self) -> Result<()> {
        while let Some(line) = self.unwritten.pop_front() {
            if let Err(error) = self.write_rotating(&line) {
                self.unwritten.push_front(line);
                self.count_unwritten();
                return Err(error);
            }
        }
        self.count_unwritten();
        if self.lost > 0 {
            let lost = std::mem::take(&mut self.lost);
            let message = format!(
                "{lost} journal entries lost: the journal could not be written and \
                 {MAX_UNWRITTEN} entries were already waiting (the log has them)"
            );
            if let Some((entry, line)) = self.number(JournalRecord::Lifecycle { message }) {
                self.remember(entry);
                if let Err(error) = self.write_rotating(&line) {
                    self.unwritten.push_back(line);
                    self.count_unwritten();
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// One line outside a synced batch: rotated first if it does not fit.
    fn write_rotating(&mut self, line: &[u8]) -> Result<()> {
        self.make_room(line.len() as u64);
        self.write_line(line)
    }

    /// One `write` of one whole line, after cutting a torn tail.
    fn write_line(&mut self, line: &[u8]) -> Result<()> {
        let result = self
            .cut_torn_tail()
            .and_then(|()| match self.file.write(line) {
                Ok(n) if n == line.len() => Ok(()),
                Ok(n) => Err(std::io::Error::other(format!(
                    "short write, {n} of {} bytes (is the file system full?)",
                    line.len()
                ))),
                Err(error) => Err(error),
            });
        match result {
            Ok(()) => {
                self.end += line.len() as u64;
                self.count_bytes();
                if self.failing {
                    self.failing = false;
                    tracing::info!(path = %self.path.display(), "journal written again");
                }
                Ok(())
            }
            Err(error) => {
                self.counters.write_errors.inc();
                // Whatever reached the file is cut now, or before the next write.
                self.torn = true;
                let _ = self.cut_torn_tail();
                if !self.failing {
                    self.failing = true;
                    tracing::error!(
                        path = %self.path.display(),
                        %error,
                        "journal write failed; entries wait in memory and are written in order \
                         once it can be written"
                    );
                }
                Err(error).with_context(|| format!("writing journal {}", self.path.display()))
            }
        }
    }

    fn cut_torn_tail(&mut self) -> std::io::Result<()> {
        if self.torn {
            self.file.set_len(self.end)?;
            self.torn = false;
        }
        Ok(())
    }

    fn count_unwritten(&self) {
        self.counters
            .unwritten
            .set(i64::try_from(self.unwritten.len()).unwrap_or(i64::MAX));
    }

    fn count_bytes(&self) {
        self.counters
            .bytes
            .set(i64::try_from(self.end).unwrap_or(i64::MAX));
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if !self.unwritten.is_empty() || self.lost > 0 {
            tracing::error!(
                path = %self.path.display(),
                unwritten = self.unwritten.len(),
                lost = self.lost,
                "journal entries never written: the journal could not be written until the end"
            );
        }
    }
}

/// The newest `need` entries of the rotated files, oldest first: read
/// from the newest file back, only as far as needed.
fn older_entries(dir: &Path, need: usize) -> Result<Vec<JournalEntry>> {
    let mut older: Vec<JournalEntry> = Vec::new();
    if need == 0 {
        return Ok(older);
    }
    let numbers = files::rotated(dir).with_context(|| format!("listing {}", dir.display()))?;
    for n in numbers {
        let path = files::rotated_path(dir, n);
        let mut entries = read::newest_entries(&path, need - older.len())
            .with_context(|| format!("reading {}", path.display()))?;
        entries.append(&mut older);
        older = entries;
        if older.len() >= need {
            break;
        }
    }
    Ok(older)
}

#[cfg(test)]
mod tests;
