//! orbitctl without a daemon: generated docs, usage errors, unreachable
//! daemon. (The end-to-end tests against a running orbitd live in the daemon
//! package.)

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Command;

fn orbitctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orbitctl"))
        .args(args)
        .env_remove("ORBIT_SOCKET")
        .env_remove("ORBIT_URL")
        .env_remove("ORBIT_TOKEN")
        .output()
        .expect("run orbitctl");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn generates_completions_and_a_man_page() {
    let (code, stdout, _) = orbitctl(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("switchover") && stdout.contains("failback"),
        "{stdout}"
    );
    let (code, stdout, _) = orbitctl(&["man"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH orbitctl"),
        "{stdout}"
    );
}

#[test]
fn unreachable_daemon_is_one_line_and_exit_69() {
    let socket = std::env::temp_dir().join(format!("orbit-no-daemon-{}.sock", std::process::id()));
    let (code, stdout, stderr) = orbitctl(&["--socket", socket.to_str().unwrap(), "status"]);
    assert_eq!(code, 69, "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("orbitctl: orbitd is unreachable at "),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = orbitctl(&["switchover", "--to", "b"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = orbitctl(&["switchover", "--all", "--service", "web", "--to", "b"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = orbitctl(&["--url", "ftp://x", "--token", "t", "status"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("must start with http://"), "{stderr}");
}

#[test]
fn a_name_that_cannot_be_an_identifier_is_bad_usage_before_orbitd_is_asked() {
    // The socket does not exist: the name is refused without orbitd.
    let socket = std::env::temp_dir().join(format!("orbit-no-daemon-{}.sock", std::process::id()));
    let socket = socket.to_str().unwrap();
    for args in [
        &["drain", "Site A"][..],
        &["switchover", "--service", "web", "--to", "B"],
        &["pin", "--service", "", "--to", "a"],
        &["failback", "A"],
    ] {
        let (code, _, stderr) = orbitctl(&[&["--socket", socket], args].concat());
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.contains("unreachable"), "{args:?}: {stderr}");
    }
    let (_, _, stderr) = orbitctl(&["--socket", socket, "drain", "Site A"]);
    assert!(
        stderr.contains("identifier \"Site A\" may only contain lowercase letters"),
        "{stderr}"
    );
}

#[test]
fn a_bad_reason_or_a_force_on_observer_is_a_usage_error_before_orbitd_is_asked() {
    let long = "x".repeat(201);
    let (code, _, err) = orbitctl(&["--socket", "/nonexistent", "drain", "b", "--reason", &long]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("reason is 201 characters long; at most 200 are allowed"),
        "{err}"
    );
    let (code, _, err) = orbitctl(&["--socket", "/nonexistent", "drain", "b", "--reason", "a\tb"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("control character"), "{err}");
    let (code, _, err) = orbitctl(&["--socket", "/nonexistent", "observer", "on", "--force"]);
    assert_eq!(code, 2, "observer mode has nothing to force: {err}");
    // A good one gets as far as the (missing) daemon.
    let (code, _, err) = orbitctl(&[
        "--socket",
        "/nonexistent",
        "drain",
        "b",
        "--force",
        "--reason",
        "CHG-42",
    ]);
    assert_eq!(code, 69, "{err}");
}

/// A unix socket that accepts connections and never answers, like an
/// orbitd whose event loop hangs; removed on drop.
struct SilentSocket {
    dir: std::path::PathBuf,
    _listener: std::os::unix::net::UnixListener,
}

impl SilentSocket {
    fn new(tag: &str) -> SilentSocket {
        let dir = std::env::temp_dir().join(format!("orbitctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(dir.join("api.sock")).unwrap();
        SilentSocket {
            dir,
            _listener: listener,
        }
    }

    fn path(&self) -> String {
        self.dir.join("api.sock").to_str().unwrap().to_owned()
    }
}

impl Drop for SilentSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The one JSON object `--json` prints on stdout for an error.
fn json_error(stdout: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    assert!(value["error"]["message"].is_string(), "{value}");
    value["error"].clone()
}

#[test]
fn a_usage_error_is_one_line_with_a_hint_and_exit_2() {
    let (code, stdout, stderr) = orbitctl(&["switchover", "--to", "b"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("orbitctl: the following required arguments were not provided:")
            && stderr
                .trim_end()
                .ends_with("(see orbitctl switchover --help)"),
        "{stderr}"
    );
    let (code, _, stderr) = orbitctl(&["stat"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("'status'"),
        "the hint names status: {stderr}"
    );
    // --help and --version are not errors.
    let (code, stdout, _) = orbitctl(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Usage:"), "{stdout}");
}

#[test]
fn with_json_every_error_is_one_object_on_stdout() {
    let missing = "/nonexistent/orbitctl-test.sock";
    let silent = SilentSocket::new("json");
    let silent_path = silent.path();
    let cases: [(&[&str], &str, i32); 4] = [
        (&["--json", "switchover", "--to", "b"], "usage", 2),
        (
            &["--json", "--socket", missing, "status"],
            "unavailable",
            69,
        ),
        (
            &["--json", "--url", "http://127.0.0.1:9", "status"],
            "permission",
            77,
        ),
        (
            &[
                "--json",
                "--socket",
                &silent_path,
                "--timeout",
                "300ms",
                "drain",
                "b",
            ],
            "timeout",
            75,
        ),
    ];
    for (args, kind, exit) in cases {
        let (code, stdout, stderr) = orbitctl(args);
        assert_eq!(code, exit, "{args:?}: {stdout}{stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        let error = json_error(&stdout);
        assert_eq!(error["kind"], kind, "{args:?}: {error}");
        assert_eq!(error["exit_code"], exit, "{args:?}: {error}");
    }
}

#[test]
fn a_missing_token_for_url_is_exit_77_in_one_line() {
    let (code, _, stderr) = orbitctl(&["--url", "http://127.0.0.1:9", "status"]);
    assert_eq!(code, 77, "{stderr}");
    assert_eq!(
        stderr,
        "orbitctl: --url needs a token: pass --token or set ORBIT_TOKEN\n"
    );
}

#[test]
fn no_answer_within_the_timeout_is_exit_75() {
    let silent = SilentSocket::new("timeout");
    let (code, _, stderr) = orbitctl(&["--socket", &silent.path(), "--timeout", "300ms", "status"]);
    assert_eq!(code, 75, "{stderr}");
    assert!(stderr.contains("did not answer within 300ms"), "{stderr}");
}

#[test]
fn a_socket_without_permission_is_exit_77() {
    // Root passes every permission check: run orbitctl as nobody against
    // a root-owned socket of mode 0600.
    if !nix_is_root() {
        panic!("this test needs root (to run orbitctl as another user)");
    }
    use std::os::unix::fs::PermissionsExt;
    let socket = SilentSocket::new("eacces");
    std::fs::set_permissions(&socket.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        socket.dir.join("api.sock"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_orbitctl"))
        .args(["--socket", &socket.path(), "status"])
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no permission to talk to orbitd"),
        "{stderr}"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}
