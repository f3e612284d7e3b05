//! The status page (`GET /`) over real orbitd listeners: the same auth as
//! the API (on TCP the token as a bearer token or as an HTTP Basic
//! password; a 401 offers Basic so that a browser asks; Basic only reads:
//! a command posted with it is refused), the headers that
//! keep it from being cached, framed or sniffed, GET and HEAD only, what
//! it shows agrees with `GET /v1/status`, and an operator's reason is
//! shown as text. `status_page_browser.rs` watches it in Chromium.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::SocketAddr;

use orbit_tests::orbitd::{http_tcp, http_with, standalone_config, with_tcp_api, Orbitd};

const TOKEN: &str = "s3cret-token-for-tests-only";

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "authorization: Basic {}\r\n",
        orbit_core::base64::encode(pair.as_bytes())
    )
}

fn header<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn start() -> (tempfile::TempDir, Orbitd, SocketAddr) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = with_tcp_api(
        &standalone_config(dir),
        &addr.to_string(),
        &dir.join("token"),
    );
    let daemon = Orbitd::start_in(
        std::path::Path::new(env!("CARGO_BIN_EXE_orbitd")),
        dir,
        &config,
    );
    (tmp, daemon, addr)
}

#[test]
fn the_page_takes_the_token_as_a_basic_password_for_reading_and_a_401_makes_a_browser_ask() {
    let (_tmp, daemon, addr) = start();
    orbit_tests::wait_until(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(50),
        "web placed at a",
        || daemon.get("/v1/status").1.contains(r#""active":"a""#),
    );

    for (what, auth) in [
        ("no credentials", String::new()),
        (
            "a wrong password",
            basic("operator", "s3cret-token-for-tests-onlX"),
        ),
        ("the token as user name", basic(TOKEN, "")),
        (
            "a wrong bearer token",
            "authorization: Bearer nope\r\n".to_owned(),
        ),
    ] {
        let (code, head, body) = http_tcp(addr, "GET", "/", &auth, "");
        assert_eq!(code, 401, "{what}: {head}\n{body}");
        assert!(
            header(&head, "www-authenticate").contains(&r#"Basic realm="orbitd", charset="UTF-8""#),
            "{what}: a browser is asked for Basic credentials: {head}"
        );
        assert!(
            !body.contains("<html"),
            "{what}: nothing of the page: {body}"
        );
    }

    let auth = basic("operator", TOKEN);
    let (code, head, page) = http_tcp(addr, "GET", "/", &auth, "");
    assert_eq!(code, 200, "{head}\n{page}");
    assert_eq!(header(&head, "content-type"), ["text/html; charset=utf-8"]);
    assert_eq!(header(&head, "cache-control"), ["no-store"]);
    assert_eq!(header(&head, "x-frame-options"), ["DENY"]);
    assert_eq!(header(&head, "x-content-type-options"), ["nosniff"]);
    let policy = header(&head, "content-security-policy").join(";");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
        "script-src 'sha256-",
        "style-src 'sha256-",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(
        page.contains(r#"<tr data-service="web" data-active="a""#),
        "{page}"
    );
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing is loaded from elsewhere: {page}"
    );
    // Basic works on every route, as the bearer token does.
    let (code, _, status) = http_tcp(addr, "GET", "/v1/status", &auth, "");
    assert_eq!(code, 200, "{status}");
    let bearer = format!("authorization: Bearer {TOKEN}\r\n");
    assert_eq!(http_tcp(addr, "GET", "/", &bearer, "").0, 200);

    // Commands need the bearer token: a browser sends Basic credentials on
    // its own, also with a form another web site makes it post (a
    // text/plain form can carry a JSON body).
    let forged = r#"{"on":true,"reason":"="}"#;
    let form = format!("{auth}content-type: text/plain\r\norigin: http://evil.example\r\n");
    let (code, head, body) = http_tcp(addr, "POST", "/v1/observer", &form, forged);
    assert_eq!(code, 401, "{head}\n{body}");
    assert!(
        body.contains("Basic credentials are taken for reading only"),
        "{body}"
    );
    assert!(
        daemon
            .get("/v1/status")
            .1
            .contains(r#""observer_mode":false"#),
        "the forged command changed nothing"
    );
    assert_eq!(
        http_tcp(addr, "POST", "/v1/observer", &bearer, r#"{"on":false}"#).0,
        200,
        "the bearer token still commands"
    );

    // Nor does a web page command with the bearer token, or through the
    // unix socket (a local port an SSH tunnel forwards to it asks for no
    // credentials at all).
    let web = format!("{bearer}origin: http://evil.example\r\n");
    let (code, _, body) = http_tcp(addr, "POST", "/v1/observer", &web, forged);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("takes no commands from web pages"), "{body}");
    let (code, _, body) = http_with(
        &daemon.socket,
        "POST",
        "/v1/drain",
        "content-type: text/plain\r\nsec-fetch-site: cross-site\r\n",
        r#"{"site":"a","force":true,"reason":"="}"#,
    );
    assert_eq!(code, 403, "{body}");
    let status = daemon.get("/v1/status").1;
    assert!(
        status.contains(r#""observer_mode":false"#) && status.contains(r#""drained":false"#),
        "nothing forged was applied: {status}"
    );
    // Reading from a page is what the page does.
    let (code, _, _) = http_with(
        &daemon.socket,
        "GET",
        "/v1/status",
        "origin: http://x\r\n",
        "",
    );
    assert_eq!(code, 200);

    // HEAD: the headers only. Other methods: 405, as on every route.
    let (code, head, body) = http_tcp(addr, "HEAD", "/", &auth, "");
    assert_eq!((code, body.as_str()), (200, ""), "{head}");
    assert_eq!(header(&head, "content-type"), ["text/html; charset=utf-8"]);
    for method in ["POST", "PUT", "DELETE"] {
        let (code, _, body) = http_tcp(addr, method, "/", &bearer, "");
        assert_eq!(code, 405, "{method} /: {body}");
        assert!(body.contains("is not allowed on /"), "{body}");
    }

    // The unix socket needs no token, as for the API.
    let (code, _, page) = http_with(&daemon.socket, "GET", "/", "", "");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains(r#"data-active="a""#), "{page}");
}

#[test]
fn an_operators_reason_appears_on_the_page_as_text() {
    let (_tmp, daemon, addr) = start();
    let auth = format!("authorization: Bearer {TOKEN}\r\n");
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let body = serde_json::json!({"on": true, "reason": hostile}).to_string();
    let (code, _, answer) = http_tcp(addr, "POST", "/v1/observer", &auth, &body);
    assert_eq!(code, 200, "{answer}");
    let (code, page) = daemon.get("/");
    assert_eq!(code, 200, "{page}");
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own: {page}"
    );
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    assert!(page.contains(r#"data-observer="true""#), "{page}");
}

#[test]
fn a_refused_request_is_answered_after_its_body_so_the_client_sees_why() {
    use std::io::{Read, Write};
    let (_tmp, daemon, _addr) = start();
    // A client whose body follows its headers a moment later (a slow
    // link, a large body): orbitd refuses on the headers, but reads the
    // body before it closes, or the client's write fails and the answer
    // is never read.
    let body = r#"{"site":"a","force":true}"#;
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    write!(
        stream,
        "POST /v1/drain HTTP/1.1\r\nhost: orbitd\r\nsec-fetch-site: cross-site\r\n\
         content-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream
        .write_all(body.as_bytes())
        .expect("orbitd still reads the body of a request it refused");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("takes no commands from web pages"),
        "{answer}"
    );
}
