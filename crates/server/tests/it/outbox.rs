//! The email outbox (PRODUCT §7): at least once, after commit, never blocking.

use app::Clock;
use app::outbox::{ExecutionOutcome, LEASE, MAX_ATTEMPTS, try_execute_task};
use serde_json::json;
use testkit::{Backend, TestApp};
use time::Duration;

testkit::both_backends!(
    mail_queued_before_a_crash_is_sent_once_after_restart,
    a_failing_recipient_is_dead_lettered_without_blocking_others;
    raw: mail_is_delivered_to_a_real_smtp_server,
);

async fn mail_queued_before_a_crash_is_sent_once_after_restart(app: TestApp) {
    let email = app.user("10000041", "crash@example.ac.uk", &[]).await;
    let sent_before = app.mailer.count();
    // The request commits its outbox row; no worker runs yet.
    app.post_json("/api/v1/auth/code", json!({ "email": email }))
        .await;
    assert_eq!(
        app.mailer.count(),
        sent_before,
        "nothing is sent inside the request"
    );
    // A worker claims it and dies before sending.
    let claimed = app
        .store()
        .claim_emails(app.clock.now(), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(claimed.to, email);
    assert_eq!(
        try_execute_task(&app.portal.app, app.mailer.as_ref())
            .await
            .unwrap(),
        ExecutionOutcome::EmptyQueue,
        "still leased to the dead worker"
    );
    // After the lease, a restarted worker sends it, once.
    app.clock.advance(LEASE);
    assert_eq!(app.deliver_mail().await, 1);
    assert_eq!(app.deliver_mail().await, 0);
    let sent = app.mailer.sent_to(&email);
    assert_eq!(sent.iter().filter(|m| m.id == claimed.id).count(), 1);
    let stored = app.store().outbox().await.unwrap();
    let row = stored.iter().find(|m| m.id == claimed.id).unwrap();
    assert_eq!(row.attempts, 2);
    assert!(row.sent_at.is_some());
    assert!(row.body.is_empty(), "the code is not kept once sent");
}

async fn a_failing_recipient_is_dead_lettered_without_blocking_others(app: TestApp) {
    app.mailer
        .refuse
        .lock()
        .unwrap()
        .insert("broken@example.ac.uk".into());
    app.user("10000042", "broken@example.ac.uk", &[]).await;
    let good = app.user("10000042", "good@example.ac.uk", &[]).await;
    assert_eq!(app.mailer.sent_to(&good).len(), 1, "the other message went");
    let mut attempts = 1;
    loop {
        app.clock.advance(Duration::hours(1));
        match try_execute_task(&app.portal.app, app.mailer.as_ref())
            .await
            .unwrap()
        {
            ExecutionOutcome::WillRetry => attempts += 1,
            ExecutionOutcome::DeadLettered => {
                attempts += 1;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(attempts < 20);
    }
    assert_eq!(attempts, MAX_ATTEMPTS);
    app.clock.advance(Duration::days(30));
    assert_eq!(
        try_execute_task(&app.portal.app, app.mailer.as_ref())
            .await
            .unwrap(),
        ExecutionOutcome::EmptyQueue
    );
    let dead = app.store().outbox().await.unwrap();
    let dead = dead
        .iter()
        .find(|m| m.to == "broken@example.ac.uk")
        .unwrap();
    assert!(dead.dead_at.is_some());
    assert_eq!(dead.last_error.as_deref(), Some("550 mailbox unavailable"));
    assert_eq!(app.mailer.sent_to(&good).len(), 1, "sent once");
}

/// Starts `python3 -m aiosmtpd` on a free port, writing to a Maildir.
pub(crate) async fn smtp_server(dir: &std::path::Path) -> Option<(tokio::process::Child, u16)> {
    let port = crate::process::free_port();
    let child = tokio::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(dir)
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return None;
    };
    crate::process::listening(&mut child, port)
        .await
        .then_some((child, port))
}

async fn mail_is_delivered_to_a_real_smtp_server(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let Some((_server, port)) = smtp_server(&maildir).await else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true: python3 -m aiosmtpd must be available (pip install aiosmtpd)");
        }
        eprintln!("aiosmtpd not available: SMTP delivery not tested here");
        return;
    };
    let app = TestApp::spawn(backend).await.unwrap();
    app.user("10000043", "smtp@example.ac.uk", &[]).await;
    let config = server::Config {
        smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
        mail_dir: None,
        env: server::Environment::Production,
        secret_key: Some("x".repeat(40)),
        ..testkit::test_config()
    };
    let smtp = server::mailer(&config).unwrap();
    app.post_json(
        "/api/v1/auth/code",
        json!({ "email": "smtp@example.ac.uk" }),
    )
    .await;
    assert_eq!(
        try_execute_task(&app.portal.app, smtp.as_ref())
            .await
            .unwrap(),
        ExecutionOutcome::Sent
    );
    let new = maildir.join("new");
    let files: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("To: smtp@example.ac.uk"));
    assert!(raw.contains("Subject: Your Provider Portal sign-in code"));
    let outbox = app.store().outbox().await.unwrap();
    let sent = outbox
        .iter()
        .find(|m| m.to == "smtp@example.ac.uk" && m.subject.contains("code"))
        .unwrap();
    assert!(raw.contains(&format!("Message-ID: <{}@provider-portal>", sent.id)));
    assert!(sent.sent_at.is_some());
}
