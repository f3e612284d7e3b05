//! The HTTP API under abuse (issue 15): a connection flood on the TCP
//! listener of an orbitd limited to 1,024 file descriptors leaves orbitctl
//! working over the unix socket, half-sent and idle connections are closed
//! after the header timeout, a command whose client gave up is never
//! applied, and made-up paths and methods do not grow `/metrics`.
//!
//! Real orbitd and orbitctl binaries on 127.0.0.1 (a free port), no
//! backend (the engine's view in `/v1/status` and the journal show what
//! was applied). Run as root: the test raises its own fd limit with
//! prlimit(1).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orbit_tests::orbitd::{fed_config, http};
use serde_json::Value;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
/// orbitd's default `[api] header_timeout`.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// orbitd's default `[api] tcp_connections`.
const TCP_CONNECTIONS: usize = 256;

/// orbitd under `prlimit --nofile=N:N` with the TCP API on; killed on drop.
struct Orbitd {
    child: Child,
    dir: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    tcp: SocketAddr,
}

impl Orbitd {
    /// With systemd's default limit of 1,024 open files.
    fn start() -> Orbitd {
        Orbitd::start_with_open_files(1024)
    }

    fn start_with_open_files(limit: u32) -> Orbitd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let tcp = free_port();
        std::fs::write(d.join("token"), format!("{TOKEN}\n")).unwrap();
        let config = d.join("orbit.toml");
        let node = format!(
            "api_tcp = \"{tcp}\"\napi_token_file = \"{}/token\"",
            d.display()
        );
        let text = format!(
            r#"{head}
[policy]
sync_timeout = "200ms"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
"#,
            head = fed_config(d, &node)
        );
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(d.join("orbitd.log")).unwrap();
        // prlimit(1) sets the limit and execs orbitd: the child is orbitd.
        let child = Command::new("prlimit")
            .arg(format!("--nofile={limit}:{limit}"))
            .arg(env!("CARGO_BIN_EXE_orbitd"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start orbitd under prlimit");
        let socket = d.join("api.sock");
        let me = Orbitd {
            child,
            dir,
            config,
            socket,
            tcp,
        };
        wait_for(Duration::from_secs(30), "orbitd's API socket", || {
            UnixStream::connect(&me.socket).is_ok()
        });
        assert!(
            std::fs::read_to_string(format!("/proc/{}/limits", me.child.id()))
                .unwrap()
                .lines()
                .any(|l| l.starts_with("Max open files") && l.contains(&format!(" {limit} "))),
            "orbitd runs with {limit} file descriptors"
        );
        // b and w are alive as this site's own detector sees them, so web
        // can move to b.
        let (status, body) = http(
            &me.socket,
            "POST",
            "/v1/events",
            r#"[{"type":"verdict","observer":"a","subject":"b","liveness":"alive"},
                {"type":"verdict","observer":"a","subject":"w","liveness":"alive"}]"#,
        );
        assert_eq!(status, 202, "{body}");
        wait_for(Duration::from_secs(30), "web active on a", || {
            me.active("web").as_deref() == Some("a")
        });
        me
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `orbitctl --socket SOCKET args...`: exit code, stdout, stderr. Each
    /// run is bounded by the test (60 s), whatever orbitctl does.
    fn orbitctl(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["--socket".to_owned(), self.socket.display().to_string()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        orbitctl(&all)
    }

    fn metrics(&self) -> String {
        let (status, body) = http(&self.socket, "GET", "/metrics", "");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The site that carries `service` as the engine sees it.
    fn active(&self, service: &str) -> Option<String> {
        let (status, body) = http(&self.socket, "GET", "/v1/status", "");
        assert_eq!(status, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        status["engine"]["services"]
            .as_array()?
            .iter()
            .find(|s| s["id"] == service)?["active"]
            .as_str()
            .map(str::to_owned)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orbitd.log")).unwrap_or_default()
    }
}

impl Drop for Orbitd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn orbitctl(args: &[String]) -> (i32, String, String) {
    let exe = Path::new(env!("CARGO_BIN_EXE_orbitd")).with_file_name("orbitctl");
    assert!(
        exe.exists(),
        "{} missing: build it first (cargo build -p orbitctl)",
        exe.display()
    );
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("orbitctl {args:?} hung for 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn wait_for(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This test process needs a descriptor per flood connection.
fn raise_own_fd_limit(to: u32) {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={to}:{to}"))
        .status()
        .unwrap();
    assert!(status.success(), "prlimit --nofile={to} (run as root)");
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The value of one metric line, e.g. `orbit_fenced 0`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the server has closed the connection (possibly after an
/// answer): reads what is there without waiting.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true, // reset
        }
    }
}

#[test]
fn a_tcp_flood_leaves_orbitctl_working_and_slow_or_idle_connections_are_closed() {
    raise_own_fd_limit(8192);
    let orbitd = Orbitd::start();
    let before = open_fds(orbitd.pid());

    // 500 slowloris connections, each with half a request head, then 2,000
    // that send nothing. Before the fix orbitd accepted them all, ran out
    // of descriptors at ~1,000 and then accepted nothing, not even on its
    // unix socket.
    let mut flood: Vec<TcpStream> = Vec::with_capacity(2500);
    let mut stopped_accepting = None;
    for n in 0..2500 {
        let mut s = match TcpStream::connect_timeout(&orbitd.tcp, Duration::from_secs(3)) {
            Ok(s) => s,
            Err(e) => {
                stopped_accepting = Some(format!("connection {n}: {e}"));
                break;
            }
        };
        if n < 500 {
            s.write_all(b"GET /v1/status HTTP/1.1\r\nhost: orbitd\r\nx-slow: ")
                .unwrap();
        }
        flood.push(s);
    }
    let during = open_fds(orbitd.pid());

    // orbitctl over the unix socket, during the flood: status and a
    // command answer (orbitctl's own 10 s timeout is the bound).
    let (code, out, err) = orbitd.orbitctl(&["status"]);
    assert_eq!(code, 0, "orbitctl status during the flood: {out}{err}");
    assert!(out.contains("web"), "{out}");
    let (code, out, err) = orbitd.orbitctl(&["switchover", "--service", "web", "--to", "b"]);
    assert_eq!(code, 0, "orbitctl switchover during the flood: {out}{err}");
    assert!(out.contains("web: a -> b"), "{out}");
    assert_eq!(
        stopped_accepting, None,
        "orbitd's TCP listener stopped accepting"
    );
    assert!(
        during <= before + TCP_CONNECTIONS + 16,
        "orbitd holds {during} descriptors during the flood ({before} before): the TCP \
         listener must stay within its {TCP_CONNECTIONS} connections"
    );

    // Every slow or idle connection is closed once the header timeout has
    // passed.
    wait_for(
        HEADER_TIMEOUT + Duration::from_secs(40),
        "orbitd to close every slow and idle connection",
        || {
            flood.retain_mut(|s| !closed_by_server(s));
            flood.is_empty()
        },
    );
    let metrics = orbitd.metrics();
    let refused = metric(
        &metrics,
        "orbit_api_connections_refused_total{listener=\"tcp\"}",
    )
    .unwrap();
    let header_timeouts = metric(
        &metrics,
        "orbit_api_timeouts_total{listener=\"tcp\",kind=\"header\"}",
    )
    .unwrap();
    // Every flood connection either got a slot and was closed at the
    // header timeout, or was turned away. How many of each depends on how
    // long the flood took: on a loaded host it outlasts the header timeout
    // and freed slots go to later connections.
    assert_eq!(
        refused + header_timeouts,
        2500.0,
        "{refused} turned away + {header_timeouts} header timeouts:\n{metrics}"
    );
    assert!(
        refused > 0.0 && header_timeouts >= TCP_CONNECTIONS as f64,
        "{refused} turned away, {header_timeouts} header timeouts:\n{metrics}"
    );
    assert_eq!(
        metric(&metrics, "orbit_api_connections{listener=\"tcp\"}"),
        Some(0.0),
        "{metrics}"
    );

    // The TCP listener serves its rightful clients again.
    let url = format!("http://{}", orbitd.tcp);
    let (code, out, err) = orbitctl(&[
        "--url".into(),
        url,
        "--token".into(),
        TOKEN.into(),
        "status".into(),
    ]);
    assert_eq!(code, 0, "orbitctl over TCP after the flood: {out}{err}");
    assert!(
        open_fds(orbitd.pid()) <= before + 8,
        "descriptors left behind:\n{}",
        orbitd.log()
    );
}

#[test]
fn accepts_out_of_descriptors_back_off_and_log_one_line() {
    raise_own_fd_limit(8192);
    // 200 descriptors do not hold the default caps (64 + 256): a flood
    // exhausts them, as any other shortage would.
    let orbitd = Orbitd::start_with_open_files(200);
    let mut flood: Vec<TcpStream> = (0..250)
        .map(|_| TcpStream::connect_timeout(&orbitd.tcp, Duration::from_secs(3)).unwrap())
        .collect();
    // What orbitd accepted times out, then what waited in the kernel's
    // queue is accepted and times out in turn.
    wait_for(
        3 * HEADER_TIMEOUT + Duration::from_secs(40),
        "orbitd to close every flood connection",
        || {
            flood.retain_mut(|s| !closed_by_server(s));
            flood.is_empty()
        },
    );
    let log = orbitd.log();
    let lines = log.matches("API accept failed").count();
    assert_eq!(lines, 1, "one line for the run of failures:\n{log}");
    assert!(
        log.contains("the open-files limit leaves fewer than 128 descriptors"),
        "{log}"
    );
    let errors = metric(
        &orbitd.metrics(),
        "orbit_api_accept_errors_total{listener=\"tcp\"}",
    )
    .unwrap();
    // Spinning on the failing accept would count thousands.
    assert!((1.0..200.0).contains(&errors), "{errors} failed accepts");
    let (code, out, err) = orbitd.orbitctl(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_command_whose_client_gave_up_is_never_applied() {
    let orbitd = Orbitd::start();

    // Hold the event loop: a reload (SIGHUP) reads the config from a FIFO
    // that we open but write nothing into yet. Once our non-blocking open
    // for writing succeeds, the loop is inside that read.
    let config = std::fs::read_to_string(&orbitd.config).unwrap();
    std::fs::remove_file(&orbitd.config).unwrap();
    let mkfifo = Command::new("mkfifo").arg(&orbitd.config).status().unwrap();
    assert!(mkfifo.success());
    let hup = Command::new("kill")
        .args(["-HUP", &orbitd.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut writer = None;
    wait_for(
        Duration::from_secs(30),
        "orbitd's reload to open the config",
        || {
            writer = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&orbitd.config)
                .ok();
            writer.is_some()
        },
    );
    let mut writer = writer.unwrap();

    // The operator's switchover waits for the busy loop; orbitctl gives up
    // after 1 s and says what that means.
    let (code, out, err) = orbitd.orbitctl(&[
        "--timeout",
        "1s",
        "switchover",
        "--service",
        "web",
        "--to",
        "b",
    ]);
    assert_eq!(code, 75, "{out}{err}");
    assert_eq!(
        err.trim(),
        "orbitctl: orbitd did not answer within 1s; the command may or may not have been \
         applied: check `orbitctl journal`"
    );
    // orbitd saw the client go: hyper dropped the request's handler with
    // its connection (counted as 499), well before orbitd's own 5 s wait
    // for the loop would have.
    let gone = "orbit_api_requests_total{route=\"/v1/switchover\",method=\"POST\",status=\"499\"}";
    wait_for(
        Duration::from_secs(4),
        "the abandoned request to be counted",
        || metric(&orbitd.metrics(), gone) == Some(1.0),
    );

    // Let the loop go on: the reload, then the abandoned command.
    writer.write_all(config.as_bytes()).unwrap();
    drop(writer);
    assert_eq!(
        orbitd.active("web").as_deref(),
        Some("a"),
        "the switchover whose client gave up was applied"
    );
    let (code, journal, err) = orbitd.orbitctl(&["journal", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        journal.contains(
            "refused switchover: not applied: the client gave up before orbitd took the command"
        ),
        "{journal}"
    );
    assert!(!journal.contains("operator switchover"), "{journal}");
    assert_eq!(
        metric(
            &orbitd.metrics(),
            "orbit_commands_total{verb=\"switchover\",result=\"abandoned\"}"
        ),
        Some(1.0)
    );

    // The same command from a client that waits is applied.
    let (code, out, err) = orbitd.orbitctl(&["switchover", "--service", "web", "--to", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(orbitd.active("web").as_deref(), Some("b"));
}

/// A small deterministic generator (xorshift64*), for request noise.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn word(&mut self, alphabet: &[u8], len: std::ops::Range<u64>) -> String {
        let n = len.start + self.next() % (len.end - len.start);
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

/// Reads one HTTP/1.1 response: its status code.
fn read_response(reader: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    status
}

#[test]
fn made_up_paths_and_methods_do_not_grow_metrics() {
    let orbitd = Orbitd::start();
    orbitd.metrics(); // its own request is counted from the next scrape on
    let before = orbitd.metrics().len();

    // 20,000 requests without a token for random paths with random
    // methods, pipelined 100 at a time on keep-alive connections.
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    let path_chars = b"abcdefghijklmnopqrstuvwxyz0123456789-._~/";
    let mut sent = 0;
    while sent < 20_000 {
        let stream = TcpStream::connect(orbitd.tcp).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        for _ in 0..10 {
            let mut batch = String::new();
            for _ in 0..100 {
                let method = if noise.next() % 2 == 0 {
                    METHODS[(noise.next() % 6) as usize].to_owned()
                } else {
                    noise.word(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 3..12)
                };
                let path = noise.word(path_chars, 1..60);
                batch.push_str(&format!(
                    "{method} /x{path}?q={} HTTP/1.1\r\nhost: orbitd\r\ncontent-length: 0\r\n\r\n",
                    noise.next()
                ));
            }
            writer.write_all(batch.as_bytes()).unwrap();
            for _ in 0..100 {
                assert_eq!(read_response(&mut reader), 401);
            }
            sent += 100;
        }
    }

    let metrics = orbitd.metrics();
    let after = metrics.len();
    assert!(
        after.abs_diff(before) <= 1024,
        "/metrics grew from {before} to {after} bytes"
    );
    let unknown = metric(
        &metrics,
        "orbit_api_requests_total{route=\"other\",method=\"other\",status=\"401\"}",
    )
    .unwrap();
    assert!(unknown > 5_000.0, "{metrics}");
}
