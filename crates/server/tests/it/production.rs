//! In production no file the portal writes holds a sign-in code (issue 13): the
//! code travels by SMTP only, and the outbox keeps it sealed and then erased.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::cli::{portal, run};
use crate::process::{Eml, free_port, serve_ready};

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_production_no_file_the_portal_writes_holds_a_sign_in_code() {
    let smtp_dir = tempfile::tempdir().unwrap();
    let maildir = smtp_dir.path().join("maildir");
    let Some((_smtp, smtp_port)) = crate::outbox::smtp_server(&maildir).await else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true: python3 -m aiosmtpd must be available (pip install aiosmtpd)");
        }
        eprintln!("aiosmtpd not available: not run");
        return;
    };
    // The portal's own directory: its working directory, database and files.
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let production = |mut c: tokio::process::Command| {
        c.current_dir(home.path())
            .env("PORTAL_ENV", "production")
            .env(
                "PORTAL_SECRET_KEY",
                "a-production-secret-key-of-enough-length-42",
            )
            .env("PORTAL_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
            .env("PORTAL_DATABASE_URL", "sqlite://data/portal.db")
            .env("PORTAL_FILES_DIR", "data/files")
            .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"));
        c
    };

    // A mail directory is refused outright in production.
    let mut c = production(portal());
    c.env("PORTAL_MAIL_DIR", "mail").arg("serve");
    let (code, _, err) = run(c).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("PORTAL_MAIL_DIR is for development only"),
        "{err}"
    );

    let mut c = production(portal());
    c.args([
        "org",
        "create",
        "--name",
        "Production University",
        "--kind",
        "provider",
    ])
    .args(["--ukprn", "10000071"]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{out}{err}");
    let mut c = production(portal());
    c.args([
        "user",
        "create",
        "--org",
        "10000071",
        "--email",
        "prod.admin@example.ac.uk",
    ])
    .args([
        "--first-name",
        "Prod",
        "--last-name",
        "Admin",
        "--role",
        "portal-admin",
    ]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{out}{err}");

    let mut c = production(portal());
    c.arg("serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut server = serve_ready(c, Stdio::null(), &http, &base).await;
    let r: Value = http
        .post(format!("{base}/api/v1/auth/code"))
        .json(&json!({ "email": "prod.admin@example.ac.uk" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let attempt = r["attempt_id"].as_str().unwrap().to_owned();

    // The code arrives by SMTP…
    let mut code = None;
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(maildir.join("new")) {
            for e in entries {
                let mail = Eml::read(&e.unwrap().path());
                if mail.header("Subject").contains("code") {
                    code = testkit::only_six_digit_number(&mail.body);
                }
            }
        }
        if code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let code = code.expect("a sign-in code by SMTP");
    // …and works.
    let r = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "attempt_id": attempt, "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.kill().await.unwrap();
    server.wait().await.unwrap();

    // The search finds it where it is (the recipient's mailbox)…
    assert!(!files_containing(smtp_dir.path(), code.as_bytes()).is_empty());
    // …and nowhere the portal wrote: database, its log and journal, files, working directory.
    assert!(home.path().join("data/portal.db").exists());
    let leaks = files_containing(home.path(), code.as_bytes());
    assert!(leaks.is_empty(), "the sign-in code {code} is in {leaks:?}");
}
