//! `orbitctl reload [--check [FILE]]`: what a new config changes, applied
//! or only checked. A FILE is read here and its text sent: orbitd never
//! opens a path a client names.

use std::path::{Path, PathBuf};

use hyper::{Method, StatusCode};
use orbit_core::api::request::Route;
use orbit_core::api::{ReloadRequest, ReloadResponse};

use crate::client::Client;
use crate::failure::{Failure, Kind};
use crate::{print_json, send};

/// `check`: `None` reloads; `Some(None)` checks orbitd's own config file,
/// `Some(Some(file))` checks `file`.
pub async fn reload(
    client: &Client,
    check: Option<Option<PathBuf>>,
    as_json: bool,
) -> Result<(), Failure> {
    let file = check.clone().flatten();
    let request = ReloadRequest {
        check: check.is_some(),
        config: file.as_deref().map(read).transpose()?,
    };
    let body = serde_json::to_vec(&request)
        .map_err(|e| Failure::new(Kind::Refused, format!("cannot encode the request: {e}")))?;
    let (status, bytes) = send(client, Method::POST, Route::Reload.path(), Some(body)).await?;
    let response: ReloadResponse = match serde_json::from_slice(&bytes) {
        Ok(response) if status == StatusCode::OK || status == StatusCode::UNPROCESSABLE_ENTITY => {
            response
        }
        // Any other answer is an API error (token, busy, shutting down).
        _ => return Err(crate::api_failure(status, &bytes)),
    };
    if let Some(error) = &response.error {
        if !as_json {
            let label = file.as_deref().map(|f| f.display().to_string());
            print!("{}", render(&response, label.as_deref()));
        }
        // With --json the answer travels inside the one error object.
        return Err(Failure::new(Kind::Refused, refusal(&response, error)).with_answer(&response));
    }
    if as_json {
        print_json(&crate::json::stamped(&response));
    } else {
        let label = file.as_deref().map(|f| f.display().to_string());
        print!("{}", render(&response, label.as_deref()));
    }
    Ok(())
}

fn read(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file).map_err(|e| {
        Failure::new(
            Kind::Refused,
            format!("cannot read {}: {e}", file.display()),
        )
    })
}

/// The changes, one per line, under what was done with them; `label`
/// names a file sent for checking.
pub fn render(r: &ReloadResponse, label: Option<&str>) -> String {
    let source = label.unwrap_or(&r.source);
    let mut out = match (r.applied, r.check) {
        (true, _) => format!("reloaded {source}\n"),
        (false, true) if r.error.is_none() => format!("{source}: valid; nothing applied\n"),
        // Unreadable, or not even its structure is right: no changes known.
        (false, _) if r.changes.is_empty() => return format!("{source} is refused\n"),
        (false, _) => format!("{source} is refused; it would change:\n"),
    };
    if r.changes.is_empty() {
        out.push_str("  no changes\n");
    }
    for change in &r.changes {
        out.push_str(&format!("  {change}\n"));
    }
    if !r.notes.is_empty() {
        out.push_str("backends:\n");
        for note in &r.notes {
            out.push_str(&format!("  {note}\n"));
        }
    }
    out
}

/// Why, for stderr: each problem with its TOML path, or orbitd's error.
fn refusal(r: &ReloadResponse, error: &str) -> String {
    let mut message = "refused; the running config stays in force:".to_owned();
    if r.problems.is_empty() {
        message.push(' ');
        message.push_str(error);
    }
    for problem in &r.problems {
        message.push_str(&format!("\n  {problem}"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::config::{ConfigChange, Delta};

    #[test]
    fn an_applied_reload_lists_its_changes_then_what_the_backends_did() {
        let response = ReloadResponse {
            source: "/etc/orbit/orbit.toml".to_owned(),
            check: false,
            applied: true,
            changes: vec![ConfigChange {
                subject: "bgp neighbor 10.0.0.2".to_owned(),
                key: None,
                delta: Delta::Added,
            }],
            problems: Vec::new(),
            notes: vec!["bgp: peer 10.0.0.2 added".to_owned()],
            error: None,
        };
        assert_eq!(
            render(&response, None),
            "reloaded /etc/orbit/orbit.toml\n  bgp neighbor 10.0.0.2 added\nbackends:\n  \
             bgp: peer 10.0.0.2 added\n"
        );
    }
}
