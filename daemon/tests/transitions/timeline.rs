//! What the daemons left behind, read back and checked: the hook files of
//! sites a and b (every steering their data plane was handed, with the time
//! the hook ran) and the decisions in every member's journal.
//!
//! All times are µs since the Unix epoch: the hook takes bash's
//! `EPOCHREALTIME`, the journal writes RFC 3339 wall-clock times (ms), the
//! test takes `SystemTime::now()`; one machine, one clock.
//!
//! The checks are pure functions of what was read, so they are tested here
//! on hand-made timelines too (a check that cannot fail proves nothing).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// µs since the Unix epoch.
pub type Us = i64;

pub fn now_us() -> Us {
    to_us(SystemTime::now())
}

fn to_us(t: SystemTime) -> Us {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .unwrap_or(0)
}

fn us(d: Duration) -> Us {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// How long after cutting the carrier's links the service may have no
/// carrier: the minority fences (detection, ~0.2-0.5 s) before the
/// majority takes over; 1.5 s leaves room for a busy 2-core host.
pub const GAP_AFTER_CUT: Duration = Duration::from_millis(1500);

/// Two sites active (unfenced) at once for longer than this is a violation.
pub const OVERLAP_TOLERANCE: Duration = Duration::from_millis(50);

/// One steering a site's hook received.
#[derive(Debug, Clone, PartialEq)]
pub struct HookLine {
    pub t: Us,
    pub fenced: bool,
    /// web's local role: active, standby, draining, withdrawn.
    pub role: String,
    pub generation: u64,
}

impl HookLine {
    /// The site attracts web's traffic: authority, and active or draining
    /// (a draining site keeps carrying at the lowest preference until the
    /// new site has taken over: make before break).
    pub fn carries(&self) -> bool {
        !self.fenced && (self.role == "active" || self.role == "draining")
    }

    /// The site claims web as its own.
    pub fn active(&self) -> bool {
        !self.fenced && self.role == "active"
    }
}

/// Parses a hook file: `EPOCHREALTIME steering-json` per line.
pub fn read_hook(path: &Path) -> Vec<HookLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(parse_hook_line).collect()
}

fn parse_hook_line(line: &str) -> Option<HookLine> {
    let (time, json) = line.split_once(' ')?;
    let (secs, frac) = time.split_once(['.', ','])?;
    let frac = format!("{frac:0<6}");
    let t = secs.parse::<i64>().ok()? * 1_000_000 + frac.get(..6)?.parse::<i64>().ok()?;
    let v: Value = serde_json::from_str(json).ok()?;
    Some(HookLine {
        t,
        fenced: v["fenced"].as_bool()?,
        role: v["services"]["web"]["local_role"].as_str()?.to_owned(),
        generation: v["generation"].as_u64()?,
    })
}

/// One `decision` line of a journal.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalDecision {
    pub node: String,
    pub t: Us,
    /// `decision.change`, e.g. `{"kind":"site_liveness","site":"a","dead":true}`.
    pub change: Value,
    pub reason: String,
}

impl JournalDecision {
    fn kind(&self) -> &str {
        self.change["kind"].as_str().unwrap_or("")
    }

    /// A quorum declared `site` dead.
    fn declares_dead(&self, site: &str) -> bool {
        self.kind() == "site_liveness" && self.change["site"] == site && self.change["dead"] == true
    }

    fn fences(&self) -> bool {
        self.kind() == "fenced" && self.change["fenced"] == true
    }
}

/// Every decision in `node`'s journal (`seq`, `time`, `kind` = `decision`,
/// `decision.change`; see orbit_core::api::JournalEntry).
pub fn read_journal(node: &str, path: &Path) -> Vec<JournalDecision> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            if v["kind"] != "decision" {
                return None;
            }
            let t = humantime::parse_rfc3339_weak(v["time"].as_str()?).ok()?;
            Some(JournalDecision {
                node: node.to_owned(),
                t: to_us(t),
                change: v["decision"]["change"].clone(),
                reason: v["decision"]["reason"].as_str().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// What was read back after (or during) a run.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// "a" and "b": every hook call, in order.
    pub hooks: BTreeMap<String, Vec<HookLine>>,
    /// Every member's decisions, by time.
    pub decisions: Vec<JournalDecision>,
}

/// What the test did, and when.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// Everything was settled (a carries web); the disturbances follow.
    pub settled: Us,
    /// When a's links were cut (just before the first `ip` command).
    pub cuts: Vec<Us>,
    /// When they came back.
    pub restores: Vec<Us>,
    /// The end of the observed window.
    pub end: Us,
}

/// The numbers and the violations of one run.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub summary: Vec<String>,
    pub violations: Vec<String>,
}

impl Findings {
    /// The numbers and how many violations, for a human.
    pub fn summary(&self, title: &str) -> String {
        let mut s = format!("--- what the run showed ({title}) ---\n");
        for line in &self.summary {
            let _ = writeln!(s, "  {line}");
        }
        let _ = writeln!(s, "  {} violation(s)", self.violations.len());
        s
    }

    /// The summary and every violation with the hook calls and decisions
    /// around it.
    pub fn render(&self, title: &str) -> String {
        let mut s = self.summary(title);
        for v in &self.violations {
            let _ = writeln!(s, "  - {v}");
        }
        s
    }
}

/// The state of a site at `t` (its last hook call at or before `t`).
fn state_at(lines: &[HookLine], t: Us) -> Option<&HookLine> {
    lines.iter().take_while(|l| l.t <= t).last()
}

/// Maximal intervals in [from, to] where `pred(a's state, b's state)` holds.
pub fn intervals(
    obs: &Observed,
    from: Us,
    to: Us,
    pred: impl Fn(Option<&HookLine>, Option<&HookLine>) -> bool,
) -> Vec<(Us, Us)> {
    let empty = Vec::new();
    let a = obs.hooks.get("a").unwrap_or(&empty);
    let b = obs.hooks.get("b").unwrap_or(&empty);
    let mut edges: Vec<Us> = a
        .iter()
        .chain(b.iter())
        .map(|l| l.t)
        .filter(|t| *t > from && *t < to)
        .collect();
    edges.push(from);
    edges.sort_unstable();
    edges.dedup();
    let mut out: Vec<(Us, Us)> = Vec::new();
    for (i, t) in edges.iter().enumerate() {
        let next = edges.get(i + 1).copied().unwrap_or(to);
        if pred(state_at(a, *t), state_at(b, *t)) {
            match out.last_mut() {
                Some(last) if last.1 == *t => last.1 = next,
                _ => out.push((*t, next)),
            }
        }
    }
    out
}

fn secs(d: Us) -> String {
    format!("{:.3} s", d as f64 / 1e6)
}

/// The hook calls and decisions around [t0, t1], for a violation message.
fn context(obs: &Observed, origin: Us, t0: Us, t1: Us) -> String {
    let mut s = String::new();
    let at = |t: Us| format!("+{:.3}", (t - origin) as f64 / 1e6);
    for (site, lines) in &obs.hooks {
        let before = lines.iter().take_while(|l| l.t <= t0).last();
        let inside = lines.iter().filter(|l| l.t > t0 && l.t <= t1 + 200_000);
        for l in before.into_iter().chain(inside) {
            let _ = writeln!(
                s,
                "    hook {site} {}: generation {} fenced={} web={}",
                at(l.t),
                l.generation,
                l.fenced,
                l.role
            );
        }
    }
    for d in obs
        .decisions
        .iter()
        .filter(|d| d.t >= t0 - 1_000_000 && d.t <= t1 + 200_000)
    {
        let _ = writeln!(
            s,
            "    journal {} {}: {} ({})",
            d.node,
            at(d.t),
            d.change,
            d.reason
        );
    }
    s
}

/// Runs every check of issue 13 over a run.
pub fn analyse(obs: &Observed, marks: &Marks) -> Findings {
    let mut f = Findings::default();
    let empty = Vec::new();
    let a_hook = obs.hooks.get("a").unwrap_or(&empty);
    let Some(placed) = a_hook.iter().find(|l| l.active()).map(|l| l.t) else {
        f.violations
            .push("a's hook never said web active: no initial placement".to_owned());
        return f;
    };
    let origin = placed;
    let at = |t: Us| format!("+{:.3} s", (t - origin) as f64 / 1e6);

    // 1. No quorum-dead declaration about a healthy member, in any journal.
    // The members that declare the same death within a second are one
    // finding.
    let mut deaths: Vec<(Us, &JournalDecision, Vec<&str>)> = Vec::new();
    for d in obs
        .decisions
        .iter()
        .filter(|d| d.declares_dead("b") || d.declares_dead("w"))
    {
        match deaths
            .iter_mut()
            .find(|(t, first, _)| first.change["site"] == d.change["site"] && d.t - t < 1_000_000)
        {
            Some((_, _, nodes)) => nodes.push(&d.node),
            None => deaths.push((d.t, d, vec![&d.node])),
        }
    }
    for (t, d, nodes) in &deaths {
        f.violations.push(format!(
            "healthy member {} declared dead at {} by {}: {}\n{}",
            d.change["site"],
            at(*t),
            nodes.join(", "),
            d.reason,
            context(obs, origin, t - 500_000, t + 500_000)
        ));
    }

    // 2. The survivor never fences itself while a is disturbed.
    for d in obs
        .decisions
        .iter()
        .filter(|d| d.node == "b" && d.t >= marks.settled && d.fences())
    {
        f.violations.push(format!(
            "the survivor b fenced itself at {}: {}\n{}",
            at(d.t),
            d.reason,
            context(obs, origin, d.t - 500_000, d.t + 2_500_000)
        ));
    }

    // 3. Always a carrier, except right after the carrier's links were cut.
    let gaps = intervals(obs, placed, marks.end, |a, b| {
        !a.is_some_and(HookLine::carries) && !b.is_some_and(HookLine::carries)
    });
    let window = us(GAP_AFTER_CUT);
    let carrier_cut = |g0: Us, g1: Us| {
        marks.cuts.iter().any(|c| {
            *c <= g0 && g1 <= c + window && state_at(a_hook, *c).is_some_and(HookLine::carries)
        })
    };
    let (mut excused, mut worst_excused, mut worst_gap) = (0, 0, 0);
    for (g0, g1) in &gaps {
        worst_gap = worst_gap.max(g1 - g0);
        if carrier_cut(*g0, *g1) {
            excused += 1;
            worst_excused = worst_excused.max(g1 - g0);
        } else {
            f.violations.push(format!(
                "no site carried web for {} from {} to {} (not a failover within {} of cutting the carrier)\n{}",
                secs(g1 - g0),
                at(*g0),
                at(*g1),
                secs(window),
                context(obs, origin, *g0, *g1)
            ));
        }
    }

    // 4. Never two active sites (beyond a measurement tolerance).
    let overlaps = intervals(obs, placed, marks.end, |a, b| {
        a.is_some_and(HookLine::active) && b.is_some_and(HookLine::active)
    });
    let worst_overlap = overlaps.iter().map(|(o0, o1)| o1 - o0).max().unwrap_or(0);
    for (o0, o1) in overlaps
        .iter()
        .filter(|(o0, o1)| o1 - o0 > us(OVERLAP_TOLERANCE))
    {
        f.violations.push(format!(
            "a and b both active (unfenced) for {} from {} to {}\n{}",
            secs(o1 - o0),
            at(*o0),
            at(*o1),
            context(obs, origin, *o0, *o1)
        ));
    }

    // 5. Failback to a only failback_after after the last time a quorum
    // (anywhere) declared a dead. A failback: a becomes active while b was
    // the last site to become active.
    let failback_after = us(crate::cluster::FAILBACK_AFTER);
    let mut events: Vec<(Us, &str, &HookLine)> = obs
        .hooks
        .iter()
        .flat_map(|(site, lines)| lines.iter().map(move |l| (l.t, site.as_str(), l)))
        .collect();
    events.sort_by_key(|(t, _, _)| *t);
    let (mut holder, mut moves, mut failbacks) = (None::<&str>, 0, Vec::new());
    for (t, site, line) in events {
        if !line.active() || holder == Some(site) {
            continue;
        }
        if holder.is_some() {
            moves += 1;
        }
        if site == "a" && holder == Some("b") {
            failbacks.push(t);
        }
        holder = Some(site);
    }
    let mut margins = Vec::new();
    for t in &failbacks {
        let last_dead = obs
            .decisions
            .iter()
            .filter(|d| d.t <= *t && d.declares_dead("a"))
            .map(|d| d.t)
            .max();
        match last_dead {
            Some(dead) => {
                margins.push(t - dead);
                if t - dead < failback_after {
                    f.violations.push(format!(
                        "web failed back to a at {}, {} after a quorum last declared a dead (at {}), before failback_after = {}\n{}",
                        at(*t),
                        secs(t - dead),
                        at(dead),
                        secs(failback_after),
                        context(obs, origin, dead, *t)
                    ));
                }
            }
            None => f.violations.push(format!(
                "web moved back to a at {} although no journal ever declared a dead\n{}",
                at(*t),
                context(obs, origin, t - 2_000_000, *t)
            )),
        }
    }

    let count = |node: &str, pred: &dyn Fn(&JournalDecision) -> bool| {
        obs.decisions
            .iter()
            .filter(|d| d.node == node && pred(d))
            .count()
    };
    let per_node = |pred: &dyn Fn(&JournalDecision) -> bool| {
        ["a", "b", "w"]
            .map(|n| format!("{n} {}", count(n, pred)))
            .join(", ")
    };
    f.summary.push(format!(
        "{} cuts of a, {} restores; {} hook calls at a, {} at b; {} decisions in the journals",
        marks.cuts.len(),
        marks.restores.len(),
        a_hook.len(),
        obs.hooks.get("b").map_or(0, Vec::len),
        obs.decisions.len()
    ));
    f.summary.push(format!(
        "quorum declared a dead: {}",
        per_node(&|d| d.declares_dead("a"))
    ));
    f.summary.push(format!(
        "quorum declared b or w dead: {}",
        per_node(&|d| d.declares_dead("b") || d.declares_dead("w"))
    ));
    f.summary
        .push(format!("fenced: {}", per_node(&|d| d.fences())));
    f.summary.push(format!(
        "moves of web between sites (hooks): {moves}, failbacks to a: {}, failback delay after the last Dead(a): {}",
        failbacks.len(),
        margins
            .iter()
            .map(|m| secs(*m))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    f.summary.push(format!(
        "gaps without a carrier: {} ({excused} right after cutting the carrier, worst {}); worst gap {}",
        gaps.len(),
        secs(worst_excused),
        secs(worst_gap)
    ));
    f.summary.push(format!(
        "overlaps with a and b both active: {}, worst {}",
        overlaps.len(),
        secs(worst_overlap)
    ));
    f
}

#[cfg(test)]
mod tests {
    //! The checks against hand-made timelines (times in ms from 1e6 s).

    use super::*;

    const T0: Us = 1_000_000_000_000;

    fn ms(m: i64) -> Us {
        T0 + m * 1000
    }

    fn hook(m: i64, fenced: bool, role: &str) -> HookLine {
        HookLine {
            t: ms(m),
            fenced,
            role: role.to_owned(),
            generation: 0,
        }
    }

    fn decision(node: &str, m: i64, change: Value) -> JournalDecision {
        JournalDecision {
            node: node.to_owned(),
            t: ms(m),
            change,
            reason: String::new(),
        }
    }

    fn dead(node: &str, m: i64, site: &str) -> JournalDecision {
        decision(
            node,
            m,
            serde_json::json!({"kind": "site_liveness", "site": site, "dead": true}),
        )
    }

    /// a carries from 0; its links are cut at 10 s; it fences at 10.4 s,
    /// b takes over at 10.5 s; a comes back unfenced as standby at 13 s;
    /// failback at `failback` ms.
    fn clean(failback: i64) -> (Observed, Marks) {
        let mut obs = Observed::default();
        obs.hooks.insert(
            "a".into(),
            vec![
                hook(0, false, "active"),
                hook(10_400, true, "withdrawn"),
                hook(13_000, false, "standby"),
                hook(failback, false, "active"),
            ],
        );
        obs.hooks.insert(
            "b".into(),
            vec![
                hook(0, false, "standby"),
                hook(10_500, false, "active"),
                hook(failback + 30, false, "draining"),
                hook(failback + 5_000, false, "standby"),
            ],
        );
        obs.decisions = vec![dead("b", 10_450, "a"), dead("w", 10_460, "a")];
        let marks = Marks {
            settled: ms(1_000),
            cuts: vec![ms(10_000)],
            restores: vec![ms(11_500)],
            end: ms(failback + 6_000),
        };
        (obs, marks)
    }

    #[test]
    fn a_clean_failover_and_late_failback_pass() {
        let (obs, marks) = clean(25_000);
        let f = analyse(&obs, &marks);
        assert!(f.violations.is_empty(), "{:#?}", f.violations);
        assert!(f.summary.iter().any(|s| s.contains("failbacks to a: 1")));
    }

    #[test]
    fn an_early_failback_is_reported() {
        let (obs, marks) = clean(18_000);
        let f = analyse(&obs, &marks);
        assert_eq!(f.violations.len(), 1, "{:#?}", f.violations);
        assert!(f.violations[0].contains("before failback_after"));
    }

    #[test]
    fn a_gap_after_a_heal_and_a_fenced_survivor_are_reported() {
        let (mut obs, marks) = clean(25_000);
        // b fences for 2 s after a came back, and w is declared dead.
        let b = obs.hooks.get_mut("b").unwrap();
        b.insert(2, hook(13_100, true, "withdrawn"));
        b.insert(3, hook(15_100, false, "active"));
        obs.decisions.push(dead("b", 13_090, "w"));
        obs.decisions.push(decision(
            "b",
            13_095,
            serde_json::json!({"kind": "fenced", "fenced": true}),
        ));
        let f = analyse(&obs, &marks);
        let all = f.violations.join("\n");
        assert!(all.contains("healthy member \"w\" declared dead"), "{all}");
        assert!(all.contains("survivor b fenced itself"), "{all}");
        assert!(all.contains("no site carried web for 2.000 s"), "{all}");
    }

    #[test]
    fn a_failover_gap_is_bounded_and_an_overlap_is_reported() {
        // b takes over 2 s after the cut: too long.
        let (mut obs, marks) = clean(25_000);
        obs.hooks.get_mut("b").unwrap()[1].t = ms(12_000);
        let f = analyse(&obs, &marks);
        assert_eq!(f.violations.len(), 1, "{:#?}", f.violations);
        assert!(f.violations[0].contains("no site carried web for 1.600 s"));

        // The majority takes over before the minority fenced.
        let (mut obs, marks) = clean(25_000);
        obs.hooks.get_mut("b").unwrap()[1].t = ms(10_300);
        let f = analyse(&obs, &marks);
        assert_eq!(f.violations.len(), 1, "{:#?}", f.violations);
        assert!(f.violations[0].contains("both active (unfenced) for 0.100 s"));
    }

    #[test]
    fn hook_lines_parse() {
        let l = parse_hook_line(
            r#"1712345678.012345 {"generation":4,"local_site":"a","fenced":false,"observe_only":false,"services":{"web":{"prefixes":[],"active":"a","epoch":1,"local_role":"active","takeover":false}}}"#,
        )
        .unwrap();
        assert_eq!(l.t, 1_712_345_678_012_345);
        assert!(l.active());
        assert_eq!(l.generation, 4);
        assert!(parse_hook_line("garbage").is_none());
    }
}
