//! Test harness: fresh databases on both backends, the portal in-process on
//! `127.0.0.1:0`, a memory mailer, a manual clock, and a cookie-keeping client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod chrome;
pub mod db;
mod http;
mod mail;
pub mod s3;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use app::Clock;
use app::outbox::{ExecutionOutcome, try_execute_task};
use server::{Config, Environment, Portal};
use store::{AuditRecord, Snapshot, Store};
use time::{Duration, OffsetDateTime};

pub use chrome::Chrome;
pub use db::{Backend, TestDb};
pub use http::{Browser, Reply};
pub use mail::{MemoryMailer, only_six_digit_number};

/// Runs each named `async fn(TestApp)` on SQLite and, when configured, on
/// PostgreSQL: the test log then shows `sqlite::name` and `postgres::name`.
/// Names after `; raw:` are `async fn(Backend)` that build what they need.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)? $(; raw: $($raw:ident),* $(,)?)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw() {
                    super::$raw($crate::Backend::Sqlite).await;
                }
            )*)?
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw() {
                    if $crate::postgres_configured() {
                        super::$raw($crate::Backend::Postgres).await;
                    }
                }
            )*)?
        }
    };
}

/// Whether PostgreSQL tests run here; with `CI=true` and no URL, panics.
pub fn postgres_configured() -> bool {
    match std::env::var("PORTAL_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => true,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but PORTAL_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI"
            )
        }
        _ => {
            eprintln!("PostgreSQL not configured (PORTAL_TEST_POSTGRES_URL unset): not run");
            false
        }
    }
}

/// A clock that stands still until told to move.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn now_plus(&self, by: Duration) -> OffsetDateTime {
        self.now() + by
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// The portal running in-process on a fresh database. The outbox worker does
/// not run by itself: tests deliver mail with [`TestApp::deliver_mail`], so
/// they decide exactly when email leaves.
///
/// Dropping it fails the test if work is still queued (an email neither sent
/// nor dead-lettered, an add-user request still pending), as crates.io's
/// `TestApp` does: whatever a test queues, it delivers and so checks, unless it
/// says with [`TestApp::expect_queued_work`] that leaving work is its point.
pub struct TestApp {
    pub backend: Backend,
    pub db: TestDb,
    pub portal: Portal,
    pub clock: Arc<ManualClock>,
    pub mailer: Arc<MemoryMailer>,
    pub addr: SocketAddr,
    pub base: String,
    pub config: Config,
    /// This app's uploaded files (removed with it).
    pub files: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    /// Set by [`TestApp::expect_queued_work`].
    queued_work_expected: AtomicBool,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        // A failing test shows its own failure, not this one.
        if std::thread::panicking() || self.queued_work_expected.load(Ordering::Relaxed) {
            return;
        }
        let left = queued_work(&self.db);
        assert!(
            left.is_empty(),
            "the test left queued work unprocessed: deliver it with `app.deliver_mail().await` \
             (and check it), or call `app.expect_queued_work()` if leaving it is the point:\n  {}",
            left.join("\n  ")
        );
    }
}

/// What is still queued in `db`: emails neither sent nor dead-lettered, and
/// pending add-user requests. `Drop` cannot await, and the test's runtime may
/// be blocked in it (or be single-threaded), so this runs on a runtime of its
/// own in another thread, over a connection of its own.
fn queued_work(db: &TestDb) -> Vec<String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let store = db.another_store().await;
                        let left = queued_in(&store).await;
                        store.close().await;
                        left
                    })
            })
            .join()
            .unwrap_or_else(|_| panic!("could not check {} for queued work", db.url))
    })
}

async fn queued_in(store: &store_sql::SqlStore) -> Vec<String> {
    let mut left: Vec<String> = store
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.sent_at.is_none() && m.dead_at.is_none())
        .map(|m| {
            let error = m
                .last_error
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default();
            format!(
                "email to {} \"{}\" ({} attempts{error})",
                m.to, m.subject, m.attempts
            )
        })
        .collect();
    // The store offers only the oldest pending request, so each one found is
    // marked finished to reach the next, in a transaction never committed.
    let mut tx = store.begin().await.unwrap();
    while let Some(r) = tx.next_pending_request().await.unwrap() {
        left.push(format!("add-user request {} for {}", r.id, r.email));
        tx.finish_user_request(r.id, Err("seen"), OffsetDateTime::now_utc())
            .await
            .unwrap();
    }
    drop(tx);
    left
}

/// The configuration tests start from: development, generous per-IP limit.
pub fn test_config() -> Config {
    Config {
        env: Environment::Development,
        sign_in_per_ip_per_minute: 100_000,
        base_url: Some("http://portal.test".into()),
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, test_config()).await
    }

    pub async fn spawn_with(backend: Backend, config: Config) -> Option<Self> {
        Self::spawn_with_files(backend, config, |_| None).await
    }

    /// As [`TestApp::spawn_with`], keeping uploaded files in the store `files`
    /// makes (given the test's files directory; `None`: the configured store).
    pub async fn spawn_with_files(
        backend: Backend,
        mut config: Config,
        files_in: impl FnOnce(&std::path::Path) -> Option<Arc<dyn app::files::FileStore>>,
    ) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let files = tempfile::tempdir().unwrap();
        config.files_dir = files.path().to_owned();
        let file_store: Arc<dyn app::files::FileStore> = match files_in(files.path()) {
            Some(store) => store,
            None => server::storage::file_store(&config).unwrap(),
        };
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-09-01 09:00 UTC),
        ));
        let mailer = Arc::new(MemoryMailer::default());
        // As `portal serve` does: the chain is kept with this configuration's key.
        server::open_audit_chain(&db.store, &config).await.unwrap();
        let portal = Portal::assemble_with_files(
            &config,
            db.store.clone(),
            clock.clone(),
            mailer.clone(),
            file_store,
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = portal
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Some(Self {
            backend,
            db,
            portal,
            clock,
            mailer,
            addr,
            base: format!("http://{addr}"),
            config,
            files,
            server,
            queued_work_expected: AtomicBool::new(false),
        })
    }

    /// This test leaves work queued on purpose (mail that cannot be delivered
    /// yet, a request it never processes): dropping the app does not fail it.
    pub fn expect_queued_work(&self) {
        self.queued_work_expected.store(true, Ordering::Relaxed);
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.db.store.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that follows no redirects and keeps no cookies of its own.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// `POST path` with a JSON body, as an anonymous API client.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with a bearer token.
    pub async fn get_with(&self, path: &str, token: &str) -> reqwest::Response {
        self.client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(self.client(), self.base.clone())
    }

    /// Processes waiting add-user requests, then sends everything due now, as
    /// the worker would.
    pub async fn deliver_mail(&self) -> usize {
        while self.portal.app.process_next_user_request().await.unwrap() {}
        let mut sent = 0;
        loop {
            match try_execute_task(&self.portal.app, self.mailer.as_ref())
                .await
                .unwrap()
            {
                ExecutionOutcome::EmptyQueue => return sent,
                ExecutionOutcome::Sent => sent += 1,
                _ => {}
            }
        }
    }

    /// Delivers queued mail, then reads the newest passcode sent to `email`.
    pub async fn last_code_for(&self, email: &str) -> Option<String> {
        self.deliver_mail().await;
        self.mailer.last_code_for(email)
    }

    /// Creates an organisation with one user holding `roles`; returns the user's email.
    pub async fn user(&self, ukprn: &str, email: &str, roles: &[&str]) -> String {
        let meta = app::RequestMeta::operator("test");
        let org = match self
            .store()
            .organisation_by_ukprn(&domain::Ukprn::parse(ukprn).unwrap())
            .await
            .unwrap()
        {
            Some(o) => o.id,
            None => self
                .portal
                .app
                .create_organisation(
                    &app::admin::OrganisationInput {
                        name: format!("Provider {ukprn}"),
                        kind: "provider".into(),
                        ukprn: Some(ukprn.into()),
                        ..Default::default()
                    },
                    &meta,
                )
                .await
                .unwrap(),
        };
        self.portal
            .app
            .create_user(
                &app::admin::UserInput {
                    organisation: org.to_string(),
                    title: String::new(),
                    first_name: "Test".into(),
                    last_name: "Person".into(),
                    email: email.into(),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                },
                &meta,
            )
            .await
            .unwrap();
        self.deliver_mail().await;
        email.to_owned()
    }

    /// A user of the regulator (created on first use), with `roles`.
    pub async fn regulator_user(&self, email: &str, roles: &[&str]) -> String {
        let meta = app::RequestMeta::operator("test");
        let existing = self.store().snapshot().await.unwrap()["organisations"]
            .iter()
            .any(|o| o.contains("kind: \"regulator\""));
        if !existing {
            self.portal
                .app
                .create_organisation(
                    &app::admin::OrganisationInput {
                        name: "Office for Students".into(),
                        kind: "regulator".into(),
                        ukprn: None,
                        ..Default::default()
                    },
                    &meta,
                )
                .await
                .unwrap();
        }
        let orgs = self.store().snapshot().await.unwrap()["organisations"].clone();
        let line = orgs
            .iter()
            .find(|o| o.contains("kind: \"regulator\""))
            .unwrap();
        let id = line
            .split("id: ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .trim()
            .to_owned();
        self.portal
            .app
            .create_user(
                &app::admin::UserInput {
                    organisation: id,
                    title: String::new(),
                    first_name: "Regulator".into(),
                    last_name: "User".into(),
                    email: email.into(),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                },
                &meta,
            )
            .await
            .unwrap();
        self.deliver_mail().await;
        email.to_owned()
    }

    /// The stored user with this address.
    pub async fn user_record(&self, email: &str) -> store::UserRecord {
        self.store()
            .user_by_email(&email.to_lowercase())
            .await
            .unwrap()
            .unwrap()
    }

    /// Signs in through the API; returns the bearer token.
    pub async fn api_sign_in(&self, email: &str) -> String {
        let r: serde_json::Value = self
            .post_json("/api/v1/auth/code", serde_json::json!({ "email": email }))
            .await
            .json()
            .await
            .unwrap();
        let attempt = r["attempt_id"].as_str().unwrap().to_owned();
        let code = self.last_code_for(email).await.expect("a code was sent");
        let r = self
            .post_json(
                "/api/v1/auth/token",
                serde_json::json!({ "attempt_id": attempt, "code": code }),
            )
            .await;
        assert_eq!(r.status(), 200, "sign-in failed");
        let body: serde_json::Value = r.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `method path` on the API, with a bearer token and a JSON body when
    /// given: the status and the JSON answer (`Null` when there is none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client().request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// A call that must be refused with `status`: it changes nothing but the
    /// audit log, where every row it adds is a refusal (and there is one).
    pub async fn refused(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> serde_json::Value {
        let before = self.snapshot().await;
        let seq = self.last_audit_seq().await;
        let (got, answer) = self.call(method, path, token, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(
            self.snapshot().await,
            before,
            "{method} {path} was refused but changed something"
        );
        let rows = self.audit_since(seq).await;
        assert!(
            !rows.is_empty(),
            "{method} {path}: the refusal was not audited"
        );
        for r in &rows {
            assert_eq!(
                r.entry.outcome,
                domain::audit::Outcome::Refused,
                "{method} {path}: {:?}",
                r.entry
            );
        }
        answer
    }

    /// Uploads a file of `total` bytes to `path` as multipart with no declared
    /// length (chunked), as fast as the server takes it. Returns the head of
    /// the answer and how many bytes of the file went out before the server
    /// stopped taking them.
    pub async fn upload_without_length(
        &self,
        path: &str,
        token: &str,
        total: u64,
    ) -> (String, u64) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary=xyz\r\nTransfer-Encoding: chunked\r\n\r\n",
            self.addr
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let (mut rd, mut wr) = tcp.into_split();
        let writer = tokio::spawn(async move {
            let part = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n";
            let frame = |bytes: &[u8]| {
                let mut f = format!("{:x}\r\n", bytes.len()).into_bytes();
                f.extend_from_slice(bytes);
                f.extend_from_slice(b"\r\n");
                f
            };
            let mut sent = 0u64;
            if wr.write_all(&frame(part)).await.is_err() {
                return sent;
            }
            let chunk = frame(&vec![b'a'; 64 * 1024]);
            while sent < total {
                if wr.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += 64 * 1024;
            }
            sent
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        let answered = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        if got.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
        })
        .await;
        assert!(answered.is_ok(), "no answer while the body kept coming");
        drop(rd);
        let sent = tokio::time::timeout(std::time::Duration::from_secs(60), writer)
            .await
            .expect("the server stopped taking the body")
            .unwrap();
        (String::from_utf8_lossy(&got).into_owned(), sent)
    }

    pub async fn snapshot(&self) -> Snapshot {
        self.store().snapshot().await.unwrap()
    }

    /// Every audit row, in order.
    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.store().audit_after(0, 1_000_000).await.unwrap()
    }

    /// Audit rows written after row `seq`.
    pub async fn audit_since(&self, seq: i64) -> Vec<AuditRecord> {
        self.store().audit_after(seq, 1_000_000).await.unwrap()
    }

    pub async fn last_audit_seq(&self) -> i64 {
        self.audit().await.last().map_or(0, |r| r.entry.seq)
    }

    /// Runs SQL against the test database directly (to set up states or tamper).
    pub async fn sql(&self, sql: &str) {
        self.db.store.execute_raw(sql).await.unwrap();
    }

    /// A timestamp literal in this backend's storage format.
    pub fn sql_time(&self, t: OffsetDateTime) -> String {
        match self.backend {
            Backend::Sqlite => ((t.unix_timestamp_nanos() / 1000) as i64).to_string(),
            Backend::Postgres => format!(
                "'{}'",
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap()
            ),
        }
    }
}
