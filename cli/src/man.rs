//! `orbitctl man`: one complete page, orbitctl(1). Every subcommand has its
//! own subsection (synopsis and options) in COMMANDS, so the page refers to
//! no other page that does not exist; EXIT STATUS comes from the failure
//! kinds and ENVIRONMENT from the arguments' `env`, so neither can drift
//! from what orbitctl does.

use clap::Command;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::failure::Kind;

/// The man page of `cmd` (orbitctl's own command), as roff.
pub fn page(cmd: Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let man = Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    commands(&cmd, &mut out)?;
    let mut roff = Roff::new();
    exit_status(&mut roff);
    environment(&cmd, &mut roff);
    files(&mut roff);
    examples(&mut roff);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("orbitd(8), orbit.toml(5)")]);
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// COMMANDS: per visible subcommand, what it does, its synopsis and its
/// own options (the global ones are under OPTIONS).
fn commands(cmd: &Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.to_writer(out)?;
    let name = cmd.get_name().to_owned();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let full = format!("{name} {}", sub.get_name());
        let mut head = Roff::new();
        head.control("SS", [full.as_str()]);
        let about = sub
            .get_long_about()
            .or_else(|| sub.get_about())
            .map(ToString::to_string)
            .unwrap_or_default();
        head.text([roman(about)]);
        head.to_writer(out)?;
        let man = Man::new(sub.clone().bin_name(&full));
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut section)?;
        }
        // Their `.SH` headings become paragraphs inside this subsection.
        let text = String::from_utf8_lossy(&section)
            .replace(".SH SYNOPSIS\n", ".PP\n")
            .replace(".SH OPTIONS\n", ".PP\nOptions:\n");
        out.extend_from_slice(text.as_bytes());
    }
    Ok(())
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    roff.control("TP", []);
    roff.text([bold("0")]);
    roff.text([roman("Done.")]);
    for kind in Kind::ALL {
        roff.control("TP", []);
        roff.text([bold(kind.exit_code().to_string())]);
        roff.text([roman(kind.meaning())]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "With --json a failure is one JSON object on stdout: \
         {\"schema_version\": 1, \"error\": {\"kind\", \"message\", \"exit_code\"}}.",
    )]);
}

fn environment(cmd: &Command, roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    let mut args: Vec<_> = cmd
        .get_arguments()
        .chain(cmd.get_subcommands().flat_map(Command::get_arguments))
        .filter_map(|a| Some((a.get_env()?.to_string_lossy().into_owned(), a)))
        .collect();
    args.sort_by(|x, y| x.0.cmp(&y.0));
    args.dedup_by(|x, y| x.0 == y.0);
    for (env, arg) in args {
        roff.control("TP", []);
        roff.text([bold(env)]);
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        roff.text([roman(format!("As --{}: {help}", arg.get_id()))]);
    }
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    for (file, what) in [
        (
            "/run/orbit/api.sock",
            "orbitd's API socket (mode 0600, or 0660 with [api] api_socket_group).",
        ),
        (
            "/etc/orbit/orbit.toml",
            "orbitd's config; completion reads service and site names from it when orbitd \
             does not answer.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(file)]);
        roff.text([roman(what)]);
    }
}

fn examples(roff: &mut Roff) {
    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in [
        (
            "orbitctl status",
            "Sites, services, why each is where it is, backends.",
        ),
        (
            "orbitctl simulate --dead a",
            "What this orbitd's engine would decide if site a died; nothing is applied.",
        ),
        (
            "orbitctl drain b --reason \"CHG-42 power work\" --dry-run",
            "What draining site b would do, refused or not; nothing is applied.",
        ),
        (
            "orbitctl switchover --service web --to b",
            "Move web to site b now, make before break, and keep it there.",
        ),
        (
            "orbitctl reload --check /etc/orbit/orbit.toml.new",
            "What a new config would change against the running one.",
        ),
        (
            "orbitctl observer on",
            "Every member decides and reports; none applies.",
        ),
        (
            "orbitctl journal --follow",
            "Every decision, with its reason, as it happens.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(command)]);
        roff.text([roman(what)]);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_page_is_complete_and_refers_to_no_other_page() {
        let cmd = crate::Cli::command();
        let text = String::from_utf8(page(cmd.clone()).unwrap()).unwrap();
        assert!(!text.contains("orbitctl\\-status(1)"), "{text}");
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let heading = format!(".SS \"orbitctl {}\"", sub.get_name());
            assert!(text.contains(&heading), "{heading} missing:\n{text}");
        }
        for section in [
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(
                text.contains(&format!(".SH \"{section}\""))
                    || text.contains(&format!(".SH {section}")),
                "{section}:\n{text}"
            );
        }
        for code in ["69", "75", "77"] {
            assert!(
                text.contains(&format!("\\fB{code}\\fR")),
                "exit {code}:\n{text}"
            );
        }
        for env in ["ORBIT_SOCKET", "ORBIT_URL", "ORBIT_TOKEN", "ORBIT_TIMEOUT"] {
            assert!(text.contains(env), "{env}:\n{text}");
        }
    }
}
