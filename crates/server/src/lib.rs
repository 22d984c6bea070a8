//! The `portal` program: assembles the store, the use cases, the web router and
//! the outbox worker from [`Config`], and runs them.

pub mod backup; // backup and restore (issue 14)
pub mod bench;
pub mod config;
pub mod connections; // bounded connections, graceful shutdown (issue 14)
pub mod metrics; // Prometheus metrics (issue 14)
pub mod storage; // object storage (issue 14)

use std::future::Future;
use std::sync::Arc;

use app::mail::{AllMailers, CaptureMailer, FileMailer, Mailer, SmtpMailer};
use app::{App, AppSettings, Clock};
use store_sql::{ConnectOptions, SqlStore};
use tokio::net::TcpListener;

pub use config::{Config, ConfigError, Environment};

/// Opens the configured database and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqlStore>> {
    let store = store_sql::connect(&config.database_url, ConnectOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e:?}"))?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("database migrations failed: {e:?}"))?;
    Ok(Arc::new(store))
}

/// Starts keeping the audit chain with the configured key (before anything is
/// written): the first time after an upgrade, and after a key rotation, this
/// records the row from which the new key keeps the chain (docs/decisions.md, "The keyed audit chain").
pub async fn open_audit_chain(
    store: &SqlStore,
    config: &Config,
) -> anyhow::Result<store::ChainEpoch> {
    use store::Store;
    let key = domain::audit::ChainKey::derive(&config.secret_key()?);
    let now = time::OffsetDateTime::now_utc();
    let epoch = store
        .open_audit_chain(key, now)
        .await
        .map_err(|e| match e {
            store::StoreError::Corrupt(why) => {
                anyhow::anyhow!("refusing to write to the audit trail: {why}")
            }
            e => anyhow::anyhow!("cannot open the audit chain: {e:?}"),
        })?;
    if epoch.created_at == now && epoch.from_seq > 1 {
        // An upgrade from the unkeyed chain, or a new key: operators note the row.
        tracing::warn!(
            from_row = epoch.from_seq,
            key_id = %epoch.key_id,
            "the audit chain is kept with a new key from this row on (see docs/decisions.md, \"The keyed audit chain\")"
        );
    }
    Ok(epoch)
}

/// The configured transports: SMTP if given, and `.eml` files if a directory is;
/// only the capture file when one is given (benchmarks).
pub fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    let from = config
        .mail_from
        .parse()
        .map_err(|e| anyhow::anyhow!("PORTAL_MAIL_FROM is not an address: {e}"))?;
    if let Some(path) = &config.mail_capture {
        return Ok(Arc::new(
            CaptureMailer::open(path).map_err(|e| anyhow::anyhow!("PORTAL_MAIL_CAPTURE: {e}"))?,
        ));
    }
    let mut all: Vec<Box<dyn Mailer>> = Vec::new();
    if let Some(url) = config.smtp_url.as_deref().filter(|u| !u.is_empty()) {
        all.push(Box::new(
            SmtpMailer::from_url(url, from).map_err(|e| anyhow::anyhow!("{e}"))?,
        ));
        let from = config
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(dir) = config.mail_dir() {
            all.push(Box::new(FileMailer::new(dir, from)));
        }
    } else if let Some(dir) = config.mail_dir() {
        all.push(Box::new(FileMailer::new(dir, from)));
    }
    if all.is_empty() {
        anyhow::bail!("no mail transport: set PORTAL_SMTP_URL or PORTAL_MAIL_DIR");
    }
    Ok(Arc::new(AllMailers(all)))
}

/// Everything the portal runs, assembled.
#[derive(Clone)]
pub struct Portal {
    pub app: App,
    pub web: web::WebState,
    pub mailer: Arc<dyn Mailer>,
}

impl Portal {
    pub fn assemble(
        config: &Config,
        store: Arc<SqlStore>,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
    ) -> Result<Self, ConfigError> {
        // Object storage (issue 14): uploaded files where PORTAL_FILES_URL says.
        let files = storage::file_store(config)?;
        Self::assemble_with_files(config, store, clock, mailer, files)
    }

    /// As [`Portal::assemble`], with uploaded files kept in `files`.
    pub fn assemble_with_files(
        config: &Config,
        store: Arc<SqlStore>,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
        files: Arc<dyn app::files::FileStore>,
    ) -> Result<Self, ConfigError> {
        let app = App::new(
            store,
            clock,
            config.secret_key()?,
            AppSettings {
                base_url: config.base_url(),
                sign_in_per_ip_per_minute: config.sign_in_per_ip_per_minute,
                password_sign_in: config.password_sign_in,
                password_policy: domain::password::Policy::parse(&config.password_policy)
                    .unwrap_or_default(),
                session_idle_timeout: time::Duration::seconds(
                    i64::try_from(config.session_idle_timeout_secs).unwrap_or(1800),
                ),
                files_dir: config.files_dir.clone(),
                max_upload_bytes: config.max_upload_mb.saturating_mul(1024 * 1024),
            },
        )
        .with_outbox_lease(time::Duration::seconds(
            i64::try_from(config.outbox_lease_secs).unwrap_or(120),
        ));
        let app = app.with_file_store(files);
        let web = web::WebState::new(
            app.clone(),
            web::WebConfig {
                production: config.production(),
                dev_mail_dir: if config.production() {
                    None
                } else {
                    config.mail_dir()
                },
            },
        );
        Ok(Self { app, web, mailer })
    }

    /// The public router; every request is counted for the metrics.
    pub fn router(&self) -> axum::Router {
        metrics::track(web::router(self.web.clone()))
    }

    /// Serves HTTP within `limits` and runs the outbox worker until
    /// `shutdown` resolves; then stops accepting, lets the requests in flight
    /// finish (within `limits.shutdown_grace`), and only then stops the
    /// worker, so that email they queued is still sent.
    pub async fn serve(
        self,
        listener: TcpListener,
        limits: connections::Limits,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = {
            let mut rx = stop_rx.clone();
            tokio::spawn(app::outbox::run_worker(
                self.app.clone(),
                self.mailer.clone(),
                async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                },
            ))
        };
        let served = connections::serve("public", listener, self.router(), limits, shutdown).await;
        let _ = stop_tx.send(true);
        worker.await?;
        tracing::info!("stopped");
        Ok(served?)
    }
}
