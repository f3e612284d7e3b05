//! What validation finds: every problem with the TOML path of the value at
//! fault, so an operator fixes them all in one go.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// TOML path, e.g. `service[1].sites[0]`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while the sections of a config are walked, in the
/// order found (which is the order an operator reads them).
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Adds problems found elsewhere (by a nested check) under `prefix`:
    /// `prefix.path`, or just `prefix` for a problem about the whole value.
    pub fn extend_under(&mut self, prefix: &str, found: Problems) {
        for p in found.0 {
            let path = match p.path.as_str() {
                "" => prefix.to_owned(),
                rest => format!("{prefix}.{rest}"),
            };
            self.add(path, p.message);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_problems_are_reported_under_their_prefix() {
        let mut inner = Problems::default();
        inner.add("", "about the whole table");
        inner.add("interval", "too short");
        let mut outer = Problems::default();
        outer.extend_under("service[1].health", inner);
        let paths: Vec<String> = outer.into_vec().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            paths,
            [
                "service[1].health: about the whole table",
                "service[1].health.interval: too short"
            ]
        );
    }
}
