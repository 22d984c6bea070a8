//! Access keys (PRODUCT §5, seed 000): a secret the regulator posts to a head of
//! provider, which grants one role at one provider to whoever activates it.
//!
//! A key is 24 characters from an alphabet without look-alikes (no 0/O, 1/I/L,
//! nor U), about 117.8 bits of randomness, written in six groups of four. People
//! may type it in any case, with or without spaces and hyphens. Only a keyed hash
//! is stored; the key itself is shown once, when issued.

use rand::{CryptoRng, Rng};

use crate::otp::SecretKey;

/// 30 symbols: digits 2–9 and the letters without I, L, O and U.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 24 × log2(30) ≈ 117.8 bits.
pub const LEN: usize = 24;
const GROUP: usize = 4;

#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey(String);

// Never print a key, even in debug output.
impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey(…)")
    }
}

impl AccessKey {
    pub fn generate(rng: &mut (impl Rng + CryptoRng)) -> Self {
        let s = (0..LEN)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        Self(s)
    }

    /// Accepts what people type: any case, spaces and hyphens anywhere.
    pub fn parse(input: &str) -> Option<Self> {
        let s: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(Self(s))
    }

    /// The key as printed for the letter: `ABCD-EFGH-…`.
    pub fn grouped(&self) -> String {
        self.0
            .as_bytes()
            .chunks(GROUP)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// What is stored and looked up: HMAC-SHA256 under the server key.
    pub fn hash(&self, key: &SecretKey) -> [u8; 32] {
        key.mac("access-key", &[self.0.as_bytes()])
    }
}

/// Why an access key cannot be used, in the words shown to the person. Every
/// reason gives the same answer, so that nobody learns whether a key exists,
/// belongs to another provider, or has run out: the audit log keeps the reason.
pub const KEY_REFUSED: &str = "This access key is not valid. Check it and try again, or ask the person who sent it for a new one";

/// Wrong keys one person may enter in [`WRONG_KEY_WINDOW`] before being made to wait.
pub const MAX_WRONG_KEYS: u32 = 5;
pub const WRONG_KEY_WINDOW: time::Duration = time::Duration::minutes(15);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keys_have_over_a_hundred_bits_and_no_look_alikes() {
        let bits = (LEN as f64) * (ALPHABET.len() as f64).log2();
        assert!(bits >= 100.0, "{bits}");
        for c in ['0', 'O', '1', 'I', 'L', 'U'] {
            assert!(!ALPHABET.contains(&(c as u8)), "{c}");
        }
    }

    #[test]
    fn typed_keys_parse_in_any_case_and_grouping() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let k = AccessKey::generate(&mut rng);
        let g = k.grouped();
        assert_eq!(g.len(), LEN + LEN / GROUP - 1);
        assert_eq!(AccessKey::parse(&g), Some(k.clone()));
        assert_eq!(
            AccessKey::parse(&g.to_lowercase().replace('-', " ")),
            Some(k)
        );
        for bad in [
            "",
            "ABCD",
            &"A".repeat(25),
            &"0".repeat(24),
            &"é".repeat(24),
        ] {
            assert!(AccessKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_stored_hash_depends_on_the_server_key() {
        let k = AccessKey::parse(&"A".repeat(24)).unwrap();
        let a = SecretKey::new(vec![1u8; 32]).unwrap();
        let b = SecretKey::new(vec![2u8; 32]).unwrap();
        assert_ne!(k.hash(&a), k.hash(&b));
        assert_eq!(format!("{k:?}"), "AccessKey(…)");
    }
}
