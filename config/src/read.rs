//! Reading TOML into the schema while listing every structural problem.
//!
//! serde stops at its first error, so a typo and an unknown key in one file
//! would take two runs to find. Instead the document is parsed once into a
//! tree that keeps source spans; the schema is deserialized from a copy of
//! it, and each error's span locates the entry at fault, which is reported
//! with its TOML path and set aside before the next try, until the rest
//! deserializes. Each try sets one entry aside, so this ends.
//!
//! A TOML syntax error is the one exception, reported alone with its line and
//! column: past it the parser's recovery guesses, and one missing comma
//! turns into five errors about the next line.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, Deserializer};
use toml::Spanned;

use super::Config;
use orbit_core::config::Problem;

/// What reading found.
#[derive(Debug, Default)]
pub(super) struct Read {
    /// The config made of what was left after setting entries aside, if
    /// anything deserializes at all.
    pub config: Option<Config>,
    /// Every structural problem, in the order found.
    pub problems: Vec<Problem>,
    /// The entries set aside: in `config` defaults stand in for them.
    set_aside: Vec<Vec<Step>>,
    /// Whether `config` can be checked further: not when an array element
    /// was set aside (the later ones moved up, so their indices in `config`
    /// are not those of the file).
    pub checkable: bool,
}

/// One step of a TOML path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses `text`; `Err` only for a TOML syntax error.
pub(super) fn read(text: &str) -> Result<Read, toml::de::Error> {
    let original = DeTable::parse(text)?;
    let mut remaining = original.clone();
    let mut read = Read {
        checkable: true,
        ..Read::default()
    };
    loop {
        let error = match Config::deserialize(Deserializer::from(remaining.clone())) {
            Ok(config) => {
                read.config = Some(config);
                return Ok(read);
            }
            Err(error) => error,
        };
        // The entry is reported at its path in the original tree, with
        // the file's indices, and set aside at its path in what remains,
        // where a list may be shorter already. Its span is the same in both.
        let span = error.span();
        let in_file = span.as_ref().and_then(|s| locate(original.get_ref(), s));
        let in_remaining = span.as_ref().and_then(|s| locate(remaining.get_ref(), s));
        let missing = error
            .message()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let fault = match (missing, in_file) {
            (Some(field), at) => {
                let table = at.unwrap_or_default();
                let mut path = table.clone();
                path.push(Step::Key(field.to_owned()));
                // A required key whose bad value was set aside is already
                // reported; either way the table cannot be read without it.
                if !read.set_aside.contains(&path) {
                    read.problems.push(Problem {
                        path: render(&path),
                        message: "required, but not set".to_owned(),
                    });
                }
                table
            }
            (None, Some(path)) => {
                read.problems.push(Problem {
                    path: render(&path),
                    message: readable(error.message()),
                });
                path
            }
            (None, None) => {
                read.problems.push(Problem {
                    path: "(top level)".to_owned(),
                    message: readable(error.message()),
                });
                Vec::new()
            }
        };
        let removed = match in_remaining {
            Some(path) if !fault.is_empty() => remove(remaining.get_mut(), &path),
            _ => false,
        };
        // Nothing is left to set aside at the top: the file cannot
        // describe a config.
        if !removed {
            read.checkable = false;
            return Ok(read);
        }
        if matches!(fault.last(), Some(Step::Index(_))) {
            read.checkable = false;
        }
        read.set_aside.push(fault);
    }
}

impl Read {
    /// Whether a problem found by checking `config` may be about a default
    /// that stands in for an entry set aside, rather than about the file:
    /// it is at or inside that entry, at a table holding it, or at one of
    /// its siblings (which are often judged against it, as `probe_timeout`
    /// against `probe_interval`). Such a problem is left for the run after
    /// the entry is fixed. Siblings at the top level are whole sections,
    /// judged on their own.
    pub fn may_judge_a_default(&self, problem_path: &str) -> bool {
        self.set_aside.iter().any(|entry| {
            let scope = match entry.split_last() {
                Some((_, parent)) if !parent.is_empty() => parent,
                _ => entry.as_slice(),
            };
            let scope = render(scope);
            within(problem_path, &scope) || within(&render(entry), problem_path)
        })
    }
}

/// Whether `path` is `scope` or inside it.
fn within(path: &str, scope: &str) -> bool {
    path.strip_prefix(scope)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// serde's words, in TOML's.
fn readable(message: &str) -> String {
    match message.strip_prefix("unknown field ") {
        Some(rest) => format!("unknown key {rest}"),
        None => message.to_owned(),
    }
}

/// The path of the entry whose key or value is the tightest fit around
/// `span`, the deeper one on a tie (an array of tables and its first
/// element share the span of the first `[[header]]`).
///
/// The span of a table is its header, not its entries, so every entry is
/// visited rather than only those whose span encloses the error.
fn locate(table: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<Step>> {
    let mut best: Option<(usize, Vec<Step>)> = None;
    let mut path = Vec::new();
    visit_table(table, span, &mut path, &mut best);
    best.map(|(_, path)| path)
}

fn visit_table(
    table: &DeTable<'_>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
    best: &mut Option<(usize, Vec<Step>)>,
) {
    for (key, value) in table.iter() {
        path.push(Step::Key(key.get_ref().to_string()));
        consider(&key.span(), span, path, best);
        visit_value(value, span, path, best);
        path.pop();
    }
}

fn visit_value(
    value: &Spanned<DeValue<'_>>,
    span: &Range<usize>,
    path: &mut Vec<Step>,
    best: &mut Option<(usize, Vec<Step>)>,
) {
    consider(&value.span(), span, path, best);
    match value.get_ref() {
        DeValue::Table(table) => visit_table(table, span, path, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                visit_value(item, span, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn consider(
    candidate: &Range<usize>,
    span: &Range<usize>,
    path: &[Step],
    best: &mut Option<(usize, Vec<Step>)>,
) {
    if candidate.start > span.start || candidate.end < span.end {
        return;
    }
    let width = candidate.end - candidate.start;
    let better = match best {
        None => true,
        Some((w, p)) => width < *w || (width == *w && path.len() > p.len()),
    };
    if better {
        *best = Some((width, path.to_vec()));
    }
}

/// Removes the entry at `path`; false if there is none.
fn remove(table: &mut DeTable<'_>, path: &[Step]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut value: Option<&mut DeValue<'_>> = None;
    for step in parents {
        let next = match (value, step) {
            (None, Step::Key(k)) => table.get_mut(k.as_str()),
            (Some(DeValue::Table(t)), Step::Key(k)) => t.get_mut(k.as_str()),
            (Some(DeValue::Array(a)), Step::Index(i)) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return false };
        value = Some(next.get_mut());
    }
    match (value, last) {
        (None, Step::Key(k)) => table.remove(k.as_str()).is_some(),
        (Some(DeValue::Table(t)), Step::Key(k)) => t.remove(k.as_str()).is_some(),
        (Some(DeValue::Array(a)), Step::Index(i)) if *i < a.len() => {
            let kept = std::mem::replace(a, toml::de::DeArray::new())
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, item)| item)
                .collect();
            *a = kept;
            true
        }
        _ => false,
    }
}

/// `service[1].health.interval`; a key that is not bare is quoted.
fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    out.push_str(k);
                } else {
                    out.push_str(&format!("{k:?}"));
                }
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::Config;

    const EXAMPLE: &str = include_str!("../../examples/orbit.toml");

    /// Every problem `parse_valid` lists, and whether the list is complete.
    fn problems(text: &str) -> (Vec<String>, bool) {
        match Config::parse_valid(text, "x.toml") {
            Err(Error::InvalidConfig {
                problems, complete, ..
            }) => (problems.iter().map(|p| p.to_string()).collect(), complete),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    /// That `parse_valid` lists one problem for `text`, starting so.
    fn assert_only_problem(text: &str, starts: &str) {
        let (problems, _) = problems(text);
        assert!(
            problems.len() == 1 && problems[0].starts_with(starts),
            "expected only {starts:?}...: {problems:?}"
        );
    }

    #[test]
    fn a_typo_an_unknown_key_a_wrong_type_and_a_bad_timer_are_listed_together() {
        let text = EXAMPLE
            .replace("failback = \"after\"", "failback = \"manul\"")
            .replace("failover_hold = \"0s\"", "failover_hodl = \"0s\"")
            .replace("rise = 2, fall = 2", "rise = \"two\", fall = 2")
            .replace(
                "profile = \"metro-fast\"",
                "profile = \"metro-fast\"\nprobe_timeout = \"150ms\"",
            );
        let (problems, complete) = problems(&text);
        assert_eq!(
            problems,
            [
                "policy.failback: unknown variant `manul`, expected `after` or `manual`",
                "policy.failover_hodl: unknown key `failover_hodl`, expected one of \
                 `failover_hold`, `failback`, `failback_after`, `drain_grace`, \
                 `sync_timeout`, `quorum`, `observer`, `shutdown_grace`",
                "service[1].health.rise: invalid type: string \"two\", expected u32",
                "detect.probe_timeout: 150ms must be shorter than probe_interval (100ms)",
            ],
        );
        assert!(complete);
    }

    #[test]
    fn a_default_standing_in_for_a_bad_value_is_not_judged() {
        // With probe_interval set aside, its 100ms default would make the
        // operator's 150ms probe_timeout look wrong; it may be right.
        assert_only_problem(
            &EXAMPLE.replace(
                "profile = \"metro-fast\"",
                "profile = \"metro-fast\"\nprobe_interval = \"fast\"\nprobe_timeout = \"150ms\"",
            ),
            "detect.probe_interval: \"fast\" is not a duration",
        );
    }

    #[test]
    fn a_required_key_is_named_once_whether_missing_or_wrong() {
        let text = EXAMPLE
            .replace("id = \"b\"\ngossip = \"10.0.1.1:7946\"", "id = \"b\"")
            .replace(
                "id = \"w\"\ngossip = \"10.0.2.1:7946\"",
                "id = \"w\"\ngossip = 7946",
            )
            .replace("failback_after = \"5m\"", "failback_after = 5");
        let (problems, complete) = problems(&text);
        assert_eq!(
            problems,
            [
                "policy.failback_after: invalid type: integer `5`, expected a string",
                "site[1].gossip: required, but not set",
                "site[2].gossip: invalid type: integer `7946`, expected socket address",
            ],
        );
        // Without those sites, quorum and service checks would mislead.
        assert!(!complete);
        let err = Config::parse_valid(&text, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("(the other checks run once these are fixed)"),
            "{err}"
        );
    }

    #[test]
    fn a_list_element_keeps_its_index_after_an_earlier_one_is_set_aside() {
        let text = EXAMPLE
            .replace(
                "prefixes = [\"198.51.100.10/32\", \"2001:db8:100::10/128\"]",
                "prefixes = [\"198.51.100.300/32\", \"db\", \"2001:db8:100::10/128\", \"web\"]",
            )
            .replace("[hook]", "[hook]\ncommnd = []");
        let (problems, _) = problems(&text);
        let paths: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(
            paths,
            [
                "hook.commnd",
                "service[0].prefixes[0]",
                "service[0].prefixes[1]",
                "service[0].prefixes[3]",
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn a_syntax_error_is_reported_alone_with_line_and_column() {
        let text = EXAMPLE
            .replace("failover_hold = \"0s\"", "failover_hold = \"0s")
            .replace("failback_after", "failback_aftr");
        let err = Config::parse_valid(&text, "x.toml").unwrap_err();
        assert!(matches!(err, Error::ParseConfig { .. }), "{err:?}");
        let err = err.to_string();
        let line = EXAMPLE
            .lines()
            .position(|l| l.starts_with("failover_hold"))
            .expect("the example sets failover_hold")
            + 1;
        assert!(err.contains(&format!("line {line}, column")), "{err}");
        assert!(!err.contains("failback_aftr"), "{err}");
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        assert_only_problem(
            &EXAMPLE.replace(
                "[policy]",
                "[detect.links]\n\"eth0.100\" = \"b\"\n\n[policy]",
            ),
            "detect.links.\"eth0.100\": invalid type: string \"b\"",
        );
    }
}
