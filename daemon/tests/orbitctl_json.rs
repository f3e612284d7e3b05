//! `orbitctl --json` against a real orbitd, checked against the JSON Schema
//! files in `docs/schema/` (status, journal entry, command response,
//! error): what scripts may rely on. Also: ids key objects, not lists.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use orbit_tests::orbitd::{orbitctl, Orbitd};
use orbit_tests::schema::Schema;
use serde_json::Value;

fn schema(file: &str) -> Schema {
    Schema::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema"),
        file,
    )
}

fn assert_valid(schema_file: &str, value: &Value) {
    let problems = schema(schema_file).problems(value);
    assert!(
        problems.is_empty(),
        "{schema_file}: {problems:#?}\n{value:#}"
    );
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn json_output_matches_the_documented_schemas() {
    orbit_tests::assert_root("orbitd tests");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let socket = dir.join("api.sock");
    let _daemon = Orbitd::start_standalone(Path::new(env!("CARGO_BIN_EXE_orbitd")), dir);
    let ctl = |args: &[&str]| orbitctl(env!("CARGO_BIN_EXE_orbitd"), &socket, args);

    let (code, out, err) = ctl(&["--json", "pin", "--service", "web", "--to", "a"]);
    assert_eq!(code, 0, "{err}");
    assert_valid("command-response.schema.json", &parse(&out));

    let (code, out, err) = ctl(&["--json", "status"]);
    assert_eq!(code, 0, "{err}");
    let status = parse(&out);
    assert_valid("status.schema.json", &status);
    // Keyed by id: no search through lists.
    assert_eq!(status["schema_version"], 1);
    assert_eq!(
        status["engine"]["services"]["web"]["pinned"], "a",
        "{status:#}"
    );
    assert_eq!(status["engine"]["sites"]["a"]["dead"], false, "{status:#}");
    assert_eq!(status["backends"]["hook"]["kind"], "hook", "{status:#}");

    let (code, out, err) = ctl(&["--json", "journal", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() >= 2, "{out}");
    for line in out.lines() {
        assert_valid("journal-entry.schema.json", &parse(line));
    }

    // A refusal by orbitd: exit 1, the error object on stdout.
    let (code, out, err) = ctl(&["--json", "pin", "--service", "nope", "--to", "a"]);
    assert_eq!(code, 1, "{out}{err}");
    let error = parse(&out);
    assert_valid("error.schema.json", &error);
    assert_eq!(error["error"]["kind"], "refused");
    assert_eq!(error["error"]["message"], "unknown service \"nope\"");
}
