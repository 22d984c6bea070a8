//! Use cases of the Provider Portal.
//!
//! A use case takes who is asking and what they ask, decides (with `domain`),
//! and does it in one store transaction together with its audit row and any
//! outbox email. Ports to the outside world are traits here: [`Clock`],
//! [`mail::Mailer`]. Nothing here knows about HTTP.

pub mod access_keys;
pub mod activity;
pub mod admin;
pub mod areas;
pub mod audit;
pub mod bench_data;
pub mod clock;
pub mod collections;
pub mod demo;
pub mod documents;
mod emails;
pub mod error;
pub mod feedback;
pub mod files;
pub mod legacy_import;
pub mod limiter;
pub mod mail;
pub mod outbox;
pub mod passwords;
pub mod permit;
pub mod records;
pub mod sealed;
pub mod session;
pub mod sessions;
pub mod sign_in;
pub mod unit;
pub mod users;

use std::net::IpAddr;
use std::sync::Arc;

use domain::otp::SecretKey;
use store::{NewAuditEvent, Store};

use tokio::sync::Notify;

pub use clock::{Clock, SystemClock};
pub use error::{AppError, AppResult, FieldErrors};
pub use session::Principal;

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// Where people reach the portal, for links in emails (no trailing slash).
    pub base_url: String,
    /// Requests to sign in (code, token, password, register, access key) per
    /// client address per minute.
    pub sign_in_per_ip_per_minute: u32,
    /// Password sign-in and registration with an access key (seed 000).
    pub password_sign_in: bool,
    pub password_policy: domain::password::Policy,
    /// A session ends after this long without a request (PRODUCT §3: 30
    /// minutes; shorter in tests of the timeout warning).
    pub session_idle_timeout: time::Duration,
    /// Where uploaded files are kept (the local file store's directory).
    pub files_dir: std::path::PathBuf,
    /// The largest file one upload may carry (`PORTAL_MAX_UPLOAD_MB`).
    pub max_upload_bytes: u64,
}

/// Everything a use case may touch. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// Only use cases touch the store: pages and the API ask them.
    pub(crate) store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub key: SecretKey,
    pub settings: Arc<AppSettings>,
    /// Hits this process took against the database's limits (see [`limiter`]).
    pub(crate) hits: Arc<limiter::HitCounter>,
    /// Uploaded files (a local directory unless replaced with [`App::with_file_store`]).
    pub files: Arc<dyn files::FileStore>,
    /// Woken whenever an email is queued, so the worker sends it at once.
    pub outbox_ready: Arc<Notify>,
    /// How long the outbox worker owns a message it claimed (see [`outbox`]).
    pub(crate) outbox_lease: time::Duration,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: SecretKey,
        settings: AppSettings,
    ) -> Self {
        let files = Arc::new(files::ObjectFileStore::local(settings.files_dir.clone()));
        Self {
            files,
            store,
            clock,
            key,
            settings: Arc::new(settings),
            hits: Arc::default(),
            outbox_ready: Arc::new(Notify::new()),
            outbox_lease: outbox::LEASE,
        }
    }

    /// The same application keeping its files elsewhere (an S3-compatible store).
    pub fn with_file_store(mut self, files: Arc<dyn files::FileStore>) -> Self {
        self.files = files;
        self
    }

    /// Queues an email in the caller's transaction, its body sealed at rest.
    pub(crate) async fn queue_email(
        &self,
        tx: &mut dyn store::StoreTx,
        mut email: store::NewEmail,
    ) -> AppResult<()> {
        email.body = sealed::seal(&self.key, email.id, &email.body);
        tx.enqueue_email(&email).await?;
        Ok(())
    }

    /// As [`App::audit_refusal`], for callers that are already answering with a
    /// refusal: a failure to audit is logged, and the refusal still goes out.
    pub async fn record_refusal(
        &self,
        meta: &RequestMeta,
        actor: Option<&Principal>,
        action: &str,
        detail: &str,
    ) {
        if let Err(e) = self.audit_refusal(meta, actor, action, detail).await {
            tracing::error!(request_id = %meta.request_id, error = ?e, "could not audit a refusal");
        }
    }

    /// Records that someone took data away (an export they were permitted to
    /// list); a failure to audit is logged.
    pub async fn record_export(&self, meta: &RequestMeta, actor: &Principal, action: &'static str) {
        let permit = permit::own_account(actor, action);
        let result = self
            .change(meta, Some(actor), async |u| {
                u.audit(&permit, None, "").await?;
                Ok(u.done(&permit, ()))
            })
            .await;
        if let Err(e) = result {
            tracing::error!(request_id = %meta.request_id, error = ?e, "could not audit an export");
        }
    }

    /// Records a refusal that happened before any use case ran (bad input,
    /// a cross-site form, a missing session…), through [`App::refused`].
    pub async fn audit_refusal(
        &self,
        meta: &RequestMeta,
        actor: Option<&Principal>,
        action: &str,
        detail: &str,
    ) -> AppResult<()> {
        let refusal = permit::Refusal::because(action, detail, AppError::NotFound);
        match self.refused(meta, actor, refusal).await {
            AppError::NotFound => Ok(()),
            e => Err(e),
        }
    }
}

/// Who sent a request and how to find it in the logs.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    /// The connecting socket's address. Never taken from `X-Forwarded-For`.
    pub ip: Option<IpAddr>,
}

impl RequestMeta {
    /// For work started outside a request (the CLI, demo data).
    pub fn operator(what: &str) -> Self {
        Self {
            request_id: format!("cli-{what}-{}", uuid::Uuid::new_v4().simple()),
            ip: None,
        }
    }

    pub fn event(
        &self,
        at: time::OffsetDateTime,
        actor: Option<&Principal>,
        action: &str,
        target: Option<String>,
        outcome: domain::audit::Outcome,
        detail: &str,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at,
            actor_id: actor.map(|p| p.user.id),
            organisation_id: actor.map(|p| p.organisation.id),
            action: action.to_owned(),
            target,
            outcome,
            detail: bounded(detail),
            request_id: Some(self.request_id.clone()),
            ip: self.ip.map(|ip| ip.to_string()),
        }
    }
}

/// Audit details are short: some carry text a client chose, and rows are kept forever.
fn bounded(detail: &str) -> String {
    const MAX: usize = 200;
    if detail.chars().count() <= MAX {
        detail.to_owned()
    } else {
        let mut s: String = detail.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
