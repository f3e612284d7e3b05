//! The Debian package (`make deb`: scripts/deb.sh) and `make install`
//! (scripts/stage.sh), built from the debug binaries this test already has
//! (stage.sh strips them; `make deb` uses the release ones):
//!
//! - the package holds the files it should, owned by root with the modes
//!   they should have, `/etc/orbit/orbit.toml` as a conffile, man pages
//!   gzipped and rendering without a warning, maintainer scripts that pass
//!   `sh -n` and shellcheck, and lintian finds no error in it;
//! - `dpkg -i` installs it for real into a throwaway root: an overlay of
//!   this machine's root in a mount namespace of its own (so dpkg finds
//!   libc6 and adduser installed and the maintainer scripts run with real
//!   tools, while nothing reaches the machine's own files), where postinst
//!   creates the orbit user and /var/lib/orbit 0750 and enables nothing,
//!   an upgrade keeps a changed config and an enabled unit enabled,
//!   `dpkg -r` keeps the config and the state, `dpkg -P` removes both, the
//!   user and the unit's enablement;
//! - `make install-files PREFIX=/usr/local DESTDIR=...` installs the same
//!   files as the package (under /usr/local), and a second install keeps a
//!   config an operator changed.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory of the orbitd (and orbitctl) this test was built with.
fn bindir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_orbitd"))
        .parent()
        .unwrap()
        .to_owned();
    assert!(
        dir.join("orbitctl").exists(),
        "orbitctl missing beside orbitd: cargo build -p orbitctl"
    );
    dir
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

/// Every file and symlink under `root`, by path relative to it, with its
/// mode.
fn files(root: &Path) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                found.insert(rel, meta.permissions().mode() & 0o7777);
            }
        }
    }
    found
}

#[test]
fn the_package_installs_removes_and_purges_and_make_install_ships_the_same_files() {
    orbit_tests::assert_root("installing the package into a throwaway root");
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    // gzip: xz takes three times as long and the test is not about size.
    let deb = stdout(
        Command::new(top().join("scripts/deb.sh"))
            .arg(bindir())
            .arg(t.join("out"))
            .env("DEB_COMPRESSION", "gzip"),
    );
    let deb = PathBuf::from(deb.trim());
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("orbit_{}_{}.deb", env!("CARGO_PKG_VERSION"), arch.trim())
    );
    // lintian takes a while: it runs while the rest is checked.
    let lintian = Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(&deb)
        .output();

    // The control fields and the maintainer scripts.
    let field = |name: &str| {
        stdout(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name))
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), "orbit");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Section"), "net");
    assert_eq!(field("Priority"), "optional");
    let depends = field("Depends");
    assert!(
        depends.starts_with("libc6 (>= ") && depends.contains("adduser"),
        "{depends}"
    );
    let control = t.join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/orbit/orbit.toml\n"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
        run(Command::new("sh").arg("-n").arg(&path));
        run(Command::new("shellcheck").arg(&path));
    }

    // The files, their owners and modes, as dpkg-deb lists them.
    let listing = stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let mut entries = BTreeMap::new();
    for line in listing.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "root/root", "{line}");
        entries.insert(cols[5].trim_start_matches("./").to_owned(), cols[0]);
    }
    let expected = [
        ("usr/sbin/orbitd", "-rwxr-xr-x"),
        ("usr/bin/orbitctl", "-rwxr-xr-x"),
        ("etc/orbit/orbit.toml", "-rw-r--r--"),
        ("lib/systemd/system/orbitd.service", "-rw-r--r--"),
        ("usr/lib/sysusers.d/orbit.conf", "-rw-r--r--"),
        ("usr/lib/tmpfiles.d/orbit.conf", "-rw-r--r--"),
        ("usr/share/man/man8/orbitd.8.gz", "-rw-r--r--"),
        ("usr/share/man/man5/orbit.toml.5.gz", "-rw-r--r--"),
        ("usr/share/man/man1/orbitctl.1.gz", "-rw-r--r--"),
        (
            "usr/share/bash-completion/completions/orbitctl",
            "-rw-r--r--",
        ),
        ("usr/share/zsh/vendor-completions/_orbitctl", "-rw-r--r--"),
        (
            "usr/share/fish/vendor_completions.d/orbitctl.fish",
            "-rw-r--r--",
        ),
        ("usr/share/doc/orbit/copyright", "-rw-r--r--"),
        ("usr/share/doc/orbit/changelog.gz", "-rw-r--r--"),
        ("usr/share/doc/orbit/README.md", "-rw-r--r--"),
        ("usr/share/doc/orbit/examples/orbit.toml", "-rw-r--r--"),
    ];
    for (path, mode) in expected {
        assert_eq!(entries.get(path).copied(), Some(mode), "{path}:\n{listing}");
    }

    // The man pages, as installed: gzipped, and man renders them silently.
    let tree = t.join("tree");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree));
    for page in [
        "man8/orbitd.8.gz",
        "man5/orbit.toml.5.gz",
        "man1/orbitctl.1.gz",
    ] {
        let path = tree.join("usr/share/man").join(page);
        let out = run(Command::new("man")
            .args(["--warnings=w", "-l"])
            .arg(&path)
            .env("MANWIDTH", "80"));
        assert!(
            out.stderr.is_empty() && out.stdout.len() > 500,
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let unit = std::fs::read_to_string(tree.join("lib/systemd/system/orbitd.service")).unwrap();
    assert!(unit.contains("/usr/sbin/orbitd"), "{unit}");

    // dpkg -i, -r, -P for real, in a throwaway root.
    let report = install_remove_purge(t, &deb);
    for line in [
        "user=orbit:/var/lib/orbit",
        "group=orbit",
        "state=750 orbit orbit",
        &format!("version=orbitd {}", env!("CARGO_PKG_VERSION")),
        "check-config=ok",
        "status=install ok installed",
        "enabled=no",
        "upgraded: config=yes enabled=yes",
        "removed: binary=no config=yes state=yes user=yes",
        "purged: config=no state=no user=no group=no enabled=no",
    ] {
        assert!(
            report.lines().any(|l| l.starts_with(line)),
            "{line:?} missing:\n{report}"
        );
    }

    // make install ships the package's files, under PREFIX.
    let staged = t.join("staged");
    let make = || {
        run(Command::new("make")
            .current_dir(top())
            .arg("--no-print-directory")
            .arg("install-files")
            .arg(format!("BINDIR={}", bindir().display()))
            .arg(format!("DESTDIR={}", staged.display()))
            .arg("PREFIX=/usr/local"))
    };
    make();
    let package: BTreeMap<String, u32> = files(&tree)
        .into_iter()
        .map(|(path, mode)| {
            let path = match path.strip_prefix("lib/") {
                Some(rest) => format!("usr/local/lib/{rest}"),
                None => path.replacen("usr/", "usr/local/", 1),
            };
            (path, mode)
        })
        .collect();
    assert_eq!(files(&staged), package);
    let unit = std::fs::read_to_string(staged.join("usr/local/lib/systemd/system/orbitd.service"))
        .unwrap();
    assert!(unit.contains("/usr/local/sbin/orbitd"), "{unit}");
    let config = staged.join("etc/orbit/orbit.toml");
    std::fs::write(&config, "# the operator's own\n").unwrap();
    let again = make();
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists: kept"),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# the operator's own\n"
    );

    let lintian = lintian.unwrap_or_else(|e| panic!("lintian: {e} (scripts/install-deps.sh)"));
    let tags = String::from_utf8_lossy(&lintian.stdout);
    let errors: Vec<&str> = tags.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian:\n{tags}");
}

/// Installs, removes and purges `deb` with dpkg in a throwaway root
/// ([`orbit_tests::throwaway_root`]). Returns what the steps report, one
/// `key=value` line each.
fn install_remove_purge(t: &Path, deb: &Path) -> String {
    std::fs::copy(deb, t.join("orbit.deb")).unwrap();
    let out = orbit_tests::throwaway_root::run(
        &t.join("root"),
        &format!("cp {:?} \"$root/tmp/\"", t.join("orbit.deb")),
        INNER,
        &[],
    );
    assert!(
        out.status.success(),
        "dpkg in the throwaway root: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs inside the throwaway root.
const INNER: &str = r##"set -eu
yes_no() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }
# Enabled: the [Install] symlink (deb-systemd-helper answers only dpkg).
wants=/etc/systemd/system/multi-user.target.wants/orbitd.service
dpkg -i /tmp/orbit.deb
echo "user=$(getent passwd orbit | cut -d: -f1,6)"
echo "group=$(getent group orbit | cut -d: -f1)"
echo "state=$(stat -c '%a %U %G' /var/lib/orbit)"
echo "version=$(orbitd --version)"
orbitd check-config --skip-files /etc/orbit/orbit.toml >/dev/null && echo check-config=ok
echo "status=$(dpkg-query -W -f='${Status}' orbit)"
echo "enabled=$(yes_no test -L $wants)"
echo "# the operator's own" >>/etc/orbit/orbit.toml
systemctl enable orbitd.service
dpkg -i --force-confold /tmp/orbit.deb
echo "upgraded: config=$(yes_no grep -q "the operator's own" /etc/orbit/orbit.toml) enabled=$(yes_no test -L $wants)"
touch /var/lib/orbit/state.json
dpkg -r orbit
echo "removed: binary=$(yes_no test -e /usr/sbin/orbitd) config=$(yes_no test -e /etc/orbit/orbit.toml) state=$(yes_no test -e /var/lib/orbit/state.json) user=$(yes_no getent passwd orbit)"
dpkg -P orbit
echo "purged: config=$(yes_no test -e /etc/orbit/orbit.toml) state=$(yes_no test -e /var/lib/orbit) user=$(yes_no getent passwd orbit) group=$(yes_no getent group orbit) enabled=$(yes_no test -L $wants)"
"##;
