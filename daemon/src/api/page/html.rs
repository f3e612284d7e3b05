//! HTML building blocks of the status page: escaping and tables. Every
//! text and attribute value goes through [`escape`]: names come from the
//! config, but journal reasons and errors are operators' and peers' words
//! (`--reason`, a NOTIFICATION's text), so they are treated as hostile.

use std::fmt::Write;

/// How a value reads at a glance. Colour is an aid only: the text of a
/// cell says the same (DEAD, FAIL, DEGRADED...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tone {
    Plain,
    Ok,
    Warn,
    Bad,
}

impl Tone {
    pub(super) fn class(self) -> &'static str {
        match self {
            Tone::Plain => "",
            Tone::Ok => "ok",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
        }
    }

    /// The worse of two.
    pub(super) fn worst(self, other: Tone) -> Tone {
        let rank = |t: Tone| match t {
            Tone::Plain => 0,
            Tone::Ok => 1,
            Tone::Warn => 2,
            Tone::Bad => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// `text` safe as HTML text and as a quoted attribute value.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One table cell: its text, its tone and an optional longer text shown
/// under it (the engine's reason behind a failover, say).
#[derive(Debug, Clone)]
pub(super) struct Cell {
    text: String,
    tone: Tone,
    detail: Option<String>,
}

impl Cell {
    pub(super) fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone,
            detail: None,
        }
    }

    pub(super) fn plain(text: impl Into<String>) -> Cell {
        Cell::new(text, Tone::Plain)
    }

    pub(super) fn detail(mut self, detail: Option<String>) -> Cell {
        self.detail = detail;
        self
    }
}

/// A row's `data-NAME="value"` attributes.
pub(super) type Data = Vec<(&'static str, String)>;

/// A table with a header row; rows carry `data-*` attributes (stable names
/// for tests and scrapers, see docs/api.md).
#[derive(Debug)]
pub(super) struct Table {
    id: &'static str,
    header: Vec<String>,
    rows: Vec<(Data, Vec<Cell>)>,
}

impl Table {
    pub(super) fn new(id: &'static str, header: &[&str]) -> Table {
        Table {
            id,
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a column (e.g. one per extra detector).
    pub(super) fn column(&mut self, name: String) {
        self.header.push(name);
    }

    /// Adds a row; `data` are its `data-NAME="value"` attributes.
    pub(super) fn row(&mut self, data: Data, cells: Vec<Cell>) {
        self.rows.push((data, cells));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub(super) fn render(&self, out: &mut String) {
        let _ = write!(out, "<table id=\"{}\"><thead><tr>", self.id);
        for h in &self.header {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr></thead><tbody>");
        for (data, cells) in &self.rows {
            out.push_str("<tr");
            for (name, value) in data {
                let _ = write!(out, " data-{name}=\"{}\"", escape(value));
            }
            out.push('>');
            for cell in cells {
                match cell.tone.class() {
                    "" => out.push_str("<td>"),
                    class => {
                        let _ = write!(out, "<td class=\"{class}\">");
                    }
                }
                out.push_str(&escape(&cell.text));
                if let Some(detail) = &cell.detail {
                    let _ = write!(out, "<div class=\"detail\">{}</div>", escape(detail));
                }
                out.push_str("</td>");
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        let mut table = Table::new("t", &["<b>"]);
        table.row(
            vec![("service", "\"><img src=x onerror=alert(1)>".to_owned())],
            vec![Cell::new("<i>", Tone::Bad).detail(Some("</td>".to_owned()))],
        );
        let mut html = String::new();
        table.render(&mut html);
        assert!(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<img"));
        assert!(html.contains(r#"data-service="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;""#));
        assert!(
            html.contains(r#"<td class="bad">&lt;i&gt;<div class="detail">&lt;/td&gt;</div></td>"#)
        );
    }
}
