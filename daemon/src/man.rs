//! `orbitd man orbitd|orbit.toml`: the man pages orbitd(8) and
//! orbit.toml(5), as roff on stdout, for `make install` and the Debian
//! package (`scripts/stage.sh`).
//!
//! orbitd(8) is clap's synopsis and options plus the sections clap cannot
//! know; orbit.toml(5) is rendered from `orbit_config::reference`, which a
//! test holds to the config schema, so the page cannot drift from what
//! orbitd accepts.

use clap::{Command, ValueEnum};
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;
use orbit_config::reference::{KeyDefault, TABLES};

/// The pages orbitd renders.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Page {
    /// orbitd(8).
    Orbitd,
    /// orbit.toml(5).
    #[value(name = "orbit.toml")]
    OrbitToml,
}

/// The page as roff; `cmd` is orbitd's own command line.
pub fn render(page: Page, cmd: Command) -> std::io::Result<Vec<u8>> {
    match page {
        Page::Orbitd => orbitd(cmd),
        Page::OrbitToml => orbit_toml(),
    }
}

fn orbitd(cmd: Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let man = Man::new(cmd.clone()).section("8");
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    let mut roff = Roff::new();
    description(&mut roff);
    roff.to_writer(&mut out)?;
    man.render_options_section(&mut out)?;
    commands(&cmd, &mut out)?;
    let mut roff = Roff::new();
    signals(&mut roff);
    files(&mut roff);
    exit_status(&mut roff);
    environment(&mut roff);
    see_also(
        &mut roff,
        &["orbitctl(1)", "orbit.toml(5)", "systemd.service(5)"],
    );
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

fn description(roff: &mut Roff) {
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(
        "orbitd runs beside each site's border router. It learns which sites are alive \
         (gossip between the members, BFD, health checks), decides with a quorum which site \
         carries each service, and moves the traffic there through its backends: BGP \
         anycast announcements, OpenFlow rules on an Open vSwitch bridge, or a HAProxy map.",
    )]);
    roff.control("PP", []);
    roff.text([roman(
        "The config is read and checked before anything else: a config with a problem \
         stops orbitd with every problem listed, before it opens a socket or touches a \
         data plane. Operators command a running orbitd with orbitctl(1) over its API socket.",
    )]);
}

/// Visible subcommands with their synopsis and options, as in orbitctl(1).
fn commands(cmd: &Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        roff.control("TP", []);
        let usage = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .map(|a| match a.get_long() {
                Some(long) => format!("[--{long}]"),
                None => a.get_id().as_str().to_uppercase(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        roff.text([bold(format!("orbitd {} ", sub.get_name())), italic(usage)]);
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        roff.text([roman(about)]);
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) {
                roff.control("RS", []);
                roff.control("TP", []);
                roff.text([bold(format!("--{long}"))]);
                roff.text([roman(help.to_string())]);
                roff.control("RE", []);
            }
        }
    }
    roff.to_writer(out)
}

fn signals(roff: &mut Roff) {
    roff.control("SH", ["SIGNALS"]);
    definitions(
        roff,
        &[
            (
                "SIGTERM, SIGINT",
                "Planned stop: tell the other members, move this site's services away make \
                 before break (bounded by policy.shutdown_grace), withdraw, then exit 0.",
            ),
            (
                "SIGHUP",
                "Reload the config file: a config with a problem is refused and the running \
                 one stays; otherwise only what changed is touched.",
            ),
        ],
    );
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    definitions(
        roff,
        &[
            (
                "/etc/orbit/orbit.toml",
                "The config (orbit.toml(5)); given with --config.",
            ),
            (
                "/var/lib/orbit/",
                "node.state_dir: the state file (state.json) and the journal of every \
                 decision (journal.jsonl).",
            ),
            (
                "/run/orbit/api.sock",
                "node.api_socket: the HTTP API orbitctl talks to.",
            ),
            (
                "/usr/share/doc/orbit/examples/",
                "Example configs of a two-site cluster with a witness.",
            ),
        ],
    );
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    definitions(
        roff,
        &[
            (
                "0",
                "Stopped after a planned stop (SIGTERM); check-config: the config is good.",
            ),
            (
                "1",
                "A start step failed (API socket in use, state directory, state file, \
                 backend, detectors), or the daemon stopped on an error. Worth a restart.",
            ),
            ("2", "Bad command line."),
            (
                "64",
                "The config, or a file it names, has a problem (EX_USAGE), or --config is \
                 missing: every problem is printed with its TOML path. Not worth a restart \
                 (systemd: RestartPreventExitStatus=64).",
            ),
        ],
    );
}

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    definitions(
        roff,
        &[
            (
                "ORBIT_LOG",
                "Log filter: a level, and levels per module, e.g. \"debug\" or \
                 \"info,orbit_bgp=debug\"; default \"info\" (also, with a \
                 warning, when it does not parse). Logs go to stderr.",
            ),
            (
                "NOTIFY_SOCKET",
                "Set by systemd for Type=notify: orbitd reports readiness, status, \
                 reloads, stops and watchdog pings there.",
            ),
        ],
    );
}

fn see_also(roff: &mut Roff, pages: &[&str]) {
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(pages.join(", "))]);
}

/// A `.TP` list: each term in bold, then its text.
fn definitions(roff: &mut Roff, items: &[(&str, &str)]) {
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

fn orbit_toml() -> std::io::Result<Vec<u8>> {
    let mut roff = Roff::new();
    roff.control(
        "TH",
        [
            "orbit.toml",
            "5",
            "",
            &format!("orbit {}", env!("CARGO_PKG_VERSION")),
        ],
    );
    roff.control("SH", ["NAME"]);
    roff.text([roman("orbit.toml - the configuration of orbitd")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([bold("/etc/orbit/orbit.toml")]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(
        "A TOML file. Every table and key is listed below with its type, its default and \
         its meaning; a key not listed is an error, not silently ignored. Durations are \
         strings such as \"250ms\", \"9s\", \"5m\". Check a file with orbitd check-config FILE: \
         it lists every problem with its TOML path. Members gossip a fingerprint of what must \
         agree between them (the [[site]] ids and witnesses, most of [policy], the fencing \
         timers, the [[service]] entries) and report a mismatch; [node], [api] and the \
         backends are per member.",
    )]);
    for table in TABLES {
        roff.control("SH", [table.header().as_str()]);
        roff.text([roman(table.about)]);
        for key in table.keys {
            roff.control("TP", []);
            roff.text([bold(key.name), roman(" ("), italic(key.kind), roman(")")]);
            let default = match key.default {
                KeyDefault::Required => "Required.".to_owned(),
                KeyDefault::Unset => "Default: unset.".to_owned(),
                KeyDefault::Value(value) => format!("Default: {value}."),
            };
            roff.text([roman(format!("{} {default}", key.meaning))]);
        }
    }
    roff.control("SH", ["FILES"]);
    definitions(
        &mut roff,
        &[
            (
                "/etc/orbit/orbit.toml",
                "The config orbitd is started with.",
            ),
            (
                "/usr/share/doc/orbit/examples/",
                "Commented example configs: the two sites and the witness.",
            ),
        ],
    );
    see_also(&mut roff, &["orbitd(8)", "orbitctl(1)"]);
    let mut out = Vec::new();
    roff.to_writer(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn orbit_toml_5_has_every_table_and_key() {
        let text = String::from_utf8(orbit_toml().unwrap()).unwrap();
        for table in TABLES {
            let header = table.header();
            assert!(text.contains(&header), "{header} missing:\n{text}");
            for key in table.keys {
                assert!(
                    text.contains(&format!("\\fB{}\\fR", key.name)),
                    "{header} {}:\n{text}",
                    key.name
                );
            }
        }
    }

    #[test]
    fn orbitd_8_has_the_hand_written_sections() {
        let text = String::from_utf8(orbitd(crate::Cli::command()).unwrap()).unwrap();
        for section in ["SIGNALS", "FILES", "EXIT STATUS", "ENVIRONMENT", "SEE ALSO"] {
            assert!(text.contains(section), "{section}:\n{text}");
        }
        assert!(text.contains(".TH orbitd 8"), "{text}");
        assert!(text.contains("orbitd check\\-config"), "{text}");
    }
}
