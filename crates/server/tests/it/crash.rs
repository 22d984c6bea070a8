//! Crash-proven (issue 14): the real `portal serve`, killed with SIGKILL again
//! and again under a bounded write load, loses no acknowledged write and no
//! email; a database that goes away makes the portal answer 503 and recover by
//! itself; an SMTP server that refuses for a while loses no email.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::Clock;
use rand::Rng;
use serde_json::{Value, json};
use sha2::Digest;
use testkit::{Backend, TestDb};

use crate::cli::{portal, run};
use crate::process::{Eml, eml_files, free_port, listening, serve_ready};

testkit::both_backends!(
    ;
    raw:
    acknowledged_writes_and_queued_email_survive_repeated_sigkill,
    an_smtp_server_refusing_for_a_while_loses_no_email,
);

/// A real SMTP server (aiosmtpd) that answers `451` to the first `refuse`
/// messages, then accepts every message by writing it, as received, to
/// `DIR/<nanoseconds since the epoch>-<random>.eml`: the test counts
/// deliveries by Message-ID and knows when each arrived.
const SMTP_SERVER: &str = r#"
import os, sys, time, uuid
from aiosmtpd.controller import Controller

out, port, refuse = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)

class Handler:
    refused = 0
    async def handle_DATA(self, server, session, envelope):
        if Handler.refused < refuse:
            Handler.refused += 1
            return "451 4.3.0 Try again later"
        name = "%d-%s.eml" % (time.time_ns(), uuid.uuid4().hex)
        tmp = os.path.join(out, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(out, name))
        return "250 OK"

controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

/// `portal_db_group_commits` as a server's metrics told it (SQLite only).
#[derive(Debug, Default)]
struct GroupCommits {
    commits: u64,
    units: u64,
}

impl GroupCommits {
    async fn add(&mut self, http: &reqwest::Client, port: u16) {
        let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        else {
            return;
        };
        let text = r.text().await.unwrap_or_default();
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map_or(0, |v| v as u64)
        };
        self.commits += value("portal_db_group_commit_units_count");
        self.units += value("portal_db_group_commit_units_sum");
    }
}

/// A running [`SMTP_SERVER`]: its port and where it writes what it accepted.
pub(crate) struct Smtp {
    _child: tokio::process::Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// One accepted message: when it arrived, its Message-ID, recipient, subject, body.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub at_ns: u128,
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Starts [`SMTP_SERVER`] in `dir`; `None` when python3 or aiosmtpd is missing
/// (a failure under `CI=true`).
pub(crate) async fn smtp_server(dir: &Path, refuse: u32) -> Option<Smtp> {
    let script = dir.join("smtp_server.py");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&script, SMTP_SERVER).unwrap();
    let port = free_port();
    let out = dir.join("delivered");
    let child = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&out)
        .arg(port.to_string())
        .arg(refuse.to_string())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let started = match child {
        Ok(mut child) => listening(&mut child, port).await.then_some(child),
        Err(_) => None,
    };
    match started {
        Some(child) => Some(Smtp {
            _child: child,
            port,
            dir: out,
        }),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true: python3 with aiosmtpd must be available (pip install aiosmtpd)")
        }
        None => {
            eprintln!("python3 -m aiosmtpd not available: not run");
            None
        }
    }
}

impl Smtp {
    /// Every message accepted so far, oldest first.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        eml_files(&self.dir)
            .iter()
            .map(|f| {
                let name = f.file_name().unwrap().to_string_lossy();
                let at_ns = name.split('-').next().unwrap().parse().unwrap();
                let mail = Eml::read(f);
                Delivery {
                    at_ns,
                    message_id: mail.header("Message-ID"),
                    to: mail.header("To"),
                    subject: mail.header("Subject"),
                    body: mail.body,
                }
            })
            .collect()
    }

    /// Accepted messages by Message-ID: how many times each arrived.
    pub(crate) fn counts(&self) -> BTreeMap<String, Vec<u128>> {
        let mut by_id: BTreeMap<String, Vec<u128>> = BTreeMap::new();
        for d in self.deliveries() {
            by_id.entry(d.message_id).or_default().push(d.at_ns);
        }
        by_id
    }

    /// Waits (up to 20 s) for a sign-in code to `to` in a message not among `seen`.
    async fn new_code_for(&self, to: &str, seen: usize) -> String {
        for _ in 0..200 {
            let fresh = self
                .deliveries()
                .into_iter()
                .skip(seen)
                .find(|d| d.to.eq_ignore_ascii_case(to) && d.subject.contains("code"));
            if let Some(d) = fresh {
                return testkit::only_six_digit_number(&d.body)
                    .unwrap_or_else(|| panic!("no single 6-digit code in {}", d.body));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no sign-in code reached {to} by SMTP");
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Everything `portal` runs with in these tests: one database, one SMTP
/// server, one files directory, one key, outbox leases of 2 s (so that what a
/// killed process had claimed is sent again within the test).
struct Env {
    db_url: String,
    smtp_port: u16,
    files: PathBuf,
    mail: PathBuf,
    port: u16,
    /// Where the server publishes its metrics (`PORTAL_METRICS_LISTEN`).
    metrics_port: u16,
}

impl Env {
    fn command(&self) -> tokio::process::Command {
        let mut c = portal();
        c.env("PORTAL_DATABASE_URL", &self.db_url)
            .env(
                "PORTAL_SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.smtp_port),
            )
            .env("PORTAL_MAIL_DIR", &self.mail)
            .env("PORTAL_FILES_DIR", &self.files)
            .env(
                "PORTAL_FILES_URL",
                format!("file://{}", self.files.display()),
            )
            .env(
                "PORTAL_SECRET_KEY",
                "crash-test-key-crash-test-key-crash-test-key",
            )
            .env("PORTAL_DEMO", "false")
            .env("PORTAL_SIGN_IN_PER_IP_PER_MINUTE", "100000")
            .env("PORTAL_OUTBOX_LEASE_SECS", "2")
            .env("PORTAL_LISTEN", format!("127.0.0.1:{}", self.port))
            .env(
                "PORTAL_METRICS_LISTEN",
                format!("127.0.0.1:{}", self.metrics_port),
            )
            .env("PORTAL_BASE_URL", "http://portal.test");
        c
    }

    fn log(&self) -> PathBuf {
        self.files.with_file_name("portal.log")
    }

    /// The servers' log lines that mention `what`.
    fn log_lines(&self, what: &str) -> String {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(what))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs an operator command; its last line of output (an id).
    async fn cli(&self, args: &[&str]) -> String {
        let mut c = self.command();
        c.args(args);
        let (code, out, err) = run(c).await;
        assert_eq!(code, 0, "portal {args:?}: {err}");
        out.lines().last().unwrap_or_default().trim().to_owned()
    }

    /// Starts `portal serve`, its log appended to `log` beside the files.
    async fn serve(&self, http: &reqwest::Client) -> tokio::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut c = self.command();
        c.arg("serve")
            .env("PORTAL_LOG", "info")
            .env("PORTAL_LOG_FORMAT", "json");
        serve_ready(c, log, http, &self.base()).await
    }
}

/// Signs `email` in through the API with the code the SMTP server received.
async fn sign_in(http: &reqwest::Client, base: &str, smtp: &Smtp, email: &str) -> String {
    let seen = smtp.deliveries().len();
    crate::process::sign_in(http, base, email, smtp.new_code_for(email, seen)).await
}

/// A write the portal answered with 2xx: what it was, and the request id the
/// answer carried (its audit row carries the same).
#[derive(Debug, Clone)]
enum Acked {
    Roles {
        user: String,
        /// Whether the user may already have held the set (a change sent
        /// earlier, unanswered, may have committed): then nothing changed and
        /// nothing was audited.
        may_be_noop: bool,
        request_id: String,
    },
    AddUser {
        request: String,
        email: String,
        request_id: String,
    },
    Upload {
        submission: String,
        bytes: Vec<u8>,
        request_id: String,
    },
}

impl Acked {
    fn request_id(&self) -> &str {
        match self {
            Self::Roles { request_id, .. }
            | Self::AddUser { request_id, .. }
            | Self::Upload { request_id, .. } => request_id,
        }
    }
}

/// Role sets the role-change load cycles through. Three, so that the next set
/// differs both from the last acknowledged one and from one sent but not
/// answered (which may or may not have committed): every change changes
/// something, and so is audited.
/// (Not HESES, where the uploads go, nor administrator roles: each change
/// then sends one email, to the colleague.)
const ROLE_SETS: [&[&str]; 3] = [
    &["data-collection-contributor:capital-funding"],
    &["data-collection-contributor:prevent"],
    &[
        "data-collection-contributor:capital-funding",
        "data-collection-contributor:prevent",
    ],
];

#[derive(Default)]
struct Load {
    acked: Mutex<Vec<Acked>>,
    /// The role sets each colleague may hold at the end: that of the last
    /// acknowledged change and of any sent after it but not answered.
    role_candidates: Mutex<BTreeMap<String, BTreeSet<usize>>>,
    /// Requests not answered 2xx (refused connections while the server was
    /// down, resets when it was killed, 5xx).
    failed: std::sync::atomic::AtomicUsize,
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A 2xx answer, its JSON body and request id made into what was
/// acknowledged; otherwise the status, or the error, of what was not.
async fn acked_with_body(
    r: reqwest::Result<reqwest::Response>,
    acked: impl FnOnce(Value, String) -> Acked,
) -> Result<Acked, reqwest::Result<reqwest::StatusCode>> {
    match r {
        Ok(r) if r.status().is_success() => {
            let request_id = request_id(&r);
            match r.json::<Value>().await {
                Ok(body) => Ok(acked(body, request_id)),
                Err(e) => Err(Err(e)),
            }
        }
        other => Err(other.map(|r| r.status())),
    }
}

/// One load task: `kind` 0 changes roles of `targets`, 1 adds users, 2
/// uploads; `task` tells tasks of one kind apart.
struct LoadTask {
    kind: usize,
    task: usize,
    base: String,
    token: String,
    window: String,
    targets: Vec<String>,
}

/// Runs `t`, one request at a time, until `stop`.
async fn load_task(t: LoadTask, load: Arc<Load>, stop: Arc<AtomicBool>) {
    let LoadTask {
        kind,
        task,
        base,
        token,
        window,
        targets,
    } = t;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut n = 0usize;
    // Colleagues start with set 0 (they were created with that role).
    let mut candidates: BTreeMap<String, BTreeSet<usize>> = targets
        .iter()
        .map(|t| (t.clone(), BTreeSet::from([0])))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let result = match kind {
            0 => {
                let user = &targets[n % targets.len()];
                let held = candidates.get_mut(user).unwrap();
                let fresh = (0..ROLE_SETS.len()).find(|s| !held.contains(s));
                let set = fresh.unwrap_or((n / targets.len()) % ROLE_SETS.len());
                let r = http
                    .put(format!("{base}/api/v1/users/{user}/roles"))
                    .bearer_auth(&token)
                    .json(&json!({ "roles": ROLE_SETS[set] }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        *held = BTreeSet::from([set]);
                        Ok(Acked::Roles {
                            user: user.clone(),
                            may_be_noop: fresh.is_none(),
                            request_id: request_id(&r),
                        })
                    }
                    // Never reached the server: changed nothing.
                    Err(e) if e.is_connect() => Err(Err(e)),
                    other => {
                        held.insert(set);
                        Err(other.map(|r| r.status()))
                    }
                }
            }
            1 => {
                let email = format!("added-{task}-{n}@crash.example.ac.uk");
                let r = http
                    .post(format!("{base}/api/v1/users"))
                    .bearer_auth(&token)
                    .json(&json!({ "title": "Dr", "first_name": "Added",
                                   "last_name": "Person", "email": email }))
                    .send()
                    .await;
                acked_with_body(r, |body, request_id| Acked::AddUser {
                    request: body["request_id"].as_str().unwrap().to_owned(),
                    email,
                    request_id,
                })
                .await
            }
            _ => {
                let bytes =
                    format!("ukprn,students\n10000801,{}\n", task * 100_000 + n).into_bytes();
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes.clone())
                        .file_name(format!("heses-{task}-{n}.csv")),
                );
                let r = http
                    .post(format!("{base}/api/v1/collections/{window}/submissions"))
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await;
                acked_with_body(r, |body, request_id| Acked::Upload {
                    submission: body["id"].as_str().unwrap().to_owned(),
                    bytes,
                    request_id,
                })
                .await
            }
        };
        // A bounded load: a pause between requests, so the outbox keeps up.
        tokio::time::sleep(PAUSE).await;
        match result {
            Ok(a) => load.acked.lock().unwrap().push(a),
            Err(Ok(status)) if status.is_client_error() => {
                panic!(
                    "the load sent a request the portal refused: {status} (task {kind}/{task}, request {n})"
                )
            }
            Err(_) => {
                // Refused connection, reset, or 5xx while the server died:
                // not acknowledged. Wait a little and go on.
                load.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    load.role_candidates.lock().unwrap().extend(candidates);
}

/// How long after a kill the SMTP server may still finish writing a message
/// the killed process had sent (the server answers only after writing it).
const KILL_TO_DELIVERY_NS: u128 = 1_000_000_000;

/// Between two requests of one load task.
const PAUSE: Duration = Duration::from_millis(300);

/// Kills per database. The figures of each run are printed (`--nocapture`).
const KILLS: usize = 12;

async fn acknowledged_writes_and_queued_email_survive_repeated_sigkill(backend: Backend) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let Some(smtp) = smtp_server(&dir.path().join("smtp"), 0).await else {
        return;
    };
    let db = TestDb::new(backend).await.unwrap();
    let env = Env {
        db_url: db.process_url(),
        smtp_port: smtp.port,
        files: dir.path().join("files"),
        mail: dir.path().join("mail"),
        port: free_port(),
        metrics_port: free_port(),
    };
    // The people: a regulator administrator (opens the window), a provider's
    // administrator (adds users, changes roles), a contributor (uploads), and
    // four colleagues whose roles change.
    let regulator = env
        .cli(&[
            "org",
            "create",
            "--name",
            "Office for Students",
            "--kind",
            "regulator",
        ])
        .await;
    let person = |org: &str, email: &str, role: &str| {
        [
            "user",
            "create",
            "--org",
            org,
            "--email",
            email,
            "--first-name",
            "Crash",
            "--last-name",
            "Test",
            "--role",
            role,
        ]
        .map(str::to_owned)
    };
    let run_cli = async |args: [String; 12]| {
        env.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    };
    run_cli(person(
        &regulator,
        "rita@ofs.example.org",
        "regulator-admin",
    ))
    .await;
    env.cli(&[
        "org",
        "create",
        "--name",
        "Crash University",
        "--kind",
        "provider",
        "--ukprn",
        "10000801",
    ])
    .await;
    run_cli(person("10000801", "pa@crash.example.ac.uk", "portal-admin")).await;
    run_cli(person(
        "10000801",
        "hana@crash.example.ac.uk",
        "data-collection-contributor:heses",
    ))
    .await;
    let mut targets = Vec::new();
    for i in 0..4 {
        targets.push(
            run_cli(person(
                "10000801",
                &format!("t{i}@crash.example.ac.uk"),
                ROLE_SETS[0][0],
            ))
            .await,
        );
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = env.serve(&http).await;
    let base = env.base();
    let rita = sign_in(&http, &base, &smtp, "rita@ofs.example.org").await;
    let pa = sign_in(&http, &base, &smtp, "pa@crash.example.ac.uk").await;
    let hana = sign_in(&http, &base, &smtp, "hana@crash.example.ac.uk").await;
    let at = |hours: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let r = http
        .post(format!("{base}/api/v1/collections"))
        .bearer_auth(&rita)
        .json(
            &json!({"area": "heses", "name": "HESES crash", "opens_at": at(-1),
                      "closes_at": at(24), "guidance": "Send it.", "file_types": ["csv"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let window = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let setup = started.elapsed();

    // The load: two tasks changing roles, one adding users, one uploading;
    // one request at a time each.
    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for kind in 0..3 {
        for task in 0..(if kind == 0 { 2 } else { 1 }) {
            let (token, mine) = match kind {
                0 => (pa.clone(), targets[task * 2..task * 2 + 2].to_vec()),
                1 => (pa.clone(), Vec::new()),
                _ => (hana.clone(), Vec::new()),
            };
            tasks.push(tokio::spawn(load_task(
                LoadTask {
                    kind,
                    task,
                    base: base.clone(),
                    token,
                    window: window.clone(),
                    targets: mine,
                },
                load.clone(),
                stop.clone(),
            )));
        }
    }
    let mut kills_ns = Vec::new();
    // Random-ish moments: each server lives 0.3–1.2 s under the load.
    let lives: Vec<u64> = {
        let mut rng = rand::thread_rng();
        (0..KILLS).map(|_| rng.gen_range(300..1200)).collect()
    };
    // SQLite commits units in groups (issue 17): what the writer had
    // committed, read from each server's metrics just before it is killed.
    let mut groups = GroupCommits::default();
    for life in lives {
        tokio::time::sleep(Duration::from_millis(life)).await;
        groups.add(&http, env.metrics_port).await;
        server.start_kill().unwrap();
        kills_ns.push(now_ns());
        server.wait().await.unwrap();
        server = env.serve(&http).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let load_time = started.elapsed() - setup;
    if backend == Backend::Sqlite {
        // The kills above happened with group commit at work: some commit
        // covered more than one unit of work.
        assert!(
            groups.units > groups.commits && groups.commits > 0,
            "no commit covered more than one unit while the servers were killed: {groups:?}"
        );
    }

    // The last server drains what is queued: add-user requests, then email
    // (what a killed process had claimed waits out its 2 s lease).
    let drained = Instant::now();
    let mut settled_at: Option<usize> = None;
    let outbox = loop {
        use store::Store;
        let outbox = db.store.outbox().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        let pending = tx.next_pending_request().await.unwrap();
        drop(tx);
        let unsent: Vec<_> = outbox
            .iter()
            .filter(|m| m.sent_at.is_none() && m.dead_at.is_none())
            .map(|m| (&m.to, &m.subject, m.attempts, &m.last_error))
            .collect();
        if pending.is_none() && unsent.is_empty() {
            // Twice, a second apart, with nothing new: a request being handled
            // (hidden by SKIP LOCKED) would have queued its email by then.
            if settled_at == Some(outbox.len()) {
                break outbox;
            }
            settled_at = Some(outbox.len());
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        settled_at = None;
        assert!(
            drained.elapsed() < Duration::from_secs(30),
            "the outbox did not drain: pending request {pending:?}, {} of {} emails unsent: {:?}\n\
             the last server's outbox log:\n{}",
            unsent.len(),
            outbox.len(),
            &unsent[..unsent.len().min(5)],
            env.log_lines("")
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let drain_time = drained.elapsed();

    // Every acknowledged write is there: its audit row (same request id,
    // committed in the same transaction), and the thing itself.
    let acked = load.acked.lock().unwrap().clone();
    let audit = {
        use store::Store;
        db.store.audit_after(0, i64::MAX).await.unwrap()
    };
    let audited: BTreeSet<&str> = audit
        .iter()
        .filter(|r| r.entry.outcome == domain::audit::Outcome::Success)
        .filter_map(|r| r.entry.request_id.as_deref())
        .collect();
    let mut counts = [0usize; 3];
    for a in &acked {
        assert!(
            audited.contains(a.request_id())
                || matches!(
                    a,
                    Acked::Roles {
                        may_be_noop: true,
                        ..
                    }
                ),
            "an acknowledged write has no audit row: {a:?}"
        );
        match a {
            Acked::Roles { user, .. } => {
                counts[0] += 1;
                assert!(targets.contains(user));
            }
            Acked::AddUser { request, email, .. } => {
                counts[1] += 1;
                let r: Value = http
                    .get(format!("{base}/api/v1/user-requests/{request}"))
                    .bearer_auth(&pa)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(r["status"], "completed", "{email}: {r}");
                let u: Value = http
                    .get(format!(
                        "{base}/api/v1/users/{}",
                        r["user_id"].as_str().unwrap()
                    ))
                    .bearer_auth(&pa)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(u["email"].as_str().unwrap(), email);
            }
            Acked::Upload {
                submission, bytes, ..
            } => {
                counts[2] += 1;
                let r = http
                    .get(format!("{base}/api/v1/submissions/{submission}/file"))
                    .bearer_auth(&hana)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "submission {submission}");
                let got = r.bytes().await.unwrap();
                assert_eq!(
                    sha2::Sha256::digest(&got),
                    sha2::Sha256::digest(bytes),
                    "submission {submission} downloads what was uploaded"
                );
            }
        }
    }
    // Each colleague holds the set of the last acknowledged change, or of a
    // later one that was sent but not answered (it may have committed).
    let candidates = load.role_candidates.lock().unwrap().clone();
    assert_eq!(candidates.len(), targets.len());
    for (user, possible) in &candidates {
        let u: Value = http
            .get(format!("{base}/api/v1/users/{user}"))
            .bearer_auth(&pa)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let held: BTreeSet<String> = u["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            possible.iter().any(|s| ROLE_SETS[*s]
                .iter()
                .map(|r| (*r).to_owned())
                .collect::<BTreeSet<_>>()
                == held),
            "{user} holds {held:?}, none of the sets {possible:?} the acknowledged changes leave"
        );
    }
    for (what, n) in ["role changes", "add-user requests", "uploads"]
        .iter()
        .zip(counts)
    {
        assert!(n > 0, "no {what} were acknowledged: the load did not run");
    }

    // The audit chain verifies.
    let mut c = env.command();
    c.args(["audit", "verify"]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "audit verify: {out}{err}");

    // Every queued email was delivered: none lost. Duplicates (the transport
    // accepted, the process died before its commit) are possible, at most one
    // per sending lane per kill, and each straddles a kill.
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    let delivered = smtp.counts();
    let mut duplicates = 0;
    // Duplicates whose first copy the SMTP server wrote after the kill: the
    // process died with the message in flight, before the server's 250.
    let mut in_flight = 0;
    for m in &outbox {
        assert!(m.dead_at.is_none(), "dead-lettered: {m:?}");
        let id = format!("<{}@provider-portal>", m.id);
        let times = delivered
            .get(&id)
            .unwrap_or_else(|| panic!("email {id} to {} was never delivered", m.to));
        for pair in times.windows(2) {
            duplicates += 1;
            if kills_ns
                .iter()
                .any(|k| *k < pair[0] && pair[0] <= *k + KILL_TO_DELIVERY_NS)
            {
                in_flight += 1;
            }
            // The first copy may be written by the SMTP server just after the
            // kill: the dead process had sent it but never read the 250.
            assert!(
                kills_ns
                    .iter()
                    .any(|k| pair[0] <= *k + KILL_TO_DELIVERY_NS && *k <= pair[1]),
                "{id} was delivered twice without a kill in between: at {pair:?}, kills at \
                 {kills_ns:?}; {m:?}; log:\n{}",
                env.log_lines(&m.id.to_string())
            );
        }
    }
    assert_eq!(
        delivered.len(),
        outbox.len(),
        "the SMTP server received only messages from the outbox"
    );
    assert!(
        duplicates <= KILLS * app::outbox::SEND_LANES,
        "{duplicates} duplicate deliveries for {KILLS} kills: more than one per sending lane per kill"
    );
    eprintln!(
        "crash test ({backend:?}): {KILLS} kills; acknowledged writes: {} role changes, {} add-user \
         requests, {} uploads ({} requests unanswered); {} emails queued, {} deliveries, {duplicates} \
         duplicates ({in_flight} in flight at the kill); setup {:.1} s, load {:.1} s, drain {:.1} s, total {:.1} s",
        counts[0],
        counts[1],
        counts[2],
        load.failed.load(Ordering::Relaxed),
        outbox.len(),
        delivered.values().map(Vec::len).sum::<usize>(),
        setup.as_secs_f64(),
        load_time.as_secs_f64(),
        drain_time.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}

async fn an_smtp_server_refusing_for_a_while_loses_no_email(backend: Backend) {
    // The first 12 messages are answered 451 (try again later).
    let dir = tempfile::tempdir().unwrap();
    let Some(smtp) = smtp_server(dir.path(), 12).await else {
        return;
    };
    let app = testkit::TestApp::spawn(backend).await.unwrap();
    let mut people = Vec::new();
    for i in 0..10 {
        people.push(
            app.user("10000802", &format!("p{i}@refused.example.ac.uk"), &[])
                .await,
        );
    }
    let config = server::Config {
        smtp_url: Some(format!("smtp://127.0.0.1:{}", smtp.port)),
        mail_dir: None,
        env: server::Environment::Production,
        secret_key: Some("x".repeat(40)),
        ..testkit::test_config()
    };
    let mailer = server::mailer(&config).unwrap();
    // Ten sign-in codes queued; the real worker sends them.
    let mut attempt_ids = Vec::new();
    for p in &people {
        let r = app
            .post_json("/api/v1/auth/code", json!({ "email": p }))
            .await;
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        attempt_ids.push(body["attempt_id"].as_str().unwrap().to_owned());
    }
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(app::outbox::run_worker(
        app.portal.app.clone(),
        mailer,
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    // Every message is refused once (ten 451s): nothing arrives, each waits
    // its back-off (30 s) with the refusal recorded.
    let outbox = async || {
        use store::Store;
        app.db
            .store
            .outbox()
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.to.ends_with("@refused.example.ac.uk") && m.subject.contains("code"))
            .collect::<Vec<_>>()
    };
    let waited = Instant::now();
    while !outbox().await.iter().all(|m| m.last_error.is_some()) {
        assert!(waited.elapsed() < Duration::from_secs(20), "not all tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(smtp.deliveries().is_empty());
    for m in outbox().await {
        assert!(m.sent_at.is_none() && m.dead_at.is_none());
        assert!(m.last_error.as_deref().unwrap().contains("451"), "{m:?}");
        assert_eq!(
            m.next_attempt_at,
            app.clock.now_plus(time::Duration::seconds(30))
        );
    }
    // Time passes (the test's clock): whenever every message waiting has
    // been tried and given its next attempt, the clock moves to the earliest.
    // Two more are refused and wait a minute, then all go.
    let mut steps = 0;
    loop {
        let waiting: Vec<_> = outbox()
            .await
            .into_iter()
            .filter(|m| m.sent_at.is_none())
            .collect();
        if waiting.is_empty() {
            break;
        }
        let now = app.clock.now();
        if waiting.iter().all(|m| m.next_attempt_at > now) {
            let next = waiting.iter().map(|m| m.next_attempt_at).min().unwrap();
            app.clock.advance(next - now);
            steps += 1;
            app.portal.app.outbox_ready.notify_one();
        }
        assert!(steps < 10, "not delivered: {waiting:?}");
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "not delivered: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        steps, 2,
        "retried at 30 s, then the two refused again at 1 min"
    );
    stop_tx.send(true).unwrap();
    worker.await.unwrap();
    let sent = outbox().await;
    let counts = smtp.counts();
    assert_eq!(counts.len(), sent.len(), "each message arrived");
    for m in &sent {
        let id = format!("<{}@provider-portal>", m.id);
        assert_eq!(counts.get(&id).map(Vec::len), Some(1), "{id} arrived once");
        assert!(m.dead_at.is_none() && m.last_error.is_none());
    }
    let attempts: Vec<i64> = sent.iter().map(|m| m.attempts).collect();
    assert_eq!(
        attempts.iter().sum::<i64>(),
        22,
        "10 + 12 refusals: {attempts:?}"
    );
    // The codes that arrived late still sign their people in.
    let delivered = smtp.deliveries();
    for (p, attempt) in people.iter().zip(&attempt_ids) {
        let code = delivered
            .iter()
            .find(|d| d.to.eq_ignore_ascii_case(p))
            .and_then(|d| testkit::only_six_digit_number(&d.body))
            .unwrap();
        let r = app
            .post_json(
                "/api/v1/auth/token",
                json!({ "attempt_id": attempt, "code": code }),
            )
            .await;
        let status = r.status();
        assert_eq!(status, 200, "{p}: {}", r.text().await.unwrap());
    }
}

/// A PostgreSQL server of the test's own (initdb, pg_ctl) on a free port, so
/// that stopping it is real and touches nobody else's database. As root,
/// PostgreSQL's tools run as the `postgres` user.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// `None` when PostgreSQL's server programs are not installed (a failure
    /// under `CI=true`, where `.ci/run` installs them).
    async fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
                    .max_by_key(|b| {
                        b.parent()
                            .and_then(|v| v.file_name())
                            .and_then(|v| v.to_str())
                            .and_then(|v| v.parse::<u32>().ok())
                            .unwrap_or(0)
                    })
            });
        let Some(bin) = bin else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: PostgreSQL's server programs must be in /usr/lib/postgresql/<version>/bin"
            );
            eprintln!("no /usr/lib/postgresql/*/bin/initdb: not run");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("portal-pg-")
            .tempdir()
            .unwrap();
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_postgres {
            // initdb refuses to run as root.
            let (code, _, err) = run({
                let mut c = tokio::process::Command::new("chown");
                c.args(["postgres:postgres"]).arg(dir.path());
                c
            })
            .await;
            assert_eq!(code, 0, "chown: {err}");
        }
        let pg = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        let (code, out, err) = run(pg.tool(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        ))
        .await;
        assert_eq!(code, 0, "initdb: {out}{err}");
        pg.pg_ctl_start().await;
        Some(pg)
    }

    fn tool(&self, name: &str, args: &[&str]) -> tokio::process::Command {
        let program = self.bin.join(name);
        let mut c = if self.as_postgres {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            tokio::process::Command::new(program)
        };
        c.args(args).stdin(Stdio::null()).kill_on_drop(true);
        c
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn pg_ctl_start(&self) {
        let dir = self.dir.path().to_str().unwrap().to_owned();
        let options = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let (code, out, err) = run(self.tool(
            "pg_ctl",
            &[
                "-D",
                &format!("{dir}/data"),
                "-o",
                &options,
                "-l",
                &format!("{dir}/log"),
                "-w",
                "start",
            ],
        ))
        .await;
        assert_eq!(code, 0, "pg_ctl start: {out}{err}");
    }

    async fn pg_ctl_stop(&self, mode: &str) {
        let data = format!("{}/data", self.dir.path().display());
        let (code, out, err) =
            run(self.tool("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"])).await;
        assert_eq!(code, 0, "pg_ctl stop: {out}{err}");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let mut c = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            std::process::Command::new(self.bin.join("pg_ctl"))
        };
        let _ = c
            .arg("-D")
            .arg(data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// PostgreSQL stopped under a running portal (PRODUCT §11): `/readyz` fails,
/// requests answer 503 with a request id, quickly; started again, the same
/// process serves again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_postgresql_goes_away_the_portal_answers_503_and_recovers_by_itself() {
    if !testkit::postgres_configured() {
        return;
    }
    let Some(pg) = PrivatePostgres::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(smtp) = smtp_server(&dir.path().join("smtp"), 0).await else {
        return;
    };
    let env = Env {
        db_url: pg.url(),
        smtp_port: smtp.port,
        files: dir.path().join("files"),
        mail: dir.path().join("mail"),
        port: free_port(),
        metrics_port: free_port(),
    };
    env.cli(&[
        "org",
        "create",
        "--name",
        "Gone University",
        "--kind",
        "provider",
        "--ukprn",
        "10000803",
    ])
    .await;
    env.cli(&[
        "user",
        "create",
        "--org",
        "10000803",
        "--email",
        "pa@gone.example.ac.uk",
        "--first-name",
        "Pat",
        "--last-name",
        "Admin",
        "--role",
        "portal-admin",
    ])
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut server = env.serve(&http).await;
    let base = env.base();
    let token = sign_in(&http, &base, &smtp, "pa@gone.example.ac.uk").await;
    let me = async || {
        http.get(format!("{base}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
    };
    assert_eq!(me().await.status(), 200);

    pg.pg_ctl_stop("fast").await;
    let gone = Instant::now();
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "liveness needs no database");
    for r in [
        me().await,
        http.post(format!("{base}/api/v1/auth/code"))
            .json(&json!({ "email": "pa@gone.example.ac.uk" }))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(r.status(), 503);
        let id = request_id(&r);
        assert_eq!(id.len(), 32, "X-Request-Id");
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unavailable", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(&id),
            "the answer quotes its request id: {body}"
        );
    }
    // People get a page saying so, with the reference.
    let page = http
        .get(format!("{base}/"))
        .header("cookie", format!("portal_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    let id = request_id(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sorry, the service is unavailable"), "{html}");
    assert!(html.contains(&id));
    let outage = gone.elapsed();
    assert!(
        server.try_wait().unwrap().is_none(),
        "the portal keeps running without its database"
    );

    pg.pg_ctl_start().await;
    let back = Instant::now();
    loop {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "the portal did not recover by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered = back.elapsed();
    // The same session, and new writes and email, work again.
    assert_eq!(me().await.status(), 200);
    let again = sign_in(&http, &base, &smtp, "pa@gone.example.ac.uk").await;
    assert_ne!(again, token);
    assert!(server.try_wait().unwrap().is_none(), "never restarted");
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    eprintln!(
        "database gone: 503s answered in {:.1} s; ready again {:.1} s after PostgreSQL returned",
        outage.as_secs_f64(),
        recovered.as_secs_f64()
    );
}
