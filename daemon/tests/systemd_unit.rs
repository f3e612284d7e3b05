//! The systemd files of `packaging/systemd/`: the unit passes
//! `systemd-analyze verify` (pointed at this build's orbitd), and a typo
//! in a directive makes the check fail, since systemd only warns about
//! one; sysusers creates the `orbit` user and tmpfiles its directories;
//! the unit's timeouts fit orbitd's defaults.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/systemd")
        .join(file)
}

fn unit_text() -> String {
    std::fs::read_to_string(packaging("orbitd.service")).expect("read orbitd.service")
}

/// `systemd-analyze verify` of `unit` with `/usr/sbin/orbitd` replaced by
/// this build's binary (verify wants ExecStart to exist); `Err` with what
/// it said when it says anything at all (an unknown key is only a
/// warning), or fails. Man pages are not looked up: they are installed by
/// the package, not present here.
fn verify(unit: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("orbitd.service");
    let unit = unit.replace("/usr/sbin/orbitd", env!("CARGO_BIN_EXE_orbitd"));
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze (package systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.success() && said.trim().is_empty() {
        true => Ok(()),
        false => Err(format!("{}: {said}", out.status)),
    }
}

#[test]
fn the_unit_passes_systemd_analyze_verify_and_a_typo_fails_it() {
    let unit = unit_text();
    verify(&unit).expect("packaging/systemd/orbitd.service");
    for (right, wrong) in [
        ("NoNewPrivileges=yes", "NoNewPrivilege=yes"),
        ("Type=notify", "Type=notfy"),
        ("ProtectSystem=strict", "ProtectSystem=strickt"),
        ("[Service]", "[Servce]"),
    ] {
        assert!(unit.contains(right), "{right} is no longer in the unit");
        let error =
            verify(&unit.replacen(right, wrong, 1)).expect_err(&format!("{wrong} passed verify"));
        assert!(!error.is_empty());
    }
    let missing = unit.replacen("/usr/sbin/orbitd", "/no/such/orbitd", 1);
    assert!(
        verify(&missing).is_err(),
        "an ExecStart that does not exist"
    );
}

#[test]
fn sysusers_and_tmpfiles_make_the_orbit_user_and_its_directories() {
    let root = tempfile::tempdir().expect("temp root");
    std::fs::create_dir_all(root.path().join("etc")).expect("etc");
    for (tool, file, extra) in [
        ("systemd-sysusers", "orbit.sysusers", None),
        ("systemd-tmpfiles", "orbit.tmpfiles", Some("--create")),
    ] {
        let out = Command::new(tool)
            .arg(format!("--root={}", root.path().display()))
            .args(extra)
            .arg(packaging(file))
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    let user = passwd
        .lines()
        .find(|l| l.starts_with("orbit:"))
        .unwrap_or_else(|| panic!("no orbit user: {passwd}"));
    let fields: Vec<&str> = user.split(':').collect();
    assert_eq!(
        fields[5..],
        ["/var/lib/orbit", "/usr/sbin/nologin"],
        "{user}"
    );
    let uid: u32 = fields[2].parse().expect("uid");
    assert!(uid < 1000, "not a system user: {user}");
    use std::os::unix::fs::MetadataExt;
    for dir in ["run/orbit", "var/lib/orbit"] {
        let meta = std::fs::metadata(root.path().join(dir)).expect(dir);
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid, 0o750), "{dir}");
    }
}

/// `Key=` of the unit's `[Service]` section.
fn directive<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
}

fn seconds(value: &str) -> Duration {
    let s = value.strip_suffix('s').expect("a duration in seconds");
    Duration::from_secs(s.parse().expect("seconds"))
}

#[test]
fn the_units_timeouts_leave_room_for_orbitds_defaults() {
    let unit = unit_text();
    let policy = orbit_core::config::Policy::default();
    // The stop: shutdown_grace, then closing each backend (2 s each).
    let stop = seconds(directive(&unit, "TimeoutStopSec"));
    assert!(
        stop >= policy.shutdown_grace.get() + Duration::from_secs(20),
        "{stop:?}"
    );
    // The start: READY=1 at the latest after ready_timeout.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("orbit.toml");
    std::fs::write(&config, orbit_tests::orbitd::standalone_config(dir.path())).expect("config");
    let config = orbit_config::Config::load(&config).expect("a good config");
    let start = seconds(directive(&unit, "TimeoutStartSec"));
    assert!(
        start >= config.node.ready_timeout.get() + Duration::from_secs(30),
        "{start:?}"
    );
    // The watchdog: orbitd pets at half of it.
    assert!(seconds(directive(&unit, "WatchdogSec")) >= Duration::from_secs(4));
    // A bad config (exit 64) is not restarted.
    assert_eq!(directive(&unit, "RestartPreventExitStatus"), "64");
    assert_eq!(
        directive(&unit, "ExecStart"),
        "/usr/sbin/orbitd --config /etc/orbit/orbit.toml"
    );
}
