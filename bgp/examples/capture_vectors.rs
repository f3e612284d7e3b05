//! Captures what bird2 and gobgpd put on the wire, as codec test vectors.
//!
//! `cargo run -p orbit-bgp --example capture_vectors` (as root) writes
//! `bgp/tests/vectors/{bird,gobgp}-NN-KIND.hex`: one message per file, hex,
//! in arrival order. Each peer runs in its own namespace with routes to
//! export (communities incl. 65535:0, large community, MED, prepend, IPv6);
//! orbit's session FSM (driven by hand here) brings the session up and
//! records every frame until both End-of-RIBs arrive.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Bird, Gobgp, Lab};
use orbit_bgp::fsm::{Input, Output, Session, SessionConfig};
use orbit_bgp::wire::{self, DecodeContext, Family, Inbound};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn session(peer_asn: u32) -> Session {
    Session::new(SessionConfig {
        local_asn: 65001,
        peer_asn,
        router_id: "192.0.2.1".parse().expect("ip"),
        hold: Duration::from_secs(90),
        passive: false,
        families: vec![Family::Ipv4, Family::Ipv6],
        graceful_restart: Some(Duration::from_secs(120)),
        max_prefixes: 100,
        connect_retry: Duration::from_secs(1),
        connect_retry_max: Duration::from_secs(1),
    })
}

/// Records frames until `updates` route-carrying UPDATEs and `eors`
/// End-of-RIBs arrived (gobgpd sends End-of-RIB only with GR configured).
async fn capture(
    addr: std::net::IpAddr,
    peer_asn: u32,
    name: &str,
    dir: &Path,
    updates: usize,
    eors: usize,
) {
    let mut s = session(peer_asn);
    s.process(Instant::now(), Input::Start);
    let mut stream = None;
    for _ in 0..50 {
        if let Ok(st) = TcpStream::connect((addr, 179)).await {
            stream = Some(st);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut stream = stream.expect("connect to peer");
    let mut pending = s.process(
        Instant::now(),
        Input::Connected {
            conn: 1,
            outbound: true,
        },
    );
    let mut buf = Vec::new();
    let mut n = 0;
    let mut eor = 0;
    let mut upd = 0;
    let t0 = Instant::now();
    while (eor < eors || upd < updates) && t0.elapsed() < Duration::from_secs(10) {
        for o in pending.drain(..) {
            if let Output::Send { bytes, .. } = o {
                stream.write_all(&bytes).await.expect("write");
            }
        }
        let mut chunk = vec![0u8; 65536];
        let got = match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(got)) => got,
            Err(_) => continue,
        };
        buf.extend_from_slice(&chunk[..got]);
        while let Ok(Some(len)) = wire::frame_len(&buf) {
            if buf.len() < len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..len).collect();
            let kind = match wire::decode(
                &frame,
                DecodeContext {
                    four_octet_as: true,
                },
            ) {
                Ok(Inbound::Open(_)) => "open",
                Ok(Inbound::Keepalive) => "keepalive",
                Ok(Inbound::Update(u)) if u.end_of_rib.is_some() => {
                    eor += 1;
                    "eor"
                }
                Ok(Inbound::Update(_)) => {
                    upd += 1;
                    "update"
                }
                Ok(Inbound::Notification(_)) => "notification",
                Ok(Inbound::RouteRefresh) => "refresh",
                Err(e) => panic!("{name} sent something we cannot decode: {e}"),
            };
            let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
            let file = dir.join(format!("{name}-{n:02}-{kind}.hex"));
            std::fs::write(&file, hex + "\n").expect("write vector");
            println!("{}", file.display());
            n += 1;
            pending.extend(s.process(
                Instant::now(),
                Input::Data {
                    conn: 1,
                    bytes: &frame,
                },
            ));
        }
    }
    assert!(
        eor >= eors && upd >= updates,
        "{name}: saw {upd} UPDATEs and {eor} End-of-RIBs"
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir).expect("vectors dir");

    let lab = Lab::new();
    let bird = Bird::start(
        &lab,
        &format!(
            r#"
protocol static s4 {{
  ipv4;
  route 198.51.100.0/24 blackhole;
  route 203.0.113.1/32 blackhole;
}}
protocol static s6 {{
  ipv6;
  route 2001:db8:1::/48 blackhole;
  route 2001:db8::10/128 blackhole;
}}
protocol bgp cap {{
  local {peer} as 65002;
  neighbor {speaker} as 65001;
  passive on;
  graceful restart on;
  ipv4 {{
    import none;
    export filter {{
      bgp_med = 42;
      bgp_community.add((65535,0));
      bgp_community.add((64500,7));
      bgp_large_community.add((64500,1,2));
      bgp_path.prepend(65002);
      accept;
    }};
  }};
  ipv6 {{ import none; export all; next hop address {v6}; }};
}}
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker,
            v6 = lab.v6_peer
        ),
    );
    {
        // The connection goes out of the speaker's namespace (this
        // current-thread runtime runs on the entered thread).
        let _entered = lab.enter();
        capture(lab.v4_peer.into(), 65002, "bird", &dir, 2, 2).await;
    }
    drop(bird);
    drop(lab);

    let lab = Lab::new();
    let g = Gobgp::start(
        &lab,
        &format!(
            r#"
[global.config]
  as = 65003
  router-id = "{peer}"
  local-address-list = ["{peer}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{speaker}"
    peer-as = 65001
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        ),
    );
    let nh = lab.v4_peer.to_string();
    let nh6 = lab.v6_peer.to_string();
    for args in [
        vec![
            "global",
            "rib",
            "-a",
            "ipv4",
            "add",
            "198.51.100.0/24",
            "nexthop",
            &nh,
            "med",
            "42",
            "community",
            "65535:0,64500:7",
            "large-community",
            "64500:1:2",
            "aspath",
            "65003,65003",
        ],
        vec![
            "global",
            "rib",
            "-a",
            "ipv4",
            "add",
            "203.0.113.1/32",
            "origin",
            "igp",
            "nexthop",
            &nh,
        ],
        vec![
            "global",
            "rib",
            "-a",
            "ipv6",
            "add",
            "2001:db8::10/128",
            "nexthop",
            &nh6,
        ],
    ] {
        g.cli(&args)
            .unwrap_or_else(|| panic!("gobgp {args:?} failed"));
    }
    {
        let _entered = lab.enter();
        capture(lab.v4_peer.into(), 65003, "gobgp", &dir, 3, 0).await;
    }
}
