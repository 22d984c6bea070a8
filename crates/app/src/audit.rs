//! Keeping the audit trail honest (`portal audit verify`, `portal audit export`).
//!
//! Rows are chained: each row's hash covers the previous row's hash and its own
//! fields. Since issue 13 the hash is an HMAC under a key derived from
//! `PORTAL_SECRET_KEY` ([`ChainKey`]), so someone who can write to the database
//! but does not hold the key cannot rewrite a row and recompute the hashes after
//! it. Rows written before that (plain SHA-256) come first; where the keyed
//! chain starts, and any later change of key, is recorded in `audit_chain_keys`
//! and vouched for by the key itself. Cutting rows off the end leaves a chain
//! that is valid as far as it goes: an export's head, kept elsewhere, shows it
//! (`portal audit verify --against FILE`).

use std::io::{BufRead, Write};

use domain::audit::{ChainKey, GENESIS, Link};
use serde::{Deserialize, Serialize};
use store::{AuditRecord, ChainEpoch, StoreError};

use crate::App;

/// What `portal audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows read.
    pub rows: i64,
    /// Rows chained without a key, by versions before the chain was keyed.
    pub unkeyed_rows: i64,
    /// The stretches of the chain and their keys' ids.
    pub epochs: Vec<(i64, String)>,
    /// The first row whose link or content does not match, and why.
    pub first_broken: Option<(i64, String)>,
}

/// The last line of an export: the row the trail ended at when it was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    /// Hex of that row's hash ([`GENESIS`] when the trail was empty).
    pub hash: String,
    /// Which key vouches for the head, and its MAC over `seq` and `hash`.
    pub key_id: String,
    pub mac: String,
    /// When the export was written (RFC 3339).
    pub exported_at: String,
}

/// One row of an export, as written (hashes in hex).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedRow {
    pub seq: i64,
    pub at: String,
    pub actor_id: Option<String>,
    pub organisation_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize, Deserialize)]
struct HeadLine {
    chain_head: ChainHead,
}

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub rows: i64,
    pub head: ChainHead,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditFileError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The export file is not one `portal audit export` wrote, or was altered.
    #[error("{0}")]
    Invalid(String),
}

/// Reading the whole trail in order, this many rows at a time.
const BATCH: i64 = 1000;

impl App {
    /// The keys `portal audit verify` can check with: the server's own first,
    /// then `previous` (earlier `PORTAL_SECRET_KEY`s, after a rotation).
    pub fn chain_keys(&self, previous: &[domain::otp::SecretKey]) -> Vec<ChainKey> {
        std::iter::once(&self.key)
            .chain(previous)
            .map(ChainKey::derive)
            .collect()
    }

    /// Reads the whole trail in order, recomputing every hash with the key of
    /// the stretch each row belongs to (`keys`: see [`App::chain_keys`]).
    pub async fn verify_audit_chain(&self, keys: &[ChainKey]) -> Result<ChainReport, StoreError> {
        let epochs = self.store.audit_chain_epochs().await?;
        let mut report = ChainReport {
            rows: 0,
            unkeyed_rows: 0,
            epochs: epochs
                .iter()
                .map(|e| (e.from_seq, e.key_id.clone()))
                .collect(),
            first_broken: None,
        };
        // Each stretch's key, checked against the record that vouches for it.
        let mut stretches: Vec<(i64, &ChainKey)> = Vec::new();
        for e in &epochs {
            let previous = stretches.last().map_or(0, |(from, _)| *from);
            match check_epoch(e, previous, keys) {
                Ok(key) => stretches.push((e.from_seq, key)),
                Err(why) => {
                    report.first_broken = Some((e.from_seq, why));
                    return Ok(report);
                }
            }
        }
        let mut prev = GENESIS.to_vec();
        let mut expected_seq = 1;
        loop {
            let batch = self.store.audit_after(expected_seq - 1, BATCH).await?;
            if batch.is_empty() {
                return Ok(report);
            }
            for r in batch {
                report.rows += 1;
                let seq = r.entry.seq;
                let link = match stretches.iter().rev().find(|(from, _)| *from <= seq) {
                    Some((_, key)) => Link::Keyed(key),
                    None if stretches.is_empty() => {
                        report.first_broken = Some((
                            seq,
                            "the record of where the keyed chain starts is missing \
                             (table audit_chain_keys)"
                                .into(),
                        ));
                        return Ok(report);
                    }
                    None => {
                        report.unkeyed_rows += 1;
                        Link::Plain
                    }
                };
                let broken = if seq != expected_seq {
                    Some("a row is missing before this one")
                } else if r.prev_hash != prev {
                    Some("its link to the previous row does not match")
                } else if r.hash != r.entry.chain_hash(link, &prev) {
                    Some("its content does not match its hash")
                } else {
                    None
                };
                if let Some(why) = broken {
                    report.first_broken = Some((seq, why.into()));
                    return Ok(report);
                }
                prev = r.hash;
                expected_seq += 1;
            }
        }
    }

    /// The operator's one-off step after upgrading from the unkeyed chain
    /// (`portal audit adopt-unkeyed --through N`): rows `1..=through` must be
    /// the whole trail and an unbroken plain SHA-256 chain; the server's key
    /// keeps the chain from the next row on.
    pub async fn adopt_unkeyed_audit(&self, through: i64) -> Result<ChainEpoch, AuditFileError> {
        let mut prev = GENESIS.to_vec();
        let mut seq = 0;
        loop {
            let batch = self.store.audit_after(seq, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let expected = seq + 1;
                if r.entry.seq != expected
                    || r.prev_hash != prev
                    || r.hash != r.entry.chain_hash(Link::Plain, &prev)
                {
                    return Err(AuditFileError::Invalid(format!(
                        "row {expected} does not continue the unkeyed chain: not adopted"
                    )));
                }
                seq = r.entry.seq;
                prev = r.hash;
            }
        }
        if seq != through {
            return Err(AuditFileError::Invalid(format!(
                "the audit trail ends at row {seq}, not row {through}: not adopted"
            )));
        }
        self.store
            .adopt_unkeyed_audit(ChainKey::derive(&self.key), through, self.clock.now())
            .await
            .map_err(|e| match e {
                StoreError::Corrupt(why) => AuditFileError::Invalid(why),
                e => e.into(),
            })
    }

    /// Writes the rows after `since` to `out` as JSON lines, then the chain's
    /// head vouched for by the server's key.
    pub async fn export_audit(
        &self,
        since: i64,
        out: &mut dyn Write,
    ) -> Result<ExportSummary, AuditFileError> {
        let key = ChainKey::derive(&self.key);
        let (mut head_seq, mut head_hash) = (since, None);
        if since > 0 {
            let before = self.store.audit_after(since - 1, 1).await?;
            match before.first() {
                Some(r) if r.entry.seq == since => head_hash = Some(r.hash.clone()),
                _ => {
                    return Err(AuditFileError::Invalid(format!(
                        "there is no audit row {since} to export after"
                    )));
                }
            }
        }
        let mut rows = 0;
        loop {
            let batch = self.store.audit_after(head_seq, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                serde_json::to_writer(&mut *out, &exported(&r))
                    .map_err(|e| AuditFileError::Io(e.into()))?;
                out.write_all(b"\n")?;
                rows += 1;
                head_seq = r.entry.seq;
                head_hash = Some(r.hash);
            }
        }
        let hash = head_hash.unwrap_or_else(|| GENESIS.to_vec());
        let head = ChainHead {
            seq: head_seq,
            mac: hex::encode(key.head_mac(head_seq, &hash)),
            hash: hex::encode(&hash),
            key_id: key.id(),
            exported_at: self
                .clock
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        serde_json::to_writer(
            &mut *out,
            &HeadLine {
                chain_head: head.clone(),
            },
        )
        .map_err(|e| AuditFileError::Io(e.into()))?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(ExportSummary { rows, head })
    }

    /// Compares the trail with an earlier export: every exported row must
    /// still be there unchanged, and the trail must reach the export's head.
    /// `Ok(None)` when it does; otherwise the first difference. The file is
    /// read once, as a stream.
    pub async fn compare_with_export(
        &self,
        keys: &[ChainKey],
        file: &mut dyn BufRead,
    ) -> Result<Option<(i64, String)>, AuditFileError> {
        let mut trail = TrailReader::default();
        let mut head = None;
        let mut last_row: Option<(i64, String)> = None;
        let mut first_difference = None;
        for (n, line) in file.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if head.is_some() {
                return Err(AuditFileError::Invalid(format!(
                    "line {}: the export goes on after its chain head",
                    n + 1
                )));
            }
            if let Ok(h) = serde_json::from_str::<HeadLine>(&line) {
                head = Some(h.chain_head);
                continue;
            }
            let row: ExportedRow = serde_json::from_str(&line).map_err(|e| {
                AuditFileError::Invalid(format!("line {}: not an exported audit row: {e}", n + 1))
            })?;
            if last_row.as_ref().is_some_and(|(seq, _)| row.seq != seq + 1) {
                return Err(AuditFileError::Invalid(format!(
                    "line {}: row {} does not follow the row before it",
                    n + 1,
                    row.seq
                )));
            }
            if first_difference.is_none() {
                first_difference = trail.compare(self, row.seq, &row.hash).await?;
            }
            last_row = Some((row.seq, row.hash));
        }
        let Some(head) = head else {
            return Err(AuditFileError::Invalid(
                "the export has no chain head: it was cut short or not written by \
                 `portal audit export`"
                    .into(),
            ));
        };
        let hash = hex::decode(&head.hash)
            .map_err(|_| AuditFileError::Invalid("the chain head's hash is not hex".into()))?;
        let vouched = keys
            .iter()
            .find(|k| k.id() == head.key_id)
            .is_some_and(|k| hex::encode(k.head_mac(head.seq, &hash)) == head.mac);
        if !vouched {
            return Err(AuditFileError::Invalid(format!(
                "the export's chain head is not vouched for by any key given (key {}): \
                 it was altered, or written with a key not supplied",
                head.key_id
            )));
        }
        match &last_row {
            Some((seq, h)) if *seq != head.seq || *h != head.hash => {
                return Err(AuditFileError::Invalid(
                    "the export's last row is not its chain head".into(),
                ));
            }
            // An export of no rows still names the row the trail ended at.
            None if head.seq > 0 && first_difference.is_none() => {
                first_difference = trail.compare(self, head.seq, &head.hash).await?;
            }
            _ => {}
        }
        Ok(first_difference.map(|(seq, why)| {
            (
                seq,
                format!(
                    "{why} (export of {}, ending at row {})",
                    head.exported_at, head.seq
                ),
            )
        }))
    }
}

/// The stored trail read forward alongside an export.
#[derive(Default)]
struct TrailReader {
    rows: std::collections::VecDeque<AuditRecord>,
    /// The last row read from the store.
    read_to: Option<i64>,
}

impl TrailReader {
    /// How the stored row `seq` differs from the exported one, if it does.
    async fn compare(
        &mut self,
        app: &App,
        seq: i64,
        exported_hash: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        while self.rows.front().is_some_and(|r| r.entry.seq < seq) {
            self.rows.pop_front();
        }
        if self.rows.is_empty() {
            let after = self.read_to.map_or(seq - 1, |r| r.max(seq - 1));
            self.rows.extend(app.store.audit_after(after, BATCH).await?);
            self.read_to = self.rows.back().map(|r| r.entry.seq).or(Some(after));
        }
        Ok(match self.rows.front() {
            Some(r) if r.entry.seq == seq => (hex::encode(&r.hash) != exported_hash)
                .then(|| (seq, "the stored row differs from the exported one".into())),
            Some(_) => Some((seq, "the exported row is missing from the trail".into())),
            None => Some((
                seq,
                "the trail ends before this exported row: rows were removed from the end".into(),
            )),
        })
    }
}

/// The key of a stretch, if one given is it and vouches for where it starts.
fn check_epoch<'k>(
    e: &ChainEpoch,
    previous: i64,
    keys: &'k [ChainKey],
) -> Result<&'k ChainKey, String> {
    let Some(key) = keys.iter().find(|k| k.id() == e.key_id) else {
        return Err(format!(
            "the rows from here on were chained with key {}, which is not among the keys \
             given (PORTAL_SECRET_KEY, PORTAL_PREVIOUS_SECRET_KEYS)",
            e.key_id
        ));
    };
    if key.epoch_mac(e.from_seq, &e.key_id, previous).as_slice() == e.mac.as_slice() {
        Ok(key)
    } else {
        Err("the record that the keyed chain starts here, or one before it, has been altered or removed".into())
    }
}

fn exported(r: &AuditRecord) -> ExportedRow {
    let e = &r.entry;
    ExportedRow {
        seq: e.seq,
        at: e
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        actor_id: e.actor_id.map(|u| u.to_string()),
        organisation_id: e.organisation_id.map(|o| o.to_string()),
        action: e.action.clone(),
        target: e.target.clone(),
        outcome: e.outcome.as_str().into(),
        detail: e.detail.clone(),
        request_id: e.request_id.clone(),
        ip: e.ip.clone(),
        prev_hash: hex::encode(&r.prev_hash),
        hash: hex::encode(&r.hash),
    }
}
