//! `orbitctl journal [--follow] [--limit N | --since SEQ]`: the last N
//! entries (or every entry after SEQ, read from orbitd's rotated files
//! too), then (following) every new one, like `tail -F`: when orbitd goes away
//! (restart, upgrade) it says so once on stderr, retries with backoff,
//! and resumes after the last entry it printed, so nothing is printed
//! twice and nothing in between is lost (seq numbers continue across
//! restarts).

use std::io::Write;
use std::time::Duration;

use hyper::Method;
use orbit_core::api::JournalResponse;

use crate::client::Client;
use crate::failure::{Failure, Kind};
use crate::{call, render};

/// The most entries one request asks for (orbitd's page size too).
pub const MAX_LIMIT: usize = 10_000;
/// How often a follower asks for new entries.
const POLL: Duration = Duration::from_millis(300);
/// Retry delays while orbitd is away: from the first to the last, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_LAST: Duration = Duration::from_secs(5);

/// `--limit`: 1 to 10,000. 0 is an error rather than "all" because orbitd
/// keeps only its recent entries in memory: "all" could not keep its word.
pub fn parse_limit(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of entries"))?;
    if n == 0 || n > MAX_LIMIT {
        return Err(format!(
            "must be between 1 and {MAX_LIMIT} (the most recent entries to show first)"
        ));
    }
    Ok(n)
}

/// Where to begin.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// The last N entries.
    Last(usize),
    /// Every entry after this seq, page by page.
    After(u64),
}

pub async fn run(
    client: &Client,
    follow: bool,
    start: Start,
    as_json: bool,
) -> Result<(), Failure> {
    let mut since = match start {
        Start::Last(limit) => {
            let first: JournalResponse = call(
                client,
                Method::GET,
                &format!("/v1/journal?limit={limit}"),
                None,
            )
            .await?;
            print(&first, as_json)
        }
        Start::After(seq) => catch_up(client, seq, as_json).await?,
    };
    if !follow {
        return Ok(());
    }
    let mut away: Option<Failure> = None;
    let mut backoff = BACKOFF_FIRST;
    loop {
        let path = format!("/v1/journal?since={since}&limit={MAX_LIMIT}");
        match call::<JournalResponse>(client, Method::GET, &path, None).await {
            Ok(page) => {
                if away.take().is_some() {
                    eprintln!("orbitctl: orbitd is back; resuming after #{since}");
                }
                backoff = BACKOFF_FIRST;
                since = print(&page, as_json).max(since);
                tokio::time::sleep(POLL).await;
            }
            // Gone (restarting, stopping) or not answering: wait for it.
            Err(f) if matches!(f.kind, Kind::Unavailable | Kind::Timeout) => {
                if away.is_none() {
                    eprintln!(
                        "orbitctl: lost orbitd ({}); retrying, will resume after #{since}",
                        f.message
                    );
                    away = Some(f);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_LAST);
            }
            Err(f) => return Err(f),
        }
    }
}

/// Prints every entry after `since`, a page at a time, saying once on
/// stderr if the first ones are no longer kept (rotated away); the last
/// seq printed (or orbitd's last).
async fn catch_up(client: &Client, mut since: u64, as_json: bool) -> Result<u64, Failure> {
    let mut first = true;
    loop {
        let path = format!("/v1/journal?since={since}&limit={MAX_LIMIT}");
        let page: JournalResponse = call(client, Method::GET, &path, None).await?;
        if let (true, Some(oldest)) = (first, page.entries.first()) {
            if oldest.seq > since + 1 {
                eprintln!(
                    "orbitctl: entries #{} to #{} are no longer kept (rotated away); \
                     starting at #{}",
                    since + 1,
                    oldest.seq - 1,
                    oldest.seq
                );
            }
        }
        first = false;
        since = print(&page, as_json).max(since);
        if page.entries.len() < MAX_LIMIT {
            return Ok(since);
        }
    }
}

/// Prints a page; the seq to ask for newer entries after.
fn print(page: &JournalResponse, as_json: bool) -> u64 {
    for entry in &page.entries {
        if as_json {
            println!(
                "{}",
                serde_json::to_string(&crate::json::journal_entry(entry)).unwrap_or_default()
            );
        } else {
            println!("{}", render::journal_entry(entry));
        }
    }
    let _ = std::io::stdout().flush();
    page.entries.last().map_or(page.last_seq, |e| e.seq)
}
