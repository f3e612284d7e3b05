//! Which text format `/metrics` answers in, and the classic Prometheus
//! text format (0.0.4) made from the OpenMetrics text prometheus-client
//! writes.
//!
//! Prometheus itself prefers OpenMetrics and says so in `Accept`; promtool,
//! node_exporter's textfile collector and older agents read only the
//! classic format, where a counter's `# TYPE` line must name the sample
//! (`orbit_events_total`), `info` and `unknown` do not exist and there is no
//! `# EOF`. So the format follows `Accept` (RFC 9110 §12.5.1): OpenMetrics
//! when the client ranks it at least as high as the classic format, the
//! classic format otherwise, and for a client that sends no `Accept`.

/// A text exposition format of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0.
    OpenMetrics,
    /// The classic Prometheus text format, version 0.0.4.
    Prometheus,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let mut openmetrics = 0.0_f32;
        let mut classic = 0.0_f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => classic = classic.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= classic {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// The classic text format of an OpenMetrics exposition.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // `# HELP` comes before `# TYPE`, whose type decides the family's name
    // in the classic format: hold it until the type is known.
    let mut help: Option<(&str, &str)> = None;
    let mut counters: Option<String> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gauge" | "histogram" | "summary" => (name.to_owned(), kind),
                _ => (name.to_owned(), "untyped"),
            };
            if let Some((_, text)) = help.take() {
                // OpenMetrics also escapes `"` in HELP; the classic format
                // does not.
                out.push_str(&format!("# HELP {name} {}\n", text.replace("\\\"", "\"")));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            counters = (kind == "counter").then(|| name.trim_end_matches("_total").to_owned());
            continue;
        }
        if let Some((name, text)) = help.take() {
            out.push_str(&format!("# HELP {name} {text}\n"));
        }
        if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // A counter's creation time has no place in the classic format.
        if let Some(family) = &counters {
            if line
                .strip_prefix(family.as_str())
                .is_some_and(|rest| rest.starts_with("_created"))
            {
                continue;
            }
        }
        // Exemplars (`... value # {labels} value`) are OpenMetrics only.
        let sample = line.split_once(" # ").map_or(line, |(sample, _)| sample);
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_decides_and_the_classic_format_is_the_default() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Prometheus
        );
        // What Prometheus 2.x sends.
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;\
                 version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.2, text/plain;q=0.9")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Prometheus
        );
    }

    #[test]
    fn counters_info_and_unknown_get_their_classic_names_and_types() {
        let om = "# HELP orbit_events Events handled, by \\\"kind\\\".\n\
                  # TYPE orbit_events counter\n\
                  orbit_events_total{kind=\"tick\"} 3\n\
                  orbit_events_created{kind=\"tick\"} 1700000000.0\n\
                  # HELP orbit_build Build.\n\
                  # TYPE orbit_build info\n\
                  orbit_build_info{version=\"0.1.0\"} 1\n\
                  # HELP orbit_up Up.\n\
                  # TYPE orbit_up gauge\n\
                  # UNIT orbit_up seconds\n\
                  orbit_up 1\n\
                  # TYPE orbit_odd unknown\n\
                  orbit_odd 2 # {trace_id=\"x\"} 1\n\
                  # EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP orbit_events_total Events handled, by \"kind\".\n\
             # TYPE orbit_events_total counter\n\
             orbit_events_total{kind=\"tick\"} 3\n\
             # HELP orbit_build_info Build.\n\
             # TYPE orbit_build_info gauge\n\
             orbit_build_info{version=\"0.1.0\"} 1\n\
             # HELP orbit_up Up.\n\
             # TYPE orbit_up gauge\n\
             orbit_up 1\n\
             # TYPE orbit_odd untyped\n\
             orbit_odd 2\n"
        );
    }
}
