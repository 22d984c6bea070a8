//! A person's title and names, parsed once at the edge (PRODUCT §1): a value
//! that exists is valid. One rule for every form, the API, the operator's
//! command line and the old portal's import.

use std::fmt;

/// The most characters a title may have (the old portal's limit, kept).
pub const TITLE_MAX: usize = 35;
/// The most characters a first or last name may have.
pub const NAME_MAX: usize = 100;

/// Why a title or name was refused, in the words shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("Enter {0}")]
    Missing(&'static str),
    #[error("{0} must be {1} characters or fewer")]
    TooLong(&'static str, usize),
    #[error("{0} must not contain control characters")]
    Control(&'static str),
}

fn checked(
    value: &str,
    required: bool,
    max: usize,
    label: &'static str,
    missing: &'static str,
) -> Result<String, NameError> {
    let v = value.trim();
    if v.is_empty() && required {
        Err(NameError::Missing(missing))
    } else if v.chars().count() > max {
        Err(NameError::TooLong(label, max))
    } else if v.chars().any(char::is_control) {
        Err(NameError::Control(label))
    } else {
        Ok(v.to_owned())
    }
}

/// A title such as "Dr" or "Ms": at most [`TITLE_MAX`] characters, trimmed,
/// no control characters; it may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        checked(value, false, TITLE_MAX, "Title", "a title").map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A first or last name: 1 to [`NAME_MAX`] characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// `which` is "first" or "last", for the message.
    pub fn parse(value: &str, which: NamePart) -> Result<Self, NameError> {
        let (label, missing) = match which {
            NamePart::First => ("First name", "a first name"),
            NamePart::Last => ("Last name", "a last name"),
        };
        checked(value, true, NAME_MAX, label, missing).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamePart {
    First,
    Last,
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_may_be_empty_but_not_longer_than_the_old_portal_allowed() {
        assert_eq!(Title::parse("  ").unwrap().as_str(), "");
        assert_eq!(Title::parse(" Dr ").unwrap().as_str(), "Dr");
        assert!(Title::parse(&"x".repeat(35)).is_ok());
        assert_eq!(
            Title::parse(&"x".repeat(36)),
            Err(NameError::TooLong("Title", 35))
        );
        assert_eq!(Title::parse("Dr\n"), Ok(Title("Dr".into())));
        assert_eq!(Title::parse("D\tr"), Err(NameError::Control("Title")));
    }

    #[test]
    fn a_name_is_required_bounded_and_without_control_characters() {
        assert_eq!(
            PersonName::parse(" ", NamePart::First),
            Err(NameError::Missing("a first name"))
        );
        assert_eq!(
            PersonName::parse(&"é".repeat(101), NamePart::Last),
            Err(NameError::TooLong("Last name", 100))
        );
        assert!(PersonName::parse(&"é".repeat(100), NamePart::Last).is_ok());
        assert_eq!(
            PersonName::parse("Ada\u{0}", NamePart::First),
            Err(NameError::Control("First name"))
        );
        assert_eq!(
            PersonName::parse(" Ada ", NamePart::First)
                .unwrap()
                .to_string(),
            "Ada"
        );
        assert_eq!(
            NameError::Missing("a first name").to_string(),
            "Enter a first name"
        );
    }
}
