//! Runs one plan step (docs/plans.md, "A step"): an `exec` step's program
//! or an `http` step's request, each attempt bounded by the step's
//! timeout, retried `retries` times after a failure with a short backoff.
//!
//! Whatever the step does ends as a [`StepOutcome`]: a failure is a line of
//! text naming it, never a panic, and the last attempt's output is kept
//! for status and the journal.
//!
//! The loop (`daemon/plans.rs`) runs each step the engine says is due in a
//! task of its own and feeds the outcome back as an event.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use orbit_core::config::{render_template, Phase, PlanStep, StepContext, StepKind};
use orbit_core::{PlanId, ServiceId, SiteId};

use crate::outbound::{
    io_reason, run_program, send_http, Capture, HttpError, Program, ProgramError,
};

/// How much of a step's output [`StepOutcome::output_tail`] keeps: the last
/// bytes.
// the engine's plan wiring reads it next
pub const OUTPUT_TAIL_LIMIT: usize = 2048;

/// The wait before the first retry; it doubles with each further one.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// What one step runs for: fills its placeholders and its environment.
// built by the engine's plan wiring next
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRequest {
    pub service: ServiceId,
    pub plan: PlanId,
    pub phase: Phase,
    /// The step's name (`PlanStep::name`).
    pub step: String,
    /// The site being left; `None` when the service was carried nowhere.
    pub from: Option<SiteId>,
    pub to: SiteId,
    /// The steering generation of the move.
    pub generation: u64,
}

/// How a step ended, after its retries.
// read by the engine's plan wiring next
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// `Err`: one line naming the last attempt's failure ("exit status 3",
    /// "killed after timeout 5s", "HTTP 503 Service Unavailable", ...).
    pub result: Result<(), String>,
    /// How many attempts ran: 1 + the retries used.
    pub attempts: u32,
    /// The last attempt's stdout and stderr (exec) or response body
    /// (http): at most its last [`OUTPUT_TAIL_LIMIT`] bytes, lossy UTF-8.
    pub output_tail: String,
    /// The last attempt's exit code (exec) or HTTP status (http); `None`
    /// when there was none (not started, killed, no answer).
    pub exit_status: Option<i32>,
    /// From the start of the first attempt to the end of the last, the
    /// waits between them included.
    pub elapsed: Duration,
}

/// Runs `step` for `request`: its attempts and the waits between them.
// called by the engine's plan wiring next
pub async fn run_step(step: &PlanStep, request: &StepRequest) -> StepOutcome {
    run_step_with_backoff(step, request, BACKOFF_FIRST, BACKOFF_CAP).await
}

/// [`run_step`] with the waits between attempts given: `first` before the
/// first retry, doubling up to `cap`.
pub(crate) async fn run_step_with_backoff(
    step: &PlanStep,
    request: &StepRequest,
    first: Duration,
    cap: Duration,
) -> StepOutcome {
    let started = Instant::now();
    let mut wait = first.min(cap);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt = run_attempt(step, request).await;
        if attempt.result.is_ok() || attempts > step.retries {
            return StepOutcome {
                result: attempt.result,
                attempts,
                output_tail: tail_text(&attempt.output),
                exit_status: attempt.exit_status,
                elapsed: started.elapsed(),
            };
        }
        tracing::info!(
            service = %request.service,
            plan = %request.plan,
            phase = request.phase.key(),
            step = %request.step,
            attempt = attempts,
            error = attempt.result.as_ref().err().map(String::as_str).unwrap_or_default(),
            "plan step failed; retrying in {}",
            humantime::format_duration(wait),
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(cap);
    }
}

/// One attempt's end.
struct Attempt {
    result: Result<(), String>,
    output: Vec<u8>,
    exit_status: Option<i32>,
}

impl Attempt {
    fn failed(why: String) -> Attempt {
        Attempt {
            result: Err(why),
            output: Vec::new(),
            exit_status: None,
        }
    }
}

async fn run_attempt(step: &PlanStep, request: &StepRequest) -> Attempt {
    match step.kind {
        StepKind::Exec => exec(step, request).await,
        StepKind::Http => http(step, request).await,
    }
}

async fn exec(step: &PlanStep, request: &StepRequest) -> Attempt {
    let argv = step.command.as_deref().unwrap_or_default();
    let program = Program {
        argv,
        env: vec![
            ("ORBIT_SERVICE", request.service.to_string()),
            (
                "ORBIT_FROM",
                request
                    .from
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            ("ORBIT_TO", request.to.to_string()),
            ("ORBIT_GENERATION", request.generation.to_string()),
            ("ORBIT_PLAN", request.plan.to_string()),
            ("ORBIT_PHASE", request.phase.key().to_owned()),
            ("ORBIT_STEP", request.step.clone()),
        ],
        stdin: None,
        capture: Capture::StdoutAndStderr,
        keep: OUTPUT_TAIL_LIMIT,
        timeout: step.timeout.get(),
    };
    let name = argv.first().map(String::as_str).unwrap_or_default();
    match run_program(&program).await {
        Ok(exited) => {
            let result = if exited.status.success() {
                Ok(())
            } else {
                Err(describe_exit(exited.status))
            };
            Attempt {
                result,
                output: exited.output,
                exit_status: exited.status.code(),
            }
        }
        Err(ProgramError::NoProgram) => {
            Attempt::failed("the step has no command to run".to_owned())
        }
        Err(ProgramError::CannotStart(e)) => {
            Attempt::failed(format!("cannot start {name}: {}", io_reason(&e)))
        }
        Err(ProgramError::Wait(e)) => Attempt::failed(format!(
            "lost track of {name} and killed it: {}",
            io_reason(&e)
        )),
        Err(ProgramError::TimedOut { output }) => Attempt {
            result: Err(format!("killed after timeout {}", step.timeout)),
            output,
            exit_status: None,
        },
    }
}

/// "exit status 3", or the signal that ended it.
fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(name) => format!("killed by signal {signal} ({name})"),
            Err(_) => format!("killed by signal {signal}"),
        },
        (None, None) => status.to_string(),
    }
}

async fn http(step: &PlanStep, request: &StepRequest) -> Attempt {
    let context = StepContext {
        service: request.service.as_str(),
        from: request
            .from
            .as_ref()
            .map(SiteId::as_str)
            .unwrap_or_default(),
        to: request.to.as_str(),
        generation: request.generation,
    };
    // The config check refused unknown placeholders; this is a guard, not
    // a path a checked config takes.
    let url = match render_template(step.url.as_deref().unwrap_or_default(), &context) {
        Ok(url) => url,
        Err(e) => return Attempt::failed(format!("url: {e}")),
    };
    let body = match step.body.as_deref().map(|b| render_template(b, &context)) {
        None => None,
        Some(Ok(body)) => Some(body),
        Some(Err(e)) => return Attempt::failed(format!("body: {e}")),
    };
    let uri = match url.parse::<hyper::Uri>() {
        Ok(uri) => uri,
        Err(e) => return Attempt::failed(format!("{url:?} is not a valid URL: {e}")),
    };
    let method = match hyper::Method::from_bytes(step.method().as_bytes()) {
        Ok(method) => method,
        Err(e) => return Attempt::failed(format!("method {:?}: {e}", step.method())),
    };
    let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
    let mut builder = hyper::Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let built = builder.body(Full::new(Bytes::from(body.unwrap_or_default())));
    let outgoing = match built {
        Ok(outgoing) => outgoing,
        Err(e) => return Attempt::failed(format!("cannot build the request to {url}: {e}")),
    };
    match send_http(outgoing, OUTPUT_TAIL_LIMIT, step.timeout.get()).await {
        Ok(answer) => Attempt {
            result: if answer.status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", answer.status))
            },
            output: answer.body,
            exit_status: Some(i32::from(answer.status.as_u16())),
        },
        Err(HttpError::TimedOut) => Attempt::failed(format!("no answer within {}", step.timeout)),
        Err(HttpError::Failed(e)) if e.is_connect() => Attempt::failed(format!(
            "cannot connect to {authority}: {}",
            innermost_reason(&e)
        )),
        Err(HttpError::Failed(e)) => Attempt::failed(format!(
            "HTTP request to {authority} failed: {}",
            innermost_reason(&e)
        )),
    }
}

/// The deepest cause of `e`, which names what went wrong ("Connection
/// refused"); the outer layers only say where ("client error (Connect)").
fn innermost_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = e;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    match deepest.downcast_ref::<std::io::Error>() {
        Some(io) => io_reason(io),
        None => deepest.to_string(),
    }
}

/// The last [`OUTPUT_TAIL_LIMIT`] bytes of `output` as text.
fn tail_text(output: &[u8]) -> String {
    let start = output.len().saturating_sub(OUTPUT_TAIL_LIMIT);
    String::from_utf8_lossy(&output[start..]).into_owned()
}

#[cfg(test)]
mod tests;
