//! The status page in a real browser against a real three-member cluster
//! (sites a and b, witness w; `orbit_tests::control::Cluster`, TCP API
//! with a token on every member): headless Chromium, run inside b's
//! namespace so that it reaches b's listener on that namespace's loopback
//! and nothing else (the namespace has no route out), loads `/` with the
//! token as an HTTP Basic password (answering the 401's challenge itself)
//! and shows web at a, and an operator's pin with its reason (markup in
//! it shown as text). Then site a really
//! dies (its orbitd killed, its links cut) and the same open page, without
//! being reloaded, shows web at b, a declared dead and the failover in the
//! journal, as `GET /v1/status` at b does. A screenshot of it is saved
//! (`ORBIT_UPDATE_SCREENSHOT=1` also writes docs/status-page.png). Last,
//! b's orbitd is stopped and the page says it cannot reach it.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use orbit_tests::chromium::Chromium;
use orbit_tests::control::{active, Cluster, LIMIT};
use orbit_tests::orbitd::{http_with, with_tcp_api};
use serde_json::json;

const TOKEN: &str = "s3cret-token-for-tests-only";
/// A pin's reason, with markup that must stay text.
const REASON: &str = "CHG-42 failover drill: keep db at b <b>no markup</b>";
/// Each member's TCP API, on its own namespace's loopback.
const LISTEN: &str = "127.0.0.1:8080";

/// What the test reads of the page, for its failure messages.
const SHOWN: &str = r#"JSON.stringify({
    web: document.querySelector('[data-service="web"]')?.dataset,
    a: document.querySelector('#sites-table [data-site="a"]')?.dataset,
    banner: document.getElementById('freshness')?.textContent,
})"#;

#[test]
fn the_open_page_shows_web_move_to_b_when_site_a_dies() {
    // One token file per member: a member may already read its file while
    // the next one's is written.
    let mut c = Cluster::start_edited("pg", env!("CARGO_BIN_EXE_orbitd"), |node, dir, text| {
        let token = dir.join(format!("{node}.token"));
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        with_tcp_api(&text, LISTEN, &token)
    });
    let mut browser = Chromium::launch(
        Some(c.mesh.netns("b")),
        &c.dir.join("chromium.log"),
        1440,
        900,
    );
    // Credentials in the URL, as an operator's bookmark may have them:
    // Chromium gets the 401, answers its Basic challenge with them and
    // keeps them for the page's own fetches, as after a password prompt.
    browser.navigate(&format!("http://operator:{TOKEN}@{LISTEN}/"));
    browser.wait_for(
        LIMIT,
        "the page at b to show web at a",
        r#"document.querySelector('[data-service="web"]')?.dataset.active === "a""#,
        SHOWN,
    );
    assert_eq!(
        browser.eval("document.querySelector('#summary').dataset.site"),
        json!("b")
    );
    // An operator's reason reaches the page as text, never as markup.
    let pin = json!({"service": "db", "site": "b", "reason": REASON}).to_string();
    let (code, _, answer) = http_with(&c.socket("b"), "POST", "/v1/pin", "", &pin);
    assert_eq!(code, 200, "{answer}");
    browser.wait_for(
        LIMIT,
        "the pin and its reason in the journal on the page",
        &format!(
            r#"document.querySelector('[data-service="db"]').dataset.pinned === "b"
                && document.querySelector('#journal-table').textContent.includes({REASON:?})"#
        ),
        SHOWN,
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('#journal-table b, #journal-table i').length"),
        json!(0)
    );
    // Anything set on this document survives only if the page refreshes
    // itself in place: the failover must show on the page as it is open.
    browser.eval("window.orbitTestMark = 42");

    c.kill("a");
    c.mesh.link("a", "b", false);
    c.mesh.link("a", "w", false);
    browser.wait_for(
        LIMIT,
        "the open page at b to show web at b and site a dead",
        r#"window.orbitTestMark === 42
            && document.querySelector('[data-service="web"]').dataset.active === "b"
            && document.querySelector('#sites-table [data-site="a"]').dataset.state === "dead"
            && document.querySelector('#freshness').dataset.reachable === "true""#,
        SHOWN,
    );
    // The page and the API agree.
    assert_eq!(active(&c.status("b").unwrap(), "web"), Some("b"));
    let moved = browser.eval(
        r#"Array.from(document.querySelectorAll('#journal-table tr[data-kind="service_moved"]'))
            .map(tr => tr.textContent)"#,
    );
    assert!(
        moved
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().contains("web")),
        "the journal on the page shows web moving: {moved}"
    );

    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let saved = std::env::temp_dir().join(format!("orbit-status-page-{}.png", std::process::id()));
    std::fs::write(&saved, &png).unwrap();
    eprintln!("status page screenshot: {}", saved.display());
    if std::env::var_os("ORBIT_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/status-page.png");
        std::fs::write(&docs, &png).unwrap();
        eprintln!("ORBIT_UPDATE_SCREENSHOT: wrote {}", docs.display());
    }

    c.kill("b");
    browser.wait_for(
        LIMIT,
        "the page to say that orbitd cannot be reached",
        r#"document.querySelector('#freshness').dataset.reachable === "false"
            && document.querySelector('#freshness').textContent.includes("cannot be reached")"#,
        SHOWN,
    );
    // What it showed last stays, marked as old.
    assert_eq!(
        browser.eval(r#"document.querySelector('[data-service="web"]').dataset.active"#),
        json!("b")
    );
}
