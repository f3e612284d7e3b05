//! The Serf adapter against real `serf agent` processes, including an agent
//! restart under the adapter.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orbit_core::{Event, Liveness};
use orbit_detect::serf::{SerfAdapter, SerfSink};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A loopback /24 unique to this process.
fn host(n: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        (pid % 200) as u8 + 20,
        (pid / 200 % 200) as u8 ^ 0x55,
        n,
    )
}

struct Agent {
    child: Child,
}

impl Agent {
    fn start(name: &str, site: &str, ip: Ipv4Addr, join: Option<Ipv4Addr>) -> Agent {
        let mut cmd = Command::new("serf");
        cmd.arg("agent")
            .arg(format!("-node={name}"))
            .arg(format!("-bind={ip}:7946"))
            .arg(format!("-rpc-addr={ip}:7373"))
            .arg("-tag")
            .arg(format!("site={site}"))
            .arg("-profile=lan")
            .arg("-log-level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(j) = join {
            cmd.arg(format!("-retry-join={j}:7946"))
                .arg("-retry-interval=200ms");
        }
        Agent {
            child: cmd.spawn().expect("serf is installed"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for(rx: &mut mpsc::Receiver<Event>, within: Duration, want: Liveness) -> Duration {
    let t0 = Instant::now();
    loop {
        let left = within.saturating_sub(t0.elapsed());
        let e = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} verdict about a within {within:?}"))
            .unwrap();
        if let Event::Verdict {
            observer,
            subject,
            liveness,
        } = &e
        {
            assert_eq!(observer.as_str(), "b");
            if subject.as_str() == "a" && *liveness == want {
                return t0.elapsed();
            }
        }
    }
}

#[tokio::test]
async fn serf_members_become_verdicts_across_an_agent_restart() {
    let (ia, ib) = (host(1), host(2));
    let mut a = Agent::start("a1", "a", ia, None);
    let mut b = Agent::start("b1", "b", ib, Some(ia));
    let (tx, mut rx) = mpsc::channel(64);
    let _adapter = SerfAdapter::start(
        SocketAddr::from((ib, 7373)),
        "b".parse().unwrap(),
        SerfSink::Engine(tx),
    );
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Alive).await;

    // The local agent restarts: the adapter reconnects and resyncs.
    b.kill();
    let _b2 = Agent::start("b1", "b", ib, Some(ia));
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Alive).await;

    // Site a's agent dies: Serf reports member-failed.
    a.kill();
    let took = wait_for(&mut rx, Duration::from_secs(30), Liveness::Dead).await;
    eprintln!("serf (lan profile) reported a failed after {took:?}");
}

#[tokio::test]
async fn a_graceful_leave_is_a_dead_verdict() {
    let (ia, ib) = (host(3), host(4));
    let mut a = Agent::start("a1", "a", ia, None);
    let _b = Agent::start("b1", "b", ib, Some(ia));
    let (tx, mut rx) = mpsc::channel(64);
    let _adapter = SerfAdapter::start(
        SocketAddr::from((ib, 7373)),
        "b".parse().unwrap(),
        SerfSink::Engine(tx),
    );
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Alive).await;
    let status = Command::new("serf")
        .arg("leave")
        .arg(format!("-rpc-addr={ia}:7373"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Dead).await;
    a.kill();
}
