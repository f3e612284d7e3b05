//! The journal's guarantees, on real files in a temporary directory.

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
    let mut journal =
        Journal::open(dir.path(), JournalConfig::default(), counters.clone()).unwrap();
    let seqs: Vec<u64> = journal.tail(10).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 3], "the entries around the bad line are read");
    assert_eq!(counters.skipped_lines.get(), 1);
    journal.append(lifecycle("four"));
    assert_eq!(journal.last_seq(), 4);
    let back = Journal::open(
        dir.path(),
        JournalConfig::default(),
        JournalCounters::default(),
    )
    .unwrap();
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
    let mut journal =
        Journal::open(dir.path(), JournalConfig::default(), counters.clone()).unwrap();
    assert_eq!(journal.last_seq(), 2);
    assert_eq!(counters.skipped_lines.get(), 1);
    journal.append(lifecycle("three again"));
    journal.append(lifecycle("four"));
    assert_eq!(seqs_in_file(dir.path()), [1, 2, 3, 4]);
}

#[test]
fn entries_taken_back_leave_the_file_as_it_was_and_their_seqs_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(
        dir.path(),
        JournalConfig::default(),
        JournalCounters::default(),
    )
    .unwrap();
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

// Rotation. Entries of exactly 100 bytes (see `sized`), files of at most
// 1000: a full file holds ten.

/// A record whose line, as entry `seq`, is 100 bytes long (the time is
/// always 24 characters).
fn sized(seq: u64) -> JournalRecord {
    let empty = line(seq, "").len();
    lifecycle(&"x".repeat(100 - empty))
}

fn limits(max_bytes: u64, keep: u32) -> JournalConfig {
    JournalConfig {
        max_bytes: orbit_config::ByteSize(max_bytes),
        keep,
    }
}

fn open_small(dir: &Path, keep: u32, counters: &JournalCounters) -> Journal {
    Journal::open_with_window(dir, limits(1000, keep), counters.clone(), 5).unwrap()
}

/// Asserts that file `name` in `dir` holds exactly the entries `seqs`.
#[track_caller]
fn assert_seqs(dir: &Path, name: &str, seqs: impl IntoIterator<Item = u64>) {
    let expected: Vec<u64> = seqs.into_iter().collect();
    assert_eq!(seqs_of(&dir.join(name)), expected, "{name}");
}

fn seqs_of(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<JournalEntry>(l).unwrap().seq)
        .collect()
}

/// The files in `dir`, by name.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every seq on disk, oldest file first.
fn seqs_on_disk(dir: &Path) -> Vec<u64> {
    let mut numbers = files::rotated(dir).unwrap();
    numbers.reverse();
    let mut seqs: Vec<u64> = numbers
        .into_iter()
        .flat_map(|n| seqs_of(&files::rotated_path(dir, n)))
        .collect();
    seqs.extend(seqs_of(&dir.join("journal.jsonl")));
    seqs
}

/// A journal (files of 1000 bytes, `keep`) holding `entries` entries.
fn filled(keep: u32, entries: usize) -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open_small(dir.path(), keep, &JournalCounters::default());
    append_n(&mut journal, entries);
    (dir, journal)
}

fn append_n(journal: &mut Journal, n: usize) {
    for _ in 0..n {
        let seq = journal.next_seq;
        journal.append(sized(seq));
    }
}

#[test]
fn the_live_file_rotates_at_the_size_limit_and_seqs_continue_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let counters = JournalCounters::default();
    let mut journal = open_small(dir.path(), 4, &counters);
    append_n(&mut journal, 35);
    let d = dir.path();
    assert_seqs(d, "journal.3.jsonl", 1..=10);
    assert_seqs(d, "journal.2.jsonl", 11..=20);
    assert_seqs(d, "journal.1.jsonl", 21..=30);
    assert_seqs(d, "journal.jsonl", 31..=35);
    for n in 1..=3 {
        let size = std::fs::metadata(files::rotated_path(d, n)).unwrap().len();
        assert_eq!(size, 1000, "journal.{n}.jsonl is full, not past max_bytes");
    }
    assert_eq!(counters.rotations.get(), 3);
    assert_eq!(counters.rotation_errors.get(), 0);
    assert_eq!(counters.bytes.get(), 500, "the live file's size");
}

#[test]
fn keep_n_deletes_the_oldest_files_and_keep_0_deletes_each_rotated_file() {
    let (dir, _journal) = filled(2, 60);
    assert_eq!(
        names(dir.path()),
        ["journal.1.jsonl", "journal.2.jsonl", "journal.jsonl"]
    );
    assert_eq!(seqs_on_disk(dir.path()), (31..=60).collect::<Vec<_>>());

    let (dir, _journal) = filled(0, 60);
    assert_eq!(names(dir.path()), ["journal.jsonl"]);
    assert_eq!(seqs_on_disk(dir.path()), (51..=60).collect::<Vec<_>>());
}

#[test]
fn a_lower_keep_from_a_reload_deletes_the_files_beyond_it() {
    let (dir, mut journal) = filled(4, 50);
    assert_eq!(files::rotated(dir.path()).unwrap(), [1, 2, 3, 4]);
    journal.set_limits(limits(1000, 1));
    assert_eq!(files::rotated(dir.path()).unwrap(), [1]);
    assert_eq!(seqs_on_disk(dir.path()), (31..=50).collect::<Vec<_>>());
}

#[test]
fn a_batch_that_does_not_fit_goes_whole_to_a_new_file_and_can_be_taken_back() {
    // 800 bytes: room for two more entries, not for three.
    let (dir, mut journal) = filled(4, 8);
    let d = dir.path();
    let before = std::fs::read(d.join("journal.jsonl")).unwrap();
    let written = journal
        .append_synced([sized(9), sized(10), sized(11)])
        .unwrap();
    assert_eq!(
        std::fs::read(d.join("journal.1.jsonl")).unwrap(),
        before,
        "rotated before the batch, not within it"
    );
    assert_seqs(d, "journal.jsonl", [9, 10, 11]);

    // The state file could not be saved: the batch is taken back from the
    // new file, the rotated one stays, and the seqs are reused.
    journal.take_back(written);
    assert_eq!(seqs_of(&d.join("journal.jsonl")), Vec::<u64>::new());
    assert_eq!(journal.last_seq(), 8);
    // What the window lost with the batch is read from the files.
    let page = journal.page(Some(3), 10).read_blocking();
    let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [4, 5, 6, 7, 8]);
    let _kept = journal.append_synced([sized(9)]).unwrap();
    journal.append(sized(10));
    assert_eq!(seqs_on_disk(d), (1..=10).collect::<Vec<_>>());
    assert_eq!(files::rotated(d).unwrap(), [1], "rotated once");
}

#[test]
fn a_batch_larger_than_max_bytes_is_written_whole_to_one_file() {
    let (dir, mut journal) = filled(4, 3);
    let d = dir.path();
    let _kept = journal.append_synced((4..=18).map(sized)).unwrap();
    assert_seqs(d, "journal.1.jsonl", [1, 2, 3]);
    assert_seqs(d, "journal.jsonl", 4..=18);
    journal.append(sized(19));
    assert_seqs(d, "journal.1.jsonl", 4..=18);
    assert_seqs(d, "journal.jsonl", [19]);
}

#[test]
fn a_restart_right_after_a_rotation_numbers_on_from_the_newest_rotated_file() {
    for keep in [0, 3] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut journal = open_small(d, keep, &JournalCounters::default());
        append_n(&mut journal, 8);
        // A batch rotates the file and is taken back: the live file is
        // empty, and stays so until the restart.
        let written = journal
            .append_synced([sized(9), sized(10), sized(11)])
            .unwrap();
        journal.take_back(written);
        drop(journal);
        assert_eq!(seqs_of(&d.join("journal.jsonl")), Vec::<u64>::new());
        assert_seqs(d, "journal.1.jsonl", 1..=8);

        let mut journal = open_small(d, keep, &JournalCounters::default());
        assert_eq!(journal.last_seq(), 8, "keep = {keep}");
        let seqs: Vec<u64> = journal.tail(10).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [4, 5, 6, 7, 8], "the window is filled from journal.1");
        journal.append(sized(9));
        assert_eq!(seqs_of(&d.join("journal.jsonl")), [9], "keep = {keep}");
        if keep == 0 {
            // Its only use was numbering; the live file does that now.
            journal.append(sized(10));
            assert_eq!(names(d), ["journal.jsonl"]);
        }
    }
}

#[test]
fn a_restart_reads_rotated_files_only_as_far_as_the_window_needs() {
    let (dir, journal) = filled(4, 30);
    let d = dir.path();
    drop(journal);
    // journal.2.jsonl is garbage: a start that needs journal.1 only must
    // not read it.
    std::fs::write(d.join("journal.2.jsonl"), b"not a journal\n").unwrap();
    std::fs::remove_file(d.join("journal.jsonl")).unwrap();
    let journal = open_small(d, 4, &JournalCounters::default());
    assert_eq!(journal.last_seq(), 20, "numbering from journal.1");
    let seqs: Vec<u64> = journal.tail(10).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [16, 17, 18, 19, 20]);
}

#[test]
fn a_failing_rotation_is_counted_and_the_journal_keeps_appending_to_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let counters = JournalCounters::default();
    let mut journal = open_small(d, 1, &counters);
    // A non-empty directory where the rotated file goes: the rename fails
    // (root included).
    let blocker = d.join("journal.1.jsonl");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("x"), b"x").unwrap();
    append_n(&mut journal, 20);
    assert_seqs(d, "journal.jsonl", 1..=20);
    assert_eq!(
        counters.rotation_errors.get(),
        10,
        "one per entry past the limit"
    );
    assert_eq!(counters.rotations.get(), 0);
    assert_eq!(counters.write_errors.get(), 0);
    assert_eq!(
        counters.unwritten.get(),
        0,
        "nothing waits: every entry is written"
    );
    assert!(!d.join("journal.next.jsonl").exists());

    // Once the way is clear, the next entry rotates.
    std::fs::remove_dir_all(&blocker).unwrap();
    journal.append(sized(21));
    assert_eq!(counters.rotations.get(), 1);
    assert_eq!(seqs_of(&blocker), (1..=20).collect::<Vec<_>>());
    assert_seqs(d, "journal.jsonl", [21]);
}

#[test]
fn pages_since_a_seq_read_across_the_files_with_no_gap_at_any_boundary() {
    let (dir, mut journal) = filled(10, 50);
    let seqs = |journal: &Journal, since: u64, limit: usize| -> Vec<u64> {
        let page = journal.page(Some(since), limit).read_blocking();
        assert_eq!(page.last_seq, 50);
        page.entries.iter().map(|e| e.seq).collect()
    };
    for round in ["running", "restarted"] {
        // Files of 1-10, 11-20, ..., 41-50 (live); 46-50 in memory.
        assert_eq!(
            seqs(&journal, 0, 1000),
            (1..=50).collect::<Vec<_>>(),
            "{round}"
        );
        assert_eq!(
            seqs(&journal, 17, 10),
            (18..=27).collect::<Vec<_>>(),
            "{round}"
        );
        for since in 1..50 {
            assert_eq!(
                seqs(&journal, since, 3),
                (since + 1..=(since + 3).min(50)).collect::<Vec<_>>(),
                "{round}: since {since}"
            );
        }
        assert!(journal.page(Some(46), 10).disk.is_none(), "in memory");
        journal = open_small(dir.path(), 10, &JournalCounters::default());
    }
    // Older than the oldest file kept: from the oldest kept on.
    journal.set_limits(limits(1000, 2));
    assert_eq!(seqs(&journal, 0, 1000), (21..=50).collect::<Vec<_>>());
}

#[test]
fn a_rotation_after_one_that_failed_half_way_fills_the_hole_and_drops_nothing() {
    let (dir, mut journal) = filled(3, 30);
    let d = dir.path();
    // As a rotation leaves them when the live file could not take the
    // name journal.1.jsonl: shifted, then stopped.
    std::fs::rename(d.join("journal.2.jsonl"), d.join("journal.3.jsonl")).unwrap();
    std::fs::rename(d.join("journal.1.jsonl"), d.join("journal.2.jsonl")).unwrap();
    append_n(&mut journal, 1);
    assert_seqs(d, "journal.3.jsonl", 1..=10);
    assert_seqs(d, "journal.2.jsonl", 11..=20);
    assert_seqs(d, "journal.1.jsonl", 21..=30);
    assert_seqs(d, "journal.jsonl", [31]);
}

#[test]
fn a_failed_rotation_is_tried_again_as_the_file_grows_not_before_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let counters = JournalCounters::default();
    // Tried again every 12800 / 64 = 200 bytes: every other entry.
    let mut journal = Journal::open_with_window(d, limits(12_800, 1), counters.clone(), 5).unwrap();
    std::fs::create_dir_all(d.join("journal.1.jsonl/blocker")).unwrap();
    append_n(&mut journal, 128 + 20);
    assert_eq!(counters.rotation_errors.get(), 10);
    assert_seqs(d, "journal.jsonl", 1..=148);
}
