//! The files a config names, checked with the config and before orbitd
//! binds anything: the gossip key, the API token, the TCP-MD5 passwords, the
//! BFD key, and the programs of the hook, of `exec` health checks and of
//! `exec` plan steps.
//!
//! Each file is read by the same function, or the program looked up the
//! same way, as the component that uses it at start, so a config that passes
//! `check-config` does not fail start-up over a file (unless the file
//! changes in between), and a bad one is refused with exit 64 before a
//! socket or a state file exists.

use std::path::Path;

use nix::unistd::{access, AccessFlags};
use orbit_config::{Config, Problem};

/// Shortest API bearer token orbitd accepts.
const MIN_TOKEN_LEN: usize = 16;

/// Every problem with the files `config` names, each at the TOML path of
/// the setting that names it.
pub fn problems(config: &Config) -> Vec<Problem> {
    let mut found = Vec::new();
    let mut report = |path: String, result: Result<(), String>| {
        if let Err(message) = result {
            found.push(Problem { path, message });
        }
    };
    if let (true, Some(key)) = (config.detect.gossip, &config.detect.key_file) {
        report(
            "detect.key_file".to_owned(),
            orbit_detect::auth::AuthKey::from_file(key)
                .map(drop)
                .map_err(|e| e.to_string()),
        );
    }
    if let Some(token) = &config.node.api_token_file {
        report("node.api_token_file".to_owned(), api_token(token).map(drop));
    }
    if let Some(group) = &config.api.api_socket_group {
        report(
            "api.api_socket_group".to_owned(),
            socket_group(group).map(drop),
        );
    }
    for (i, peer) in config.bgp.iter().flat_map(|b| b.peers.iter()).enumerate() {
        if let Some(password) = &peer.md5_password_file {
            report(
                format!("bgp.peer[{i}].md5_password_file"),
                orbit_bgp::md5_password(password)
                    .map(drop)
                    .map_err(|e| e.to_string()),
            );
        }
    }
    if let Some(auth) = &config.bfd.auth {
        report(
            "bfd.auth.key_file".to_owned(),
            crate::bfd::session_auth(config)
                .map(drop)
                .map_err(|e| format!("{}: {}", auth.key_file.display(), e.root_cause())),
        );
    }
    if let Some(program) = config
        .hook
        .as_ref()
        .and_then(|h| h.command.as_ref()?.first())
    {
        report("hook.command".to_owned(), executable(program));
    }
    // Every member may be a plan's old or new site; a witness never runs
    // a step.
    let runs_steps = !config.is_witness(&config.node.site);
    for (i, plan) in config.plans.iter().enumerate().filter(|_| runs_steps) {
        for (phase, j, step) in plan.all_steps() {
            if let Some(program) = step.command.as_ref().and_then(|argv| argv.first()) {
                report(
                    format!("plan[{i}].{}[{j}].command", phase.key()),
                    executable(program),
                );
            }
        }
    }
    for (i, service) in config.services.iter().enumerate() {
        let exec = service.health.as_ref().and_then(|h| h.exec.as_ref());
        if let Some(program) = exec.and_then(|argv| argv.first()) {
            report(format!("service[{i}].health.exec"), executable(program));
        }
    }
    found
}

/// The group id of `api_socket_group`, looked up as `getent group` would
/// (NSS: /etc/group, LDAP, ...).
pub fn socket_group(name: &str) -> Result<u32, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!(
            "there is no group {name:?} on this machine (create it with groupadd, or check `getent group {name}`)"
        )),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}

/// The secrets among the files `config` names that others than their
/// owner may read (group or world bits set): fine for orbitd, which only
/// reads them, but whoever else reads the gossip key is a member and whoever
/// reads the token an operator. A warning, not a problem: the operator may
/// have a reason (a group of admins).
pub fn warnings(config: &Config) -> Vec<Problem> {
    use std::os::unix::fs::PermissionsExt;
    let mut secrets: Vec<(String, &Path)> = Vec::new();
    if let (true, Some(key)) = (config.detect.gossip, &config.detect.key_file) {
        secrets.push(("detect.key_file".to_owned(), key));
    }
    if let Some(token) = &config.node.api_token_file {
        secrets.push(("node.api_token_file".to_owned(), token));
    }
    for (i, peer) in config.bgp.iter().flat_map(|b| b.peers.iter()).enumerate() {
        if let Some(password) = &peer.md5_password_file {
            secrets.push((format!("bgp.peer[{i}].md5_password_file"), password));
        }
    }
    if let Some(auth) = &config.bfd.auth {
        secrets.push(("bfd.auth.key_file".to_owned(), &auth.key_file));
    }
    secrets
        .into_iter()
        .filter_map(|(path, file)| {
            let mode = std::fs::metadata(file).ok()?.permissions().mode();
            (mode & 0o077 != 0).then(|| Problem {
                path,
                message: format!(
                    "{} is readable by others than its owner (mode {:04o}): \
                     chmod 0600 it (see README, Security)",
                    file.display(),
                    mode & 0o7777
                ),
            })
        })
        .collect()
}

/// The bearer token of the TCP API listener: the file's text, surrounding
/// whitespace trimmed. It must survive the trip in an `Authorization`
/// header, which the API reads only as printable ASCII, and be long enough
/// not to be guessed.
pub fn api_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.trim();
    if !token.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err(format!(
            "{}: the token must be printable ASCII (it is sent in an HTTP header)",
            path.display()
        ));
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "{}: the token is {} characters, at least {MIN_TOKEN_LEN} are required",
            path.display(),
            token.len()
        ));
    }
    Ok(token.to_owned())
}

/// Whether `program` can be run, found the way a spawned command finds it:
/// a name with a `/` as a path, any other name in `PATH`.
fn executable(program: &str) -> Result<(), String> {
    if program.contains('/') {
        return runnable(Path::new(program));
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&search)
        .any(|dir| runnable(&dir.join(program)).is_ok())
        .then_some(())
        .ok_or_else(|| {
            format!(
                "{program:?} is not an executable file in PATH ({})",
                search.to_string_lossy()
            )
        })
}

/// A regular file this process may execute (for root: with an execute
/// bit set, as `execve` requires).
fn runnable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    access(path, AccessFlags::X_OK)
        .map_err(|e| format!("{} is not executable: {}", path.display(), e.desc()))
}
