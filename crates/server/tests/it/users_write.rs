//! Changing users through the API: roles, details, access, each rule of
//! PRODUCT §2 with the attacker's request refused, audited, and nothing changed.

use domain::audit::Outcome;
use serde_json::{Value, json};
use testkit::TestApp;

testkit::both_backends!(
    a_portal_admin_grants_a_contributor_role_and_the_user_is_told,
    a_delegated_admin_cannot_grant_portal_admin_or_touch_an_admin,
    nobody_changes_their_own_roles_or_access,
    patch_refuses_organisation_fields_and_roles_it_may_not_give,
    the_last_portal_admin_cannot_be_removed_or_disabled,
    a_locked_portal_admin_counts_and_is_kept_as_the_last,
    two_portal_admins_removing_each_other_at_once_leave_one,
    a_demoted_admin_is_refused_on_the_very_next_request,
    disabling_a_user_ends_their_sessions_at_once,
    another_providers_user_cannot_be_changed,
    a_role_change_with_disabling_the_last_portal_admin_is_refused_as_a_whole,
    a_new_name_and_address_are_greeted_as_new_and_the_old_address_is_told,
);

/// Changing a person's name and address (issue 15, item 10): one email for
/// the change, to the new address, greeting them by the new name; the old
/// address is told where the account's email now goes.
async fn a_new_name_and_address_are_greeted_as_new_and_the_old_address_is_told(app: TestApp) {
    let pa = app
        .user("10000093", "pa@three.example.ac.uk", &["portal-admin"])
        .await;
    let old = app.user("10000093", "harry@three.example.ac.uk", &[]).await;
    let id = app.user_record(&old).await.id;
    let token = app.api_sign_in(&pa).await;
    let new = "harriet@three.example.ac.uk";
    let (status, body) = call(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{id}"),
        json!({ "first_name": "Harriet", "email": new }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    app.deliver_mail().await;
    let to_new = app.mailer.sent_to(new);
    assert_eq!(to_new.len(), 1, "{to_new:?}");
    assert!(
        to_new[0].subject.contains("has changed"),
        "{}",
        to_new[0].subject
    );
    assert!(
        to_new[0].body.starts_with("Dear Harriet "),
        "{}",
        to_new[0].body
    );
    let to_old: Vec<_> = app
        .mailer
        .sent_to(&old)
        .into_iter()
        .filter(|m| m.subject.contains("email address has been changed"))
        .collect();
    assert_eq!(to_old.len(), 1, "{to_old:?}");
    assert!(
        to_old[0]
            .body
            .contains("changed from this address to h***@three.example.ac.uk"),
        "{}",
        to_old[0].body
    );
}

async fn call(app: &TestApp, method: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    let c = app.client();
    let req = match method {
        "PUT" => c.put(app.url(path)),
        _ => c.patch(app.url(path)),
    };
    let r = req.bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Runs a request that must be refused: the status, nothing changed, one audit row.
async fn refused(
    app: &TestApp,
    method: &str,
    token: &str,
    path: &str,
    body: Value,
    status: u16,
) -> Value {
    let before = app.snapshot().await;
    let seq = app.last_audit_seq().await;
    let (got, answer) = call(app, method, token, path, body).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused request changed something"
    );
    let rows = app.audit_since(seq).await;
    assert_eq!(rows.len(), 1, "exactly one audit row");
    assert_eq!(rows[0].entry.outcome, Outcome::Refused);
    answer
}

async fn a_portal_admin_grants_a_contributor_role_and_the_user_is_told(app: TestApp) {
    let pa = app
        .user("10000091", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let colleague = app
        .user("10000091", "colleague@one.example.ac.uk", &[])
        .await;
    let id = app.user_record(&colleague).await.id;
    let token = app.api_sign_in(&pa).await;
    let (status, body) = call(
        &app,
        "PUT",
        &token,
        &format!("/api/v1/users/{id}/roles"),
        json!({ "roles": ["data-collection-contributor:heses"] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["roles"][0]["name"],
        "Data collection contributor - HESES"
    );
    app.deliver_mail().await;
    let told = app.mailer.sent_to(&colleague);
    let note = told
        .iter()
        .find(|m| m.subject.contains("has changed"))
        .unwrap();
    assert!(
        note.body
            .contains("Role added: Data collection contributor - HESES")
    );
    let last = app
        .audit()
        .await
        .into_iter()
        .rfind(|r| r.entry.action == "users.set_roles")
        .unwrap();
    assert_eq!(last.entry.outcome, Outcome::Success);
    // The colleague, signing in, holds the role.
    let theirs = app.api_sign_in(&colleague).await;
    let me: Value = app
        .get_with("/api/v1/me", &theirs)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"][0]["id"], "data-collection-contributor:heses");
}

async fn a_delegated_admin_cannot_grant_portal_admin_or_touch_an_admin(app: TestApp) {
    let dpa = app
        .user(
            "10000092",
            "dpa@one.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let pa = app
        .user("10000092", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let c = app
        .user(
            "10000092",
            "c@one.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let token = app.api_sign_in(&dpa).await;
    let c_id = app.user_record(&c).await.id;
    let pa_id = app.user_record(&pa).await.id;
    let answer = refused(
        &app,
        "PUT",
        &token,
        &format!("/api/v1/users/{c_id}/roles"),
        json!({ "roles": ["data-collection-contributor:heses", "portal-admin"] }),
        403,
    )
    .await;
    assert!(
        answer["message"].as_str().unwrap().contains("contributor"),
        "{answer}"
    );
    for body in [
        json!({ "first_name": "Mallory" }),
        json!({ "access_enabled": false }),
        json!({ "expires_at": "2026-09-02T00:00:00Z" }),
    ] {
        refused(
            &app,
            "PATCH",
            &token,
            &format!("/api/v1/users/{pa_id}"),
            body,
            403,
        )
        .await;
    }
    refused(
        &app,
        "PUT",
        &token,
        &format!("/api/v1/users/{pa_id}/roles"),
        json!({ "roles": [] }),
        403,
    )
    .await;
    // What a delegate may do: contributor roles for a contributor.
    let (status, _) = call(
        &app,
        "PUT",
        &token,
        &format!("/api/v1/users/{c_id}/roles"),
        json!({ "roles": ["data-collection-contributor:prevent"] }),
    )
    .await;
    assert_eq!(status, 200);
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&c)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn nobody_changes_their_own_roles_or_access(app: TestApp) {
    let pa = app
        .user("10000093", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    app.user("10000093", "pa2@one.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let me = app.user_record(&pa).await.id;
    let answer = refused(
        &app,
        "PUT",
        &token,
        &format!("/api/v1/users/{me}/roles"),
        json!({ "roles": ["portal-admin", "delegated-portal-admin"] }),
        403,
    )
    .await;
    assert!(answer["message"].as_str().unwrap().contains("your own"));
    refused(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{me}"),
        json!({ "access_enabled": false }),
        403,
    )
    .await;
    // Their own name they may change.
    let (status, body) = call(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{me}"),
        json!({ "first_name": "Ada" }),
    )
    .await;
    assert_eq!((status, body["first_name"].as_str()), (200, Some("Ada")));
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&pa)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn patch_refuses_organisation_fields_and_roles_it_may_not_give(app: TestApp) {
    let pa = app
        .user("10000094", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let c = app.user("10000094", "c@one.example.ac.uk", &[]).await;
    let token = app.api_sign_in(&pa).await;
    let id = app.user_record(&c).await.id;
    for body in [
        json!({ "roles": ["no-such-role"] }),
        json!({ "organisation_id": uuid::Uuid::new_v4().to_string() }),
        json!({ "first_name": "X", "is_admin": true }),
        json!({ "locked": true }),
        json!({ "email": "not an address" }),
        json!({ "expires_at": "next tuesday" }),
    ] {
        let answer = refused(
            &app,
            "PATCH",
            &token,
            &format!("/api/v1/users/{id}"),
            body,
            400,
        )
        .await;
        assert_eq!(answer["error"], "invalid");
    }
}

async fn the_last_portal_admin_cannot_be_removed_or_disabled(app: TestApp) {
    let a = app
        .user("10000095", "a@one.example.ac.uk", &["portal-admin"])
        .await;
    let b = app
        .user("10000095", "b@one.example.ac.uk", &["portal-admin"])
        .await;
    let admin = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    let a_token = app.api_sign_in(&a).await;
    let b_id = app.user_record(&b).await.id;
    let a_id = app.user_record(&a).await.id;
    // With two, one may go.
    let (status, _) = call(
        &app,
        "PUT",
        &a_token,
        &format!("/api/v1/users/{b_id}/roles"),
        json!({ "roles": [] }),
    )
    .await;
    assert_eq!(status, 200);
    // The last one stays, even for the regulator's support staff.
    let reg = app.api_sign_in(&admin).await;
    let answer = refused(
        &app,
        "PUT",
        &reg,
        &format!("/api/v1/users/{a_id}/roles"),
        json!({ "roles": [] }),
        409,
    )
    .await;
    assert_eq!(answer["error"], "conflict");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("at least one Portal Administrator")
    );
    refused(
        &app,
        "PATCH",
        &reg,
        &format!("/api/v1/users/{a_id}"),
        json!({ "access_enabled": false }),
        409,
    )
    .await;
    refused(
        &app,
        "PATCH",
        &reg,
        &format!("/api/v1/users/{a_id}"),
        json!({ "expires_at": "2020-01-01T00:00:00Z" }),
        409,
    )
    .await;
}

/// Rule 4 (PRODUCT §2: "at least one enabled, unexpired Portal
/// Administrator") counts a locked administrator — locked after five wrong
/// passwords, which an administrator or the regulator lifts — on both sides:
/// the active one may go while the locked one remains, and then the locked
/// one, the last, is kept. (Counting them only on one side let a provider
/// end with no administrator.)
async fn a_locked_portal_admin_counts_and_is_kept_as_the_last(app: TestApp) {
    let a = app
        .user("10000096", "a@locked.example.ac.uk", &["portal-admin"])
        .await;
    let b = app
        .user("10000096", "b@locked.example.ac.uk", &["portal-admin"])
        .await;
    let admin = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    let a_id = app.user_record(&a).await.id;
    let b_id = app.user_record(&b).await.id;
    app.sql("UPDATE users SET locked = TRUE WHERE email_norm = 'b@locked.example.ac.uk'")
        .await;
    let reg = app.api_sign_in(&admin).await;
    // The locked administrator counts: the active one may go.
    let (status, answer) = call(
        &app,
        "PUT",
        &reg,
        &format!("/api/v1/users/{a_id}/roles"),
        json!({ "roles": [] }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // And, the last one left, is kept: role, access and expiry.
    for (method, path, body) in [
        (
            "PUT",
            format!("/api/v1/users/{b_id}/roles"),
            json!({ "roles": [] }),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{b_id}"),
            json!({ "access_enabled": false }),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{b_id}"),
            json!({ "expires_at": "2020-01-01T00:00:00Z" }),
        ),
    ] {
        let answer = refused(&app, method, &reg, &path, body, 409).await;
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("at least one Portal Administrator"),
            "{answer}"
        );
    }
    // Unlocking is no such change.
    let (status, answer) = call(
        &app,
        "PATCH",
        &reg,
        &format!("/api/v1/users/{b_id}"),
        json!({ "locked": false }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // The one who lost the role and the unlocked one are told; the one left
    // as administrator is alerted to the change of administrators.
    app.deliver_mail().await;
    let changed = "Your Provider Portal account has changed";
    assert!(app.mailer.sent_to(&a).iter().any(|m| m.subject == changed));
    assert!(app.mailer.sent_to(&b).iter().any(|m| m.subject == changed));
    assert!(app.mailer.sent_to(&b).iter().any(|m| {
        m.subject
            .starts_with("Security alert: administrator role changed")
    }));
}

/// Rule 4 under a race: a provider's only two Portal Administrators each take
/// the other's role away at the same moment. One change commits, the other is
/// refused (audited) and the provider keeps an administrator — the
/// changes that may take one away take turns (on PostgreSQL, on the
/// provider's row). Several providers, one race each.
async fn two_portal_admins_removing_each_other_at_once_leave_one(app: TestApp) {
    const ROUNDS: usize = 6;
    for n in 0..ROUNDS {
        let ukprn = format!("1000098{n}");
        let a = app
            .user(
                &ukprn,
                &format!("a{n}@race.example.ac.uk"),
                &["portal-admin"],
            )
            .await;
        let b = app
            .user(
                &ukprn,
                &format!("b{n}@race.example.ac.uk"),
                &["portal-admin"],
            )
            .await;
        let (a_id, b_id) = (app.user_record(&a).await.id, app.user_record(&b).await.id);
        let (a_token, b_token) = (app.api_sign_in(&a).await, app.api_sign_in(&b).await);
        let a_removes_b = format!("/api/v1/users/{b_id}/roles");
        let b_removes_a = format!("/api/v1/users/{a_id}/roles");
        let ((first, _), (second, _)) = tokio::join!(
            call(&app, "PUT", &a_token, &a_removes_b, json!({ "roles": [] })),
            call(&app, "PUT", &b_token, &b_removes_a, json!({ "roles": [] })),
        );
        // The second is refused as breaking rule 4 (409), or, when the first
        // had committed before it was read, as from someone no longer an
        // administrator (403).
        let mut statuses = [first, second];
        statuses.sort();
        assert!(
            statuses == [200, 403] || statuses == [200, 409],
            "round {n}: one change commits, one is refused: {statuses:?}"
        );
        let mut kept = Vec::new();
        for (email, id) in [(&a, a_id), (&b, b_id)] {
            let roles = app.store().user_roles(id).await.unwrap();
            if roles
                .iter()
                .any(|g| g.role == domain::role::Role::PortalAdmin)
            {
                kept.push(email);
            }
        }
        assert_eq!(
            kept.len(),
            1,
            "round {n}: the provider keeps one Portal Administrator"
        );
        // The one who lost the role is told.
        let lost = if kept[0] == &a { &b } else { &a };
        app.deliver_mail().await;
        assert!(
            app.mailer
                .sent_to(lost)
                .iter()
                .any(|m| m.subject == "Your Provider Portal account has changed"),
            "round {n}: {lost} is told"
        );
    }
    let refused = app
        .audit()
        .await
        .into_iter()
        .filter(|r| r.entry.action == "users.set_roles" && r.entry.outcome == Outcome::Refused)
        .count();
    assert_eq!(refused, ROUNDS, "each refusal is audited");
}

async fn a_demoted_admin_is_refused_on_the_very_next_request(app: TestApp) {
    let a = app
        .user("10000096", "a@one.example.ac.uk", &["portal-admin"])
        .await;
    let b = app
        .user("10000096", "b@one.example.ac.uk", &["portal-admin"])
        .await;
    let a_token = app.api_sign_in(&a).await;
    let b_token = app.api_sign_in(&b).await;
    assert_eq!(app.get_with("/api/v1/users", &a_token).await.status(), 200);
    let a_id = app.user_record(&a).await.id;
    let (status, _) = call(
        &app,
        "PUT",
        &b_token,
        &format!("/api/v1/users/{a_id}/roles"),
        json!({ "roles": [] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.get_with("/api/v1/users", &a_token).await.status(), 403);
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&a)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn disabling_a_user_ends_their_sessions_at_once(app: TestApp) {
    let pa = app
        .user("10000097", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let c = app.user("10000097", "c@one.example.ac.uk", &[]).await;
    let token = app.api_sign_in(&pa).await;
    let theirs = app.api_sign_in(&c).await;
    let id = app.user_record(&c).await.id;
    let (status, body) = call(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{id}"),
        json!({ "access_enabled": false }),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("disabled")));
    assert_eq!(app.get_with("/api/v1/me", &theirs).await.status(), 401);
    let sessions = app.snapshot().await["sessions"].clone();
    assert!(
        sessions
            .iter()
            .filter(|s| s.contains(&id.to_string()))
            .all(|s| !s.contains("ended_at: None"))
    );
    // Enabling again does not bring the old session back.
    let (status, _) = call(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{id}"),
        json!({ "access_enabled": true }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.get_with("/api/v1/me", &theirs).await.status(), 401);
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&c)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn another_providers_user_cannot_be_changed(app: TestApp) {
    let pa = app
        .user("10000098", "pa@one.example.ac.uk", &["portal-admin"])
        .await;
    let theirs = app
        .user("10000099", "pa@two.example.ac.uk", &["portal-admin"])
        .await;
    let token = app.api_sign_in(&pa).await;
    let id = app.user_record(&theirs).await.id;
    let a = refused(
        &app,
        "PUT",
        &token,
        &format!("/api/v1/users/{id}/roles"),
        json!({ "roles": [] }),
        404,
    )
    .await;
    let b = refused(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{id}"),
        json!({ "access_enabled": false }),
        404,
    )
    .await;
    let missing = refused(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
        json!({ "access_enabled": false }),
        404,
    )
    .await;
    assert_eq!(a, missing);
    assert_eq!(b, missing);
}

/// PRODUCT §2 rules 4 and 7: one request that adds a role and disables the
/// provider's only Portal Administrator is refused whole; the roles stay.
async fn a_role_change_with_disabling_the_last_portal_admin_is_refused_as_a_whole(app: TestApp) {
    let only_pa = app
        .user("10000097", "only@one.example.ac.uk", &["portal-admin"])
        .await;
    let ra = app
        .regulator_user("admin@ofs.example.org", &["regulator-admin"])
        .await;
    let token = app.api_sign_in(&ra).await;
    let id = app.user_record(&only_pa).await.id;
    let body = json!({
        "access_enabled": false,
        "roles": ["portal-admin", "data-collection-contributor:heses"],
    });
    let answer = refused(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{id}"),
        body,
        409,
    )
    .await;
    assert_eq!(answer["error"], "conflict");
    let roles = app.store().user_roles(id).await.unwrap();
    let ids: Vec<String> = roles.iter().map(|g| g.role.id()).collect();
    assert_eq!(
        ids,
        ["portal-admin"],
        "the role added in the same request is not kept"
    );
    assert!(app.user_record(&only_pa).await.access_enabled);
    // The same change without disabling them goes through, roles and all.
    let (status, body) = call(
        &app,
        "PATCH",
        &token,
        &format!("/api/v1/users/{id}"),
        json!({ "roles": ["portal-admin", "data-collection-contributor:heses"] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"].as_array().map(Vec::len), Some(2));
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&only_pa)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}
