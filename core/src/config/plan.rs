//! `[[plan]]`: what has to happen besides the traffic move when a service
//! changes site — promote the data at the new site first, fence the old
//! primary, tell an orchestrator (docs/plans.md).
//!
//! A plan is a list of steps in three phases. `before_takeover` steps run
//! before the new site may carry the service, `fence_old` steps make the
//! old primary stop accepting writes (first, in a planned switchover; when
//! the old site is back, before it may carry anything), `after_takeover`
//! steps run once the move is confirmed. Each step is a program (`exec`)
//! or an HTTP request (`http`) and names where it runs (`at`).
//!
//! This module holds the types and their checks; the engine decides when
//! a step is due and the daemon runs it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::HumanDuration;
use super::problems::Problems;
use crate::ids::PlanId;

/// Longest a step may be given to finish (one attempt).
pub const MAX_STEP_TIMEOUT: Duration = Duration::from_secs(600);
/// Most retries a step may have.
pub const MAX_STEP_RETRIES: u32 = 10;
/// Longest a failed `before_takeover` phase may delay the move.
pub const MAX_PROCEED_AFTER: Duration = Duration::from_secs(3600);

/// `[[plan]]`: the steps that go with a service's move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: PlanId,
    /// When a step that runs before the takeover (`fence_old`,
    /// `before_takeover`) fails after its retries: unset, the move is held (the service stays where it is, or nowhere, and the
    /// failure is alerted); set, the move goes ahead this long after the
    /// failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proceed_after: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_takeover: Vec<PlanStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fence_old: Vec<PlanStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_takeover: Vec<PlanStep>,
}

/// The phases of a plan, in the order of a planned switchover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    FenceOld,
    BeforeTakeover,
    AfterTakeover,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::FenceOld, Phase::BeforeTakeover, Phase::AfterTakeover];

    /// Its key in `[[plan]]`.
    pub fn key(self) -> &'static str {
        match self {
            Phase::FenceOld => "fence_old",
            Phase::BeforeTakeover => "before_takeover",
            Phase::AfterTakeover => "after_takeover",
        }
    }

    /// Where a step of this phase runs when it does not say.
    pub fn default_at(self) -> StepSite {
        match self {
            Phase::FenceOld => StepSite::Old,
            Phase::BeforeTakeover | Phase::AfterTakeover => StepSite::New,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Run `command` (argv, no shell).
    Exec,
    /// Send `method` `url` with `body`.
    Http,
}

/// Which member's orbitd runs a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSite {
    /// The site taking the service over.
    New,
    /// The site being left, when it is reachable.
    Old,
    /// Wherever: the new site runs it, the one member sure to be up
    /// during a move.
    Any,
}

impl StepSite {
    pub fn as_str(self) -> &'static str {
        match self {
            StepSite::New => "new",
            StepSite::Old => "old",
            StepSite::Any => "any",
        }
    }
}

/// One step of a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    /// How status and the journal name it; default `PHASE[INDEX]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PlanId>,
    pub kind: StepKind,
    /// Default: `new`, or `old` in `fence_old`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<StepSite>,
    /// `exec`: argv; the program is looked up in `PATH` unless it holds a `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `http`: the request method; default POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `http`: an `http://` URL; may hold placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `http`: the request body; may hold placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Bound on one attempt.
    #[serde(default = "default_step_timeout")]
    pub timeout: HumanDuration,
    /// Attempts after a failed one.
    #[serde(default)]
    pub retries: u32,
    /// Whether running it twice does no harm: only then is a step that was
    /// running when orbitd stopped run again when it resumes the plan.
    #[serde(default)]
    pub idempotent: bool,
}

fn default_step_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

/// What a step's placeholders (`${service}` ...) stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepContext<'a> {
    pub service: &'a str,
    /// The site being left; empty when the service was carried nowhere.
    pub from: &'a str,
    /// The site taking over.
    pub to: &'a str,
    /// The steering generation of the move.
    pub generation: u64,
}

/// The placeholders a template may hold.
pub const PLACEHOLDERS: [&str; 4] = ["service", "from", "to", "generation"];

impl StepContext<'_> {
    fn value(&self, name: &str) -> Option<String> {
        match name {
            "service" => Some(self.service.to_owned()),
            "from" => Some(self.from.to_owned()),
            "to" => Some(self.to.to_owned()),
            "generation" => Some(self.generation.to_string()),
            _ => None,
        }
    }
}

/// One piece of a template.
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits `template` at its `${name}` placeholders; `Err` names the first
/// that is unknown or not closed.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            format!(
                "\"${{\" at byte {} is not closed by \"}}\"",
                template.len() - rest.len() + start
            )
        })?;
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder \"${{{name}}}\"; known: {}",
                PLACEHOLDERS.map(|p| format!("${{{p}}}")).join(", ")
            ));
        }
        out.push(Piece::Placeholder(name));
        rest = &after[end + 1..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// `template` with its placeholders filled in; `Err` as [`check_template`].
pub fn render_template(template: &str, context: &StepContext<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name) => out.push_str(&context.value(name).unwrap_or_default()),
        }
    }
    Ok(out)
}

/// Whether `template`'s placeholders are all known and closed.
pub fn check_template(template: &str) -> Result<(), String> {
    pieces(template).map(drop)
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

impl Plan {
    /// The steps of `phase`.
    pub fn steps(&self, phase: Phase) -> &[PlanStep] {
        match phase {
            Phase::FenceOld => &self.fence_old,
            Phase::BeforeTakeover => &self.before_takeover,
            Phase::AfterTakeover => &self.after_takeover,
        }
    }

    /// Every step with its phase and index, in the order of a planned
    /// switchover.
    pub fn all_steps(&self) -> impl Iterator<Item = (Phase, usize, &PlanStep)> {
        Phase::ALL.into_iter().flat_map(move |phase| {
            self.steps(phase)
                .iter()
                .enumerate()
                .map(move |(i, s)| (phase, i, s))
        })
    }

    /// Every problem of this plan, at paths relative to it.
    pub fn validate(&self, r: &mut Problems) {
        if self.all_steps().next().is_none() {
            r.add(
                "",
                "a plan needs at least one step in before_takeover, fence_old or after_takeover",
            );
        }
        if let Some(after) = self.proceed_after {
            if self.before_takeover.is_empty() && self.fence_old.is_empty() {
                r.add(
                    "proceed_after",
                    "only applies to a failing step that runs before the takeover (fence_old, before_takeover), and this plan has none",
                );
            }
            if after.get() > MAX_PROCEED_AFTER {
                r.add(
                    "proceed_after",
                    format!("{after} is above the maximum of 1h"),
                );
            }
        }
        let mut names = std::collections::BTreeMap::new();
        for (phase, i, step) in self.all_steps() {
            let path = format!("{}[{i}]", phase.key());
            let name = step.name(phase, i);
            if let Some(first) = names.insert(name.clone(), path.clone()) {
                r.add(
                    format!("{path}.name"),
                    format!("step name {name:?} is also {first}'s: status and the journal name steps by it"),
                );
            }
            let mut found = Problems::default();
            step.validate(phase, &mut found);
            r.extend_under(&path, found);
        }
    }
}

impl PlanStep {
    /// Where it runs.
    pub fn at(&self, phase: Phase) -> StepSite {
        self.at.unwrap_or(phase.default_at())
    }

    /// Its name: as written, or `PHASE[INDEX]`.
    pub fn name(&self, phase: Phase, index: usize) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => format!("{}[{index}]", phase.key()),
        }
    }

    /// The HTTP method: as written (upper case), or POST.
    pub fn method(&self) -> String {
        self.method
            .as_deref()
            .map(str::to_ascii_uppercase)
            .unwrap_or_else(|| "POST".to_owned())
    }

    fn validate(&self, phase: Phase, r: &mut Problems) {
        if phase == Phase::BeforeTakeover && self.at == Some(StepSite::Old) {
            r.add(
                "at",
                "a before_takeover step cannot run at the old site: in a failover that site is \
                 dead and the move would wait for a step that never runs; demote the old \
                 primary in fence_old (it runs first in a planned switchover, and when the \
                 old site returns)",
            );
        }
        let kind = match self.kind {
            StepKind::Exec => "exec",
            StepKind::Http => "http",
        };
        let only = |r: &mut Problems, key: &str, set: bool, for_kind: &str| {
            if set {
                r.add(
                    key,
                    format!("only for kind = \"{for_kind}\"; this step is kind = \"{kind}\""),
                );
            }
        };
        match self.kind {
            StepKind::Exec => {
                match &self.command {
                    None => r.add("command", "required for kind = \"exec\" (argv, e.g. [\"/usr/bin/psql\", \"-c\", \"...\"])"),
                    Some(argv) if argv.first().is_none_or(|p| p.is_empty()) => {
                        r.add("command", "needs a program to run")
                    }
                    Some(_) => {}
                }
                only(r, "method", self.method.is_some(), "http");
                only(r, "url", self.url.is_some(), "http");
                only(r, "body", self.body.is_some(), "http");
            }
            StepKind::Http => {
                only(r, "command", self.command.is_some(), "exec");
                match &self.url {
                    None => r.add("url", "required for kind = \"http\""),
                    Some(url) => {
                        let host = url
                            .strip_prefix("http://")
                            .map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
                        match host {
                            None => r.add("url", format!("{url:?} must be an http:// URL")),
                            Some("") => r.add("url", format!("{url:?} names no host")),
                            Some(_) => {}
                        }
                        if let Err(message) = check_template(url) {
                            r.add("url", message);
                        }
                    }
                }
                if let Some(method) = &self.method {
                    if !METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                        r.add(
                            "method",
                            format!("{method:?} is not one of {}", METHODS.join(", ")),
                        );
                    }
                }
                if let Some(body) = &self.body {
                    if let Err(message) = check_template(body) {
                        r.add("body", message);
                    }
                }
            }
        }
        if self.timeout.get().is_zero() || self.timeout.get() > MAX_STEP_TIMEOUT {
            r.add(
                "timeout",
                format!("{} must be above 0 and at most 10m", self.timeout),
            );
        }
        if self.retries > MAX_STEP_RETRIES {
            r.add(
                "retries",
                format!(
                    "{} is above the maximum of {MAX_STEP_RETRIES}",
                    self.retries
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> StepContext<'static> {
        StepContext {
            service: "db",
            from: "a",
            to: "b",
            generation: 7,
        }
    }

    #[test]
    fn templates_fill_every_placeholder_and_leave_json_braces_alone() {
        let body = r#"{"service": "${service}", "from": "${from}", "to": "${to}", "generation": ${generation}}"#;
        assert_eq!(
            render_template(body, &context()).unwrap(),
            r#"{"service": "db", "from": "a", "to": "b", "generation": 7}"#
        );
    }

    #[test]
    fn templates_name_an_unknown_or_unclosed_placeholder() {
        let err = check_template("x ${site} y").unwrap_err();
        assert!(
            err.contains("${site}") && err.contains("${service}"),
            "{err}"
        );
        let err = check_template("x ${to").unwrap_err();
        assert!(err.contains("byte 2"), "{err}");
    }
}
