//! Why orbitctl failed, the exit code that says so, and how it is told:
//! one line on stderr, or with `--json` one JSON object on stdout (a
//! script reads one stream and gets every outcome in one shape).

use serde::Serialize;

/// What kind of failure: the exit code follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// orbitd refused the request (unknown service, not eligible, ...).
    Refused,
    /// Bad usage, found before orbitd is asked.
    Usage,
    /// orbitd unreachable, shutting down or busy: nothing was applied.
    Unavailable,
    /// No answer within `--timeout`: a command may have been applied.
    Timeout,
    /// Wrong or missing token, or no permission on the socket.
    Permission,
}

impl Kind {
    /// Every kind, in exit-code order (the man page's EXIT STATUS).
    pub const ALL: [Kind; 5] = [
        Kind::Refused,
        Kind::Usage,
        Kind::Unavailable,
        Kind::Timeout,
        Kind::Permission,
    ];

    /// What the exit code tells the caller.
    pub fn meaning(self) -> &'static str {
        match self {
            Kind::Refused => {
                "orbitd refused the request: unknown service or site, site not eligible, pinned, \
                 would leave a service without any site and not --force'd, a reloaded or checked \
                 config refused, a dry run that would be refused. Nothing was applied."
            }
            Kind::Usage => "Bad usage, found before orbitd was asked. Nothing was applied.",
            Kind::Unavailable => {
                "orbitd unreachable, shutting down, busy, or unable to save the command. \
                 Nothing was applied."
            }
            Kind::Timeout => {
                "No answer within --timeout: a command may or may not have been applied; \
                 orbitctl journal tells."
            }
            Kind::Permission => {
                "Missing or wrong token for --url, or no permission on the API socket (run as \
                 root or as a member of the socket's group, [api] api_socket_group)."
            }
        }
    }

    /// sysexits.h where one fits.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Refused => 1,
            Kind::Usage => 2,
            Kind::Unavailable => 69,
            Kind::Timeout => 75,
            Kind::Permission => 77,
        }
    }
}

/// An error with the exit code it maps to.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// orbitd's whole answer when it says more than the message (a refused
    /// reload's changes and problems, a refused dry run's decisions): with
    /// `--json` it goes into the error object as `answer`, so that a script
    /// still reads one object.
    pub answer: Option<serde_json::Value>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            answer: None,
        }
    }

    /// The same failure, carrying orbitd's answer for `--json`.
    pub fn with_answer(mut self, answer: &impl Serialize) -> Failure {
        self.answer = serde_json::to_value(answer).ok();
        self
    }

    /// Prints the failure the way the caller asked for and returns its
    /// exit code.
    pub fn report(&self, as_json: bool) -> u8 {
        let code = self.kind.exit_code();
        if as_json {
            #[derive(Serialize)]
            struct Body<'a> {
                kind: Kind,
                message: &'a str,
                exit_code: u8,
                #[serde(skip_serializing_if = "Option::is_none")]
                answer: Option<&'a serde_json::Value>,
            }
            #[derive(Serialize)]
            struct Wrapper<'a> {
                schema_version: u64,
                error: Body<'a>,
            }
            let body = Wrapper {
                schema_version: crate::json::SCHEMA_VERSION,
                error: Body {
                    kind: self.kind,
                    message: &self.message,
                    exit_code: code,
                    answer: self.answer.as_ref(),
                },
            };
            println!("{}", serde_json::to_string(&body).unwrap_or_default());
        } else {
            eprintln!("orbitctl: {}", self.message);
        }
        code
    }
}

/// A clap usage error as one line plus a hint where to look, instead of
/// clap's several paragraphs: `the following required arguments were not
/// provided: --to <TO> (see orbitctl switchover --help)`.
pub fn usage(error: &clap::Error) -> Failure {
    let rendered = error.render().to_string();
    let mut message = Vec::new();
    let mut tips = Vec::new();
    let mut usage_line = None;
    for line in rendered.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Usage:") {
            usage_line = Some(rest.trim().to_owned());
        } else if let Some(tip) = line.strip_prefix("tip:") {
            tips.push(tip.trim().to_owned());
        } else if line.is_empty() || line.starts_with("For more information") {
            continue;
        } else if usage_line.is_none() {
            message.push(
                line.strip_prefix("error:")
                    .unwrap_or(line)
                    .trim()
                    .to_owned(),
            );
        }
    }
    // The command path is the usage line up to its first placeholder or flag.
    let command: Vec<&str> = usage_line
        .as_deref()
        .unwrap_or("orbitctl")
        .split_whitespace()
        .take_while(|w| !w.starts_with(['<', '[', '-']))
        .collect();
    let command = if command.is_empty() {
        "orbitctl".to_owned()
    } else {
        command.join(" ")
    };
    let mut line = message.join(" ");
    for tip in tips {
        line.push_str(&format!("; {tip}"));
    }
    line.push_str(&format!(" (see {command} --help)"));
    Failure::new(Kind::Usage, line)
}
