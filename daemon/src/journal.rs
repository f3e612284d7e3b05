//! The decision journal: append-only JSON lines in the state directory, and
//! the most recent entries in memory for `GET /v1/journal`.
//!
//! Whatever the disk does, the file's seqs have no gap and no line is glued
//! to a torn one:
//! - each entry is one `write` of one whole line. A write that fails or
//!   comes back short may leave part of a line at the end (a torn tail):
//!   the file is cut back to the end of its last whole line before anything
//!   else is written, and so is a torn tail found at open (a crash);
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
//! At open, lines that cannot be read (torn, not UTF-8, not an entry) are
//! skipped and counted; numbering continues after the highest seq read.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use orbit_core::api::{JournalEntry, JournalRecord};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Entries kept in memory for the API; the file keeps everything.
const RECENT: usize = 10_000;
/// Entries that may wait in memory for the file to be writable again.
const MAX_UNWRITTEN: usize = 10_000;
/// Line numbers of skipped lines named in the log at open.
const SKIPPED_NAMED: usize = 10;

/// What the journal counts, registered with orbitd's metrics.
#[derive(Debug, Clone, Default)]
pub struct JournalCounters {
    write_errors: Counter,
    skipped_lines: Counter,
    unwritten: Gauge,
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
    }
}

#[derive(Debug)]
pub struct Journal {
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
    counters: JournalCounters,
    /// The last write failed (logged once per outage, not per line).
    failing: bool,
}

/// Entries [`Journal::append_synced`] wrote, for [`Journal::take_back`].
#[derive(Debug)]
#[must_use = "entries written for a command are taken back if the command cannot be saved"]
pub struct Written {
    end: u64,
    next_seq: u64,
    count: usize,
}

impl Journal {
    /// Opens (or creates) `state_dir/journal.jsonl`, continuing its numbering.
    pub fn open(state_dir: &Path, counters: JournalCounters) -> Result<Journal> {
        let path = state_dir.join("journal.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        let read = read_entries(&file).with_context(|| format!("reading {}", path.display()))?;
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
        let mut journal = Journal {
            path,
            file,
            end: read.end,
            // A torn tail (crash mid-write) is cut before the first append.
            torn: read.torn,
            next_seq: read.last_seq + 1,
            unwritten: VecDeque::new(),
            lost: 0,
            recent: VecDeque::new(),
            counters,
            failing: false,
        };
        for entry in read.entries {
            journal.remember(entry);
        }
        Ok(journal)
    }

    /// Numbers and records `record`. If the file cannot be written now, the
    /// entry waits in memory and is written, in order, with a later one.
    pub fn append(&mut self, record: JournalRecord) {
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
        if !self.unwritten.is_empty() || self.write_line(&line).is_err() {
            self.unwritten.push_back(line);
        }
        self.count_unwritten();
    }

    /// Writes the entries that wait, if the file can be written again.
    pub fn retry_unwritten(&mut self) {
        if !self.unwritten.is_empty() || self.lost > 0 {
            let _ = self.flush();
        }
    }

    /// Writes `records` (after any waiting entries) and syncs them to disk;
    /// on error nothing of them stays, in the file or in memory.
    pub fn append_synced(
        &mut self,
        records: impl IntoIterator<Item = JournalRecord>,
    ) -> Result<Written> {
        self.flush()?;
        let mut written = Written {
            end: self.end,
            next_seq: self.next_seq,
            count: 0,
        };
        for record in records {
            let Some((entry, line)) = self.number(record) else {
                continue;
            };
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
        self.next_seq = written.next_seq;
        for _ in 0..written.count {
            self.recent.pop_back();
        }
        self.end = written.end;
        self.torn = true;
        // Cut now if possible; otherwise before the next write.
        let _ = self.cut_torn_tail();
    }

    /// Entries after `since`, at most `limit` (the oldest first).
    pub fn since(&self, since: u64, limit: usize) -> Vec<JournalEntry> {
        self.recent
            .iter()
            .filter(|e| e.seq > since)
            .take(limit)
            .cloned()
            .collect()
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
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Writes the waiting lines, oldest first, then the note on lost
    /// records; stops at the first failure.
    fn flush(&mut self) -> Result<()> {
        while let Some(line) = self.unwritten.pop_front() {
            if let Err(error) = self.write_line(&line) {
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
                if let Err(error) = self.write_line(&line) {
                    self.unwritten.push_back(line);
                    self.count_unwritten();
                    return Err(error);
                }
            }
        }
        Ok(())
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

/// What a journal file holds.
#[derive(Debug, Default)]
struct Contents {
    entries: Vec<JournalEntry>,
    last_seq: u64,
    /// The end of the last whole line.
    end: u64,
    /// Part of a line follows `end`.
    torn: bool,
    /// Line numbers (from 1) of the lines that are not entries.
    skipped: Vec<u64>,
}

fn read_entries(file: &File) -> std::io::Result<Contents> {
    let mut read = Contents::default();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            // Written without its end: the rest never reached the file.
            read.torn = true;
            read.skipped.push(number);
            break;
        }
        read.end += n as u64;
        match serde_json::from_slice::<JournalEntry>(&line) {
            Ok(entry) => {
                read.last_seq = read.last_seq.max(entry.seq);
                read.entries.push(entry);
            }
            Err(_) => read.skipped.push(number),
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lifecycle(message: &str) -> JournalRecord {
        JournalRecord::Lifecycle {
            message: message.to_owned(),
        }
    }

    fn line(seq: u64, message: &str) -> Vec<u8> {
        let entry = JournalEntry {
            seq,
            time: "2024-01-01T00:00:00.000Z".to_owned(),
            record: lifecycle(message),
        };
        let mut line = serde_json::to_vec(&entry).unwrap();
        line.push(b'\n');
        line
    }

    fn seqs_in_file(dir: &Path) -> Vec<u64> {
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<JournalEntry>(l).unwrap().seq)
            .collect()
    }

    #[test]
    fn a_line_that_is_not_utf8_is_skipped_counted_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = line(1, "one");
        bytes.extend_from_slice(b"{\"seq\":2,\"time\":\"\xff\xfe\"}\n");
        bytes.extend_from_slice(&line(3, "three"));
        std::fs::write(dir.path().join("journal.jsonl"), &bytes).unwrap();
        let counters = JournalCounters::default();
        let mut journal = Journal::open(dir.path(), counters.clone()).unwrap();
        let seqs: Vec<u64> = journal.tail(10).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3], "the entries around the bad line are read");
        assert_eq!(counters.skipped_lines.get(), 1);
        journal.append(lifecycle("four"));
        assert_eq!(journal.last_seq(), 4);
        let back = Journal::open(dir.path(), JournalCounters::default()).unwrap();
        let seqs: Vec<u64> = back.tail(10).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3, 4]);
    }

    #[test]
    fn a_torn_last_line_is_cut_before_the_next_entry_and_its_seq_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = line(1, "one");
        bytes.extend_from_slice(&line(2, "two"));
        let torn = line(3, "three");
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        std::fs::write(dir.path().join("journal.jsonl"), &bytes).unwrap();
        let counters = JournalCounters::default();
        let mut journal = Journal::open(dir.path(), counters.clone()).unwrap();
        assert_eq!(journal.last_seq(), 2);
        assert_eq!(counters.skipped_lines.get(), 1);
        journal.append(lifecycle("three again"));
        journal.append(lifecycle("four"));
        assert_eq!(seqs_in_file(dir.path()), [1, 2, 3, 4]);
    }

    #[test]
    fn entries_taken_back_leave_the_file_as_it_was_and_their_seqs_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), JournalCounters::default()).unwrap();
        journal.append(lifecycle("one"));
        let before = std::fs::read(dir.path().join("journal.jsonl")).unwrap();
        let written = journal
            .append_synced([lifecycle("two"), lifecycle("three")])
            .unwrap();
        assert_eq!(journal.last_seq(), 3);
        journal.take_back(written);
        assert_eq!(
            std::fs::read(dir.path().join("journal.jsonl")).unwrap(),
            before
        );
        assert_eq!(journal.last_seq(), 1);
        assert_eq!(journal.tail(10).len(), 1);
        let _kept = journal.append_synced([lifecycle("two")]).unwrap();
        journal.append(lifecycle("three"));
        assert_eq!(seqs_in_file(dir.path()), [1, 2, 3]);
    }
}
