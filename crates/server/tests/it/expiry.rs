//! Account expiry (seed 000 B3, B4, B6): after the date nobody signs in and
//! sessions end; extending it restores access. Accounts are never deleted.

use serde_json::json;
use testkit::TestApp;
use time::format_description::well_known::Rfc3339;

testkit::both_backends!(
    an_expired_account_is_refused_like_an_unknown_address_and_its_sessions_end,
    a_delegated_admin_cannot_set_an_administrators_expiry,
);

async fn an_expired_account_is_refused_like_an_unknown_address_and_its_sessions_end(app: TestApp) {
    let admin = app
        .user("10000501", "admin@exp.example.ac.uk", &["portal-admin"])
        .await;
    let leaver = app
        .user(
            "10000501",
            "leaver@exp.example.ac.uk",
            &["data-collection-contributor:heses"],
        )
        .await;
    let admin = app.api_sign_in(&admin).await;
    let session = app.api_sign_in(&leaver).await;
    let id = app.user_record(&leaver).await.id;
    let tomorrow = app.clock.now_plus(time::Duration::days(1));
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({ "expires_at": tomorrow.format(&Rfc3339).unwrap() })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");
    // Until the date, the session works.
    assert_eq!(
        app.call("GET", "/api/v1/me", Some(&session), None).await.0,
        200
    );
    app.clock
        .advance(time::Duration::days(1) + time::Duration::seconds(1));
    // The live session is refused on its very next request.
    assert_eq!(
        app.call("GET", "/api/v1/me", Some(&session), None).await.0,
        401
    );
    // Asking for a code answers exactly as for an unknown address, and sends none.
    app.deliver_mail().await;
    let mails_before = app.mailer.sent_to(&leaver).len();
    let known = app
        .post_json("/api/v1/auth/code", json!({ "email": leaver }))
        .await;
    let unknown = app
        .post_json(
            "/api/v1/auth/code",
            json!({ "email": "nobody@exp.example.ac.uk" }),
        )
        .await;
    assert_eq!(known.status(), unknown.status());
    let known_keys: Vec<String> = known
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let unknown_keys: Vec<String> = unknown
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(known_keys, unknown_keys);
    app.deliver_mail().await;
    assert_eq!(
        app.mailer.sent_to(&leaver).len(),
        mails_before,
        "no code was sent"
    );
    let admin = app.api_sign_in("admin@exp.example.ac.uk").await;
    let (_, shown) = app
        .call("GET", &format!("/api/v1/users/{id}"), Some(&admin), None)
        .await;
    assert_eq!(shown["status"], "expired");
    // Extending the date restores access (B4); the account was never deleted.
    let next_year = app.clock.now_plus(time::Duration::days(365));
    let (status, _) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({ "expires_at": next_year.format(&Rfc3339).unwrap() })),
        )
        .await;
    assert_eq!(status, 200);
    let again = app.api_sign_in(&leaver).await;
    assert_eq!(
        app.call("GET", "/api/v1/me", Some(&again), None).await.0,
        200
    );
    // Removing the date altogether works too.
    let (status, body) = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            Some(json!({ "expires_at": null })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_at"], serde_json::Value::Null);
    // The change is emailed to the person it changed.
    app.deliver_mail().await;
    assert!(
        app.mailer
            .sent_to(&leaver)
            .iter()
            .any(|m| m.subject == "Your Provider Portal account has changed")
    );
}

async fn a_delegated_admin_cannot_set_an_administrators_expiry(app: TestApp) {
    let pa = app
        .user("10000502", "pa@exp2.example.ac.uk", &["portal-admin"])
        .await;
    let dpa = app
        .user(
            "10000502",
            "dpa@exp2.example.ac.uk",
            &["delegated-portal-admin"],
        )
        .await;
    let dpa = app.api_sign_in(&dpa).await;
    let id = app.user_record(&pa).await.id;
    let past = app.clock.now_plus(-time::Duration::days(1));
    app.refused(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(&dpa),
        Some(json!({ "expires_at": past.format(&Rfc3339).unwrap() })),
        403,
    )
    .await;
    app.refused(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(&dpa),
        Some(json!({ "locked": false })),
        403,
    )
    .await;
}
