//! `POST /v1/events`: what an external detector (a monitoring system, a
//! script) may tell this orbitd, and where it goes.
//!
//! With gossip on, every member's verdicts travel in gossip under the
//! member's own name, and the quorum counts each member once. A feeder holds
//! this daemon's API credential, not the other members': it speaks for this
//! node only, or it could outvote the cluster from one API socket.
//! - A verdict's observer must be this node's site (omitted: this site) and
//!   its subject another member. It enters this member's gossip view as one
//!   more local source (`Source::External`, beside SWIM, Serf and BFD: the
//!   worst of them says whether the member's daemon is down; the member's
//!   own voice, the silence rule and the data-plane probe still apply), and
//!   it expires unless repeated within `EXTERNAL_TTL`. The engines see it
//!   only through this member's combined verdict.
//! - Health only of this node's site (omitted: this site): published
//!   through gossip as the local health checks publish theirs, then handed
//!   to the local engine.
//!
//! With `[detect] gossip = false` nothing else carries the members'
//! opinions to each other, so the feed may speak for any member (then the
//! API credential is the cluster's detection) and events go straight to the
//! engine, as posted.
//!
//! In both modes a batch is checked whole before any of it is delivered: a
//! refused batch changes nothing.

use hyper::StatusCode;
pub use orbit_core::api::request::PostedEvent;
use orbit_core::{Event, SiteId};
use orbit_detect::gossip::{LocalReporter, Source};
use tokio::sync::mpsc;

use crate::api::Known;
use crate::daemon::Input;

/// Why a batch was refused: the first bad event, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A site or service the config does not name.
    Unknown(String),
    /// The event speaks for another member, or about this member itself.
    Forbidden(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unknown(_) => StatusCode::NOT_FOUND,
            Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unknown(why) | Refusal::Forbidden(why) => f.write_str(why),
        }
    }
}

/// Checks a whole batch and fills in the omitted observers and sites; with
/// `gossip` on, every event must speak for this node only.
pub fn check(posted: Vec<PostedEvent>, known: &Known, gossip: bool) -> Result<Vec<Event>, Refusal> {
    let local = &known.local;
    let site = |s: &SiteId| {
        if known.sites.contains(s) {
            Ok(())
        } else {
            Err(Refusal::Unknown(format!("unknown site {:?}", s.as_str())))
        }
    };
    let mut events = Vec::with_capacity(posted.len());
    for (i, event) in posted.into_iter().enumerate() {
        let n = i + 1;
        let event = match event {
            PostedEvent::Verdict {
                observer,
                subject,
                liveness,
            } => {
                let observer = observer.unwrap_or_else(|| local.clone());
                site(&observer)?;
                site(&subject)?;
                if gossip && observer != *local {
                    return Err(Refusal::Forbidden(format!(
                        "event {n}: orbitd at site {l} takes verdicts only from its own \
                         detectors (observer {l:?} or none), not in the name of site {:?}: \
                         every member votes for itself through gossip",
                        observer.as_str(),
                        l = local.as_str()
                    )));
                }
                if subject == observer {
                    return Err(Refusal::Forbidden(format!(
                        "event {n}: a verdict of site {:?} about its own site counts for \
                         nothing: a member's daemon speaks for itself (report its services' \
                         health instead)",
                        observer.as_str()
                    )));
                }
                Event::Verdict {
                    observer,
                    subject,
                    liveness,
                }
            }
            PostedEvent::Health {
                site: at,
                service,
                healthy,
            } => {
                let at = at.unwrap_or_else(|| local.clone());
                site(&at)?;
                if !known.services.contains(&service) {
                    return Err(Refusal::Unknown(format!(
                        "unknown service {:?}",
                        service.as_str()
                    )));
                }
                if gossip && at != *local {
                    return Err(Refusal::Forbidden(format!(
                        "event {n}: orbitd at site {l} takes health only for its own site \
                         (site {l:?} or none), not for site {:?}: every member publishes its \
                         own through gossip",
                        at.as_str(),
                        l = local.as_str()
                    )));
                }
                Event::Health {
                    site: at,
                    service,
                    healthy,
                }
            }
        };
        events.push(event);
    }
    Ok(events)
}

/// The event loop or gossip is gone: orbitd is shutting down.
#[derive(Debug)]
pub struct Stopped;

/// Delivers checked events: with gossip (`reporter`), verdicts into this
/// member's gossip view and health through gossip and then to the engine;
/// without, everything straight to the engine.
pub async fn deliver(
    events: Vec<Event>,
    reporter: Option<&LocalReporter>,
    engine: &mpsc::Sender<Input>,
) -> Result<(), Stopped> {
    for event in events {
        match &event {
            Event::Verdict {
                observer,
                subject,
                liveness,
            } => tracing::info!(kind = %"external_verdict", %observer, site = %subject,
                to = %liveness, "external event accepted"),
            Event::Health {
                site,
                service,
                healthy,
            } => tracing::info!(kind = %"external_health", %service, %site,
                to = if *healthy { "healthy" } else { "unhealthy" }, "external event accepted"),
            other => {
                tracing::info!(kind = %"external_event", event = ?other, "external event accepted")
            }
        }
        match (reporter, event) {
            (
                Some(reporter),
                Event::Verdict {
                    subject, liveness, ..
                },
            ) => reporter
                .source(Source::External, subject, Some(liveness))
                .await
                .map_err(|_| Stopped)?,
            (Some(reporter), event) => {
                // Gossip first, as the local health checks do: a peer must
                // not see the placement this causes before the health that
                // explains it.
                if let Event::Health {
                    service, healthy, ..
                } = &event
                {
                    reporter
                        .report(service.clone(), *healthy)
                        .await
                        .map_err(|_| Stopped)?;
                }
                engine
                    .send(Input::Event(event))
                    .await
                    .map_err(|_| Stopped)?;
            }
            (None, event) => engine
                .send(Input::Event(event))
                .await
                .map_err(|_| Stopped)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::Liveness;

    fn known() -> Known {
        Known {
            local: "a".parse().unwrap(),
            sites: ["a", "b", "w"].iter().map(|s| s.parse().unwrap()).collect(),
            services: vec!["web".parse().unwrap()],
            gossip: None,
        }
    }

    /// `json` posted at a, with or without gossip.
    fn posted(json: &str, gossip: bool) -> Result<Vec<Event>, Refusal> {
        check(serde_json::from_str(json).unwrap(), &known(), gossip)
    }

    fn refused(json: &str, gossip: bool) -> Refusal {
        posted(json, gossip).unwrap_err()
    }

    fn verdict(observer: &str, subject: &str, liveness: Liveness) -> Event {
        Event::Verdict {
            observer: observer.parse().unwrap(),
            subject: subject.parse().unwrap(),
            liveness,
        }
    }

    #[test]
    fn omitted_observer_and_site_are_this_node() {
        let events = posted(
            r#"[{"type":"verdict","subject":"b","liveness":"dead"},
                {"type":"health","service":"web","healthy":false}]"#,
            true,
        )
        .unwrap();
        assert_eq!(
            events,
            vec![
                verdict("a", "b", Liveness::Dead),
                Event::Health {
                    site: "a".parse().unwrap(),
                    service: "web".parse().unwrap(),
                    healthy: false,
                },
            ]
        );
    }

    #[test]
    fn with_gossip_a_feeder_speaks_for_this_node_only() {
        for (json, why) in [
            (
                r#"[{"type":"verdict","subject":"b","liveness":"alive"},
                    {"type":"verdict","observer":"b","subject":"a","liveness":"dead"}]"#,
                "event 2: orbitd at site a takes verdicts only from its own detectors",
            ),
            (
                r#"[{"type":"health","site":"b","service":"web","healthy":true}]"#,
                "not for site \"b\"",
            ),
            (
                r#"[{"type":"verdict","observer":"a","subject":"a","liveness":"dead"}]"#,
                "about its own site",
            ),
        ] {
            let refusal = refused(json, true);
            assert_eq!(refusal.status(), StatusCode::FORBIDDEN, "{refusal}");
            assert!(refusal.to_string().contains(why), "{refusal}");
        }
    }

    #[test]
    fn without_gossip_the_feed_speaks_for_every_member() {
        let events = posted(
            r#"[{"type":"verdict","observer":"w","subject":"b","liveness":"dead"}]"#,
            false,
        )
        .unwrap();
        assert_eq!(events, vec![verdict("w", "b", Liveness::Dead)]);
        let refusal = refused(
            r#"[{"type":"verdict","observer":"w","subject":"w","liveness":"dead"}]"#,
            false,
        );
        assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn unknown_names_and_shapes_are_refused() {
        let refusal = refused(
            r#"[{"type":"verdict","observer":"q","subject":"a","liveness":"dead"}]"#,
            true,
        );
        assert_eq!(refusal, Refusal::Unknown("unknown site \"q\"".into()));
        let refusal = refused(r#"[{"type":"health","service":"db","healthy":true}]"#, true);
        assert_eq!(refusal, Refusal::Unknown("unknown service \"db\"".into()));
        // A typo must not fall back to this node's name.
        for bad in [
            r#"[{"type":"verdict","obsrever":"b","subject":"a","liveness":"dead"}]"#,
            r#"[{"type":"command","command":{"type":"drain","site":"a"}}]"#,
        ] {
            assert!(
                serde_json::from_str::<Vec<PostedEvent>>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
