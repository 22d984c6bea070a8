//! Reminders before a window closes (issue 16, Done-when 4): with the manual
//! clock, a window closing in 14 days with reminders at 14, 7 and 1 days
//! reminds the providers that have not submitted — their contributors for
//! the return, or their Portal Administrators where they have none — once
//! per reminder, however many replicas run the job at once.

use std::sync::Arc;

use serde_json::{Value, json};
use testkit::TestApp;
use time::Duration;
use time::format_description::well_known::Rfc3339;

testkit::both_backends!(
    providers_that_have_not_submitted_are_reminded_once_per_reminder,
    reminders_due_before_the_window_opened_or_missed_together_are_not_all_sent,
    two_replicas_running_the_job_together_send_each_reminder_once,
);

const CSV: &[u8] = b"ukprn,students\n10000941,1234\n";

struct World {
    admin: String,
    window: String,
    /// Provider A: HESES contributors (hana; hal disabled), a Prevent
    /// contributor, a Portal Administrator. A uploads a draft.
    hana: String,
    hal: String,
    priya: String,
    ada: String,
    /// Provider B: a HESES contributor who submits.
    sam: String,
    /// Provider C: nobody with the HESES role, its Portal Administrator.
    cleo: String,
}

fn at(app: &TestApp, d: Duration) -> String {
    app.clock.now_plus(d).format(&Rfc3339).unwrap()
}

/// A HESES window opening in an hour and closing 14 days and 2 hours from
/// now, with reminders at 14, 7 and 1 days; the people around it.
async fn world(app: &TestApp) -> World {
    let admin = app
        .regulator_user("rita@ofs.example.org", &["regulator-admin"])
        .await;
    let heses = &["data-collection-contributor:heses"];
    let hana = app.user("10000941", "hana@a.example.ac.uk", heses).await;
    let hal = app.user("10000941", "hal@a.example.ac.uk", heses).await;
    app.sql("UPDATE users SET access_enabled = FALSE WHERE email = 'hal@a.example.ac.uk'")
        .await;
    let priya = app
        .user(
            "10000941",
            "priya@a.example.ac.uk",
            &["data-collection-contributor:prevent"],
        )
        .await;
    let ada = app
        .user("10000941", "ada@a.example.ac.uk", &["portal-admin"])
        .await;
    let sam = app.user("10000942", "sam@b.example.ac.uk", heses).await;
    let cleo = app
        .user("10000943", "cleo@c.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&admin).await;
    let (status, w) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token),
            Some(json!({"area": "heses", "name": "HESES 2026-27",
                "opens_at": at(app, Duration::hours(1)),
                "closes_at": at(app, Duration::days(14) + Duration::hours(2)),
                "file_types": ["csv"], "reminder_days": [14, 7, 1]})),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    let window = w["id"].as_str().unwrap().to_owned();
    World {
        admin,
        window,
        hana,
        hal,
        priya,
        ada,
        sam,
        cleo,
    }
}

/// Uploads a file as `email` to the window, submitted at once or kept as a
/// draft; its status.
async fn upload(app: &TestApp, email: &str, window: &str, draft: bool) -> String {
    let token = app.api_sign_in(email).await;
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(CSV.to_vec())
            .file_name("heses.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    if draft {
        form = form.text("draft", "true");
    }
    let r = app
        .client()
        .post(app.url(&format!("/api/v1/collections/{window}/submissions")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["status"].as_str().unwrap().to_owned()
}

/// The reminders each of `people` has been sent (their subjects).
fn reminders(app: &TestApp, email: &str) -> Vec<String> {
    app.mailer
        .sent_to(email)
        .into_iter()
        .filter(|m| m.subject.starts_with("Reminder: "))
        .map(|m| m.subject)
        .collect()
}

fn reminder_audits(rows: &[store::AuditRecord]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.entry.action == "windows.reminder")
        .map(|r| r.entry.detail.clone())
        .collect()
}

async fn providers_that_have_not_submitted_are_reminded_once_per_reminder(app: TestApp) {
    let w = world(&app).await;
    let jobs = &app.portal.app;
    // Open (announced), with A's draft and B's submitted return.
    app.clock.advance(Duration::hours(1));
    jobs.announce_opened_windows().await.unwrap();
    assert_eq!(upload(&app, &w.hana, &w.window, true).await, "draft");
    assert_eq!(upload(&app, &w.sam, &w.window, false).await, "submitted");
    app.deliver_mail().await;
    // Not yet 14 days before closing: nothing, and no write lock taken.
    assert_eq!(jobs.remind_providers().await.unwrap(), 0);
    app.deliver_mail().await;
    assert!(reminders(&app, &w.hana).is_empty());

    // 14 days before: A's HESES contributor and C's Portal Administrator, once.
    app.clock.advance(Duration::hours(1));
    let seq = app.last_audit_seq().await;
    assert_eq!(jobs.remind_providers().await.unwrap(), 1);
    assert_eq!(jobs.remind_providers().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(
        reminders(&app, &w.hana),
        ["Reminder: HESES 2026-27 closes in 14 days"]
    );
    assert_eq!(reminders(&app, &w.cleo).len(), 1);
    for nobody in [&w.hal, &w.priya, &w.ada, &w.sam, &w.admin] {
        assert!(reminders(&app, nobody).is_empty(), "{nobody} was reminded");
    }
    let to_hana = app
        .mailer
        .sent_to(&w.hana)
        .into_iter()
        .find(|m| m.subject.starts_with("Reminder: "))
        .unwrap()
        .body;
    for part in [
        "HESES 2026-27 closes in 14 days, on",
        "(UK time)",
        "Provider 10000941 has not submitted its return yet. There is a draft",
        &format!("/collections/{}", w.window),
        "you are a Data collection contributor - HESES at Provider 10000941",
    ] {
        assert!(to_hana.contains(part), "{part}\n{to_hana}");
    }
    let to_cleo = &app
        .mailer
        .sent_to(&w.cleo)
        .into_iter()
        .find(|m| m.subject.starts_with("Reminder: "))
        .unwrap()
        .body;
    assert!(
        to_cleo.contains("Nothing has been uploaded")
            && to_cleo.contains("Portal Administrator of Provider 10000943"),
        "{to_cleo}"
    );
    let audits = reminder_audits(&app.audit_since(seq).await);
    assert_eq!(
        audits,
        ["HESES 2026-27: reminder 14 days before closing: 2 people told at 2 providers"]
    );

    // 7 days before: once more.
    app.clock.advance(Duration::days(7));
    assert_eq!(jobs.remind_providers().await.unwrap(), 1);
    assert_eq!(jobs.remind_providers().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(
        reminders(&app, &w.hana),
        [
            "Reminder: HESES 2026-27 closes in 14 days",
            "Reminder: HESES 2026-27 closes in 7 days"
        ]
    );
    assert!(reminders(&app, &w.sam).is_empty());

    // The window now closes a week later: its reminders are due again for
    // the new closing time (14 days before it is now).
    let token = app.api_sign_in(&w.admin).await;
    let new_close = at(&app, Duration::days(14));
    let (status, answer) = app
        .call(
            "PUT",
            &format!("/api/v1/collections/{}", w.window),
            Some(&token),
            Some(json!({"area": "heses", "name": "HESES 2026-27",
                "opens_at": at(&app, -Duration::days(7)), "closes_at": new_close,
                "file_types": ["csv"]})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reminder_days"], json!([14, 7, 1]));
    assert_eq!(jobs.remind_providers().await.unwrap(), 1);
    assert_eq!(jobs.remind_providers().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(reminders(&app, &w.hana).len(), 3);
    assert_eq!(reminders(&app, &w.cleo).len(), 3);
    assert!(reminders(&app, &w.hal).is_empty());

    // Closed: no more.
    app.clock.advance(Duration::days(15));
    assert_eq!(jobs.remind_providers().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(reminders(&app, &w.hana).len(), 3);
}

async fn reminders_due_before_the_window_opened_or_missed_together_are_not_all_sent(app: TestApp) {
    let w = world(&app).await;
    let jobs = &app.portal.app;
    // A second window opening 10 days before it closes: its 14 days'
    // reminder fell due before it opened.
    let token = app.api_sign_in(&w.admin).await;
    let (status, late) = app
        .call(
            "POST",
            "/api/v1/collections",
            Some(&token),
            Some(json!({"area": "heses", "name": "HESES short",
                "opens_at": at(&app, Duration::hours(1)),
                "closes_at": at(&app, Duration::days(10) + Duration::hours(1)),
                "file_types": ["csv"], "reminder_days": [14, 1]})),
        )
        .await;
    assert_eq!(status, 201, "{late}");
    // The job was down: the first window's 14 and 7 days fall due together.
    app.clock.advance(Duration::days(7) + Duration::hours(3));
    jobs.announce_opened_windows().await.unwrap();
    app.deliver_mail().await;
    let seq = app.last_audit_seq().await;
    assert_eq!(jobs.remind_providers().await.unwrap(), 1);
    assert_eq!(jobs.remind_providers().await.unwrap(), 0);
    app.deliver_mail().await;
    assert_eq!(
        reminders(&app, &w.hana),
        ["Reminder: HESES 2026-27 closes in 7 days"]
    );
    let mut audits = reminder_audits(&app.audit_since(seq).await);
    audits.sort();
    assert_eq!(
        audits,
        [
            "HESES 2026-27: reminder 7 days before closing: 3 people told at 3 providers",
            "HESES 2026-27: the reminder 14 days before closing was passed over: a later one fell due at the same time",
            "HESES short: the reminder 14 days before closing was not sent: it fell due before the window opened",
        ]
    );
}

/// A second portal on the same database: another replica.
async fn second_replica(app: &TestApp) -> server::Portal {
    let store = Arc::new(app.db.another_store().await);
    server::open_audit_chain(&store, &app.config).await.unwrap();
    let files = server::storage::file_store(&app.config).unwrap();
    server::Portal::assemble_with_files(
        &app.config,
        store,
        app.clock.clone(),
        app.mailer.clone(),
        files,
    )
    .unwrap()
}

async fn two_replicas_running_the_job_together_send_each_reminder_once(app: TestApp) {
    let w = world(&app).await;
    let jobs = &app.portal.app;
    let other = second_replica(&app).await;
    app.clock.advance(Duration::hours(1));
    jobs.announce_opened_windows().await.unwrap();
    app.deliver_mail().await;
    for (step, days) in [
        (Duration::hours(1), 14),
        (Duration::days(7), 7),
        (Duration::days(6), 1),
    ] {
        app.clock.advance(step);
        let (a, b) = tokio::join!(jobs.remind_providers(), other.app.remind_providers());
        assert_eq!(a.unwrap() + b.unwrap(), 1, "{days} days");
        let (a, b) = tokio::join!(jobs.remind_providers(), other.app.remind_providers());
        assert_eq!(a.unwrap() + b.unwrap(), 0, "{days} days, again");
        app.deliver_mail().await;
        let got = reminders(&app, &w.hana);
        assert_eq!(
            got.len(),
            [14, 7, 1].iter().position(|d| *d == days).unwrap() + 1
        );
        assert!(got.last().unwrap().ends_with(&format!(
            "closes in {days} day{}",
            if days == 1 { "" } else { "s" }
        )));
        assert_eq!(reminders(&app, &w.cleo).len(), got.len());
    }
    let audits = reminder_audits(&app.audit().await);
    assert_eq!(audits.len(), 3, "{audits:?}");
}
