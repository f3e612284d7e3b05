//! The HTTP API: a unix socket (mode 0600) by default, optionally TCP with a
//! token ([`auth`]). Handlers only translate HTTP to [`ApiCall`]s for the event
//! loop and back; every error is JSON `{"error": "..."}` with a 4xx/5xx.
//! Parsing of what a client sends is `orbit_core::api::request` (pure,
//! fuzzed); connection limits and timeouts are [`listener`]'s; `GET /` is
//! the HTML status page ([`page`]).

mod auth;
mod listener;
mod page;
mod reload;
mod simulate;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use orbit_core::api::request::{
    method_label, CommandEndpoint, Endpoint, JournalQuery, RequestError, Route,
};
use orbit_core::api::{ApiError, StatusResponse};
use orbit_core::{BackendKind, Client, CommandError};
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, oneshot};

pub use listener::{check_fd_budget, Limits};

use crate::daemon::{ApiCall, Input};
use crate::evidence::Evidence;
use crate::external;
use crate::metrics::exposition::Format;
use crate::metrics::Metrics;
use crate::startup::StartupError;

const MAX_BODY: usize = 64 * 1024;
/// How long a request waits for the event loop to answer.
const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Ctx {
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    /// What `/v1/status` and `/ready` show of detection and the sessions.
    evidence: Arc<Evidence>,
    /// Required bearer token (TCP listener only).
    token: Option<String>,
    known: Arc<Known>,
    /// `unix` or `tcp`, for metrics and logs.
    listener: &'static str,
    limits: Limits,
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

/// Binds the unix socket (replacing a stale one) with `mode` (`[api]
/// api_socket_mode`, 0600 by default) and, with `group` (`[api]
/// api_socket_group`, its gid), owned by that group, so that its members
/// can run orbitctl without root.
pub fn bind_unix(path: &Path, mode: u32, group: Option<u32>) -> Result<UnixListener, StartupError> {
    let failed = |action, path: &Path| {
        let path = path.to_owned();
        move |source| StartupError::File {
            action,
            path,
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed("creating", dir))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(StartupError::ApiSocketInUse {
                path: path.to_owned(),
            });
        }
        std::fs::remove_file(path).map_err(failed("removing stale socket", path))?;
    }
    let listener = UnixListener::bind(path).map_err(failed("binding API socket", path))?;
    // chown before chmod: the socket is never group-accessible to the
    // wrong group, even for a moment.
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(failed("chgrp", path))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(failed("chmod", path))?;
    Ok(listener)
}

pub fn serve_unix(
    listener: UnixListener,
    limits: Limits,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    evidence: Arc<Evidence>,
    known: Arc<Known>,
) {
    let ctx = Arc::new(Ctx {
        tx,
        metrics,
        evidence,
        token: None,
        known,
        listener: "unix",
        limits,
    });
    listener::spawn(listener, ctx);
}

pub fn serve_tcp(
    listener: TcpListener,
    limits: Limits,
    token: String,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    evidence: Arc<Evidence>,
    known: Arc<Known>,
) {
    let ctx = Arc::new(Ctx {
        tx,
        metrics,
        evidence,
        token: Some(token),
        known,
        listener: "tcp",
        limits,
    });
    listener::spawn(listener, ctx);
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

/// Counts a request once, by route, method and status; a request whose
/// connection died before it was answered (the client gave up) counts as
/// 499, as nginx does.
struct Counted<'a> {
    metrics: &'a Metrics,
    route: &'static str,
    method: &'static str,
    status: u16,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.metrics
            .api_request(self.route, self.method, self.status);
    }
}

/// Answers one request within the request timeout.
async fn handle(req: Request<Incoming>, ctx: &Ctx, client: Client) -> Reply {
    let mut counted = Counted {
        metrics: &ctx.metrics,
        // Labels from fixed sets only: made-up paths and methods must not
        // grow /metrics.
        route: Route::from_path(req.uri().path()).map_or("other", Route::path),
        method: method_label(req.method().as_str()),
        status: 499,
    };
    let timeout = ctx.limits.request_timeout;
    let response = match tokio::time::timeout(timeout, route(req, ctx, client)).await {
        Ok(response) => response,
        Err(_) => {
            ctx.metrics.api_timeout(ctx.listener, "request");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "orbitd did not finish the request within {}; a command it had not \
                     taken yet is dropped, not applied (check the journal)",
                    humantime::format_duration(timeout)
                ),
            )
        }
    };
    counted.status = response.status().as_u16();
    response
}

fn refused(e: &RequestError) -> Reply {
    let status = match e {
        RequestError::NotFound(_) => StatusCode::NOT_FOUND,
        RequestError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        RequestError::BadSince
        | RequestError::BadLimit
        | RequestError::BadDryRun
        | RequestError::MalformedBody(_) => StatusCode::BAD_REQUEST,
    };
    error(status, e.to_string())
}

async fn route(req: Request<Incoming>, ctx: &Ctx, client: Client) -> Reply {
    if let Some(refusal) = auth::refusal(&req, ctx).or_else(|| auth::from_a_web_page(&req)) {
        return after_the_body(req, refusal).await;
    }
    let endpoint = match Endpoint::parse(req.method().as_str(), req.uri().path()) {
        Ok(endpoint) => endpoint,
        Err(e) => return after_the_body(req, refused(&e)).await,
    };
    match endpoint {
        Endpoint::Page => page::page(ctx).await,
        Endpoint::Live => match ask(ctx, ApiCall::Ping).await {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({"live": true})),
            Err(e) => e,
        },
        Endpoint::Ready => match ask(ctx, ApiCall::Ready).await {
            // The steering is confirmed; the sessions that carry it are
            // judged now, not at the last apply (a router may have shut
            // its session down since).
            Ok(Ok(())) => match ctx.evidence.bgp().degraded().await {
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
        Endpoint::Metrics => {
            ctx.evidence.refresh().await;
            let accept = req
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept);
            let mut response = Response::new(Full::new(Bytes::from(ctx.metrics.render(format))));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(format.content_type()),
            );
            response
        }
        Endpoint::Status => match status(ctx).await {
            Ok(status) => json(StatusCode::OK, &status),
            Err(e) => e,
        },
        Endpoint::Journal => {
            let JournalQuery { since, limit } = match JournalQuery::parse(req.uri().query()) {
                Ok(q) => q,
                Err(e) => return refused(&e),
            };
            match ask(ctx, |reply| ApiCall::Journal {
                since,
                limit,
                reply,
            })
            .await
            {
                Ok(page) => json(StatusCode::OK, &page.read().await),
                Err(e) => e,
            }
        }
        Endpoint::Command(endpoint) => command(req, endpoint, ctx, client).await,
        Endpoint::Events => external_events(req, ctx).await,
        Endpoint::Reload => reload::reload(req, ctx, client).await,
        Endpoint::Simulate => simulate::facts(req, ctx).await,
    }
}

/// `GET /v1/status`'s answer (the status page shows the same): the event
/// loop's view, with the sessions judged now.
async fn status(ctx: &Ctx) -> Result<StatusResponse, Reply> {
    let mut status = ask(ctx, ApiCall::Status).await?;
    status.bfd = ctx.evidence.bfd().reports().await;
    status.bgp_peers = ctx.evidence.bgp().reports().await;
    if let Some(why) = ctx.evidence.bgp().judge(&status.bgp_peers) {
        for b in status
            .backends
            .iter_mut()
            .filter(|b| b.kind == BackendKind::Bgp)
        {
            b.degraded = Some(why.clone());
        }
    }
    Ok(status)
}

/// Sends a call to the event loop and waits for its answer. Giving up
/// (timeout, or this future dropped because the client went away) drops
/// the reply channel, and the loop drops a command whose reply channel is
/// closed instead of applying it.
async fn ask<T>(ctx: &Ctx, call: impl FnOnce(oneshot::Sender<T>) -> ApiCall) -> Result<T, Reply> {
    let (reply, answer) = oneshot::channel();
    if ctx.tx.send(Input::Api(call(reply))).await.is_err() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "orbitd is shutting down",
        ));
    }
    match tokio::time::timeout(LOOP_TIMEOUT, answer).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "orbitd is shutting down",
        )),
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "orbitd's event loop did not answer within {} s (stuck?); a command it had not \
                 taken yet is dropped, not applied (check the journal)",
                LOOP_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// `reply` to a request refused before its body was wanted, sent only
/// once the body (at most [`MAX_BODY`] bytes) has been read: closing with
/// the client still writing makes its write fail (EPIPE on the unix
/// socket, a reset that can destroy the answer on TCP), so the client
/// would never see why it was refused.
async fn after_the_body(req: Request<Incoming>, reply: Reply) -> Reply {
    let _ = read_body(req).await;
    reply
}

/// The whole body, at most [`MAX_BODY`] bytes.
async fn read_body(req: Request<Incoming>) -> Result<Bytes, Reply> {
    read_body_up_to(req, MAX_BODY).await
}

/// The whole body, at most `cap` bytes.
async fn read_body_up_to(req: Request<Incoming>, cap: usize) -> Result<Bytes, Reply> {
    match Limited::new(req.into_body(), cap).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {cap} bytes"),
        )),
    }
}

async fn command(
    req: Request<Incoming>,
    endpoint: CommandEndpoint,
    ctx: &Ctx,
    client: Client,
) -> Reply {
    let dry_run = match orbit_core::api::request::dry_run(req.uri().query()) {
        Ok(dry_run) => dry_run,
        Err(e) => return refused(&e),
    };
    let bytes = match read_body(req).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let order = match endpoint.parse(&bytes) {
        Ok(body) => body.issued_by(
            client,
            humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        ),
        Err(e) => return refused(&e),
    };
    if dry_run {
        return simulate::answer(ctx, orbit_core::Hypothesis::Command(order)).await;
    }
    match ask(ctx, |reply| ApiCall::Command(order, reply)).await {
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
        | CommandError::NotPinned(_)
        | CommandError::WouldStrand(_)
        | CommandError::CannotJudge { .. } => StatusCode::CONFLICT,
    }
}

/// `POST /v1/events`: verdicts and health from an external detector (a
/// monitoring system, a script), checked whole, then delivered as this
/// node's own (`crate::external`).
async fn external_events(req: Request<Incoming>, ctx: &Ctx) -> Reply {
    let posted = match read_body(req).await {
        Ok(bytes) => match orbit_core::api::request::events(&bytes) {
            Ok(posted) => posted,
            Err(e) => return refused(&e),
        },
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
