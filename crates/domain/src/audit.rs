//! The audit trail (PRODUCT §8): append-only, each row chained to the one before.

use serde::Serialize;
use sha2::{Digest, Sha256};
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

impl AuditEntry {
    /// SHA-256 over the previous row's hash and this row's fields, each
    /// length-prefixed, times as Unix microseconds. Changing any field, or
    /// deleting or reordering rows, breaks the chain from that row on.
    pub fn chain_hash(&self, prev: &[u8]) -> [u8; 32] {
        fn put(h: &mut Sha256, bytes: &[u8]) {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        fn opt(h: &mut Sha256, s: Option<&[u8]>) {
            match s {
                Some(b) => {
                    h.update([1]);
                    put(h, b)
                }
                None => h.update([0]),
            }
        }
        let mut h = Sha256::new();
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
        h.finalize().into()
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

    #[test]
    fn any_change_changes_the_hash() {
        let base = entry().chain_hash(&GENESIS);
        let mut e = entry();
        e.target = Some("b@example.com".into());
        assert_ne!(e.chain_hash(&GENESIS), base);
        let mut e = entry();
        e.outcome = Outcome::Refused;
        assert_ne!(e.chain_hash(&GENESIS), base);
        assert_ne!(entry().chain_hash(&[1u8; 32]), base);
        // Moving a character between fields is also detected.
        let mut e = entry();
        e.action = "sign_in.code_requesteda".into();
        e.target = Some("@example.com".into());
        assert_ne!(e.chain_hash(&GENESIS), base);
    }
}
