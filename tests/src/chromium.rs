//! Headless Chromium (Debian `chromium`) driven over the Chrome DevTools
//! Protocol, for tests that look at a page the way an operator does: the
//! DOM after its scripts ran, and a screenshot.
//!
//! The protocol runs over a pipe (`--remote-debugging-pipe`: Chromium
//! reads NUL-terminated JSON commands on fd 3 and writes answers and
//! events on fd 4), so no port is opened and no crate is needed. A `sh`
//! wrapper moves our stdin/stdout pipes to fds 3 and 4 before it execs
//! Chromium, which spares us an `unsafe` `pre_exec` + `dup2`.
//!
//! Chromium must never talk to the internet: background networking,
//! component updates, sync and the like are off, and tests run it inside
//! a test namespace (which has no route out) and navigate only to
//! addresses in there. It runs in its own process group with a profile in
//! a temporary directory; both are gone on drop, also on panic.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::netns::Netns;

/// How long one command may take (a page load on a loaded machine).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Flags that keep a headless browser to itself: no first-run UI, no
/// phoning home, no updates, no GPU.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-pings",
    "--mute-audio",
    "--remote-debugging-pipe",
];

/// One Chromium with one page (tab) attached.
#[derive(Debug)]
pub struct Chromium {
    child: Child,
    commands: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    /// The page's CDP session (flat mode: commands carry `sessionId`).
    session: String,
    profile: PathBuf,
    pub log: PathBuf,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The whole process group: the browser and its renderers.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Chromium {
    /// Starts Chromium, inside `ns` when given, with a `width` x `height`
    /// viewport and its stderr in `log`, and opens a blank page.
    pub fn launch(ns: Option<&Netns>, log: &Path, width: u32, height: u32) -> Chromium {
        let profile = std::env::temp_dir().join(format!(
            "orbit-chromium-{}-{}",
            std::process::id(),
            crate::netns::unique()
        ));
        std::fs::create_dir_all(&profile).expect("chromium profile directory");
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name, "sh"]);
                c
            }
            None => Command::new("sh"),
        };
        command
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg("chromium")
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("chromium log file"))
            .process_group(0);
        let mut child = command
            .spawn()
            .expect("start chromium (Debian package chromium)");
        let commands = child.stdin.take().expect("chromium's command pipe");
        let answers = child.stdout.take().expect("chromium's answer pipe");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || read_messages(answers, &tx));
        let mut browser = Chromium {
            child,
            commands,
            messages,
            next_id: 0,
            session: String::new(),
            profile,
            log: log.to_owned(),
        };
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Loads `url` in the page; panics when the navigation fails.
    pub fn navigate(&mut self, url: &str) {
        let answer = self.call("Page.navigate", json!({ "url": url }));
        if let Some(error) = answer.get("errorText") {
            panic!("chromium could not load {url}: {error}");
        }
    }

    /// The value of the JavaScript expression `expression` in the page
    /// (promises awaited); panics on an exception.
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(exception) = answer.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        answer["result"]["value"].clone()
    }

    /// Evaluates `expression` every 200 ms until it is `true`; panics
    /// naming `what` (and `show`'s value then) after `within`.
    pub fn wait_for(&mut self, within: Duration, what: &str, expression: &str, show: &str) {
        let t0 = Instant::now();
        while self.eval(expression) != Value::Bool(true) {
            if t0.elapsed() > within {
                let shown = self.eval(show);
                panic!("timed out after {within:?} waiting for {what}; the page shows: {shown}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PNG of the whole page, not only what the viewport shows.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let answer = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            }),
        );
        let data = answer["data"].as_str().expect("screenshot data");
        orbit_core::base64::decode(data.as_bytes()).expect("a base64 PNG")
    }

    /// A command to the page's session; its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// A command to the browser itself.
    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("a CDP command");
        bytes.push(0);
        if let Err(e) = self.commands.write_all(&bytes) {
            panic!("chromium went away ({e}):\n{}", self.log_text());
        }
        let deadline = Instant::now() + COMMAND_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = match self.messages.recv_timeout(left) {
                Ok(answer) => answer,
                Err(e) => panic!("no answer to {method} ({e}):\n{}", self.log_text()),
            };
            // Events (no id) and answers to other sessions are not ours.
            if answer["id"] != json!(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                panic!("{method} failed: {error}");
            }
            return answer["result"].clone();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Splits what Chromium writes into NUL-terminated JSON messages until
/// it closes the pipe.
fn read_messages(mut from: impl Read, to: &mpsc::Sender<Value>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == 0) {
            let message: Vec<u8> = pending.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice(&message[..end]) {
                if to.send(value).is_err() {
                    return;
                }
            }
        }
    }
}
