//! Work that one process does for all: demonstration data loads once, however
//! many replicas start together on one empty PostgreSQL database (issue 14).

use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use store::StoreResult;

use crate::connect::{Backend, SqlStore};
use crate::db_err;

/// The advisory lock's number (the audit chain's is 7262001).
const STARTUP_LOCK: i64 = 7_262_002;

/// Held while a process does its start-up work; the next process starting
/// waits for it. SQLite is one process's database: there is nothing to wait for.
pub struct StartupLock(Option<PoolConnection<Postgres>>);

impl SqlStore {
    /// Waits until no other process is doing its start-up work, then holds the
    /// start-up lock until [`StartupLock::release`] (or until this process dies:
    /// the lock belongs to its database session).
    pub async fn startup_lock(&self) -> StoreResult<StartupLock> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(StartupLock(None));
        };
        let mut conn = pool.acquire().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(STARTUP_LOCK)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(StartupLock(Some(conn)))
    }
}

impl StartupLock {
    pub async fn release(mut self) -> StoreResult<()> {
        if let Some(mut conn) = self.0.take() {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(STARTUP_LOCK)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        // Not released (an error on the way): the connection must not go back
        // to the pool still holding the lock; closing it releases the lock.
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}
