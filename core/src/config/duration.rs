//! Human-readable durations in TOML ("100ms", "5s", "5m").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way an operator writes it: `"250ms"`, `"9s"`, `"5m"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_millis(ms: u64) -> Self {
        HumanDuration(Duration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Self {
        HumanDuration(Duration::from_secs(s))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a duration ({e}); write e.g. \"250ms\", \"3s\", \"5m\""
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        d: HumanDuration,
    }

    #[test]
    fn parses_operator_durations() {
        let t: T = toml::from_str("d = \"250ms\"").unwrap();
        assert_eq!(t.d.get(), Duration::from_millis(250));
        let t: T = toml::from_str("d = \"5m\"").unwrap();
        assert_eq!(t.d.get(), Duration::from_secs(300));
        let err = toml::from_str::<T>("d = \"soon\"").err().unwrap();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
