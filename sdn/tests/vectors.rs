//! Bytes Open vSwitch 3.1 put on the wire, recorded in `tests/vectors/`.
//! Each must decode to what we expect and re-encode to the same bytes.
//! `ORBIT_RECORD_VECTORS=1` re-records them from a private OVS first.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use orbit_sdn::ofp::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn load(name: &str) -> (Vec<u8>, Message) {
    let text = std::fs::read_to_string(dir().join(format!("{name}.hex")))
        .unwrap_or_else(|e| panic!("{name}.hex: {e}"));
    let bytes = unhex(&text);
    let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        msg.encode().expect("encodes"),
        bytes,
        "{name} re-encodes byte for byte"
    );
    (bytes, msg)
}

#[test]
fn recorded_ovs_messages_decode_and_round_trip() {
    if std::env::var_os("ORBIT_RECORD_VECTORS").is_some() {
        record();
    }
    let (_, hello) = load("hello");
    let Body::Hello(h) = hello.body else {
        panic!("{hello:?}")
    };
    assert!(h.accepts_of13(hello.version));

    let (_, f) = load("features_reply");
    assert!(
        matches!(
            f.body,
            Body::FeaturesReply(FeaturesReply { n_tables: 254, .. })
        ),
        "{f:?}"
    );

    let (_, b) = load("barrier_reply");
    assert_eq!(b.body, Body::BarrierReply);

    let (_, e) = load("echo_reply");
    assert_eq!(e.body, Body::EchoReply(b"orbit".to_vec()));

    let (_, fs) = load("flow_stats_reply");
    let Body::MultipartReply {
        reply: MultipartReply::Flow(flows),
        ..
    } = fs.body
    else {
        panic!("{fs:?}")
    };
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].cookie, 0x0b17_0000_0000_0001);
    assert_eq!(flows[0].priority, 1000);
    assert_eq!(
        flows[0].r#match,
        Match::new(vec![
            Oxm::EthType(0x0800),
            Oxm::Ipv4Dst(
                "192.0.2.0".parse().expect("ip"),
                Some("255.255.255.0".parse().expect("ip"))
            ),
        ])
    );
    assert_eq!(
        flows[0].instructions,
        vec![Instruction::ApplyActions(vec![
            Action::SetField(Oxm::EthDst("02:00:00:00:0a:01".parse().expect("mac"))),
            Action::Group(7),
        ])]
    );

    let (_, gd) = load("group_desc_reply");
    let Body::MultipartReply {
        reply: MultipartReply::GroupDesc(groups),
        ..
    } = gd.body
    else {
        panic!("{gd:?}")
    };
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].group_type, GroupType::FastFailover);
    assert_eq!(groups[0].group_id, 7);
    assert_eq!(
        groups[0]
            .buckets
            .iter()
            .map(|b| b.watch_port)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );

    let (_, ps) = load("port_stats_reply");
    assert!(
        matches!(ps.body, Body::MultipartReply { reply: MultipartReply::PortStats(ref v), .. } if !v.is_empty()),
        "{ps:?}"
    );

    let (_, pd) = load("port_desc_reply");
    let Body::MultipartReply {
        reply: MultipartReply::PortDesc(ports),
        ..
    } = pd.body
    else {
        panic!("{pd:?}")
    };
    assert!(
        ports.iter().any(|p| p.port_no == OFPP_LOCAL_PORT),
        "{ports:?}"
    );

    let (_, err) = load("error_unknown_group");
    let Body::Error(em) = err.body else {
        panic!("{err:?}")
    };
    assert_eq!((em.typ, em.code), (6, 8), "{}", em.describe());
}

/// `OFPP_LOCAL`: the bridge's own internal port.
const OFPP_LOCAL_PORT: u32 = 0xffff_fffe;

/// Talks to a private OVS with blocking sockets and stores what it answers.
fn record() {
    let ovs = common::Ovs::start();
    let br = common::unique("br");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(ovs.bridge(&br));
    let mut s = UnixStream::connect(ovs.mgmt_path(&br)).expect("mgmt socket");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let recv = |s: &mut UnixStream| -> Vec<u8> {
        let mut h = [0u8; 8];
        s.read_exact(&mut h).expect("header");
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let mut b = h.to_vec();
        b.resize(len, 0);
        s.read_exact(&mut b[8..]).expect("body");
        b
    };
    let send = |s: &mut UnixStream, xid: u32, body: Body| {
        s.write_all(&Message::new(xid, body).encode().expect("encodes"))
            .expect("write");
    };
    let save = |name: &str, b: &[u8]| {
        std::fs::write(dir().join(format!("{name}.hex")), hex(b) + "\n").expect("write vector");
    };
    send(&mut s, 1, Body::Hello(Hello::of13()));
    save("hello", &recv(&mut s));
    send(&mut s, 2, Body::FeaturesRequest);
    save("features_reply", &recv(&mut s));
    send(&mut s, 3, Body::EchoRequest(b"orbit".to_vec()));
    save("echo_reply", &recv(&mut s));
    let bucket = |port: u32| Bucket {
        weight: 0,
        watch_port: port,
        watch_group: OFPG_ANY,
        actions: vec![Action::output(port)],
    };
    send(
        &mut s,
        4,
        Body::GroupMod(GroupMod {
            command: GroupModCommand::Add,
            group_type: GroupType::FastFailover,
            group_id: 7,
            buckets: vec![bucket(1), bucket(2)],
        }),
    );
    let mut fm = FlowMod::new(
        FlowModCommand::Add,
        0,
        1000,
        Match::new(vec![
            Oxm::EthType(0x0800),
            Oxm::Ipv4Dst(
                "192.0.2.0".parse().expect("ip"),
                Some("255.255.255.0".parse().expect("ip")),
            ),
        ]),
    );
    fm.cookie = 0x0b17_0000_0000_0001;
    fm.instructions = vec![Instruction::ApplyActions(vec![
        Action::SetField(Oxm::EthDst("02:00:00:00:0a:01".parse().expect("mac"))),
        Action::Group(7),
    ])];
    send(&mut s, 5, Body::FlowMod(fm));
    send(&mut s, 6, Body::BarrierRequest);
    save("barrier_reply", &recv(&mut s));
    let flow_req = FlowStatsRequest {
        table_id: OFPTT_ALL,
        out_port: OFPP_ANY,
        out_group: OFPG_ANY,
        cookie: 0,
        cookie_mask: 0,
        r#match: Match::default(),
    };
    let mp = |request| Body::MultipartRequest { flags: 0, request };
    send(&mut s, 7, mp(MultipartRequest::Flow(flow_req)));
    save("flow_stats_reply", &recv(&mut s));
    send(&mut s, 8, mp(MultipartRequest::GroupDesc));
    save("group_desc_reply", &recv(&mut s));
    send(&mut s, 9, mp(MultipartRequest::PortStats(OFPP_ANY)));
    save("port_stats_reply", &recv(&mut s));
    send(&mut s, 10, mp(MultipartRequest::PortDesc));
    save("port_desc_reply", &recv(&mut s));
    send(
        &mut s,
        11,
        Body::GroupMod(GroupMod {
            command: GroupModCommand::Modify,
            group_type: GroupType::Indirect,
            group_id: 99,
            buckets: vec![Bucket::new(vec![Action::output(1)])],
        }),
    );
    save("error_unknown_group", &recv(&mut s));
}
