//! The `hook` backend: hands every steering change to an orchestrator.
//!
//! The steering JSON (exactly `orbit_core::Steering` serialized) goes to a
//! command's stdin and/or is POSTed to a URL. Success is exit status 0 / an
//! HTTP 2xx. Anything else is an error naming the hook and quoting what it
//! said; the daemon's backend runner retries with backoff, so a failing hook
//! is never silently skipped. A command that runs past the timeout is killed
//! with its process group ([`crate::outbound`]).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use orbit_config::Hook;
use orbit_core::{Applied, BackendKind, Observed, RedirectError, Redirector, Steering};

use crate::outbound::{run_program, send_http, Capture, HttpError, Program, ProgramError};

/// How much of a failing hook's stderr / response body goes into the error.
const QUOTE_LIMIT: usize = 300;

#[derive(Debug)]
pub struct HookBackend {
    command: Option<Vec<String>>,
    url: Option<hyper::Uri>,
    timeout: Duration,
    /// The last steering every hook target confirmed.
    delivered: Option<Steering>,
}

impl HookBackend {
    pub fn new(config: &Hook) -> Result<HookBackend, RedirectError> {
        let url = match &config.url {
            Some(u) => Some(u.parse::<hyper::Uri>().map_err(|e| {
                RedirectError::Config(format!("hook.url {u:?} is not a valid URL: {e}"))
            })?),
            None => None,
        };
        Ok(HookBackend {
            command: config.command.clone(),
            url,
            timeout: config.timeout.get(),
            delivered: None,
        })
    }

    fn timed_out(&self, component: &str) -> RedirectError {
        RedirectError::Timeout {
            component: component.to_owned(),
            timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    async fn run_command(
        &self,
        argv: &[String],
        payload: &[u8],
        steering: &Steering,
    ) -> Result<(), RedirectError> {
        let component = format!("hook command {:?}", argv.join(" "));
        let program = Program {
            argv,
            env: vec![
                ("ORBIT_GENERATION", steering.generation.to_string()),
                ("ORBIT_SITE", steering.local_site.as_str().to_owned()),
            ],
            stdin: Some(payload),
            capture: Capture::Stderr,
            // All of it: the quote is its start.
            keep: usize::MAX,
            timeout: self.timeout,
        };
        let exited = run_program(&program).await.map_err(|e| match e {
            ProgramError::NoProgram => RedirectError::Config("hook.command is empty".to_owned()),
            ProgramError::CannotStart(e) => RedirectError::Unreachable {
                component: component.clone(),
                detail: format!("cannot start: {e}"),
            },
            ProgramError::Wait(e) => RedirectError::Unreachable {
                component: component.clone(),
                detail: e.to_string(),
            },
            ProgramError::TimedOut { .. } => self.timed_out(&component),
        })?;
        if exited.status.success() {
            Ok(())
        } else {
            Err(RedirectError::Rejected {
                component,
                detail: format!("{}; stderr: {:?}", exited.status, quote(&exited.output)),
            })
        }
    }

    async fn post(&self, url: &hyper::Uri, payload: Vec<u8>) -> Result<(), RedirectError> {
        let component = format!("hook url {url}");
        let request = hyper::Request::post(url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| RedirectError::Config(format!("{component}: {e}")))?;
        let answer = send_http(request, usize::MAX, self.timeout)
            .await
            .map_err(|e| match e {
                HttpError::Failed(e) => RedirectError::Unreachable {
                    component: component.clone(),
                    detail: e.to_string(),
                },
                HttpError::TimedOut => self.timed_out(&component),
            })?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(RedirectError::Rejected {
                component,
                detail: format!("HTTP {}; body: {:?}", answer.status, quote(&answer.body)),
            })
        }
    }
}

fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[async_trait]
impl Redirector for HookBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Hook
    }

    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        if self
            .delivered
            .as_ref()
            .is_some_and(|d| d.same_placement(steering))
        {
            return Ok(Applied {
                generation: steering.generation,
                changes: 0,
                detail: "unchanged; hook not called".to_owned(),
            });
        }
        let payload = serde_json::to_vec(steering)
            .map_err(|e| RedirectError::Config(format!("steering not serializable: {e}")))?;
        let mut targets = Vec::new();
        if let Some(argv) = &self.command {
            self.run_command(argv, &payload, steering).await?;
            targets.push("command");
        }
        if let Some(url) = &self.url {
            self.post(url, payload).await?;
            targets.push("url");
        }
        self.delivered = Some(steering.clone());
        Ok(Applied {
            generation: steering.generation,
            changes: 1,
            detail: format!("delivered to hook {}", targets.join(" and ")),
        })
    }

    async fn observe(&mut self) -> Result<Observed, RedirectError> {
        let services = self
            .delivered
            .as_ref()
            .map(|s| {
                s.services
                    .iter()
                    .map(|(id, svc)| (id.clone(), svc.active.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Observed {
            services,
            detail: match &self.delivered {
                Some(s) => format!("last delivered generation {}", s.generation),
                None => "nothing delivered yet".to_owned(),
            },
        })
    }
}
