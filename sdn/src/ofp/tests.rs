use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// One message of every kind the codec knows, as the samples that the
/// round-trip, truncation and `ovs-ofctl` tests share.
pub(crate) fn samples() -> Vec<Message> {
    let m = Match::new(vec![
        Oxm::EthType(oxm::ETH_TYPE_IPV4),
        Oxm::Ipv4Dst(Ipv4Addr::new(192, 0, 2, 10), None),
    ]);
    let mut fm = FlowMod::new(FlowModCommand::Add, 0, 1000, m.clone());
    fm.cookie = 0x0b17_0000_0000_0001;
    fm.instructions = vec![Instruction::ApplyActions(vec![Action::Group(7)])];
    let bucket = |port: u32, mac: [u8; 6]| Bucket {
        weight: 0,
        watch_port: port,
        watch_group: OFPG_ANY,
        actions: vec![
            Action::SetField(Oxm::EthDst(Mac(mac))),
            Action::output(port),
        ],
    };
    let gm = GroupMod {
        command: GroupModCommand::Add,
        group_type: GroupType::FastFailover,
        group_id: 7,
        buckets: vec![
            bucket(1, [2, 0, 0, 0, 0xa, 1]),
            bucket(2, [2, 0, 0, 0, 0xb, 1]),
        ],
    };
    let desc = PortDesc {
        port_no: 1,
        hw_addr: Mac([2, 0, 0, 0, 0, 1]),
        name: "veth-a".into(),
        config: 0,
        state: port::OFPPS_LIVE,
        curr: 0,
        advertised: 0,
        supported: 0,
        peer: 0,
        curr_speed: 10_000_000,
        max_speed: 0,
    };
    vec![
        Message::new(1, Body::Hello(Hello::of13())),
        Message::new(
            2,
            Body::Error(ErrorMsg {
                typ: 6,
                code: 8,
                data: vec![4, 15, 0, 16, 0, 0, 0, 9],
            }),
        ),
        Message::new(3, Body::EchoRequest(vec![1, 2, 3])),
        Message::new(4, Body::EchoReply(vec![])),
        Message::new(5, Body::FeaturesRequest),
        Message::new(
            6,
            Body::FeaturesReply(FeaturesReply {
                datapath_id: 0x1234,
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: 0x4f,
            }),
        ),
        Message::new(
            7,
            Body::PortStatus(PortStatus {
                reason: PortReason::Modify,
                desc: desc.clone(),
            }),
        ),
        Message::new(8, Body::FlowMod(fm.clone())),
        Message::new(
            9,
            Body::FlowMod({
                let mut f = FlowMod::new(
                    FlowModCommand::Add,
                    0,
                    1000,
                    Match::new(vec![
                        Oxm::EthType(oxm::ETH_TYPE_IPV6),
                        Oxm::Ipv6Dst(
                            "2001:db8::".parse::<Ipv6Addr>().expect("literal"),
                            oxm::v6_mask(64),
                        ),
                        Oxm::InPort(3),
                    ]),
                );
                f.instructions = vec![Instruction::ApplyActions(vec![
                    Action::SetField(Oxm::EthDst(Mac([2, 0, 0, 0, 0xb, 1]))),
                    Action::output(2),
                ])];
                f
            }),
        ),
        Message::new(
            16,
            Body::FlowMod(FlowMod::new(
                FlowModCommand::Add,
                0,
                1000,
                Match::new(vec![
                    Oxm::ArpTpa(Ipv4Addr::new(192, 0, 2, 10), None),
                    Oxm::ArpOp(oxm::ARP_OP_REQUEST),
                    Oxm::EthType(oxm::ETH_TYPE_ARP),
                ]),
            )),
        ),
        Message::new(10, Body::GroupMod(gm.clone())),
        Message::new(
            11,
            Body::GroupMod(GroupMod {
                command: GroupModCommand::Modify,
                group_type: GroupType::Indirect,
                group_id: 8,
                buckets: vec![Bucket::new(vec![Action::output(1)])],
            }),
        ),
        Message::new(12, Body::BarrierRequest),
        Message::new(13, Body::BarrierReply),
        Message::new(
            14,
            Body::MultipartRequest {
                flags: 0,
                request: MultipartRequest::Flow(FlowStatsRequest {
                    table_id: OFPTT_ALL,
                    out_port: OFPP_ANY,
                    out_group: OFPG_ANY,
                    cookie: 0x0b17_0000_0000_0001,
                    cookie_mask: u64::MAX,
                    r#match: Match::default(),
                }),
            },
        ),
        Message::new(
            15,
            Body::MultipartRequest {
                flags: 0,
                request: MultipartRequest::GroupDesc,
            },
        ),
        Message::new(
            16,
            Body::MultipartRequest {
                flags: 0,
                request: MultipartRequest::PortStats(OFPP_ANY),
            },
        ),
        Message::new(
            17,
            Body::MultipartRequest {
                flags: 0,
                request: MultipartRequest::PortDesc,
            },
        ),
        Message::new(
            18,
            Body::MultipartReply {
                flags: 0,
                reply: MultipartReply::Flow(vec![FlowStats {
                    table_id: 0,
                    duration_sec: 5,
                    duration_nsec: 0,
                    priority: 1000,
                    idle_timeout: 0,
                    hard_timeout: 0,
                    flags: 0,
                    cookie: fm.cookie,
                    packet_count: 10,
                    byte_count: 1000,
                    r#match: m,
                    instructions: fm.instructions.clone(),
                }]),
            },
        ),
        Message::new(
            19,
            Body::MultipartReply {
                flags: 0,
                reply: MultipartReply::GroupDesc(vec![GroupDesc {
                    group_type: gm.group_type,
                    group_id: gm.group_id,
                    buckets: gm.buckets.clone(),
                }]),
            },
        ),
        Message::new(
            20,
            Body::MultipartReply {
                flags: 0,
                reply: MultipartReply::PortStats(vec![PortStats {
                    port_no: 1,
                    rx_packets: 3,
                    tx_packets: 4,
                    ..PortStats::default()
                }]),
            },
        ),
        Message::new(
            21,
            Body::MultipartReply {
                flags: 0,
                reply: MultipartReply::PortDesc(vec![desc]),
            },
        ),
    ]
}

#[test]
fn every_sample_round_trips() {
    for m in samples() {
        let bytes = m.encode().expect("encodes");
        assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        let back = Message::decode(&bytes).unwrap_or_else(|e| panic!("{m:?}: {e}"));
        assert_eq!(back, m);
    }
}

/// A cut message is either an error or, when the cut falls on a structure
/// boundary (a flow_mod without its instructions), a message that encodes
/// back to exactly the cut bytes: the decoder never invents or drops data.
#[test]
fn every_truncation_is_an_error_or_exact() {
    for m in samples() {
        let bytes = m.encode().expect("encodes");
        for cut in 0..bytes.len() {
            let mut short = bytes[..cut].to_vec();
            // Also fix the header length so the frame check alone cannot catch it.
            if short.len() >= 4 {
                let l = u16::try_from(cut).expect("small").to_be_bytes();
                short[2..4].copy_from_slice(&l);
            }
            if let Ok(back) = Message::decode(&short) {
                assert_eq!(
                    back.encode().expect("encodes"),
                    short,
                    "{} cut to {cut}",
                    m.body.name()
                );
            }
        }
    }
}

#[test]
fn match_is_padded_to_eight_bytes() {
    let mut out = Vec::new();
    Match::new(vec![Oxm::EthType(0x0800)])
        .encode(&mut out)
        .expect("encodes");
    // 4 header + 6 field = length 10, padded to 16 (§7.2.2).
    assert_eq!(out, [0, 1, 0, 10, 0x80, 0, 10, 2, 8, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn masks_follow_prefix_length() {
    assert_eq!(oxm::v4_mask(32), None);
    assert_eq!(oxm::v4_mask(24), Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(oxm::v4_mask(0), Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(oxm::v6_mask(128), None);
    assert_eq!(
        oxm::v6_mask(64),
        Some("ffff:ffff:ffff:ffff::".parse().expect("literal"))
    );
}

#[test]
fn a_bad_version_is_refused() {
    let mut bytes = Message::new(1, Body::BarrierReply)
        .encode()
        .expect("encodes");
    bytes[0] = 0x01;
    assert_eq!(Message::decode(&bytes), Err(DecodeError::BadVersion(1)));
}

#[test]
fn hello_negotiation() {
    assert!(Hello::of13().accepts_of13(4));
    assert!(!Hello {
        versions: Some(0b10)
    }
    .accepts_of13(1));
    assert!(Hello { versions: None }.accepts_of13(6));
    assert!(!Hello { versions: None }.accepts_of13(1));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&bytes);
        let _ = frame_len(&bytes);
    }

    #[test]
    fn mutated_samples_never_panic(idx in 0usize..21, pos in 0usize..200, val in any::<u8>()) {
        let all = samples();
        let m = &all[idx % all.len()];
        let mut bytes = m.encode().expect("encodes");
        let p = pos % bytes.len();
        bytes[p] = val;
        let _ = Message::decode(&bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `ovs-ofctl ofp-print HEX`: Open vSwitch's own decoder is the
/// independent oracle for every message orbit encodes.
fn ofp_print(bytes: &[u8]) -> String {
    let out = std::process::Command::new("ovs-ofctl")
        .arg("ofp-print")
        .arg(hex(bytes))
        .output()
        .expect("ovs-ofctl is installed (openvswitch-common)");
    assert!(out.status.success(), "ovs-ofctl failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dump_samples_for_inspection() {
    if std::env::var_os("ORBIT_DUMP_OFP").is_none() {
        return;
    }
    for m in samples() {
        let b = m.encode().expect("encodes");
        println!("== {} {}\n{}", m.body.name(), hex(&b), ofp_print(&b));
    }
}

#[test]
fn ovs_ofctl_decodes_every_encoded_message() {
    let expected: [&[&str]; 22] = [
        &["OFPT_HELLO (OF1.3) (xid=0x1)", "version bitmap: 0x04"],
        &["OFPT_ERROR (OF1.3) (xid=0x2): OFPGMFC_UNKNOWN_GROUP"],
        &["OFPT_ECHO_REQUEST (OF1.3) (xid=0x3): 3 bytes of payload"],
        &["OFPT_ECHO_REPLY (OF1.3) (xid=0x4): 0 bytes of payload"],
        &["OFPT_FEATURES_REQUEST (OF1.3) (xid=0x5)"],
        &["dpid:0000000000001234", "n_tables:254", "FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS"],
        &["OFPT_PORT_STATUS (OF1.3) (xid=0x7): MOD: 1(veth-a): addr:02:00:00:00:00:01", "state:      LIVE"],
        &["ADD priority=1000,ip,nw_dst=192.0.2.10 cookie:0xb17000000000001 actions=group:7"],
        &["ADD priority=1000,ipv6,in_port=3,ipv6_dst=2001:db8::/64 actions=set_field:02:00:00:00:0b:01->eth_dst,output:2"],
        &["ADD priority=1000,arp,arp_tpa=192.0.2.10,arp_op=1 actions=drop"],
        &["ADD group_id=7,type=ff,bucket=watch_port:1,actions=set_field:02:00:00:00:0a:01->eth_dst,output:1,bucket=watch_port:2,actions=set_field:02:00:00:00:0b:01->eth_dst,output:2"],
        &["MOD group_id=8,type=indirect,bucket=actions=output:1"],
        &["OFPT_BARRIER_REQUEST (OF1.3) (xid=0xc)"],
        &["OFPT_BARRIER_REPLY (OF1.3) (xid=0xd)"],
        &["OFPST_FLOW request (OF1.3) (xid=0xe)"],
        &["OFPST_GROUP_DESC request (OF1.3) (xid=0xf): group_id=ALL"],
        &["OFPST_PORT request (OF1.3) (xid=0x10): port_no=ANY"],
        &["OFPST_PORT_DESC request (OF1.3) (xid=0x11): port=ANY"],
        &["cookie=0xb17000000000001, duration=5s, table=0, n_packets=10, n_bytes=1000, priority=1000,ip,nw_dst=192.0.2.10 actions=group:7"],
        &["group_id=7,type=ff,bucket=watch_port:1,actions=set_field:02:00:00:00:0a:01->eth_dst,output:1,bucket=watch_port:2,actions=set_field:02:00:00:00:0b:01->eth_dst,output:2"],
        &["port  1: rx pkts=3", "tx pkts=4"],
        &["OFPST_PORT_DESC reply (OF1.3) (xid=0x15)", "1(veth-a): addr:02:00:00:00:00:01"],
    ];
    let all = samples();
    assert_eq!(all.len(), expected.len());
    for (m, want) in all.iter().zip(expected) {
        let text = ofp_print(&m.encode().expect("encodes"));
        assert!(!text.contains("decode error"), "{text}");
        for w in want {
            assert!(text.contains(w), "ovs-ofctl printed\n{text}\nwithout {w:?}");
        }
    }
}

/// Fuzzer find: a port name with invalid UTF-8 once re-encoded as a cut
/// multi-byte character, so the encoding was not stable.
#[test]
fn port_names_encode_stably() {
    let hex = concat!(
        "041300500000000a000d07424242424242424242424242424242424242424242",
        "4242424242424242424242424242c6bdbdbdbdfffffff7fffeff0001ffff0000",
        "ce4816bfa54200008000000000000000",
    );
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let m = Message::decode(&bytes).expect("decodes");
    let once = m.encode().expect("encodes");
    let twice = Message::decode(&once)
        .expect("decodes")
        .encode()
        .expect("encodes");
    assert_eq!(once, twice);
}
