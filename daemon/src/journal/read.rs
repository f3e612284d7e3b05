//! Reading journal files: the live file at start (its entries, where its
//! last whole line ends), the newest entries of rotated files (to fill the
//! in-memory window and number on), and pages of older entries for
//! `GET /v1/journal?since=SEQ`.
//!
//! A page older than the in-memory window is read from the files outside
//! the event loop: the loop opens them (cheap, and no rotation can rename
//! one between listing and opening: the loop is the one that rotates) and
//! a blocking task reads them through those descriptors, which keep
//! pointing at the same files whatever rotation does meanwhile. Only
//! entries older than the window are read from disk, and those never
//! change: a torn tail or a take-back only touches the newest entries.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use orbit_core::api::{JournalEntry, JournalResponse};

use super::files;

/// What the live journal file holds.
#[derive(Debug, Default)]
pub(super) struct Contents {
    /// Its newest entries, at most as many as asked for.
    pub entries: VecDeque<JournalEntry>,
    pub last_seq: u64,
    /// The end of the last whole line.
    pub end: u64,
    /// Part of a line follows `end`.
    pub torn: bool,
    /// Line numbers (from 1) of the lines that are not entries.
    pub skipped: Vec<u64>,
}

/// Reads the live file; keeps its newest `keep` entries.
pub(super) fn read_entries(file: &File, keep: usize) -> std::io::Result<Contents> {
    let mut read = Contents::default();
    let mut reader = BufReader::new(At::start(file));
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
                read.entries.push_back(entry);
                if read.entries.len() > keep {
                    read.entries.pop_front();
                }
            }
            Err(_) => read.skipped.push(number),
        }
    }
    Ok(read)
}

/// The last `need` entries of a rotated file, oldest first. The file is
/// read from its end, a chunk at a time, only as far as needed: at start
/// orbitd may need a few entries of a just-rotated file of `max_bytes`.
pub(super) fn newest_entries(path: &Path, need: usize) -> std::io::Result<Vec<JournalEntry>> {
    newest_entries_by(path, need, 1 << 20)
}

fn newest_entries_by(
    path: &Path,
    need: usize,
    chunk_bytes: u64,
) -> std::io::Result<Vec<JournalEntry>> {
    let file = File::open(path)?;
    let mut start = file.metadata()?.len();
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let from = start.saturating_sub(chunk_bytes);
        let mut chunk = vec![0; usize::try_from(start - from).unwrap_or(0)];
        file.read_exact_at(&mut chunk, from)?;
        chunk.append(&mut tail);
        tail = chunk;
        start = from;
        // Before `start`, the first line may have begun: not whole.
        let whole = match start {
            0 => &tail[..],
            _ => tail
                .iter()
                .position(|b| *b == b'\n')
                .map_or(&tail[..0], |i| &tail[i + 1..]),
        };
        let mut newest: Vec<JournalEntry> = whole
            .split(|b| *b == b'\n')
            .rev()
            .filter_map(|line| serde_json::from_slice::<JournalEntry>(line).ok())
            .take(need)
            .collect();
        if newest.len() == need || start == 0 {
            newest.reverse();
            return Ok(newest);
        }
    }
}

/// An answer to `GET /v1/journal`: ready, or partly to be read from the
/// files (see the module doc).
#[derive(Debug)]
pub struct JournalPage {
    pub(super) disk: Option<DiskRead>,
    /// Entries from memory, after `since`, oldest first.
    pub(super) memory: Vec<JournalEntry>,
    pub(super) since: u64,
    pub(super) limit: usize,
    pub(super) last_seq: u64,
}

/// Entries after `since` and before `until` (the oldest entry in memory),
/// to be read from `files` (oldest first, the live file last).
#[derive(Debug)]
pub(super) struct DiskRead {
    pub files: Vec<File>,
    pub until: u64,
}

impl JournalPage {
    /// The page, reading files in a blocking task where needed.
    pub async fn read(self) -> JournalResponse {
        if self.disk.is_none() {
            return self.read_blocking();
        }
        let (since, limit, last_seq) = (self.since, self.limit, self.last_seq);
        let memory = self.memory.clone();
        match tokio::task::spawn_blocking(move || self.read_blocking()).await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!(%error, "reading older journal entries failed");
                JournalPage {
                    disk: None,
                    memory,
                    since,
                    limit,
                    last_seq,
                }
                .read_blocking()
            }
        }
    }

    /// The page, reading files in this thread where needed.
    pub fn read_blocking(self) -> JournalResponse {
        let mut entries = match &self.disk {
            Some(disk) => disk.read(self.since, self.limit),
            None => Vec::new(),
        };
        let after = entries.last().map_or(self.since, |e| e.seq);
        let room = self.limit - entries.len();
        entries.extend(self.memory.into_iter().filter(|e| e.seq > after).take(room));
        JournalResponse {
            entries,
            last_seq: self.last_seq,
        }
    }
}

impl DiskRead {
    /// Entries after `since` (at most `limit`), from the newest file that
    /// starts at or before `since + 1` on: older files hold only older
    /// entries, and are not read.
    fn read(&self, since: u64, limit: usize) -> Vec<JournalEntry> {
        let start = self
            .files
            .iter()
            .rposition(|f| first_seq(f).is_some_and(|first| first <= since + 1))
            .unwrap_or(0);
        let mut entries = Vec::new();
        for file in &self.files[start..] {
            let mut reader = BufReader::new(At::start(file));
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let Ok(entry) = serde_json::from_slice::<JournalEntry>(&line) else {
                    continue;
                };
                if entry.seq >= self.until {
                    return entries;
                }
                if entry.seq > since {
                    entries.push(entry);
                    if entries.len() == limit {
                        return entries;
                    }
                }
            }
        }
        entries
    }
}

/// The seq of a file's first entry (skipping lines that are not entries).
fn first_seq(file: &File) -> Option<u64> {
    let reader = BufReader::new(At::start(file));
    reader
        .split(b'\n')
        .map_while(Result::ok)
        .find_map(|line| serde_json::from_slice::<JournalEntry>(&line).ok())
        .map(|e| e.seq)
}

/// Reads a file from an offset of its own (`pread`), so that readers of a
/// descriptor shared with the writer never move its position.
struct At<'a> {
    file: &'a File,
    offset: u64,
}

impl<'a> At<'a> {
    fn start(file: &'a File) -> At<'a> {
        At { file, offset: 0 }
    }
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Opens the files an older page is read from: the rotated ones (oldest
/// first) and `live`, shared with the writer.
pub(super) fn open_all(dir: &Path, live: &File) -> Vec<File> {
    let mut numbers = files::rotated(dir).unwrap_or_default();
    numbers.reverse();
    let mut opened: Vec<File> = numbers
        .into_iter()
        .filter_map(|n| {
            let path = files::rotated_path(dir, n);
            File::open(&path)
                .map_err(|error| {
                    tracing::warn!(path = %path.display(), %error, "journal file not readable");
                })
                .ok()
        })
        .collect();
    match live.try_clone() {
        Ok(live) => opened.push(live),
        Err(error) => tracing::warn!(%error, "journal file not readable"),
    }
    opened
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_newest_entries_read_backwards_in_chunks_are_those_of_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.1.jsonl");
        let mut text = String::from("not an entry\n");
        for seq in 1..=30 {
            text.push_str(&format!(
                r#"{{"seq":{seq},"time":"2026-01-01T00:00:00.000Z","kind":"lifecycle","message":"{}"}}"#,
                "x".repeat(seq as usize)
            ));
            text.push('\n');
        }
        text.push_str("{\"seq\":31,\"torn");
        std::fs::write(&path, text).unwrap();
        for chunk in [7, 100, 1 << 20] {
            for need in [1, 5, 29, 30, 40] {
                let seqs: Vec<u64> = newest_entries_by(&path, need, chunk)
                    .unwrap()
                    .iter()
                    .map(|e| e.seq)
                    .collect();
                let first = 31 - need.min(30) as u64;
                assert_eq!(
                    seqs,
                    (first..=30).collect::<Vec<_>>(),
                    "chunk {chunk}, need {need}"
                );
            }
        }
    }
}
