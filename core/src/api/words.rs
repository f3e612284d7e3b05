//! The words `orbitctl status` / `orbitctl journal` print and orbitd's
//! status page shows for each value of [`StatusResponse`] and
//! [`JournalEntry`]: one place, so that the page never says something
//! else than the command line about the same answer.
//!
//! Pure: the one function that needs the wall clock ([`site_state`])
//! takes it as an argument.

use std::time::{Duration, SystemTime};

use super::{
    BackendReport, BfdState, BgpPeerReport, DetectReport, JournalEntry, JournalRecord,
    StatusResponse,
};
use crate::decision::Change;
use crate::engine::{EngineStatus, HeldBy, ServiceStatus, SiteStatus, StepState};
use crate::event::{Liveness, StepProgress};
use crate::ids::SiteId;
use crate::order::Order;

/// Whether this member may act: `FENCED (no quorum)`, `not yet synced` or
/// `has authority`.
pub fn authority(e: &EngineStatus) -> &'static str {
    if e.fenced {
        "FENCED (no quorum)"
    } else if !e.synced {
        "not yet synced"
    } else {
        "has authority"
    }
}

/// A site's state: `alive`, `left` (a planned stop is not a failure: never
/// `DEAD`) or `DEAD since 09:31:02 UTC (3m2s)`, counted back from `now`.
pub fn site_state(site: &SiteStatus, now: SystemTime) -> String {
    if site.left {
        return "left".to_owned();
    }
    if !site.dead {
        return "alive".to_owned();
    }
    let Some(ms) = site.dead_for_ms else {
        return "DEAD".to_owned();
    };
    let since = now
        .checked_sub(Duration::from_millis(ms))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stamp = humantime::format_rfc3339_seconds(since).to_string();
    let clock = stamp.get(11..19).unwrap_or(&stamp);
    format!("DEAD since {clock} UTC ({})", uptime(ms))
}

/// [`site_state`] as a member in state `e` may say it: a fenced member
/// declares nothing (its dead votes do not count), so another site that is
/// not declared dead is `unknown (fenced)` there rather than `alive`: the
/// `SEEN FROM HERE` column says what its own detectors see.
pub fn site_state_here(e: &EngineStatus, site: &SiteStatus, now: SystemTime) -> String {
    if e.fenced && !site.dead && !site.left && site.id != e.local_site {
        return "unknown (fenced)".to_owned();
    }
    site_state(site, now)
}

/// What the local detectors say of a site, lower case; `-` for nothing
/// (the local site, or nothing heard yet).
pub fn liveness(view: Option<Liveness>) -> String {
    view.map_or_else(|| "-".to_owned(), |l| format!("{l:?}").to_lowercase())
}

/// The sites that vote a site dead, `b,w`; `-` for none.
pub fn dead_votes(site: &SiteStatus) -> String {
    if site.dead_votes.is_empty() {
        return "-".to_owned();
    }
    site.dead_votes
        .iter()
        .map(SiteId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// A member's short config fingerprint, marked where it differs from this
/// member's; `?` while none was heard (or from an older orbitd).
pub fn config_cell(s: &StatusResponse, site: &SiteId) -> String {
    match s.config_fingerprints.get(site) {
        None => "?".to_owned(),
        Some(fp) if s.config_mismatch.contains(site) => format!("{fp} DIFFERS"),
        Some(fp) => fp.to_string(),
    }
}

/// Why a service is where it is (HELD BY / REASON).
pub fn held_by(h: &HeldBy) -> String {
    match h {
        HeldBy::Nowhere => "nowhere".to_owned(),
        HeldBy::Preferred => "preferred".to_owned(),
        HeldBy::Pinned => "pinned".to_owned(),
        HeldBy::Switchover => "switchover".to_owned(),
        HeldBy::Drained { site } => format!("{site} drained"),
        HeldBy::Failover { site, cause, .. } => {
            format!("failover ({site} {})", cause.as_str())
        }
        HeldBy::FailbackTimer { site, remaining_ms } => {
            format!("failback to {site} in {}", uptime(*remaining_ms))
        }
        HeldBy::FailbackManual { site } => format!("{site} back, failback manual"),
    }
}

/// A service's health at one of its sites: `ok`, `FAIL`, `?` (not known
/// yet), or `stale` for a dead site (its last report says nothing about
/// now).
pub fn health(healthy: Option<bool>, site_dead: bool) -> &'static str {
    match healthy {
        _ if site_dead => "stale",
        Some(true) => "ok",
        Some(false) => "FAIL",
        None => "?",
    }
}

/// Every site's health of a service, `a:ok b:FAIL`.
pub fn health_line(svc: &ServiceStatus, sites: &[SiteStatus]) -> String {
    svc.health
        .iter()
        .map(|(site, h)| format!("{site}:{}", health(*h, site_dead(site, sites))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `site` is declared dead in `sites`.
pub fn site_dead(site: &SiteId, sites: &[SiteStatus]) -> bool {
    sites.iter().any(|s| match &s.site {
        // A member of a site with several: the site's own verdict.
        Some(of) => of == site && s.site_dead == Some(true),
        None => &s.id == site && s.dead,
    })
}

/// A service's local role, `active (takeover)`.
pub fn local_role(svc: &ServiceStatus) -> String {
    format!(
        "{}{}",
        svc.local_role,
        if svc.takeover { " (takeover)" } else { "" }
    )
}

/// A backend's state: `failing (3x): ERROR`, `applying`, `DEGRADED: why`,
/// `DRIFT: what` or `ok`; the error is whole (`orbitctl status` cuts it).
pub fn backend_state(b: &BackendReport) -> String {
    match (&b.last_error, b.pending, &b.degraded, &b.drift) {
        (Some(e), ..) => format!("failing ({}x): {e}", b.consecutive_failures),
        (None, true, ..) => "applying".to_owned(),
        (None, false, Some(why), _) => format!("DEGRADED: {why}"),
        (None, false, None, Some(drift)) => format!("DRIFT: {drift}"),
        (None, false, None, None) => "ok".to_owned(),
    }
}

/// The data-plane probe's result: `ok`, `FAIL` or `-` (not probed).
pub fn data_plane(probe: Option<bool>) -> &'static str {
    match probe {
        Some(true) => "ok",
        Some(false) => "FAIL",
        None => "-",
    }
}

/// The lines above the evidence table: the fencing times, isolation, a
/// stalled loop.
pub fn detect_notes(d: &DetectReport) -> Vec<String> {
    let mut notes = Vec::new();
    if d.fence_after_ms > 0 {
        notes.push(format!(
            "fencing: this member fences after {} ms without a quorum in earshot; nobody is \
             voted dead before {} ms of silence (margin {} ms)",
            d.fence_after_ms,
            d.fence_after_ms + d.fence_margin_ms,
            d.fence_margin_ms
        ));
    }
    if d.isolated {
        notes.push("ISOLATED: fewer members in sight than a quorum".to_owned());
    }
    if d.local_health_score > 0 {
        notes.push(format!(
            "local health score {} (our own loop was stalled: our suspicions are doubted)",
            d.local_health_score
        ));
    }
    notes
}

/// A BGP session state: `established`, else upper case (`ACTIVE`).
pub fn bgp_state(p: &BgpPeerReport) -> String {
    if p.state == "established" {
        p.state.clone()
    } else {
        p.state.to_uppercase()
    }
}

/// What a BGP session last said: its last NOTIFICATION, else its last
/// error, else `-`.
pub fn bgp_last(p: &BgpPeerReport) -> String {
    match (&p.last_notification, &p.last_error) {
        (Some(n), _) => format!("{} {} at {}", n.direction, n.text, n.at),
        (None, Some(e)) => e.clone(),
        (None, None) => "-".to_owned(),
    }
}

/// Prefixes sent to a BGP peer, with those it cannot be sent: `2 (1 not
/// sent)`.
pub fn bgp_sent(p: &BgpPeerReport) -> String {
    let mut sent = p.prefixes_sent.to_string();
    if !p.not_sent.is_empty() {
        sent.push_str(&format!(" ({} not sent)", p.not_sent.len()));
    }
    sent
}

/// A BFD session state: `up`, else upper case (`DOWN`).
pub fn bfd_state(state: BfdState) -> String {
    if state == BfdState::Up {
        "up".to_owned()
    } else {
        state.as_str().to_uppercase()
    }
}

/// `1d2h`, `3h4m`, `5m6s`, `7s`: a duration at a glance.
pub fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{}s", s % 60),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// Who issued a command and whether it was forced, as a journal line's
/// tail: ` [by uid 0 pid 4242, reason "CHG-1", forced]`.
pub fn issued(order: &Order) -> String {
    let mut parts: Vec<String> = order.origin.iter().map(ToString::to_string).collect();
    if order.force {
        parts.push("forced".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join(", "))
    }
}

/// What a journal entry says, in one sentence (after its seq and time in
/// `orbitctl journal`), who issued it at the end.
pub fn journal_sentence(e: &JournalEntry) -> String {
    let by = journal_order(e).map(issued).unwrap_or_default();
    format!("{}{by}", journal_what(e))
}

/// The command a journal entry records, taken or refused, for who issued
/// it and why ([`issued`]).
pub fn journal_order(e: &JournalEntry) -> Option<&Order> {
    match &e.record {
        JournalRecord::Decision { decision } => match &decision.change {
            Change::CommandAccepted { order } => Some(order),
            _ => None,
        },
        JournalRecord::CommandRefused { order, .. } => Some(order),
        _ => None,
    }
}

/// What a journal entry says, without who issued it.
pub fn journal_what(e: &JournalEntry) -> String {
    match &e.record {
        JournalRecord::Decision { decision } => match &decision.change {
            Change::CommandSuperseded { .. } => format!("SUPERSEDED: {}", decision.reason),
            _ => format!("decision: {}", decision.reason),
        },
        JournalRecord::CommandRefused { order, error } => {
            format!("refused {}: {error}", order.command.verb())
        }
        JournalRecord::Backend {
            backend,
            generation,
            ok,
            detail,
        } => format!(
            "backend {backend} generation {generation}: {} {detail}",
            if *ok { "applied" } else { "FAILED" }
        ),
        JournalRecord::Drift {
            backend,
            generation,
            services,
            repaired,
            detail,
        } => format!(
            "backend {backend} generation {generation}: drift: {}; {}",
            services
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            if *repaired {
                detail.clone()
            } else {
                format!("FAILED {detail}")
            }
        ),
        JournalRecord::Lifecycle { message } => message.clone(),
        JournalRecord::PlanStep {
            service,
            plan,
            phase,
            step,
            from,
            to,
            progress,
            ..
        } => {
            let head = format!(
                "plan {plan} of {service} ({} -> {to}): {} step {step}",
                from.as_ref().map_or("nowhere", |f| f.as_str()),
                phase.key()
            );
            match progress {
                StepProgress::Started => format!("{head} started"),
                StepProgress::Ended {
                    error,
                    attempts,
                    exit_status,
                    output,
                    elapsed_ms,
                } => {
                    let status = exit_status.map_or(String::new(), |s| format!(", status {s}"));
                    let tail = output
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .map_or(String::new(), |l| format!(": {}", l.trim()));
                    match error {
                        None => format!(
                            "{head} succeeded in {elapsed_ms} ms ({attempts} attempt(s){status})"
                        ),
                        Some(e) => format!(
                            "{head} FAILED: {e} ({attempts} attempt(s){status}, {elapsed_ms} ms){tail}"
                        ),
                    }
                }
            }
        }
        JournalRecord::Reload {
            by,
            applied,
            changes,
            problems,
            message,
        } => {
            let details: Vec<&str> = problems.iter().chain(changes).map(String::as_str).collect();
            match (details.is_empty(), applied) {
                (true, true) => format!("{message} [by {by}]: no changes"),
                (true, false) => format!("{message} [by {by}]"),
                (false, _) => format!("{message} [by {by}]: {}", details.join("; ")),
            }
        }
    }
}

/// A journal entry's kind as its JSON spells it (`decision`,
/// `command_refused`, `backend`, `drift`, `lifecycle`, `reload`), and for a
/// decision the change's kind (`service_moved`).
pub fn journal_kind(e: &JournalEntry) -> (&'static str, Option<&'static str>) {
    match &e.record {
        JournalRecord::Decision { decision } => ("decision", Some(decision.change.kind())),
        JournalRecord::CommandRefused { .. } => ("command_refused", None),
        JournalRecord::Backend { .. } => ("backend", None),
        JournalRecord::Drift { .. } => ("drift", None),
        JournalRecord::Lifecycle { .. } => ("lifecycle", None),
        JournalRecord::PlanStep { .. } => ("plan_step", None),
        JournalRecord::Reload { .. } => ("reload", None),
    }
}

/// One line on a service's plan run, for status: where it moves, the step
/// that runs or holds it, and how long (times only where it runs).
pub fn plan_line(svc: &ServiceStatus) -> Option<String> {
    let view = svc.plan.as_ref()?;
    let run = &view.run;
    let from = run.from.as_ref().map_or("nowhere", |f| f.as_str());
    let head = format!(
        "{}: plan {} {from} -> {} (run {})",
        svc.id, run.plan, run.to, run.generation
    );
    let secs = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
    let state = if let Some(why) = &run.abandoned {
        format!("given up: {why}")
    } else if let Some(step) = run
        .steps
        .iter()
        .find(|s| matches!(s.state, StepState::Running { .. }))
    {
        match view.step_elapsed_ms {
            Some(ms) => format!(
                "step {} running for {} at {}",
                step.name,
                secs(ms),
                step.at.as_str()
            ),
            None => format!("step {} running at {}", step.name, step.at.as_str()),
        }
    } else if let Some((step, detail)) = run.steps.iter().find_map(|s| match &s.state {
        StepState::Failed { detail, .. } => Some((s, detail)),
        _ => None,
    }) {
        let policy = match run.proceed_after {
            Some(after) if !run.moved => format!(
                "; the move proceeds {} after it",
                humantime::format_duration(after)
            ),
            _ if !run.moved && step.phase != crate::config::Phase::AfterTakeover => {
                "; the move HOLDS until an operator acts".to_owned()
            }
            _ => String::new(),
        };
        format!("step {} FAILED: {detail}{policy}", step.name)
    } else if let Some(step) = run.steps.iter().find(|s| s.state == StepState::Pending) {
        format!("step {} due at {}", step.name, step.at.as_str())
    } else if let Some(step) = run.steps.iter().find(|s| s.state == StepState::Deferred) {
        format!("moved; step {} waits for site {from} to return", step.name)
    } else {
        "done".to_owned()
    };
    let elapsed = view
        .elapsed_ms
        .filter(|_| !run.finished())
        .map_or(String::new(), |ms| format!(" [{}]", secs(ms)));
    Some(format!("{head}: {state}{elapsed}"))
}

/// Every step of a run, one line each: phase, name, where, state.
pub fn plan_steps(run: &crate::engine::PlanRun) -> Vec<[String; 4]> {
    run.steps
        .iter()
        .map(|s| {
            let state = match &s.state {
                StepState::Pending => "pending".to_owned(),
                StepState::Deferred => "waits for the old site".to_owned(),
                StepState::Running { .. } => "running".to_owned(),
                StepState::Succeeded { .. } => "succeeded".to_owned(),
                StepState::Failed { detail, .. } => format!("FAILED: {detail}"),
            };
            [
                s.phase.key().to_owned(),
                s.name.clone(),
                s.at.as_str().to_owned(),
                state,
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_site_says_since_when_counted_back_from_now() {
        let site = SiteStatus {
            id: "a".parse().expect("site"),
            witness: false,
            dead: true,
            dead_for_ms: Some(182_000),
            dead_votes: vec!["b".parse().expect("site"), "w".parse().expect("site")],
            cut_off: false,
            drained: false,
            left: false,
            local_view: Some(Liveness::Dead),
            site: None,
            site_dead: None,
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(9 * 3600 + 34 * 60 + 4);
        assert_eq!(site_state(&site, now), "DEAD since 09:31:02 UTC (3m2s)");
        assert_eq!(dead_votes(&site), "b,w");
        assert_eq!(liveness(site.local_view), "dead");
    }

    #[test]
    fn a_fenced_member_calls_the_sites_it_cannot_judge_unknown() {
        let site = |id: &str, dead| SiteStatus {
            id: id.parse().expect("site"),
            site: None,
            site_dead: None,
            witness: false,
            dead,
            dead_for_ms: None,
            dead_votes: Vec::new(),
            cut_off: false,
            drained: false,
            left: false,
            local_view: Some(Liveness::Dead),
        };
        let mut e = EngineStatus {
            local_site: "c".parse().expect("site"),
            generation: 1,
            quorum: 3,
            fenced: true,
            synced: true,
            observer_mode: false,
            sites: vec![site("a", false), site("c", false), site("b", true)],
            services: Vec::new(),
        };
        let now = SystemTime::UNIX_EPOCH;
        let states = |e: &EngineStatus| {
            e.sites
                .iter()
                .map(|s| site_state_here(e, s, now))
                .collect::<Vec<_>>()
        };
        assert_eq!(states(&e), ["unknown (fenced)", "alive", "DEAD"]);
        e.fenced = false;
        assert_eq!(states(&e), ["alive", "alive", "DEAD"]);
    }

    #[test]
    fn durations_at_a_glance() {
        assert_eq!(uptime(7_000), "7s");
        assert_eq!(uptime(306_000), "5m6s");
        assert_eq!(uptime(3_723_000), "1h2m");
        assert_eq!(uptime(93_600_000), "1d2h");
    }
}
