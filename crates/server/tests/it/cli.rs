//! The `portal` binary itself: operator commands, serving, production refusal.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};
use testkit::{Backend, TestApp, TestDb};

use crate::process::{Eml, eml_files, free_port, serve_ready, sign_in};

testkit::both_backends!(
    ;
    raw:
    an_operator_made_user_signs_in_through_the_api_with_the_code_from_the_eml,
    tampering_with_an_audit_row_is_reported_by_audit_verify,
);

pub(crate) fn portal() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"));
    // Only what the test says: nothing from the developer's environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTAL_") {
            c.env_remove(k);
        }
    }
    c.env("PORTAL_LOG", "warn");
    c
}

/// Runs a command to the end; returns (exit code, stdout, stderr).
pub(crate) async fn run(mut c: tokio::process::Command) -> (i32, String, String) {
    let out = c.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits (up to 10 s) for a `portal serve` at `base` to answer `/readyz` with 200.
pub(crate) async fn wait_until_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("portal serve did not become ready");
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().trim().to_owned()
}

/// The 6-digit code in the text part of the newest sign-in `.eml` to `to`.
pub(crate) async fn code_from_eml(dir: &Path, to: &str) -> String {
    for _ in 0..100 {
        for f in eml_files(dir).iter().rev() {
            let mail = Eml::read(f);
            if mail.header("To") == to && mail.header("Subject").contains("code") {
                let text = mail.body;
                return testkit::only_six_digit_number(&text).unwrap_or_else(|| {
                    panic!("the passcode must be the only 6-digit number: {text}")
                });
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no sign-in email to {to} in {}", dir.display());
}

async fn an_operator_made_user_signs_in_through_the_api_with_the_code_from_the_eml(
    backend: Backend,
) {
    let db = TestDb::new(backend).await.unwrap();
    let url = db.process_url();
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let with_db = |mut c: tokio::process::Command| {
        c.env("PORTAL_DATABASE_URL", &url)
            .env("PORTAL_MAIL_DIR", &mail);
        c
    };
    let mut c = with_db(portal());
    c.args([
        "org",
        "create",
        "--name",
        "University of Testing",
        "--kind",
        "provider",
        "--ukprn",
        "10000051",
    ]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let org_id = last_line(&out);
    assert_eq!(org_id.len(), 36, "{out}");
    let mut c = with_db(portal());
    c.args([
        "user",
        "create",
        "--org",
        "10000051",
        "--email",
        "First.Admin@testing.example.ac.uk",
    ])
    .args([
        "--first-name",
        "First",
        "--last-name",
        "Admin",
        "--title",
        "Dr",
        "--role",
        "portal-admin",
    ]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let user_id = last_line(&out);
    // Bad input is refused clearly and creates nothing.
    let mut c = with_db(portal());
    c.args([
        "user",
        "create",
        "--org",
        "10000051",
        "--email",
        "not-an-email",
    ])
    .args([
        "--first-name",
        "X",
        "--last-name",
        "Y",
        "--role",
        "regulator-admin",
    ]);
    let (code, _, err) = run(c).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("email") && err.contains("regulator-admin"),
        "{err}"
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut c = with_db(portal());
    c.env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("PORTAL_DEMO", "false");
    let http = reqwest::Client::new();
    let _server = serve_ready(c, Stdio::null(), &http, &base).await;

    let code = code_from_eml(&mail, "First.Admin@testing.example.ac.uk");
    let token = &sign_in(&http, &base, "first.admin@testing.example.ac.uk", code).await;
    let me: Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], user_id);
    assert_eq!(me["title"], "Dr");
    assert_eq!(me["organisation"]["id"], org_id);
    assert_eq!(me["roles"][0]["id"], "portal-admin");
    assert_eq!(me["roles"][0]["name"], "Portal Administrator");
    // An operator issues an access key; it is printed once, and it works.
    let mut c = with_db(portal());
    c.args(["access-key", "issue", "--org", "10000051"]).args([
        "--role",
        "data-collection-contributor:heses",
        "--max-uses",
        "1",
    ]);
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{err}");
    let key = last_line(&out);
    assert_eq!(key.len(), 29, "six groups of four: {key}");
    let r = http
        .post(format!("{base}/api/v1/access-keys/activate"))
        .bearer_auth(token)
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut c = with_db(portal());
    c.args([
        "access-key",
        "issue",
        "--org",
        "10000051",
        "--role",
        "regulator-admin",
    ]);
    let (code, _, err) = run(c).await;
    assert_ne!(code, 0);
    assert!(err.contains("role"), "{err}");
    let r = http
        .delete(format!("{base}/api/v1/auth/token"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The welcome email went out too, through the same outbox.
    let welcome = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .any(|m| m.contains("Subject: You have a Provider Portal account"));
    assert!(welcome);
}

async fn tampering_with_an_audit_row_is_reported_by_audit_verify(backend: Backend) {
    let app = TestApp::spawn(backend).await.unwrap();
    app.user("10000052", "audit@example.ac.uk", &["portal-admin"])
        .await;
    app.api_sign_in("audit@example.ac.uk").await;
    let url = app.db.process_url();
    let verify = || {
        let mut c = portal();
        c.env("PORTAL_DATABASE_URL", &url)
            .arg("audit")
            .arg("verify");
        run(c)
    };
    let (code, out, err) = verify().await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit trail intact"), "{out}");
    // The portal itself cannot change an audit row.
    assert!(
        app.db
            .store
            .execute_raw("UPDATE audit_log SET target = 'x' WHERE seq = 2")
            .await
            .is_err()
    );
    assert!(
        app.db
            .store
            .execute_raw("DELETE FROM audit_log WHERE seq = 2")
            .await
            .is_err()
    );
    // Someone with the database's owner rights can; the chain shows it.
    let disable = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    };
    app.sql(disable).await;
    app.sql("UPDATE audit_log SET target = 'someone-else@example.ac.uk' WHERE seq = 3")
        .await;
    let (code, out, _) = verify().await;
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at row 3"), "{out}");
}

#[tokio::test]
async fn production_without_a_key_or_smtp_refuses_to_start() {
    let mut c = portal();
    c.env("PORTAL_ENV", "production").arg("serve");
    let (code, _, err) = run(c).await;
    assert_eq!(code, 2);
    assert!(err.contains("refusing to start in production"), "{err}");
    assert!(err.contains("PORTAL_SECRET_KEY is not set"), "{err}");
    assert!(err.contains("PORTAL_SMTP_URL is not set"), "{err}");
    let mut c = portal();
    c.env("PORTAL_ENV", "production")
        .env("PORTAL_SECRET_KEY", "k".repeat(40))
        .arg("serve");
    let (code, _, err) = run(c).await;
    assert_eq!(code, 2);
    assert!(!err.contains("PORTAL_SECRET_KEY"), "{err}");
    assert!(err.contains("PORTAL_SMTP_URL"), "{err}");
}

/// What `portal <path> --help` says, read as clap writes it: the first
/// paragraph (what the command does) and, under each heading ("Commands:",
/// "Arguments:", "Options:"), every item with its description.
struct Help {
    about: String,
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Help {
    fn parse(text: &str) -> Self {
        // A command without a description starts with its usage.
        let about = text
            .split("\n\n")
            .next()
            .filter(|p| !p.starts_with("Usage:"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in text.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                sections.push((line.trim_end_matches(':').to_owned(), Vec::new()));
                continue;
            }
            let Some((_, items)) = sections.last_mut() else {
                continue;
            };
            let indent = line.len() - line.trim_start().len();
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            // An item starts two spaces in; its description follows after two
            // spaces or more, or on the lines below, further in.
            if indent == 2 {
                let (name, description) = match text.split_once("  ") {
                    Some((n, d)) => (n.trim(), d.trim()),
                    None => (text, ""),
                };
                items.push((name.to_owned(), description.to_owned()));
            } else if let Some((_, description)) = items.last_mut() {
                if !description.is_empty() {
                    description.push(' ');
                }
                description.push_str(text);
            }
        }
        Self { about, sections }
    }

    /// The items under `heading`, each with its description less what clap
    /// adds by itself (`[default: …]`, `[possible values: …]`).
    fn items(&self, heading: &str) -> Vec<(String, String)> {
        self.sections
            .iter()
            .filter(|(h, _)| h == heading)
            .flat_map(|(_, items)| items.clone())
            .map(|(name, description)| {
                let own = match description.find(" [") {
                    _ if description.starts_with('[') => "",
                    Some(i) => &description[..i],
                    None => &description,
                };
                (name, own.trim().to_owned())
            })
            .collect()
    }
}

async fn help_of(path: &[String]) -> String {
    let mut c = portal();
    c.args(path).arg("--help");
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "portal {} --help: {err}", path.join(" "));
    out
}

/// Every command and subcommand of `portal`, with a word or two each one's
/// description must contain (its purpose, in the operator's terms). A command
/// added without a line here fails the test below until it is described.
const PURPOSES: &[(&str, &[&str])] = &[
    ("serve", &["web server", "email"]),
    ("migrate", &["database schema"]),
    ("demo", &["demonstration data"]),
    ("access-key", &["access key"]),
    ("access-key issue", &["Issue", "access key"]),
    ("org", &["organisation"]),
    ("org create", &["Create", "organisation"]),
    ("user", &["user"]),
    ("user create", &["Create", "user"]),
    ("audit", &["audit trail"]),
    ("audit verify", &["chain"]),
    ("audit adopt-unkeyed", &["key"]),
    ("audit export", &["rows", "FILE"]),
    ("import-legacy", &["Import", "legacy", "CSV"]),
    ("bench-data", &["benchmark dataset"]),
    ("bench", &["benchmark", "load"]),
    ("backup", &["copy of the database"]),
    ("restore", &["backup"]),
];

#[tokio::test]
async fn every_command_subcommand_and_argument_says_what_it_does() {
    let top = Help::parse(&help_of(&[]).await);
    assert!(top.about.contains("Provider Portal"), "{}", top.about);
    // From `portal --help`, every command down the tree.
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut described: Vec<(String, String, String)> = Vec::new();
    while let Some(path) = todo.pop() {
        let help = Help::parse(&help_of(&path).await);
        let here = path.join(" ");
        assert!(
            !help.about.is_empty(),
            "`portal {here} --help` says nothing"
        );
        for (name, description) in help.items("Commands") {
            if name == "help" {
                continue;
            }
            let mut sub = path.clone();
            sub.push(name.clone());
            let full = sub.join(" ");
            assert!(
                !description.is_empty(),
                "`portal {here} --help` lists {name} without a description"
            );
            described.push((full, description, String::new()));
            todo.push(sub);
        }
        for heading in ["Arguments", "Options"] {
            for (name, description) in help.items(heading) {
                assert!(
                    !description.is_empty(),
                    "`portal {here} --help`: {name} has no description"
                );
            }
        }
        if let Some(d) = described.iter_mut().find(|(p, _, _)| *p == here) {
            d.2 = help.about.clone();
        }
    }
    let mut names: Vec<&str> = described.iter().map(|(p, _, _)| p.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = PURPOSES.iter().map(|(p, _)| *p).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "every command has its purpose in PURPOSES");
    for (path, listed, about) in &described {
        let words = PURPOSES.iter().find(|(p, _)| p == path).unwrap().1;
        for word in words {
            // In the list of its parent, and atop its own help.
            assert!(
                listed.contains(word),
                "`portal {path}` is listed as {listed:?}, which does not say {word:?}"
            );
            assert!(
                about.contains(word),
                "`portal {path} --help` begins {about:?}, which does not say {word:?}"
            );
        }
    }
    // The two that were mixed up: each has its own description, and only its own.
    let listed = |name: &str| {
        described
            .iter()
            .find(|(p, _, _)| p == name)
            .map(|(_, l, a)| format!("{l}\n{a}"))
            .unwrap()
    };
    assert!(
        !listed("bench-data").contains("legacy"),
        "{}",
        listed("bench-data")
    );
    assert!(
        !listed("import-legacy").contains("benchmark"),
        "{}",
        listed("import-legacy")
    );
}

/// `portal bench --import-users 0` printed "NaN s" for the import it did not
/// run. A small run, one scenario, with nothing to import: every figure is a
/// number or says why there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_without_the_import_prints_no_nan_or_inf() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = portal();
    c.args([
        "bench",
        "--providers",
        "2",
        "--users",
        "20",
        "--sessions",
        "2",
    ])
    .args([
        "--audit-events",
        "20",
        "--seconds",
        "0.2",
        "--connections",
        "1",
    ])
    .args(["--only", "/api/v1/me", "--import-users", "0", "--dir"])
    .arg(dir.path());
    let (code, out, err) = run(c).await;
    assert_eq!(code, 0, "{out}{err}");
    let lower = out.to_lowercase();
    assert!(!lower.contains("nan") && !lower.contains("inf"), "{out}");
    assert!(
        out.contains("| legacy import | not run (--import-users 0) |"),
        "{out}"
    );
    assert!(out.contains("| GET /healthz (baseline) | 1 |"), "{out}");
}
