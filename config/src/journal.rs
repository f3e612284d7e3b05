//! `[journal]`: when orbitd rotates its decision journal
//! (`state_dir/journal.jsonl`) and how many rotated files it keeps.
//! Reloadable: the new limits count from the next entry.

use std::fmt;

use orbit_core::config::Problems;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The smallest `max_bytes`: one entry may take a few KiB (a command's
/// reason, a reload's list of changes), and a file should hold dozens.
pub const MIN_JOURNAL_BYTES: u64 = 16 * 1024;
/// The most rotated files: every rotation renames each of them.
pub const MAX_JOURNAL_KEEP: u32 = 100;

/// `[journal]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// `journal.jsonl` is rotated before an entry would take it past this.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Rotated files kept (`journal.1.jsonl` the newest); 0 deletes the
    /// rotated file instead.
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_max_bytes() -> ByteSize {
    ByteSize(64 * 1024 * 1024)
}

fn default_keep() -> u32 {
    4
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            max_bytes: default_max_bytes(),
            keep: default_keep(),
        }
    }
}

impl JournalConfig {
    pub(crate) fn validate(&self, r: &mut Problems) {
        if self.max_bytes.0 < MIN_JOURNAL_BYTES {
            r.add(
                "journal.max_bytes",
                format!(
                    "{} is below the minimum of {}: a journal file must hold dozens of entries",
                    self.max_bytes,
                    ByteSize(MIN_JOURNAL_BYTES)
                ),
            );
        }
        if self.keep > MAX_JOURNAL_KEEP {
            r.add(
                "journal.keep",
                format!(
                    "{} is above the maximum of {MAX_JOURNAL_KEEP} rotated files (each rotation \
                     renames every one); raise journal.max_bytes instead",
                    self.keep
                ),
            );
        }
    }
}

/// A size in bytes, written as an integer (bytes) or a string with a
/// unit: `"64MiB"`, `"512KiB"`, `"1GiB"`, `"100MB"`, `"20000B"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Units, longest first so that `MiB` is not read as `B`.
const UNITS: [(&str, u64); 7] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("B", 1),
];

impl ByteSize {
    pub fn get(self) -> u64 {
        self.0
    }

    fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = text[digits.len()..].trim_start();
        let scale = match unit {
            "" => 1,
            unit => UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, scale)| *scale)
                .ok_or_else(|| {
                    format!(
                        "{text:?} has an unknown unit {unit:?}; write e.g. \"64MiB\", \"512KiB\""
                    )
                })?,
        };
        digits
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is not a size; write e.g. \"64MiB\", \"512KiB\""))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides it, as an operator writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 != 0 && self.0 % scale == 0 {
                return write!(f, "{}{name}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bytes(u64),
            Text(String),
        }
        match Written::deserialize(d) {
            Ok(Written::Bytes(n)) => Ok(ByteSize(n)),
            Ok(Written::Text(text)) => ByteSize::parse(&text).map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom(
                "not a size; write bytes (65536) or a string with a unit (\"64MiB\", \"512KiB\")",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sizes_read_with_units_and_print_back_as_written() {
        for (text, bytes, shown) in [
            ("64MiB", 64 << 20, "64MiB"),
            ("512 KiB", 512 << 10, "512KiB"),
            ("1GiB", 1 << 30, "1GiB"),
            ("100MB", 100_000_000, "100000000B"),
            ("20000B", 20_000, "20000B"),
            ("65536", 65_536, "64KiB"),
        ] {
            let size = ByteSize::parse(text).unwrap();
            assert_eq!(size.get(), bytes, "{text}");
            assert_eq!(size.to_string(), shown, "{text}");
            assert_eq!(ByteSize::parse(&size.to_string()).unwrap(), size);
        }
        for bad in ["", "MiB", "12 parsecs", "-1MiB", "99999999999GiB"] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?}");
        }
    }

    const EXAMPLE: &str = include_str!("../../examples/orbit.toml");

    /// The example with its `[journal]` table replaced by `table`.
    fn with_journal(table: &str) -> String {
        let start = EXAMPLE
            .find("[journal]")
            .expect("the example has [journal]");
        let end = EXAMPLE[start..]
            .find("\n\n")
            .map_or(EXAMPLE.len(), |n| start + n);
        format!("{}{table}{}", &EXAMPLE[..start], &EXAMPLE[end..])
    }

    fn problems(text: &str) -> String {
        crate::Config::parse_valid(text, "orbit.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_journal_settings_default_and_read_with_units() {
        let config = crate::Config::parse_valid(EXAMPLE, "orbit.toml").unwrap();
        assert_eq!(config.journal, JournalConfig::default());
        let text = with_journal("[journal]\nmax_bytes = \"1GiB\"\nkeep = 0");
        let config = crate::Config::parse_valid(&text, "orbit.toml").unwrap();
        assert_eq!(config.journal.max_bytes.get(), 1 << 30);
        assert_eq!(config.journal.keep, 0);
        let text = with_journal("[journal]\nmax_bytes = 65536");
        let config = crate::Config::parse_valid(&text, "orbit.toml").unwrap();
        assert_eq!(config.journal.max_bytes.get(), 65_536);
    }

    #[test]
    fn bad_journal_settings_are_named_with_their_path() {
        let error = problems(&with_journal("[journal]\nmax_bytes = \"4KiB\"\nkeep = 101"));
        assert!(
            error.contains(
                "journal.max_bytes: 4KiB is below the minimum of 16KiB: a journal file must hold \
                 dozens of entries"
            ),
            "{error}"
        );
        assert!(
            error.contains("journal.keep: 101 is above the maximum of 100"),
            "{error}"
        );
        let error = problems(&with_journal("[journal]\nmax_bytes = \"64 parsecs\""));
        assert!(error.contains("journal.max_bytes"), "{error}");
        assert!(error.contains("unknown unit \"parsecs\""), "{error}");
        let error = problems(&with_journal("[journal]\nmax_bytes = true"));
        assert!(error.contains("journal.max_bytes"), "{error}");
        let error = problems(&with_journal("[journal]\nmax_byte = \"64MiB\""));
        assert!(error.contains("journal.max_byte"), "{error}");
    }
}
