//! `GET /`: a read-only HTML status page for a browser (a wall screen
//! during an incident), like HAProxy's stats page. It shows exactly what
//! `GET /v1/status` and the last [`JOURNAL_ENTRIES`] of `GET /v1/journal`
//! answer, in `orbitctl`'s words, so it never disagrees with them, and
//! costs one of each per view.
//!
//! Self-contained: inline CSS and a small inline script (refresh in place
//! every 2 s; a `<meta refresh>` without JavaScript), nothing fetched from
//! anywhere else. The Content-Security-Policy allows exactly that style
//! and that script by their hashes, and fetches to this origin only; the
//! page cannot be framed.

mod html;
mod render;

use std::sync::LazyLock;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use sha2::{Digest, Sha256};

use super::{ask, status, Ctx, Reply};
use crate::daemon::ApiCall;

/// Journal entries on the page.
pub(super) const JOURNAL_ENTRIES: usize = 50;

const STYLE: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");

/// The policy, with the hashes of [`STYLE`] and [`SCRIPT`] (CSP level 2
/// hash sources), computed once.
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hash = |text: &str| orbit_core::base64::encode(&Sha256::digest(text.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash(STYLE),
        hash(SCRIPT)
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

pub(super) async fn page(ctx: &Ctx) -> Reply {
    let status = match status(ctx).await {
        Ok(status) => status,
        Err(e) => return e,
    };
    let journal = match ask(ctx, |reply| ApiCall::Journal {
        since: None,
        limit: JOURNAL_ENTRIES,
        reply,
    })
    .await
    {
        Ok(journal) => journal,
        Err(e) => return e,
    };
    let journal = journal.read().await;
    let body = render::page(&status, &journal.entries, SystemTime::now());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        // Polled every 2 s and about now: never from a cache.
        (
            hyper::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ),
        (hyper::header::CONTENT_SECURITY_POLICY, POLICY.clone()),
        (
            hyper::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ),
        (
            hyper::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            hyper::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ] {
        headers.insert(name, value);
    }
    response
}
