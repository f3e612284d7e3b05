//! Log output: text or JSON lines on stderr, filtered by `ORBIT_LOG`.
//!
//! One event is one line in both formats: journald and log shippers split
//! on newlines, so a value with a newline in it (a TOML error's excerpt,
//! a hook's output) would otherwise become several unrelated records.
//! JSON escapes newlines itself; text mode quotes values (see
//! [`logfmt`]) and escapes any line break left, in the message, as `\n`.

mod logfmt;

use std::io::Write;

use clap::ValueEnum;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// This process's log format, for the helper processes it starts.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The format [`init`] set up (text before that).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let (filter, bad) = filter(std::env::var("ORBIT_LOG").ok().as_deref());
    // Colours only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder
            .fmt_fields(logfmt::Logfmt)
            .with_writer(|| OneLine(std::io::stderr()))
            .finish()
            .with(filter)
            .init(),
        LogFormat::Json => builder
            .with_writer(std::io::stderr)
            .json()
            .finish()
            .with(filter)
            .init(),
    }
    if let Some(bad) = bad {
        tracing::warn!("ORBIT_LOG: {bad}; logging at info");
    }
}

/// The filter `ORBIT_LOG` asks for: a default level and per-target levels
/// ("info,orbit_bgp=debug"), as tracing's `Targets`; "info" when unset or,
/// with the reason, when it does not parse. (`Targets` rather than
/// `EnvFilter`: span and field filters are not needed here, and the
/// regular-expression engine behind them is a large part of orbitd's
/// resident code.)
fn filter(spec: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        None => (info(), None),
        Some(spec) => match spec.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(e) => (info(), Some(format!("{spec:?} is not a log filter: {e}"))),
        },
    }
}

/// Writes each event (the formatter hands over one whole event per
/// `write`) with its inner line breaks escaped.
struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&one_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `event` with every `\n` and `\r` but a final newline written as the
/// two characters `\n` / `\r`.
fn one_line(event: &[u8]) -> Vec<u8> {
    let (body, end) = match event.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (event, &b""[..]),
    };
    let mut out = Vec::with_capacity(event.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_line_breaks_are_escaped_and_the_final_newline_kept() {
        assert_eq!(
            one_line(b"ERROR reload refused error=bad\n  |\n3 | x =\r\n"),
            b"ERROR reload refused error=bad\\n  |\\n3 | x =\\r\n"
        );
        assert_eq!(one_line(b"no newline"), b"no newline");
        assert_eq!(one_line(b"one line\n"), b"one line\n");
    }

    #[test]
    fn orbit_log_sets_levels_per_module_and_a_bad_one_falls_back_to_info() {
        use tracing::Level;
        let on = |t: &Targets, target, level| t.would_enable(target, &level);
        let (t, bad) = filter(None);
        assert!(bad.is_none());
        assert!(on(&t, "orbitd", Level::INFO) && !on(&t, "orbitd", Level::DEBUG));
        let (t, bad) = filter(Some("warn,orbit_bgp=debug"));
        assert!(bad.is_none());
        assert!(on(&t, "orbit_bgp::peer", Level::DEBUG));
        assert!(!on(&t, "orbitd", Level::INFO) && on(&t, "orbitd", Level::WARN));
        let (t, bad) = filter(Some("orbit_bgp=loud"));
        assert!(bad
            .unwrap()
            .contains("\"orbit_bgp=loud\" is not a log filter"));
        assert!(on(&t, "orbitd", Level::INFO) && !on(&t, "orbitd", Level::DEBUG));
    }
}
