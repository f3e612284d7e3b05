//! What orbitd needs beyond an ordinary user, checked by running it as
//! `nobody` (setpriv) in a namespace of its own, with every feature that
//! might need a privilege: the BGP listener on TCP 179 with a TCP-MD5 key,
//! GTSM and BFD toward a peer (the BFD helper: UDP 3784, TTL 255), gossip
//! and the netlink link watch. Without capabilities the listener cannot
//! bind and orbitd says so; with the unit's capabilities
//! (CAP_NET_BIND_SERVICE, and CAP_SYS_NICE + CAP_IPC_LOCK for the BFD
//! helper's real-time packet loop) everything runs and nothing is refused;
//! without the listener nothing is needed (the BFD helper then runs its
//! loop at normal priority and says so), and a session with MD5 and GTSM
//! comes up with bird (which insists on both). The table in
//! docs/deploy-privileges.md and the unit's AmbientCapabilities= say the
//! same.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use orbit_tests::netns::Netns;

const NOBODY: u32 = 65534;
const LIMIT: Duration = Duration::from_secs(60);

fn config(dir: &Path, listen: bool) -> String {
    let d = dir.display();
    format!(
        r#"[node]
site = "a"
state_dir = "{d}/state"
api_socket = "{d}/api.sock"

[[site]]
id = "a"
gossip = "10.9.0.1:7946"
[[site]]
id = "b"
gossip = "10.9.0.2:7946"
[[site]]
id = "w"
gossip = "10.9.0.3:7946"
witness = true

[detect]
key_file = "{d}/gossip.key"
[detect.links]
lo = ["b"]

[policy]
shutdown_grace = "1s"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]

[bfd]
interval = "100ms"
multiplier = 5

[bgp]
asn = 65001
router_id = "10.9.0.1"
listen = {listen}

[[bgp.peer]]
address = "10.9.1.2"
asn = 65002
local_address = "10.9.1.1"
bfd = true
ttl_security = true
md5_password_file = "{d}/peer.md5"
"#
    )
}

/// The peer: passive, TCP-MD5 and GTSM (`ttl security`).
const BIRD: &str = r#"log "@LOG@" all;
router id 10.9.1.2;
protocol device {}
protocol bgp orbit {
  local 10.9.1.2 as 65002;
  neighbor 10.9.1.1 as 65001;
  passive on;
  password "md5-secret";
  ttl security on;
  ipv4 { import all; export none; };
}
"#;

/// A directory only `nobody` owns, with the config and its key files.
fn nobody_dir(listen: bool) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    std::fs::write(path.join("orbit.toml"), config(path, listen)).expect("config");
    std::fs::write(
        path.join("gossip.key"),
        "a-shared-secret-for-this-test-only",
    )
    .expect("key");
    std::fs::write(path.join("peer.md5"), "md5-secret").expect("md5 key");
    for file in ["orbit.toml", "gossip.key", "peer.md5"] {
        let file = path.join(file);
        std::os::unix::fs::chown(&file, Some(NOBODY), Some(NOBODY)).expect("chown");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown dir");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    dir
}

/// orbitd as `nobody` in `ns` with only `caps` (setpriv names, e.g.
/// `net_bind_service`), ambient as the unit gives them.
fn start(ns: &Netns, dir: &Path, caps: &[&str]) -> Child {
    let set = std::iter::once("-all".to_owned())
        .chain(caps.iter().map(|c| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    let config = dir.join("orbit.toml").display().to_string();
    ns.spawn(
        &[
            "setpriv",
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            &format!("--inh-caps={set}"),
            &format!("--ambient-caps={set}"),
            &format!("--bounding-set={set}"),
            env!("CARGO_BIN_EXE_orbitd"),
            "--config",
            &config,
        ],
        &dir.join("orbitd.log"),
    )
}

/// orbitd's namespace (gossip on 10.9.0.1) and its BGP peer's, joined
/// by a veth: 10.9.1.1 at orbitd, 10.9.1.2 at the peer.
fn namespaces() -> (Netns, Netns) {
    let ns = Netns::new("prv");
    ns.exec(&["ip", "addr", "add", "10.9.0.1/32", "dev", "lo"]);
    let peer = Netns::new("prvp");
    let veth = orbit_tests::netns::Veth::new(&ns, &peer, [10, 9, 1, 0].into());
    assert_eq!(veth.b_addr, std::net::Ipv4Addr::new(10, 9, 1, 2));
    (ns, peer)
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("orbitd.log")).unwrap_or_default()
}

/// Waits until orbitd has bound every socket in `wanted` (`ss` lines);
/// panics if it exits first.
fn wait_for_sockets(ns: &Netns, child: &mut Child, dir: &Path, wanted: &[&str]) {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("orbitd exited ({status}):\n{}", log(dir));
        }
        let ss = ns.exec(&["ss", "-lntup"]);
        if wanted.iter().all(|w| ss.contains(w)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{wanted:?} not bound:\n{ss}\n{}",
            log(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM once orbitd's event loop runs (it answers `/live`): a SIGTERM
/// before its handlers are installed would just kill it.
fn stop(mut child: Child, dir: &Path) {
    let socket = dir.join("api.sock");
    orbit_tests::wait_until(LIMIT, Duration::from_millis(50), "orbitd live", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
            && orbit_tests::orbitd::http(&socket, "GET", "/live", "").0 == 200
    });
    orbit_tests::sh(&["kill", "-TERM", &child.id().to_string()]);
    let status = orbit_tests::wait_exit(&mut child, LIMIT, || log(dir));
    assert!(status.success(), "{status}:\n{}", log(dir));
}

/// What the kernel refuses an unprivileged process, as orbitd logs it.
fn refusals(dir: &Path) -> Vec<String> {
    log(dir)
        .lines()
        .filter(|l| l.contains("Permission denied") || l.contains("Operation not permitted"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_bgp_listener_needs_cap_net_bind_service_and_nothing_else_needs_a_privilege() {
    orbit_tests::assert_root("privilege tests (setpriv)");
    let (ns, peer) = namespaces();

    // No capability: the listener on 179 is refused, orbitd says so and
    // stops before it touches anything.
    let dir = nobody_dir(true);
    let mut child = start(&ns, dir.path(), &[]);
    let status = orbit_tests::wait_exit(&mut child, LIMIT, || log(dir.path()));
    assert_eq!(status.code(), Some(1), "{}", log(dir.path()));
    assert!(
        log(dir.path()).contains("BGP listener on port 179: bind: Permission denied"),
        "{}",
        log(dir.path())
    );

    // The unit's capabilities: the listener (with its TCP-MD5 key), the
    // BFD helper (real-time), gossip and the link watch all run, nothing
    // is refused.
    let dir = nobody_dir(true);
    let mut child = start(
        &ns,
        dir.path(),
        &["net_bind_service", "sys_nice", "ipc_lock"],
    );
    wait_for_sockets(
        &ns,
        &mut child,
        dir.path(),
        &["*:179 ", "10.9.1.1:3784 ", "10.9.0.1:7946 "],
    );
    // The sessions try their peer meanwhile (MD5 and GTSM on each
    // connection's socket).
    std::thread::sleep(Duration::from_secs(2));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
    assert!(status.contains(&format!("Uid:\t{NOBODY}\t")), "{status}");
    // Bits 10, 14 and 23.
    assert!(status.contains("CapEff:\t0000000000804400"), "{status}");
    assert_eq!(refusals(dir.path()), Vec::<String>::new());
    stop(child, dir.path());

    // Without the listener (sessions only go out): no capability at all.
    // bird (root, beside it) only accepts the session signed with the
    // MD5 key and arriving with TTL 255, and orbitd only one from TTL 255
    // on: Established shows that TCP-MD5 and GTSM need nothing.
    let dir = nobody_dir(false);
    let bird_dir = tempfile::tempdir().expect("bird dir");
    let bird = orbit_tests::bird::Bird::start(&peer, bird_dir.path(), BIRD);
    let mut child = start(&ns, dir.path(), &[]);
    wait_for_sockets(
        &ns,
        &mut child,
        dir.path(),
        &["10.9.1.1:3784 ", "10.9.0.1:7946 "],
    );
    orbit_tests::wait_until(
        LIMIT,
        Duration::from_millis(200),
        "the session to bird",
        || bird.established("orbit"),
    );
    // Only the BFD helper's real-time loop is refused: it runs anyway,
    // with one warning per capability.
    let refused = refusals(dir.path());
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(refused[0].contains("CAP_SYS_NICE"), "{refused:#?}");
    assert!(refused[1].contains("CAP_IPC_LOCK"), "{refused:#?}");
    stop(child, dir.path());
}
