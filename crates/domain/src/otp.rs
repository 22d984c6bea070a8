//! One-time passcodes (PRODUCT §3): how they are made, stored and limited.
//!
//! The code is six digits from a CSPRNG, bound to one sign-in attempt, and stored
//! only as HMAC-SHA256(server key, attempt id ‖ code). The limits below are the
//! product rules; the store applies them atomically.

use hmac::{Hmac, Mac};
use rand::{CryptoRng, Rng};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::Duration;

use crate::AttemptId;

/// A code is valid this long after it was sent.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Wrong guesses that void a code.
pub const MAX_GUESSES_PER_CODE: i64 = 5;
/// Consecutive failures on an account (across codes) that lock its sign-in.
pub const FAILURES_BEFORE_LOCK: i64 = 10;
/// Codes sent to one address within [`CODE_WINDOW`] at most.
pub const MAX_CODES_PER_WINDOW: i64 = 5;
pub const CODE_WINDOW: Duration = Duration::minutes(15);
const FIRST_LOCK: Duration = Duration::minutes(15);
const LONGEST_LOCK: Duration = Duration::hours(24);

/// How long sign-in is locked the `(previous_locks + 1)`th time: 15 minutes,
/// doubling each time, never more than 24 hours.
pub fn lock_duration(previous_locks: i64) -> Duration {
    let doublings = previous_locks.clamp(0, 16) as u32;
    let minutes = FIRST_LOCK
        .whole_minutes()
        .saturating_mul(1_i64 << doublings);
    Duration::minutes(minutes).min(LONGEST_LOCK)
}

/// A six-digit passcode as a person typed or pasted it.
#[derive(Clone, PartialEq, Eq)]
pub struct Passcode(String);

// Never print a passcode, even in debug output.
impl std::fmt::Debug for Passcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passcode(******)")
    }
}

impl Passcode {
    /// A new code, uniformly distributed over 000000–999999.
    pub fn generate(rng: &mut (impl Rng + CryptoRng)) -> Self {
        Self(format!("{:06}", rng.gen_range(0..1_000_000u32)))
    }

    /// Accepts what people paste: spaces and hyphens between digits are ignored.
    pub fn parse(input: &str) -> Option<Self> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(Self(digits))
    }

    /// The digits, for the email only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The server's secret key for keyed hashes (codes, form tokens). Shared, not
/// copied, by every clone (the application state is cloned per request).
#[derive(Clone)]
pub struct SecretKey(std::sync::Arc<[u8]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret key must be at least 32 bytes long")]
pub struct SecretKeyTooShort;

impl SecretKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretKeyTooShort> {
        let bytes = bytes.into();
        if bytes.len() < 32 {
            return Err(SecretKeyTooShort);
        }
        Ok(Self(bytes.into()))
    }

    /// HMAC-SHA256 of the parts, each length-prefixed so parts cannot run together.
    pub fn mac(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        // An HMAC key may be any length: this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(&(domain.len() as u64).to_be_bytes());
        mac.update(domain.as_bytes());
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// What is stored for a code: bound to the attempt that asked for it.
    pub fn code_hash(&self, attempt: AttemptId, code: &Passcode) -> [u8; 32] {
        self.mac("passcode", &[attempt.0.as_bytes(), code.0.as_bytes()])
    }

    /// Constant-time check of a guess against the stored hash.
    pub fn code_matches(&self, attempt: AttemptId, guess: &Passcode, stored: &[u8]) -> bool {
        self.code_hash(attempt, guess).ct_eq(stored).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn key() -> SecretKey {
        SecretKey::new(vec![7u8; 32]).unwrap()
    }

    #[test]
    fn codes_are_six_digits_and_pasting_with_spaces_works() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let c = Passcode::generate(&mut rng);
            assert_eq!(c.expose().len(), 6);
            assert_eq!(Passcode::parse(c.expose()), Some(c));
        }
        assert_eq!(Passcode::parse(" 123 456 ").unwrap().expose(), "123456");
        assert_eq!(Passcode::parse("123-456").unwrap().expose(), "123456");
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert!(Passcode::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_code_only_matches_the_attempt_it_was_sent_for() {
        let k = key();
        let code = Passcode::parse("123456").unwrap();
        let a = AttemptId::random();
        let b = AttemptId::random();
        let stored = k.code_hash(a, &code);
        assert!(k.code_matches(a, &code, &stored));
        assert!(!k.code_matches(b, &code, &stored));
        assert!(!k.code_matches(a, &Passcode::parse("123457").unwrap(), &stored));
        let other_key = SecretKey::new(vec![8u8; 32]).unwrap();
        assert!(!other_key.code_matches(a, &code, &stored));
    }

    #[test]
    fn lock_doubles_from_fifteen_minutes_to_a_day() {
        assert_eq!(lock_duration(0), Duration::minutes(15));
        assert_eq!(lock_duration(1), Duration::minutes(30));
        assert_eq!(lock_duration(2), Duration::minutes(60));
        assert_eq!(lock_duration(6), Duration::hours(16));
        assert_eq!(lock_duration(7), Duration::hours(24));
        assert_eq!(lock_duration(100), Duration::hours(24));
    }

    #[test]
    fn short_keys_are_refused_and_debug_hides_secrets() {
        assert!(SecretKey::new(vec![0u8; 31]).is_err());
        assert_eq!(
            format!("{:?}", Passcode::parse("123456").unwrap()),
            "Passcode(******)"
        );
        assert!(!format!("{:?}", key()).contains('7'));
    }
}
