//! Turns the client's probe log and the daemons' journals into numbers.
//! Everything is on one clock: Unix microseconds (`sys::now_us`), which
//! the journals' RFC 3339 times are converted to.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// One successful reply (or one failed request) of a stream.
#[derive(Debug, Clone)]
pub struct Reply {
    pub t: i64,
    /// When the request was sent (UDP; HTTP logs only the answer: = t).
    pub sent: i64,
    /// The site that answered, or None for a failed request.
    pub site: Option<String>,
}

/// What the probe client logged.
#[derive(Debug, Default)]
pub struct ProbeLog {
    /// seq -> send time.
    pub udp_sent: Vec<(u64, i64)>,
    /// seq -> (reply time, site).
    pub udp_replies: HashMap<u64, (i64, String)>,
    pub keepalive: Vec<Reply>,
    pub newconn: Vec<Reply>,
}

impl ProbeLog {
    pub fn read(path: &Path) -> Result<ProbeLog> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the probe log {}", path.display()))?;
        let mut log = ProbeLog::default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(t), Some(kind)) = (it.next().and_then(|t| t.parse::<i64>().ok()), it.next())
            else {
                continue;
            };
            let a = it.next();
            let b = it.next();
            match kind {
                "us" => {
                    if let Some(seq) = a.and_then(|s| s.parse().ok()) {
                        log.udp_sent.push((seq, t));
                    }
                }
                "ur" => {
                    if let (Some(seq), Some(site)) = (a.and_then(|s| s.parse().ok()), b) {
                        log.udp_replies.entry(seq).or_insert((t, site.to_owned()));
                    }
                }
                "ka" | "nc" | "ke" | "ne" => {
                    let ok = kind == "ka" || kind == "nc";
                    let r = Reply {
                        t,
                        sent: t,
                        site: if ok { a.map(str::to_owned) } else { None },
                    };
                    if kind.starts_with('k') {
                        log.keepalive.push(r);
                    } else {
                        log.newconn.push(r);
                    }
                }
                _ => {}
            }
        }
        Ok(log)
    }

    /// The UDP stream as replies in send order (lost probes are failures
    /// at their send time), so every stream is analysed the same way.
    pub fn udp_stream(&self) -> Vec<Reply> {
        let mut out: Vec<Reply> = self
            .udp_sent
            .iter()
            .map(|(seq, sent)| match self.udp_replies.get(seq) {
                Some((t, site)) => Reply {
                    t: *t,
                    sent: *sent,
                    site: Some(site.clone()),
                },
                None => Reply {
                    t: *sent,
                    sent: *sent,
                    site: None,
                },
            })
            .collect();
        out.sort_by_key(|r| r.t);
        out
    }
}

/// What one stream saw in a window around a fault.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStats {
    pub requests: u64,
    pub lost: u64,
    pub served_from: u64,
    pub served_to: u64,
    /// The stream moved from the old site to the new one.
    pub switched: bool,
    /// Last reply from the old site to the first from the new one, or
    /// (no switch) the longest gap between two replies.
    pub outage_ms: Option<f64>,
    /// First reply from the new site, after the fault.
    pub first_to_ms: Option<f64>,
    /// Replies from the old site after the new site had answered.
    pub from_after_switch: u64,
    /// 10 ms slots in which both sites answered this stream.
    pub both_active_ms: f64,
}

/// Analyses `stream` in [t0, t1] for a move `from` -> `to` caused at `tf`.
pub fn stream_stats(
    stream: &[Reply],
    t0: i64,
    tf: i64,
    t1: i64,
    from: &str,
    to: &str,
) -> StreamStats {
    let mut s = StreamStats::default();
    let window: Vec<&Reply> = stream.iter().filter(|r| r.t >= t0 && r.t <= t1).collect();
    s.requests = window.len() as u64;
    s.lost = window.iter().filter(|r| r.site.is_none()).count() as u64;
    s.served_from = window
        .iter()
        .filter(|r| r.site.as_deref() == Some(from))
        .count() as u64;
    s.served_to = window
        .iter()
        .filter(|r| r.site.as_deref() == Some(to))
        .count() as u64;
    // A request sent after the fault: a late answer to an older one (seen:
    // a's reply to a probe sent just before its links went down arrived
    // 1.1 s later, when they came back) says nothing about where traffic
    // goes after the fault.
    let first_to = window
        .iter()
        .find(|r| r.sent >= tf && r.site.as_deref() == Some(to))
        .map(|r| r.t);
    if let Some(ft) = first_to {
        s.switched = true;
        s.first_to_ms = Some(ms(ft - tf));
        let last_from = window
            .iter()
            .filter(|r| r.t < ft && r.site.as_deref() == Some(from))
            .map(|r| r.t)
            .next_back();
        s.outage_ms = last_from.map(|lf| ms(ft - lf));
        s.from_after_switch = window
            .iter()
            .filter(|r| r.t > ft && r.site.as_deref() == Some(from))
            .count() as u64;
    } else {
        let ok: Vec<i64> = window
            .iter()
            .filter(|r| r.site.is_some())
            .map(|r| r.t)
            .collect();
        s.outage_ms = ok
            .windows(2)
            .map(|w| ms(w[1] - w[0]))
            .fold(None, |m, g| Some(m.map_or(g, |m: f64| m.max(g))));
    }
    let mut slots: HashMap<i64, (bool, bool)> = HashMap::new();
    for r in window.iter().filter(|r| r.t >= tf) {
        let e = slots.entry(r.t / 10_000).or_default();
        match r.site.as_deref() {
            Some(x) if x == from => e.0 = true,
            Some(x) if x == to => e.1 = true,
            _ => {}
        }
    }
    s.both_active_ms = slots.values().filter(|(a, b)| *a && *b).count() as f64 * 10.0;
    s
}

/// When the edge's bird2 dropped the BGP session `protocol` (and the
/// routes it had learnt with it) after `after` (Unix µs): the first
/// `State changed to stop` or `down` of that protocol in bird's log
/// (`timeformat log "%F %T.%6f"`, UTC), with the last thing bird logged
/// about the protocol before it (the cause: `Link down`, `BFD session
/// down`, `Hold timer expired` ...).
pub fn edge_session_down(log: &str, protocol: &str, after: i64) -> Option<(i64, String)> {
    let tag = format!("{protocol}: ");
    let mut cause = None;
    for line in log.lines() {
        let mut fields = line.splitn(4, ' ');
        let (Some(date), Some(time), Some(_level), Some(text)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(message) = text.strip_prefix(&tag) else {
            continue;
        };
        let Some(t) = humantime::parse_rfc3339_weak(&format!("{date}T{time}Z"))
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_micros()).ok())
        else {
            continue;
        };
        if t < after {
            continue;
        }
        if message == "State changed to stop" || message == "State changed to down" {
            return Some((t, cause.unwrap_or_else(|| message.to_owned())));
        }
        cause = Some(message.to_owned());
    }
    None
}

/// Failed requests of `stream` in [t0, t1] that the edge's own
/// reconvergence, from `from` to `until` (Unix µs), does not explain. A
/// failure is placed at its send time (UDP); an HTTP failure is logged
/// when it failed, up to `late` µs (its timeout) after its request
/// began, so it counts only when logged later than `until + late`.
pub fn lost_outside(stream: &[Reply], t0: i64, t1: i64, from: i64, until: i64, late: i64) -> u64 {
    stream
        .iter()
        .filter(|r| r.t >= t0 && r.t <= t1 && r.site.is_none())
        .filter(|r| r.sent < from || r.sent > until + late)
        .count() as u64
}

pub fn ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// One journal entry, reduced to what the lab measures.
#[derive(Debug, Clone)]
pub struct Entry {
    pub member: String,
    pub t: i64,
    pub kind: String,
    pub change: String,
    pub site: Option<String>,
    pub dead: Option<bool>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub generation: Option<u64>,
    pub ok: Option<bool>,
    /// `fenced` decisions: fenced or no longer.
    pub fenced: Option<bool>,
}

/// Fault to the first decision anywhere that the failed site is dead or
/// its service moved away.
pub fn detection_ms(entries: &[Entry], tf: i64, failed: &str) -> Option<f64> {
    entries
        .iter()
        .filter(|e| e.t >= tf && e.kind == "decision")
        .filter(|e| {
            (e.change == "site_liveness"
                && e.site.as_deref() == Some(failed)
                && e.dead == Some(true))
                || (e.change == "service_moved" && e.from.as_deref() == Some(failed))
        })
        .map(|e| ms(e.t - tf))
        .reduce(f64::min)
}

/// Fault to the first decision anywhere that `member` (one router of a
/// site with several) is dead.
pub fn member_dead_ms(entries: &[Entry], tf: i64, member: &str) -> Option<f64> {
    entries
        .iter()
        .filter(|e| e.t >= tf && e.kind == "decision" && e.change == "member_liveness")
        .filter(|e| e.site.as_deref() == Some(member) && e.dead == Some(true))
        .map(|e| ms(e.t - tf))
        .reduce(f64::min)
}

/// At `member`: its decision moving the service to `to`, to the first
/// successful backend apply of that generation or a later one.
pub fn decision_to_confirmed_ms(entries: &[Entry], tf: i64, member: &str, to: &str) -> Option<f64> {
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.member == member && e.t >= tf)
        .collect();
    let decision = mine.iter().find(|e| {
        e.kind == "decision" && e.change == "service_moved" && e.to.as_deref() == Some(to)
    })?;
    let gen = decision.generation?;
    mine.iter()
        .find(|e| {
            e.kind == "backend"
                && e.ok == Some(true)
                && e.generation.is_some_and(|g| g >= gen)
                && e.t >= decision.t
        })
        .map(|e| ms(e.t - decision.t))
}

/// Any decision after `tf` that moved the service.
pub fn moves_after(entries: &[Entry], tf: i64) -> usize {
    entries
        .iter()
        .filter(|e| e.t >= tf && e.kind == "decision" && e.change == "service_moved")
        .count()
}

/// p-th percentile (nearest rank) of `v`.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s.get(rank.clamp(1, s.len()) - 1).copied()
}

/// A reply sent and received at `t` (tests).
#[cfg(test)]
pub(crate) fn test_reply(t: i64, site: Option<&str>) -> Reply {
    Reply {
        t,
        sent: t,
        site: site.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::test_reply as r;
    use super::*;

    #[test]
    fn outage_is_last_old_reply_to_first_new_reply() {
        let s = vec![
            r(1_000, Some("a")),
            r(2_000, Some("a")),
            r(3_000, None),
            r(4_000, None),
            r(5_500, Some("b")),
            r(6_000, Some("a")),
            r(7_000, Some("b")),
        ];
        let st = stream_stats(&s, 0, 2_500, 10_000, "a", "b");
        assert!(st.switched);
        assert_eq!(st.lost, 2);
        assert_eq!(st.outage_ms, Some(3.5));
        assert_eq!(st.first_to_ms, Some(3.0));
        assert_eq!(st.from_after_switch, 1);
    }

    #[test]
    fn a_late_answer_to_an_old_request_is_not_the_switch() {
        // A request sent before the fault (at 2_000) answered late, after
        // it, by the site the traffic will return to: not the return.
        let mut late = r(4_000, Some("a"));
        late.sent = 2_000;
        let s = vec![
            r(1_000, Some("b")),
            r(2_500, Some("b")),
            late,
            r(5_000, Some("a")),
        ];
        let st = stream_stats(&s, 0, 3_000, 10_000, "b", "a");
        assert_eq!(st.first_to_ms, Some(2.0));
    }

    #[test]
    fn no_switch_reports_the_longest_gap() {
        let s = vec![
            r(0, Some("a")),
            r(10_000, Some("a")),
            r(50_000, Some("a")),
            r(51_000, None),
        ];
        let st = stream_stats(&s, 0, 5_000, 60_000, "a", "b");
        assert!(!st.switched);
        assert_eq!(st.outage_ms, Some(40.0));
        assert_eq!(st.lost, 1);
    }

    #[test]
    fn the_edge_drops_a_session_when_bird_logs_its_stop() {
        // bird2's own lines (debug { states, events }), one before the
        // fault, the link going down after it.
        let log = "2026-12-06 04:30:00.000100 <TRACE> site_a1: State changed to up
2026-12-06 04:30:01.000100 <TRACE> site_a1: BFD session down
2026-12-06 04:30:01.000200 <TRACE> site_a1: State changed to stop
2026-12-06 04:30:05.000100 <TRACE> site_a2: State changed to up
2026-12-06 04:30:05.001000 <TRACE> site_a1: Link down
2026-12-06 04:30:05.001050 <TRACE> site_a1: State changed to stop
2026-12-06 04:30:05.002000 <TRACE> site_a1: State changed to down
";
        let t = |s: &str| {
            humantime::parse_rfc3339(s)
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros() as i64
        };
        let fault = t("2026-12-06T04:30:05Z");
        assert_eq!(
            edge_session_down(log, "site_a1", fault),
            Some((t("2026-12-06T04:30:05.001050Z"), "Link down".to_owned()))
        );
        assert_eq!(edge_session_down(log, "site_a2", fault), None);
        assert_eq!(edge_session_down(log, "site_b", 0), None);
        // An earlier stop counts when it is after `after`.
        assert_eq!(
            edge_session_down(log, "site_a1", 0).map(|(_, c)| c),
            Some("BFD session down".to_owned())
        );
    }

    #[test]
    fn losses_inside_the_edges_reconvergence_are_its_own() {
        let mut late_http = r(1_290, None);
        late_http.sent = late_http.t;
        let s = vec![
            r(900, None),   // before the fault: not the edge's
            r(1_000, None), // at the fault
            r(1_004, None), // inside
            r(1_010, Some("a")),
            late_http, // an HTTP failure logged 280 µs after the window
            r(2_000, None),
        ];
        // UDP: only the window itself.
        assert_eq!(lost_outside(&s, 0, 3_000, 1_000, 1_005, 0), 3);
        // HTTP: a failure logged within its timeout of the window is its.
        assert_eq!(lost_outside(&s, 0, 3_000, 1_000, 1_005, 300), 2);
        // t0 and t1 bound what is counted at all.
        assert_eq!(lost_outside(&s, 950, 1_500, 1_000, 1_005, 0), 1);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    /// Nearest rank of 20 samples (a 20-run row): p99 is rank
    /// ceil(0.99 x 20) = 20, the highest; p95 rank 19; p50 rank 10. Not an
    /// interpolation, which would report a value no run had.
    #[test]
    fn percentiles_of_twenty_runs_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).rev().map(|x| f64::from(x) * 10.0).collect();
        assert_eq!(percentile(&v, 50.0), Some(100.0));
        assert_eq!(percentile(&v, 95.0), Some(190.0));
        assert_eq!(percentile(&v, 99.0), Some(200.0));
        assert_eq!(percentile(&v, 100.0), Some(200.0));
        assert_eq!(percentile(&v[..1], 99.0), Some(200.0));
    }

    #[test]
    fn probe_log_lines_parse() {
        let dir = std::env::temp_dir().join(format!("olab-parse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("probe.log");
        std::fs::write(
            &p,
            "10 us 0\n12 ur 0 a\n20 us 1\n30 ka a\n31 ke TimedOut\n40 nc b\ngarbage\n",
        )
        .expect("write");
        let log = ProbeLog::read(&p).expect("read");
        let udp = log.udp_stream();
        assert_eq!(udp.len(), 2);
        assert_eq!(udp[0].site.as_deref(), Some("a"));
        assert!(udp[1].site.is_none());
        assert_eq!(log.keepalive.len(), 2);
        assert_eq!(log.newconn[0].site.as_deref(), Some("b"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
