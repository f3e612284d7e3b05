//! What a health check costs orbitd: CPU time of the checking thread per
//! check, for each kind (tcp connect, http GET, exec of `/bin/true`),
//! against local servers running on other threads (their CPU is not
//! counted; an exec's child is, separately). The point (issue 20): checks
//! every 20-100 ms must stay cheap, so a gray failure can be caught in
//! a few hundred ms without the checker becoming the load.
//!
//! `cargo bench -p orbit-detect --bench health_cost [-- CHECKS]` (default
//! 2000 tcp/http checks, a tenth of that for exec).

#![allow(clippy::unwrap_used)] // a bench: a panic is the failure report

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use orbit_detect::health::{check_once, CheckSpec};
use orbit_detect::HealthCheck;

/// CPU time of the calling thread: the first field of
/// `/proc/thread-self/schedstat`, in nanoseconds.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    let ns: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

/// CPU time of reaped children: `cutime + cstime` of `/proc/self/stat`
/// (clock ticks, 100 per second here).
fn children_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which may contain spaces), from field 3.
    let rest = &text[text.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the whole line.
    let ticks: u64 = fields[13].parse::<u64>().unwrap() + fields[14].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// A minimal HTTP server on its own thread: `200 ok` to every request.
fn http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

fn check(toml_kind: &str) -> HealthCheck {
    let text = format!("{toml_kind}\ninterval = \"1s\"\n");
    toml::from_str(&text).unwrap()
}

struct Cost {
    kind: &'static str,
    checks: u32,
    cpu: Duration,
    child_cpu: Duration,
    wall: Duration,
}

fn measure(kind: &'static str, h: &HealthCheck, checks: u32) -> Cost {
    let spec = CheckSpec::from_config(&"web".parse().unwrap(), h).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Warm up (first connect, first fork).
    rt.block_on(check_once(&spec.kind, spec.timeout)).unwrap();
    let (cpu0, child0, wall0) = (thread_cpu(), children_cpu(), Instant::now());
    for _ in 0..checks {
        rt.block_on(check_once(&spec.kind, spec.timeout)).unwrap();
    }
    Cost {
        kind,
        checks,
        cpu: thread_cpu() - cpu0,
        child_cpu: children_cpu() - child0,
        wall: wall0.elapsed(),
    }
}

fn main() {
    let checks: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    // Accepting is the kernel's job (the backlog); drain it so it never fills.
    std::thread::spawn(move || for _ in tcp.incoming() {});
    let http = http_server();
    let costs = [
        measure("tcp", &check(&format!("tcp = \"{tcp_addr}\"")), checks),
        measure(
            "http",
            &check(&format!("http = \"http://{http}/healthz\"")),
            checks,
        ),
        measure(
            "exec /bin/true",
            &check("exec = [\"/bin/true\"]"),
            (checks / 10).max(1),
        ),
    ];
    println!(
        "| check | checks | CPU per check (checker thread) | + child CPU | wall per check | one core at 20 ms / 100 ms interval |"
    );
    println!("|---|---|---|---|---|---|");
    for c in &costs {
        let per = (c.cpu + c.child_cpu) / c.checks;
        let pct = |interval_ms: f64| per.as_secs_f64() * 1000.0 / interval_ms * 100.0;
        println!(
            "| {} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.2} % / {:.2} % |",
            c.kind,
            c.checks,
            c.cpu.as_secs_f64() * 1e6 / f64::from(c.checks),
            c.child_cpu.as_secs_f64() * 1e6 / f64::from(c.checks),
            c.wall.as_secs_f64() * 1e6 / f64::from(c.checks),
            pct(20.0),
            pct(100.0),
        );
    }
}
