//! The decision journal: append-only JSON lines in the state directory, and
//! the most recent entries in memory for `GET /v1/journal`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use orbit_core::api::{JournalEntry, JournalRecord};

/// Entries kept in memory for the API; the file keeps everything.
const RECENT: usize = 10_000;

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
    recent: VecDeque<JournalEntry>,
}

impl Journal {
    /// Opens (or creates) `state_dir/journal.jsonl`, continuing its numbering.
    pub fn open(state_dir: &Path) -> Result<Journal> {
        let path = state_dir.join("journal.jsonl");
        let mut recent = VecDeque::new();
        let mut next_seq = 1;
        if let Ok(existing) = File::open(&path) {
            for line in BufReader::new(existing).lines() {
                let line = line.with_context(|| format!("reading {}", path.display()))?;
                // A torn last line (crash mid-write) is skipped, not fatal.
                if let Ok(entry) = serde_json::from_str::<JournalEntry>(&line) {
                    next_seq = entry.seq + 1;
                    recent.push_back(entry);
                    if recent.len() > RECENT {
                        recent.pop_front();
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        Ok(Journal {
            path,
            file,
            next_seq,
            recent,
        })
    }

    pub fn append(&mut self, record: JournalRecord) {
        let entry = JournalEntry {
            seq: self.next_seq,
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            record,
        };
        self.next_seq += 1;
        match serde_json::to_string(&entry) {
            Ok(mut line) => {
                line.push('\n');
                if let Err(error) = self.file.write_all(line.as_bytes()) {
                    // The daemon keeps steering; losing the record is logged.
                    tracing::error!(path = %self.path.display(), %error, "journal write failed");
                }
            }
            Err(error) => tracing::error!(%error, "journal entry not serializable"),
        }
        self.recent.push_back(entry);
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
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
}
