//! Human-readable tables for orbitctl.

use orbit_core::api::{CommandResponse, DetectReport, JournalEntry, JournalRecord, StatusResponse};
use orbit_core::Change;

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
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
    let mut header: Vec<String> = ["MEMBER", "LOCAL VERDICT", "SWIM", "DATA PLANE"]
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
    let mut sites = vec![vec![
        "SITE".to_owned(),
        "KIND".to_owned(),
        "STATE".to_owned(),
        "DEAD VOTES".to_owned(),
        "DRAINED".to_owned(),
        "SEEN FROM HERE".to_owned(),
    ]];
    for site in &e.sites {
        sites.push(vec![
            if site.id == e.local_site {
                format!("{} (local)", site.id)
            } else {
                site.id.to_string()
            },
            if site.witness { "witness" } else { "site" }.to_owned(),
            if site.dead { "DEAD" } else { "alive" }.to_owned(),
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
        ]);
    }
    out.push_str(&table(&sites));
    out.push('\n');
    if let Some(d) = &s.detect {
        out.push_str(&detect(d));
        out.push('\n');
    }
    let mut services = vec![vec![
        "SERVICE".to_owned(),
        "ACTIVE".to_owned(),
        "LOCAL ROLE".to_owned(),
        "PIN".to_owned(),
        "SITES".to_owned(),
        "HEALTH".to_owned(),
    ]];
    for svc in &e.services {
        services.push(vec![
            svc.id.to_string(),
            or_dash(svc.active.as_ref().map(|a| a.to_string())),
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
            svc.health
                .iter()
                .map(|(site, h)| {
                    format!(
                        "{site}:{}",
                        match h {
                            Some(true) => "ok",
                            Some(false) => "FAIL",
                            None => "?",
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
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
                b.name.clone(),
                or_dash(b.applied_generation.map(|g| g.to_string())),
                match (&b.last_error, b.pending) {
                    (Some(e), _) => format!("failing ({}x): {e}", b.consecutive_failures),
                    (None, true) => "applying".to_owned(),
                    (None, false) => "ok".to_owned(),
                },
            ]);
        }
        out.push_str(&table(&rows));
    }
    out
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
            Change::SiteLiveness { .. } | Change::Fenced { .. } => {
                out.push_str(&format!("  {}\n", d.reason));
            }
        }
    }
    out.push_str(&format!("steering generation {}\n", r.generation));
    out
}

pub fn journal_entry(e: &JournalEntry) -> String {
    let what = match &e.record {
        JournalRecord::Decision { decision } => format!("decision: {}", decision.reason),
        JournalRecord::CommandRefused { command, error } => {
            format!("refused {}: {error}", command.verb())
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
        JournalRecord::Lifecycle { message } => message.clone(),
    };
    format!("#{:<6} {}  {what}", e.seq, e.time)
}
