//! The SDN backend steering a real UDP stream through a real Open vSwitch
//! (userspace datapath) between namespaces.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use orbit_core::Redirector;
use orbit_sdn::Switch;

fn site(s: &str) -> Option<orbit_core::SiteId> {
    Some(s.parse().expect("site"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_switchover_loses_nothing_and_is_confirmed_by_barrier() {
    let lab = Lab::new().await;
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch starts");
    let applied = sw.apply(&steering(1, Some("a"))).await.expect("apply a");
    assert!(applied.changes > 0, "{applied:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let (got_a, got_b) = (
        receiver(&lab.a, stop.clone()),
        receiver(&lab.b, stop.clone()),
    );
    let mut stream = Stream::start(&lab.client, 2000);
    eventually("site A receives the stream", Duration::from_secs(5), || {
        got_a.len() > 50
    })
    .await;
    // From here on every packet must arrive (ARP has resolved).
    let first = *got_a.snapshot().last().expect("some") + 1;
    // Steady traffic toward A before the switchover.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let applied = sw.apply(&steering(2, Some("b"))).await.expect("apply b");
    let after_barrier = stream.sent();
    assert_eq!(
        applied.changes, 1,
        "a switchover is one GROUP_MOD: {applied:?}"
    );
    assert_eq!(applied.generation, 2);
    assert!(
        applied.detail.contains("datapath revalidated"),
        "{}",
        applied.detail
    );
    eprintln!("apply: {}", applied.detail);
    eventually("site B receives the stream", Duration::from_secs(2), || {
        got_b.len() > 200
    })
    .await;
    let total = stream.stop();
    // Packets in flight land before the count (waiting on the count would assume the result).
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let (a, b) = (got_a.snapshot(), got_b.snapshot());
    let late_at_a: Vec<u64> = a.iter().copied().filter(|s| *s >= after_barrier).collect();
    assert!(
        late_at_a.is_empty(),
        "sent after BARRIER_REPLY yet delivered to A: {late_at_a:?}"
    );
    let mut all: Vec<u64> = a
        .iter()
        .chain(&b)
        .copied()
        .filter(|s| *s >= first)
        .collect();
    all.sort_unstable();
    let dups = all.windows(2).filter(|w| w[0] == w[1]).count();
    all.dedup();
    let expected = total - first;
    let lost = expected - all.len() as u64;
    eprintln!(
        "switchover: {expected} packets, {lost} lost, {dups} duplicated; A got {} B got {}",
        a.len(),
        b.len()
    );
    assert_eq!(lost, 0, "packets lost during a planned switchover");
    assert_eq!(dups, 0);

    // The read-back agrees, and applying again changes nothing.
    let seen = sw.observe().await.expect("observe");
    assert_eq!(
        seen.services.get(&"web".parse().expect("id")),
        Some(&site("b")),
        "{seen:?}"
    );
    let again = sw.apply(&steering(3, Some("b"))).await.expect("idempotent");
    assert_eq!(again.changes, 0, "{again:?}");

    // Foreign flows (another cookie) are never touched.
    let flows = lab.ovs.ofctl(&["dump-flows", &lab.mgmt()]);
    assert!(flows.contains("cookie=0x42"), "{flows}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_failover_moves_traffic_before_orbit_acts() {
    let lab = Lab::new().await;
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch starts");
    sw.apply(&steering(1, Some("a"))).await.expect("apply a");
    let stop = Arc::new(AtomicBool::new(false));
    let (got_a, got_b) = (
        receiver(&lab.a, stop.clone()),
        receiver(&lab.b, stop.clone()),
    );
    let mut stream = Stream::start(&lab.client, 2000);
    eventually("site A receives", Duration::from_secs(5), || {
        got_a.len() > 50
    })
    .await;
    assert_eq!(got_b.len(), 0);

    // Site A's link dies. Nobody calls apply.
    let cut = Instant::now();
    lab.ovs.ns.exec(&["ip", "link", "set", &lab.a_if, "down"]);
    eventually(
        "site B receives without orbit acting",
        Duration::from_secs(5),
        || got_b.len() > 20,
    )
    .await;
    let moved_in = cut.elapsed();
    let seen = sw.observe().await.expect("observe");
    assert_eq!(
        seen.services.get(&"web".parse().expect("id")),
        Some(&site("b")),
        "{seen:?}"
    );
    assert!(seen.detail.contains("a: port 1 down"), "{}", seen.detail);

    // orbitd then converges: B first in the group; A stays as fallback.
    let applied = sw.apply(&steering(2, Some("b"))).await.expect("apply b");
    assert_eq!(applied.changes, 1, "{applied:?}");
    let before = got_b.len();
    eventually("B keeps receiving", Duration::from_secs(2), || {
        got_b.len() > before + 100
    })
    .await;
    let total = stream.stop();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "fast failover: traffic at B {} ms after the link cut; {} of {total} packets reached A, {} B",
        moved_in.as_millis(),
        got_a.len(),
        got_b.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vswitchd_restart_is_reconciled_and_traffic_flows_again() {
    let mut lab = Lab::new().await;
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch starts");
    sw.apply(&steering(1, Some("a"))).await.expect("apply a");
    let stop = Arc::new(AtomicBool::new(false));
    let got_a = receiver(&lab.a, stop.clone());
    let mut stream = Stream::start(&lab.client, 1000);
    eventually("site A receives", Duration::from_secs(5), || {
        got_a.len() > 50
    })
    .await;

    lab.ovs.kill_vswitchd();
    let before = got_a.len();
    // Scenario: the switch stays down this long.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Instant::now();
    lab.ovs.start_vswitchd();
    // Nobody calls apply: the Switch reconnects and reconciles on its own.
    eventually(
        "traffic at A after the restart",
        Duration::from_secs(15),
        || got_a.len() > before + 100,
    )
    .await;
    eprintln!(
        "vswitchd restart: traffic flows again {} ms after ovs-vswitchd started",
        restarted.elapsed().as_millis()
    );
    let flows = lab.ovs.ofctl(&["dump-flows", &lab.mgmt()]);
    assert!(flows.contains("cookie=0xb17000000000001"), "{flows}");
    let groups = lab.ovs.ofctl(&["dump-groups", &lab.mgmt()]);
    assert!(groups.contains("type=ff"), "{groups}");
    assert!(sw.stats().await.reconciles >= 1);
    stream.stop();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_neighbor_discovery_and_switchover() {
    let lab = Lab::new().await;
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch starts");
    sw.apply(&steering(1, Some("a"))).await.expect("apply a");
    let stop = Arc::new(AtomicBool::new(false));
    let (got_a, got_b) = (
        receiver(&lab.a, stop.clone()),
        receiver(&lab.b, stop.clone()),
    );
    // The client resolves 2001:db8::10 with a Neighbor Solicitation that
    // orbit's ND flow hands to the active site only.
    let mut stream = Stream::start_to(&lab.client, 1000, SERVICE_V6);
    eventually("site A receives over IPv6", Duration::from_secs(5), || {
        got_a.len() > 50
    })
    .await;
    assert_eq!(got_b.len(), 0, "only the active site may answer ND");
    let first = *got_a.snapshot().last().expect("some") + 1;
    sw.apply(&steering(2, Some("b"))).await.expect("apply b");
    let after = stream.sent();
    eventually("site B receives over IPv6", Duration::from_secs(2), || {
        got_b.len() > 100
    })
    .await;
    let total = stream.stop();
    // Packets in flight land before the count (waiting on the count would assume the result).
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let a = got_a.snapshot();
    assert!(
        a.iter().all(|s| *s < after),
        "IPv6 packets at A after apply"
    );
    let mut all: Vec<u64> = a
        .into_iter()
        .chain(got_b.snapshot())
        .filter(|s| *s >= first)
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len() as u64, total - first, "IPv6 packets lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_requests_reach_the_active_site() {
    let lab = Lab::new().await;
    for (ns, name) in [(&lab.a, "site-a"), (&lab.b, "site-b")] {
        let listener = ns.enter(|| std::net::TcpListener::bind(("0.0.0.0", 8080)).expect("listen"));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                let mut buf = [0u8; 512];
                let _ = std::io::Read::read(&mut c, &mut buf);
                let body = format!(
                    "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                    name.len()
                );
                let _ = std::io::Write::write_all(&mut c, body.as_bytes());
            }
        });
    }
    let get = |ns: &Netns| {
        ns.enter(|| {
            let addr = (SERVICE_V4.parse::<std::net::IpAddr>().expect("ip"), 8080).into();
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                .expect("connect to the service");
            std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n").expect("request");
            let mut out = String::new();
            std::io::Read::read_to_string(&mut s, &mut out).expect("response");
            out
        })
    };
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch starts");
    sw.apply(&steering(1, Some("a"))).await.expect("apply a");
    let r = get(&lab.client);
    assert!(r.ends_with("site-a"), "{r}");
    sw.apply(&steering(2, Some("b"))).await.expect("apply b");
    let r = get(&lab.client);
    assert!(r.ends_with("site-b"), "{r}");
}

/// A site that is not active talks to an on-link host from the service
/// address (as a site does when it answers a client): Linux's ARP request
/// then says "tell SERVICE", and the host's reply is addressed to the
/// service address. Only ARP *requests* for the service address are
/// steered; the reply must reach the site that asked, not the active site.
/// (Found by the lab: a site back from a cut kept an unresolved neighbour
/// entry for the client, its ARP replies steered to the other site, and
/// after failback lost the client's traffic until the entry expired.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_site_resolves_hosts_from_the_service_address() {
    let lab = Lab::new().await;
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch starts");
    sw.apply(&steering(1, Some("b"))).await.expect("apply b");
    let rx = lab.client.enter(|| {
        let s = std::net::UdpSocket::bind(("10.9.0.1", 9999)).expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    });
    // One datagram: it waits in a's neighbour queue until the ARP reply
    // comes back, and is dropped if it never does (3 probes, 1 s apart).
    lab.a.enter(|| {
        let s = std::net::UdpSocket::bind((SERVICE_V4, 0)).expect("bind to the service address");
        s.send_to(b"from-a", ("10.9.0.1", 9999)).expect("send");
    });
    let got = tokio::task::spawn_blocking(move || {
        let mut buf = [0u8; 16];
        rx.recv_from(&mut buf)
            .map(|(n, from)| (buf[..n].to_vec(), from))
    })
    .await
    .expect("join");
    let (data, from) =
        got.expect("site a's datagram reaches the client: its ARP reply came back to a");
    assert_eq!(data, b"from-a");
    assert_eq!(from.ip().to_string(), SERVICE_V4);
}
