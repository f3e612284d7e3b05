//! Every transition of the session with a fake clock: time is an input.

use super::*;
use crate::wire::{encode_announce, encode_open, GracefulRestartParams, OpenParams, RouteAttrs};

mod collision;

const PEER_AS: u32 = 65002;

fn cfg(passive: bool) -> SessionConfig {
    SessionConfig {
        local_asn: 65001,
        peer_asn: PEER_AS,
        router_id: "192.0.2.1".parse().expect("ip"),
        hold: Duration::from_secs(9),
        passive,
        families: vec![Family::Ipv4, Family::Ipv6],
        graceful_restart: Some(Duration::from_secs(120)),
        max_prefixes: 3,
        connect_retry: Duration::from_secs(1),
        connect_retry_max: Duration::from_secs(8),
    }
}

fn peer_open_with(asn: u32, hold: u16, id: &str, gr: bool) -> Bytes {
    encode_open(&OpenParams {
        asn,
        hold_secs: hold,
        router_id: id.parse().expect("ip"),
        families: vec![Family::Ipv4],
        graceful_restart: gr.then_some(GracefulRestartParams {
            restart_time: 90,
            restarting: false,
        }),
    })
    .expect("open")
}

fn peer_open() -> Bytes {
    peer_open_with(PEER_AS, 30, "192.0.2.2", false)
}

fn sent(out: &[Output], conn: ConnId) -> Vec<Inbound> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, bytes } if *c == conn => Some(
                wire::decode(
                    bytes,
                    DecodeContext {
                        four_octet_as: true,
                    },
                )
                .expect("we send valid messages"),
            ),
            _ => None,
        })
        .collect()
}

fn notification(out: &[Output], conn: ConnId) -> Option<(u8, u8)> {
    sent(out, conn).into_iter().find_map(|m| match m {
        Inbound::Notification(n) => Some((n.code, n.subcode)),
        _ => None,
    })
}

fn closed(out: &[Output], conn: ConnId) -> bool {
    out.contains(&Output::Close { conn })
}

/// Drives an active session to Established on connection 1.
fn established(t0: Instant) -> Session {
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: true,
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
    assert!(matches!(out[0], Output::Established { conn: 1, .. }));
    assert_eq!(s.state(), State::Established);
    s
}

#[test]
fn active_start_connects_and_walks_to_established() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.process(t0, Input::Start), vec![Output::Connect]);
    assert_eq!(s.state(), State::Connect);
    let out = s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: true,
        },
    );
    let Inbound::Open(ours) = &sent(&out, 1)[0] else {
        panic!("first message must be OPEN")
    };
    assert_eq!(ours.asn, 65001);
    assert_eq!(ours.hold_secs, 9);
    assert!(ours.graceful_restart.is_some_and(|g| g.restarting));
    assert_eq!(s.state(), State::OpenSent);
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &peer_open(),
        },
    );
    assert_eq!(sent(&out, 1), vec![Inbound::Keepalive]);
    assert_eq!(s.state(), State::OpenConfirm);
    // Bytes may arrive split anywhere.
    let k = wire::encode_keepalive();
    assert!(s
        .process(
            t0,
            Input::Data {
                conn: 1,
                bytes: &k[..7]
            }
        )
        .is_empty());
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &k[7..],
        },
    );
    let Output::Established {
        families,
        four_octet_as,
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    // Negotiated: the peer only offered IPv4.
    assert_eq!(families, &vec![Family::Ipv4]);
    assert!(four_octet_as);
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.counters().established, 1);
}

#[test]
fn passive_waits_in_active_and_never_connects() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(true));
    assert!(s.process(t0, Input::Start).is_empty());
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.next_deadline(), None);
    let out = s.process(
        t0,
        Input::Connected {
            conn: 7,
            outbound: false,
        },
    );
    assert!(matches!(sent(&out, 7)[0], Inbound::Open(_)));
    assert_eq!(s.state(), State::OpenSent);
    // Peer goes away: back to Active, no outbound connect ever.
    let out = s.process(t0, Input::Closed { conn: 7 });
    assert!(!out.contains(&Output::Connect));
    assert_eq!(s.state(), State::Active);
    assert!(s
        .process(t0 + Duration::from_secs(600), Input::Tick)
        .is_empty());
}

#[test]
fn idle_refuses_connections() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(true));
    let out = s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: false,
        },
    );
    assert_eq!(out, vec![Output::Close { conn: 1 }]);
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn connect_failure_retries_with_growing_backoff() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    s.process(t0, Input::ConnectFailed);
    assert_eq!(s.state(), State::Active);
    let mut t = t0;
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let d = s.next_deadline().expect("retry timer");
        gaps.push(d - t);
        // Nothing happens before the deadline.
        assert!(s
            .process(d - Duration::from_millis(1), Input::Tick)
            .is_empty());
        assert_eq!(s.process(d, Input::Tick), vec![Output::Connect]);
        assert_eq!(s.state(), State::Connect);
        s.process(d, Input::ConnectFailed);
        t = d;
    }
    let secs: Vec<u64> = gaps.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 8, 8]);
}

#[test]
fn connect_retry_timer_fires_while_connect_hangs() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    let d = s.next_deadline().expect("ConnectRetryTimer");
    assert_eq!(d - t0, Duration::from_secs(1));
}

#[test]
fn negotiated_hold_and_keepalive_timers() {
    let t0 = Instant::now();
    let mut s = established(t0);
    // min(9, 30) = 9 s hold, keepalive every 3 s.
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(3)));
    let out = s.process(t0 + Duration::from_secs(3), Input::Tick);
    assert_eq!(sent(&out, 1), vec![Inbound::Keepalive]);
    // A KEEPALIVE from the peer at 8 s restarts the hold timer.
    let t8 = t0 + Duration::from_secs(8);
    s.process(
        t8,
        Input::Data {
            conn: 1,
            bytes: &wire::encode_keepalive(),
        },
    );
    let out = s.process(t0 + Duration::from_secs(10), Input::Tick);
    assert_eq!(notification(&out, 1), None);
    assert_eq!(s.state(), State::Established);
    // Silence until 8 + 9 = 17 s: Hold Timer Expired (4/0), Down.
    let out = s.process(t0 + Duration::from_secs(17), Input::Tick);
    assert_eq!(notification(&out, 1), Some((4, 0)));
    assert!(closed(&out, 1));
    assert!(out.iter().any(|o| matches!(o, Output::Down { .. })));
    // Back to Idle, restarting after the backoff.
    assert_eq!(s.state(), State::Active);
    let d = s.next_deadline().expect("restart");
    assert_eq!(s.process(d, Input::Tick), vec![Output::Connect]);
}

#[test]
fn hold_time_zero_disables_timers() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: true,
        },
    );
    s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &peer_open_with(PEER_AS, 0, "192.0.2.2", false),
        },
    );
    s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &wire::encode_keepalive(),
        },
    );
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.next_deadline(), None);
    assert!(s
        .process(t0 + Duration::from_secs(3600), Input::Tick)
        .is_empty());
}

#[test]
fn open_sent_hold_timer_is_four_minutes() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(true));
    s.process(t0, Input::Start);
    s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: false,
        },
    );
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(240)));
    let out = s.process(t0 + Duration::from_secs(240), Input::Tick);
    assert_eq!(notification(&out, 1), Some((4, 0)));
    assert_eq!(s.state(), State::Active);
}

#[test]
fn open_errors_get_rfc4271_6_2_subcodes() {
    let cases = [
        (peer_open_with(65099, 30, "192.0.2.2", false), (2, 2)),
        (peer_open_with(PEER_AS, 30, "0.0.0.0", false), (2, 3)),
        (peer_open_with(PEER_AS, 2, "192.0.2.2", false), (2, 6)),
    ];
    for (open, expect) in cases {
        let t0 = Instant::now();
        let mut s = Session::new(cfg(false));
        s.process(t0, Input::Start);
        s.process(
            t0,
            Input::Connected {
                conn: 1,
                outbound: true,
            },
        );
        let out = s.process(
            t0,
            Input::Data {
                conn: 1,
                bytes: &open,
            },
        );
        assert_eq!(notification(&out, 1), Some(expect));
        assert!(closed(&out, 1));
        assert_eq!(s.state(), State::Active);
        assert!(s.last_error().is_some());
    }
}

#[test]
fn unexpected_messages_are_fsm_errors_rfc6608() {
    let t0 = Instant::now();
    // KEEPALIVE in OpenSent: 5/1.
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: true,
        },
    );
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &wire::encode_keepalive(),
        },
    );
    assert_eq!(notification(&out, 1), Some((5, 1)));
    // OPEN in OpenConfirm: 5/2.
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    s.process(
        t0,
        Input::Connected {
            conn: 1,
            outbound: true,
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
            bytes: &peer_open(),
        },
    );
    assert_eq!(notification(&out, 1), Some((5, 2)));
    // OPEN in Established: 5/3, Down.
    let mut s = established(t0);
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &peer_open(),
        },
    );
    assert_eq!(notification(&out, 1), Some((5, 3)));
    assert!(out.iter().any(|o| matches!(o, Output::Down { .. })));
}

#[test]
fn header_and_update_errors_send_their_notification() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let mut bad = wire::encode_keepalive().to_vec();
    bad[3] = 0;
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &bad,
        },
    );
    assert_eq!(notification(&out, 1), Some((1, 1)));
    assert_eq!(s.state(), State::Active);

    let mut s = established(t0);
    // UPDATE with an unparseable body NLRI (length 33 for IPv4).
    let mut f = vec![0xFF; 16];
    let body = [0u8, 0, 0, 0, 33, 192, 0, 2, 10, 10];
    f.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    f.push(2);
    f.extend_from_slice(&body);
    let out = s.process(t0, Input::Data { conn: 1, bytes: &f });
    assert_eq!(notification(&out, 1).map(|n| n.0), Some(3));
}

#[test]
fn peer_notification_closes_without_answering() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let n = wire::encode_notification(&Notification::shutdown("bye"));
    let out = s.process(t0, Input::Data { conn: 1, bytes: &n });
    assert_eq!(notification(&out, 1), None);
    assert!(closed(&out, 1));
    let Some(Output::Down { reason }) = out.iter().find(|o| matches!(o, Output::Down { .. }))
    else {
        panic!("{out:?}")
    };
    assert!(reason.contains("bye"), "{reason}");
    assert_eq!(s.counters().notifications_received, 1);
}

#[test]
fn received_prefixes_are_counted_and_max_prefix_ceases() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let attrs = RouteAttrs {
        as_path: vec![PEER_AS],
        next_hop: "192.0.2.2".parse().expect("ip"),
        med: None,
        communities: vec![],
        large_communities: vec![],
    };
    let nets: Vec<IpNet> = ["198.51.100.1/32", "198.51.100.2/32", "198.51.100.3/32"]
        .iter()
        .map(|p| p.parse().expect("net"))
        .collect();
    let u = encode_announce(&attrs, Family::Ipv4, &nets, true).expect("encode");
    assert!(s
        .process(
            t0,
            Input::Data {
                conn: 1,
                bytes: &u[0]
            }
        )
        .is_empty());
    assert_eq!(s.counters().prefixes_received, 3);
    let w = wire::encode_withdraw(Family::Ipv4, &nets[..1]).expect("encode");
    s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &w[0],
        },
    );
    assert_eq!(s.counters().prefixes_received, 2);
    let more: Vec<IpNet> = ["198.51.100.1/32", "198.51.100.9/32"]
        .iter()
        .map(|p| p.parse().expect("net"))
        .collect();
    let u = encode_announce(&attrs, Family::Ipv4, &more, true).expect("encode");
    let out = s.process(
        t0,
        Input::Data {
            conn: 1,
            bytes: &u[0],
        },
    );
    // 4 > max_prefixes 3: Cease / Maximum Number of Prefixes Reached.
    assert_eq!(notification(&out, 1), Some((6, 1)));
    assert!(out.iter().any(|o| matches!(o, Output::Down { .. })));
    assert_eq!(s.counters().prefixes_received, 0);
}

#[test]
fn route_refresh_is_reported() {
    let t0 = Instant::now();
    let mut s = established(t0);
    // ROUTE-REFRESH IPv4 unicast (RFC 2918 §3).
    let mut f = vec![0xFF; 16];
    f.extend_from_slice(&[0, 23, 5, 0, 1, 0, 1]);
    let out = s.process(t0, Input::Data { conn: 1, bytes: &f });
    assert_eq!(out, vec![Output::RouteRefresh { conn: 1 }]);
}

#[test]
fn stop_sends_shutdown_communication() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let out = s.process(
        t0,
        Input::Stop {
            reason: "orbit: draining site a",
        },
    );
    let msgs = sent(&out, 1);
    let Some(Inbound::Notification(n)) = msgs.first() else {
        panic!("{out:?}")
    };
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_text().as_deref(), Some("orbit: draining site a"));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_deadline(), None);
    assert!(s
        .process(t0 + Duration::from_secs(60), Input::Tick)
        .is_empty());
}

/// NOTIFICATIONs are counted by direction, code and subcode, the totals
/// agree, and the last one is kept with its time.
#[test]
fn notifications_are_counted_by_direction_code_and_subcode() {
    let t0 = Instant::now();
    let mut s = established(t0);
    let t1 = t0 + Duration::from_secs(1);
    let n = wire::encode_notification(&Notification::shutdown("maintenance"));
    s.process(t1, Input::Data { conn: 1, bytes: &n });
    let (dir, last, at) = s.last_notification().expect("recorded").clone();
    assert_eq!(
        (dir, last.code, last.subcode, at),
        (Direction::Received, 6, 2, t1)
    );
    assert_eq!(
        last.describe(),
        "Cease/Administrative Shutdown: maintenance"
    );
    assert_eq!(s.established_since(), None);
    // Reconnect and let the hold timer expire twice over: 4/0 sent.
    let mut t = t1;
    for conn in [2, 3] {
        t = s.next_deadline().expect("retry");
        s.process(t, Input::Tick);
        s.process(
            t,
            Input::Connected {
                conn,
                outbound: true,
            },
        );
        s.process(
            t,
            Input::Data {
                conn,
                bytes: &peer_open(),
            },
        );
        s.process(
            t,
            Input::Data {
                conn,
                bytes: &wire::encode_keepalive(),
            },
        );
        assert_eq!(s.established_since(), Some(t));
        t += Duration::from_secs(9);
        let out = s.process(t, Input::Tick);
        assert_eq!(notification(&out, conn), Some((4, 0)));
    }
    let c = s.counters();
    assert_eq!(c.notifications_received, 1);
    assert_eq!(c.notifications_sent, 2);
    assert_eq!(c.notifications.get(&(Direction::Received, 6, 2)), Some(&1));
    assert_eq!(c.notifications.get(&(Direction::Sent, 4, 0)), Some(&2));
    assert_eq!(c.notifications.len(), 2);
    assert_eq!(
        c.notifications.values().sum::<u64>(),
        c.notifications_sent + c.notifications_received
    );
    assert_eq!(c.established, 3);
    let (dir, last, at) = s.last_notification().expect("recorded");
    assert_eq!((*dir, last.code, *at), (Direction::Sent, 4, t));
}

#[test]
fn updates_sent_are_counted() {
    let t0 = Instant::now();
    let mut s = established(t0);
    s.sent_updates(t0, 1, 3);
    s.sent_updates(t0, 1, 2);
    assert_eq!(s.counters().updates_sent, 5);
}

#[test]
fn a_third_connection_is_refused() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
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
    let out = s.process(
        t0,
        Input::Connected {
            conn: 3,
            outbound: false,
        },
    );
    assert_eq!(out, vec![Output::Close { conn: 3 }]);
}

#[test]
fn r_bit_only_until_first_established() {
    let t0 = Instant::now();
    let mut s = established(t0);
    s.process(t0, Input::Closed { conn: 1 });
    let d = s.next_deadline().expect("retry");
    s.process(d, Input::Tick);
    let out = s.process(
        d,
        Input::Connected {
            conn: 5,
            outbound: true,
        },
    );
    let Inbound::Open(o) = &sent(&out, 5)[0] else {
        panic!("{out:?}")
    };
    assert_eq!(o.graceful_restart.map(|g| g.restarting), Some(false));
}

#[test]
fn data_for_unknown_connection_is_ignored() {
    let t0 = Instant::now();
    let mut s = established(t0);
    assert!(s
        .process(
            t0,
            Input::Data {
                conn: 99,
                bytes: b"garbage"
            }
        )
        .is_empty());
    assert!(s.process(t0, Input::Closed { conn: 99 }).is_empty());
    assert_eq!(s.state(), State::Established);
}

#[test]
fn path_up_retries_at_once_with_the_back_off_reset() {
    let t0 = Instant::now();
    let mut s = Session::new(cfg(false));
    s.process(t0, Input::Start);
    // Three failed connects: the back-off grew to 8 s.
    let mut t = t0;
    for _ in 0..3 {
        t = s.next_deadline().expect("retry");
        s.process(t, Input::Tick);
        s.process(t, Input::ConnectFailed);
    }
    let waiting = s.next_deadline().expect("retry");
    assert!(waiting - t >= Duration::from_secs(4), "{:?}", waiting - t);
    // BFD: the path is back. The connect goes out now, not at `waiting`.
    let now = t + Duration::from_millis(10);
    let out = s.process(now, Input::PathUp);
    assert!(out.contains(&Output::Connect), "{out:?}");
    // And a failure now backs off from the start again.
    s.process(now, Input::ConnectFailed);
    assert_eq!(s.next_deadline(), Some(now + cfg(false).connect_retry));
    // While a connect is in flight, PathUp does not start a second one.
    let d = s.next_deadline().expect("retry");
    s.process(d, Input::Tick);
    assert!(s.process(d, Input::PathUp).is_empty());
}
