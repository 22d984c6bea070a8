//! Multi-row statements, for the legacy import's bulk methods (`tx_impl.rs`,
//! section "Legacy import").
//!
//! A million users must import in well under a minute, in one transaction, so
//! those methods write [`ROWS_PER_STATEMENT`] rows per statement. PostgreSQL
//! allows 65,535 bind parameters per statement and SQLite 32,766; at ten
//! columns a batch binds 5,000. Both backends run the same SQL.

use crate::tx_impl::{SqlTx, TxInner};

/// Rows per statement: large enough that statements, not rows, dominate the
/// cost; small enough to stay far below both databases' parameter limits.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters; with
/// `anonymous`, `(?, ?), (?, ?)`.
fn values(columns: usize, rows: usize, anonymous: bool) -> String {
    let mut s = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..columns {
            if c > 0 {
                s.push_str(", ");
            }
            if anonymous {
                s.push('?');
            } else {
                s.push('$');
                s.push_str(&(r * columns + c + 1).to_string());
            }
        }
        s.push(')');
    }
    s
}

impl SqlTx {
    /// The parameter list of a bulk statement. SQLite gets anonymous `?`
    /// parameters: for numbered ones the driver looks every number up by name,
    /// which SQLite answers by a linear search, so a statement of n numbered
    /// parameters costs n² (three quarters of the whole import's time at 5,000).
    pub(crate) fn values(&self, columns: usize, rows: usize) -> String {
        values(columns, rows, matches!(self.inner, TxInner::Sqlite(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn values_numbers_every_parameter_once() {
        assert_eq!(values(2, 2, false), "($1, $2), ($3, $4)");
        assert_eq!(values(3, 1, false), "($1, $2, $3)");
        assert_eq!(values(2, 2, true), "(?, ?), (?, ?)");
    }
}
