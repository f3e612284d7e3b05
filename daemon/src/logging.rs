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
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORBIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder
            .fmt_fields(logfmt::Logfmt)
            .with_writer(|| OneLine(std::io::stderr()))
            .init(),
        LogFormat::Json => builder.with_writer(std::io::stderr).json().init(),
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
}
