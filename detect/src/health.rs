//! Local health checks of each service: tcp connect, http GET, exec.
//!
//! One task per checked service runs the check every `interval` (every
//! `fast_interval` while the result is in transition) with
//! `timeout`, debounces the results with rise/fall (`rise_fall.rs`) and, on
//! every state change, sends `Event::Health { site: <local>, .. }` to orbitd
//! and publishes it through gossip so the other members learn it too. The
//! state starts unknown: nothing is reported before `rise` passes or `fall`
//! failures, so a starting daemon claims nothing it has not checked.
//!
//! The http check is a deliberately small HTTP/1.1 client (`GET`, `Connection:
//! close`, response read up to 64 KiB): it needs a status line and a body,
//! nothing more. `https://` is not supported (config validation rejects it).

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use orbit_core::{Event, ServiceId, SiteId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::HealthCheck;
use crate::error::DetectError;
use crate::gossip::LocalReporter;
use crate::rise_fall::RiseFall;

/// Largest http response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// An http check target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub host: String,
    pub port: u16,
    pub path: String,
    /// `None`: any 2xx.
    pub status: Option<u16>,
    pub body_contains: Option<String>,
}

impl HttpCheck {
    /// Parses `http://host[:port][/path]`.
    pub fn parse(
        url: &str,
        status: Option<u16>,
        body_contains: Option<String>,
    ) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?} must be an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{url:?} has no usable host"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in host"))?;
            let host = &v6[..end];
            let port = match &v6[end + 1..] {
                "" => 80,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("{url:?}: bad port"))?,
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
                ),
                None => (authority.to_owned(), 80),
            }
        };
        Ok(HttpCheck {
            host,
            port,
            path: path.to_owned(),
            status,
            body_contains,
        })
    }
}

/// What a check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    Tcp(SocketAddr),
    Http(HttpCheck),
    Exec(Vec<String>),
}

/// One service's check, resolved from `[[service]].health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub service: ServiceId,
    pub kind: CheckKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Between checks while the result is in transition.
    pub fast_interval: Duration,
}

impl CheckSpec {
    pub fn from_config(service: &ServiceId, h: &HealthCheck) -> Result<Self, DetectError> {
        let err = |message: String| DetectError::HealthConfig {
            service: service.to_string(),
            message,
        };
        let kind = if let Some(a) = h.tcp {
            CheckKind::Tcp(a)
        } else if let Some(url) = &h.http {
            CheckKind::Http(HttpCheck::parse(url, h.http_status, h.http_body.clone()).map_err(err)?)
        } else if let Some(argv) = &h.exec {
            if argv.is_empty() {
                return Err(err("exec needs a program".into()));
            }
            CheckKind::Exec(argv.clone())
        } else {
            return Err(err("exactly one of tcp, http or exec is required".into()));
        };
        Ok(CheckSpec {
            service: service.clone(),
            kind,
            interval: h.interval.get(),
            timeout: h.timeout.unwrap_or(h.interval).get(),
            rise: h.rise,
            fall: h.fall,
            fast_interval: h.fast_interval(),
        })
    }
}

/// Runs one check once; `Err` says why it failed.
pub async fn check_once(kind: &CheckKind, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, check_inner(kind)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

async fn check_inner(kind: &CheckKind) -> Result<(), String> {
    match kind {
        CheckKind::Tcp(addr) => TcpStream::connect(addr)
            .await
            .map(|_| ())
            .map_err(|e| format!("connect {addr}: {e}")),
        CheckKind::Http(h) => http_get(h).await,
        CheckKind::Exec(argv) => {
            let (program, args) = argv.split_first().ok_or("exec needs a program")?;
            let status = tokio::process::Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .map_err(|e| format!("cannot run {program:?}: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{program:?} exited with {status}"))
            }
        }
    }
}

async fn http_get(h: &HttpCheck) -> Result<(), String> {
    let mut stream = TcpStream::connect((h.host.as_str(), h.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", h.host, h.port))?;
    let host_header = if h.host.contains(':') {
        format!("[{}]:{}", h.host, h.port)
    } else {
        format!("{}:{}", h.host, h.port)
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: orbit-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        h.path
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send request: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read response: {e}"))?;
        if n == 0 || response.len() >= MAX_RESPONSE {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    judge_http_response(&response, h.status, h.body_contains.as_deref())
}

/// Checks a raw HTTP/1.x response against the expected status and body.
pub fn judge_http_response(
    response: &[u8],
    expect_status: Option<u16>,
    body_contains: Option<&str>,
) -> Result<(), String> {
    let line_end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("no HTTP status line")?;
    let line = std::str::from_utf8(&response[..line_end]).map_err(|_| "status line is not text")?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x response: {line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let status_ok = match expect_status {
        Some(want) => status == want,
        None => (200..300).contains(&status),
    };
    if !status_ok {
        return Err(format!(
            "status {status}, expected {}",
            expect_status.map_or("2xx".to_owned(), |s| s.to_string())
        ));
    }
    if let Some(needle) = body_contains {
        let body_start = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .ok_or("no end of headers")?;
        let body = &response[body_start..];
        let found = body
            .windows(needle.len().max(1))
            .any(|w| w == needle.as_bytes());
        if !found {
            return Err(format!("body does not contain {needle:?}"));
        }
    }
    Ok(())
}

/// Told the duration and outcome (`true`: passed) of every single check
/// of a service, e.g. for a histogram: a check that takes most of its
/// timeout warns before it starts to fail.
pub type CheckObserver = Arc<dyn Fn(&ServiceId, Duration, bool) + Send + Sync>;

/// The running health checks of the local site. Dropping stops them.
#[derive(Debug)]
pub struct HealthChecks {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for HealthChecks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl HealthChecks {
    /// No checks (a witness).
    pub fn none() -> HealthChecks {
        HealthChecks { tasks: Vec::new() }
    }

    /// Starts a check task for every service in `checks` (those of the
    /// `[[service]]`s with `health`). Each state change goes to `events` as
    /// `Event::Health` for the local site `site`, and to `gossip` (if
    /// given) for the other members; every check's duration to
    /// `observer` (if given).
    pub fn start(
        site: &SiteId,
        checks: &[(ServiceId, HealthCheck)],
        events: mpsc::Sender<Event>,
        gossip: Option<LocalReporter>,
        observer: Option<CheckObserver>,
    ) -> Result<HealthChecks, DetectError> {
        let specs = checks
            .iter()
            .map(|(id, h)| CheckSpec::from_config(id, h))
            .collect::<Result<Vec<_>, _>>()?;
        let site = site.clone();
        let tasks = specs
            .into_iter()
            .map(|spec| {
                let span = tracing::info_span!("health", service = %spec.service);
                tokio::spawn(
                    run_check(
                        site.clone(),
                        spec,
                        events.clone(),
                        gossip.clone(),
                        observer.clone(),
                    )
                    .instrument(span),
                )
            })
            .collect();
        Ok(HealthChecks { tasks })
    }
}

async fn run_check(
    site: SiteId,
    spec: CheckSpec,
    events: mpsc::Sender<Event>,
    gossip: Option<LocalReporter>,
    observer: Option<CheckObserver>,
) {
    let mut state = RiseFall::new(spec.rise, spec.fall);
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let started = tokio::time::Instant::now();
        let result = check_once(&spec.kind, spec.timeout).await;
        if let Some(observe) = &observer {
            observe(&spec.service, started.elapsed(), result.is_ok());
        }
        if let Err(why) = &result {
            tracing::debug!(%why, "check failed");
        }
        let changed = state.observe(result.is_ok());
        next = started
            + if state.in_transition() {
                spec.fast_interval
            } else {
                spec.interval
            };
        if let Some(healthy) = changed {
            let to = if healthy { "healthy" } else { "unhealthy" };
            let service = &spec.service;
            match &result {
                Ok(()) => tracing::info!(kind = %"service_health", %service, %site, to = %to,
                    "service health changed"),
                Err(why) => tracing::warn!(kind = %"service_health", %service, %site, to = %to,
                    reason = why.as_str(), "service health changed"),
            }
            // Gossip first: the engine's reaction (a placement) is published
            // through the same gossip queue, and a peer must not see the
            // placement before the health that explains it.
            if let Some(g) = &gossip {
                // Gossip gone means orbitd is shutting down; keep checking
                // for the local engine until it stops us.
                let _ = g.report(spec.service.clone(), healthy).await;
            }
            let event = Event::Health {
                site: site.clone(),
                service: spec.service.clone(),
                healthy,
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls() {
        let h = HttpCheck::parse("http://198.51.100.10/healthz", None, None).unwrap();
        assert_eq!(
            (h.host.as_str(), h.port, h.path.as_str()),
            ("198.51.100.10", 80, "/healthz")
        );
        let h = HttpCheck::parse("http://[2001:db8::1]:8080", Some(204), None).unwrap();
        assert_eq!(
            (h.host.as_str(), h.port, h.path.as_str()),
            ("2001:db8::1", 8080, "/")
        );
        assert!(HttpCheck::parse("https://x/", None, None).is_err());
        assert!(HttpCheck::parse("http://x:99999/", None, None).is_err());
        assert!(HttpCheck::parse("http:///", None, None).is_err());
    }

    #[test]
    fn judges_status_and_body() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n";
        assert_eq!(judge_http_response(ok, None, Some("ok")), Ok(()));
        assert!(judge_http_response(ok, Some(204), None)
            .unwrap_err()
            .contains("expected 204"));
        assert!(judge_http_response(ok, None, Some("nope"))
            .unwrap_err()
            .contains("nope"));
        let err = b"HTTP/1.0 503 Service Unavailable\r\n\r\n";
        assert!(judge_http_response(err, None, None)
            .unwrap_err()
            .contains("503"));
        assert_eq!(judge_http_response(err, Some(503), None), Ok(()));
        assert!(judge_http_response(b"SSH-2.0-OpenSSH\r\n", None, None).is_err());
        assert!(judge_http_response(b"", None, None).is_err());
    }
}
