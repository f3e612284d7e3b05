//! A real `haproxy` in a temp dir, two sites' HTTP listeners, a keep-alive
//! client, and a fault-injecting runtime API proxy. Shared by the tests and
//! the bench. Every process and file is owned by one `Lab` and goes away
//! with it (even on panic).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orbit_core::config::HumanDuration;
use orbit_core::{Role, ServiceId, ServiceSteering, SiteId, Steering};
use orbit_haproxy::Config as Haproxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const HOST: &str = "web.example";

/// A loopback address of this process alone. HAProxy binds its listeners
/// with SO_REUSEPORT, so two labs that happened to pick the same free port on
/// 127.0.0.1 would silently share it; nextest runs every test in its own
/// process, so an address derived from the pid cannot collide.
pub fn lab_ip() -> std::net::Ipv4Addr {
    let pid = std::process::id();
    std::net::Ipv4Addr::new(
        127,
        64 + ((pid >> 16) & 63) as u8,
        ((pid >> 8) & 255) as u8,
        (pid & 255) as u8,
    )
}

/// A free port on [`lab_ip`].
pub fn free_port() -> u16 {
    StdTcpListener::bind((lab_ip(), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn site(s: &str) -> SiteId {
    SiteId::new(s).unwrap()
}
pub fn service(s: &str) -> ServiceId {
    ServiceId::new(s).unwrap()
}

/// A steering that sends every service in `services` to `active`.
pub fn steering(generation: u64, services: &[&str], active: Option<&str>) -> Steering {
    Steering {
        generation,
        local_site: site("a"),
        fenced: false,
        observe_only: false,
        services: services
            .iter()
            .map(|s| {
                (
                    service(s),
                    ServiceSteering {
                        prefixes: vec![],
                        active: active.map(site),
                        epoch: 0,
                        local_role: Role::Standby,
                        takeover: false,
                    },
                )
            })
            .collect(),
    }
}

/// What HAProxy's config holds besides the defaults.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// `http` or `tcp`.
    pub mode: &'static str,
    /// Extra services `svcN` (key `svcN`) mapped to the same two backends.
    pub extra_services: usize,
    /// Servers of each site's backend (`a1`, `a2`, ...), all the site's
    /// one listener.
    pub servers_per_site: usize,
}

impl LabOptions {
    /// A TCP service (a constant key, one line answered per line).
    pub fn tcp() -> LabOptions {
        LabOptions {
            mode: "tcp",
            ..LabOptions::default()
        }
    }
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            mode: "http",
            extra_services: 0,
            servers_per_site: 1,
        }
    }
}

/// One site's listener: answers every request (HTTP) or line (TCP) with its
/// name and records the `X-Seq` of each request it saw.
pub struct SiteServer {
    pub name: String,
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<u64>>>,
    pub open: Arc<AtomicU64>,
    /// While set, HTTP requests are read and recorded but never answered,
    /// as by a site that went dark mid-request.
    pub mute: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SiteServer {
    pub async fn start(name: &str, mode: &'static str) -> SiteServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicU64::new(0));
        let mute = Arc::new(AtomicBool::new(false));
        let (n, s, o, m) = (name.to_owned(), seen.clone(), open.clone(), mute.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (n, s, o, m) = (n.clone(), s.clone(), o.clone(), m.clone());
                tokio::spawn(async move {
                    o.fetch_add(1, Ordering::SeqCst);
                    if mode == "http" {
                        serve_http(conn, &n, &s, &m).await;
                    } else {
                        serve_lines(conn, &n).await;
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        SiteServer {
            name: name.to_owned(),
            addr,
            seen,
            open,
            mute,
            task,
        }
    }

    pub fn seen(&self) -> Vec<u64> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve_http(mut conn: TcpStream, name: &str, seen: &Mutex<Vec<u64>>, mute: &AtomicBool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 4);
            if let Some(seq) = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("x-seq: ")
                        .or_else(|| l.strip_prefix("X-Seq: "))
                })
                .and_then(|v| v.trim().parse().ok())
            {
                seen.lock().unwrap().push(seq);
            }
            if mute.load(Ordering::SeqCst) {
                continue;
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{name}",
                name.len()
            );
            if conn.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn serve_lines(mut conn: TcpStream, name: &str) {
    let mut chunk = [0u8; 4096];
    loop {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if conn
                    .write_all(format!("{name}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A real haproxy (master-worker) with its config, map file and sockets in a
/// temp dir, and the two sites behind it.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub cfg_path: PathBuf,
    pub map_path: PathBuf,
    pub admin_sock: PathBuf,
    pub user_sock: PathBuf,
    pub tcp_cli_port: u16,
    pub frontend: SocketAddr,
    pub site_a: SiteServer,
    pub site_b: SiteServer,
    pub options: LabOptions,
    child: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Lab {
    pub async fn start(options: LabOptions) -> Lab {
        // ORBIT_LAB_TMP picks the file system of the map file (the bench
        // compares ext4 with tmpfs: fsync dominates a small apply).
        let dir = match std::env::var_os("ORBIT_LAB_TMP") {
            Some(base) => tempfile::tempdir_in(base).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let site_a = SiteServer::start("a", options.mode).await;
        let site_b = SiteServer::start("b", options.mode).await;
        let mut lab = Lab {
            cfg_path: dir.path().join("haproxy.cfg"),
            map_path: dir.path().join("orbit.map"),
            admin_sock: dir.path().join("admin.sock"),
            user_sock: dir.path().join("user.sock"),
            tcp_cli_port: free_port(),
            frontend: SocketAddr::from((lab_ip(), free_port())),
            dir,
            site_a,
            site_b,
            options,
            child: None,
        };
        // HAProxy starts with the service on site a.
        let mut map = format!("{HOST} be_site_a\n");
        for i in 0..lab.options.extra_services {
            map.push_str(&format!("svc{i} be_site_a\n"));
        }
        std::fs::write(&lab.map_path, map).unwrap();
        lab.write_config();
        lab.spawn();
        lab.wait_ready().await;
        lab
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let mode = self.options.mode;
        let key = if mode == "http" {
            "req.hdr(host),lower"
        } else {
            // TCP: one service, keyed by a constant.
            "str(web.example)"
        };
        let none = if mode == "http" {
            "    http-request return status 503 content-type text/plain string no-site\n"
        } else {
            ""
        };
        let cfg = format!(
            "global\n\
             \x20   stats socket {d}/admin.sock mode 600 level admin\n\
             \x20   stats socket {d}/user.sock level user\n\
             \x20   stats socket ipv4@{ip}:{cli} level admin\n\
             \x20   stats timeout 1m\n\
             \x20   pidfile {d}/haproxy.pid\n\
             defaults\n\
             \x20   mode {mode}\n\
             \x20   timeout connect 2s\n\
             \x20   timeout client 30s\n\
             \x20   timeout server 30s\n\
             frontend fe\n\
             \x20   bind {fe}\n\
             \x20   use_backend %[{key},map({map},be_none)]\n\
             \x20   default_backend be_none\n\
             backend be_site_a\n{a}\
             backend be_site_b\n{b}\
             backend be_none\n{none}",
            ip = lab_ip(),
            cli = self.tcp_cli_port,
            fe = self.frontend,
            map = self.map_path.display(),
            a = self.servers("a", self.site_a.addr),
            b = self.servers("b", self.site_b.addr),
        );
        std::fs::write(&self.cfg_path, cfg).unwrap();
    }

    fn servers(&self, site: &str, addr: SocketAddr) -> String {
        (1..=self.options.servers_per_site)
            .map(|i| format!("    server {site}{i} {addr}\n"))
            .collect()
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .arg("-W")
            .arg("-db")
            .arg("-f")
            .arg(&self.cfg_path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("haproxy is installed (scripts/install-deps.sh)");
        self.child = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// Waits until the runtime API answers and the frontend accepts.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Every listener: HAProxy binds them one after the other.
            let cli = tokio::net::UnixStream::connect(&self.admin_sock)
                .await
                .is_ok()
                && tokio::net::UnixStream::connect(&self.user_sock)
                    .await
                    .is_ok()
                && TcpStream::connect((lab_ip(), self.tcp_cli_port))
                    .await
                    .is_ok();
            let fe = TcpStream::connect(self.frontend).await.is_ok();
            if cli && fe {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not come up: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn master_pid(&self) -> u32 {
        self.child.as_ref().expect("haproxy running").id()
    }

    /// Graceful reload of the master-worker: a new worker loads the config
    /// and the map file, the old one finishes its connections.
    pub async fn reload(&self) {
        let before = self.worker_pid().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut signalled: Option<Instant> = None;
        loop {
            // The master installs its signal handlers only once its first
            // worker runs; a signal that came too early is sent again.
            if signalled.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                let status = Command::new("kill")
                    .arg("-USR2")
                    .arg(self.master_pid().to_string())
                    .status()
                    .unwrap();
                assert!(status.success());
                signalled = Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(pid) = self.try_worker_pid().await {
                if Some(pid) != before {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "reload did not happen: {}",
                self.log()
            );
        }
    }

    async fn try_worker_pid(&self) -> Option<u32> {
        let mut c = tokio::net::UnixStream::connect(&self.admin_sock)
            .await
            .ok()?;
        c.write_all(b"show info\n").await.ok()?;
        let mut s = String::new();
        c.read_to_string(&mut s).await.ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("Pid: "))
            .and_then(|p| p.trim().parse().ok())
    }

    pub async fn worker_pid(&self) -> Option<u32> {
        self.try_worker_pid().await
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts haproxy again on the same config (after `kill`).
    pub async fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.admin_sock);
        let _ = std::fs::remove_file(&self.user_sock);
        self.spawn();
        self.wait_ready().await;
    }

    /// One command on a fresh non-interactive connection (as `socat` would).
    pub async fn cli(&self, cmd: &str) -> String {
        let mut c = tokio::net::UnixStream::connect(&self.admin_sock)
            .await
            .unwrap();
        c.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).await.unwrap();
        s
    }

    /// The runtime map as HAProxy holds it: key -> value.
    pub async fn runtime_map(&self) -> BTreeMap<String, String> {
        self.cli(&format!("show map {}", self.map_path.display()))
            .await
            .lines()
            .filter_map(|l| {
                let mut w = l.splitn(3, ' ');
                w.next()?;
                Some((w.next()?.to_owned(), w.next()?.to_owned()))
            })
            .collect()
    }

    pub fn file(&self) -> String {
        std::fs::read_to_string(&self.map_path).unwrap()
    }

    /// The orbit config for this lab.
    pub fn config(&self) -> Haproxy {
        let mut backends = BTreeMap::new();
        let per_site: BTreeMap<SiteId, String> = [
            (site("a"), "be_site_a".to_owned()),
            (site("b"), "be_site_b".to_owned()),
        ]
        .into();
        backends.insert(service("web"), per_site.clone());
        let mut keys: BTreeMap<ServiceId, String> = [(service("web"), HOST.to_owned())].into();
        for i in 0..self.options.extra_services {
            backends.insert(service(&format!("svc{i}")), per_site.clone());
            keys.insert(service(&format!("svc{i}")), format!("svc{i}"));
        }
        Haproxy {
            socket: self.admin_sock.display().to_string(),
            map: self.map_path.clone(),
            timeout: HumanDuration::from_secs(5),
            shutdown_sessions: false,
            drain: false,
            no_site_backend: None,
            backends,
            keys,
        }
    }

    pub fn services(&self) -> Vec<String> {
        let mut v = vec!["web".to_owned()];
        v.extend((0..self.options.extra_services).map(|i| format!("svc{i}")));
        v
    }

    /// A steering sending every lab service to `active`.
    pub fn steering(&self, generation: u64, active: Option<&str>) -> Steering {
        let names = self.services();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        steering(generation, &refs, active)
    }

    /// A TCP session through the frontend (TCP lab), checked to be served
    /// by `site`.
    pub async fn session(&self, site: &str) -> TcpStream {
        let mut c = TcpStream::connect(self.frontend).await.unwrap();
        assert_eq!(line(&mut c).await.as_deref(), Some(site));
        c
    }

    /// A keep-alive client's first 20 requests; asserts none failed.
    pub async fn some_requests(&self) -> LoadClient {
        let load = LoadClient::start(self.frontend, Duration::ZERO);
        load.wait_ok(20).await;
        let load = load.stop().await;
        assert!(load.failed().is_empty(), "{:?}", load.failed());
        load
    }

    /// The steering of the orbitd at `local` that carries every lab service
    /// itself, with `takeover` when the other site is declared dead.
    pub fn carried_by(&self, generation: u64, local: &str, takeover: bool) -> Steering {
        let mut s = self.steering(generation, Some(local));
        s.local_site = site(local);
        for svc in s.services.values_mut() {
            svc.local_role = Role::Active;
            svc.takeover = takeover;
        }
        s
    }
}

/// One keep-alive HTTP client sending numbered requests back to back
/// through the frontend, until stopped.
pub struct LoadClient {
    pub next_seq: Arc<AtomicU64>,
    pub ok: Arc<AtomicU64>,
    pub failed: Arc<Mutex<Vec<String>>>,
    pub bodies: Arc<Mutex<Vec<(u64, String)>>>,
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for LoadClient {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl LoadClient {
    /// `interval`: pause between requests (zero: back to back).
    pub fn start(frontend: SocketAddr, interval: Duration) -> LoadClient {
        let next_seq = Arc::new(AtomicU64::new(0));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, o, f, b, s) = (
            next_seq.clone(),
            ok.clone(),
            failed.clone(),
            bodies.clone(),
            stop.clone(),
        );
        let task = tokio::spawn(async move {
            let mut conn: Option<TcpStream> = None;
            let mut ticker = (!interval.is_zero()).then(|| {
                let mut t = tokio::time::interval(interval);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            while !s.load(Ordering::SeqCst) {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                if conn.is_none() {
                    match TcpStream::connect(frontend).await {
                        Ok(c) => {
                            c.set_nodelay(true).unwrap();
                            conn = Some(c);
                        }
                        Err(e) => {
                            f.lock().unwrap().push(format!("connect: {e}"));
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().unwrap();
                let seq = n.fetch_add(1, Ordering::SeqCst);
                match http_get(c, seq).await {
                    Ok((200, body)) => {
                        o.fetch_add(1, Ordering::SeqCst);
                        b.lock().unwrap().push((seq, body));
                    }
                    Ok((status, body)) => {
                        f.lock()
                            .unwrap()
                            .push(format!("seq {seq}: status {status} {body}"));
                    }
                    Err(e) => {
                        f.lock().unwrap().push(format!("seq {seq}: {e}"));
                        conn = None;
                    }
                }
            }
        });
        LoadClient {
            next_seq,
            ok,
            failed,
            bodies,
            stop,
            task: Some(task),
        }
    }

    /// Waits until at least `n` requests succeeded.
    pub async fn wait_ok(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ok.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "load client stuck: {:?}",
                self.failed()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub async fn stop(mut self) -> Self {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self
    }

    pub fn failed(&self) -> Vec<String> {
        self.failed.lock().unwrap().clone()
    }
}

/// One request on `c`: (status, body), or why there was none within 5 s.
pub async fn http_get(c: &mut TcpStream, seq: u64) -> Result<(u16, String), String> {
    let req = format!("GET / HTTP/1.1\r\nhost: {HOST}\r\nx-seq: {seq}\r\n\r\n");
    tokio::time::timeout(Duration::from_secs(5), async {
        c.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad status line: {head}"))?;
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .ok_or_else(|| format!("no content-length: {head}"))?;
                while buf.len() < end + 4 + len {
                    let n = c.read(&mut chunk).await.map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("closed mid-body".to_owned());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                return Ok((status, body));
            }
            let n = c.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".to_owned());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .map_err(|_| "timeout".to_owned())?
}

/// A TCP proxy in front of the TCP runtime API that injects one fault.
pub struct FaultProxy {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Close both sides instead of forwarding a command containing this.
    CutBefore(&'static str),
    /// Forward the command but answer it with garbage instead of HAProxy's reply.
    GarbleReplyTo(&'static str),
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(proxy_one(client, upstream, fault));
            }
        });
        FaultProxy { addr, task }
    }
}

async fn proxy_one(mut client: TcpStream, upstream: SocketAddr, fault: Fault) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let mut cbuf = [0u8; 65536];
    let mut sbuf = [0u8; 65536];
    let mut garble_next = false;
    loop {
        tokio::select! {
            r = client.read(&mut cbuf) => {
                let Ok(n) = r else { return };
                if n == 0 { return; }
                let text = String::from_utf8_lossy(&cbuf[..n]).to_string();
                match fault {
                    Fault::CutBefore(p) if text.contains(p) => return,
                    Fault::GarbleReplyTo(p) if text.contains(p) => garble_next = true,
                    _ => {}
                }
                if server.write_all(&cbuf[..n]).await.is_err() { return; }
            }
            r = server.read(&mut sbuf) => {
                let Ok(n) = r else { return };
                if n == 0 { return; }
                if garble_next {
                    garble_next = false;
                    // Looks framed, but is not what the command answers.
                    if client.write_all(b"\x1b[2J<html>502 Bad Gateway</html>\n\n> ").await.is_err() { return; }
                    continue;
                }
                if client.write_all(&sbuf[..n]).await.is_err() { return; }
            }
        }
    }
}

/// Sends a line on a TCP session through the frontend and returns the
/// answering site's name; `None` once the session is closed.
pub async fn line(c: &mut TcpStream) -> Option<String> {
    c.write_all(b"hello\n").await.ok()?;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n]).trim().to_owned())
}

/// `srv_admin_state` of the first server of `backend` in `show servers state`.
pub fn admin_state(servers_state: &str, backend: &str) -> u32 {
    server_admin_state(servers_state, backend, None)
}

/// `srv_admin_state` of `backend/server` (the first server if `None`).
pub fn server_admin_state(servers_state: &str, backend: &str, server: Option<&str>) -> u32 {
    // Columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
    servers_state
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|w| w.len() > 6 && w[1] == backend && server.is_none_or(|s| w[3] == s))
        .map(|w| w[6].parse().unwrap())
        .unwrap_or_else(|| panic!("no {backend}/{server:?} in {servers_state}"))
}

/// `path` for a unix socket that nothing listens on.
pub fn dead_socket(dir: &Path) -> PathBuf {
    dir.join("nobody-here.sock")
}
