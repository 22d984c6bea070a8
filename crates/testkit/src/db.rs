//! A fresh database for each test, on SQLite always and on PostgreSQL when
//! `PORTAL_TEST_POSTGRES_URL` is set. With `CI=true` PostgreSQL is required:
//! a missing URL or server fails the test instead of skipping it.

use std::sync::Arc;

use store_sql::{ConnectOptions, SqlStore, connect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Migrates a new test database and opens its audit chain with the store
/// tests' key (a test app, or a `portal` process, opens it again with its own
/// key before writing: with no rows yet, that key's stretch replaces this one).
async fn prepare(store: &SqlStore) {
    use store::Store;
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrations failed: {e:?}"));
    store
        .open_audit_chain(
            store::conformance::chain_key(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot open the audit chain: {e:?}"));
}

/// A migrated, empty database of its own.
pub struct TestDb {
    pub store: Arc<SqlStore>,
    /// The URL (and, for PostgreSQL, the schema) another process could open it with.
    pub url: String,
    pub schema: Option<String>,
}

impl TestDb {
    /// Another store on the same database, as another process would open it.
    pub async fn another_store(&self) -> SqlStore {
        connect(&self.url, options(self.schema.clone()))
            .await
            .unwrap_or_else(|e| panic!("cannot open {} again: {e:?}", self.url))
    }

    /// A database URL another process (the `portal` binary) can open this database with.
    pub fn process_url(&self) -> String {
        match &self.schema {
            None => self.url.clone(),
            Some(schema) => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}options=-c%20search_path%3D{schema}", self.url)
            }
        }
    }

    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("portal-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot make a temporary directory: {e}"));
        // Kept after the test, like any database a process left behind: the
        // store may still hold it open while the test finishes.
        let dir = dir.keep();
        let url = format!("sqlite://{}/portal.db", dir.display());
        let store = connect(&url, ConnectOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e:?}"));
        prepare(&store).await;
        Self {
            store: Arc::new(store),
            url,
            schema: None,
        }
    }

    /// `None` (the test passes without running) when no PostgreSQL URL is given
    /// outside CI.
    pub async fn postgres() -> Option<Self> {
        let url = match std::env::var("PORTAL_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!(
                    "CI=true but PORTAL_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI"
                )
            }
            _ => {
                eprintln!("PostgreSQL not configured (PORTAL_TEST_POSTGRES_URL unset): not run");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let store = connect(&url, options(Some(schema.clone())))
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url}: {e:?}"));
        prepare(&store).await;
        Some(Self {
            store: Arc::new(store),
            url,
            schema: Some(schema),
        })
    }
}

/// How tests connect: a few connections, in `schema` on PostgreSQL.
fn options(schema: Option<String>) -> ConnectOptions {
    ConnectOptions {
        postgres_schema: schema,
        max_connections: Some(4),
    }
}
