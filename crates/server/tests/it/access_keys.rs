//! Access keys (PRODUCT §5, seed 000) through the API: issued by the regulator,
//! shown once, stored hashed, activated at their own provider only, throttled,
//! and the only way to a sensitive area's role.

use serde_json::{Value, json};
use testkit::TestApp;
use time::format_description::well_known::Rfc3339;

testkit::both_backends!(
    activating_the_portal_admin_key_makes_the_user_a_portal_administrator,
    a_key_for_one_provider_is_refused_to_another_providers_user_and_audited,
    expired_used_up_and_revoked_keys_are_refused,
    wrong_keys_are_throttled,
    the_database_holds_no_key_in_plain_text,
    only_regulator_administrators_issue_list_and_revoke_keys,
    a_sensitive_area_role_is_granted_by_a_key_and_by_no_admin_path,
    an_issued_key_is_shown_once_after_a_redirect_and_a_reload_issues_nothing,
);

/// Issue an access key page (issue 15, item 11): post/redirect/get, so that
/// reloading cannot issue a second key; the key shown once; the issue date.
async fn an_issued_key_is_shown_once_after_a_redirect_and_a_reload_issues_nothing(app: TestApp) {
    let regulator = app
        .regulator_user("print@ofs.example.org", &["regulator-admin"])
        .await;
    app.user("10000303", "admin@c.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000303", "hana@c.example.ac.uk", &[]).await;
    let org = app
        .user_record("admin@c.example.ac.uk")
        .await
        .organisation_id
        .to_string();
    let mut b = crate::attacks::page_sign_in(&app, &regulator).await;
    b.get("/access-keys/new").await;
    let r = b
        .submit(
            "/access-keys/new",
            &[
                ("organisation_id", &org),
                ("role", "data-collection-contributor:heses"),
                ("max_uses", "1"),
                ("expires_at-day", "1"),
                ("expires_at-month", "10"),
                ("expires_at-year", "2026"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown_at = r.location().unwrap().to_owned();
    assert!(
        shown_at.starts_with("/access-keys/") && shown_at.ends_with("/issued"),
        "{shown_at}"
    );
    assert!(
        !r.body.contains("portal-access-key"),
        "the POST shows no key"
    );
    let keys = || async { app.store().access_keys(None).await.unwrap().len() };
    assert_eq!(keys().await, 1);

    let shown = b.get(&shown_at).await;
    assert_eq!(shown.status, 200);
    assert_eq!(
        shown
            .headers
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    assert!(
        shown
            .body
            .contains("This is the only time the key is shown")
    );
    assert!(shown.body.contains("Issued on") && shown.body.contains("1 September 2026"));
    assert!(shown.body.contains("Print this page"));
    let start = shown.body.find("id=\"access-key\">").unwrap();
    let end = start + shown.body[start..].find("</p>").unwrap();
    let key: String = regex::Regex::new(r"<[^>]*>")
        .unwrap()
        .replace_all(&shown.body[start + "id=\"access-key\">".len()..end], "")
        .into_owned();
    assert_eq!(key.len(), 29, "{key}");

    // Reloading shows the details, not the key, and issues nothing.
    let again = b.get(&shown_at).await;
    assert_eq!(again.status, 200);
    assert!(!again.body.contains("portal-access-key__group"));
    assert!(again.body.contains("cannot be shown again"));
    assert_eq!(keys().await, 1);

    // The key shown is the key issued: it activates.
    let token = app.api_sign_in("hana@c.example.ac.uk").await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&token),
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Another regulator administrator, without the cookie, never sees it;
    // a provider's administrator gets no page at all.
    let other = app
        .regulator_user("other@ofs.example.org", &["regulator-admin"])
        .await;
    let mut b2 = crate::attacks::page_sign_in(&app, &other).await;
    let theirs = b2.get(&shown_at).await;
    assert_eq!(theirs.status, 200);
    assert!(!theirs.body.contains("portal-access-key__group"));
    let mut p = crate::attacks::page_sign_in(&app, "admin@c.example.ac.uk").await;
    assert!(matches!(p.get(&shown_at).await.status, 403 | 404));
}

/// A regulator administrator's token, and two providers' ids (A: 10000301, B: 10000302),
/// each with a Portal Administrator.
struct World {
    regulator: String,
    a_admin: String,
    a_id: String,
    b_id: String,
}

async fn world(app: &TestApp) -> World {
    let regulator = app
        .regulator_user("keys@ofs.example.org", &["regulator-admin"])
        .await;
    app.user("10000301", "admin@a.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000302", "admin@b.example.ac.uk", &["portal-admin"])
        .await;
    let a_id = app
        .user_record("admin@a.example.ac.uk")
        .await
        .organisation_id;
    let b_id = app
        .user_record("admin@b.example.ac.uk")
        .await
        .organisation_id;
    World {
        regulator: app.api_sign_in(&regulator).await,
        a_admin: app.api_sign_in("admin@a.example.ac.uk").await,
        a_id: a_id.to_string(),
        b_id: b_id.to_string(),
    }
}

fn in_days(app: &TestApp, days: i64) -> String {
    app.clock
        .now_plus(time::Duration::days(days))
        .format(&Rfc3339)
        .unwrap()
}

/// Issues a key through the API; returns (id, key).
async fn issue(app: &TestApp, token: &str, org: &str, role: &str, uses: i64) -> (String, String) {
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys",
            Some(token),
            Some(json!({"organisation_id": org, "role": role, "max_uses": uses, "expires_at": in_days(app, 30)})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["key"].as_str().unwrap().to_owned(),
    )
}

fn role_ids(user: &Value) -> Vec<String> {
    user["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn activating_the_portal_admin_key_makes_the_user_a_portal_administrator(app: TestApp) {
    let w = world(&app).await;
    let newcomer = app.user("10000301", "newcomer@a.example.ac.uk", &[]).await;
    let token = app.api_sign_in(&newcomer).await;
    let (_, key) = issue(&app, &w.regulator, &w.a_id, "portal-admin", 2).await;
    // Typed in lower case with spaces instead of hyphens: still the key.
    let typed = key.to_lowercase().replace('-', " ");
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&token),
            Some(json!({ "key": typed })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"]["id"], "portal-admin");
    assert_eq!(body["role"]["name"], "Portal Administrator");
    let (_, me) = app.call("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(role_ids(&me), ["portal-admin"]);
    // The new administrator can manage users at once (permissions are read fresh).
    let (status, _) = app.call("GET", "/api/v1/users", Some(&token), None).await;
    assert_eq!(status, 200);
    // The person is told, and the use is counted.
    app.deliver_mail().await;
    assert!(app.mailer.sent_to(&newcomer).iter().any(|m| {
        m.body
            .contains("Role added with an access key: Portal Administrator")
    }));
    let (_, keys) = app
        .call("GET", "/api/v1/access-keys", Some(&w.regulator), None)
        .await;
    assert_eq!(keys[0]["uses"], 1);
    assert_eq!(keys[0]["state"], "active");
    assert!(keys[0].get("key").is_none(), "the list never shows a key");
}

async fn a_key_for_one_provider_is_refused_to_another_providers_user_and_audited(app: TestApp) {
    let w = world(&app).await;
    let outsider = app.user("10000302", "outsider@b.example.ac.uk", &[]).await;
    let token = app.api_sign_in(&outsider).await;
    let (_, key) = issue(&app, &w.regulator, &w.a_id, "portal-admin", 5).await;
    let answer = app
        .refused(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&token),
            Some(json!({ "key": key })),
            400,
        )
        .await;
    assert_eq!(answer["error"], "invalid");
    let why = answer["fields"]["key"].as_str().unwrap();
    assert!(why.contains("not valid"), "{why}");
    let last = app.audit().await.pop().unwrap();
    assert_eq!(last.entry.action, "access_keys.activate");
    assert_eq!(
        last.entry.detail,
        "access key belongs to another organisation"
    );
    // The same words as for a key that does not exist: nothing to learn.
    let made_up = "ABCD-EFGH-JKMN-PQRS-TVWX-YZ23";
    let other = app
        .refused(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&token),
            Some(json!({ "key": made_up })),
            400,
        )
        .await;
    assert_eq!(other, answer);
    // A regulator's own user cannot use a provider's key either.
    let (_, me) = app
        .call("GET", "/api/v1/me", Some(&w.regulator), None)
        .await;
    assert_eq!(role_ids(&me), ["regulator-admin"]);
    app.refused(
        "POST",
        "/api/v1/access-keys/activate",
        Some(&w.regulator),
        Some(json!({ "key": key })),
        400,
    )
    .await;
    let _ = w.b_id;
}

async fn expired_used_up_and_revoked_keys_are_refused(app: TestApp) {
    let w = world(&app).await;
    let one = app
        .api_sign_in(&app.user("10000301", "one@a.example.ac.uk", &[]).await)
        .await;
    let two = app
        .api_sign_in(&app.user("10000301", "two@a.example.ac.uk", &[]).await)
        .await;
    let activate = |token: String, key: String| {
        let app = &app;
        async move {
            app.call(
                "POST",
                "/api/v1/access-keys/activate",
                Some(&token),
                Some(json!({ "key": key })),
            )
            .await
        }
    };
    // Used up: one use, taken by the first person.
    let (_, single) = issue(
        &app,
        &w.regulator,
        &w.a_id,
        "data-collection-contributor:heses",
        1,
    )
    .await;
    assert_eq!(activate(one.clone(), single.clone()).await.0, 200);
    app.refused(
        "POST",
        "/api/v1/access-keys/activate",
        Some(&two),
        Some(json!({ "key": single })),
        400,
    )
    .await;
    // Revoked.
    let (id, revoked) = issue(
        &app,
        &w.regulator,
        &w.a_id,
        "data-collection-contributor:prevent",
        5,
    )
    .await;
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/access-keys/{id}"),
            Some(&w.regulator),
            None,
        )
        .await;
    assert_eq!(status, 204);
    app.refused(
        "POST",
        "/api/v1/access-keys/activate",
        Some(&two),
        Some(json!({ "key": revoked })),
        400,
    )
    .await;
    // Expired: the clock passes the key's expiry (sessions are renewed first).
    let (_, expiring) = issue(
        &app,
        &w.regulator,
        &w.a_id,
        "data-collection-contributor:capital-funding",
        5,
    )
    .await;
    app.clock.advance(time::Duration::days(31));
    let two = app.api_sign_in("two@a.example.ac.uk").await;
    app.refused(
        "POST",
        "/api/v1/access-keys/activate",
        Some(&two),
        Some(json!({ "key": expiring })),
        400,
    )
    .await;
    let details: Vec<String> = app
        .audit()
        .await
        .iter()
        .filter(|r| r.entry.action == "access_keys.activate")
        .map(|r| r.entry.detail.clone())
        .collect();
    for reason in [
        "access key has no uses left",
        "access key revoked",
        "access key expired",
    ] {
        assert!(details.iter().any(|d| d == reason), "{reason}: {details:?}");
    }
    let regulator = app.api_sign_in("keys@ofs.example.org").await;
    let (_, keys) = app
        .call("GET", "/api/v1/access-keys", Some(&regulator), None)
        .await;
    let mut states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    states.sort();
    // A month on, every key is past its date; the revoked one says so first.
    assert_eq!(states, ["expired", "expired", "revoked"]);
}

async fn wrong_keys_are_throttled(app: TestApp) {
    let w = world(&app).await;
    let guesser = app
        .api_sign_in(&app.user("10000301", "guesser@a.example.ac.uk", &[]).await)
        .await;
    let (_, key) = issue(
        &app,
        &w.regulator,
        &w.a_id,
        "data-collection-contributor:heses",
        1,
    )
    .await;
    for n in 0..5 {
        let wrong = format!("ABCD-EFGH-JKMN-PQRS-TVWX-YZ2{}", n + 3);
        let (status, _) = app
            .call(
                "POST",
                "/api/v1/access-keys/activate",
                Some(&guesser),
                Some(json!({ "key": wrong })),
            )
            .await;
        assert_eq!(status, 400);
    }
    // The sixth attempt waits, even with the right key, and nothing changes.
    let answer = app
        .refused(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&guesser),
            Some(json!({ "key": key })),
            429,
        )
        .await;
    assert_eq!(answer["error"], "rate_limited");
    // Fifteen minutes later the right key works.
    app.clock.advance(time::Duration::minutes(16));
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&app.api_sign_in("guesser@a.example.ac.uk").await),
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The role the key granted is emailed to its holder.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to("guesser@a.example.ac.uk")
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn the_database_holds_no_key_in_plain_text(app: TestApp) {
    let w = world(&app).await;
    let (_, key) = issue(&app, &w.regulator, &w.a_id, "portal-admin", 1).await;
    let bare = key.replace('-', "");
    let everything = format!("{:?} {:?}", app.snapshot().await, app.audit().await);
    assert!(!everything.contains(&key) && !everything.contains(&bare));
    assert!(!everything.contains(&bare.to_lowercase()));
}

async fn only_regulator_administrators_issue_list_and_revoke_keys(app: TestApp) {
    let w = world(&app).await;
    let body = json!({"organisation_id": w.a_id, "role": "portal-admin", "max_uses": 1, "expires_at": in_days(&app, 3)});
    let answer = app
        .refused(
            "POST",
            "/api/v1/access-keys",
            Some(&w.a_admin),
            Some(body),
            403,
        )
        .await;
    assert_eq!(answer["error"], "forbidden");
    app.refused("GET", "/api/v1/access-keys", Some(&w.a_admin), None, 403)
        .await;
    let (id, _) = issue(&app, &w.regulator, &w.b_id, "portal-admin", 1).await;
    app.refused(
        "DELETE",
        &format!("/api/v1/access-keys/{id}"),
        Some(&w.a_admin),
        None,
        403,
    )
    .await;
    // Bad input is refused field by field and stores nothing.
    let bad = json!({"organisation_id": "nope", "role": "regulator-admin", "max_uses": 0, "expires_at": in_days(&app, -1)});
    let answer = app
        .refused(
            "POST",
            "/api/v1/access-keys",
            Some(&w.regulator),
            Some(bad),
            400,
        )
        .await;
    for field in ["organisation_id", "role", "max_uses", "expires_at"] {
        assert!(answer["fields"].get(field).is_some(), "{field}: {answer}");
    }
}

async fn a_sensitive_area_role_is_granted_by_a_key_and_by_no_admin_path(app: TestApp) {
    let w = world(&app).await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/areas",
            Some(&w.regulator),
            Some(json!({"slug": "risk-letters", "name": "Risk letters", "kind": "communication", "sensitive": true})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let sensitive = "area-member:risk-letters";
    let holder = app.user("10000301", "holder@a.example.ac.uk", &[]).await;
    let other = app.user("10000301", "other@a.example.ac.uk", &[]).await;
    let holder_id = app.user_record(&holder).await.id;
    let other_id = app.user_record(&other).await.id;
    // The guidance offers it to nobody.
    let (_, roles) = app
        .call("GET", "/api/v1/roles", Some(&w.a_admin), None)
        .await;
    let offer = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == sensitive)
        .unwrap();
    assert_eq!(offer["grantable"], false);
    // Edit user (PUT roles), the area page (POST members), inviting with roles.
    let answer = app
        .refused(
            "PUT",
            &format!("/api/v1/users/{other_id}/roles"),
            Some(&w.a_admin),
            Some(json!({ "roles": [sensitive] })),
            403,
        )
        .await;
    assert!(answer["message"].as_str().unwrap().contains("access key"));
    app.refused(
        "POST",
        "/api/v1/areas/risk-letters/users",
        Some(&w.a_admin),
        Some(json!({ "user_id": other_id.to_string() })),
        403,
    )
    .await;
    app.refused(
        "POST",
        &format!("/api/v1/organisations/{}/users", w.a_id),
        Some(&w.regulator),
        Some(json!({"title": "Dr", "first_name": "New", "last_name": "Person", "email": "new@a.example.ac.uk", "roles": [sensitive]})),
        403,
    )
    .await;
    // The key grants it.
    let (_, key) = issue(&app, &w.regulator, &w.a_id, sensitive, 1).await;
    let holder_token = app.api_sign_in(&holder).await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/access-keys/activate",
            Some(&holder_token),
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, 200);
    // Copying the holder's permissions would pass it on: refused, nothing copied.
    let answer = app
        .refused(
            "POST",
            &format!("/api/v1/users/{holder_id}/copy-roles"),
            Some(&w.a_admin),
            Some(json!({ "to_user_id": other_id.to_string() })),
            403,
        )
        .await;
    assert!(answer["message"].as_str().unwrap().contains("access key"));
    // A regulator administrator cannot grant it either.
    app.refused(
        "PUT",
        &format!("/api/v1/users/{other_id}/roles"),
        Some(&w.regulator),
        Some(json!({ "roles": [sensitive] })),
        403,
    )
    .await;
    // Nor a hand-made Edit user form: the page path refuses it the same way.
    let mut page = crate::attacks::page_sign_in(&app, "admin@a.example.ac.uk").await;
    page.get(&format!("/users/{other_id}")).await;
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let r = page
        .submit(
            &format!("/users/{other_id}"),
            &[("role", sensitive), ("access_enabled", "true")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("access key"));
    assert_eq!(app.snapshot().await, before);
    let refused = app.audit_since(seq).await;
    assert!(
        refused
            .iter()
            .any(|r| r.entry.action == "users.set_roles" && r.entry.detail.contains("access key"))
    );
    // Removing it is an ordinary change (ending access needs no key).
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/areas/risk-letters/users/{holder_id}"),
            Some(&w.a_admin),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&holder)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}
