//! Ids are parsed at the edge: a malformed id in a path (or naming a user in
//! a body or form) is answered exactly as a missing resource, 404, changes
//! nothing, and leaves one refused audit row.

use domain::audit::Outcome;
use serde_json::json;
use testkit::TestApp;

use crate::attacks::page_sign_in;

testkit::both_backends!(
    a_malformed_id_is_an_audited_not_found_in_the_api,
    a_malformed_id_is_an_audited_not_found_on_the_pages,
);

async fn one_refusal(app: &TestApp, seq: i64) {
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "one audit row: {rows:?}");
    assert_eq!(rows[0].entry.action, "request.malformed_id");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
}

async fn a_malformed_id_is_an_audited_not_found_in_the_api(app: TestApp) {
    let pa = app
        .user("10000311", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let c = app
        .user(
            "10000311",
            "c@one.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let c_id = app.user_record(&c).await.id;
    let token = app.api_sign_in(&pa).await;
    let requests = [
        ("GET", "/api/v1/users/not-an-id".to_owned(), None),
        (
            "PATCH",
            "/api/v1/users/1234".to_owned(),
            Some(json!({"access_enabled": false})),
        ),
        (
            "PUT",
            "/api/v1/users/%00/roles".to_owned(),
            Some(json!({"roles": []})),
        ),
        (
            "POST",
            format!("/api/v1/users/{c_id}/copy-roles"),
            Some(json!({"to_user_id": "nobody"})),
        ),
        ("GET", "/api/v1/user-requests/x".to_owned(), None),
    ];
    for (method, path, body) in requests {
        let before = app.snapshot().await;
        let seq = app.last_audit_seq().await;
        let (status, answer) = app.call(method, &path, Some(&token), body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "not_found", "{method} {path}: {answer}");
        assert_eq!(
            app.snapshot().await,
            before,
            "{method} {path} changed nothing"
        );
        one_refusal(&app, seq).await;
    }
}

async fn a_malformed_id_is_an_audited_not_found_on_the_pages(app: TestApp) {
    let pa = app
        .user("10000312", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let mut b = page_sign_in(&app, &pa).await;
    for path in ["/users/not-an-id", "/users/42/copy", "/organisations/x"] {
        let seq = app.last_audit_seq().await;
        let r = b.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        one_refusal(&app, seq).await;
    }
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = b
        .submit("/users/not-an-id", &[("role", "portal-admin")])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(app.snapshot().await, before);
    one_refusal(&app, seq).await;
    // A form without its token is refused as such before its id is looked at.
    let seq = app.last_audit_seq().await;
    let r = b
        .post_raw(
            "/users/not-an-id",
            &[("role", "portal-admin")],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, 403);
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.action, "csrf.refused");
    assert_eq!(app.snapshot().await, before);
}
