//! The one [`store::Store`] implementation, for SQLite and PostgreSQL.
//!
//! Rust allows one `impl Trait for Type` block per trait, so the SQL of every
//! [`store::Store`] method is written in that method inside `impl Store for
//! SqlStore` (`store_impl.rs`) and of every [`store::StoreTx`] method inside
//! `impl StoreTx for SqlTx` (`tx_impl.rs`), each file in sections by feature
//! (sessions, users, organisations, …, data returns, legacy import) in the
//! same order, with no method that only forwards to another. The row types
//! and the handful of statements both of them run (a user, an organisation or
//! an access key by id, a user's roles, the areas) are in `rows.rs`, in the
//! same sections, so that every query is defined exactly once.
//!
//! Each query is written once, with `$1` placeholders that both backends accept,
//! as a `db::query…` statement (`db.rs`), and run on whichever backend is
//! configured through the `read!`/`tx!` dispatch macros: on SQLite a
//! `rusqlite` connection on the calling thread (`lite.rs`: readers, and one
//! writer that commits units in groups), on PostgreSQL sqlx. What genuinely differs stays here, in one place each: how time is
//! encoded (`ts`), the SQLite pragmas and single writer, and row locking on
//! PostgreSQL (`FOR NO KEY UPDATE`, `SKIP LOCKED`, the audit chain's advisory lock).

/// Runs `$body` with `$ex` bound to the read pool of whichever backend is configured.
macro_rules! read {
    ($store:expr, |$ex:ident| $body:expr) => {
        match &$store.backend {
            crate::connect::Backend::Sqlite { read, .. } => {
                let $ex = read;
                $body
            }
            crate::connect::Backend::Postgres(pool) => {
                let $ex = pool;
                $body
            }
        }
    };
}

/// As `read!`, for a statement that writes outside a unit of work: on SQLite
/// it runs as a unit of its own on the writer (committed with its group), on
/// PostgreSQL on the pool as one statement.
macro_rules! write {
    ($store:expr, |$ex:ident| $body:expr) => {
        write!($store, commit, |$ex| $body)
    };
    // `unsynced`: SQLite does not wait for the sync (see
    // `lite::LiteTx::commit_unsynced`): only for bookkeeping whose loss in a
    // crash harms nobody.
    ($store:expr, unsynced, |$ex:ident| $body:expr) => {
        write!(@run $store, |unit| async move { unit.commit_unsynced() }, |$ex| $body)
    };
    ($store:expr, commit, |$ex:ident| $body:expr) => {
        write!(@run $store, |unit| unit.commit(), |$ex| $body)
    };
    (@run $store:expr, |$unit:ident| $commit:expr, |$ex:ident| $body:expr) => {
        match &$store.backend {
            crate::connect::Backend::Sqlite { writer, .. } => match writer.begin().await {
                Ok(mut $unit) => {
                    let result = match $unit.conn() {
                        Some($ex) => $body,
                        None => Err(crate::db::DbError::Store(crate::lite::ended_error())),
                    };
                    match result {
                        Ok(v) => $commit
                            .await
                            .map(|()| v)
                            .map_err(crate::db::DbError::Store),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(crate::db::DbError::Store(e)),
            },
            crate::connect::Backend::Postgres(pool) => {
                let $ex = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the open transaction's connection.
macro_rules! tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut $tx.inner {
            crate::tx_impl::TxInner::Sqlite(t) => match t.conn() {
                Some($c) => $body,
                None => Err(crate::db::DbError::Store(crate::lite::ended_error())),
            },
            crate::tx_impl::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

pub mod backup; // backup and restore (issue 14)
mod bulk;
mod connect;
pub(crate) mod db;
mod lite;
mod rows;
mod startup;
mod store_impl;
mod ts;
mod tx_impl;

pub use connect::{ConnectOptions, PoolStats, SqlStore, connect};
pub use lite::GroupCommitStats;
pub use startup::StartupLock;

/// The migration folders' file names, for the test that keeps them in step.
pub const MIGRATIONS_SQLITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
pub const MIGRATIONS_POSTGRES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");

/// Maps a driver error into the store's terms; unique violations become conflicts.
pub(crate) fn db_err(e: impl Into<db::DbError>) -> store::StoreError {
    let e = match e.into() {
        db::DbError::Sqlx(e) => e,
        db::DbError::Lite(e) => return lite_err(e),
        db::DbError::Decode(why) => return store::StoreError::Corrupt(why),
        db::DbError::Store(e) => return e,
    };
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        let constraint = d
            .constraint()
            .map_or_else(|| d.message().to_owned(), str::to_owned);
        return store::StoreError::Conflict { constraint };
    }
    if unavailable(&e) {
        return store::StoreError::Unavailable(Box::new(e));
    }
    store::StoreError::Database(Box::new(e))
}

/// Errors that say the database cannot be reached just now, rather than that
/// it refused the statement: the connection was refused or lost, no
/// connection came free within the pool's acquire timeout, the server is
/// shutting down or starting (SQLSTATE class 08, 57P01–57P03, 53300), or
/// SQLite stayed busy past its busy timeout.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "5" | "517")
        }),
        _ => false,
    }
}

/// [`db_err`] for SQLite through rusqlite: the same conflicts and the same
/// "unavailable" (busy past the busy timeout).
fn lite_err(e: rusqlite::Error) -> store::StoreError {
    use rusqlite::ErrorCode;
    if let rusqlite::Error::SqliteFailure(f, message) = &e {
        // SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
        if matches!(f.extended_code, 2067 | 1555) {
            let constraint = message.clone().unwrap_or_else(|| f.to_string());
            return store::StoreError::Conflict { constraint };
        }
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) {
            return store::StoreError::Unavailable(Box::new(e));
        }
    }
    store::StoreError::Database(Box::new(e))
}
