//! `orbitctl simulate` and `--dry-run`: the facts as the operator writes
//! them (`web@a`, `a-b`), and the answer as lines and a placement table.

use orbit_core::{Change, ServiceAt, SimulatedDecision, Simulation, SiteId};

use crate::render::table;

/// `SERVICE@SITE`, as `--unhealthy` takes it.
pub fn service_at(text: &str) -> Result<ServiceAt, String> {
    let (service, site) = text
        .split_once('@')
        .ok_or_else(|| format!("{text:?} is not SERVICE@SITE (e.g. web@a)"))?;
    Ok(ServiceAt {
        service: service.parse().map_err(|e| format!("{text:?}: {e}"))?,
        site: site.parse().map_err(|e| format!("{text:?}: {e}"))?,
    })
}

/// `SITE-SITE` (or `SITE,SITE` when a site's name has a '-' in it), as
/// `--cut` takes it.
pub fn cut(text: &str) -> Result<[SiteId; 2], String> {
    let (x, y) = match text.split_once(',') {
        Some(pair) => pair,
        None if text.matches('-').count() == 1 => text.split_once('-').unwrap_or_default(),
        None => {
            return Err(format!(
                "{text:?} is not SITE-SITE (e.g. a-b); where a site's name has a '-' in it, \
                 write SITE,SITE"
            ))
        }
    };
    let site = |s: &str| s.parse::<SiteId>().map_err(|e| format!("{text:?}: {e}"));
    Ok([site(x)?, site(y)?])
}

/// The decisions, one line each with its offset, then the placement.
pub fn render(s: &Simulation) -> String {
    let mut out = String::new();
    if s.decisions.is_empty() {
        out.push_str("no decision: nothing would change\n");
    } else {
        let mut rows = vec![vec![
            "WHEN".to_owned(),
            "CHANGE".to_owned(),
            "REASON".to_owned(),
        ]];
        rows.extend(
            s.decisions
                .iter()
                .map(|d| vec![offset(d.offset_ms), change(d), d.reason.replace('\n', " ")]),
        );
        out.push_str(&table(&rows));
    }
    out.push('\n');
    let site = |s: &Option<SiteId>| s.as_ref().map_or("nowhere".to_owned(), ToString::to_string);
    let mut rows = vec![vec![
        "SERVICE".to_owned(),
        "NOW".to_owned(),
        "THEN".to_owned(),
        "LOCAL ROLE".to_owned(),
    ]];
    for (id, p) in &s.placement {
        let then = if p.active == p.before {
            site(&p.active)
        } else {
            format!("{} (moved)", site(&p.active))
        };
        rows.push(vec![
            id.to_string(),
            site(&p.before),
            then,
            p.local_role.to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    for note in &s.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if let Some(at) = s.pending_after_ms {
        out.push_str(&format!(
            "note: simulated {} ahead; a timer due at {} was not played\n",
            offset(s.horizon_ms).trim_start_matches('+'),
            offset(at)
        ));
    }
    out.push_str("nothing was applied\n");
    out
}

/// "+0s", "+1.5s", "+1m30s".
fn offset(ms: u64) -> String {
    let (minutes, ms) = (ms / 60_000, ms % 60_000);
    let seconds = if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", ms as f64 / 1000.0)
    };
    match minutes {
        0 => format!("+{seconds}"),
        m if ms == 0 => format!("+{m}m"),
        m => format!("+{m}m{seconds}"),
    }
}

/// The change in a few words; the reason column says why.
fn change(d: &SimulatedDecision) -> String {
    let site = |s: &Option<SiteId>| s.as_ref().map_or("nowhere".to_owned(), ToString::to_string);
    match &d.change {
        Change::ServiceMoved { service, from, to } => {
            format!("{service}: {} -> {}", site(from), site(to))
        }
        Change::LocalRole { service, from, to } => format!("{service}: local {from} -> {to}"),
        Change::ServiceMoving {
            service,
            from,
            to,
            plan,
        } => format!("{service}: {from} -> {to} after plan {plan}"),
        Change::MoveGivenUp { service, from, to } => {
            format!("{service}: stays at {from} (move to {to} given up)")
        }
        Change::SiteLiveness { site, dead: true } => format!("site {site} DEAD"),
        Change::SiteLiveness { site, dead: false } => format!("site {site} alive"),
        Change::MemberLiveness {
            member,
            site,
            dead: true,
        } => format!("member {member} of site {site} DEAD"),
        Change::MemberLiveness {
            member,
            site,
            dead: false,
        } => format!("member {member} of site {site} alive"),
        Change::SiteLeft { site, left: true } => format!("site {site} left"),
        Change::SiteLeft { site, left: false } => format!("site {site} back"),
        Change::Fenced { fenced: true } => "FENCED".to_owned(),
        Change::Fenced { fenced: false } => "unfenced".to_owned(),
        Change::CommandAccepted { order } => format!("accepted: {}", order.command),
        Change::CommandSuperseded { .. } => "command superseded".to_owned(),
        Change::ObserverMode { on, site } => {
            format!(
                "observer mode {} (set at {site})",
                if *on { "on" } else { "off" }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_or_say_what_is_wrong() {
        let at = service_at("web@a").unwrap();
        assert_eq!((at.service.as_str(), at.site.as_str()), ("web", "a"));
        assert!(service_at("web").unwrap_err().contains("SERVICE@SITE"));
        assert!(service_at("Web@a").is_err());
        let pair = |t: &str| cut(t).map(|[x, y]| (x.to_string(), y.to_string()));
        assert_eq!(pair("a-b"), Ok(("a".to_owned(), "b".to_owned())));
        assert_eq!(
            pair("dc-1,dc-2"),
            Ok(("dc-1".to_owned(), "dc-2".to_owned()))
        );
        assert!(pair("dc-1-dc-2").unwrap_err().contains("SITE,SITE"));
        assert!(pair("a").is_err());
    }

    #[test]
    fn offsets_read_as_durations() {
        assert_eq!(offset(0), "+0s");
        assert_eq!(offset(1500), "+1.5s");
        assert_eq!(offset(90_000), "+1m30s");
        assert_eq!(offset(120_000), "+2m");
    }
}
