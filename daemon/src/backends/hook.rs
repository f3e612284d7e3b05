//! The `hook` backend: hands every steering change to an orchestrator.
//!
//! The steering JSON (exactly `orbit_core::Steering` serialized) goes to a
//! command's stdin and/or is POSTed to a URL. Success is exit status 0 / an
//! HTTP 2xx. Anything else is an error naming the hook and quoting what it
//! said; the daemon's backend runner retries with backoff, so a failing hook
//! is never silently skipped.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use orbit_config::Hook;
use orbit_core::{Applied, BackendKind, Observed, RedirectError, Redirector, Steering};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

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

    async fn run_command(
        &self,
        argv: &[String],
        payload: &[u8],
        steering: &Steering,
    ) -> Result<(), RedirectError> {
        let component = format!("hook command {:?}", argv.join(" "));
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| RedirectError::Config("hook.command is empty".to_owned()))?;
        let mut child = Command::new(program)
            .args(args)
            .env("ORBIT_GENERATION", steering.generation.to_string())
            .env("ORBIT_SITE", steering.local_site.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RedirectError::Unreachable {
                component: component.clone(),
                detail: format!("cannot start: {e}"),
            })?;
        let run = async {
            if let Some(mut stdin) = child.stdin.take() {
                // A hook that ignores stdin closes the pipe early; that is
                // its choice, not a failure.
                let _ = stdin.write_all(payload).await;
            }
            child.wait_with_output().await
        };
        let output = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| RedirectError::Timeout {
                component: component.clone(),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            })?
            .map_err(|e| RedirectError::Unreachable {
                component: component.clone(),
                detail: e.to_string(),
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(RedirectError::Rejected {
                component,
                detail: format!("{}; stderr: {:?}", output.status, quote(&output.stderr)),
            })
        }
    }

    async fn post(&self, url: &hyper::Uri, payload: Vec<u8>) -> Result<(), RedirectError> {
        let component = format!("hook url {url}");
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = hyper::Request::post(url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| RedirectError::Config(format!("{component}: {e}")))?;
        let exchange = async {
            let response =
                client
                    .request(request)
                    .await
                    .map_err(|e| RedirectError::Unreachable {
                        component: component.clone(),
                        detail: e.to_string(),
                    })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, RedirectError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| RedirectError::Timeout {
                component: component.clone(),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            })??;
        if status.is_success() {
            Ok(())
        } else {
            Err(RedirectError::Rejected {
                component,
                detail: format!("HTTP {status}; body: {:?}", quote(&body)),
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
