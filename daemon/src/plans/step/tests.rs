//! Steps against real programs (`/bin/sh` scripts in a temp dir) and a real
//! HTTP server on 127.0.0.1 started by each test on an ephemeral port.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_core::config::HumanDuration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// Short waits between attempts, so the retry tests stay quick.
const TEST_BACKOFF: Duration = Duration::from_millis(20);

fn request(from: Option<&str>) -> StepRequest {
    StepRequest {
        service: "db".parse().unwrap(),
        plan: "pg".parse().unwrap(),
        phase: Phase::BeforeTakeover,
        step: "promote".to_owned(),
        from: from.map(|f| f.parse().unwrap()),
        to: "b".parse().unwrap(),
        generation: 42,
    }
}

fn exec_step(script: &str, timeout: HumanDuration, retries: u32) -> PlanStep {
    PlanStep {
        name: None,
        kind: StepKind::Exec,
        at: None,
        command: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        method: None,
        url: None,
        body: None,
        timeout,
        retries,
        idempotent: false,
    }
}

fn http_step(method: Option<&str>, url: String, body: Option<&str>) -> PlanStep {
    PlanStep {
        name: None,
        kind: StepKind::Http,
        at: None,
        command: None,
        method: method.map(str::to_owned),
        url: Some(url),
        body: body.map(str::to_owned),
        timeout: HumanDuration::from_secs(10),
        retries: 0,
        idempotent: false,
    }
}

async fn run(step: &PlanStep, request: &StepRequest) -> StepOutcome {
    run_step_with_backoff(step, request, TEST_BACKOFF, TEST_BACKOFF).await
}

#[tokio::test]
async fn a_program_that_exits_0_succeeds_with_its_output() {
    let step = exec_step("echo promoted", HumanDuration::from_secs(10), 0);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 1);
    assert_eq!(outcome.exit_status, Some(0));
    assert_eq!(outcome.output_tail, "promoted\n");
}

#[tokio::test]
async fn exit_status_3_fails_and_quotes_stdout_and_stderr() {
    let step = exec_step(
        "echo 'trying to promote'; echo 'recovery is not in progress' >&2; exit 3",
        HumanDuration::from_secs(10),
        0,
    );
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Err("exit status 3".to_owned()));
    assert_eq!(outcome.exit_status, Some(3));
    assert_eq!(outcome.attempts, 1);
    assert!(
        outcome.output_tail.contains("trying to promote")
            && outcome.output_tail.contains("recovery is not in progress"),
        "{:?}",
        outcome.output_tail
    );
}

#[tokio::test]
async fn the_output_tail_keeps_the_last_2_kib() {
    // 5000 lines "line N": the tail ends with the last line and is cut at
    // the front.
    let step = exec_step(
        "i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done",
        HumanDuration::from_secs(30),
        0,
    );
    let outcome = run(&step, &request(None)).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.output_tail.len(), OUTPUT_TAIL_LIMIT);
    assert!(outcome.output_tail.ends_with("line 4999\n"));
    assert!(!outcome.output_tail.contains("line 1000\n"));
}

/// Whether `pid` has ended: gone, or a zombie nobody reaped yet.
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "PID (comm) STATE ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Waits (at most 10 s: a SIGKILL is delivered asynchronously) for `pid`
/// to end; panics naming `what` if it does not.
async fn wait_ended(pid: i32, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ended(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} (pid {pid}) still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills a process the test's step started when the test ends, so a
/// failing test leaves nothing running.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[tokio::test]
async fn a_step_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("child.pid");
    let leader = dir.path().join("leader.pid");
    let script = format!(
        "echo $$ > {leader}; echo waiting for the replica; sleep 300 & echo $! > {pids}; wait",
        leader = leader.display(),
        pids = pids.display()
    );
    let step = exec_step(&script, HumanDuration::from_millis(1500), 0);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(
        outcome.result,
        Err("killed after timeout 1s 500ms".to_owned())
    );
    assert_eq!(outcome.exit_status, None);
    assert_eq!(outcome.output_tail, "waiting for the replica\n");
    let child = KillOnDrop(read_pid(&pids));
    wait_ended(read_pid(&leader), "the step's shell").await;
    wait_ended(child.0, "the step's child `sleep 300`").await;
}

#[tokio::test]
async fn a_background_process_of_a_successful_step_keeps_running() {
    // A step that starts a server must not see it killed for succeeding;
    // the server holds the step's stdout open, which must not hold the step.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("server.pid");
    let script = format!("sleep 300 & echo $! > {}", pid_file.display());
    let step = exec_step(&script, HumanDuration::from_secs(10), 0);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Ok(()));
    let server = KillOnDrop(read_pid(&pid_file));
    assert!(
        !ended(server.0),
        "the background process {} was killed",
        server.0
    );
}

/// A script that fails its first two runs and succeeds from the third,
/// counting in `dir`.
fn fails_twice(dir: &Path) -> String {
    let count = dir.join("count");
    format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; \
         echo attempt $n; [ $n -gt 2 ]",
        c = count.display()
    )
}

#[tokio::test]
async fn two_retries_get_a_step_that_fails_twice_through() {
    let dir = tempfile::tempdir().unwrap();
    let step = exec_step(&fails_twice(dir.path()), HumanDuration::from_secs(10), 2);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 3);
    assert_eq!(
        outcome.output_tail, "attempt 3\n",
        "the last attempt's output"
    );
    assert!(outcome.elapsed >= 2 * TEST_BACKOFF, "{:?}", outcome.elapsed);
}

#[tokio::test]
async fn one_retry_is_not_enough_for_a_step_that_fails_twice() {
    let dir = tempfile::tempdir().unwrap();
    let step = exec_step(&fails_twice(dir.path()), HumanDuration::from_secs(10), 1);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Err("exit status 1".to_owned()));
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.exit_status, Some(1));
    assert_eq!(outcome.output_tail, "attempt 2\n");
    let runs = std::fs::read_to_string(dir.path().join("count")).unwrap();
    assert_eq!(runs.trim(), "2", "no third run");
}

#[tokio::test]
async fn the_environment_names_the_move_and_stdin_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env");
    let script = format!(
        "for v in ORBIT_SERVICE ORBIT_FROM ORBIT_TO ORBIT_GENERATION ORBIT_PLAN ORBIT_PHASE \
         ORBIT_STEP; do printenv $v > /dev/null && echo \"$v=$(printenv $v)\" || echo \"$v unset\"; \
         done > {o}; wc -c < /dev/stdin | tr -d ' ' >> {o}",
        o = out.display()
    );
    let step = exec_step(&script, HumanDuration::from_secs(10), 0);
    let outcome = run(&step, &request(None)).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "ORBIT_SERVICE=db\n\
         ORBIT_FROM=\n\
         ORBIT_TO=b\n\
         ORBIT_GENERATION=42\n\
         ORBIT_PLAN=pg\n\
         ORBIT_PHASE=before_takeover\n\
         ORBIT_STEP=promote\n\
         0\n"
    );
}

#[tokio::test]
async fn a_missing_program_is_a_clear_failure_on_every_attempt() {
    let mut step = exec_step("", HumanDuration::from_secs(10), 1);
    step.command = Some(vec!["/nonexistent/orbit-step".to_owned()]);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(
        outcome.result,
        Err("cannot start /nonexistent/orbit-step: No such file or directory".to_owned())
    );
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.exit_status, None);
    assert_eq!(outcome.output_tail, "");
}

/// One request as the test server read it.
#[derive(Debug, Clone)]
struct Received {
    /// The request line and headers, lines joined by "\n".
    head: String,
    body: String,
}

/// A one-request-per-connection HTTP/1.1 server on 127.0.0.1 that answers
/// every request with `status` and `body`, and records what it received.
struct TestServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start(status: &'static str, body: &'static str) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                record.lock().unwrap().push(request);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        TestServer {
            addr,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request with a `content-length` body (or none).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).replace("\r\n", "\n");
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < head_end + 4 + length {
        let n = stream.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end + 4..head_end + 4 + length]).into_owned();
    Some(Received { head, body })
}

#[tokio::test]
async fn http_200_succeeds_with_the_body() {
    let server = TestServer::start("200 OK", "{\"recovered\":true}").await;
    let step = http_step(None, format!("http://{}/recover", server.addr), None);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.exit_status, Some(200));
    assert_eq!(outcome.output_tail, "{\"recovered\":true}");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].head.starts_with("POST /recover HTTP/1.1\n"),
        "the default method is POST: {}",
        received[0].head
    );
    assert!(
        !received[0]
            .head
            .to_ascii_lowercase()
            .contains("content-type"),
        "no body, no content type: {}",
        received[0].head
    );
}

#[tokio::test]
async fn http_503_fails_naming_the_status_after_its_retries() {
    let server = TestServer::start("503 Service Unavailable", "replica lagging").await;
    let mut step = http_step(Some("put"), format!("http://{}/x", server.addr), None);
    step.retries = 1;
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(
        outcome.result,
        Err("HTTP 503 Service Unavailable".to_owned())
    );
    assert_eq!(outcome.exit_status, Some(503));
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.output_tail, "replica lagging");
    let received = server.received();
    assert_eq!(received.len(), 2, "one request per attempt");
    assert!(received[1].head.starts_with("PUT /x HTTP/1.1\n"));
}

#[tokio::test]
async fn a_server_that_never_answers_fails_after_the_timeout() {
    // Accepts connections, reads, never writes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut step = http_step(None, format!("http://{addr}/recover"), Some("{}"));
    step.timeout = HumanDuration::from_millis(300);
    let outcome = run(&step, &request(Some("a"))).await;
    silent.abort();
    assert_eq!(outcome.result, Err("no answer within 300ms".to_owned()));
    assert_eq!(outcome.exit_status, None);
    assert!(outcome.elapsed >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_refused_connection_names_the_address_and_the_reason() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let step = http_step(None, format!("http://{addr}/recover"), None);
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(
        outcome.result,
        Err(format!("cannot connect to {addr}: Connection refused"))
    );
    assert_eq!(outcome.exit_status, None);
}

#[tokio::test]
async fn placeholders_are_filled_in_the_url_and_the_body() {
    let server = TestServer::start("202 Accepted", "").await;
    let step = http_step(
        None,
        format!(
            "http://{}/v1/datacenters/${{to}}/recover?from=${{from}}",
            server.addr
        ),
        Some(
            r#"{"service": "${service}", "from": "${from}", "to": "${to}", "generation": ${generation}}"#,
        ),
    );
    let outcome = run(&step, &request(Some("a"))).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.exit_status, Some(202));
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0]
            .head
            .starts_with("POST /v1/datacenters/b/recover?from=a HTTP/1.1\n"),
        "{}",
        received[0].head
    );
    assert!(
        received[0]
            .head
            .to_ascii_lowercase()
            .contains("\ncontent-type: application/json"),
        "{}",
        received[0].head
    );
    assert_eq!(
        received[0].body,
        r#"{"service": "db", "from": "a", "to": "b", "generation": 42}"#
    );
}
