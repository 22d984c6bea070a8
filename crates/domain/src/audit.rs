//! The audit trail (PRODUCT §8): append-only, each row chained to the one before.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::otp::SecretKey;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// The request was refused (permission, limits, bad input, rejected code).
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Refused => "refused",
        }
    }
}

/// The hash the first row is chained to.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// One audit row's content, as hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    /// Free text or JSON: reason, before/after.
    pub detail: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// The key the chain is kept with: derived from the server's secret key, so
/// that someone who can write to the database but does not hold the key cannot
/// rewrite rows and recompute the hashes after them.
#[derive(Clone)]
pub struct ChainKey(SecretKey);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainKey({})", self.id())
    }
}

impl ChainKey {
    /// The chain's key for a server key (one-way: the chain key reveals
    /// nothing of the server key, which also keys codes and sessions).
    pub fn derive(secret: &SecretKey) -> Self {
        let bytes = secret.mac("audit chain key v1", &[]);
        match SecretKey::new(bytes.to_vec()) {
            Ok(k) => Self(k),
            Err(_) => unreachable!("a MAC is 32 bytes long"),
        }
    }

    /// A public name for the key (16 hex digits): which key a stretch of the
    /// chain was kept with, without revealing it.
    pub fn id(&self) -> String {
        hex::encode(&self.0.mac("audit key id", &[])[..8])
    }

    /// Vouches that the keyed chain starts (or changes key) at row `from_seq`,
    /// after the stretch that started at `previous_from_seq` (0 for the first):
    /// removing an earlier record breaks every later one.
    pub fn epoch_mac(&self, from_seq: i64, key_id: &str, previous_from_seq: i64) -> [u8; 32] {
        self.0.mac(
            "audit epoch",
            &[
                &from_seq.to_be_bytes(),
                key_id.as_bytes(),
                &previous_from_seq.to_be_bytes(),
            ],
        )
    }

    /// Vouches for an export's last row (`portal audit export`).
    pub fn head_mac(&self, seq: i64, hash: &[u8]) -> [u8; 32] {
        self.0.mac("audit head", &[&seq.to_be_bytes(), hash])
    }
}

/// How a row is linked to the one before.
#[derive(Debug, Clone, Copy)]
pub enum Link<'a> {
    /// SHA-256: rows written before the chain was keyed (before issue 13).
    Plain,
    /// HMAC-SHA256 under the chain key: every row since.
    Keyed(&'a ChainKey),
}

impl AuditEntry {
    /// The hash of this row chained to `prev`: over the previous row's hash and
    /// this row's fields, each length-prefixed, times as Unix microseconds.
    /// Changing any field, or deleting or reordering rows, breaks the chain
    /// from that row on; with [`Link::Keyed`] only the key's holder can
    /// compute a valid hash.
    pub fn chain_hash(&self, link: Link<'_>, prev: &[u8]) -> [u8; 32] {
        let bytes = self.encoded(prev);
        match link {
            Link::Plain => Sha256::digest(&bytes).into(),
            Link::Keyed(key) => key.0.mac("audit row", &[&bytes]),
        }
    }

    fn encoded(&self, prev: &[u8]) -> Vec<u8> {
        fn put(h: &mut Vec<u8>, bytes: &[u8]) {
            h.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            h.extend_from_slice(bytes);
        }
        fn opt(h: &mut Vec<u8>, s: Option<&[u8]>) {
            match s {
                Some(b) => {
                    h.push(1);
                    put(h, b)
                }
                None => h.push(0),
            }
        }
        let mut h = Vec::with_capacity(256 + self.detail.len());
        put(&mut h, prev);
        put(&mut h, &self.seq.to_be_bytes());
        put(
            &mut h,
            &(self.at.unix_timestamp_nanos() / 1000).to_be_bytes(),
        );
        opt(
            &mut h,
            self.actor_id.as_ref().map(|u| u.as_bytes().as_slice()),
        );
        opt(
            &mut h,
            self.organisation_id
                .as_ref()
                .map(|u| u.as_bytes().as_slice()),
        );
        put(&mut h, self.action.as_bytes());
        opt(&mut h, self.target.as_deref().map(str::as_bytes));
        put(&mut h, self.outcome.as_str().as_bytes());
        put(&mut h, self.detail.as_bytes());
        opt(&mut h, self.request_id.as_deref().map(str::as_bytes));
        opt(&mut h, self.ip.as_deref().map(str::as_bytes));
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn entry() -> AuditEntry {
        AuditEntry {
            seq: 1,
            at: datetime!(2026-01-01 0:00 UTC),
            actor_id: None,
            organisation_id: None,
            action: "sign_in.code_requested".into(),
            target: Some("a@example.com".into()),
            outcome: Outcome::Success,
            detail: String::new(),
            request_id: Some("r1".into()),
            ip: None,
        }
    }

    /// `entry()` under the SHA-256 chain as versions before the keyed chain wrote it.
    const PLAIN_HASH_OF_ENTRY: &str =
        "602e28715ebee85118800fedfe3b7c345d57ebeb062b6eb2c90f858f3635cbf9";

    fn key(byte: u8) -> ChainKey {
        ChainKey::derive(&SecretKey::new(vec![byte; 32]).unwrap())
    }

    #[test]
    fn a_keyed_link_needs_the_key() {
        let (a, b) = (key(1), key(2));
        let e = entry();
        let plain = e.chain_hash(Link::Plain, &GENESIS);
        assert_ne!(e.chain_hash(Link::Keyed(&a), &GENESIS), plain);
        assert_ne!(
            e.chain_hash(Link::Keyed(&a), &GENESIS),
            e.chain_hash(Link::Keyed(&b), &GENESIS)
        );
        assert_eq!(
            e.chain_hash(Link::Keyed(&a), &GENESIS),
            e.chain_hash(Link::Keyed(&key(1)), &GENESIS)
        );
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
        assert_ne!(a.epoch_mac(1, &a.id(), 0), a.epoch_mac(2, &a.id(), 0));
        assert_ne!(a.epoch_mac(5, &a.id(), 0), a.epoch_mac(5, &a.id(), 1));
        assert!(!format!("{a:?}").contains("SecretKey"));
    }

    #[test]
    fn the_plain_link_is_the_sha256_chain_of_earlier_versions() {
        // Rows written before the chain was keyed must still verify.
        assert_eq!(
            hex::encode(entry().chain_hash(Link::Plain, &GENESIS)),
            PLAIN_HASH_OF_ENTRY
        );
    }

    #[test]
    fn any_change_changes_the_hash() {
        let k = key(1);
        for link in [Link::Plain, Link::Keyed(&k)] {
            any_change_changes(link);
        }
    }

    fn any_change_changes(link: Link<'_>) {
        let base = entry().chain_hash(link, &GENESIS);
        let mut e = entry();
        e.target = Some("b@example.com".into());
        assert_ne!(e.chain_hash(link, &GENESIS), base);
        let mut e = entry();
        e.outcome = Outcome::Refused;
        assert_ne!(e.chain_hash(link, &GENESIS), base);
        assert_ne!(entry().chain_hash(link, &[1u8; 32]), base);
        // Moving a character between fields is also detected.
        let mut e = entry();
        e.action = "sign_in.code_requesteda".into();
        e.target = Some("@example.com".into());
        assert_ne!(e.chain_hash(link, &GENESIS), base);
    }
}
