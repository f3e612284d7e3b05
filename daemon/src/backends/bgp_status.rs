//! BGP sessions for `GET /v1/status`, `GET /ready` and `GET /metrics`.
//!
//! The peer tasks own their sessions and counters; like `bfd_status`, this
//! module asks them for a snapshot whenever an endpoint is requested, keeps
//! the last one for the metrics collector, and judges the backend's health
//! from it by the `[bgp] ready` rule. Asking at request time (instead of
//! waiting for the next steering) is what makes a session that a router
//! shut down visible at once: the steering was confirmed, but the routes are
//! gone from that router.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_bgp::BgpReadyRule;
use orbit_config::Config;
use orbit_core::api::{BgpNotificationCount, BgpNotificationReport, BgpPeerReport};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::metrics::snapshot::{encode_family, lock, with, Family, Labels};

/// Peer tasks that do not answer within this are reported as unknown
/// rather than holding up the API.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// Every RFC 4271 §8.2.2 state, as reported and exported.
const STATES: [&str; 6] = [
    "idle",
    "connect",
    "active",
    "opensent",
    "openconfirm",
    "established",
];

#[derive(Debug, Clone)]
struct Source {
    control: orbit_bgp::PeerControl,
    rule: BgpReadyRule,
    /// Address families the services announce ("ipv4", "ipv6").
    families: BTreeSet<&'static str>,
}

/// The BGP speaker's sessions, as far as status, readiness and metrics care.
#[derive(Debug, Default)]
pub struct BgpView {
    source: Mutex<Option<Source>>,
    last: Arc<Mutex<Vec<BgpPeerReport>>>,
}

impl BgpView {
    /// The speaker to report on, with the config's readiness rule (`None`
    /// without `[bgp]`).
    pub fn set_control(&self, config: &Config, control: Option<orbit_bgp::PeerControl>) {
        let source = match (control, &config.bgp) {
            (Some(control), Some(bgp)) => Some(Source {
                control,
                rule: bgp.ready,
                families: config
                    .services
                    .iter()
                    .flat_map(|s| &s.prefixes)
                    .map(|p| family_name(p.addr().is_ipv4()))
                    .collect(),
            }),
            _ => None,
        };
        if source.is_none() {
            lock(&self.last).clear();
        }
        *lock(&self.source) = source;
    }

    /// Fresh per-peer reports (also kept for the metrics).
    pub async fn reports(&self) -> Vec<BgpPeerReport> {
        let Some(source) = lock(&self.source).clone() else {
            return Vec::new();
        };
        let reports = match tokio::time::timeout(STATUS_TIMEOUT, source.control.status()).await {
            Ok(peers) => peers.iter().map(report).collect(),
            Err(_) => {
                tracing::warn!("BGP peers did not answer a status request within 1 s");
                lock(&self.last).clone()
            }
        };
        lock(&self.last).clone_from(&reports);
        reports
    }

    /// Why the BGP backend is degraded now, by the `[bgp] ready` rule
    /// (`None`: healthy, or no BGP backend).
    pub async fn degraded(&self) -> Option<String> {
        let reports = self.reports().await;
        self.judge(&reports)
    }

    /// The `[bgp] ready` rule applied to `reports`.
    pub fn judge(&self, reports: &[BgpPeerReport]) -> Option<String> {
        let source = lock(&self.source).clone()?;
        degraded(reports, source.rule, &source.families)
    }

    /// The Prometheus collector that encodes the last snapshot.
    pub fn collector(&self) -> BgpCollector {
        BgpCollector {
            last: self.last.clone(),
        }
    }
}

fn family_name(ipv4: bool) -> &'static str {
    if ipv4 {
        "ipv4"
    } else {
        "ipv6"
    }
}

/// The API view of one peer task's status.
pub fn report(p: &orbit_bgp::PeerStatus) -> BgpPeerReport {
    BgpPeerReport {
        address: p.address,
        asn: p.peer_asn,
        state: format!("{:?}", p.state).to_lowercase(),
        established_for_ms: p
            .established_for
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        families: p
            .families
            .iter()
            .map(|f| family_name(*f == orbit_bgp::wire::Family::Ipv4).to_owned())
            .collect(),
        prefixes_sent: p.prefixes_sent,
        prefixes_received: p.counters.prefixes_received,
        updates_sent: p.counters.updates_sent,
        updates_received: p.counters.updates_received,
        end_of_rib_sent: p.eor_sent,
        not_sent: p.not_sent.clone(),
        last_notification: p.last_notification.as_ref().map(|n| BgpNotificationReport {
            direction: direction(n.direction).to_owned(),
            code: n.code,
            subcode: n.subcode,
            text: n.text.clone(),
            at: humantime::format_rfc3339_millis(n.at).to_string(),
        }),
        notifications: p
            .counters
            .notifications
            .iter()
            .map(|((dir, code, subcode), count)| BgpNotificationCount {
                direction: direction(*dir).to_owned(),
                code: *code,
                subcode: *subcode,
                count: *count,
            })
            .collect(),
        last_error: p.last_error.clone(),
    }
}

fn direction(d: orbit_bgp::Direction) -> &'static str {
    match d {
        orbit_bgp::Direction::Sent => "sent",
        orbit_bgp::Direction::Received => "received",
    }
}

/// A peer carries the current steering: Established, and nothing of the
/// steering held back from it.
fn carries(p: &BgpPeerReport) -> bool {
    p.state == "established" && p.not_sent.is_empty()
}

fn why_not(p: &BgpPeerReport) -> String {
    if p.state == "established" {
        return format!(
            "BGP peer {} cannot be sent {}",
            p.address,
            p.not_sent.join("; ")
        );
    }
    let mut s = format!("BGP peer {} is {}", p.address, p.state);
    let last = p
        .last_notification
        .as_ref()
        .filter(|n| n.direction == "received")
        .map(|n| format!("it sent {}", n.text))
        .or_else(|| p.last_error.clone());
    if let Some(last) = last {
        s.push_str(&format!(" ({last})"));
    }
    s
}

/// Applies the `[bgp] ready` rule to a snapshot.
pub fn degraded(
    peers: &[BgpPeerReport],
    rule: BgpReadyRule,
    families: &BTreeSet<&'static str>,
) -> Option<String> {
    match rule {
        BgpReadyRule::AllPeers => {
            let down: Vec<String> = peers.iter().filter(|p| !carries(p)).map(why_not).collect();
            (!down.is_empty()).then(|| down.join("; "))
        }
        BgpReadyRule::OnePerFamily => {
            let missing: Vec<&str> = families
                .iter()
                .filter(|f| {
                    !peers
                        .iter()
                        .any(|p| carries(p) && p.families.iter().any(|pf| pf == *f))
                })
                .copied()
                .collect();
            if missing.is_empty() {
                return None;
            }
            let down: Vec<String> = peers.iter().filter(|p| !carries(p)).map(why_not).collect();
            Some(format!(
                "no BGP peer carries the {} routes ({})",
                missing.join(" and "),
                if down.is_empty() {
                    "no peer negotiated that family".to_owned()
                } else {
                    down.join("; ")
                }
            ))
        }
    }
}

/// Encodes the last snapshot on each scrape (names get the registry's
/// `orbit_` prefix; counters get `_total`).
#[derive(Debug)]
pub struct BgpCollector {
    last: Arc<Mutex<Vec<BgpPeerReport>>>,
}

impl Collector for BgpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let peers = lock(&self.last).clone();
        let mut up = Family::new("bgp_peer_up", "1 while the BGP session is Established");
        let mut states = Family::new(
            "bgp_peer_state",
            "1 for the BGP session's current state (RFC 4271 §8.2.2)",
        );
        let mut announced = Family::new(
            "bgp_prefixes_announced",
            "Prefixes orbit announces to the peer now",
        );
        let mut received = Family::new(
            "bgp_prefixes_received",
            "Prefixes the peer announces to orbit (counted, never installed)",
        );
        let mut sent = Family::new("bgp_updates_sent", "UPDATE messages sent to the peer");
        let mut got = Family::new(
            "bgp_updates_received",
            "UPDATE messages received from the peer",
        );
        let mut notifications = Family::new(
            "bgp_notifications",
            "NOTIFICATION messages, by direction, error code and subcode",
        );
        for p in &peers {
            let labels: Labels = vec![("peer", p.address.to_string())];
            up.samples.push((
                labels.clone(),
                f64::from(u8::from(p.state == "established")),
            ));
            for s in STATES {
                states
                    .samples
                    .push((with(&labels, "state", s), f64::from(u8::from(p.state == s))));
            }
            announced
                .samples
                .push((labels.clone(), p.prefixes_sent as f64));
            received
                .samples
                .push((labels.clone(), p.prefixes_received as f64));
            sent.samples.push((labels.clone(), p.updates_sent));
            got.samples.push((labels.clone(), p.updates_received));
            for n in &p.notifications {
                let l = with(&labels, "direction", n.direction.clone());
                let l = with(&l, "code", n.code.to_string());
                notifications
                    .samples
                    .push((with(&l, "subcode", n.subcode.to_string()), n.count));
            }
        }
        for f in [&up, &states, &announced, &received] {
            encode_family(&mut encoder, f, ConstGauge::new)?;
        }
        for f in [&sent, &got, &notifications] {
            encode_family(&mut encoder, f, ConstCounter::new)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str, state: &str, families: &[&str]) -> BgpPeerReport {
        BgpPeerReport {
            address: address.parse().expect("ip"),
            asn: 65000,
            state: state.to_owned(),
            established_for_ms: (state == "established").then_some(1000),
            families: families.iter().map(|f| (*f).to_owned()).collect(),
            prefixes_sent: 1,
            prefixes_received: 0,
            updates_sent: 2,
            updates_received: 0,
            end_of_rib_sent: true,
            not_sent: Vec::new(),
            last_notification: None,
            notifications: Vec::new(),
            last_error: None,
        }
    }

    fn fams(f: &[&'static str]) -> BTreeSet<&'static str> {
        f.iter().copied().collect()
    }

    #[test]
    fn all_peers_needs_every_session() {
        let up = peer("10.0.0.1", "established", &["ipv4"]);
        let mut down = peer("10.0.0.2", "active", &[]);
        down.last_notification = Some(BgpNotificationReport {
            direction: "received".into(),
            code: 6,
            subcode: 2,
            text: "Cease/Administrative Shutdown".into(),
            at: "2026-12-05T00:00:00Z".into(),
        });
        let v4 = fams(&["ipv4"]);
        assert_eq!(
            degraded(std::slice::from_ref(&up), BgpReadyRule::AllPeers, &v4),
            None
        );
        let why =
            degraded(&[up.clone(), down.clone()], BgpReadyRule::AllPeers, &v4).expect("degraded");
        assert_eq!(
            why,
            "BGP peer 10.0.0.2 is active (it sent Cease/Administrative Shutdown)"
        );
        // One router per family is enough under the lenient rule.
        assert_eq!(degraded(&[up, down], BgpReadyRule::OnePerFamily, &v4), None);
    }

    #[test]
    fn one_per_family_names_the_family_without_a_carrier() {
        let v4 = peer("10.0.0.1", "established", &["ipv4"]);
        let mut v6 = peer("2001:db8::1", "idle", &[]);
        v6.last_error = Some("hold timer expired".into());
        let why = degraded(
            &[v4, v6],
            BgpReadyRule::OnePerFamily,
            &fams(&["ipv4", "ipv6"]),
        )
        .expect("degraded");
        assert_eq!(
            why,
            "no BGP peer carries the ipv6 routes (BGP peer 2001:db8::1 is idle (hold timer expired))"
        );
    }

    #[test]
    fn a_held_back_prefix_is_degraded() {
        let mut p = peer("10.0.0.1", "established", &["ipv4", "ipv6"]);
        p.not_sent = vec!["2001:db8::10/128: no IPv6 next hop".into()];
        let why = degraded(&[p], BgpReadyRule::AllPeers, &fams(&["ipv4"])).expect("degraded");
        assert!(why.contains("cannot be sent 2001:db8::10/128"), "{why}");
    }

    #[test]
    fn peers_are_exported() {
        let view = BgpView::default();
        let mut p = peer("10.0.0.1", "established", &["ipv4"]);
        p.notifications = vec![BgpNotificationCount {
            direction: "received".into(),
            code: 6,
            subcode: 2,
            count: 3,
        }];
        *lock(&view.last) = vec![p, peer("10.0.0.2", "connect", &[])];
        let mut registry = prometheus_client::registry::Registry::with_prefix("orbit");
        registry.register_collector(Box::new(view.collector()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        for line in [
            r#"orbit_bgp_peer_up{peer="10.0.0.1"} 1"#,
            r#"orbit_bgp_peer_up{peer="10.0.0.2"} 0"#,
            r#"orbit_bgp_peer_state{peer="10.0.0.2",state="connect"} 1"#,
            r#"orbit_bgp_peer_state{peer="10.0.0.2",state="established"} 0"#,
            r#"orbit_bgp_prefixes_announced{peer="10.0.0.1"} 1"#,
            r#"orbit_bgp_updates_sent_total{peer="10.0.0.1"} 2"#,
            r#"orbit_bgp_notifications_total{peer="10.0.0.1",direction="received",code="6",subcode="2"} 3"#,
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
