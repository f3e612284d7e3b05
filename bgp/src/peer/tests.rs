use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn ipv6_over_an_ipv4_session_needs_a_configured_next_hop() {
    let v4_session = Some(ip("172.16.1.2"));
    assert_eq!(next_hop((None, None), Family::Ipv6, v4_session), None);
    assert_eq!(
        next_hop((None, Some(ip("fd00:1::2"))), Family::Ipv6, v4_session),
        Some(ip("fd00:1::2"))
    );
    assert_eq!(next_hop((None, None), Family::Ipv4, v4_session), v4_session);
}

#[test]
fn an_ipv6_session_defaults_to_its_local_address_for_ipv6_only() {
    let v6_session = Some(ip("fd00:1::2"));
    assert_eq!(next_hop((None, None), Family::Ipv6, v6_session), v6_session);
    assert_eq!(next_hop((None, None), Family::Ipv4, v6_session), None);
    assert_eq!(
        next_hop((Some(ip("172.16.1.2")), None), Family::Ipv4, v6_session),
        Some(ip("172.16.1.2"))
    );
}

const RESTART: Duration = Duration::from_secs(40);

/// After a restart the daemon is fenced first: its provisional
/// steering never releases End-of-RIB; the first final one does.
#[test]
fn end_of_rib_waits_for_a_final_steering() {
    let t0 = Instant::now();
    let mut eor = EndOfRib::new(Some(RESTART));
    // No session: nothing is due, whatever is synced.
    assert!(!eor.due(t0, true));
    eor.established(t0);
    assert!(!eor.is_sent());
    // Provisional steering synced.
    assert!(!eor.due(t0 + Duration::from_secs(1), false));
    // The final one.
    assert!(eor.due(t0 + Duration::from_secs(2), true));
    eor.sent();
    assert!(eor.is_sent());
    assert_eq!(eor.deadline(), None);
    // Once per session.
    assert!(!eor.due(t0 + Duration::from_secs(3), true));
    // A new session waits again.
    eor.down();
    assert!(!eor.is_sent());
    eor.established(t0 + Duration::from_secs(4));
    assert!(!eor.due(t0 + Duration::from_secs(4), false));
    assert!(eor.due(t0 + Duration::from_secs(4), true));
}

/// Without a final steering, End-of-RIB goes out a margin
/// (min(5 s, restart / 4)) before our restart time runs out, so the
/// peer flushes on our word, not on its timer.
#[test]
fn end_of_rib_deadline_is_just_before_the_restart_time() {
    let t0 = Instant::now();
    let mut eor = EndOfRib::new(Some(RESTART));
    eor.established(t0);
    let d = eor.deadline().expect("deadline");
    assert_eq!(d, t0 + Duration::from_secs(35));
    assert!(!eor.due(d - Duration::from_millis(1), false));
    assert!(eor.due(d, false));
    let mut short = EndOfRib::new(Some(Duration::from_secs(4)));
    short.established(t0);
    assert_eq!(short.deadline(), Some(t0 + Duration::from_secs(3)));
    // Without graceful restart no peer keeps stale routes of ours:
    // no deadline, only the ordering rule.
    let mut none = EndOfRib::new(None);
    none.established(t0);
    assert_eq!(none.deadline(), None);
    assert!(!none.due(t0 + Duration::from_secs(3600), false));
    assert!(none.due(t0, true));
    // Down before the deadline: no timer left.
    eor.down();
    assert_eq!(eor.deadline(), None);
    assert!(!eor.due(d, false));
}
