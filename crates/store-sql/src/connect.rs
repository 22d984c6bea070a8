//! Opening the database: pools, pragmas (asserted), migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use store::StoreError;

use crate::db_err;

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// PostgreSQL only: use (and create) this schema; tests give each test its own.
    pub postgres_schema: Option<String>,
    /// Connections for readers (SQLite) or for everything (PostgreSQL). Default 8.
    pub max_connections: Option<u32>,
}

pub(crate) enum Backend {
    /// SQLite allows one writer at a time: units of work go through the one
    /// writer connection, committed in groups; reads through idle reader
    /// connections on the calling thread (`lite.rs`). sqlx keeps one
    /// connection for the migrations and the backup's snapshot.
    Sqlite {
        writer: std::sync::Arc<crate::lite::Writer>,
        read: crate::lite::Readers,
        admin: SqlitePool,
    },
    Postgres(PgPool),
}

/// The store over either backend.
pub struct SqlStore {
    pub(crate) backend: Backend,
    /// The end of the audit chain as this process last wrote it: a guess that
    /// saves reading it back before the next append (see `append_audit`).
    pub(crate) audit_tip: AuditTip,
    /// The key this process keeps the audit chain with, once
    /// [`store::Store::open_audit_chain`] has run.
    pub(crate) audit_key: AuditKey,
}

/// The last audit row's `(seq, hash)`, if this process has written one.
pub(crate) type AuditTip = std::sync::Arc<std::sync::Mutex<Option<(i64, Vec<u8>)>>>;

/// The audit chain's key, shared with every transaction of the store.
pub(crate) type AuditKey = std::sync::Arc<std::sync::RwLock<Option<domain::audit::ChainKey>>>;

impl SqlStore {
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs the migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match &self.backend {
            Backend::Sqlite { admin, .. } => sqlx::migrate!("./migrations/sqlite").run(admin).await,
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        };
        result.map_err(|e| StoreError::Database(Box::new(e)))
    }

    /// Runs raw SQL: for operators' repairs and for tests that tamper on purpose.
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let sql = sql.to_owned();
                writer
                    .exclusive(move |c| {
                        let before = c.total_changes();
                        c.execute_batch(&sql)
                            .map(|()| c.total_changes().saturating_sub(before))
                    })
                    .await?
                    .map_err(db_err)
            }
            Backend::Postgres(pool) => sqlx::raw_sql(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err),
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite {
                writer,
                read,
                admin,
            } => {
                writer.close().await;
                read.close();
                admin.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

// Issue 14, metrics (begin) ---------------------------------------------------

/// One connection pool as it is now (metrics): `read` and `write` on SQLite,
/// `main` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub pool: &'static str,
    /// Connections open, idle or in use.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolStats {
    fn of<DB: sqlx::Database>(pool: &'static str, p: &sqlx::Pool<DB>) -> Self {
        Self {
            pool,
            open: p.size(),
            idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
            max: p.options().get_max_connections(),
        }
    }

    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

impl SqlStore {
    /// SQLite's group commit so far (`None` on PostgreSQL, which has no groups).
    pub fn group_commit_stats(&self) -> Option<crate::lite::GroupCommitStats> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => Some(writer.stats()),
            Backend::Postgres(_) => None,
        }
    }

    /// The pools' connections right now (no database work).
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        match &self.backend {
            Backend::Sqlite { writer, read, .. } => {
                let (open, idle, max) = read.stats();
                vec![
                    PoolStats {
                        pool: "write",
                        open: 1,
                        idle: u32::from(!writer.busy()),
                        max: 1,
                    },
                    PoolStats {
                        pool: "read",
                        open,
                        idle,
                        max,
                    },
                ]
            }
            Backend::Postgres(pool) => vec![PoolStats::of("main", pool)],
        }
    }
}

// Issue 14, metrics (end) -----------------------------------------------------

/// Opens `sqlite://path` (created if missing) or `postgres://…`.
pub async fn connect(url: &str, options: ConnectOptions) -> Result<SqlStore, StoreError> {
    let max = options.max_connections.unwrap_or(8);
    if url.starts_with("sqlite:") {
        connect_sqlite(url, max).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        connect_postgres(url, options.postgres_schema.as_deref(), max).await
    } else {
        Err(StoreError::Database(
            "PORTAL_DATABASE_URL must start with sqlite:// or postgres://".into(),
        ))
    }
}

async fn connect_sqlite(url: &str, max: u32) -> Result<SqlStore, StoreError> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(db_err)?
        .create_if_missing(true)
        // Durability: WAL with synchronous=FULL syncs the log at every commit,
        // so a committed transaction survives power loss.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .pragma("temp_store", "memory")
        // Deleted and overwritten content (e.g. an email body once sent) is
        // zeroed on disk rather than left in free pages.
        .pragma("secure_delete", "on");
    if let Some(dir) = opts.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(Box::new(e)))?;
    }
    // The migrations and the backup's snapshot go through sqlx, on one
    // connection that closes when idle.
    let admin = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(Duration::from_secs(30))
        .connect_with(opts.clone())
        .await
        .map_err(db_err)?;
    let path = opts.get_filename().to_path_buf();
    let writer = crate::lite::Writer::new(crate::lite::open(&path)?);
    let read = crate::lite::Readers::new(path, max)?;
    Ok(SqlStore {
        backend: Backend::Sqlite {
            writer,
            read,
            admin,
        },
        audit_tip: AuditTip::default(),
        audit_key: AuditKey::default(),
    })
}

async fn connect_postgres(
    url: &str,
    schema: Option<&str>,
    max: u32,
) -> Result<SqlStore, StoreError> {
    let mut opts = PgConnectOptions::from_str(url).map_err(db_err)?;
    if let Some(schema) = schema {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Database("invalid schema name".into()));
        }
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(db_err)?;
        sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&admin)
            .await
            .map_err(db_err)?;
        admin.close().await;
        opts = opts.options([("search_path", schema)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(max)
        // While the database is unreachable a request waits this long for a
        // connection, then answers 503 (StoreError::Unavailable): a few
        // seconds, so clients and load balancers are not left hanging. Broken
        // connections are tested before use (sqlx's default), so the pool
        // recovers by itself when the database returns.
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(opts)
        .await
        .map_err(db_err)?;
    Ok(SqlStore {
        backend: Backend::Postgres(pool),
        audit_tip: AuditTip::default(),
        audit_key: AuditKey::default(),
    })
}
