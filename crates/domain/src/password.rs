//! Passwords for the old portal's sign-in (PRODUCT §3, seed 000).
//!
//! Two policies: `legacy` (seed 000: at least 8 characters with upper-case,
//! lower-case and a digit) and `modern` (the default: at least 12 characters, no
//! composition rules, not a commonly used password). Both accept at most 128
//! characters and never truncate: the whole password is hashed with argon2id,
//! which has no 72-byte limit. Lengths count characters, not bytes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::{CryptoRng, RngCore};

/// The longest password accepted, in characters (bounds the hashing work).
pub const MAX_CHARS: usize = 128;

/// Consecutive wrong passwords that lock an account until an administrator unlocks it.
pub const FAILURES_BEFORE_LOCK: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Seed 000: at least 8 characters, with upper-case, lower-case and a digit.
    Legacy,
    /// At least 12 characters, no composition rules, not a common password.
    #[default]
    Modern,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "legacy" => Some(Self::Legacy),
            "modern" => Some(Self::Modern),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Modern => "modern",
        }
    }

    /// The hint shown beside the password field.
    pub fn hint(self) -> &'static str {
        match self {
            Self::Legacy => {
                "At least 8 characters, containing upper-case letters, lower-case letters and numbers"
            }
            Self::Modern => {
                "At least 12 characters. A few unrelated words make a good password, like ‘correct horse battery staple’"
            }
        }
    }

    /// Whether `password` may be chosen; the error is the message shown beside the field.
    pub fn check(self, password: &str) -> Result<(), &'static str> {
        let chars = password.chars().count();
        if password.is_empty() {
            return Err("Enter a password");
        }
        if chars > MAX_CHARS {
            return Err("Password must be 128 characters or fewer");
        }
        match self {
            Self::Legacy => {
                if chars < 8 {
                    return Err("Password must be at least 8 characters");
                }
                let upper = password.chars().any(char::is_uppercase);
                let lower = password.chars().any(char::is_lowercase);
                let digit = password.chars().any(|c| c.is_ascii_digit());
                if !(upper && lower && digit) {
                    return Err(
                        "Password must contain upper-case letters, lower-case letters and numbers",
                    );
                }
            }
            Self::Modern => {
                if chars < 12 {
                    return Err("Password must be at least 12 characters");
                }
                if is_common(password) {
                    return Err(
                        "This password is too common and easy to guess: choose a different one",
                    );
                }
            }
        }
        Ok(())
    }
}

/// Commonly used passwords of 12 or more characters, from published lists of
/// leaked passwords (shorter ones are already refused by the length rule), and
/// this service's own names. Compared ignoring case and spaces.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789123",
    "123123123123",
    "111111111111",
    "000000000000",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "password123!",
    "p@ssw0rd1234",
    "qwertyuiop12",
    "qwertyuiop123",
    "qwertyuiopasdf",
    "qwertyuiopasdfghjkl",
    "qwerty123456",
    "qwertyqwerty",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "asdfghjkl123",
    "abcdefghijkl",
    "abcdefghijklmnop",
    "abc123abc123",
    "iloveyou1234",
    "iloveyouforever",
    "trustno1trustno1",
    "welcome12345",
    "welcome123456",
    "letmein12345",
    "letmeinletmein",
    "administrator",
    "administrator1",
    "football1234",
    "baseball1234",
    "princess1234",
    "sunshine1234",
    "superman1234",
    "starwars1234",
    "monkey123456",
    "dragon123456",
    "michael12345",
    "changeme1234",
    "changemenow1",
    "correcthorsebatterystaple1",
    "thisismypassword",
    "mypassword123",
    "secretpassword",
    "computer1234",
    "internet1234",
    "liverpool1234",
    "chelsea12345",
    "arsenal12345",
    "manchesterunited",
    "unitedkingdom",
    "greatbritain",
    "september2026",
    "december2026",
    "officeforstudents",
    "officeforstudents1",
    "providerportal",
    "providerportal1",
    "researchengland",
    "universitypassword",
];

fn is_common(password: &str) -> bool {
    let squashed: String = password
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let mut chars = squashed.chars();
    let one_character = chars.next().is_some_and(|f| chars.all(|c| c == f));
    one_character || COMMON.contains(&squashed.as_str())
}

/// argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The PHC string stored for a password (argon2id, random salt).
pub fn hash(password: &str, rng: &mut (impl RngCore + CryptoRng)) -> Result<String, HashError> {
    let salt = SaltString::generate(rng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| HashError)
}

/// Does `password` match the stored PHC string? A stored value that is not a
/// valid argon2 hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password could not be hashed")]
pub struct HashError;

#[cfg(test)]
mod tests {
    use super::*;

    fn of(n: usize) -> String {
        // Mixed case and digits so that only the length decides.
        "Ab1xyzqwmnbv".chars().cycle().take(n).collect()
    }

    #[test]
    fn legacy_needs_eight_characters_with_upper_lower_and_digit() {
        let p = Policy::Legacy;
        assert!(p.check(&of(7)).is_err());
        assert!(p.check(&of(8)).is_ok());
        assert!(p.check(&of(128)).is_ok());
        assert!(p.check(&of(129)).is_err());
        for weak in ["abcdefg1", "ABCDEFG1", "Abcdefgh"] {
            assert!(p.check(weak).is_err(), "{weak}");
        }
        assert!(p.check("Abcdefg1").is_ok());
    }

    #[test]
    fn modern_needs_twelve_characters_and_refuses_common_ones() {
        let p = Policy::Modern;
        assert!(p.check(&of(11)).is_err());
        assert!(p.check(&of(12)).is_ok());
        assert!(p.check(&of(128)).is_ok());
        assert!(p.check(&of(129)).is_err());
        assert!(p.check("correct horse battery staple").is_ok());
        assert!(p.check("alllowercasenodigits").is_ok());
        for common in [
            "password1234",
            "Password 1234",
            "QWERTYUIOP123",
            "aaaaaaaaaaaaaa",
        ] {
            assert!(p.check(common).is_err(), "{common}");
        }
    }

    #[test]
    fn lengths_are_characters_not_bytes() {
        let twelve = "éééééééééééé";
        assert_eq!(twelve.len(), 24);
        assert!(
            Policy::Modern.check(twelve).is_err(),
            "one repeated character"
        );
        assert!(Policy::Modern.check("ééééééaaaaaa").is_ok());
        assert!(
            Policy::Modern
                .check(&"é".repeat(65).replacen('é', "a", 1))
                .is_ok()
        );
    }

    #[test]
    fn hashes_are_argon2id_and_never_truncate() {
        let mut rng = rand::rngs::OsRng;
        let long = of(100);
        let stored = hash(&long, &mut rng).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify(&long, &stored));
        assert!(
            !verify(&long[..72], &stored),
            "the first 72 bytes alone must not match"
        );
        assert!(!verify(&of(99), &stored));
        assert!(!verify(&long, "not a hash"));
    }
}
