//! A small, strict checker for the subset of JSON Schema (2020-12) that
//! `docs/schema/` uses: `type`, `const`, `enum`, `required`, `properties`,
//! `additionalProperties`, `items`, `$ref` (to `#/$defs/..` or to another
//! file of the same folder). The `jsonschema` crate is not in the offline
//! registry; a keyword this checker does not know makes it panic, so a
//! schema never passes by being half read.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Keywords that only annotate.
const ANNOTATIONS: [&str; 5] = ["$schema", "$id", "title", "description", "$defs"];

/// A schema file and the folder its `$ref`s point into.
#[derive(Debug)]
pub struct Schema {
    dir: PathBuf,
    file: String,
    root: Value,
}

impl Schema {
    /// `dir/file`, parsed; panics if it is missing or not JSON.
    pub fn load(dir: &Path, file: &str) -> Schema {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let root = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        Schema {
            dir: dir.to_owned(),
            file: file.to_owned(),
            root,
        }
    }

    /// Every place where `value` breaks the schema, as `pointer: problem`.
    pub fn problems(&self, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.check(&self.root, value, "", &mut out);
        out
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let Some(rules) = schema.as_object() else {
            panic!("{}: a schema at {at} is not an object", self.file);
        };
        for (keyword, rule) in rules {
            match keyword.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "$ref" => self.check_ref(rule, value, at, out),
                "type" => {
                    let allowed: Vec<&str> = match rule {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                        _ => panic!("{}: bad type at {at}", self.file),
                    };
                    if !allowed.iter().any(|t| has_type(value, t)) {
                        out.push(format!("{at}: {value} is not of type {allowed:?}"));
                    }
                }
                "const" if value != rule => out.push(format!("{at}: {value} is not {rule}")),
                "const" => {}
                "enum" => {
                    if !rule.as_array().is_some_and(|vs| vs.contains(value)) {
                        out.push(format!("{at}: {value} is not one of {rule}"));
                    }
                }
                "required" => {
                    for key in rule
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if value.is_object() && value.get(key).is_none() {
                            out.push(format!("{at}: missing {key:?}"));
                        }
                    }
                }
                "properties" => {
                    for (key, sub) in rule.as_object().into_iter().flatten() {
                        if let Some(v) = value.get(key) {
                            self.check(sub, v, &format!("{at}/{key}"), out);
                        }
                    }
                }
                "additionalProperties" => {
                    let known = rules.get("properties").and_then(Value::as_object);
                    for (key, v) in value.as_object().into_iter().flatten() {
                        if known.is_some_and(|k| k.contains_key(key)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => out.push(format!("{at}: unexpected {key:?}")),
                            Value::Bool(true) => {}
                            sub => self.check(sub, v, &format!("{at}/{key}"), out),
                        }
                    }
                }
                "items" => {
                    for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                        self.check(rule, v, &format!("{at}/{i}"), out);
                    }
                }
                other => panic!("{}: keyword {other:?} at {at} is not supported", self.file),
            }
        }
    }

    fn check_ref(&self, rule: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let reference = rule.as_str().unwrap_or_default();
        let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let other;
        let schema = if file.is_empty() {
            self
        } else {
            other = Schema::load(&self.dir, file);
            &other
        };
        let target = schema
            .root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{}: $ref {reference} not found", self.file));
        schema.check(target, value, at, out);
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}
