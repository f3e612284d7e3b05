//! What a new config changes against the running one, as
//! [`ConfigChange`]s in file order: what `orbitctl reload` prints, orbitd
//! logs and the journal keeps.
//!
//! Both configs are compared as the values they serialize to, so a key
//! added to any section is compared without being listed here. What this
//! module knows is how an operator names things: a `[[site]]`,
//! `[[service]]` or `[[bgp.peer]]` by its id or address (so removing the
//! first service is "service web removed", not every index shifting), and
//! which lists are sets (prefixes: `+198.51.100.0/24`) rather than orders
//! (a service's `sites`, its preference: `[a, b] -> [b, a]`).

use orbit_core::config::{ConfigChange, Delta};
use serde_json::{Map, Value};

use crate::Config;

/// The sections in the order `orbit.toml` is usually written; a section
/// not listed here comes after them.
const SECTIONS: [&str; 13] = [
    "node", "api", "journal", "site", "detect", "policy", "service", "plan", "bgp", "haproxy",
    "sdn", "hook", "bfd",
];

/// Arrays of tables whose entries are told apart by a key: (TOML path,
/// key, how an entry is named).
const KEYED: [(&str, &str, &str); 4] = [
    ("site", "id", "site"),
    ("service", "id", "service"),
    ("plan", "id", "plan"),
    ("bgp.peer", "address", "bgp neighbor"),
];

/// Lists whose order means nothing, by their last key.
const UNORDERED: [&str; 4] = ["prefixes", "communities", "large_communities", "families"];

impl Config {
    /// What `new` changes against this config; empty when nothing does.
    pub fn diff(&self, new: &Config) -> Vec<ConfigChange> {
        let (Some(old), Some(new)) = (tree(self), tree(new)) else {
            // Cannot happen with the types at hand; say so rather than
            // claim there are no changes.
            return vec![ConfigChange {
                subject: "config".to_owned(),
                key: None,
                delta: Delta::Set {
                    old: Some("(not comparable)".to_owned()),
                    new: Some("(not comparable)".to_owned()),
                },
            }];
        };
        let mut names: Vec<&str> = SECTIONS.to_vec();
        for name in old.keys().chain(new.keys()) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        let mut out = Vec::new();
        for name in names {
            let at = Place {
                subject: name.to_owned(),
                key: String::new(),
                path: name.to_owned(),
            };
            compare(&at, old.get(name), new.get(name), &mut out);
        }
        out
    }
}

fn tree(config: &Config) -> Option<Map<String, Value>> {
    match serde_json::to_value(config) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Where a value sits: the subject an operator reads, the key within it,
/// and the TOML path without indices (to recognise keyed lists).
#[derive(Debug, Clone)]
struct Place {
    subject: String,
    key: String,
    path: String,
}

impl Place {
    fn child(&self, key: &str) -> Place {
        let join = |a: &str| match a {
            "" => key.to_owned(),
            a => format!("{a}.{key}"),
        };
        Place {
            subject: self.subject.clone(),
            key: join(&self.key),
            path: join(&self.path),
        }
    }

    fn entry(&self, noun: &str, id: &str) -> Place {
        Place {
            subject: format!("{noun} {id}"),
            key: String::new(),
            path: self.path.clone(),
        }
    }

    fn change(&self, delta: Delta) -> ConfigChange {
        ConfigChange {
            subject: self.subject.clone(),
            key: (!self.key.is_empty()).then(|| self.key.clone()),
            delta,
        }
    }
}

fn compare(at: &Place, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<ConfigChange>) {
    // Serialized `None` is null: not set, as in the file.
    let old = old.filter(|v| !v.is_null());
    let new = new.filter(|v| !v.is_null());
    if old == new {
        return;
    }
    let keyed = KEYED.iter().find(|(path, ..)| *path == at.path);
    match (old, new) {
        (Some(Value::Array(old)), Some(Value::Array(new))) if keyed.is_some() => {
            if let Some((_, key, noun)) = keyed {
                compare_entries(at, key, noun, old, new, out);
            }
        }
        (Some(Value::Object(old)), Some(Value::Object(new))) => {
            let mut keys: Vec<&String> = old.keys().collect();
            keys.extend(new.keys().filter(|k| !old.contains_key(*k)));
            for key in keys {
                compare(&at.child(key), old.get(key), new.get(key), out);
            }
        }
        (Some(Value::Array(old)), Some(Value::Array(new)))
            if UNORDERED.iter().any(|k| at.path.ends_with(k)) =>
        {
            let missing = |from: &[Value], among: &[Value]| {
                from.iter()
                    .filter(|v| !among.contains(v))
                    .map(text)
                    .collect::<Vec<_>>()
            };
            out.push(at.change(Delta::Members {
                added: missing(new, old),
                removed: missing(old, new),
            }));
        }
        (None, Some(Value::Object(_))) => out.push(at.change(Delta::Added)),
        (Some(Value::Object(_)), None) => out.push(at.change(Delta::Removed)),
        (old, new) => out.push(at.change(Delta::Set {
            old: old.map(text),
            new: new.map(text),
        })),
    }
}

/// Entries of a keyed list, matched by `key`: removed and changed ones in
/// their old order, then the added ones in their new order.
fn compare_entries(
    at: &Place,
    key: &str,
    noun: &str,
    old: &[Value],
    new: &[Value],
    out: &mut Vec<ConfigChange>,
) {
    let id = |entry: &Value| entry.get(key).map(text).unwrap_or_default();
    let find = |among: &[Value], wanted: &str| among.iter().find(|e| id(e) == wanted).cloned();
    for entry in old {
        let name = id(entry);
        let place = at.entry(noun, &name);
        match find(new, &name) {
            Some(now) => compare(&place, Some(entry), Some(&now), out),
            None => out.push(place.change(Delta::Removed)),
        }
    }
    for entry in new {
        let name = id(entry);
        if find(old, &name).is_none() {
            out.push(at.entry(noun, &name).change(Delta::Added));
        }
    }
}

/// A value as an operator writes it, strings without their quotes.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(text).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{k} = {}", text(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const EXAMPLE: &str = include_str!("../../examples/orbit.toml");

    /// The lines `new` (the example edited by `edit`) changes.
    fn lines(edit: impl Fn(String) -> String) -> Vec<String> {
        let old = Config::parse(EXAMPLE, "old.toml").expect("the example parses");
        let new = Config::parse(&edit(EXAMPLE.to_owned()), "new.toml").expect("the edit parses");
        old.diff(&new).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_same_config_changes_nothing() {
        assert_eq!(lines(|t| t), Vec::<String>::new());
    }

    #[test]
    fn timers_read_old_to_new_and_an_unset_value_says_so() {
        assert_eq!(
            lines(|t| t
                .replace("failback_after = \"5m\"", "failback_after = \"30s\"")
                .replace("[policy]", "[policy]\nquorum = 2")),
            [
                "policy.failback_after: 5m -> 30s",
                "policy.quorum: unset -> 2"
            ]
        );
    }

    #[test]
    fn services_are_named_and_prefixes_are_a_set_but_sites_an_order() {
        let text = EXAMPLE
            .replace(
                "prefixes = [\"198.51.100.10/32\", \"2001:db8:100::10/128\"]",
                "prefixes = [\"198.51.100.10/32\", \"198.51.100.0/24\"]",
            )
            .replace("sites = [\"a\", \"b\"]", "sites = [\"b\", \"a\"]");
        let changed = lines(|_| text.clone());
        assert!(
            changed.contains(
                &"service web: prefixes +198.51.100.0/24 -2001:db8:100::10/128".to_owned()
            ),
            "{changed:?}"
        );
        assert!(
            changed
                .iter()
                .any(|l| l.starts_with("service ") && l.contains(": sites [a, b] -> [b, a]")),
            "{changed:?}"
        );
    }

    #[test]
    fn keyed_entries_are_added_and_removed_by_name_not_index() {
        let old = Config::parse(EXAMPLE, "old.toml").expect("parses");
        let mut new = old.clone();
        let first = new.services.remove(0);
        let mut added = first.clone();
        added.id = "api".parse().expect("id");
        new.services.push(added);
        let changed: Vec<String> = old.diff(&new).iter().map(ToString::to_string).collect();
        assert_eq!(
            changed,
            [
                format!("service {} removed", first.id),
                "service api added".to_owned()
            ]
        );
    }
}
