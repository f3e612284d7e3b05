//! A takeover (the local site carries a service while its other site is
//! declared dead) holds the dead site's servers in maint with their sessions
//! shut, in the same apply as the map; orbit later puts back exactly the
//! servers it forced. Real haproxy, as in `real_haproxy.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use orbit_core::Redirector;
use orbit_haproxy::Runtime;

/// `srv_admin_state` bits of a forced maint and a forced drain.
const MAINT: u32 = 0x01;
const DRAIN: u32 = 0x08;

async fn admin(lab: &Lab, backend: &str, server: &str) -> u32 {
    let state = lab.cli("show servers state").await;
    server_admin_state(&state, backend, Some(server))
}

#[tokio::test]
async fn the_dead_sites_servers_go_to_maint_with_their_sessions_shut_in_the_same_apply() {
    let lab = Lab::start(LabOptions::tcp()).await;
    // Neither `drain` nor `shutdown_sessions`: a dead site's servers are
    // handled whatever they say.
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let mut old = lab.session("a").await;

    // Site a is declared dead; b's orbitd takes the service over.
    let applied = rt.apply(&lab.carried_by(1, "b", true)).await.unwrap();

    assert_ne!(admin(&lab, "be_site_a", "a1").await & MAINT, 0);
    assert_eq!(admin(&lab, "be_site_b", "b1").await & MAINT, 0);
    assert_eq!(
        line(&mut old).await,
        None,
        "the session on the dead site survived the apply"
    );
    assert!(
        applied.detail.contains("be_site_a/a1") && applied.detail.contains("maint"),
        "{applied:?}"
    );
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");
    let mut new = lab.session("b").await;
    assert_eq!(rt.stats().servers_forced_maint, 1);

    // Idempotent: the same steering again sends nothing, and the new
    // site's session is untouched.
    let again = rt.apply(&lab.carried_by(2, "b", true)).await.unwrap();
    assert_eq!(again.changes, 0, "{again:?}");
    assert_eq!(line(&mut new).await.as_deref(), Some("b"));
}

#[tokio::test]
async fn servers_orbit_put_in_maint_go_back_to_ready_and_an_operators_stay_in_maint() {
    let lab = Lab::start(LabOptions {
        servers_per_site: 3,
        ..LabOptions::default()
    })
    .await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    // The operator took a2 out for maintenance and drained a3 before
    // anything happened.
    for (server, state) in [("a2", "maint"), ("a3", "drain")] {
        let r = lab
            .cli(&format!("set server be_site_a/{server} state {state}"))
            .await;
        assert_eq!(r.trim(), "", "{r}");
    }

    rt.apply(&lab.carried_by(1, "b", true)).await.unwrap();
    for server in ["a1", "a2", "a3"] {
        assert_ne!(
            admin(&lab, "be_site_a", server).await & MAINT,
            0,
            "{server}"
        );
    }

    // Site a is no longer declared dead (b still carries the service).
    let applied = rt.apply(&lab.carried_by(2, "b", false)).await.unwrap();
    assert_eq!(
        admin(&lab, "be_site_a", "a1").await & MAINT,
        0,
        "a1 stayed in maint"
    );
    assert_ne!(
        admin(&lab, "be_site_a", "a2").await & MAINT,
        0,
        "orbit readied the operator's server"
    );
    assert!(
        applied.detail.contains("out of orbit's maint") && applied.detail.contains("be_site_a/a1"),
        "{applied:?}"
    );
    assert!(!applied.detail.contains("a2"), "{applied:?}");
    // a3 goes back to the drain it was in, not to ready.
    assert_eq!(
        admin(&lab, "be_site_a", "a3").await & (MAINT | DRAIN),
        DRAIN
    );
    assert_eq!(rt.stats().servers_restored, 2);

    // Failback to a: served by a1, a2 still the operator's.
    rt.apply(&lab.steering(3, Some("a"))).await.unwrap();
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");
    assert_ne!(admin(&lab, "be_site_a", "a2").await & MAINT, 0);
    lab.some_requests().await;
}

#[tokio::test]
async fn what_orbit_put_in_maint_is_put_back_after_an_orbitd_restart() {
    let lab = Lab::start(LabOptions {
        servers_per_site: 2,
        ..LabOptions::default()
    })
    .await;
    lab.cli("set server be_site_a/a2 state maint").await;
    let mut before_restart = Runtime::start(&lab.config()).await.unwrap();
    before_restart
        .apply(&lab.carried_by(1, "b", true))
        .await
        .unwrap();
    assert_ne!(admin(&lab, "be_site_a", "a1").await & MAINT, 0);
    drop(before_restart);

    // A new orbitd process: nothing in memory, the same config.
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    rt.apply(&lab.carried_by(2, "b", false)).await.unwrap();
    assert_eq!(admin(&lab, "be_site_a", "a1").await & MAINT, 0);
    assert_ne!(admin(&lab, "be_site_a", "a2").await & MAINT, 0);
}

#[tokio::test]
async fn a_takeover_by_the_other_site_readies_what_the_first_orbitd_left_in_maint() {
    let lab = Lab::start(LabOptions::default()).await;
    // b's orbitd takes over from a dead a, then b dies before it could put
    // a's servers back.
    let mut at_b = Runtime::start(&lab.config()).await.unwrap();
    at_b.apply(&lab.carried_by(1, "b", true)).await.unwrap();
    assert_ne!(admin(&lab, "be_site_a", "a1").await & MAINT, 0);
    drop(at_b);

    // a's orbitd points the map back at a: never at servers in orbit's maint.
    let mut at_a = Runtime::start(&lab.config()).await.unwrap();
    let applied = at_a.apply(&lab.carried_by(2, "a", true)).await.unwrap();
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");
    assert_eq!(
        admin(&lab, "be_site_a", "a1").await & MAINT,
        0,
        "{applied:?}"
    );
    assert_ne!(
        admin(&lab, "be_site_b", "b1").await & MAINT,
        0,
        "{applied:?}"
    );
    let load = lab.some_requests().await;
    assert!(load.bodies.lock().unwrap().iter().all(|(_, b)| b == "a"));
}

#[tokio::test]
async fn a_failed_maint_is_one_error_the_map_stays_moved_and_the_next_apply_finishes() {
    let lab = Lab::start(LabOptions::tcp()).await;
    let mut old = lab.session("a").await;
    let proxy = FaultProxy::start(
        (lab_ip(), lab.tcp_cli_port).into(),
        Fault::GarbleReplyTo("set server"),
    )
    .await;
    let mut cfg = lab.config();
    cfg.socket = format!("tcp:{}", proxy.addr);
    let mut rt = Runtime::start(&cfg).await.unwrap();

    let e = rt
        .apply(&lab.carried_by(1, "b", true))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the map is in force") && e.contains("be_site_a") && e.contains("set server"),
        "{e}"
    );
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");

    // Through a healthy path the retry finishes the job: the session on a
    // is shut even though a1 already went to maint.
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let applied = rt.apply(&lab.carried_by(2, "b", true)).await;
    assert_ne!(
        admin(&lab, "be_site_a", "a1").await & MAINT,
        0,
        "{applied:?}"
    );
    assert_eq!(line(&mut old).await, None, "{applied:?}");
}

#[tokio::test]
async fn idle_server_connections_to_the_dead_site_are_closed_by_the_apply() {
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    // The keep-alive client is gone; HAProxy keeps its server connection
    // to a1 idle for reuse.
    lab.some_requests().await;
    let open_at_a = || lab.site_a.open.load(Ordering::SeqCst);
    assert_eq!(open_at_a(), 1);

    rt.apply(&lab.carried_by(1, "b", true)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_at_a() > 0 {
        assert!(
            Instant::now() < deadline,
            "HAProxy kept its idle connection to the dead site's server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_request_hanging_on_the_dead_site_ends_with_the_apply_not_at_timeout_server() {
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    // Site a goes dark mid-request: the request reached a1 and no answer
    // will ever come (HAProxy's `timeout server` is 30 s here).
    lab.site_a.mute.store(true, Ordering::SeqCst);
    let mut c = tokio::net::TcpStream::connect(lab.frontend).await.unwrap();
    let request = tokio::spawn(async move { http_get(&mut c, 7).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lab.site_a.seen().contains(&7) {
        assert!(Instant::now() < deadline, "the request never reached a1");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    rt.apply(&lab.carried_by(1, "b", true)).await.unwrap();
    // http_get gives up after 5 s: long before HAProxy's own timeout, long
    // after the apply.
    let ended = request.await.unwrap();
    assert_ne!(ended, Err("timeout".to_owned()), "still hanging on a1");
    assert!(!matches!(ended, Ok((200, _))), "{ended:?}");
    // The client's next request goes to b.
    let load = lab.some_requests().await;
    assert!(load.bodies.lock().unwrap().iter().all(|(_, b)| b == "b"));
}
