//! Checking the audit chain (`portal audit verify`).

use domain::audit::GENESIS;

use crate::App;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows read.
    pub rows: i64,
    /// The first row whose link or content does not match, and why.
    pub first_broken: Option<(i64, &'static str)>,
}

impl App {
    /// Reads the whole trail in order, recomputing every hash.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport, store::StoreError> {
        let mut prev = GENESIS.to_vec();
        let mut expected_seq = 1;
        let mut rows = 0;
        loop {
            let batch = self.store.audit_after(expected_seq - 1, 1000).await?;
            if batch.is_empty() {
                return Ok(ChainReport {
                    rows,
                    first_broken: None,
                });
            }
            for r in batch {
                rows += 1;
                let broken = if r.entry.seq != expected_seq {
                    Some("a row is missing before this one")
                } else if r.prev_hash != prev {
                    Some("its link to the previous row does not match")
                } else if r.hash != r.entry.chain_hash(&prev).to_vec() {
                    Some("its content does not match its hash")
                } else {
                    None
                };
                if let Some(why) = broken {
                    return Ok(ChainReport {
                        rows,
                        first_broken: Some((r.entry.seq, why)),
                    });
                }
                prev = r.hash;
                expected_seq += 1;
            }
        }
    }
}
