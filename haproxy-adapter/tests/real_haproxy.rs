//! The HAProxy backend against a real `haproxy` (2.6) started by each test
//! in its own temp dir, with its own ports and sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use orbit_core::{RedirectError, Redirector};
use orbit_haproxy::{Error, Runtime};

/// Logs at `RUST_LOG` ("debug", "orbit_haproxy=trace"; errors only when
/// unset) in the test's output.
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::ERROR)
        });
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .with(targets)
        .try_init();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_under_keep_alive_load_loses_nothing_and_old_site_gets_nothing_after() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();

    let load = LoadClient::start(lab.frontend, Duration::ZERO);
    load.wait_ok(200).await;
    assert!(
        lab.site_b.seen().is_empty(),
        "site b got traffic before the switch"
    );

    let applied = rt.apply(&lab.steering(2, Some("b"))).await.unwrap();
    // Every request numbered from here on was sent after apply returned.
    let first_after = load.next_seq.load(Ordering::SeqCst);
    assert_eq!(applied.generation, 2);
    assert!(applied.changes >= 1, "{applied:?}");

    let done = load.ok.load(Ordering::SeqCst);
    load.wait_ok(done + 200).await;
    let load = load.stop().await;

    assert_eq!(load.failed(), Vec::<String>::new(), "failed requests");
    let late_at_a: Vec<u64> = lab
        .site_a
        .seen()
        .into_iter()
        .filter(|s| *s >= first_after)
        .collect();
    assert!(
        late_at_a.is_empty(),
        "site a got requests sent after apply returned: {late_at_a:?}"
    );
    assert!(lab.site_b.seen().iter().any(|s| *s >= first_after));
    let bodies = load.bodies.lock().unwrap().clone();
    assert!(bodies
        .iter()
        .filter(|(s, _)| *s >= first_after)
        .all(|(_, b)| b == "b"));

    // Runtime map, file and observe all say b.
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");
    assert!(
        lab.file().contains(&format!("{HOST} be_site_b")),
        "{}",
        lab.file()
    );
    let observed = rt.observe().await.unwrap();
    assert_eq!(observed.services[&service("web")], Some(site("b")));

    // Idempotent: the same steering again changes nothing.
    let again = rt.apply(&lab.steering(3, Some("b"))).await.unwrap();
    assert_eq!(again.changes, 0, "{again:?}");
}

#[tokio::test]
async fn reload_keeps_the_new_steering() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    rt.apply(&lab.steering(1, Some("b"))).await.unwrap();
    let before = lab.worker_pid().await;

    lab.reload().await;
    let after = lab.worker_pid().await;
    assert_ne!(after, before);

    // The new worker loaded the persisted file.
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");
    let load = lab.some_requests().await;
    assert!(load.bodies.lock().unwrap().iter().all(|(_, b)| b == "b"));

    // The backend follows the new process and finds nothing to fix.
    let observed = rt.observe().await.unwrap();
    assert_eq!(observed.services[&service("web")], Some(site("b")));
    assert_eq!(
        rt.client().info().map(|i| i.pid),
        after,
        "still talking to the old worker"
    );

    // And a switch after the reload reaches the new worker.
    let steering = lab.steering(2, Some("a"));
    rt.apply(&steering).await.unwrap();
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");
    let r = rt.reconcile(&steering).await.unwrap();
    assert_eq!(r.changes, 0, "{r:?}");
}

#[tokio::test]
async fn killed_haproxy_restarted_with_a_stale_file_is_reported_then_reconciled() {
    init_tracing();
    let mut lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let steering = lab.steering(1, Some("b"));
    rt.apply(&steering).await.unwrap();

    lab.kill();
    // The file is lost or restored from an old backup while haproxy is down.
    std::fs::write(&lab.map_path, format!("{HOST} be_site_a\n")).unwrap();
    lab.restart().await;
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");

    // Observing the new process reports the stale map and writes nothing:
    // the drift is orbitd's runner to see, report and repair.
    let observed = rt.observe().await.unwrap();
    assert_eq!(observed.services[&service("web")], Some(site("a")));
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");
    let drift = observed.drift(&steering);
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].to_string(), "web found at a, steering says b");

    let fixed = rt.reconcile(&steering).await.unwrap();
    assert!(fixed.changes >= 1, "{fixed:?}");
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");
    assert_eq!(rt.stats().drift_fixed, 1);
    assert!(
        lab.file().contains(&format!("{HOST} be_site_b")),
        "{}",
        lab.file()
    );
}

#[tokio::test]
async fn runtime_drift_is_reconciled() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let steering = lab.steering(1, Some("b"));
    rt.apply(&steering).await.unwrap();

    // Someone changes the runtime map behind orbit's back.
    let r = lab
        .cli(&format!(
            "set map {} {HOST} be_site_a",
            lab.map_path.display()
        ))
        .await;
    assert_eq!(r.trim(), "", "{r}");
    let observed = rt.observe().await.unwrap();
    assert_eq!(
        observed.services[&service("web")],
        Some(site("a")),
        "observe reports what haproxy applies"
    );
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a", "observe wrote");
    let fixed = rt.reconcile(&steering).await.unwrap();
    assert_eq!(fixed.changes, 1, "{fixed:?}");
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");

    // The file alone drifts (restored from a backup): rewritten, runtime untouched.
    std::fs::write(&lab.map_path, format!("{HOST} be_site_a\n")).unwrap();
    let versions_before = lab.cli("show map").await;
    let fixed = rt.reconcile(&steering).await.unwrap();
    assert_eq!(fixed.changes, 1, "{fixed:?}");
    assert!(
        lab.file().contains(&format!("{HOST} be_site_b")),
        "{}",
        lab.file()
    );
    assert_eq!(
        lab.cli("show map").await,
        versions_before,
        "runtime map was replaced needlessly"
    );
    let stats = rt.stats();
    assert_eq!((stats.drift_fixed, stats.failed), (2, 0), "{stats:?}");
}

#[tokio::test]
async fn the_runtime_map_moves_before_the_file_and_an_unwritable_file_is_named_and_rewritten_later()
{
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let file_before = lab.file();
    // The map file cannot be replaced: a directory stands where its
    // temporary file goes.
    let name = lab.map_path.file_name().unwrap().to_string_lossy();
    let blocker = lab
        .map_path
        .with_file_name(format!(".{name}.orbit-{}.tmp", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();

    let steering = lab.steering(1, Some("b"));
    let e = rt.apply(&steering).await.unwrap_err().to_string();
    assert!(
        e.contains("runtime map is in force") && e.contains(&name.to_string()),
        "{e}"
    );
    assert_eq!(
        lab.runtime_map().await[HOST],
        "be_site_b",
        "the traffic moved without waiting for the disk"
    );
    assert_eq!(lab.file(), file_before, "the file stays whole");

    // Once the file can be written, the next apply writes it alone.
    std::fs::remove_dir(&blocker).unwrap();
    let versions_before = lab.cli("show map").await;
    let r = rt.apply(&steering).await.unwrap();
    assert_eq!(r.changes, 1, "{r:?}");
    assert!(r.detail.contains("file rewritten"), "{r:?}");
    assert!(
        lab.file().contains(&format!("{HOST} be_site_b")),
        "{}",
        lab.file()
    );
    assert_eq!(lab.cli("show map").await, versions_before);
}

#[tokio::test]
async fn fenced_or_observer_steering_writes_nothing() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let file_before = lab.file();

    let mut s = lab.steering(1, Some("b"));
    s.fenced = true;
    let r = rt.apply(&s).await.unwrap();
    assert_eq!(r.changes, 0);
    assert!(r.detail.contains("fenced"), "{r:?}");
    let mut s = lab.steering(2, Some("b"));
    s.observe_only = true;
    rt.apply(&s).await.unwrap();

    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");
    assert_eq!(lab.file(), file_before);
    // A reconcile of such a steering is held back by the same gate.
    let r = rt.reconcile(&s).await.unwrap();
    assert_eq!(r.changes, 0);
    assert_eq!(lab.runtime_map().await[HOST], "be_site_a");
    assert_eq!(rt.stats().skipped, 3);
    assert_eq!(rt.stats().synced, 0);
}

#[tokio::test]
async fn no_site_uses_the_configured_backend_or_removes_the_key() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut cfg = lab.config();
    cfg.no_site_backend = Some("be_none".to_owned());
    let mut rt = Runtime::start(&cfg).await.unwrap();
    rt.apply(&lab.steering(1, None)).await.unwrap();
    assert_eq!(lab.runtime_map().await[HOST], "be_none");
    let load = LoadClient::start(lab.frontend, Duration::ZERO);
    // Load for a moment: its requests are what is checked.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let load = load.stop().await;
    assert!(
        load.failed().iter().all(|f| f.contains("status 503")),
        "{:?}",
        load.failed()
    );
    assert_eq!(rt.observe().await.unwrap().services[&service("web")], None);

    // Without a no-site backend the key goes away.
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    rt.apply(&lab.steering(2, None)).await.unwrap();
    assert!(lab.runtime_map().await.is_empty());
    assert!(!lab.file().contains(HOST), "{}", lab.file());
    assert_eq!(rt.observe().await.unwrap().services[&service("web")], None);
}

#[tokio::test]
async fn many_services_are_replaced_in_several_payloads_over_tcp() {
    init_tracing();
    let lab = Lab::start(LabOptions {
        extra_services: 3000,
        ..LabOptions::default()
    })
    .await;
    let mut cfg = lab.config();
    cfg.socket = format!("tcp:{}:{}", lab_ip(), lab.tcp_cli_port);
    let mut rt = Runtime::start(&cfg).await.unwrap();
    let r = rt.apply(&lab.steering(1, Some("b"))).await.unwrap();
    assert_eq!(r.changes, 3001 + 1, "{r:?}");
    let map = lab.runtime_map().await;
    assert_eq!(map.len(), 3001);
    assert!(map.values().all(|v| v == "be_site_b"));
    let observed = rt.observe().await.unwrap();
    assert!(observed.services.values().all(|s| s == &Some(site("b"))));
}

// ---- bad input: a clear error naming the thing, the previous map in force --

async fn assert_unchanged(lab: &Lab, file_before: &str) {
    assert_eq!(
        lab.runtime_map().await[HOST],
        "be_site_a",
        "runtime map changed"
    );
    assert_eq!(lab.file(), file_before, "map file changed");
    let maps = lab.cli("show map").await;
    assert!(
        maps.contains("curr_ver=0"),
        "a version was committed: {maps}"
    );
}

#[tokio::test]
async fn unknown_backend_is_refused_before_anything_is_written() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let file_before = lab.file();
    let mut cfg = lab.config();
    cfg.backends
        .get_mut(&service("web"))
        .unwrap()
        .insert(site("b"), "be_site_typo".to_owned());

    let e = Runtime::start(&cfg).await.unwrap_err();
    assert!(matches!(e, Error::UnknownBackend { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("be_site_typo") && msg.contains("\"web\"") && msg.contains("\"b\""),
        "{msg}"
    );

    let mut rt = Runtime::new(&cfg).unwrap();
    let e = rt.apply(&lab.steering(1, Some("b"))).await.unwrap_err();
    assert!(
        matches!(e, RedirectError::Config(ref m) if m.contains("be_site_typo")),
        "{e:?}"
    );
    assert_eq!(rt.stats().failed, 1);
    assert_unchanged(&lab, &file_before).await;
}

#[tokio::test]
async fn unknown_map_is_named_with_the_maps_haproxy_has() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut cfg = lab.config();
    cfg.map = lab.dir.path().join("other.map");
    let e = Runtime::start(&cfg).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::UnknownMap { .. }), "{e:?}");
    assert!(
        msg.contains("other.map") && msg.contains(&lab.map_path.display().to_string()),
        "{msg}"
    );
    assert!(
        !cfg.map.exists(),
        "nothing may be written for an unknown map"
    );
}

#[tokio::test]
async fn lower_level_socket_is_refused_when_sessions_are_handled() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut cfg = lab.config();
    cfg.socket = lab.user_sock.display().to_string();
    cfg.shutdown_sessions = true;
    let e = Runtime::start(&cfg).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    assert!(e.to_string().contains("level admin"), "{e}");
}

#[tokio::test]
async fn unreachable_socket_is_named() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let file_before = lab.file();
    let mut cfg = lab.config();
    cfg.socket = dead_socket(lab.dir.path()).display().to_string();
    let e = Runtime::start(&cfg).await.unwrap_err();
    assert!(e.to_string().contains("nobody-here.sock"), "{e}");
    let mut rt = Runtime::new(&cfg).unwrap();
    let e = rt.apply(&lab.steering(1, Some("b"))).await.unwrap_err();
    assert!(matches!(e, RedirectError::Unreachable { .. }), "{e:?}");
    assert_unchanged(&lab, &file_before).await;
}

#[tokio::test]
async fn connection_lost_before_commit_leaves_the_old_map_in_force() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let file_before = lab.file();
    let proxy = FaultProxy::start(
        (lab_ip(), lab.tcp_cli_port).into(),
        Fault::CutBefore("commit map"),
    )
    .await;
    let mut cfg = lab.config();
    cfg.socket = format!("tcp:{}", proxy.addr);
    let mut rt = Runtime::start(&cfg).await.unwrap();
    let e = rt.apply(&lab.steering(1, Some("b"))).await.unwrap_err();
    assert!(e.to_string().contains("commit map"), "{e}");
    assert_unchanged(&lab, &file_before).await;

    // Through a healthy path, the same steering applies.
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    rt.apply(&lab.steering(2, Some("b"))).await.unwrap();
    assert_eq!(lab.runtime_map().await[HOST], "be_site_b");
}

#[tokio::test]
async fn garbled_reply_is_an_error_quoting_it_and_nothing_is_half_applied() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let file_before = lab.file();
    for command in ["prepare map", "add map", "show backend"] {
        let proxy = FaultProxy::start(
            (lab_ip(), lab.tcp_cli_port).into(),
            Fault::GarbleReplyTo(command),
        )
        .await;
        let mut cfg = lab.config();
        cfg.socket = format!("tcp:{}", proxy.addr);
        let mut rt = Runtime::new(&cfg).unwrap();
        let e = rt.apply(&lab.steering(1, Some("b"))).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(command) && msg.contains("502 Bad Gateway"),
            "{msg}"
        );
        assert_unchanged(&lab, &file_before).await;
    }
}

#[tokio::test]
async fn too_old_haproxy_is_refused() {
    init_tracing();
    // A fake runtime API that claims to be HAProxy 2.2 (no prepare/commit map).
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("old.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut c, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 1024];
        let mut got = String::new();
        loop {
            let n = c.read(&mut buf).await.unwrap();
            if n == 0 {
                return got;
            }
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            got.push_str(&text);
            let reply: &[u8] = if text.starts_with("prompt") {
                b"\n> "
            } else if text.starts_with("show info") {
                b"Name: HAProxy\nVersion: 2.2.33\nPid: 42\n\n> "
            } else {
                b"Unknown command.\n\n> "
            };
            c.write_all(reply).await.unwrap();
        }
    });
    let lab_cfg = {
        let mut m = std::collections::BTreeMap::new();
        m.insert(site("a"), "be_site_a".to_owned());
        orbit_haproxy::Config {
            socket: sock.display().to_string(),
            map: dir.path().join("orbit.map"),
            timeout: orbit_core::config::HumanDuration::from_secs(2),
            shutdown_sessions: false,
            drain: false,
            no_site_backend: None,
            backends: [(service("web"), m)].into(),
            keys: Default::default(),
        }
    };
    let e = Runtime::start(&lab_cfg).await.unwrap_err();
    assert!(matches!(e, Error::TooOld { .. }), "{e:?}");
    assert!(
        e.to_string().contains("2.2.33") && e.to_string().contains("2.4"),
        "{e}"
    );
    let got = server.await.unwrap();
    assert!(
        !got.contains("map"),
        "a map command reached the old haproxy: {got}"
    );
}

// ---- TCP services: long-lived connections ----------------------------------

#[tokio::test]
async fn tcp_sessions_stay_on_the_old_site_unless_shut_down() {
    init_tracing();
    let lab = Lab::start(LabOptions::tcp()).await;

    // Without shutdown_sessions an established connection keeps its site.
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let mut old = lab.session("a").await;
    rt.apply(&lab.steering(1, Some("b"))).await.unwrap();
    assert_eq!(line(&mut old).await.as_deref(), Some("a"));
    let mut new = lab.session("b").await;

    // With it, moving back closes the sessions on the old site (b) so that
    // clients reconnect to the new one (a).
    let mut cfg = lab.config();
    cfg.shutdown_sessions = true;
    let mut rt = Runtime::start(&cfg).await.unwrap();
    let r = rt.apply(&lab.steering(2, Some("a"))).await.unwrap();
    assert!(r.detail.contains("sessions shut down"), "{r:?}");
    assert_eq!(
        line(&mut new).await,
        None,
        "session on the old site survived"
    );
    lab.session("a").await;
    // The first connection was on a, the new site: untouched.
    assert_eq!(line(&mut old).await.as_deref(), Some("a"));
}

#[tokio::test]
async fn drain_puts_the_old_sites_servers_in_drain_and_failback_readies_them() {
    init_tracing();
    let lab = Lab::start(LabOptions::default()).await;
    let mut cfg = lab.config();
    cfg.drain = true;
    let mut rt = Runtime::start(&cfg).await.unwrap();

    rt.apply(&lab.steering(1, Some("b"))).await.unwrap();
    let state = lab.cli("show servers state").await;
    assert_ne!(admin_state(&state, "be_site_a") & 0x08, 0, "{state}");
    assert_eq!(admin_state(&state, "be_site_b") & 0x08, 0, "{state}");

    rt.apply(&lab.steering(2, Some("a"))).await.unwrap();
    let state = lab.cli("show servers state").await;
    assert_eq!(admin_state(&state, "be_site_a") & 0x08, 0, "{state}");
    assert_ne!(admin_state(&state, "be_site_b") & 0x08, 0, "{state}");
}

#[tokio::test]
async fn permission_denied_on_the_socket_file_is_named() {
    init_tracing();
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::start(LabOptions::default()).await;
    // The directory is open to all; the socket itself is `mode 600`, root's.
    std::fs::set_permissions(lab.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let check = env!("CARGO_BIN_EXE_orbit-haproxy-check");
    let sock = lab.admin_sock.display().to_string();

    let as_root = std::process::Command::new(check)
        .arg(&sock)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&as_root.stdout);
    assert!(
        as_root.status.success() && out.contains("haproxy 2."),
        "{out}"
    );

    let as_nobody = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            check,
            &sock,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&as_nobody.stderr);
    assert_eq!(as_nobody.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&sock)
            && err.contains("Permission denied")
            && err.contains("mode/owner/group"),
        "{err}"
    );
}
