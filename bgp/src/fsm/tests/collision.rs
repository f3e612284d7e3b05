//! Connection collisions (RFC 4271 §6.8), with and without graceful
//! restart (RFC 4724 §4.2).

use super::*;

/// §6.8: both sides connect at once; the connection initiated by the
/// speaker with the higher BGP Identifier survives.
#[test]
fn collision_keeps_connection_of_higher_identifier() {
    for (peer_id, survivor) in [("192.0.2.200", 2u64), ("192.0.2.0", 1u64)] {
        let t0 = Instant::now();
        let mut s = Session::new(cfg(false));
        s.process(t0, Input::Start);
        // conn 1: ours (outbound); conn 2: the peer's (inbound).
        s.process(
            t0,
            Input::Connected {
                conn: 1,
                outbound: true,
            },
        );
        s.process(
            t0,
            Input::Connected {
                conn: 2,
                outbound: false,
            },
        );
        let open = peer_open_with(PEER_AS, 30, peer_id, false);
        s.process(
            t0,
            Input::Data {
                conn: 1,
                bytes: &open,
            },
        );
        let out = s.process(
            t0,
            Input::Data {
                conn: 2,
                bytes: &open,
            },
        );
        let loser = 3 - survivor;
        assert_eq!(notification(&out, loser), Some((6, 7)), "peer id {peer_id}");
        assert!(closed(&out, loser));
        assert!(!closed(&out, survivor));
        let out = s.process(
            t0,
            Input::Data {
                conn: survivor,
                bytes: &wire::encode_keepalive(),
            },
        );
        assert!(matches!(out[0], Output::Established { conn, .. } if conn == survivor));
    }
}

/// Established on conn 1 (hold 9 s); the peer opens conn 2 and sends a
/// GR-capable OPEN followed at once by a KEEPALIVE. Returns the outputs of
/// that data.
fn collide(t0: Instant) -> (Session, Vec<Output>) {
    let mut s = established(t0);
    let out = s.process(
        t0,
        Input::Connected {
            conn: 2,
            outbound: false,
        },
    );
    // An inbound connection still gets our OPEN (§8.2.2 Active, Event 17).
    assert!(matches!(sent(&out, 2)[0], Inbound::Open(_)), "{out:?}");
    let mut bytes = peer_open_with(PEER_AS, 30, "192.0.2.2", true).to_vec();
    bytes.extend_from_slice(&wire::encode_keepalive());
    let out = s.process(
        t0,
        Input::Data {
            conn: 2,
            bytes: &bytes,
        },
    );
    (s, out)
}

/// §6.8 with RFC 4724 capable peers: an OPEN on a second connection while
/// Established is held, the Established connection is probed, and when it
/// stays alive the new connection loses (Cease / Connection Collision
/// Resolution) without the session ever going down.
#[test]
fn collision_with_a_live_established_connection_keeps_it() {
    let t0 = Instant::now();
    let (mut s, out) = collide(t0);
    // The probe: one KEEPALIVE on the Established connection; nothing on
    // the new one, which is neither answered nor closed yet.
    assert_eq!(sent(&out, 1), vec![Inbound::Keepalive], "{out:?}");
    assert!(sent(&out, 2).is_empty(), "{out:?}");
    assert!(!closed(&out, 1) && !closed(&out, 2));
    assert!(!out.iter().any(|o| matches!(o, Output::Down { .. })));
    assert_eq!(s.established_conn(), Some(1));
    // The probe window: min(1 s, hold / 3).
    let until = t0 + COLLISION_PROBE;
    assert_eq!(s.next_deadline(), Some(until));
    // The peer keeps conn 1 alive: a KEEPALIVE there changes nothing.
    let t = t0 + Duration::from_millis(300);
    let out = s.process(
        t,
        Input::Data {
            conn: 1,
            bytes: &wire::encode_keepalive(),
        },
    );
    assert!(out.is_empty(), "{out:?}");
    assert!(s
        .process(until - Duration::from_millis(1), Input::Tick)
        .is_empty());
    let out = s.process(until, Input::Tick);
    assert_eq!(notification(&out, 2), Some((6, 7)));
    assert!(closed(&out, 2));
    assert!(!closed(&out, 1));
    assert!(!out.iter().any(|o| matches!(o, Output::Down { .. })));
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.established_conn(), Some(1));
    assert_eq!(s.counters().established, 1);
    // The buffered KEEPALIVE of conn 2 was never parsed: no FSM error, and
    // the session's error stays clear.
    assert_eq!(s.counters().notifications_sent, 1);
    assert_eq!(s.last_error(), None);
    // A probe window is no timer left behind.
    assert!(s.next_deadline().is_some_and(|d| d > until));
}

/// The Established connection dies within the probe window (a restarted
/// peer host answers the probe with a RST): the peer restarted, the held
/// connection becomes the session (RFC 4724 §4.2), including the bytes
/// that arrived after its OPEN.
#[test]
fn collision_where_the_established_connection_dies_is_a_restart() {
    let t0 = Instant::now();
    let (mut s, _) = collide(t0);
    let t = t0 + Duration::from_millis(5);
    let out = s.process(t, Input::Closed { conn: 1 });
    assert!(closed(&out, 1));
    let down = out
        .iter()
        .position(|o| matches!(o, Output::Down { .. }))
        .expect("old session down");
    // Then conn 2 answers the held OPEN and consumes its buffered
    // KEEPALIVE: Established on conn 2.
    assert_eq!(sent(&out, 2), vec![Inbound::Keepalive], "{out:?}");
    let est = out
        .iter()
        .position(|o| matches!(o, Output::Established { conn: 2, .. }))
        .expect("new session Established");
    assert!(down < est, "{out:?}");
    assert_eq!(s.established_conn(), Some(2));
    assert_eq!(s.counters().established, 2);
    assert_eq!(s.established_since(), Some(t));
    // No collision timer fires afterwards.
    let out = s.process(t0 + COLLISION_PROBE, Input::Tick);
    assert_eq!(notification(&out, 2), None);
    assert_eq!(s.state(), State::Established);
}

/// Any way the Established connection ends within the window proves it
/// dead: a NOTIFICATION on it (the peer chose the new connection) too.
#[test]
fn collision_where_the_peer_closes_the_established_one_with_a_notification() {
    let t0 = Instant::now();
    let (mut s, _) = collide(t0);
    let n = wire::encode_notification(&Notification::new(6, 7, Bytes::new()));
    let out = s.process(t0, Input::Data { conn: 1, bytes: &n });
    assert!(out.iter().any(|o| matches!(o, Output::Down { .. })));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Established { conn: 2, .. })));
    assert_eq!(s.established_conn(), Some(2));
}

/// The peer resolves the collision itself and closes the new connection:
/// nothing happened to the session.
#[test]
fn collision_where_the_peer_closes_the_new_connection() {
    let t0 = Instant::now();
    let (mut s, _) = collide(t0);
    let out = s.process(t0 + Duration::from_millis(5), Input::Closed { conn: 2 });
    assert_eq!(out, vec![Output::Close { conn: 2 }]);
    assert_eq!(s.established_conn(), Some(1));
    assert_eq!(s.counters().established, 1);
    assert_eq!(s.last_error(), None);
    let out = s.process(t0 + COLLISION_PROBE, Input::Tick);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(s.state(), State::Established);
}

/// A peer without graceful restart collides the same way (the old rule
/// closed its new connection at once; now it gets the same probe).
#[test]
fn collision_without_graceful_restart_is_probed_too() {
    let t0 = Instant::now();
    let mut s = established(t0);
    s.process(
        t0,
        Input::Connected {
            conn: 2,
            outbound: false,
        },
    );
    let out = s.process(
        t0,
        Input::Data {
            conn: 2,
            bytes: &peer_open(),
        },
    );
    assert_eq!(sent(&out, 1), vec![Inbound::Keepalive]);
    let out = s.process(t0 + COLLISION_PROBE, Input::Tick);
    assert_eq!(notification(&out, 2), Some((6, 7)));
    assert_eq!(s.established_conn(), Some(1));
}

/// §6.8: never offer a second connection while Established. Our connect
/// that completes after a session came up (on the peer's connection) is
/// closed without an OPEN.
#[test]
fn outbound_connection_completing_while_established_is_closed_without_open() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    assert_eq!(s.process(t0, Input::Start), vec![Output::Connect]);
    // The peer's connection wins the race and comes up first.
    s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: false,
        },
    );
    s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &peer_open(),
        },
    );
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &wire::encode_keepalive(),
        },
    );
    assert_eq!(s.state(), State::Established);
    // Our connect under way is abandoned before the session is reported
    // up: a graceful-restart peer (FRR) drops its Established session as
    // soon as it accepts another connection from us.
    assert_eq!(out[0], Output::CancelConnect, "{out:?}");
    assert!(matches!(out[1], Output::Established { conn: 1, .. }));
    // If it completes all the same (a race), it is closed without OPEN.
    let out = s.process(
        t0,
        Input::Connected {
            conn: 2,
            outbound: true,
        },
    );
    assert_eq!(out, vec![Output::Close { conn: 2 }]);
    assert_eq!(s.established_conn(), Some(1));
    // And no connect is started while Established.
    let out = s.process(t0 + Duration::from_secs(60), Input::Tick);
    assert!(!out.contains(&Output::Connect), "{out:?}");
}
