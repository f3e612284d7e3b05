//! `--json`: the shape scripts rely on, documented as JSON Schema in
//! `docs/schema/` and checked against real output by a test.
//!
//! orbitd's API keeps its lists (its own tests and older clients read them);
//! orbitctl turns every list of things that have an id into an object keyed
//! by that id (`.engine.services.web.active` instead of a search through an
//! array), per-site health pairs into `{site: word}`, and stamps
//! `schema_version`. Fields orbitd adds later pass through untouched: a new
//! field is not a new schema version, a renamed or re-typed one is.

use orbit_core::api::{CommandResponse, JournalEntry, StatusResponse};
use serde::Serialize;
use serde_json::{Map, Value};

/// Bumped when a field changes meaning, type or place (not when one is added).
pub const SCHEMA_VERSION: u64 = 1;

/// The lists of `GET /v1/status` keyed by id: (JSON pointer, id field).
const KEYED: [(&str, &str); 6] = [
    ("/engine/sites", "id"),
    ("/engine/services", "id"),
    ("/backends", "kind"),
    ("/bgp_peers", "address"),
    ("/bfd", "peer"),
    ("/detect/members", "site"),
];

pub fn status(s: &StatusResponse) -> Value {
    let mut value = stamped(s);
    let dead: Vec<String> = s
        .engine
        .sites
        .iter()
        .filter(|site| site.dead)
        .map(|site| site.id.to_string())
        .collect();
    if let Some(services) = value
        .pointer_mut("/engine/services")
        .and_then(Value::as_array_mut)
    {
        for service in services {
            health_by_site(service, &dead);
        }
    }
    for (pointer, id) in KEYED {
        if let Some(list) = value.pointer_mut(pointer) {
            keyed(list, id);
        }
    }
    value
}

pub fn journal_entry(e: &JournalEntry) -> Value {
    stamped(e)
}

pub fn command(r: &CommandResponse) -> Value {
    stamped(r)
}

/// `value` as a JSON object with `schema_version` added.
pub fn stamped(value: &impl Serialize) -> Value {
    let mut out = Map::new();
    out.insert("schema_version".to_owned(), SCHEMA_VERSION.into());
    match serde_json::to_value(value) {
        Ok(Value::Object(fields)) => out.extend(fields),
        Ok(other) => {
            out.insert("value".to_owned(), other);
        }
        Err(e) => {
            out.insert("error".to_owned(), e.to_string().into());
        }
    }
    Value::Object(out)
}

/// A list of objects as an object keyed by each one's `id` field (keys
/// come out sorted; order that matters, such as a service's site
/// preference, is in lists of its own). Two entries with one id (a BFD peer with a single-hop and
/// a multihop session) keep both: the second is keyed `id#2`.
fn keyed(list: &mut Value, id: &str) {
    let Value::Array(items) = list.take() else {
        return;
    };
    let mut map = Map::new();
    for item in items {
        let key = match &item[id] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut unique = key.clone();
        let mut n = 1;
        while map.contains_key(&unique) {
            n += 1;
            unique = format!("{key}#{n}");
        }
        map.insert(unique, item);
    }
    *list = Value::Object(map);
}

/// `[["a", true], ["b", null]]` as `{"a": "ok", "b": "unknown"}`; a dead
/// site's last report is `stale`.
fn health_by_site(service: &mut Value, dead: &[String]) {
    let Some(Value::Array(pairs)) = service.get_mut("health").map(Value::take) else {
        return;
    };
    let mut map = Map::new();
    for pair in pairs {
        let (Some(site), healthy) = (pair[0].as_str(), &pair[1]) else {
            continue;
        };
        let word = match healthy {
            _ if dead.iter().any(|d| d == site) => "stale",
            Value::Bool(true) => "ok",
            Value::Bool(false) => "failing",
            _ => "unknown",
        };
        map.insert(site.to_owned(), word.into());
    }
    service["health"] = Value::Object(map);
}
