//! orbitd under systemd's notify protocol (`Type=notify`), with the test
//! as the service manager: a datagram socket as `NOTIFY_SOCKET` and
//! `WATCHDOG_USEC` set, real members of a three-member cluster in network
//! namespaces. READY=1 only once orbitd has authority and its backend
//! confirmed the steering (or after `[node] ready_timeout`, saying why
//! not), WATCHDOG=1 from the event loop (none while the loop is stalled),
//! RELOADING=1 then READY=1 around a reload, STOPPING=1 on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use orbit_tests::mesh::Mesh;
use orbit_tests::notify::{Notification, NotifyListener};

/// Generous: a shared, loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

const ORBITD: &str = env!("CARGO_BIN_EXE_orbitd");

/// The members started, killed (and the directory removed) on drop.
struct Members {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Members {
    fn drop(&mut self) {
        orbit_tests::kill_and_clean_up(&mut self.children, &self.dir);
    }
}

fn setup(tag: &str) -> (Mesh, Members) {
    orbit_tests::assert_root("systemd notify tests");
    let dir = std::env::temp_dir().join(format!(
        "orbit-notify-{tag}-{}-{}",
        std::process::id(),
        orbit_tests::netns::unique()
    ));
    std::fs::create_dir_all(&dir).expect("test directory");
    Mesh::write_keys(&dir);
    let mesh = Mesh::new(tag);
    let members = Members {
        children: Vec::new(),
        dir,
    };
    (mesh, members)
}

/// The operator-control member config with `ready_timeout`, its hook also
/// recording its environment in `dir/NODE.env`.
fn member_config(node: &str, dir: &Path, ready_timeout: &str) -> String {
    let d = dir.display();
    orbit_tests::control::config(node, dir)
        .replacen(
            "[node]\n",
            &format!("[node]\nready_timeout = \"{ready_timeout}\"\n"),
            1,
        )
        .replace(
            &format!("cat > {d}/{node}.hook"),
            &format!("env > {d}/{node}.env; cat > {d}/{node}.hook"),
        )
}

/// Member `node`, as systemd would start it (a watchdog of 1 s: a pet
/// every 500 ms), or without any of systemd's variables.
fn start(mesh: &Mesh, members: &mut Members, node: &str, notify: Option<&Path>, wait: &str) {
    let config = member_config(node, &members.dir, wait);
    let mut command: Command = mesh.orbitd_command(node, ORBITD, &members.dir, &[], &config);
    match notify {
        Some(socket) => command
            .env("NOTIFY_SOCKET", socket)
            .env("WATCHDOG_USEC", "1000000"),
        None => command
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC"),
    };
    members
        .children
        .push(command.spawn().expect("start orbitd"));
}

fn get(members: &Members, node: &str, path: &str) -> (u16, serde_json::Value) {
    let socket = members.dir.join(format!("{node}.sock"));
    let (code, body) = orbit_tests::orbitd::http(&socket, "GET", path, "");
    (code, serde_json::from_str(&body).expect("JSON"))
}

fn signal(child: &Child, name: &str) {
    orbit_tests::sh(&["kill", &format!("-{name}"), &child.id().to_string()]);
}

fn watchdogs(notes: &[Notification]) -> usize {
    notes.iter().filter(|n| n.has("WATCHDOG=1")).count()
}

fn log(members: &Members, node: &str) -> String {
    std::fs::read_to_string(members.dir.join(format!("{node}.log"))).unwrap_or_default()
}

#[test]
fn ready_only_with_authority_and_confirmation_then_watchdog_reload_stall_and_stop() {
    let (mesh, mut members) = setup("sdr");
    let mut systemd = NotifyListener::bind(&members.dir);
    start(&mesh, &mut members, "a", Some(systemd.path()), "5m");

    // Alone, a has no quorum: it says so, and is not ready.
    let waiting = systemd.receive(LIMIT, |n| n.status().is_some());
    let waiting = &systemd.received[waiting.expect("a STATUS= while alone")];
    let text = waiting.status().expect("status").to_owned();
    assert!(
        text.starts_with("waiting: ") && text.contains("reaches 1 of 3 members"),
        "{text}"
    );
    systemd.collect(Duration::from_secs(3));
    assert!(
        !systemd.received.iter().any(|n| n.has("READY=1")),
        "READY=1 without a quorum: {:?}\n{}",
        systemd.received,
        log(&members, "a")
    );

    // The others come: a gets authority, its hook confirms, then READY=1.
    start(&mesh, &mut members, "b", None, "30s");
    start(&mesh, &mut members, "w", None, "30s");
    let before = systemd.received.len();
    let ready = systemd.expect_line("READY=1", LIMIT, "a with authority");
    let (_, status) = get(&members, "a", "/v1/status");
    assert_eq!(status["engine"]["fenced"], false, "{status}");
    assert_eq!(status["engine"]["synced"], true, "{status}");
    let line = ready.status().expect("READY=1 comes with its STATUS=");
    let generation: u64 = line
        .split("; ")
        .find_map(|part| part.strip_prefix("generation "))
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no generation in {line:?}"));
    assert!(line.starts_with("site a: carrying "), "{line}");
    for backend in status["backends"].as_array().expect("backends") {
        assert!(
            backend["applied_generation"].as_u64() >= Some(generation),
            "READY=1 at generation {generation} before {backend} confirmed it"
        );
    }
    for note in &systemd.received[before..] {
        if let Some(text) = note.status().filter(|_| !note.has("READY=1")) {
            assert!(text.starts_with("waiting: "), "before READY=1: {text}");
        }
    }
    // The state line follows the cluster: web comes to a (if it had not
    // when a became ready).
    if !line.contains("carrying web") {
        systemd
            .receive(LIMIT, |n| {
                n.status().is_some_and(|s| s.contains("carrying web"))
            })
            .expect("STATUS= says a carries web");
    }

    // The event loop pets the watchdog (every 500 ms; a loose count).
    let notes = systemd.collect(Duration::from_secs(4));
    assert!(watchdogs(&notes) >= 2, "{notes:?}");
    assert!(
        watchdogs(&systemd.received[..before]) >= 1,
        "petted while not ready"
    );

    // A refused reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1.
    let config_file = members.dir.join("a.toml");
    let good = std::fs::read_to_string(&config_file).expect("a's config");
    std::fs::write(&config_file, "this is not toml").expect("bad config");
    signal(&members.children[0], "HUP");
    let reloading = systemd.expect_line("RELOADING=1", LIMIT, "SIGHUP");
    assert!(
        reloading
            .lines
            .iter()
            .any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    let done = systemd.expect_line("READY=1", LIMIT, "the reload refused");
    let text = done.status().unwrap_or_default();
    assert!(text.starts_with("reload refused"), "{text}");

    // A stalled event loop stops petting: the config is a FIFO nobody
    // writes yet, so the loop blocks reading it; the rest of orbitd runs.
    std::fs::remove_file(&config_file).expect("remove config");
    orbit_tests::sh(&["mkfifo", &config_file.display().to_string()]);
    signal(&members.children[0], "HUP");
    systemd.expect_line("RELOADING=1", LIMIT, "SIGHUP with a FIFO as config");
    let stalled = systemd.collect(Duration::from_secs(3));
    assert_eq!(watchdogs(&stalled), 0, "petted while stalled: {stalled:?}");
    assert!(
        members.children[0].try_wait().expect("wait").is_none(),
        "orbitd runs on, only its loop is stalled"
    );
    std::fs::write(&config_file, &good).expect("feed the FIFO");
    let done = systemd.expect_line("READY=1", LIMIT, "the reload applied");
    let text = done.status().unwrap_or_default();
    assert!(text.starts_with("reload applied"), "{text}");
    systemd.expect_line("WATCHDOG=1", LIMIT, "petting again once the loop turns");
    std::fs::remove_file(&config_file).expect("remove FIFO");
    std::fs::write(&config_file, &good).expect("config file again");

    // What the hook (a child of orbitd) saw: none of systemd's variables.
    let env = std::fs::read_to_string(members.dir.join("a.env")).expect("hook environment");
    assert!(env.contains("PATH="), "{env}");
    for variable in ["NOTIFY_SOCKET", "WATCHDOG_USEC"] {
        assert!(!env.contains(variable), "the hook inherited {variable}");
    }

    // SIGTERM: STOPPING=1, then the planned stop, then exit; nothing else.
    signal(&members.children[0], "TERM");
    let stopping = systemd.received.len();
    systemd.expect_line("STOPPING=1", LIMIT, "SIGTERM");
    let a_log = members.dir.join("a.log");
    let exit = orbit_tests::wait_exit(&mut members.children[0], LIMIT, || {
        std::fs::read_to_string(&a_log).unwrap_or_default()
    });
    assert!(exit.success(), "{exit}\n{}", log(&members, "a"));
    let after = systemd.collect(Duration::from_millis(200));
    assert!(
        !systemd.received[stopping..]
            .iter()
            .chain(&after)
            .any(|n| n.has("READY=1")),
        "READY=1 while stopping"
    );
}

#[test]
fn ready_after_ready_timeout_says_what_is_still_missing() {
    let (mesh, mut members) = setup("sdt");
    let mut systemd = NotifyListener::bind(&members.dir);
    start(&mesh, &mut members, "a", Some(systemd.path()), "2s");
    let ready = systemd.expect_line("READY=1", LIMIT, "after ready_timeout");
    let text = ready.status().expect("READY=1 comes with its STATUS=");
    let why = text
        .strip_prefix("ready after waiting 2s, though ")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(why.contains("reaches 1 of 3 members"), "{why}");
    // The same judgement as /ready's.
    let (code, body) = get(&members, "a", "/ready");
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"], why, "{body}");
    assert!(
        systemd
            .received
            .iter()
            .any(|n| n.status().is_some_and(|s| s.starts_with("waiting: "))),
        "{:?}",
        systemd.received
    );
    signal(&members.children[0], "TERM");
    systemd.expect_line("STOPPING=1", LIMIT, "SIGTERM");
}
