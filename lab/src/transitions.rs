//! What scenarios 9 (heal after partition) and 10 (flapping site) must
//! show (issue 13, "transitions without loss"), checked on the client's
//! stream and the members' journals.
//!
//! A site that heals or flaps must not take authority from the majority:
//! no quorum declares a healthy member (b, w) dead, the surviving site b
//! never fences itself, the traffic moves only as often as the rules allow,
//! and after a heal the client is never without a site.

use serde::Serialize;

use crate::analysis::{ms, Entry, Reply};

/// After a heal the client may go this long without an answer: the
/// steady scenarios (4, 5, 7) show gaps of at most ~25 ms between replies
/// on a busy host; a survivor that fences itself costs seconds.
pub const HEAL_SILENCE_LIMIT_MS: f64 = 200.0;

/// A change of the site that answers the client's stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// Send time of the first request the new site answered (Unix µs).
    pub t: i64,
    pub from: String,
    pub to: String,
}

/// Every change of the answering site among the requests sent in
/// [t0, t1], in send order (a late answer to an old request belongs to
/// the moment it was sent); unanswered requests are skipped.
pub fn moves(stream: &[Reply], t0: i64, t1: i64) -> Vec<Move> {
    let mut sent: Vec<&Reply> = stream
        .iter()
        .filter(|r| r.sent >= t0 && r.sent <= t1 && r.site.is_some())
        .collect();
    sent.sort_by_key(|r| r.sent);
    let mut out = Vec::new();
    let mut current: Option<&str> = None;
    for r in sent {
        let site = r.site.as_deref().unwrap_or_default();
        if let Some(c) = current.filter(|c| *c != site) {
            out.push(Move {
                t: r.sent,
                from: c.to_owned(),
                to: site.to_owned(),
            });
        }
        current = Some(site);
    }
    out
}

/// The longest stretch in [t0, t1] in which the client got no answer
/// (from t0 to the first answer, between answers, from the last to t1).
pub fn longest_silence_ms(stream: &[Reply], t0: i64, t1: i64) -> f64 {
    let mut answers: Vec<i64> = stream
        .iter()
        .filter(|r| r.site.is_some() && r.t >= t0 && r.t <= t1)
        .map(|r| r.t)
        .collect();
    answers.sort_unstable();
    let mut last = t0;
    let mut worst = 0;
    for t in answers.into_iter().chain(std::iter::once(t1)) {
        worst = worst.max(t - last);
        last = t;
    }
    ms(worst)
}

/// What no heal or flap may cause, whatever the scenario: a quorum
/// declaring the healthy b or w dead (any member's journal), or the
/// survivor b fencing itself (after `t0`, once the lab was steady).
pub fn majority_harmed(entries: &[Entry], t0: i64) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.kind == "decision") {
        let about = e.site.as_deref().unwrap_or_default();
        if e.change == "site_liveness" && e.dead == Some(true) && (about == "b" || about == "w") {
            out.push(format!(
                "{} declared the healthy member {about} dead ({:.0} ms after the fault window opened)",
                e.member,
                ms(e.t - t0)
            ));
        }
        if e.member == "b" && e.t >= t0 && e.change == "fenced" && e.fenced == Some(true) {
            out.push(format!(
                "the survivor b fenced itself ({:.0} ms after the fault window opened)",
                ms(e.t - t0)
            ));
        }
    }
    out
}

/// The last time before `t` that any member's quorum declared `site` dead.
pub fn last_declared_dead(entries: &[Entry], site: &str, t: i64) -> Option<i64> {
    entries
        .iter()
        .filter(|e| e.t <= t && e.kind == "decision" && e.change == "site_liveness")
        .filter(|e| e.site.as_deref() == Some(site) && e.dead == Some(true))
        .map(|e| e.t)
        .max()
}

/// Scenario 9: the one failover a -> b and nothing else. `heal` is when
/// a's links came back; failback is manual in this scenario, so any later
/// move, in the client's stream or in a journal, is a wrong one.
pub fn heal_violations(
    moved: &[Move],
    entries: &[Entry],
    fault: i64,
    heal: i64,
    silence_after_heal_ms: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(first) = moved.first() {
        if (first.from.as_str(), first.to.as_str()) != ("a", "b") {
            out.push(format!(
                "the first move was {} -> {}, not the failover a -> b",
                first.from, first.to
            ));
        }
    }
    for m in moved.iter().skip(1) {
        out.push(format!(
            "the traffic moved again, {} -> {}, {:.0} ms after the heal (only the one failover is allowed; failback is manual)",
            m.from,
            m.to,
            ms(m.t - heal)
        ));
    }
    for e in entries.iter().filter(|e| {
        e.t >= fault
            && e.kind == "decision"
            && e.change == "service_moved"
            && e.to.as_deref() != Some("b")
    }) {
        out.push(format!(
            "{} moved web {} -> {} {:.0} ms after the heal",
            e.member,
            e.from.as_deref().unwrap_or("none"),
            e.to.as_deref().unwrap_or("none"),
            ms(e.t - heal)
        ));
    }
    if silence_after_heal_ms > HEAL_SILENCE_LIMIT_MS {
        out.push(format!(
            "after the heal the client went {silence_after_heal_ms:.0} ms without an answer (limit {HEAL_SILENCE_LIMIT_MS:.0} ms)"
        ));
    }
    out
}

/// Scenario 10: at most one move away from a and one deliberate move back,
/// `failback_after_ms` or more after the last time a quorum declared a
/// dead; a move away must be back by the end.
pub fn flap_violations(moved: &[Move], entries: &[Entry], failback_after_ms: u64) -> Vec<String> {
    let mut out = Vec::new();
    let allowed = [("a", "b"), ("b", "a")];
    for (i, m) in moved.iter().enumerate() {
        if allowed.get(i) != Some(&(m.from.as_str(), m.to.as_str())) {
            out.push(format!(
                "move {} was {} -> {}: the traffic may move away from a once and back once, never more (moves: {})",
                i + 1,
                m.from,
                m.to,
                moved
                    .iter()
                    .map(|m| format!("{}->{}", m.from, m.to))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            break;
        }
    }
    // Every return to a, not only the second move: a brief bounce counts.
    for back in moved.iter().filter(|m| m.to == "a") {
        match last_declared_dead(entries, "a", back.t) {
            Some(dead) if ms(back.t - dead) < failback_after_ms as f64 => out.push(format!(
                "the traffic returned to a {:.0} ms after a quorum last declared a dead, before failback_after ({failback_after_ms} ms)",
                ms(back.t - dead)
            )),
            Some(_) => {}
            None => out.push(
                "the traffic returned to a although no quorum had declared a dead: not a deliberate failback"
                    .to_owned(),
            ),
        }
    }
    if moved.last().is_some_and(|m| m.to != "a") {
        out.push("the traffic was still away from a at the end: no failback".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::test_reply as r;

    fn dead(t: i64, site: &str) -> Entry {
        Entry {
            member: "b".into(),
            t,
            kind: "decision".into(),
            change: "site_liveness".into(),
            site: Some(site.into()),
            dead: Some(true),
            from: None,
            to: None,
            generation: None,
            ok: None,
            fenced: None,
        }
    }

    #[test]
    fn moves_follow_send_order_and_skip_losses() {
        let mut late = r(9_000, Some("a"));
        late.sent = 1_500;
        let s = vec![
            r(1_000, Some("a")),
            late,
            r(2_000, None),
            r(3_000, Some("b")),
            r(4_000, Some("b")),
            r(5_000, Some("a")),
        ];
        let m = moves(&s, 0, 10_000);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].t, m[0].to.as_str()), (3_000, "b"));
        assert_eq!((m[1].from.as_str(), m[1].to.as_str()), ("b", "a"));
    }

    #[test]
    fn silence_counts_the_edges_of_the_window() {
        let s = vec![r(1_000, Some("b")), r(2_000, None), r(3_000, Some("b"))];
        assert_eq!(longest_silence_ms(&s, 0, 3_500), 2.0);
        assert_eq!(longest_silence_ms(&s, 0, 10_000), 7.0);
    }

    #[test]
    fn a_heal_allows_the_failover_only() {
        let away = Move {
            t: 1_000_000,
            from: "a".into(),
            to: "b".into(),
        };
        assert!(heal_violations(std::slice::from_ref(&away), &[], 0, 2_000_000, 5.0).is_empty());
        let back = Move {
            t: 3_000_000,
            from: "b".into(),
            to: "a".into(),
        };
        let v = heal_violations(&[away, back], &[], 0, 2_000_000, 1500.0);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("moved again, b -> a, 1000 ms after the heal"));
        assert!(v[1].contains("1500 ms without an answer"));
    }

    #[test]
    fn a_flapping_site_gets_one_deliberate_failback() {
        let away = Move {
            t: 1_000_000,
            from: "a".into(),
            to: "b".into(),
        };
        let back = |t| Move {
            t,
            from: "b".into(),
            to: "a".into(),
        };
        let deaths = [dead(900_000, "a"), dead(5_000_000, "a")];
        // 10 s after the last Dead(a): fine.
        let ok = [away.clone(), back(15_000_000)];
        assert!(flap_violations(&ok, &deaths, 10_000).is_empty());
        // 2 s after it: too early.
        let early = [away.clone(), back(7_000_000)];
        let v = flap_violations(&early, &deaths, 10_000);
        assert!(v[0].contains("2000 ms after"), "{v:?}");
        // Away twice.
        let twice = [away.clone(), back(15_000_000), away.clone()];
        let v = flap_violations(&twice, &deaths, 10_000);
        assert!(v.iter().any(|v| v.contains("move 3 was a -> b")), "{v:?}");
        assert!(v.iter().any(|v| v.contains("still away")), "{v:?}");
        // A bounce right after a Dead(a), then a failback that is on time:
        // the bounce is reported.
        let bounce = [
            away.clone(),
            back(1_001_000),
            away.clone(),
            back(15_000_000),
        ];
        let v = flap_violations(&bounce, &deaths, 10_000);
        assert!(
            v.iter().any(|v| v.contains("returned to a 101 ms after")),
            "{v:?}"
        );
        // Back without anyone declaring a dead (a fenced and re-claimed).
        let v = flap_violations(&[away, back(15_000_000)], &[], 10_000);
        assert!(v[0].contains("not a deliberate failback"), "{v:?}");
    }

    #[test]
    fn a_healthy_member_declared_dead_or_a_fenced_survivor_is_harm() {
        let mut fenced = dead(2_000, "x");
        fenced.change = "fenced".into();
        fenced.site = None;
        fenced.dead = None;
        fenced.fenced = Some(true);
        let entries = [dead(1_000, "a"), dead(1_500, "w"), fenced];
        let v = majority_harmed(&entries, 0);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("healthy member w dead"));
        assert!(v[1].contains("survivor b fenced"));
    }
}
