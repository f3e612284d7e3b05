//! Human-readable tables for orbitctl.

mod agreement;

use orbit_core::api::{
    BfdSessionReport, BfdState, BgpPeerReport, CommandResponse, DetectReport, JournalEntry,
    JournalRecord, StatusResponse,
};
use orbit_core::{Change, HeldBy, Order, ServiceStatus, SiteStatus};

/// The most characters of a backend's error in the status table; `--json`
/// has the whole text.
const CELL_MAX: usize = 60;

/// Left-aligned columns, two spaces apart.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<width$}", width = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn or_dash(s: Option<String>) -> String {
    s.unwrap_or_else(|| "-".to_owned())
}

/// The evidence behind the local verdicts: one row per other member, one
/// column per extra detector (bfd, serf) that reported anything.
fn detect(d: &DetectReport) -> String {
    let sources: std::collections::BTreeSet<&String> =
        d.members.iter().flat_map(|m| m.sources.keys()).collect();
    let mut header: Vec<String> = ["MEMBER", "LOCAL VERDICT", "HEARD", "SWIM", "DATA PLANE"]
        .map(str::to_owned)
        .to_vec();
    header.extend(sources.iter().map(|s| s.to_uppercase()));
    let mut rows = vec![header];
    for m in &d.members {
        let mut row = vec![
            format!(
                "{}{}",
                m.site,
                if m.partitioned { " (partitioned)" } else { "" }
            ),
            m.view.clone(),
            format!("{} ms ago", m.silent_ms),
            m.swim.clone(),
            match m.data_plane {
                Some(true) => "ok",
                Some(false) => "FAIL",
                None => "-",
            }
            .to_owned(),
        ];
        row.extend(
            sources
                .iter()
                .map(|s| or_dash(m.sources.get(*s).map(|l| format!("{l:?}").to_lowercase()))),
        );
        rows.push(row);
    }
    let mut out = String::new();
    if d.fence_after_ms > 0 {
        out.push_str(&format!(
            "fencing: this member fences after {} ms without a quorum in earshot; nobody is \
             voted dead before {} ms of silence (margin {} ms)\n",
            d.fence_after_ms,
            d.fence_after_ms + d.fence_margin_ms,
            d.fence_margin_ms
        ));
    }
    if d.isolated {
        out.push_str("ISOLATED: fewer members in sight than a quorum\n");
    }
    if d.local_health_score > 0 {
        out.push_str(&format!(
            "local health score {} (our own loop was stalled: our suspicions are doubted)\n",
            d.local_health_score
        ));
    }
    out.push_str(&table(&rows));
    out
}

pub fn status(s: &StatusResponse) -> String {
    let e = &s.engine;
    let mut out = format!(
        "orbitd {} at site {}: quorum {} of {}, {}, observer mode {}, generation {}\n\n",
        s.version,
        e.local_site,
        e.quorum,
        e.sites.len(),
        if e.fenced {
            "FENCED (no quorum)"
        } else if !e.synced {
            "not yet synced"
        } else {
            "has authority"
        },
        if e.observer_mode { "on" } else { "off" },
        e.generation
    );
    if let Some(d) = &s.daemon {
        out.insert_str(
            out.len() - 1,
            &format!(
                "config {} (loaded {}), up {} (since {}), pid {}\n",
                d.config_file,
                d.config_loaded,
                uptime(d.uptime_ms),
                d.started,
                d.pid
            ),
        );
    }
    let mut sites = vec![vec![
        "SITE".to_owned(),
        "KIND".to_owned(),
        "STATE".to_owned(),
        "DEAD VOTES".to_owned(),
        "DRAINED".to_owned(),
        "SEEN FROM HERE".to_owned(),
        "CONFIG".to_owned(),
    ]];
    for site in &e.sites {
        sites.push(vec![
            if site.id == e.local_site {
                format!("{} (local)", site.id)
            } else {
                site.id.to_string()
            },
            if site.witness { "witness" } else { "site" }.to_owned(),
            site_state(site),
            if site.dead_votes.is_empty() {
                "-".to_owned()
            } else {
                site.dead_votes
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            },
            if site.drained { "yes" } else { "no" }.to_owned(),
            or_dash(site.local_view.map(|l| format!("{l:?}").to_lowercase())),
            agreement::cell(s, &site.id),
        ]);
    }
    out.extend(agreement::warning(s));
    out.push_str(&table(&sites));
    out.push('\n');
    if let Some(d) = &s.detect {
        out.push_str(&detect(d));
        out.push('\n');
    }
    let mut services = vec![vec![
        "SERVICE".to_owned(),
        "ACTIVE".to_owned(),
        "HELD BY / REASON".to_owned(),
        "LOCAL ROLE".to_owned(),
        "PIN".to_owned(),
        "SITES".to_owned(),
        "HEALTH".to_owned(),
    ]];
    for svc in &e.services {
        services.push(vec![
            svc.id.to_string(),
            or_dash(svc.active.as_ref().map(|a| a.to_string())),
            or_dash(svc.held_by.as_ref().map(held_by)),
            format!(
                "{}{}",
                svc.local_role,
                if svc.takeover { " (takeover)" } else { "" }
            ),
            or_dash(svc.pinned.as_ref().map(|p| p.to_string())),
            svc.sites
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" > "),
            health(svc, &e.sites),
        ]);
    }
    out.push_str(&table(&services));
    if !s.backends.is_empty() {
        out.push('\n');
        let mut rows = vec![vec![
            "BACKEND".to_owned(),
            "CONFIRMED GEN".to_owned(),
            "STATE".to_owned(),
        ]];
        for b in &s.backends {
            rows.push(vec![
                b.kind.to_string(),
                or_dash(b.applied_generation.map(|g| g.to_string())),
                match (&b.last_error, b.pending, &b.degraded, &b.drift) {
                    (Some(e), ..) => truncate(
                        &format!("failing ({}x): {e}", b.consecutive_failures),
                        CELL_MAX,
                    ),
                    (None, true, ..) => "applying".to_owned(),
                    (None, false, Some(why), _) => format!("DEGRADED: {why}"),
                    (None, false, None, Some(drift)) => format!("DRIFT: {drift}"),
                    (None, false, None, None) => "ok".to_owned(),
                },
            ]);
        }
        out.push_str(&table(&rows));
    }
    if !s.bgp_peers.is_empty() {
        out.push('\n');
        out.push_str(&bgp_peers(&s.bgp_peers));
    }
    if !s.bfd.is_empty() {
        out.push('\n');
        out.push_str(&bfd(&s.bfd));
    }
    out
}

/// A site's STATE cell: `alive`, `left` (a planned stop is not a failure:
/// never `DEAD`) or `DEAD since 09:31:02 UTC (3m2s)`.
fn site_state(site: &SiteStatus) -> String {
    if site.left {
        return "left".to_owned();
    }
    if !site.dead {
        return "alive".to_owned();
    }
    let Some(ms) = site.dead_for_ms else {
        return "DEAD".to_owned();
    };
    let since = std::time::SystemTime::now() - std::time::Duration::from_millis(ms);
    let stamp = humantime::format_rfc3339_seconds(since).to_string();
    let clock = stamp.get(11..19).unwrap_or(&stamp);
    format!("DEAD since {clock} UTC ({})", uptime(ms))
}

/// The HELD BY / REASON cell: why a service is where it is.
fn held_by(h: &HeldBy) -> String {
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

/// The HEALTH cell: per site `ok`, `FAIL`, `?` (not known yet), or
/// `stale` for a dead site (its last report says nothing about now).
fn health(svc: &ServiceStatus, sites: &[SiteStatus]) -> String {
    let dead = |id: &orbit_core::SiteId| sites.iter().any(|s| &s.id == id && s.dead);
    svc.health
        .iter()
        .map(|(site, h)| {
            let word = match h {
                _ if dead(site) => "stale",
                Some(true) => "ok",
                Some(false) => "FAIL",
                None => "?",
            };
            format!("{site}:{word}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` characters, the cut marked with `...`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// `1d2h`, `3h4m`, `5m6s`, `7s`: an uptime at a glance.
fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{}s", s % 60),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// The BGP sessions table of `orbitctl status`.
fn bgp_peers(peers: &[BgpPeerReport]) -> String {
    let mut rows = vec![[
        "BGP PEER", "AS", "STATE", "UPTIME", "FAMILIES", "SENT", "RCVD", "EOR", "LAST",
    ]
    .map(str::to_owned)
    .to_vec()];
    for p in peers {
        let last = match (&p.last_notification, &p.last_error) {
            (Some(n), _) => format!("{} {} at {}", n.direction, n.text, n.at),
            (None, Some(e)) => e.clone(),
            (None, None) => "-".to_owned(),
        };
        let mut sent = p.prefixes_sent.to_string();
        if !p.not_sent.is_empty() {
            sent.push_str(&format!(" ({} not sent)", p.not_sent.len()));
        }
        rows.push(vec![
            p.address.to_string(),
            p.asn.to_string(),
            if p.state == "established" {
                "established".to_owned()
            } else {
                p.state.to_uppercase()
            },
            or_dash(p.established_for_ms.map(uptime)),
            if p.families.is_empty() {
                "-".to_owned()
            } else {
                p.families.join(",")
            },
            sent,
            p.prefixes_received.to_string(),
            if p.end_of_rib_sent { "sent" } else { "-" }.to_owned(),
            last,
        ]);
    }
    table(&rows)
}

/// Microseconds as milliseconds, e.g. `10ms`, `1000ms`, `12.5ms`.
fn ms(us: u64) -> String {
    if us % 1000 == 0 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.1}ms", us as f64 / 1000.0)
    }
}

/// The BFD sessions table of `orbitctl status`.
fn bfd(sessions: &[BfdSessionReport]) -> String {
    let mut rows = vec![[
        "BFD PEER",
        "HOP",
        "LOCAL",
        "STATE",
        "REMOTE",
        "DIAG",
        "TX INTERVAL",
        "DETECT",
        "TX/RX PKTS",
        "DROPPED",
        "CHANGES",
        "EXPIRIES",
        "LAST CHANGE",
    ]
    .map(str::to_owned)
    .to_vec()];
    for b in sessions {
        let dropped: u64 = b.dropped.values().sum();
        rows.push(vec![
            b.peer.to_string(),
            b.hop.to_string(),
            b.local.to_string(),
            if b.state == BfdState::Up {
                "up".to_owned()
            } else {
                b.state.as_str().to_uppercase()
            },
            b.remote_state.to_string(),
            b.local_diag.clone(),
            ms(b.tx_interval_us),
            or_dash(b.detection_time_us.map(ms)),
            format!("{}/{}", b.tx_packets, b.rx_packets),
            if dropped == 0 {
                "0".to_owned()
            } else {
                let reasons: Vec<String> =
                    b.dropped.iter().map(|(r, n)| format!("{r}:{n}")).collect();
                format!("{dropped} ({})", reasons.join(" "))
            },
            b.state_changes.to_string(),
            b.detection_expiries.to_string(),
            or_dash(b.last_state_change.clone()),
        ]);
    }
    table(&rows)
}

pub fn command(r: &CommandResponse) -> String {
    let mut out = String::new();
    let site =
        |s: &Option<orbit_core::SiteId>| s.as_ref().map_or("nowhere".to_owned(), |s| s.to_string());
    for d in &r.decisions {
        match &d.change {
            Change::CommandAccepted { .. } => out.push_str(&format!("{}\n", d.reason)),
            Change::ServiceMoved { service, from, to } => {
                out.push_str(&format!("  {service}: {} -> {}\n", site(from), site(to)));
            }
            Change::LocalRole { service, from, to } => {
                out.push_str(&format!("  {service}: local role {from} -> {to}\n"));
            }
            Change::SiteLiveness { .. }
            | Change::SiteLeft { .. }
            | Change::Fenced { .. }
            | Change::CommandSuperseded { .. }
            | Change::ObserverMode { .. } => {
                out.push_str(&format!("  {}\n", d.reason));
            }
        }
    }
    out.push_str(&format!("steering generation {}\n", r.generation));
    out
}

/// Who issued a command and whether it was forced, as a journal line's
/// tail: " [by uid 0 pid 4242, reason "CHG-1", forced]".
fn issued(order: &Order) -> String {
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

pub fn journal_entry(e: &JournalEntry) -> String {
    let what = match &e.record {
        JournalRecord::Decision { decision } => match &decision.change {
            Change::CommandAccepted { order } => {
                format!("decision: {}{}", decision.reason, issued(order))
            }
            Change::CommandSuperseded { .. } => format!("SUPERSEDED: {}", decision.reason),
            _ => format!("decision: {}", decision.reason),
        },
        JournalRecord::CommandRefused { order, error } => {
            format!("refused {}: {error}{}", order.command.verb(), issued(order))
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
    };
    format!("#{:<6} {}  {what}", e.seq, e.time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::api::BfdHop;

    #[test]
    fn bgp_table_shows_sessions_in_words() {
        let peer = |address: &str, state: &str| BgpPeerReport {
            address: address.parse().expect("ip"),
            asn: 65002,
            state: state.to_owned(),
            established_for_ms: (state == "established").then_some(3_723_000),
            families: vec!["ipv4".to_owned()],
            prefixes_sent: 2,
            prefixes_received: 0,
            updates_sent: 3,
            updates_received: 1,
            end_of_rib_sent: state == "established",
            not_sent: Vec::new(),
            last_notification: None,
            notifications: Vec::new(),
            last_error: None,
        };
        let mut down = peer("198.51.100.2", "active");
        down.last_notification = Some(orbit_core::api::BgpNotificationReport {
            direction: "received".to_owned(),
            code: 6,
            subcode: 2,
            text: "Cease/Administrative Shutdown".to_owned(),
            at: "2026-12-05T01:00:00.000Z".to_owned(),
        });
        let text = bgp_peers(&[peer("198.51.100.1", "established"), down]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("BGP PEER"), "{text}");
        for cell in [
            "198.51.100.1",
            "65002",
            "established",
            "1h2m",
            "ipv4",
            "sent",
        ] {
            assert!(lines[1].contains(cell), "{cell} missing in {text}");
        }
        for cell in [
            "ACTIVE",
            "received Cease/Administrative Shutdown at 2026-12-05T01:00:00.000Z",
        ] {
            assert!(lines[2].contains(cell), "{cell} missing in {text}");
        }
    }

    #[test]
    fn bfd_table_shows_state_timers_and_counters() {
        let session = BfdSessionReport {
            peer: "192.0.2.1".parse().expect("ip"),
            local: "192.0.2.2".parse().expect("ip"),
            hop: BfdHop::Single,
            state: BfdState::Down,
            remote_state: BfdState::Up,
            local_diag: "control detection time expired".to_owned(),
            local_discriminator: 1,
            remote_discriminator: 2,
            desired_min_tx_us: 10_000,
            required_min_rx_us: 10_000,
            detect_mult: 3,
            tx_interval_us: 1_000_000,
            detection_time_us: Some(30_000),
            tx_packets: 120,
            rx_packets: 117,
            dropped: [("bad_ttl".to_owned(), 2)].into_iter().collect(),
            state_changes: 4,
            detection_expiries: 1,
            last_state_change: Some("2026-11-27T05:00:00.123Z".to_owned()),
        };
        let text = bfd(&[session]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("BFD PEER"), "{text}");
        for cell in [
            "192.0.2.1",
            "single",
            "DOWN",
            "up",
            "control detection time expired",
            "1000ms",
            "30ms",
            "120/117",
            "2 (bad_ttl:2)",
            "2026-11-27T05:00:00.123Z",
        ] {
            assert!(lines[1].contains(cell), "{cell} missing in {text}");
        }
    }

    #[test]
    fn a_site_that_left_shows_as_left_not_dead() {
        let site = |id: &str, dead: bool, left: bool| orbit_core::SiteStatus {
            id: id.parse().expect("site"),
            witness: false,
            dead,
            dead_for_ms: None,
            dead_votes: Vec::new(),
            cut_off: false,
            drained: false,
            left,
            local_view: left.then_some(orbit_core::Liveness::Left),
        };
        let response = StatusResponse {
            version: "test".to_owned(),
            engine: orbit_core::EngineStatus {
                local_site: "b".parse().expect("site"),
                generation: 3,
                quorum: 2,
                fenced: false,
                synced: true,
                observer_mode: false,
                sites: vec![site("a", false, true), site("b", false, false)],
                services: Vec::new(),
            },
            steering: orbit_core::Steering {
                generation: 3,
                local_site: "b".parse().expect("site"),
                fenced: false,
                observe_only: false,
                services: Default::default(),
            },
            backends: Vec::new(),
            bfd: Vec::new(),
            bgp_peers: Vec::new(),
            detect: None,
            daemon: None,
            config_fingerprints: Default::default(),
            config_mismatch: Vec::new(),
        };
        let text = status(&response);
        let a = text.lines().find(|l| l.starts_with("a ")).expect("a row");
        assert!(a.contains("left") && !a.contains("DEAD"), "{text}");
    }
}
