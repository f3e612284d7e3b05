//! Runtime API commands: encoding (one line each, or a line plus a payload)
//! and which reply each expects.
//!
//! The CLI splits a line on spaces and on `;` (several commands per line),
//! and reads a leading `#` in a map key as an entry reference, so every
//! argument is checked here before it can reach the socket.

use crate::error::Error;

/// Server administrative states settable with `set server B/S state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Ready,
    Drain,
    Maint,
}

impl ServerState {
    fn as_str(self) -> &'static str {
        match self {
            ServerState::Ready => "ready",
            ServerState::Drain => "drain",
            ServerState::Maint => "maint",
        }
    }
}

/// One runtime API command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Enters interactive mode: the connection stays open, each reply ends
    /// with the `> ` prompt.
    Prompt,
    ShowInfo,
    /// Lists the loaded maps with their versions.
    ShowMaps,
    /// The entries of one map, of its current version or of `@version`.
    ShowMap {
        map: &'a str,
        version: Option<u32>,
    },
    PrepareMap {
        map: &'a str,
    },
    AddMap {
        version: u32,
        map: &'a str,
        key: &'a str,
        value: &'a str,
    },
    /// `add map @VER MAP <<` followed by one `key value` line per entry and
    /// an empty line. The whole command must fit HAProxy's `tune.bufsize`.
    AddMapPayload {
        version: u32,
        map: &'a str,
        entries: &'a [(String, String)],
    },
    CommitMap {
        version: u32,
        map: &'a str,
    },
    SetMap {
        map: &'a str,
        key: &'a str,
        value: &'a str,
    },
    ShowServersState {
        backend: Option<&'a str>,
    },
    ShowBackends,
    SetServerState {
        backend: &'a str,
        server: &'a str,
        state: ServerState,
    },
    ShutdownSessions {
        backend: &'a str,
        server: &'a str,
    },
}

/// `arg` is safe as one word of a CLI line.
pub(crate) fn check_word(what: &str, arg: &str) -> Result<(), Error> {
    let bad = arg.is_empty()
        || arg
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '\\'));
    if bad {
        return Err(Error::Invalid(format!(
            "{what} {arg:?} cannot be sent to the runtime API: it must be non-empty \
             without spaces, ';' or '\\'"
        )));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), Error> {
    check_word("map key", key)?;
    if key.starts_with('#') {
        return Err(Error::Invalid(format!(
            "map key {key:?} cannot start with '#' (the runtime API reads it as an entry reference)"
        )));
    }
    Ok(())
}

impl Command<'_> {
    /// The bytes to send, newline included.
    pub fn encode(&self) -> Result<String, Error> {
        Ok(match self {
            Command::AddMapPayload {
                version,
                map,
                entries,
            } => {
                check_word("map", map)?;
                let mut s = format!("add map @{version} {map} <<\n");
                for (k, v) in entries.iter() {
                    check_key(k)?;
                    check_word("map value", v)?;
                    s.push_str(k);
                    s.push(' ');
                    s.push_str(v);
                    s.push('\n');
                }
                // An empty line ends the payload.
                s.push('\n');
                s
            }
            _ => {
                self.check()?;
                let mut s = self.label();
                s.push('\n');
                s
            }
        })
    }

    fn check(&self) -> Result<(), Error> {
        match self {
            Command::Prompt | Command::ShowInfo | Command::ShowMaps | Command::ShowBackends => {}
            Command::ShowMap { map, .. }
            | Command::PrepareMap { map }
            | Command::CommitMap { map, .. } => check_word("map", map)?,
            Command::AddMap {
                map, key, value, ..
            }
            | Command::SetMap { map, key, value } => {
                check_word("map", map)?;
                check_key(key)?;
                check_word("map value", value)?;
            }
            Command::AddMapPayload { .. } => {}
            Command::ShowServersState { backend } => {
                if let Some(b) = backend {
                    check_word("backend", b)?;
                }
            }
            Command::SetServerState {
                backend, server, ..
            }
            | Command::ShutdownSessions { backend, server } => {
                check_word("backend", backend)?;
                check_word("server", server)?;
                if backend.contains('/') || server.contains('/') {
                    return Err(Error::Invalid(format!(
                        "server {backend}/{server} cannot be addressed: '/' separates backend and server"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The command as shown in logs and errors (a payload is summarised).
    pub fn label(&self) -> String {
        match self {
            Command::Prompt => "prompt".to_owned(),
            Command::ShowInfo => "show info".to_owned(),
            Command::ShowMaps => "show map".to_owned(),
            Command::ShowMap { map, version: None } => format!("show map {map}"),
            Command::ShowMap {
                map,
                version: Some(v),
            } => format!("show map @{v} {map}"),
            Command::PrepareMap { map } => format!("prepare map {map}"),
            Command::AddMap {
                version,
                map,
                key,
                value,
            } => format!("add map @{version} {map} {key} {value}"),
            Command::AddMapPayload {
                version,
                map,
                entries,
            } => format!("add map @{version} {map} << ({} entries)", entries.len()),
            Command::CommitMap { version, map } => format!("commit map @{version} {map}"),
            Command::SetMap { map, key, value } => format!("set map {map} {key} {value}"),
            Command::ShowServersState { backend: None } => "show servers state".to_owned(),
            Command::ShowServersState { backend: Some(b) } => format!("show servers state {b}"),
            Command::ShowBackends => "show backend".to_owned(),
            Command::SetServerState {
                backend,
                server,
                state,
            } => format!("set server {backend}/{server} state {}", state.as_str()),
            Command::ShutdownSessions { backend, server } => {
                format!("shutdown sessions server {backend}/{server}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_commands_haproxy_2_6_documents() {
        let m = "/etc/haproxy/orbit.map";
        let cases = [
            (Command::Prompt, "prompt\n"),
            (Command::ShowInfo, "show info\n"),
            (Command::ShowMaps, "show map\n"),
            (
                Command::ShowMap {
                    map: m,
                    version: None,
                },
                "show map /etc/haproxy/orbit.map\n",
            ),
            (
                Command::ShowMap {
                    map: m,
                    version: Some(3),
                },
                "show map @3 /etc/haproxy/orbit.map\n",
            ),
            (
                Command::PrepareMap { map: m },
                "prepare map /etc/haproxy/orbit.map\n",
            ),
            (
                Command::AddMap {
                    version: 3,
                    map: m,
                    key: "web",
                    value: "site_a",
                },
                "add map @3 /etc/haproxy/orbit.map web site_a\n",
            ),
            (
                Command::CommitMap { version: 3, map: m },
                "commit map @3 /etc/haproxy/orbit.map\n",
            ),
            (
                Command::SetMap {
                    map: m,
                    key: "web",
                    value: "site_b",
                },
                "set map /etc/haproxy/orbit.map web site_b\n",
            ),
            (
                Command::ShowServersState { backend: None },
                "show servers state\n",
            ),
            (
                Command::ShowServersState {
                    backend: Some("be_a"),
                },
                "show servers state be_a\n",
            ),
            (Command::ShowBackends, "show backend\n"),
            (
                Command::SetServerState {
                    backend: "be_a",
                    server: "s1",
                    state: ServerState::Drain,
                },
                "set server be_a/s1 state drain\n",
            ),
            (
                Command::SetServerState {
                    backend: "be_a",
                    server: "s1",
                    state: ServerState::Ready,
                },
                "set server be_a/s1 state ready\n",
            ),
            (
                Command::SetServerState {
                    backend: "be_a",
                    server: "s1",
                    state: ServerState::Maint,
                },
                "set server be_a/s1 state maint\n",
            ),
            (
                Command::ShutdownSessions {
                    backend: "be_a",
                    server: "s1",
                },
                "shutdown sessions server be_a/s1\n",
            ),
        ];
        for (cmd, want) in cases {
            assert_eq!(cmd.encode().unwrap(), want);
        }
    }

    #[test]
    fn payload_ends_with_an_empty_line() {
        let entries = vec![
            ("a".to_owned(), "be_a".to_owned()),
            ("b".to_owned(), "be_b".to_owned()),
        ];
        let cmd = Command::AddMapPayload {
            version: 7,
            map: "/m",
            entries: &entries,
        };
        assert_eq!(
            cmd.encode().unwrap(),
            "add map @7 /m <<\na be_a\nb be_b\n\n"
        );
        assert_eq!(cmd.label(), "add map @7 /m << (2 entries)");
    }

    #[test]
    fn refuses_arguments_that_would_inject_commands() {
        for (key, value) in [
            ("a;clear map /m", "x"),
            ("a b", "x"),
            ("#1", "x"),
            ("a", "x\nclear map /m"),
            ("", "x"),
            ("a", "x\\"),
        ] {
            let cmd = Command::SetMap {
                map: "/m",
                key,
                value,
            };
            assert!(
                matches!(cmd.encode(), Err(Error::Invalid(_))),
                "{key:?} {value:?}"
            );
            let entries = vec![(key.to_owned(), value.to_owned())];
            let cmd = Command::AddMapPayload {
                version: 1,
                map: "/m",
                entries: &entries,
            };
            assert!(
                matches!(cmd.encode(), Err(Error::Invalid(_))),
                "{key:?} {value:?}"
            );
        }
        let cmd = Command::ShutdownSessions {
            backend: "a/b",
            server: "c",
        };
        assert!(cmd.encode().is_err());
    }
}
