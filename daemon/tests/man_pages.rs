//! The man pages the package ships (orbitd(8), orbit.toml(5), orbitctl(1)),
//! as the binaries render them: groff with every warning on (`-ww`) and
//! man(1) itself render each without a word on stderr.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;

fn orbitctl() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_orbitd")).with_file_name("orbitctl");
    assert!(
        exe.exists(),
        "{} missing: cargo build -p orbitctl",
        exe.display()
    );
    exe
}

/// `program args` as roff, in a file of its own.
fn page(dir: &Path, name: &str, program: &Path, args: &[&str]) -> PathBuf {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.join(name);
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

/// Renders `file` with `program args`: stdout, after checking that stderr
/// is empty.
fn render(program: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(file)
        .env("MANWIDTH", "80")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/install-deps.sh installs it)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{program} {args:?} {}: {stderr}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_page_renders_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let orbitd = Path::new(env!("CARGO_BIN_EXE_orbitd"));
    let pages = [
        (
            page(dir.path(), "orbitd.8", orbitd, &["man", "orbitd"]),
            "EXIT STATUS",
        ),
        (
            page(dir.path(), "orbit.toml.5", orbitd, &["man", "orbit.toml"]),
            "[[bgp.peer]]",
        ),
        (
            page(dir.path(), "orbitctl.1", &orbitctl(), &["man"]),
            "ENVIRONMENT",
        ),
    ];
    for (file, expected) in &pages {
        let groff = render("groff", &["-ww", "-man", "-Tutf8", "-P-cbou"], file);
        assert!(groff.contains(expected), "{}:\n{groff}", file.display());
        let man = render("man", &["--warnings=w", "-l"], file);
        assert!(man.contains(expected), "{}:\n{man}", file.display());
    }
}
