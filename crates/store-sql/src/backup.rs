//! What `portal backup` and `portal restore` need from the database (issue 14):
//! a consistent snapshot (SQLite `VACUUM INTO`; PostgreSQL an exported
//! snapshot that `pg_dump --snapshot` reads), and, read in that same snapshot,
//! the row count of every table and the stored files the rows name.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Postgres, Row};
use store::StoreError;

use crate::connect::Backend;
use crate::{SqlStore, db_err};

/// Rows per table, and the files the `stored_files` rows name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub tables: BTreeMap<String, i64>,
    pub files: Vec<StoredObject>,
}

/// One uploaded file as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: i64,
    pub sha256: Vec<u8>,
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
const POSTGRES_TABLES: &str =
    "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1";
const FILES: &str = "SELECT storage_key, size, sha256 FROM stored_files ORDER BY storage_key";

fn quoted(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

/// Reads [`Contents`] through `$ex` (a pool, a connection or a transaction).
macro_rules! contents {
    ($ex:expr, $tables:expr) => {{
        let names: Vec<String> = sqlx::query_scalar($tables)
            .fetch_all(&mut *$ex)
            .await
            .map_err(db_err)?;
        let mut contents = Contents::default();
        for name in &names {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quoted(name)))
                .fetch_one(&mut *$ex)
                .await
                .map_err(db_err)?;
            contents.tables.insert(name.clone(), n);
        }
        if names.iter().any(|n| n == "stored_files") {
            for row in sqlx::query(FILES)
                .fetch_all(&mut *$ex)
                .await
                .map_err(db_err)?
            {
                contents.files.push(StoredObject {
                    key: row.try_get(0).map_err(db_err)?,
                    size: row.try_get(1).map_err(db_err)?,
                    sha256: row.try_get(2).map_err(db_err)?,
                });
            }
        }
        Ok::<Contents, StoreError>(contents)
    }};
}

impl SqlStore {
    /// Tables in the database (PostgreSQL: in any schema but the system's):
    /// restore loads only into a database that has none.
    pub async fn table_count(&self) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite { admin: read, .. } => sqlx::query_scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_one(read)
            .await
            .map_err(db_err),
            Backend::Postgres(pool) => sqlx::query_scalar(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_one(pool)
            .await
            .map_err(db_err),
        }
    }

    /// What the database holds now (after a restore, to compare with the manifest).
    pub async fn contents(&self) -> Result<Contents, StoreError> {
        match &self.backend {
            Backend::Sqlite { admin: read, .. } => {
                let mut c = read.acquire().await.map_err(db_err)?;
                let c: &mut sqlx::SqliteConnection = &mut c;
                contents!(c, SQLITE_TABLES)
            }
            Backend::Postgres(pool) => {
                let mut c = pool.acquire().await.map_err(db_err)?;
                let c: &mut sqlx::PgConnection = &mut c;
                contents!(c, POSTGRES_TABLES)
            }
        }
    }

    /// SQLite: writes a consistent copy of the database, as of one moment, to
    /// `into` (which must not exist or be empty), while others go on writing.
    pub async fn sqlite_snapshot(&self, into: &Path) -> Result<(), StoreError> {
        let Backend::Sqlite { admin: read, .. } = &self.backend else {
            return Err(StoreError::Database("not a SQLite database".into()));
        };
        let path = into
            .to_str()
            .ok_or_else(|| StoreError::Database("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(read)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// PostgreSQL: starts a read-only repeatable-read transaction and exports
    /// its snapshot, for `pg_dump --snapshot` to dump exactly what it sees.
    pub async fn postgres_snapshot(&self) -> Result<PgSnapshot, StoreError> {
        let Backend::Postgres(pool) = &self.backend else {
            return Err(StoreError::Database("not a PostgreSQL database".into()));
        };
        let mut tx = pool.begin().await.map_err(db_err)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(PgSnapshot { tx, id })
    }
}

/// An open PostgreSQL snapshot (see [`SqlStore::postgres_snapshot`]).
pub struct PgSnapshot {
    tx: sqlx::Transaction<'static, Postgres>,
    /// For `pg_dump --snapshot`.
    pub id: String,
}

impl PgSnapshot {
    /// The contents as of the snapshot.
    pub async fn contents(&mut self) -> Result<Contents, StoreError> {
        let tx: &mut sqlx::PgConnection = &mut self.tx;
        contents!(tx, POSTGRES_TABLES)
    }

    pub async fn end(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(db_err)
    }
}

/// The contents of a SQLite snapshot file, read without changing a byte of it.
pub async fn sqlite_file_contents(path: &Path) -> Result<Contents, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let mut c = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err)?;
    let ex = &mut c;
    let contents = contents!(ex, SQLITE_TABLES);
    let _ = c.close().await;
    contents
}
