//! End to end: orbitd with the hook backend in a temp dir, driven by
//! orbitctl, checked through what the hook received, the journal, /metrics,
//! exit codes, a restart and SIGTERM.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orbit_tests::orbitd::{fed_config, http};
use serde_json::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("orbit-e2e-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running orbitd, killed if the test panics.
struct Orbitd {
    child: Option<Child>,
}

impl Orbitd {
    fn start(config: &Path, socket: &Path) -> Orbitd {
        let child = Command::new(env!("CARGO_BIN_EXE_orbitd"))
            .arg("--config")
            .arg(config)
            .env("ORBIT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start orbitd");
        let me = Orbitd { child: Some(child) };
        wait_for(|| UnixStream::connect(socket).is_ok(), "the API socket");
        me
    }

    fn signal(&self, sig: i32) {
        let pid = self.child.as_ref().unwrap().id();
        // kill(1) keeps the test free of unsafe code.
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> i32 {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().expect("exit code");
            }
            assert!(
                Instant::now() < deadline,
                "orbitd did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Orbitd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn orbitctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    orbit_tests::orbitd::orbitctl(env!("CARGO_BIN_EXE_orbitd"), socket, args)
}

fn write_config(dir: &Path, extra_node: &str, hook: &str) -> PathBuf {
    let text = format!(
        r#"{head}
[policy]
sync_timeout = "200ms"
failback_after = "10m"
drain_grace = "300ms"
shutdown_grace = "4s"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32", "2001:db8:100::10/128"]
sites = ["a", "b"]

[[service]]
id = "db"
prefixes = ["198.51.100.20/32"]
sites = ["b", "a"]

[hook]
command = ["/bin/sh", "-c", {hook:?}]
timeout = "5s"
"#,
        head = fed_config(dir, extra_node)
    );
    let path = dir.join("orbit.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every steering the hook received, in order.
fn hook_calls(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("hook.log")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("hook got JSON"))
        .collect()
}

fn last_hook(dir: &Path) -> Value {
    hook_calls(dir).pop().expect("the hook was called")
}

fn placement(steering: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = steering["services"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v["active"].as_str().unwrap_or("-").to_owned(),
                v["local_role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn p(svc: &str, active: &str, role: &str) -> (String, String, String) {
    (svc.to_owned(), active.to_owned(), role.to_owned())
}

/// The local detector's view: b and w are reachable (fed in as an external
/// detector would).
fn feed_peers_alive(socket: &Path) {
    let events = r#"[{"type":"verdict","observer":"a","subject":"b","liveness":"alive"},
                     {"type":"verdict","observer":"a","subject":"w","liveness":"alive"}]"#;
    let (status, body) = http(socket, "POST", "/v1/events", events);
    assert_eq!(status, 202, "{body}");
}

fn wait_for_hook(dir: &Path, want: &[(String, String, String)]) {
    wait_for(
        || hook_calls(dir).last().is_some_and(|h| placement(h) == want),
        &format!("the hook to receive {want:?}"),
    );
}

#[test]
fn operator_commands_reach_the_hook_journal_and_metrics_and_survive_a_restart() {
    let tmp = TempDir::new("hook");
    let dir = &tmp.0;
    // The hook fails twice (exit 3, "boom" on stderr), then records what it gets.
    let hook = format!(
        "n=$(cat {d}/count 2>/dev/null || echo 0); echo $((n+1)) > {d}/count; \
         if [ $n -lt 2 ]; then echo boom >&2; exit 3; fi; cat >> {d}/hook.log; echo >> {d}/hook.log",
        d = dir.display()
    );
    let config = write_config(dir, "", &hook);
    let socket = dir.join("api.sock");
    let daemon = Orbitd::start(&config, &socket);
    let mode = std::fs::metadata(&socket).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600, "API socket mode");

    feed_peers_alive(&socket);
    wait_for_hook(dir, &[p("db", "b", "standby"), p("web", "a", "active")]);
    let calls = hook_calls(dir);
    assert_eq!(calls.last().unwrap()["local_site"], "a");
    assert_eq!(
        calls.last().unwrap()["services"]["web"]["prefixes"][1],
        "2001:db8:100::10/128"
    );

    // The two failures were retried, reported and journaled.
    let (_, journal, _) = orbitctl(&socket, &["--json", "journal", "--limit", "1000"]);
    let failures = journal
        .lines()
        .filter(|l| l.contains("\"kind\":\"backend\"") && l.contains("\"ok\":false"))
        .count();
    assert!(
        failures >= 2,
        "expected the failed hook runs in the journal:\n{journal}"
    );
    assert!(journal.contains("boom"), "{journal}");

    // switchover: web moves to b; a drains it first (make before break).
    let (code, out, err) = orbitctl(&socket, &["switchover", "--service", "web", "--to", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("operator switchover to site b") && out.contains("web: a -> b"),
        "{out}"
    );
    wait_for_hook(dir, &[p("db", "b", "standby"), p("web", "b", "draining")]);
    wait_for_hook(dir, &[p("db", "b", "standby"), p("web", "b", "standby")]);

    // pin db to a, unpin (stays), failback web.
    let (code, out, err) = orbitctl(&socket, &["pin", "--service", "db", "--to", "a"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for_hook(dir, &[p("db", "a", "active"), p("web", "b", "standby")]);
    let (code, _, err) = orbitctl(&socket, &["unpin", "--service", "db"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = orbitctl(&socket, &["failback", "a"]);
    assert_eq!(code, 0, "{err}");
    wait_for_hook(dir, &[p("db", "a", "active"), p("web", "a", "active")]);

    // drain b: nothing b carries now; a keeps both. Then pin db to a for the restart.
    let (code, _, err) = orbitctl(&socket, &["drain", "b"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = orbitctl(&socket, &["pin", "--service", "db", "--to", "a"]);
    assert_eq!(code, 0, "{err}");

    // Bad requests: clear message, documented code, nothing applied.
    let before = hook_calls(dir).len();
    let (code, _, err) = orbitctl(&socket, &["switchover", "--service", "nope", "--to", "b"]);
    assert_eq!(
        (code, err.trim()),
        (1, "orbitctl: unknown service \"nope\"")
    );
    let (code, _, err) = orbitctl(&socket, &["switchover", "--service", "web", "--to", "zz"]);
    assert_eq!((code, err.trim()), (1, "orbitctl: unknown site \"zz\""));
    let (code, _, err) = orbitctl(&socket, &["switchover", "--service", "web", "--to", "b"]);
    assert_eq!(code, 1);
    assert!(err.contains("site b is drained"), "{err}");
    let (status, body) = http(&socket, "POST", "/v1/switchover", "{\"to\": ");
    assert_eq!(status, 400);
    assert!(body.contains("malformed request body"), "{body}");
    let (status, body) = http(
        &socket,
        "POST",
        "/v1/pin",
        r#"{"service":"web","site":"b","extra":1}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(&socket, "GET", "/v1/nothing", "");
    assert_eq!(status, 404);
    let (status, _) = http(&socket, "PUT", "/v1/status", "");
    assert_eq!(status, 405);
    let (status, body) = http(
        &socket,
        "POST",
        "/v1/events",
        r#"[{"type":"verdict","observer":"q","subject":"a","liveness":"dead"}]"#,
    );
    assert_eq!(status, 404, "{body}");
    // The point: time for a wrongly applied event to reach the hook.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        hook_calls(dir).len(),
        before,
        "a refused request must apply nothing"
    );

    // status, journal and metrics tell the story.
    let (code, status, _) = orbitctl(&socket, &["--json", "status"]);
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["engine"]["services"]["db"]["id"], "db");
    assert_eq!(status["engine"]["services"]["db"]["pinned"], "a");
    assert_eq!(status["backends"]["hook"]["kind"], "hook");
    let (_, table, _) = orbitctl(&socket, &["status"]);
    let db: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("db "))
        .map(|l| l.split_whitespace().take(5).collect())
        .unwrap_or_default();
    assert_eq!(db, ["db", "a", "pinned", "active", "a"], "{table}");
    let (_, journal, _) = orbitctl(&socket, &["journal", "--limit", "1000"]);
    for reason in [
        "operator switchover to site b of web",
        "operator pinned db to site a",
        "operator unpinned db from site a; it stays where it is",
        "operator failback of site a",
        "operator drained site b",
        "refused switchover: unknown service \"nope\"",
    ] {
        assert!(
            journal.contains(reason),
            "journal lacks {reason:?}:\n{journal}"
        );
    }
    let (status, metrics) = http(&socket, "GET", "/metrics", "");
    assert_eq!(status, 200);
    for line in [
        "orbit_commands_total{verb=\"switchover\",result=\"accepted\"} 1",
        "orbit_commands_total{verb=\"switchover\",result=\"refused\"} 3",
        "orbit_backend_applies_total{backend=\"hook\",result=\"error\"} 2",
        "orbit_service_active{service=\"db\",site=\"a\"} 1",
        "orbit_local_role{service=\"web\",role=\"active\"} 1",
        "orbit_decision_to_confirmed_seconds_count{backend=\"hook\"}",
    ] {
        assert!(metrics.contains(line), "metrics lack {line:?}:\n{metrics}");
    }
    assert_eq!(http(&socket, "GET", "/live", "").0, 200);
    assert_eq!(http(&socket, "GET", "/ready", "").0, 200);

    // SIGTERM, a planned stop: a leaves. b is drained by the operator, so
    // no site can take web or db: a drains them (lowest preference) for
    // drain_grace, then withdraws, and the journal names what was left
    // without a site, and that b and w (fed in as alive, no gossip here)
    // never said they heard of the departure; exit 0.
    let generation = last_hook(dir)["generation"].as_u64().unwrap();
    assert_eq!(daemon.stop(), 0);
    let calls = hook_calls(dir);
    let n = calls.len();
    assert_eq!(
        placement(&calls[n - 2]),
        vec![p("db", "-", "draining"), p("web", "-", "draining")]
    );
    assert_eq!(
        placement(&calls[n - 1]),
        vec![p("db", "-", "withdrawn"), p("web", "-", "withdrawn")]
    );
    assert!(!socket.exists(), "socket removed on exit");
    let journal = std::fs::read_to_string(dir.join("state").join("journal.jsonl")).unwrap();
    for step in [
        "SIGTERM: telling the cluster",
        "drain grace elapsed; not told: b, w; left without a site: db, web",
        "withdrawn (generation",
        "\"stopped\"",
    ] {
        assert!(journal.contains(step), "journal lacks {step:?}:\n{journal}");
    }

    // Restart: nobody carries web or db, b is still drained and db still
    // pinned to a, so a takes both back at once, and nothing else moves.
    let steady = vec![p("db", "a", "active"), p("web", "a", "active")];
    let daemon = Orbitd::start(&config, &socket);
    feed_peers_alive(&socket);
    wait_for_hook(dir, &steady);
    let resumed = last_hook(dir);
    assert!(
        resumed["generation"].as_u64().unwrap() > generation,
        "generations keep increasing"
    );
    let (_, status, _) = orbitctl(&socket, &["--json", "status"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["engine"]["services"]["db"]["pinned"], "a");
    let (_, journal, _) = orbitctl(&socket, &["--json", "journal", "--limit", "10000"]);
    let lines: Vec<&str> = journal.lines().collect();
    let restart = lines
        .iter()
        .rposition(|l| l.contains("restored generation"))
        .expect("the restart in the journal");
    let after: Vec<&&str> = lines[restart..]
        .iter()
        .filter(|l| l.contains("\"kind\":\"decision\""))
        .collect();
    assert!(
        !after.is_empty(),
        "decisions after the restart are journaled"
    );
    let moves: Vec<&&&str> = after
        .iter()
        .filter(|l| l.contains("service_moved"))
        .collect();
    assert!(
        moves.len() == 2
            && moves
                .iter()
                .all(|l| l.contains("\"from\":null") && l.contains("\"to\":\"a\"")),
        "after the restart only the two services without a site move, to a:\n{moves:#?}"
    );
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn bad_config_exits_64_before_opening_anything_and_bad_reload_keeps_running() {
    let tmp = TempDir::new("badcfg");
    let dir = &tmp.0;
    let config = write_config(
        dir,
        "",
        &format!(
            "cat >> {}/hook.log; echo >> {}/hook.log",
            dir.display(),
            dir.display()
        ),
    );
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("sites = [\"a\", \"b\"]", "sites = [\"a\", \"x\"]"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orbitd"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("service[0].sites[1]: unknown site \"x\""),
        "{stderr}"
    );
    assert!(
        !dir.join("api.sock").exists() && !dir.join("state").exists(),
        "nothing opened"
    );

    // A good start, then SIGHUP with a broken file: refused, still serving.
    std::fs::write(&config, &good).unwrap();
    let socket = dir.join("api.sock");
    let daemon = Orbitd::start(&config, &socket);
    feed_peers_alive(&socket);
    wait_for_hook(dir, &[p("db", "b", "standby"), p("web", "a", "active")]);
    std::fs::write(&config, good.replace("failback_after", "failback_aftr")).unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for(
        || orbitctl(&socket, &["journal"]).1.contains("reload refused"),
        "the refused reload in the journal",
    );
    assert_eq!(orbitctl(&socket, &["status"]).0, 0, "still serving");
    // A good reload that changes the priority takes effect without a restart.
    std::fs::write(
        &config,
        good.replace(
            "failback_after = \"10m\"",
            "failback_after = \"10m\"\nfailback = \"manual\"",
        ),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for(
        || {
            orbitctl(&socket, &["journal"])
                .1
                .contains("config reloaded")
        },
        "the reload in the journal",
    );
    // A changed hook command rebuilds the backend: the old runner is
    // closed, the new one applies the current steering at once.
    let reloaded = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, reloaded.replace("/hook.log", "/hook2.log")).unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for(
        || orbitctl(&socket, &["journal"]).1.contains("hook: rebuilt"),
        "the rebuilt hook in the journal",
    );
    wait_for(
        || std::fs::read_to_string(dir.join("hook2.log")).is_ok_and(|log| log.contains("\"web\"")),
        "the new hook to get the steering",
    );
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn tcp_api_requires_the_bearer_token() {
    let tmp = TempDir::new("tcp");
    let dir = &tmp.0;
    let token = "s3cret-token-for-tests-only";
    std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let node = format!(
        "api_tcp = \"127.0.0.1:{port}\"\napi_token_file = \"{}/token\"",
        dir.display()
    );
    let config = write_config(dir, &node, "cat > /dev/null");
    let socket = dir.join("api.sock");
    let daemon = Orbitd::start(&config, &socket);
    let exe = Path::new(env!("CARGO_BIN_EXE_orbitd")).with_file_name("orbitctl");
    let url = format!("http://127.0.0.1:{port}");
    let run = |token: &str| {
        let out = Command::new(&exe)
            .args(["--url", &url, "--token", token, "status"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("wrong-token");
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("missing or wrong bearer token"), "{err}");
    assert_eq!(run(token).0, 0);
    // No header at all.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    // A command over TCP is journaled with the peer's address and reason.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let peer = stream.local_addr().unwrap();
    let body = r#"{"on":true,"reason":"tcp check"}"#;
    write!(
        stream,
        "POST /v1/observer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (code, journal, err) = orbitctl(&socket, &["journal"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        journal.contains(&format!("[by tcp {peer}, reason \"tcp check\"]")),
        "{journal}"
    );
    assert_eq!(daemon.stop(), 0);
}
