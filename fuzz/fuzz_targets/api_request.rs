//! orbitd's own HTTP request parsing (`orbit_core::api::request`): route
//! matching, the query strings (journal, `dry_run`), command, event and
//! simulation bodies, the `Authorization` header (bearer or Basic).
//! Any input gets an answer or a refusal, never a panic.
//!
//! Input: `METHOD PATH[?QUERY]`, a newline, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_core::api::request::{
    dry_run, events, method_label, reload, scenario, CommandEndpoint, Endpoint, JournalQuery,
    Route,
};

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let (method, target) = head.split_once(' ').unwrap_or((&head, "/"));
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let _ = method_label(method);
    if let Some(route) = Route::from_path(path) {
        assert_eq!(route.path(), path);
    }
    match Endpoint::parse(method, path) {
        Ok(Endpoint::Journal) => {
            if let Ok(q) = JournalQuery::parse(query) {
                assert!((1..=JournalQuery::MAX_LIMIT).contains(&q.limit));
            }
        }
        Ok(Endpoint::Events) => {
            let _ = events(body);
        }
        Ok(Endpoint::Reload) => {
            let _ = reload(body);
        }
        Ok(Endpoint::Command(endpoint)) => {
            let _ = dry_run(query);
            let _ = endpoint.parse(body);
        }
        Ok(Endpoint::Simulate) => {
            let _ = scenario(body);
        }
        Ok(_) => {}
        Err(e) => {
            // Echoed paths and methods are cut short.
            assert!(e.to_string().len() < 512);
        }
    }
    // Every decoder sees every input, not only the one the path picks.
    for endpoint in CommandEndpoint::ALL {
        let _ = endpoint.parse(body);
    }
    let _ = reload(body);
    let _ = JournalQuery::parse(Some(&String::from_utf8_lossy(body)));
    let _ = scenario(body);
    let _ = orbit_core::api::credentials::presented_secret(body);
});
