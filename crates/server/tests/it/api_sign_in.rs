//! The API sign-in journey of API.md, in-process.

use serde_json::{Value, json};
use testkit::TestApp;

testkit::both_backends!(
    api_sign_in_reads_me_and_signs_out,
    a_code_works_until_ten_minutes_have_passed,
    healthz_does_no_database_work_and_readyz_checks_it,
);

async fn api_sign_in_reads_me_and_signs_out(app: TestApp) {
    let email = app
        .user(
            "10000001",
            "Ada.Admin@Example.ac.uk",
            &["portal-admin", "data-collection-contributor:heses"],
        )
        .await;
    let token = app.api_sign_in(&email).await;
    let c = app.client();
    let me: Value = app
        .get_with("/api/v1/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "Ada.Admin@Example.ac.uk");
    assert_eq!(me["organisation"]["ukprn"], "10000001");
    assert_eq!(me["organisation"]["kind"], "provider");
    let roles: Vec<&str> = me["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "Data collection contributor - HESES",
            "Portal Administrator"
        ]
    );
    let r = c
        .delete(app.url("/api/v1/auth/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app.get_with("/api/v1/me", &token).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    let actions: Vec<String> = app
        .audit()
        .await
        .iter()
        .map(|r| r.entry.action.clone())
        .collect();
    assert!(actions.contains(&"sign_in.succeeded".into()));
    assert!(actions.contains(&"sign_out".into()));
}

pub async fn request_code(app: &TestApp, email: &str) -> String {
    let r: Value = app
        .post_json("/api/v1/auth/code", json!({ "email": email }))
        .await
        .json()
        .await
        .unwrap();
    r["attempt_id"].as_str().unwrap().to_owned()
}

pub async fn verify(app: &TestApp, attempt: &str, code: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/token",
        json!({ "attempt_id": attempt, "code": code }),
    )
    .await
}

async fn a_code_works_until_ten_minutes_have_passed(app: TestApp) {
    let email = app.user("10000002", "clock@example.ac.uk", &[]).await;
    let attempt = request_code(&app, &email).await;
    let code = app.last_code_for(&email).await.unwrap();
    app.clock
        .advance(time::Duration::minutes(9) + time::Duration::seconds(59));
    assert_eq!(verify(&app, &attempt, &code).await.status(), 200);
    let attempt = request_code(&app, &email).await;
    let code = app.last_code_for(&email).await.unwrap();
    app.clock
        .advance(time::Duration::minutes(10) + time::Duration::seconds(1));
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = verify(&app, &attempt, &code).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "code_rejected");
    assert_eq!(
        app.snapshot().await,
        before,
        "an expired code changes nothing"
    );
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.action, "sign_in.code_entered");
    assert_eq!(rows[0].entry.outcome, domain::audit::Outcome::Refused);
}

async fn healthz_does_no_database_work_and_readyz_checks_it(app: TestApp) {
    let c = app.client();
    assert_eq!(
        c.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
    app.db.store.close().await;
    let h = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), 200);
    assert_eq!(h.text().await.unwrap(), "ok");
    assert_eq!(
        c.get(app.url("/readyz")).send().await.unwrap().status(),
        503
    );
}
