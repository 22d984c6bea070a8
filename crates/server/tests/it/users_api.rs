//! The read side of user management through the API, by role.

use domain::audit::Outcome;
use serde_json::Value;
use testkit::TestApp;

testkit::both_backends!(
    administrators_list_their_own_users_searched_filtered_and_paged,
    others_cannot_list_users_and_another_providers_user_is_not_found,
    a_regulator_administrator_can_support_any_provider,
    grantable_roles_follow_the_authorisation_table,
);

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app.get_with(path, token).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn administrators_list_their_own_users_searched_filtered_and_paged(app: TestApp) {
    let pa = app
        .user("10000081", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000081",
            "dpa@one.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    app.user(
        "10000081",
        "heses@one.example.ac.uk",
        &["data-collection-contributor:heses"],
    )
    .await;
    app.user("10000082", "pa@two.example.ac.uk", &["portal-admin"])
        .await;
    for who in [&pa, &dpa] {
        let token = app.api_sign_in(who).await;
        let (status, body) = get(&app, &token, "/api/v1/users").await;
        assert_eq!(status, 200);
        assert_eq!(body["total"], 3, "only this provider's users");
        let emails: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert!(!emails.contains(&"pa@two.example.ac.uk"));
        let (_, body) = get(&app, &token, "/api/v1/users?q=heses@").await;
        assert_eq!(body["total"], 1);
        let user = &body["items"][0];
        assert_eq!(user["status"], "invited");
        assert_eq!(user["last_signed_in_at"], Value::Null);
        assert_eq!(
            user["roles"][0]["name"],
            "Data collection contributor - HESES"
        );
        let (_, body) = get(&app, &token, "/api/v1/users?role=delegated-portal-admin").await;
        assert_eq!(body["items"][0]["email"], "dpa@one.example.ac.uk");
        let (_, body) = get(&app, &token, "/api/v1/users?per_page=2&page=2").await;
        assert_eq!(
            (
                body["items"].as_array().unwrap().len(),
                body["total"].as_i64()
            ),
            (1, Some(3))
        );
        let (status, body) = get(&app, &token, "/api/v1/users?page=0").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid")));
    }
}

async fn others_cannot_list_users_and_another_providers_user_is_not_found(app: TestApp) {
    let contributor = app
        .user(
            "10000083",
            "c@one.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let nobody = app.user("10000083", "n@one.example.ac.uk", &[]).await;
    let pa = app
        .user("10000083", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000084", "pa@two.example.ac.uk", &["portal-admin"])
        .await;
    let other = app
        .store()
        .user_by_email("pa@two.example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    for who in [&contributor, &nobody] {
        let token = app.api_sign_in(who).await;
        let before = app.snapshot().await;
        let seq = app.last_audit_seq().await;
        let (status, body) = get(&app, &token, "/api/v1/users").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("Portal Administrator")
        );
        assert_eq!(app.snapshot().await, before);
        let rows = app.audit_since(seq).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].entry.action.as_str(), rows[0].entry.outcome),
            ("users.list", Outcome::Refused)
        );
    }
    let token = app.api_sign_in(&pa).await;
    let seq = app.last_audit_seq().await;
    let (status, theirs) = get(&app, &token, &format!("/api/v1/users/{}", other.id)).await;
    let (missing_status, missing) = get(
        &app,
        &token,
        &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!((status, missing_status), (404, 404));
    assert_eq!(
        theirs, missing,
        "another provider's user looks exactly like no user"
    );
    assert_eq!(app.audit_since(seq).await.len(), 2);
    let (status, _) = get(
        &app,
        &token,
        &format!("/api/v1/users?organisation_id={}", other.organisation_id),
    )
    .await;
    assert_eq!(status, 404);
    let me = app
        .store()
        .user_by_email("c@one.example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    let (status, body) = get(&app, &token, &format!("/api/v1/users/{}", me.id)).await;
    assert_eq!(
        (status, body["email"].as_str()),
        (200, Some("c@one.example.ac.uk"))
    );
}

async fn a_regulator_administrator_can_support_any_provider(app: TestApp) {
    app.regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    app.regulator_user("officer@ofs.example.org", &["regulator-officer:heses"])
        .await;
    app.user("10000085", "pa@provider.example.ac.uk", &["portal-admin"])
        .await;
    let provider = app
        .store()
        .user_by_email("pa@provider.example.ac.uk")
        .await
        .unwrap()
        .unwrap();
    let admin = app.api_sign_in("admin@ofs.example.org").await;
    let path = format!("/api/v1/users?organisation_id={}", provider.organisation_id);
    let (status, body) = get(&app, &admin, &path).await;
    assert_eq!((status, body["total"].as_i64()), (200, Some(1)));
    let (status, _) = get(&app, &admin, &format!("/api/v1/users/{}", provider.id)).await;
    assert_eq!(status, 200);
    let officer = app.api_sign_in("officer@ofs.example.org").await;
    assert_eq!(get(&app, &officer, &path).await.0, 404);
    assert_eq!(
        get(&app, &officer, &format!("/api/v1/users/{}", provider.id))
            .await
            .0,
        404
    );
}

async fn grantable_roles_follow_the_authorisation_table(app: TestApp) {
    let pa = app
        .user("10000086", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000086",
            "dpa@one.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let c = app
        .user(
            "10000086",
            "c@one.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let grantable = |body: &Value, id: &str| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["grantable"]
            .as_bool()
            .unwrap()
    };
    let (_, body) = get(&app, &app.api_sign_in(&pa).await, "/api/v1/roles").await;
    assert_eq!(
        body.as_array().unwrap().len(),
        8,
        "PA, DPA and six contributor roles"
    );
    assert!(
        grantable(&body, "portal-admin") && grantable(&body, "data-collection-contributor:prevent")
    );
    let heses = body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "data-collection-contributor:heses")
        .unwrap();
    assert_eq!(heses["name"], "Data collection contributor - HESES");
    assert_eq!(
        heses["description"],
        "Can make and edit collection submissions for HESES"
    );
    let (_, body) = get(&app, &app.api_sign_in(&dpa).await, "/api/v1/roles").await;
    assert!(!grantable(&body, "portal-admin") && !grantable(&body, "delegated-portal-admin"));
    assert!(grantable(&body, "data-collection-contributor:heses"));
    let (_, body) = get(&app, &app.api_sign_in(&c).await, "/api/v1/roles").await;
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .all(|r| r["grantable"] == false)
    );
}
