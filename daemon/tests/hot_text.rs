//! `hot-text.ld` (scripts/hot-text.sh) is passed to the linker only for
//! release builds, which `make test` does not make. This links a small
//! program with it through the same rustc and linker, so a script the linker
//! rejects, or patterns that no longer match how this toolchain names its
//! sections, fail here rather than in the first release build.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the report

use std::path::Path;
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hot-text.ld");

/// Size of the named section, from `readelf -SW`.
fn section_size(binary: &Path, name: &str) -> Option<u64> {
    let out = Command::new("readelf")
        .arg("-SW")
        .arg(binary)
        .output()
        .expect("run readelf");
    assert!(out.status.success(), "readelf failed");
    let text = String::from_utf8_lossy(&out.stdout);
    // "  [16] .text.hot  PROGBITS  <addr> <off> <size> ..."
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(['[', ']']).nth(2)?.split_whitespace().collect();
        (fields.first() == Some(&name)).then(|| u64::from_str_radix(fields.get(4)?, 16).ok())?
    })
}

#[test]
fn the_linker_takes_the_script_and_gathers_what_it_names() {
    let dir = std::env::temp_dir().join(format!("orbit-hot-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("main.rs");
    // Reads a file: std's `io::default_read_to_end::<fs::File>` is among the
    // functions orbitd runs, so the script names it.
    std::fs::write(
        &source,
        "fn main() { let s = std::fs::read_to_string(\"/proc/self/comm\").unwrap(); println!(\"{}\", s.len()); }\n",
    )
    .unwrap();
    let binary = dir.join("main");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .arg(format!("-Clink-arg=-Wl,-T,{SCRIPT}"))
        .output()
        .expect("run rustc");
    assert!(
        out.status.success(),
        "linking with {SCRIPT} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hot = section_size(&binary, ".text.hot");
    let text = section_size(&binary, ".text");
    let run = Command::new(&binary)
        .output()
        .expect("run the linked program");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        run.status.success(),
        "the program linked with the script does not run"
    );
    assert!(
        hot.is_some_and(|size| size > 0),
        "no code gathered into .text.hot (size {hot:?}): the patterns match none of this toolchain's std sections"
    );
    assert!(
        text.is_some_and(|size| size > 0),
        "the rest of the code is not in .text"
    );
}
