//! A running orbitd (optionally inside a namespace) and its HTTP API over
//! the unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use crate::netns::Netns;

/// orbitd started with a config; killed on drop if still running.
#[derive(Debug)]
pub struct Orbitd {
    child: Option<Child>,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Orbitd {
    /// Starts `exe --config config` in `ns` (log in `log`) and waits for the
    /// API socket.
    pub fn start(exe: &Path, ns: &Netns, config: &Path, socket: &Path, log: &Path) -> Orbitd {
        let exe = exe.display().to_string();
        let config = config.display().to_string();
        let child = ns.spawn(&[exe.as_str(), "--config", config.as_str()], log);
        Orbitd::wait_for_socket(child, socket, log)
    }

    /// Starts `exe --config config` in this test's own namespace (for a
    /// config without gossip or backends that open sockets, such as
    /// [`standalone_config`]) and waits for the API socket.
    pub fn start_here(exe: &Path, config: &Path, socket: &Path, log: &Path) -> Orbitd {
        let file = std::fs::File::create(log).expect("create log file");
        let child = std::process::Command::new(exe)
            .arg("--config")
            .arg(config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(
                file.try_clone().expect("clone log file"),
            ))
            .stderr(std::process::Stdio::from(file))
            .spawn()
            .expect("start orbitd");
        Orbitd::wait_for_socket(child, socket, log)
    }

    /// Writes `config` to `dir/orbit.toml` and starts orbitd on it in this
    /// test's own namespace, API socket `dir/api.sock`, log `dir/orbitd.log`
    /// (the paths [`one_site_config`] and [`fed_config`] use).
    pub fn start_in(exe: &Path, dir: &Path, config: &str) -> Orbitd {
        std::fs::write(dir.join("orbit.toml"), config).expect("write orbit.toml");
        Orbitd::start_here(
            exe,
            &dir.join("orbit.toml"),
            &dir.join("api.sock"),
            &dir.join("orbitd.log"),
        )
    }

    /// [`Orbitd::start_in`] on [`standalone_config`]: one site, no
    /// network socket, a hook backend.
    pub fn start_standalone(exe: &Path, dir: &Path) -> Orbitd {
        Orbitd::start_in(exe, dir, &standalone_config(dir))
    }

    fn wait_for_socket(mut child: Child, socket: &Path, log: &Path) -> Orbitd {
        let log_text = || std::fs::read_to_string(log).unwrap_or_default();
        crate::wait_until(
            Duration::from_secs(20),
            Duration::from_millis(20),
            "the orbitd API socket",
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("orbitd exited ({status}):\n{}", log_text());
                }
                UnixStream::connect(socket).is_ok()
            },
        );
        Orbitd {
            child: Some(child),
            socket: socket.to_owned(),
            log: log.to_owned(),
        }
    }

    /// As [`Orbitd::start`] with everything in `dir`: `dir/orbit.toml`,
    /// the socket `dir/api.sock` (as [`one_site_config`] writes it), the
    /// log `dir/orbitd.log`.
    pub fn start_in_netns(exe: &Path, ns: &Netns, dir: &Path) -> Orbitd {
        Orbitd::start(
            exe,
            ns,
            &dir.join("orbit.toml"),
            &dir.join("api.sock"),
            &dir.join("orbitd.log"),
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http(&self.socket, "GET", path, "")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("orbitd is running").id()
    }

    /// `kill -9`, and wait for the process to be gone.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGHUP: reload the config file.
    pub fn reload(&self) {
        let child = self.child.as_ref().expect("orbitd is running");
        crate::sh(&["kill", "-HUP", &child.id().to_string()]);
    }

    /// SIGTERM and wait (at most 20 s, then SIGKILL); the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..1000 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok().and_then(|s| s.code())
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

/// One HTTP/1.1 request over a unix socket: (status, body).
pub fn http(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http_with(socket, method, path, "", body);
    (status, body)
}

/// As [`http`] with `headers` (each line ending in `\r\n`) added to the
/// request: (status, response head, body).
pub fn http_with(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let stream = UnixStream::connect(socket).expect("connect API socket");
    exchange(stream, method, path, headers, body)
}

/// As [`http_with`] to the TCP listener at `addr` (`[node] api_tcp`).
pub fn http_tcp(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let stream = std::net::TcpStream::connect(addr).expect("connect the TCP API");
    exchange(stream, method, path, headers, body)
}

/// One request on a fresh connection, closed after the answer.
fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    // One write: the request arrives whole, as from any real client.
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: orbitd\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("malformed HTTP response: {response}"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_owned(), body.to_owned())
}

/// `config` with the TCP API listening on `addr` and requiring the token
/// in `token_file` (`[node] api_tcp`, `api_token_file`), for a config
/// whose `[node]` table comes before its first `[[site]]`.
pub fn with_tcp_api(config: &str, addr: &str, token_file: &Path) -> String {
    assert!(config.contains("[[site]]"), "no [[site]] in:\n{config}");
    config.replacen(
        "[[site]]",
        &format!(
            "api_tcp = \"{addr}\"\napi_token_file = \"{}\"\n\n[[site]]",
            token_file.display()
        ),
        1,
    )
}

/// `orbitctl --socket SOCKET ARGS`, the orbitctl built beside `orbitd_exe`:
/// (exit code, stdout, stderr).
pub fn orbitctl(orbitd_exe: &str, socket: &Path, args: &[&str]) -> (i32, String, String) {
    let (code, out, err, _) = orbitctl_with_pid(orbitd_exe, socket, args);
    (code, out, err)
}

/// As [`orbitctl`], with the pid orbitctl ran as (what orbitd's journal
/// records of a command from the unix socket).
pub fn orbitctl_with_pid(
    orbitd_exe: &str,
    socket: &Path,
    args: &[&str],
) -> (i32, String, String, u32) {
    let exe = Path::new(orbitd_exe).with_file_name("orbitctl");
    assert!(
        exe.exists(),
        "{} missing: build the workspace (cargo build -p orbitctl)",
        exe.display()
    );
    let child = std::process::Command::new(exe)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run orbitctl");
    let pid = child.id();
    let out = child.wait_with_output().expect("orbitctl output");
    (
        out.status.code().expect("orbitctl exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        pid,
    )
}

/// The start of a one-site orbitd config (node a, its own gossip member,
/// one service "web" with `prefixes`, a 1 s stop): tests append their
/// backend sections.
pub fn one_site_config(dir: &Path, prefixes: &[&str]) -> String {
    let prefixes: Vec<String> = prefixes.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        r#"[node]
site = "a"
role = "site"
state_dir = "{d}/state"
api_socket = "{d}/api.sock"

[[site]]
id = "a"
gossip = "127.0.0.1:7946"

[detect]
key_file = "{d}/gossip.key"

[policy]
shutdown_grace = "1s"

[[service]]
id = "web"
prefixes = [{prefixes}]
sites = ["a"]

"#,
        d = dir.display(),
        prefixes = prefixes.join(", "),
    )
}

/// A whole one-site config that opens no network socket (gossip off, a
/// hook backend that takes every steering): an orbitd that can run in the
/// test's own namespace, for tests of the API and orbitctl.
pub fn standalone_config(dir: &Path) -> String {
    let head = one_site_config(dir, &["198.51.100.10/32"]);
    let key = format!("key_file = \"{}/gossip.key\"", dir.display());
    assert!(head.contains(&key), "one_site_config changed:\n{head}");
    format!(
        "{head}[hook]\ncommand = [\"/bin/sh\", \"-c\", \"cat > /dev/null\"]\n",
        head = head.replace(&key, "gossip = false")
    )
}

/// The start of a config for node a among sites a and b and witness w,
/// without gossip: the tests feed liveness in through `POST /v1/events`.
/// `extra_node` goes into `[node]`; tests append `[policy]`, services and
/// backends.
pub fn fed_config(dir: &Path, extra_node: &str) -> String {
    format!(
        r#"
[node]
site = "a"
state_dir = "{d}/state"
api_socket = "{d}/api.sock"
{extra_node}

[[site]]
id = "a"
gossip = "127.0.0.1:7946"
[[site]]
id = "b"
gossip = "127.0.0.2:7946"
[[site]]
id = "w"
gossip = "127.0.0.3:7946"
witness = true

[detect]
gossip = false      # liveness is fed in through POST /v1/events
"#,
        d = dir.display()
    )
}
