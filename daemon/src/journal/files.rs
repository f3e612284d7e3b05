//! The journal's files in the state directory and their rotation.
//!
//! `journal.jsonl` is the live file; rotated ones are `journal.1.jsonl`
//! (the newest) to `journal.K.jsonl` (the oldest kept). A rotation:
//! 1. creates the next live file as `journal.next.jsonl` (so running out
//!    of file descriptors or inodes fails first, before anything costly
//!    or anything renamed);
//! 2. syncs the live file, so what is rotated is on disk whole;
//! 3. shifts `.K-1` -> `.K` ... `.1` -> `.2` (the rename over `.K` drops
//!    the oldest; only up to the first free number, if one is), then
//!    `journal.jsonl` -> `.1`, then the new file to `journal.jsonl`;
//! 4. syncs the directory (the caller), so the renames survive a crash.
//!
//! A step that fails leaves the files in seq order: a shift that stopped
//! half-way leaves a hole in the numbers, which readers skip (they sort
//! what exists), and the next rotation fills instead of shifting again. If the new file cannot take
//! the live name after the live file moved, the live file is moved back;
//! should that fail too, orbitd keeps writing to the file it holds (now
//! `journal.1.jsonl`) and the next rotation, finding no live file, only
//! shifts and puts a new one in place. A crash between the two last
//! renames leaves no `journal.jsonl`: the next start creates one and
//! numbers on from `journal.1.jsonl`.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

pub(super) const LIVE: &str = "journal.jsonl";
/// The next live file while a rotation is under way.
const NEXT: &str = "journal.next.jsonl";

pub(super) fn live_path(dir: &Path) -> PathBuf {
    dir.join(LIVE)
}

pub(super) fn rotated_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("journal.{n}.jsonl"))
}

/// Opens (or creates) a live file for reading and appending.
pub(super) fn open_live(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
}

/// The numbers of the rotated files in `dir`, the newest (1) first.
pub(super) fn rotated(dir: &Path) -> io::Result<Vec<u32>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix("journal."))
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0);
        if let Some(n) = number {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Rotates as the module doc says, keeping `slots` rotated files (at
/// least 1: with `keep = 0` the rotated file stays until the new one holds
/// an entry, see [`prune`]); the new live file, empty.
pub(super) fn rotate(dir: &Path, slots: u32, current: &File) -> io::Result<File> {
    let next = dir.join(NEXT);
    remove_if_exists(&next)?;
    let fresh = OpenOptions::new()
        .create_new(true)
        .read(true)
        .append(true)
        .open(&next)?;
    let result = current
        .sync_data()
        .and_then(|()| shift_and_install(dir, slots, &next));
    if result.is_err() {
        let _ = std::fs::remove_file(&next);
    }
    result.map(|()| fresh)
}

fn shift_and_install(dir: &Path, slots: u32, next: &Path) -> io::Result<()> {
    // Only the files below the first free number move (the oldest is
    // overwritten when none is free): a rotation retried after a failure
    // never shifts twice, so it never drops a file it did not replace.
    let free = (1..=slots)
        .find(|n| !rotated_path(dir, *n).exists())
        .unwrap_or(slots);
    for n in (1..free).rev() {
        rename_if_exists(&rotated_path(dir, n), &rotated_path(dir, n + 1))?;
    }
    let live = live_path(dir);
    let moved = rename_if_exists(&live, &rotated_path(dir, 1))?;
    if let Err(error) = std::fs::rename(next, &live) {
        if moved {
            // Back in place, so that the file orbitd writes keeps its name.
            let _ = std::fs::rename(rotated_path(dir, 1), &live);
        }
        return Err(error);
    }
    Ok(())
}

/// Deletes the rotated files beyond `keep`; with `keep = 0`,
/// `journal.1.jsonl` only once the live file holds an entry
/// (`live_has_entries`): until then it alone knows where numbering goes on.
pub(super) fn prune(dir: &Path, keep: u32, live_has_entries: bool) -> io::Result<()> {
    let keep = if keep == 0 && !live_has_entries {
        1
    } else {
        keep
    };
    for n in rotated(dir)?.into_iter().filter(|n| *n > keep) {
        remove_if_exists(&rotated_path(dir, n))?;
    }
    Ok(())
}

/// A leftover of a rotation that a crash interrupted.
pub(super) fn remove_next(dir: &Path) -> io::Result<()> {
    remove_if_exists(&dir.join(NEXT))
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<bool> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
