//! Sessions (PRODUCT §3): random bearer tokens, stored only as their SHA-256.

use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// `last_seen_at` is written at most this often, so reads stay reads.
pub const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// A session token as handed to the browser or API client (256 bits, hex).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

impl SessionToken {
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// A token presented by a client; anything not shaped like ours is refused early.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks sessions up by.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

/// Whether a session is still live at `now`.
pub fn is_live(
    created_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    now < last_seen_at + IDLE_TIMEOUT && now < created_at + ABSOLUTE_TIMEOUT
}

/// When a session stops being valid, at the latest, if nothing more happens.
pub fn ends_at(created_at: OffsetDateTime, last_seen_at: OffsetDateTime) -> OffsetDateTime {
    (last_seen_at + IDLE_TIMEOUT).min(created_at + ABSOLUTE_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use time::macros::datetime;

    #[test]
    fn tokens_have_256_bits_and_only_their_hash_identifies_them() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let t = SessionToken::generate(&mut rng);
        assert_eq!(t.expose().len(), 64);
        assert_eq!(SessionToken::parse(t.expose()), Some(t.clone()));
        assert_eq!(t.hash().len(), 32);
        assert!(SessionToken::parse("abc").is_none());
        assert!(SessionToken::parse(&"G".repeat(64)).is_none());
    }

    #[test]
    fn idle_and_absolute_timeouts() {
        let start = datetime!(2026-01-01 09:00 UTC);
        assert!(is_live(start, start, start + Duration::minutes(29)));
        assert!(!is_live(start, start, start + Duration::minutes(30)));
        let busy = start + Duration::hours(11) + Duration::minutes(59);
        assert!(is_live(start, busy, busy + Duration::seconds(59)));
        assert!(!is_live(start, busy, start + Duration::hours(12)));
        assert_eq!(ends_at(start, busy), start + Duration::hours(12));
    }
}
