//! Organisations: the regulator and the providers it regulates.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    Regulator,
    Provider,
}

impl OrganisationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regulator => "regulator",
            Self::Provider => "provider",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "regulator" => Some(Self::Regulator),
            "provider" => Some(Self::Provider),
            _ => None,
        }
    }
}

/// UK Provider Reference Number: exactly eight digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Ukprn(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Enter a UKPRN of exactly 8 digits, like 10007788")]
pub struct UkprnError;

impl Ukprn {
    pub fn parse(input: &str) -> Result<Self, UkprnError> {
        let s = input.trim();
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(UkprnError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ukprn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ukprn_is_exactly_eight_digits() {
        assert_eq!(Ukprn::parse(" 10007788 ").unwrap().as_str(), "10007788");
        for bad in ["", "1000778", "100077889", "1000778a", "１０００７７８８"] {
            assert!(Ukprn::parse(bad).is_err(), "{bad:?}");
        }
    }
}
