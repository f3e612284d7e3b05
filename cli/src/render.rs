//! Human-readable tables for orbitctl.

mod agreement;

use orbit_core::api::{
    words, BfdSessionReport, BgpPeerReport, CommandResponse, DetectReport, JournalEntry,
    StatusResponse,
};
use orbit_core::Change;

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
            words::data_plane(m.data_plane).to_owned(),
        ];
        row.extend(
            sources
                .iter()
                .map(|s| words::liveness(m.sources.get(*s).copied())),
        );
        rows.push(row);
    }
    let mut out = String::new();
    for note in words::detect_notes(d) {
        out.push_str(&note);
        out.push('\n');
    }
    out.push_str(&table(&rows));
    out
}

pub fn status(s: &StatusResponse) -> String {
    let e = &s.engine;
    // The quorum counts sites: the members of one site count once.
    let mut voting: Vec<&orbit_core::SiteId> = Vec::new();
    for m in &e.sites {
        let site = m.site.as_ref().unwrap_or(&m.id);
        if !voting.contains(&site) {
            voting.push(site);
        }
    }
    let here = match e.sites.iter().find(|m| m.id == e.local_site) {
        Some(orbit_core::SiteStatus {
            site: Some(site), ..
        }) => format!("member {} of site {site}", e.local_site),
        _ => format!("site {}", e.local_site),
    };
    let mut out = format!(
        "orbitd {} at {here}: quorum {} of {}, {}, observer mode {}, generation {}\n\n",
        s.version,
        e.quorum,
        voting.len(),
        words::authority(e),
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
                words::uptime(d.uptime_ms),
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
        // A member of a site with several routers: "a1 of a", its state
        // and then its site's.
        let of = site
            .site
            .as_ref()
            .map_or(String::new(), |of| format!(" of {of}"));
        let mut state = words::site_state_here(e, site, std::time::SystemTime::now());
        if let (Some(of), Some(dead)) = (&site.site, site.site_dead) {
            state.push_str(&format!(
                "; site {of} {}",
                if dead { "DEAD" } else { "alive" }
            ));
        }
        sites.push(vec![
            if site.id == e.local_site {
                format!("{}{of} (local)", site.id)
            } else {
                format!("{}{of}", site.id)
            },
            match (site.witness, &site.site) {
                (true, _) => "witness",
                (false, Some(_)) => "member",
                (false, None) => "site",
            }
            .to_owned(),
            state,
            words::dead_votes(site),
            if site.drained { "yes" } else { "no" }.to_owned(),
            words::liveness(site.local_view),
            words::config_cell(s, &site.id),
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
            or_dash(svc.held_by.as_ref().map(words::held_by)),
            words::local_role(svc),
            or_dash(svc.pinned.as_ref().map(|p| p.to_string())),
            svc.sites
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" > "),
            words::health_line(svc, &e.sites),
        ]);
    }
    out.push_str(&table(&services));
    let plans: Vec<String> = e.services.iter().filter_map(words::plan_line).collect();
    if !plans.is_empty() {
        out.push_str("\nPLANS\n");
        for line in plans {
            out.push_str(&format!("  {line}\n"));
        }
    }
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
                if b.last_error.is_some() {
                    truncate(&words::backend_state(b), CELL_MAX)
                } else {
                    words::backend_state(b)
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

/// At most `max` characters, the cut marked with `...`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// The BGP sessions table of `orbitctl status`.
fn bgp_peers(peers: &[BgpPeerReport]) -> String {
    let mut rows = vec![[
        "BGP PEER", "AS", "STATE", "UPTIME", "FAMILIES", "SENT", "RCVD", "EOR", "LAST",
    ]
    .map(str::to_owned)
    .to_vec()];
    for p in peers {
        rows.push(vec![
            p.address.to_string(),
            p.asn.to_string(),
            words::bgp_state(p),
            or_dash(p.established_for_ms.map(words::uptime)),
            if p.families.is_empty() {
                "-".to_owned()
            } else {
                p.families.join(",")
            },
            words::bgp_sent(p),
            p.prefixes_received.to_string(),
            if p.end_of_rib_sent { "sent" } else { "-" }.to_owned(),
            words::bgp_last(p),
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
            words::bfd_state(b.state),
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
            Change::ServiceMoving {
                service,
                from,
                to,
                plan,
            } => {
                out.push_str(&format!(
                    "  {service}: {from} -> {to} once plan {plan} allows (it runs first)\n"
                ));
            }
            Change::SiteLiveness { .. }
            | Change::SiteLeft { .. }
            | Change::Fenced { .. }
            | Change::CommandSuperseded { .. }
            | Change::ObserverMode { .. }
            | Change::MoveGivenUp { .. }
            | Change::MemberLiveness { .. } => {
                out.push_str(&format!("  {}\n", d.reason));
            }
        }
    }
    out.push_str(&format!("steering generation {}\n", r.generation));
    out
}

/// `orbitctl plan show`: the run's line, its steps, and the journal's
/// record of the steps run here (each end with its output's last lines).
pub fn plan(svc: &orbit_core::ServiceStatus, journal: &[&JournalEntry]) -> String {
    let Some(view) = &svc.plan else {
        return match &svc.moving_to {
            Some(to) => format!(
                "{}: moving to site {to}; its plan has not started here\n",
                svc.id
            ),
            None => format!("{}: no plan run known to this orbitd\n", svc.id),
        };
    };
    let mut out = String::new();
    out.push_str(&words::plan_line(svc).unwrap_or_default());
    out.push_str(if view.here {
        "\n(coordinated by this member)\n\n"
    } else {
        "\n(coordinated by a member of the new site; as last gossiped)\n\n"
    });
    let mut rows = vec![vec![
        "PHASE".to_owned(),
        "STEP".to_owned(),
        "AT".to_owned(),
        "STATE".to_owned(),
    ]];
    rows.extend(words::plan_steps(&view.run).into_iter().map(Vec::from));
    out.push_str(&table(&rows));
    if !journal.is_empty() {
        out.push_str("\nJOURNAL (steps run by this orbitd)\n");
        for e in journal {
            out.push_str(&format!("{}\n", journal_entry(e)));
            if let orbit_core::api::JournalRecord::PlanStep {
                progress: orbit_core::StepProgress::Ended { output, .. },
                ..
            } = &e.record
            {
                let lines: Vec<&str> = output.lines().collect();
                for line in &lines[lines.len().saturating_sub(5)..] {
                    out.push_str(&format!("        | {line}\n"));
                }
            }
        }
    }
    out
}

pub fn journal_entry(e: &JournalEntry) -> String {
    format!("#{:<6} {}  {}", e.seq, e.time, words::journal_sentence(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::api::{BfdHop, BfdState};

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
            site: None,
            site_dead: None,
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
