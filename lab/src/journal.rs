//! Reads the members' decision journals (`state/journal.jsonl`, one
//! `orbit_core::api::JournalEntry` per line) into the lab's
//! [`Entry`]. Typed on purpose: a field orbitd renames fails to compile
//! here, and a line the lab cannot read fails the run, instead of both
//! reading as "no failover".

use std::path::Path;

use anyhow::{bail, Context, Result};
use orbit_core::api::{JournalEntry, JournalRecord};
use orbit_core::Change;

use crate::analysis::Entry;

/// Every entry of `member`'s journal at `path`. A last line without its
/// newline is skipped, as orbitd itself does on start: a `kill -9` can cut
/// a write short (scenario 12). Any other line that is not an entry is an
/// error naming the file and line.
pub fn read(member: &str, path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {member}'s journal {}", path.display()))?;
    let whole = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    whole
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<JournalEntry>(line)
                .map_err(anyhow::Error::from)
                .and_then(|e| entry(member, e))
                .with_context(|| format!("{}:{}: not a journal entry", path.display(), i + 1))
        })
        .collect()
}

/// One entry reduced to what the lab measures. The matches are exhaustive
/// so that a new kind of record or change is a decision made here.
fn entry(member: &str, journal: JournalEntry) -> Result<Entry> {
    let mut e = Entry {
        member: member.to_owned(),
        t: unix_us(&journal.time)?,
        kind: String::new(),
        change: String::new(),
        site: None,
        dead: None,
        from: None,
        to: None,
        generation: None,
        ok: None,
        fenced: None,
    };
    e.kind = match journal.record {
        JournalRecord::Decision { decision } => {
            e.generation = Some(decision.generation);
            e.change = decision.change.kind().to_owned();
            match decision.change {
                Change::ServiceMoved { from, to, .. } => {
                    e.from = from.map(|s| s.as_str().to_owned());
                    e.to = to.map(|s| s.as_str().to_owned());
                }
                Change::SiteLiveness { site, dead } => {
                    e.site = Some(site.as_str().to_owned());
                    e.dead = Some(dead);
                }
                Change::SiteLeft { site, .. } => e.site = Some(site.as_str().to_owned()),
                // The member (router) in `site`, its own site in `from`.
                Change::MemberLiveness { member, site, dead } => {
                    e.site = Some(member.as_str().to_owned());
                    e.from = Some(site.as_str().to_owned());
                    e.dead = Some(dead);
                }
                Change::Fenced { fenced } => e.fenced = Some(fenced),
                _ => {}
            }
            "decision"
        }
        JournalRecord::CommandRefused { .. } => "command_refused",
        JournalRecord::Backend { generation, ok, .. } => {
            e.generation = Some(generation);
            e.ok = Some(ok);
            "backend"
        }
        JournalRecord::Drift { .. } => "drift",
        JournalRecord::Lifecycle { .. } => "lifecycle",
        JournalRecord::Reload { .. } => "reload",
        JournalRecord::PlanStep {
            from, to, progress, ..
        } => {
            e.from = from.map(|s| s.as_str().to_owned());
            e.to = Some(to.as_str().to_owned());
            if let orbit_core::StepProgress::Ended { error, .. } = progress {
                e.ok = Some(error.is_none());
            }
            "plan_step"
        }
    }
    .to_owned();
    Ok(e)
}

/// An entry's RFC 3339 time on the lab's clock (Unix µs).
fn unix_us(time: &str) -> Result<i64> {
    let Some(us) = humantime::parse_rfc3339_weak(time)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_micros()).ok())
    else {
        bail!("time {time:?} is not an RFC 3339 time after 1970");
    };
    Ok(us)
}

#[cfg(test)]
mod tests {
    use orbit_core::{Decision, Millis, SiteId};

    use super::*;

    fn journal_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("olab-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn line(seq: u64, record: JournalRecord) -> String {
        let entry = JournalEntry {
            seq,
            time: "2026-12-05T05:00:00.250Z".to_owned(),
            record,
        };
        format!("{}\n", serde_json::to_string(&entry).unwrap())
    }

    fn decision(change: Change, generation: u64) -> JournalRecord {
        JournalRecord::Decision {
            decision: Decision {
                at: Millis(0),
                change,
                reason: "test".to_owned(),
                causes: Vec::new(),
                generation,
            },
        }
    }

    #[test]
    fn orbitds_entries_are_read_with_what_the_lab_measures() {
        let a = SiteId::new("a").unwrap();
        let b = SiteId::new("b").unwrap();
        let text = [
            line(
                1,
                decision(
                    Change::SiteLiveness {
                        site: a.clone(),
                        dead: true,
                    },
                    4,
                ),
            ),
            line(
                2,
                decision(
                    Change::ServiceMoved {
                        service: "web".parse().unwrap(),
                        from: Some(a),
                        to: Some(b),
                    },
                    5,
                ),
            ),
            line(
                3,
                JournalRecord::Backend {
                    backend: orbit_core::BackendKind::Haproxy,
                    generation: 5,
                    ok: true,
                    detail: String::new(),
                },
            ),
            line(4, decision(Change::Fenced { fenced: true }, 5)),
            line(
                5,
                decision(
                    Change::MemberLiveness {
                        member: SiteId::new("a1").unwrap(),
                        site: SiteId::new("a").unwrap(),
                        dead: true,
                    },
                    6,
                ),
            ),
        ]
        .concat();
        let entries = read("b", &journal_file("good.jsonl", &text)).unwrap();
        assert_eq!(entries.len(), 5);
        let t = 1_796_446_800_250_000;
        assert!(entries.iter().all(|e| e.t == t && e.member == "b"));
        let dead = &entries[0];
        assert_eq!(
            (dead.kind.as_str(), dead.change.as_str()),
            ("decision", "site_liveness")
        );
        assert_eq!((dead.site.as_deref(), dead.dead), (Some("a"), Some(true)));
        let moved = &entries[1];
        assert_eq!(moved.change, "service_moved");
        assert_eq!(
            (moved.from.as_deref(), moved.to.as_deref()),
            (Some("a"), Some("b"))
        );
        assert_eq!(moved.generation, Some(5));
        let applied = &entries[2];
        assert_eq!(
            (applied.kind.as_str(), applied.ok, applied.generation),
            ("backend", Some(true), Some(5))
        );
        assert_eq!(
            (entries[3].change.as_str(), entries[3].fenced),
            ("fenced", Some(true))
        );
        let member = &entries[4];
        assert_eq!(member.change, "member_liveness");
        assert_eq!(
            (member.site.as_deref(), member.from.as_deref(), member.dead),
            (Some("a1"), Some("a"), Some(true))
        );
        // The moves and detection the scenarios report come out of them; a
        // router declared dead is not its site.
        assert_eq!(
            crate::analysis::member_dead_ms(&entries, t - 2_000, "a1"),
            Some(2.0)
        );
        assert_eq!(
            crate::analysis::member_dead_ms(&entries, t - 2_000, "a2"),
            None
        );
        assert_eq!(crate::analysis::moves_after(&entries, t), 1);
        assert_eq!(
            crate::analysis::detection_ms(&entries, t - 1_000, "a"),
            Some(1.0)
        );
    }

    #[test]
    fn a_line_that_is_not_an_entry_fails_the_read_naming_file_and_line() {
        let good = line(
            1,
            JournalRecord::Lifecycle {
                message: "started".to_owned(),
            },
        );
        // A renamed field: untyped, this read as a decision of no kind.
        let renamed = good.replace("\"kind\"", "\"type\"");
        let path = journal_file("renamed.jsonl", &format!("{good}{renamed}"));
        let error = format!("{:#}", read("a", &path).unwrap_err());
        assert!(
            error.contains(&format!("{}:2: not a journal entry", path.display())),
            "{error}"
        );
        let bad_time = good.replace("2026-12-05T05:00:00.250Z", "yesterday");
        let error = format!(
            "{:#}",
            read("a", &journal_file("time.jsonl", &bad_time)).unwrap_err()
        );
        assert!(
            error.contains("time \"yesterday\" is not an RFC 3339 time"),
            "{error}"
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_missing_journal_is_an_error() {
        let good = line(
            1,
            JournalRecord::Lifecycle {
                message: "started".to_owned(),
            },
        );
        let torn = format!("{good}{}", &good[..good.len() / 2]);
        assert_eq!(
            read("a", &journal_file("torn.jsonl", &torn)).unwrap().len(),
            1
        );
        let missing = std::env::temp_dir().join("olab-journal-none/journal.jsonl");
        let error = format!("{:#}", read("w", &missing).unwrap_err());
        assert!(error.starts_with("reading w's journal "), "{error}");
    }
}
