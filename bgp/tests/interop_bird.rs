//! orbit's Speaker against a real bird2, in a namespace the test creates.

mod common;

use std::time::{Duration, Instant};

use common::*;
use orbit_bgp::Speaker;
use orbit_core::{Redirector, Role};

const SVC: &str = "192.0.2.10/32";

fn speaker_config(lab: &Lab, extra_peer: &str) -> String {
    format!(
        r#"
asn = 65001
router_id = "192.0.2.1"
next_hop_v4 = "{spare}"
connect_retry = "200ms"
[active]
med = 10
communities = ["64500:100"]
large_communities = ["64500:1:1"]
[standby]
prepend = 3
med = 200
communities = ["64500:200"]
[takeover]
communities = ["64500:666"]
[[peer]]
address = "{peer}"
asn = 65002
hold = "9s"
{extra_peer}
"#,
        spare = lab.v4_spare,
        peer = lab.v4_peer
    )
}

fn bird_protocol(lab: &Lab, extra: &str) -> String {
    format!(
        r#"
protocol bgp orbit {{
  local {peer} as 65002;
  neighbor {speaker} as 65001;
  passive on;
  hold time 9;
  {extra}
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
"#,
        peer = lab.v4_peer,
        speaker = lab.v4_speaker
    )
}

#[test]
fn roles_map_to_attributes_in_bird_rib() {
    let lab = Lab::new();
    lab.run(async {
        let bird = Bird::start(&lab, &bird_protocol(&lab, ""));
        let cfg = bgp_config(&speaker_config(&lab, ""));
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "bird session Established", || bird.established("orbit")).await;
        // Safety rail: Established, but nothing announced before the first steering.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(bird.route(SVC), "", "announced before the first steering");

        let applied = speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply active");
        assert_eq!(applied.changes, 1);
        // apply returned after the UPDATE was written: bird has it very soon.
        wait_for_async(5, "active route in bird", || !bird.route(SVC).is_empty()).await;
        let r = bird.route(SVC);
        assert!(
            r.contains(&format!("BGP.next_hop: {}", lab.v4_spare)),
            "{r}"
        );
        assert!(r.contains("BGP.as_path: 65001\n"), "{r}");
        assert!(r.contains("BGP.med: 10"), "{r}");
        assert!(r.contains("BGP.community: (64500,100)"), "{r}");
        assert!(r.contains("BGP.large_community: (64500, 1, 1)"), "{r}");

        // Idempotent: the same steering changes nothing.
        let again = speaker
            .apply(&steering(2, &[SVC], Role::Active, false))
            .await
            .expect("apply again");
        assert_eq!(again.changes, 0);

        // Takeover adds its community.
        speaker
            .apply(&steering(3, &[SVC], Role::Active, true))
            .await
            .expect("takeover");
        wait_for_async(5, "takeover community", || {
            bird.route(SVC).contains("(64500,666)")
        })
        .await;

        // Standby: prepend x3, MED 200, standby community.
        speaker
            .apply(&steering(4, &[SVC], Role::Standby, false))
            .await
            .expect("standby");
        wait_for_async(5, "standby prepend", || {
            bird.route(SVC)
                .contains("BGP.as_path: 65001 65001 65001 65001")
        })
        .await;
        let r = bird.route(SVC);
        assert!(r.contains("BGP.med: 200"), "{r}");
        assert!(r.contains("(64500,200)"), "{r}");
        assert!(!r.contains("(64500,100)"), "{r}");

        // Draining: GRACEFUL_SHUTDOWN 65535:0 (RFC 8326).
        speaker
            .apply(&steering(5, &[SVC], Role::Draining, false))
            .await
            .expect("draining");
        wait_for_async(5, "graceful shutdown community", || {
            bird.route(SVC).contains("(65535,0)")
        })
        .await;

        let observed = speaker.observe().await.expect("observe");
        assert!(
            observed.detail.contains("Established out=1"),
            "{}",
            observed.detail
        );

        // Withdrawn: the route disappears.
        speaker
            .apply(&steering(6, &[SVC], Role::Withdrawn, false))
            .await
            .expect("withdraw");
        wait_for_async(5, "route withdrawn", || bird.route(SVC).is_empty()).await;
        let peers = speaker.peers().await.expect("peers");
        assert!(peers[0].adj_rib_out.is_empty());

        // A steering naming an unconfigured prefix is refused and changes nothing.
        speaker
            .apply(&steering(7, &[SVC], Role::Active, false))
            .await
            .expect("active again");
        wait_for_async(5, "route back", || !bird.route(SVC).is_empty()).await;
        let err = speaker
            .apply(&steering(8, &["203.0.113.7/32"], Role::Active, false))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("203.0.113.7"), "{err}");
        // The point: time for a wrong announcement to reach bird.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(bird.route("203.0.113.7/32").is_empty());
        assert!(
            !bird.route(SVC).is_empty(),
            "previous state must stay in force"
        );

        // Shutdown says why (RFC 8203 / RFC 9003).
        speaker.shutdown("orbit test: planned shutdown").await;
        wait_for_async(5, "bird sees the shutdown", || !bird.established("orbit")).await;
        let p = bird.protocol("orbit");
        assert!(
            p.contains("planned shutdown") || p.contains("Administrative shutdown"),
            "{p}"
        );
    })
}

#[test]
fn ipv6_host_route_over_ipv6_session() {
    let lab = Lab::new();
    lab.run(async {
        let svc6 = "2001:db8::10/128";
        let proto = format!(
            r#"
protocol bgp orbit6 {{
  local {peer} as 65002;
  neighbor {speaker} as 65001;
  passive on;
  ipv6 {{ import all; export none; }};
}}
"#,
            peer = lab.v6_peer,
            speaker = lab.v6_speaker
        );
        let bird = Bird::start(&lab, &proto);
        let cfg = bgp_config(&format!(
            r#"
asn = 65001
router_id = "192.0.2.1"
connect_retry = "200ms"
[[peer]]
address = "{peer}"
asn = 65002
families = ["ipv6"]
"#,
            peer = lab.v6_peer
        ));
        let mut speaker = Speaker::start(&cfg, &services(&[svc6]))
            .await
            .expect("start");
        wait_for_async(15, "IPv6 session Established", || {
            bird.established("orbit6")
        })
        .await;
        speaker
            .apply(&steering(1, &[svc6], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "IPv6 /128 in bird", || !bird.route(svc6).is_empty()).await;
        let r = bird.route(svc6);
        assert!(
            r.contains(&format!("BGP.next_hop: {}", lab.v6_speaker)),
            "{r}"
        );
        speaker
            .apply(&steering(2, &[svc6], Role::Withdrawn, false))
            .await
            .expect("withdraw");
        wait_for_async(5, "IPv6 route withdrawn", || bird.route(svc6).is_empty()).await;
    })
}

#[test]
fn ipv6_prefix_over_ipv4_session() {
    let lab = Lab::new();
    lab.run(async {
        let svc6 = "2001:db8::20/128";
        let bird = Bird::start(&lab, &bird_protocol(&lab, ""));
        let cfg = bgp_config(&format!(
            "{}\n",
            speaker_config(&lab, "").replace(
                "connect_retry",
                &format!("next_hop_v6 = \"{}\"\nconnect_retry", lab.v6_speaker)
            )
        ));
        let mut speaker = Speaker::start(&cfg, &services(&[SVC, svc6]))
            .await
            .expect("start");
        wait_for_async(15, "session Established", || bird.established("orbit")).await;
        speaker
            .apply(&steering(1, &[SVC, svc6], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "IPv6 /128 over IPv4 session", || {
            !bird.route(svc6).is_empty()
        })
        .await;
        assert!(!bird.route(SVC).is_empty());
    })
}

#[test]
fn session_recovers_after_bird_restart() {
    let lab = Lab::new();
    lab.run(async {
        let mut bird = Bird::start(&lab, &bird_protocol(&lab, ""));
        let cfg = bgp_config(&speaker_config(&lab, ""));
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "Established", || bird.established("orbit")).await;
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "route", || !bird.route(SVC).is_empty()).await;
        bird.restart(&lab);
        // Reconcile: the speaker re-sends everything once the session is back,
        // without another apply.
        wait_for_async(30, "Established again", || bird.established("orbit")).await;
        wait_for_async(5, "route re-sent", || !bird.route(SVC).is_empty()).await;
        let peers = speaker.peers().await.expect("peers");
        assert!(
            peers[0].counters.established >= 2,
            "{:?}",
            peers[0].counters
        );
    })
}

/// RFC 5882 §4.3: a BFD Down tears the BGP session down at once, but only
/// a session that was Established before BFD's silence began. A session
/// whose handshake crossed the path after it (bird2 replaces its BFD
/// session on every BGP reconnect, and its new one may be heard only after
/// our old one's detection time ran out) stays.
#[test]
fn a_bfd_down_drops_only_a_session_established_before_the_silence() {
    let lab = Lab::new();
    lab.run(async {
        let bird = Bird::start(&lab, &bird_protocol(&lab, ""));
        let cfg = bgp_config(&speaker_config(&lab, ""));
        let speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "Established", || bird.established("orbit")).await;
        let peer = lab.v4_peer.into();
        let sessions = || async {
            speaker.peers().await.expect("peers")[0]
                .counters
                .established
        };
        assert_eq!(sessions().await, 1);
        let control = speaker.control();

        // Silent since before the session came up: it stays.
        let before_up = Instant::now() - Duration::from_secs(60);
        assert!(control.path_down(peer, before_up).await);
        // The point: time for a drop and bird's reconnect, had there been one.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let peers = speaker.peers().await.expect("peers");
        assert_eq!(peers[0].state, orbit_bgp::fsm::State::Established);
        assert_eq!(peers[0].counters.established, 1, "the session was dropped");

        // Silent since after it came up: a path failure, dropped at once;
        // it comes back through connect-retry.
        assert!(control.path_down(peer, Instant::now()).await);
        let t0 = Instant::now();
        while sessions().await < 2 {
            assert!(t0.elapsed() < Duration::from_secs(15), "no second session");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_for_async(15, "Established again", || bird.established("orbit")).await;
        assert!(
            !control
                .path_down("192.0.2.99".parse().unwrap(), Instant::now())
                .await
        );
    })
}

#[test]
fn graceful_restart_keeps_the_route_across_a_speaker_restart() {
    let lab = Lab::new();
    let bird = Bird::start(
        &lab,
        &bird_protocol(&lab, "graceful restart on; graceful restart time 120;"),
    );
    let cfg = bgp_config(&speaker_config(&lab, ""));
    // First orbitd: its own runtime, dropped to simulate the process dying
    // (sockets closed without a NOTIFICATION).
    {
        lab.run(async {
            let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
                .await
                .expect("start");
            wait_for_async(15, "Established", || bird.established("orbit")).await;
            speaker
                .apply(&steering(1, &[SVC], Role::Active, false))
                .await
                .expect("apply");
            wait_for_async(5, "route", || !bird.route(SVC).is_empty()).await;
            std::mem::forget(speaker);
        });
    }
    // The peer noticed, and keeps the route (stale) instead of withdrawing it.
    wait_for(10, "bird notices the restart", || {
        !bird.established("orbit")
    });
    std::thread::sleep(Duration::from_millis(500));
    let r = bird.route(SVC);
    assert!(
        !r.is_empty(),
        "GR peer dropped the route: {}",
        bird.protocol("orbit")
    );
    // Second orbitd: session comes back; still no steering, the route stays.
    lab.run(async {
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "Established again", || bird.established("orbit")).await;
        // The point: a window in which a withdrawal would show.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!bird.route(SVC).is_empty(), "route lost before End-of-RIB");
        // The steering arrives: re-send everything, then End-of-RIB; the
        // route is fresh again (no stale flag left).
        speaker
            .apply(&steering(2, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "route refreshed", || {
            let r = bird.route(SVC);
            !r.is_empty() && !r.contains("stale")
        })
        .await;
        speaker.shutdown("test done").await;
    });
}

#[test]
fn tcp_md5_right_password_up_wrong_password_down() {
    let lab = Lab::new();
    lab.run(async {
        let bird = Bird::start(&lab, &bird_protocol(&lab, "password \"orbit-secret\";"));
        let good = lab.dir.join("good.pw");
        std::fs::write(&good, "orbit-secret\n").expect("pw");
        let bad = lab.dir.join("bad.pw");
        std::fs::write(&bad, "wrong-secret\n").expect("pw");

        let cfg = bgp_config(&speaker_config(
            &lab,
            &format!("md5_password_file = \"{}\"", bad.display()),
        ));
        let speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        // The point: long enough to come up, were the password right.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!bird.established("orbit"), "came up with a wrong password");
        let peers = speaker.peers().await.expect("peers");
        assert_ne!(peers[0].state, orbit_bgp::fsm::State::Established);
        speaker.shutdown("wrong password test done").await;

        let cfg = bgp_config(&speaker_config(
            &lab,
            &format!("md5_password_file = \"{}\"", good.display()),
        ));
        let speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(20, "MD5 session Established", || bird.established("orbit")).await;
        speaker.shutdown("md5 test done").await;
    })
}

#[test]
fn passive_peer_accepts_birds_connection() {
    let lab = Lab::new();
    lab.run(async {
        // Not 179: the listener honours listen_port.
        let port = 20000 + (lab.idx % 40000) as u16;
        let proto = format!(
            r#"
protocol bgp orbit {{
  local {peer} as 65002;
  neighbor {speaker} port {port} as 65001;
  connect retry time 1;
  ipv4 {{ import all; export none; }};
}}
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        );
        let bird = Bird::start(&lab, &proto);
        let cfg = bgp_config(&speaker_config(&lab, "passive = true").replace(
            "connect_retry",
            &format!("listen = true\nlisten_port = {port}\nconnect_retry"),
        ));
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(20, "bird connects to the passive speaker", || {
            bird.established("orbit")
        })
        .await;
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "route", || !bird.route(SVC).is_empty()).await;
    })
}

#[test]
fn received_routes_are_counted_dropped_and_max_prefix_ceases() {
    let lab = Lab::new();
    lab.run(async {
        let proto = format!(
            r#"
protocol static feed {{
  ipv4;
  route 198.51.100.0/25 blackhole;
  route 198.51.100.128/25 blackhole;
  route 203.0.113.0/25 blackhole;
  route 203.0.113.128/25 blackhole;
}}
protocol bgp orbit {{
  local {peer} as 65002;
  neighbor {speaker} as 65001;
  passive on;
  ipv4 {{ import all; export all; }};
}}
"#,
            peer = lab.v4_peer,
            speaker = lab.v4_speaker
        );
        let bird = Bird::start(&lab, &proto);
        // max_prefixes 3 < 4 routes bird sends: Cease / max prefixes.
        let cfg = bgp_config(&speaker_config(&lab, "max_prefixes = 3"));
        let speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "max-prefix Cease seen by bird", || {
            let p = bird.protocol("orbit");
            p.contains("Maximum number of prefixes reached") || p.contains("prefixes reached")
        })
        .await;
        let peers = speaker.peers().await.expect("peers");
        let err = peers[0].last_error.clone().unwrap_or_default();
        assert!(err.contains("max_prefixes"), "{err}");
        speaker.shutdown("done").await;

        // With room for them: counted, never re-advertised.
        let cfg = bgp_config(&speaker_config(&lab, "max_prefixes = 10"));
        let mut speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(15, "Established", || bird.established("orbit")).await;
        speaker
            .apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("apply");
        wait_for_async(5, "route", || !bird.route(SVC).is_empty()).await;
        let mut peers = Vec::new();
        wait_for_async(5, "4 received prefixes counted", || {
            peers = futures_lite_block(speaker.peers()).expect("peers");
            peers[0].counters.prefixes_received == 4
        })
        .await;
        // Only our one configured prefix goes out.
        assert_eq!(peers[0].adj_rib_out.len(), 1);
        let p = bird.protocol("orbit");
        assert!(p.contains("1 imported"), "{p}");
    })
}

/// Runs a future to completion from a sync closure inside a multi-thread
/// runtime (the closure API of `wait_for_async` is synchronous).
fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Which protocol bird selected as best for `prefix`.
fn best_protocol(bird: &Bird, prefix: &str) -> Option<String> {
    let out = bird.cmd(&["show", "route", "for", prefix])?;
    let line = out.lines().find(|l| l.contains(" * "))?;
    let start = line.find('[')? + 1;
    let end = start + line[start..].find(' ')?;
    Some(line[start..end].to_string())
}

/// The BIRD import filter documented in docs/bgp.md does what it says with
/// two real orbit speakers (sites a and b) announcing the same prefix.
#[test]
fn bird_filters_honour_takeover_and_graceful_shutdown() {
    let lab = Lab::new();
    lab.run(async {
        // Site b speaks from the spare address.
        lab.add_speaker_addr(lab.v4_spare);
        let proto = format!(
            r#"
filter orbit_in {{
  if (65535,0) ~ bgp_community then bgp_local_pref = 0;
  else if (64500,666) ~ bgp_community then bgp_local_pref = 300;
  accept;
}}
protocol bgp sitea {{
  local {peer} as 65002; neighbor {a} as 65001; passive on;
  ipv4 {{ import filter orbit_in; export none; }};
}}
protocol bgp siteb {{
  local {peer} as 65002; neighbor {b} as 65011; passive on;
  ipv4 {{ import filter orbit_in; export none; }};
}}
"#,
            peer = lab.v4_peer,
            a = lab.v4_speaker,
            b = lab.v4_spare
        );
        let bird = Bird::start(&lab, &proto);
        let cfg_a = bgp_config(&speaker_config(&lab, "").replace(
            &format!("next_hop_v4 = \"{}\"", lab.v4_spare),
            &format!("next_hop_v4 = \"{}\"", lab.v4_speaker),
        ));
        let cfg_b = bgp_config(
            &speaker_config(&lab, &format!("local_address = \"{}\"", lab.v4_spare))
                .replace("asn = 65001", "asn = 65011")
                .replace("router_id = \"192.0.2.1\"", "router_id = \"192.0.2.2\""),
        );
        let mut a = Speaker::start(&cfg_a, &services(&[SVC])).await.expect("a");
        let mut b = Speaker::start(&cfg_b, &services(&[SVC])).await.expect("b");
        wait_for_async(15, "both sites Established", || {
            bird.established("sitea") && bird.established("siteb")
        })
        .await;

        // a active, b pre-announced standby: a wins.
        a.apply(&steering(1, &[SVC], Role::Active, false))
            .await
            .expect("a");
        b.apply(&steering(1, &[SVC], Role::Standby, false))
            .await
            .expect("b");
        wait_for_async(5, "a preferred", || {
            best_protocol(&bird, SVC).as_deref() == Some("sitea")
                && bird.route(SVC).contains("siteb")
        })
        .await;

        // Planned switchover: a drains (65535:0) -> b wins before a withdraws.
        a.apply(&steering(2, &[SVC], Role::Draining, false))
            .await
            .expect("a");
        wait_for_async(5, "b preferred while a drains", || {
            best_protocol(&bird, SVC).as_deref() == Some("siteb")
        })
        .await;

        // Failover while a's active route is still held upstream: b announces
        // active with the takeover community and wins at once.
        a.apply(&steering(3, &[SVC], Role::Active, false))
            .await
            .expect("a");
        wait_for_async(5, "a back", || {
            best_protocol(&bird, SVC).as_deref() == Some("sitea")
        })
        .await;
        b.apply(&steering(2, &[SVC], Role::Active, true))
            .await
            .expect("b");
        wait_for_async(5, "b preferred by takeover", || {
            best_protocol(&bird, SVC).as_deref() == Some("siteb")
        })
        .await;
        let r = bird.route(SVC);
        assert!(r.contains("BGP.local_pref: 300"), "{r}");
    })
}

/// RFC 5082 GTSM: with bird's `ttl security on`, only a speaker sending
/// with TTL 255 gets a session. (Positive case first: a speaker without
/// GTSM leaves bird with a half-open connection whose TTL-64 packets,
/// including our FIN, bird drops until its OpenSent hold timer expires.)
#[test]
fn gtsm_with_bird() {
    let lab = Lab::new();
    lab.run(async {
        let bird = Bird::start(&lab, &bird_protocol(&lab, "ttl security on;"));
        let cfg = bgp_config(&speaker_config(&lab, "ttl_security = true"));
        let speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        wait_for_async(20, "GTSM session Established", || bird.established("orbit")).await;
        speaker.shutdown("gtsm done").await;
        wait_for_async(10, "session closed", || !bird.established("orbit")).await;

        let cfg = bgp_config(&speaker_config(&lab, ""));
        let speaker = Speaker::start(&cfg, &services(&[SVC]))
            .await
            .expect("start");
        // The point: long enough to come up, were GTSM on.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            !bird.established("orbit"),
            "came up without GTSM against a GTSM peer"
        );
        // Our own side may briefly believe it is Established: if our OPEN
        // reaches bird before bird sets IP_MINTTL on the accepted socket, bird
        // answers, but drops our KEEPALIVE; our hold timer then ends it. The
        // GTSM peer's view is what the test is about.
        speaker.shutdown("no gtsm done").await;
    })
}
