//! Pure parsers of runtime API replies, one per command.
//!
//! HAProxy answers in free text and says "OK" mostly by saying nothing, so
//! each command checks for exactly the reply it expects; anything else is an
//! error naming the command and quoting the reply. Recorded HAProxy 2.6
//! replies in `tests/replies/` drive the tests.

use crate::error::Error;
use crate::framing::quote;

/// Oldest HAProxy with `prepare map` / `commit map` (atomic replacement).
pub const MIN_VERSION: (u32, u32) = (2, 4);

fn unexpected(command: &str, reply: &str) -> Error {
    if reply.trim_end() == "Permission denied" {
        return Error::PermissionDenied {
            command: command.to_owned(),
        };
    }
    Error::UnexpectedReply {
        command: command.to_owned(),
        reply: quote(reply),
    }
}

/// Commands that succeed silently: `add map`, `commit map`, `set map`,
/// `set server`, `shutdown sessions`, `prompt`.
pub fn expect_empty(command: &str, reply: &str) -> Result<(), Error> {
    if reply.is_empty() {
        Ok(())
    } else {
        Err(unexpected(command, reply))
    }
}

/// `show info`, the fields orbit uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// As printed, e.g. `2.6.12-1+deb12u4`.
    pub version: String,
    pub major: u32,
    pub minor: u32,
    pub pid: u32,
    /// Process start, seconds since the epoch (absent before 2.5 or so).
    pub start_time: Option<u64>,
    /// The process is soft-stopping after a reload: it still answers on
    /// connections it had, but a new process now carries the traffic.
    pub stopping: bool,
}

pub fn parse_info(command: &str, reply: &str) -> Result<Info, Error> {
    let field = |name: &str| {
        reply.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(": "))
                .map(str::trim)
        })
    };
    let version = field("Version").ok_or_else(|| unexpected(command, reply))?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    let (Some(major), Some(minor)) = (major, minor) else {
        return Err(unexpected(command, reply));
    };
    let pid = field("Pid")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| unexpected(command, reply))?;
    let start_time = field("Start_time_sec").and_then(|p| p.parse().ok());
    let stopping = field("Stopping").is_some_and(|s| s != "0");
    Ok(Info {
        version: version.to_owned(),
        major,
        minor,
        pid,
        start_time,
        stopping,
    })
}

/// Refuses a HAProxy without atomic map replacement.
pub fn check_version(info: &Info) -> Result<(), Error> {
    if (info.major, info.minor) < MIN_VERSION {
        return Err(Error::TooOld {
            version: info.version.clone(),
            minimum: format!("{}.{}", MIN_VERSION.0, MIN_VERSION.1),
        });
    }
    Ok(())
}

/// One line of `show map`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    pub id: i64,
    pub file: String,
    pub curr_ver: u32,
    pub next_ver: u32,
    pub entry_cnt: u64,
}

/// `show map`: `# id (file) description` then one line per map:
/// `2 (/etc/haproxy/orbit.map) pattern loaded from file ... curr_ver=0 next_ver=0 entry_cnt=1`.
pub fn parse_map_list(command: &str, reply: &str) -> Result<Vec<MapInfo>, Error> {
    let mut lines = reply.lines();
    if lines.next() != Some("# id (file) description") {
        return Err(unexpected(command, reply));
    }
    let mut maps = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let parsed = (|| {
            let (id, rest) = line.split_once(" (")?;
            let (file, desc) = rest.split_once(") ")?;
            let mut curr_ver = None;
            let mut next_ver = None;
            let mut entry_cnt = None;
            for word in desc.split_whitespace() {
                if let Some(v) = word.strip_prefix("curr_ver=") {
                    curr_ver = v.parse().ok();
                } else if let Some(v) = word.strip_prefix("next_ver=") {
                    next_ver = v.parse().ok();
                } else if let Some(v) = word.strip_prefix("entry_cnt=") {
                    entry_cnt = v.parse().ok();
                }
            }
            Some(MapInfo {
                id: id.parse().ok()?,
                file: file.to_owned(),
                curr_ver: curr_ver?,
                next_ver: next_ver?,
                entry_cnt: entry_cnt?,
            })
        })();
        maps.push(parsed.ok_or_else(|| unexpected(command, reply))?);
    }
    Ok(maps)
}

/// `show map MAP`: one `0xADDR key value` line per entry, in map order.
pub fn parse_map_entries(
    command: &str,
    map: &str,
    reply: &str,
) -> Result<Vec<(String, String)>, Error> {
    if reply.starts_with("Unknown map identifier") {
        return Err(Error::UnknownMap {
            map: map.to_owned(),
            known: Vec::new(),
        });
    }
    let mut entries = Vec::new();
    for line in reply.lines().filter(|l| !l.is_empty()) {
        let parsed = (|| {
            let (addr, rest) = line.split_once(' ')?;
            let hex = addr.strip_prefix("0x")?;
            if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let (key, value) = rest.split_once(' ')?;
            (!key.is_empty()).then(|| (key.to_owned(), value.to_owned()))
        })();
        entries.push(parsed.ok_or_else(|| unexpected(command, reply))?);
    }
    Ok(entries)
}

/// `prepare map`: `New version created: N`.
pub fn parse_prepare(command: &str, reply: &str) -> Result<u32, Error> {
    reply
        .strip_prefix("New version created: ")
        .and_then(|r| r.strip_suffix('\n'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unexpected(command, reply))
}

/// One server of `show servers state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    pub backend: String,
    pub server: String,
    /// `srv_op_state`: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op_state: u32,
    /// `srv_admin_state` bit field: 0x01 forced maint, 0x08 forced drain...
    pub admin_state: u32,
}

/// `show servers state [BACKEND]`: format version `1`, a `#` header naming
/// the columns, one line per server.
pub fn parse_servers_state(
    command: &str,
    backend: Option<&str>,
    reply: &str,
) -> Result<Vec<ServerStatus>, Error> {
    if reply.starts_with("Can't find backend.") {
        return Err(Error::UnknownBackend {
            service: None,
            site: None,
            backend: backend.unwrap_or_default().to_owned(),
        });
    }
    let mut lines = reply.lines();
    if lines.next() != Some("1") {
        return Err(unexpected(command, reply));
    }
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| unexpected(command, reply))?;
    let columns: Vec<&str> = header.split(' ').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(be), Some(srv), Some(op), Some(admin)) = (
        col("be_name"),
        col("srv_name"),
        col("srv_op_state"),
        col("srv_admin_state"),
    ) else {
        return Err(unexpected(command, reply));
    };
    let mut servers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split(' ').collect();
        let parsed = (|| {
            Some(ServerStatus {
                backend: (*words.get(be)?).to_owned(),
                server: (*words.get(srv)?).to_owned(),
                op_state: words.get(op)?.parse().ok()?,
                admin_state: words.get(admin)?.parse().ok()?,
            })
        })();
        servers.push(parsed.ok_or_else(|| unexpected(command, reply))?);
    }
    Ok(servers)
}

/// `show backend`: `# name` then one backend per line.
pub fn parse_backends(command: &str, reply: &str) -> Result<Vec<String>, Error> {
    let mut lines = reply.lines();
    if lines.next() != Some("# name") {
        return Err(unexpected(command, reply));
    }
    let names: Vec<String> = lines.filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if names.iter().any(|n| n.contains(' ')) {
        return Err(unexpected(command, reply));
    }
    Ok(names)
}
