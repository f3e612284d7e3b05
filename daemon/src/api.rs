//! The HTTP API: a unix socket (mode 0600) by default, optionally TCP with a
//! bearer token. Handlers only translate HTTP to [`ApiCall`]s for the event
//! loop and back; every error is JSON `{"error": "..."}` with a 4xx/5xx.

use std::collections::HashMap;
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use orbit_core::api::{
    ApiError, DrainRequest, FailbackRequest, PinRequest, SwitchoverRequest, UnpinRequest,
};
use orbit_core::{Command, CommandError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, oneshot};

use crate::daemon::{ApiCall, Input};
use crate::external::{self, PostedEvent};
use crate::metrics::Metrics;

const MAX_BODY: usize = 64 * 1024;
const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Ctx {
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    /// Required bearer token (TCP listener only).
    token: Option<String>,
    known: Arc<Known>,
}

/// The sites and services of the config, to check fed-in events, and this
/// node's site and gossip member, to take them as its own
/// (`crate::external`).
#[derive(Debug, Clone)]
pub struct Known {
    pub local: orbit_core::SiteId,
    pub sites: Vec<orbit_core::SiteId>,
    pub services: Vec<orbit_core::ServiceId>,
    /// `None` with `[detect] gossip = false`.
    pub gossip: Option<orbit_detect::gossip::LocalReporter>,
}

/// Binds the unix socket (replacing a stale one) with mode 0600.
pub fn bind_unix(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "API socket {} is in use: is another orbitd running?",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("binding API socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 0600 {}", path.display()))?;
    Ok(listener)
}

pub fn serve_unix(
    listener: UnixListener,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    known: Arc<Known>,
) {
    let ctx = Arc::new(Ctx {
        tx,
        metrics,
        token: None,
        known,
    });
    tokio::spawn(accept_loop(listener, ctx));
}

pub fn serve_tcp(
    listener: TcpListener,
    token: String,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    known: Arc<Known>,
) {
    let ctx = Arc::new(Ctx {
        tx,
        metrics,
        token: Some(token),
        known,
    });
    tokio::spawn(accept_loop(listener, ctx));
}

/// The unix and TCP listeners, as far as the accept loop cares.
trait Accept: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_stream(
        &self,
    ) -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_stream(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_stream(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

async fn accept_loop<L: Accept>(listener: L, ctx: Arc<Ctx>) {
    loop {
        match listener.accept_stream().await {
            Ok(stream) => serve_connection(stream, ctx.clone()),
            Err(error) => {
                tracing::warn!(%error, "API accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn serve_connection<S>(stream: S, ctx: Arc<Ctx>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let service = service_fn(move |req| {
            let ctx = ctx.clone();
            async move { Ok::<_, Infallible>(handle(req, &ctx).await) }
        });
        if let Err(error) = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await
        {
            tracing::debug!(%error, "API connection ended with an error");
        }
    });
}

type Reply = Response<Full<Bytes>>;

fn json<T: Serialize>(status: StatusCode, body: &T) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(
        status,
        &ApiError {
            error: message.into(),
        },
    )
}

async fn handle(req: Request<Incoming>, ctx: &Ctx) -> Reply {
    let endpoint = format!("{} {}", req.method(), req.uri().path());
    let response = route(req, ctx).await;
    ctx.metrics
        .api_request(&endpoint, response.status().as_u16());
    response
}

fn authorized(req: &Request<Incoming>, ctx: &Ctx) -> bool {
    let Some(token) = &ctx.token else { return true };
    let Some(given) = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Constant time, so a client cannot learn the token byte by byte.
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

async fn route(req: Request<Incoming>, ctx: &Ctx) -> Reply {
    if !authorized(&req, ctx) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (send Authorization: Bearer TOKEN)",
        );
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    match (&method, path.as_str()) {
        (&Method::GET, "/live") => match ask(ctx, ApiCall::Ping).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({"live": true})),
            Err(e) => e,
        },
        (&Method::GET, "/ready") => match ask(ctx, ApiCall::Ready).await {
            // The steering is confirmed; the sessions that carry it are
            // judged now, not at the last apply (a router may have shut
            // its session down since).
            Ok(Ok(())) => match ctx.metrics.bgp().degraded().await {
                None => json(StatusCode::OK, &serde_json::json!({"ready": true})),
                Some(why) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"ready": false, "error": format!("backend bgp is degraded: {why}")}),
                ),
            },
            Ok(Err(why)) => json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({"ready": false, "error": why}),
            ),
            Err(e) => e,
        },
        (&Method::GET, "/metrics") => {
            ctx.metrics.bfd().refresh().await;
            ctx.metrics.bgp().reports().await;
            let mut response = Response::new(Full::new(Bytes::from(ctx.metrics.render())));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        (&Method::GET, "/v1/status") => match ask(ctx, ApiCall::Status).await {
            Ok(mut status) => {
                status.bfd = ctx.metrics.bfd().reports().await;
                status.bgp_peers = ctx.metrics.bgp().reports().await;
                if let Some(why) = ctx.metrics.bgp().judge(&status.bgp_peers) {
                    for b in status.backends.iter_mut().filter(|b| b.kind == "bgp") {
                        b.degraded = Some(why.clone());
                    }
                }
                json(StatusCode::OK, &status)
            }
            Err(e) => e,
        },
        (&Method::GET, "/v1/journal") => {
            let since = match query.get("since").map(|s| s.parse::<u64>()) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    return error(StatusCode::BAD_REQUEST, "since must be a sequence number")
                }
            };
            let limit = match query.get("limit").map(|s| s.parse::<usize>()) {
                None => 100,
                Some(Ok(n)) if (1..=10_000).contains(&n) => n,
                Some(_) => {
                    return error(StatusCode::BAD_REQUEST, "limit must be between 1 and 10000")
                }
            };
            match ask(ctx, |reply| ApiCall::Journal {
                since,
                limit,
                reply,
            })
            .await
            {
                Ok(journal) => json(StatusCode::OK, &journal),
                Err(e) => e,
            }
        }
        (&Method::POST, "/v1/switchover") => {
            command(req, ctx, |r: SwitchoverRequest| Command::Switchover {
                service: r.service,
                to: r.to,
            })
            .await
        }
        (&Method::POST, "/v1/drain") => {
            command(req, ctx, |r: DrainRequest| Command::Drain { site: r.site }).await
        }
        (&Method::POST, "/v1/failback") => {
            command(req, ctx, |r: FailbackRequest| Command::Failback {
                site: r.site,
            })
            .await
        }
        (&Method::POST, "/v1/pin") => {
            command(req, ctx, |r: PinRequest| Command::Pin {
                service: r.service,
                site: r.site,
            })
            .await
        }
        (&Method::DELETE, "/v1/pin") => {
            command(req, ctx, |r: UnpinRequest| Command::Unpin {
                service: r.service,
            })
            .await
        }
        (&Method::POST, "/v1/observer") => {
            command(req, ctx, |r: ObserverRequest| Command::ObserverMode {
                on: r.on,
            })
            .await
        }
        (&Method::POST, "/v1/events") => external_events(req, ctx).await,
        (_, "/live" | "/ready" | "/metrics" | "/v1/status" | "/v1/journal")
        | (
            _,
            "/v1/switchover" | "/v1/drain" | "/v1/failback" | "/v1/pin" | "/v1/observer"
            | "/v1/events",
        ) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        ),
        _ => error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObserverRequest {
    on: bool,
}

/// Sends a call to the event loop and waits for its answer.
async fn ask<T>(ctx: &Ctx, call: impl FnOnce(oneshot::Sender<T>) -> ApiCall) -> Result<T, Reply> {
    let (reply, answer) = oneshot::channel();
    let unavailable = || {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "orbitd is shutting down or stuck",
        )
    };
    if ctx.tx.send(Input::Api(call(reply))).await.is_err() {
        return Err(unavailable());
    }
    match tokio::time::timeout(LOOP_TIMEOUT, answer).await {
        Ok(Ok(value)) => Ok(value),
        _ => Err(unavailable()),
    }
}

async fn body<T: DeserializeOwned>(req: Request<Incoming>, empty_ok: bool) -> Result<T, Reply> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {MAX_BODY} bytes"),
            ))
        }
    };
    let bytes: &[u8] = if bytes.is_empty() && empty_ok {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("malformed request body: {e}"),
        )
    })
}

async fn command<T: DeserializeOwned>(
    req: Request<Incoming>,
    ctx: &Ctx,
    make: impl FnOnce(T) -> Command,
) -> Reply {
    let empty_ok = req.uri().path() == "/v1/failback";
    let parsed: T = match body(req, empty_ok).await {
        Ok(v) => v,
        Err(e) => return e,
    };
    let command = make(parsed);
    match ask(ctx, |reply| ApiCall::Command(command, reply)).await {
        Ok(Ok(response)) => json(StatusCode::OK, &response),
        Ok(Err(e)) => error(command_status(&e), e.to_string()),
        Err(e) => e,
    }
}

fn command_status(e: &CommandError) -> StatusCode {
    match e {
        CommandError::UnknownService(_) | CommandError::UnknownSite(_) => StatusCode::NOT_FOUND,
        CommandError::NotReady { .. } | CommandError::NotPersisted(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        CommandError::SiteNotServing { .. }
        | CommandError::Witness(_)
        | CommandError::NotEligible { .. }
        | CommandError::NothingToMove(_)
        | CommandError::Pinned { .. }
        | CommandError::NotPinned(_) => StatusCode::CONFLICT,
    }
}

/// `POST /v1/events`: verdicts and health from an external detector (a
/// monitoring system, a script), checked whole, then delivered as this
/// node's own (`crate::external`).
async fn external_events(req: Request<Incoming>, ctx: &Ctx) -> Reply {
    let posted: Vec<PostedEvent> = match body(req, false).await {
        Ok(v) => v,
        Err(e) => return e,
    };
    let known = &ctx.known;
    let events = match external::check(posted, known, known.gossip.is_some()) {
        Ok(events) => events,
        Err(refusal) => {
            tracing::warn!(%refusal, "external events refused");
            return error(refusal.status(), refusal.to_string());
        }
    };
    let count = events.len();
    if external::deliver(events, known.gossip.as_ref(), &ctx.tx)
        .await
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "orbitd is shutting down");
    }
    json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"accepted": count}),
    )
}
