//! Identifiers for sites and services.
//!
//! Both are short names an operator types (`orbitctl drain a`), that appear in
//! metric labels, HAProxy map keys and file names, so they are restricted to a
//! conservative alphabet up front instead of being escaped everywhere later.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest identifier accepted; long enough for `dc-frankfurt-2`, short
/// enough to stay readable in a status table.
const MAX_ID_LEN: usize = 63;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier {0:?} is longer than {MAX_ID_LEN} characters")]
    TooLong(String),
    #[error(
        "identifier {0:?} may only contain lowercase letters, digits, '-' and '_', \
         and must start with a letter or digit"
    )]
    BadCharacter(String),
}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(s.to_owned()));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok || !s.chars().all(allowed) {
        return Err(IdError::BadCharacter(s.to_owned()));
    }
    Ok(())
}

/// Names for a sentence: "web, db".
pub(crate) fn join_names<T: fmt::Display>(names: &[T]) -> String {
    names
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

identifier!(
    /// A data-center site (or the witness), as named in `[[site]]`.
    SiteId
);
identifier!(
    /// A service steered by orbit, as named in `[[service]]`.
    ServiceId
);
identifier!(
    /// A disaster-recovery plan, as named in `[[plan]]`; a step's name
    /// follows the same rules.
    PlanId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        assert_eq!(SiteId::new("dc-fra_2").unwrap().as_str(), "dc-fra_2");
        assert!(ServiceId::new("9web").is_ok());
    }

    #[test]
    fn rejects_bad_names_with_the_reason() {
        assert_eq!(SiteId::new(""), Err(IdError::Empty));
        assert!(matches!(SiteId::new("Web"), Err(IdError::BadCharacter(_))));
        assert!(matches!(SiteId::new("-a"), Err(IdError::BadCharacter(_))));
        assert!(matches!(SiteId::new("a b"), Err(IdError::BadCharacter(_))));
        assert!(matches!(
            SiteId::new("a".repeat(64)),
            Err(IdError::TooLong(_))
        ));
    }

    #[test]
    fn serde_validates() {
        let ok: SiteId = serde_json::from_str("\"a\"").unwrap();
        assert_eq!(ok.as_str(), "a");
        let err = serde_json::from_str::<SiteId>("\"A!\"").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
