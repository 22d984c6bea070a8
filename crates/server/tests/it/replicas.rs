//! Two `portal serve` processes on one PostgreSQL database behave as one
//! (issue 14, API.md "Operating"): every limit counts across both, background
//! work is shared and each email is sent once, the audit chain stays whole, and
//! replicas starting together on an empty database load the demonstration data
//! once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};
use testkit::{Backend, TestDb};
use tokio::process::Child;

use crate::cli::{code_from_eml, portal, run, wait_until_ready};
use crate::crash::{Smtp, smtp_server};
use crate::process::{Eml, eml_files, free_port};

const SECRET: &str = "replicas-share-this-secret-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_every_limit_the_background_work_and_the_audit_chain() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let mut cluster = Cluster::new(&db);
    // A real SMTP server that keeps every delivery as its own file, so that a
    // message sent twice shows as two.
    let Some(smtp) = smtp_server(&cluster._dir.path().join("smtp"), 0).await else {
        return;
    };
    cluster.smtp = Some(smtp);
    let admin = "ada.admin@replicas.example.ac.uk";
    let contributor = "hana.heses@replicas.example.ac.uk";
    cluster
        .operator(&[
            "org",
            "create",
            "--name",
            "Replica University",
            "--kind",
            "provider",
            "--ukprn",
            "10000061",
        ])
        .await;
    for (email, role) in [
        (admin, "portal-admin"),
        (contributor, "data-collection-contributor:heses"),
    ] {
        cluster
            .operator(&[
                "user",
                "create",
                "--org",
                "10000061",
                "--email",
                email,
                "--first-name",
                "Test",
                "--last-name",
                "Person",
                "--role",
                role,
            ])
            .await;
    }
    let replicas = cluster
        .start(
            2,
            &[
                ("PORTAL_DEMO", "false"),
                ("PORTAL_SIGN_IN_PER_IP_PER_MINUTE", "10"),
            ],
        )
        .await;
    let (a, b) = (&replicas[0].base, &replicas[1].base);
    let at = |i: usize| if i.is_multiple_of(2) { a } else { b };

    // Code requests from one address, alternating between the replicas: the
    // 11th is refused, whichever replica it reaches.
    let one_address = client_from("127.0.0.2");
    for i in 0..12 {
        let r = one_address
            .post(format!("{}/api/v1/auth/code", at(i)))
            .json(&json!({ "email": "nobody@replicas.example.ac.uk" }))
            .send()
            .await
            .unwrap();
        let expected = if i < 10 { 202 } else { 429 };
        assert_eq!(
            r.status(),
            expected,
            "code request {} (to replica {})",
            i + 1,
            i % 2
        );
        if i >= 10 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }

    // Five wrong guesses, split across the replicas, void the code: the right
    // code is then refused too.
    let guesser = client_from("127.0.0.3");
    let attempt = request_code(&guesser, a, contributor).await;
    let code = code_from_eml(&cluster.mail, contributor).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for i in 0..5 {
        let r = verify(&guesser, at(i + 1), &attempt, &wrong).await;
        assert_eq!(r.status(), 401, "wrong guess {}", i + 1);
    }
    let r = verify(&guesser, a, &attempt, &code).await;
    assert_eq!(r.status(), 401, "the right code after five wrong guesses");

    // The administrator signs in: a code asked of one replica is taken by the other.
    let signer = client_from("127.0.0.4");
    let attempt = request_code(&signer, a, admin).await;
    let code = code_from_eml(&cluster.mail, admin).await;
    let r = verify(&signer, b, &attempt, &code).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Twenty wrong access keys at once, from twenty addresses (so the
    // per-address limit is not what stops them), split across the replicas:
    // exactly five are answered as wrong, the rest are told to wait.
    let mut tries = Vec::new();
    for i in 0..20 {
        let http = client_from(&format!("127.0.1.{}", i + 1));
        let url = format!("{}/api/v1/access-keys/activate", at(i));
        let token = token.clone();
        tries.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({ "key": format!("ABCD-EFGH-JKMN-PQRS-TVWX-YZ{:02}", 22 + i % 8) }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut answers: HashMap<u16, usize> = HashMap::new();
    for t in tries {
        *answers.entry(t.await.unwrap()).or_default() += 1;
    }
    assert_eq!(answers.get(&429), Some(&15), "{answers:?}");
    assert_eq!(answers.values().sum::<usize>(), 20);
    assert!(
        answers.keys().all(|s| *s == 429 || *s == 400 || *s == 422),
        "{answers:?}"
    );

    // Fifty add-user requests, split across the replicas: each welcome email
    // is sent once (both replicas' workers take requests and mail).
    let http = reqwest::Client::new();
    let mut requests = Vec::new();
    for chunk in 0..5 {
        let mut batch = Vec::new();
        for j in 0..10 {
            let i = chunk * 10 + j;
            let req = http
                .post(format!("{}/api/v1/users", at(i)))
                .bearer_auth(&token)
                .json(&json!({
                    "title": "Dr", "first_name": "New", "last_name": "Colleague",
                    "email": format!("new.colleague.{i}@replicas.example.ac.uk"),
                }))
                .send();
            batch.push(tokio::spawn(req));
        }
        for r in batch {
            let r = r.await.unwrap().unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 202, "{body}");
            requests.push(body["request_id"].as_str().unwrap().to_owned());
        }
    }
    for (i, id) in requests.iter().enumerate() {
        let mut status = String::new();
        for _ in 0..200 {
            let r: Value = http
                .get(format!("{}/api/v1/user-requests/{id}", at(i + 1)))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            status = r["status"].as_str().unwrap_or_default().to_owned();
            if status != "pending" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, "completed", "add-user request {i}");
    }
    let welcomed: Vec<String> = (0..50)
        .map(|i| format!("new.colleague.{i}@replicas.example.ac.uk"))
        .collect();
    let smtp = cluster.smtp.as_ref().unwrap();
    for _ in 0..200 {
        let delivered = smtp.deliveries();
        if welcomed
            .iter()
            .all(|to| delivered.iter().any(|d| &d.to == to))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Time for a second send, were one coming.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let delivered = smtp.deliveries();
    for to in &welcomed {
        let n = delivered.iter().filter(|d| &d.to == to).count();
        assert_eq!(n, 1, "emails delivered to {to}");
    }
    let twice: Vec<_> = smtp
        .counts()
        .into_iter()
        .filter(|(_, at)| at.len() > 1)
        .collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    drop(replicas);
    let (code, out, err) = run(cluster.command(&["audit", "verify"])).await;
    assert_eq!(code, 0, "audit verify: {out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_an_empty_database_load_the_demonstration_data_once() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let cluster = Cluster::new(&db);
    let mut replicas = cluster.start(3, &[]).await;
    for r in &mut replicas {
        assert!(r.child.try_wait().unwrap().is_none(), "a replica exited");
    }
    use store::Store;
    assert_eq!(
        db.store.organisation_count().await.unwrap(),
        app::demo::DEMO.len() as i64
    );
    let users: usize = app::demo::DEMO
        .iter()
        .map(|(_, _, _, users)| users.len())
        .sum();
    let mail = read_mail(&cluster.mail);
    let mut tos: Vec<&String> = mail.values().map(|(to, _)| to).collect();
    tos.sort();
    tos.dedup();
    assert!(
        tos.len() <= users,
        "welcome emails to {} people: {tos:?}",
        tos.len()
    );
    drop(replicas);
    let (code, out, err) = run(cluster.command(&["audit", "verify"])).await;
    assert_eq!(code, 0, "audit verify: {out}{err}");
}

/// Processes sharing one database, mail directory and secret key.
struct Cluster {
    url: String,
    mail: PathBuf,
    smtp: Option<Smtp>,
    _dir: tempfile::TempDir,
}

struct Replica {
    base: String,
    child: Child,
}

impl Cluster {
    fn new(db: &TestDb) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            url: db.process_url(),
            mail: dir.path().join("mail"),
            smtp: None,
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = portal();
        c.env("PORTAL_DATABASE_URL", &self.url)
            .env("PORTAL_MAIL_DIR", &self.mail)
            .env("PORTAL_SECRET_KEY", SECRET)
            .args(args);
        if let Some(smtp) = &self.smtp {
            c.env("PORTAL_SMTP_URL", format!("smtp://127.0.0.1:{}", smtp.port));
        }
        c
    }

    async fn operator(&self, args: &[&str]) {
        let (code, out, err) = run(self.command(args)).await;
        assert_eq!(code, 0, "portal {args:?}: {out}{err}");
    }

    /// Starts `n` replicas at the same moment and waits until each is ready.
    async fn start(&self, n: usize, env: &[(&str, &str)]) -> Vec<Replica> {
        let mut replicas = Vec::new();
        for _ in 0..n {
            let port = free_port();
            let mut c = self.command(&["serve"]);
            c.env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            replicas.push(Replica {
                base: format!("http://127.0.0.1:{port}"),
                child: c.spawn().unwrap(),
            });
        }
        let http = reqwest::Client::new();
        for r in &replicas {
            wait_until_ready(&http, &r.base).await;
        }
        replicas
    }
}

/// A client whose requests come from `ip` (a loopback address), so that each
/// part of a test has its own per-address count.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn request_code(http: &reqwest::Client, base: &str, email: &str) -> String {
    let r = http
        .post(format!("{base}/api/v1/auth/code"))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["attempt_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn verify(
    http: &reqwest::Client,
    base: &str,
    attempt: &str,
    code: &str,
) -> reqwest::Response {
    http.post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "attempt_id": attempt, "code": code }))
        .send()
        .await
        .unwrap()
}

/// Every `.eml` in `dir`: Message-ID → (To, Subject).
fn read_mail(dir: &Path) -> HashMap<String, (String, String)> {
    eml_files(dir)
        .iter()
        .map(|path| {
            let mail = Eml::read(path);
            (
                mail.header("Message-ID"),
                (mail.header("To"), mail.header("Subject")),
            )
        })
        .collect()
}
