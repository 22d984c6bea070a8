//! Adding users asynchronously (seed 001 "Adding users"; API.md `POST /users`).

use domain::audit::Outcome;
use serde_json::{Value, json};
use testkit::TestApp;

testkit::both_backends!(
    an_added_colleague_is_created_in_the_background_and_both_are_emailed,
    submitting_twice_makes_one_user,
    an_address_that_already_has_an_account_is_refused_without_saying_where,
    only_administrators_add_users_and_bad_input_is_explained,
    the_regulator_invites_a_providers_first_portal_administrator,
    the_regulator_creates_and_lists_organisations_and_nobody_else_can,
);

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client()
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn colleague(email: &str) -> Value {
    json!({ "title": "Dr", "first_name": "Grace", "last_name": "Hopper", "email": email })
}

async fn an_added_colleague_is_created_in_the_background_and_both_are_emailed(app: TestApp) {
    let pa = app
        .user("10000101", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let (status, body) = post(
        &app,
        &token,
        "/api/v1/users",
        colleague("grace@one.example.ac.uk"),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (202, Some("pending")));
    let request = body["request_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/user-requests/{request}");
    let pending: Value = app.get_with(&path, &token).await.json().await.unwrap();
    assert_eq!(pending["status"], "pending");
    assert!(
        app.store()
            .user_by_email("grace@one.example.ac.uk")
            .await
            .unwrap()
            .is_none()
    );
    app.deliver_mail().await;
    let done: Value = app.get_with(&path, &token).await.json().await.unwrap();
    assert_eq!(done["status"], "completed");
    let user = app.user_record("grace@one.example.ac.uk").await;
    assert_eq!(done["user_id"], user.id.to_string());
    assert_eq!(user.created_by, Some(app.user_record(&pa).await.id));
    let welcome = app.mailer.sent_to("grace@one.example.ac.uk");
    assert!(
        welcome[0]
            .subject
            .contains("You have a Provider Portal account")
    );
    assert!(welcome[0].body.contains("/sign-in"));
    let outcome = app.mailer.sent_to(&pa);
    assert!(outcome.iter().any(
        |m| m.subject == "User added to Provider Portal" && m.body.contains("Dr Grace Hopper")
    ));
    app.api_sign_in("grace@one.example.ac.uk").await;
}

async fn submitting_twice_makes_one_user(app: TestApp) {
    let pa = app
        .user("10000102", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let (_, first) = post(
        &app,
        &token,
        "/api/v1/users",
        colleague("twice@one.example.ac.uk"),
    )
    .await;
    let (_, second) = post(
        &app,
        &token,
        "/api/v1/users",
        colleague("Twice@One.example.ac.uk"),
    )
    .await;
    assert_eq!(first["request_id"], second["request_id"]);
    app.deliver_mail().await;
    // A third, after the account exists, is refused in the background.
    let (_, third) = post(
        &app,
        &token,
        "/api/v1/users",
        colleague("twice@one.example.ac.uk"),
    )
    .await;
    app.deliver_mail().await;
    let path = format!(
        "/api/v1/user-requests/{}",
        third["request_id"].as_str().unwrap()
    );
    let status: Value = app.get_with(&path, &token).await.json().await.unwrap();
    assert_eq!(status["status"], "rejected");
    let users = app.snapshot().await["users"]
        .iter()
        .filter(|u| u.contains("twice@one.example.ac.uk"))
        .count();
    assert_eq!(users, 1);
}

async fn an_address_that_already_has_an_account_is_refused_without_saying_where(app: TestApp) {
    app.user("10000104", "taken@two.example.ac.uk", &[]).await;
    let pa = app
        .user("10000103", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let (_, body) = post(
        &app,
        &token,
        "/api/v1/users",
        colleague("taken@two.example.ac.uk"),
    )
    .await;
    app.deliver_mail().await;
    let path = format!(
        "/api/v1/user-requests/{}",
        body["request_id"].as_str().unwrap()
    );
    let status: Value = app.get_with(&path, &token).await.json().await.unwrap();
    assert_eq!(status["status"], "rejected");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("already has a Provider Portal account")
    );
    let outcome = app
        .mailer
        .sent_to(&pa)
        .into_iter()
        .find(|m| m.subject == "User not added to Provider Portal")
        .unwrap();
    assert!(
        outcome
            .body
            .contains("already has a Provider Portal account")
    );
    assert!(!outcome.body.contains("10000104") && !outcome.body.contains("Provider 10000104"));
}

async fn only_administrators_add_users_and_bad_input_is_explained(app: TestApp) {
    let c = app
        .user(
            "10000105",
            "c@one.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let pa = app
        .user("10000105", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&c).await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let (status, _) = post(
        &app,
        &token,
        "/api/v1/users",
        colleague("x@one.example.ac.uk"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.snapshot().await, before);
    let rows = app.audit_since(seq).await;
    assert_eq!((rows.len(), rows[0].entry.outcome), (1, Outcome::Refused));
    let token = app.api_sign_in(&pa).await;
    let before = app.snapshot().await;
    let (status, body) = post(
        &app,
        &token,
        "/api/v1/users",
        json!({ "first_name": "", "last_name": "Hopper", "email": "nope" }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["fields"]["first_name"], "Enter a first name");
    assert!(
        body["fields"]["email"]
            .as_str()
            .unwrap()
            .contains("correct format")
    );
    let (status, _) = post(&app, &token, "/api/v1/users", json!({ "first_name": "A", "last_name": "B", "email": "a@b.ac.uk", "roles": ["portal-admin"] })).await;
    assert_eq!(status, 400, "roles are not part of POST /users");
    assert_eq!(app.snapshot().await, before);
}

async fn the_regulator_invites_a_providers_first_portal_administrator(app: TestApp) {
    let admin = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    app.user("10000106", "someone@one.example.ac.uk", &[]).await;
    let org = app
        .user_record("someone@one.example.ac.uk")
        .await
        .organisation_id;
    let token = app.api_sign_in(&admin).await;
    let mut invite = colleague("officer@one.example.ac.uk");
    invite["roles"] = json!(["portal-admin"]);
    let (status, body) = post(
        &app,
        &token,
        &format!("/api/v1/organisations/{org}/users"),
        invite.clone(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    app.deliver_mail().await;
    let officer = app.api_sign_in("officer@one.example.ac.uk").await;
    let me: Value = app
        .get_with("/api/v1/me", &officer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"][0]["id"], "portal-admin");
    assert_eq!(me["organisation"]["ukprn"], "10000106");
    // A provider's administrator cannot invite into another provider.
    let pa = app
        .user("10000107", "pa@two.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    invite["email"] = json!("sneaky@one.example.ac.uk");
    let before = app.snapshot().await;
    let (status, _) = post(
        &app,
        &token,
        &format!("/api/v1/organisations/{org}/users"),
        invite,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(app.snapshot().await, before);
}

async fn the_regulator_creates_and_lists_organisations_and_nobody_else_can(app: TestApp) {
    let admin = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    let token = app.api_sign_in(&admin).await;
    let body = json!({
        "name": "University of Wessex",
        "kind": "provider",
        "ukprn": "10000111",
        "accountable_officer_name": "Prof Vice Chancellor",
        "accountable_officer_email": "vc@wessex.example.ac.uk"
    });
    let (status, org) = post(&app, &token, "/api/v1/organisations", body.clone()).await;
    assert_eq!(status, 201, "{org}");
    assert_eq!(
        (org["name"].as_str(), org["ukprn"].as_str()),
        (Some("University of Wessex"), Some("10000111"))
    );
    assert_eq!(org["accountable_officer_email"], "vc@wessex.example.ac.uk");
    let list: Value = app
        .get_with("/api/v1/organisations", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == org["id"])
    );
    assert_eq!(list["total"], 2, "the regulator and the new provider");
    let before = app.snapshot().await;
    let (status, answer) = post(&app, &token, "/api/v1/organisations", body).await;
    assert_eq!((status, answer["error"].as_str()), (409, Some("conflict")));
    let (status, answer) = post(
        &app,
        &token,
        "/api/v1/organisations",
        json!({ "name": "X", "kind": "provider", "ukprn": "123" }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        answer["fields"]["ukprn"]
            .as_str()
            .unwrap()
            .contains("8 digits")
    );
    assert_eq!(app.snapshot().await, before);
    let pa = app
        .user("10000112", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let (status, _) = post(
        &app,
        &token,
        "/api/v1/organisations",
        json!({ "name": "Mine", "kind": "provider", "ukprn": "10000113" }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.get_with("/api/v1/organisations", &token).await.status(),
        403
    );
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.audit_since(seq).await.len(), 2);
}
