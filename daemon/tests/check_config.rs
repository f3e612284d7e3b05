//! `orbitd check-config`: exit 0 with a summary on a good config, exit 64
//! with every problem listed by TOML path on a bad one.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::Command;

fn check_config(path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orbitd"))
        .arg("check-config")
        .arg(path)
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

#[test]
fn accepts_the_example_with_a_summary() {
    let (code, stdout, stderr) = check_config(&example());
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
}

#[test]
fn the_summary_names_bfd_toward_the_members() {
    let dir = std::env::temp_dir().join(format!("orbit-check-bfd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = std::fs::read_to_string(example())
        .expect("example")
        .replace(
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
    std::fs::write(&key, "orbit-bfd-secret").expect("write key");
    let auth = format!(
        "[bfd.auth]\ntype = \"meticulous-keyed-sha1\"\nkey_file = \"{}\"\n\n[policy]",
        key.display()
    );
    std::fs::write(&path, text.replace("[policy]", &auth)).expect("write config");
    let (code, _, stderr) = check_config(&path);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn rejects_a_broken_config_listing_every_problem() {
    let dir = std::env::temp_dir().join(format!("orbit-check-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = std::fs::read_to_string(example())
        .expect("example")
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
    let example = std::fs::read_to_string(example()).expect("example");
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
