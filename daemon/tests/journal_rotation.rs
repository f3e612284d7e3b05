//! The decision journal rotates by size in a real orbitd: operator
//! commands through the API fill `journal.jsonl` past `[journal]
//! max_bytes` several times; after a restart `orbitctl journal --since 0`
//! (also with `--follow`) still returns every entry from the oldest kept
//! file on, with no gap and no duplicate, the directory holds at most `keep` + 1 journal files, and
//! a reload that lowers `keep` deletes the files beyond it.
//!
//! One orbitd in the test's own namespace (no gossip, a hook backend); its
//! directory is removed on drop, also on panic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use orbit_tests::follower::Follower;
use orbit_tests::orbitd::{http, orbitctl, standalone_config, Orbitd};
use serde_json::Value;

/// Generous: a shared, loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

const ORBITD: &str = env!("CARGO_BIN_EXE_orbitd");

fn config(dir: &Path, keep: u32) -> String {
    format!(
        "{}\n[journal]\nmax_bytes = \"16KiB\"\nkeep = {keep}\n",
        standalone_config(dir)
    )
}

/// The journal files in the state directory, by name.
fn journal_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("journal"))
        .collect();
    names.sort();
    names
}

/// The value of an unlabelled metric on orbitd's `/metrics`.
fn metric(orbitd: &Orbitd, name: &str) -> f64 {
    let (status, text) = orbitd.get("/metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

/// `orbitctl --json journal --since SEQ`: the seqs printed and stderr.
fn seqs_since(socket: &Path, since: u64) -> (Vec<u64>, String) {
    let (code, out, err) = orbitctl(
        ORBITD,
        socket,
        &["--json", "journal", "--since", &since.to_string()],
    );
    assert_eq!(code, 0, "{err}");
    let seqs = out
        .lines()
        .map(|l| {
            let entry: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            entry["seq"].as_u64().unwrap()
        })
        .collect();
    (seqs, err)
}

/// A command through the API, which must be accepted.
fn command(socket: &Path, method: &str, body: &str) {
    let (status, answer) = http(socket, method, "/v1/pin", body);
    assert_eq!(status, 200, "{method} /v1/pin {body}: {answer}");
}

/// The seq of the first entry of a journal file.
fn first_seq(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["seq"].as_u64().unwrap()
}

#[test]
fn the_journal_rotates_and_reads_back_whole_across_files_and_a_restart() {
    orbit_tests::assert_root("orbitd tests");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let socket = dir.join("api.sock");
    let orbitd = Orbitd::start_in(Path::new(ORBITD), dir, &config(dir, 3));

    // Pin and unpin until the journal has rotated five times: with
    // keep = 3 the two oldest files are gone.
    let deadline = std::time::Instant::now() + LIMIT;
    let mut commands = 0;
    while metric(&orbitd, "orbit_journal_rotations_total") < 5.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "five rotations after {commands} commands; files: {:?}",
            journal_files(dir)
        );
        let reason = format!("rotation test {commands}");
        command(
            &socket,
            "POST",
            &format!(r#"{{"service":"web","site":"a","reason":"{reason}"}}"#),
        );
        command(&socket, "DELETE", r#"{"service":"web"}"#);
        commands += 2;
    }
    assert_eq!(metric(&orbitd, "orbit_journal_rotation_errors_total"), 0.0);
    let live = std::fs::metadata(dir.join("state/journal.jsonl"))
        .unwrap()
        .len();
    assert_eq!(metric(&orbitd, "orbit_journal_bytes"), live as f64);
    assert!(live <= 16 * 1024, "{live} bytes");

    assert_eq!(orbitd.stop(), Some(0));
    let files = journal_files(dir);
    assert_eq!(
        files,
        [
            "journal.1.jsonl",
            "journal.2.jsonl",
            "journal.3.jsonl",
            "journal.jsonl"
        ]
    );
    let oldest = first_seq(&dir.join("state/journal.3.jsonl"));
    assert!(oldest > 1, "the oldest files were deleted");

    let orbitd = Orbitd::start_in(Path::new(ORBITD), dir, &config(dir, 3));
    let (status, body) = orbitd.get("/v1/journal?limit=1");
    assert_eq!(status, 200, "{body}");
    let last: u64 = serde_json::from_str::<Value>(&body).unwrap()["last_seq"]
        .as_u64()
        .unwrap();
    // The restarted daemon journals on (its start, backend results) while
    // it is read: every entry up to `last` at least.
    let (seqs, err) = seqs_since(&socket, 0);
    let newest = seqs.last().copied().unwrap_or(0);
    assert!(newest >= last, "{newest} < {last}");
    assert_eq!(
        seqs,
        (oldest..=newest).collect::<Vec<_>>(),
        "every kept entry once, in order"
    );
    assert!(
        err.contains(&format!(
            "entries #1 to #{} are no longer kept (rotated away)",
            oldest - 1
        )),
        "{err}"
    );
    // From the middle of a rotated file on.
    let (seqs, _) = seqs_since(&socket, oldest + 7);
    assert_eq!(seqs[..8], (oldest + 8..oldest + 16).collect::<Vec<_>>());
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    // Following from the oldest entry kept: the rotated files, then what
    // comes, each once.
    let mut follower = Follower::start(
        &Path::new(ORBITD).with_file_name("orbitctl"),
        &socket,
        &["--json", "journal", "--since", "0", "--follow"],
    );
    follower.wait_for("the entries before the restart", |e| e["seq"] == last);
    command(&socket, "POST", r#"{"service":"web","site":"a"}"#);
    follower.wait_for("the pin after the restart", |e| {
        e["kind"] == "decision" && e["seq"].as_u64() > Some(last)
    });
    let followed: Vec<u64> = follower
        .entries()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let followed_newest = *followed.last().unwrap();
    assert_eq!(followed, (oldest..=followed_newest).collect::<Vec<_>>());
    follower.stop();

    // Reloadable: a lower keep deletes the files beyond it.
    std::fs::write(dir.join("orbit.toml"), config(dir, 1)).unwrap();
    orbitd.reload();
    orbit_tests::wait_until(LIMIT, Duration::from_millis(50), "keep = 1", || {
        journal_files(dir) == ["journal.1.jsonl", "journal.jsonl"]
    });
    drop(orbitd);
}
