//! Text-mode fields as logfmt: `kind=service_moved service=web
//! reason="site a is declared dead"`. A value is quoted (Rust string
//! escapes: `\"`, `\\`, `\n`) when it is empty or holds a space, `=`, `"`
//! or a control character, whether it was recorded as a string, with `%`
//! (Display) or with `?` (Debug); the default formatter quotes only
//! strings, so `detail=delivered to hook command` could not be told apart
//! from three fields. The event's message comes first, unquoted, as in the
//! default format.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

/// The fields formatter for text logs.
#[derive(Debug, Default)]
pub struct Logfmt;

impl<'writer> FormatFields<'writer> for Logfmt {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Fields {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Fields<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{separator}{value}")
        } else if needs_quotes(value) {
            write!(self.writer, "{separator}{}={value:?}", field.name())
        } else {
            write!(self.writer, "{separator}{}={value}", field.name())
        };
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` arrives here too, as a Debug that prints its Display.
        self.write(field, &format!("{value:?}"));
    }
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::format::FmtSpan;

    /// One event through a real subscriber with [`Logfmt`], without time
    /// or level.
    fn formatted(emit: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(Logfmt)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .with_span_events(FmtSpan::NONE)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn values_with_spaces_are_quoted_however_they_were_recorded() {
        let detail = "delivered to hook command";
        let line = formatted(|| {
            tracing::info!(
                kind = %"backend_applied",
                generation = 4u64,
                detail = %detail,
                reason = "site a is dead",
                error = ?"torn\nline",
                empty = "",
                ok = true,
                "applied"
            )
        });
        assert_eq!(
            line,
            "applied kind=backend_applied generation=4 detail=\"delivered to hook command\" \
             reason=\"site a is dead\" error=\"\\\"torn\\\\nline\\\"\" empty=\"\" ok=true\n"
        );
    }

    #[test]
    fn span_fields_are_formatted_the_same_way() {
        let line = formatted(|| {
            let span = tracing::info_span!("backend", backend = %"hook", note = "two words");
            let _entered = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(line, "backend{backend=hook note=\"two words\"}: inside\n");
    }
}
