//! `orbitd check-config`: exit 0 with a summary on a good config, exit 64
//! with every problem listed by TOML path on a bad one, the files the
//! config names included; and `orbitd --config` refusing the same configs
//! with exit 64 before it creates anything.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn check_config(path: &Path) -> (i32, String, String) {
    orbitd(&["check-config".as_ref(), path.as_os_str()])
}

fn orbitd(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orbitd"))
        .args(args)
        .output()
        .expect("run orbitd");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/orbit.toml")
}

/// The example's text with its gossip key in `dir` (written there), so
/// that the files it names exist.
fn example_text(dir: &Path) -> String {
    let key = dir.join("gossip.key");
    write_secret(&key, "00112233445566778899aabbccddeeff\n");
    std::fs::read_to_string(example())
        .expect("example")
        .replace("/etc/orbit/gossip.key", &key.display().to_string())
}

/// A key file as an operator should leave it: readable by its owner only.
fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
}

/// The example, its gossip key in `dir`: its path.
fn example_in(dir: &Path) -> PathBuf {
    let path = dir.join("example.toml");
    std::fs::write(&path, example_text(dir)).expect("write config");
    path
}

#[test]
fn accepts_the_example_with_a_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stdout, stderr) = check_config(&example_in(dir.path()));
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("quorum 2 of 3 members: a, b, w (witness)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("service web: 198.51.100.10/32 2001:db8:100::10/128 -> sites a > b"),
        "{stdout}"
    );
    assert!(
        stdout.contains("service db: 198.51.100.20/32 -> sites b > a"),
        "{stdout}"
    );
    assert!(
        stdout.contains("detection: gossip (probe 100ms, suspect after 200ms)")
            && stdout.contains(
                "fencing: a member that hears fewer than a quorum for 200ms fences; \
                 nobody is voted dead before 300ms of silence (margin 100ms)"
            ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "journal: /var/lib/orbit/journal.jsonl, rotated at 64MiB, 4 rotated files kept"
        ),
        "{stdout}"
    );
    // What the members compare, line by line, so two members' outputs
    // diff to the disagreement.
    assert!(
        stdout.contains("must agree at every member (config fingerprint ")
            && stdout.contains("  site w witness\n")
            && stdout.contains(
                "  service web prefixes=198.51.100.10/32,2001:db8:100::10/128 sites=a>b\n"
            ),
        "{stdout}"
    );
}

#[test]
fn the_summary_names_bfd_toward_the_members() {
    let dir = std::env::temp_dir().join(format!("orbit-check-bfd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = example_text(&dir).replace(
        "[policy]",
        "[bfd]\ninterval = \"10ms\"\nsites = true\n\n[policy]",
    );
    let path = dir.join("bfd.toml");
    std::fs::write(&path, &text).expect("write config");
    let (code, stdout, stderr) = check_config(&path);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("BFD 10ms x 3 toward the other members"),
        "{stdout}"
    );
    // Without authentication the members' sessions are open to forgery: a
    // warning on stderr, and the config is good all the same.
    assert!(
        stderr.contains(
            "orbitd: warning: bfd.sites: the members' BFD sessions run without [bfd.auth]"
        ),
        "{stderr}"
    );
    let key = dir.join("bfd.key");
    write_secret(&key, "orbit-bfd-secret");
    let auth = format!(
        "[bfd.auth]\ntype = \"meticulous-keyed-sha1\"\nkey_file = \"{}\"\n\n[policy]",
        key.display()
    );
    std::fs::write(&path, text.replace("[policy]", &auth)).expect("write config");
    let (code, _, stderr) = check_config(&path);
    assert_eq!((code, stderr.as_str()), (0, ""));
    // A key others may read works, with a warning naming it.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let (code, _, stderr) = check_config(&path);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "orbitd: warning: bfd.auth.key_file: {} is readable by others than its owner \
             (mode 0640): chmod 0600 it (see README, Security)",
            key.display()
        )
    );
}

#[test]
fn rejects_a_broken_config_listing_every_problem() {
    let dir = std::env::temp_dir().join(format!("orbit-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = example_text(&dir)
        .replace("sites = [\"a\", \"b\"]", "sites = [\"a\", \"c\"]")
        .replace("198.51.100.20/32", "198.51.100.10/32")
        .replace("failback_after = \"5m\"", "failback_after = \"0s\"");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text).expect("write");
    let (code, stdout, stderr) = check_config(&bad);
    assert_eq!(code, 64, "stdout: {stdout}");
    for expected in [
        "3 problem(s)",
        "service[0].sites[1]: unknown site \"c\"",
        "service[1].prefixes[0]: 198.51.100.10/32 overlaps 198.51.100.10/32 at service[0].prefixes[0]",
        "policy.failback_after: must be above 0",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rejects_unparsable_and_missing_files() {
    let dir = std::env::temp_dir().join(format!("orbit-check-config-b-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let typo = dir.join("typo.toml");
    let text = std::fs::read_to_string(example())
        .expect("example")
        .replace("[policy]", "[policy]\nfailover_hodl = \"1s\"");
    std::fs::write(&typo, text).expect("write");
    let (code, _, stderr) = check_config(&typo);
    assert_eq!(code, 64);
    assert!(stderr.contains("failover_hodl"), "{stderr}");
    let (code, _, stderr) = check_config(&dir.join("missing.toml"));
    assert_eq!(code, 64);
    assert!(stderr.contains("cannot read config"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// IPv6 prefixes over an IPv4 session without `[bgp] next_hop_v6`: the
/// only default would be an IPv4-mapped next hop, which routers refuse
/// (bird2: "mismatched address family"), so check-config refuses it.
#[test]
fn refuses_ipv6_prefixes_over_an_ipv4_session_without_next_hop_v6() {
    let dir = std::env::temp_dir().join(format!("orbit-check-nh6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let example = example_text(&dir);
    // The example's service "web" has 2001:db8:100::10/128.
    let bgp = |extra: &str| {
        format!(
            "{example}\n[bgp]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n{extra}\n\
             [[bgp.peer]]\naddress = \"172.16.1.1\"\nasn = 64500\nfamilies = [\"ipv4\", \"ipv6\"]\n"
        )
    };
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, bgp("")).expect("write");
    let (code, stdout, stderr) = check_config(&bad);
    assert_eq!(code, 64, "stdout: {stdout}\nstderr: {stderr}");
    for expected in [
        "1 problem(s)",
        "bgp.peer[0].families: IPv6 prefixes (e.g. 2001:db8:100::10/128 of service \"web\") \
         over the IPv4 session to 172.16.1.1 need an IPv6 next hop: set [bgp] next_hop_v6",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    let good = dir.join("good.toml");
    std::fs::write(&good, bgp("next_hop_v6 = \"fd00:1::2\"")).expect("write");
    let (code, _, stderr) = check_config(&good);
    assert_eq!(code, 0, "stderr: {stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_example_passes_with_skip_files_and_says_what_was_not_checked() {
    // The example names /etc/orbit/gossip.key, which is not on this machine.
    let (code, _, stderr) = check_config(&example());
    assert_eq!(code, 64);
    assert!(
        stderr.contains("detect.key_file: gossip key file /etc/orbit/gossip.key: "),
        "{stderr}"
    );
    let (code, stdout, stderr) = orbitd(&[
        "check-config".as_ref(),
        "--skip-files".as_ref(),
        example().as_os_str(),
    ]);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(
        stdout.contains("the files the config names were not checked (--skip-files)"),
        "{stdout}"
    );
}

/// A one-site config in `dir` (state and API socket there too) with a good
/// gossip key, on a port the kernel picks should anything ever bind it.
fn one_site(dir: &Path) -> String {
    std::fs::write(dir.join("gossip.key"), "a-gossip-key-for-this-test-only\n").expect("write key");
    orbit_tests::orbitd::one_site_config(dir, &["198.51.100.10/32"])
        .replace("127.0.0.1:7946", "127.0.0.1:0")
}

/// A bad config: how to make it out of [`one_site`], and the problems
/// orbitd must list for it (`{d}` is the config's directory).
struct Case {
    name: &'static str,
    make: fn(&Path, String) -> String,
    expect: &'static [&'static str],
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

const CASES: &[Case] = &[
    Case {
        name: "a typo'd value, an unknown key and a bad timer",
        make: |_, text| {
            text.replace(
                "shutdown_grace = \"1s\"",
                "shutdown_grace = \"1s\"\nfailback = \"manul\"\nfailover_hodl = \"1s\"",
            )
            .replace("[detect]", "[detect]\nprobe_timeout = \"150ms\"")
        },
        expect: &[
            "policy.failback: unknown variant `manul`, expected `after` or `manual`",
            "policy.failover_hodl: unknown key `failover_hodl`, expected one of `failover_hold`",
            "detect.probe_timeout: 150ms must be shorter than probe_interval (100ms)",
        ],
    },
    Case {
        name: "a gossip key of 15 bytes",
        make: |d, text| {
            write(&d.join("gossip.key"), "0123456789abcde\n");
            text
        },
        expect: &["detect.key_file: gossip key file {d}/gossip.key: the key must be at least 16 bytes (got 15)"],
    },
    Case {
        name: "no gossip key file",
        make: |d, text| text.replace(&format!("{}/gossip.key", d.display()), &format!("{}/absent.key", d.display())),
        expect: &["detect.key_file: gossip key file {d}/absent.key: No such file or directory"],
    },
    Case {
        name: "no gossip key at all",
        make: |d, text| text.replace(&format!("key_file = \"{}/gossip.key\"", d.display()), ""),
        expect: &["detect.key_file: required with gossip"],
    },
    Case {
        name: "an API token of 15 characters",
        make: |d, text| {
            write(&d.join("token"), "0123456789abcde\n");
            text.replacen(
                "[[site]]",
                &format!("api_tcp = \"127.0.0.1:0\"\napi_token_file = \"{}/token\"\n\n[[site]]", d.display()),
                1,
            )
        },
        expect: &["node.api_token_file: {d}/token: the token is 15 characters, at least 16 are required"],
    },
    Case {
        name: "an unreadable TCP-MD5 password file",
        make: |d, text| {
            // A directory: unreadable as a file even for root.
            std::fs::create_dir_all(d.join("md5")).unwrap();
            format!(
                "{text}[bgp]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n\n[[bgp.peer]]\n\
                 address = \"127.0.0.2\"\nasn = 64500\nfamilies = [\"ipv4\"]\npassive = true\n\
                 md5_password_file = \"{}/md5\"\n",
                d.display()
            )
        },
        expect: &["bgp.peer[0].md5_password_file: cannot read {d}/md5: Is a directory"],
    },
    Case {
        name: "a BFD key too long for SHA1",
        make: |d, text| {
            write(&d.join("bfd.key"), "0123456789abcdef01234\n");
            format!(
                "{text}[bfd.auth]\ntype = \"keyed-sha1\"\nkey_file = \"{}/bfd.key\"\n",
                d.display()
            )
        },
        expect: &["bfd.auth.key_file: {d}/bfd.key: SHA1 key must be 1 to 20 bytes, got 21"],
    },
    Case {
        name: "a missing BFD key file",
        make: |d, text| {
            format!(
                "{text}[bfd.auth]\ntype = \"keyed-md5\"\nkey_file = \"{}/absent-bfd.key\"\n",
                d.display()
            )
        },
        expect: &["bfd.auth.key_file: {d}/absent-bfd.key: No such file or directory"],
    },
    Case {
        name: "a hook program without an execute bit",
        make: |d, text| {
            let hook = d.join("hook.sh");
            write(&hook, "#!/bin/sh\ncat > /dev/null\n");
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o644)).unwrap();
            format!("{text}[hook]\ncommand = [\"{}\"]\n", hook.display())
        },
        expect: &["hook.command: {d}/hook.sh is not executable: Permission denied"],
    },
    Case {
        name: "a hook program that is not in PATH",
        make: |_, text| format!("{text}[hook]\ncommand = [\"orbit-no-such-hook\", \"--flag\"]\n"),
        expect: &["hook.command: \"orbit-no-such-hook\" is not an executable file in PATH"],
    },
    Case {
        name: "a health check program that does not exist",
        make: |d, text| {
            text.replace(
                "sites = [\"a\"]\n",
                &format!("sites = [\"a\"]\nhealth = {{ exec = [\"{}/check\"] }}\n", d.display()),
            )
        },
        expect: &["service[0].health.exec: {d}/check: No such file or directory"],
    },
    Case {
        name: "a plan step program that is not in PATH",
        make: |d, text| {
            let fence = d.join("fence.sh");
            write(&fence, "#!/bin/sh\nexit 0\n");
            std::fs::set_permissions(&fence, std::fs::Permissions::from_mode(0o755)).unwrap();
            format!(
                "{}[[plan]]\nid = \"pg\"\n[[plan.fence_old]]\nkind = \"exec\"\ncommand = [\"{}\"]\n\
                 [[plan.before_takeover]]\nkind = \"exec\"\ncommand = [\"orbit-no-such-promote\"]\n",
                text.replace("sites = [\"a\"]\n", "sites = [\"a\"]\nplan = \"pg\"\n"),
                fence.display()
            )
        },
        // Only the program that is missing.
        expect: &[
            "plan[0].before_takeover[0].command: \"orbit-no-such-promote\" is not an executable file in PATH",
        ],
    },
];

/// `case`'s config written in a fresh directory: the directory (removed on
/// drop), the config's path, and the expected problems for it.
fn make(case: &Case) -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let text = (case.make)(d, one_site(d));
    let path = d.join("orbit.toml");
    write(&path, &text);
    let expect = case
        .expect
        .iter()
        .map(|e| e.replace("{d}", &d.display().to_string()))
        .collect();
    (dir, path, expect)
}

/// What is wrong with `stderr` as the list of `expect`, if anything.
fn lists(case: &str, stderr: &str, expect: &[String]) -> Vec<String> {
    let mut wrong = Vec::new();
    if !stderr.contains(&format!("has {} problem(s):", expect.len())) {
        wrong.push(format!("{case}: expected {} problem(s)", expect.len()));
    }
    for e in expect {
        if !stderr.contains(&format!("\n  {e}")) {
            wrong.push(format!("{case}: missing {e:?}"));
        } else if stderr.matches(e.as_str()).count() != 1 {
            wrong.push(format!("{case}: {e:?} said more than once"));
        }
    }
    if !wrong.is_empty() {
        wrong.push(format!("{case}: stderr was:\n{stderr}"));
    }
    wrong
}

fn assert_none(wrong: &[String]) {
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn check_config_lists_each_bad_config_and_file_with_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.toml");
    write(&good, &one_site(dir.path()));
    let (code, _, stderr) = check_config(&good);
    assert_eq!(code, 0, "the base config is good: {stderr}");
    let mut wrong = Vec::new();
    for case in CASES {
        let (_dir, path, expect) = make(case);
        let (code, _, stderr) = check_config(&path);
        if code != 64 {
            wrong.push(format!("{}: exit {code}, not 64", case.name));
        }
        wrong.extend(lists(case.name, &stderr, &expect));
    }
    assert_none(&wrong);
}

#[test]
fn check_config_lists_problems_of_every_kind_in_one_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let mut text = one_site(d);
    let mut expect = Vec::new();
    // One case per setting: two gossip key cases would name one path twice.
    for case in CASES.iter().filter(|c| {
        !matches!(
            c.name,
            "a gossip key of 15 bytes" | "no gossip key at all" | "a missing BFD key file"
        ) && !c.name.contains("not in PATH")
    }) {
        text = (case.make)(d, text);
        expect.extend(
            case.expect
                .iter()
                .map(|e| e.replace("{d}", &d.display().to_string())),
        );
    }
    let path = d.join("orbit.toml");
    write(&path, &text);
    let (code, _, stderr) = check_config(&path);
    assert_eq!(code, 64, "{stderr}");
    assert_none(&lists("all at once", &stderr, &expect));
}

/// Runs `orbitd --config path` until it exits (a generous deadline: one
/// that keeps running is the failure), as (exit code, stderr).
fn start(path: &Path, log: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orbitd"))
        .arg("--config")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start orbitd");
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    (status.and_then(|s| s.code()), stderr)
}

#[test]
fn orbitd_refuses_them_at_start_with_64_leaving_nothing_behind() {
    let mut wrong = Vec::new();
    for case in CASES {
        let (dir, path, expect) = make(case);
        let log = dir.path().join("orbitd.log");
        let (code, stderr) = start(&path, &log);
        if code != Some(64) {
            wrong.push(format!("{}: exit {code:?}, not 64", case.name));
        }
        wrong.extend(lists(case.name, &stderr, &expect));
        for left in ["api.sock", "state"] {
            if dir.path().join(left).exists() {
                wrong.push(format!("{}: {left} was left behind", case.name));
            }
        }
    }
    assert_none(&wrong);
}

/// A start that fails after the API socket is bound (here: the TCP API
/// port is taken) removes the socket and says why once.
#[test]
fn a_start_that_fails_later_removes_its_api_socket_and_says_why_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("port").port();
    write(&d.join("token"), "a-token-for-this-test-only\n");
    let text = one_site(d).replacen(
        "[[site]]",
        &format!(
            "api_tcp = \"127.0.0.1:{port}\"\napi_token_file = \"{}/token\"\n\n[[site]]",
            d.display()
        ),
        1,
    );
    let path = d.join("orbit.toml");
    write(&path, &text);
    let (code, stderr) = start(&path, &d.join("orbitd.log"));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr
            .matches(&format!("binding API listener 127.0.0.1:{port}"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(!d.join("api.sock").exists(), "api.sock was left behind");
}

/// The golden configs: `check-config --skip-files` output for each
/// `check_config_golden/NAME.toml` must equal `NAME.expected` byte for
/// byte, so moving a validator between crates changes no message and no
/// path. `ORBIT_BLESS=1` rewrites the expected files instead.
#[test]
fn check_config_output_matches_the_golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_config_golden");
    let bless = std::env::var_os("ORBIT_BLESS").is_some_and(|v| v == "1");
    let mut wrong = Vec::new();
    for name in ["every_section", "structure", "warnings"] {
        // Run from the directory so the file's path in the output is fixed.
        let out = Command::new(env!("CARGO_BIN_EXE_orbitd"))
            .current_dir(&dir)
            .args(["check-config", "--skip-files", &format!("{name}.toml")])
            .output()
            .expect("run orbitd");
        let got = format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            out.status.code().expect("exit code"),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let expected_path = dir.join(format!("{name}.expected"));
        if bless {
            write(&expected_path, &got);
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            wrong.push(format!(
                "{name}: output differs from {} (ORBIT_BLESS=1 rewrites it):\n{got}",
                expected_path.display()
            ));
        }
    }
    assert_none(&wrong);
}
