//! `Speaker::reconfigure` against two scripted peers on loopback
//! (127.0.0.2 and 127.0.0.3, each a listener the test owns; no namespace,
//! no root): a policy-only change goes out as an UPDATE on the same
//! connection, a removed peer gets Cease / Peer De-configured, a changed
//! hold time restarts that peer alone with Cease / Other Configuration
//! Change, and a refused reconfigure changes nothing.
//!
//! Each peer answers our OPEN with its own and a KEEPALIVE, keeps the
//! session alive, and reports every message it decodes (with the number of
//! the TCP connection it came on) to the test.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use orbit_bgp::fsm::State;
use orbit_bgp::wire::{self, code, DecodeContext, Family, Inbound, OpenParams};
use orbit_bgp::Config as Bgp;
use orbit_bgp::{PeerReconfigured, PeerReload, Speaker};
use orbit_core::config::Service;
use orbit_core::{Redirector, Role, ServiceSteering, Steering};
use rustbgpd_wire::PathAttribute;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const PREFIX: &str = "192.0.2.10/32";

/// What a scripted peer saw: a message on its `n`-th connection.
#[derive(Debug)]
struct Seen {
    conn: u32,
    msg: Inbound,
}

struct ScriptedPeer {
    address: IpAddr,
    port: u16,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl ScriptedPeer {
    async fn start(address: Ipv4Addr) -> ScriptedPeer {
        let listener = TcpListener::bind((address, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut conn = 0;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                conn += 1;
                tokio::spawn(serve(stream, conn, address, tx.clone()));
            }
        });
        ScriptedPeer {
            address: IpAddr::V4(address),
            port,
            seen,
        }
    }

    /// The next message within `limit`, if any.
    async fn next(&mut self, limit: Duration) -> Option<Seen> {
        tokio::time::timeout(limit, self.seen.recv())
            .await
            .ok()
            .flatten()
    }

    /// Skips KEEPALIVEs; the next other message within `limit`.
    async fn next_not_keepalive(&mut self, limit: Duration) -> Option<Seen> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let seen = self.next(left).await?;
            if seen.msg != Inbound::Keepalive {
                return Some(seen);
            }
        }
    }

    /// Everything but KEEPALIVEs that arrives within `limit`.
    async fn drain(&mut self, limit: Duration) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Some(s) = self.next_not_keepalive(limit).await {
            out.push(s);
        }
        out
    }
}

/// One connection: OPEN + KEEPALIVE in answer to the speaker's OPEN, a
/// KEEPALIVE every second, and every decoded message to `tx`.
async fn serve(
    stream: tokio::net::TcpStream,
    conn: u32,
    router_id: Ipv4Addr,
    tx: mpsc::UnboundedSender<Seen>,
) {
    let (mut read, mut write) = stream.into_split();
    let ctx = DecodeContext {
        four_octet_as: true,
    };
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    // Nothing before our OPEN (a KEEPALIVE in OpenSent is an FSM error,
    // RFC 4271 §8.2.2).
    let mut opened = false;
    let mut keepalive = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            n = read.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Ok(Some(len)) = wire::frame_len(&buf) {
                    if buf.len() < len {
                        break;
                    }
                    let frame: Vec<u8> = buf.drain(..len).collect();
                    let msg = wire::decode(&frame, ctx).unwrap();
                    if let Inbound::Open(_) = &msg {
                        let open = wire::encode_open(&OpenParams {
                            asn: 65002,
                            hold_secs: 9,
                            router_id,
                            families: vec![Family::Ipv4],
                            graceful_restart: None,
                        })
                        .unwrap();
                        let _ = write.write_all(&open).await;
                        let _ = write.write_all(&wire::encode_keepalive()).await;
                        opened = true;
                    }
                    let _ = tx.send(Seen { conn, msg });
                }
            }
            _ = keepalive.tick(), if opened => {
                let _ = write.write_all(&wire::encode_keepalive()).await;
            }
        }
    }
}

fn config(peers: &[(&ScriptedPeer, u32)], extra: &str) -> Bgp {
    let mut text = format!(
        "asn = 65001\nrouter_id = \"192.0.2.1\"\nnext_hop_v4 = \"192.0.2.254\"\n\
         connect_retry = \"100ms\"\ngraceful_restart_time = \"0s\"\n{extra}\n"
    );
    for (p, hold) in peers {
        text.push_str(&format!(
            "[[peer]]\naddress = \"{}\"\nport = {}\nasn = 65002\nhold = \"{hold}s\"\n\
             families = [\"ipv4\"]\n",
            p.address, p.port
        ));
    }
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn services() -> Vec<Service> {
    #[derive(serde::Deserialize)]
    struct S {
        services: Vec<Service>,
    }
    let text = format!("[[services]]\nid = \"web\"\nprefixes = [\"{PREFIX}\"]\nsites = [\"a\"]\n");
    toml::from_str::<S>(&text).unwrap().services
}

fn active(generation: u64) -> Steering {
    let mut services = BTreeMap::new();
    services.insert(
        "web".parse().unwrap(),
        ServiceSteering {
            prefixes: vec![PREFIX.parse().unwrap()],
            active: Some("a".parse().unwrap()),
            epoch: 0,
            local_role: Role::Active,
            takeover: false,
        },
    );
    Steering {
        generation,
        local_site: "a".parse().unwrap(),
        fenced: false,
        observe_only: false,
        services,
    }
}

/// The MED of an UPDATE that announces our prefix.
fn announced_med(seen: &Seen) -> Option<Option<u32>> {
    let Inbound::Update(u) = &seen.msg else {
        return None;
    };
    if !u.announced.iter().any(|p| p.to_string() == PREFIX) {
        return None;
    }
    Some(u.attributes.iter().find_map(|a| match a {
        PathAttribute::Med(m) => Some(*m),
        _ => None,
    }))
}

fn is_cease(seen: &Seen, subcode: u8) -> bool {
    matches!(&seen.msg, Inbound::Notification(n) if n.code == code::CEASE && n.subcode == subcode)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfigure_touches_only_what_changed() {
    let mut a = ScriptedPeer::start(Ipv4Addr::new(127, 0, 0, 2)).await;
    let mut b = ScriptedPeer::start(Ipv4Addr::new(127, 0, 0, 3)).await;
    let svcs = services();
    let mut speaker = Speaker::start(&config(&[(&a, 9), (&b, 9)], ""), &svcs)
        .await
        .unwrap();
    let long = Duration::from_secs(10);
    for p in [&mut a, &mut b] {
        let open = p.next(long).await.expect("OPEN");
        assert!(matches!(open.msg, Inbound::Open(_)), "{open:?}");
    }
    // Both Established before the steering, so each gets one UPDATE.
    let t0 = tokio::time::Instant::now();
    while !speaker
        .peers()
        .await
        .unwrap()
        .iter()
        .all(|p| p.state == State::Established)
    {
        assert!(t0.elapsed() < long, "sessions not Established");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    speaker.apply(&active(1)).await.unwrap();
    for p in [&mut a, &mut b] {
        // The route, then End-of-RIB (RFC 4724 §4.1).
        let update = p.next_not_keepalive(long).await.expect("UPDATE");
        assert_eq!(announced_med(&update), Some(None), "{update:?}");
        let eor = p.next_not_keepalive(long).await.expect("End-of-RIB");
        assert!(
            matches!(&eor.msg, Inbound::Update(u) if u.end_of_rib == Some(Family::Ipv4)),
            "{eor:?}"
        );
    }

    // Policy only: the new MED goes out as an UPDATE on the same
    // connection; no NOTIFICATION, no new connection.
    let done = speaker
        .reconfigure(&config(&[(&a, 9), (&b, 9)], "[active]\nmed = 42\n"), &svcs)
        .await
        .unwrap();
    assert!(done.peers.is_empty(), "{done}");
    assert!(done.policy_changed, "{done}");
    assert!(done.reapplied.is_some(), "{done}");
    for p in [&mut a, &mut b] {
        let seen = p.drain(Duration::from_millis(500)).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].conn, 1, "{seen:?}");
        assert_eq!(announced_med(&seen[0]), Some(Some(42)), "{seen:?}");
    }

    // connect_retry is taken by the live sessions: nothing on the wire.
    let mut retry = config(&[(&a, 9), (&b, 9)], "[active]\nmed = 42\n");
    retry.connect_retry = orbit_core::config::HumanDuration::from_secs(1);
    let done = speaker.reconfigure(&retry, &svcs).await.unwrap();
    let updated = |p: &ScriptedPeer| PeerReconfigured {
        address: p.address,
        change: PeerReload::Updated {
            changed: vec!["connect_retry".into()],
        },
    };
    assert_eq!(done.peers, vec![updated(&a), updated(&b)], "{done}");
    assert!(!done.policy_changed && done.reapplied.is_none(), "{done}");
    // And back.
    let done = speaker
        .reconfigure(&config(&[(&a, 9), (&b, 9)], "[active]\nmed = 42\n"), &svcs)
        .await
        .unwrap();
    assert_eq!(done.peers, vec![updated(&a), updated(&b)], "{done}");
    for p in [&mut a, &mut b] {
        let seen = p.drain(Duration::from_millis(300)).await;
        assert!(seen.is_empty(), "connect_retry sent {seen:?}");
    }

    // A refused reconfigure (a missing MD5 password file) changes nothing.
    let mut refused = config(&[(&a, 9), (&b, 15)], "[active]\nmed = 7\n");
    refused.peers[0].md5_password_file = Some("/nonexistent/orbit-test-md5".into());
    let err = speaker.reconfigure(&refused, &svcs).await.unwrap_err();
    assert!(err.to_string().contains("md5_password_file"), "{err}");
    for p in [&mut a, &mut b] {
        let seen = p.drain(Duration::from_millis(300)).await;
        assert!(seen.is_empty(), "a refused reconfigure sent {seen:?}");
    }

    // b removed: Cease / Peer De-configured (RFC 4486 §4, subcode 3) to b,
    // nothing to a.
    let done = speaker
        .reconfigure(&config(&[(&a, 9)], "[active]\nmed = 42\n"), &svcs)
        .await
        .unwrap();
    assert_eq!(
        done.peers,
        vec![PeerReconfigured {
            address: b.address,
            change: PeerReload::Removed
        }]
    );
    assert_eq!(done.to_string(), format!("peer {} removed", b.address));
    let bye = b.next_not_keepalive(long).await.expect("NOTIFICATION");
    assert!(is_cease(&bye, code::CEASE_PEER_DECONFIGURED), "{bye:?}");
    assert!(a.drain(Duration::from_millis(300)).await.is_empty());
    assert_eq!(speaker.peers().await.unwrap().len(), 1);

    // a's hold time: Cease / Other Configuration Change (subcode 6), then a
    // new connection whose OPEN carries the new hold time, then the route.
    let done = speaker
        .reconfigure(&config(&[(&a, 15)], "[active]\nmed = 42\n"), &svcs)
        .await
        .unwrap();
    assert_eq!(
        done.peers,
        vec![PeerReconfigured {
            address: a.address,
            change: PeerReload::Restarted {
                changed: vec!["hold".into()]
            }
        }]
    );
    // (Followed by "re-applied: ..." when the new session came up before
    // the re-apply reached it: loopback is fast.)
    assert!(
        done.to_string()
            .starts_with(&format!("peer {} restarted (hold changed)", a.address)),
        "{done}"
    );
    let bye = a.next_not_keepalive(long).await.expect("NOTIFICATION");
    assert!(
        is_cease(&bye, code::CEASE_OTHER_CONFIGURATION_CHANGE),
        "{bye:?}"
    );
    assert_eq!(bye.conn, 1);
    let open = a.next_not_keepalive(long).await.expect("a new OPEN");
    match &open.msg {
        Inbound::Open(o) => assert_eq!(o.hold_secs, 15),
        other => panic!("{other:?}"),
    }
    assert_eq!(open.conn, 2);
    // The last steering goes out on the new session by itself.
    let update = a.next_not_keepalive(long).await.expect("UPDATE");
    assert_eq!(update.conn, 2);
    assert_eq!(announced_med(&update), Some(Some(42)), "{update:?}");

    speaker.shutdown("test over").await;
}
