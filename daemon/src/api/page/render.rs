//! The status page's HTML from `GET /v1/status`'s and `GET /v1/journal`'s
//! answers: the same data, in the same words (`orbit_core::api::words`) as
//! `orbitctl status` and `orbitctl journal`, one table per section.

use std::fmt::Write;
use std::time::SystemTime;

use orbit_core::api::{words, DetectReport, JournalEntry, JournalRecord, StatusResponse};
use orbit_core::{HeldBy, Liveness};

use super::html::{escape, Cell, Table, Tone};
use super::{SCRIPT, STYLE};

/// How often the page refreshes itself without JavaScript (`<meta
/// refresh>`); the script refreshes in place every 2 s.
const NOSCRIPT_REFRESH_S: u32 = 5;

/// The whole page; `journal` oldest first, as `GET /v1/journal` answers.
pub(super) fn page(s: &StatusResponse, journal: &[JournalEntry], now: SystemTime) -> String {
    let e = &s.engine;
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let clock = stamp.get(11..19).unwrap_or(&stamp);
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <noscript><meta http-equiv=\"refresh\" content=\"{NOSCRIPT_REFRESH_S}\"></noscript>\
         <title>orbitd {site}: {authority}</title><style>{STYLE}</style></head><body>\
         <div id=\"freshness\" class=\"banner\" data-reachable=\"true\">data of {clock} UTC \
         (orbitd's clock); reload to refresh</div>",
        site = escape(e.local_site.as_str()),
        authority = escape(words::authority(e)),
    );
    let _ = write!(out, "<main data-generated=\"{}\">", escape(&stamp));
    summary(s, clock, &mut out);
    sites(s, now, &mut out);
    if let Some(d) = &s.detect {
        evidence(d, &mut out);
    }
    services(s, &mut out);
    backends(s, &mut out);
    bgp(s, &mut out);
    bfd(s, &mut out);
    journal_section(journal, &mut out);
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    out
}

fn section(out: &mut String, id: &str, title: &str, table: &Table) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{}</h2>", escape(title));
    table.render(out);
    out.push_str("</section>");
}

/// Who is speaking, with what authority, and whether the members agree.
fn summary(s: &StatusResponse, clock: &str, out: &mut String) {
    let e = &s.engine;
    let local = e.sites.iter().find(|site| site.id == e.local_site);
    let role = if local.is_some_and(|l| l.witness) {
        "witness"
    } else {
        "site"
    };
    let authority = if e.fenced {
        Tone::Bad
    } else if e.synced {
        Tone::Ok
    } else {
        Tone::Warn
    };
    let _ = write!(
        out,
        "<header id=\"summary\" data-site=\"{site}\" data-role=\"{role}\" data-fenced=\"{fenced}\" \
         data-observer=\"{observer}\" data-generation=\"{generation}\">\
         <h1>orbitd {version} at {role} {site}</h1><ul class=\"facts\">\
         <li class=\"{authority_class}\">{authority}</li>\
         <li>quorum {quorum} of {members}</li>\
         <li class=\"{observer_class}\">observer mode {observer_word}</li>\
         <li>steering generation {generation}</li><li>data of {clock} UTC</li>",
        site = escape(e.local_site.as_str()),
        version = escape(&s.version),
        fenced = e.fenced,
        observer = e.observer_mode,
        generation = e.generation,
        authority_class = authority.class(),
        authority = escape(words::authority(e)),
        quorum = e.quorum,
        members = e.sites.len(),
        observer_class = if e.observer_mode {
            Tone::Warn
        } else {
            Tone::Plain
        }
        .class(),
        observer_word = if e.observer_mode {
            "ON: decisions are reported, nothing is applied"
        } else {
            "off"
        },
    );
    if let Some(d) = &s.daemon {
        let _ = write!(
            out,
            "<li>up {} (pid {}), config {} loaded {}</li>",
            escape(&words::uptime(d.uptime_ms)),
            d.pid,
            escape(&d.config_file),
            escape(&d.config_loaded)
        );
    }
    out.push_str("</ul>");
    let agree = if s.config_mismatch.is_empty() {
        "config fingerprints: every member heard from agrees".to_owned()
    } else {
        format!(
            "WARNING: {}",
            orbit_core::mismatch_warning(&e.local_site, &s.config_fingerprints, &s.config_mismatch)
        )
    };
    let _ = write!(
        out,
        "<p id=\"agreement\" class=\"{}\" data-mismatch=\"{}\">{}</p></header>",
        if s.config_mismatch.is_empty() {
            Tone::Plain
        } else {
            Tone::Bad
        }
        .class(),
        escape(
            &s.config_mismatch
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        escape(&agree)
    );
}

fn sites(s: &StatusResponse, now: SystemTime, out: &mut String) {
    let e = &s.engine;
    let mut t = Table::new(
        "sites-table",
        &[
            "SITE",
            "KIND",
            "STATE (CLUSTER VERDICT)",
            "DEAD VOTES",
            "DRAINED",
            "SEEN FROM HERE",
            "CONFIG",
        ],
    );
    for site in &e.sites {
        let unknown = e.fenced && site.id != e.local_site;
        let state = if site.left {
            "left"
        } else if site.dead {
            "dead"
        } else if unknown {
            "unknown"
        } else {
            "alive"
        };
        let state_tone = match state {
            "dead" => Tone::Bad,
            "left" | "unknown" => Tone::Warn,
            _ if site.cut_off => Tone::Warn,
            _ => Tone::Ok,
        };
        let name = if site.id == e.local_site {
            format!("{} (local)", site.id)
        } else {
            site.id.to_string()
        };
        t.row(
            vec![("site", site.id.to_string()), ("state", state.to_owned())],
            vec![
                Cell::plain(name),
                Cell::plain(if site.witness { "witness" } else { "site" }),
                Cell::new(words::site_state_here(e, site, now), state_tone).detail(
                    site.cut_off.then(|| {
                        "cut off: by its own reports it reaches fewer than a quorum; its \
                         dead votes do not count"
                            .to_owned()
                    }),
                ),
                Cell::new(
                    words::dead_votes(site),
                    if site.dead_votes.is_empty() {
                        Tone::Plain
                    } else {
                        Tone::Warn
                    },
                ),
                Cell::new(
                    if site.drained { "yes" } else { "no" },
                    if site.drained {
                        Tone::Warn
                    } else {
                        Tone::Plain
                    },
                ),
                Cell::new(
                    words::liveness(site.local_view),
                    liveness_tone(site.local_view),
                ),
                Cell::new(
                    words::config_cell(s, &site.id),
                    if s.config_mismatch.contains(&site.id) {
                        Tone::Bad
                    } else {
                        Tone::Plain
                    },
                ),
            ],
        );
    }
    section(out, "sites", "Sites and verdicts", &t);
}

fn liveness_tone(view: Option<Liveness>) -> Tone {
    match view {
        None | Some(Liveness::Left) => Tone::Plain,
        Some(Liveness::Alive) => Tone::Ok,
        Some(Liveness::Suspect | Liveness::Silent) => Tone::Warn,
        Some(Liveness::Dead) => Tone::Bad,
    }
}

/// The local detectors' evidence, as `orbitctl status` shows it.
fn evidence(d: &DetectReport, out: &mut String) {
    let sources: std::collections::BTreeSet<&String> =
        d.members.iter().flat_map(|m| m.sources.keys()).collect();
    let mut t = Table::new(
        "evidence-table",
        &["MEMBER", "LOCAL VERDICT", "HEARD", "SWIM", "DATA PLANE"],
    );
    for s in &sources {
        t.column(s.to_uppercase());
    }
    t.column("PARTITION".to_owned());
    for m in &d.members {
        let view_tone = match m.view.as_str() {
            "alive" => Tone::Ok,
            "dead" | "link_down" => Tone::Bad,
            "unknown" => Tone::Plain,
            _ => Tone::Warn,
        };
        let swim_tone = match m.swim.as_str() {
            "alive" => Tone::Ok,
            "suspect" => Tone::Warn,
            "down" => Tone::Bad,
            _ => Tone::Plain,
        };
        let probe_tone = match m.data_plane {
            Some(true) => Tone::Ok,
            Some(false) => Tone::Bad,
            None => Tone::Plain,
        };
        let mut cells = vec![
            Cell::plain(m.site.to_string()),
            Cell::new(m.view.clone(), view_tone),
            Cell::plain(format!("{} ms ago", m.silent_ms)),
            Cell::new(m.swim.clone(), swim_tone),
            Cell::new(words::data_plane(m.data_plane), probe_tone),
        ];
        for s in &sources {
            let said = m.sources.get(*s).copied();
            cells.push(Cell::new(words::liveness(said), liveness_tone(said)));
        }
        cells.push(if m.partitioned {
            Cell::new(
                "PARTITIONED: unreachable from here, reachable by others",
                Tone::Bad,
            )
        } else {
            Cell::plain("no")
        });
        t.row(
            vec![("member", m.site.to_string()), ("view", m.view.clone())],
            cells,
        );
    }
    let _ = write!(
        out,
        "<section id=\"evidence\"><h2>Evidence seen from here</h2>"
    );
    for note in words::detect_notes(d) {
        let tone = if note.starts_with("ISOLATED") {
            Tone::Bad
        } else if note.starts_with("local health") {
            Tone::Warn
        } else {
            Tone::Plain
        };
        let _ = write!(
            out,
            "<p class=\"note {}\">{}</p>",
            tone.class(),
            escape(&note)
        );
    }
    t.render(out);
    out.push_str("</section>");
}

fn services(s: &StatusResponse, out: &mut String) {
    let e = &s.engine;
    let mut t = Table::new(
        "services-table",
        &[
            "SERVICE",
            "ACTIVE",
            "HELD BY / REASON",
            "LOCAL ROLE",
            "PIN",
            "SITES",
            "HEALTH",
        ],
    );
    for svc in &e.services {
        let active = svc.active.as_ref().map(|a| a.to_string());
        let (held, held_tone, reason) = match &svc.held_by {
            None => ("-".to_owned(), Tone::Plain, None),
            Some(h) => {
                let tone = match h {
                    HeldBy::Nowhere => Tone::Bad,
                    HeldBy::Preferred | HeldBy::Pinned | HeldBy::Switchover => Tone::Ok,
                    HeldBy::Drained { .. }
                    | HeldBy::Failover { .. }
                    | HeldBy::FailbackTimer { .. }
                    | HeldBy::FailbackManual { .. } => Tone::Warn,
                };
                let reason = match h {
                    HeldBy::Failover { reason, .. } => Some(reason.clone()),
                    _ => None,
                };
                (words::held_by(h), tone, reason)
            }
        };
        let mut health = Tone::Plain;
        let per_site: Vec<String> = svc
            .health
            .iter()
            .map(|(site, h)| {
                let word = words::health(*h, words::site_dead(site, &e.sites));
                health = health.worst(match word {
                    "ok" => Tone::Ok,
                    "FAIL" => Tone::Bad,
                    "?" => Tone::Warn,
                    _ => Tone::Plain,
                });
                format!("{site}:{word}")
            })
            .collect();
        t.row(
            vec![
                ("service", svc.id.to_string()),
                ("active", active.clone().unwrap_or_default()),
                (
                    "pinned",
                    svc.pinned
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                ),
            ],
            vec![
                Cell::plain(svc.id.to_string()),
                match active {
                    Some(site) => Cell::new(site, Tone::Ok),
                    None => Cell::new("NOWHERE", Tone::Bad),
                },
                Cell::new(held, held_tone).detail(reason),
                Cell::plain(words::local_role(svc)),
                Cell::plain(
                    svc.pinned
                        .as_ref()
                        .map_or("-".to_owned(), |p| p.to_string()),
                ),
                Cell::plain(
                    svc.sites
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" > "),
                ),
                Cell::new(per_site.join(" "), health),
            ],
        );
    }
    section(out, "services", "Services", &t);
}

fn backends(s: &StatusResponse, out: &mut String) {
    let mut t = Table::new(
        "backends-table",
        &["BACKEND", "CONFIRMED GEN", "STATE", "OBSERVED"],
    );
    for b in &s.backends {
        let current = b.applied_generation == Some(s.steering.generation);
        let tone = if b.last_error.is_some() {
            Tone::Bad
        } else if b.pending || b.degraded.is_some() || b.drift.is_some() {
            Tone::Warn
        } else {
            Tone::Ok
        };
        let confirmed = match b.applied_generation {
            None => "- (nothing confirmed yet)".to_owned(),
            Some(g) if current => format!("{g} (current)"),
            Some(g) => format!("{g} (steering is at {})", s.steering.generation),
        };
        t.row(
            vec![
                ("backend", b.kind.to_string()),
                (
                    "confirmed",
                    b.applied_generation
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                ),
            ],
            vec![
                Cell::plain(b.kind.to_string()),
                Cell::new(confirmed, if current { Tone::Ok } else { Tone::Warn }),
                Cell::new(words::backend_state(b), tone),
                Cell::plain(b.observed.clone().unwrap_or_else(|| "-".to_owned())),
            ],
        );
    }
    if !t.is_empty() {
        section(out, "backends", "Backends", &t);
    }
}

fn bgp(s: &StatusResponse, out: &mut String) {
    let mut t = Table::new(
        "bgp-table",
        &[
            "BGP PEER", "AS", "STATE", "UPTIME", "FAMILIES", "SENT", "RCVD", "EOR", "LAST",
        ],
    );
    for p in &s.bgp_peers {
        let up = p.state == "established";
        t.row(
            vec![("peer", p.address.to_string()), ("state", p.state.clone())],
            vec![
                Cell::plain(p.address.to_string()),
                Cell::plain(p.asn.to_string()),
                Cell::new(words::bgp_state(p), if up { Tone::Ok } else { Tone::Bad }),
                Cell::plain(p.established_for_ms.map_or("-".to_owned(), words::uptime)),
                Cell::plain(if p.families.is_empty() {
                    "-".to_owned()
                } else {
                    p.families.join(",")
                }),
                Cell::new(
                    words::bgp_sent(p),
                    if p.not_sent.is_empty() {
                        Tone::Plain
                    } else {
                        Tone::Warn
                    },
                )
                .detail((!p.not_sent.is_empty()).then(|| p.not_sent.join("; "))),
                Cell::plain(p.prefixes_received.to_string()),
                Cell::plain(if p.end_of_rib_sent { "sent" } else { "-" }),
                Cell::plain(words::bgp_last(p)),
            ],
        );
    }
    if !t.is_empty() {
        section(out, "bgp", "BGP peers", &t);
    }
}

fn bfd(s: &StatusResponse, out: &mut String) {
    let mut t = Table::new(
        "bfd-table",
        &[
            "BFD PEER",
            "HOP",
            "LOCAL",
            "STATE",
            "REMOTE",
            "DIAG",
            "DETECT",
            "TX/RX PKTS",
            "CHANGES",
            "LAST CHANGE",
        ],
    );
    for b in &s.bfd {
        let tone = match b.state {
            orbit_core::api::BfdState::Up => Tone::Ok,
            orbit_core::api::BfdState::AdminDown => Tone::Plain,
            _ => Tone::Bad,
        };
        t.row(
            vec![("peer", b.peer.to_string()), ("state", b.state.to_string())],
            vec![
                Cell::plain(b.peer.to_string()),
                Cell::plain(b.hop.to_string()),
                Cell::plain(b.local.to_string()),
                Cell::new(words::bfd_state(b.state), tone),
                Cell::plain(b.remote_state.to_string()),
                Cell::plain(b.local_diag.clone()),
                Cell::plain(
                    b.detection_time_us
                        .map_or("-".to_owned(), |us| format!("{:.1} ms", us as f64 / 1000.0)),
                ),
                Cell::plain(format!("{}/{}", b.tx_packets, b.rx_packets)),
                Cell::plain(b.state_changes.to_string()),
                Cell::plain(
                    b.last_state_change
                        .clone()
                        .unwrap_or_else(|| "-".to_owned()),
                ),
            ],
        );
    }
    if !t.is_empty() {
        section(out, "bfd", "BFD sessions", &t);
    }
}

/// Newest first: what just happened is what an operator looks for.
fn journal_section(journal: &[JournalEntry], out: &mut String) {
    let mut t = Table::new(
        "journal-table",
        &["SEQ", "TIME", "KIND", "WHAT", "BY / REASON"],
    );
    for entry in journal.iter().rev() {
        let (kind, change) = words::journal_kind(entry);
        let tone = match &entry.record {
            JournalRecord::Backend { ok: false, .. }
            | JournalRecord::Drift {
                repaired: false, ..
            } => Tone::Bad,
            JournalRecord::CommandRefused { .. }
            | JournalRecord::Drift { .. }
            | JournalRecord::Reload { applied: false, .. } => Tone::Warn,
            _ => Tone::Plain,
        };
        let by = words::journal_order(entry)
            .map(|o| words::issued(o).trim().trim_matches(['[', ']']).to_owned())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        let kind_text = match change {
            Some(change) => format!("{kind}: {change}"),
            None => kind.to_owned(),
        };
        t.row(
            vec![
                ("seq", entry.seq.to_string()),
                ("kind", change.unwrap_or(kind).to_owned()),
            ],
            vec![
                Cell::plain(entry.seq.to_string()),
                Cell::plain(entry.time.clone()),
                Cell::plain(kind_text),
                Cell::new(words::journal_what(entry), tone),
                Cell::plain(by),
            ],
        );
    }
    let _ = write!(
        out,
        "<section id=\"journal\"><h2>Journal: the last {} entries, newest first</h2>",
        journal.len()
    );
    t.render(out);
    out.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::{Client, Command, Order, Origin, Reason};

    /// A one-site status with service web at a and a failing hook backend.
    fn status() -> StatusResponse {
        serde_json::from_value(serde_json::json!({
            "version": "test",
            "engine": {
                "local_site": "a", "generation": 7, "quorum": 1, "fenced": false,
                "synced": true, "observer_mode": false,
                "sites": [{"id": "a", "witness": false, "dead": false, "dead_votes": [],
                           "drained": false, "local_view": null}],
                "services": [{"id": "web", "active": "a", "local_role": "active",
                              "takeover": false, "pinned": null, "placed": null,
                              "sites": ["a"], "health": [["a", true]],
                              "held_by": {"kind": "preferred"}}]
            },
            "steering": {"generation": 7, "local_site": "a", "fenced": false,
                         "observe_only": false, "services": {}},
            "backends": [{"kind": "hook", "applied_generation": 6,
                          "last_error": "exit status 1: <b>oops</b>",
                          "consecutive_failures": 2, "pending": true}]
        }))
        .expect("a status response")
    }

    fn refused_with_reason(reason: &str) -> JournalEntry {
        JournalEntry {
            seq: 42,
            time: "2026-12-05T12:00:00.000Z".to_owned(),
            record: JournalRecord::CommandRefused {
                order: Order {
                    command: Command::Drain {
                        site: "a".parse().expect("site"),
                    },
                    force: false,
                    origin: Some(Origin {
                        client: Client::Tcp {
                            peer: "192.0.2.7:51000".parse().expect("address"),
                        },
                        at: "2026-12-05T12:00:00.000Z".to_owned(),
                        reason: Some(Reason::new(reason).expect("a valid reason")),
                    }),
                },
                error: "this would leave web without any site".to_owned(),
            },
        }
    }

    #[test]
    fn an_operators_reason_is_shown_as_text_never_as_markup() {
        let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
        let html = page(
            &status(),
            &[refused_with_reason(hostile)],
            SystemTime::UNIX_EPOCH,
        );
        // The one script element is the page's own.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(
            !html.contains("<img") && !html.contains("<b>oops"),
            "{html}"
        );
        assert!(
            html.contains(
                "reason &quot;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x \
                 onerror=alert(2)&gt;&quot;"
            ),
            "{html}"
        );
        assert!(
            html.contains("exit status 1: &lt;b&gt;oops&lt;/b&gt;"),
            "{html}"
        );
    }

    #[test]
    fn rows_carry_stable_data_attributes_and_orbitctls_words() {
        let html = page(
            &status(),
            &[refused_with_reason("CHG-1")],
            SystemTime::now(),
        );
        for fragment in [
            r#"<tr data-service="web" data-active="a" data-pinned="">"#,
            r#"<tr data-site="a" data-state="alive">"#,
            r#"<tr data-backend="hook" data-confirmed="6">"#,
            r#"<tr data-seq="42" data-kind="command_refused">"#,
            r#"data-site="a" data-role="site" data-fenced="false""#,
            "<td class=\"ok\">preferred</td>",
            "6 (steering is at 7)",
            "failing (2x): exit status 1",
            "refused drain: this would leave web without any site",
            "by tcp 192.0.2.7:51000, reason &quot;CHG-1&quot;",
        ] {
            assert!(html.contains(fragment), "{fragment} missing in {html}");
        }
    }
}
