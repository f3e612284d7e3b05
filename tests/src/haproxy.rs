//! A real HAProxy (2.6) in a directory, reached only through unix sockets:
//! its runtime API (`haproxy.sock`) and its frontend (`frontend.sock`). Its
//! frontend picks a backend by the `Host` header through the map file
//! `orbit.map`, the map orbitd's HAProxy backend rewrites.
//!
//! HAProxy is killed in `Drop`, also on panic.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed on drop (also on panic).
#[derive(Debug)]
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with its output in `log`, and waits until `socket`
/// accepts connections.
pub fn start_serving(command: &mut Command, log: &Path, socket: &Path) -> Running {
    let log = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let out = log
        .try_clone()
        .unwrap_or_else(|e| panic!("duplicating a log file handle: {e}"));
    let child = command
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not start (scripts/install-deps.sh): {e}"));
    let running = Running(child);
    crate::wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        &format!("{} accepting connections", socket.display()),
        || UnixStream::connect(socket).is_ok(),
    );
    running
}

/// One HAProxy's directory: config, map, sockets and log.
#[derive(Debug)]
pub struct Haproxy {
    dir: PathBuf,
}

impl Haproxy {
    /// Writes an HAProxy config into `dir` with the given (empty) backends
    /// plus `be_none`, the default.
    pub fn new(dir: &Path, backends: &[&str]) -> Haproxy {
        let d = dir.display();
        let mut cfg = format!(
            "global\n\
             \x20   stats socket {d}/haproxy.sock mode 600 level admin\n\
             \x20   stats timeout 1m\n\
             defaults\n\
             \x20   mode http\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 30s\n\
             \x20   timeout server 30s\n\
             frontend fe\n\
             \x20   bind unix@{d}/frontend.sock\n\
             \x20   use_backend %[req.hdr(host),lower,map({d}/orbit.map,be_none)]\n\
             \x20   default_backend be_none\n"
        );
        for backend in backends.iter().chain(&["be_none"]) {
            cfg.push_str(&format!("backend {backend}\n"));
        }
        std::fs::write(dir.join("haproxy.cfg"), cfg)
            .unwrap_or_else(|e| panic!("writing haproxy.cfg in {d}: {e}"));
        Haproxy {
            dir: dir.to_owned(),
        }
    }

    /// Writes the map file HAProxy starts from (`key backend` lines).
    pub fn write_map(&self, text: &str) {
        std::fs::write(self.map(), text)
            .unwrap_or_else(|e| panic!("writing {}: {e}", self.map().display()));
    }

    /// Starts HAProxy; it runs until the returned handle is dropped.
    pub fn start(&self) -> Running {
        let socket = self.socket();
        let _ = std::fs::remove_file(&socket);
        start_serving(
            Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(self.dir.join("haproxy.cfg")),
            &self.dir.join("haproxy.log"),
            &socket,
        )
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("haproxy.sock")
    }

    pub fn map(&self) -> PathBuf {
        self.dir.join("orbit.map")
    }

    /// The map file as it is on disk.
    pub fn map_file(&self) -> String {
        std::fs::read_to_string(self.map()).unwrap_or_default()
    }

    /// One command on HAProxy's runtime API, and its answer.
    pub fn cli(&self, command: &str) -> String {
        let mut c = UnixStream::connect(self.socket())
            .unwrap_or_else(|e| panic!("{}: {e}", self.socket().display()));
        c.write_all(format!("{command}\n").as_bytes())
            .unwrap_or_else(|e| panic!("haproxy runtime API: {e}"));
        let mut out = String::new();
        c.read_to_string(&mut out)
            .unwrap_or_else(|e| panic!("haproxy runtime API: {e}"));
        out
    }

    /// The backend HAProxy's runtime map sends `key` to.
    pub fn runtime_backend(&self, key: &str) -> Option<String> {
        let map = self.cli(&format!("show map {}", self.map().display()));
        map.lines().find_map(|l| {
            let mut w = l.split_whitespace().skip(1);
            (w.next()? == key).then(|| w.next().unwrap_or_default().to_owned())
        })
    }
}
