use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
        .collect()
}

/// Wraps a message body in a RFC 4271 §4.1 header.
fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0xFF; 16];
    f.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    f.push(kind);
    f.extend_from_slice(body);
    f
}

const CTX: DecodeContext = DecodeContext {
    four_octet_as: true,
};

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

fn attrs() -> RouteAttrs {
    RouteAttrs {
        as_path: vec![65001, 65001, 65001],
        next_hop: "192.0.2.254".parse().expect("ip"),
        med: Some(50),
        communities: vec![GRACEFUL_SHUTDOWN, (64500 << 16) | 7],
        large_communities: vec![[64500, 1, 2]],
    }
}

#[test]
fn open_round_trip_carries_every_capability() {
    let p = OpenParams {
        asn: 4_200_000_001,
        hold_secs: 9,
        router_id: "192.0.2.1".parse().expect("ip"),
        families: vec![Family::Ipv4, Family::Ipv6],
        graceful_restart: Some(GracefulRestartParams {
            restart_time: 120,
            restarting: true,
        }),
    };
    let b = encode_open(&p).expect("encode");
    // RFC 6793 §4.1: a 4-octet AS puts AS_TRANS in My AS.
    assert_eq!(&b[20..22], &AS_TRANS.to_be_bytes());
    let Inbound::Open(o) = decode(&b, CTX).expect("decode") else {
        panic!("not an OPEN");
    };
    assert_eq!(o.asn, 4_200_000_001);
    assert_eq!(o.hold_secs, 9);
    assert_eq!(o.families, vec![Family::Ipv4, Family::Ipv6]);
    assert!(o.four_octet_as && o.route_refresh);
    assert_eq!(
        o.graceful_restart,
        Some(GracefulRestartParams {
            restart_time: 120,
            restarting: true
        })
    );
}

#[test]
fn open_without_mp_capabilities_means_ipv4() {
    // Version 4, AS 65002, hold 90, id 192.0.2.2, no optional parameters.
    let f = frame(1, &hex("04fdea005ac000020200"));
    let Inbound::Open(o) = decode(&f, CTX).expect("decode") else {
        panic!("not an OPEN");
    };
    assert_eq!(o.families, vec![Family::Ipv4]);
    assert!(!o.four_octet_as);
    assert_eq!(o.asn, 65002);
}

#[test]
fn announce_v4_is_as_sequence_with_prepend_med_and_communities() {
    let msgs =
        encode_announce(&attrs(), Family::Ipv4, &[net("192.0.2.10/32")], true).expect("encode");
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    // AS_PATH: flags 0x40 type 2, length 14: AS_SEQUENCE (2) of 3 ASes.
    let needle = hex("40020e0203");
    assert!(
        m.windows(needle.len()).any(|w| w == needle.as_slice()),
        "AS_SEQUENCE segment missing in {m:02x?}"
    );
    let Inbound::Update(u) = decode(m, CTX).expect("decode") else {
        panic!("not an UPDATE");
    };
    assert_eq!(u.announced, vec![net("192.0.2.10/32")]);
    let mut seen = 0;
    for a in &u.attributes {
        match a {
            PathAttribute::AsPath(p) => {
                assert_eq!(
                    p.segments,
                    vec![AsPathSegment::AsSequence(vec![65001, 65001, 65001])]
                );
                seen += 1;
            }
            PathAttribute::NextHop(nh) => {
                assert_eq!(nh.to_string(), "192.0.2.254");
                seen += 1;
            }
            PathAttribute::Med(m) => {
                assert_eq!(*m, 50);
                seen += 1;
            }
            PathAttribute::Communities(c) => {
                assert_eq!(c, &vec![0xFFFF_0000, (64500 << 16) | 7]);
                seen += 1;
            }
            PathAttribute::LargeCommunities(c) => {
                assert_eq!(c, &vec![LargeCommunity::new(64500, 1, 2)]);
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 5);
}

#[test]
fn announce_v6_host_route_in_mp_reach_with_its_v6_next_hop() {
    let mut a = attrs();
    a.next_hop = "fd00:1::2".parse().expect("ip");
    let msgs = encode_announce(&a, Family::Ipv6, &[net("2001:db8::10/128")], true).expect("encode");
    let Inbound::Update(u) = decode(&msgs[0], CTX).expect("decode") else {
        panic!("not an UPDATE");
    };
    assert_eq!(u.announced, vec![net("2001:db8::10/128")]);
    let mp = u
        .attributes
        .iter()
        .find_map(|a| match a {
            PathAttribute::MpReachNlri(mp) => Some(mp),
            _ => None,
        })
        .expect("MP_REACH_NLRI");
    assert_eq!(mp.next_hop.to_string(), "fd00:1::2");
    // No body NEXT_HOP for an MP-only UPDATE.
    assert!(!u
        .attributes
        .iter()
        .any(|a| matches!(a, PathAttribute::NextHop(_))));
}

#[test]
fn v6_announce_with_a_v4_or_v4_mapped_next_hop_is_an_error_not_a_mapped_next_hop() {
    for nh in ["192.0.2.254", "::ffff:192.0.2.254"] {
        let mut a = attrs();
        a.next_hop = nh.parse().expect("ip");
        let e = encode_announce(&a, Family::Ipv6, &[net("2001:db8::10/128")], true).unwrap_err();
        assert!(e.detail.contains("next_hop_v6"), "{nh}: {e}");
    }
}

#[test]
fn v4_announce_without_v4_next_hop_is_an_error_not_a_panic() {
    let mut a = attrs();
    a.next_hop = "2001:db8::1".parse().expect("ip");
    let e = encode_announce(&a, Family::Ipv4, &[net("192.0.2.10/32")], true).unwrap_err();
    assert!(e.detail.contains("next_hop_v4"), "{e}");
}

#[test]
fn many_prefixes_pack_into_full_messages() {
    let prefixes: Vec<IpNet> = (0..10_000u32)
        .map(|i| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0A00_0000 + i), 32).expect("net")))
        .collect();
    let msgs = encode_announce(&attrs(), Family::Ipv4, &prefixes, true).expect("encode");
    assert!(msgs.iter().all(|m| m.len() <= MAX_MESSAGE_LEN));
    // 5 bytes per /32: about 800 prefixes per message.
    assert!(msgs.len() <= 13, "{} messages", msgs.len());
    let mut back = Vec::new();
    for m in &msgs {
        let Inbound::Update(u) = decode(m, CTX).expect("decode") else {
            panic!("not an UPDATE")
        };
        back.extend(u.announced);
    }
    assert_eq!(back, prefixes);

    let v6: Vec<IpNet> = (0..1000u128)
        .map(|i| {
            IpNet::V6(
                Ipv6Net::new(std::net::Ipv6Addr::from(0x2001_0db8_u128 << 96 | i), 128)
                    .expect("net"),
            )
        })
        .collect();
    let mut a6 = attrs();
    a6.next_hop = "fd00:1::2".parse().expect("ip");
    let msgs = encode_announce(&a6, Family::Ipv6, &v6, true).expect("encode");
    assert!(msgs.iter().all(|m| m.len() <= MAX_MESSAGE_LEN));
    let w = encode_withdraw(Family::Ipv6, &v6).expect("encode");
    let mut back = Vec::new();
    for m in &w {
        assert!(m.len() <= MAX_MESSAGE_LEN);
        let Inbound::Update(u) = decode(m, CTX).expect("decode") else {
            panic!("not an UPDATE")
        };
        back.extend(u.withdrawn);
    }
    assert_eq!(back, v6);
}

#[test]
fn withdraw_v4_uses_withdrawn_routes() {
    let w = encode_withdraw(Family::Ipv4, &[net("192.0.2.10/32")]).expect("encode");
    assert_eq!(
        w[0].as_ref(),
        frame(
            2,
            &hex("0005" /* withdrawn len */)
                .iter()
                .copied()
                .chain(hex("20c000020a"))
                .chain(hex("0000"))
                .collect::<Vec<_>>()
        )
        .as_slice()
    );
    let Inbound::Update(u) = decode(&w[0], CTX).expect("decode") else {
        panic!("not an UPDATE")
    };
    assert_eq!(u.withdrawn, vec![net("192.0.2.10/32")]);
}

#[test]
fn end_of_rib_round_trips_per_family() {
    for f in [Family::Ipv4, Family::Ipv6] {
        let b = encode_end_of_rib(f).expect("encode");
        let Inbound::Update(u) = decode(&b, CTX).expect("decode") else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.end_of_rib, Some(f));
    }
    assert_eq!(encode_end_of_rib(Family::Ipv4).expect("eor").len(), 23);
}

#[test]
fn keepalive_and_shutdown_notification_round_trip() {
    assert_eq!(decode(&encode_keepalive(), CTX), Ok(Inbound::Keepalive));
    let n = Notification::shutdown("orbit: planned switchover to site b");
    let b = encode_notification(&n);
    let Inbound::Notification(back) = decode(&b, CTX).expect("decode") else {
        panic!("not a NOTIFICATION")
    };
    assert_eq!((back.code, back.subcode), (6, 2));
    assert_eq!(
        back.shutdown_text().as_deref(),
        Some("orbit: planned switchover to site b")
    );
    assert!(back.describe().contains("planned switchover"));
}

/// Every code and subcode an RFC names reads in words; the shutdown
/// communication follows a colon; nothing reads "Unknown".
#[test]
fn notifications_are_described_in_words() {
    let d = |c: u8, s: u8| Notification::new(c, s, Bytes::new()).describe();
    assert_eq!(
        Notification::shutdown("maintenance").describe(),
        "Cease/Administrative Shutdown: maintenance"
    );
    // RFC 9003 §2: Administrative Reset carries a communication too.
    let reset = Notification::new(
        6,
        4,
        rustbgpd_wire::notification::encode_shutdown_communication("new key"),
    );
    assert_eq!(reset.describe(), "Cease/Administrative Reset: new key");
    // A peer's text with a line break stays on one line.
    assert_eq!(
        Notification::shutdown("a\nb").describe(),
        "Cease/Administrative Shutdown: a b"
    );
    assert_eq!(d(6, 0), "Cease");
    assert_eq!(d(4, 0), "Hold Timer Expired");
    assert_eq!(d(1, 2), "Message Header Error/Bad Message Length");
    assert_eq!(d(2, 2), "OPEN Message Error/Bad Peer AS");
    assert_eq!(d(2, 7), "OPEN Message Error/Unsupported Capability");
    assert_eq!(d(3, 11), "UPDATE Message Error/Malformed AS_PATH");
    assert_eq!(d(5, 0), "Finite State Machine Error/Unspecified Error");
    assert_eq!(
        d(5, 3),
        "Finite State Machine Error/Unexpected Message in Established"
    );
    assert_eq!(d(6, 7), "Cease/Connection Collision Resolution");
    assert_eq!(d(6, 10), "Cease/BFD Down");
    assert_eq!(
        d(7, 1),
        "ROUTE-REFRESH Message Error/Invalid Message Length"
    );
    assert_eq!(d(8, 0), "Send Hold Timer Expired");
    assert_eq!(d(6, 42), "Cease/subcode 42");
    assert_eq!(d(42, 1), "error code 42/subcode 1");
    // Every RFC-defined pair has a name of its own.
    let defined: &[(u8, &[u8])] = &[
        (1, &[1, 2, 3]),
        (2, &[1, 2, 3, 4, 5, 6, 7, 11]),
        (3, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        (5, &[0, 1, 2, 3]),
        (6, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        (7, &[1]),
    ];
    for (c, subs) in defined {
        for s in *subs {
            let text = d(*c, *s);
            assert!(
                !text.contains("subcode") && !text.contains("code ") && !text.contains("Unknown"),
                "{c}/{s}: {text}"
            );
        }
    }
}

#[test]
fn header_errors_map_to_rfc4271_section_6_1() {
    let mut bad_marker = encode_keepalive().to_vec();
    bad_marker[0] = 0;
    assert_eq!(frame_len(&bad_marker).unwrap_err().notification.code, 1);
    assert_eq!(frame_len(&bad_marker).unwrap_err().notification.subcode, 1);
    let mut bad_len = encode_keepalive().to_vec();
    bad_len[17] = 18;
    let e = frame_len(&bad_len).unwrap_err();
    assert_eq!((e.notification.code, e.notification.subcode), (1, 2));
    let mut bad_type = encode_keepalive().to_vec();
    bad_type[18] = 9;
    let e = frame_len(&bad_type).unwrap_err();
    assert_eq!((e.notification.code, e.notification.subcode), (1, 3));
    assert_eq!(frame_len(&bad_type[..10]), Ok(None));
}

/// zettabgp 0.6.0 allocates until abort on this 33-byte UPDATE (body
/// `0000000a40020702010000000100`): an AS_PATH whose segment overruns
/// the attribute. RFC 7606 §7.2: a malformed AS_PATH is treat-as-withdraw.
#[test]
fn zettabgp_oom_input_is_a_clean_treat_as_withdraw() {
    let f = frame(2, &hex("0000000a40020702010000000100"));
    assert_eq!(f.len(), 33);
    for four in [true, false] {
        let ctx = DecodeContext {
            four_octet_as: four,
        };
        let Ok(Inbound::Update(u)) = decode(&f, ctx) else {
            panic!("four_octet_as={four}: not a clean UPDATE decode");
        };
        assert!(u.treated_as_withdraw, "four_octet_as={four}: {u:?}");
        assert!(u.announced.is_empty());
    }
}

#[test]
fn treat_as_withdraw_moves_announced_to_withdrawn() {
    // ORIGIN with a bad value (7): RFC 7606 §7.1 treat-as-withdraw.
    let body = hex(concat!(
        "0000",               // no withdrawn
        "0014",               // attributes: 20 bytes
        "40010107",           // ORIGIN = 7 (invalid)
        "40020602010000fde9", // AS_PATH seq [65001]
        "400304c0000201",     // NEXT_HOP 192.0.2.1
        "20c000020a"          // NLRI 192.0.2.10/32
    ));
    let f = frame(2, &body);
    let Inbound::Update(u) = decode(&f, CTX).expect("decode") else {
        panic!("not an UPDATE")
    };
    assert!(u.treated_as_withdraw);
    assert!(u.announced.is_empty());
    assert_eq!(u.withdrawn, vec![net("192.0.2.10/32")]);
}

#[test]
fn broken_nlri_is_a_session_reset_with_update_error() {
    // NLRI length 33 for IPv4: RFC 7606 §5.3, no treat-as-withdraw possible.
    let body = hex("0000000021c000020a0a");
    let e = decode(&frame(2, &body), CTX).unwrap_err();
    assert_eq!(e.notification.code, code::UPDATE, "{e}");
}

#[test]
fn short_open_maps_to_open_or_header_error() {
    let e = decode(&frame(1, &hex("04fd")), CTX).unwrap_err();
    assert!(
        e.notification.code == code::OPEN || e.notification.code == code::MESSAGE_HEADER,
        "{e}"
    );
}
