//! What the PostgreSQL scenarios measure, computed from what was recorded:
//! the writer's log of acknowledged commits and the rows each server holds
//! afterwards. Pure, so each number is unit-tested on made-up records.
//!
//! - RTO: from the last write acknowledged by the old primary to the first
//!   acknowledged by the new one (the client's view of the outage).
//! - RPO: writes the client saw acknowledged by the old primary that the
//!   new primary does not hold: lost commits.
//! - Split brain: rows the old primary committed after the new one was
//!   promoted (two writable primaries at once).

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};

/// One acknowledged commit: the writer's id, when it was sent and
/// acknowledged (Unix µs, the lab's clock), the server that committed it
/// (its `cluster_name`) and that server's commit clock (Unix µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub id: u64,
    pub sent_us: i64,
    pub ack_us: i64,
    pub site: String,
    pub commit_us: i64,
}

/// The writer's log line of an acknowledged commit.
pub fn ack_line(a: &Ack) -> String {
    format!(
        "ok {} {} {} {} {}",
        a.id, a.sent_us, a.ack_us, a.site, a.commit_us
    )
}

/// The acknowledged commits in a writer log; `err` lines (failed attempts,
/// kept for reading) are skipped, anything else is an error.
pub fn parse_acks(text: &str) -> Result<Vec<Ack>> {
    let mut acks = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"ok") if f.len() == 6 => {
                let num = |i: usize| -> Result<i64> {
                    f[i].parse()
                        .with_context(|| format!("writer log line {}: {line:?}", n + 1))
                };
                acks.push(Ack {
                    id: num(1)?.try_into()?,
                    sent_us: num(2)?,
                    ack_us: num(3)?,
                    site: f[4].to_owned(),
                    commit_us: num(5)?,
                });
            }
            Some(&"err") | None => {}
            _ => bail!("writer log line {}: {line:?}", n + 1),
        }
    }
    Ok(acks)
}

/// RTO (ms) of the move `from` -> `to` that starts after `after_us`: the
/// first ack by `to` after `after_us`, minus the last ack by `from` before
/// it. None if `to` acknowledged nothing (no move) or `from` nothing
/// before it.
pub fn rto_ms(acks: &[Ack], from: &str, to: &str, after_us: i64) -> Option<f64> {
    let first_to = acks
        .iter()
        .filter(|a| a.site == to && a.ack_us >= after_us)
        .map(|a| a.ack_us)
        .min()?;
    let last_from = acks
        .iter()
        .filter(|a| a.site == from && a.ack_us <= first_to)
        .map(|a| a.ack_us)
        .max()?;
    Some((first_to - last_from) as f64 / 1000.0)
}

/// The longest time (ms) without an acknowledged write after `after_us`
/// (from `after_us` to the first ack, then between acks): what a
/// partition that moves nothing costs the writers (with synchronous
/// replication, commits wait for the unreachable replica).
pub fn longest_stall_ms(acks: &[Ack], after_us: i64) -> Option<f64> {
    let mut times: Vec<i64> = acks
        .iter()
        .map(|a| a.ack_us)
        .filter(|t| *t >= after_us)
        .collect();
    times.sort_unstable();
    let mut prev = after_us;
    let mut longest = None;
    for t in times {
        longest = Some(longest.unwrap_or(0).max(t - prev));
        prev = t;
    }
    longest.map(|us| us as f64 / 1000.0)
}

/// RPO: the ids acknowledged by `from` that `survivor` (the ids the new
/// primary holds after the move) does not hold, in order.
pub fn lost(acks: &[Ack], from: &str, survivor: &BTreeSet<u64>) -> Vec<u64> {
    let mut ids: Vec<u64> = acks
        .iter()
        .filter(|a| a.site == from && !survivor.contains(&a.id))
        .map(|a| a.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Split brain: the rows (id, commit time) of the old primary committed
/// after `promoted_us`, when the new primary became writable.
pub fn split_brain(old_rows: &[(u64, i64)], promoted_us: i64) -> Vec<u64> {
    let mut ids: Vec<u64> = old_rows
        .iter()
        .filter(|(_, t)| *t > promoted_us)
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}

/// When a server finished its promotion, from its log (`log_line_prefix =
/// '%n '`, the Unix time with milliseconds): the line "selected new
/// timeline ID", after which it accepts writes. In µs; None if it was not
/// promoted.
pub fn promoted_at(log: &str) -> Option<i64> {
    log.lines()
        .filter(|l| l.contains("selected new timeline ID"))
        .find_map(|l| {
            let stamp = l.split_whitespace().next()?;
            let (s, ms) = stamp.split_once('.')?;
            Some(s.parse::<i64>().ok()? * 1_000_000 + ms.parse::<i64>().ok()? * 1000)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(id: u64, ack_ms: i64, site: &str) -> Ack {
        Ack {
            id,
            sent_us: ack_ms * 1000 - 500,
            ack_us: ack_ms * 1000,
            site: site.into(),
            commit_us: ack_ms * 1000 - 200,
        }
    }

    #[test]
    fn log_round_trip_skips_errors() {
        let a = ack(7, 1000, "b");
        let text = format!("err 6 100 200 timed out\n{}\n", ack_line(&a));
        assert_eq!(parse_acks(&text).unwrap(), vec![a]);
        assert!(parse_acks("ok 1 2 3\n").is_err(), "short line");
        assert!(parse_acks("maybe 1 2 3 a 4\n").is_err(), "unknown line");
    }

    #[test]
    fn rto_from_last_old_ack_to_first_new_ack() {
        let acks = vec![
            ack(1, 100, "a"),
            ack(2, 110, "a"),
            // 3..5 failed while b was promoted
            ack(6, 900, "b"),
            ack(7, 910, "b"),
        ];
        assert_eq!(rto_ms(&acks, "a", "b", 0), Some(790.0));
        // No move: b acknowledged nothing.
        assert_eq!(rto_ms(&acks[..2], "a", "b", 0), None);
        // The move back b -> a after 910 ms.
        let mut back = acks.clone();
        back.push(ack(8, 1500, "a"));
        assert_eq!(rto_ms(&back, "b", "a", 1000 * 1000), Some(590.0));
    }

    #[test]
    fn longest_stall_between_acks() {
        let acks = vec![
            ack(1, 100, "a"),
            ack(2, 110, "a"),
            ack(3, 4110, "a"),
            ack(4, 4120, "a"),
        ];
        assert_eq!(longest_stall_ms(&acks, 0), Some(4000.0));
        // From the start of the window to the first ack counts too.
        assert_eq!(longest_stall_ms(&acks, 4_115_000), Some(5.0));
        assert_eq!(longest_stall_ms(&acks, 5_000_000), None);
    }

    #[test]
    fn lost_counts_acked_writes_the_survivor_lacks() {
        let acks = vec![
            ack(1, 100, "a"),
            ack(2, 110, "a"),
            ack(3, 120, "a"),
            ack(4, 900, "b"),
        ];
        // Async replication: the last write at a never reached b.
        let survivor: BTreeSet<u64> = [1, 2, 4].into();
        assert_eq!(lost(&acks, "a", &survivor), vec![3]);
        let all: BTreeSet<u64> = [1, 2, 3, 4].into();
        assert!(lost(&acks, "a", &all).is_empty());
    }

    #[test]
    fn split_brain_counts_rows_after_the_promotion() {
        let rows = vec![(1, 100), (2, 200), (3, 300)];
        assert_eq!(split_brain(&rows, 200), vec![3]);
        assert!(split_brain(&rows, 300).is_empty());
    }

    #[test]
    fn promotion_time_from_the_log() {
        let log = "1765000000.100 [10] LOG:  received promote request\n\
                   1765000000.123 [10] LOG:  selected new timeline ID: 2\n\
                   1765000000.200 [9] LOG:  database system is ready to accept connections\n";
        assert_eq!(promoted_at(log), Some(1_765_000_000_123_000));
        assert_eq!(
            promoted_at("1765000000.100 [10] LOG:  started streaming\n"),
            None
        );
    }
}
